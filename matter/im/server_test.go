package im

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mattercam/mattercam/matter/dm"
	"github.com/mattercam/mattercam/matter/session"
	"github.com/mattercam/mattercam/matter/transport"
)

// TestUnsecuredRefused: an IM request on the Unsecured Session gets no
// answer and reaches no handler.
func TestUnsecuredRefused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		en := newEnv(t, envOpts{})
		id, err := session.RandomEphemeralNodeID(nil)
		if err != nil {
			t.Fatal(err)
		}
		u := en.ctrl.table.Unsecured(transport.PeerAddr{Network: transport.UDP, Addr: addrDev}, id, session.Initiator)
		ex, err := en.ctrl.mgr.NewExchange(u, Protocol)
		if err != nil {
			t.Fatal(err)
		}
		defer ex.Close()
		b, _ := (&ReadRequest{AttributeRequests: []AttributePath{AttrPath(1, clusterTest, attrCounter)}}).AppendTo(nil)
		if err := ex.Send(t.Context(), uint8(OpReadRequest), b); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		if m, err := ex.Receive(ctx); err == nil {
			t.Fatalf("answered on the Unsecured Session: %v", Opcode(m.Opcode))
		}
		if st := en.srv.Stats(); st.Reads != 0 {
			t.Fatalf("stats %+v", st)
		}
	})
}

// TestUnexpectedOpcodes: messages that cannot start a transaction.
func TestUnexpectedOpcodes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		en := newEnv(t, envOpts{})
		for _, tc := range []struct {
			op   Opcode
			m    wireMessage
			want dm.Status
		}{
			{OpWriteResponse, &WriteResponse{}, dm.StatusInvalidAction},
			{OpInvokeResponse, &InvokeResponse{}, dm.StatusInvalidAction},
			{OpSubscribeResponse, &SubscribeResponse{}, dm.StatusInvalidAction},
			// No client on the device: nobody holds that subscription.
			{OpReportData, &ReportData{SubscriptionID: 1, HasSubscriptionID: true}, dm.StatusInvalidSubscription},
			{0x33, &StatusResponse{}, dm.StatusInvalidAction},
		} {
			r := en.raw(en.udp)
			r.send(tc.op, tc.m)
			r.status(tc.want)
		}
		// An unsolicited StatusResponse is dropped, not answered.
		r := en.raw(en.udp)
		r.send(OpStatusResponse, &StatusResponse{Status: dm.StatusFailure})
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		if m, err := r.ex.Receive(ctx); err == nil {
			t.Fatalf("answered a StatusResponse with %v", Opcode(m.Opcode))
		}
	})
}

// TestLossyNetwork runs a chunked read, a chunked write and a subscription
// over a network that loses, duplicates and reorders a fifth of the
// messages: MRP recovers, and the results are exact.
func TestLossyNetwork(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		en := newEnv(t, envOpts{listLen: 50, cond: transport.Conditions{Loss: 0.2, Duplicate: 0.2, Reorder: 0.2,
			Delay: 5 * time.Millisecond, Jitter: 10 * time.Millisecond}})
		ctx := t.Context()
		rep, err := en.cli.Read(ctx, en.udp, &ReadRequest{AttributeRequests: []AttributePath{AttrPath(1, clusterTest, attrBigList)}})
		if err != nil {
			t.Fatal(err)
		}
		if items, _ := listItems(rep.Attributes[0].Data.Data); len(items) != 50 {
			t.Fatalf("%d items", len(items))
		}
		st, err := en.cli.Write(ctx, en.udp, []AttributeData{{Path: AttrPath(1, clusterTest, attrBigList), Data: rep.Attributes[0].Data.Data}}, nil)
		if err != nil || len(st) != 51 {
			t.Fatalf("%d statuses, %v", len(st), err)
		}
		var rec recorder
		sub, err := en.cli.Subscribe(ctx, en.udp, &SubscribeRequest{MaxIntervalCeiling: 10,
			AttributeRequests: []AttributePath{AttrPath(1, clusterTest, attrCounter)}}, rec.add)
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		for i := range 5 {
			en.c1.set(attrCounter, uint32(i+1))
			time.Sleep(time.Second)
		}
		time.Sleep(5 * time.Second)
		synctest.Wait()
		last, _ := rec.get(rec.len() - 1)
		if a := last.Attribute(1, clusterTest, attrCounter); rec.len() < 3 || a == nil && !last.Empty() {
			t.Fatalf("%d reports", rec.len())
		}
		// The latest value reached the subscriber.
		var latest uint32
		for i := range rec.len() {
			r, _ := rec.get(i)
			if a := r.Attribute(1, clusterTest, attrCounter); a != nil {
				latest = decodeU32(t, a.Data.Data)
			}
		}
		if latest != 5 || sub.Err() != nil {
			t.Fatalf("latest %d, err %v", latest, sub.Err())
		}
		if en.dev.mgr.Stats().Retransmitted+en.ctrl.mgr.Stats().Retransmitted == 0 {
			t.Fatal("nothing was retransmitted")
		}
	})
}

// TestServerClose ends subscriptions and stops serving.
func TestServerClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		en := newEnv(t, envOpts{})
		if _, err := en.cli.Subscribe(t.Context(), en.udp, &SubscribeRequest{MaxIntervalCeiling: 10,
			AttributeRequests: []AttributePath{AttrPath(1, clusterTest, attrCounter)}}, nil); err != nil {
			t.Fatal(err)
		}
		en.srv.Close()
		if n := len(en.srv.Subscriptions()); n != 0 {
			t.Fatalf("%d subscriptions after Close", n)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		if _, err := en.cli.Read(ctx, en.udp, &ReadRequest{AttributeRequests: []AttributePath{AttrPath(1, clusterTest, attrCounter)}}); err == nil {
			t.Fatal("a closed server answered")
		}
		en.c1.set(attrCounter, 1) // observers of a closed server do nothing
	})
}

func TestNewServerConfig(t *testing.T) {
	if _, err := NewServer(Config{}); err == nil {
		t.Fatal("empty config accepted")
	}
	if _, err := NewClient(ClientConfig{}); err == nil {
		t.Fatal("empty client config accepted")
	}
}
