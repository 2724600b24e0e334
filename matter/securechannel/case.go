package securechannel

import (
	"crypto/ecdh"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"io"

	"github.com/mattercam/mattercam/matter/crypto"
	"github.com/mattercam/mattercam/matter/session"
)

// CASE (§4.14.2) as two state machines, in the manner of the PASE ones: no
// I/O, one method per received message, nothing committed until the message
// has been checked.
//
//	initiator                              responder
//	start             Sigma1            →  handleSigma1
//	                                        (destination ID: which fabric?)
//	handleSigma2      ← Sigma2
//	                  Sigma3            →  handleSigma3
//	                  ← StatusReport SESSION_ESTABLISHMENT_SUCCESS
//
// and, when Sigma1 carries a resumption ID and MIC the responder accepts
// (§4.14.2.2):
//
//	handleSigma2Resume ← Sigma2_Resume     (handleSigma1)
//	                  StatusReport SESSION_ESTABLISHMENT_SUCCESS →

type caseState uint8

const (
	caseStart caseState = iota
	caseAwaitSigma2
	caseAwaitSigma3
	caseAwaitResumeStatus
	caseDone
)

func (s caseState) String() string {
	return [...]string{"start", "await Sigma2", "await Sigma3", "await resumption status", "done"}[s]
}

// caseResult is what a completed CASE gives the session table.
type caseResult struct {
	keys       crypto.SessionKeys
	fabric     *Fabric
	peer       PeerIdentity // NodeID, FabricID and CATs
	resumption ResumptionRecord
}

// caseResponder is the responder's side of one CASE exchange.
type caseResponder struct {
	state caseState

	fabrics     []Fabric
	resumptions *ResumptionStore // may be nil
	verify      ChainVerifier
	params      session.Params
	sendParams  bool
	localID     uint16
	rand        io.Reader

	sigma1        Sigma1
	sigma1Raw     []byte
	sigma2Raw     []byte
	fabric        *Fabric
	ephPub        []byte
	sharedSecret  []byte
	resumptionID  [crypto.ResumptionIDSize]byte
	peerSessionID uint16
	peerParams    session.Params
	resumed       caseResult // for a resumption
}

