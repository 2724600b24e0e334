package webrtc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	pion "github.com/pion/webrtc/v4"

	"github.com/mattercam/mattercam/capture"
)

// unit is one encoded frame (a video access unit or an Opus packet) shared
// by every session watching a stream. Data is never copied: each
// subscriber that queues the unit holds a reference, and the source's
// buffer is released when the last reference goes.
type unit struct {
	data []byte
	pts  time.Duration
	key  bool
	refs atomic.Int32

	// The source's frame, kept whole so its Release can be called
	// without allocating a closure per frame.
	au capture.AccessUnit
	af capture.AudioFrame
}

var unitPool = sync.Pool{New: func() any { return new(unit) }}

func videoUnit(au capture.AccessUnit) *unit {
	u := unitPool.Get().(*unit)
	u.au, u.data, u.pts, u.key = au, au.Data, au.PTS, au.Key
	u.refs.Store(1)
	return u
}

func audioUnit(af capture.AudioFrame) *unit {
	u := unitPool.Get().(*unit)
	u.af, u.data, u.pts, u.key = af, af.Data, af.PTS, true
	u.refs.Store(1)
	return u
}

func (u *unit) ref() { u.refs.Add(1) }

// unref drops one reference; the last one releases the source buffer.
func (u *unit) unref() {
	switch n := u.refs.Add(-1); {
	case n == 0:
		u.au.Release()
		u.af.Release()
		u.data, u.au, u.af = nil, capture.AccessUnit{}, capture.AudioFrame{}
		unitPool.Put(u)
	case n < 0:
		panic("webrtc: unit released twice")
	}
}

// subscriber is one session's bounded queue on a broadcast. The broadcast
// never blocks on it: when the queue is full the unit is dropped and the
// subscriber skips everything up to the next key frame, because a decoder
// cannot use the frames that depend on the one it missed.
type subscriber struct {
	ch chan *unit

	mu       sync.Mutex
	closed   bool
	needsKey bool // guarded by mu; written by the broadcaster
	dropped  uint64
}

// offer queues u unless the subscriber is closed, waiting for a key frame,
// or full. It never blocks.
func (s *subscriber) offer(u *unit) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	if s.needsKey && !u.key {
		s.dropped++
		return
	}
	u.ref()
	select {
	case s.ch <- u:
		s.needsKey = false
	default:
		u.unref()
		s.dropped++
		s.needsKey = true
	}
}

// close stops deliveries and releases whatever is still queued. After
// close returns no unit will be queued again, so no reference leaks.
func (s *subscriber) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	for {
		select {
		case u := <-s.ch:
			u.unref()
		default:
			return
		}
	}
}

// broadcast fans one source out to its subscribers: encode once, send N
// times. The subscriber list is copy-on-write so the per-frame path takes
// no shared lock.
type broadcast struct {
	mu   sync.Mutex // serialises writers of subs
	subs atomic.Pointer[[]*subscriber]

	// requestKey asks the source for a key frame; nil for audio, whose
	// every frame is independently decodable.
	requestKey func()
	queueLen   int
}

func newBroadcast(queueLen int, requestKey func()) *broadcast {
	b := &broadcast{requestKey: requestKey, queueLen: queueLen}
	b.subs.Store(new([]*subscriber))
	return b
}

// subscribe adds a subscriber. A video subscriber starts by waiting for a
// key frame and asks the source for one, so its first picture is
// decodable and arrives within one frame time (DESIGN.md §1).
func (b *broadcast) subscribe() *subscriber {
	s := &subscriber{ch: make(chan *unit, b.queueLen), needsKey: b.requestKey != nil}
	b.mu.Lock()
	old := *b.subs.Load()
	next := make([]*subscriber, len(old), len(old)+1)
	copy(next, old)
	next = append(next, s)
	b.subs.Store(&next)
	b.mu.Unlock()
	if b.requestKey != nil {
		b.requestKey()
	}
	return s
}

// unsubscribe removes s and releases its queue.
func (b *broadcast) unsubscribe(s *subscriber) {
	b.mu.Lock()
	old := *b.subs.Load()
	next := make([]*subscriber, 0, len(old))
	for _, x := range old {
		if x != s {
			next = append(next, x)
		}
	}
	b.subs.Store(&next)
	b.mu.Unlock()
	s.close()
}

// publish hands u to every subscriber and drops the publisher's own
// reference.
func (b *broadcast) publish(u *unit) {
	for _, s := range *b.subs.Load() {
		s.offer(u)
	}
	u.unref()
}

func (b *broadcast) len() int { return len(*b.subs.Load()) }

