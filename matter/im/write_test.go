package im

import (
	"bytes"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mattercam/mattercam/matter/dm"
	"github.com/mattercam/mattercam/matter/tlv"
)

func TestWriteStatuses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		en := newEnv(t, envOpts{acl: func(a *fakeACL) {
			a.byNode[ctrlNodeID] = dm.PrivilegeOperate
			a.set(ctrlNodeID, 2, clusterTest, dm.PrivilegeView)
		}})
		v := en.c1.DataVersion()
		for _, tc := range []struct {
			name string
			data AttributeData
			want dm.Status
		}{
			{"write", AttributeData{Path: AttrPath(1, clusterTest, attrCounter), Data: u32(5)}, dm.StatusSuccess},
			{"write with version", AttributeData{Path: AttrPath(1, clusterTest, attrCounter), Data: u32(6), DataVersion: v + 1, HasDataVersion: true}, dm.StatusSuccess},
			{"stale version", AttributeData{Path: AttrPath(1, clusterTest, attrCounter), Data: u32(7), DataVersion: v, HasDataVersion: true}, dm.StatusDataVersionMismatch},
			{"unknown endpoint", AttributeData{Path: AttrPath(9, clusterTest, attrCounter), Data: u32(1)}, dm.StatusUnsupportedEndpoint},
			{"unknown cluster", AttributeData{Path: AttrPath(1, 6, 0), Data: u32(1)}, dm.StatusUnsupportedCluster},
			{"unknown attribute", AttributeData{Path: AttrPath(1, clusterTest, 0x77), Data: u32(1)}, dm.StatusUnsupportedAttribute},
			{"read-only", AttributeData{Path: AttrPath(1, clusterTest, attrReadOnly), Data: u32(1)}, dm.StatusUnsupportedWrite},
			{"global", AttributeData{Path: AttrPath(1, clusterTest, dm.AttrClusterRevision), Data: u32(1)}, dm.StatusUnsupportedWrite},
			{"privilege", AttributeData{Path: AttrPath(1, clusterTest, attrAdmin), Data: u32(1)}, dm.StatusUnsupportedAccess},
			{"view only", AttributeData{Path: AttrPath(2, clusterTest, attrCounter), Data: u32(1)}, dm.StatusUnsupportedAccess},
			{"needs timed", AttributeData{Path: AttrPath(1, clusterTest, attrTimed), Data: u32(1)}, dm.StatusNeedsTimedInteraction},
			{"wrong type", AttributeData{Path: AttrPath(1, clusterTest, attrCounter), Data: []byte{0x0C, 0x01, 'x'}}, dm.StatusInvalidDataType},
			{"out of range", AttributeData{Path: AttrPath(1, clusterTest, attrCounter), Data: []byte{0x07, 1, 2, 3, 4, 5, 6, 7, 8}}, dm.StatusConstraintError},
			{"handler error", AttributeData{Path: AttrPath(1, clusterTest, attrFails), Data: u32(1)}, dm.StatusConstraintError},
			{"append to a list not replaced", AttributeData{Path: AttributePath{Endpoint: 1, Cluster: clusterTest, Attribute: attrBigList, List: ListAppend}, Data: []byte{0x10, 1, 'a'}}, dm.StatusBusy},
			{"append to a scalar", AttributeData{Path: AttributePath{Endpoint: 1, Cluster: clusterTest, Attribute: attrCounter, List: ListAppend}, Data: u32(1)}, dm.StatusInvalidAction},
		} {
			subtest(t, tc.name, func(t *testing.T) {
				st, err := en.cli.Write(t.Context(), en.udp, []AttributeData{tc.data}, nil)
				if err != nil {
					t.Fatal(err)
				}
				if len(st) != 1 || st[0].Status.Status != tc.want {
					t.Fatalf("statuses %+v, want %v", st, tc.want)
				}
				if p := st[0].Path; p.Endpoint != tc.data.Path.Endpoint || p.Attribute != tc.data.Path.Attribute {
					t.Fatalf("status path %v", p)
				}
			})
		}
		if got := en.c1.get(attrCounter); got != 6 {
			t.Fatalf("counter %d, want 6", got)
		}
		st, _ := en.cli.Write(t.Context(), en.udp, []AttributeData{{Path: AttrPath(1, clusterTest, attrFails), Data: u32(1)}}, nil)
		if !st[0].Status.HasClusterStatus || st[0].Status.ClusterStatus != 9 {
			t.Fatalf("cluster status %+v", st[0].Status)
		}
	})
}

