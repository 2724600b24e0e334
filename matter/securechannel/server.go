package securechannel

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/mattercam/mattercam/matter/crypto"
	"github.com/mattercam/mattercam/matter/message"
	"github.com/mattercam/mattercam/matter/session"
	"github.com/mattercam/mattercam/matter/transport"
)

// Server answers the Secure Channel protocol for a node: PBKDFParamRequest
// while a commissioning window is open, Sigma1 for the node's fabrics, and
// the CloseSession StatusReport. It embeds a Client, so the same node starts
// handshakes with EstablishPASE and EstablishCASE. It is safe for concurrent
// use.
type Server struct {
	*Client

	ctx    context.Context // done on Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // handshakes in progress

	slots chan struct{} // one per handshake in progress (MaxHandshakes)

	mu     sync.Mutex
	window *paseWindow
	closed bool

	stats struct {
		paseEstablished, caseEstablished, caseResumed atomic.Uint64
		failed, busy, noSharedRoots                   atomic.Uint64
	}
}

// Stats counts what a Server has done as responder.
type Stats struct {
	PASEEstablished uint64 // PASE sessions established
	CASEEstablished uint64 // CASE sessions established by a full exchange
	CASEResumed     uint64 // CASE sessions established by resumption
	Failed          uint64 // handshakes begun that did not establish a session
	Busy            uint64 // handshakes refused with a Busy StatusReport
	NoSharedRoots   uint64 // Sigma1s that matched no fabric
}

// PASEWindow is a commissioning window as PASE sees it: the passcode
// verifier and PBKDF parameters the device announces, and the bound on
// failed attempts.
type PASEWindow struct {
	// Verifier is the SPAKE2+ verifier of the passcode, w0 and L.
	Verifier *crypto.PasscodeVerifier
	// Salt (16 to 32 octets) and Iterations (1000 to 100000) are the PBKDF
	// parameters the verifier was computed with (§3.9).
	Salt       []byte
	Iterations int
	// MaxFailedAttempts closes the window after that many failed attempts;
	// zero means DefaultMaxFailedPASEAttempts. An attempt has failed when
	// the device has sent Pake2 (so the commissioner could test one guess
	// of the passcode) and no session results.
	MaxFailedAttempts int
	// OnFailure, if set, is called after each failed attempt with the
	// number of failures so far, and closed true when that number reached
	// MaxFailedAttempts and the window has been closed: the commissioning
	// layer then stops advertising the node as commissionable. It must not
	// block for long.
	OnFailure func(failures int, closed bool)
}

// paseWindow is an open commissioning window. Its fields are guarded by
// Server.mu.
type paseWindow struct {
	PASEWindow
	inUse    bool // a PASE is in progress: one at a time
	failures int
}

// NewServer returns a Server and registers it with cfg.Manager for the
// Secure Channel protocol. Close unregisters it.
func NewServer(cfg Config) (*Server, error) {
	s, err := newServer(cfg)
	if err != nil {
		return nil, err
	}
	s.cfg.Manager.Handle(message.ProtocolSecureChannel, s.handle)
	return s, nil
}

func newServer(cfg Config) (*Server, error) {
	c, err := NewClient(cfg)
	if err != nil {
		return nil, err
	}
	s := &Server{Client: c, slots: make(chan struct{}, c.cfg.MaxHandshakes)}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// Close unregisters the server, aborts the handshakes it is answering and
// waits for them to end. It does not close the sessions they established.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.window = nil
	s.mu.Unlock()
	s.cfg.Manager.Handle(message.ProtocolSecureChannel, nil)
	s.cancel()
	s.wg.Wait()
	return nil
}

// Stats returns the server's counters.
func (s *Server) Stats() Stats {
	return Stats{
		PASEEstablished: s.stats.paseEstablished.Load(),
		CASEEstablished: s.stats.caseEstablished.Load(),
		CASEResumed:     s.stats.caseResumed.Load(),
		Failed:          s.stats.failed.Load(),
		Busy:            s.stats.busy.Load(),
		NoSharedRoots:   s.stats.noSharedRoots.Load(),
	}
}

