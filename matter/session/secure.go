package session

import (
	"crypto/cipher"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mattercam/mattercam/matter/message"
	"github.com/mattercam/mattercam/matter/transport"
)

// Errors returned by sessions and the table. They may be wrapped; test
// with [errors.Is].
var (
	// ErrClosed reports a session that has been removed from its table.
	ErrClosed = errors.New("session: closed")
	// ErrTableFull reports that no session can be evicted to make room.
	ErrTableFull = errors.New("session: table full")
	// ErrTooManyPending reports that too many Session IDs are reserved by
	// handshakes in progress.
	ErrTooManyPending = errors.New("session: too many pending session establishments")
	// ErrNoSessionID reports that every Session ID is in use.
	ErrNoSessionID = errors.New("session: no free session ID")
	// ErrWrongSession reports a message addressed to another session.
	ErrWrongSession = errors.New("session: message is not for this session")
	// ErrReservation reports a reservation that was already used or
	// released.
	ErrReservation = errors.New("session: reservation already used")
	// ErrNoSession reports a message for a session the table does not
	// have: the "message security failed" case of §4.8.3.
	ErrNoSession = errors.New("session: no such session")
	// ErrUnsupported reports a message this table does not handle: group
	// session messages go to the group layer.
	ErrUnsupported = errors.New("session: unsupported message")
)

// Role is the part a node played in establishing a session: the initiator
// sent PBKDFParamRequest or Sigma1.
type Role uint8

const (
	// Initiator sent the first handshake message and encrypts with the
	// I2R key.
	Initiator Role = iota
	// Responder answered it and encrypts with the R2I key.
	Responder
)

func (r Role) String() string {
	switch r {
	case Initiator:
		return "initiator"
	case Responder:
		return "responder"
	}
	return fmt.Sprintf("Role(%d)", uint8(r))
}

// AuthMode is how a session authenticated its peer. The values are those of
// the Access Control cluster's AuthModeEnum, which the access control
// checks compare against.
type AuthMode uint8

const (
	// AuthPASE is a session established with a passcode (§4.14.1).
	AuthPASE AuthMode = 1
	// AuthCASE is a session established with operational certificates
	// (§4.14.2).
	AuthCASE AuthMode = 2
	// AuthGroup is a group message's authentication by an operational
	// group key; a [Table] holds no group sessions.
	AuthGroup AuthMode = 3
)

func (m AuthMode) String() string {
	switch m {
	case AuthPASE:
		return "PASE"
	case AuthCASE:
		return "CASE"
	case AuthGroup:
		return "group"
	}
	return fmt.Sprintf("AuthMode(%d)", uint8(m))
}

// CAT is a CASE Authenticated Tag (§6.6.2.1.2): a 16-bit identifier in the
// upper half and a 16-bit version, which must not be 0, in the lower half.
type CAT uint32

// Identifier returns the tag's identifier.
func (c CAT) Identifier() uint16 { return uint16(c >> 16) }

// Version returns the tag's version.
func (c CAT) Version() uint16 { return uint16(c) }

// Valid reports whether c has a non-zero version.
func (c CAT) Valid() bool { return c.Version() != 0 }

// MaxCATs is how many CASE Authenticated Tags a NOC, and so a session, can
// carry (§6.6.2.1.2).
const MaxCATs = 3

// CATs are the CASE Authenticated Tags of a session's peer. Unused entries
// are 0.
type CATs [MaxCATs]CAT

// Keys are the session keys derived at the end of PASE (§4.14.1) or CASE
// (§4.14.2) with the "SessionKeys" info: the initiator-to-responder and
// responder-to-initiator encryption keys, 16 octets each, and the 16-octet
// attestation challenge.
type Keys struct {
	I2R                  []byte
	R2I                  []byte
	AttestationChallenge []byte
}

// Resumption is the CASE session resumption record a session was
// established with (§4.14.2.2): the ResumptionID and the shared secret a
// later Sigma1 with resumption can use. The table hands it to the
// [Config.OnRemove] hook, which can keep it after the session is gone.
type Resumption struct {
	ID           [16]byte
	SharedSecret []byte
}

// SecureConfig describes a secure session established by PASE or CASE.
type SecureConfig struct {
	// PeerSessionID is the Session ID the peer allocated, which goes into
	// the header of every message sent on the session.
	PeerSessionID uint16
	Role          Role
	AuthMode      AuthMode // AuthPASE or AuthCASE

	// FabricIndex is the fabric of a CASE session; 0 for PASE until AddNOC
	// binds the session to the new fabric ([Secure.SetFabricIndex]).
	FabricIndex uint8
	// LocalNodeID and PeerNodeID are the operational node IDs of a CASE
	// session; they are the nonce source node IDs of sent and received
	// messages (§4.8.1.1). PASE uses the Unspecified Node ID, 0.
	LocalNodeID uint64
	PeerNodeID  uint64
	PeerCATs    CATs

	Keys Keys

	// PeerParams are the session parameters the peer sent; absent fields
	// take their defaults.
	PeerParams Params
	// Peer is where the peer's messages come from and where replies go.
	// The table follows the peer when an authenticated message arrives
	// from elsewhere.
	Peer transport.PeerAddr
	// Privacy makes the session send every message with the P flag
	// (§4.9).
	Privacy bool
	// Resumption is the CASE resumption record, or nil.
	Resumption *Resumption
}

