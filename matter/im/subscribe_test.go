package im

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mattercam/mattercam/matter/dm"
	"github.com/mattercam/mattercam/matter/transport"
)

// recorder keeps the reports of a subscription with their arrival times.
type recorder struct {
	mu      sync.Mutex
	reports []*Report
	at      []time.Time
}

func (r *recorder) add(rep *Report) {
	r.mu.Lock()
	r.reports = append(r.reports, rep)
	r.at = append(r.at, time.Now())
	r.mu.Unlock()
}

func (r *recorder) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.reports)
}

func (r *recorder) get(i int) (*Report, time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reports[i], r.at[i]
}

func TestSubscribePriming(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		en := newEnv(t, envOpts{listLen: 60})
		en.c1.set(attrCounter, 3)
		if _, err := en.events.Emit(1, clusterTest, evInfo, dm.PriorityInfo, 0, nil); err != nil {
			t.Fatal(err)
		}
		var rec recorder
		before := en.srv.Stats().ReportsSent
		sub, err := en.cli.Subscribe(t.Context(), en.udp, &SubscribeRequest{MinIntervalFloor: 1, MaxIntervalCeiling: 10,
			AttributeRequests: []AttributePath{AttrPath(1, clusterTest, attrCounter), AttrPath(1, clusterTest, attrBigList)},
			EventRequests:     []EventPath{{Wildcard: WildAll}}}, rec.add)
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		if rec.len() != 1 {
			t.Fatalf("%d reports delivered by the time Subscribe returned", rec.len())
		}
		if n := en.srv.Stats().ReportsSent - before; n < 3 {
			t.Fatalf("priming in %d messages: not chunked", n)
		}
		rep, _ := rec.get(0)
		if !rep.HasSubscriptionID || rep.SubscriptionID != sub.ID() {
			t.Fatalf("priming report for subscription %d, subscription %d", rep.SubscriptionID, sub.ID())
		}
		if v := decodeU32(t, rep.Attribute(1, clusterTest, attrCounter).Data.Data); v != 3 {
			t.Fatalf("counter %d", v)
		}
		if items, _ := listItems(rep.Attribute(1, clusterTest, attrBigList).Data.Data); len(items) != 60 {
			t.Fatalf("list of %d items", len(items))
		}
		if len(rep.Events) != 1 || rep.Events[0].Number != 0 {
			t.Fatalf("events %+v", rep.Events)
		}
		subs := en.srv.Subscriptions()
		if len(subs) != 1 || subs[0].ID != sub.ID() || subs[0].MaxInterval != 10*time.Second || subs[0].FabricIndex != 1 ||
			subs[0].PeerNodeID != ctrlNodeID || sub.MaxInterval() != 10*time.Second {
			t.Fatalf("server holds %+v; client has ID %d, max interval %v", subs, sub.ID(), sub.MaxInterval())
		}
	})
}

// TestSubscribeReports follows a subscription in virtual time: a change
// is reported no sooner than MinInterval after the previous report and
// carries only what changed; a ChangesOmitted attribute is not reported;
// with no change an empty report comes at MaxInterval.
func TestSubscribeReports(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		en := newEnv(t, envOpts{})
		var rec recorder
		sub, err := en.cli.Subscribe(t.Context(), en.udp, &SubscribeRequest{MinIntervalFloor: 2, MaxIntervalCeiling: 60,
			AttributeRequests: []AttributePath{{Endpoint: 1, Cluster: clusterTest, Wildcard: WildAttribute}}}, rec.add)
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		t0 := time.Now()

		time.Sleep(500 * time.Millisecond)
		en.c1.set(attrCounter, 1)
		synctest.Wait()
		if rec.len() != 1 {
			t.Fatal("a change was reported before MinInterval")
		}
		time.Sleep(1600 * time.Millisecond)
		synctest.Wait()
		if rec.len() != 2 {
			t.Fatalf("%d reports at t0+2.1s", rec.len())
		}
		rep, at := rec.get(1)
		if at.Sub(t0) != 2*time.Second {
			t.Fatalf("change reported at t0+%v, want t0+2s", at.Sub(t0))
		}
		if len(rep.Attributes) != 1 || decodeU32(t, rep.Attribute(1, clusterTest, attrCounter).Data.Data) != 1 {
			t.Fatalf("change report %+v", rep.Attributes)
		}

		// Two changes at once, one of them ChangesOmitted.
		en.c1.set(attrQuiet, 5)
		en.c1.set(attrCounter, 2)
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if rec.len() != 3 {
			t.Fatalf("%d reports", rec.len())
		}
		rep, at = rec.get(2)
		if at.Sub(t0) != 4*time.Second || len(rep.Attributes) != 1 || rep.Attribute(1, clusterTest, attrCounter) == nil {
			t.Fatalf("report at t0+%v: %+v", at.Sub(t0), rep.Attributes)
		}

		// A ChangesOmitted change alone reports nothing; MaxInterval later
		// an empty report comes.
		en.c1.set(attrQuiet, 6)
		time.Sleep(59 * time.Second)
		synctest.Wait()
		if rec.len() != 3 {
			t.Fatalf("%d reports before MaxInterval", rec.len())
		}
		time.Sleep(1100 * time.Millisecond)
		synctest.Wait()
		if rec.len() != 4 {
			t.Fatalf("%d reports after MaxInterval", rec.len())
		}
		rep, at = rec.get(3)
		if !rep.Empty() || at.Sub(t0) != 64*time.Second {
			t.Fatalf("keep-alive at t0+%v: %+v", at.Sub(t0), rep)
		}
		if sub.Err() != nil {
			t.Fatal(sub.Err())
		}
	})
}

