package im

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"testing/synctest"

	"github.com/mattercam/mattercam/matter/dm"
	"github.com/mattercam/mattercam/matter/tlv"
	"github.com/mattercam/mattercam/matter/transport"
)

func TestReadConcrete(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		en := newEnv(t, envOpts{acl: func(a *fakeACL) {
			a.byNode[ctrlNodeID] = dm.PrivilegeOperate // Admin attribute needs Administer
			a.set(ctrlNodeID, 2, clusterTest, dm.PrivilegeNone)
		}})
		en.c1.set(attrCounter, 42)
		ctx := t.Context()
		for _, tc := range []struct {
			name string
			path AttributePath
			want dm.Status
		}{
			{"value", AttrPath(1, clusterTest, attrCounter), dm.StatusSuccess},
			{"unknown endpoint", AttrPath(9, clusterTest, attrCounter), dm.StatusUnsupportedEndpoint},
			{"unknown cluster", AttrPath(1, 0x0006, 0), dm.StatusUnsupportedCluster},
			{"unknown attribute", AttrPath(1, clusterTest, 0x77), dm.StatusUnsupportedAttribute},
			{"write-only", AttrPath(1, clusterTest, attrWriteOnly), dm.StatusUnsupportedRead},
			{"privilege", AttrPath(1, clusterTest, attrAdmin), dm.StatusUnsupportedAccess},
			// No access to endpoint 2's cluster: hidden before existence.
			{"no access", AttrPath(2, clusterTest, attrCounter), dm.StatusUnsupportedAccess},
			{"no access unknown attribute", AttrPath(2, clusterTest, 0x77), dm.StatusUnsupportedAccess},
			{"handler failure", AttrPath(1, clusterTest, attrFails), dm.StatusFailure},
			{"too large for UDP", AttrPath(1, clusterTest, attrHuge), dm.StatusResourceExhausted},
			{"wrong node", AttributePath{Endpoint: 1, Cluster: clusterTest, Attribute: attrCounter, Node: 99, HasNode: true}, dm.StatusUnsupportedNode},
			{"right node", AttributePath{Endpoint: 1, Cluster: clusterTest, Attribute: attrCounter, Node: devNodeID, HasNode: true}, dm.StatusSuccess},
			{"global FeatureMap", AttrPath(1, clusterTest, dm.AttrFeatureMap), dm.StatusSuccess},
		} {
			subtest(t, tc.name, func(t *testing.T) {
				rep, err := en.cli.Read(ctx, en.udp, &ReadRequest{AttributeRequests: []AttributePath{tc.path}})
				if err != nil {
					t.Fatal(err)
				}
				if len(rep.Attributes) != 1 {
					t.Fatalf("%d reports", len(rep.Attributes))
				}
				a := rep.Attributes[0]
				got := dm.StatusSuccess
				if a.IsStatus {
					got = a.Status.Status.Status
				}
				if got != tc.want {
					t.Fatalf("status %v, want %v", got, tc.want)
				}
				p := a.Path()
				if p.Endpoint != tc.path.Endpoint || p.Cluster != tc.path.Cluster || p.Attribute != tc.path.Attribute || p.Wildcard != 0 {
					t.Fatalf("path %v, want %v", p, tc.path)
				}
			})
		}
		rep, err := en.cli.Read(ctx, en.udp, &ReadRequest{AttributeRequests: []AttributePath{AttrPath(1, clusterTest, attrCounter)}})
		if err != nil {
			t.Fatal(err)
		}
		a := rep.Attributes[0]
		if v := decodeU32(t, a.Data.Data); v != 42 || !a.Data.HasDataVersion || a.Data.DataVersion != en.c1.DataVersion() {
			t.Fatalf("value %d version %d (has %v), want 42 and %d", v, a.Data.DataVersion, a.Data.HasDataVersion, en.c1.DataVersion())
		}
		var fm uint32
		if err := en.cli.ReadAttribute(ctx, en.udp, AttrPath(1, clusterTest, dm.AttrFeatureMap), false, func(r *tlv.Reader) (err error) {
			fm, err = r.Uint32()
			return err
		}); err != nil || fm != 5 {
			t.Fatalf("FeatureMap %d, %v", fm, err)
		}
	})
}

