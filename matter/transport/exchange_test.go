package transport

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mattercam/mattercam/matter/message"
)

func TestMRPBackoff(t *testing.T) {
	const i = 300 * time.Millisecond
	tests := []struct {
		n        int
		r        float64
		wantMs   float64
		describe string
	}{
		{0, 0, 330, "first wait: i × margin"},
		{1, 0, 330, "threshold: still linear"},
		{2, 0, 528, "× 1.6"},
		{3, 0, 844.8, "× 1.6²"},
		{4, 0, 1351.68, "× 1.6³"},
		{0, 1, 412.5, "full jitter: × 1.25"},
		{4, 1, 1689.6, ""},
		{2, 0.5, 594, "half jitter"},
		{-3, 0, 330, "negative n clamps"},
		{0, 7, 412.5, "r clamps to 1"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("n=%d r=%v", tt.n, tt.r), func(t *testing.T) {
			got := MRPBackoff(i, tt.n, tt.r)
			if want := time.Duration(tt.wantMs * float64(time.Millisecond)); (got - want).Abs() > time.Microsecond {
				t.Fatalf("MRPBackoff(%v, %d, %v) = %v, want %v (%s)", i, tt.n, tt.r, got, want, tt.describe)
			}
		})
	}
	if got := MRPBackoff(time.Duration(math.MaxInt64), 100, 1); got != math.MaxInt64 {
		t.Fatalf("overflow: %v", got)
	}
}

func TestMRPParams(t *testing.T) {
	now := time.Unix(1000, 0)
	tests := []struct {
		name   string
		p      MRPParams
		lastRx time.Time
		want   time.Duration
	}{
		{"never heard: idle default", MRPParams{}, time.Time{}, DefaultSessionIdleInterval},
		{"heard just now: active default", MRPParams{}, now, DefaultSessionActiveInterval},
		{"heard 3.9 s ago", MRPParams{}, now.Add(-3900 * time.Millisecond), DefaultSessionActiveInterval},
		{"heard 4 s ago: idle", MRPParams{}, now.Add(-4 * time.Second), DefaultSessionIdleInterval},
		{"advertised", MRPParams{IdleInterval: 5 * time.Second, ActiveInterval: time.Second, ActiveThreshold: time.Second}, now.Add(-2 * time.Second), 5 * time.Second},
		{"capped at one hour", MRPParams{IdleInterval: 100 * time.Hour}, time.Time{}, time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.baseInterval(tt.lastRx, now); got != tt.want {
				t.Fatalf("base interval = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestExchangeRoundTrip(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, a, b := newPair(t, pairConfig{mem: MemConfig{Conditions: Conditions{Delay: 10 * time.Millisecond}}})
		echo(b)
		resp, err := roundTrip(t.Context(), a, []byte("hello"))
		if err != nil {
			t.Fatal(err)
		}
		if string(resp.Payload) != "hello" || resp.Opcode != 2 || resp.ProtocolID != protoEcho {
			t.Fatalf("response %+v", resp)
		}
		synctest.Wait()
		// Request acknowledged by the response (piggyback); the response
		// acknowledged standalone when A closed the exchange.
		if n := len(b.tr.standaloneAcks()); n != 0 {
			t.Fatalf("B sent %d standalone acks, want 0 (piggybacked)", n)
		}
		if n := len(a.tr.standaloneAcks()); n != 1 {
			t.Fatalf("A sent %d standalone acks, want 1 (flushed on close)", n)
		}
		// On the wire: R set on both application messages, the response
		// carries A for the request's counter, I flags per role.
		req, rsp := a.tr.log()[0].in, b.tr.log()[0].in
		if !req.Protocol.Reliable || !req.Protocol.Initiator || req.Protocol.Ack {
			t.Fatalf("request header %+v", req.Protocol)
		}
		if !rsp.Protocol.Reliable || rsp.Protocol.Initiator || !rsp.Protocol.Ack || rsp.Protocol.AckCounter != req.Header.Counter {
			t.Fatalf("response header %+v", rsp.Protocol)
		}
		if rsp.Protocol.ExchangeID != req.Protocol.ExchangeID {
			t.Fatal("exchange IDs differ")
		}
		if s := a.m.Stats(); s.Retransmitted != 0 || s.Sent != 1 || s.Received != 1 {
			t.Fatalf("A stats %+v", s)
		}
	})
}

// TestStandaloneAckTimeout: a responder that takes longer than
// MRP_STANDALONE_ACK_TIMEOUT acknowledges the request standalone, exactly
// then; the initiator's Send returns on that acknowledgement.
func TestStandaloneAckTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const delay = 10 * time.Millisecond
		_, a, b := newPair(t, pairConfig{mem: MemConfig{Conditions: Conditions{Delay: delay}}})
		b.m.Handle(protoEcho, func(ctx context.Context, e *Exchange, first Message) {
			time.Sleep(time.Second)
			e.Send(ctx, 2, first.Payload)
		})
		e, err := a.m.NewExchange(a.s, protoEcho)
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		start := time.Now()
		if err := e.Send(t.Context(), 1, []byte("slow")); err != nil {
			t.Fatal(err)
		}
		if got, want := time.Since(start), delay+MRPStandaloneAckTimeout+delay; got != want {
			t.Fatalf("Send returned after %v, want %v", got, want)
		}
		acks := b.tr.standaloneAcks()
		if len(acks) != 1 || acks[0].at.Sub(start) != delay+MRPStandaloneAckTimeout {
			t.Fatalf("B's standalone acks: %+v", acks)
		}
		if ack := acks[0].in.Protocol; ack.Reliable || !ack.Ack || ack.Initiator || ack.ExchangeID != e.ID() || len(acks[0].in.Payload) != 0 {
			t.Fatalf("standalone ack header %+v", ack)
		}
		resp, err := e.Receive(t.Context())
		if err != nil || string(resp.Payload) != "slow" {
			t.Fatalf("response %q, %v", resp.Payload, err)
		}
		// A keeps the exchange open: its ack for the response goes
		// standalone after the timeout.
		time.Sleep(time.Second)
		if n := len(a.tr.standaloneAcks()); n != 1 {
			t.Fatalf("A sent %d standalone acks", n)
		}
	})
}

