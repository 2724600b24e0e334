package transport

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// TCPConfig configures a TCP transport. The zero value listens on port 5540
// of every IPv6 and IPv4 address with the defaults documented per field.
type TCPConfig struct {
	// Port, IPv6, IPv4, DisableIPv6 and DisableIPv4 choose the listening
	// sockets as in UDPConfig. They are ignored by NewTCP.
	Port                     int
	IPv6, IPv4               netip.Addr
	DisableIPv6, DisableIPv4 bool

	// MaxConns bounds open connections, accepted and dialled together.
	// An inbound connection over the limit is closed at once. Zero means 8.
	MaxConns int

	// MaxMessageSize bounds one message in either direction, length
	// prefix excluded. A peer that announces a longer one is disconnected
	// before anything is allocated. Zero means DefaultMaxTCPMessageSize.
	MaxMessageSize int

	// IdleTimeout closes a connection on which no message was sent or
	// received for this long. Zero means 10 minutes.
	IdleTimeout time.Duration

	// FirstFrameTimeout bounds how long an accepted connection may stay
	// silent before its first complete message. Zero means 10 s.
	FirstFrameTimeout time.Duration

	// FrameTimeout bounds how long the rest of a message may take once its
	// first byte has arrived, so a peer that trickles bytes (slow loris)
	// cannot hold a connection. Zero means 10 s.
	FrameTimeout time.Duration

	// WriteTimeout bounds one Send on a connection. A write that times out
	// leaves the stream mid-frame, so the connection is closed. Zero means
	// 10 s.
	WriteTimeout time.Duration

	// DialTimeout bounds Dial. Zero means 10 s.
	DialTimeout time.Duration

	// QueueLen bounds the inbound queue shared by all connections. When it
	// is full, connections stop reading and TCP flow control pushes back
	// on the peers. Zero means 64.
	QueueLen int

	// Dialer opens outbound connections. Nil means a net.Dialer.
	Dialer Dialer

	// OnClose, if set, is called once for every connection when it
	// closes, from a goroutine of the transport, with the reason. It must
	// not block for long or call Close. The session layer uses it to drop
	// the sessions that ran over the connection.
	OnClose func(peer netip.AddrPort, err error)

	// Logger receives rare diagnostics. Nil means slog.Default.
	Logger *slog.Logger
}

// Dialer opens stream connections; *net.Dialer implements it.
type Dialer interface {
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
}

// Errors a TCP connection closes with, besides those of the socket.
var (
	// ErrIdleTimeout reports a connection closed after IdleTimeout or
	// FirstFrameTimeout without traffic.
	ErrIdleTimeout = errors.New("transport: tcp: idle timeout")

	// ErrFrameTimeout reports a message that did not arrive completely
	// within FrameTimeout of its first byte.
	ErrFrameTimeout = errors.New("transport: tcp: message not completed in time")
)

// TCPStats counts connection events.
type TCPStats struct {
	Accepted, Dialed, Rejected uint64
	Received, Sent             uint64
}

// TCPTransport carries Matter messages over TCP connections, each message
// framed by a 32-bit little-endian length (Core §4.4.1). It accepts
// connections from peers and dials them; a message to a peer goes over the
// connection that peer's address names. It does not use MRP.
type TCPTransport struct {
	cfg    TCPConfig // defaults applied
	log    *slog.Logger
	dialer Dialer
	lns    []net.Listener

	ctx    context.Context // canceled by Close; bounds dials
	cancel context.CancelFunc

	mu      sync.Mutex
	conns   map[netip.AddrPort]*tcpConn
	dialing int
	closed  bool

	in        chan Packet
	done      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup

	accepted, dialed, rejected, received, sent atomic.Uint64
}

var _ Transport = (*TCPTransport)(nil)

// ListenTCP listens on the sockets cfg describes (IPv6 and IPv4 on one port)
// and serves them until Close.
func ListenTCP(cfg TCPConfig) (*TCPTransport, error) {
	lns, err := listenTCP(cfg)
	if err != nil {
		return nil, err
	}
	t, err := NewTCP(lns, cfg)
	if err != nil {
		for _, ln := range lns {
			ln.Close()
		}
		return nil, err
	}
	return t, nil
}

