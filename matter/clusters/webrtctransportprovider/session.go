package webrtctransportprovider

import (
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/mattercam/mattercam/matter/clusters/field"
	"github.com/mattercam/mattercam/matter/clusters/globals"
	"github.com/mattercam/mattercam/matter/clusters/internal/serve"
	"github.com/mattercam/mattercam/matter/clusters/webrtctransportdefinitions"
	"github.com/mattercam/mattercam/matter/clusters/webrtctransportrequestor"
)

// state is where a session is in the offer/answer exchange (spec digest
// §4).
type state uint8

const (
	// stateOfferPending: SolicitOffer accepted; the worker is to create
	// the camera's offer and push Offer (the "deferred offer", §4.2).
	stateOfferPending state = iota
	// stateAwaitingAnswer: the camera's offer is made (and pushed, or
	// being pushed); ProvideAnswer completes it.
	stateAwaitingAnswer
	// stateAnswering: ProvideOffer accepted (new session or re-offer); the
	// worker is to apply it and push Answer (§4.1).
	stateAnswering
	// stateEstablished: offer and answer are both applied; ICE and DTLS
	// run (or have finished: see session.connected).
	stateEstablished
)

func (st state) String() string {
	switch st {
	case stateOfferPending:
		return "offer-pending"
	case stateAwaitingAnswer:
		return "awaiting-answer"
	case stateAnswering:
		return "answering"
	case stateEstablished:
		return "established"
	}
	return "unknown"
}

// maxSessionID is the largest WebRTCSessionID: IDs run 0..65534 and wrap,
// 65535 is never used (spec digest §2.3).
const maxSessionID = 65534

// session is one WebRTC session. The fields above mu-guarded ones are set
// at creation and never change.
type session struct {
	id       uint16
	fabric   uint8
	node     uint64
	endpoint uint16 // the controller's Requestor endpoint (OriginatingEndpointID)
	usage    globals.StreamUsage
	video    []uint16 // allocated video streams the session uses; reference counts held
	audio    []uint16
	offerer  bool // SolicitOffer: the camera made the offer

	// Guarded by Server.mu.
	inserted      bool // in Server.sessions (creation finished)
	ended         bool
	state         state
	pendingOffers int  // remote offers accepted and not yet answered by the worker
	connected     bool // ICE and DTLS up; the setup timer is stopped
	firstPushed   bool // the first Offer or Answer went out
	setupTimer    *time.Timer
	local         []Candidate // local candidates not yet queued (≤ candidateBatchMax)
	batchTimer    *time.Timer

	// mediaMu serialises calls into media: the worker's CreateOffer,
	// AcceptOffer and Close, the handlers' AcceptAnswer and AddCandidates.
	// It is never taken while Server.mu is held.
	mediaMu     sync.Mutex
	media       MediaSession
	mediaClosed bool
	remoteSet   bool        // the remote description is applied: candidates can go to media
	remoteBuf   []Candidate // remote candidates that arrived before it (≤ maxBufferedRemoteCandidates)
}

func (sess *session) peer() Peer {
	return Peer{FabricIndex: sess.fabric, NodeID: sess.node, Endpoint: sess.endpoint}
}

// entry is the session's CurrentSessions entry. The deprecated single IDs
// are always present (mandatory in 1.5, where they were nullable) and the
// lists whenever they are not empty (spec digest §2.3, §7 item 6).
func (sess *session) entry() webrtctransportdefinitions.WebRTCSession {
	e := webrtctransportdefinitions.WebRTCSession{
		ID:             sess.id,
		PeerNodeID:     sess.node,
		PeerEndpointID: sess.endpoint,
		StreamUsage:    sess.usage,
		VideoStreamID:  field.Some(firstOrNull(sess.video)),
		AudioStreamID:  field.Some(firstOrNull(sess.audio)),
		FabricIndex:    sess.fabric,
	}
	if len(sess.video) > 0 {
		e.VideoStreams = field.Some(slices.Clone(sess.video))
	}
	if len(sess.audio) > 0 {
		e.AudioStreams = field.Some(slices.Clone(sess.audio))
	}
	return e
}

// firstOrNull is what a rev-1 field holds for a list of streams: its first
// entry, or null.
func firstOrNull(ids []uint16) field.Nullable[uint16] {
	if len(ids) == 0 {
		return field.Null[uint16]()
	}
	return field.NonNull(ids[0])
}

// owns reports whether the request's subject owns the session: the same
// fabric and the same peer node (spec digest §2.4 "Session lookup and
// ownership").
func (sess *session) owns(fabric uint8, node uint64) bool {
	return sess.fabric == fabric && sess.node == node
}

func (sess *session) stopTimersLocked() {
	if sess.setupTimer != nil {
		sess.setupTimer.Stop()
		sess.setupTimer = nil
	}
	if sess.batchTimer != nil {
		sess.batchTimer.Stop()
		sess.batchTimer = nil
	}
	sess.local = nil
}

