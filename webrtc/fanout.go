package webrtc

import (
	"sync"
	"sync/atomic"
	"time"

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
