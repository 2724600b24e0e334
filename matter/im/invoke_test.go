package im

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mattercam/mattercam/matter/dm"
	"github.com/mattercam/mattercam/matter/session"
	"github.com/mattercam/mattercam/matter/tlv"
	"github.com/mattercam/mattercam/matter/transport"
)

func decodePingResponse(got *uint32) func(cmd uint32, r *tlv.Reader) error {
	return func(cmd uint32, r *tlv.Reader) error {
		if cmd != cmdPingResp {
			return errors.New("wrong response command")
		}
		if err := r.Enter(); err != nil {
			return err
		}
		for r.Next() == nil {
			if r.Tag() == tlv.ContextTag(0) {
				v, err := r.Uint32()
				*got = v
				return err
			}
		}
		return errors.New("no field 0")
	}
}

func TestInvoke(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		en := newEnv(t, envOpts{acl: func(a *fakeACL) {
			a.byNode[ctrlNodeID] = dm.PrivilegeOperate
			a.set(ctrlNodeID, 2, clusterTest, dm.PrivilegeView)
		}})
		ctx := t.Context()
		var got uint32
		if err := en.cli.Invoke(ctx, en.udp, CmdPath(1, clusterTest, cmdPing), pingFields(41), decodePingResponse(&got), nil); err != nil || got != 42 {
			t.Fatalf("Ping: %d, %v", got, err)
		}
		for _, tc := range []struct {
			name   string
			path   CommandPath
			fields []byte
			want   dm.Status
		}{
			{"status only", CmdPath(1, clusterTest, cmdNoResponse), nil, dm.StatusSuccess},
			{"unknown endpoint", CmdPath(9, clusterTest, cmdPing), nil, dm.StatusUnsupportedEndpoint},
			{"unknown cluster", CmdPath(1, 6, 0), nil, dm.StatusUnsupportedCluster},
			{"unknown command", CmdPath(1, clusterTest, 0x55), nil, dm.StatusUnsupportedCommand},
			{"privilege", CmdPath(1, clusterTest, cmdAdmin), nil, dm.StatusUnsupportedAccess},
			{"view only", CmdPath(2, clusterTest, cmdNoResponse), nil, dm.StatusUnsupportedAccess},
			{"view only, unknown command", CmdPath(2, clusterTest, 0x55), nil, dm.StatusUnsupportedAccess},
			{"needs timed", CmdPath(1, clusterTest, cmdTimed), nil, dm.StatusNeedsTimedInteraction},
			{"large message over UDP", CmdPath(1, clusterTest, cmdLarge), nil, dm.StatusInvalidTransportType},
			{"missing fields", CmdPath(1, clusterTest, cmdPing), nil, dm.StatusInvalidCommand},
			{"fields not a structure", CmdPath(1, clusterTest, cmdPing), u32(1), dm.StatusInvalidCommand},
			{"field of the wrong type", CmdPath(1, clusterTest, cmdPing), []byte{0x15, 0x2C, 0x00, 0x01, 'x', 0x18}, dm.StatusInvalidCommand},
			{"handler failure", CmdPath(1, clusterTest, cmdFail), nil, dm.StatusFailure},
		} {
			subtest(t, tc.name, func(t *testing.T) {
				err := en.cli.Invoke(ctx, en.udp, tc.path, tc.fields, nil, nil)
				if statusOf(err) != tc.want {
					t.Fatalf("error %v, want %v", err, tc.want)
				}
			})
		}
		err := en.cli.Invoke(ctx, en.udp, CmdPath(1, clusterTest, cmdFail), nil, nil, nil)
		var se *dm.StatusError
		if !errors.As(err, &se) || se.ClusterStatus == nil || *se.ClusterStatus != 7 {
			t.Fatalf("cluster status: %v", err)
		}
		en.c1.mu.Lock()
		invoked := len(en.c1.invoked)
		en.c1.mu.Unlock()
		// Ping ×3 (one with bad fields reaches the handler, which
		// refuses it), NoResponse, Fail ×2.
		if invoked != 6 {
			t.Fatalf("%d handler calls", invoked)
		}
	})
}

