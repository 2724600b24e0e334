package transport

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/mattercam/mattercam/matter/message"
)

// ManagerConfig configures an exchange Manager.
type ManagerConfig struct {
	// Transports are the networks the manager sends and receives on, at
	// most one per Network. The manager reads from them until Close but
	// does not close them.
	Transports []Transport

	// Sessions decodes received packets.
	Sessions SessionTable

	// MaxExchanges bounds the active exchanges in total: those this node
	// opened, and those a peer opened whose handler is running. Zero means
	// DefaultMaxExchanges.
	MaxExchanges int
	// MaxExchangesPerSession bounds the active exchanges of one session,
	// counted per role: the exchanges this node opened on it, and
	// separately the peer's whose handler is running, so that neither side
	// can starve the other (the device's own invokes and subscription
	// reports share the session with the controller's requests). Zero
	// means DefaultMaxExchangesPerSession. NewExchange over a limit fails
	// with ErrTooManyExchanges.
	MaxExchangesPerSession int
	// MaxBacklogPerSession and MaxBacklog bound the exchanges a peer opened
	// while a limit above was reached: they are accepted (acknowledged on
	// UDP) and their handler starts, in arrival order, when an exchange
	// closes. Zero means DefaultMaxBacklogPerSession and DefaultMaxBacklog.
	// Beyond them an unsolicited message is refused: on UDP without an
	// acknowledgement, so that MRP brings it back later; on TCP, which
	// would lose it silently, with a Busy StatusReport.
	MaxBacklogPerSession int
	MaxBacklog           int
	// InboxLen bounds the messages queued on one exchange for Receive; zero
	// means 8. A message that does not fit is dropped without an
	// acknowledgement.
	InboxLen int
	// MaxSessions bounds the per-session bookkeeping (peer activity) kept
	// for sessions with no open exchange; zero means 256. It is raised to
	// MaxExchanges+MaxBacklog+1 if lower.
	MaxSessions int

	// Rand draws the initial exchange ID and the MRP jitter. Nil means a
	// generator seeded from crypto/rand. Tests pass a seeded one for
	// reproducible timing.
	Rand *rand.Rand

	// Logger receives rare diagnostics; nil means slog.Default.
	Logger *slog.Logger
}

// Exchange limits (see ManagerConfig).
//
// Core §4.11 does not cap the exchanges of a session, and a node must
// serve several at once; matter.js keeps up to 30 concurrent exchanges per
// session before it closes its own least recently used one. The
// per-session default sits just above that, so a busy matter.js
// controller is never refused, while a table, a goroutine and an inbox per
// exchange stay bounded by MaxExchanges.
const (
	DefaultMaxExchanges           = 128
	DefaultMaxExchangesPerSession = 32
	DefaultMaxBacklogPerSession   = 16
	DefaultMaxBacklog             = 64

	// BusyRetryWait is the minimum wait a Busy StatusReport asks for when
	// an unsolicited message is refused over TCP.
	BusyRetryWait = 500 * time.Millisecond
)

// HandlerFunc serves an exchange that a peer opened with an unsolicited
// message of a registered protocol. It runs on its own goroutine with the
// first message; the exchange closes when it returns. ctx is the exchange's
// context, done when the exchange or the manager closes.
type HandlerFunc func(ctx context.Context, e *Exchange, first Message)

// Message is one application message received on an exchange.
type Message struct {
	// Header is the message header as received (source node ID, ...).
	Header message.Header
	// ProtocolID, VendorID and Opcode say what the message is.
	ProtocolID message.ProtocolID
	VendorID   uint16
	Opcode     uint8
	// Payload is the application payload.
	Payload []byte
}

// Exchange-layer errors.
var (
	// ErrNoAck reports a reliable message that was not acknowledged after
	// MRP_MAX_TRANSMISSIONS transmissions (Core §4.12.2).
	ErrNoAck = errors.New("transport: message not acknowledged")

	// ErrTooManyExchanges reports an exchange limit reached.
	ErrTooManyExchanges = errors.New("transport: too many exchanges")
)

// ManagerStats counts exchange-layer events.
type ManagerStats struct {
	Sent           uint64 // application messages sent (first transmissions)
	Retransmitted  uint64 // MRP retransmissions
	Failed         uint64 // reliable messages given up after the last retransmission
	StandaloneAcks uint64 // standalone acknowledgements sent
	Received       uint64 // messages delivered to an exchange or handler
	Duplicates     uint64 // duplicate messages dropped
	Unmatched      uint64 // non-initiator messages for no open exchange
	Unhandled      uint64 // unsolicited messages of a protocol with no handler
	Queued         uint64 // unsolicited exchanges that waited for a free slot
	Rejected       uint64 // unsolicited messages refused: limits and backlog full
	Busy           uint64 // Busy StatusReports sent for refused messages (TCP)
	InboxFull      uint64 // messages dropped because an exchange's inbox was full
	DecodeErrors   uint64 // packets the session table could not open
	Held           uint64 // packets the session table held for a session being installed
	Redelivered    uint64 // held packets handed back once their session was installed
}

