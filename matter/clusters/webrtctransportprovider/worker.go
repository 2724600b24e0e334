package webrtctransportprovider

import (
	"context"
	"errors"
	"time"

	"github.com/mattercam/mattercam/matter/clusters/internal/serve"
	"github.com/mattercam/mattercam/matter/clusters/webrtctransportdefinitions"
	"github.com/mattercam/mattercam/matter/clusters/webrtctransportrequestor"
	"github.com/mattercam/mattercam/matter/dm"
)

// The outbound worker. One goroutine does everything that may wait: it
// makes offers and answers (media), pushes Offer, Answer, ICECandidates
// and End to the controllers' Requestors, and closes the media of ended
// sessions. Command handlers and media callbacks only queue work, so they
// never wait on the network (DESIGN §3).
//
// Ordering per session follows from one FIFO worker: a session's Offer or
// Answer is pushed inside the job that makes it, before any ICECandidates
// job the gathering it starts can queue; once a session has ended its
// queued jobs are dropped and its End is the last thing pushed for it.
// Ended sessions are served first, so media is torn down promptly even
// behind a backlog.

// jobKind is the work a queued job does.
type jobKind uint8

const (
	jobOffer      jobKind = iota // CreateOffer, then push Offer
	jobAnswer                    // AcceptOffer(sdp), then push Answer
	jobCandidates                // push ICECandidates (payload)
)

// job is a unit of outbound work for a live session. Payloads are encoded
// once, when queued (or, for Offer and Answer, once the SDP exists), so a
// retry resends the same bytes.
type job struct {
	sess    *session
	kind    jobKind
	sdp     string // jobAnswer: the remote offer
	payload []byte // jobCandidates: ICECandidatesRequest
}

// closeItem is an ended session: close its media, then push End unless
// end is nil. end is guarded by Server.mu (RemoveFabric clears it).
type closeItem struct {
	sess *session
	end  []byte
}

// wakeWorker tells the worker there is work. The caller holds mu.
func (s *Server) wakeWorker() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// enqueueOrEndLocked queues j. When the queue is full the session is ended
// with OutOfResources instead (its End does not go through the queue), and
// enqueueOrEndLocked reports whether it ended it now, as endLocked does.
// The caller holds mu.
func (s *Server) enqueueOrEndLocked(j job) (ended bool) {
	if len(s.queue) >= s.cfg.QueueLength {
		s.log.Warn("outbound queue full; ending session", "session", j.sess.id, "queue", len(s.queue))
		return s.endLocked(j.sess, webrtctransportdefinitions.WebRTCEndReasonOutOfResources, true)
	}
	s.queue = append(s.queue, j)
	s.wakeWorker()
	return false
}

// work is the worker goroutine.
func (s *Server) work() {
	defer close(s.done)
	for {
		it, j, ok := s.next()
		if !ok {
			return
		}
		if it != nil {
			s.closeSession(it)
			continue
		}
		s.run(j)
	}
}

// next waits for the next item: an ended session first, else the oldest
// job of a live session. ok is false once Close has begun; Close then
// deals with what is left.
func (s *Server) next() (it *closeItem, j job, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		if s.ctx.Err() != nil {
			return nil, job{}, false
		}
		if len(s.closing) > 0 {
			it := s.closing[0]
			s.closing[0] = nil
			s.closing = s.closing[1:]
			s.current = it
			return it, job{}, true
		}
		if len(s.queue) > 0 {
			j := s.queue[0]
			s.queue[0] = job{}
			s.queue = s.queue[1:]
			if j.sess.ended {
				continue
			}
			return nil, j, true
		}
		s.mu.Unlock()
		select {
		case <-s.wake:
		case <-s.ctx.Done():
		}
		s.mu.Lock()
	}
}

// closeSession closes an ended session's media and pushes its End. The ID
// is free again only afterwards.
func (s *Server) closeSession(it *closeItem) {
	it.sess.closeMedia(s.log)
	s.mu.Lock()
	s.unclosed--
	end := it.end
	s.mu.Unlock()
	if end != nil && s.ctx.Err() == nil {
		if err := s.invoke(it.sess, webrtctransportrequestor.CmdEnd, end); err != nil {
			s.log.Warn("End not delivered", "session", it.sess.id, "fabric", it.sess.fabric, "node", it.sess.node, "err", err)
		}
	}
	s.mu.Lock()
	delete(s.reserved, it.sess.id)
	s.current = nil
	s.mu.Unlock()
}

// run does one job.
func (s *Server) run(j job) {
	sess := j.sess
	switch j.kind {
	case jobOffer:
		sdp, err := s.withMedia(sess, func(ctx context.Context, m MediaSession) (string, error) {
			return m.CreateOffer(ctx)
		})
		if err != nil {
			s.mediaFailed(sess, "create offer", err)
			return
		}
		s.mu.Lock()
		if sess.ended {
			s.mu.Unlock()
			return
		}
		// Before the push: the controller may answer before its status
		// for Offer reaches us.
		sess.state = stateAwaitingAnswer
		s.mu.Unlock()
		s.push(sess, webrtctransportrequestor.CmdOffer, &webrtctransportrequestor.OfferRequest{WebRTCSessionID: sess.id, SDP: sdp})
	case jobAnswer:
		answer, err := s.withMedia(sess, func(ctx context.Context, m MediaSession) (string, error) {
			answer, err := m.AcceptOffer(ctx, j.sdp)
			if err == nil {
				s.remoteApplied(sess, m)
			}
			return answer, err
		})
		if err != nil {
			s.mediaFailed(sess, "accept offer", err)
			return
		}
		s.mu.Lock()
		if sess.ended {
			s.mu.Unlock()
			return
		}
		if sess.pendingOffers--; sess.pendingOffers <= 0 {
			sess.pendingOffers = 0
			sess.state = stateEstablished
		}
		s.mu.Unlock()
		s.push(sess, webrtctransportrequestor.CmdAnswer, &webrtctransportrequestor.AnswerRequest{WebRTCSessionID: sess.id, SDP: answer})
	case jobCandidates:
		if err := s.invoke(sess, webrtctransportrequestor.CmdICECandidates, j.payload); err != nil {
			s.pushFailed(sess, webrtctransportrequestor.CmdICECandidates, err)
		}
	}
}