// TestPiggybackAck: an acknowledgement owed by the initiator rides on its
// next message instead of going standalone.
func TestPiggybackAck(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, a, b := newPair(t, pairConfig{})
		got := make(chan Message, 2)
		b.m.Handle(protoEcho, func(ctx context.Context, e *Exchange, first Message) {
			got <- first
			e.Send(ctx, 2, nil) // response
			m, err := e.Receive(ctx)
			if err == nil {
				got <- m
			}
		})
		e, _ := a.m.NewExchange(a.s, protoEcho)
		defer e.Close()
		if err := e.Send(t.Context(), 1, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Receive(t.Context()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond) // within the ack timeout
		if err := e.Send(t.Context(), 3, []byte("follow-up")); err != nil {
			t.Fatal(err)
		}
		<-got
		<-got
		synctest.Wait()
		log := a.tr.log()
		if len(log) != 2 {
			t.Fatalf("A sent %d messages, want 2 and no standalone ack", len(log))
		}
		respCounter := b.tr.log()[0].in.Header.Counter
		if p := log[1].in.Protocol; !p.Ack || p.AckCounter != respCounter {
			t.Fatalf("follow-up does not acknowledge the response: %+v", p)
		}
	})
}

// TestOnePendingAck: when a second reliable message arrives before the
// first was acknowledged, the first is acknowledged standalone at once.
func TestOnePendingAck(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, a, b := newPair(t, pairConfig{})
		b.m.Handle(protoEcho, func(ctx context.Context, e *Exchange, first Message) {
			e.Send(ctx, 2, nil)
			e.Send(ctx, 2, nil)
			<-ctx.Done()
		})
		e, _ := a.m.NewExchange(a.s, protoEcho)
		if err := e.Send(t.Context(), 1, nil); err != nil {
			t.Fatal(err)
		}
		e.Receive(t.Context())
		e.Receive(t.Context())
		acks := a.tr.standaloneAcks()
		if len(acks) != 1 {
			t.Fatalf("%d standalone acks after two responses, want 1", len(acks))
		}
		b1 := b.tr.log()[0].in.Header.Counter
		if acks[0].in.Protocol.AckCounter != b1 {
			t.Fatalf("acknowledged %d, want the first response %d", acks[0].in.Protocol.AckCounter, b1)
		}
		e.Close()
	})
}

func TestDuplicatesAckedNotRedelivered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net, a, b := newPair(t, pairConfig{mem: MemConfig{Seed: 3, Conditions: Conditions{
			Duplicate: 1, Delay: 5 * time.Millisecond, Jitter: 5 * time.Millisecond,
		}}})
		var mu sync.Mutex
		seen := map[string]int{}
		b.m.Handle(protoEcho, func(ctx context.Context, e *Exchange, first Message) {
			mu.Lock()
			seen[string(first.Payload)]++
			mu.Unlock()
			e.Send(ctx, 2, first.Payload)
		})
		for i := range 10 {
			msg := fmt.Sprint("req ", i)
			resp, err := roundTrip(t.Context(), a, []byte(msg))
			if err != nil || string(resp.Payload) != msg {
				t.Fatalf("round trip %d: %q, %v", i, resp.Payload, err)
			}
		}
		synctest.Wait()
		for k, n := range seen {
			if n != 1 {
				t.Errorf("%q delivered %d times", k, n)
			}
		}
		if len(seen) != 10 {
			t.Errorf("%d requests delivered", len(seen))
		}
		sa, sb := a.m.Stats(), b.m.Stats()
		if sb.Duplicates != 10 || sa.Duplicates == 0 {
			t.Errorf("duplicates dropped: A %d, B %d; network duplicated %d", sa.Duplicates, sb.Duplicates, net.Stats().Duplicated)
		}
		// Every duplicate request was acknowledged again, standalone.
		dupAcks := 0
		for _, m := range b.tr.standaloneAcks() {
			if m.in.Protocol.Initiator {
				t.Errorf("B's ack has the I flag")
			}
			dupAcks++
		}
		if dupAcks < 10 {
			t.Errorf("B sent %d standalone acks, want one per duplicate request", dupAcks)
		}
	})
}

