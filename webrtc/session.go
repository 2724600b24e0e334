package webrtc

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
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

// Reasons a session ends, passed to SessionOptions.OnClose. A stream's
// end (ErrStreamRemoved, ErrSourceEnded) is one too.
var (
	ErrSessionClosed = errors.New("webrtc: session closed")
	ErrSetupTimeout  = errors.New("webrtc: session did not connect in time")
	ErrICEFailed     = errors.New("webrtc: ICE failed")
	ErrPeerClosed    = errors.New("webrtc: peer closed the connection")
	ErrMediaTimeout  = errors.New("webrtc: no media sent")
	ErrTooManyICE    = errors.New("webrtc: too many remote ICE candidates")
)

// Signalling out of order (the JSEP state machine, RFC 8829): an answer while no local
// offer waits for one, or an offer while ours is still unanswered (glare;
// a Matter controller answers the camera's Offer before re-offering).
var (
	errNoLocalOffer = errors.New("webrtc: no local offer to answer")
	errOfferPending = errors.New("webrtc: our offer awaits its answer")
)

// maxRemoteCandidates bounds what a peer can make us store and check.
const maxRemoteCandidates = 64

// Session is one viewer: a PeerConnection that receives the shared video
// (and audio) from the moment ICE and DTLS connect.
type Session struct {
	id   string
	host *core
	opts SessionOptions
	log  *slog.Logger

	// The streams this session sends; nil for none. Fixed at creation.
	video, audio *stream
	// videoMatch, when set, decides which negotiated H.264 format the
	// video track may use (the provider accepts any profile its source
	// satisfies); nil means exactly the source's profile.
	videoMatch func(pion.RTPCodecCapability) bool
	// onMedia is called once, from a writer goroutine, when the first
	// frame has been handed to SRTP.
	onMedia func()

	// negMu serialises the signalling steps (offer, answer, remote
	// candidates) with each other and with teardown, which reads pc.
	negMu    sync.Mutex
	pc       *pion.PeerConnection // nil until the first signalling step
	pending  []pion.ICECandidateInit
	gathered <-chan struct{}

	localMid atomic.Pointer[candidateMid] // where our candidates belong

	connected chan struct{} // signalled on each transition to connected
	ended     chan error    // reasons from pion callbacks, first wins
	done      chan struct{} // closed when the session is fully torn down
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup // writers and RTCP readers

	mu                     sync.Mutex
	closing                bool
	streaming              bool
	videoTrack, audioTrack *track // set under negMu and mu
	videoSub               *subscriber
	audioSub               *subscriber
	writers                []*writer
	closed                 atomic.Bool
	reason                 error

	remoteCandidates atomic.Int32
	connectedAt      atomic.Int64 // unix nanoseconds of the first connect
	framesSent       atomic.Uint64
}

// candidateMid is the media stream identification of our candidates: with
// BUNDLE (RFC 9143) every candidate belongs to the transport of the
// group's tagged (first) media section.
type candidateMid struct {
	mid   string
	index uint16
}

// newSession prepares a session; the caller reserves it in host's table
// and then calls begin. Everything close needs exists from here on, so a
// shutdown racing the creation is safe.
func newSession(host *core, opts SessionOptions, video, audio *stream) *Session {
	var id [16]byte
	_, _ = rand.Read(id[:]) // crypto/rand.Read never fails (Go 1.24+)
	s := &Session{
		id:   hex.EncodeToString(id[:]),
		host: host, opts: opts, video: video, audio: audio,
		connected: make(chan struct{}, 1),
		ended:     make(chan error, 1),
		done:      make(chan struct{}),
	}
	s.log = host.log.With("session", s.id)
	s.ctx, s.cancel = context.WithCancel(host.ctx)
	return s
}

