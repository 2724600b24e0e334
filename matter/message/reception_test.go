package message

import (
	"errors"
	"math"
	"testing"
)

// step is one received counter and what the state must say about it. Each
// step is checked and, when new, committed, as a receiver does.
type step struct {
	counter uint32
	want    Verdict
}

func runSteps(t *testing.T, s ReceptionState, steps []step) {
	t.Helper()
	for i, st := range steps {
		got := s.Classify(st.counter)
		dup, err := s.Check(st.counter)
		if err != nil {
			t.Fatalf("step %d: Check(%d) err = %v", i, st.counter, err)
		}
		if got != st.want || dup != (st.want != CounterNew) {
			t.Fatalf("step %d: counter %d: Classify = %v, Check duplicate = %v; want %v", i, st.counter, got, dup, st.want)
		}
		if !dup {
			s.Commit(st.counter)
			if m, ok := s.Max(); !ok || (m != st.counter && s.Classify(st.counter) == CounterNew) {
				t.Fatalf("step %d: after Commit(%d), max %d synced %v and the counter is still new", i, st.counter, m, ok)
			}
			if s.Classify(st.counter) == CounterNew {
				t.Fatalf("step %d: counter %d still new after Commit", i, st.counter)
			}
		}
	}
}

// sync is a first step that establishes max_message_counter.
func syncAt(s ReceptionState, c uint32) ReceptionState {
	s.Commit(c)
	return s
}

// TestReceptionUnicast follows the rules for encrypted unicast messages,
// whose counters do not roll over (§4.6.5): above max is new, max is a
// duplicate, the 32 counters below max are tracked by the window, and
// anything older is a duplicate.
func TestReceptionUnicast(t *testing.T) {
	tests := []struct {
		name  string
		start uint32 // first counter received; 0 for a fresh state
		steps []step
	}{
		{
			name: "fresh state accepts the peer's first counter",
			steps: []step{
				{0x0fffffff, CounterNew},
				{0x0fffffff, CounterDuplicate},
				{0x10000000, CounterNew},
			},
		},
		{
			name: "fresh state: counter 0 is max_message_counter",
			steps: []step{
				{0, CounterDuplicate},
				{1, CounterNew},
			},
		},
		{
			name:  "in order",
			start: 100,
			steps: []step{{101, CounterNew}, {102, CounterNew}, {102, CounterDuplicate}, {101, CounterDuplicate}, {100, CounterDuplicate}},
		},
		{
			name:  "reordering inside the window",
			start: 100,
			steps: []step{{110, CounterNew}, {105, CounterNew}, {105, CounterDuplicate}, {101, CounterNew}, {109, CounterNew}, {100, CounterDuplicate}},
		},
		{
			name:  "window edges: max-32 is tracked, max-33 is behind",
			start: 100,
			steps: []step{
				{132, CounterNew},
				{101, CounterNew},          // max-31
				{100, CounterDuplicate},    // max-32, already received
				{99, CounterBehindWindow},  // max-33
				{133, CounterNew},          // shifts by one: 100 leaves the window
				{101, CounterDuplicate},    // max-32 now, bit still set
				{100, CounterBehindWindow}, // max-33
				{165, CounterNew},          // shift by 32: old max at bit 31
				{133, CounterDuplicate},    // max-32
				{134, CounterNew},          // max-31, never seen
				{132, CounterBehindWindow}, // max-33
				{1000, CounterNew},         // shift by more than the window
				{967, CounterBehindWindow}, // max-33
				{968, CounterNew},          // max-32, window cleared
				{999, CounterNew},          // max-1
				{999, CounterDuplicate},
			},
		},
		{
			name:  "no rollover at 2^32",
			start: math.MaxUint32 - 2,
			steps: []step{
				{math.MaxUint32, CounterNew},
				{0, CounterBehindWindow},
				{5, CounterBehindWindow},
				{math.MaxUint32 - 1, CounterNew},
				{math.MaxUint32 - 2, CounterDuplicate},
				{math.MaxUint32, CounterDuplicate},
			},
		},
		{
			name:  "far jump ahead is new",
			start: 10,
			steps: []step{{0xf0000000, CounterNew}, {10, CounterBehindWindow}, {0xefffffe0, CounterNew}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewUnicastReception()
			if tt.start != 0 {
				s = syncAt(s, tt.start)
			}
			runSteps(t, s, tt.steps)
		})
	}
}

