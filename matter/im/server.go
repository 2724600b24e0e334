package im

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/mattercam/mattercam/matter/dm"
	"github.com/mattercam/mattercam/matter/session"
	"github.com/mattercam/mattercam/matter/transport"
)

// AccessChecker decides whether a subject holds a privilege on one
// endpoint's cluster (Core §9.6 "Access Control"); a higher privilege
// grants the lower ones. matter/acl implements it from the Access Control
// cluster's entries, including the rule that gives a PASE commissioning
// session Administer.
type AccessChecker interface {
	Check(subject dm.Subject, endpoint uint16, cluster uint32, need dm.Privilege) bool
}

// SecureSession is what the engine needs of a session: its identity.
// *session.Secure implements it. Messages on any other session, the
// Unsecured Session in particular, are dropped: the Interaction Model runs
// only on secure sessions (Core §8.1, §4.13).
type SecureSession interface {
	transport.Session
	AuthMode() session.AuthMode
	FabricIndex() uint8
	PeerNodeID() uint64
	PeerCATs() session.CATs
}

// SubjectOf returns the subject a session authenticated (DESIGN.md §3
// "identity everywhere"), and false for a session that is not secure.
func SubjectOf(s transport.Session) (dm.Subject, bool) {
	ss, ok := s.(SecureSession)
	if !ok {
		return dm.Subject{}, false
	}
	subj := dm.Subject{
		AuthMode:    dm.AuthMode(ss.AuthMode()),
		FabricIndex: ss.FabricIndex(),
		NodeID:      ss.PeerNodeID(),
	}
	for i, c := range ss.PeerCATs() {
		subj.CATs[i] = uint32(c)
	}
	return subj, true
}

// Defaults and spec minimums of the server's limits.
const (
	// MinSubscriptionsPerFabric is the number of subscriptions a publisher
	// supports per fabric at least (Core §8.5.1 "Subscription resource
	// minimums", and the SubscriptionsPerFabric capability of the Basic
	// Information cluster, minimum 3).
	MinSubscriptionsPerFabric = 3
	// MinPathsPerSubscription and MinPathsPerRead are the attribute paths
	// and event paths a publisher accepts per subscription and per read at
	// least (Core §8.5.1: 3 of each per subscription; Core §8.4.1: 9 of
	// each per read).
	MinPathsPerSubscription = 3
	MinPathsPerRead         = 9

	// SubscriptionMaxIntervalPublisherLimit is
	// SUBSCRIPTION_MAX_INTERVAL_PUBLISHER_LIMIT (Core §8.5.1.2): the chosen
	// MaxInterval may exceed the subscriber's ceiling up to this.
	SubscriptionMaxIntervalPublisherLimit = 60 * time.Minute

	DefaultMaxSubscriptions  = MinSubscriptionsPerFabric * session.DefaultMaxFabrics
	DefaultMaxAttributePaths = 32
	DefaultMaxEventPaths     = 32
	DefaultResponseTimeout   = 30 * time.Second
	// DefaultMaxDataVersionFilters bounds the filters honoured per request;
	// more are ignored, which only costs a larger report (Core §8.4.3.2
	// makes the filters an optimisation).
	DefaultMaxDataVersionFilters = 256
)

// messageOverhead is what a secure unicast message adds to its IM payload:
// the message header (flags, session ID, security flags, counter: 8
// octets, plus up to 16 of node IDs), the protocol header (6 octets, 2 of
// vendor ID, 4 of piggybacked acknowledgement) and the 16-octet MIC
// (Core §4.4).
const messageOverhead = 8 + 16 + 6 + 2 + 4 + 16

