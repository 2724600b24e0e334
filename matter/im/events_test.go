package im

import (
	"slices"
	"testing"
	"testing/synctest"

	"github.com/mattercam/mattercam/matter/dm"
)

func TestReadEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		en := newEnv(t, envOpts{acl: func(a *fakeACL) {
			a.set(ctrlNodeID, 2, clusterTest, dm.PrivilegeNone)
		}})
		emit := func(ep uint16, ev uint32, p dm.Priority, fabric uint8) uint64 {
			n, err := en.events.Emit(ep, clusterTest, ev, p, fabric, pingFields(uint32(ev)))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		e0 := emit(1, evInfo, dm.PriorityInfo, 0)
		emit(2, evInfo, dm.PriorityInfo, 0) // endpoint 2: no access
		e2 := emit(1, evCritical, dm.PriorityCritical, 0)
		emit(1, evFabric, dm.PriorityInfo, 2) // fabric 2's
		e4 := emit(1, evFabric, dm.PriorityInfo, 1)
		e5 := emit(1, evInfo, dm.PriorityDebug, 0)

		read := func(req *ReadRequest) *Report {
			rep, err := en.cli.Read(t.Context(), en.udp, req)
			if err != nil {
				t.Fatal(err)
			}
			return rep
		}
		nums := func(rep *Report) (out []uint64) {
			for _, e := range rep.Events {
				if !e.IsStatus {
					out = append(out, e.Number)
				}
			}
			return out
		}
		for _, tc := range []struct {
			name string
			req  ReadRequest
			want []uint64
		}{
			{"all", ReadRequest{EventRequests: []EventPath{{Wildcard: WildAll}}}, []uint64{e0, e2, e4, e5}},
			{"from", ReadRequest{EventRequests: []EventPath{{Wildcard: WildAll}}, EventFilters: []EventFilter{{EventMin: e2 + 1}}}, []uint64{e4, e5}},
			{"filter for another node", ReadRequest{EventRequests: []EventPath{{Wildcard: WildAll}}, EventFilters: []EventFilter{{HasNode: true, Node: 5, EventMin: 100}}}, []uint64{e0, e2, e4, e5}},
			{"concrete", ReadRequest{EventRequests: []EventPath{EvPath(1, clusterTest, evCritical)}}, []uint64{e2}},
			{"event wildcard", ReadRequest{EventRequests: []EventPath{{Endpoint: 1, Cluster: clusterTest, Wildcard: WildEvent}}}, []uint64{e0, e2, e4, e5}},
			{"overlapping paths report once", ReadRequest{EventRequests: []EventPath{{Wildcard: WildAll}, EvPath(1, clusterTest, evInfo)}}, []uint64{e0, e2, e4, e5}},
		} {
			subtest(t, tc.name, func(t *testing.T) {
				if got := nums(read(&tc.req)); !slices.Equal(got, tc.want) {
					t.Fatalf("events %v, want %v", got, tc.want)
				}
			})
		}
		rep := read(&ReadRequest{EventRequests: []EventPath{{Wildcard: WildAll}}})
		for _, e := range rep.Events {
			want := map[uint64]dm.Priority{e0: dm.PriorityInfo, e2: dm.PriorityCritical, e4: dm.PriorityInfo, e5: dm.PriorityDebug}[e.Number]
			if e.Priority != want || e.Path.Cluster != clusterTest || e.Path.Endpoint != 1 || !sameElement(t, e.Data, pingFields(e.Path.Event)) {
				t.Fatalf("event %+v", e)
			}
		}

		// Concrete paths that cannot be read get an EventStatusIB.
		for _, tc := range []struct {
			path EventPath
			want dm.Status
		}{
			{EvPath(9, clusterTest, 0), dm.StatusUnsupportedEndpoint},
			{EvPath(1, 6, 0), dm.StatusUnsupportedCluster},
			{EvPath(1, clusterTest, 0x40), dm.StatusUnsupportedEvent},
			{EvPath(2, clusterTest, evInfo), dm.StatusUnsupportedAccess},
		} {
			rep := read(&ReadRequest{EventRequests: []EventPath{tc.path}})
			if len(rep.Events) != 1 || !rep.Events[0].IsStatus || rep.Events[0].Status.Status != tc.want || rep.Events[0].Path != tc.path {
				t.Fatalf("%v: %+v, want %v", tc.path, rep.Events, tc.want)
			}
		}

		// Attributes and events in one read.
		rep = read(&ReadRequest{AttributeRequests: []AttributePath{AttrPath(1, clusterTest, attrCounter)},
			EventRequests: []EventPath{EvPath(1, clusterTest, evCritical)}})
		if len(rep.Attributes) != 1 || len(rep.Events) != 1 {
			t.Fatalf("mixed read: %d attributes, %d events", len(rep.Attributes), len(rep.Events))
		}
	})
}

// TestReadManyEventsChunked: events fill several messages.
func TestReadManyEventsChunked(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		en := newEnv(t, envOpts{events: func(c *dm.EventsConfig) {
			c.Capacity = [3]int{200, 200, 200}
			c.MaxBytes = [3]int{1 << 16, 1 << 16, 1 << 16}
		}})
		for i := range 100 {
			if _, err := en.events.Emit(1, clusterTest, evInfo, dm.PriorityInfo, 0, pingFields(uint32(i))); err != nil {
				t.Fatal(err)
			}
		}
		before := en.srv.Stats().ReportsSent
		rep, err := en.cli.Read(t.Context(), en.udp, &ReadRequest{EventRequests: []EventPath{{Wildcard: WildAll}}})
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Events) != 100 {
			t.Fatalf("%d events", len(rep.Events))
		}
		for i, e := range rep.Events {
			if e.Number != uint64(i) {
				t.Fatalf("event %d numbered %d", i, e.Number)
			}
		}
		if n := en.srv.Stats().ReportsSent - before; n < 2 {
			t.Fatalf("%d messages", n)
		}
	})
}