// TestRetransmissionTiming checks every gap between transmissions against
// the backoff formula with its jitter bounds, for an idle and an active
// peer, and that Send gives up with ErrNoAck after the last one.
func TestRetransmissionTiming(t *testing.T) {
	params := MRPParams{IdleInterval: 800 * time.Millisecond, ActiveInterval: 200 * time.Millisecond, ActiveThreshold: 10 * time.Second}
	tests := []struct {
		name     string
		warmUp   bool // a round trip first, so that the peer counts as active
		interval time.Duration
	}{
		{"idle peer", false, params.IdleInterval},
		{"active peer", true, params.ActiveInterval},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				net, a, b := newPair(t, pairConfig{mem: MemConfig{Seed: 11}, params: params})
				echo(b)
				if tt.warmUp {
					if _, err := roundTrip(t.Context(), a, nil); err != nil {
						t.Fatal(err)
					}
				}
				net.SetConditions(addrA, addrB, Conditions{Loss: 1})
				e, _ := a.m.NewExchange(a.s, protoEcho)
				defer e.Close()
				start := time.Now()
				err := e.Send(t.Context(), 1, []byte("into the void"))
				if !errors.Is(err, ErrNoAck) {
					t.Fatalf("Send: %v, want ErrNoAck", err)
				}
				log := a.tr.log()
				counter := log[len(log)-1].in.Header.Counter
				times := append(a.tr.transmissions(counter), time.Now())
				if len(times) != MRPMaxTransmissions+1 {
					t.Fatalf("%d transmissions, want %d", len(times)-1, MRPMaxTransmissions)
				}
				if times[0] != start {
					t.Fatalf("first transmission %v after Send", times[0].Sub(start))
				}
				for n := range MRPMaxTransmissions {
					gap := times[n+1].Sub(times[n])
					lo, hi := MRPBackoff(tt.interval, n, 0), MRPBackoff(tt.interval, n, 1)
					if gap < lo || gap > hi {
						t.Errorf("wait after transmission %d: %v, want within [%v, %v]", n, gap, lo, hi)
					}
				}
				if s := a.m.Stats(); s.Failed != 1 || s.Retransmitted != MRPMaxTransmissions-1+uint64(0) {
					t.Errorf("stats %+v", s)
				}
				// The exchange stays usable once the network heals.
				net.SetConditions(addrA, addrB, Conditions{})
				if err := e.Send(t.Context(), 1, nil); err != nil {
					t.Fatalf("Send after recovery: %v", err)
				}
			})
		})
	}
}

// TestJitterSpread: jitter is drawn per transmission, so waits differ.
func TestJitterSpread(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net, a, _ := newPair(t, pairConfig{mem: MemConfig{Seed: 5}})
		net.SetConditions(addrA, addrB, Conditions{Loss: 1})
		var firstWaits []time.Duration
		for range 8 {
			e, _ := a.m.NewExchange(a.s, protoEcho)
			e.Send(t.Context(), 1, nil)
			log := a.tr.log()
			times := a.tr.transmissions(log[len(log)-1].in.Header.Counter)
			firstWaits = append(firstWaits, times[1].Sub(times[0]))
			e.Close()
		}
		distinct := map[time.Duration]bool{}
		for _, w := range firstWaits {
			distinct[w] = true
		}
		if len(distinct) < 4 {
			t.Fatalf("first waits %v: jitter not applied", firstWaits)
		}
	})
}