// Manager is the exchange layer (Core §4.11) with MRP (Core §4.12) for the
// sessions of one node. It reads every transport on its own goroutine,
// routes messages to exchanges, runs handlers for unsolicited ones, and
// acknowledges and retransmits on unreliable networks.
type Manager struct {
	cfg  ManagerConfig
	log  *slog.Logger
	nets map[Network]Transport

	ctx    context.Context // done on Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // receive loops, handlers, timer-driven sends

	mu        sync.Mutex
	closed    bool
	rng       *rand.Rand
	nextID    uint16
	exchanges map[exKey]*Exchange
	sessions  map[Session]*sessState
	handlers  map[message.ProtocolID]HandlerFunc
	stats     ManagerStats
	// backlog holds the peer-opened exchanges waiting for a handler slot,
	// oldest first; they are in exchanges too. At most MaxBacklog.
	backlog []*Exchange

	// Reliable messages dropped unacknowledged for lack of room. The
	// session layer has already recorded their counters, so the
	// retransmission will look like a duplicate; this set says that it is
	// not one. Bounded: the oldest entry goes first.
	undelivered     map[msgKey]int // → its slot in undeliveredRing
	undeliveredRing []msgKey
	undeliveredNext int
}

// msgKey identifies a received message.
type msgKey struct {
	s       Session
	counter uint32
}

// maxUndelivered bounds the undelivered set.
const maxUndelivered = 64

// exKey identifies an exchange: the session, the Exchange ID and whether
// this node is its initiator (Core §4.11: the same ID may be in use once in
// each role).
type exKey struct {
	s         Session
	id        uint16
	initiator bool
}

type sessState struct {
	lastRx    time.Time // last message received from the peer
	initiated int       // open exchanges this node initiated
	running   int       // peer-initiated exchanges whose handler runs
	queued    int       // peer-initiated exchanges in the backlog
}

// idle reports whether the session has no exchange at all.
func (ss *sessState) idle() bool { return ss.initiated+ss.running+ss.queued == 0 }

// outMsg is a transmission decided under the lock and made after it.
type outMsg struct {
	tr  Transport
	to  netip.AddrPort
	msg []byte
}

// NewManager starts an exchange manager on the configured transports.
func NewManager(cfg ManagerConfig) (*Manager, error) {
	if cfg.Sessions == nil {
		return nil, errors.New("transport: manager: no session table")
	}
	if cfg.MaxExchanges == 0 {
		cfg.MaxExchanges = DefaultMaxExchanges
	}
	if cfg.MaxExchangesPerSession == 0 {
		cfg.MaxExchangesPerSession = DefaultMaxExchangesPerSession
	}
	if cfg.MaxBacklogPerSession == 0 {
		cfg.MaxBacklogPerSession = DefaultMaxBacklogPerSession
	}
	if cfg.MaxBacklog == 0 {
		cfg.MaxBacklog = DefaultMaxBacklog
	}
	if cfg.InboxLen == 0 {
		cfg.InboxLen = 8
	}
	if cfg.MaxSessions == 0 {
		cfg.MaxSessions = 256
	}
	if cfg.MaxExchanges < 0 || cfg.MaxExchangesPerSession < 0 || cfg.InboxLen < 0 || cfg.MaxSessions < 0 ||
		cfg.MaxBacklogPerSession < 0 || cfg.MaxBacklog < 0 {
		return nil, errors.New("transport: manager: negative limit")
	}
	// Every session with an exchange, active or queued, keeps its
	// bookkeeping, so there must be room for one more.
	cfg.MaxSessions = max(cfg.MaxSessions, cfg.MaxExchanges+cfg.MaxBacklog+1)
	nets := make(map[Network]Transport)
	for _, t := range cfg.Transports {
		n := t.Network()
		if nets[n] != nil {
			return nil, fmt.Errorf("transport: manager: two %v transports", n)
		}
		nets[n] = t
	}
	rng := cfg.Rand
	if rng == nil {
		var seed [32]byte
		if _, err := crand.Read(seed[:]); err != nil {
			return nil, fmt.Errorf("transport: manager: seeding: %w", err)
		}
		rng = rand.New(rand.NewChaCha8(seed))
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	m := &Manager{
		cfg:       cfg,
		log:       log.With("component", "matter/exchange"),
		nets:      nets,
		rng:       rng,
		exchanges: make(map[exKey]*Exchange),
		sessions:  make(map[Session]*sessState),
		handlers:  make(map[message.ProtocolID]HandlerFunc),

		undelivered:     make(map[msgKey]int),
		undeliveredRing: make([]msgKey, maxUndelivered),
	}
	// The initiator's Exchange IDs start at a random value and increment
	// (Core §4.11).
	m.nextID = uint16(rng.Uint32())
	m.ctx, m.cancel = context.WithCancel(context.Background())
	if h, ok := cfg.Sessions.(HoldingSessionTable); ok {
		h.SetRedeliver(m.redeliver)
	}
	for _, t := range nets {
		m.wg.Add(1)
		go m.receiveLoop(t)
	}
	return m, nil
}

// Handle registers h for unsolicited messages of a protocol in the standard
// vendor namespace, replacing any earlier handler; a nil h removes it.
func (m *Manager) Handle(protocol message.ProtocolID, h HandlerFunc) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if h == nil {
		delete(m.handlers, protocol)
		return
	}
	m.handlers[protocol] = h
}

