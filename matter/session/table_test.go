package session

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mattercam/mattercam/matter/message"
	"github.com/mattercam/mattercam/matter/transport"
)

func TestNewTableConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"defaults", Config{NewAEAD: newAEAD}, true},
		{"no AEAD", Config{}, false},
		{"one fabric", Config{NewAEAD: newAEAD, MaxFabrics: 1, MaxSessions: 4}, true},
		{"below the per-fabric minimum", Config{NewAEAD: newAEAD, MaxFabrics: 5, MaxSessions: 15}, false},
		{"fabrics derive the default size", Config{NewAEAD: newAEAD, MaxFabrics: 10}, true},
		{"too many fabrics", Config{NewAEAD: newAEAD, MaxFabrics: 255}, false},
		{"too many sessions", Config{NewAEAD: newAEAD, MaxSessions: MaxSessionsLimit + 1}, false},
		{"too many unsecured", Config{NewAEAD: newAEAD, MaxUnsecured: MaxUnsecuredLimit + 1}, false},
		{"too many pending", Config{NewAEAD: newAEAD, MaxPending: MaxPendingLimit + 1}, false},
		{"negative", Config{NewAEAD: newAEAD, MaxUnsecured: -1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab, err := NewTable(tt.cfg)
			if (err == nil) != tt.ok {
				t.Fatalf("NewTable err = %v, want ok %v", err, tt.ok)
			}
			if err == nil && tt.name == "fabrics derive the default size" {
				if _, n, _, _ := tab.Limits(); n != 31 {
					t.Errorf("MaxSessions = %d, want 31", n)
				}
			}
		})
	}
}