// Secure is the context of a secure unicast session (§4.13): its
// identifiers and peer, its keys, its send counter and the reception state
// of the peer's counter, and the timestamps the eviction policy and MRP use.
// It is safe for concurrent use; its AEADs must be too.
type Secure struct {
	table *Table

	localID    uint16
	peerID     uint16
	role       Role
	auth       AuthMode
	localNode  uint64
	peerNode   uint64
	cats       CATs
	challenge  [16]byte
	resumption *Resumption

	enc, dec         cipher.AEAD
	encPriv, decPriv *message.Privacy
	counter          *message.SessionCounter
	privacy          atomic.Bool
	closed           atomic.Bool

	mu           sync.Mutex
	recv         message.ReceptionState
	fabric       uint8
	peer         transport.PeerAddr
	params       Params
	lastActivity time.Time // SessionTimestamp
	lastReceived time.Time // ActiveTimestamp
	holds        int
	evict        bool // marked for eviction: first to go when room is needed
}

// LocalSessionID returns the Session ID this node allocated; received
// messages carry it.
func (s *Secure) LocalSessionID() uint16 { return s.localID }

// PeerSessionID returns the Session ID the peer allocated; sent messages
// carry it.
func (s *Secure) PeerSessionID() uint16 { return s.peerID }

// Role returns the part this node played in establishing the session.
func (s *Secure) Role() Role { return s.role }

// AuthMode returns how the peer was authenticated.
func (s *Secure) AuthMode() AuthMode { return s.auth }

// LocalNodeID returns this node's operational node ID on a CASE session,
// 0 on PASE.
func (s *Secure) LocalNodeID() uint64 { return s.localNode }

// PeerNodeID returns the peer's operational node ID on a CASE session, 0
// on PASE.
func (s *Secure) PeerNodeID() uint64 { return s.peerNode }

// PeerCATs returns the peer's CASE Authenticated Tags.
func (s *Secure) PeerCATs() CATs { return s.cats }

// AttestationChallenge returns the session's attestation challenge.
func (s *Secure) AttestationChallenge() [16]byte { return s.challenge }

// Resumption returns the CASE resumption record, or nil.
func (s *Secure) Resumption() *Resumption { return s.resumption }

// FabricIndex returns the session's fabric, 0 if none.
func (s *Secure) FabricIndex() uint8 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fabric
}

// SetFabricIndex binds a PASE session to the fabric AddNOC just created.
// It fails for a CASE session or one already bound to a fabric.
func (s *Secure) SetFabricIndex(fabric uint8) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.auth != AuthPASE || s.fabric != 0 {
		return fmt.Errorf("session: %#04x: cannot rebind a %v session on fabric %d to fabric %d", s.localID, s.auth, s.fabric, fabric)
	}
	s.fabric = fabric
	return nil
}

// Peer returns the peer's current address. It implements
// [transport.Session].
func (s *Secure) Peer() transport.PeerAddr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peer
}

// SetPeer records a new address for the peer.
func (s *Secure) SetPeer(a transport.PeerAddr) {
	s.mu.Lock()
	s.peer = a
	s.mu.Unlock()
}

// PeerParams returns the peer's session parameters, defaults filled in.
func (s *Secure) PeerParams() Params {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.params
}

// PeerMRP returns the peer's MRP parameters. It implements
// [transport.Session].
func (s *Secure) PeerMRP() transport.MRPParams {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.params.MRP()
}

// SetPeerParams replaces the peer's session parameters, as when operational
// discovery returns newer ones (§4.12.2.1).
func (s *Secure) SetPeerParams(p Params) error {
	if err := p.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	s.params = p.Effective()
	s.mu.Unlock()
	return nil
}

// SetPrivacy sets whether messages are sent with the P flag (§4.9).
func (s *Secure) SetPrivacy(on bool) { s.privacy.Store(on) }

// LastActivity returns the SessionTimestamp: when a message was last sent
// or received on the session (§4.7.1, §4.7.2).
func (s *Secure) LastActivity() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastActivity
}

// LastReceived returns the ActiveTimestamp: when a message was last
// received from the peer (§4.7.2).
func (s *Secure) LastReceived() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastReceived
}

// PeerActive reports whether the peer is in active mode: it was heard from
// within its SESSION_ACTIVE_THRESHOLD. MRP then uses its active interval
// (§4.12.2.1).
func (s *Secure) PeerActive() bool {
	now := s.table.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.lastReceived.IsZero() && now.Sub(s.lastReceived) < s.params.ActiveThreshold
}

