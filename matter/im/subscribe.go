package im

import (
	"context"
	"errors"
	"math"
	"runtime/debug"
	"sync"
	"time"

	"github.com/mattercam/mattercam/matter/dm"
	"github.com/mattercam/mattercam/matter/transport"
)

// maxDirtyPaths bounds the changed attributes a subscription remembers
// between reports; past it, every subscribed attribute is reported.
const maxDirtyPaths = 64

// subscription is one subscription the server holds (Core §8.5). After its
// priming report it is driven by its own goroutine, which sends a report
// when subscribed data changed and MinInterval has passed since the last
// one, and an empty keep-alive report when MaxInterval passes without one.
type subscription struct {
	s        *Server
	id       uint32
	seq      uint64 // admission order, for eviction
	sess     SecureSession
	subject  dm.Subject
	peer     uint64
	counter  uint32 // message counter of the SubscribeRequest, for arrival order
	filtered bool
	attrs    []AttributePath
	events   []EventPath
	min, max time.Duration

	ctx    context.Context
	cancel context.CancelFunc
	wake   chan struct{}

	mu        sync.Mutex
	dirty     map[dm.Path]struct{}
	allDirty  bool
	urgent    bool
	eventFrom uint64
}

// SubscriptionInfo describes a subscription the server holds.
type SubscriptionInfo struct {
	ID          uint32
	FabricIndex uint8
	PeerNodeID  uint64
	MinInterval time.Duration
	MaxInterval time.Duration
	Session     transport.Session
}

// Subscriptions returns the subscriptions the server holds, priming ones
// included.
func (s *Server) Subscriptions() []SubscriptionInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]SubscriptionInfo, 0, len(s.subs))
	for _, sub := range s.subs {
		out = append(out, SubscriptionInfo{ID: sub.id, FabricIndex: sub.subject.FabricIndex, PeerNodeID: sub.peer,
			MinInterval: sub.min, MaxInterval: sub.max, Session: sub.sess})
	}
	return out
}

// CancelSubscription ends a subscription and reports whether it existed.
// The subscriber notices when reports stop (Core §8.5.3).
func (s *Server) CancelSubscription(id uint32) bool {
	return s.cancelWhere(func(sub *subscription) bool { return sub.id == id }) > 0
}

// CancelFabric ends every subscription of a fabric, as RemoveFabric
// requires, and returns how many there were.
func (s *Server) CancelFabric(fabric uint8) int {
	return s.cancelWhere(func(sub *subscription) bool { return sub.subject.FabricIndex == fabric })
}

// CancelSession ends every subscription that runs on a session. The node
// calls it when the session table removes a session; a subscription on a
// closed session also ends by itself at its next report.
func (s *Server) CancelSession(sess transport.Session) int {
	return s.cancelWhere(func(sub *subscription) bool { return transport.Session(sub.sess) == sess })
}

func (s *Server) cancelWhere(match func(*subscription) bool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, sub := range s.subs {
		if match(sub) {
			s.dropLocked(sub)
			n++
		}
	}
	return n
}

func (s *Server) dropLocked(sub *subscription) {
	if s.subs[sub.id] == sub {
		delete(s.subs, sub.id)
		s.stats.SubscriptionsEnded++
	}
	sub.cancel()
}

func (s *Server) remove(sub *subscription) {
	s.mu.Lock()
	s.dropLocked(sub)
	s.mu.Unlock()
}