func listenTCP(cfg TCPConfig) ([]net.Listener, error) {
	if cfg.DisableIPv4 && cfg.DisableIPv6 {
		return nil, errors.New("transport: tcp: both address families disabled")
	}
	port := cfg.Port
	switch {
	case port == 0:
		port = DefaultPort
	case port == AnyPort:
		port = 0
	case port < 0 || port > 65535:
		return nil, fmt.Errorf("transport: tcp: port %d out of range", cfg.Port)
	}
	addr6 := cfg.IPv6
	if !addr6.IsValid() {
		addr6 = netip.IPv6Unspecified()
	}
	addr4 := cfg.IPv4
	if !addr4.IsValid() {
		addr4 = netip.IPv4Unspecified()
	}
	var lastErr error
	for range 16 {
		var lns []net.Listener
		p := port
		if !cfg.DisableIPv6 {
			ln, err := net.ListenTCP("tcp6", net.TCPAddrFromAddrPort(netip.AddrPortFrom(addr6, uint16(p))))
			if err != nil {
				return nil, fmt.Errorf("transport: tcp: listen [%s]:%d: %w", addr6, p, err)
			}
			lns = append(lns, ln)
			p = int(ln.Addr().(*net.TCPAddr).AddrPort().Port())
		}
		if !cfg.DisableIPv4 {
			ln, err := net.ListenTCP("tcp4", net.TCPAddrFromAddrPort(netip.AddrPortFrom(addr4.Unmap(), uint16(p))))
			if err != nil {
				for _, l := range lns {
					l.Close()
				}
				lastErr = fmt.Errorf("transport: tcp: listen %s:%d: %w", addr4, p, err)
				if port == 0 && len(lns) > 0 && errors.Is(err, syscall.EADDRINUSE) {
					continue
				}
				return nil, lastErr
			}
			lns = append(lns, ln)
		}
		return lns, nil
	}
	return nil, lastErr
}

// NewTCP serves the given listeners, which may be empty for a transport that
// only dials. The transport owns the listeners and closes them on Close.
// Listening fields of cfg are ignored.
func NewTCP(listeners []net.Listener, cfg TCPConfig) (*TCPTransport, error) {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if cfg.MaxConns == 0 {
		cfg.MaxConns = 8
	}
	if cfg.MaxMessageSize == 0 {
		cfg.MaxMessageSize = DefaultMaxTCPMessageSize
	}
	if cfg.QueueLen == 0 {
		cfg.QueueLen = 64
	}
	def(&cfg.IdleTimeout, 10*time.Minute)
	def(&cfg.FirstFrameTimeout, 10*time.Second)
	def(&cfg.FrameTimeout, 10*time.Second)
	def(&cfg.WriteTimeout, 10*time.Second)
	def(&cfg.DialTimeout, 10*time.Second)
	switch {
	case cfg.MaxConns < 0, cfg.QueueLen < 0:
		return nil, errors.New("transport: tcp: negative limit")
	case cfg.MaxMessageSize < 0 || uint64(cfg.MaxMessageSize) > 1<<32-1:
		return nil, fmt.Errorf("transport: tcp: MaxMessageSize %d outside the 32-bit length prefix", cfg.MaxMessageSize)
	case cfg.IdleTimeout < 0, cfg.FirstFrameTimeout < 0, cfg.FrameTimeout < 0, cfg.WriteTimeout < 0, cfg.DialTimeout < 0:
		return nil, errors.New("transport: tcp: negative timeout")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	t := &TCPTransport{
		cfg:    cfg,
		log:    log.With("component", "matter/transport", "network", "tcp"),
		dialer: cfg.Dialer,
		lns:    listeners,
		conns:  make(map[netip.AddrPort]*tcpConn),
		in:     make(chan Packet, cfg.QueueLen),
		done:   make(chan struct{}),
	}
	if t.dialer == nil {
		t.dialer = &net.Dialer{}
	}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	for _, ln := range listeners {
		t.wg.Add(1)
		go t.acceptLoop(ln)
	}
	return t, nil
}

// Network implements Transport.
func (t *TCPTransport) Network() Network { return TCP }

// MaxMessageSize implements Transport.
func (t *TCPTransport) MaxMessageSize() int { return t.cfg.MaxMessageSize }

// Addrs returns the listening addresses.
func (t *TCPTransport) Addrs() []net.Addr {
	out := make([]net.Addr, len(t.lns))
	for i, ln := range t.lns {
		out[i] = ln.Addr()
	}
	return out
}

// Port is the listening port, or 0 if the transport does not listen on TCP
// sockets.
func (t *TCPTransport) Port() int {
	for _, ln := range t.lns {
		if a, ok := ln.Addr().(*net.TCPAddr); ok {
			return a.Port
		}
	}
	return 0
}

// Stats returns connection and message counters.
func (t *TCPTransport) Stats() TCPStats {
	return TCPStats{
		Accepted: t.accepted.Load(),
		Dialed:   t.dialed.Load(),
		Rejected: t.rejected.Load(),
		Received: t.received.Load(),
		Sent:     t.sent.Load(),
	}
}

// Conns returns the peers with an open connection.
func (t *TCPTransport) Conns() []netip.AddrPort {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]netip.AddrPort, 0, len(t.conns))
	for p := range t.conns {
		out = append(out, p)
	}
	return out
}