// handleSigma1 answers Sigma1 with Sigma2_Resume when it resumes a session
// this node knows, and with Sigma2 otherwise (including an unknown
// resumption ID or a MIC that does not verify, where §4.14.2.2 falls back to
// the full exchange). A destination ID that matches none of the fabrics
// is ErrNoFabric (NO_SHARED_TRUST_ROOTS).
func (h *caseResponder) handleSigma1(payload []byte) (Opcode, []byte, error) {
	if h.state != caseStart {
		return 0, nil, wrongState("case", OpSigma1, h.state)
	}
	var m Sigma1
	if err := m.Unmarshal(payload); err != nil {
		return 0, nil, fmt.Errorf("case: %w", err)
	}
	if m.InitiatorSessionID == 0 {
		return 0, nil, fmt.Errorf("case: Sigma1: %w: initiator session ID 0", ErrMalformed)
	}
	if m.HasResumption && h.resumptions != nil {
		if out, ok, err := h.tryResume(&m); err != nil || ok {
			return OpSigma2Resume, out, err
		}
	}
	f := h.findFabric(&m)
	if f == nil {
		return 0, nil, fmt.Errorf("case: Sigma1: %w for destination ID %x", ErrNoFabric, m.DestinationID[:8])
	}
	eph, err := ecdh.P256().GenerateKey(h.rand)
	if err != nil {
		return 0, nil, fmt.Errorf("case: ephemeral key: %w", err)
	}
	ephPub := eph.PublicKey().Bytes()
	shared, err := crypto.ECDH(eph, m.InitiatorEphPubKey[:])
	if err != nil {
		return 0, nil, fmt.Errorf("case: Sigma1: %w: initiatorEphPubKey: %w", ErrMalformed, err)
	}
	var sigma2 Sigma2
	var resumptionID [crypto.ResumptionIDSize]byte
	if _, err := io.ReadFull(h.rand, sigma2.ResponderRandom[:]); err != nil {
		return 0, nil, fmt.Errorf("case: responder random: %w", err)
	}
	if _, err := io.ReadFull(h.rand, resumptionID[:]); err != nil {
		return 0, nil, fmt.Errorf("case: resumption ID: %w", err)
	}
	tbe, err := signedTBEData(f, ephPub, m.InitiatorEphPubKey[:])
	if err != nil {
		return 0, nil, err
	}
	tbe.HasResumptionID, tbe.ResumptionID = true, resumptionID
	plain, err := tbe.AppendTo(nil)
	if err != nil {
		return 0, nil, fmt.Errorf("case: TBEData2: %w", err)
	}
	sigma1Hash := crypto.Hash(payload)
	s2k, err := crypto.DeriveSigma2Key(shared, f.IPK, sigma2.ResponderRandom[:], ephPub, sigma1Hash[:])
	if err != nil {
		return 0, nil, fmt.Errorf("case: S2K: %w", err)
	}
	aead, err := crypto.NewCCM(s2k)
	if err != nil {
		return 0, nil, fmt.Errorf("case: S2K: %w", err)
	}
	sigma2.Encrypted2 = aead.Seal(plain[:0:0], []byte(crypto.NonceSigma2), plain, nil)
	sigma2.ResponderSessionID = h.localID
	copy(sigma2.ResponderEphPubKey[:], ephPub)
	sigma2.HasParams, sigma2.Params = h.sendParams, h.params
	out, err := sigma2.AppendTo(nil)
	if err != nil {
		return 0, nil, fmt.Errorf("case: Sigma2: %w", err)
	}
	h.sigma1, h.sigma1Raw, h.sigma2Raw = m, append([]byte(nil), payload...), out
	h.fabric, h.ephPub, h.sharedSecret, h.resumptionID = f, ephPub, shared, resumptionID
	h.peerSessionID = m.InitiatorSessionID
	if m.HasParams {
		h.peerParams = m.Params
	}
	h.state = caseAwaitSigma3
	return OpSigma2, out, nil
}

// findFabric returns the fabric whose destination ID Sigma1 carries: the
// responder computes the candidate for each fabric with that fabric's IPK
// and its own node ID, and compares in constant time (§4.14.2.3). Fabrics
// that are not complete are skipped.
func (h *caseResponder) findFabric(m *Sigma1) *Fabric {
	for i := range h.fabrics {
		f := &h.fabrics[i]
		if f.Validate() != nil {
			continue
		}
		id, err := DestinationID(f.IPK, m.InitiatorRandom[:], f.RootPublicKey, f.FabricID, f.NodeID)
		if err == nil && hmac.Equal(id[:], m.DestinationID[:]) {
			return f
		}
	}
	return nil
}

// fabricByIndex returns the fabric with index idx and fabric ID id, or nil.
func fabricByIndex(fabrics []Fabric, idx uint8, id uint64) *Fabric {
	for i := range fabrics {
		if fabrics[i].Index == idx && fabrics[i].FabricID == id {
			return &fabrics[i]
		}
	}
	return nil
}