// Closed reports whether the session has been removed from its table.
func (s *Secure) Closed() bool { return s.closed.Load() }

// Hold marks the session in use, typically for the life of an exchange:
// the table does not evict or expire a held session. The returned func
// releases the hold; calling it more than once is harmless.
func (s *Secure) Hold() (release func()) {
	s.mu.Lock()
	s.holds++
	s.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			s.holds--
			s.mu.Unlock()
		})
	}
}

// MarkForEviction makes the session the first candidate when the table
// needs room, without closing it now; for example when a newer session to
// the same peer exists.
func (s *Secure) MarkForEviction() {
	s.mu.Lock()
	s.evict = true
	s.mu.Unlock()
}

// Close removes the session from its table. It reports whether it did.
func (s *Secure) Close() bool { return s.table.Remove(s, ReasonClosed) }

// nonceSource returns the nonce source node IDs of sent and received
// messages (§4.8.1.1): the operational node IDs under CASE, the Unspecified
// Node ID under PASE.
func (s *Secure) nonceSource() (local, peer uint64) {
	if s.auth == AuthPASE {
		return 0, 0
	}
	return s.localNode, s.peerNode
}

// SealMessage appends to dst a complete secured message carrying the protocol
// header ph and payload (§4.7.1): it takes the next value of the session's
// counter, builds the header (the peer's Session ID, no node IDs, the P
// flag if privacy is on), encrypts, and updates the SessionTimestamp. It
// returns the extended dst and the message counter used, which MRP needs to
// match acknowledgements. dst is grown at most once; it is not reallocated
// if it has room for the message.
//
// When the counter is exhausted the session is marked for eviction and
// SealMessage fails with [message.ErrCounterExhausted]: it must be
// re-established (§4.6.1). It implements [transport.Session].
func (s *Secure) SealMessage(dst []byte, ph *message.ProtocolHeader, payload []byte) ([]byte, uint32, error) {
	if s.closed.Load() {
		return dst, 0, fmt.Errorf("session %#04x: seal: %w", s.localID, ErrClosed)
	}
	ctr, err := s.counter.Next()
	if err != nil {
		s.MarkForEviction()
		return dst, 0, fmt.Errorf("session %#04x: seal: %w", s.localID, err)
	}
	h := message.Header{SessionID: s.peerID, Counter: ctr, Privacy: s.privacy.Load()}
	start := len(dst)
	dst = slices.Grow(dst, h.Len()+ph.Len()+len(payload)+message.MICSize)
	dst, err = message.AppendMessage(dst, &h, ph, payload)
	if err != nil {
		return dst[:start], 0, fmt.Errorf("session %#04x: seal: %w", s.localID, err)
	}
	local, _ := s.nonceSource()
	out, err := message.Seal(dst[start:], s.enc, local, s.encPriv)
	if err != nil {
		return dst[:start], 0, fmt.Errorf("session %#04x: seal: %w", s.localID, err)
	}
	now := s.table.now()
	s.mu.Lock()
	s.lastActivity = now
	s.mu.Unlock()
	return dst[:start+len(out)], ctr, nil
}

// OpenMessage authenticates and decrypts, in place, a message addressed
// to this session, then performs counter processing (§4.7.2): it checks the
// counter against the reception state, records it if new, and updates the
// SessionTimestamp and ActiveTimestamp. It fills in, with Payload aliasing
// msg. A duplicate is authentic: the exchange layer acknowledges it if it
// asks for it, then drops it (§4.12.2). [Table.Open] finds the session by
// the header's Session ID and calls OpenMessage.
func (s *Secure) OpenMessage(msg []byte, in *transport.Inbound) error {
	if s.closed.Load() {
		return fmt.Errorf("session %#04x: open: %w", s.localID, ErrClosed)
	}
	_, peer := s.nonceSource()
	pt, err := message.Open(msg, &in.Header, s.dec, peer, s.decPriv)
	if err != nil {
		return fmt.Errorf("session %#04x: %w", s.localID, err)
	}
	if in.Header.SessionType != message.SessionUnicast || in.Header.SessionID != s.localID {
		return fmt.Errorf("session %#04x: open: %w: %v session %#04x", s.localID, ErrWrongSession, in.Header.SessionType, in.Header.SessionID)
	}
	n, err := in.Protocol.Decode(pt)
	if err != nil {
		return fmt.Errorf("session %#04x: open: %w", s.localID, err)
	}
	in.Payload = pt[n:]
	in.Session = s
	now := s.table.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	dup, err := s.recv.Check(in.Header.Counter)
	if err != nil {
		return fmt.Errorf("session %#04x: open: %w", s.localID, err)
	}
	if !dup {
		s.recv.Commit(in.Header.Counter)
	}
	in.Duplicate = dup
	s.lastActivity, s.lastReceived = now, now
	return nil
}
