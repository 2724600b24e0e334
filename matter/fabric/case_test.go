package fabric

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/mattercam/mattercam/matter/crypto"
	"github.com/mattercam/mattercam/matter/securechannel"
	"github.com/mattercam/mattercam/matter/session"
	"github.com/mattercam/mattercam/matter/transport"
)

// scNode is a session table and exchange manager on one in-memory transport.
type scNode struct {
	sessions *session.Table
	mgr      *transport.Manager
}

func newSCNode(t *testing.T, tr transport.Transport) *scNode {
	t.Helper()
	n := &scNode{}
	var err error
	n.sessions, err = session.NewTable(session.Config{
		NewAEAD:  crypto.NewCCM,
		OnRemove: func(s *session.Secure, _ session.RemoveReason) { n.mgr.CloseSession(s) },
	})
	if err != nil {
		t.Fatal(err)
	}
	n.mgr, err = transport.NewManager(transport.ManagerConfig{Transports: []transport.Transport{tr}, Sessions: n.sessions})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.mgr.Close(); tr.Close() })
	return n
}

// TestCASEDuringFailSafe runs real CASE handshakes against the table: the
// administrator reaches the fabric AddNOC added before CommissioningComplete
// (§11.18.6.8 step 6, "becomes reachable over CASE under the new operational
// identity"), and no longer once the fail-safe expired.
func TestCASEDuringFailSafe(t *testing.T) {
	network := transport.NewMemNetwork(transport.MemConfig{})
	devAddr := netip.MustParseAddrPort("[fd00::1]:5540")
	td, err := network.Listen(devAddr)
	if err != nil {
		t.Fatal(err)
	}
	tc, err := network.Listen(netip.MustParseAddrPort("[fd00::2]:5540"))
	if err != nil {
		t.Fatal(err)
	}
	dev, ctl := newSCNode(t, td), newSCNode(t, tc)

	e := newEnv(t, Config{})
	resumptions := securechannel.NewResumptionStore(0)
	srv, err := securechannel.NewServer(securechannel.Config{
		Manager: dev.mgr, Sessions: dev.sessions, Fabrics: e.tb, Resumptions: resumptions,
		HandshakeTimeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })

	// The administrator's own identity on the new fabric.
	ca := newCA(t, 0xFAB, true)
	adminKey := mustKey(t)
	adminNOC, adminICAC := ca.noc(t, &adminKey.PublicKey, adminNode)
	cfid, _ := crypto.CompressedFabricID(ca.pub, ca.fabricID)
	ipk, _ := crypto.DeriveOperationalGroupKey(ipkEpoch, cfid)
	admin := securechannel.Fabric{
		Index: 1, FabricID: ca.fabricID, NodeID: adminNode, RootPublicKey: ca.pub,
		RCAC: ca.rcacTLV, ICAC: adminICAC, NOC: adminNOC, Key: adminKey, IPK: ipk,
	}
	const deviceNode = 0x0000_0000_0000_0D0D
	peer := transport.PeerAddr{Network: transport.UDP, Addr: devAddr}
	caseTo := func() (*session.Secure, error) {
		// A fresh client each time, so that no resumption record helps.
		c, err := securechannel.NewClient(securechannel.Config{
			Manager: ctl.mgr, Sessions: ctl.sessions, HandshakeTimeout: 5 * time.Second, BusyRetries: -1,
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return c.EstablishCASE(ctx, peer, admin, deviceNode)
	}

	if _, err := caseTo(); err == nil {
		t.Fatal("CASE succeeded before the node joined the fabric")
	}
	idx := stageAdd(t, e.tb, ca, deviceNode)
	s, err := caseTo()
	if err != nil {
		t.Fatalf("CASE to the fabric staged by AddNOC: %v", err)
	}
	if s.PeerNodeID() != deviceNode {
		t.Fatalf("peer node %#x", s.PeerNodeID())
	}

	// Fail-safe expiry: the fabric goes, and with it its sessions and
	// resumption records (the caller's part of §11.10.7.2.2).
	r := e.tb.Revert()
	if r.Added != idx {
		t.Fatalf("Revert = %+v", r)
	}
	dev.sessions.RemoveFabric(r.Added)
	resumptions.RemoveFabric(r.Added)
	if _, err := caseTo(); err == nil {
		t.Fatal("CASE succeeded after the fail-safe expired")
	}

	// Committed, it is reachable again after a restart of the table.
	stageAdd(t, e.tb, ca, deviceNode)
	if err := e.tb.Commit(); err != nil {
		t.Fatal(err)
	}
	e.open(t)
	srv.Close()
	srv, err = securechannel.NewServer(securechannel.Config{
		Manager: dev.mgr, Sessions: dev.sessions, Fabrics: e.tb, HandshakeTimeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := caseTo(); err != nil {
		t.Fatalf("CASE to the committed fabric after a restart: %v", err)
	}
}