// TestLossyRequestResponse runs request/response exchanges over a link with
// 20% loss, duplication and reordering in both directions. Each reliable
// message gets five tries at a round trip that succeeds with probability
// 0.64, so about one message in 170 is given up on: the test demands that
// almost all round trips complete, that the rest fail cleanly with ErrNoAck
// or a response timeout, and that nothing is delivered twice.
func TestLossyRequestResponse(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net, a, b := newPair(t, pairConfig{mem: MemConfig{Seed: 2024, Conditions: Conditions{
			Loss: 0.2, Duplicate: 0.2, Reorder: 0.2,
			Delay: 20 * time.Millisecond, Jitter: 30 * time.Millisecond, ReorderDelay: 200 * time.Millisecond,
		}}})
		var mu sync.Mutex
		delivered := map[string]int{}
		b.m.Handle(protoEcho, func(ctx context.Context, e *Exchange, first Message) {
			mu.Lock()
			delivered[string(first.Payload)]++
			mu.Unlock()
			e.Send(ctx, 2, first.Payload)
		})
		const (
			workers = 4
			each    = 25
		)
		var wg sync.WaitGroup
		results := make(chan error, workers*each)
		for w := range workers {
			wg.Go(func() {
				for i := range each {
					ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
					msg := fmt.Sprintf("w%d-%d", w, i)
					resp, err := roundTrip(ctx, a, []byte(msg))
					cancel()
					if err == nil && string(resp.Payload) != msg {
						err = fmt.Errorf("response %q to %q", resp.Payload, msg)
					}
					results <- err
				}
			})
		}
		wg.Wait()
		close(results)
		ok := 0
		for err := range results {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, ErrNoAck), errors.Is(err, context.DeadlineExceeded):
				t.Logf("clean failure: %v", err)
			default:
				t.Errorf("unexpected failure: %v", err)
			}
		}
		if ok < workers*each-3 {
			t.Errorf("%d of %d round trips completed", ok, workers*each)
		}
		for k, n := range delivered {
			if n != 1 {
				t.Errorf("%q delivered %d times", k, n)
			}
		}
		ns, sa, sb := net.Stats(), a.m.Stats(), b.m.Stats()
		if ns.Lost == 0 || ns.Duplicated == 0 || ns.Reordered == 0 || sa.Retransmitted == 0 || sb.Retransmitted == 0 {
			t.Errorf("conditions not exercised: net %+v, A %+v, B %+v", ns, sa, sb)
		}
		b.table.mu.Lock()
		t.Logf("B classed %d messages as behind the counter window", b.table.behindWindow)
		b.table.mu.Unlock()
		t.Logf("%d/%d completed; network %+v; A %+v; B %+v", ok, workers*each, ns, sa, sb)
	})
}

// TestLossyRequestResponseCompletes is one request/response over the same
// lossy link; with this seed both messages need retransmissions.
func TestLossyRequestResponseCompletes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, a, b := newPair(t, pairConfig{mem: MemConfig{Seed: 7, Conditions: Conditions{
			Loss: 0.2, Duplicate: 0.2, Reorder: 0.2, Delay: 20 * time.Millisecond, Jitter: 30 * time.Millisecond,
		}}})
		echo(b)
		for i := range 5 {
			resp, err := roundTrip(t.Context(), a, []byte{byte(i)})
			if err != nil || !bytes.Equal(resp.Payload, []byte{byte(i)}) {
				t.Fatalf("round trip %d: %v", i, err)
			}
		}
	})
}

// TestNoMRPOverTCP: on a stream network no R flag is set, no
// acknowledgement is sent or expected, and messages may be large.
func TestNoMRPOverTCP(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, a, b := newPair(t, pairConfig{mem: MemConfig{Stream: true, Conditions: Conditions{Delay: 10 * time.Millisecond}}})
		echo(b)
		big := bytes.Repeat([]byte{0xEE}, 20000)
		start := time.Now()
		resp, err := roundTrip(t.Context(), a, big)
		if err != nil || !bytes.Equal(resp.Payload, big) {
			t.Fatalf("large round trip over TCP: %v", err)
		}
		if d := time.Since(start); d != 20*time.Millisecond {
			t.Fatalf("round trip took %v, want exactly two one-way delays", d)
		}
		time.Sleep(time.Second)
		for _, n := range []*node{a, b} {
			for _, m := range n.tr.log() {
				if p := m.in.Protocol; p.Reliable || p.Ack || isStandaloneAck(&p) {
					t.Fatalf("MRP on TCP: %+v", p)
				}
			}
		}
		if !a.m.SupportsLargeMessages(a.s) {
			t.Fatal("TCP session does not support large messages")
		}
	})
}

func TestLargeMessageOverUDP(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, a, _ := newPair(t, pairConfig{})
		e, _ := a.m.NewExchange(a.s, protoEcho)
		defer e.Close()
		if e.SupportsLargeMessages() || a.m.MaxMessageSize(a.s) != MaxUDPMessageSize {
			t.Fatal("UDP session claims large message support")
		}
		err := e.Send(t.Context(), 1, make([]byte, MaxUDPMessageSize))
		if !errors.Is(err, ErrMessageTooLarge) {
			t.Fatalf("oversized Send: %v", err)
		}
		if n := len(a.tr.log()); n != 0 {
			t.Fatalf("%d messages sent", n)
		}
	})
}

// TestExchangeLimits: NewExchange is bounded per session and in total, and
// counts only the exchanges this node opened, so that the peer's requests
// do not use up this node's own budget (and the other way round).
func TestExchangeLimits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, a, b := newPair(t, pairConfig{manager: ManagerConfig{MaxExchanges: 4, MaxExchangesPerSession: 3}})
		release := make(chan struct{})
		var started sync.WaitGroup
		b.m.Handle(protoEcho, func(ctx context.Context, e *Exchange, first Message) {
			started.Done()
			<-release
		})
		var open []*Exchange
		for range 3 {
			e, err := a.m.NewExchange(a.s, protoEcho)
			if err != nil {
				t.Fatal(err)
			}
			open = append(open, e)
		}
		if _, err := a.m.NewExchange(a.s, protoEcho); !errors.Is(err, ErrTooManyExchanges) {
			t.Fatalf("fourth exchange on one session: %v", err)
		}
		// B serves A's three; its own budget on the session is untouched.
		started.Add(3)
		for _, e := range open {
			go e.Send(t.Context(), 1, nil)
		}
		started.Wait()
		own, err := b.m.NewExchange(b.s, protoEcho)
		if err != nil {
			t.Fatalf("B's own exchange while serving three of A's: %v", err)
		}
		// The total bound counts both roles: 3 served + 1 own = 4.
		if _, err := b.m.NewExchange(b.s, protoEcho); !errors.Is(err, ErrTooManyExchanges) {
			t.Fatalf("exchange over the total limit: %v", err)
		}
		own.Close()
		if e, err := b.m.NewExchange(b.s, protoEcho); err != nil {
			t.Fatalf("after a close: %v", err)
		} else {
			e.Close()
		}
		close(release)
		for _, e := range open {
			e.Close()
		}
	})
}