// handleSubscribe serves a Subscribe interaction (Core §8.5.2): the request
// is checked and admitted, the priming report goes out (chunked, each chunk
// acknowledged by a StatusResponse), and the SubscribeResponse with the
// chosen MaxInterval ends the exchange. Reports then go out on new
// exchanges the server opens on the same session.
func (s *Server) handleSubscribe(ctx context.Context, e *transport.Exchange, sess SecureSession, first transport.Message) error {
	s.count(func(st *Stats) { st.Subscribes++ })
	var req SubscribeRequest
	if err := req.Unmarshal(first.Payload); err != nil {
		return abort(dm.StatusInvalidAction, "%v", err)
	}
	if req.MinIntervalFloor > req.MaxIntervalCeiling {
		return abort(dm.StatusInvalidAction, "MinIntervalFloor %d > MaxIntervalCeiling %d", req.MinIntervalFloor, req.MaxIntervalCeiling)
	}
	if err := s.checkPaths(req.AttributeRequests, req.EventRequests); err != nil {
		return err
	}
	subj := subjectOf(sess)
	if subj.FabricIndex == 0 {
		// Subscriptions are a per-fabric resource (Core §8.5.1); a PASE
		// session not yet bound to a fabric by AddNOC has none.
		return abort(dm.StatusUnsupportedAccess, "subscription without an accessing fabric")
	}
	sub := &subscription{
		s:        s,
		sess:     sess,
		subject:  subj,
		peer:     sess.PeerNodeID(),
		counter:  first.Header.Counter,
		filtered: req.FabricFiltered,
		attrs:    req.AttributeRequests,
		events:   req.EventRequests,
		min:      time.Duration(req.MinIntervalFloor) * time.Second,
		max:      s.chooseMaxInterval(req.MinIntervalFloor, req.MaxIntervalCeiling),
		wake:     make(chan struct{}, 1),
		dirty:    make(map[dm.Path]struct{}),
	}
	sub.ctx, sub.cancel = context.WithCancel(s.ctx)
	if err := s.admit(sub, req.KeepSubscriptions); err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			s.remove(sub)
		}
	}()
	// Priming ends if the subscription is cancelled meanwhile.
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(sub.ctx, cancel)
	defer stop()

	err := s.prime(pctx, e, sess, sub, &req)
	if err != nil && sub.ctx.Err() != nil && ctx.Err() == nil {
		// A later request of the subscriber (KeepSubscriptions false),
		// RemoveFabric or eviction ended the subscription while it was
		// priming. The subscriber still gets an answer, so that it does
		// not wait out its response timeout (Core §8.5.2).
		return abort(dm.StatusFailure, "subscription %d ended while priming", sub.id)
	}
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.subs[sub.id] != sub {
		return errors.New("im: subscription cancelled while priming")
	}
	ok = true
	s.wg.Add(1)
	go sub.run()
	return nil
}

// prime sends the priming reports of sub and its SubscribeResponse.
func (s *Server) prime(pctx context.Context, e *transport.Exchange, sess SecureSession, sub *subscription, req *SubscribeRequest) error {
	rd := s.newReader(pctx, e, sess, req.FabricFiltered)
	rd.dvf = req.DataVersionFilters[:min(len(req.DataVersionFilters), s.cfg.MaxDataVersionFilters)]
	rd.eventStatuses = true
	b := &reportBuilder{limit: payloadLimit(s.mgr, sess, s.cfg.MaxReportSize), subID: sub.id, hasSub: true}
	b.emit = func(more bool) error {
		msg, err := b.encode(more, false)
		if err != nil {
			return err
		}
		if err := e.Send(pctx, uint8(OpReportData), msg); err != nil {
			return err
		}
		s.count(func(st *Stats) { st.ReportsSent++ })
		return awaitStatus(pctx, e, s.cfg.ResponseTimeout)
	}
	rd.b = b
	from, to := eventMin(req.EventFilters, rd.node), s.eventsNext()
	if err := rd.run(sub.attrs, sub.events, from, to); err != nil {
		return err
	}
	if err := b.emit(false); err != nil {
		return err
	}
	sub.mu.Lock()
	sub.eventFrom = max(to, from)
	sub.mu.Unlock()
	resp, err := (&SubscribeResponse{SubscriptionID: sub.id, MaxInterval: uint16(sub.max / time.Second)}).AppendTo(nil)
	if err != nil {
		return err
	}
	return e.Send(pctx, uint8(OpSubscribeResponse), resp)
}

// chooseMaxInterval picks the MaxInterval of a subscription (Core §8.5.1.2):
// the subscriber's ceiling, raised to its floor and to MinMaxInterval, and
// never above max(ceiling, SUBSCRIPTION_MAX_INTERVAL_PUBLISHER_LIMIT), in
// whole seconds.
func (s *Server) chooseMaxInterval(floor, ceiling uint16) time.Duration {
	f, c := time.Duration(floor)*time.Second, time.Duration(ceiling)*time.Second
	upper := max(c, SubscriptionMaxIntervalPublisherLimit)
	mi := min(max(c, f, s.cfg.MinMaxInterval), upper)
	secs := math.Ceil(mi.Seconds())
	return time.Duration(min(secs, math.MaxUint16)) * time.Second
}