// tryResume checks a resumption request against the store. ok is false,
// with no error, when the full exchange must be done instead.
func (h *caseResponder) tryResume(m *Sigma1) (out []byte, ok bool, err error) {
	rec, found := h.resumptions.ByID(m.ResumptionID)
	if !found {
		return nil, false, nil
	}
	f := fabricByIndex(h.fabrics, rec.FabricIndex, rec.FabricID)
	if f == nil {
		// The fabric is gone: so is any use for the record.
		h.resumptions.Remove(rec.ID)
		return nil, false, nil
	}
	// initiatorResumeMIC = Crypto_AEAD_GenerateEncrypt(S1RK, [], [],
	// "NCASE_SigmaS1"): the tag of an empty message.
	s1rk, err := crypto.DeriveSigma1ResumeKey(rec.SharedSecret, m.InitiatorRandom[:], m.ResumptionID[:])
	if err != nil {
		return nil, false, nil
	}
	aead, err := crypto.NewCCM(s1rk)
	if err != nil {
		return nil, false, nil
	}
	if _, err := aead.Open(nil, []byte(crypto.NonceSigma1Resume), m.InitiatorResumeMIC[:], nil); err != nil {
		return nil, false, nil
	}
	var resp Sigma2Resume
	if _, err := io.ReadFull(h.rand, resp.ResumptionID[:]); err != nil {
		return nil, false, fmt.Errorf("case: resumption ID: %w", err)
	}
	mic, err := resumeMIC(crypto.DeriveSigma2ResumeKey, crypto.NonceSigma2Resume, rec.SharedSecret, m.InitiatorRandom[:], resp.ResumptionID[:])
	if err != nil {
		return nil, false, err
	}
	resp.Sigma2ResumeMIC = mic
	keys, err := crypto.DeriveCASEResumptionSessionKeys(rec.SharedSecret, m.InitiatorRandom[:], m.ResumptionID[:])
	if err != nil {
		return nil, false, fmt.Errorf("case: resumption keys: %w", err)
	}
	resp.ResponderSessionID = h.localID
	resp.HasParams, resp.Params = h.sendParams, h.params
	out, err = resp.AppendTo(nil)
	if err != nil {
		return nil, false, fmt.Errorf("case: Sigma2_Resume: %w", err)
	}
	next := rec
	next.ID = resp.ResumptionID
	h.resumed = caseResult{
		keys:       keys,
		fabric:     f,
		peer:       PeerIdentity{NodeID: rec.PeerNodeID, FabricID: rec.FabricID, CATs: rec.PeerCATs},
		resumption: next,
	}
	h.sigma1 = *m
	h.peerSessionID = m.InitiatorSessionID
	if m.HasParams {
		h.peerParams = m.Params
	}
	h.state = caseAwaitResumeStatus
	return out, true, nil
}

// resumeMIC computes a resumption MIC: the AEAD tag of an empty plaintext
// under the key derive gives, with the given nonce.
func resumeMIC(derive func(sharedSecret, initiatorRandom, resumptionID []byte) ([]byte, error), nonce string, sharedSecret, initiatorRandom, resumptionID []byte) ([MICSize]byte, error) {
	var mic [MICSize]byte
	key, err := derive(sharedSecret, initiatorRandom, resumptionID)
	if err != nil {
		return mic, fmt.Errorf("case: resumption key: %w", err)
	}
	aead, err := crypto.NewCCM(key)
	if err != nil {
		return mic, fmt.Errorf("case: resumption key: %w", err)
	}
	copy(mic[:], aead.Seal(nil, []byte(nonce), nil, nil))
	return mic, nil
}

// resumedResult returns the outcome of an accepted resumption, once the
// initiator's StatusReport has confirmed it.
func (h *caseResponder) resumedResult() (caseResult, error) {
	if h.state != caseAwaitResumeStatus {
		return caseResult{}, wrongState("case", OpStatusReport, h.state)
	}
	h.state = caseDone
	return h.resumed, nil
}