// begin starts the watcher, which owns the session's end (reserve counted
// it in the host's WaitGroup).
func (s *Session) begin() {
	go s.watch()
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

// newPC creates the peer connection on the first signalling step, with
// the API newAPI returns (the provider builds it from the first offer).
// The caller holds negMu.
func (s *Session) newPC(newAPI func() (*pion.API, error)) error {
	api, err := newAPI()
	if err != nil {
		return err
	}
	cfg := pion.Configuration{ICEServers: s.host.cfg.ICEServers, ICETransportPolicy: s.opts.ICETransportPolicy}
	if s.opts.ICEServers != nil {
		cfg.ICEServers = s.opts.ICEServers
	}
	pc, err := api.NewPeerConnection(cfg)
	if err != nil {
		return fmt.Errorf("webrtc: new peer connection: %w", err)
	}
	s.pc = pc
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
			// Our own Close gets here too, but then the session is
			// already closing and the reason is ignored; otherwise pion
			// closed it on the peer's DTLS close_notify (the closure
			// alert of RFC 5246 §7.2.1, as DTLS 1.2 uses it).
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
	return nil
}

// addTracks adds a track per stream the session sends, once. As answerer
// (offerer false) AddTrack lets pion attach them to the offered
// transceivers; as offerer each gets a sendonly transceiver of its own.
// The caller holds negMu.
func (s *Session) addTracks(offerer bool) error {
	if s.videoTrack != nil || s.audioTrack != nil {
		return nil
	}
	var vt, at *track
	add := func(t *track) error {
		var snd *pion.RTPSender
		if offerer {
			tr, err := s.pc.AddTransceiverFromTrack(t, pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionSendonly})
			if err != nil {
				return fmt.Errorf("webrtc: add %s: %w", t.id, err)
			}
			snd = tr.Sender()
		} else {
			var err error
			if snd, err = s.pc.AddTrack(t); err != nil {
				return fmt.Errorf("webrtc: add %s: %w", t.id, err)
			}
		}
		// pion's interceptors (NACK responder, reports) only see the RTCP
		// that is read, and PLI/FIR must reach the encoder. ReadRTCP
		// blocks until the sender starts or the connection closes.
		s.wg.Add(1)
		go s.readRTCP(snd)
		return nil
	}
	if s.video != nil {
		vt = newTrack("video", "mattercam", s.video.codec)
		if s.videoMatch != nil {
			vt.match = s.videoMatch
		}
		if err := add(vt); err != nil {
			return err
		}
	}
	if s.audio != nil {
		at = newTrack("audio", "mattercam", s.audio.codec)
		if err := add(at); err != nil {
			return err
		}
	}
	s.mu.Lock()
	s.videoTrack, s.audioTrack = vt, at
	s.mu.Unlock()
	return nil
}

// answer applies a remote offer (the first one, or a re-offer on a live
// session: a JSEP subsequent answer, RFC 8829) and returns the local answer.
// newAPI is called only if the peer connection does not exist yet.
func (s *Session) answer(newAPI func() (*pion.API, error), offer string) (string, error) {
	s.negMu.Lock()
	defer s.negMu.Unlock()
	if s.closed.Load() {
		return "", ErrSessionClosed
	}
	if s.pc == nil {
		if err := s.newPC(newAPI); err != nil {
			return "", err
		}
	} else if s.pc.SignalingState() == pion.SignalingStateHaveLocalOffer {
		return "", errOfferPending
	}
	if err := s.addTracks(false); err != nil {
		return "", err
	}
	if err := s.pc.SetRemoteDescription(pion.SessionDescription{Type: pion.SDPTypeOffer, SDP: offer}); err != nil {
		return "", fmt.Errorf("%w: %w", ErrBadOffer, err)
	}
	answer, err := s.pc.CreateAnswer(nil)
	if err != nil {
		return "", fmt.Errorf("webrtc: create answer: %w", err)
	}
	if s.opts.OnICECandidate == nil && s.gathered == nil {
		s.gathered = pion.GatheringCompletePromise(s.pc)
	}
	if err := s.setLocal(answer); err != nil {
		return "", err
	}
	s.flushPending()
	return answer.SDP, nil
}