// closeMedia closes the session's media once.
func (sess *session) closeMedia(log *slog.Logger) {
	sess.mediaMu.Lock()
	defer sess.mediaMu.Unlock()
	if sess.mediaClosed || sess.media == nil {
		sess.mediaClosed = true
		return
	}
	sess.mediaClosed = true
	sess.remoteBuf = nil
	if err := sess.media.Close(); err != nil {
		log.Debug("closing media", "session", sess.id, "err", err)
	}
}

// lookupLocked returns the live session id owned by the subject, or nil:
// an unknown ID and another fabric's or peer's session look the same
// (NOT_FOUND, spec digest §2.4). The caller holds mu.
func (s *Server) lookupLocked(id uint16, fabric uint8, node uint64) *session {
	for _, sess := range s.sessions {
		if sess.id == id {
			if sess.owns(fabric, node) {
				return sess
			}
			return nil
		}
	}
	return nil
}

// allocateIDLocked returns the next free session ID: counting up from the
// last one, wrapping after 65534 and skipping IDs in use, including those
// of ended sessions whose End has not gone out yet, so a controller never
// takes a late End for a new session (spec digest §2.3). ok is false when
// all 65535 are taken, which the session limit makes impossible. The
// caller holds mu.
func (s *Server) allocateIDLocked() (id uint16, ok bool) {
	for range maxSessionID + 1 {
		id = s.nextID
		s.nextID = nextSessionID(id)
		if _, used := s.reserved[id]; !used && !s.liveIDLocked(id) {
			return id, true
		}
	}
	return 0, false
}

// giveBackIDLocked returns the ID of a refused creation, unless another
// session took a later one meanwhile: IDs count sessions, not attempts.
// The caller holds mu.
func (s *Server) giveBackIDLocked(id uint16) {
	if s.nextID == nextSessionID(id) {
		s.nextID = id
	}
}

// nextSessionID is the ID after id, wrapping after 65534.
func nextSessionID(id uint16) uint16 {
	if id >= maxSessionID {
		return 0
	}
	return id + 1
}

func (s *Server) liveIDLocked(id uint16) bool {
	return slices.ContainsFunc(s.sessions, func(sess *session) bool { return sess.id == id })
}

// endLocked ends a live session: it leaves CurrentSessions, its timers
// stop and its media goes to the worker to be closed, followed by End
// with reason when push is set. It reports whether the session was live;
// the caller then calls finishEnd for it after unlocking mu. The caller
// holds mu.
func (s *Server) endLocked(sess *session, reason EndReason, push bool) bool {
	if sess.ended {
		return false
	}
	sess.ended = true
	if !sess.inserted {
		// Still being created: the creating handler sees ended and
		// undoes what it took.
		return false
	}
	s.sessions = slices.DeleteFunc(s.sessions, func(o *session) bool { return o == sess })
	sess.stopTimersLocked()
	it := &closeItem{sess: sess}
	if push {
		b, err := serve.Marshal(&webrtctransportrequestor.EndRequest{WebRTCSessionID: sess.id, Reason: reason})
		if err != nil {
			s.log.Error("encoding End", "session", sess.id, "err", err)
		} else {
			it.end = b
		}
	}
	// The ID stays taken until the worker is done with the item (its End
	// sent or not).
	s.reserved[sess.id] = struct{}{}
	s.closing = append(s.closing, it)
	s.unclosed++
	s.wakeWorker()
	s.log.Info("session ended", "session", sess.id, "fabric", sess.fabric, "node", sess.node,
		"reason", reason, "end", push, "state", sess.state)
	return true
}

// finishEnd does what ending sessions needs outside mu: give back their
// stream references (exactly once per session: endLocked returned true
// once) and report CurrentSessions. References go back when a session
// leaves the table, before the worker has closed its media, so that a
// controller's EndSession followed at once by a stream deallocation does
// not find the stream still in use (spec digest §2.4 EndSession: free,
// decrement, remove, report, then SUCCESS).
func (s *Server) finishEnd(ended []*session) {
	if len(ended) == 0 {
		return
	}
	for _, sess := range ended {
		s.cfg.Streams.Release(sess.video, sess.audio)
	}
	s.Changed(AttrCurrentSessions)
}

// endSession ends one session.
func (s *Server) endSession(sess *session, reason EndReason, push bool) {
	s.mu.Lock()
	ok := !s.closed && s.endLocked(sess, reason, push)
	s.mu.Unlock()
	if ok {
		s.finishEnd([]*session{sess})
	}
}

// endWhere ends every live session match selects.
func (s *Server) endWhere(reason EndReason, push bool, match func(*session) bool) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	var ended []*session
	for _, sess := range slices.Clone(s.sessions) {
		if match(sess) && s.endLocked(sess, reason, push) {
			ended = append(ended, sess)
		}
	}
	s.mu.Unlock()
	s.finishEnd(ended)
}

