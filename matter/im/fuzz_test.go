package im

import (
	"bytes"
	"context"
	"log/slog"
	"reflect"
	"testing"

	"github.com/mattercam/mattercam/matter/dm"
)

// fuzzDecoder checks a decoder on arbitrary input: it must not panic, and
// whatever it accepts must encode to a message that decodes to the same
// value and encodes to the same octets again.
func fuzzDecoder[T any, P interface {
	*T
	wireMessage
}](f *testing.F, seeds ...[]byte) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var m T
		if err := P(&m).Unmarshal(b); err != nil {
			return
		}
		enc, err := P(&m).AppendTo(nil)
		if err != nil {
			t.Fatalf("accepted %x but cannot encode it: %v", b, err)
		}
		var again T
		if err := P(&again).Unmarshal(enc); err != nil {
			t.Fatalf("re-encoding %x does not decode: %v", enc, err)
		}
		enc2, err := P(&again).AppendTo(nil)
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding is not stable: %x, %x (%v)", enc, enc2, err)
		}
		var third T
		_ = P(&third).Unmarshal(enc2)
		if !reflect.DeepEqual(again, third) {
			t.Fatalf("round trip changed the message:\n%+v\n%+v", again, third)
		}
	})
}

// seeds returns the matter.js vectors and the round-trip messages.
func seeds(f *testing.F) [][]byte {
	var out [][]byte
	for _, b := range matterJSVectors(f) {
		out = append(out, b)
	}
	for _, m := range roundTripMessages(fieldsU32S(1, "a")) {
		b, err := m.AppendTo(nil)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

func FuzzReadRequest(f *testing.F)      { fuzzDecoder[ReadRequest](f, seeds(f)...) }
func FuzzSubscribeRequest(f *testing.F) { fuzzDecoder[SubscribeRequest](f, seeds(f)...) }
func FuzzWriteRequest(f *testing.F)     { fuzzDecoder[WriteRequest](f, seeds(f)...) }
func FuzzInvokeRequest(f *testing.F)    { fuzzDecoder[InvokeRequest](f, seeds(f)...) }
func FuzzTimedRequest(f *testing.F)     { fuzzDecoder[TimedRequest](f, seeds(f)...) }
func FuzzStatusResponse(f *testing.F)   { fuzzDecoder[StatusResponse](f, seeds(f)...) }
func FuzzReportData(f *testing.F)       { fuzzDecoder[ReportData](f, seeds(f)...) }

// FuzzEngine runs decoded Read, Write and Invoke requests through the
// engine's path handling against the test data model, without a network:
// whatever the paths, it must not panic, and a report must never exceed
// its message size.
func FuzzEngine(f *testing.F) {
	for _, s := range seeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		node := dm.NewNode()
		ep1 := dm.NewEndpoint(1)
		c := newTestCluster(node, 1, 30)
		ep1.Add(c)
		_ = node.AddEndpoint(ep1)
		_ = node.AddEndpoint(dm.NewEndpoint(0))
		events, _ := dm.NewEvents(dm.EventsConfig{})
		_, _ = events.Emit(1, clusterTest, evInfo, dm.PriorityInfo, 0, nil)
		acl := newACL(dm.PrivilegeOperate)
		s := &Server{cfg: Config{Node: node, Access: acl, Events: events, MaxAttributePaths: 32, MaxEventPaths: 32,
			MaxPathsPerInvoke: 4, MaxDataVersionFilters: 8}, node: node, log: slog.New(slog.DiscardHandler)}
		subj := dm.Subject{AuthMode: dm.AuthCASE, FabricIndex: 1, NodeID: ctrlNodeID}
		req := dm.Request{Ctx: context.Background(), Subject: subj}

		var rr ReadRequest
		if rr.Unmarshal(b) == nil && s.checkPaths(rr.AttributeRequests, rr.EventRequests) == nil {
			rd := &reader{s: s, req: req, dvf: rr.DataVersionFilters, eventStatuses: true}
			rb := &reportBuilder{limit: 300}
			rb.emit = func(more bool) error {
				msg, err := rb.encode(more, !more)
				if err != nil || len(msg) > rb.limit {
					t.Fatalf("report of %d octets, limit %d: %v", len(msg), rb.limit, err)
				}
				return nil
			}
			rd.b = rb
			_ = rd.run(rr.AttributeRequests, rr.EventRequests, eventMin(rr.EventFilters, 0), events.Next())
			_ = rb.emit(false)
		}
		var wr WriteRequest
		if wr.Unmarshal(b) == nil {
			w := &writer{s: s, req: req}
			for i := range wr.WriteRequests {
				_, _ = w.one(&wr.WriteRequests[i])
			}
		}
		var ir InvokeRequest
		if ir.Unmarshal(b) == nil && s.checkInvokePaths(ir.InvokeRequests) == nil {
			for i := range ir.InvokeRequests {
				s.invokeOne(req, &ir.InvokeRequests[i])
			}
		}
	})
}