// OpenPASEWindow opens a commissioning window: from now on PBKDFParamRequest
// is answered with w's parameters, one PASE at a time. It replaces any
// window already open, and resets the count of failed attempts.
func (s *Server) OpenPASEWindow(w PASEWindow) error {
	if w.Verifier == nil {
		return errors.New("securechannel: PASE window without a verifier")
	}
	if len(w.Salt) < crypto.PBKDFMinSaltSize || len(w.Salt) > crypto.PBKDFMaxSaltSize {
		return fmt.Errorf("securechannel: PASE window salt of %d octets", len(w.Salt))
	}
	if w.Iterations < crypto.PBKDFMinIterations || w.Iterations > crypto.PBKDFMaxIterations {
		return fmt.Errorf("securechannel: PASE window with %d iterations", w.Iterations)
	}
	if w.MaxFailedAttempts <= 0 {
		w.MaxFailedAttempts = DefaultMaxFailedPASEAttempts
	}
	w.Salt = append([]byte(nil), w.Salt...)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.window = &paseWindow{PASEWindow: w}
	return nil
}

// ClosePASEWindow closes the commissioning window: PBKDFParamRequest is
// refused, and a PASE in progress does not establish its session.
func (s *Server) ClosePASEWindow() {
	s.mu.Lock()
	s.window = nil
	s.mu.Unlock()
}

// PASEWindowStatus reports whether a commissioning window is open and how
// many PASE attempts have failed in it.
func (s *Server) PASEWindowStatus() (open bool, failures int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.window == nil {
		return false, 0
	}
	return true, s.window.failures
}

// handle serves an exchange a peer opened with a Secure Channel message.
func (s *Server) handle(ctx context.Context, e *transport.Exchange, first transport.Message) {
	op := Opcode(first.Opcode)
	u, unsecured := e.Session().(*session.Unsecured)
	switch {
	case (op == OpPBKDFParamRequest || op == OpSigma1) && unsecured:
		// Handshakes run on the Unsecured Session (§4.14); its context
		// goes when the handshake ends.
		defer u.Close()
		if err := s.respond(ctx, e, u, u.Peer(), op, first.Payload); err != nil {
			s.cfg.Logger.Debug("handshake failed", "peer", u.Peer(), "first", op, "err", err)
		}
	case op == OpStatusReport && !unsecured:
		s.handleStatus(e, first.Payload)
	case unsecured:
		// Anything else on the Unsecured Session belongs to a handshake
		// that is over: the context the session table made for it can
		// go. (Counter synchronization is for groups, which this node
		// does not serve.)
		u.Close()
	}
}

// handleStatus acts on an unsolicited StatusReport: CloseSession on a
// secure session closes it (§4.10.1, "CloseSession").
func (s *Server) handleStatus(e *transport.Exchange, payload []byte) {
	var sr StatusReport
	if sr.Unmarshal(payload) != nil || !sr.IsSecureChannel() || sr.ProtocolCode != CodeCloseSession {
		return
	}
	if sec, ok := e.Session().(*session.Secure); ok {
		// Acknowledge first: removing the session closes its exchanges,
		// and with them the acknowledgement still owed.
		e.Close()
		s.cfg.Sessions.Remove(sec, session.ReasonClosed)
	}
}

// respond runs the responder's side of the handshake that first starts.
// It is separate from handle so tests can drive it over a scripted conn.
func (s *Server) respond(ctx context.Context, c conn, u *session.Unsecured, peer transport.PeerAddr, op Opcode, first []byte) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()

	// The slot bounds the handshakes doing work; it is given back as soon
	// as the session is established, before the wait for the peer's
	// acknowledgement of the last message.
	select {
	case s.slots <- struct{}{}:
	default:
		return s.sendBusy(ctx, c, "too many handshakes in progress")
	}
	var once sync.Once
	done := func() { once.Do(func() { <-s.slots }) }
	defer done()
	ctx, cancel := context.WithTimeout(ctx, s.cfg.HandshakeTimeout)
	defer cancel()
	stop := context.AfterFunc(s.ctx, cancel)
	defer stop()

	var err error
	if op == OpPBKDFParamRequest {
		err = s.respondPASE(ctx, c, u, peer, first, done)
	} else {
		err = s.respondCASE(ctx, c, u, peer, first, done)
	}
	if err != nil && !errors.Is(err, errBusy) {
		s.stats.failed.Add(1)
	}
	return err
}