// admit gives sub an ID and a place within the limits (Core §8.5.1): with
// KeepSubscriptions false the subscriber's other subscriptions end first;
// a fabric at MaxSubscriptionsPerFabric is refused; when the table is full
// a fabric under its guaranteed minimum evicts the oldest subscription of
// the fabric that holds the most, and any other is refused with
// RESOURCE_EXHAUSTED.
func (s *Server) admit(sub *subscription, keep bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return abort(dm.StatusResourceExhausted, "server closed")
	}
	fabric := sub.subject.FabricIndex
	if !keep {
		for _, o := range s.subs {
			if o.subject.FabricIndex == fabric && o.peer == sub.peer && o.before(sub) {
				s.dropLocked(o)
			}
		}
	}
	perFabric := map[uint8]int{}
	for _, o := range s.subs {
		perFabric[o.subject.FabricIndex]++
	}
	limit := max(s.cfg.MaxSubscriptionsPerFabric, MinSubscriptionsPerFabric)
	if perFabric[fabric] >= limit {
		return abort(dm.StatusResourceExhausted, "fabric %d holds %d subscriptions", fabric, perFabric[fabric])
	}
	if len(s.subs) >= max(s.cfg.MaxSubscriptions, MinSubscriptionsPerFabric) {
		if perFabric[fabric] >= MinSubscriptionsPerFabric {
			return abort(dm.StatusResourceExhausted, "%d subscriptions", len(s.subs))
		}
		var victim *subscription
		most := MinSubscriptionsPerFabric
		for f, n := range perFabric {
			if n <= most {
				continue
			}
			most = n
			victim = nil
			for _, o := range s.subs {
				if o.subject.FabricIndex == f && (victim == nil || o.seq < victim.seq) {
					victim = o
				}
			}
		}
		if victim == nil {
			return abort(dm.StatusResourceExhausted, "%d subscriptions", len(s.subs))
		}
		s.log.Debug("subscription evicted for a fabric under its minimum", "id", victim.id, "fabric", victim.subject.FabricIndex)
		s.dropLocked(victim)
	}
	for {
		s.nextSubID++
		if _, used := s.subs[s.nextSubID]; !used {
			break
		}
	}
	sub.id = s.nextSubID
	sub.seq = s.seqLocked()
	s.subs[sub.id] = sub
	return nil
}

// before reports whether o's SubscribeRequest came before sub's.
// KeepSubscriptions false ends the subscriptions the subscriber held when
// it sent the request (Core §8.5.1), not those it asked for afterwards:
// exchanges are served concurrently, so a later request may be admitted
// first. On one session the message counter gives the order in which the
// peer sent them (Core §4.6.5: it increases with every message); across
// sessions the older subscription is the one on the other session.
func (o *subscription) before(sub *subscription) bool {
	if o.sess != sub.sess {
		return true
	}
	return int32(sub.counter-o.counter) > 0
}

// seqLocked returns increasing admission numbers.
func (s *Server) seqLocked() uint64 {
	s.subSeq++
	return s.subSeq
}

