package session

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mattercam/mattercam/matter/message"
	"github.com/mattercam/mattercam/matter/transport"
)

// MinCASESessionsPerFabric is the number of CASE sessions a node supports
// per fabric at least (§4.14.2.8, and the CaseSessionsPerFabric capability
// minimum of the Basic Information cluster). The eviction policy keeps
// this many per fabric whenever another fabric is over its share.
const MinCASESessionsPerFabric = 3

// Table limits and defaults.
const (
	DefaultMaxFabrics   = 5 // the minimum SupportedFabrics (§11.18.5.3)
	DefaultMaxSessions  = MinCASESessionsPerFabric*DefaultMaxFabrics + 1
	DefaultMaxUnsecured = 8
	DefaultMaxPending   = 4

	// DefaultPendingTimeout is how long a Session ID reservation is kept
	// when others are waiting for one; handshakes fail long before it.
	DefaultPendingTimeout = time.Minute

	// DefaultMaxHeld and DefaultMaxHeldBytes bound the messages kept for
	// sessions still being installed (see [Table.Open]): per reserved
	// Session ID, and in bytes for the whole table. A peer sends one or
	// two requests before it waits for an answer; the byte bound leaves
	// room for two large (TCP) messages.
	DefaultMaxHeld      = 4
	DefaultMaxHeldBytes = 2 * DefaultMaxTCPMessageSize

	// MaxSessionsLimit is the most secure sessions a table can hold:
	// Session IDs are 16 bits and 0 is the Unsecured Session.
	MaxSessionsLimit = 0xFFFF - MaxPendingLimit
	// MaxUnsecuredLimit and MaxPendingLimit bound the other two tables,
	// whose contexts anyone on the network can create.
	MaxUnsecuredLimit = 1024
	MaxPendingLimit   = 256
)

// RemoveReason says why a session left its table.
type RemoveReason uint8

const (
	// ReasonClosed: the session was closed (CloseSession, or a local
	// decision).
	ReasonClosed RemoveReason = iota
	// ReasonEvicted: the table needed room for a new session (§4.11.1).
	ReasonEvicted
	// ReasonFabricRemoved: the session's fabric was removed.
	ReasonFabricRemoved
	// ReasonExpired: the session was idle for too long.
	ReasonExpired
)

func (r RemoveReason) String() string {
	switch r {
	case ReasonClosed:
		return "closed"
	case ReasonEvicted:
		return "evicted"
	case ReasonFabricRemoved:
		return "fabric removed"
	case ReasonExpired:
		return "expired"
	}
	return fmt.Sprintf("RemoveReason(%d)", uint8(r))
}

// Config configures a [Table]. Zero fields take their defaults.
type Config struct {
	// MaxFabrics is the number of fabrics the node supports.
	MaxFabrics int
	// MaxSessions bounds the secure sessions. It must be at least
	// MinCASESessionsPerFabric*MaxFabrics+1, room for every fabric's
	// minimum and one PASE session.
	MaxSessions int
	// MaxUnsecured bounds the Unsecured Session contexts; the least
	// recently used one is dropped to make room.
	MaxUnsecured int
	// MaxPending bounds the Session IDs reserved by handshakes that have
	// not completed.
	MaxPending int
	// PendingTimeout is the age after which a reservation may be
	// reclaimed when MaxPending is reached, so that a handshake layer that
	// loses a reservation cannot exhaust them.
	PendingTimeout time.Duration
	// MaxHeld bounds the messages kept for one reserved Session ID until
	// its session is installed, and MaxHeldBytes their total size in the
	// table (see [Table.Open]).
	MaxHeld      int
	MaxHeldBytes int

	// NewAEAD builds the AES-CCM AEAD of a session key (matter/crypto's
	// NewCCM). It is required.
	NewAEAD func(key []byte) (cipher.AEAD, error)
	// Now is the clock; nil means [time.Now].
	Now func() time.Time
	// Rand is the randomness for counters and Session IDs; nil means
	// [crypto/rand.Reader].
	Rand io.Reader
	// OnRemove, if set, is called after a secure session has left the
	// table, without the table's lock held; a CASE layer can save the
	// session's resumption record there. It must not block for long.
	OnRemove func(s *Secure, reason RemoveReason)
}