// Stream ends, passed to SessionOptions.OnClose of the sessions using it.
var (
	// ErrStreamRemoved: the stream was taken away on purpose (the Matter
	// provider's RemoveVideoStream/RemoveAudioStream when AV Stream
	// Management deallocates it, or the server shutting down).
	ErrStreamRemoved = errors.New("webrtc: stream removed")
	// ErrSourceEnded: the source stopped producing by itself (the encoder
	// failed or was closed under us).
	ErrSourceEnded = errors.New("webrtc: source ended")
)

// stream is one encoded source (the Server's camera, or one allocated
// Camera AV stream of the Matter provider): read by exactly one pump
// goroutine and fanned out by reference to every session using it, so it
// is encoded once however many sessions watch it (DESIGN.md §1).
type stream struct {
	kind  string                  // "video" or "audio", for logs
	codec pion.RTPCodecCapability // what we put in our own offers
	// b fans the frames out; its requestKey asks the encoder for a key
	// frame (PLI/FIR, a joining session).
	b *broadcast

	cancel  context.CancelFunc
	done    chan struct{} // closed when the pump has returned
	removed atomic.Bool
	err     error // why the pump stopped; written before done is closed
}

// newVideoStream checks that src is H.264 with a usable profile-level-id
// and starts reading it.
func newVideoStream(cfg Config, log *slog.Logger, src capture.VideoSource) (*stream, error) {
	vf := src.Format()
	if vf.Codec != "H264" || !validProfileLevelID(vf.ProfileLevelID) {
		return nil, fmt.Errorf("webrtc: video source %q with profile-level-id %q: only H.264 is supported", vf.Codec, vf.ProfileLevelID)
	}
	st := &stream{
		kind: "video",
		codec: pion.RTPCodecCapability{
			MimeType:  pion.MimeTypeH264,
			ClockRate: 90000,
			// RFC 6184 §8.1: we send FU-A/STAP-A (mode 1); the
			// level may be lower on the receive side.
			SDPFmtpLine:  "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=" + vf.ProfileLevelID,
			RTCPFeedback: videoFeedback,
		},
		b: newBroadcast(cfg.VideoQueue, src.RequestKeyFrame),
	}
	st.start(log, func(ctx context.Context) (*unit, error) {
		au, err := src.ReadAccessUnit(ctx)
		if err != nil {
			return nil, err
		}
		return videoUnit(au), nil
	})
	return st, nil
}

// newAudioStream checks that src is Opus and starts reading it.
func newAudioStream(cfg Config, log *slog.Logger, src capture.AudioSource) (*stream, error) {
	if af := src.Format(); af.Codec != "opus" {
		return nil, fmt.Errorf("webrtc: audio source %q: only Opus is supported", af.Codec)
	}
	st := &stream{kind: "audio", codec: opusCodec, b: newBroadcast(cfg.AudioQueue, nil)}
	st.start(log, func(ctx context.Context) (*unit, error) {
		af, err := src.ReadFrame(ctx)
		if err != nil {
			return nil, err
		}
		return audioUnit(af), nil
	})
	return st, nil
}

// videoFeedback is the RTCP feedback we act on for video: NACK (pion's
// responder retransmits), PLI and FIR (a key-frame request to the
// encoder).
var videoFeedback = []pion.RTCPFeedback{
	{Type: "nack"}, {Type: "nack", Parameter: "pli"}, {Type: "ccm", Parameter: "fir"},
}

// opusCodec is what we send for audio: RFC 7587 §7 says opus/48000/2
// whatever is actually coded.
var opusCodec = pion.RTPCodecCapability{
	MimeType: pion.MimeTypeOpus, ClockRate: 48000, Channels: 2,
	SDPFmtpLine: "minptime=10;useinbandfec=1",
}

func (st *stream) start(log *slog.Logger, read func(context.Context) (*unit, error)) {
	ctx, cancel := context.WithCancel(context.Background())
	st.cancel = cancel
	st.done = make(chan struct{})
	go func() {
		defer close(st.done)
		for {
			u, err := read(ctx)
			if err != nil {
				st.stopped(log, err)
				return
			}
			st.b.publish(u)
		}
	}()
}

func (st *stream) stopped(log *slog.Logger, err error) {
	switch {
	case st.removed.Load():
		st.err = ErrStreamRemoved
		return
	case errors.Is(err, capture.ErrClosed):
		log.Info("source closed", "kind", st.kind)
	default:
		log.Error("source failed", "kind", st.kind, "err", err)
	}
	st.err = fmt.Errorf("%w: %s: %w", ErrSourceEnded, st.kind, err)
}

// stop ends the pump on purpose and waits for it; the source itself stays
// open (it belongs to the caller). Sessions still using the stream see
// done and end with ErrStreamRemoved.
func (st *stream) stop() {
	st.removed.Store(true)
	st.cancel()
	<-st.done
}

// endErr is why the stream ended; valid once done is closed.
func (st *stream) endErr() error { return st.err }