// Config configures a Server.
type Config struct {
	// Manager is the exchange layer; the Server registers the Interaction
	// Model protocol with it. Required.
	Manager *transport.Manager
	// Node is the data model served. Required.
	Node *dm.Node
	// Access checks privileges before any handler runs. Required.
	Access AccessChecker
	// Events is the event log; nil serves no events.
	Events *dm.Events
	// Client, if set, receives the ReportData messages that peers send
	// for subscriptions this node made as a client.
	Client *Client

	// MaxPathsPerInvoke is MAX_PATHS_PER_INVOKE: the commands one Invoke
	// request may carry. It must match what this node announces in its
	// session parameters. Zero means 1 (session.DefaultMaxPathsPerInvoke).
	MaxPathsPerInvoke int
	// MaxAttributePaths and MaxEventPaths bound the paths of one read or
	// subscription; more are refused with PATHS_EXHAUSTED. Values under
	// MinPathsPerRead are raised to it. Zero means the defaults.
	MaxAttributePaths int
	MaxEventPaths     int
	// MaxDataVersionFilters bounds the filters honoured per request.
	MaxDataVersionFilters int
	// MaxSubscriptions bounds subscriptions in total; zero means
	// DefaultMaxSubscriptions. MaxSubscriptionsPerFabric bounds one
	// fabric's; zero means MaxSubscriptions. A fabric under
	// MinSubscriptionsPerFabric may always subscribe: the oldest
	// subscription of the fabric with the most is evicted for it.
	MaxSubscriptions          int
	MaxSubscriptionsPerFabric int
	// MaxReportSize caps one ReportData or InvokeResponse payload below
	// what the transport allows; zero means no further cap. Tests use it
	// to force chunking.
	MaxReportSize int
	// MinMaxInterval is the smallest MaxInterval the server grants a
	// subscription, within the spec's bounds (the subscriber's floor and
	// max(ceiling, SUBSCRIPTION_MAX_INTERVAL_PUBLISHER_LIMIT)); it keeps a
	// ceiling of 0 from turning into a flood of keep-alives. Zero means 1 s.
	MinMaxInterval time.Duration
	// ResponseTimeout bounds the wait for the peer's next message within
	// a transaction: a StatusResponse between report chunks, the next
	// chunk of a write, the action after a TimedRequest. Zero means
	// DefaultResponseTimeout.
	ResponseTimeout time.Duration

	// Now is the clock for timed-interaction deadlines; nil means
	// time.Now.
	Now func() time.Time
	// Rand draws subscription IDs; nil means crypto/rand.Reader.
	Rand io.Reader
	// Logger receives diagnostics; nil means slog.Default.
	Logger *slog.Logger
}

// Server is the Interaction Model server (Core chapter 8): it answers
// Read, Subscribe, Write, Invoke and Timed requests on the node's secure
// sessions, and sends the reports of the subscriptions it holds.
type Server struct {
	cfg  Config
	log  *slog.Logger
	mgr  *transport.Manager
	node *dm.Node

	ctx    context.Context // done on Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // subscription goroutines

	mu        sync.Mutex
	closed    bool
	subs      map[uint32]*subscription
	nextSubID uint32
	subSeq    uint64
	stats     Stats
}

// Stats counts what a Server has done.
type Stats struct {
	Reads, Writes, Invokes, Subscribes uint64
	ReportsSent                        uint64 // ReportData messages, chunks included
	SubscriptionsEnded                 uint64
	StatusResponses                    uint64 // error StatusResponses sent
}