// errMediaClosed: the session ended while its job waited.
var errMediaClosed = errors.New("webrtcprovider: media closed")

// withMedia calls f on the session's media under its lock, with a bounded
// context.
func (s *Server) withMedia(sess *session, f func(ctx context.Context, m MediaSession) (string, error)) (string, error) {
	sess.mediaMu.Lock()
	defer sess.mediaMu.Unlock()
	if sess.mediaClosed {
		return "", errMediaClosed
	}
	ctx, cancel := context.WithTimeout(s.ctx, mediaTimeout)
	defer cancel()
	return f(ctx, sess.media)
}

// remoteApplied hands the remote candidates that arrived before the remote
// description to media. The caller holds sess.mediaMu.
func (s *Server) remoteApplied(sess *session, m MediaSession) {
	sess.remoteSet = true
	if len(sess.remoteBuf) == 0 {
		return
	}
	buf := sess.remoteBuf
	sess.remoteBuf = nil
	if err := m.AddCandidates(buf); err != nil {
		s.log.Warn("buffered remote candidates refused", "session", sess.id, "count", len(buf), "err", err)
	}
}

// push encodes a session's Offer or Answer and invokes it. Only the very
// first Offer or Answer of a session is retried on NOT_FOUND: the
// Requestor may not have stored the session from our response yet
// (controller.md §3).
func (s *Server) push(sess *session, cmd uint32, v serve.Encoder) {
	payload, err := serve.Marshal(v)
	if err != nil {
		s.log.Error("encoding outbound command", "session", sess.id, "command", cmd, "err", err)
		s.endSession(sess, webrtctransportdefinitions.WebRTCEndReasonUnknownReason, true)
		return
	}
	s.mu.Lock()
	retry := !sess.firstPushed
	s.mu.Unlock()
	for attempt := 0; ; attempt++ {
		err := s.invoke(sess, cmd, payload)
		if err == nil {
			s.mu.Lock()
			sess.firstPushed = true
			s.mu.Unlock()
			return
		}
		if !retry || attempt == firstPushRetries || !isStatus(err, dm.StatusNotFound) {
			s.pushFailed(sess, cmd, err)
			return
		}
		s.log.Debug("Requestor does not know the session yet; retrying", "session", sess.id, "command", cmd)
		t := time.NewTimer(firstPushRetryDelay)
		select {
		case <-t.C:
		case <-s.ctx.Done():
			t.Stop()
			return
		}
		s.mu.Lock()
		ended := sess.ended
		s.mu.Unlock()
		if ended {
			return
		}
	}
}

// invoke sends one command to the session's Requestor, bounded by
// InvokeTimeout.
func (s *Server) invoke(sess *session, cmd uint32, payload []byte) error {
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.InvokeTimeout)
	defer cancel()
	return s.cfg.Requestor.Invoke(ctx, sess.peer(), cmd, payload)
}

// pushFailed ends a session whose Offer, Answer or ICECandidates did not
// reach its Requestor. End goes out only when the Requestor answered with
// a status that says it still holds the session and accepts commands from
// us: not after a transport failure or timeout (unreachable), NOT_FOUND
// (it has no such session) or UNSUPPORTED_ACCESS (its ACL refuses us).
func (s *Server) pushFailed(sess *session, cmd uint32, err error) {
	if s.ctx.Err() != nil {
		return // closing
	}
	var se *dm.StatusError
	end := errors.As(err, &se) && se.Status != dm.StatusNotFound && se.Status != dm.StatusUnsupportedAccess
	s.log.Warn("push to Requestor failed; ending session", "session", sess.id, "fabric", sess.fabric,
		"node", sess.node, "command", cmd, "err", err)
	s.endSession(sess, webrtctransportdefinitions.WebRTCEndReasonUnknownReason, end)
}

// mediaFailed ends a session whose offer or answer the media side could
// not make; the controller holds the session, so it gets End.
func (s *Server) mediaFailed(sess *session, op string, err error) {
	if s.ctx.Err() != nil || errors.Is(err, errMediaClosed) {
		return
	}
	reason := webrtctransportdefinitions.WebRTCEndReasonUnknownReason
	if errors.Is(err, ErrNoResources) {
		reason = webrtctransportdefinitions.WebRTCEndReasonOutOfResources
	}
	s.log.Warn("media failed; ending session", "session", sess.id, "op", op, "err", err)
	s.endSession(sess, reason, true)
}

func isStatus(err error, st dm.Status) bool {
	var se *dm.StatusError
	return errors.As(err, &se) && se.Status == st
}
