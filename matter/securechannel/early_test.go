package securechannel

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mattercam/mattercam/matter/session"
	"github.com/mattercam/mattercam/matter/transport"
)

// TestEarlyMessageOnNewSession: a peer may use a session as soon as its side
// of the handshake is complete, which can be before this side has installed
// it. Over TCP nothing retransmits, so such a message must not be dropped:
//
//   - resumption: the initiator sends its StatusReport and, at once, a
//     request on the resumed session; the responder installs the session
//     only when its handshake goroutine has processed that StatusReport
//     (§4.14.2.2);
//   - full CASE: the responder sends its final StatusReport and, at once, a
//     request; the initiator installs the session only after processing
//     the report (§4.14.2).
//
// The hook holds the installing side until the early request has gone
// through its receive loop, which is the losing interleaving.
func TestEarlyMessageOnNewSession(t *testing.T) {
	for _, tc := range []struct {
		name   string
		resume bool
		stream bool
	}{
		{"resumption/tcp", true, true},
		{"resumption/udp", true, false},
		{"full/tcp", false, true},
		{"full/udp", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				pki := newCasePKI(t)
				devCfg, ctrlCfg := pki.configs()
				devEstablished := make(chan *session.Secure, 4)
				devCfg.OnEstablished = func(s *session.Secure) { devEstablished <- s }
				dev, ctrl := memPair(t, transport.MemConfig{Seed: 61, Stream: tc.stream}, devCfg, ctrlCfg)
				network := transport.UDP
				if tc.stream {
					network = transport.TCP
				}
				peer := transport.PeerAddr{Network: network, Addr: addrDevice}
				ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
				defer cancel()
				if tc.resume {
					// A first, full exchange leaves resumption records.
					if _, err := ctrl.srv.EstablishCASE(ctx, peer, pki.ctrl, devNodeID); err != nil {
						t.Fatal(err)
					}
					<-devEstablished
				}

				// The side that installs last waits until the other side's
				// first message on the new session has been received.
				late := session.Initiator
				if tc.resume {
					late = session.Responder
				}
				testHookEstablish = func(role session.Role) {
					if role != late {
						return
					}
					time.Sleep(100 * time.Millisecond)
					synctest.Wait()
				}
				t.Cleanup(func() { testHookEstablish = nil })

				if tc.resume {
					s, err := ctrl.srv.EstablishCASE(ctx, peer, pki.ctrl, devNodeID)
					if err != nil {
						t.Fatal(err)
					}
					echo(ctx, t, ctrl.mgr, s, []byte("first request on the resumed session"))
					ds := <-devEstablished
					if st := dev.srv.Stats(); st.CASEResumed != 1 {
						t.Fatalf("device stats %+v: not resumed", st)
					}
					echo(ctx, t, dev.mgr, ds, []byte("and back"))
				} else {
					// The device speaks first, right after its final
					// StatusReport.
					done := make(chan error, 1)
					go func() {
						ds := <-devEstablished
						done <- echoErr(ctx, dev.mgr, ds, []byte("first request on the new session"))
					}()
					s, err := ctrl.srv.EstablishCASE(ctx, peer, pki.ctrl, devNodeID)
					if err != nil {
						t.Fatal(err)
					}
					if err := <-done; err != nil {
						t.Fatal(err)
					}
					echo(ctx, t, ctrl.mgr, s, []byte("and back"))
				}
				testHookEstablish = nil
				lateMgr := ctrl.mgr
				if tc.resume {
					lateMgr = dev.mgr
				}
				if st := lateMgr.Stats(); tc.stream && (st.Held != 1 || st.Redelivered != 1 || st.DecodeErrors != 0) {
					t.Fatalf("stats of the side that installed last: %+v, want one message held and redelivered", st)
				}
				if !tc.stream {
					// Held, not dropped: MRP had nothing to retransmit.
					if n := dev.mgr.Stats().Retransmitted + ctrl.mgr.Stats().Retransmitted; n != 0 {
						t.Fatalf("%d retransmissions", n)
					}
				}
				synctest.Wait()
				settle(t, dev, ctrl)
				checkClean(t, dev)
				checkClean(t, ctrl)
			})
		})
	}
}

// echoErr is echo for goroutines other than the test's.
func echoErr(ctx context.Context, m *transport.Manager, s transport.Session, payload []byte) error {
	e, err := m.NewExchange(s, protoEcho)
	if err != nil {
		return err
	}
	defer e.Close()
	if err := e.Send(ctx, 1, payload); err != nil {
		return fmt.Errorf("echo send: %w", err)
	}
	resp, err := e.Receive(ctx)
	if err != nil {
		return fmt.Errorf("echo receive: %w", err)
	}
	if resp.Opcode != 2 || !bytes.Equal(resp.Payload, payload) {
		return fmt.Errorf("echo: opcode %d payload %q", resp.Opcode, resp.Payload)
	}
	return nil
}
