// Package webrtc is mattercam's media output: bounded WebRTC sessions on
// pion/webrtc/v4 that all watch the same encoders. Each source is read by
// one goroutine and every frame is fanned out to the sessions by
// reference; each session packetises it (zero-copy, package packetizer)
// and SRTP-encrypts it on its own goroutine, so a slow session only ever
// delays itself.
package webrtc

import (
	"context"
	"crypto/rand"
	"encoding/hex"
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

// Server owns the sources' reader goroutines and the session table.
type Server struct {
	cfg Config
	log *slog.Logger
	api *pion.API

	videoCodec, audioCodec pion.RTPCodecCapability
	vsrc                   capture.VideoSource
	asrc                   capture.AudioSource
	video, audio           *broadcast

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // pumps and sessions being closed

	mu       sync.Mutex
	sessions map[string]*Session
	closed   bool
}

// NewServer starts reading the sources (audio may be nil) and returns a
// server ready to accept sessions. Close stops it.
func NewServer(cfg Config, video capture.VideoSource, audio capture.AudioSource) (*Server, error) {
	cfg = cfg.withDefaults()
	vf := video.Format()
	if vf.Codec != "H264" || len(vf.ProfileLevelID) != 6 {
		return nil, fmt.Errorf("webrtc: video source %q with profile-level-id %q: only H.264 is supported", vf.Codec, vf.ProfileLevelID)
	}
	s := &Server{
		cfg:      cfg,
		log:      cfg.Logger.With("component", "webrtc"),
		vsrc:     video,
		asrc:     audio,
		sessions: map[string]*Session{},
		videoCodec: pion.RTPCodecCapability{
			MimeType:  pion.MimeTypeH264,
			ClockRate: 90000,
			// RFC 6184 §8.1: we send FU-A/STAP-A (mode 1); the
			// level may be lower on the receive side.
			SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=" + vf.ProfileLevelID,
			RTCPFeedback: []pion.RTCPFeedback{
				{Type: "nack"}, {Type: "nack", Parameter: "pli"}, {Type: "ccm", Parameter: "fir"},
			},
		},
	}
	if audio != nil {
		af := audio.Format()
		if af.Codec != "opus" {
			return nil, fmt.Errorf("webrtc: audio source %q: only Opus is supported", af.Codec)
		}
		// RFC 7587 §7: opus/48000/2 whatever is coded.
		s.audioCodec = pion.RTPCodecCapability{
			MimeType: pion.MimeTypeOpus, ClockRate: 48000, Channels: 2,
			SDPFmtpLine: "minptime=10;useinbandfec=1",
		}
	}
	api, err := s.newAPI()
	if err != nil {
		return nil, err
	}
	s.api = api
	s.video = newBroadcast(cfg.VideoQueue, video.RequestKeyFrame)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.wg.Add(1)
	go s.pumpVideo()
	if audio != nil {
		s.audio = newBroadcast(cfg.AudioQueue, nil)
		s.wg.Add(1)
		go s.pumpAudio()
	}
	return s, nil
}

func (s *Server) newAPI() (*pion.API, error) {
	m := &pion.MediaEngine{}
	if err := m.RegisterCodec(pion.RTPCodecParameters{RTPCodecCapability: s.videoCodec, PayloadType: ptH264}, pion.RTPCodecTypeVideo); err != nil {
		return nil, fmt.Errorf("webrtc: register H.264: %w", err)
	}
	if s.audioCodec.MimeType != "" {
		if err := m.RegisterCodec(pion.RTPCodecParameters{RTPCodecCapability: s.audioCodec, PayloadType: ptOpus}, pion.RTPCodecTypeAudio); err != nil {
			return nil, fmt.Errorf("webrtc: register Opus: %w", err)
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
	var se pion.SettingEngine
	se.SetICETimeouts(s.cfg.ICEDisconnectedTimeout, s.cfg.ICEFailedTimeout, 0)
	// Loopback candidates make the local preview work on a board with
	// no other address up; mDNS candidates would cost a socket and a
	// goroutine per session and a camera has no privacy to hide.
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	if s.cfg.UDPPortMin != 0 || s.cfg.UDPPortMax != 0 {
		if err := se.SetEphemeralUDPPortRange(s.cfg.UDPPortMin, s.cfg.UDPPortMax); err != nil {
			return nil, fmt.Errorf("webrtc: port range: %w", err)
		}
	}
	return pion.NewAPI(pion.WithMediaEngine(m), pion.WithInterceptorRegistry(ir), pion.WithSettingEngine(se)), nil
}

func (s *Server) pumpVideo() {
	defer s.wg.Done()
	for {
		au, err := s.vsrc.ReadAccessUnit(s.ctx)
		if err != nil {
			s.pumpStopped("video", err)
			return
		}
		s.video.publish(videoUnit(au))
	}
}

func (s *Server) pumpAudio() {
	defer s.wg.Done()
	for {
		af, err := s.asrc.ReadFrame(s.ctx)
		if err != nil {
			s.pumpStopped("audio", err)
			return
		}
		s.audio.publish(audioUnit(af))
	}
}

func (s *Server) pumpStopped(kind string, err error) {
	if s.ctx.Err() == nil && !errors.Is(err, capture.ErrClosed) {
		s.log.Error("source failed", "kind", kind, "err", err)
	}
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
	// OnClose is called once, from its own goroutine, with the reason
	// the session ended.
	OnClose func(reason error)
}

// NewSession answers an offer. It fails with ErrBadOffer,
// ErrUnsupportedCodec, ErrSessionLimit or ErrServerClosed before taking
// any resource.
func (s *Server) NewSession(offer string, opts SessionOptions) (*Session, error) {
	media, err := checkOffer(offer, s.videoCodec, s.audioCodec)
	if err != nil {
		return nil, err
	}
	sess := &Session{srv: s, opts: opts, log: s.log, done: make(chan struct{})}
	if err := s.reserve(sess); err != nil {
		return nil, err
	}
	sess.log = s.log.With("session", sess.id)
	if err := sess.start(offer, media); err != nil {
		sess.close(err)
		<-sess.done
		return nil, err
	}
	sess.log.Info("session started", "sessions", s.Len())
	return sess, nil
}

// reserve takes a slot in the session table.
func (s *Server) reserve(sess *Session) error {
	var id [16]byte
	_, _ = rand.Read(id[:]) // crypto/rand.Read never fails (Go 1.24+)
	sess.id = hex.EncodeToString(id[:])
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return ErrServerClosed
	case len(s.sessions) >= s.cfg.MaxSessions:
		return fmt.Errorf("%w (%d)", ErrSessionLimit, s.cfg.MaxSessions)
	}
	s.sessions[sess.id] = sess
	s.wg.Add(1) // the session's watcher; Close waits only after closed is set
	return nil
}

func (s *Server) remove(sess *Session) {
	s.mu.Lock()
	delete(s.sessions, sess.id)
	s.mu.Unlock()
}

// Session returns the live session with the given ID, or nil.
func (s *Server) Session(id string) *Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions[id]
}

// Len returns the number of live sessions.
func (s *Server) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// MaxSessions returns the configured session limit.
func (s *Server) MaxSessions() int { return s.cfg.MaxSessions }

// Close ends every session, stops reading the sources and waits for every
// goroutine the server started. The sources themselves stay open: they
// belong to the caller.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	live := make([]*Session, 0, len(s.sessions))
	for _, sess := range s.sessions {
		live = append(live, sess)
	}
	s.mu.Unlock()
	for _, sess := range live {
		sess.close(ErrServerClosed)
	}
	s.cancel()
	s.wg.Wait()
	return nil
}