// Table holds a node's sessions: the secure unicast sessions by local
// Session ID, the Session IDs reserved by handshakes in progress, and the
// Unsecured Session contexts. Every part is bounded. It is safe for
// concurrent use.
type Table struct {
	cfg         Config
	unencrypted *message.GlobalCounter

	mu        sync.Mutex
	secure    map[uint16]*Secure
	reserved  map[uint16]*Reservation
	unsecured map[unsecuredKey]*Unsecured
	nextID    uint16
	redeliver func(transport.Packet) // set by the exchange layer
	heldBytes int                    // size of every reservation's held packets
}

// NewTable returns an empty table.
func NewTable(cfg Config) (*Table, error) {
	if cfg.NewAEAD == nil {
		return nil, errors.New("session: Config.NewAEAD is required")
	}
	if cfg.MaxFabrics == 0 {
		cfg.MaxFabrics = DefaultMaxFabrics
	}
	if cfg.MaxSessions == 0 {
		cfg.MaxSessions = max(DefaultMaxSessions, MinCASESessionsPerFabric*cfg.MaxFabrics+1)
	}
	if cfg.MaxUnsecured == 0 {
		cfg.MaxUnsecured = DefaultMaxUnsecured
	}
	if cfg.MaxPending == 0 {
		cfg.MaxPending = DefaultMaxPending
	}
	if cfg.PendingTimeout == 0 {
		cfg.PendingTimeout = DefaultPendingTimeout
	}
	if cfg.MaxHeld == 0 {
		cfg.MaxHeld = DefaultMaxHeld
	}
	if cfg.MaxHeldBytes == 0 {
		cfg.MaxHeldBytes = DefaultMaxHeldBytes
	}
	switch {
	case cfg.MaxFabrics < 1 || cfg.MaxFabrics > 254:
		return nil, fmt.Errorf("session: MaxFabrics %d outside [1, 254]", cfg.MaxFabrics)
	case cfg.MaxSessions < MinCASESessionsPerFabric*cfg.MaxFabrics+1:
		return nil, fmt.Errorf("session: MaxSessions %d is below %d per fabric for %d fabrics plus one PASE session",
			cfg.MaxSessions, MinCASESessionsPerFabric, cfg.MaxFabrics)
	case cfg.MaxSessions > MaxSessionsLimit:
		return nil, fmt.Errorf("session: MaxSessions %d above %d", cfg.MaxSessions, MaxSessionsLimit)
	case cfg.MaxUnsecured < 1 || cfg.MaxUnsecured > MaxUnsecuredLimit:
		return nil, fmt.Errorf("session: MaxUnsecured %d outside [1, %d]", cfg.MaxUnsecured, MaxUnsecuredLimit)
	case cfg.MaxPending < 1 || cfg.MaxPending > MaxPendingLimit:
		return nil, fmt.Errorf("session: MaxPending %d outside [1, %d]", cfg.MaxPending, MaxPendingLimit)
	case cfg.PendingTimeout < 0:
		return nil, fmt.Errorf("session: negative PendingTimeout %v", cfg.PendingTimeout)
	case cfg.MaxHeld < 0 || cfg.MaxHeldBytes < 0:
		return nil, errors.New("session: negative MaxHeld or MaxHeldBytes")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	gc, err := message.NewGlobalCounter(cfg.Rand)
	if err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	var b [2]byte
	if _, err := io.ReadFull(cfg.Rand, b[:]); err != nil {
		return nil, fmt.Errorf("session: random session ID: %w", err)
	}
	return &Table{
		cfg:         cfg,
		unencrypted: gc,
		secure:      make(map[uint16]*Secure, cfg.MaxSessions),
		reserved:    make(map[uint16]*Reservation, cfg.MaxPending),
		unsecured:   make(map[unsecuredKey]*Unsecured, cfg.MaxUnsecured),
		nextID:      binary.LittleEndian.Uint16(b[:]),
	}, nil
}

func (t *Table) now() time.Time { return t.cfg.Now() }

// Limits returns the table's effective configuration limits.
func (t *Table) Limits() (maxFabrics, maxSessions, maxUnsecured, maxPending int) {
	return t.cfg.MaxFabrics, t.cfg.MaxSessions, t.cfg.MaxUnsecured, t.cfg.MaxPending
}

// Reservation holds a local Session ID for a handshake in progress: PASE
// and CASE send it to the peer (in PBKDFParamResponse or Sigma2, and the
// initiator in its first message) before the session exists. Complete it
// with [Reservation.Establish] or give it back with [Reservation.Release].
type Reservation struct {
	t       *Table
	id      uint16
	created time.Time
	done    atomic.Bool
	held    []transport.Packet // guarded by t.mu; see Table.Open
}

// ID returns the reserved local Session ID.
func (r *Reservation) ID() uint16 { return r.id }

// Reserve allocates a local Session ID that no session or other
// reservation uses (§4.13.2): never 0, which with a unicast session type
// denotes the Unsecured Session. IDs are handed out in sequence from a
// random start, skipping those in use.
//
// When MaxPending reservations are outstanding, those older than
// PendingTimeout are reclaimed; if none is, Reserve fails with
// [ErrTooManyPending].
func (t *Table) Reserve() (*Reservation, error) {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.reserved) >= t.cfg.MaxPending {
		for id, r := range t.reserved {
			if now.Sub(r.created) > t.cfg.PendingTimeout {
				r.done.Store(true)
				delete(t.reserved, id)
				t.dropHeldLocked(r)
			}
		}
	}
	if len(t.reserved) >= t.cfg.MaxPending {
		return nil, ErrTooManyPending
	}
	for range 0xFFFF {
		id := t.nextID
		t.nextID++
		if id == 0 {
			continue
		}
		if _, ok := t.secure[id]; ok {
			continue
		}
		if _, ok := t.reserved[id]; ok {
			continue
		}
		r := &Reservation{t: t, id: id, created: now}
		t.reserved[id] = r
		return r, nil
	}
	return nil, ErrNoSessionID
}