// offer creates a local offer (the first, or a renegotiation from our
// side) with a sendonly transceiver per stream, and starts gathering.
func (s *Session) offer(newAPI func() (*pion.API, error)) (string, error) {
	s.negMu.Lock()
	defer s.negMu.Unlock()
	if s.closed.Load() {
		return "", ErrSessionClosed
	}
	if s.pc == nil {
		if err := s.newPC(newAPI); err != nil {
			return "", err
		}
	}
	if err := s.addTracks(true); err != nil {
		return "", err
	}
	offer, err := s.pc.CreateOffer(nil)
	if err != nil {
		return "", fmt.Errorf("webrtc: create offer: %w", err)
	}
	if err := s.setLocal(offer); err != nil {
		return "", err
	}
	return offer.SDP, nil
}

// setLocal records where our candidates belong, then applies d, which
// starts gathering: pion may report candidates before it returns. The
// caller holds negMu.
func (s *Session) setLocal(d pion.SessionDescription) error {
	if mid, index, ok := bundleMid(d.SDP); ok {
		s.localMid.Store(&candidateMid{mid: mid, index: index})
	}
	if err := s.pc.SetLocalDescription(d); err != nil {
		return fmt.Errorf("webrtc: set local description: %w", err)
	}
	return nil
}

// acceptAnswer applies the peer's answer to our pending offer. The same
// answer again is accepted as a no-op (a retried command); anything else
// without a pending offer is errNoLocalOffer.
func (s *Session) acceptAnswer(answer string) error {
	s.negMu.Lock()
	defer s.negMu.Unlock()
	if s.closed.Load() {
		return ErrSessionClosed
	}
	if s.pc == nil {
		return errNoLocalOffer
	}
	if s.pc.SignalingState() != pion.SignalingStateHaveLocalOffer {
		if rd := s.pc.CurrentRemoteDescription(); rd != nil && rd.Type == pion.SDPTypeAnswer && rd.SDP == answer {
			return nil
		}
		return errNoLocalOffer
	}
	if err := s.pc.SetRemoteDescription(pion.SessionDescription{Type: pion.SDPTypeAnswer, SDP: answer}); err != nil {
		return fmt.Errorf("webrtc: set remote answer: %w", err)
	}
	s.flushPending()
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
// empty Candidate string marks the end of candidates. Candidates that
// arrive before the remote description are held (bounded) and applied
// with it.
func (s *Session) AddICECandidate(c pion.ICECandidateInit) error {
	s.negMu.Lock()
	defer s.negMu.Unlock()
	if s.closed.Load() {
		return ErrSessionClosed
	}
	if c.Candidate != "" && s.remoteCandidates.Add(1) > maxRemoteCandidates {
		return fmt.Errorf("%w (max %d)", ErrTooManyICE, maxRemoteCandidates)
	}
	if s.pc == nil || s.pc.RemoteDescription() == nil {
		// Bounded: candidates by the count above, end markers by never
		// holding two in a row.
		if c.Candidate != "" || len(s.pending) == 0 || s.pending[len(s.pending)-1].Candidate != "" {
			s.pending = append(s.pending, c)
		}
		return nil
	}
	if err := s.pc.AddICECandidate(c); err != nil {
		return fmt.Errorf("webrtc: add candidate: %w", err)
	}
	return nil
}

// flushPending applies the candidates held for want of a remote
// description. They were accepted already, so failures are only logged.
// The caller holds negMu.
func (s *Session) flushPending() {
	for _, c := range s.pending {
		if err := s.pc.AddICECandidate(c); err != nil {
			s.log.Debug("held remote candidate", "err", err)
		}
	}
	s.pending = nil
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
	s.negMu.Lock()
	pc := s.pc
	s.negMu.Unlock()
	if pc == nil {
		return ""
	}
	rd := pc.RemoteDescription()
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
// media on connect, the media timeout, the end of its streams, and
// teardown on failure.
func (s *Session) watch() {
	defer s.host.wg.Done()
	cfg := &s.host.cfg
	setup := time.NewTimer(cfg.SetupTimeout)
	defer setup.Stop()
	var vdone, adone <-chan struct{}
	if s.video != nil {
		vdone = s.video.done
	}
	if s.audio != nil {
		adone = s.audio.done
	}
	// The media check counts frames rather than reading the clock per
	// frame: no progress between checks for MediaTimeout is a stall.
	var (
		check      *time.Ticker
		checkC     <-chan time.Time
		lastFrames uint64
		lastChange time.Time
	)
	defer func() {
		if check != nil {
			check.Stop()
		}
	}()
	for {
		select {
		case <-s.connected:
			setup.Stop()
			if check == nil {
				check = time.NewTicker(max(cfg.MediaTimeout/4, time.Millisecond))
				checkC = check.C
				lastChange = time.Now()
			}
			s.startMedia()
		case <-setup.C:
			if s.connectedAt.Load() == 0 {
				s.close(ErrSetupTimeout)
				return
			}
		case now := <-checkC:
			if n := s.framesSent.Load(); n != lastFrames {
				lastFrames, lastChange = n, now
			} else if now.Sub(lastChange) >= cfg.MediaTimeout {
				s.close(ErrMediaTimeout)
				return
			}
		case <-vdone:
			s.close(s.video.endErr())
			return
		case <-adone:
			s.close(s.audio.endErr())
			return
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
	if s.videoTrack != nil {
		s.videoSub = s.video.b.subscribe()
		s.spawnWriter(&writer{t: s.videoTrack, sub: s.videoSub, clockRate: 90000, video: true})
	}
	if s.audioTrack != nil {
		s.audioSub = s.audio.b.subscribe()
		s.spawnWriter(&writer{t: s.audioTrack, sub: s.audioSub, clockRate: 48000})
	}
}

func (s *Session) spawnWriter(w *writer) {
	var r [6]byte
	_, _ = rand.Read(r[:]) // crypto/rand.Read never fails (Go 1.24+)
	// RFC 3550 §5.1: random initial sequence number and timestamp.
	w.seq = binary.BigEndian.Uint16(r[:2])
	w.tsOffset = binary.BigEndian.Uint32(r[2:])
	w.mtu = s.host.cfg.MTU
	w.frames = &s.framesSent
	w.onFirst = s.firstMedia
	s.writers = append(s.writers, w)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		w.run(s.ctx)
	}()
}

// firstMedia runs once, on the writer goroutine that handed the session's
// first frame to SRTP.
func (s *Session) firstMedia() {
	s.log.Debug("first media sent")
	if s.onMedia != nil {
		s.onMedia()
	}
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
				if s.video != nil {
					s.video.b.requestKey()
				}
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
	s.cancel()
	// A signalling step in progress finishes first; later ones see
	// closed. pc is not written after this.
	s.negMu.Lock()
	pc := s.pc
	s.pending = nil
	s.negMu.Unlock()
	if pc != nil {
		if err := pc.Close(); err != nil {
			s.log.Debug("close peer connection", "err", err)
		}
	}
	s.wg.Wait()
	var failed uint64
	for _, w := range s.writers {
		failed += w.failed.Load()
	}
	if s.videoSub != nil {
		s.video.b.unsubscribe(s.videoSub)
	}
	if s.audioSub != nil {
		s.audio.b.unsubscribe(s.audioSub)
	}
	s.host.remove(s)
	s.reason = reason
	s.log.Info("session ended", "reason", reason, "frames", s.framesSent.Load(), "send_errors", failed, "sessions", s.host.len())
	close(s.done)
	if s.opts.OnClose != nil {
		s.opts.OnClose(reason)
	}
}