// NewServer returns a Server and registers it for the Interaction Model
// protocol on cfg.Manager.
func NewServer(cfg Config) (*Server, error) {
	if cfg.Manager == nil || cfg.Node == nil || cfg.Access == nil {
		return nil, errors.New("im: server needs a Manager, a Node and an AccessChecker")
	}
	if cfg.MaxPathsPerInvoke <= 0 {
		cfg.MaxPathsPerInvoke = session.DefaultMaxPathsPerInvoke
	}
	if cfg.MaxPathsPerInvoke > 0xFFFF {
		return nil, errors.New("im: MaxPathsPerInvoke over 65535")
	}
	if cfg.MaxAttributePaths == 0 {
		cfg.MaxAttributePaths = DefaultMaxAttributePaths
	}
	if cfg.MaxEventPaths == 0 {
		cfg.MaxEventPaths = DefaultMaxEventPaths
	}
	cfg.MaxAttributePaths = max(cfg.MaxAttributePaths, MinPathsPerRead)
	cfg.MaxEventPaths = max(cfg.MaxEventPaths, MinPathsPerRead)
	if cfg.MaxDataVersionFilters <= 0 {
		cfg.MaxDataVersionFilters = DefaultMaxDataVersionFilters
	}
	if cfg.MaxSubscriptions <= 0 {
		cfg.MaxSubscriptions = DefaultMaxSubscriptions
	}
	if cfg.MaxSubscriptionsPerFabric <= 0 || cfg.MaxSubscriptionsPerFabric > cfg.MaxSubscriptions {
		cfg.MaxSubscriptionsPerFabric = cfg.MaxSubscriptions
	}
	if cfg.MinMaxInterval <= 0 {
		cfg.MinMaxInterval = time.Second
	}
	if cfg.ResponseTimeout <= 0 {
		cfg.ResponseTimeout = DefaultResponseTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = crand.Reader
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	var b [4]byte
	if _, err := io.ReadFull(cfg.Rand, b[:]); err != nil {
		return nil, fmt.Errorf("im: seeding subscription IDs: %w", err)
	}
	s := &Server{
		cfg:       cfg,
		log:       log.With("component", "matter/im"),
		mgr:       cfg.Manager,
		node:      cfg.Node,
		subs:      make(map[uint32]*subscription),
		nextSubID: binary.LittleEndian.Uint32(b[:]),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	cfg.Node.Observe(s.attributeChanged)
	if cfg.Events != nil {
		cfg.Events.Observe(s.eventRecorded)
	}
	cfg.Manager.Handle(Protocol, s.serve)
	return s, nil
}

// Close unregisters the server, ends every subscription and waits for
// their goroutines. Transactions in progress are cancelled.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	subs := s.subs
	s.subs = map[uint32]*subscription{}
	s.mu.Unlock()
	s.mgr.Handle(Protocol, nil)
	s.cancel()
	for _, sub := range subs {
		sub.cancel()
	}
	s.wg.Wait()
	return nil
}

// Stats returns the server's counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

func (s *Server) count(f func(*Stats)) {
	s.mu.Lock()
	f(&s.stats)
	s.mu.Unlock()
}

// abortError ends a transaction with a StatusResponse (Core §8.2.3 "Status
// Response Action").
type abortError struct {
	status dm.Status
	reason string
}

func (e *abortError) Error() string { return fmt.Sprintf("im: %v: %s", e.status, e.reason) }

func abort(status dm.Status, format string, args ...any) error {
	return &abortError{status: status, reason: fmt.Sprintf(format, args...)}
}

// timing is the timed-interaction state of a transaction (Core §8.7.2.1,
// §8.8.2.1): whether a TimedRequest came first, and until when the action
// that follows it is accepted.
type timing struct {
	timed    bool
	deadline time.Time
}

// serve handles an exchange a peer opened with an IM message.
func (s *Server) serve(ctx context.Context, e *transport.Exchange, first transport.Message) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.ctx, cancel)
	defer stop()

	defer func() {
		// A handler bug must not take the node down with it; the
		// transaction ends without an answer, as if the message was lost.
		if r := recover(); r != nil {
			s.log.Error("IM handler panicked", "opcode", Opcode(first.Opcode), "panic", r, "stack", string(debug.Stack()))
		}
	}()
	sess, ok := e.Session().(SecureSession)
	if !ok {
		s.log.Debug("IM message on an unsecured session dropped", "peer", e.Session().Peer(), "opcode", Opcode(first.Opcode))
		return
	}
	var err error
	switch op := Opcode(first.Opcode); op {
	case OpReadRequest:
		err = s.handleRead(ctx, e, sess, first.Payload)
	case OpSubscribeRequest:
		err = s.handleSubscribe(ctx, e, sess, first)
	case OpWriteRequest:
		err = s.handleWrite(ctx, e, sess, first.Payload, timing{})
	case OpInvokeRequest:
		err = s.handleInvoke(ctx, e, sess, first.Payload, timing{})
	case OpTimedRequest:
		err = s.handleTimed(ctx, e, sess, first.Payload)
	case OpReportData:
		if c := s.cfg.Client; c != nil {
			c.handleReport(ctx, e, first)
			return
		}
		err = abort(dm.StatusInvalidSubscription, "no client for subscription reports")
	case OpStatusResponse:
		// Answering an unsolicited status with a status could make two
		// nodes talk forever; drop it.
		s.log.Debug("unsolicited StatusResponse dropped", "peer", sess.Peer())
		return
	default:
		err = abort(dm.StatusInvalidAction, "unexpected %v", op)
	}
	s.finish(ctx, e, err)
}