// errBusy marks a handshake refused with Busy.
var errBusy = errors.New("busy")

// sendBusy answers with Busy (§4.10.1, "Busy").
func (s *Server) sendBusy(ctx context.Context, c conn, why string) error {
	s.stats.busy.Add(1)
	actx, cancel := context.WithTimeout(ctx, abortTimeout)
	defer cancel()
	if err := sendStatus(actx, c, BusyStatus(s.cfg.BusyWait)); err != nil {
		return fmt.Errorf("%w (%s): %w", errBusy, why, err)
	}
	return fmt.Errorf("%w: %s", errBusy, why)
}

// reserve takes a Session ID for a handshake; a full table of reservations
// is answered with Busy.
func (s *Server) reserve(ctx context.Context, c conn) (*session.Reservation, error) {
	res, err := s.cfg.Sessions.Reserve()
	if errors.Is(err, session.ErrTooManyPending) {
		return nil, s.sendBusy(ctx, c, err.Error())
	}
	if err != nil {
		return nil, abort(ctx, c, err)
	}
	return res, nil
}

// acquireWindow takes the commissioning window for one PASE.
func (s *Server) acquireWindow() (*paseWindow, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.window
	switch {
	case w == nil:
		return nil, ErrNoWindow
	case w.inUse:
		return nil, ErrBusy
	}
	w.inUse = true
	return w, nil
}

// releaseWindow ends a PASE on w; failed says it counts as a failed
// attempt.
func (s *Server) releaseWindow(w *paseWindow, failed bool) {
	s.mu.Lock()
	w.inUse = false
	if !failed || s.window != w {
		s.mu.Unlock()
		return
	}
	w.failures++
	n, closed := w.failures, w.failures >= w.MaxFailedAttempts
	if closed {
		s.window = nil
	}
	hook := w.OnFailure
	s.mu.Unlock()
	if hook != nil {
		hook(n, closed)
	}
}

// windowOpen reports whether w is still the open window.
func (s *Server) windowOpen(w *paseWindow) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.window == w
}

// respondPASE answers a PBKDFParamRequest (§4.14.1).
func (s *Server) respondPASE(ctx context.Context, c conn, u *session.Unsecured, peer transport.PeerAddr, request []byte, established func()) (err error) {
	w, err := s.acquireWindow()
	if errors.Is(err, ErrBusy) {
		return s.sendBusy(ctx, c, "a PASE is in progress")
	}
	if err != nil {
		return abort(ctx, c, fmt.Errorf("pase: %w", err))
	}
	attempted := false // Pake2 went out: the peer could test a guess
	released := false
	defer func() {
		if !released {
			s.releaseWindow(w, err != nil && attempted)
		}
	}()

	res, err := s.reserve(ctx, c)
	if err != nil {
		return err
	}
	defer res.Release()
	defer func() {
		if err != nil {
			err = abort(ctx, c, err)
		}
	}()

	h := &paseResponder{
		verifier:   w.Verifier,
		salt:       w.Salt,
		iterations: uint32(w.Iterations),
		params:     s.cfg.Params,
		sendParams: true,
		localID:    res.ID(),
		rand:       s.cfg.Rand,
	}
	resp, err := h.handlePBKDFParamRequest(request)
	if err != nil {
		return err
	}
	if u != nil {
		u.SetPeerMRP(h.peerParams.MRP())
	}
	if err := send(ctx, c, OpPBKDFParamResponse, resp); err != nil {
		return fmt.Errorf("pase: %w", err)
	}
	_, p1, err := recv(ctx, c, OpPake1)
	if err != nil {
		return fmt.Errorf("pase: %w", err)
	}
	pake2, err := h.handlePake1(p1)
	if err != nil {
		return err
	}
	attempted = true
	if err := send(ctx, c, OpPake2, pake2); err != nil {
		return fmt.Errorf("pase: %w", err)
	}
	_, p3, err := recv(ctx, c, OpPake3)
	if err != nil {
		return fmt.Errorf("pase: %w", err)
	}
	keys, err := h.handlePake3(p3)
	if err != nil {
		return err
	}
	if !s.windowOpen(w) {
		return fmt.Errorf("pase: %w", ErrNoWindow)
	}
	// PASE sessions have no fabric and no node IDs (§4.14.1: the peer is
	// the Unspecified Node ID).
	sec, err := res.Establish(session.SecureConfig{
		PeerSessionID: h.peerSessionID,
		Role:          session.Responder,
		AuthMode:      session.AuthPASE,
		Keys:          sessionKeys(&keys),
		PeerParams:    h.peerParams,
		Peer:          peer,
	})
	if err != nil {
		return fmt.Errorf("pase: %w", err)
	}
	// The window is free for the next PASE as soon as this one has its
	// session, before the peer acknowledges the last message.
	released = true
	s.releaseWindow(w, false)
	established()
	s.finish(ctx, c, sec)
	s.stats.paseEstablished.Add(1)
	return nil
}

