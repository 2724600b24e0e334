// Package webrtc is mattercam's media output: bounded WebRTC sessions on
// pion/webrtc/v4 that all watch the same encoders. Each source is read by
// one goroutine and every frame is fanned out to the sessions by
// reference; each session packetises it (zero-copy, package packetizer)
// and SRTP-encrypts it on its own goroutine, so a slow session only ever
// delays itself.
//
// Two front ends share that machinery: Server (one camera, sessions
// answering offers; the WHEP preview) and Provider (the Matter WebRTC
// Transport Provider's media hook: one stream per allocated Camera AV
// stream, both offer/answer roles, trickle ICE in Matter form).
package webrtc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	pion "github.com/pion/webrtc/v4"

	"github.com/mattercam/mattercam/capture"
)

// Server errors.
var (
	ErrSessionLimit = errors.New("webrtc: session limit reached")
	ErrServerClosed = errors.New("webrtc: server closed")
)

// Payload types we offer in our own SDP (the answerer's choice wins when
// the peer offers). Values as in Chromium's default offer.
const (
	ptH264 = 102
	ptOpus = 111
)

// core is what Server and Provider share: the configuration, the bounded
// session table and the WaitGroup of the session watchers.
type core struct {
	cfg Config
	log *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // session watchers; Close waits only after closed is set

	mu       sync.Mutex
	sessions map[string]*Session
	closed   bool
}

func (c *core) init(cfg Config, component string) {
	c.cfg = cfg
	c.log = cfg.Logger.With("component", component)
	c.sessions = map[string]*Session{}
	c.ctx, c.cancel = context.WithCancel(context.Background())
}

// reserve takes a slot in the session table. The caller holds c.mu.
func (c *core) reserveLocked(sess *Session) error {
	switch {
	case c.closed:
		return ErrServerClosed
	case len(c.sessions) >= c.cfg.MaxSessions:
		return fmt.Errorf("%w (%d)", ErrSessionLimit, c.cfg.MaxSessions)
	}
	c.sessions[sess.id] = sess
	c.wg.Add(1) // the session's watcher
	return nil
}

func (c *core) reserve(sess *Session) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reserveLocked(sess)
}

func (c *core) remove(sess *Session) {
	c.mu.Lock()
	delete(c.sessions, sess.id)
	c.mu.Unlock()
}

func (c *core) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.sessions)
}

// shutdown refuses new sessions and ends the live ones with reason.
func (c *core) shutdown(reason error) {
	c.mu.Lock()
	c.closed = true
	live := make([]*Session, 0, len(c.sessions))
	for _, sess := range c.sessions {
		live = append(live, sess)
	}
	c.mu.Unlock()
	for _, sess := range live {
		sess.close(reason)
	}
}

// ownAPI builds a pion API that sends video and audio (either may be nil)
// in our own formats and payload types: the Server's, shared by its
// sessions, and a provider session's when it makes the offer.
func ownAPI(cfg Config, video, audio *stream) (*pion.API, error) {
	var vc, ac []pion.RTPCodecParameters
	if video != nil {
		vc = append(vc, pion.RTPCodecParameters{RTPCodecCapability: video.codec, PayloadType: ptH264})
	}
	if audio != nil {
		ac = append(ac, pion.RTPCodecParameters{RTPCodecCapability: audio.codec, PayloadType: ptOpus})
	}
	return newAPI(cfg, vc, ac)
}

// newAPI builds a pion API that can send the given codecs: ownAPI's, or a
// provider session's taken from what the peer offered.
func newAPI(cfg Config, video, audio []pion.RTPCodecParameters) (*pion.API, error) {
	m := &pion.MediaEngine{}
	for _, c := range video {
		if err := m.RegisterCodec(c, pion.RTPCodecTypeVideo); err != nil {
			return nil, fmt.Errorf("webrtc: register %s/%d: %w", c.MimeType, c.PayloadType, err)
		}
	}
	for _, c := range audio {
		if err := m.RegisterCodec(c, pion.RTPCodecTypeAudio); err != nil {
			return nil, fmt.Errorf("webrtc: register %s/%d: %w", c.MimeType, c.PayloadType, err)
		}
	}
	ir := &interceptor.Registry{}
	// NACK responder and RTCP sender reports: a viewer on a lossy link
	// gets retransmissions, and lip sync needs the SR's NTP mapping.
	if err := pion.ConfigureNack(m, ir); err != nil {
		return nil, fmt.Errorf("webrtc: nack: %w", err)
	}
	if err := pion.ConfigureRTCPReports(ir); err != nil {
		return nil, fmt.Errorf("webrtc: rtcp reports: %w", err)
	}
	se, err := settingEngine(cfg)
	if err != nil {
		return nil, err
	}
	return pion.NewAPI(pion.WithMediaEngine(m), pion.WithInterceptorRegistry(ir), pion.WithSettingEngine(se)), nil
}