func TestSubscribeKeepAlive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		en := newEnv(t, envOpts{})
		var rec recorder
		sub, err := en.cli.Subscribe(t.Context(), en.udp, &SubscribeRequest{MaxIntervalCeiling: 5,
			AttributeRequests: []AttributePath{AttrPath(1, clusterTest, attrCounter)}}, rec.add)
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		time.Sleep(16 * time.Second)
		synctest.Wait()
		if rec.len() != 4 {
			t.Fatalf("%d reports in 16 s with MaxInterval 5 s, want priming + 3", rec.len())
		}
		for i := 1; i < 4; i++ {
			if rep, _ := rec.get(i); !rep.Empty() {
				t.Fatalf("report %d not empty", i)
			}
		}
		if sub.Reports() != 4 {
			t.Fatalf("Reports() %d", sub.Reports())
		}
	})
}

func TestChooseMaxInterval(t *testing.T) {
	for _, tc := range []struct {
		floor, ceiling uint16
		minMax         time.Duration
		want           time.Duration
	}{
		{0, 0, 0, time.Second},
		{0, 63, 0, 63 * time.Second},
		{5, 5, 0, 5 * time.Second},
		{10, 20, 0, 20 * time.Second},
		{0, 10, 30 * time.Second, 30 * time.Second},
		{0, 10, 1500 * time.Millisecond, 10 * time.Second},
		{0, 1, 1500 * time.Millisecond, 2 * time.Second},
		{0, 10, 2 * time.Hour, time.Hour},
		{0, 7200, 3 * time.Hour, 2 * time.Hour},
		{0, 0xFFFF, 0, 0xFFFF * time.Second},
	} {
		s := &Server{cfg: Config{MinMaxInterval: max(tc.minMax, time.Second)}}
		if tc.minMax != 0 {
			s.cfg.MinMaxInterval = tc.minMax
		}
		if got := s.chooseMaxInterval(tc.floor, tc.ceiling); got != tc.want {
			t.Errorf("floor %d ceiling %d min %v: %v, want %v", tc.floor, tc.ceiling, tc.minMax, got, tc.want)
		}
	}
}

func TestSubscribeInvalid(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		en := newEnv(t, envOpts{})
		for _, tc := range []struct {
			name string
			req  SubscribeRequest
			want dm.Status
		}{
			{"floor above ceiling", SubscribeRequest{MinIntervalFloor: 10, MaxIntervalCeiling: 5, AttributeRequests: []AttributePath{AttrPath(1, clusterTest, 0)}}, dm.StatusInvalidAction},
			{"no paths", SubscribeRequest{MaxIntervalCeiling: 5}, dm.StatusInvalidAction},
			{"list index", SubscribeRequest{MaxIntervalCeiling: 5, AttributeRequests: []AttributePath{{Endpoint: 1, Cluster: 1, Attribute: 1, List: ListAppend}}}, dm.StatusInvalidAction},
		} {
			subtest(t, tc.name, func(t *testing.T) {
				if _, err := en.cli.Subscribe(t.Context(), en.udp, &tc.req, nil); statusOf(err) != tc.want {
					t.Fatalf("error %v, want %v", err, tc.want)
				}
			})
		}
		if n := len(en.srv.Subscriptions()); n != 0 {
			t.Fatalf("%d subscriptions left", n)
		}
	})
}

