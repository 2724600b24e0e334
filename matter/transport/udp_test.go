package transport

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"
)

var (
	loop6 = netip.IPv6Loopback()
	loop4 = netip.MustParseAddr("127.0.0.1")
)

// haveIPv6 reports whether the host can bind the IPv6 loopback.
func haveIPv6(t *testing.T) bool {
	t.Helper()
	c, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func listenLoopbackUDP(t *testing.T, cfg UDPConfig) *UDPTransport {
	t.Helper()
	cfg.Port = AnyPort
	cfg.IPv6, cfg.IPv4 = loop6, loop4
	if !haveIPv6(t) {
		cfg.DisableIPv6 = true
	}
	u, err := ListenUDP(cfg)
	if err != nil {
		t.Fatalf("ListenUDP: %v", err)
	}
	t.Cleanup(func() { u.Close() })
	return u
}

func recvTimeout(t *testing.T, tr Transport, d time.Duration) Packet {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	p, err := tr.Receive(ctx)
	if err != nil {
		t.Fatalf("Receive: %v", err)
	}
	return p
}

func TestUDPRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		addr netip.Addr
		v6   bool
	}{
		{"ipv6", loop6, true},
		{"ipv4", loop4, false},
		{"ipv4-mapped", netip.AddrFrom16(loop4.As16()), false},
	}
	a := listenLoopbackUDP(t, UDPConfig{})
	b := listenLoopbackUDP(t, UDPConfig{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.v6 && !haveIPv6(t) {
				t.Skip("no IPv6 loopback")
			}
			ctx := context.Background()
			msg := []byte("ping " + tt.name)
			if err := a.Send(ctx, netip.AddrPortFrom(tt.addr, uint16(b.Port())), msg); err != nil {
				t.Fatalf("Send: %v", err)
			}
			p := recvTimeout(t, b, 5*time.Second)
			if !bytes.Equal(p.Data, msg) {
				t.Fatalf("got %q, want %q", p.Data, msg)
			}
			wantFrom := PeerAddr{Network: UDP, Addr: netip.AddrPortFrom(tt.addr.Unmap(), uint16(a.Port()))}
			if p.From != wantFrom {
				t.Fatalf("From = %v, want %v", p.From, wantFrom)
			}
			// Reply to whatever address the message came from.
			if err := b.Send(ctx, p.From.Addr, []byte("pong")); err != nil {
				t.Fatalf("reply: %v", err)
			}
			if r := recvTimeout(t, a, 5*time.Second); string(r.Data) != "pong" || r.From.Addr.Port() != uint16(b.Port()) {
				t.Fatalf("reply = %q from %v", r.Data, r.From)
			}
		})
	}
}

func TestUDPMessageSizeLimit(t *testing.T) {
	u := listenLoopbackUDP(t, UDPConfig{DisableIPv6: true})
	dst := netip.AddrPortFrom(loop4, uint16(u.Port()))
	ctx := context.Background()

	if err := u.Send(ctx, dst, make([]byte, MaxUDPMessageSize+1)); !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("Send of %d bytes: err = %v, want ErrMessageTooLarge", MaxUDPMessageSize+1, err)
	}

	// A raw socket sends what the transport refuses to: an oversized
	// datagram is dropped, the next valid one still arrives.
	raw, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(dst))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	for _, n := range []int{MaxUDPMessageSize + 1, 4000, MaxUDPMessageSize} {
		if _, err := raw.Write(bytes.Repeat([]byte{byte(n)}, n)); err != nil {
			t.Fatal(err)
		}
	}
	p := recvTimeout(t, u, 5*time.Second)
	if len(p.Data) != MaxUDPMessageSize {
		t.Fatalf("received %d bytes, want the %d-byte datagram", len(p.Data), MaxUDPMessageSize)
	}
	if s := u.Stats(); s.DroppedTooLarge != 2 {
		t.Fatalf("DroppedTooLarge = %d, want 2", s.DroppedTooLarge)
	}
}

func TestUDPQueueBound(t *testing.T) {
	u := listenLoopbackUDP(t, UDPConfig{DisableIPv6: true, QueueLen: 2})
	dst := netip.AddrPortFrom(loop4, uint16(u.Port()))
	for i := range 5 {
		if err := u.Send(context.Background(), dst, []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for u.Stats().DroppedQueueFull < 3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if s := u.Stats(); s.Received != 2 || s.DroppedQueueFull != 3 {
		t.Fatalf("stats %+v, want 2 received and 3 dropped", s)
	}
}

func TestUDPConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  UDPConfig
	}{
		{"no family", UDPConfig{DisableIPv4: true, DisableIPv6: true}},
		{"limit over spec", UDPConfig{MaxMessageSize: MaxUDPMessageSize + 1}},
		{"negative limit", UDPConfig{MaxMessageSize: -1}},
		{"port out of range", UDPConfig{Port: 70000}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if u, err := ListenUDP(tt.cfg); err == nil {
				u.Close()
				t.Fatal("ListenUDP succeeded")
			}
		})
	}
}

func TestUDPClose(t *testing.T) {
	before := runtime.NumGoroutine()
	u := listenLoopbackUDP(t, UDPConfig{})
	errc := make(chan error, 1)
	go func() {
		_, err := u.Receive(context.Background())
		errc <- err
	}()
	time.Sleep(10 * time.Millisecond)
	if err := u.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Fatalf("Receive after Close: %v", err)
	}
	if err := u.Send(context.Background(), netip.AddrPortFrom(loop4, 9), []byte{1}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Send after Close: %v", err)
	}
	u.Close() // idempotent
	waitGoroutines(t, before)
}

// waitGoroutines waits for the goroutine count to fall back to n.
func waitGoroutines(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines, want %d:\n%s", runtime.NumGoroutine(), n, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(5 * time.Millisecond)
	}
}