// HasConn reports whether a connection to peer is open.
func (t *TCPTransport) HasConn(peer netip.AddrPort) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.conns[normalize(peer)]
	return ok
}

// Dial opens a connection to a peer's listening address, so that Send can
// reach it; this is how a node opens a connection back to a controller. If a
// connection to that address is already open, Dial returns at once.
func (t *TCPTransport) Dial(ctx context.Context, to netip.AddrPort) error {
	to = normalize(to)
	if !to.IsValid() {
		return fmt.Errorf("transport: tcp dial: invalid address %s", to)
	}
	t.mu.Lock()
	switch {
	case t.closed:
		t.mu.Unlock()
		return fmt.Errorf("transport: tcp dial %s: %w", to, ErrClosed)
	case t.conns[to] != nil:
		t.mu.Unlock()
		return nil
	case len(t.conns)+t.dialing >= t.cfg.MaxConns:
		t.mu.Unlock()
		return fmt.Errorf("transport: tcp dial %s: %w (limit %d)", to, ErrTooManyConnections, t.cfg.MaxConns)
	}
	t.dialing++
	t.mu.Unlock()

	dctx, cancel := context.WithTimeout(ctx, t.cfg.DialTimeout)
	stop := context.AfterFunc(t.ctx, cancel)
	nc, err := t.dialer.DialContext(dctx, "tcp", to.String())
	stop()
	cancel()

	t.mu.Lock()
	defer t.mu.Unlock()
	t.dialing--
	if err != nil {
		if t.closed {
			err = ErrClosed
		}
		return fmt.Errorf("transport: tcp dial %s: %w", to, err)
	}
	if t.closed {
		nc.Close()
		return fmt.Errorf("transport: tcp dial %s: %w", to, ErrClosed)
	}
	if t.conns[to] != nil {
		nc.Close() // lost a race with another Dial: keep the first
		return nil
	}
	t.dialed.Add(1)
	t.startLocked(nc, to, true)
	return nil
}

// CloseConn closes the connection to peer, if any.
func (t *TCPTransport) CloseConn(peer netip.AddrPort) {
	t.mu.Lock()
	c := t.conns[normalize(peer)]
	t.mu.Unlock()
	if c != nil {
		c.fail(fmt.Errorf("transport: tcp: connection to %s closed locally: %w", c.peer, ErrClosed))
	}
}

// Send implements Transport: it writes msg, framed, on the connection to the
// peer. It fails with ErrNoConnection if there is none (see Dial).
func (t *TCPTransport) Send(ctx context.Context, to netip.AddrPort, msg []byte) error {
	switch {
	case len(msg) > t.cfg.MaxMessageSize:
		return fmt.Errorf("transport: tcp send to %s: %d bytes, limit %d: %w", to, len(msg), t.cfg.MaxMessageSize, ErrMessageTooLarge)
	case len(msg) == 0:
		return fmt.Errorf("transport: tcp send to %s: empty message", to)
	}
	t.mu.Lock()
	closed, c := t.closed, t.conns[normalize(to)]
	t.mu.Unlock()
	switch {
	case closed:
		return fmt.Errorf("transport: tcp send to %s: %w", to, ErrClosed)
	case c == nil:
		return fmt.Errorf("transport: tcp send to %s: %w", to, ErrNoConnection)
	}
	if err := c.write(ctx, msg); err != nil {
		return fmt.Errorf("transport: tcp send to %s: %w", to, err)
	}
	t.sent.Add(1)
	return nil
}