// TestSubscribeEndedByClient: the client drops its subscription, answers
// the next report with INVALID_SUBSCRIPTION, and the server ends it.
func TestSubscribeEndedByClient(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		en := newEnv(t, envOpts{})
		sub, err := en.cli.Subscribe(t.Context(), en.udp, &SubscribeRequest{MaxIntervalCeiling: 5,
			AttributeRequests: []AttributePath{AttrPath(1, clusterTest, attrCounter)}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		sub.Close()
		if !errors.Is(sub.Err(), ErrClosed) {
			t.Fatalf("Err %v", sub.Err())
		}
		time.Sleep(6 * time.Second)
		synctest.Wait()
		if n := len(en.srv.Subscriptions()); n != 0 {
			t.Fatalf("server still holds %d subscriptions", n)
		}
		if en.srv.Stats().SubscriptionsEnded != 1 {
			t.Fatalf("stats %+v", en.srv.Stats())
		}
	})
}

// TestSubscribeEndedByServer: the server cancels (RemoveFabric does); the
// client notices the silence after MaxInterval and its slack.
func TestSubscribeEndedByServer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		en := newEnv(t, envOpts{cli: func(c *ClientConfig) { c.SubscriptionSlack = 3 * time.Second }})
		sub, err := en.cli.Subscribe(t.Context(), en.udp, &SubscribeRequest{MaxIntervalCeiling: 5,
			AttributeRequests: []AttributePath{AttrPath(1, clusterTest, attrCounter)}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t0 := time.Now()
		time.Sleep(6 * time.Second) // one keep-alive
		if sub.Err() != nil {
			t.Fatal(sub.Err())
		}
		if n := en.srv.CancelFabric(1); n != 1 {
			t.Fatalf("CancelFabric ended %d", n)
		}
		<-sub.Done()
		if !errors.Is(sub.Err(), ErrSubscriptionLost) {
			t.Fatalf("Err %v", sub.Err())
		}
		if d := time.Since(t0); d != 5*time.Second+8*time.Second {
			t.Fatalf("lost after %v, want the keep-alive at 5 s + 5 s + 3 s", d)
		}
	})
}

// TestSubscribeSessionGone: a subscription ends when its session leaves
// the table (the report cannot be sent) or when the node cancels it.
func TestSubscribeSessionGone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		en := newEnv(t, envOpts{})
		sub := func() {
			if _, err := en.cli.Subscribe(t.Context(), en.udp, &SubscribeRequest{KeepSubscriptions: true, MaxIntervalCeiling: 5,
				AttributeRequests: []AttributePath{AttrPath(1, clusterTest, attrCounter)}}, nil); err != nil {
				t.Fatal(err)
			}
		}
		sub()
		sub()
		if n := en.srv.CancelSession(en.udpDev); n != 2 {
			t.Fatalf("CancelSession ended %d", n)
		}
		sub()
		en.udpDev.Close()
		time.Sleep(6 * time.Second)
		synctest.Wait()
		if n := len(en.srv.Subscriptions()); n != 0 {
			t.Fatalf("%d subscriptions outlive their session", n)
		}
	})
}

func TestSubscribeKeepSubscriptions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		en := newEnv(t, envOpts{})
		subscribe := func(keep bool) *Subscription {
			s, err := en.cli.Subscribe(t.Context(), en.udp, &SubscribeRequest{KeepSubscriptions: keep, MaxIntervalCeiling: 30,
				AttributeRequests: []AttributePath{AttrPath(1, clusterTest, attrCounter)}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		subscribe(true)
		subscribe(true)
		if n := len(en.srv.Subscriptions()); n != 2 {
			t.Fatalf("%d subscriptions", n)
		}
		last := subscribe(false)
		subs := en.srv.Subscriptions()
		if len(subs) != 1 || subs[0].ID != last.ID() {
			t.Fatalf("after KeepSubscriptions false: %+v", subs)
		}
	})
}

