package transport

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func listenLoopbackTCP(t *testing.T, cfg TCPConfig) *TCPTransport {
	t.Helper()
	cfg.Port = AnyPort
	cfg.IPv6, cfg.IPv4 = loop6, loop4
	if !haveIPv6(t) {
		cfg.DisableIPv6 = true
	}
	tr, err := ListenTCP(cfg)
	if err != nil {
		t.Fatalf("ListenTCP: %v", err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

func TestTCPRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		addr netip.Addr
		v6   bool
		size int
	}{
		{"ipv6 small", loop6, true, 10},
		{"ipv4 small", loop4, false, 10},
		{"ipv4 large message", loop4, false, DefaultMaxTCPMessageSize},
		{"ipv6 larger than UDP", loop6, true, 5000},
	}
	server := listenLoopbackTCP(t, TCPConfig{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.v6 && !haveIPv6(t) {
				t.Skip("no IPv6 loopback")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			client, err := NewTCP(nil, TCPConfig{})
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			srv := netip.AddrPortFrom(tt.addr, uint16(server.Port()))
			if err := client.Send(ctx, srv, []byte{1}); !errors.Is(err, ErrNoConnection) {
				t.Fatalf("Send before Dial: %v, want ErrNoConnection", err)
			}
			if err := client.Dial(ctx, srv); err != nil {
				t.Fatalf("Dial: %v", err)
			}
			if err := client.Dial(ctx, srv); err != nil { // reuses the connection
				t.Fatalf("second Dial: %v", err)
			}
			msg := bytes.Repeat([]byte{0x5A}, tt.size)
			if err := client.Send(ctx, srv, msg); err != nil {
				t.Fatalf("Send: %v", err)
			}
			p, err := server.Receive(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(p.Data, msg) || p.From.Network != TCP || p.From.Addr.Addr() != tt.addr.Unmap() {
				t.Fatalf("server got %d bytes from %v", len(p.Data), p.From)
			}
			// The server answers on the connection the message came in on.
			if err := server.Send(ctx, p.From.Addr, []byte("ack")); err != nil {
				t.Fatalf("reply: %v", err)
			}
			r, err := client.Receive(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if string(r.Data) != "ack" || r.From != (PeerAddr{TCP, normalize(srv)}) {
				t.Fatalf("client got %q from %v", r.Data, r.From)
			}
			if got := client.Stats(); got.Dialed != 1 {
				t.Fatalf("client stats %+v, want one dial", got)
			}
		})
	}
}

func TestTCPSendLimits(t *testing.T) {
	server := listenLoopbackTCP(t, TCPConfig{MaxMessageSize: 100})
	if err := server.Send(context.Background(), netip.AddrPortFrom(loop4, 1), make([]byte, 101)); !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("oversized Send: %v", err)
	}
	if _, err := NewTCP(nil, TCPConfig{MaxMessageSize: -1}); err == nil {
		t.Fatal("negative MaxMessageSize accepted")
	}
}

// TestTCPCloseStopsGoroutines runs real sockets: connections in both
// directions, a Receive in progress, then Close.
func TestTCPCloseStopsGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	server, err := ListenTCP(TCPConfig{Port: AnyPort, IPv4: loop4, DisableIPv6: true})
	if err != nil {
		t.Fatal(err)
	}
	client, err := NewTCP(nil, TCPConfig{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	srv := netip.AddrPortFrom(loop4, uint16(server.Port()))
	for range 3 {
		// Three connections: close and redial in between.
		if err := client.Dial(ctx, srv); err != nil {
			t.Fatal(err)
		}
		if err := client.Send(ctx, srv, []byte("x")); err != nil {
			t.Fatal(err)
		}
		if _, err := server.Receive(ctx); err != nil {
			t.Fatal(err)
		}
		client.CloseConn(srv)
	}
	if err := client.Dial(ctx, srv); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { _, err := server.Receive(ctx); errc <- err }()
	server.Close()
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Fatalf("Receive across Close: %v", err)
	}
	client.Close()
	waitGoroutines(t, before)
}

// pipeServer starts a TCP transport on a pipeListener inside a bubble.
func pipeServer(t *testing.T, cfg TCPConfig) (*TCPTransport, *pipeListener, *closeLog) {
	t.Helper()
	ln := newPipeListener(netip.MustParseAddrPort("[fd00::1]:5540"))
	cl := &closeLog{}
	if cfg.OnClose == nil {
		cfg.OnClose = cl.record
	}
	tr, err := NewTCP([]net.Listener{ln}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr, ln, cl
}

// closeLog records OnClose calls.
type closeLog struct {
	mu     sync.Mutex
	closes map[netip.AddrPort]closeEvent
}

// closeEvent is one OnClose call: the reason given and when.
type closeEvent struct {
	err error
	at  time.Time
}

func (c *closeLog) record(peer netip.AddrPort, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closes == nil {
		c.closes = map[netip.AddrPort]closeEvent{}
	}
	c.closes[peer] = closeEvent{err: err, at: time.Now()}
}

// get returns the last OnClose call for peer, and whether there was one.
func (c *closeLog) get(peer netip.AddrPort) (closeEvent, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ev, ok := c.closes[peer]
	return ev, ok
}

// expectClosed reads from the client end of a pipe until the server closes
// it.
func expectClosed(t *testing.T, c net.Conn) {
	t.Helper()
	buf := make([]byte, 64)
	for {
		if _, err := c.Read(buf); err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrClosedPipe) {
				t.Fatalf("read: %v, want EOF", err)
			}
			return
		}
	}
}

func TestTCPFramingPartialReads(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		server, ln, _ := pipeServer(t, TCPConfig{})
		c, err := ln.dial(t.Context(), netip.AddrPort{})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		msgs := [][]byte{[]byte("first"), bytes.Repeat([]byte{7}, 3000), []byte("x")}
		var stream []byte
		for _, m := range msgs {
			stream = AppendFrame(stream, m)
		}
		// Write the stream in awkward pieces: the length prefix split,
		// two frames in one write, frames split mid-body.
		go func() {
			for _, n := range []int{1, 2, 3, 100, 2900, 4 + 1 + 3} {
				n = min(n, len(stream))
				c.Write(stream[:n])
				stream = stream[n:]
				time.Sleep(time.Millisecond)
			}
			c.Write(stream)
		}()
		for i, want := range msgs {
			p, err := server.Receive(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(p.Data, want) {
				t.Fatalf("message %d: %d bytes, want %d", i, len(p.Data), len(want))
			}
		}
	})
}

func TestTCPBadLengthClosesConnection(t *testing.T) {
	tests := []struct {
		name    string
		prefix  uint32
		wantErr error
	}{
		{"over limit", 1001, ErrFrameTooLarge},
		{"max uint32", 0xFFFFFFFF, ErrFrameTooLarge},
		{"zero", 0, ErrEmptyFrame},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				server, ln, closes := pipeServer(t, TCPConfig{MaxMessageSize: 1000})
				from := netip.MustParseAddrPort("[fd00::2]:1234")
				c, err := ln.dial(t.Context(), from)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				go c.Write(binary.LittleEndian.AppendUint32(nil, tt.prefix))
				expectClosed(t, c)
				synctest.Wait()
				ev, ok := closes.get(from)
				if !ok || !errors.Is(ev.err, tt.wantErr) {
					t.Fatalf("OnClose(%v) = %v, %v; want %v", from, ev.err, ok, tt.wantErr)
				}
				if server.HasConn(from) {
					t.Fatal("connection still registered")
				}
			})
		})
	}
}

func TestTCPTimeouts(t *testing.T) {
	const (
		first = 10 * time.Second
		idle  = time.Minute
		frame = 5 * time.Second
	)
	cfg := TCPConfig{FirstFrameTimeout: first, IdleTimeout: idle, FrameTimeout: frame}
	from := netip.MustParseAddrPort("[fd00::3]:999")
	// A step may start goroutines; they must be done when wg is.
	type step func(t *testing.T, server *TCPTransport, c net.Conn, wg *sync.WaitGroup)
	send := func(msg string) step {
		return func(t *testing.T, _ *TCPTransport, c net.Conn, wg *sync.WaitGroup) {
			wg.Go(func() { c.Write(AppendFrame(nil, []byte(msg))) })
		}
	}
	sleep := func(d time.Duration) step {
		return func(*testing.T, *TCPTransport, net.Conn, *sync.WaitGroup) { time.Sleep(d) }
	}
	recv := func(t *testing.T, server *TCPTransport, _ net.Conn, _ *sync.WaitGroup) {
		if _, err := server.Receive(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	reply := func(t *testing.T, server *TCPTransport, c net.Conn, wg *sync.WaitGroup) {
		wg.Go(func() { // the pipe is synchronous: drain the reply
			buf := make([]byte, 16)
			io.ReadFull(c, buf[:4+5])
		})
		if err := server.Send(t.Context(), from, []byte("reply")); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name    string
		steps   []step
		wantErr error
		wantAt  time.Duration // since the connection was accepted
	}{
		{"silent new connection", nil, ErrIdleTimeout, first},
		{"idle after a message", []step{send("hello"), recv}, ErrIdleTimeout, idle},
		{"messages keep it open", []step{send("a"), recv, sleep(50 * time.Second), send("b"), recv}, ErrIdleTimeout, 50*time.Second + idle},
		{"writes keep it open", []step{send("a"), recv, sleep(50 * time.Second), reply}, ErrIdleTimeout, 50*time.Second + idle},
		{"slow loris", []step{send("a"), recv, func(t *testing.T, _ *TCPTransport, c net.Conn, wg *sync.WaitGroup) {
			// One byte a second of a 100-byte message.
			wg.Go(func() {
				for _, b := range AppendFrame(nil, make([]byte, 100)) {
					if _, err := c.Write([]byte{b}); err != nil {
						return
					}
					time.Sleep(time.Second)
				}
			})
		}}, ErrFrameTimeout, frame},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				server, ln, closes := pipeServer(t, cfg)
				start := time.Now()
				c, err := ln.dial(t.Context(), from)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				var wg sync.WaitGroup
				for _, s := range tt.steps {
					s(t, server, c, &wg)
				}
				expectClosed(t, c)
				wg.Wait()
				synctest.Wait()
				ev, ok := closes.get(from)
				if !ok || !errors.Is(ev.err, tt.wantErr) {
					t.Fatalf("OnClose = %v, %v; want %v", ev.err, ok, tt.wantErr)
				}
				if got := ev.at.Sub(start); got != tt.wantAt {
					t.Fatalf("closed after %v, want %v", got, tt.wantAt)
				}
			})
		})
	}
}

func TestTCPConnectionLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		server, ln, _ := pipeServer(t, TCPConfig{MaxConns: 2})
		var clients []net.Conn
		for i := range 3 {
			c, err := ln.dial(t.Context(), netip.AddrPortFrom(netip.MustParseAddr("fd00::10"), uint16(1000+i)))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			clients = append(clients, c)
		}
		expectClosed(t, clients[2])
		synctest.Wait()
		if s := server.Stats(); s.Accepted != 2 || s.Rejected != 1 {
			t.Fatalf("stats %+v, want 2 accepted, 1 rejected", s)
		}
		// Dialling out counts against the same limit.
		if err := server.Dial(t.Context(), netip.MustParseAddrPort("[fd00::20]:5540")); !errors.Is(err, ErrTooManyConnections) {
			t.Fatalf("Dial at the limit: %v", err)
		}
		// Closing one frees a slot.
		clients[0].Close()
		synctest.Wait()
		c, err := ln.dial(t.Context(), netip.MustParseAddrPort("[fd00::10]:2000"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		synctest.Wait()
		if s := server.Stats(); s.Accepted != 3 {
			t.Fatalf("stats %+v, want a third accepted connection", s)
		}
	})
}

// TestTCPDialBack is the device opening a connection back to a controller and
// both sides talking over it, all inside a bubble.
func TestTCPDialBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctrlAddr := netip.MustParseAddrPort("[fd00::c]:5540")
		devAddr := netip.MustParseAddrPort("[fd00::d]:5540")
		ctrlLn := newPipeListener(ctrlAddr)
		controller, err := NewTCP([]net.Listener{ctrlLn}, TCPConfig{FirstFrameTimeout: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		defer controller.Close()
		device, err := NewTCP(nil, TCPConfig{Dialer: &pipeDialer{from: devAddr, listeners: map[string]*pipeListener{ctrlAddr.String(): ctrlLn}}})
		if err != nil {
			t.Fatal(err)
		}
		defer device.Close()

		if err := device.Dial(t.Context(), ctrlAddr); err != nil {
			t.Fatal(err)
		}
		// The device's first-message deadline (10 s by default) applies to
		// accepted connections only: a dialled one may stay quiet until
		// IdleTimeout.
		time.Sleep(time.Minute)
		if !device.HasConn(ctrlAddr) {
			t.Fatal("dialled connection closed early")
		}
		if err := device.Send(t.Context(), ctrlAddr, []byte("offer")); err != nil {
			t.Fatal(err)
		}
		p, err := controller.Receive(t.Context())
		if err != nil || string(p.Data) != "offer" || p.From.Addr != devAddr {
			t.Fatalf("controller got %q from %v, %v", p.Data, p.From, err)
		}
		if err := controller.Send(t.Context(), devAddr, []byte("ok")); err != nil {
			t.Fatal(err)
		}
		if p, err := device.Receive(t.Context()); err != nil || string(p.Data) != "ok" {
			t.Fatalf("device got %q, %v", p.Data, err)
		}
		// Close in the middle of a blocked Receive; the bubble checks that no
		// goroutine is left behind.
		go device.Receive(t.Context())
		synctest.Wait()
		device.Close()
		controller.Close()
	})
}

