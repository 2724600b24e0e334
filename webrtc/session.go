package webrtc

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	pion "github.com/pion/webrtc/v4"
)

// Reasons a session ends, passed to SessionOptions.OnClose.
var (
	ErrSessionClosed = errors.New("webrtc: session closed")
	ErrSetupTimeout  = errors.New("webrtc: session did not connect in time")
	ErrICEFailed     = errors.New("webrtc: ICE failed")
	ErrPeerClosed    = errors.New("webrtc: peer closed the connection")
	ErrTooManyICE    = errors.New("webrtc: too many remote ICE candidates")
)

// maxRemoteCandidates bounds what a peer can make us store and check.
const maxRemoteCandidates = 64

// Session is one viewer: a PeerConnection that receives the shared video
// (and audio) from the moment ICE and DTLS connect.
type Session struct {
	id   string
	srv  *Server
	opts SessionOptions
	log  *slog.Logger
	pc   *pion.PeerConnection

	videoTrack, audioTrack *track
	gathered               <-chan struct{}

	connected chan struct{} // signalled on each transition to connected
	ended     chan error    // reasons from pion callbacks, first wins
	done      chan struct{} // closed when the session is fully torn down
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup // writers and RTCP readers

	mu        sync.Mutex
	closing   bool
	streaming bool
	videoSub  *subscriber
	audioSub  *subscriber
	writers   []*writer
	closed    atomic.Bool
	reason    error

	remoteCandidates atomic.Int32
	connectedAt      atomic.Int64 // unix nanoseconds of the first connect
}

// ID is the session's unguessable identifier.
func (s *Session) ID() string { return s.id }

// Done is closed once the session has ended and released everything.
func (s *Session) Done() <-chan struct{} { return s.done }

// Err returns why the session ended, or nil while it is live.
func (s *Session) Err() error {
	select {
	case <-s.done:
		return s.reason
	default:
		return nil
	}
}

func (s *Session) start(offer string, media offerMedia) error {
	s.connected = make(chan struct{}, 1)
	s.ended = make(chan error, 1)
	s.ctx, s.cancel = context.WithCancel(s.srv.ctx)
	cfg := pion.Configuration{ICEServers: s.srv.cfg.ICEServers, ICETransportPolicy: s.opts.ICETransportPolicy}
	if s.opts.ICEServers != nil {
		cfg.ICEServers = s.opts.ICEServers
	}
	pc, err := s.srv.api.NewPeerConnection(cfg)
	s.pc = pc // nil on error; close copes
	// The watcher owns the session's end (reserve counted it in the
	// server's WaitGroup), so it starts even when the connection could not
	// be made; it starts after s.pc is set because close reads it.
	go s.watch()
	if err != nil {
		return fmt.Errorf("webrtc: new peer connection: %w", err)
	}

	s.videoTrack = newTrack("video", "mattercam", s.srv.videoCodec)
	senders := []*pion.RTPSender{}
	vs, err := pc.AddTrack(s.videoTrack)
	if err != nil {
		return fmt.Errorf("webrtc: add video: %w", err)
	}
	senders = append(senders, vs)
	if media.audio && s.srv.audio != nil {
		s.audioTrack = newTrack("audio", "mattercam", s.srv.audioCodec)
		as, err := pc.AddTrack(s.audioTrack)
		if err != nil {
			return fmt.Errorf("webrtc: add audio: %w", err)
		}
		senders = append(senders, as)
	}
	pc.OnConnectionStateChange(func(st pion.PeerConnectionState) {
		switch st {
		case pion.PeerConnectionStateConnected:
			select {
			case s.connected <- struct{}{}:
			default:
			}
		case pion.PeerConnectionStateFailed:
			s.end(ErrICEFailed)
		case pion.PeerConnectionStateClosed:
			s.end(ErrPeerClosed)
		}
	})
	if cb := s.opts.OnICECandidate; cb != nil {
		pc.OnICECandidate(func(c *pion.ICECandidate) {
			if c == nil {
				cb(nil)
				return
			}
			init := c.ToJSON()
			cb(&init)
		})
	}
	if err := pc.SetRemoteDescription(pion.SessionDescription{Type: pion.SDPTypeOffer, SDP: offer}); err != nil {
		return fmt.Errorf("%w: %w", ErrBadOffer, err)
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return fmt.Errorf("webrtc: create answer: %w", err)
	}
	if s.opts.OnICECandidate == nil {
		s.gathered = pion.GatheringCompletePromise(pc)
	}
	if err := pc.SetLocalDescription(answer); err != nil {
		return fmt.Errorf("webrtc: set local description: %w", err)
	}
	// pion's interceptors (NACK responder, reports) only see the RTCP
	// that is read, and PLI/FIR must reach the encoder.
	for _, snd := range senders {
		s.wg.Add(1)
		go s.readRTCP(snd)
	}
	return nil
}

// Answer returns the local SDP. Without trickle it first waits for ICE
// gathering to finish, so the answer carries every candidate.
func (s *Session) Answer(ctx context.Context) (string, error) {
	if s.gathered != nil {
		select {
		case <-s.gathered:
		case <-s.done:
			return "", s.reason
		case <-ctx.Done():
			return "", fmt.Errorf("webrtc: gathering candidates: %w", ctx.Err())
		}
	}
	ld := s.pc.LocalDescription()
	if ld == nil {
		return "", fmt.Errorf("webrtc: no local description")
	}
	return ld.SDP, nil
}

