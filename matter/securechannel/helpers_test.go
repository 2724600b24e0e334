package securechannel

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/mattercam/mattercam/matter/crypto"
	"github.com/mattercam/mattercam/matter/message"
	"github.com/mattercam/mattercam/matter/session"
	"github.com/mattercam/mattercam/matter/transport"
)

// protoEcho is a test protocol: the peer answers every message with the
// same payload and the opcode plus one.
const protoEcho message.ProtocolID = 0x0004

const testPasscode = 20202021

var (
	testSalt       = []byte("SPAKE2P Key Salt")
	testIterations = 1000
)

// testVerifier returns the verifier of a passcode under testSalt.
func testVerifier(t testing.TB, passcode uint32) *crypto.PasscodeVerifier {
	t.Helper()
	v, err := crypto.ComputePasscodeVerifier(passcode, testSalt, testIterations)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func testWindow(t testing.TB) PASEWindow {
	return PASEWindow{Verifier: testVerifier(t, testPasscode), Salt: testSalt, Iterations: testIterations}
}

// testNode is one node: a session table, an exchange manager over its
// transports, and a secure-channel Server.
type testNode struct {
	table *session.Table
	mgr   *transport.Manager
	srv   *Server
}

func newTestNode(t testing.TB, cfg Config, seed uint64, trs ...transport.Transport) *testNode {
	t.Helper()
	n := &testNode{}
	var err error
	n.table, err = session.NewTable(session.Config{
		NewAEAD: crypto.NewCCM,
		OnRemove: func(s *session.Secure, _ session.RemoveReason) {
			if n.mgr != nil {
				n.mgr.CloseSession(s)
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	n.mgr, err = transport.NewManager(transport.ManagerConfig{
		Transports: trs,
		Sessions:   n.table,
		Rand:       rand.New(rand.NewPCG(seed, 0x5ec)),
	})
	if err != nil {
		t.Fatal(err)
	}
	n.mgr.Handle(protoEcho, func(ctx context.Context, e *transport.Exchange, first transport.Message) {
		_ = e.Send(ctx, first.Opcode+1, first.Payload)
	})
	cfg.Manager, cfg.Sessions = n.mgr, n.table
	n.srv, err = NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		n.srv.Close()
		n.mgr.Close()
	})
	return n
}

// echo sends payload on s and checks it comes back.
func echo(ctx context.Context, t testing.TB, m *transport.Manager, s transport.Session, payload []byte) {
	t.Helper()
	e, err := m.NewExchange(s, protoEcho)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if err := e.Send(ctx, 1, payload); err != nil {
		t.Fatalf("echo send: %v", err)
	}
	resp, err := e.Receive(ctx)
	if err != nil {
		t.Fatalf("echo receive: %v", err)
	}
	if resp.Opcode != 2 || !bytes.Equal(resp.Payload, payload) {
		t.Fatalf("echo: opcode %d payload %q", resp.Opcode, resp.Payload)
	}
}

// peerSession waits until n's table holds the session whose peer session
// ID is peerID: the responder establishes it just before the initiator
// learns of it.
func peerSession(t testing.TB, n *testNode, peerID uint16) *session.Secure {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, s := range n.table.Sessions() {
			if s.PeerSessionID() == peerID {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no session with peer session ID %#04x", peerID)
		}
		time.Sleep(time.Millisecond)
	}
}

// waitStats waits until the server's stats satisfy ok: the responder counts
// a handshake once the initiator has acknowledged its last message.
func waitStats(t testing.TB, s *Server, ok func(Stats) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok(s.Stats()) {
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v", s.Stats())
		}
		time.Sleep(time.Millisecond)
	}
}

// checkClean checks that n holds no handshake state: no Unsecured
// contexts, and every Session ID reservation given back (all of MaxPending
// can be reserved again).
func checkClean(t testing.TB, n *testNode) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for n.table.UnsecuredLen() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d unsecured contexts left", n.table.UnsecuredLen())
		}
		time.Sleep(time.Millisecond)
	}
	_, _, _, maxPending := n.table.Limits()
	var rs []*session.Reservation
	defer func() {
		for _, r := range rs {
			r.Release()
		}
	}()
	for i := range maxPending {
		r, err := n.table.Reserve()
		if err != nil {
			t.Fatalf("reservation %d of %d: %v (a handshake leaked one)", i+1, maxPending, err)
		}
		rs = append(rs, r)
	}
}

// settle lets late duplicates and retransmissions die out, then drops the
// Unsecured contexts they may have created, as a node's housekeeping would:
// on a network that duplicates, a copy of a handshake's last
// acknowledgement can arrive after both sides have closed their contexts,
// and the session table makes a new one for it.
func settle(t testing.TB, nodes ...*testNode) {
	t.Helper()
	time.Sleep(time.Minute)
	for _, n := range nodes {
		n.table.ExpireUnsecured(30 * time.Second)
	}
}

// memNet builds a MemNetwork with two addresses.
var (
	addrDevice = netip.MustParseAddrPort("[fd00::d]:5540")
	addrCtrl   = netip.MustParseAddrPort("[fd00::c]:5540")
)

func udpPeer(a netip.AddrPort) transport.PeerAddr {
	return transport.PeerAddr{Network: transport.UDP, Addr: a}
}

// memPair returns two nodes on one in-memory network: a device and a
// controller.
func memPair(t testing.TB, mc transport.MemConfig, devCfg, ctrlCfg Config) (dev, ctrl *testNode) {
	t.Helper()
	mn := transport.NewMemNetwork(mc)
	td, err := mn.Listen(addrDevice)
	if err != nil {
		t.Fatal(err)
	}
	tc, err := mn.Listen(addrCtrl)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { td.Close(); tc.Close() })
	dev = newTestNode(t, devCfg, mc.Seed+1, td)
	ctrl = newTestNode(t, ctrlCfg, mc.Seed+2, tc)
	return dev, ctrl
}

// lossy is the in-memory network the tests call lossy: 20 % loss,
// duplication and reordering, with some latency.
var lossy = transport.Conditions{
	Loss: 0.2, Duplicate: 0.2, Reorder: 0.2,
	Delay: 5 * time.Millisecond, Jitter: 10 * time.Millisecond,
}

// scripted is a conn that replays messages and records what is sent, for
// driving a responder without a network.
type scripted struct {
	in   []transport.Message
	sent []sentMsg
}

type sentMsg struct {
	op      Opcode
	payload []byte
}

func (s *scripted) Send(_ context.Context, op uint8, payload []byte) error {
	s.sent = append(s.sent, sentMsg{Opcode(op), append([]byte(nil), payload...)})
	return nil
}

func (s *scripted) Receive(ctx context.Context) (transport.Message, error) {
	if len(s.in) == 0 {
		return transport.Message{}, context.DeadlineExceeded
	}
	m := s.in[0]
	s.in = s.in[1:]
	return m, nil
}

func scMsg(op Opcode, payload []byte) transport.Message {
	return transport.Message{ProtocolID: message.ProtocolSecureChannel, Opcode: uint8(op), Payload: payload}
}

func mustErrIs(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error %v, want %v", err, target)
	}
}

func transportMem(seed uint64) transport.MemConfig { return transport.MemConfig{Seed: seed} }