// TestReceptionGroup follows the rules for encrypted group messages, whose
// counters roll over (§4.6.5): up to 2^31-1 ahead modulo 2^32 is new; from
// 2^31 behind to 33 behind is a duplicate; the first message is trusted
// and clears the window (§4.18.4).
func TestReceptionGroup(t *testing.T) {
	tests := []struct {
		name  string
		steps []step
	}{
		{
			name: "trust first clears the window",
			steps: []step{
				{0x12345678, CounterNew},
				{0x12345678, CounterDuplicate},
				{0x12345677, CounterNew}, // in the cleared window
				{0x12345658, CounterNew}, // max-32
				{0x12345657, CounterBehindWindow},
			},
		},
		{
			name: "rollover forward across 2^32",
			steps: []step{
				{0xfffffff0, CounterNew},
				{5, CounterNew}, // 21 ahead modulo 2^32
				{0xfffffff0, CounterDuplicate},
				{0xfffffff1, CounterNew}, // in the window across the wrap
				{0xffffffff, CounterNew},
				{0, CounterNew},
				{0, CounterDuplicate},
				{0xffffffe4, CounterBehindWindow}, // 5 - 0xffffffe4 = 33 behind
				{0xffffffe5, CounterNew},          // exactly 32 behind
			},
		},
		{
			name: "horizon: 2^31-1 ahead is new, 2^31 ahead is behind",
			steps: []step{
				{1000, CounterNew},
				{1000 + 1<<31, CounterBehindWindow}, // also 2^31 behind
				{1000 + 1<<31 - 1, CounterNew},
				{1000, CounterBehindWindow},
			},
		},
		{
			name: "max - 2^31 .. max - 33 are duplicates",
			steps: []step{
				{1 << 20, CounterNew},
				{1<<20 - 33, CounterBehindWindow},
				{1<<20 - 1<<31 + 1<<32, CounterBehindWindow},
				{1<<20 - 1<<31 - 1 + 1<<32, CounterNew}, // 2^31-1 ahead
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runSteps(t, NewGroupReception(true), tt.steps)
		})
	}
}

// TestReceptionUnencrypted follows the rules for unencrypted messages
// (§4.6.5): max and window bits that are set are duplicates, everything
// else is new, including counters behind the window, which roll the window
// back to them (a peer that rebooted).
func TestReceptionUnencrypted(t *testing.T) {
	tests := []struct {
		name  string
		steps []step
	}{
		{
			name: "first message initializes a full window",
			steps: []step{
				{500, CounterNew},
				{500, CounterDuplicate},
				{499, CounterDuplicate}, // bitmap all ones
				{468, CounterDuplicate}, // max-32
				{467, CounterNew},       // behind the window: the peer restarted
				{467, CounterDuplicate},
				{468, CounterNew}, // ahead again
				{500, CounterNew}, // 32 ahead
				{468, CounterDuplicate},
			},
		},
		{
			name: "rollover",
			steps: []step{
				{math.MaxUint32, CounterNew},
				{0, CounterNew},
				{math.MaxUint32, CounterDuplicate},
				{1, CounterNew},
			},
		},
		{
			name: "reboot to a lower counter",
			steps: []step{
				{0x0a000000, CounterNew},
				{0x00000100, CounterNew},
				{0x00000100, CounterDuplicate},
				{0x000000ff, CounterNew}, // the window was cleared by the roll back
				{0x00000101, CounterNew},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runSteps(t, NewUnencryptedReception(), tt.steps)
		})
	}
}

func TestReceptionCacheAndSync(t *testing.T) {
	s := NewGroupReception(false)
	if _, err := s.Check(10); !errors.Is(err, ErrNotSynchronized) {
		t.Fatalf("Check before sync: err = %v, want ErrNotSynchronized", err)
	}
	s.Synchronize(10)
	if m, ok := s.Max(); !ok || m != 10 {
		t.Fatalf("Max = %d, %v", m, ok)
	}
	runSteps(t, s, []step{{10, CounterDuplicate}, {9, CounterNew}, {11, CounterNew}, {11, CounterDuplicate}})
}

func TestReceptionCommitIdempotent(t *testing.T) {
	for _, kind := range []ReceptionState{NewUnicastReception(), NewGroupReception(true), NewUnencryptedReception()} {
		t.Run(kind.Kind().String(), func(t *testing.T) {
			s := syncAt(kind, 1000)
			s.Commit(1010)
			s.Commit(1005)
			before := s
			s.Commit(1010) // max
			s.Commit(1005) // set bit
			if s.Kind() != ReceptionUnencrypted {
				s.Commit(900) // behind the window
			}
			if s != before {
				t.Errorf("repeated Commit changed the state: %+v -> %+v", before, s)
			}
		})
	}
}
