package transport

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
)

// Network names the kind of transport a message travels on.
type Network uint8

const (
	// UDP is an unreliable datagram transport limited to
	// MaxUDPMessageSize per message. MRP runs on top of it.
	UDP Network = iota + 1
	// TCP is a reliable stream transport that carries large messages. MRP
	// is not used on it.
	TCP
)

func (n Network) String() string {
	switch n {
	case UDP:
		return "udp"
	case TCP:
		return "tcp"
	default:
		return fmt.Sprintf("network(%d)", uint8(n))
	}
}

// Reliable reports whether the network delivers every message, in order,
// without duplicates. MRP runs only over unreliable transports (Core §4.12):
// over TCP the R flag is not set and no acknowledgements are sent.
func (n Network) Reliable() bool { return n == TCP }

// PeerAddr is the address of a peer on one network. For TCP it names one
// connection: the remote end of the socket.
type PeerAddr struct {
	Network Network
	Addr    netip.AddrPort
}

// IsValid reports whether a has a known network and a valid address.
func (a PeerAddr) IsValid() bool {
	return (a.Network == UDP || a.Network == TCP) && a.Addr.IsValid()
}

func (a PeerAddr) String() string {
	return a.Network.String() + "/" + a.Addr.String()
}

// Packet is one whole Matter message as it arrived from a peer. The receiver
// owns Data.
type Packet struct {
	From PeerAddr
	Data []byte
}

// Transport moves whole Matter messages to and from peers on one network.
// Implementations are safe for concurrent use.
type Transport interface {
	// Network reports the network the transport carries; it is the
	// Network of every Packet it returns.
	Network() Network

	// MaxMessageSize is the largest message Send accepts and Receive can
	// return, in bytes.
	MaxMessageSize() int

	// Send transmits msg to the peer as one message. It does not retain
	// msg after it returns. A message larger than MaxMessageSize fails with
	// an error wrapping ErrMessageTooLarge.
	Send(ctx context.Context, to netip.AddrPort, msg []byte) error

	// Receive returns the next message from any peer. It blocks until a
	// message arrives, ctx is done, or the transport is closed (ErrClosed).
	Receive(ctx context.Context) (Packet, error)

	// Close stops the transport and every goroutine it started; pending
	// and later calls fail with ErrClosed. Close is idempotent.
	Close() error
}

// Errors returned by the transports, wrapped with context; test with
// errors.Is.
var (
	// ErrClosed reports use of a transport, connection or manager after
	// Close.
	ErrClosed = errors.New("transport: closed")

	// ErrMessageTooLarge reports a message over the transport's limit.
	ErrMessageTooLarge = errors.New("transport: message too large")

	// ErrNoConnection reports a TCP send to a peer with no open
	// connection.
	ErrNoConnection = errors.New("transport: no connection to peer")

	// ErrTooManyConnections reports that the TCP connection limit is
	// reached.
	ErrTooManyConnections = errors.New("transport: too many connections")

	// ErrQueueFull reports that a bounded queue had no room.
	ErrQueueFull = errors.New("transport: queue full")
)

// receive is the shared implementation of Transport.Receive over a channel
// of inbound packets and a done channel closed by Close.
func receive(ctx context.Context, in <-chan Packet, done <-chan struct{}) (Packet, error) {
	// After Close every Receive fails, even with packets still queued.
	select {
	case <-done:
		return Packet{}, ErrClosed
	default:
	}
	select {
	case p := <-in:
		return p, nil
	case <-done:
		return Packet{}, ErrClosed
	case <-ctx.Done():
		return Packet{}, ctx.Err()
	}
}