// TestInvokeLargeMessage: a command with the Large Message quality is
// refused with INVALID_TRANSPORT_TYPE over UDP and runs over TCP, where
// the handler sees LargeMessage (controller.md §2.4).
func TestInvokeLargeMessage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		en := newEnv(t, envOpts{tcp: true})
		ctx := t.Context()
		if err := en.cli.Invoke(ctx, en.udp, CmdPath(1, clusterTest, cmdLarge), nil, nil, nil); statusOf(err) != dm.StatusInvalidTransportType {
			t.Fatalf("over UDP: %v", err)
		}
		tcp := en.caseSession(ctx, transport.TCP)
		if err := en.cli.Invoke(ctx, tcp, CmdPath(1, clusterTest, cmdLarge), nil, nil, nil); err != nil {
			t.Fatalf("over TCP: %v", err)
		}
		en.c1.mu.Lock()
		large := en.c1.lastLarge
		en.c1.mu.Unlock()
		if !large {
			t.Fatal("handler did not see LargeMessage over TCP")
		}
		// A read over TCP carries what UDP cannot.
		rep, err := en.cli.Read(ctx, tcp, &ReadRequest{AttributeRequests: []AttributePath{AttrPath(1, clusterTest, attrHuge)}})
		if err != nil || rep.Attributes[0].IsStatus {
			t.Fatalf("huge attribute over TCP: %+v, %v", rep, err)
		}
		// The fabric-scoped large command over PASE (no fabric):
		// INVALID_TRANSPORT_TYPE first, as PASE runs over UDP here.
		pase := en.paseSession(ctx)
		if err := en.cli.Invoke(ctx, pase, CmdPath(1, clusterTest, cmdFabric), nil, nil, nil); statusOf(err) != dm.StatusUnsupportedAccess {
			t.Fatalf("fabric-scoped command over PASE: %v", err)
		}
	})
}

func TestInvokeTimed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		en := newEnv(t, envOpts{})
		ctx := t.Context()
		if err := en.cli.Invoke(ctx, en.udp, CmdPath(1, clusterTest, cmdTimed), nil, nil, &InvokeOptions{Timed: 500 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
		en.c1.mu.Lock()
		timed := en.c1.lastTimed
		en.c1.mu.Unlock()
		if !timed {
			t.Fatal("handler did not see Timed")
		}
		// Expired.
		r := en.raw(en.udp)
		r.send(OpTimedRequest, &TimedRequest{Timeout: 200})
		r.status(dm.StatusSuccess)
		time.Sleep(201 * time.Millisecond)
		r.send(OpInvokeRequest, &InvokeRequest{TimedRequest: true, InvokeRequests: []CommandData{{Path: CmdPath(1, clusterTest, cmdTimed)}}})
		r.status(dm.StatusTimeout)
		// Just in time.
		r = en.raw(en.udp)
		r.send(OpTimedRequest, &TimedRequest{Timeout: 200})
		r.status(dm.StatusSuccess)
		time.Sleep(199 * time.Millisecond)
		r.send(OpInvokeRequest, &InvokeRequest{TimedRequest: true, InvokeRequests: []CommandData{{Path: CmdPath(1, clusterTest, cmdTimed)}}})
		var ir InvokeResponse
		r.recv(OpInvokeResponse, &ir)
		if len(ir.InvokeResponses) != 1 || !ir.InvokeResponses[0].IsStatus || ir.InvokeResponses[0].Status.Status != dm.StatusSuccess {
			t.Fatalf("response %+v", ir)
		}
		// Flag without a TimedRequest.
		r = en.raw(en.udp)
		r.send(OpInvokeRequest, &InvokeRequest{TimedRequest: true, InvokeRequests: []CommandData{{Path: CmdPath(1, clusterTest, cmdTimed)}}})
		r.status(dm.StatusTimedRequestMismatch)
		// TimedRequest without the flag.
		r = en.raw(en.udp)
		r.send(OpTimedRequest, &TimedRequest{Timeout: 200})
		r.status(dm.StatusSuccess)
		r.send(OpInvokeRequest, &InvokeRequest{InvokeRequests: []CommandData{{Path: CmdPath(1, clusterTest, cmdTimed)}}})
		r.status(dm.StatusTimedRequestMismatch)
		// A TimedRequest followed by nothing: the server gives up after the
		// timeout and its response timeout.
		r = en.raw(en.udp)
		r.send(OpTimedRequest, &TimedRequest{Timeout: 200})
		r.status(dm.StatusSuccess)
		time.Sleep(DefaultResponseTimeout + time.Second)
		synctest.Wait()
		if n := en.dev.mgr.Stats(); n.Rejected != 0 {
			t.Fatalf("stats %+v", n)
		}
		en.c1.mu.Lock()
		n := len(en.c1.invoked)
		en.c1.mu.Unlock()
		if n != 2 {
			t.Fatalf("%d invocations, want 2", n)
		}
	})
}

