package device

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mattercam/mattercam/matter/attestation"
	"github.com/mattercam/mattercam/matter/session"
	"github.com/mattercam/mattercam/matter/transport"
)

// The dialer end to end, with matter.js as the peer, is in
// test/e2e/dial_test.go. These tests cover its bookkeeping on a device with
// no fabric.

func newTestDevice(t *testing.T) *Device {
	t.Helper()
	fd, err := attestation.Development()
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(Config{StateDir: t.TempDir(), Port: -1, Factory: fd, DisableMDNS: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// caseSession installs a CASE session with node on fabric, as a completed
// handshake would.
func caseSession(t *testing.T, d *Device, fabric uint8, node uint64, peer transport.PeerAddr, params session.Params) *session.Secure {
	t.Helper()
	r, err := d.table.Reserve()
	if err != nil {
		t.Fatal(err)
	}
	key := bytes.Repeat([]byte{7}, 16)
	s, err := r.Establish(session.SecureConfig{
		PeerSessionID: 1, Role: session.Responder, AuthMode: session.AuthCASE,
		FabricIndex: fabric, LocalNodeID: 0x1001, PeerNodeID: node,
		Keys:       session.Keys{I2R: key, R2I: key, AttestationChallenge: key},
		PeerParams: params, Peer: peer,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func udpPeer(s string) transport.PeerAddr {
	return transport.PeerAddr{Network: transport.UDP, Addr: netip.MustParseAddrPort(s)}
}

func TestPeerReusesOpenSession(t *testing.T) {
	d := newTestDevice(t)
	ctx := t.Context()
	old := caseSession(t, d, 1, 0xC0, udpPeer("192.0.2.7:5550"), session.Params{})
	time.Sleep(2 * time.Millisecond)
	s := caseSession(t, d, 1, 0xC0, udpPeer("192.0.2.7:5550"), session.Params{SupportedTransports: session.TransportTCPServer})
	caseSession(t, d, 2, 0xC0, udpPeer("192.0.2.8:5540"), session.Params{}) // same node ID, other fabric
	// A TCP session whose connection is gone is of no use.
	caseSession(t, d, 1, 0xC0, transport.PeerAddr{Network: transport.TCP, Addr: netip.MustParseAddrPort("192.0.2.7:40000")}, session.Params{})

	p, err := d.Peer(ctx, 1, 0xC0, PeerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Session() != s || p.NodeID() != 0xC0 || p.FabricIndex() != 1 || p.SupportsLargeMessages() {
		t.Fatalf("got session %d, want the most recently active UDP session %d", p.Session().LocalSessionID(), s.LocalSessionID())
	}
	// The address it came from is remembered, with its TCP support.
	known := d.KnownPeers()
	if len(known) != 1 {
		t.Fatalf("known peers %+v", known)
	}
	k := known[0]
	if k.FabricIndex != 1 || k.NodeID != 0xC0 || k.Addr != netip.MustParseAddrPort("192.0.2.7:5550") || !k.TCP {
		t.Fatalf("known %+v", k)
	}
	// A session the peer stopped acknowledging on is passed over until it
	// is heard from again.
	d.markDefunct(s)
	if p, err := d.Peer(ctx, 1, 0xC0, PeerOptions{}); err != nil || p.Session() != old {
		t.Fatalf("defunct session reused: %v", err)
	}
	d.peers.mu.Lock()
	d.peers.defunct[s] = time.Now().Add(-time.Hour)
	d.peers.mu.Unlock()
	s.SetPeer(udpPeer("192.0.2.7:5550"))
	if p, err := d.Peer(ctx, 1, 0xC0, PeerOptions{}); err != nil || p.Session() != old {
		t.Fatal("a session is not alive again before anything is received on it")
	}
}

// TestPeerDialErrors: no fabric, node 0, a closed device; concurrent
// callers share the one failing dial.
func TestPeerDialErrors(t *testing.T) {
	d := newTestDevice(t)
	ctx := t.Context()
	if _, err := d.Peer(ctx, 1, 0, PeerOptions{}); err == nil {
		t.Fatal("node 0 accepted")
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := d.Peer(ctx, 3, 0xC0, PeerOptions{LargeMessages: true})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err == nil || !strings.Contains(err.Error(), "device: dial node 00000000000000C0") || !strings.Contains(err.Error(), "no fabric 3") {
			t.Fatalf("error %v", err)
		}
	}
	// A caller that stops waiting gets its context's error.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := d.Peer(cctx, 3, 0xC0, PeerOptions{}); err == nil {
		t.Fatal("no error")
	}
	d.Close()
	if _, err := d.Peer(ctx, 3, 0xC0, PeerOptions{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

// TestKnownPeersBounded: the remembered addresses are bounded, the least
// recently seen dropped first, and a removed fabric's are forgotten.
func TestKnownPeersBounded(t *testing.T) {
	d := newTestDevice(t)
	for i := range maxKnownPeers + 10 {
		// The table is far smaller: older sessions are evicted, and
		// their addresses remembered when they go.
		d.notePeer(caseSession(t, d, uint8(1+i%2), uint64(0x100+i), udpPeer("192.0.2.9:5540"), session.Params{}))
		time.Sleep(time.Microsecond) // distinct times: the order of eviction is defined
	}
	known := d.KnownPeers()
	if len(known) != maxKnownPeers {
		t.Fatalf("%d known peers, want %d", len(known), maxKnownPeers)
	}
	for _, k := range known {
		if k.NodeID < 0x100+10 {
			t.Fatalf("oldest peers kept: %+v", k)
		}
	}
	d.forgetFabric(1)
	for _, k := range d.KnownPeers() {
		if k.FabricIndex == 1 {
			t.Fatalf("removed fabric's peer kept: %+v", k)
		}
	}
	// An inbound TCP session gives the IP, not a port to dial; a port
	// already known for that IP is kept.
	d.notePeer(caseSession(t, d, 2, 0x42, udpPeer("198.51.100.1:5560"), session.Params{}))
	d.notePeer(caseSession(t, d, 2, 0x42, transport.PeerAddr{Network: transport.TCP, Addr: netip.MustParseAddrPort("198.51.100.1:40001")}, session.Params{}))
	d.notePeer(caseSession(t, d, 2, 0x43, transport.PeerAddr{Network: transport.TCP, Addr: netip.MustParseAddrPort("198.51.100.2:40002")}, session.Params{}))
	for _, k := range d.KnownPeers() {
		switch k.NodeID {
		case 0x42:
			if k.Addr != netip.MustParseAddrPort("198.51.100.1:5560") || k.TCP {
				t.Fatalf("known %+v", k)
			}
		case 0x43:
			if k.Addr != netip.MustParseAddrPort("198.51.100.2:0") || k.TCP {
				t.Fatalf("known %+v", k)
			}
		}
	}
}

// TestResetPeer closes the sessions with a peer and forgets it.
func TestResetPeer(t *testing.T) {
	d := newTestDevice(t)
	a := caseSession(t, d, 1, 0xC0, udpPeer("192.0.2.7:5550"), session.Params{})
	b := caseSession(t, d, 1, 0xC1, udpPeer("192.0.2.7:5551"), session.Params{})
	d.notePeer(a)
	d.notePeer(b)
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	d.ResetPeer(ctx, 1, 0xC0) // the CloseSession report goes nowhere
	if !a.Closed() || b.Closed() {
		t.Fatal("wrong sessions closed")
	}
	known := d.KnownPeers()
	if len(known) != 1 || known[0].NodeID != 0xC1 {
		t.Fatalf("known %+v", known)
	}
}

// TestFabricRemovedForgetsPeers: removing a fabric closes its sessions and
// forgets its peers for good; the addresses its closing sessions record do
// not bring them back.
func TestFabricRemovedForgetsPeers(t *testing.T) {
	d := newTestDevice(t)
	gone := caseSession(t, d, 1, 0xC0, udpPeer("192.0.2.7:5550"), session.Params{})
	kept := caseSession(t, d, 2, 0xC1, udpPeer("192.0.2.8:5550"), session.Params{})
	d.notePeer(gone)
	d.notePeer(kept)
	d.fabricRemoved(1)
	deadline := time.Now().Add(5 * time.Second)
	for {
		known := d.KnownPeers()
		if gone.Closed() && len(known) == 1 {
			if known[0].FabricIndex != 2 || kept.Closed() {
				t.Fatalf("known %+v, other fabric's session closed: %v", known, kept.Closed())
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("session closed %v, known %+v", gone.Closed(), known)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Nothing brings the fabric's peers back once its sessions are gone.
	time.Sleep(50 * time.Millisecond)
	for _, k := range d.KnownPeers() {
		if k.FabricIndex == 1 {
			t.Fatalf("removed fabric's peer known again: %+v", k)
		}
	}
}

// TestCloseLaterChoosesNow: the sessions a deferred close ends are those
// that matched when it was asked for. A session of the same kind set up in
// the 500 ms before the close (a second commissioner's PASE right after
// the first one's CommissioningComplete) stays open.
func TestCloseLaterChoosesNow(t *testing.T) {
	d := newTestDevice(t)
	before := caseSession(t, d, 1, 0xC0, udpPeer("192.0.2.7:5550"), session.Params{})
	closed := make(chan struct{})
	d.closeLater(func(s *session.Secure) bool { return s.FabricIndex() == 1 }, func() { close(closed) })
	after := caseSession(t, d, 1, 0xC1, udpPeer("192.0.2.8:5550"), session.Params{})
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the deferred close did not run")
	}
	if !before.Closed() || after.Closed() {
		t.Fatalf("session from before closed: %v, session from after closed: %v; want true, false", before.Closed(), after.Closed())
	}
}