// TestExchangeBacklog: requests that arrive while a session's handlers are
// all busy are accepted and served in order as handlers finish, up to the
// backlog bound; beyond it a request is refused without an acknowledgement
// on UDP (MRP brings it back) and with a Busy StatusReport on TCP, where
// nothing would.
func TestExchangeBacklog(t *testing.T) {
	for _, stream := range []bool{false, true} {
		name := "udp"
		if stream {
			name = "tcp"
		}
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				limits := ManagerConfig{MaxExchangesPerSession: 2, MaxBacklogPerSession: 1}
				_, a, b := newPair(t, pairConfig{mem: MemConfig{Stream: stream}, managerB: &limits})
				release := make(chan struct{}, 8)
				var mu sync.Mutex
				var served []string
				b.m.Handle(protoEcho, func(ctx context.Context, e *Exchange, first Message) {
					mu.Lock()
					served = append(served, string(first.Payload))
					mu.Unlock()
					select {
					case <-release:
					case <-ctx.Done():
						return
					}
					e.Send(ctx, first.Opcode+1, first.Payload)
				})
				servedNow := func() []string {
					mu.Lock()
					defer mu.Unlock()
					return append([]string(nil), served...)
				}
				var exs []*Exchange
				for i := range 4 {
					e, err := a.m.NewExchange(a.s, protoEcho)
					if err != nil {
						t.Fatal(err)
					}
					defer e.Close()
					exs = append(exs, e)
					go e.Send(t.Context(), 1, []byte{'0' + byte(i)})
					time.Sleep(time.Millisecond) // arrive in order
				}
				// Past MRP_STANDALONE_ACK_TIMEOUT, before the first
				// retransmission.
				time.Sleep(300 * time.Millisecond)
				synctest.Wait()
				if got := servedNow(); len(got) != 2 {
					t.Fatalf("served %q, want the first two only", got)
				}
				st := b.m.Stats()
				if st.Queued != 1 || st.Rejected != 1 {
					t.Fatalf("B stats %+v: want one queued, one refused", st)
				}
				if !stream {
					// The queued request was acknowledged, the refused one not.
					acked := map[uint16]bool{}
					for _, m := range b.tr.standaloneAcks() {
						acked[m.in.Protocol.ExchangeID] = true
					}
					if !acked[exs[2].ID()] || acked[exs[3].ID()] {
						t.Fatalf("acks %v: want exchange %d acknowledged, %d not", acked, exs[2].ID(), exs[3].ID())
					}
				} else {
					// Over TCP the refused exchange gets Busy at once.
					m, err := exs[3].Receive(t.Context())
					if err != nil {
						t.Fatal(err)
					}
					if m.ProtocolID != message.ProtocolSecureChannel || m.Opcode != opcodeStatusReport || len(m.Payload) != 10 ||
						binary.LittleEndian.Uint16(m.Payload) != generalCodeBusy || binary.LittleEndian.Uint16(m.Payload[6:]) != protocolCodeBusy ||
						binary.LittleEndian.Uint16(m.Payload[8:]) != uint16(BusyRetryWait.Milliseconds()) {
						t.Fatalf("refused exchange got %+v, want a Busy StatusReport", m)
					}
					if st.Busy != 1 {
						t.Fatalf("B stats %+v", st)
					}
				}
				// Each finished handler lets the next queued one start.
				release <- struct{}{}
				if m, err := exs[0].Receive(t.Context()); err != nil || string(m.Payload) != "0" {
					t.Fatalf("first response: %v %+v", err, m)
				}
				time.Sleep(time.Second) // the response's acknowledgement ends the handler
				synctest.Wait()
				if got := servedNow(); len(got) != 3 || got[2] != "2" {
					t.Fatalf("served %q, want the queued request third", got)
				}
				for range 3 {
					release <- struct{}{}
				}
				want := 4
				if stream {
					want = 3 // the refused request was answered Busy
				} else {
					// MRP retransmits the refused request; it is served.
					time.Sleep(5 * time.Second)
				}
				synctest.Wait()
				if got := servedNow(); len(got) != want {
					t.Fatalf("served %q, want %d requests", got, want)
				}
				for _, e := range exs[:want] {
					if e == exs[0] {
						continue
					}
					if _, err := e.Receive(t.Context()); err != nil {
						t.Fatal(err)
					}
				}
			})
		})
	}
}

