package rootnode

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/mattercam/mattercam/matter/clusters/administratorcommissioning"
	"github.com/mattercam/mattercam/matter/clusters/generalcommissioning"
	"github.com/mattercam/mattercam/matter/clusters/internal/servetest"
	"github.com/mattercam/mattercam/matter/crypto"
	"github.com/mattercam/mattercam/matter/dm"
	"github.com/mattercam/mattercam/matter/securechannel"
	"github.com/mattercam/mattercam/matter/session"
	"github.com/mattercam/mattercam/matter/transport"
)

// peer is a node on the in-memory network: sessions, exchanges and the
// secure channel.
type peer struct {
	table *session.Table
	sc    *securechannel.Server
}

func newPeer(t *testing.T, network *transport.MemNetwork, addr netip.AddrPort, fabrics securechannel.Fabrics) *peer {
	t.Helper()
	tr, err := network.Listen(addr)
	if err != nil {
		t.Fatal(err)
	}
	var mgr *transport.Manager
	table, err := session.NewTable(session.Config{
		NewAEAD:  crypto.NewCCM,
		OnRemove: func(s *session.Secure, _ session.RemoveReason) { mgr.CloseSession(s) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if mgr, err = transport.NewManager(transport.ManagerConfig{Transports: []transport.Transport{tr}, Sessions: table}); err != nil {
		t.Fatal(err)
	}
	sc, err := securechannel.NewServer(securechannel.Config{Manager: mgr, Sessions: table, Fabrics: fabrics})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sc.Close(); mgr.Close(); tr.Close() })
	return &peer{table: table, sc: sc}
}

// responder returns the device-side session of the given kind.
func (p *peer) responder(t *testing.T, auth session.AuthMode) *session.Secure {
	t.Helper()
	for _, s := range p.table.Sessions() {
		if s.AuthMode() == auth && s.Role() == session.Responder {
			return s
		}
	}
	t.Fatalf("no %v responder session", auth)
	return nil
}

// request is what the Interaction Model hands a handler for an action on s.
func request(s *session.Secure) *dm.Request {
	return &dm.Request{
		Subject: dm.Subject{AuthMode: dm.AuthMode(s.AuthMode()), FabricIndex: s.FabricIndex(), NodeID: s.PeerNodeID()},
		// The IM must pass these two (see the dm.Request documentation).
		AttestationChallenge: s.AttestationChallenge(),
		Session:              s,
	}
}

// paseWindow is the commissioning window over the secure channel server,
// as the node would implement it (DNS-SD left out).
type paseWindow struct {
	sc *securechannel.Server
}

func (w *paseWindow) OpenEnhanced(p administratorcommissioning.WindowParams) error {
	return w.sc.OpenPASEWindow(securechannel.PASEWindow{Verifier: p.Verifier, Salt: p.Salt, Iterations: p.Iterations})
}
func (w *paseWindow) Close() { w.sc.ClosePASEWindow() }
func (w *paseWindow) IsOpen() bool {
	open, _ := w.sc.PASEWindowStatus()
	return open
}

// TestCommissioningOverSessions commissions the root node over a real PASE
// session, then completes over a real CASE session to the operational
// identity AddNOC installed: the NOC, its key, and the IPK work together.
func TestCommissioningOverSessions(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	network := transport.NewMemNetwork(transport.MemConfig{})
	devAddr := netip.MustParseAddrPort("[fd00::1]:5540")

	h := &harness{t: t, node: dm.NewNode(), factory: development(t)}
	var err error
	if h.events, err = dm.NewEvents(dm.EventsConfig{}); err != nil {
		t.Fatal(err)
	}
	// The device's secure channel serves the root node's fabric table; the
	// table is opened by New, so hand the server a view that reads it late.
	var n *RootNode
	dev := newPeer(t, network, devAddr, fabricsFunc(func() []securechannel.Fabric {
		if n == nil {
			return nil
		}
		return n.Fabrics().Fabrics()
	}))
	win := &paseWindow{sc: dev.sc}
	n, err = New(Config{Node: h.node, Events: h.events, Store: servetest.Store(t), Factory: h.factory, Window: win,
		Interface: "eth0", Callbacks: Callbacks{ClosePASE: func() {
			for _, s := range dev.table.Sessions() {
				if s.AuthMode() == session.AuthPASE {
					s.Close()
				}
			}
		}}})
	if err != nil {
		t.Fatal(err)
	}
	h.n = n

	// The initial window, with the factory verifier.
	v, err := h.factory.PasscodeVerifier()
	if err != nil {
		t.Fatal(err)
	}
	if err := dev.sc.OpenPASEWindow(securechannel.PASEWindow{Verifier: v, Salt: h.factory.Salt, Iterations: h.factory.Iterations}); err != nil {
		t.Fatal(err)
	}
	ctl := newPeer(t, network, netip.MustParseAddrPort("[fd00::2]:5540"), nil)
	peerAddr := transport.PeerAddr{Network: transport.UDP, Addr: devAddr}
	cs, err := ctl.sc.EstablishPASE(ctx, peerAddr, h.factory.Passcode)
	if err != nil {
		t.Fatalf("PASE: %v", err)
	}
	devPASE := dev.responder(t, session.AuthPASE)

	ca := servetest.NewCA(t, fabricID, false)
	idx := h.commissionOver(request(devPASE), cs.AttestationChallenge(), ca)
	if devPASE.FabricIndex() != idx {
		t.Fatalf("device PASE session on fabric %d, want %d", devPASE.FabricIndex(), idx)
	}

	// The controller's own identity on the fabric, as its CA issues it.
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	cfid, _ := crypto.CompressedFabricID(ca.RootPub, fabricID)
	ipk, _ := crypto.DeriveOperationalGroupKey(servetest.IPK, cfid)
	controller := securechannel.Fabric{Index: 1, FabricID: fabricID, NodeID: controllerNode, RootPublicKey: ca.RootPub,
		RCAC: ca.RCAC, NOC: ca.NOCFor(t, &key.PublicKey, controllerNode), Key: key, IPK: ipk}

	// Step 8: CASE to the new operational identity, then completion.
	if _, err := ctl.sc.EstablishCASE(ctx, peerAddr, controller, deviceNode); err != nil {
		t.Fatalf("CASE to the commissioned node: %v", err)
	}
	devCASE := dev.responder(t, session.AuthCASE)
	if devCASE.FabricIndex() != idx || devCASE.PeerNodeID() != controllerNode {
		t.Fatalf("device CASE session: fabric %d, peer %#x", devCASE.FabricIndex(), devCASE.PeerNodeID())
	}
	var done generalcommissioning.CommissioningCompleteResponse
	servetest.Call(t, h.cluster(0, generalcommissioning.ID), request(devCASE), generalcommissioning.CmdCommissioningComplete, nil,
		generalcommissioning.CmdCommissioningCompleteResponse, &done)
	if done.ErrorCode != generalcommissioning.CommissioningErrorOK {
		t.Fatalf("CommissioningComplete: %v", done.ErrorCode)
	}
	if win.IsOpen() {
		t.Error("commissioning window still open")
	}
	if !devPASE.Closed() {
		t.Error("PASE session still open after CommissioningComplete")
	}
	if !n.Check(request(devCASE).Subject, 0, generalcommissioning.ID, dm.PrivilegeAdminister) {
		t.Error("the controller lacks Administer over CASE")
	}
}

// fabricsFunc adapts a function to securechannel.Fabrics.
type fabricsFunc func() []securechannel.Fabric

func (f fabricsFunc) Fabrics() []securechannel.Fabric { return f() }
