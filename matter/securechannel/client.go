package securechannel

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mattercam/mattercam/matter/crypto"
	"github.com/mattercam/mattercam/matter/message"
	"github.com/mattercam/mattercam/matter/session"
	"github.com/mattercam/mattercam/matter/transport"
)

// Client starts PASE and CASE as initiator. A Server has one too; a Client
// alone suits a node that only initiates (a commissioner tool, tests). It
// is safe for concurrent use.
type Client struct {
	cfg Config
}

// NewClient returns a Client.
func NewClient(cfg Config) (*Client, error) {
	cfg, err := cfg.normalize()
	if err != nil {
		return nil, err
	}
	return &Client{cfg: cfg}, nil
}

// Resumptions returns the store of CASE resumption records.
func (c *Client) Resumptions() *ResumptionStore { return c.cfg.Resumptions }

// EstablishPASE runs PASE with the device at peer as commissioner (§4.14.1)
// and returns the new session, in the session table. A wrong passcode fails
// with an error wrapping ErrAuthentication when this side notices (a wrong
// cB in Pake2), or a *StatusError matching ErrInvalidParameter when the
// device does. A Busy device is retried after the wait it asks for, up to
// Config.BusyRetries times. Whatever the outcome, no Session ID stays
// reserved and no handshake context stays behind.
func (c *Client) EstablishPASE(ctx context.Context, peer transport.PeerAddr, passcode uint32) (*session.Secure, error) {
	return c.retryBusy(ctx, func(ctx context.Context) (*session.Secure, error) {
		return c.pase(ctx, peer, &paseInitiator{passcode: passcode})
	})
}

// EstablishCASE runs CASE with node peerNodeID of fabric f at peer (§4.14.2)
// and returns the new session. When the Client holds a resumption record
// for that peer, Sigma1 asks to resume it (§4.14.2.2); the responder may
// answer with a full Sigma2, which is then completed as usual.
func (c *Client) EstablishCASE(ctx context.Context, peer transport.PeerAddr, f Fabric, peerNodeID uint64) (*session.Secure, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	if peerNodeID == 0 {
		return nil, errors.New("securechannel: case: peer node ID 0")
	}
	return c.retryBusy(ctx, func(ctx context.Context) (*session.Secure, error) {
		h := &caseInitiator{fabric: &f, peerNodeID: peerNodeID, verify: c.cfg.VerifyChain}
		if r, ok := c.cfg.Resumptions.ByPeer(f.Index, peerNodeID); ok && r.FabricID == f.FabricID {
			h.resume = &r
		}
		return c.caseHandshake(ctx, peer, h)
	})
}

// retryBusy runs attempt, again after the requested wait while the peer
// answers Busy (§4.10.1, "Busy": the initiator waits at least the minimum
// wait before it retries).
func (c *Client) retryBusy(ctx context.Context, attempt func(context.Context) (*session.Secure, error)) (*session.Secure, error) {
	for tries := 0; ; tries++ {
		s, err := attempt(ctx)
		var se *StatusError
		if err == nil || tries >= c.cfg.BusyRetries || !errors.As(err, &se) || !errors.Is(se, ErrBusy) {
			return s, err
		}
		wait := max(se.MinimumWait(), time.Millisecond)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%w (while waiting %v after Busy: %w)", err, wait, ctx.Err())
		case <-t.C:
		}
	}
}

// handshake is the per-attempt state an initiator needs: a reserved
// Session ID, an Unsecured Session context and an exchange on it. close
// releases them; the reservation only if no session was established.
type handshake struct {
	res *session.Reservation
	u   *session.Unsecured
	e   *transport.Exchange
}

func (c *Client) open(peer transport.PeerAddr) (*handshake, error) {
	res, err := c.cfg.Sessions.Reserve()
	if err != nil {
		return nil, err
	}
	node, err := session.RandomEphemeralNodeID(c.cfg.Rand)
	if err != nil {
		res.Release()
		return nil, err
	}
	u := c.cfg.Sessions.Unsecured(peer, node, session.Initiator)
	e, err := c.cfg.Manager.NewExchange(u, message.ProtocolSecureChannel)
	if err != nil {
		u.Close()
		res.Release()
		return nil, err
	}
	return &handshake{res: res, u: u, e: e}, nil
}

func (h *handshake) close() {
	// The exchange first: closing it sends the acknowledgement still owed
	// for the peer's last message, over the Unsecured Session.
	h.e.Close()
	h.u.Close()
	h.res.Release()
}

func (c *Client) pase(ctx context.Context, peer transport.PeerAddr, h *paseInitiator) (*session.Secure, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.HandshakeTimeout)
	defer cancel()
	hs, err := c.open(peer)
	if err != nil {
		return nil, fmt.Errorf("pase: %w", err)
	}
	defer hs.close()
	h.localID, h.params, h.sendParams, h.rand = hs.res.ID(), c.cfg.Params, true, c.cfg.Rand

	keys, err := c.runPASE(ctx, hs, h)
	if err != nil {
		return nil, err
	}
	s, err := hs.res.Establish(session.SecureConfig{
		PeerSessionID: h.peerSessionID,
		Role:          session.Initiator,
		AuthMode:      session.AuthPASE,
		Keys:          sessionKeys(&keys),
		PeerParams:    h.peerParams,
		Peer:          peer,
	})
	if err != nil {
		return nil, fmt.Errorf("pase: %w", err)
	}
	return s, nil
}