// finish answers a failed transaction: an abortError with its
// StatusResponse; anything else (the network, the peer going away) is
// only logged.
func (s *Server) finish(ctx context.Context, e *transport.Exchange, err error) {
	if err == nil {
		return
	}
	var ae *abortError
	if errors.As(err, &ae) {
		s.log.Debug("transaction refused", "peer", e.Session().Peer(), "status", ae.status, "reason", ae.reason)
		s.count(func(st *Stats) { st.StatusResponses++ })
		if err := sendStatus(ctx, e, ae.status); err != nil {
			s.log.Debug("cannot send StatusResponse", "peer", e.Session().Peer(), "err", err)
		}
		return
	}
	s.log.Debug("transaction failed", "peer", e.Session().Peer(), "err", err)
}

// handleTimed runs a timed transaction (Core §8.7.2.1 timed write, §8.8.2.1
// timed invoke): it acknowledges the TimedRequest with SUCCESS and expects
// a Write or Invoke request, with TimedRequest set, on the same exchange
// within the timeout.
func (s *Server) handleTimed(ctx context.Context, e *transport.Exchange, sess SecureSession, payload []byte) error {
	var req TimedRequest
	if err := req.Unmarshal(payload); err != nil {
		return abort(dm.StatusInvalidAction, "%v", err)
	}
	t := timing{timed: true, deadline: s.cfg.Now().Add(time.Duration(req.Timeout) * time.Millisecond)}
	if err := sendStatus(ctx, e, dm.StatusSuccess); err != nil {
		return err
	}
	// Wait past the deadline, so that a late action gets its TIMEOUT
	// status rather than silence.
	wait := time.Duration(req.Timeout)*time.Millisecond + s.cfg.ResponseTimeout
	rctx, cancel := context.WithTimeout(ctx, wait)
	msg, err := e.Receive(rctx)
	cancel()
	if err != nil {
		return fmt.Errorf("im: waiting for the timed action: %w", err)
	}
	switch Opcode(msg.Opcode) {
	case OpWriteRequest:
		return s.handleWrite(ctx, e, sess, msg.Payload, t)
	case OpInvokeRequest:
		return s.handleInvoke(ctx, e, sess, msg.Payload, t)
	}
	return abort(dm.StatusInvalidAction, "%v after TimedRequest", Opcode(msg.Opcode))
}

// checkTimed applies the timed-interaction rules common to Write and
// Invoke (Core §8.7.3.1, §8.8.3.1): an action after an expired
// TimedRequest gets TIMEOUT, and the action's TimedRequest flag must say
// whether a TimedRequest preceded it (TIMED_REQUEST_MISMATCH).
func (s *Server) checkTimed(t timing, flag bool) error {
	if t.timed && s.cfg.Now().After(t.deadline) {
		return abort(dm.StatusTimeout, "timed action after its deadline")
	}
	if flag != t.timed {
		return abort(dm.StatusTimedRequestMismatch, "TimedRequest flag %v, timed transaction %v", flag, t.timed)
	}
	return nil
}