func TestReserve(t *testing.T) {
	tab := newTestTable(t, Config{MaxPending: 3})
	tab.nextID = 0xfffe // force a wrap past 0xffff
	var rs []*Reservation
	for range 3 {
		r, err := tab.Reserve()
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	if got := []uint16{rs[0].ID(), rs[1].ID(), rs[2].ID()}; !slices.Equal(got, []uint16{0xfffe, 0xffff, 1}) {
		t.Fatalf("IDs = %#x, want fffe ffff 1 (0 skipped)", got)
	}
	if _, err := tab.Reserve(); !errors.Is(err, ErrTooManyPending) {
		t.Fatalf("fourth Reserve: %v", err)
	}
	rs[1].Release()
	rs[1].Release() // idempotent
	tab.nextID = 0xfffe
	r, err := tab.Reserve()
	if err != nil {
		t.Fatal(err)
	}
	if r.ID() != 0xffff {
		t.Errorf("ID after release = %#x, want 0xffff (0xfffe still reserved)", r.ID())
	}
	// An established session's ID is not handed out again.
	s, err := rs[0].Establish(paseConfig(Responder, 5))
	if err != nil {
		t.Fatal(err)
	}
	r.Release()
	rs[2].Release()
	tab.nextID = s.LocalSessionID()
	r2, err := tab.Reserve()
	if err != nil {
		t.Fatal(err)
	}
	if r2.ID() == s.LocalSessionID() {
		t.Error("Reserve handed out a live session's ID")
	}
	if _, err := rs[0].Establish(paseConfig(Responder, 5)); !errors.Is(err, ErrReservation) {
		t.Errorf("second Establish on one reservation: %v", err)
	}
}

// TestReserveUnique reserves and establishes many sessions at random
// starting points: IDs are never 0 and never collide.
func TestReserveUnique(t *testing.T) {
	tab := newTestTable(t, Config{MaxFabrics: 1, MaxSessions: 300, MaxPending: 256})
	seen := map[uint16]bool{}
	for range 300 {
		r, err := tab.Reserve()
		if err != nil {
			t.Fatal(err)
		}
		if r.ID() == 0 || seen[r.ID()] {
			t.Fatalf("ID %#x reused or zero", r.ID())
		}
		seen[r.ID()] = true
		if _, err := r.Establish(paseConfig(Responder, 1)); err != nil {
			t.Fatal(err)
		}
	}
}

// sessionSpec describes a session for an eviction scenario.
type sessionSpec struct {
	fabric uint8 // 0: PASE
	age    int   // seconds after the epoch of last activity: lower is older
	held   bool
	marked bool
}

// TestEvictionPolicy runs the eviction policy on full tables: marked
// sessions go first, then the bucket furthest over its minimum (3 per
// fabric, 1 for PASE), then the new session's own bucket, then the least
// recently used; held sessions never go.
func TestEvictionPolicy(t *testing.T) {
	tests := []struct {
		name      string
		max       int // MaxSessions, with MaxFabrics 2
		sessions  []sessionSpec
		newFabric uint8
		want      int // index of the victim, -1 for ErrTableFull
	}{
		{
			name:      "evict from the fabric over its share",
			sessions:  []sessionSpec{{1, 10, false, false}, {1, 20, false, false}, {1, 30, false, false}, {1, 40, false, false}, {2, 1, false, false}, {2, 2, false, false}, {0, 0, false, false}},
			newFabric: 2,
			want:      0,
		},
		{
			name:      "a fabric at its minimum keeps its sessions even if older",
			sessions:  []sessionSpec{{2, 1, false, false}, {2, 2, false, false}, {2, 3, false, false}, {1, 50, false, false}, {1, 40, false, false}, {1, 60, false, false}, {1, 45, false, false}},
			newFabric: 3,
			want:      4,
		},
		{
			name:      "tie over the share: the new session's fabric replaces its own",
			sessions:  []sessionSpec{{2, 1, false, false}, {2, 2, false, false}, {2, 3, false, false}, {1, 50, false, false}, {1, 40, false, false}, {1, 60, false, false}, {1, 45, false, false}},
			newFabric: 2,
			want:      0,
		},
		{
			name:      "the new session's fabric replaces its own",
			sessions:  []sessionSpec{{1, 10, false, false}, {1, 20, false, false}, {1, 30, false, false}, {2, 1, false, false}, {2, 2, false, false}, {2, 3, false, false}, {0, 0, false, false}},
			newFabric: 1,
			want:      0,
		},
		{
			name:      "a new PASE session evicts from the fabric over its share",
			sessions:  []sessionSpec{{1, 10, false, false}, {1, 5, false, false}, {1, 30, false, false}, {1, 40, false, false}, {2, 1, false, false}, {2, 2, false, false}, {2, 3, false, false}},
			newFabric: 0,
			want:      1,
		},
		{
			name:      "a second PASE session replaces the first",
			sessions:  []sessionSpec{{0, 50, false, false}, {1, 1, false, false}, {1, 2, false, false}, {1, 3, false, false}, {2, 4, false, false}, {2, 5, false, false}, {2, 6, false, false}},
			newFabric: 0,
			want:      0,
		},
		{
			name:      "marked sessions go first",
			sessions:  []sessionSpec{{1, 10, false, false}, {1, 20, false, false}, {1, 30, false, false}, {1, 40, false, false}, {2, 99, false, true}, {2, 2, false, false}, {2, 3, false, false}},
			newFabric: 1,
			want:      4,
		},
		{
			name:      "held sessions are skipped",
			sessions:  []sessionSpec{{1, 10, true, false}, {1, 20, false, false}, {1, 30, false, false}, {1, 40, false, false}, {2, 1, false, false}, {2, 2, false, false}, {0, 0, false, false}},
			newFabric: 2,
			want:      1,
		},
		{
			name:      "held marked sessions are skipped",
			sessions:  []sessionSpec{{1, 10, true, true}, {1, 20, false, false}, {1, 30, false, false}, {1, 40, false, false}, {2, 1, false, false}, {2, 2, false, false}, {0, 0, false, false}},
			newFabric: 2,
			want:      1,
		},
		{
			name:      "when every bucket is at its minimum, least recently used",
			sessions:  []sessionSpec{{1, 10, true, false}, {1, 20, true, false}, {1, 30, true, false}, {1, 40, true, false}, {2, 5, false, false}, {2, 2, false, false}, {0, 0, true, false}},
			newFabric: 1,
			want:      5,
		},
		{
			name:      "tie between fabrics over their share: least recently used",
			max:       8,
			sessions:  []sessionSpec{{1, 10, false, false}, {1, 20, false, false}, {1, 30, false, false}, {1, 40, false, false}, {2, 11, false, false}, {2, 9, false, false}, {2, 31, false, false}, {2, 41, false, false}},
			newFabric: 3,
			want:      5,
		},
		{
			name:      "every session held",
			sessions:  []sessionSpec{{1, 1, true, false}, {1, 2, true, false}, {1, 3, true, false}, {2, 4, true, false}, {2, 5, true, false}, {2, 6, true, false}, {0, 7, true, false}},
			newFabric: 1,
			want:      -1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			max := tt.max
			if max == 0 {
				max = 7
			}
			rec := &recorder{}
			tab := newTestTable(t, Config{MaxFabrics: 2, MaxSessions: max, OnRemove: rec.OnRemove})
			epoch := time.Unix(1_700_000_000, 0)
			var ss []*Secure
			for i, sp := range tt.sessions {
				cfg := paseConfig(Responder, uint16(100+i))
				if sp.fabric != 0 {
					cfg = caseConfig(Responder, sp.fabric, 1, uint64(1000+i), uint16(100+i))
				}
				s := establish(t, tab, cfg)
				s.mu.Lock()
				s.lastActivity = epoch.Add(time.Duration(sp.age) * time.Second)
				s.mu.Unlock()
				if sp.held {
					s.Hold()
				}
				if sp.marked {
					s.MarkForEviction()
				}
				ss = append(ss, s)
			}
			if rec.take() != nil {
				t.Fatal("eviction while filling the table")
			}
			cfg := paseConfig(Responder, 999)
			if tt.newFabric != 0 {
				cfg = caseConfig(Responder, tt.newFabric, 1, 5000, 999)
			}
			r, err := tab.Reserve()
			if err != nil {
				t.Fatal(err)
			}
			s, err := r.Establish(cfg)
			if tt.want < 0 {
				if !errors.Is(err, ErrTableFull) {
					t.Fatalf("Establish err = %v, want ErrTableFull", err)
				}
				if tab.Len() != len(ss) {
					t.Errorf("table changed: %d sessions", tab.Len())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			victim := ss[tt.want]
			if got := rec.take(); len(got) != 1 || got[0] != (removal{victim.LocalSessionID(), ReasonEvicted}) {
				var gotIdx []int
				for _, g := range got {
					for i, x := range ss {
						if x.LocalSessionID() == g.id {
							gotIdx = append(gotIdx, i)
						}
					}
				}
				t.Fatalf("evicted %v (indices %v), want index %d", got, gotIdx, tt.want)
			}
			if !victim.Closed() || tab.Get(victim.LocalSessionID()) != nil || tab.Get(s.LocalSessionID()) != s {
				t.Error("table state after eviction is wrong")
			}
			if tab.Len() != max {
				t.Errorf("Len = %d, want %d", tab.Len(), max)
			}
		})
	}
}

// TestFabricMinimumGuarantee fills a table with churn from one fabric and
// checks that the other fabrics keep their three sessions.
func TestFabricMinimumGuarantee(t *testing.T) {
	clk := newFakeClock()
	tab := newTestTable(t, Config{Now: clk.Now}) // 5 fabrics, 16 sessions
	for f := uint8(1); f <= 5; f++ {
		for i := range 3 {
			establish(t, tab, caseConfig(Responder, f, 1, uint64(f)*100+uint64(i), 1))
			clk.Advance(time.Second)
		}
	}
	for i := range 100 { // fabric 1 opens session after session
		establish(t, tab, caseConfig(Responder, 1, 1, uint64(10000+i), 1))
		clk.Advance(time.Second)
	}
	counts := map[uint8]int{}
	for _, s := range tab.Sessions() {
		counts[s.FabricIndex()]++
	}
	for f := uint8(2); f <= 5; f++ {
		if counts[f] != MinCASESessionsPerFabric {
			t.Errorf("fabric %d has %d sessions, want %d", f, counts[f], MinCASESessionsPerFabric)
		}
	}
	if counts[1] != 4 || tab.Len() != DefaultMaxSessions {
		t.Errorf("counts %v, %d sessions", counts, tab.Len())
	}
}

func TestRemoveFabricAndFindPeer(t *testing.T) {
	clk := newFakeClock()
	rec := &recorder{}
	tab := newTestTable(t, Config{Now: clk.Now, OnRemove: rec.OnRemove})
	a := establish(t, tab, caseConfig(Responder, 1, 1, 0x77, 1))
	clk.Advance(time.Second)
	b := establish(t, tab, caseConfig(Responder, 1, 1, 0x77, 2))
	c := establish(t, tab, caseConfig(Responder, 2, 1, 0x77, 3))
	p := establish(t, tab, paseConfig(Responder, 4))
	release := b.Hold()
	defer release()

	if got := tab.FindPeer(1, 0x77); got != b {
		t.Errorf("FindPeer = %v, want the most recent session", got)
	}
	b.MarkForEviction()
	if got := tab.FindPeer(1, 0x77); got != a {
		t.Errorf("FindPeer preferred a session marked for eviction")
	}
	if tab.FindPeer(2, 0x77) != c || tab.FindPeer(1, 0x78) != nil || tab.FindPeer(0, 0) != nil {
		t.Error("FindPeer matched the wrong fabric, node or a PASE session")
	}
	if n := tab.RemoveFabric(1); n != 2 {
		t.Fatalf("RemoveFabric removed %d, want 2 (held sessions too)", n)
	}
	got := rec.take()
	slices.SortFunc(got, func(x, y removal) int { return int(x.id) - int(y.id) })
	want := []removal{{a.LocalSessionID(), ReasonFabricRemoved}, {b.LocalSessionID(), ReasonFabricRemoved}}
	slices.SortFunc(want, func(x, y removal) int { return int(x.id) - int(y.id) })
	if !slices.Equal(got, want) {
		t.Errorf("OnRemove calls %v, want %v", got, want)
	}
	if !a.Closed() || !b.Closed() || c.Closed() || p.Closed() || tab.Len() != 2 {
		t.Error("wrong sessions removed")
	}
	if tab.Remove(a, ReasonClosed) {
		t.Error("Remove of a removed session reported success")
	}
}

// TestExpire runs under testing/synctest with the table on the real clock,
// which synctest fakes.
func TestExpire(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		tab := newTestTable(t, Config{OnRemove: rec.OnRemove})
		old := establish(t, tab, paseConfig(Responder, 1))
		held := establish(t, tab, paseConfig(Responder, 2))
		release := held.Hold()
		u := tab.Unsecured(udp("[::1]:9"), 5, Responder)
		time.Sleep(time.Minute)
		fresh := establish(t, tab, paseConfig(Responder, 3))
		if n := tab.ExpireSecure(30 * time.Second); n != 1 {
			t.Fatalf("ExpireSecure removed %d, want 1", n)
		}
		if got := rec.take(); len(got) != 1 || got[0] != (removal{old.LocalSessionID(), ReasonExpired}) {
			t.Errorf("OnRemove = %v", got)
		}
		if fresh.Closed() || held.Closed() {
			t.Error("fresh or held session expired")
		}
		release()
		release() // harmless
		if n := tab.ExpireSecure(30 * time.Second); n != 1 || !held.Closed() {
			t.Errorf("released session did not expire: %d", n)
		}
		if n := tab.ExpireUnsecured(30 * time.Second); n != 1 || !u.Closed() || tab.UnsecuredLen() != 0 {
			t.Errorf("ExpireUnsecured = %d", n)
		}
	})
}