// TestInvokeBatch: several commands in one request, answered by CommandRef,
// in responses chunked over several InvokeResponse messages when they do
// not fit one.
func TestInvokeBatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		en := newEnv(t, envOpts{devParams: session.Params{MaxPathsPerInvoke: 4}})
		if got := en.udp.PeerParams().MaxPathsPerInvoke; got != 4 {
			t.Fatalf("controller sees MaxPathsPerInvoke %d", got)
		}
		ctx := t.Context()
		cmds := []CommandData{
			{Path: CmdPath(1, clusterTest, cmdBigResponse)},
			{Path: CmdPath(1, clusterTest, cmdPing), Fields: pingFields(1)},
			{Path: CmdPath(2, clusterTest, cmdBigResponse)},
			{Path: CmdPath(1, clusterTest, cmdFail)},
		}
		before := en.ctrl.mgr.Stats().Received
		res, err := en.cli.InvokeBatch(ctx, en.udp, cmds, nil)
		if err != nil {
			t.Fatal(err)
		}
		if n := en.ctrl.mgr.Stats().Received - before; n < 2 {
			t.Fatalf("%d messages: the responses (2 × 600 octets) were not chunked", n)
		}
		for i, r := range res {
			switch i {
			case 0, 2:
				if r.IsStatus || r.Path.Command != cmdPingResp || len(r.Fields) < 600 || r.Path.Endpoint != cmds[i].Path.Endpoint {
					t.Fatalf("result %d: %+v", i, r.Path)
				}
			case 1:
				var v uint32
				rd := tlv.NewReader(r.Fields)
				_ = rd.Next()
				if err := decodePingResponse(&v)(r.Path.Command, rd); err != nil || v != 2 {
					t.Fatalf("result 1: %d, %v", v, err)
				}
			case 3:
				if !r.IsStatus || r.Status.Status != dm.StatusFailure || r.Status.ClusterStatus != 7 {
					t.Fatalf("result 3: %+v", r)
				}
			}
			if !r.HasRef || r.Ref != uint16(i) {
				t.Fatalf("result %d: ref %d (%v)", i, r.Ref, r.HasRef)
			}
		}

		five := append(cmds, CommandData{Path: CmdPath(1, clusterTest, cmdNoResponse)})
		if _, err := en.cli.InvokeBatch(ctx, en.udp, five, nil); !errors.Is(err, ErrTooManyPaths) {
			t.Fatalf("5 commands: %v", err)
		}
		for _, tc := range []struct {
			name string
			cmds []CommandData
		}{
			{"no commands", nil},
			{"too many", []CommandData{{Path: CmdPath(1, clusterTest, 2), HasRef: true, Ref: 1}, {Path: CmdPath(1, clusterTest, 0), HasRef: true, Ref: 2},
				{Path: CmdPath(2, clusterTest, 2), HasRef: true, Ref: 3}, {Path: CmdPath(2, clusterTest, 0), HasRef: true, Ref: 4}, {Path: CmdPath(1, clusterTest, 5), HasRef: true, Ref: 5}}},
			{"missing ref", []CommandData{{Path: CmdPath(1, clusterTest, 2), HasRef: true, Ref: 1}, {Path: CmdPath(2, clusterTest, 2)}}},
			{"duplicate ref", []CommandData{{Path: CmdPath(1, clusterTest, 2), HasRef: true, Ref: 1}, {Path: CmdPath(2, clusterTest, 2), HasRef: true, Ref: 1}}},
			{"duplicate path", []CommandData{{Path: CmdPath(1, clusterTest, 2), HasRef: true, Ref: 1}, {Path: CmdPath(1, clusterTest, 2), HasRef: true, Ref: 2}}},
			{"wildcard endpoint", []CommandData{{Path: CommandPath{Cluster: clusterTest, Command: 2, WildEndpoint: true}}}},
		} {
			subtest(t, tc.name, func(t *testing.T) {
				r := en.raw(en.udp)
				r.send(OpInvokeRequest, &InvokeRequest{InvokeRequests: tc.cmds})
				r.status(dm.StatusInvalidAction)
			})
		}
	})
}

// TestInvokeBatchLimitDefault: with the default MaxPathsPerInvoke of 1 a
// batch is INVALID_ACTION.
func TestInvokeBatchLimitDefault(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		en := newEnv(t, envOpts{})
		r := en.raw(en.udp)
		r.send(OpInvokeRequest, &InvokeRequest{InvokeRequests: []CommandData{
			{Path: CmdPath(1, clusterTest, 2), HasRef: true, Ref: 1}, {Path: CmdPath(2, clusterTest, 2), HasRef: true, Ref: 2}}})
		r.status(dm.StatusInvalidAction)
	})
}

func TestInvokeSuppressResponse(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		en := newEnv(t, envOpts{})
		r := en.raw(en.udp)
		r.send(OpInvokeRequest, &InvokeRequest{SuppressResponse: true, InvokeRequests: []CommandData{{Path: CmdPath(1, clusterTest, cmdPing), Fields: pingFields(1)}}})
		synctest.Wait()
		en.c1.mu.Lock()
		n := len(en.c1.invoked)
		en.c1.mu.Unlock()
		if n != 1 {
			t.Fatalf("%d invocations", n)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		if m, err := r.ex.Receive(ctx); err == nil {
			t.Fatalf("the server answered a response-suppressed invoke with %v", Opcode(m.Opcode))
		}
	})
}