func settingEngine(cfg Config) (pion.SettingEngine, error) {
	var se pion.SettingEngine
	se.SetICETimeouts(cfg.ICEDisconnectedTimeout, cfg.ICEFailedTimeout, 0)
	// Loopback candidates make the local preview work on a board with
	// no other address up; mDNS candidates would cost a socket and a
	// goroutine per session and a camera has no privacy to hide.
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	if cfg.UDPPortMin != 0 || cfg.UDPPortMax != 0 {
		if err := se.SetEphemeralUDPPortRange(cfg.UDPPortMin, cfg.UDPPortMax); err != nil {
			return se, fmt.Errorf("webrtc: port range: %w", err)
		}
	}
	return se, nil
}

// Server owns the sources' reader goroutines and the session table.
type Server struct {
	core
	api          *pion.API
	video, audio *stream // audio nil without an audio source
}

// NewServer starts reading the sources (audio may be nil) and returns a
// server ready to accept sessions. Close stops it.
func NewServer(cfg Config, video capture.VideoSource, audio capture.AudioSource) (*Server, error) {
	cfg = cfg.withDefaults()
	s := &Server{}
	s.init(cfg, "webrtc")
	var err error
	if s.video, err = newVideoStream(cfg, s.log, video); err != nil {
		return nil, err
	}
	if audio != nil {
		if s.audio, err = newAudioStream(cfg, s.log, audio); err != nil {
			s.video.stop()
			return nil, err
		}
	}
	if s.api, err = ownAPI(cfg, s.video, s.audio); err != nil {
		s.video.stop()
		if s.audio != nil {
			s.audio.stop()
		}
		return nil, err
	}
	return s, nil
}

// SessionOptions carries what one peer asks of its session.
type SessionOptions struct {
	// ICEServers replace the server's for this session when non-nil.
	ICEServers         []pion.ICEServer
	ICETransportPolicy pion.ICETransportPolicy
	// OnICECandidate, when set, makes the session trickle: it receives
	// each local candidate as gathered, then nil at the end. When nil,
	// Answer waits for gathering to finish and returns every candidate
	// in the SDP (what WHEP wants).
	OnICECandidate func(*pion.ICECandidateInit)
	// OnClose is called once with the reason the session ended, after
	// everything it held is released.
	OnClose func(reason error)
}

// NewSession answers an offer. It fails with ErrBadOffer,
// ErrUnsupportedCodec, ErrSessionLimit or ErrServerClosed before taking
// any resource.
func (s *Server) NewSession(offer string, opts SessionOptions) (*Session, error) {
	var audioCodec pion.RTPCodecCapability
	if s.audio != nil {
		audioCodec = s.audio.codec
	}
	media, err := checkOffer(offer, s.video.codec, audioCodec)
	if err != nil {
		return nil, err
	}
	sess := newSession(&s.core, opts, s.video, nil)
	if media.audio && s.audio != nil {
		sess.audio = s.audio
	}
	if err := s.reserve(sess); err != nil {
		return nil, err
	}
	sess.begin()
	if _, err := sess.answer(func() (*pion.API, error) { return s.api, nil }, offer); err != nil {
		sess.close(err)
		return nil, err
	}
	sess.log.Info("session started", "sessions", s.Len())
	return sess, nil
}

// Session returns the live session with the given ID, or nil.
func (s *Server) Session(id string) *Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions[id]
}

// Len returns the number of live sessions.
func (s *Server) Len() int { return s.len() }

// MaxSessions returns the configured session limit.
func (s *Server) MaxSessions() int { return s.cfg.MaxSessions }

// Close ends every session, stops reading the sources and waits for every
// goroutine the server started. The sources themselves stay open: they
// belong to the caller.
func (s *Server) Close() error {
	s.shutdown(ErrServerClosed)
	s.video.stop()
	if s.audio != nil {
		s.audio.stop()
	}
	s.cancel()
	s.wg.Wait()
	return nil
}