// TestUnsecuredHandshake runs messages of the Unsecured Session both ways
// through two tables: the initiator's context is found by the ephemeral
// node ID the responder echoes.
func TestUnsecuredHandshake(t *testing.T) {
	ti, tr := newTestTable(t, Config{}), newTestTable(t, Config{})
	iAddr, rAddr := udp("[fe80::1]:5540"), udp("[fe80::2]:5540")
	eph, err := RandomEphemeralNodeID(nil)
	if err != nil {
		t.Fatal(err)
	}
	ui := ti.Unsecured(rAddr, eph, Initiator)
	ph := message.ProtocolHeader{Initiator: true, Reliable: true, Opcode: 0x20, ExchangeID: 7, ProtocolID: message.ProtocolSecureChannel}
	req, ctr, err := ui.SealMessage(nil, &ph, []byte("PBKDFParamRequest"))
	if err != nil {
		t.Fatal(err)
	}
	replay := bytes.Clone(req)
	in, err := tr.Open(transport.Packet{From: iAddr, Data: req})
	if err != nil {
		t.Fatal(err)
	}
	ur, ok := in.Session.(*Unsecured)
	if !ok || ur.Role() != Responder || ur.EphemeralNodeID() != eph || ur.Peer() != iAddr ||
		in.Duplicate || in.Header.Counter != ctr || string(in.Payload) != "PBKDFParamRequest" {
		t.Fatalf("responder Inbound = %+v", in)
	}
	if in, err := tr.Open(transport.Packet{From: iAddr, Data: replay}); err != nil || !in.Duplicate || in.Session != ur {
		t.Fatalf("replayed request: %v, %+v", err, in)
	}
	ph.Initiator = false
	resp, _, err := ur.SealMessage(nil, &ph, []byte("PBKDFParamResponse"))
	if err != nil {
		t.Fatal(err)
	}
	in, err = ti.Open(transport.Packet{From: rAddr, Data: resp})
	if err != nil {
		t.Fatal(err)
	}
	if in.Session != ui || string(in.Payload) != "PBKDFParamResponse" || in.Duplicate {
		t.Fatalf("initiator Inbound = %+v", in)
	}
	// The response from another address, or to another ephemeral node, has
	// no context.
	if _, err := ti.Open(transport.Packet{From: udp("[fe80::3]:5540"), Data: bytes.Clone(resp)}); !errors.Is(err, ErrNoSession) {
		t.Errorf("response from a stranger: %v", err)
	}
	ui.Close()
	if !ui.Closed() || ti.FindUnsecured(rAddr, eph, Initiator) != nil {
		t.Error("Close left the context in the table")
	}
	if m := ui.PeerMRP(); m != (transport.MRPParams{}) {
		t.Errorf("PeerMRP = %+v before SetPeerMRP", m)
	}
	ui.SetPeerMRP(transport.MRPParams{IdleInterval: time.Second})
	if ui.PeerMRP().IdleInterval != time.Second {
		t.Error("SetPeerMRP")
	}
}

