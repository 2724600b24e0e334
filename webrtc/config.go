package webrtc

import (
	"log/slog"
	"time"

	pion "github.com/pion/webrtc/v4"
)

// Config bounds and tunes the session server. Zero values take the
// defaults documented on each field.
type Config struct {
	// MaxSessions is the hard limit on concurrent sessions; the next one
	// is refused with ErrSessionLimit. Default 5.
	MaxSessions int
	// MTU is the largest RTP packet we send, header included. Default
	// 1200, which fits any path with IPv6, UDP, SRTP tag and TURN
	// framing to spare.
	MTU int
	// SetupTimeout ends a session that has not connected (ICE and DTLS)
	// within it. Default 30 s, the Matter WebRTC setup timeout.
	SetupTimeout time.Duration
	// ICEDisconnectedTimeout and ICEFailedTimeout bound how long a
	// session survives lost connectivity before it is torn down.
	// Defaults 5 s and 10 s.
	ICEDisconnectedTimeout time.Duration
	ICEFailedTimeout       time.Duration
	// MediaTimeout ends a connected session that has sent no frame for
	// this long: its source stalled, or its tracks were never bound. The
	// Matter provider reports it as MediaTimeout. Default 10 s, longer
	// than any GOP a passthrough source should have, so a key-frame wait
	// never trips it.
	MediaTimeout time.Duration
	// ICEServers are used for every session unless the session brings
	// its own.
	ICEServers []pion.ICEServer
	// VideoQueue and AudioQueue are the per-session queue lengths in
	// frames. A session whose queue is full drops frames until the next
	// key frame. Defaults 30 (one second of video) and 50.
	VideoQueue, AudioQueue int
	// UDPPortMin and UDPPortMax restrict the ports ICE binds; zero means
	// any ephemeral port.
	UDPPortMin, UDPPortMax uint16
	Logger                 *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.MaxSessions <= 0 {
		c.MaxSessions = 5
	}
	if c.MTU <= 0 {
		c.MTU = 1200
	}
	c.MTU = min(max(c.MTU, 576), 1500)
	if c.SetupTimeout <= 0 {
		c.SetupTimeout = 30 * time.Second
	}
	if c.ICEDisconnectedTimeout <= 0 {
		c.ICEDisconnectedTimeout = 5 * time.Second
	}
	if c.ICEFailedTimeout <= 0 {
		c.ICEFailedTimeout = 10 * time.Second
	}
	if c.MediaTimeout <= 0 {
		c.MediaTimeout = 10 * time.Second
	}
	if c.VideoQueue <= 0 {
		c.VideoQueue = 30
	}
	if c.AudioQueue <= 0 {
		c.AudioQueue = 50
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}
