package transport

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
)

// pipeListener is a net.Listener whose connections are net.Pipe pairs with
// made-up TCP addresses. Everything it does is channel operations and
// timers, so it works inside a synctest bubble.
type pipeListener struct {
	addr   netip.AddrPort
	conns  chan net.Conn
	once   sync.Once
	closed chan struct{}

	mu   sync.Mutex
	next uint16
}

func newPipeListener(addr netip.AddrPort) *pipeListener {
	return &pipeListener{addr: addr, conns: make(chan net.Conn), closed: make(chan struct{}), next: 40000}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return net.TCPAddrFromAddrPort(l.addr) }

// dial connects a client to the listener and returns the client's end.
func (l *pipeListener) dial(ctx context.Context, from netip.AddrPort) (net.Conn, error) {
	if !from.IsValid() {
		l.mu.Lock()
		l.next++
		from = netip.AddrPortFrom(netip.MustParseAddr("fd00::99"), l.next)
		l.mu.Unlock()
	}
	client, server := net.Pipe()
	cl := addrConn{client, net.TCPAddrFromAddrPort(from), net.TCPAddrFromAddrPort(l.addr)}
	sv := addrConn{server, net.TCPAddrFromAddrPort(l.addr), net.TCPAddrFromAddrPort(from)}
	select {
	case l.conns <- sv:
		return cl, nil
	case <-l.closed:
		return nil, errors.New("connection refused")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type addrConn struct {
	net.Conn
	local, remote net.Addr
}

func (c addrConn) LocalAddr() net.Addr  { return c.local }
func (c addrConn) RemoteAddr() net.Addr { return c.remote }

// pipeDialer dials pipeListeners by address.
type pipeDialer struct {
	from      netip.AddrPort
	listeners map[string]*pipeListener
}

func (d *pipeDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	l := d.listeners[address]
	if l == nil {
		return nil, errors.New("connection refused")
	}
	return l.dial(ctx, d.from)
}