// Release gives the Session ID back. It does nothing if the reservation was
// already established or released.
func (r *Reservation) Release() {
	if r.done.Swap(true) {
		return
	}
	r.t.mu.Lock()
	delete(r.t.reserved, r.id)
	// Whatever arrived for the session that will not be is dropped, as it
	// would have been had it arrived after the handshake failed.
	r.t.dropHeldLocked(r)
	r.t.mu.Unlock()
}

// dropHeldLocked forgets the packets held for r; t.mu is held.
func (t *Table) dropHeldLocked(r *Reservation) {
	for _, p := range r.held {
		t.heldBytes -= len(p.Data)
	}
	r.held = nil
}

// takeHeldLocked returns the packets held for r and forgets them; t.mu is
// held.
func (t *Table) takeHeldLocked(r *Reservation) []transport.Packet {
	held := r.held
	t.dropHeldLocked(r)
	return held
}

// SetRedeliver registers the function that takes back the packets held for
// a session while it was being installed ([Table.Open]); the exchange layer
// registers itself (it implements [transport.HoldingSessionTable]). Without
// one, nothing is held.
func (t *Table) SetRedeliver(f func(transport.Packet)) {
	t.mu.Lock()
	t.redeliver = f
	t.mu.Unlock()
}

// holdLocked keeps p for the handshake that reserved id, if one does and
// there is room; t.mu is held.
func (t *Table) holdLocked(id uint16, p transport.Packet) bool {
	r := t.reserved[id]
	if r == nil || t.redeliver == nil || len(r.held) >= t.cfg.MaxHeld || t.heldBytes+len(p.Data) > t.cfg.MaxHeldBytes {
		return false
	}
	r.held = append(r.held, p)
	t.heldBytes += len(p.Data)
	return true
}

// Establish installs the secure session a completed handshake produced,
// under the reserved Session ID. If the table is full it first evicts a
// session (§4.11.1; see [Table] for the policy) and reports it to
// Config.OnRemove; the caller sends the evicted peer a CloseSession status
// report if it wishes. On failure the reservation is released.
func (r *Reservation) Establish(cfg SecureConfig) (*Secure, error) {
	if r.done.Load() {
		return nil, ErrReservation
	}
	s, err := r.t.newSecure(r.id, cfg)
	if err != nil {
		r.Release()
		return nil, err
	}
	t := r.t
	t.mu.Lock()
	if r.done.Swap(true) {
		t.mu.Unlock()
		return nil, ErrReservation
	}
	delete(t.reserved, r.id)
	var victim *Secure
	if len(t.secure) >= t.cfg.MaxSessions {
		victim = t.victimLocked(s.fabric)
		if victim == nil {
			t.dropHeldLocked(r)
			t.mu.Unlock()
			return nil, fmt.Errorf("session: establishing %#04x: %w: every session is in use", r.id, ErrTableFull)
		}
		t.removeLocked(victim)
	}
	t.secure[r.id] = s
	// Installed and taken out of the reservations under one lock: a
	// packet for this Session ID is either held (and taken here) or finds
	// the session.
	held, redeliver := t.takeHeldLocked(r), t.redeliver
	t.mu.Unlock()
	if victim != nil {
		t.notify(victim, ReasonEvicted)
	}
	for _, p := range held {
		if redeliver != nil {
			redeliver(p)
		}
	}
	return s, nil
}

// newSecure validates cfg and builds the session's keys and counters.
func (t *Table) newSecure(id uint16, cfg SecureConfig) (*Secure, error) {
	switch cfg.AuthMode {
	case AuthPASE:
		if cfg.LocalNodeID != 0 || cfg.PeerNodeID != 0 || cfg.FabricIndex != 0 || cfg.PeerCATs != (CATs{}) {
			return nil, fmt.Errorf("session: establishing %#04x: a PASE session has no node IDs, fabric or CATs", id)
		}
	case AuthCASE:
		if cfg.FabricIndex == 0 || cfg.LocalNodeID == 0 || cfg.PeerNodeID == 0 {
			return nil, fmt.Errorf("session: establishing %#04x: a CASE session needs a fabric and both node IDs", id)
		}
	default:
		return nil, fmt.Errorf("session: establishing %#04x: auth mode %v is not PASE or CASE", id, cfg.AuthMode)
	}
	if cfg.Role != Initiator && cfg.Role != Responder {
		return nil, fmt.Errorf("session: establishing %#04x: %v", id, cfg.Role)
	}
	if cfg.PeerSessionID == 0 {
		return nil, fmt.Errorf("session: establishing %#04x: peer session ID 0 is the unsecured session", id)
	}
	if err := cfg.PeerParams.Validate(); err != nil {
		return nil, fmt.Errorf("session: establishing %#04x: %w", id, err)
	}
	k := cfg.Keys
	if len(k.I2R) != 16 || len(k.R2I) != 16 || len(k.AttestationChallenge) != 16 {
		return nil, fmt.Errorf("session: establishing %#04x: session keys must be 16 octets each", id)
	}
	encKey, decKey := k.I2R, k.R2I
	if cfg.Role == Responder {
		encKey, decKey = k.R2I, k.I2R
	}
	enc, err := t.cfg.NewAEAD(encKey)
	if err != nil {
		return nil, fmt.Errorf("session: establishing %#04x: %w", id, err)
	}
	dec, err := t.cfg.NewAEAD(decKey)
	if err != nil {
		return nil, fmt.Errorf("session: establishing %#04x: %w", id, err)
	}
	encPriv, err := message.NewPrivacy(encKey)
	if err != nil {
		return nil, fmt.Errorf("session: establishing %#04x: %w", id, err)
	}
	decPriv, err := message.NewPrivacy(decKey)
	if err != nil {
		return nil, fmt.Errorf("session: establishing %#04x: %w", id, err)
	}
	ctr, err := message.NewSessionCounter(t.cfg.Rand)
	if err != nil {
		return nil, fmt.Errorf("session: establishing %#04x: %w", id, err)
	}
	now := t.now()
	s := &Secure{
		table:        t,
		localID:      id,
		peerID:       cfg.PeerSessionID,
		role:         cfg.Role,
		auth:         cfg.AuthMode,
		localNode:    cfg.LocalNodeID,
		peerNode:     cfg.PeerNodeID,
		cats:         cfg.PeerCATs,
		resumption:   cfg.Resumption,
		enc:          enc,
		dec:          dec,
		encPriv:      encPriv,
		decPriv:      decPriv,
		counter:      ctr,
		recv:         message.NewUnicastReception(),
		fabric:       cfg.FabricIndex,
		peer:         cfg.Peer,
		params:       cfg.PeerParams.Effective(),
		lastActivity: now,
	}
	copy(s.challenge[:], k.AttestationChallenge)
	s.privacy.Store(cfg.Privacy)
	return s, nil
}