// request returns the handler request for an action on sess.
// AttestationRequest and CSRRequest sign over the session's attestation
// challenge, and AddNOC binds a PASE session to the fabric it adds, so
// both come from the session the request arrived on.
func (s *Server) request(ctx context.Context, e *transport.Exchange, subject dm.Subject) dm.Request {
	req := dm.Request{Ctx: ctx, Subject: subject, LargeMessage: e.SupportsLargeMessages()}
	sess := e.Session()
	if a, ok := sess.(interface{ AttestationChallenge() [16]byte }); ok {
		req.AttestationChallenge = a.AttestationChallenge()
	}
	if f, ok := sess.(interface{ SetFabricIndex(uint8) error }); ok {
		req.Session = f
	}
	return req
}

func subjectOf(sess SecureSession) dm.Subject {
	subj, _ := SubjectOf(sess)
	return subj
}

// payloadLimit returns the largest IM payload a message on sess can carry:
// the transport's limit (for TCP also the peer's MAX_TCP_MESSAGE_SIZE)
// less the message overhead, further capped by limit if non-zero.
func payloadLimit(mgr *transport.Manager, sess transport.Session, limit int) int {
	n := mgr.MaxMessageSize(sess)
	if sess.Peer().Network == transport.TCP {
		if p, ok := sess.(interface{ PeerParams() session.Params }); ok {
			if m := int(p.PeerParams().MaxTCPMessageSize); m > 0 && m < n {
				n = m
			}
		}
	}
	n -= messageOverhead
	if limit > 0 && limit < n {
		n = limit
	}
	return n
}

// localNodeID returns this node's ID on sess, 0 if unknown (PASE).
func localNodeID(sess transport.Session) uint64 {
	if l, ok := sess.(interface{ LocalNodeID() uint64 }); ok {
		return l.LocalNodeID()
	}
	return 0
}

// sendStatus sends a StatusResponse.
func sendStatus(ctx context.Context, e *transport.Exchange, st dm.Status) error {
	b, err := (&StatusResponse{Status: st}).AppendTo(nil)
	if err != nil {
		return err
	}
	return e.Send(ctx, uint8(OpStatusResponse), b)
}

// errUnexpected reports a message of another protocol on an IM exchange.
var errUnexpected = errors.New("im: unexpected message")

// receive waits for the next IM message on e, at most timeout.
func receive(ctx context.Context, e *transport.Exchange, timeout time.Duration) (transport.Message, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	m, err := e.Receive(ctx)
	if err != nil {
		return m, err
	}
	if m.ProtocolID != Protocol || m.VendorID != 0 {
		return m, fmt.Errorf("%w: protocol %v", errUnexpected, m.ProtocolID)
	}
	return m, nil
}

// awaitStatus waits for the peer's StatusResponse and returns nil for
// SUCCESS, a *dm.StatusError for another status, and an abortError with
// INVALID_ACTION for another message (Core §8.2.3: an unexpected action
// ends the transaction with INVALID_ACTION).
func awaitStatus(ctx context.Context, e *transport.Exchange, timeout time.Duration) error {
	m, err := receive(ctx, e, timeout)
	if err != nil {
		return err
	}
	if Opcode(m.Opcode) != OpStatusResponse {
		return abort(dm.StatusInvalidAction, "%v while a StatusResponse was expected", Opcode(m.Opcode))
	}
	var sr StatusResponse
	if err := sr.Unmarshal(m.Payload); err != nil {
		return abort(dm.StatusInvalidAction, "%v", err)
	}
	if sr.Status != dm.StatusSuccess {
		return &dm.StatusError{Status: sr.Status, Err: errors.New("peer answered with a status")}
	}
	return nil
}