// TestBacklogClosedSession: closing a session drops its queued exchanges
// without starting them.
func TestBacklogClosedSession(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		limits := ManagerConfig{MaxExchangesPerSession: 1}
		_, a, b := newPair(t, pairConfig{managerB: &limits})
		var runs sync.WaitGroup
		n := 0
		var mu sync.Mutex
		b.m.Handle(protoEcho, func(ctx context.Context, e *Exchange, first Message) {
			mu.Lock()
			n++
			mu.Unlock()
			<-ctx.Done()
		})
		runs.Add(3)
		for range 3 {
			e, err := a.m.NewExchange(a.s, protoEcho)
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			go func() { defer runs.Done(); e.Send(t.Context(), 1, nil) }()
		}
		runs.Wait() // all acknowledged: one running, two queued
		if st := b.m.Stats(); st.Queued != 2 {
			t.Fatalf("B stats %+v", st)
		}
		b.m.CloseSession(b.s)
		synctest.Wait()
		b.m.mu.Lock()
		left, backlog := len(b.m.exchanges), len(b.m.backlog)
		b.m.mu.Unlock()
		mu.Lock()
		defer mu.Unlock()
		if n != 1 || left != 0 || backlog != 0 {
			t.Fatalf("%d handlers ran, %d exchanges and %d queued left after CloseSession", n, left, backlog)
		}
	})
}

// TestBacklogRunCounted: an exchange that waited in the backlog counts as
// running once it starts, and when it ends the session's counts are back
// to zero, so later requests start at once instead of queueing behind a
// slot that was never given back.
func TestBacklogRunCounted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		limits := ManagerConfig{MaxExchangesPerSession: 1}
		_, a, b := newPair(t, pairConfig{managerB: &limits})
		release := make(chan struct{}, 2)
		b.m.Handle(protoEcho, func(ctx context.Context, e *Exchange, first Message) {
			<-release
			e.Send(ctx, first.Opcode+1, first.Payload)
		})
		var wg sync.WaitGroup
		for range 2 {
			e, err := a.m.NewExchange(a.s, protoEcho)
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			wg.Go(func() {
				if err := e.Send(t.Context(), 1, nil); err != nil {
					t.Error(err)
					return
				}
				if _, err := e.Receive(t.Context()); err != nil {
					t.Error(err)
				}
			})
			time.Sleep(time.Millisecond) // arrive in order
		}
		time.Sleep(100 * time.Millisecond)
		if st := b.m.Stats(); st.Queued != 1 {
			t.Fatalf("B stats %+v: want the second request queued", st)
		}
		release <- struct{}{}
		release <- struct{}{}
		wg.Wait()
		time.Sleep(time.Second) // the responses' acknowledgements end the handlers
		synctest.Wait()
		b.m.mu.Lock()
		ss := *b.m.sessions[b.s]
		backlog := len(b.m.backlog)
		b.m.mu.Unlock()
		if ss.initiated != 0 || ss.running != 0 || ss.queued != 0 || backlog != 0 {
			t.Fatalf("after both handlers ended: initiated %d running %d queued %d, backlog %d; want all 0",
				ss.initiated, ss.running, ss.queued, backlog)
		}
	})
}

func TestUnsolicitedRouting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, a, b := newPair(t, pairConfig{})
		echo(b)
		// No handler for this protocol: acknowledged, dropped.
		e, _ := a.m.NewExchange(a.s, message.ProtocolBDX)
		if err := e.Send(t.Context(), 1, nil); err != nil {
			t.Fatalf("unhandled protocol: Send %v (should be acknowledged)", err)
		}
		e.Close()
		if s := b.m.Stats(); s.Unhandled != 1 {
			t.Fatalf("B stats %+v", s)
		}
		// A message without the I flag for no open exchange: acknowledged,
		// dropped, never handed to a handler.
		resp := message.ProtocolHeader{Reliable: true, ExchangeID: 999, ProtocolID: protoEcho, Opcode: 2}
		msg, _, _ := a.s.SealMessage(nil, &resp, nil)
		a.tr.Send(t.Context(), addrB, msg)
		synctest.Wait()
		if s := b.m.Stats(); s.Unmatched != 1 || s.Received != 0 {
			t.Fatalf("B stats %+v", s)
		}
		acks := b.tr.standaloneAcks()
		if last := acks[len(acks)-1].in.Protocol; last.ExchangeID != 999 || !last.Initiator {
			t.Fatalf("ack for unmatched message: %+v", last)
		}
		// Removing the handler stops dispatch.
		b.m.Handle(protoEcho, nil)
		e, _ = a.m.NewExchange(a.s, protoEcho)
		defer e.Close()
		e.Send(t.Context(), 1, nil)
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		if _, err := e.Receive(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("response after handler removal: %v", err)
		}
	})
}