// enterCallback registers a timer or media callback so Close can wait for
// it; it reports false once the server is closed, and the callback then
// does nothing.
func (s *Server) enterCallback() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.callbacks.Add(1)
	return true
}

// mediaParams returns what Media.Open gets for sess, with the callbacks
// bound to it.
func (s *Server) mediaParams(sess *session, servers []ICEServer, policy string) MediaParams {
	return MediaParams{
		ID:                 sess.id,
		Usage:              sess.usage,
		VideoStreams:       slices.Clone(sess.video),
		AudioStreams:       slices.Clone(sess.audio),
		ICEServers:         servers,
		ICETransportPolicy: policy,
		OnCandidate:        func(c Candidate) { s.onLocalCandidate(sess, c) },
		OnConnected:        func() { s.onConnected(sess) },
		OnEnd:              func(r EndReason) { s.onMediaEnd(sess, r) },
	}
}

// onLocalCandidate batches a local candidate: a batch is queued as one
// ICECandidates command when it is full, at the end of gathering (an empty
// candidate), or candidateBatchDelay after its first candidate.
func (s *Server) onLocalCandidate(sess *session, c Candidate) {
	if !s.enterCallback() {
		return
	}
	defer s.callbacks.Done()
	// SDPMid is "min 1 when not null" (spec digest §2.3): an empty one
	// would make the Requestor refuse the whole batch.
	if c.SDPMid.Valid && c.SDPMid.Value == "" {
		c.SDPMid = field.Null[string]()
	}
	s.mu.Lock()
	if sess.ended || !sess.inserted {
		s.mu.Unlock()
		return
	}
	sess.local = append(sess.local, c)
	var ended []*session
	if len(sess.local) >= candidateBatchMax || c.Candidate == "" {
		if s.flushLocalLocked(sess) {
			ended = append(ended, sess)
		}
	} else if sess.batchTimer == nil {
		sess.batchTimer = time.AfterFunc(candidateBatchDelay, func() { s.batchExpired(sess) })
	}
	s.mu.Unlock()
	s.finishEnd(ended)
}

func (s *Server) batchExpired(sess *session) {
	if !s.enterCallback() {
		return
	}
	defer s.callbacks.Done()
	s.mu.Lock()
	var ended []*session
	if !sess.ended && sess.batchTimer != nil {
		sess.batchTimer = nil
		if s.flushLocalLocked(sess) {
			ended = append(ended, sess)
		}
	}
	s.mu.Unlock()
	s.finishEnd(ended)
}

// flushLocalLocked queues the session's batched local candidates as one
// ICECandidates command. It reports whether the queue was full and the
// session ended instead (see enqueueOrEndLocked). The caller holds mu.
func (s *Server) flushLocalLocked(sess *session) (ended bool) {
	if sess.batchTimer != nil {
		sess.batchTimer.Stop()
		sess.batchTimer = nil
	}
	if len(sess.local) == 0 {
		return false
	}
	b, err := serve.Marshal(&webrtctransportrequestor.ICECandidatesRequest{WebRTCSessionID: sess.id, ICECandidates: sess.local})
	sess.local = nil
	if err != nil {
		s.log.Error("encoding ICECandidates", "session", sess.id, "err", err)
		return false
	}
	return s.enqueueOrEndLocked(job{sess: sess, kind: jobCandidates, payload: b})
}

func (s *Server) onConnected(sess *session) {
	if !s.enterCallback() {
		return
	}
	defer s.callbacks.Done()
	s.mu.Lock()
	defer s.mu.Unlock()
	if sess.ended || sess.connected {
		return
	}
	sess.connected = true
	if sess.setupTimer != nil {
		sess.setupTimer.Stop()
		sess.setupTimer = nil
	}
	s.log.Info("session connected", "session", sess.id)
}

// onMediaEnd forwards the media side's end of a session (IceFailed,
// IceTimeout, MediaTimeout, UserHangup) to the controller with End.
func (s *Server) onMediaEnd(sess *session, reason EndReason) {
	if !s.enterCallback() {
		return
	}
	defer s.callbacks.Done()
	if !reason.Known() {
		reason = webrtctransportdefinitions.WebRTCEndReasonUnknownReason
	}
	s.endSession(sess, reason, true)
}

// setupExpired ends a session that has not connected within SetupTimeout.
// Before the offer/answer exchange is complete the invitation went
// unanswered (InviteTimeout); after it, ICE never got through
// (IceTimeout).
func (s *Server) setupExpired(sess *session) {
	if !s.enterCallback() {
		return
	}
	defer s.callbacks.Done()
	s.mu.Lock()
	ok := false
	if !sess.ended && !sess.connected {
		reason := webrtctransportdefinitions.WebRTCEndReasonInviteTimeout
		if sess.state == stateEstablished {
			reason = webrtctransportdefinitions.WebRTCEndReasonICETimeout
		}
		sess.setupTimer = nil
		ok = s.endLocked(sess, reason, true)
	}
	s.mu.Unlock()
	if ok {
		s.finishEnd([]*session{sess})
	}
}