func TestReadGlobalAttributes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		en := newEnv(t, envOpts{})
		read := func(attr uint32) []uint64 {
			var out []uint64
			err := en.cli.ReadAttribute(t.Context(), en.udp, AttrPath(1, clusterTest, attr), false, func(r *tlv.Reader) error {
				if r.Type() != tlv.TypeArray {
					v, err := r.Uint()
					out = append(out, v)
					return err
				}
				if err := r.Enter(); err != nil {
					return err
				}
				for r.Next() == nil {
					v, err := r.Uint()
					if err != nil {
						return err
					}
					out = append(out, v)
				}
				return r.Exit()
			})
			if err != nil {
				t.Fatalf("attribute %#x: %v", attr, err)
			}
			return out
		}
		if got := read(dm.AttrClusterRevision); !slices.Equal(got, []uint64{3}) {
			t.Errorf("ClusterRevision %v", got)
		}
		if got := read(dm.AttrAcceptedCommandList); !slices.Equal(got, []uint64{0, 2, 3, 4, 5, 6, 7, 8}) {
			t.Errorf("AcceptedCommandList %v", got)
		}
		if got := read(dm.AttrGeneratedCommandList); !slices.Equal(got, []uint64{1}) {
			t.Errorf("GeneratedCommandList %v", got)
		}
		want := []uint64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0xFFF8, 0xFFF9, 0xFFFB, 0xFFFC, 0xFFFD}
		if got := read(dm.AttrAttributeList); !slices.Equal(got, want) {
			t.Errorf("AttributeList %x", got)
		}
	})
}

func TestReadWildcard(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		en := newEnv(t, envOpts{tcp: true, acl: func(a *fakeACL) {
			a.byNode[ctrlNodeID] = dm.PrivilegeOperate
			a.set(ctrlNodeID, 2, clusterTest, dm.PrivilegeNone)
		}})
		tcp := en.caseSession(t.Context(), transport.TCP)
		// Everything over TCP: one message, and Huge fits.
		rep, err := en.cli.Read(t.Context(), tcp, &ReadRequest{AttributeRequests: []AttributePath{{Wildcard: WildAll}}})
		if err != nil {
			t.Fatal(err)
		}
		var got []uint32
		for _, a := range rep.Attributes {
			p := a.Path()
			if a.IsStatus && (p.Attribute != attrFails || a.Status.Status.Status != dm.StatusFailure) {
				t.Fatalf("wildcard read reported a status: %+v", a.Status)
			}
			if p.Endpoint != 1 || p.Cluster != clusterTest {
				t.Fatalf("report for %v: endpoint 2 is not visible, endpoint 0 has no clusters", p)
			}
			got = append(got, p.Attribute)
		}
		// Not Admin (privilege), WriteOnly (not readable), Fails (the
		// handler's FAILURE is reported even in a wildcard read).
		want := []uint32{0, 1, 2, 3, 4, 7, 8, 9, 0xFFF8, 0xFFF9, 0xFFFB, 0xFFFC, 0xFFFD}
		if !slices.Equal(got, want) {
			t.Fatalf("attributes %x, want %x", got, want)
		}

		// Global attribute across every cluster, and flags.
		for _, tc := range []struct {
			name string
			path AttributePath
			want int
		}{
			{"global over wildcard cluster", AttributePath{Endpoint: 1, Attribute: dm.AttrClusterRevision, Wildcard: WildCluster}, 1},
			{"skip globals", AttributePath{Endpoint: 1, Cluster: clusterTest, Wildcard: WildAttribute, WildcardFlags: SkipGlobalAttributes}, 8},
			{"skip attribute list and command lists", AttributePath{Endpoint: 1, Cluster: clusterTest, Wildcard: WildAttribute, WildcardFlags: SkipAttributeList | SkipCommandLists}, 10},
			{"skip changes-omitted", AttributePath{Endpoint: 1, Cluster: clusterTest, Wildcard: WildAttribute, WildcardFlags: SkipChangesOmittedAttributes}, 12},
			{"skip fixed", AttributePath{Endpoint: 1, Cluster: clusterTest, Wildcard: WildAttribute, WildcardFlags: SkipFixedAttributes}, 8},
			{"missing endpoint is no error", AttributePath{Endpoint: 9, Wildcard: WildCluster | WildAttribute}, 0},
		} {
			subtest(t, tc.name, func(t *testing.T) {
				rep, err := en.cli.Read(t.Context(), tcp, &ReadRequest{AttributeRequests: []AttributePath{tc.path}})
				if err != nil {
					t.Fatal(err)
				}
				if len(rep.Attributes) != tc.want {
					t.Fatalf("%d reports, want %d", len(rep.Attributes), tc.want)
				}
			})
		}
	})
}