// TestSubscribeLimits: per-fabric and total limits, and the eviction that
// keeps every fabric its guaranteed minimum of 3 (Core §8.5.1).
func TestSubscribeLimits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		en := newEnv(t, envOpts{srv: func(c *Config) { c.MaxSubscriptions, c.MaxSubscriptionsPerFabric = 5, 4 }})
		req := &SubscribeRequest{KeepSubscriptions: true, MaxIntervalCeiling: 30, AttributeRequests: []AttributePath{AttrPath(1, clusterTest, attrCounter)}}
		var ids []uint32
		for range 4 {
			s, err := en.cli.Subscribe(t.Context(), en.udp, req, nil)
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, s.ID())
		}
		if _, err := en.cli.Subscribe(t.Context(), en.udp, req, nil); statusOf(err) != dm.StatusResourceExhausted {
			t.Fatalf("fifth on fabric 1: %v", err)
		}
		other := en.otherFabric(t.Context())
		if _, err := en.cli2.Subscribe(t.Context(), other, req, nil); err != nil {
			t.Fatal(err)
		}
		// The table is full; fabric 2 is under its minimum and evicts
		// fabric 1's oldest.
		if _, err := en.cli2.Subscribe(t.Context(), other, req, nil); err != nil {
			t.Fatal(err)
		}
		var fab1 []uint32
		for _, s := range en.srv.Subscriptions() {
			if s.FabricIndex == 1 {
				fab1 = append(fab1, s.ID)
			}
		}
		slices.Sort(fab1)
		if !slices.Equal(fab1, ids[1:]) {
			t.Fatalf("fabric 1 holds %v, want %v", fab1, ids[1:])
		}
		// Fabric 1 is at its minimum, the table is full: refused.
		if _, err := en.cli.Subscribe(t.Context(), en.udp, req, nil); statusOf(err) != dm.StatusResourceExhausted {
			t.Fatalf("fabric 1 at its minimum: %v", err)
		}
		if n := en.srv.CancelFabric(2); n != 2 {
			t.Fatalf("CancelFabric(2) ended %d", n)
		}
	})
}

// TestSubscribeEvents: an urgent event is reported after MinInterval with
// the non-urgent ones recorded before it; events of another fabric are
// not reported; numbers, priorities and timestamps come through.
func TestSubscribeEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		en := newEnv(t, envOpts{})
		var rec recorder
		sub, err := en.cli.Subscribe(t.Context(), en.udp, &SubscribeRequest{MinIntervalFloor: 1, MaxIntervalCeiling: 100,
			EventRequests: []EventPath{{Wildcard: WildAll}, {Endpoint: 1, Cluster: clusterTest, Event: evCritical, Urgent: true}}}, rec.add)
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		t0 := time.Now()
		payload := pingFields(99)
		emit := func(ev uint32, p dm.Priority, fabric uint8) uint64 {
			n, err := en.events.Emit(1, clusterTest, ev, p, fabric, payload)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		n0 := emit(evInfo, dm.PriorityInfo, 0)
		emit(evFabric, dm.PriorityInfo, 2) // another fabric's
		n2 := emit(evFabric, dm.PriorityInfo, 1)
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if rec.len() != 1 {
			t.Fatal("non-urgent events were reported before the next report")
		}
		n3 := emit(evCritical, dm.PriorityCritical, 0)
		synctest.Wait()
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if rec.len() != 2 {
			t.Fatalf("%d reports after an urgent event", rec.len())
		}
		rep, at := rec.get(1)
		if at.Sub(t0) != 5*time.Second {
			t.Fatalf("urgent event reported at t0+%v", at.Sub(t0))
		}
		var nums []uint64
		for _, e := range rep.Events {
			nums = append(nums, e.Number)
			if e.IsStatus || e.TimestampKind != EpochTimestamp || e.Timestamp != uint64(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixMilli()) ||
				string(e.Data) == "" {
				t.Fatalf("event %+v", e)
			}
		}
		if !slices.Equal(nums, []uint64{n0, n2, n3}) {
			t.Fatalf("events %v, want %v", nums, []uint64{n0, n2, n3})
		}
		if rep.Events[2].Priority != dm.PriorityCritical || rep.Events[0].Priority != dm.PriorityInfo {
			t.Fatalf("priorities %v %v", rep.Events[0].Priority, rep.Events[2].Priority)
		}
		// Nothing is reported twice.
		time.Sleep(100 * time.Second)
		synctest.Wait()
		rep, _ = rec.get(rec.len() - 1)
		if !rep.Empty() {
			t.Fatalf("keep-alive carried %+v", rep.Events)
		}
	})
}

