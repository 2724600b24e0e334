package transport_test

// The exchange layer over the real session table (matter/session, which
// imports this package, hence the external test package): AES-CCM sessions,
// real counters and duplicate detection, the Unsecured Session, and real UDP
// and TCP sockets.

import (
	"bytes"
	"context"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mattercam/mattercam/matter/crypto"
	"github.com/mattercam/mattercam/matter/message"
	"github.com/mattercam/mattercam/matter/session"
	"github.com/mattercam/mattercam/matter/transport"
)

const protoTest message.ProtocolID = 0x0004

type peer struct {
	table *session.Table
	m     *transport.Manager
}

func newPeer(t *testing.T, trs ...transport.Transport) *peer {
	t.Helper()
	tab, err := session.NewTable(session.Config{NewAEAD: crypto.NewCCM})
	if err != nil {
		t.Fatal(err)
	}
	m, err := transport.NewManager(transport.ManagerConfig{Transports: trs, Sessions: tab})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	m.Handle(protoTest, func(ctx context.Context, e *transport.Exchange, first transport.Message) {
		e.Send(ctx, first.Opcode+1, first.Payload)
	})
	return &peer{table: tab, m: m}
}

// paseSessions installs a PASE session between a and b with fixed keys, as
// the end of a handshake would.
func paseSessions(t *testing.T, a, b *peer, aAddr, bAddr transport.PeerAddr) (*session.Secure, *session.Secure) {
	t.Helper()
	ra, err := a.table.Reserve()
	if err != nil {
		t.Fatal(err)
	}
	rb, err := b.table.Reserve()
	if err != nil {
		t.Fatal(err)
	}
	keys := session.Keys{
		I2R:                  bytes.Repeat([]byte{1}, 16),
		R2I:                  bytes.Repeat([]byte{2}, 16),
		AttestationChallenge: bytes.Repeat([]byte{3}, 16),
	}
	sa, err := ra.Establish(session.SecureConfig{PeerSessionID: rb.ID(), Role: session.Initiator, AuthMode: session.AuthPASE, Keys: keys, Peer: bAddr})
	if err != nil {
		t.Fatal(err)
	}
	sb, err := rb.Establish(session.SecureConfig{PeerSessionID: ra.ID(), Role: session.Responder, AuthMode: session.AuthPASE, Keys: keys, Peer: aAddr})
	if err != nil {
		t.Fatal(err)
	}
	return sa, sb
}

func roundTrip(ctx context.Context, m *transport.Manager, s transport.Session, payload []byte) ([]byte, error) {
	e, err := m.NewExchange(s, protoTest)
	if err != nil {
		return nil, err
	}
	defer e.Close()
	if err := e.Send(ctx, 1, payload); err != nil {
		return nil, err
	}
	resp, err := e.Receive(ctx)
	return resp.Payload, err
}

func TestSecureSessionsOverLossyNetwork(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := transport.NewMemNetwork(transport.MemConfig{Seed: 9, Conditions: transport.Conditions{
			Loss: 0.1, Duplicate: 0.1, Reorder: 0.1, Delay: 10 * time.Millisecond, Jitter: 10 * time.Millisecond,
		}})
		aAddr, bAddr := netip.MustParseAddrPort("[fd00::a]:5540"), netip.MustParseAddrPort("[fd00::b]:5540")
		ta, _ := net.Listen(aAddr)
		tb, _ := net.Listen(bAddr)
		defer ta.Close()
		defer tb.Close()
		a, b := newPeer(t, ta), newPeer(t, tb)
		sa, _ := paseSessions(t, a, b, transport.PeerAddr{Network: transport.UDP, Addr: aAddr}, transport.PeerAddr{Network: transport.UDP, Addr: bAddr})
		for i := range 20 {
			want := []byte{byte(i), 0xCA, 0xFE}
			got, err := roundTrip(t.Context(), a.m, sa, want)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("round trip %d: %x, %v", i, got, err)
			}
		}
		if s := b.m.Stats(); s.DecodeErrors != 0 {
			t.Fatalf("B stats %+v", s)
		}
	})
}

func TestUnsecuredSessionExchange(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := transport.NewMemNetwork(transport.MemConfig{})
		aAddr, bAddr := netip.MustParseAddrPort("[fd00::a]:5540"), netip.MustParseAddrPort("[fd00::b]:5540")
		ta, _ := net.Listen(aAddr)
		tb, _ := net.Listen(bAddr)
		defer ta.Close()
		defer tb.Close()
		a, b := newPeer(t, ta), newPeer(t, tb)
		node, err := session.RandomEphemeralNodeID(nil)
		if err != nil {
			t.Fatal(err)
		}
		u := a.table.Unsecured(transport.PeerAddr{Network: transport.UDP, Addr: bAddr}, node, session.Initiator)
		got, err := roundTrip(t.Context(), a.m, u, []byte("PBKDFParamRequest"))
		if err != nil || string(got) != "PBKDFParamRequest" {
			t.Fatalf("unsecured round trip: %q, %v", got, err)
		}
		if b.table.UnsecuredLen() != 1 {
			t.Fatalf("responder has %d unsecured contexts", b.table.UnsecuredLen())
		}
	})
}

// TestRealSockets runs one manager per node over real UDP and TCP loopback
// sockets: a secure session per network, MRP on the UDP one, a large
// message on the TCP one.
func TestRealSockets(t *testing.T) {
	loop := netip.MustParseAddr("127.0.0.1")
	listen := func() (*transport.UDPTransport, *transport.TCPTransport) {
		u, err := transport.ListenUDP(transport.UDPConfig{Port: transport.AnyPort, IPv4: loop, DisableIPv6: true})
		if err != nil {
			t.Fatal(err)
		}
		tc, err := transport.ListenTCP(transport.TCPConfig{Port: transport.AnyPort, IPv4: loop, DisableIPv6: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { u.Close(); tc.Close() })
		return u, tc
	}
	ua, tca := listen()
	ub, tcb := listen()
	a, b := newPeer(t, ua, tca), newPeer(t, ub, tcb)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	udpA := transport.PeerAddr{Network: transport.UDP, Addr: netip.AddrPortFrom(loop, uint16(ua.Port()))}
	udpB := transport.PeerAddr{Network: transport.UDP, Addr: netip.AddrPortFrom(loop, uint16(ub.Port()))}
	su, _ := paseSessions(t, a, b, udpA, udpB)
	if got, err := roundTrip(ctx, a.m, su, []byte("udp")); err != nil || string(got) != "udp" {
		t.Fatalf("UDP round trip: %q, %v", got, err)
	}

	// A dials B over TCP; B's session for A names the connection as A's
	// ephemeral address, which B learns from the first message.
	tcpB := transport.PeerAddr{Network: transport.TCP, Addr: netip.AddrPortFrom(loop, uint16(tcb.Port()))}
	if err := tca.Dial(ctx, tcpB.Addr); err != nil {
		t.Fatal(err)
	}
	st, _ := paseSessions(t, a, b, transport.PeerAddr{Network: transport.TCP, Addr: netip.AddrPortFrom(loop, 1)}, tcpB)
	if !a.m.SupportsLargeMessages(st) || a.m.SupportsLargeMessages(su) {
		t.Fatal("large message support")
	}
	big := bytes.Repeat([]byte("large "), 5000) // 30000 bytes
	if got, err := roundTrip(ctx, a.m, st, big); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("TCP round trip: %d bytes, %v", len(got), err)
	}
	if _, err := roundTrip(ctx, a.m, su, big); err == nil {
		t.Fatal("large message over UDP")
	}
}