func TestReadInvalidRequests(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		en := newEnv(t, envOpts{})
		many := make([]AttributePath, DefaultMaxAttributePaths+1)
		for i := range many {
			many[i] = AttrPath(1, clusterTest, attrCounter)
		}
		for _, tc := range []struct {
			name string
			req  ReadRequest
			want dm.Status
		}{
			{"no paths", ReadRequest{}, dm.StatusInvalidAction},
			{"list index", ReadRequest{AttributeRequests: []AttributePath{{Endpoint: 1, Cluster: clusterTest, Attribute: 1, List: ListAppend}}}, dm.StatusInvalidAction},
			{"wildcard cluster with cluster attribute", ReadRequest{AttributeRequests: []AttributePath{{Attribute: 1, Wildcard: WildEndpoint | WildCluster}}}, dm.StatusInvalidAction},
			{"wildcard cluster with concrete event", ReadRequest{EventRequests: []EventPath{{Event: 1, Wildcard: WildEndpoint | WildCluster}}}, dm.StatusInvalidAction},
			{"too many paths", ReadRequest{AttributeRequests: many}, dm.StatusPathsExhausted},
		} {
			subtest(t, tc.name, func(t *testing.T) {
				_, err := en.cli.Read(t.Context(), en.udp, &tc.req)
				if statusOf(err) != tc.want {
					t.Fatalf("error %v, want %v", err, tc.want)
				}
			})
		}
		// A message that does not decode.
		r := en.raw(en.udp)
		r.sendBytes(OpReadRequest, []byte{0x15, 0x18})
		r.status(dm.StatusInvalidAction)
	})
}

func TestReadDataVersionFilter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		en := newEnv(t, envOpts{})
		path := []AttributePath{{Endpoint: 1, Cluster: clusterTest, Attribute: attrCounter}, {Wildcard: WildEndpoint, Cluster: clusterTest, Attribute: attrReadOnly}}
		v := en.c1.DataVersion()
		rep, err := en.cli.Read(t.Context(), en.udp, &ReadRequest{AttributeRequests: path,
			DataVersionFilters: []DataVersionFilter{{Path: ClusterPath{Endpoint: 1, Cluster: clusterTest}, DataVersion: v}}})
		if err != nil {
			t.Fatal(err)
		}
		// Endpoint 1 is filtered for both paths; endpoint 2 is not.
		if len(rep.Attributes) != 1 || rep.Attributes[0].Data.Path.Endpoint != 2 {
			t.Fatalf("reports %+v", rep.Attributes)
		}
		en.c1.set(attrCounter, 1)
		rep, err = en.cli.Read(t.Context(), en.udp, &ReadRequest{AttributeRequests: path[:1],
			DataVersionFilters: []DataVersionFilter{{Path: ClusterPath{Endpoint: 1, Cluster: clusterTest}, DataVersion: v}}})
		if err != nil || len(rep.Attributes) != 1 || rep.Attributes[0].Data.DataVersion != v+1 {
			t.Fatalf("after a change: %+v, %v", rep, err)
		}
	})
}

func TestReadFabricFiltered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		en := newEnv(t, envOpts{})
		values := func(filtered bool) []uint64 {
			var vals []uint64
			err := en.cli.ReadAttribute(t.Context(), en.udp, AttrPath(1, clusterTest, attrFabricList), filtered, func(r *tlv.Reader) error {
				if err := r.Enter(); err != nil {
					return err
				}
				for r.Next() == nil {
					e, err := tlv.Decode(mustRaw(t, r))
					if err != nil {
						return err
					}
					vals = append(vals, e.Members[0].Uint)
				}
				return r.Exit()
			})
			if err != nil {
				t.Fatal(err)
			}
			return vals
		}
		if got := values(false); !slices.Equal(got, []uint64{100, 200, 101}) {
			t.Fatalf("unfiltered %v", got)
		}
		if got := values(true); !slices.Equal(got, []uint64{100, 101}) {
			t.Fatalf("filtered (fabric 1) %v", got)
		}
	})
}