// Receive implements Transport.
func (t *TCPTransport) Receive(ctx context.Context) (Packet, error) {
	return receive(ctx, t.in, t.done)
}

// Close implements Transport: it stops accepting, closes every connection,
// cancels dials in progress and waits for its goroutines.
func (t *TCPTransport) Close() error {
	t.closeOnce.Do(func() {
		t.mu.Lock()
		t.closed = true
		conns := make([]*tcpConn, 0, len(t.conns))
		for _, c := range t.conns {
			conns = append(conns, c)
		}
		t.mu.Unlock()
		close(t.done)
		t.cancel()
		for _, ln := range t.lns {
			ln.Close()
		}
		for _, c := range conns {
			c.fail(fmt.Errorf("transport: tcp: %w", ErrClosed))
		}
	})
	t.wg.Wait()
	return nil
}

func (t *TCPTransport) acceptLoop(ln net.Listener) {
	defer t.wg.Done()
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			select {
			case <-t.done:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: wait, then retry.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			t.log.Warn("tcp accept failed", "err", err, "retry_in", backoff)
			select {
			case <-time.After(backoff):
			case <-t.done:
				return
			}
			continue
		}
		backoff = 0
		peer, ok := addrPortOf(nc.RemoteAddr())
		if !ok {
			t.rejected.Add(1)
			nc.Close()
			continue
		}
		t.mu.Lock()
		switch {
		case t.closed:
			nc.Close()
		case t.conns[peer] != nil, len(t.conns)+t.dialing >= t.cfg.MaxConns:
			t.rejected.Add(1)
			nc.Close()
		default:
			t.accepted.Add(1)
			t.startLocked(nc, peer, false)
		}
		t.mu.Unlock()
	}
}

// startLocked registers a connection and starts its reader. t.mu is held and
// t.closed is false, so the wg.Add happens before Close's Wait.
func (t *TCPTransport) startLocked(nc net.Conn, peer netip.AddrPort, outbound bool) {
	c := &tcpConn{
		t:        t,
		conn:     nc,
		peer:     peer,
		outbound: outbound,
		closed:   make(chan struct{}),
	}
	c.lastRead.Store(time.Now().UnixNano())
	t.conns[peer] = c
	t.wg.Add(1)
	go c.readLoop()
}

// tcpConn is one connection. Its reader goroutine owns the read side and
// reports the close; writers serialize on wmu.
type tcpConn struct {
	t        *TCPTransport
	conn     net.Conn
	peer     netip.AddrPort
	outbound bool

	wmu sync.Mutex

	lastRead, lastWrite atomic.Int64 // UnixNano of the last whole message

	closeOnce sync.Once
	closed    chan struct{}
	err       error // first failure; written once inside closeOnce
}

// fail closes the connection with err (only the first reason is kept) and
// removes it from the table so that the peer's address is free for a new
// one.
func (c *tcpConn) fail(err error) {
	c.closeOnce.Do(func() {
		c.err = err
		close(c.closed)
		c.conn.Close()
		c.t.mu.Lock()
		if c.t.conns[c.peer] == c {
			delete(c.t.conns, c.peer)
		}
		c.t.mu.Unlock()
	})
}

func (c *tcpConn) readLoop() {
	defer c.t.wg.Done()
	err := c.serve()
	c.fail(err)
	<-c.closed // fail above or an earlier one has run: c.err is set
	if c.t.cfg.OnClose != nil {
		c.t.cfg.OnClose(c.peer, c.err)
	}
}

func (c *tcpConn) serve() error {
	r := &stagedReader{c: c, first: !c.outbound}
	for {
		r.begin()
		msg, err := ReadFrame(r, c.t.cfg.MaxMessageSize)
		if err != nil {
			return c.readErr(r, err)
		}
		r.first = false
		c.lastRead.Store(time.Now().UnixNano())
		p := Packet{From: PeerAddr{Network: TCP, Addr: c.peer}, Data: msg}
		select {
		case c.t.in <- p:
			c.t.received.Add(1)
		case <-c.closed:
			return nil
		}
	}
}

