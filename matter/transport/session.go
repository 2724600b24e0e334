package transport

import (
	"errors"
	"time"

	"github.com/mattercam/mattercam/matter/message"
)

// The exchange layer sits on top of sessions (matter/session) but must not
// import them: sessions depend on this package's transports. It sees a
// session through the two small interfaces below, which the session table
// implements.

// Session is one end of a unicast session, secure (PASE, CASE) or the
// Unsecured Session with one peer, as the exchange layer uses it.
//
// Implementations must be comparable (pointer types are): the exchange
// table is keyed by (Session, Exchange ID, role), Core §4.11.
type Session interface {
	// Peer is where messages of this session go: a UDP address, or the TCP
	// connection the session runs over.
	Peer() PeerAddr

	// SealMessage appends to dst the complete wire form of one outgoing
	// message: it takes a fresh message counter, writes the message header
	// for this session, the protocol header ph and payload, and encrypts
	// and obfuscates them as the session requires (Core §4.7.1). It
	// returns the counter it used, which the peer acknowledges (Core
	// §4.12). It must not call back into the exchange layer.
	SealMessage(dst []byte, ph *message.ProtocolHeader, payload []byte) (msg []byte, counter uint32, err error)

	// PeerMRP returns the peer's MRP session parameters, from its session
	// establishment messages or DNS-SD record. Zero fields take the spec
	// defaults.
	PeerMRP() MRPParams
}

// Inbound is a received message after the session layer has authenticated
// it and checked its counter (Core §4.7.2).
type Inbound struct {
	// Session is the session the message belongs to.
	Session Session
	// Header is the decoded (deobfuscated) message header.
	Header message.Header
	// Protocol is the decrypted protocol header.
	Protocol message.ProtocolHeader
	// Payload is the application payload; the exchange layer hands it to
	// the receiver without copying.
	Payload []byte
	// Duplicate reports that the message counter had already been
	// received. The exchange layer acknowledges a duplicate that asks for
	// it and drops it (Core §4.12, duplicate messages).
	Duplicate bool
}

// SessionTable turns received packets into session messages: it finds the
// session from the Session ID (or, for the Unsecured Session, from the peer
// and its node ID), decrypts, and runs counter processing, committing the
// counter of a new message.
type SessionTable interface {
	Open(p Packet) (Inbound, error)
}

// HoldingSessionTable is a SessionTable that does not lose messages which
// arrive for a session a handshake is still installing.
//
// A peer may use a new session as soon as its own side of PASE or CASE is
// complete: the CASE initiator right after the StatusReport that confirms a
// resumption (Core §4.14.2.2), the responder right after its final
// StatusReport (§4.14.1, §4.14.2). The message can overtake the handshake
// goroutine that installs the session on this side. Over UDP MRP would
// retransmit it, but over TCP nothing does (§4.12: no MRP on TCP), so
// dropping it loses a request.
//
// For a Session ID reserved by a handshake in progress, Open keeps the
// packet (boundedly) and fails with an error wrapping ErrSessionPending; once
// the session is installed the table passes the packet, unchanged, to the
// function registered with SetRedeliver, which processes it as if it had
// just been received. Packets held for a handshake that fails are dropped.
// The Manager registers itself when its SessionTable implements this
// interface.
type HoldingSessionTable interface {
	SessionTable
	SetRedeliver(func(Packet))
}

// ErrSessionPending reports a message that a HoldingSessionTable keeps until
// the session it is for has been installed.
var ErrSessionPending = errors.New("transport: message held for a session being established")

// MRPParams are the MRP session parameters a node advertises (Core 1.3
// §4.12.8, session parameters TLV tags 1 to 3; DNS-SD SII, SAI, SAT).
type MRPParams struct {
	// IdleInterval is SESSION_IDLE_INTERVAL: the base retransmission
	// interval while the node is idle.
	IdleInterval time.Duration
	// ActiveInterval is SESSION_ACTIVE_INTERVAL: the base interval while
	// it is active.
	ActiveInterval time.Duration
	// ActiveThreshold is SESSION_ACTIVE_THRESHOLD: how long the node stays
	// active after network activity.
	ActiveThreshold time.Duration
}

// withDefaults fills zero fields with the spec defaults and caps the
// intervals at MaxSessionInterval, so that a peer cannot advertise a value
// that overflows the backoff arithmetic.
func (p MRPParams) withDefaults() MRPParams {
	fix := func(d *time.Duration, def time.Duration) {
		if *d <= 0 {
			*d = def
		}
		*d = min(*d, MaxSessionInterval)
	}
	fix(&p.IdleInterval, DefaultSessionIdleInterval)
	fix(&p.ActiveInterval, DefaultSessionActiveInterval)
	fix(&p.ActiveThreshold, DefaultSessionActiveThreshold)
	return p
}