// TestSubscribeOverTCP: reports of a subscription made over TCP go over
// TCP, in one message where UDP would need several.
func TestSubscribeOverTCP(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		en := newEnv(t, envOpts{tcp: true, listLen: 100})
		tcp := en.caseSession(t.Context(), transport.TCP)
		var rec recorder
		before := en.srv.Stats().ReportsSent
		sub, err := en.cli.Subscribe(t.Context(), tcp, &SubscribeRequest{MaxIntervalCeiling: 10,
			AttributeRequests: []AttributePath{AttrPath(1, clusterTest, attrBigList)}}, rec.add)
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		if n := en.srv.Stats().ReportsSent - before; n != 1 {
			t.Fatalf("priming over TCP in %d messages", n)
		}
		en.c1.mu.Lock()
		en.c1.bigList = en.c1.bigList[:3]
		en.c1.mu.Unlock()
		en.c1.changed(attrBigList)
		time.Sleep(time.Second)
		synctest.Wait()
		if rec.len() != 2 {
			t.Fatalf("%d reports", rec.len())
		}
		rep, _ := rec.get(1)
		if items, _ := listItems(rep.Attributes[0].Data.Data); len(items) != 3 {
			t.Fatalf("changed list of %d items", len(items))
		}
	})
}

// TestSubscribeKeepSubscriptionsOrder: KeepSubscriptions false ends the
// subscriptions the subscriber held when it sent the request, never one it
// asked for afterwards on the same session even when that one was admitted
// first (exchanges are served concurrently; matter.js sends its automatic
// KeepSubscriptions=false subscription and an application one 1 ms apart).
func TestSubscribeKeepSubscriptionsOrder(t *testing.T) {
	en := newEnv(t, envOpts{})
	subj := dm.Subject{FabricIndex: 1}
	mk := func(counter uint32, sess SecureSession) *subscription {
		sub := &subscription{s: en.srv, sess: sess, subject: subj, peer: ctrlNodeID, counter: counter}
		sub.ctx, sub.cancel = context.WithCancel(t.Context())
		return sub
	}
	held := func() []uint32 {
		var ids []uint32
		for _, s := range en.srv.Subscriptions() {
			ids = append(ids, s.ID)
		}
		slices.Sort(ids)
		return ids
	}
	admit := func(sub *subscription, keep bool) {
		t.Helper()
		if err := en.srv.admit(sub, keep); err != nil {
			t.Fatal(err)
		}
	}
	other := mk(1, nil) // an older session's subscription
	admit(other, true)
	later := mk(101, en.udpDev)
	admit(later, true)
	earlier := mk(100, en.udpDev) // sent before later, admitted after it
	admit(earlier, false)
	if got, want := held(), []uint32{later.id, earlier.id}; !slices.Equal(got, want) {
		t.Fatalf("held %v, want %v (the older session's subscription ended, the later request's kept)", got, want)
	}
	last := mk(102, en.udpDev)
	admit(last, false)
	if got := held(); !slices.Equal(got, []uint32{last.id}) {
		t.Fatalf("held %v, want only %d", got, last.id)
	}
	// Counters compare modulo 2^32 (Core §4.6.1: they may roll over).
	wrapped := mk(3, en.udpDev)
	if !(&subscription{sess: en.udpDev, counter: 0xFFFF_FFF0}).before(wrapped) {
		t.Fatal("counter 0xFFFFFFF0 is not before 3")
	}
}

// TestSubscribeEndedWhilePriming: a subscription ended while its priming
// report waits for the subscriber's StatusResponse still gets an answer,
// a StatusResponse FAILURE, instead of silence.
func TestSubscribeEndedWhilePriming(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		en := newEnv(t, envOpts{})
		r := en.raw(en.udp)
		r.send(OpSubscribeRequest, &SubscribeRequest{KeepSubscriptions: true, MaxIntervalCeiling: 30,
			AttributeRequests: []AttributePath{AttrPath(1, clusterTest, attrCounter)}})
		var rep ReportData
		r.recv(OpReportData, &rep) // and do not acknowledge it
		s, err := en.cli.Subscribe(t.Context(), en.udp, &SubscribeRequest{KeepSubscriptions: false, MaxIntervalCeiling: 30,
			AttributeRequests: []AttributePath{AttrPath(1, clusterTest, attrCounter)}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		r.status(dm.StatusFailure)
		synctest.Wait()
		if subs := en.srv.Subscriptions(); len(subs) != 1 || subs[0].ID != s.ID() {
			t.Fatalf("server holds %+v, want only %d", subs, s.ID())
		}
	})
}