// finish sends the StatusReport that ends a handshake the responder
// completed, and announces the session. The session is kept even if the
// report is not acknowledged: the initiator may well have received it.
func (s *Server) finish(ctx context.Context, c conn, sec *session.Secure) {
	if err := sendStatus(ctx, c, statusSuccess); err != nil {
		s.cfg.Logger.Debug("final status report not acknowledged", "session", sec.LocalSessionID(), "err", err)
	}
	if s.cfg.OnEstablished != nil {
		s.cfg.OnEstablished(sec)
	}
}

// respondCASE answers a Sigma1 (§4.14.2).
func (s *Server) respondCASE(ctx context.Context, c conn, u *session.Unsecured, peer transport.PeerAddr, sigma1 []byte, established func()) (err error) {
	res, err := s.reserve(ctx, c)
	if err != nil {
		return err
	}
	defer res.Release()
	defer func() {
		if errors.Is(err, ErrNoFabric) {
			s.stats.noSharedRoots.Add(1)
		}
		if err != nil {
			err = abort(ctx, c, err)
		}
	}()

	var fabrics []Fabric
	if s.cfg.Fabrics != nil {
		fabrics = s.cfg.Fabrics.Fabrics()
	}
	h := &caseResponder{
		fabrics:     fabrics,
		resumptions: s.cfg.Resumptions,
		verify:      s.cfg.VerifyChain,
		params:      s.cfg.Params,
		sendParams:  true,
		localID:     res.ID(),
		rand:        s.cfg.Rand,
	}
	op, reply, err := h.handleSigma1(sigma1)
	if err != nil {
		return err
	}
	if u != nil {
		u.SetPeerMRP(h.peerParams.MRP())
	}
	if err := send(ctx, c, op, reply); err != nil {
		return fmt.Errorf("case: %w", err)
	}

	var r caseResult
	if op == OpSigma2Resume {
		// The initiator confirms a resumption with its StatusReport.
		if err := recvStatus(ctx, c); err != nil {
			return fmt.Errorf("case: %w", err)
		}
		if r, err = h.resumedResult(); err != nil {
			return err
		}
		sec, err := establishCASE(res, session.Responder, h.peerSessionID, h.peerParams, peer, &r)
		if err != nil {
			return err
		}
		s.cfg.Resumptions.Save(r.resumption)
		s.stats.caseResumed.Add(1)
		if s.cfg.OnEstablished != nil {
			s.cfg.OnEstablished(sec)
		}
		return nil
	}

	_, sigma3, err := recv(ctx, c, OpSigma3)
	if err != nil {
		return fmt.Errorf("case: %w", err)
	}
	if r, err = h.handleSigma3(sigma3); err != nil {
		return err
	}
	sec, err := establishCASE(res, session.Responder, h.peerSessionID, h.peerParams, peer, &r)
	if err != nil {
		return err
	}
	s.cfg.Resumptions.Save(r.resumption)
	established()
	s.finish(ctx, c, sec)
	s.stats.caseEstablished.Add(1)
	return nil
}