// handleSigma3 decrypts TBEData3, validates the initiator's certificates
// under the fabric's root and its signature, and returns the session.
func (h *caseResponder) handleSigma3(payload []byte) (caseResult, error) {
	if h.state != caseAwaitSigma3 {
		return caseResult{}, wrongState("case", OpSigma3, h.state)
	}
	var m Sigma3
	if err := m.Unmarshal(payload); err != nil {
		return caseResult{}, fmt.Errorf("case: %w", err)
	}
	f := h.fabric
	th := sha256.New()
	th.Write(h.sigma1Raw)
	th.Write(h.sigma2Raw)
	s3k, err := crypto.DeriveSigma3Key(h.sharedSecret, f.IPK, th.Sum(nil))
	if err != nil {
		return caseResult{}, fmt.Errorf("case: S3K: %w", err)
	}
	tbe, err := openTBEData(s3k, crypto.NonceSigma3, m.Encrypted3)
	if err != nil {
		return caseResult{}, fmt.Errorf("case: Sigma3: %w", err)
	}
	peer, err := verifyPeer(h.verify, tbe, f, h.sigma1.InitiatorEphPubKey[:], h.ephPub)
	if err != nil {
		return caseResult{}, fmt.Errorf("case: Sigma3: %w", err)
	}
	th.Write(payload)
	keys, err := crypto.DeriveCASESessionKeys(h.sharedSecret, f.IPK, th.Sum(nil))
	if err != nil {
		return caseResult{}, fmt.Errorf("case: session keys: %w", err)
	}
	h.state = caseDone
	return caseResult{
		keys:   keys,
		fabric: f,
		peer:   peer,
		resumption: ResumptionRecord{
			ID:           h.resumptionID,
			SharedSecret: h.sharedSecret,
			FabricIndex:  f.Index,
			FabricID:     f.FabricID,
			PeerNodeID:   peer.NodeID,
			PeerCATs:     peer.CATs,
		},
	}, nil
}

// verifyPeer validates the sender's chain from a TBEData under f's root and
// checks its signature over TBSData (sender's NOC, ICAC, sender's ephemeral
// key, receiver's ephemeral key).
func verifyPeer(verify ChainVerifier, tbe *TBEData, f *Fabric, senderEph, receiverEph []byte) (PeerIdentity, error) {
	peer, err := verify(f.RCAC, tbe.ICAC, tbe.NOC)
	if err != nil {
		return PeerIdentity{}, fmt.Errorf("%w: certificate chain: %w", ErrAuthentication, err)
	}
	if peer.FabricID != f.FabricID {
		return PeerIdentity{}, fmt.Errorf("%w: peer's NOC is for fabric %#x, not %#x", ErrAuthentication, peer.FabricID, f.FabricID)
	}
	if peer.PublicKey == nil {
		return PeerIdentity{}, fmt.Errorf("%w: peer's NOC has no public key", ErrAuthentication)
	}
	tbs, err := appendTBSData(nil, tbe.NOC, tbe.ICAC, senderEph, receiverEph)
	if err != nil {
		return PeerIdentity{}, fmt.Errorf("TBSData: %w", err)
	}
	if !crypto.Verify(peer.PublicKey, tbs, tbe.Signature[:]) {
		return PeerIdentity{}, fmt.Errorf("%w: signature does not verify", ErrAuthentication)
	}
	return peer, nil
}

// signedTBEData builds the sender's TBEData: its certificates and its
// signature over TBSData.
func signedTBEData(f *Fabric, senderEph, receiverEph []byte) (*TBEData, error) {
	tbs, err := appendTBSData(nil, f.NOC, f.ICAC, senderEph, receiverEph)
	if err != nil {
		return nil, fmt.Errorf("case: TBSData: %w", err)
	}
	sig, err := crypto.Sign(f.Key, tbs)
	if err != nil {
		return nil, fmt.Errorf("case: signing TBSData: %w", err)
	}
	tbe := &TBEData{NOC: f.NOC, ICAC: f.ICAC}
	copy(tbe.Signature[:], sig)
	return tbe, nil
}

// openTBEData decrypts and decodes encrypted2 or encrypted3. Any change to
// the ciphertext, the MIC or the inputs of the key fails here.
func openTBEData(key []byte, nonce string, encrypted []byte) (*TBEData, error) {
	aead, err := crypto.NewCCM(key)
	if err != nil {
		return nil, err
	}
	plain, err := aead.Open(nil, []byte(nonce), encrypted, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: MIC does not verify", ErrAuthentication)
	}
	var tbe TBEData
	if err := tbe.Unmarshal(plain); err != nil {
		return nil, err
	}
	return &tbe, nil
}

