package session

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/mattercam/mattercam/matter/message"
	"github.com/mattercam/mattercam/matter/transport"
)

// Operational node ID range (§2.5.5.1): ephemeral initiator node IDs are
// drawn from it.
const (
	minOperationalNodeID = 0x0000_0000_0000_0001
	maxOperationalNodeID = 0xFFFF_FFEF_FFFF_FFFF
)

// RandomEphemeralNodeID returns a random Ephemeral Initiator Node ID for a
// new Unsecured Session context: a random operational node ID (§4.13.2).
// r nil means [crypto/rand.Reader].
func RandomEphemeralNodeID(r io.Reader) (uint64, error) {
	if r == nil {
		r = rand.Reader
	}
	var b [8]byte
	for range 64 {
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return 0, fmt.Errorf("session: ephemeral node ID: %w", err)
		}
		// Rejection keeps the draw uniform; the range covers all but 2^44
		// of the 2^64 values, so a retry is rare.
		if v := binary.LittleEndian.Uint64(b[:]); v >= minOperationalNodeID && v <= maxOperationalNodeID {
			return v, nil
		}
	}
	return 0, fmt.Errorf("session: ephemeral node ID: random source keeps returning values outside the operational range")
}

type unsecuredKey struct {
	peer transport.PeerAddr
	node uint64
	role Role
}

// Unsecured is an Unsecured Session context (§4.13.2): the state of one
// PASE or CASE handshake on the Unsecured Session. It is identified by the
// peer's address, the Ephemeral Initiator Node ID (which the initiator
// sends as the Source Node ID and the responder returns as the Destination
// Node ID) and this node's role. It tracks the peer's Global Unencrypted
// Message Counter. It is safe for concurrent use, and implements
// [transport.Session].
type Unsecured struct {
	table *Table
	key   unsecuredKey

	mu           sync.Mutex
	recv         message.ReceptionState
	mrp          transport.MRPParams
	lastActivity time.Time
	closed       bool
}

// Peer returns the peer's address. It implements [transport.Session].
func (u *Unsecured) Peer() transport.PeerAddr { return u.key.peer }

// EphemeralNodeID returns the Ephemeral Initiator Node ID.
func (u *Unsecured) EphemeralNodeID() uint64 { return u.key.node }

// Role returns this node's part in the handshake.
func (u *Unsecured) Role() Role { return u.key.role }

// PeerMRP returns the peer's MRP parameters, as set by
// [Unsecured.SetPeerMRP]; zero fields take the defaults. It implements
// [transport.Session].
func (u *Unsecured) PeerMRP() transport.MRPParams {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.mrp
}

// SetPeerMRP records the peer's MRP parameters, learnt from its DNS-SD
// record or from the session parameters of its first handshake message.
func (u *Unsecured) SetPeerMRP(p transport.MRPParams) {
	u.mu.Lock()
	u.mrp = p
	u.mu.Unlock()
}

// LastActivity returns when a message was last sent or received.
func (u *Unsecured) LastActivity() time.Time {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.lastActivity
}

// Closed reports whether the context has left its table, closed or
// dropped to make room.
func (u *Unsecured) Closed() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.closed
}

// Close removes the context from its table, typically when its handshake
// ends.
func (u *Unsecured) Close() { u.table.removeUnsecured(u) }

// SealMessage appends to dst an Unsecured Session message carrying ph and
// payload: Session ID 0, the node's next global unencrypted counter
// (§4.6.1), and the ephemeral node ID as the Source Node ID when this node
// initiated the handshake or as the Destination Node ID when it responds
// (§4.13.2). It returns the counter used, for MRP. It implements
// [transport.Session].
func (u *Unsecured) SealMessage(dst []byte, ph *message.ProtocolHeader, payload []byte) ([]byte, uint32, error) {
	h := message.Header{Counter: u.table.unencrypted.Next()}
	if u.key.role == Initiator {
		h.HasSource, h.Source = true, u.key.node
	} else {
		h.Destination, h.DestNode = message.DestinationNode, u.key.node
	}
	out, err := message.AppendMessage(dst, &h, ph, payload)
	if err != nil {
		return dst, 0, fmt.Errorf("session: unsecured: %w", err)
	}
	now := u.table.now()
	u.mu.Lock()
	u.lastActivity = now
	u.mu.Unlock()
	return out, h.Counter, nil
}

// receive performs counter processing for a message received in the
// context (§4.6.7) and reports whether it is a duplicate. The Unsecured
// Session has no MIC, so the counter is recorded at once.
func (u *Unsecured) receive(counter uint32) (duplicate bool) {
	now := u.table.now()
	u.mu.Lock()
	defer u.mu.Unlock()
	dup, _ := u.recv.Check(counter) // never fails for ReceptionUnencrypted
	if !dup {
		u.recv.Commit(counter)
	}
	u.lastActivity = now
	return dup
}