// Stats returns the manager's counters.
func (m *Manager) Stats() ManagerStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.stats
}

// SupportsLargeMessages reports whether messages on s may exceed
// MaxUDPMessageSize: only sessions over TCP carry large messages (Core
// §4.4.4). Commands with the Large Message quality need such a session.
func (m *Manager) SupportsLargeMessages(s Session) bool {
	return s.Peer().Network == TCP
}

// MaxMessageSize returns the largest encoded message that can be sent on s,
// or 0 if the manager has no transport for its network.
func (m *Manager) MaxMessageSize(s Session) int {
	if t := m.nets[s.Peer().Network]; t != nil {
		return t.MaxMessageSize()
	}
	return 0
}

// NewExchange opens an exchange on s as its initiator.
func (m *Manager) NewExchange(s Session, protocol message.ProtocolID) (*Exchange, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, fmt.Errorf("transport: new exchange: %w", ErrClosed)
	}
	if m.nets[s.Peer().Network] == nil {
		return nil, fmt.Errorf("transport: new exchange: no %v transport for peer %v", s.Peer().Network, s.Peer())
	}
	ss := m.sessionLocked(s)
	if err := m.roomLocked(ss.initiated); err != nil {
		return nil, fmt.Errorf("transport: new exchange: %w", err)
	}
	// The per-session limit is far below 65536, so a free ID exists.
	id := m.nextID
	for m.exchanges[exKey{s, id, true}] != nil {
		id++
	}
	m.nextID = id + 1
	return m.newExchangeLocked(s, ss, id, true, protocol), nil
}

// CloseSession closes every exchange on s and forgets its state. The session
// table calls it when a session is removed; pending Sends fail with
// ErrClosed.
func (m *Manager) CloseSession(s Session) {
	var outs []outMsg
	m.mu.Lock()
	// Forgotten first: the room each closing exchange leaves must not
	// start one of this session's queued exchanges (startQueuedLocked
	// skips exchanges of unknown sessions).
	delete(m.sessions, s)
	for k, e := range m.exchanges {
		if k.s == s {
			outs = e.closeLocked(fmt.Errorf("transport: session closed: %w", ErrClosed), false, outs)
		}
	}
	for i, k := range m.undeliveredRing {
		if k.s == s {
			delete(m.undelivered, k)
			m.undeliveredRing[i] = msgKey{}
		}
	}
	m.mu.Unlock()
	m.transmit(outs)
}

// Close closes every exchange, stops the receive loops and waits for them,
// for running handlers and for timer-driven sends. It does not close the
// transports.
func (m *Manager) Close() error {
	m.mu.Lock()
	if !m.closed {
		m.closed = true
		for _, e := range m.exchanges {
			e.closeLocked(fmt.Errorf("transport: manager closed: %w", ErrClosed), false, nil)
		}
		m.cancel()
	}
	m.mu.Unlock()
	m.wg.Wait()
	return nil
}

// roomLocked reports whether one more active exchange fits, given the
// session's count of active exchanges in the same role. Queued exchanges
// are not active: they hold no handler.
func (m *Manager) roomLocked(sameRole int) error {
	switch {
	case len(m.exchanges)-len(m.backlog) >= m.cfg.MaxExchanges:
		return fmt.Errorf("%w (limit %d)", ErrTooManyExchanges, m.cfg.MaxExchanges)
	case sameRole >= m.cfg.MaxExchangesPerSession:
		return fmt.Errorf("%w on one session (limit %d)", ErrTooManyExchanges, m.cfg.MaxExchangesPerSession)
	}
	return nil
}

// sessionLocked returns the bookkeeping of s, creating it. Over MaxSessions
// an entry with no exchange is evicted; one exists because MaxSessions
// exceeds the number of exchanges, active and queued.
func (m *Manager) sessionLocked(s Session) *sessState {
	if ss := m.sessions[s]; ss != nil {
		return ss
	}
	if len(m.sessions) >= m.cfg.MaxSessions {
		for k, ss := range m.sessions {
			if ss.idle() {
				delete(m.sessions, k)
				break
			}
		}
	}
	ss := &sessState{}
	m.sessions[s] = ss
	return ss
}

func (m *Manager) newExchangeLocked(s Session, ss *sessState, id uint16, initiator bool, protocol message.ProtocolID) *Exchange {
	e := &Exchange{
		m:         m,
		s:         s,
		id:        id,
		initiator: initiator,
		protocol:  protocol,
		inbox:     make(chan Message, m.cfg.InboxLen),
		sendSem:   make(chan struct{}, 1),
	}
	e.ctx, e.cancel = context.WithCancel(m.ctx)
	m.exchanges[e.key()] = e
	if initiator {
		ss.initiated++
	}
	return e
}

// startLocked runs h for the peer-initiated exchange e on its own
// goroutine; the exchange closes when h returns.
func (m *Manager) startLocked(ss *sessState, e *Exchange, h HandlerFunc, first Message) {
	ss.running++
	m.wg.Add(1) // m.closed is false: Close has not begun its Wait
	go func() {
		defer m.wg.Done()
		defer e.Close()
		h(e.ctx, e, first)
	}()
}

// startQueuedLocked starts queued exchanges, oldest first, while there is
// room for them. A session's exchanges start in the order they arrived.
func (m *Manager) startQueuedLocked() {
	if m.closed || len(m.backlog) == 0 {
		return
	}
	blocked := map[Session]bool{}
	for i := 0; i < len(m.backlog); {
		e := m.backlog[i]
		ss := m.sessions[e.s]
		if ss == nil || blocked[e.s] {
			i++
			continue
		}
		if len(m.exchanges)-len(m.backlog) >= m.cfg.MaxExchanges {
			return
		}
		if ss.running >= m.cfg.MaxExchangesPerSession {
			blocked[e.s] = true
			i++
			continue
		}
		m.backlog = slices.Delete(m.backlog, i, i+1)
		ss.queued--
		h, first := e.handler, e.first
		e.queued, e.handler, e.first = false, nil, Message{}
		m.startLocked(ss, e, h, first)
	}
}

// backoffLocked is the MRP wait after transmission n on s.
func (m *Manager) backoffLocked(s Session, n int) time.Duration {
	var lastRx time.Time
	if ss := m.sessions[s]; ss != nil {
		lastRx = ss.lastRx
	}
	return MRPBackoff(s.PeerMRP().baseInterval(lastRx, time.Now()), n, m.rng.Float64())
}

// standaloneAckLocked builds a standalone acknowledgement of counter on the
// exchange (id, initiator) of s: Secure Channel opcode 0x10, A flag set, R
// flag clear, empty payload (Core §4.12).
func (m *Manager) standaloneAckLocked(s Session, id uint16, initiator bool, counter uint32, outs []outMsg) []outMsg {
	peer := s.Peer()
	tr := m.nets[peer.Network]
	if tr == nil {
		return outs
	}
	ph := message.ProtocolHeader{
		Initiator:  initiator,
		Ack:        true,
		AckCounter: counter,
		Opcode:     OpcodeStandaloneAck,
		ExchangeID: id,
		ProtocolID: message.ProtocolSecureChannel,
	}
	msg, _, err := s.SealMessage(nil, &ph, nil)
	if err != nil {
		m.log.Debug("cannot seal standalone ack", "peer", peer, "err", err)
		return outs
	}
	m.stats.StandaloneAcks++
	return append(outs, outMsg{tr: tr, to: peer.Addr, msg: msg})
}

// transmit sends what was decided under the lock. Failures are left to MRP
// or, on TCP, to the connection's own error reporting.
func (m *Manager) transmit(outs []outMsg) {
	for _, o := range outs {
		if err := o.tr.Send(context.WithoutCancel(m.ctx), o.to, o.msg); err != nil {
			m.log.Debug("send failed", "to", o.to, "err", err)
		}
	}
}

func (m *Manager) receiveLoop(t Transport) {
	defer m.wg.Done()
	for {
		p, err := t.Receive(m.ctx)
		if err != nil {
			// Receive fails only when the manager or the transport closes.
			return
		}
		m.receive(p)
	}
}

// receive opens one packet with the session table and dispatches it.
func (m *Manager) receive(p Packet) {
	in, err := m.cfg.Sessions.Open(p)
	if errors.Is(err, ErrSessionPending) {
		// Kept by the table; it comes back through redeliver.
		m.mu.Lock()
		m.stats.Held++
		m.mu.Unlock()
		return
	}
	if err != nil {
		m.mu.Lock()
		m.stats.DecodeErrors++
		m.mu.Unlock()
		m.log.Debug("dropped message", "from", p.From, "err", err)
		return
	}
	m.dispatch(p.From, &in)
}

// redeliver processes a packet the session table held while its session
// was being installed (see HoldingSessionTable). It runs on the goroutine
// that installed the session.
func (m *Manager) redeliver(p Packet) {
	m.mu.Lock()
	closed := m.closed
	if !closed {
		m.stats.Redelivered++
	}
	m.mu.Unlock()
	if !closed {
		m.receive(p)
	}
}

// dispatch runs the receive side of the exchange layer and MRP for one
// authenticated message.
func (m *Manager) dispatch(from PeerAddr, in *Inbound) {
	var outs []outMsg
	defer func() { m.transmit(outs) }()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed || in.Session == nil {
		return
	}
	s, ph := in.Session, &in.Protocol
	ss := m.sessionLocked(s)
	ss.lastRx = time.Now()

	e := m.exchanges[exKey{s, ph.ExchangeID, !ph.Initiator}]
	// An acknowledgement, piggybacked or standalone, completes our
	// outstanding reliable message on that exchange.
	if ph.Ack && e != nil {
		e.ackedLocked(ph.AckCounter)
	}
	// MRP runs only on unreliable networks; over TCP the R flag is not
	// used (Core §4.12).
	needAck := ph.Reliable && !from.Network.Reliable()
	counter := in.Header.Counter
	if in.Duplicate && m.takeUndeliveredLocked(s, counter) {
		// The retransmission of a message dropped for lack of room:
		// never delivered, so not a duplicate for this layer.
		in.Duplicate = false
	}
	switch {
	case ph.ProtocolID == message.ProtocolSecureChannel && ph.VendorID == 0 && ph.Opcode == OpcodeStandaloneAck:
		// Nothing to deliver, never acknowledged.
		return

	case in.Duplicate:
		// A duplicate is acknowledged again if it asks for it (our ack may
		// have been lost) and never delivered twice.
		m.stats.Duplicates++
		if needAck {
			outs = m.standaloneAckLocked(s, ph.ExchangeID, !ph.Initiator, counter, outs)
		}
		return

	case e != nil:
		if !m.deliverLocked(e, in) {
			// Not acknowledged: the peer retransmits, and by then the
			// receiver may have drained its inbox.
			m.undeliveredLocked(s, counter, needAck)
			return
		}
		if needAck {
			outs = e.pendingAckLocked(counter, outs)
		}
		return

	case !ph.Initiator:
		// A response for an exchange we do not have (closed, or never
		// opened): acknowledge so the peer stops retransmitting, drop.
		m.stats.Unmatched++
		if needAck {
			outs = m.standaloneAckLocked(s, ph.ExchangeID, true, counter, outs)
		}
		return
	}

	// An unsolicited message: the first of a new exchange the peer
	// initiates (Core §4.11).
	var h HandlerFunc
	if ph.VendorID == 0 {
		h = m.handlers[ph.ProtocolID]
	}
	if h == nil {
		m.stats.Unhandled++
		if needAck {
			outs = m.standaloneAckLocked(s, ph.ExchangeID, false, counter, outs)
		}
		return
	}
	// A session's exchanges start in arrival order: while some are
	// queued, a new one queues behind them.
	err := m.roomLocked(ss.running)
	if err == nil && ss.queued == 0 {
		e = m.newExchangeLocked(s, ss, ph.ExchangeID, false, ph.ProtocolID)
		if needAck {
			outs = e.pendingAckLocked(counter, outs)
		}
		m.stats.Received++
		m.startLocked(ss, e, h, messageOf(in))
		return
	}
	if ss.queued < m.cfg.MaxBacklogPerSession && len(m.backlog) < m.cfg.MaxBacklog {
		// Accepted: the exchange exists (later messages of it reach its
		// inbox, MRP acknowledges as usual) and its handler starts when
		// an exchange closes.
		e = m.newExchangeLocked(s, ss, ph.ExchangeID, false, ph.ProtocolID)
		e.queued, e.handler, e.first = true, h, messageOf(in)
		ss.queued++
		m.backlog = append(m.backlog, e)
		if needAck {
			outs = e.pendingAckLocked(counter, outs)
		}
		m.stats.Received++
		m.stats.Queued++
		return
	}
	m.stats.Rejected++
	if err == nil {
		err = fmt.Errorf("%w: %d exchanges of the session queued", ErrTooManyExchanges, ss.queued)
	}
	m.log.Debug("unsolicited message refused", "from", from, "err", err)
	if from.Network.Reliable() {
		// Nothing retransmits on TCP: say so rather than lose the
		// request.
		outs = m.busyLocked(s, ph.ExchangeID, outs)
		return
	}
	// Not acknowledged: the peer retransmits per MRP, and is served if
	// room has been made meanwhile.
	m.undeliveredLocked(s, counter, needAck)
}

// busyLocked answers the first message of an exchange the peer opened, and
// that this node refuses for lack of room, with a Busy StatusReport on that
// exchange (Secure Channel StatusReport, Core §4.10.1 "Busy" and Appendix D):
// GeneralCode BUSY, the Secure Channel protocol, ProtocolCode BUSY and the
// minimum wait in milliseconds. The exchange itself is not kept.
func (m *Manager) busyLocked(s Session, id uint16, outs []outMsg) []outMsg {
	peer := s.Peer()
	tr := m.nets[peer.Network]
	if tr == nil {
		return outs
	}
	ph := message.ProtocolHeader{
		Opcode:     opcodeStatusReport,
		ExchangeID: id,
		ProtocolID: message.ProtocolSecureChannel,
	}
	var payload [10]byte
	binary.LittleEndian.PutUint16(payload[0:], generalCodeBusy)
	binary.LittleEndian.PutUint32(payload[2:], uint32(message.ProtocolSecureChannel))
	binary.LittleEndian.PutUint16(payload[6:], protocolCodeBusy)
	binary.LittleEndian.PutUint16(payload[8:], uint16(BusyRetryWait.Milliseconds()))
	msg, _, err := s.SealMessage(nil, &ph, payload[:])
	if err != nil {
		m.log.Debug("cannot seal busy report", "peer", peer, "err", err)
		return outs
	}
	m.stats.Busy++
	return append(outs, outMsg{tr: tr, to: peer.Addr, msg: msg})
}

// undeliveredLocked remembers a reliable message dropped unacknowledged, so
// that its retransmission is processed as new. Messages that will not be
// retransmitted (no R flag, or TCP) are simply lost.
func (m *Manager) undeliveredLocked(s Session, counter uint32, reliable bool) {
	if !reliable {
		return
	}
	k, slot := msgKey{s, counter}, m.undeliveredNext
	if old := m.undeliveredRing[slot]; m.undelivered[old] == slot {
		delete(m.undelivered, old)
	}
	m.undeliveredRing[slot] = k
	m.undeliveredNext = (slot + 1) % len(m.undeliveredRing)
	m.undelivered[k] = slot
}

// takeUndeliveredLocked reports whether (s, counter) was dropped
// undelivered, and forgets it.
func (m *Manager) takeUndeliveredLocked(s Session, counter uint32) bool {
	k := msgKey{s, counter}
	if _, ok := m.undelivered[k]; !ok {
		return false
	}
	delete(m.undelivered, k)
	return true
}

// deliverLocked queues a message on e's inbox and reports whether it fit.
func (m *Manager) deliverLocked(e *Exchange, in *Inbound) bool {
	select {
	case e.inbox <- messageOf(in):
		m.stats.Received++
		return true
	default:
		m.stats.InboxFull++
		return false
	}
}

func messageOf(in *Inbound) Message {
	return Message{
		Header:     in.Header,
		ProtocolID: in.Protocol.ProtocolID,
		VendorID:   in.Protocol.VendorID,
		Opcode:     in.Protocol.Opcode,
		Payload:    in.Payload,
	}
}

// Exchange is one conversation on a session (Core §4.11). Send and Receive
// may be used from different goroutines; only one reliable message is
// outstanding at a time, so concurrent Sends take turns.
type Exchange struct {
	m         *Manager
	s         Session
	id        uint16
	initiator bool
	protocol  message.ProtocolID

	ctx     context.Context
	cancel  context.CancelFunc
	inbox   chan Message
	sendSem chan struct{} // one outstanding reliable message (Core §4.12)

	// Guarded by m.mu.
	closed     bool
	closeErr   error
	queued     bool        // peer-initiated, waiting in the backlog
	handler    HandlerFunc // what to run once a queued exchange starts
	first      Message     // the message it starts with
	hasAck     bool        // a received reliable message awaits acknowledgement
	ackCounter uint32
	ackGen     uint64
	ackTimer   *time.Timer
	retrans    *retransmission
}

// retransmission is the outstanding reliable message of an exchange.
type retransmission struct {
	counter uint32
	msg     []byte
	tr      Transport
	to      netip.AddrPort
	sent    int // transmissions so far
	timer   *time.Timer
	done    chan error // receives the outcome once
}

func (e *Exchange) key() exKey { return exKey{e.s, e.id, e.initiator} }

// ID is the Exchange ID.
func (e *Exchange) ID() uint16 { return e.id }

// Initiator reports whether this node opened the exchange.
func (e *Exchange) Initiator() bool { return e.initiator }

// Session is the session the exchange runs on.
func (e *Exchange) Session() Session { return e.s }

// Protocol is the protocol of the exchange's messages.
func (e *Exchange) Protocol() message.ProtocolID { return e.protocol }

// Context is done when the exchange closes.
func (e *Exchange) Context() context.Context { return e.ctx }

// SupportsLargeMessages reports whether the exchange's session runs over TCP.
func (e *Exchange) SupportsLargeMessages() bool { return e.m.SupportsLargeMessages(e.s) }

// Send sends one message of the exchange's protocol. On an unreliable
// network it sets the R flag and returns once the peer has acknowledged the
// message, retransmitting it per MRP meanwhile; if no acknowledgement comes
// after MRP_MAX_TRANSMISSIONS transmissions it fails with ErrNoAck. Any
// acknowledgement owed to the peer is piggybacked on the message. On TCP it
// returns once the message is written. If ctx ends first, retransmission
// stops and Send returns ctx's error.
func (e *Exchange) Send(ctx context.Context, opcode uint8, payload []byte) error {
	select {
	case e.sendSem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	case <-e.ctx.Done():
		return e.err()
	}
	defer func() { <-e.sendSem }()

	m := e.m
	m.mu.Lock()
	if e.closed {
		m.mu.Unlock()
		return e.closeErr
	}
	peer := e.s.Peer()
	tr := m.nets[peer.Network]
	if tr == nil {
		m.mu.Unlock()
		return fmt.Errorf("transport: exchange %d: no %v transport", e.id, peer.Network)
	}
	reliable := !tr.Network().Reliable()
	ph := message.ProtocolHeader{
		Initiator:  e.initiator,
		Reliable:   reliable,
		Opcode:     opcode,
		ExchangeID: e.id,
		ProtocolID: e.protocol,
		Ack:        e.hasAck,
		AckCounter: e.ackCounter,
	}
	msg, counter, err := e.s.SealMessage(nil, &ph, payload)
	if err != nil {
		m.mu.Unlock()
		return fmt.Errorf("transport: exchange %d: seal: %w", e.id, err)
	}
	if limit := tr.MaxMessageSize(); len(msg) > limit {
		m.mu.Unlock()
		hint := ""
		if peer.Network == UDP {
			hint = " (large messages need a TCP session)"
		}
		return fmt.Errorf("transport: exchange %d: %d-byte message, limit %d%s: %w", e.id, len(msg), limit, hint, ErrMessageTooLarge)
	}
	if e.hasAck { // piggybacked
		e.hasAck = false
		e.ackTimer.Stop()
	}
	var r *retransmission
	if reliable {
		r = &retransmission{counter: counter, msg: msg, tr: tr, to: peer.Addr, sent: 1, done: make(chan error, 1)}
		e.retrans = r
		r.timer = time.AfterFunc(m.backoffLocked(e.s, 0), func() { m.retransmit(e, r) })
	}
	m.stats.Sent++
	m.mu.Unlock()

	if err := tr.Send(ctx, peer.Addr, msg); err != nil {
		// A transient socket error on an unreliable network is what MRP
		// retransmits for; anything else ends the attempt.
		if !reliable || ctx.Err() != nil || errors.Is(err, ErrClosed) || errors.Is(err, ErrMessageTooLarge) {
			e.abandon(r)
			return fmt.Errorf("transport: exchange %d: %w", e.id, err)
		}
		m.log.Debug("send failed, MRP will retry", "peer", peer, "err", err)
	}
	if !reliable {
		return nil
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		e.abandon(r)
		return ctx.Err()
	}
}

// abandon stops retransmitting r, if it is still outstanding.
func (e *Exchange) abandon(r *retransmission) {
	if r == nil {
		return
	}
	e.m.mu.Lock()
	defer e.m.mu.Unlock()
	if e.retrans == r {
		e.retrans = nil
		r.timer.Stop()
	}
}