// caseInitiator is the initiator's side of one CASE exchange.
type caseInitiator struct {
	state caseState

	fabric     *Fabric
	peerNodeID uint64
	verify     ChainVerifier
	params     session.Params
	sendParams bool
	localID    uint16
	rand       io.Reader
	// resume, when set, is the record of an earlier session with the
	// peer: Sigma1 asks to resume it.
	resume *ResumptionRecord

	eph           *ecdh.PrivateKey
	ephPub        []byte
	random        [RandomSize]byte
	sigma1Raw     []byte
	peerSessionID uint16
	peerParams    session.Params
}

// start returns Sigma1.
func (h *caseInitiator) start() ([]byte, error) {
	if h.state != caseStart {
		return nil, fmt.Errorf("case: start in state %v", h.state)
	}
	var m Sigma1
	if _, err := io.ReadFull(h.rand, m.InitiatorRandom[:]); err != nil {
		return nil, fmt.Errorf("case: initiator random: %w", err)
	}
	f := h.fabric
	dest, err := DestinationID(f.IPK, m.InitiatorRandom[:], f.RootPublicKey, f.FabricID, h.peerNodeID)
	if err != nil {
		return nil, fmt.Errorf("case: %w", err)
	}
	eph, err := ecdh.P256().GenerateKey(h.rand)
	if err != nil {
		return nil, fmt.Errorf("case: ephemeral key: %w", err)
	}
	m.InitiatorSessionID = h.localID
	m.DestinationID = dest
	copy(m.InitiatorEphPubKey[:], eph.PublicKey().Bytes())
	m.HasParams, m.Params = h.sendParams, h.params
	if r := h.resume; r != nil {
		mic, err := resumeMIC(crypto.DeriveSigma1ResumeKey, crypto.NonceSigma1Resume, r.SharedSecret, m.InitiatorRandom[:], r.ID[:])
		if err != nil {
			return nil, err
		}
		m.HasResumption, m.ResumptionID, m.InitiatorResumeMIC = true, r.ID, mic
	}
	out, err := m.AppendTo(nil)
	if err != nil {
		return nil, fmt.Errorf("case: Sigma1: %w", err)
	}
	h.eph, h.ephPub, h.random, h.sigma1Raw = eph, m.InitiatorEphPubKey[:], m.InitiatorRandom, out
	h.state = caseAwaitSigma2
	return out, nil
}

