package message

import (
	"bytes"
	"errors"
	"math"
	"sync"
	"testing"
)

func TestRandomCounterStart(t *testing.T) {
	tests := []struct {
		rand string
		want uint32
	}{
		{"00000000", 1},
		{"ffffff0f", 1 << 28},
		{"ffffffff", 1 << 28}, // only 28 bits are used
		{"01000010", 2},
		{"feffff0f", 1<<28 - 1},
	}
	for _, tt := range tests {
		got, err := RandomCounterStart(bytes.NewReader(unhex(t, tt.rand)))
		if err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("RandomCounterStart(%s) = %#x, want %#x", tt.rand, got, tt.want)
		}
	}
	if _, err := RandomCounterStart(bytes.NewReader([]byte{1, 2})); err == nil {
		t.Error("RandomCounterStart with 2 random octets: no error")
	}
	for range 1000 {
		v, err := RandomCounterStart(nil)
		if err != nil {
			t.Fatal(err)
		}
		if v < 1 || v > 1<<28 {
			t.Fatalf("RandomCounterStart = %#x, outside [1, 2^28]", v)
		}
	}
}

func TestSessionCounterExhaustion(t *testing.T) {
	c := NewSessionCounterAt(math.MaxUint32 - 1)
	for _, want := range []uint32{math.MaxUint32 - 1, math.MaxUint32} {
		got, err := c.Next()
		if err != nil || got != want {
			t.Fatalf("Next = %#x, %v; want %#x", got, err, want)
		}
	}
	for range 3 {
		if _, err := c.Next(); !errors.Is(err, ErrCounterExhausted) {
			t.Fatalf("Next after 0xffffffff: err = %v, want ErrCounterExhausted", err)
		}
	}
	if _, exhausted := c.Peek(); !exhausted {
		t.Error("Peek does not report exhaustion")
	}
}

func TestSessionCounterConcurrent(t *testing.T) {
	c := NewSessionCounterAt(1)
	const workers, each = 8, 1000
	seen := make([][]uint32, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for range each {
				v, err := c.Next()
				if err != nil {
					t.Error(err)
					return
				}
				seen[w] = append(seen[w], v)
			}
		})
	}
	wg.Wait()
	all := make(map[uint32]bool)
	for _, s := range seen {
		for _, v := range s {
			if all[v] {
				t.Fatalf("counter %d handed out twice", v)
			}
			all[v] = true
		}
	}
	if len(all) != workers*each {
		t.Fatalf("%d distinct counters, want %d", len(all), workers*each)
	}
}

func TestGlobalCounterRollover(t *testing.T) {
	c := new(GlobalCounter)
	c.next.Store(math.MaxUint32)
	if a, b := c.Next(), c.Next(); a != math.MaxUint32 || b != 0 {
		t.Fatalf("Next, Next = %#x, %#x; want 0xffffffff, 0", a, b)
	}
}

// memStore is a CounterStore that can fail and counts its writes.
type memStore struct {
	mu     sync.Mutex
	vals   map[string]uint32
	writes int
	fail   error
}

func (m *memStore) LoadCounter(key string) (uint32, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.vals[key]
	return v, ok, nil
}

func (m *memStore) StoreCounter(key string, v uint32) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	if m.vals == nil {
		m.vals = make(map[string]uint32)
	}
	m.vals[key] = v
	m.writes++
	return nil
}

func TestPersistentCounter(t *testing.T) {
	tests := []struct {
		name    string
		stored  *uint32 // nil: nothing stored
		reserve uint32
		take    int    // values to take before the "crash"
		first   uint32 // expected first value
		writes  int    // expected store writes after take values
	}{
		{name: "fresh", reserve: 4, take: 9, first: 1, writes: 3},
		{name: "resume", stored: ptr(uint32(1000)), reserve: 10, take: 10, first: 1000, writes: 1},
		{name: "resume plus one", stored: ptr(uint32(1000)), reserve: 10, take: 11, first: 1000, writes: 2},
		{name: "wraps", stored: ptr(uint32(math.MaxUint32 - 1)), reserve: 4, take: 5, first: math.MaxUint32 - 1, writes: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &memStore{}
			if tt.stored != nil {
				st.vals = map[string]uint32{"g": *tt.stored}
			}
			c, err := NewPersistentCounter(st, "g", tt.reserve, bytes.NewReader(make([]byte, 4)))
			if err != nil {
				t.Fatal(err)
			}
			var last uint32
			for i := range tt.take {
				v, err := c.Next()
				if err != nil {
					t.Fatal(err)
				}
				if want := tt.first + uint32(i); v != want {
					t.Fatalf("value %d = %#x, want %#x", i, v, want)
				}
				// The invariant: the stored bound is ahead of every value
				// handed out, modulo 2^32, by at most reserve.
				if ahead := st.vals["g"] - v; ahead == 0 || ahead > tt.reserve {
					t.Fatalf("after handing out %#x the stored bound is %#x", v, st.vals["g"])
				}
				last = v
			}
			if st.writes != tt.writes {
				t.Errorf("%d store writes, want %d", st.writes, tt.writes)
			}
			// A crash now: the restarted counter never repeats a value.
			c2, err := NewPersistentCounter(st, "g", tt.reserve, nil)
			if err != nil {
				t.Fatal(err)
			}
			v, err := c2.Next()
			if err != nil {
				t.Fatal(err)
			}
			if d := v - last; d == 0 || d > tt.reserve {
				t.Errorf("after restart: %#x follows %#x", v, last)
			}
		})
	}
}

func TestPersistentCounterStoreFailure(t *testing.T) {
	boom := errors.New("disk full")
	if _, err := NewPersistentCounter(&memStore{fail: boom}, "g", 2, nil); !errors.Is(err, boom) {
		t.Fatalf("NewPersistentCounter err = %v, want %v", err, boom)
	}
	st := &memStore{}
	c, err := NewPersistentCounter(st, "g", 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := c.Next(); err != nil {
			t.Fatal(err)
		}
	}
	st.fail = boom
	if _, err := c.Next(); !errors.Is(err, boom) {
		t.Fatalf("Next with a failing store: err = %v", err)
	}
	st.fail = nil
	if _, err := c.Next(); err != nil {
		t.Fatalf("Next after the store recovered: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }
