package transport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// UDPConfig configures a UDP transport. The zero value listens on port 5540
// of every IPv6 and IPv4 address.
type UDPConfig struct {
	// Port is the port both sockets bind. Zero means DefaultPort; use
	// AnyPort for a free port shared by both families (tests).
	Port int

	// IPv6 and IPv4 are the local addresses to bind. The zero netip.Addr
	// means the unspecified address (all interfaces).
	IPv6, IPv4 netip.Addr

	// DisableIPv6 and DisableIPv4 skip one family. Matter requires IPv6;
	// IPv4 is optional.
	DisableIPv6, DisableIPv4 bool

	// MaxMessageSize bounds sent and received messages. Zero means
	// MaxUDPMessageSize; larger values are refused by ListenUDP because
	// the spec forbids them.
	MaxMessageSize int

	// QueueLen bounds the inbound queue; datagrams that arrive while it is
	// full are dropped, as a NIC would. Zero means 64.
	QueueLen int

	// Logger receives rare diagnostics (never one line per packet). Nil
	// means slog.Default.
	Logger *slog.Logger
}

// AnyPort asks ListenUDP or ListenTCP for a free port.
const AnyPort = -1

// UDPStats counts datagrams the transport dropped.
type UDPStats struct {
	Received, Sent                                  uint64
	DroppedTooLarge, DroppedQueueFull, DroppedEmpty uint64
}

// UDPTransport sends and receives Matter messages over UDP, on one IPv6 and
// one IPv4 socket bound to the same port (Core §4.4.4: each message fits one
// datagram with no IPv6 fragmentation).
type UDPTransport struct {
	conn6, conn4 *net.UDPConn
	max          int
	log          *slog.Logger

	in        chan Packet
	done      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup

	received, sent, tooLarge, queueFull, empty atomic.Uint64
}

var _ Transport = (*UDPTransport)(nil)

// ListenUDP opens the UDP sockets described by cfg and starts one reader
// goroutine per socket. Close stops them.
func ListenUDP(cfg UDPConfig) (*UDPTransport, error) {
	if cfg.DisableIPv4 && cfg.DisableIPv6 {
		return nil, errors.New("transport: udp: both address families disabled")
	}
	limit := cfg.MaxMessageSize
	switch {
	case limit == 0:
		limit = MaxUDPMessageSize
	case limit < 0 || limit > MaxUDPMessageSize:
		return nil, fmt.Errorf("transport: udp: MaxMessageSize %d outside 1..%d (Core §4.4.4)", limit, MaxUDPMessageSize)
	}
	qlen := cfg.QueueLen
	if qlen <= 0 {
		qlen = 64
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	t := &UDPTransport{
		max:  limit,
		log:  log.With("component", "matter/transport", "network", "udp"),
		in:   make(chan Packet, qlen),
		done: make(chan struct{}),
	}
	if err := t.bind(cfg); err != nil {
		return nil, err
	}
	for _, c := range []*net.UDPConn{t.conn6, t.conn4} {
		if c != nil {
			t.wg.Add(1)
			go t.readLoop(c)
		}
	}
	return t, nil
}

// bind opens the sockets. With AnyPort the IPv6 socket picks a port and the
// IPv4 socket takes the same one, retrying if another process holds it.
func (t *UDPTransport) bind(cfg UDPConfig) error {
	port := cfg.Port
	switch {
	case port == 0:
		port = DefaultPort
	case port == AnyPort:
		port = 0
	case port < 0 || port > 65535:
		return fmt.Errorf("transport: udp: port %d out of range", cfg.Port)
	}
	addr6 := cfg.IPv6
	if !addr6.IsValid() {
		addr6 = netip.IPv6Unspecified()
	}
	addr4 := cfg.IPv4
	if !addr4.IsValid() {
		addr4 = netip.IPv4Unspecified()
	}
	const attempts = 16
	var lastErr error
	for range attempts {
		var c6, c4 *net.UDPConn
		p := port
		if !cfg.DisableIPv6 {
			c, err := net.ListenUDP("udp6", net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr6, uint16(p))))
			if err != nil {
				return fmt.Errorf("transport: udp: listen [%s]:%d: %w", addr6, p, err)
			}
			c6 = c
			p = int(c.LocalAddr().(*net.UDPAddr).AddrPort().Port())
		}
		if !cfg.DisableIPv4 {
			c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr4.Unmap(), uint16(p))))
			if err != nil {
				if c6 != nil {
					c6.Close()
				}
				lastErr = fmt.Errorf("transport: udp: listen %s:%d: %w", addr4, p, err)
				if port == 0 && c6 != nil && errors.Is(err, syscall.EADDRINUSE) {
					continue // the free IPv6 port is taken for IPv4: pick another
				}
				return lastErr
			}
			c4 = c
		}
		t.conn6, t.conn4 = c6, c4
		return nil
	}
	return lastErr
}

// Network implements Transport.
func (t *UDPTransport) Network() Network { return UDP }

// MaxMessageSize implements Transport.
func (t *UDPTransport) MaxMessageSize() int { return t.max }

// Port is the local port both sockets are bound to.
func (t *UDPTransport) Port() int {
	c := t.conn6
	if c == nil {
		c = t.conn4
	}
	return int(c.LocalAddr().(*net.UDPAddr).AddrPort().Port())
}

// Stats returns counters of traffic and drops since ListenUDP.
func (t *UDPTransport) Stats() UDPStats {
	return UDPStats{
		Received:         t.received.Load(),
		Sent:             t.sent.Load(),
		DroppedTooLarge:  t.tooLarge.Load(),
		DroppedQueueFull: t.queueFull.Load(),
		DroppedEmpty:     t.empty.Load(),
	}
}

// Send implements Transport. IPv4 and IPv4-mapped IPv6 destinations use the
// IPv4 socket; all others the IPv6 socket.
func (t *UDPTransport) Send(ctx context.Context, to netip.AddrPort, msg []byte) error {
	if len(msg) > t.max {
		return fmt.Errorf("transport: udp send to %s: %d bytes, limit %d: %w", to, len(msg), t.max, ErrMessageTooLarge)
	}
	if len(msg) == 0 {
		return fmt.Errorf("transport: udp send to %s: empty message", to)
	}
	select {
	case <-t.done:
		return fmt.Errorf("transport: udp send to %s: %w", to, ErrClosed)
	default:
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("transport: udp send to %s: %w", to, err)
	}
	if !to.IsValid() {
		return fmt.Errorf("transport: udp send: invalid address %s", to)
	}
	dst := to
	c := t.conn6
	if to.Addr().Unmap().Is4() {
		dst = netip.AddrPortFrom(to.Addr().Unmap(), to.Port())
		c = t.conn4
	}
	if c == nil {
		return fmt.Errorf("transport: udp send to %s: address family disabled", to)
	}
	if _, err := c.WriteToUDPAddrPort(msg, dst); err != nil {
		if errors.Is(err, net.ErrClosed) {
			err = ErrClosed
		}
		return fmt.Errorf("transport: udp send to %s: %w", to, err)
	}
	t.sent.Add(1)
	return nil
}

// Receive implements Transport.
func (t *UDPTransport) Receive(ctx context.Context) (Packet, error) {
	return receive(ctx, t.in, t.done)
}

// Close implements Transport. It closes both sockets and waits for the
// reader goroutines to return.
func (t *UDPTransport) Close() error {
	t.closeOnce.Do(func() {
		close(t.done)
		for _, c := range []*net.UDPConn{t.conn6, t.conn4} {
			if c != nil {
				c.Close()
			}
		}
	})
	t.wg.Wait()
	return nil
}

// readLoop owns one socket's receive side until Close.
func (t *UDPTransport) readLoop(c *net.UDPConn) {
	defer t.wg.Done()
	// One byte more than the limit: a datagram that fills it is too large
	// (the kernel truncates anything longer to the buffer size).
	buf := make([]byte, t.max+1)
	var backoff time.Duration
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			select {
			case <-t.done:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// A transient socket error (ICMP-induced, ENOBUFS): keep
			// serving, but don't spin on a persistent one.
			backoff = min(max(2*backoff, time.Millisecond), 100*time.Millisecond)
			t.log.Debug("udp read error", "err", err, "backoff", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		switch {
		case n > t.max:
			t.tooLarge.Add(1)
			continue
		case n == 0:
			t.empty.Add(1)
			continue
		}
		p := Packet{
			From: PeerAddr{Network: UDP, Addr: netip.AddrPortFrom(from.Addr().Unmap(), from.Port())},
			Data: append([]byte(nil), buf[:n]...),
		}
		select {
		case t.in <- p:
			t.received.Add(1)
		default:
			t.queueFull.Add(1)
		}
	}
}