func mustRaw(t testing.TB, r *tlv.Reader) []byte {
	t.Helper()
	b, err := r.Raw()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestReadChunked reads a list far larger than a UDP message: the server
// sends it as a replacement and list-append chunks over several ReportData
// messages, waiting for the StatusResponse between them, and the client
// puts the list back together.
func TestReadChunked(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const items = 100 // 100 × 42 octets: about four UDP messages
		en := newEnv(t, envOpts{listLen: items})
		en.c1.set(attrCounter, 7)
		before := en.srv.Stats().ReportsSent
		rep, err := en.cli.Read(t.Context(), en.udp, &ReadRequest{AttributeRequests: []AttributePath{
			AttrPath(1, clusterTest, attrCounter), AttrPath(1, clusterTest, attrBigList), AttrPath(2, clusterTest, attrCounter)}})
		if err != nil {
			t.Fatal(err)
		}
		if n := en.srv.Stats().ReportsSent - before; n < 4 {
			t.Fatalf("%d ReportData messages, want at least 4", n)
		}
		if len(rep.Attributes) != 3 {
			t.Fatalf("%d reports after reassembly", len(rep.Attributes))
		}
		list := rep.Attribute(1, clusterTest, attrBigList)
		r := tlv.NewReader(list.Data.Data)
		if err := r.Next(); err != nil {
			t.Fatal(err)
		}
		got, err := decodeByteList(r)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != items {
			t.Fatalf("%d items, want %d", len(got), items)
		}
		for i, it := range got {
			if !bytes.Equal(it, bytes.Repeat([]byte{byte(i)}, 40)) {
				t.Fatalf("item %d: %x", i, it)
			}
		}
		if v := decodeU32(t, rep.Attribute(1, clusterTest, attrCounter).Data.Data); v != 7 {
			t.Fatalf("counter %d", v)
		}
	})
}

// TestReadChunkWire checks the chunks themselves: every message within the
// UDP limit, MoreChunkedMessages on all but the last, SuppressResponse on
// the last only, and the list split as the spec describes.
func TestReadChunkWire(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		en := newEnv(t, envOpts{listLen: 60})
		r := en.raw(en.udp)
		r.send(OpReadRequest, &ReadRequest{AttributeRequests: []AttributePath{AttrPath(1, clusterTest, attrBigList)}})
		var appends, items int
		for i := 0; ; i++ {
			msg, err := r.ex.Receive(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if Opcode(msg.Opcode) != OpReportData {
				t.Fatalf("opcode %v", Opcode(msg.Opcode))
			}
			if len(msg.Payload)+messageOverhead > transport.MaxUDPMessageSize {
				t.Fatalf("chunk %d: %d-octet payload", i, len(msg.Payload))
			}
			var rd ReportData
			if err := rd.Unmarshal(msg.Payload); err != nil {
				t.Fatal(err)
			}
			for j, a := range rd.AttributeReports {
				switch {
				case i == 0 && j == 0:
					if a.Data.Path.List != ListWhole {
						t.Fatal("first chunk does not replace the list")
					}
					l, _ := listItems(a.Data.Data)
					items += len(l)
				case a.Data.Path.List == ListAppend:
					appends++
				default:
					t.Fatalf("chunk %d report %d: path %v", i, j, a.Data.Path)
				}
			}
			if !rd.MoreChunkedMessages {
				if !rd.SuppressResponse || i == 0 {
					t.Fatalf("last chunk %d: SuppressResponse %v", i, rd.SuppressResponse)
				}
				break
			}
			if rd.SuppressResponse {
				t.Fatal("SuppressResponse on a chunk that is not the last")
			}
			r.send(OpStatusResponse, &StatusResponse{Status: dm.StatusSuccess})
		}
		if items+appends != 60 || items == 0 {
			t.Fatalf("%d items in the first report and %d appends", items, appends)
		}
	})
}

// TestReadChunkAbort: a client that answers a chunk with something other
// than a StatusResponse gets INVALID_ACTION; one that answers with an error
// status ends the read.
func TestReadChunkAbort(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		en := newEnv(t, envOpts{listLen: 60})
		r := en.raw(en.udp)
		r.send(OpReadRequest, &ReadRequest{AttributeRequests: []AttributePath{AttrPath(1, clusterTest, attrBigList)}})
		var rd ReportData
		r.recv(OpReportData, &rd)
		r.send(OpInvokeRequest, &InvokeRequest{InvokeRequests: []CommandData{{Path: CmdPath(1, clusterTest, cmdNoResponse)}}})
		r.status(dm.StatusInvalidAction)

		r = en.raw(en.udp)
		r.send(OpReadRequest, &ReadRequest{AttributeRequests: []AttributePath{AttrPath(1, clusterTest, attrBigList)}})
		r.recv(OpReportData, &rd)
		r.send(OpStatusResponse, &StatusResponse{Status: dm.StatusFailure})
		synctest.Wait()
		ctx, cancel := context.WithTimeout(t.Context(), 5*1e9)
		defer cancel()
		if m, err := r.ex.Receive(ctx); err == nil {
			t.Fatalf("server went on after a FAILURE status: %v", Opcode(m.Opcode))
		}
	})
}