// handleSigma2 decrypts TBEData2, validates the responder's certificates
// and signature, and returns Sigma3 and the session.
func (h *caseInitiator) handleSigma2(payload []byte) ([]byte, caseResult, error) {
	if h.state != caseAwaitSigma2 {
		return nil, caseResult{}, wrongState("case", OpSigma2, h.state)
	}
	var m Sigma2
	if err := m.Unmarshal(payload); err != nil {
		return nil, caseResult{}, fmt.Errorf("case: %w", err)
	}
	if m.ResponderSessionID == 0 {
		return nil, caseResult{}, fmt.Errorf("case: Sigma2: %w: responder session ID 0", ErrMalformed)
	}
	f := h.fabric
	shared, err := crypto.ECDH(h.eph, m.ResponderEphPubKey[:])
	if err != nil {
		return nil, caseResult{}, fmt.Errorf("case: Sigma2: %w: responderEphPubKey: %w", ErrMalformed, err)
	}
	sigma1Hash := crypto.Hash(h.sigma1Raw)
	s2k, err := crypto.DeriveSigma2Key(shared, f.IPK, m.ResponderRandom[:], m.ResponderEphPubKey[:], sigma1Hash[:])
	if err != nil {
		return nil, caseResult{}, fmt.Errorf("case: S2K: %w", err)
	}
	tbe2, err := openTBEData(s2k, crypto.NonceSigma2, m.Encrypted2)
	if err != nil {
		return nil, caseResult{}, fmt.Errorf("case: Sigma2: %w", err)
	}
	if !tbe2.HasResumptionID {
		return nil, caseResult{}, fmt.Errorf("case: Sigma2: TBEData2: %w", missing("resumptionID"))
	}
	peer, err := verifyPeer(h.verify, tbe2, f, m.ResponderEphPubKey[:], h.ephPub)
	if err != nil {
		return nil, caseResult{}, fmt.Errorf("case: Sigma2: %w", err)
	}
	if peer.NodeID != h.peerNodeID {
		return nil, caseResult{}, fmt.Errorf("case: Sigma2: %w: responder is node %#x, not %#x", ErrAuthentication, peer.NodeID, h.peerNodeID)
	}

	tbe3, err := signedTBEData(f, h.ephPub, m.ResponderEphPubKey[:])
	if err != nil {
		return nil, caseResult{}, err
	}
	plain, err := tbe3.AppendTo(nil)
	if err != nil {
		return nil, caseResult{}, fmt.Errorf("case: TBEData3: %w", err)
	}
	th := sha256.New()
	th.Write(h.sigma1Raw)
	th.Write(payload)
	s3k, err := crypto.DeriveSigma3Key(shared, f.IPK, th.Sum(nil))
	if err != nil {
		return nil, caseResult{}, fmt.Errorf("case: S3K: %w", err)
	}
	aead, err := crypto.NewCCM(s3k)
	if err != nil {
		return nil, caseResult{}, fmt.Errorf("case: S3K: %w", err)
	}
	sigma3 := Sigma3{Encrypted3: aead.Seal(plain[:0:0], []byte(crypto.NonceSigma3), plain, nil)}
	out, err := sigma3.AppendTo(nil)
	if err != nil {
		return nil, caseResult{}, fmt.Errorf("case: Sigma3: %w", err)
	}
	th.Write(out)
	keys, err := crypto.DeriveCASESessionKeys(shared, f.IPK, th.Sum(nil))
	if err != nil {
		return nil, caseResult{}, fmt.Errorf("case: session keys: %w", err)
	}
	h.peerSessionID = m.ResponderSessionID
	if m.HasParams {
		h.peerParams = m.Params
	}
	h.state = caseDone
	return out, caseResult{
		keys:   keys,
		fabric: f,
		peer:   peer,
		resumption: ResumptionRecord{
			ID:           tbe2.ResumptionID,
			SharedSecret: shared,
			FabricIndex:  f.Index,
			FabricID:     f.FabricID,
			PeerNodeID:   peer.NodeID,
			PeerCATs:     peer.CATs,
		},
	}, nil
}

// handleSigma2Resume checks the responder's resumption MIC and returns the
// resumed session; the initiator then sends the StatusReport.
func (h *caseInitiator) handleSigma2Resume(payload []byte) (caseResult, error) {
	if h.state != caseAwaitSigma2 || h.resume == nil {
		return caseResult{}, wrongState("case", OpSigma2Resume, h.state)
	}
	var m Sigma2Resume
	if err := m.Unmarshal(payload); err != nil {
		return caseResult{}, fmt.Errorf("case: %w", err)
	}
	if m.ResponderSessionID == 0 {
		return caseResult{}, fmt.Errorf("case: Sigma2_Resume: %w: responder session ID 0", ErrMalformed)
	}
	r := h.resume
	want, err := resumeMIC(crypto.DeriveSigma2ResumeKey, crypto.NonceSigma2Resume, r.SharedSecret, h.random[:], m.ResumptionID[:])
	if err != nil {
		return caseResult{}, err
	}
	if !hmac.Equal(want[:], m.Sigma2ResumeMIC[:]) {
		return caseResult{}, fmt.Errorf("case: Sigma2_Resume: %w: MIC does not verify", ErrAuthentication)
	}
	keys, err := crypto.DeriveCASEResumptionSessionKeys(r.SharedSecret, h.random[:], r.ID[:])
	if err != nil {
		return caseResult{}, fmt.Errorf("case: resumption keys: %w", err)
	}
	next := *r
	next.ID = m.ResumptionID
	h.peerSessionID = m.ResponderSessionID
	if m.HasParams {
		h.peerParams = m.Params
	}
	h.state = caseDone
	return caseResult{
		keys:       keys,
		fabric:     h.fabric,
		peer:       PeerIdentity{NodeID: r.PeerNodeID, FabricID: r.FabricID, CATs: r.PeerCATs},
		resumption: next,
	}, nil
}
