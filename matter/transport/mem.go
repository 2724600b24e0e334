package transport

import (
	"container/heap"
	"context"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"
)

// Conditions describe what a simulated link does to the messages on it.
// Probabilities are in [0, 1].
type Conditions struct {
	// Loss is the probability that a message is dropped.
	Loss float64
	// Duplicate is the probability that a delivered message is delivered
	// a second time (with its own delay).
	Duplicate float64
	// Reorder is the probability that a message is held back by an extra
	// ReorderDelay, so that later messages overtake it.
	Reorder float64

	// Delay is the one-way latency of every message.
	Delay time.Duration
	// Jitter adds a uniformly random extra latency in [0, Jitter).
	Jitter time.Duration
	// ReorderDelay is the extra latency of a reordered message. Zero means
	// 10 ms.
	ReorderDelay time.Duration
}

// MemConfig configures a MemNetwork.
type MemConfig struct {
	// Seed makes every random decision reproducible: two networks with
	// the same seed, conditions and sequence of sends on each link behave
	// identically.
	Seed uint64

	// Conditions apply to every link without its own (see SetConditions).
	Conditions Conditions

	// Stream makes the network behave like TCP: its transports report
	// Network() == TCP, messages may be large, and delivery is complete
	// and in order (loss, duplication and reordering are ignored; delay
	// and jitter still apply, without reordering).
	Stream bool

	// MaxMessageSize bounds one message. Zero means MaxUDPMessageSize, or
	// DefaultMaxTCPMessageSize for a stream network.
	MaxMessageSize int

	// QueueLen bounds each transport's inbound queue, messages in flight
	// included. Zero means 256. A datagram network drops what does not
	// fit; a stream network fails the Send with ErrQueueFull.
	QueueLen int
}

// MemStats counts what a MemNetwork did to the messages sent on it.
type MemStats struct {
	Sent       uint64 // accepted by Send
	Lost       uint64 // dropped by Loss
	Duplicated uint64 // extra copies made by Duplicate
	Reordered  uint64 // held back by Reorder
	Delivered  uint64 // placed in a receiver's queue
	Unroutable uint64 // sent to an address with no transport
	QueueFull  uint64 // dropped because the receiver's queue was full
}

// MemNetwork is an in-memory network of MemTransports for tests. Its only
// notion of time is the time package's timers, so it runs unchanged inside
// a testing/synctest bubble, where delays cost no wall-clock time. It starts
// no goroutines of its own; the timers it arms are stopped when the
// receiving transport closes.
type MemNetwork struct {
	cfg MemConfig

	mu    sync.Mutex
	nodes map[netip.AddrPort]*MemTransport
	links map[memLink]*memLinkState
	conds map[memLink]Conditions
	stats MemStats
}

type memLink struct{ from, to netip.AddrPort }

type memLinkState struct {
	rng  *rand.Rand
	last time.Time // latest delivery time scheduled (stream ordering)
}

// NewMemNetwork returns an empty network.
func NewMemNetwork(cfg MemConfig) *MemNetwork {
	if cfg.MaxMessageSize == 0 {
		cfg.MaxMessageSize = MaxUDPMessageSize
		if cfg.Stream {
			cfg.MaxMessageSize = DefaultMaxTCPMessageSize
		}
	}
	if cfg.QueueLen <= 0 {
		cfg.QueueLen = 256
	}
	return &MemNetwork{
		cfg:   cfg,
		nodes: make(map[netip.AddrPort]*MemTransport),
		links: make(map[memLink]*memLinkState),
		conds: make(map[memLink]Conditions),
	}
}

// SetConditions overrides the network's conditions for messages from one
// address to another (one direction).
func (n *MemNetwork) SetConditions(from, to netip.AddrPort, c Conditions) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.conds[memLink{from, to}] = c
}

// Stats returns what the network has done so far.
func (n *MemNetwork) Stats() MemStats {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.stats
}

