package dm

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/mattercam/mattercam/matter/tlv"
)

// Event is one recorded event (Core §7.14 "Event", §7.14.2 "Event
// Records"). Events are immutable once recorded; readers share them.
type Event struct {
	// Number is the event number: unique on the node, increasing in the
	// order events were recorded, and never reused, not even across a
	// restart (Core §7.14.2.1).
	Number   uint64
	Priority Priority
	// Path is the endpoint, cluster and event ID.
	Path Path
	// FabricIndex is the fabric a fabric-sensitive event belongs to, 0 for
	// an event every fabric may see (Core §7.14.3: such events are only
	// reported to their fabric).
	FabricIndex uint8
	// Millis is the timestamp in milliseconds: UTC time since the Unix
	// epoch when Epoch is set (EpochTimestamp), otherwise time since the
	// log started (SystemTimestamp), used while the node has no trustworthy
	// UTC time (Core §7.14.2.3).
	Millis uint64
	Epoch  bool
	// Payload is the event's fields structure as one TLV element, nil for
	// an event without fields. The Interaction Model engine re-tags it as
	// the Data field of the EventDataIB.
	Payload []byte
}

// EventNumberStore persists the reserved upper bound of the event number
// counter, so that a restart never hands out a number that was already used
// (Core §7.14.2.1). Implementations write atomically and return only once
// the value is durable.
type EventNumberStore interface {
	// LoadEventNumber returns the last bound stored; ok is false if none
	// was ever stored.
	LoadEventNumber() (bound uint64, ok bool, err error)
	// StoreEventNumber durably records bound.
	StoreEventNumber(bound uint64) error
}

// Event log defaults.
const (
	// DefaultEventNumberReserve is how many event numbers each write to
	// the EventNumberStore reserves.
	DefaultEventNumberReserve = 1024
	// DefaultMaxEventPayload bounds one event's payload.
	DefaultMaxEventPayload = 1024
)

// Default per-priority bounds: events and payload octets kept in the ring
// buffer of each priority (Debug, Info, Critical).
var (
	DefaultEventCapacity = [3]int{64, 128, 64}
	DefaultEventBytes    = [3]int{8 << 10, 16 << 10, 8 << 10}
)

// ErrEventTooLarge reports a payload over EventsConfig.MaxPayload.
var ErrEventTooLarge = errors.New("dm: event payload too large")

// EventsConfig configures an event log.
type EventsConfig struct {
	// Store persists the event number counter. Nil keeps it in memory,
	// starting at 0: a test or a node that has no storage.
	Store EventNumberStore
	// Reserve is how many numbers each store write reserves; zero means
	// DefaultEventNumberReserve.
	Reserve uint64
	// Capacity and MaxBytes bound the ring buffer of each priority, indexed
	// by Priority: the number of events, and the octets of their payloads.
	// Zero entries take DefaultEventCapacity and DefaultEventBytes.
	Capacity [3]int
	MaxBytes [3]int
	// MaxPayload bounds one event's payload; zero means
	// DefaultMaxEventPayload.
	MaxPayload int
	// Now is the clock; nil means time.Now. A clock before 2020 is taken
	// as not synchronised, and events get system timestamps.
	Now func() time.Time
}

// Events is the node's event log: the event number counter, persisted
// through a reserved window, and one bounded ring buffer per priority in
// which the oldest event of that priority makes room for a new one
// (Core §7.14.2.2 "Event Priority": events of one priority do not evict
// events of another). It is safe for concurrent use.
type Events struct {
	cfg   EventsConfig
	start time.Time

	mu      sync.Mutex
	next    uint64 // the next event number
	bound   uint64 // numbers below bound are covered by the stored bound
	rings   [3]ring
	obs     []func(*Event)
	evicted uint64
}

type ring struct {
	buf   []*Event // capacity entries, oldest at head
	head  int
	n     int
	bytes int
}

// plausibleEpoch is the earliest UTC time taken as a synchronised clock.
var plausibleEpoch = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