// TestTCPWriteTimeout: a peer that never reads makes Send fail after
// WriteTimeout and the connection close.
func TestTCPWriteTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		from := netip.MustParseAddrPort("[fd00::4]:4")
		server, ln, closes := pipeServer(t, TCPConfig{WriteTimeout: 3 * time.Second, FirstFrameTimeout: time.Hour})
		c, err := ln.dial(t.Context(), from)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		synctest.Wait()
		start := time.Now()
		err = server.Send(t.Context(), from, []byte("nobody reads this"))
		if err == nil {
			t.Fatal("Send to a stuck peer succeeded")
		}
		if d := time.Since(start); d != 3*time.Second {
			t.Fatalf("Send failed after %v, want 3s", d)
		}
		synctest.Wait()
		if _, ok := closes.get(from); !ok {
			t.Fatal("connection not closed after a failed write")
		}
		// A cancelled context interrupts a blocked write too.
		c2, err := ln.dial(t.Context(), netip.MustParseAddrPort("[fd00::4]:5"))
		if err != nil {
			t.Fatal(err)
		}
		defer c2.Close()
		synctest.Wait()
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		if err := server.Send(ctx, netip.MustParseAddrPort("[fd00::4]:5"), []byte("x")); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Send with expiring ctx: %v", err)
		}
	})
}

// FuzzTCPConn feeds arbitrary bytes, in arbitrary pieces, to an accepted
// connection and checks that the transport delivers exactly the frames
// ReadFrame decodes from the same bytes, then closes the connection.
func FuzzTCPConn(f *testing.F) {
	f.Add(AppendFrame(AppendFrame(nil, []byte("one")), []byte("two")), []byte{2, 5})
	f.Add([]byte{0, 0, 0, 0}, []byte{})
	f.Add([]byte{0x01, 0x02, 0, 0, 1, 2, 3}, []byte{1})
	f.Add(AppendFrame(nil, make([]byte, 512)), []byte{200})
	f.Fuzz(func(t *testing.T, stream, chunks []byte) {
		const limit = 512
		var want [][]byte
		r := bytes.NewReader(stream)
		for {
			msg, err := ReadFrame(r, limit)
			if err != nil {
				break
			}
			want = append(want, msg)
		}
		synctest.Test(t, func(t *testing.T) {
			server, ln, _ := pipeServer(t, TCPConfig{MaxMessageSize: limit})
			c, err := ln.dial(t.Context(), netip.AddrPort{})
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			wg.Go(func() {
				defer c.Close()
				rest := stream
				for i := 0; len(rest) > 0; i++ {
					n := len(rest)
					if len(chunks) > 0 {
						n = min(n, int(chunks[i%len(chunks)])+1)
					}
					if _, err := c.Write(rest[:n]); err != nil {
						return
					}
					rest = rest[n:]
				}
			})
			var got [][]byte
			for {
				ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
				p, err := server.Receive(ctx)
				cancel()
				if err != nil {
					break
				}
				got = append(got, p.Data)
			}
			wg.Wait()
			if len(got) != len(want) {
				t.Fatalf("delivered %d frames, want %d", len(got), len(want))
			}
			for i := range got {
				if !bytes.Equal(got[i], want[i]) {
					t.Fatalf("frame %d differs", i)
				}
			}
			if len(server.Conns()) != 0 {
				t.Fatal("connection still open after the peer left")
			}
		})
	})
}