// victimLocked chooses the session to evict for a new session on fabric
// newFabric, or nil if every session is held. The policy, in order:
//
//  1. sessions marked for eviction first;
//  2. then sessions of the bucket (fabric, or the no-fabric bucket of PASE
//     sessions) furthest over its guaranteed minimum, counting the new
//     session: MinCASESessionsPerFabric for a fabric, 1 for PASE;
//  3. then sessions of the new session's own bucket, so a fabric that keeps
//     opening sessions replaces its own;
//  4. then the least recently used, by SessionTimestamp (§4.11.1).
//
// Held sessions (in use by an exchange) are never chosen.
func (t *Table) victimLocked(newFabric uint8) *Secure {
	var counts [256]int
	for _, s := range t.secure {
		s.mu.Lock()
		counts[s.fabric]++
		s.mu.Unlock()
	}
	counts[newFabric]++

	type rank struct {
		marked bool
		over   int
		own    bool
		last   time.Time
	}
	better := func(a, b rank) bool { // a is a better victim than b
		if a.marked != b.marked {
			return a.marked
		}
		if a.over != b.over {
			return a.over > b.over
		}
		if a.own != b.own {
			return a.own
		}
		return a.last.Before(b.last)
	}
	var best *Secure
	var bestRank rank
	for _, s := range t.secure {
		s.mu.Lock()
		held, f := s.holds > 0, s.fabric
		r := rank{marked: s.evict, own: f == newFabric, last: s.lastActivity}
		s.mu.Unlock()
		if held {
			continue
		}
		minimum := MinCASESessionsPerFabric
		if f == 0 {
			minimum = 1
		}
		r.over = counts[f] - minimum
		if best == nil || better(r, bestRank) || (!better(bestRank, r) && s.localID < best.localID) {
			best, bestRank = s, r
		}
	}
	return best
}

// removeLocked takes s out of the table; t.mu is held.
func (t *Table) removeLocked(s *Secure) {
	delete(t.secure, s.localID)
	s.closed.Store(true)
}

func (t *Table) notify(s *Secure, reason RemoveReason) {
	if t.cfg.OnRemove != nil {
		t.cfg.OnRemove(s, reason)
	}
}

// Get returns the secure session with a local Session ID, or nil. The
// transport calls it with the Session ID of each received unicast message.
func (t *Table) Get(localID uint16) *Secure {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.secure[localID]
}

// Len returns the number of secure sessions.
func (t *Table) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.secure)
}

// Sessions returns a snapshot of the secure sessions.
func (t *Table) Sessions() []*Secure {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]*Secure, 0, len(t.secure))
	for _, s := range t.secure {
		out = append(out, s)
	}
	return out
}

