package securechannel

import (
	"errors"
	"fmt"
	"io"

	"github.com/mattercam/mattercam/matter/crypto"
	"github.com/mattercam/mattercam/matter/session"
)

// PASE (§4.14.1) as two state machines. Neither does I/O: each handle method
// takes the payload of the message the peer sent and returns the payload of
// the one to send back. A method that fails leaves the state unchanged,
// except where the SPAKE2+ values it used are spent (a wrong confirmation
// ends the handshake anyway).
//
//	initiator (commissioner)                 responder (device)
//	start                 PBKDFParamRequest  →  handlePBKDFParamRequest
//	handlePBKDFParamResponse ← PBKDFParamResponse
//	                      Pake1 (pA)         →  handlePake1
//	handlePake2           ← Pake2 (pB, cB)
//	                      Pake3 (cA)         →  handlePake3
//	                      ← StatusReport SESSION_ESTABLISHMENT_SUCCESS

type paseState uint8

const (
	paseStart paseState = iota
	paseAwaitResponse
	paseAwaitPake1
	paseAwaitPake2
	paseAwaitPake3
	paseDone
)

func (s paseState) String() string {
	return [...]string{"start", "await PBKDFParamResponse", "await Pake1", "await Pake2", "await Pake3", "done"}[s]
}

func wrongState(proto string, got Opcode, state fmt.Stringer) error {
	return fmt.Errorf("%s: %w: %v in state %v", proto, ErrUnexpected, got, state)
}

// paseResponder is the device's side of one PASE exchange.
type paseResponder struct {
	state paseState

	// Configuration: the commissioning window's verifier and PBKDF
	// parameters, this node's session parameters and Session ID.
	verifier   *crypto.PasscodeVerifier
	salt       []byte
	iterations uint32
	params     session.Params
	sendParams bool
	localID    uint16
	rand       io.Reader

	// Learnt during the exchange.
	peerSessionID uint16
	peerParams    session.Params
	context       [crypto.HashSize]byte
	spake         *crypto.Verifier
}

// handlePBKDFParamRequest answers the request with a PBKDFParamResponse.
func (h *paseResponder) handlePBKDFParamRequest(payload []byte) ([]byte, error) {
	if h.state != paseStart {
		return nil, wrongState("pase", OpPBKDFParamRequest, h.state)
	}
	var req PBKDFParamRequest
	if err := req.Unmarshal(payload); err != nil {
		return nil, fmt.Errorf("pase: %w", err)
	}
	if req.PasscodeID != DefaultPasscodeID {
		return nil, fmt.Errorf("pase: PBKDFParamRequest: %w: passcode ID %d", ErrMalformed, req.PasscodeID)
	}
	if req.InitiatorSessionID == 0 {
		return nil, fmt.Errorf("pase: PBKDFParamRequest: %w: initiator session ID 0", ErrMalformed)
	}
	resp := PBKDFParamResponse{
		InitiatorRandom:    req.InitiatorRandom,
		ResponderSessionID: h.localID,
		HasPBKDFParameters: !req.HasPBKDFParameters,
		Iterations:         h.iterations,
		Salt:               h.salt,
		HasParams:          h.sendParams,
		Params:             h.params,
	}
	if _, err := io.ReadFull(h.rand, resp.ResponderRandom[:]); err != nil {
		return nil, fmt.Errorf("pase: responder random: %w", err)
	}
	out, err := resp.AppendTo(nil)
	if err != nil {
		return nil, fmt.Errorf("pase: PBKDFParamResponse: %w", err)
	}
	// §3.10.3: the SPAKE2+ context covers both messages exactly as sent.
	h.context = crypto.PASEContext(payload, out)
	h.peerSessionID = req.InitiatorSessionID
	if req.HasParams {
		h.peerParams = req.Params
	}
	h.state = paseAwaitPake1
	return out, nil
}

// handlePake1 answers pA with pB and the confirmation cB.
func (h *paseResponder) handlePake1(payload []byte) ([]byte, error) {
	if h.state != paseAwaitPake1 {
		return nil, wrongState("pase", OpPake1, h.state)
	}
	var p1 Pake1
	if err := p1.Unmarshal(payload); err != nil {
		return nil, fmt.Errorf("pase: %w", err)
	}
	// The identities of PASE are empty (§4.14.1.2).
	v, pB, cB, err := crypto.NewVerifier(h.context[:], nil, nil, h.verifier, p1.PA[:])
	if err != nil {
		return nil, fmt.Errorf("pase: Pake1: %w: %w", ErrMalformed, err)
	}
	var p2 Pake2
	copy(p2.PB[:], pB)
	copy(p2.CB[:], cB)
	out, err := p2.AppendTo(nil)
	if err != nil {
		return nil, fmt.Errorf("pase: Pake2: %w", err)
	}
	h.spake = v
	h.state = paseAwaitPake3
	return out, nil
}

// handlePake3 checks the commissioner's confirmation cA and returns the
// session keys.
func (h *paseResponder) handlePake3(payload []byte) (crypto.SessionKeys, error) {
	if h.state != paseAwaitPake3 {
		return crypto.SessionKeys{}, wrongState("pase", OpPake3, h.state)
	}
	var p3 Pake3
	if err := p3.Unmarshal(payload); err != nil {
		return crypto.SessionKeys{}, fmt.Errorf("pase: %w", err)
	}
	ke, err := h.spake.Finish(p3.CA[:])
	h.spake = nil
	h.state = paseDone
	if err != nil {
		return crypto.SessionKeys{}, fmt.Errorf("pase: Pake3: %w: %w", ErrAuthentication, err)
	}
	keys, err := crypto.DerivePASESessionKeys(ke)
	if err != nil {
		return crypto.SessionKeys{}, fmt.Errorf("pase: session keys: %w", err)
	}
	return keys, nil
}