// readErr names why reading stopped.
func (c *tcpConn) readErr(r *stagedReader, err error) error {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout() && r.started:
		return fmt.Errorf("transport: tcp: %s: %w", c.peer, ErrFrameTimeout)
	case errors.As(err, &ne) && ne.Timeout():
		return fmt.Errorf("transport: tcp: %s: %w", c.peer, ErrIdleTimeout)
	case errors.Is(err, io.EOF):
		return fmt.Errorf("transport: tcp: %s: peer closed the connection: %w", c.peer, err)
	default:
		return fmt.Errorf("transport: tcp: read from %s: %w", c.peer, err)
	}
}

// write sends one framed message. Any failure closes the connection: a
// partial write leaves the peer unable to find the next frame.
func (c *tcpConn) write(ctx context.Context, msg []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	select {
	case <-c.closed:
		return fmt.Errorf("%w: %w", ErrNoConnection, c.err)
	default:
	}
	deadline := time.Now().Add(c.t.cfg.WriteTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := c.conn.SetWriteDeadline(deadline); err != nil {
		c.fail(err)
		return err
	}
	interrupted := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(interrupted)
		c.conn.SetWriteDeadline(time.Unix(1, 0)) // unblock the write now
	})
	var hdr [TCPLengthPrefixSize]byte
	binary.LittleEndian.PutUint32(hdr[:], uint32(len(msg)))
	bufs := net.Buffers{hdr[:], msg}
	_, err := bufs.WriteTo(c.conn)
	if !stop() {
		<-interrupted // don't let the callback touch a later write's deadline
	}
	if err != nil {
		var ne net.Error
		if cerr := ctx.Err(); cerr != nil {
			err = fmt.Errorf("%w (%w)", cerr, err)
		} else if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) && errors.As(err, &ne) && ne.Timeout() {
			// The deadline was ctx's; its timer may not have fired yet.
			err = fmt.Errorf("%w (%w)", context.DeadlineExceeded, err)
		}
		c.fail(fmt.Errorf("transport: tcp: write to %s: %w", c.peer, err))
		return err
	}
	c.lastWrite.Store(time.Now().UnixNano())
	return nil
}

// stagedReader applies the connection's read deadlines: while waiting for
// the first byte of a message, the idle deadline (or the first-message
// deadline of a fresh inbound connection); from that byte on, a fixed
// deadline for the whole message.
type stagedReader struct {
	c       *tcpConn
	first   bool // no complete message yet on an accepted connection
	started bool // some bytes of the current message have arrived
	since   time.Time
}

func (r *stagedReader) begin() {
	r.started = false
	r.since = time.Now()
}

func (r *stagedReader) Read(p []byte) (int, error) {
	cfg := &r.c.t.cfg
	if r.started {
		return r.c.conn.Read(p)
	}
	for {
		var deadline time.Time
		if r.first {
			deadline = r.since.Add(cfg.FirstFrameTimeout)
		} else {
			last := max(r.c.lastRead.Load(), r.c.lastWrite.Load())
			deadline = time.Unix(0, last).Add(cfg.IdleTimeout)
		}
		if err := r.c.conn.SetReadDeadline(deadline); err != nil {
			return 0, err
		}
		n, err := r.c.conn.Read(p)
		if n > 0 {
			r.started = true
			if derr := r.c.conn.SetReadDeadline(time.Now().Add(cfg.FrameTimeout)); derr != nil && err == nil {
				err = derr
			}
			return n, err
		}
		var ne net.Error
		if !r.first && errors.As(err, &ne) && ne.Timeout() {
			// A write since the deadline was set moves it.
			last := max(r.c.lastRead.Load(), r.c.lastWrite.Load())
			if time.Now().Before(time.Unix(0, last).Add(cfg.IdleTimeout)) {
				continue
			}
		}
		return n, err
	}
}

// normalize maps IPv4-mapped IPv6 addresses to IPv4 so that one peer has one
// key.
func normalize(a netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}

func addrPortOf(a net.Addr) (netip.AddrPort, bool) {
	switch a := a.(type) {
	case *net.TCPAddr:
		return normalize(a.AddrPort()), true
	case nil:
		return netip.AddrPort{}, false
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.AddrPort{}, false
	}
	return normalize(ap), true
}