func TestUnsecuredLRU(t *testing.T) {
	clk := newFakeClock()
	tab := newTestTable(t, Config{Now: clk.Now, MaxUnsecured: 3})
	var us []*Unsecured
	for i := range 3 {
		us = append(us, tab.Unsecured(udp(fmt.Sprintf("[::1]:%d", 1000+i)), uint64(i+1), Responder))
		clk.Advance(time.Second)
	}
	// Touch the oldest: the second becomes least recently used.
	ph := message.ProtocolHeader{}
	if _, _, err := us[0].SealMessage(nil, &ph, nil); err != nil {
		t.Fatal(err)
	}
	n := tab.Unsecured(udp("[::1]:2000"), 9, Responder)
	if tab.UnsecuredLen() != 3 || !us[1].Closed() || us[0].Closed() || us[2].Closed() || n.Closed() {
		t.Fatalf("LRU dropped the wrong context")
	}
	if tab.Unsecured(us[0].Peer(), 1, Responder) != us[0] {
		t.Error("Unsecured did not find an existing context")
	}
	if tab.Unsecured(us[0].Peer(), 1, Initiator) == us[0] {
		t.Error("role is not part of the context key")
	}
}

func TestRandomEphemeralNodeID(t *testing.T) {
	// A draw above the operational range is rejected, then one inside it.
	src := bytes.NewReader(append(bytes.Repeat([]byte{0xff}, 8), 1, 2, 3, 4, 5, 6, 7, 8))
	v, err := RandomEphemeralNodeID(src)
	if err != nil || v != 0x0807060504030201 {
		t.Fatalf("RandomEphemeralNodeID = %#x, %v", v, err)
	}
	if _, err := RandomEphemeralNodeID(bytes.NewReader(make([]byte, 4))); err == nil {
		t.Error("short random source accepted")
	}
	if _, err := RandomEphemeralNodeID(bytes.NewReader(make([]byte, 8*64))); err == nil {
		t.Error("a source of zeros produced a node ID")
	}
}