// AddICECandidate adds a remote candidate (trickle ICE, RFC 8838). An
// empty Candidate string marks the end of candidates.
func (s *Session) AddICECandidate(c pion.ICECandidateInit) error {
	if s.closed.Load() {
		return ErrSessionClosed
	}
	if c.Candidate != "" && s.remoteCandidates.Add(1) > maxRemoteCandidates {
		return fmt.Errorf("%w (max %d)", ErrTooManyICE, maxRemoteCandidates)
	}
	if err := s.pc.AddICECandidate(c); err != nil {
		return fmt.Errorf("webrtc: add candidate: %w", err)
	}
	return nil
}

// sdpUfrag returns the first a=ice-ufrag value of an SDP.
func sdpUfrag(sdp string) string {
	for line := range strings.Lines(sdp) {
		if v, ok := strings.CutPrefix(strings.TrimRight(line, "\r\n"), "a=ice-ufrag:"); ok {
			return v
		}
	}
	return ""
}

// RemoteICEUfrag returns the ICE username fragment of the peer's offer.
func (s *Session) RemoteICEUfrag() string {
	rd := s.pc.RemoteDescription()
	if rd == nil || rd.SDP == "" {
		return ""
	}
	return sdpUfrag(rd.SDP)
}

// ConnectedAt returns when ICE and DTLS first connected, or zero.
func (s *Session) ConnectedAt() time.Time {
	if n := s.connectedAt.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// Dropped returns how many video frames this session skipped because it
// fell behind.
func (s *Session) Dropped() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.videoSub == nil {
		return 0
	}
	s.videoSub.mu.Lock()
	defer s.videoSub.mu.Unlock()
	return s.videoSub.dropped
}

// Close ends the session and waits until everything it held is released.
func (s *Session) Close() {
	s.close(ErrSessionClosed)
}

// end records a reason from a pion callback; the watcher acts on it, so
// callbacks never block on teardown.
func (s *Session) end(reason error) {
	select {
	case s.ended <- reason:
	default:
	}
}

// watch owns the session's lifetime: the setup timeout, the start of
// media on connect, and teardown on failure.
func (s *Session) watch() {
	defer s.srv.wg.Done()
	setup := time.NewTimer(s.srv.cfg.SetupTimeout)
	defer setup.Stop()
	for {
		select {
		case <-s.connected:
			setup.Stop()
			s.startMedia()
		case <-setup.C:
			if s.connectedAt.Load() == 0 {
				s.close(ErrSetupTimeout)
				return
			}
		case reason := <-s.ended:
			s.close(reason)
			return
		case <-s.ctx.Done():
			return
		}
	}
}

// startMedia subscribes to the shared streams once ICE and DTLS are up.
// Subscribing asks the encoder for a key frame, so the first picture
// follows the connect by at most one frame time.
func (s *Session) startMedia() {
	s.connectedAt.CompareAndSwap(0, time.Now().UnixNano())
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing || s.streaming {
		return
	}
	s.streaming = true
	s.log.Info("session connected")
	s.videoSub = s.srv.video.subscribe()
	s.spawnWriter(&writer{t: s.videoTrack, sub: s.videoSub, clockRate: 90000, video: true})
	if s.audioTrack != nil {
		s.audioSub = s.srv.audio.subscribe()
		s.spawnWriter(&writer{t: s.audioTrack, sub: s.audioSub, clockRate: 48000})
	}
}

func (s *Session) spawnWriter(w *writer) {
	var r [6]byte
	_, _ = rand.Read(r[:])
	// RFC 3550 §5.1: random initial sequence number and timestamp.
	w.seq = binary.BigEndian.Uint16(r[:2])
	w.tsOffset = binary.BigEndian.Uint32(r[2:])
	w.mtu = s.srv.cfg.MTU
	s.writers = append(s.writers, w)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		w.run(s.ctx)
	}()
}

func (s *Session) readRTCP(snd *pion.RTPSender) {
	defer s.wg.Done()
	for {
		pkts, _, err := snd.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			switch p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				s.srv.vsrc.RequestKeyFrame()
			}
		}
	}
}

// close tears the session down exactly once; later callers wait for the
// first to finish.
func (s *Session) close(reason error) {
	if !s.closed.CompareAndSwap(false, true) {
		<-s.done
		return
	}
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	if s.cancel != nil {
		s.cancel()
	}
	if s.pc != nil {
		if err := s.pc.Close(); err != nil {
			s.log.Debug("close peer connection", "err", err)
		}
	}
	s.wg.Wait()
	var failed uint64
	for _, w := range s.writers {
		failed += w.failed.Load()
	}
	if s.videoSub != nil {
		s.srv.video.unsubscribe(s.videoSub)
	}
	if s.audioSub != nil {
		s.srv.audio.unsubscribe(s.audioSub)
	}
	s.srv.remove(s)
	s.reason = reason
	s.log.Info("session ended", "reason", reason, "send_errors", failed, "sessions", s.srv.Len())
	close(s.done)
	if s.opts.OnClose != nil {
		s.opts.OnClose(reason)
	}
}