// retransmit runs when r's timer fires without an acknowledgement.
func (m *Manager) retransmit(e *Exchange, r *retransmission) {
	m.mu.Lock()
	if m.closed || e.retrans != r {
		m.mu.Unlock()
		return
	}
	if r.sent >= MRPMaxTransmissions {
		e.retrans = nil
		m.stats.Failed++
		r.done <- fmt.Errorf("transport: exchange %d: counter %d: %w after %d transmissions", e.id, r.counter, ErrNoAck, r.sent)
		m.mu.Unlock()
		return
	}
	r.sent++
	r.timer.Reset(m.backoffLocked(e.s, r.sent-1))
	m.stats.Retransmitted++
	m.wg.Add(1) // Close waits for this send
	m.mu.Unlock()
	defer m.wg.Done()
	m.transmit([]outMsg{{tr: r.tr, to: r.to, msg: r.msg}})
}

// ackedLocked handles an acknowledgement of counter received on e.
func (e *Exchange) ackedLocked(counter uint32) {
	if r := e.retrans; r != nil && r.counter == counter {
		e.retrans = nil
		r.timer.Stop()
		r.done <- nil
	}
}

// pendingAckLocked records that counter must be acknowledged: piggybacked
// on the next message within MRP_STANDALONE_ACK_TIMEOUT, or standalone
// after it. Only one acknowledgement is pending per exchange; an older one
// is sent standalone at once.
func (e *Exchange) pendingAckLocked(counter uint32, outs []outMsg) []outMsg {
	m := e.m
	if e.hasAck {
		e.ackTimer.Stop()
		outs = m.standaloneAckLocked(e.s, e.id, e.initiator, e.ackCounter, outs)
	}
	e.hasAck, e.ackCounter = true, counter
	e.ackGen++
	gen := e.ackGen
	e.ackTimer = time.AfterFunc(MRPStandaloneAckTimeout, func() { m.ackTimeout(e, gen) })
	return outs
}

// ackTimeout sends the standalone acknowledgement that no outgoing message
// carried in time.
func (m *Manager) ackTimeout(e *Exchange, gen uint64) {
	m.mu.Lock()
	if m.closed || e.closed || !e.hasAck || e.ackGen != gen {
		m.mu.Unlock()
		return
	}
	e.hasAck = false
	outs := m.standaloneAckLocked(e.s, e.id, e.initiator, e.ackCounter, nil)
	m.wg.Add(1)
	m.mu.Unlock()
	defer m.wg.Done()
	m.transmit(outs)
}

// Receive returns the next message on the exchange.
func (e *Exchange) Receive(ctx context.Context) (Message, error) {
	select {
	case <-e.ctx.Done():
		return Message{}, e.err()
	default:
	}
	select {
	case msg := <-e.inbox:
		return msg, nil
	case <-e.ctx.Done():
		return Message{}, e.err()
	case <-ctx.Done():
		return Message{}, ctx.Err()
	}
}

func (e *Exchange) err() error {
	e.m.mu.Lock()
	defer e.m.mu.Unlock()
	if e.closeErr != nil {
		return e.closeErr
	}
	return fmt.Errorf("transport: exchange %d: %w", e.id, ErrClosed)
}

// Close closes the exchange: an acknowledgement still owed is sent at once,
// a Send in progress fails with ErrClosed, and later messages of the
// exchange are acknowledged and dropped. Close is idempotent.
func (e *Exchange) Close() error {
	m := e.m
	m.mu.Lock()
	outs := e.closeLocked(fmt.Errorf("transport: exchange %d: %w", e.id, ErrClosed), true, nil)
	m.mu.Unlock()
	m.transmit(outs)
	return nil
}

// closeLocked removes e from the tables. With flush, an acknowledgement
// still owed is added to outs.
func (e *Exchange) closeLocked(err error, flush bool, outs []outMsg) []outMsg {
	if e.closed {
		return outs
	}
	m := e.m
	e.closed, e.closeErr = true, err
	if m.exchanges[e.key()] == e {
		delete(m.exchanges, e.key())
		ss := m.sessions[e.s]
		switch {
		case e.queued:
			e.queued, e.handler, e.first = false, nil, Message{}
			if i := slices.Index(m.backlog, e); i >= 0 {
				m.backlog = slices.Delete(m.backlog, i, i+1)
			}
			if ss != nil {
				ss.queued--
			}
		case ss == nil:
		case e.initiator:
			ss.initiated--
		default: // peer-initiated and started
			ss.running--
		}
		// The room this exchange leaves may let a queued one start.
		m.startQueuedLocked()
	}
	if e.hasAck {
		e.hasAck = false
		e.ackTimer.Stop()
		if flush && !m.closed {
			outs = m.standaloneAckLocked(e.s, e.id, e.initiator, e.ackCounter, outs)
		}
	}
	if r := e.retrans; r != nil {
		e.retrans = nil
		r.timer.Stop()
		r.done <- err
	}
	e.cancel()
	return outs
}