func TestWriteInvalidRequests(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		en := newEnv(t, envOpts{})
		for _, tc := range []struct {
			name string
			req  WriteRequest
			want dm.Status
		}{
			{"wildcard", WriteRequest{WriteRequests: []AttributeData{{Path: AttributePath{Cluster: clusterTest, Attribute: 0, Wildcard: WildEndpoint}, Data: u32(1)}}}, dm.StatusInvalidAction},
			{"list index", WriteRequest{WriteRequests: []AttributeData{{Path: AttributePath{Endpoint: 1, Cluster: clusterTest, Attribute: 1, List: ListItem, ListIndex: 2}, Data: u32(1)}}}, dm.StatusInvalidAction},
			{"timed flag without TimedRequest", WriteRequest{TimedRequest: true, WriteRequests: []AttributeData{{Path: AttrPath(1, clusterTest, attrTimed), Data: u32(1)}}}, dm.StatusTimedRequestMismatch},
			{"chunked and suppressed", WriteRequest{MoreChunkedMessages: true, SuppressResponse: true, WriteRequests: []AttributeData{{Path: AttrPath(1, clusterTest, 0), Data: u32(1)}}}, dm.StatusInvalidAction},
		} {
			subtest(t, tc.name, func(t *testing.T) {
				r := en.raw(en.udp)
				r.send(OpWriteRequest, &tc.req)
				r.status(tc.want)
			})
		}
		if en.c1.get(attrTimed) != 0 || en.c1.get(attrCounter) != 0 {
			t.Fatal("a refused request wrote")
		}
	})
}

func TestWriteTimed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		en := newEnv(t, envOpts{})
		ctx := t.Context()
		st, err := en.cli.Write(ctx, en.udp, []AttributeData{{Path: AttrPath(1, clusterTest, attrTimed), Data: u32(11)}}, &WriteOptions{Timed: time.Second})
		if err != nil || st[0].Status.Status != dm.StatusSuccess || en.c1.get(attrTimed) != 11 {
			t.Fatalf("timed write: %+v, %v", st, err)
		}

		// The write arrives after the TimedRequest's timeout: TIMEOUT.
		r := en.raw(en.udp)
		r.send(OpTimedRequest, &TimedRequest{Timeout: 100})
		r.status(dm.StatusSuccess)
		time.Sleep(150 * time.Millisecond)
		r.send(OpWriteRequest, &WriteRequest{TimedRequest: true, WriteRequests: []AttributeData{{Path: AttrPath(1, clusterTest, attrTimed), Data: u32(12)}}})
		r.status(dm.StatusTimeout)

		// Within the timeout but without the flag: TIMED_REQUEST_MISMATCH.
		r = en.raw(en.udp)
		r.send(OpTimedRequest, &TimedRequest{Timeout: 1000})
		r.status(dm.StatusSuccess)
		r.send(OpWriteRequest, &WriteRequest{WriteRequests: []AttributeData{{Path: AttrPath(1, clusterTest, attrTimed), Data: u32(13)}}})
		r.status(dm.StatusTimedRequestMismatch)

		// A read after a TimedRequest: INVALID_ACTION.
		r = en.raw(en.udp)
		r.send(OpTimedRequest, &TimedRequest{Timeout: 1000})
		r.status(dm.StatusSuccess)
		r.send(OpReadRequest, &ReadRequest{AttributeRequests: []AttributePath{AttrPath(1, clusterTest, 0)}})
		r.status(dm.StatusInvalidAction)

		// A timed write cannot be chunked.
		r = en.raw(en.udp)
		r.send(OpTimedRequest, &TimedRequest{Timeout: 1000})
		r.status(dm.StatusSuccess)
		r.send(OpWriteRequest, &WriteRequest{TimedRequest: true, MoreChunkedMessages: true, WriteRequests: []AttributeData{{Path: AttrPath(1, clusterTest, attrTimed), Data: u32(14)}}})
		r.status(dm.StatusInvalidAction)

		if got := en.c1.get(attrTimed); got != 11 {
			t.Fatalf("timed attribute %d after refused writes, want 11", got)
		}

		// A timed write of an attribute that does not need it is fine.
		st, err = en.cli.Write(ctx, en.udp, []AttributeData{{Path: AttrPath(1, clusterTest, attrCounter), Data: u32(3)}}, &WriteOptions{Timed: time.Second})
		if err != nil || st[0].Status.Status != dm.StatusSuccess {
			t.Fatalf("timed write of a plain attribute: %+v, %v", st, err)
		}
	})
}