// FindPeer returns the CASE session to a peer on a fabric that was active
// most recently, preferring sessions not marked for eviction, or nil.
func (t *Table) FindPeer(fabric uint8, nodeID uint64) *Secure {
	t.mu.Lock()
	defer t.mu.Unlock()
	var best *Secure
	var bestMarked bool
	var bestLast time.Time
	for _, s := range t.secure {
		if s.auth != AuthCASE || s.peerNode != nodeID {
			continue
		}
		s.mu.Lock()
		f, marked, last := s.fabric, s.evict, s.lastActivity
		s.mu.Unlock()
		if f != fabric {
			continue
		}
		if best == nil || (bestMarked && !marked) || (bestMarked == marked && last.After(bestLast)) {
			best, bestMarked, bestLast = s, marked, last
		}
	}
	return best
}

// Remove takes s out of the table and reports whether it was there.
func (t *Table) Remove(s *Secure, reason RemoveReason) bool {
	t.mu.Lock()
	if t.secure[s.localID] != s {
		t.mu.Unlock()
		return false
	}
	t.removeLocked(s)
	t.mu.Unlock()
	t.notify(s, reason)
	return true
}

// RemoveFabric removes every session of a fabric, held or not, as
// RemoveFabric requires, and returns how many there were.
func (t *Table) RemoveFabric(fabric uint8) int {
	return t.removeWhere(ReasonFabricRemoved, func(s *Secure) bool { return s.fabric == fabric })
}

// ExpireSecure removes the sessions that are not held and have been idle
// (no message sent or received) for longer than maxIdle, and returns how
// many.
func (t *Table) ExpireSecure(maxIdle time.Duration) int {
	cutoff := t.now().Add(-maxIdle)
	return t.removeWhere(ReasonExpired, func(s *Secure) bool {
		return s.holds == 0 && s.lastActivity.Before(cutoff)
	})
}

// removeWhere removes the sessions for which match (called with s.mu held)
// is true.
func (t *Table) removeWhere(reason RemoveReason, match func(*Secure) bool) int {
	var gone []*Secure
	t.mu.Lock()
	for _, s := range t.secure {
		s.mu.Lock()
		m := match(s)
		s.mu.Unlock()
		if m {
			t.removeLocked(s)
			gone = append(gone, s)
		}
	}
	t.mu.Unlock()
	for _, s := range gone {
		t.notify(s, reason)
	}
	return len(gone)
}

// Unsecured returns the Unsecured Session context for a peer address,
// Ephemeral Initiator Node ID and local role, creating it if needed. When
// the table of contexts is full the least recently used one is dropped.
// A responder calls it for a message whose header has a Source Node ID; an
// initiator calls it with a fresh [RandomEphemeralNodeID] to start a
// handshake.
func (t *Table) Unsecured(peer transport.PeerAddr, ephemeralNodeID uint64, role Role) *Unsecured {
	k := unsecuredKey{peer, ephemeralNodeID, role}
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if u, ok := t.unsecured[k]; ok {
		return u
	}
	if len(t.unsecured) >= t.cfg.MaxUnsecured {
		var oldest *Unsecured
		var oldestLast time.Time
		for _, u := range t.unsecured {
			u.mu.Lock()
			last := u.lastActivity
			u.mu.Unlock()
			if oldest == nil || last.Before(oldestLast) {
				oldest, oldestLast = u, last
			}
		}
		t.removeUnsecuredLocked(oldest)
	}
	u := &Unsecured{
		table:        t,
		key:          k,
		recv:         message.NewUnencryptedReception(),
		lastActivity: now,
	}
	t.unsecured[k] = u
	return u
}

// FindUnsecured returns an existing Unsecured Session context, or nil.
func (t *Table) FindUnsecured(peer transport.PeerAddr, ephemeralNodeID uint64, role Role) *Unsecured {
	k := unsecuredKey{peer, ephemeralNodeID, role}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.unsecured[k]
}

// UnsecuredLen returns the number of Unsecured Session contexts.
func (t *Table) UnsecuredLen() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.unsecured)
}

// ExpireUnsecured drops the Unsecured Session contexts idle for longer than
// maxIdle and returns how many.
func (t *Table) ExpireUnsecured(maxIdle time.Duration) int {
	cutoff := t.now().Add(-maxIdle)
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, u := range t.unsecured {
		u.mu.Lock()
		old := u.lastActivity.Before(cutoff)
		u.mu.Unlock()
		if old {
			t.removeUnsecuredLocked(u)
			n++
		}
	}
	return n
}