// runPASE drives the initiator's state machine over the exchange.
func (c *Client) runPASE(ctx context.Context, hs *handshake, h *paseInitiator) (keys crypto.SessionKeys, err error) {
	e := hs.e
	defer func() {
		if err != nil {
			err = abort(ctx, e, err)
		}
	}()
	req, err := h.start()
	if err != nil {
		return keys, err
	}
	if err := send(ctx, e, OpPBKDFParamRequest, req); err != nil {
		return keys, fmt.Errorf("pase: %w", err)
	}
	_, resp, err := recv(ctx, e, OpPBKDFParamResponse)
	if err != nil {
		return keys, fmt.Errorf("pase: %w", err)
	}
	pake1, err := h.handlePBKDFParamResponse(resp)
	if err != nil {
		return keys, err
	}
	hs.u.SetPeerMRP(h.peerParams.MRP())
	if err := send(ctx, e, OpPake1, pake1); err != nil {
		return keys, fmt.Errorf("pase: %w", err)
	}
	_, p2, err := recv(ctx, e, OpPake2)
	if err != nil {
		return keys, fmt.Errorf("pase: %w", err)
	}
	pake3, keys, err := h.handlePake2(p2)
	if err != nil {
		return keys, err
	}
	if err := send(ctx, e, OpPake3, pake3); err != nil {
		return keys, fmt.Errorf("pase: %w", err)
	}
	if err := recvStatus(ctx, e); err != nil {
		return keys, fmt.Errorf("pase: %w", err)
	}
	return keys, nil
}

func (c *Client) caseHandshake(ctx context.Context, peer transport.PeerAddr, h *caseInitiator) (*session.Secure, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.HandshakeTimeout)
	defer cancel()
	hs, err := c.open(peer)
	if err != nil {
		return nil, fmt.Errorf("case: %w", err)
	}
	defer hs.close()
	h.localID, h.params, h.sendParams, h.rand = hs.res.ID(), c.cfg.Params, true, c.cfg.Rand

	r, err := c.runCASE(ctx, hs, h)
	if err != nil {
		return nil, err
	}
	s, err := establishCASE(hs.res, session.Initiator, h.peerSessionID, h.peerParams, peer, &r)
	if err != nil {
		return nil, err
	}
	c.cfg.Resumptions.Save(r.resumption)
	return s, nil
}

// runCASE drives the initiator's state machine over the exchange.
func (c *Client) runCASE(ctx context.Context, hs *handshake, h *caseInitiator) (r caseResult, err error) {
	e := hs.e
	defer func() {
		if err != nil {
			err = abort(ctx, e, err)
		}
	}()
	sigma1, err := h.start()
	if err != nil {
		return r, err
	}
	if err := send(ctx, e, OpSigma1, sigma1); err != nil {
		return r, fmt.Errorf("case: %w", err)
	}
	want := []Opcode{OpSigma2}
	if h.resume != nil {
		want = append(want, OpSigma2Resume)
	}
	op, payload, err := recv(ctx, e, want...)
	if err != nil {
		return r, fmt.Errorf("case: %w", err)
	}
	if op == OpSigma2Resume {
		r, err = h.handleSigma2Resume(payload)
		if errors.Is(err, ErrAuthentication) {
			c.cfg.Resumptions.Remove(h.resume.ID)
		}
		if err != nil {
			return r, err
		}
		hs.u.SetPeerMRP(h.peerParams.MRP())
		// In a resumption the initiator sends the final report.
		if err := sendStatus(ctx, e, statusSuccess); err != nil {
			return r, fmt.Errorf("case: %w", err)
		}
		return r, nil
	}
	sigma3, r, err := h.handleSigma2(payload)
	if err != nil {
		return r, err
	}
	hs.u.SetPeerMRP(h.peerParams.MRP())
	if err := send(ctx, e, OpSigma3, sigma3); err != nil {
		return r, fmt.Errorf("case: %w", err)
	}
	if err := recvStatus(ctx, e); err != nil {
		return r, fmt.Errorf("case: %w", err)
	}
	return r, nil
}

// testHookEstablish, when set by a test, runs just before a completed CASE
// handshake installs its session, in either role: tests widen the window in
// which the peer already uses a session this node has not installed yet.
var testHookEstablish func(role session.Role)

// establishCASE installs a CASE session from a completed handshake.
func establishCASE(res *session.Reservation, role session.Role, peerSessionID uint16, peerParams session.Params, peer transport.PeerAddr, r *caseResult) (*session.Secure, error) {
	if testHookEstablish != nil {
		testHookEstablish(role)
	}
	s, err := res.Establish(session.SecureConfig{
		PeerSessionID: peerSessionID,
		Role:          role,
		AuthMode:      session.AuthCASE,
		FabricIndex:   r.fabric.Index,
		LocalNodeID:   r.fabric.NodeID,
		PeerNodeID:    r.peer.NodeID,
		PeerCATs:      r.peer.CATs,
		Keys:          sessionKeys(&r.keys),
		PeerParams:    peerParams,
		Peer:          peer,
		Resumption: &session.Resumption{
			ID:           r.resumption.ID,
			SharedSecret: append([]byte(nil), r.resumption.SharedSecret...),
		},
	})
	if err != nil {
		return nil, fmt.Errorf("case: %w", err)
	}
	return s, nil
}

// CloseSession tells the peer of s that this node closes it, with the
// CloseSession StatusReport (§4.10.1, "CloseSession"), and removes it from
// the session table. The session is removed even if the peer cannot be
// reached.
func (c *Client) CloseSession(ctx context.Context, s *session.Secure) error {
	defer c.cfg.Sessions.Remove(s, session.ReasonClosed)
	e, err := c.cfg.Manager.NewExchange(s, message.ProtocolSecureChannel)
	if err != nil {
		return fmt.Errorf("securechannel: close session: %w", err)
	}
	defer e.Close()
	if err := sendStatus(ctx, e, statusCloseSession); err != nil {
		return fmt.Errorf("securechannel: close session: %w", err)
	}
	return nil
}