func TestExchangeIDs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, a, b := newPair(t, pairConfig{})
		e1, _ := a.m.NewExchange(a.s, protoEcho)
		e2, _ := a.m.NewExchange(a.s, protoEcho)
		if e2.ID() != e1.ID()+1 {
			t.Fatalf("IDs %d, %d: want consecutive", e1.ID(), e2.ID())
		}
		if !e1.Initiator() || e1.Session() != Session(a.s) || e1.Protocol() != protoEcho {
			t.Fatal("accessors")
		}
		// B initiates with the same ID A uses as initiator: the two
		// exchanges are distinct (role is part of the key).
		b.m.mu.Lock()
		b.m.nextID = e1.ID()
		b.m.mu.Unlock()
		gotRole := make(chan bool, 1)
		a.m.Handle(protoEcho, func(ctx context.Context, e *Exchange, first Message) {
			gotRole <- e.Initiator()
			e.Send(ctx, 2, nil)
		})
		eb, _ := b.m.NewExchange(b.s, protoEcho)
		if eb.ID() != e1.ID() {
			t.Fatal("could not force an ID collision")
		}
		if err := eb.Send(t.Context(), 1, nil); err != nil {
			t.Fatal(err)
		}
		if initiator := <-gotRole; initiator {
			t.Fatal("A's handler exchange claims the initiator role")
		}
		if _, err := eb.Receive(t.Context()); err != nil {
			t.Fatal(err)
		}
		eb.Close()
		e1.Close()
		e2.Close()
		// The random start differs between managers with different seeds.
		_, c, _ := newPair(t, pairConfig{mem: MemConfig{Seed: 99}})
		ec, _ := c.m.NewExchange(c.s, protoEcho)
		defer ec.Close()
		if ec.ID() == e1.ID() {
			t.Fatal("exchange IDs do not start at a random value")
		}
	})
}

func TestExchangeClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net, a, b := newPair(t, pairConfig{})
		echo(b)
		net.SetConditions(addrA, addrB, Conditions{Loss: 1})
		e, _ := a.m.NewExchange(a.s, protoEcho)
		errc := make(chan error, 1)
		go func() { errc <- e.Send(t.Context(), 1, nil) }()
		recvErr := make(chan error, 1)
		go func() { _, err := e.Receive(t.Context()); recvErr <- err }()
		time.Sleep(time.Second)
		e.Close()
		if err := <-errc; !errors.Is(err, ErrClosed) {
			t.Fatalf("Send across Close: %v", err)
		}
		if err := <-recvErr; !errors.Is(err, ErrClosed) {
			t.Fatalf("Receive across Close: %v", err)
		}
		if err := e.Send(t.Context(), 1, nil); !errors.Is(err, ErrClosed) {
			t.Fatalf("Send after Close: %v", err)
		}
		if e.Context().Err() == nil {
			t.Fatal("exchange context not done")
		}
		e.Close()
		// No more retransmissions after Close.
		n := len(a.tr.log())
		time.Sleep(10 * time.Second)
		if len(a.tr.log()) != n {
			t.Fatal("retransmitting after Close")
		}
	})
}

func TestSendErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net, a, _ := newPair(t, pairConfig{})
		net.SetConditions(addrA, addrB, Conditions{Loss: 1})
		e, _ := a.m.NewExchange(a.s, protoEcho)
		defer e.Close()
		a.s.mu.Lock()
		a.s.fail = errTest
		a.s.mu.Unlock()
		if err := e.Send(t.Context(), 1, nil); !errors.Is(err, errTest) {
			t.Fatalf("seal failure: %v", err)
		}
		a.s.mu.Lock()
		a.s.fail = nil
		a.s.mu.Unlock()
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		if err := e.Send(ctx, 1, nil); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Send with a short deadline to a silent peer: %v", err)
		}
		// The cancelled message is no longer retransmitted.
		n := len(a.tr.log())
		time.Sleep(10 * time.Second)
		if len(a.tr.log()) != n {
			t.Fatal("retransmitting an abandoned message")
		}
		// A session on a network the manager has no transport for.
		other := &fakeSession{peer: PeerAddr{TCP, addrB}}
		if _, err := a.m.NewExchange(other, protoEcho); err == nil {
			t.Fatal("exchange on a network without transport")
		}
	})
}

func TestCloseSession(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net, a, _ := newPair(t, pairConfig{})
		net.SetConditions(addrA, addrB, Conditions{Loss: 1})
		e, _ := a.m.NewExchange(a.s, protoEcho)
		errc := make(chan error, 1)
		go func() { errc <- e.Send(t.Context(), 1, nil) }()
		synctest.Wait()
		a.m.CloseSession(a.s)
		if err := <-errc; !errors.Is(err, ErrClosed) {
			t.Fatalf("Send across CloseSession: %v", err)
		}
	})
}