func (t *Table) removeUnsecured(u *Unsecured) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.unsecured[u.key] == u {
		t.removeUnsecuredLocked(u)
	}
}

func (t *Table) removeUnsecuredLocked(u *Unsecured) {
	delete(t.unsecured, u.key)
	u.mu.Lock()
	u.closed = true
	u.mu.Unlock()
}

// Open turns a received packet into an authenticated session message
// (§4.7.2). It implements [transport.SessionTable].
//
//   - A message of the Unsecured Session with a Source Node ID comes from a
//     handshake initiator: its context is found or created, with this node
//     as responder. One with only a Destination Node ID answers a handshake
//     this node started, whose context must exist.
//   - A secure unicast message is opened by the session with its Session
//     ID ([Secure.OpenMessage]); the session then follows the peer to the
//     packet's address.
//   - A secure unicast message for a Session ID that a handshake has
//     reserved and not yet installed is kept, up to MaxHeld per
//     reservation and MaxHeldBytes in all, and Open fails with
//     transport.ErrSessionPending; once [Reservation.Establish] has
//     installed the session the packet goes, unopened, to the function
//     registered with [Table.SetRedeliver]. [Reservation.Release] drops it.
//   - Group messages are not handled here.
//
// Open decrypts p.Data in place; the returned payload aliases it. Other
// errors mean the message is dropped without acknowledgement.
func (t *Table) Open(p transport.Packet) (transport.Inbound, error) {
	var in transport.Inbound
	n, err := in.Header.Decode(p.Data)
	if err != nil {
		return in, fmt.Errorf("session: from %v: %w", p.From, err)
	}
	h := &in.Header
	switch {
	case h.IsUnsecured():
		if !h.HasSource && h.Destination != message.DestinationNode {
			return in, fmt.Errorf("session: from %v: %w: unsecured message without node IDs", p.From, message.ErrInvalid)
		}
		k, err := in.Protocol.Decode(p.Data[n:])
		if err != nil {
			return in, fmt.Errorf("session: from %v: %w", p.From, err)
		}
		var u *Unsecured
		if h.HasSource {
			u = t.Unsecured(p.From, h.Source, Responder)
		} else if u = t.FindUnsecured(p.From, h.DestNode, Initiator); u == nil {
			return in, fmt.Errorf("session: from %v: %w: no handshake with ephemeral node %#x", p.From, ErrNoSession, h.DestNode)
		}
		in.Payload = p.Data[n+k:]
		in.Session = u
		in.Duplicate = u.receive(h.Counter)
		return in, nil
	case h.SessionType == message.SessionUnicast:
		t.mu.Lock()
		s := t.secure[h.SessionID]
		held := s == nil && t.holdLocked(h.SessionID, p)
		t.mu.Unlock()
		if held {
			// A handshake has reserved this Session ID and has not
			// installed its session yet: the peer, done with its side,
			// already uses it. The packet comes back through the
			// redeliver function once the session exists (see
			// transport.HoldingSessionTable); it is authenticated then.
			return in, fmt.Errorf("session: from %v: %#04x: %w", p.From, h.SessionID, transport.ErrSessionPending)
		}
		if s == nil {
			return in, fmt.Errorf("session: from %v: %w: %#04x", p.From, ErrNoSession, h.SessionID)
		}
		if err := s.OpenMessage(p.Data, &in); err != nil {
			return in, fmt.Errorf("session: from %v: %w", p.From, err)
		}
		if !in.Duplicate && p.From.IsValid() && s.Peer() != p.From {
			s.SetPeer(p.From)
		}
		return in, nil
	}
	return in, fmt.Errorf("session: from %v: %w: group session %#04x", p.From, ErrUnsupported, h.SessionID)
}

// Interface checks.
var (
	_ transport.Session             = (*Secure)(nil)
	_ transport.Session             = (*Unsecured)(nil)
	_ transport.HoldingSessionTable = (*Table)(nil)
)