// paseInitiator is the commissioner's side of one PASE exchange.
type paseInitiator struct {
	state paseState

	passcode   uint32
	params     session.Params
	sendParams bool
	localID    uint16
	rand       io.Reader
	// knownSalt and knownIterations, when set, are the PBKDF parameters
	// from the onboarding payload: the request says so and the responder
	// does not repeat them.
	knownSalt       []byte
	knownIterations uint32

	request       []byte
	random        [RandomSize]byte
	peerSessionID uint16
	peerParams    session.Params
	prover        *crypto.Prover
}

// start returns the PBKDFParamRequest.
func (h *paseInitiator) start() ([]byte, error) {
	if h.state != paseStart {
		return nil, fmt.Errorf("pase: start in state %v", h.state)
	}
	req := PBKDFParamRequest{
		InitiatorSessionID: h.localID,
		PasscodeID:         DefaultPasscodeID,
		HasPBKDFParameters: h.knownSalt != nil,
		HasParams:          h.sendParams,
		Params:             h.params,
	}
	if _, err := io.ReadFull(h.rand, req.InitiatorRandom[:]); err != nil {
		return nil, fmt.Errorf("pase: initiator random: %w", err)
	}
	out, err := req.AppendTo(nil)
	if err != nil {
		return nil, fmt.Errorf("pase: PBKDFParamRequest: %w", err)
	}
	h.random = req.InitiatorRandom
	h.request = out
	h.state = paseAwaitResponse
	return out, nil
}

// handlePBKDFParamResponse computes w0 and w1 from the passcode and returns
// Pake1.
func (h *paseInitiator) handlePBKDFParamResponse(payload []byte) ([]byte, error) {
	if h.state != paseAwaitResponse {
		return nil, wrongState("pase", OpPBKDFParamResponse, h.state)
	}
	var resp PBKDFParamResponse
	if err := resp.Unmarshal(payload); err != nil {
		return nil, fmt.Errorf("pase: %w", err)
	}
	if resp.InitiatorRandom != h.random {
		return nil, fmt.Errorf("pase: PBKDFParamResponse: %w: initiator random not echoed", ErrMalformed)
	}
	if resp.ResponderSessionID == 0 {
		return nil, fmt.Errorf("pase: PBKDFParamResponse: %w: responder session ID 0", ErrMalformed)
	}
	salt, iterations := h.knownSalt, h.knownIterations
	if salt == nil {
		if !resp.HasPBKDFParameters {
			return nil, fmt.Errorf("pase: PBKDFParamResponse: %w: no PBKDF parameters", ErrMalformed)
		}
		salt, iterations = resp.Salt, resp.Iterations
	}
	w0, w1, err := crypto.ComputeW0W1(h.passcode, salt, int(iterations))
	if err != nil {
		return nil, fmt.Errorf("pase: %w", err)
	}
	context := crypto.PASEContext(h.request, payload)
	prover, pA, err := crypto.NewProver(context[:], nil, nil, w0, w1)
	if err != nil {
		return nil, fmt.Errorf("pase: %w", err)
	}
	var p1 Pake1
	copy(p1.PA[:], pA)
	out, err := p1.AppendTo(nil)
	if err != nil {
		return nil, fmt.Errorf("pase: Pake1: %w", err)
	}
	h.peerSessionID = resp.ResponderSessionID
	if resp.HasParams {
		h.peerParams = resp.Params
	}
	h.prover = prover
	h.state = paseAwaitPake2
	return out, nil
}

// handlePake2 checks the device's confirmation cB and returns Pake3 and the
// session keys. A wrong cB means the passcode is wrong (or the exchange was
// tampered with): the error wraps ErrAuthentication and
// crypto.ErrConfirmationFailed.
func (h *paseInitiator) handlePake2(payload []byte) ([]byte, crypto.SessionKeys, error) {
	var keys crypto.SessionKeys
	if h.state != paseAwaitPake2 {
		return nil, keys, wrongState("pase", OpPake2, h.state)
	}
	var p2 Pake2
	if err := p2.Unmarshal(payload); err != nil {
		return nil, keys, fmt.Errorf("pase: %w", err)
	}
	cA, ke, err := h.prover.Finish(p2.PB[:], p2.CB[:])
	h.prover = nil
	h.state = paseDone
	if errors.Is(err, crypto.ErrConfirmationFailed) {
		return nil, keys, fmt.Errorf("pase: Pake2: %w (wrong passcode?): %w", ErrAuthentication, err)
	}
	if err != nil {
		return nil, keys, fmt.Errorf("pase: Pake2: %w: %w", ErrMalformed, err)
	}
	var p3 Pake3
	copy(p3.CA[:], cA)
	out, err := p3.AppendTo(nil)
	if err != nil {
		return nil, keys, fmt.Errorf("pase: Pake3: %w", err)
	}
	keys, err = crypto.DerivePASESessionKeys(ke)
	if err != nil {
		return nil, keys, fmt.Errorf("pase: session keys: %w", err)
	}
	return out, keys, nil
}

// sessionKeys converts derived keys to the session table's form.
func sessionKeys(k *crypto.SessionKeys) session.Keys {
	return session.Keys{
		I2R:                  append([]byte(nil), k.I2RKey[:]...),
		R2I:                  append([]byte(nil), k.R2IKey[:]...),
		AttestationChallenge: append([]byte(nil), k.AttestationChallenge[:]...),
	}
}
