package im

import (
	"context"
	"testing"

	"github.com/mattercam/mattercam/matter/dm"
)

// benchExchanges is the device's per-session exchange limit in the
// benchmarks. On the zero-latency in-memory network the client opens its
// next exchange before the server's handler goroutine, woken by the last
// acknowledgement, has been scheduled to close the previous one; with the
// default limit of 16 the limit is reached now and then, and the MRP
// retransmission that follows (about 400 ms) dominates the average. A
// small link delay would avoid it but measure the runtime's timer
// granularity (about 1 ms) instead.
const benchExchanges = 256

// BenchmarkRead50Attributes reads 50 small attributes over a CASE session
// on the in-memory UDP network: request, one or two ReportData messages
// (with the StatusResponse between them), decoding on the client.
func BenchmarkRead50Attributes(b *testing.B) {
	en := newEnv(b, envOpts{maxExchanges: benchExchanges, srv: func(c *Config) { c.MaxAttributePaths = 64 }})
	attrs := []uint32{attrCounter, attrTimed, attrReadOnly, attrAdmin, attrQuiet,
		dm.AttrFeatureMap, dm.AttrClusterRevision, dm.AttrAcceptedCommandList, dm.AttrGeneratedCommandList, attrFabricList}
	var paths []AttributePath
	for i := range 50 {
		paths = append(paths, AttrPath(uint16(1+i%2), clusterTest, attrs[i%len(attrs)]))
	}
	req := &ReadRequest{AttributeRequests: paths, FabricFiltered: true}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		rep, err := en.cli.Read(ctx, en.udp, req)
		if err != nil {
			b.Fatal(err)
		}
		if len(rep.Attributes) != 50 {
			b.Fatalf("%d reports", len(rep.Attributes))
		}
	}
}

// BenchmarkInvoke is one command with a response command, round trip.
func BenchmarkInvoke(b *testing.B) {
	en := newEnv(b, envOpts{maxExchanges: benchExchanges})
	ctx := context.Background()
	fields := pingFields(1)
	var got uint32
	decode := decodePingResponse(&got)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := en.cli.Invoke(ctx, en.udp, CmdPath(1, clusterTest, cmdPing), fields, decode, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReportEncode measures the server side alone: expanding a
// wildcard path and encoding the reports, with no network.
func BenchmarkReportEncode(b *testing.B) {
	node := dm.NewNode()
	for ep := uint16(1); ep <= 4; ep++ {
		e := dm.NewEndpoint(ep)
		e.Add(newTestCluster(node, ep, 4))
		_ = node.AddEndpoint(e)
	}
	s := &Server{cfg: Config{Node: node, Access: newACL(dm.PrivilegeAdminister)}, node: node, log: discardLogger()}
	req := dm.Request{Ctx: context.Background(), Subject: dm.Subject{AuthMode: dm.AuthCASE, FabricIndex: 1}}
	paths := []AttributePath{{Wildcard: WildEndpoint | WildAttribute, Cluster: clusterTest}}
	rd := &reader{s: s, req: req}
	rb := &reportBuilder{limit: 1200}
	rb.emit = func(more bool) error {
		_, err := rb.encode(more, !more)
		return err
	}
	rd.b = rb
	b.ReportAllocs()
	for b.Loop() {
		rb.reset()
		if err := rd.run(paths, nil, 0, 0); err != nil {
			b.Fatal(err)
		}
		if err := rb.emit(false); err != nil {
			b.Fatal(err)
		}
	}
}