// TestManagerCloseLeavesNoGoroutines: Close with handlers running, Sends
// and Receives blocked and timers armed. synctest.Test fails if any
// goroutine of the bubble outlives it.
func TestManagerCloseLeavesNoGoroutines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net, a, b := newPair(t, pairConfig{})
		b.m.Handle(protoEcho, func(ctx context.Context, e *Exchange, first Message) {
			e.Receive(ctx) // blocks until the manager closes
		})
		for range 3 {
			e, _ := a.m.NewExchange(a.s, protoEcho)
			if err := e.Send(t.Context(), 1, nil); err != nil {
				t.Fatal(err)
			}
			go e.Receive(t.Context())
		}
		net.SetConditions(addrA, addrB, Conditions{Loss: 1})
		e, _ := a.m.NewExchange(a.s, protoEcho)
		sendErr := make(chan error, 1)
		go func() { sendErr <- e.Send(t.Context(), 1, nil) }()
		time.Sleep(time.Second)
		a.m.Close()
		b.m.Close()
		if err := <-sendErr; !errors.Is(err, ErrClosed) {
			t.Fatalf("Send across manager Close: %v", err)
		}
		if _, err := a.m.NewExchange(a.s, protoEcho); !errors.Is(err, ErrClosed) {
			t.Fatalf("NewExchange after Close: %v", err)
		}
		synctest.Wait()
	})
}

// BenchmarkExchangeRoundTrip measures one complete exchange over the
// in-memory network: open, request, response, acknowledgements, and the
// responder's handler returning. (Waiting for the handler keeps a tight
// loop from outrunning responder goroutines that have not been scheduled
// yet, which would trip the per-session exchange limit and cost a 330 ms
// retransmission.)
func BenchmarkExchangeRoundTrip(b *testing.B) {
	for _, tc := range []struct {
		name   string
		stream bool
	}{{"udp-mrp", false}, {"tcp", true}} {
		b.Run(tc.name, func(b *testing.B) {
			_, a, r := newPair(b, pairConfig{mem: MemConfig{Stream: tc.stream}})
			done := make(chan struct{}, 1)
			r.m.Handle(protoEcho, func(ctx context.Context, e *Exchange, first Message) {
				e.Send(ctx, first.Opcode+1, first.Payload)
				done <- struct{}{}
			})
			payload := make([]byte, 64)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := roundTrip(ctx, a, payload); err != nil {
					b.Fatal(err)
				}
				<-done
			}
		})
	}
}

// TestInboxFullBackpressure: a message that finds the receiver's inbox full
// is not acknowledged; MRP retransmits it, and once the receiver catches up
// the retransmission is delivered although the session layer has already
// seen its counter.
func TestInboxFullBackpressure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, a, b := newPair(t, pairConfig{manager: ManagerConfig{InboxLen: 1}})
		got := make(chan string, 4)
		b.m.Handle(protoEcho, func(ctx context.Context, e *Exchange, first Message) {
			got <- string(first.Payload)
			time.Sleep(2 * time.Second) // not reading
			for range 2 {
				m, err := e.Receive(ctx)
				if err != nil {
					return
				}
				got <- string(m.Payload)
			}
		})
		e, _ := a.m.NewExchange(a.s, protoEcho)
		defer e.Close()
		for _, msg := range []string{"one", "two", "three"} {
			if err := e.Send(t.Context(), 1, []byte(msg)); err != nil {
				t.Fatalf("Send %q: %v", msg, err)
			}
		}
		for _, want := range []string{"one", "two", "three"} {
			if m := <-got; m != want {
				t.Fatalf("handler got %q, want %q", m, want)
			}
		}
		if s := b.m.Stats(); s.InboxFull == 0 || s.Received != 3 {
			t.Fatalf("B stats %+v", s)
		}
		if s := a.m.Stats(); s.Retransmitted == 0 {
			t.Fatalf("A stats %+v: no retransmission", s)
		}
	})
}

func TestSessionBookkeepingBounded(t *testing.T) {
	m, err := NewManager(ManagerConfig{Sessions: &fakeTable{}, MaxExchanges: 2, MaxBacklog: 1, MaxSessions: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cfg.MaxSessions != 4 {
		t.Fatalf("MaxSessions raised to %d, want 4", m.cfg.MaxSessions)
	}
	for i := range 10 {
		m.sessionLocked(&fakeSession{peerID: uint16(i)})
	}
	if len(m.sessions) != 4 {
		t.Fatalf("%d session entries, want 4", len(m.sessions))
	}
}

func TestManagerConfigErrors(t *testing.T) {
	mt := NewMemNetwork(MemConfig{})
	t1, _ := mt.Listen(addrA)
	t2, _ := mt.Listen(addrB)
	defer t1.Close()
	defer t2.Close()
	tests := []struct {
		name string
		cfg  ManagerConfig
	}{
		{"no sessions", ManagerConfig{}},
		{"two transports of one network", ManagerConfig{Sessions: &fakeTable{}, Transports: []Transport{t1, t2}}},
		{"negative limit", ManagerConfig{Sessions: &fakeTable{}, InboxLen: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if m, err := NewManager(tt.cfg); err == nil {
				m.Close()
				t.Fatal("NewManager succeeded")
			}
		})
	}
}
