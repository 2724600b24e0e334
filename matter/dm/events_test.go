package dm

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

type memStore struct {
	mu     sync.Mutex
	v      uint64
	ok     bool
	writes int
	fail   bool
}

func (s *memStore) LoadEventNumber() (uint64, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.v, s.ok, nil
}

func (s *memStore) StoreEventNumber(v uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail {
		return errors.New("disk full")
	}
	s.v, s.ok = v, true
	s.writes++
	return nil
}

var fixedNow = func() time.Time { return time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC) }

func numbers(l *Events, from uint64) []uint64 {
	var out []uint64
	l.Read(from, l.Next(), func(e *Event) bool {
		out = append(out, e.Number)
		return true
	})
	return out
}

// TestEventNumbersPersist: numbers increase, a window is reserved in the
// store before it is used, and a restart resumes above every number that
// may have been handed out (Core §7.14.2.1).
func TestEventNumbersPersist(t *testing.T) {
	st := &memStore{}
	l, err := NewEvents(EventsConfig{Store: st, Reserve: 10, Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	if st.v != 10 || st.writes != 1 {
		t.Fatalf("stored %d after %d writes", st.v, st.writes)
	}
	var last uint64
	for i := range 25 {
		n, err := l.Emit(1, 6, 0, PriorityInfo, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		if n != uint64(i) {
			t.Fatalf("event %d numbered %d", i, n)
		}
		if st.v <= n {
			t.Fatalf("number %d handed out with the stored bound at %d", n, st.v)
		}
		last = n
	}
	if st.writes != 3 {
		t.Fatalf("%d store writes for 25 events with a reserve of 10", st.writes)
	}
	// Restart: the new log starts at the stored bound.
	l2, err := NewEvents(EventsConfig{Store: st, Reserve: 10, Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	n, err := l2.Emit(1, 6, 0, PriorityInfo, 0, nil)
	if err != nil || n <= last || n != 30 {
		t.Fatalf("after restart: %d, %v (last was %d)", n, err, last)
	}
	// A store that fails: nothing is recorded, and the number is not lost.
	st.fail = true
	for range 9 {
		if _, err := l2.Emit(1, 6, 0, PriorityInfo, 0, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l2.Emit(1, 6, 0, PriorityInfo, 0, nil); err == nil {
		t.Fatal("an event was numbered beyond the stored bound")
	}
	st.fail = false
	if n, err := l2.Emit(1, 6, 0, PriorityInfo, 0, nil); err != nil || n != 40 {
		t.Fatalf("after the store recovered: %d, %v", n, err)
	}
	// Without a store, numbers start at 0.
	l3, _ := NewEvents(EventsConfig{})
	if n, _ := l3.Emit(0, 1, 2, PriorityDebug, 0, nil); n != 0 {
		t.Fatalf("in-memory log starts at %d", n)
	}
}

// TestEventRings: each priority has its own bounded ring; a full ring
// drops its own oldest events, never another priority's.
func TestEventRings(t *testing.T) {
	l, err := NewEvents(EventsConfig{Capacity: [3]int{2, 3, 10}, MaxBytes: [3]int{100, 100, 5}, Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	emit := func(p Priority, payload []byte) uint64 {
		n, err := l.Emit(1, 6, 0, p, 0, payload)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	crit := emit(PriorityCritical, nil)
	for range 5 {
		emit(PriorityDebug, nil)
	}
	info := emit(PriorityInfo, nil)
	// Debug keeps its two newest (4, 5); critical and info survive.
	if got := numbers(l, 0); !slices.Equal(got, []uint64{crit, 4, 5, info}) {
		t.Fatalf("held %v", got)
	}
	// Bytes bound: three 2-octet payloads (empty structures) do not fit
	// the 5-octet critical ring; its oldest go.
	p := []byte{0x15, 0x18}
	a := emit(PriorityCritical, p)
	b := emit(PriorityCritical, p)
	c := emit(PriorityCritical, p)
	got := numbers(l, a)
	if !slices.Contains(got, b) || !slices.Contains(got, c) || slices.Contains(got, a) {
		t.Fatalf("critical ring holds %v after three 2-octet events in 5 octets", got)
	}
	if l.Evicted() == 0 {
		t.Fatal("no eviction counted")
	}
	// Read stops when asked, and honours its bounds.
	var seen []uint64
	l.Read(0, c, func(e *Event) bool {
		seen = append(seen, e.Number)
		return len(seen) < 2
	})
	if len(seen) != 2 {
		t.Fatalf("read went on: %v", seen)
	}
}

func TestEventEmit(t *testing.T) {
	l, _ := NewEvents(EventsConfig{MaxPayload: 8, Now: fixedNow})
	var observed []*Event
	l.Observe(func(e *Event) { observed = append(observed, e) })
	payload := []byte{0x15, 0x24, 0x00, 0x07, 0x18}
	n, err := l.Emit(3, 0x28, 1, PriorityCritical, 2, payload)
	if err != nil {
		t.Fatal(err)
	}
	payload[3] = 0xFF // the log keeps its own copy
	if len(observed) != 1 {
		t.Fatal("observer not called")
	}
	e := observed[0]
	if e.Number != n || e.Path != (Path{3, 0x28, 1}) || e.FabricIndex != 2 || e.Priority != PriorityCritical ||
		!e.Epoch || e.Millis != uint64(fixedNow().UnixMilli()) || e.Payload[3] != 0x07 {
		t.Fatalf("event %+v", e)
	}
	for _, bad := range [][]byte{{}, {0x15}, {0x04, 0x01, 0x04, 0x02}, make([]byte, 9)} {
		if _, err := l.Emit(1, 1, 1, PriorityInfo, 0, bad); err == nil {
			t.Errorf("payload %x accepted", bad)
		}
	}
	if _, err := l.Emit(1, 1, 1, 3, 0, nil); err == nil {
		t.Error("priority 3 accepted")
	}
	if l.Next() != n+1 {
		t.Fatalf("Next %d after refused events", l.Next())
	}
	// A clock before 2020 is not trusted: system timestamps.
	start := time.Date(1970, 1, 1, 0, 0, 10, 0, time.UTC)
	now := start
	ls, _ := NewEvents(EventsConfig{Now: func() time.Time { return now }})
	now = now.Add(1500 * time.Millisecond)
	ls.Observe(func(e *Event) {
		if e.Epoch || e.Millis != 1500 {
			t.Errorf("system timestamp %+v", e)
		}
	})
	if _, err := ls.Emit(1, 1, 1, PriorityInfo, 0, nil); err != nil {
		t.Fatal(err)
	}
}