// attributeChanged is the dm.Node observer: it marks the changed path
// dirty in every subscription that covers it. Attributes with the
// ChangesOmitted quality are not reported on change (Core §7.7).
func (s *Server) attributeChanged(p dm.Path) {
	if e := s.node.Endpoint(p.Endpoint); e != nil {
		if c := e.Cluster(p.Cluster); c != nil {
			if m := c.Meta().LookupAttribute(p.ID); m != nil && m.Quality&dm.QualityChangesOmitted != 0 {
				return
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sub := range s.subs {
		if sub.coversAttr(p) {
			sub.markDirty(p)
		}
	}
}

// eventRecorded is the event log observer: an event that matches an
// urgent event path of a subscription makes it report as soon as
// MinInterval allows; other events wait for the next report
// (Core §8.5.2 "IsUrgent").
func (s *Server) eventRecorded(ev *dm.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sub := range s.subs {
		for _, p := range sub.events {
			if p.Urgent && eventPathMatches(p, ev, localNodeID(sub.sess)) {
				sub.mu.Lock()
				sub.urgent = true
				sub.mu.Unlock()
				sub.signal()
				break
			}
		}
	}
}

func (sub *subscription) coversAttr(p dm.Path) bool {
	for _, a := range sub.attrs {
		if (a.Wildcard&WildEndpoint != 0 || a.Endpoint == p.Endpoint) &&
			(a.Wildcard&WildCluster != 0 || a.Cluster == p.Cluster) &&
			(a.Wildcard&WildAttribute != 0 || a.Attribute == p.ID) {
			return true
		}
	}
	return false
}

func (sub *subscription) markDirty(p dm.Path) {
	sub.mu.Lock()
	if !sub.allDirty {
		if len(sub.dirty) >= maxDirtyPaths {
			sub.allDirty = true
			clear(sub.dirty)
		} else {
			sub.dirty[p] = struct{}{}
		}
	}
	sub.mu.Unlock()
	sub.signal()
}

func (sub *subscription) signal() {
	select {
	case sub.wake <- struct{}{}:
	default:
	}
}

func (sub *subscription) pending() bool {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	return sub.urgent || sub.allDirty || len(sub.dirty) > 0
}

// run drives the subscription after priming until it is cancelled or a
// report fails.
func (sub *subscription) run() {
	s := sub.s
	defer s.wg.Done()
	defer s.remove(sub)
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("subscription report panicked", "id", sub.id, "panic", r, "stack", string(debug.Stack()))
		}
	}()
	last := time.Now()
	timer := time.NewTimer(sub.max)
	defer timer.Stop()
	for {
		pending := sub.pending()
		due := last.Add(sub.max)
		if pending {
			due = last.Add(sub.min)
		}
		if wait := time.Until(due); wait > 0 {
			timer.Reset(wait)
			select {
			case <-sub.ctx.Done():
				return
			case <-sub.wake:
			case <-timer.C:
			}
			continue
		}
		if c, ok := sub.sess.(interface{ Closed() bool }); ok && c.Closed() {
			s.log.Debug("subscription ends with its session", "id", sub.id)
			return
		}
		if err := sub.report(); err != nil {
			if sub.ctx.Err() == nil {
				s.log.Debug("subscription ends: report failed", "id", sub.id, "peer", sub.sess.Peer(), "err", err)
			}
			return
		}
		last = time.Now()
	}
}

// report sends one report: the changed attributes, the events recorded
// since the last report, or, with neither, an empty keep-alive report.
// Every report, keep-alives included, waits for the subscriber's
// StatusResponse, and anything else ends the subscription (Core §8.5.3): a
// subscriber that dropped the subscription answers INVALID_SUBSCRIPTION.
// The SDK sends keep-alives the same way (SuppressResponse only on the
// last chunk of a Read); matter.js suppresses the response to empty
// reports, which leaves the publisher only the MRP acknowledgement.
func (sub *subscription) report() error {
	s := sub.s
	sub.mu.Lock()
	dirty, all := sub.dirty, sub.allDirty
	sub.dirty, sub.allDirty, sub.urgent = make(map[dm.Path]struct{}), false, false
	from := sub.eventFrom
	sub.mu.Unlock()
	to := s.eventsNext()

	var ex *transport.Exchange
	defer func() {
		if ex != nil {
			ex.Close()
		}
	}()
	ctx := sub.ctx
	b := &reportBuilder{limit: payloadLimit(s.mgr, sub.sess, s.cfg.MaxReportSize), subID: sub.id, hasSub: true}
	b.emit = func(more bool) error {
		if ex == nil {
			var err error
			if ex, err = s.mgr.NewExchange(sub.sess, Protocol); err != nil {
				return err
			}
		}
		msg, err := b.encode(more, false)
		if err != nil {
			return err
		}
		if err := ex.Send(ctx, uint8(OpReportData), msg); err != nil {
			return err
		}
		s.count(func(st *Stats) { st.ReportsSent++ })
		return awaitStatus(ctx, ex, s.cfg.ResponseTimeout)
	}
	req := dm.Request{Ctx: ctx, Subject: sub.subject, FabricFiltered: sub.filtered,
		LargeMessage: s.mgr.SupportsLargeMessages(sub.sess)}
	rd := &reader{s: s, req: req, node: localNodeID(sub.sess), b: b}
	rd.dirty = func(ep uint16, cluster, attr uint32) bool {
		if all {
			return true
		}
		_, ok := dirty[dm.Path{Endpoint: ep, Cluster: cluster, ID: attr}]
		return ok
	}
	var attrs []AttributePath
	if all || len(dirty) > 0 {
		attrs = sub.attrs
	}
	if err := rd.run(attrs, sub.events, from, to); err != nil {
		return err
	}
	sub.mu.Lock()
	sub.eventFrom = max(sub.eventFrom, to)
	sub.mu.Unlock()
	return b.emit(false)
}