// NewEvents returns an event log that resumes the counter kept by
// cfg.Store, reserving a new window before it returns.
func NewEvents(cfg EventsConfig) (*Events, error) {
	if cfg.Reserve == 0 {
		cfg.Reserve = DefaultEventNumberReserve
	}
	if cfg.MaxPayload <= 0 {
		cfg.MaxPayload = DefaultMaxEventPayload
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	for p := range 3 {
		if cfg.Capacity[p] <= 0 {
			cfg.Capacity[p] = DefaultEventCapacity[p]
		}
		if cfg.MaxBytes[p] <= 0 {
			cfg.MaxBytes[p] = DefaultEventBytes[p]
		}
	}
	l := &Events{cfg: cfg, start: cfg.Now()}
	for p := range 3 {
		l.rings[p].buf = make([]*Event, cfg.Capacity[p])
	}
	if cfg.Store != nil {
		v, ok, err := cfg.Store.LoadEventNumber()
		if err != nil {
			return nil, fmt.Errorf("dm: loading event number: %w", err)
		}
		if ok {
			l.next = v
		}
		if err := l.reserveLocked(); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// reserveLocked stores the bound next+Reserve.
func (l *Events) reserveLocked() error {
	b := l.next + l.cfg.Reserve
	if b < l.next {
		return errors.New("dm: event numbers exhausted")
	}
	if err := l.cfg.Store.StoreEventNumber(b); err != nil {
		return fmt.Errorf("dm: storing event number: %w", err)
	}
	l.bound = b
	return nil
}

// Observe registers f to be called with every event recorded after this
// call. f runs on the emitting goroutine, without locks held, and must not
// block.
func (l *Events) Observe(f func(*Event)) {
	l.mu.Lock()
	l.obs = append(l.obs, f)
	l.mu.Unlock()
}

// Emit records an event and returns its number. payload is the event's
// fields as one TLV element (any tag; nil for none); it is copied. Emit
// fails, recording nothing, if the payload is malformed or too large, or if
// the store cannot reserve more numbers: a number is never handed out
// without a durable bound above it.
func (l *Events) Emit(endpoint uint16, cluster, event uint32, priority Priority, fabricIndex uint8, payload []byte) (uint64, error) {
	if priority > PriorityCritical {
		return 0, fmt.Errorf("dm: event priority %d", priority)
	}
	if len(payload) > l.cfg.MaxPayload {
		return 0, fmt.Errorf("%w: %d octets, limit %d", ErrEventTooLarge, len(payload), l.cfg.MaxPayload)
	}
	if payload != nil {
		if err := checkElement(payload); err != nil {
			return 0, fmt.Errorf("dm: event payload: %w", err)
		}
		payload = slices.Clone(payload)
	}
	now := l.cfg.Now()
	ev := &Event{
		Priority:    priority,
		Path:        Path{Endpoint: endpoint, Cluster: cluster, ID: event},
		FabricIndex: fabricIndex,
		Payload:     payload,
	}
	if now.After(plausibleEpoch) {
		ev.Millis, ev.Epoch = uint64(now.UnixMilli()), true
	} else {
		ev.Millis = uint64(max(now.Sub(l.start), 0) / time.Millisecond)
	}

	l.mu.Lock()
	if l.cfg.Store != nil && l.next >= l.bound {
		if err := l.reserveLocked(); err != nil {
			l.mu.Unlock()
			return 0, err
		}
	}
	ev.Number = l.next
	l.next++
	l.rings[priority].push(ev, l.cfg.Capacity[priority], l.cfg.MaxBytes[priority], &l.evicted)
	obs := l.obs
	l.mu.Unlock()

	for _, f := range obs {
		f(ev)
	}
	return ev.Number, nil
}

// push adds ev, evicting the oldest events until it fits.
func (r *ring) push(ev *Event, capacity, maxBytes int, evicted *uint64) {
	for r.n > 0 && (r.n >= capacity || r.bytes+len(ev.Payload) > maxBytes) {
		old := r.buf[r.head]
		r.buf[r.head] = nil
		r.head = (r.head + 1) % len(r.buf)
		r.n--
		r.bytes -= len(old.Payload)
		*evicted++
	}
	r.buf[(r.head+r.n)%len(r.buf)] = ev
	r.n++
	r.bytes += len(ev.Payload)
}

// Next returns the number the next event will get.
func (l *Events) Next() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.next
}

// Evicted returns how many events the ring buffers have dropped to make
// room.
func (l *Events) Evicted() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.evicted
}

// Read calls f for every event still held whose number is in [from, to),
// in increasing number order, until f returns false. It works on a
// snapshot, so f may take its time and may call Emit.
func (l *Events) Read(from, to uint64, f func(*Event) bool) {
	l.mu.Lock()
	var evs []*Event
	for p := range l.rings {
		r := &l.rings[p]
		for i := range r.n {
			ev := r.buf[(r.head+i)%len(r.buf)]
			if ev.Number >= from && ev.Number < to {
				evs = append(evs, ev)
			}
		}
	}
	l.mu.Unlock()
	slices.SortFunc(evs, func(a, b *Event) int {
		switch {
		case a.Number < b.Number:
			return -1
		case a.Number > b.Number:
			return 1
		}
		return 0
	})
	for _, ev := range evs {
		if !f(ev) {
			return
		}
	}
}

// checkElement checks that b holds exactly one well-formed TLV element.
func checkElement(b []byte) error {
	r := tlv.NewReader(b)
	if err := r.Next(); err != nil {
		if err == io.EOF {
			return errors.New("empty TLV")
		}
		return err
	}
	if err := r.Skip(); err != nil {
		return err
	}
	if err := r.Next(); err != io.EOF {
		if err == nil {
			return errors.New("more than one TLV element")
		}
		return err
	}
	return nil
}