// TestWriteListChunked writes a list too large for a UDP message: the
// client sends an empty-list replacement and appends over several
// WriteRequests, each answered by a WriteResponse.
func TestWriteListChunked(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		en := newEnv(t, envOpts{})
		var w tlv.Writer
		w.StartArray(tlv.AnonymousTag())
		for i := range 80 {
			w.PutBytes(tlv.AnonymousTag(), bytes.Repeat([]byte{byte(i + 1)}, 40))
		}
		w.EndContainer()
		list, _ := w.Bytes()
		before := en.dev.mgr.Stats().Received
		st, err := en.cli.Write(t.Context(), en.udp, []AttributeData{
			{Path: AttrPath(1, clusterTest, attrCounter), Data: u32(9)},
			{Path: AttrPath(1, clusterTest, attrBigList), Data: list},
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(st) != 82 {
			t.Fatalf("%d statuses, want 82 (one write, one replacement, 80 appends)", len(st))
		}
		for i, s := range st {
			if s.Status.Status != dm.StatusSuccess {
				t.Fatalf("status %d: %+v", i, s)
			}
		}
		if n := en.dev.mgr.Stats().Received - before; n < 3 {
			t.Fatalf("%d messages received by the device: the write was not chunked", n)
		}
		en.c1.mu.Lock()
		got := en.c1.bigList
		en.c1.mu.Unlock()
		if len(got) != 80 || !bytes.Equal(got[79], bytes.Repeat([]byte{80}, 40)) {
			t.Fatalf("list of %d items after the write", len(got))
		}
		// The same list written as one message over a larger limit
		// replaces it whole; an empty list empties it.
		st, err = en.cli.Write(t.Context(), en.udp, []AttributeData{{Path: AttrPath(1, clusterTest, attrBigList), Data: emptyArray}}, nil)
		if err != nil || st[0].Status.Status != dm.StatusSuccess {
			t.Fatal(st, err)
		}
		en.c1.mu.Lock()
		n := len(en.c1.bigList)
		en.c1.mu.Unlock()
		if n != 0 {
			t.Fatalf("%d items after writing an empty list", n)
		}
	})
}