// Listen attaches a transport at addr.
func (n *MemNetwork) Listen(addr netip.AddrPort) (*MemTransport, error) {
	if !addr.IsValid() {
		return nil, fmt.Errorf("transport: mem: invalid address %s", addr)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.nodes[addr] != nil {
		return nil, fmt.Errorf("transport: mem: address %s in use", addr)
	}
	t := &MemTransport{
		net:   n,
		addr:  addr,
		ready: make(chan Packet, n.cfg.QueueLen),
		done:  make(chan struct{}),
	}
	n.nodes[addr] = t
	return t, nil
}

// MemTransport is one node's endpoint on a MemNetwork.
type MemTransport struct {
	net  *MemNetwork
	addr netip.AddrPort

	// Guarded by net.mu.
	inflight memHeap
	seq      uint64
	timer    *time.Timer
	closed   bool

	ready chan Packet
	done  chan struct{}
}

var _ Transport = (*MemTransport)(nil)

// Addr is the transport's address on its network.
func (t *MemTransport) Addr() netip.AddrPort { return t.addr }

// Network implements Transport.
func (t *MemTransport) Network() Network {
	if t.net.cfg.Stream {
		return TCP
	}
	return UDP
}

// MaxMessageSize implements Transport.
func (t *MemTransport) MaxMessageSize() int { return t.net.cfg.MaxMessageSize }

// Send implements Transport. The fate of the message (loss, duplication,
// delay) is decided here, from the link's own random stream.
func (t *MemTransport) Send(ctx context.Context, to netip.AddrPort, msg []byte) error {
	n := t.net
	if len(msg) > n.cfg.MaxMessageSize {
		return fmt.Errorf("transport: mem send to %s: %d bytes, limit %d: %w", to, len(msg), n.cfg.MaxMessageSize, ErrMessageTooLarge)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("transport: mem send to %s: %w", to, err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if t.closed {
		return fmt.Errorf("transport: mem send to %s: %w", to, ErrClosed)
	}
	n.stats.Sent++
	dst := n.nodes[to]
	if dst == nil {
		n.stats.Unroutable++
		if n.cfg.Stream {
			return fmt.Errorf("transport: mem send to %s: %w", to, ErrNoConnection)
		}
		return nil // a datagram to nowhere vanishes
	}
	link := memLink{t.addr, to}
	ls := n.links[link]
	if ls == nil {
		h := fnv.New64a()
		h.Write([]byte(t.addr.String() + ">" + to.String()))
		ls = &memLinkState{rng: rand.New(rand.NewPCG(n.cfg.Seed, h.Sum64()))}
		n.links[link] = ls
	}
	c, ok := n.conds[link]
	if !ok {
		c = n.cfg.Conditions
	}
	// Draw every random number on every send, whatever the outcome, so
	// that one decision does not shift the stream of the others.
	rLoss, rDup, rReorder := ls.rng.Float64(), ls.rng.Float64(), ls.rng.Float64()
	j1, j2 := ls.rng.Float64(), ls.rng.Float64()

	now := time.Now()
	delay := func(j float64) time.Duration {
		return c.Delay + time.Duration(j*float64(c.Jitter))
	}
	from := PeerAddr{Network: t.Network(), Addr: t.addr}
	if n.cfg.Stream {
		at := now.Add(delay(j1))
		if at.Before(ls.last) {
			at = ls.last
		}
		ls.last = at
		if !dst.scheduleLocked(at, Packet{From: from, Data: append([]byte(nil), msg...)}) {
			return fmt.Errorf("transport: mem send to %s: %w", to, ErrQueueFull)
		}
		return nil
	}
	if rLoss < c.Loss {
		n.stats.Lost++
		return nil
	}
	d := delay(j1)
	if rReorder < c.Reorder {
		n.stats.Reordered++
		rd := c.ReorderDelay
		if rd == 0 {
			rd = 10 * time.Millisecond
		}
		d += rd
	}
	dst.scheduleLocked(now.Add(d), Packet{From: from, Data: append([]byte(nil), msg...)})
	if rDup < c.Duplicate {
		n.stats.Duplicated++
		dst.scheduleLocked(now.Add(delay(j2)), Packet{From: from, Data: append([]byte(nil), msg...)})
	}
	return nil
}

// scheduleLocked queues p for delivery at the given time. It reports false
// if the queue is full (the packet is dropped). n.mu is held.
func (t *MemTransport) scheduleLocked(at time.Time, p Packet) bool {
	n := t.net
	if t.closed || len(t.inflight)+len(t.ready) >= n.cfg.QueueLen {
		n.stats.QueueFull++
		return false
	}
	t.seq++
	heap.Push(&t.inflight, memPacket{at: at, seq: t.seq, p: p})
	t.deliverLocked(time.Now())
	return true
}

// deliverLocked moves due packets to the ready queue and arms the timer for
// the next one. n.mu is held.
func (t *MemTransport) deliverLocked(now time.Time) {
	n := t.net
	for len(t.inflight) > 0 && !t.inflight[0].at.After(now) {
		mp := heap.Pop(&t.inflight).(memPacket)
		select {
		case t.ready <- mp.p:
			n.stats.Delivered++
		default:
			n.stats.QueueFull++ // cannot happen: scheduleLocked bounds both
		}
	}
	if len(t.inflight) == 0 {
		return
	}
	wait := t.inflight[0].at.Sub(now)
	if t.timer == nil {
		t.timer = time.AfterFunc(wait, t.onTimer)
	} else {
		t.timer.Reset(wait)
	}
}

func (t *MemTransport) onTimer() {
	t.net.mu.Lock()
	defer t.net.mu.Unlock()
	if !t.closed {
		t.deliverLocked(time.Now())
	}
}

// Receive implements Transport.
func (t *MemTransport) Receive(ctx context.Context) (Packet, error) {
	return receive(ctx, t.ready, t.done)
}

// Close implements Transport: it detaches the transport from the network and
// drops what was in flight to it.
func (t *MemTransport) Close() error {
	n := t.net
	n.mu.Lock()
	defer n.mu.Unlock()
	if t.closed {
		return nil
	}
	t.closed = true
	if t.timer != nil {
		t.timer.Stop()
	}
	t.inflight = nil
	if n.nodes[t.addr] == t {
		delete(n.nodes, t.addr)
	}
	close(t.done)
	return nil
}

type memPacket struct {
	at  time.Time
	seq uint64
	p   Packet
}

// memHeap orders packets by delivery time, then by send order.
type memHeap []memPacket

func (h memHeap) Len() int { return len(h) }
func (h memHeap) Less(i, j int) bool {
	if !h[i].at.Equal(h[j].at) {
		return h[i].at.Before(h[j].at)
	}
	return h[i].seq < h[j].seq
}
func (h memHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *memHeap) Push(x any)   { *h = append(*h, x.(memPacket)) }
func (h *memHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