// TestConcurrent exercises the table and sessions from many goroutines;
// run with -race.
func TestConcurrent(t *testing.T) {
	ta := newTestTable(t, Config{MaxPending: 16})
	tb := newTestTable(t, Config{MaxPending: 16})
	sa, sb := pair(t, ta, tb, paseConfig)
	var wg sync.WaitGroup
	const workers, each = 4, 200
	msgs := make(chan []byte, workers*each)
	for w := range workers {
		wg.Go(func() {
			ph := message.ProtocolHeader{Initiator: true, ExchangeID: uint16(w), ProtocolID: message.ProtocolInteractionModel}
			for range each {
				m, _, err := sa.SealMessage(nil, &ph, []byte("data"))
				if err != nil {
					t.Error(err)
					return
				}
				msgs <- m
			}
		})
	}
	// Receivers run concurrently, so messages can arrive more than the
	// window out of order and legitimately count as duplicates; what must
	// never happen is a counter accepted as new twice.
	var mu sync.Mutex
	accepted := map[uint32]int{}
	total := 0
	var rwg sync.WaitGroup
	for range workers {
		rwg.Go(func() {
			for m := range msgs {
				replay := bytes.Clone(m)
				for _, data := range [][]byte{m, replay} {
					in, err := tb.Open(transport.Packet{From: udp("[::1]:1"), Data: data})
					if err != nil {
						t.Error(err)
						continue
					}
					mu.Lock()
					total++
					if !in.Duplicate {
						accepted[in.Header.Counter]++
					}
					mu.Unlock()
				}
			}
		})
	}
	// Churn on the side: establish and close other sessions concurrently.
	for w := range workers {
		wg.Go(func() {
			for i := range 20 {
				r, err := tb.Reserve()
				if err != nil {
					continue
				}
				s, err := r.Establish(caseConfig(Responder, uint8(w%3+1), 1, uint64(i+1), 9))
				if err != nil {
					t.Error(err)
					continue
				}
				_ = tb.FindPeer(s.FabricIndex(), uint64(i+1))
				_ = tb.Sessions()
				s.Close()
			}
		})
	}
	wg.Wait()
	close(msgs)
	rwg.Wait()
	if total != 2*workers*each {
		t.Errorf("%d messages opened, want %d", total, 2*workers*each)
	}
	for c, n := range accepted {
		if n > 1 {
			t.Errorf("counter %d accepted %d times", c, n)
		}
	}
	if len(accepted) < workers*each/2 {
		t.Errorf("only %d of %d messages accepted", len(accepted), workers*each)
	}
	if sb.Closed() {
		t.Error("the busy session was evicted")
	}
}

func TestReserveReclaim(t *testing.T) {
	clk := newFakeClock()
	tab := newTestTable(t, Config{Now: clk.Now, MaxPending: 2, PendingTimeout: 10 * time.Second})
	old, err := tab.Reserve()
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(5 * time.Second)
	young, err := tab.Reserve()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tab.Reserve(); !errors.Is(err, ErrTooManyPending) {
		t.Fatalf("Reserve with two fresh reservations: %v", err)
	}
	clk.Advance(6 * time.Second) // old is 11 s old, young 6 s
	r, err := tab.Reserve()
	if err != nil {
		t.Fatalf("Reserve did not reclaim the stale reservation: %v", err)
	}
	if _, err := old.Establish(paseConfig(Responder, 1)); !errors.Is(err, ErrReservation) {
		t.Errorf("reclaimed reservation still establishes: %v", err)
	}
	old.Release() // a no-op: it must not free someone else's ID
	if _, err := young.Establish(paseConfig(Responder, 1)); err != nil {
		t.Errorf("young reservation: %v", err)
	}
	if _, err := r.Establish(paseConfig(Responder, 2)); err != nil {
		t.Errorf("new reservation: %v", err)
	}
}