// TestWriteChunkRules drives chunked writes by hand: appends need the
// replacement earlier in the same interaction, a different message in the
// middle of a chunked write is INVALID_ACTION, and fabric-scoped lists keep
// other fabrics' entries.
func TestWriteChunkRules(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		en := newEnv(t, envOpts{})
		listPath := AttrPath(1, clusterTest, attrBigList)
		appendPath := listPath
		appendPath.List = ListAppend
		item := []byte{0x10, 2, 'h', 'i'}
		msgs := []*WriteRequest{
			{MoreChunkedMessages: true, WriteRequests: []AttributeData{{Path: listPath, Data: emptyArray}}},
			{MoreChunkedMessages: true, WriteRequests: []AttributeData{{Path: appendPath, Data: item}}},
			{WriteRequests: []AttributeData{{Path: appendPath, Data: item}}},
		}
		st, err := en.cli.WriteMessages(t.Context(), en.udp, msgs, 0)
		if err != nil || len(st) != 3 {
			t.Fatal(st, err)
		}
		for _, s := range st {
			if s.Status.Status != dm.StatusSuccess {
				t.Fatalf("statuses %+v", st)
			}
		}
		if p := st[1].Path; p.List != ListAppend {
			t.Fatalf("append status path %v", p)
		}
		// A new interaction must replace before appending.
		st, err = en.cli.WriteMessages(t.Context(), en.udp, msgs[2:], 0)
		if err != nil || st[0].Status.Status != dm.StatusBusy {
			t.Fatalf("orphan append: %+v, %v", st, err)
		}

		r := en.raw(en.udp)
		r.send(OpWriteRequest, msgs[0])
		var wr WriteResponse
		r.recv(OpWriteResponse, &wr)
		r.send(OpInvokeRequest, &InvokeRequest{InvokeRequests: []CommandData{{Path: CmdPath(1, clusterTest, cmdNoResponse)}}})
		r.status(dm.StatusInvalidAction)

		// Fabric-scoped list: the write touches fabric 1's entries only.
		var w tlv.Writer
		w.StartArray(tlv.AnonymousTag())
		w.StartStructure(tlv.AnonymousTag())
		w.PutUint(tlv.ContextTag(1), 555)
		w.EndContainer()
		w.EndContainer()
		data, _ := w.Bytes()
		st, err = en.cli.Write(t.Context(), en.udp, []AttributeData{{Path: AttrPath(1, clusterTest, attrFabricList), Data: data}}, nil)
		if err != nil || st[0].Status.Status != dm.StatusSuccess {
			t.Fatal(st, err)
		}
		en.c1.mu.Lock()
		fl := en.c1.fabricList
		en.c1.mu.Unlock()
		if len(fl) != 2 || fl[0] != (fabricEntry{2, 200}) || fl[1] != (fabricEntry{1, 555}) {
			t.Fatalf("fabric list %v", fl)
		}
	})
}

func TestWriteSuppressResponse(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		en := newEnv(t, envOpts{})
		st, err := en.cli.Write(t.Context(), en.udp, []AttributeData{{Path: AttrPath(1, clusterTest, attrCounter), Data: u32(77)}},
			&WriteOptions{SuppressResponse: true})
		if err != nil || st != nil {
			t.Fatal(st, err)
		}
		synctest.Wait()
		if got := en.c1.get(attrCounter); got != 77 {
			t.Fatalf("counter %d", got)
		}
	})
}

// TestWriteFabricScopedOverPASE: a PASE session before AddNOC has no
// fabric, so fabric-scoped attributes and subscriptions are refused.
func TestWriteFabricScopedOverPASE(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		en := newEnv(t, envOpts{})
		pase := en.paseSession(t.Context())
		st, err := en.cli.Write(t.Context(), pase, []AttributeData{{Path: AttrPath(1, clusterTest, attrFabricList), Data: emptyArray}}, nil)
		if err != nil || st[0].Status.Status != dm.StatusUnsupportedAccess {
			t.Fatalf("fabric-scoped write over PASE: %+v, %v", st, err)
		}
		st, err = en.cli.Write(t.Context(), pase, []AttributeData{{Path: AttrPath(1, clusterTest, attrCounter), Data: u32(1)}}, nil)
		if err != nil || st[0].Status.Status != dm.StatusSuccess {
			t.Fatalf("plain write over PASE: %+v, %v", st, err)
		}
		_, err = en.cli.Subscribe(t.Context(), pase, &SubscribeRequest{MaxIntervalCeiling: 10,
			AttributeRequests: []AttributePath{AttrPath(1, clusterTest, attrCounter)}}, nil)
		if statusOf(err) != dm.StatusUnsupportedAccess {
			t.Fatalf("subscription over PASE: %v", err)
		}
	})
}
