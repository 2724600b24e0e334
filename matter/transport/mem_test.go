package transport

import (
	"context"
	"encoding/binary"
	"errors"
	"math"
	"net/netip"
	"slices"
	"testing"
	"testing/synctest"
	"time"
)

var (
	memA = netip.MustParseAddrPort("[fd00::a]:5540")
	memB = netip.MustParseAddrPort("[fd00::b]:5540")
)

func memPair(t *testing.T, cfg MemConfig) (*MemNetwork, *MemTransport, *MemTransport) {
	t.Helper()
	n := NewMemNetwork(cfg)
	a, err := n.Listen(memA)
	if err != nil {
		t.Fatal(err)
	}
	b, err := n.Listen(memB)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return n, a, b
}

// drain receives until nothing has arrived for a second of bubble time and
// returns the sequence numbers seen, in order.
func drain(t *testing.T, tr Transport) []uint32 {
	t.Helper()
	var got []uint32
	for {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		p, err := tr.Receive(ctx)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			return got
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, binary.BigEndian.Uint32(p.Data))
	}
}

func sendSeq(t *testing.T, tr Transport, to netip.AddrPort, n int) {
	t.Helper()
	for i := range n {
		if err := tr.Send(t.Context(), to, binary.BigEndian.AppendUint32(nil, uint32(i))); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestMemConditionsStatistics(t *testing.T) {
	const n = 5000
	tests := []struct {
		name string
		c    Conditions
	}{
		{"perfect", Conditions{}},
		{"20% loss", Conditions{Loss: 0.2}},
		{"duplication", Conditions{Duplicate: 0.1}},
		{"reordering", Conditions{Reorder: 0.1, Delay: 2 * time.Millisecond}},
		{"everything", Conditions{Loss: 0.2, Duplicate: 0.1, Reorder: 0.1, Delay: 5 * time.Millisecond, Jitter: 5 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				net, a, b := memPair(t, MemConfig{Seed: 1, Conditions: tt.c, QueueLen: 2 * n})
				sendSeq(t, a, memB, n)
				got := drain(t, b)
				s := net.Stats()

				near := func(what string, count uint64, p float64) {
					t.Helper()
					// Within five standard deviations of the expected count.
					want := p * n
					sd := math.Sqrt(n * p * (1 - p))
					if math.Abs(float64(count)-want) > 5*sd+1 {
						t.Errorf("%s = %d, want about %.0f", what, count, want)
					}
				}
				near("lost", s.Lost, tt.c.Loss)
				near("duplicated", s.Duplicated, (1-tt.c.Loss)*tt.c.Duplicate)
				near("reordered", s.Reordered, (1-tt.c.Loss)*tt.c.Reorder)
				if want := uint64(n) - s.Lost + s.Duplicated; s.Delivered != want || uint64(len(got)) != want {
					t.Errorf("delivered %d, received %d, want %d", s.Delivered, len(got), want)
				}
				if s.Sent != n {
					t.Errorf("sent = %d", s.Sent)
				}
				inversions := 0
				for i := 1; i < len(got); i++ {
					if got[i] < got[i-1] {
						inversions++
					}
				}
				if (tt.c.Reorder > 0 || tt.c.Jitter > 0) != (inversions > 0) {
					t.Errorf("%d out-of-order arrivals", inversions)
				}
			})
		})
	}
}

func TestMemDeterministic(t *testing.T) {
	run := func(seed uint64) []uint32 {
		var got []uint32
		synctest.Test(t, func(t *testing.T) {
			_, a, b := memPair(t, MemConfig{Seed: seed, Conditions: Conditions{
				Loss: 0.3, Duplicate: 0.2, Reorder: 0.2, Delay: time.Millisecond, Jitter: 3 * time.Millisecond,
			}})
			sendSeq(t, a, memB, 200)
			got = drain(t, b)
		})
		return got
	}
	first, again, other := run(42), run(42), run(43)
	if !slices.Equal(first, again) {
		t.Fatal("same seed, different outcome")
	}
	if slices.Equal(first, other) {
		t.Fatal("different seeds, same outcome")
	}
}

func TestMemDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, a, b := memPair(t, MemConfig{Conditions: Conditions{Delay: 30 * time.Millisecond}})
		start := time.Now()
		if err := a.Send(t.Context(), memB, []byte{1}); err != nil {
			t.Fatal(err)
		}
		p, err := b.Receive(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d != 30*time.Millisecond {
			t.Fatalf("delivered after %v", d)
		}
		if p.From != (PeerAddr{UDP, memA}) {
			t.Fatalf("From = %v", p.From)
		}
	})
}

func TestMemStream(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net, a, b := memPair(t, MemConfig{Seed: 7, Stream: true, QueueLen: 1000, Conditions: Conditions{
			Loss: 0.5, Duplicate: 0.5, Reorder: 0.5, Delay: time.Millisecond, Jitter: 10 * time.Millisecond,
		}})
		if a.Network() != TCP || a.MaxMessageSize() != DefaultMaxTCPMessageSize {
			t.Fatalf("stream transport: %v, %d", a.Network(), a.MaxMessageSize())
		}
		sendSeq(t, a, memB, 500)
		got := drain(t, b)
		if len(got) != 500 || !slices.IsSorted(got) {
			t.Fatalf("stream delivered %d messages, sorted %v", len(got), slices.IsSorted(got))
		}
		if s := net.Stats(); s.Lost+s.Duplicated+s.Reordered != 0 {
			t.Fatalf("stream stats %+v", s)
		}
		if err := a.Send(t.Context(), netip.MustParseAddrPort("[fd00::ff]:1"), []byte{1}); !errors.Is(err, ErrNoConnection) {
			t.Fatalf("stream send to nowhere: %v", err)
		}
		if err := a.Send(t.Context(), memB, make([]byte, 5000)); err != nil {
			t.Fatalf("large message on a stream: %v", err)
		}
	})
}

func TestMemLimits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net, a, b := memPair(t, MemConfig{QueueLen: 4, Conditions: Conditions{Delay: time.Millisecond}})
		if err := a.Send(t.Context(), memB, make([]byte, MaxUDPMessageSize+1)); !errors.Is(err, ErrMessageTooLarge) {
			t.Fatalf("oversized send: %v", err)
		}
		for range 10 {
			a.Send(t.Context(), memB, []byte{0, 0, 0, 1})
		}
		if s := net.Stats(); s.QueueFull != 6 {
			t.Fatalf("QueueFull = %d, want 6", s.QueueFull)
		}
		if got := drain(t, b); len(got) != 4 {
			t.Fatalf("received %d", len(got))
		}
		if _, err := net.Listen(memA); err == nil {
			t.Fatal("address reused")
		}
	})
}

func TestMemClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net, a, b := memPair(t, MemConfig{Conditions: Conditions{Delay: time.Second}})
		a.Send(t.Context(), memB, []byte{1})
		errc := make(chan error, 1)
		go func() { _, err := b.Receive(t.Context()); errc <- err }()
		synctest.Wait()
		b.Close()
		if err := <-errc; !errors.Is(err, ErrClosed) {
			t.Fatalf("Receive across Close: %v", err)
		}
		if err := b.Send(t.Context(), memA, []byte{1}); !errors.Is(err, ErrClosed) {
			t.Fatalf("Send after Close: %v", err)
		}
		// The address is free again, and nothing in flight reaches the
		// new transport.
		b2, err := net.Listen(memB)
		if err != nil {
			t.Fatal(err)
		}
		defer b2.Close()
		if got := drain(t, b2); len(got) != 0 {
			t.Fatalf("new transport received %v", got)
		}
	})
}
