package securechannel

import (
	"fmt"

	"github.com/mattercam/mattercam/matter/cert"
	"github.com/mattercam/mattercam/matter/crypto"
	"github.com/mattercam/mattercam/matter/session"
	"github.com/mattercam/mattercam/matter/tlv"
)

// CASE messages (§4.14.2.3, "Protocol Details"), and the structures signed
// (TBSData2, TBSData3) and encrypted (TBEData2, TBEData3) inside Sigma2 and
// Sigma3. Each is an anonymous TLV structure with context-tagged fields.

// Sizes of CASE fields.
const (
	// DestinationIDSize is the size of Sigma1's destinationId, an
	// HMAC-SHA256.
	DestinationIDSize = crypto.HashSize
	// MICSize is the size of the resumption MICs, an AEAD tag.
	MICSize = crypto.AEADTagSize
	// MaxCertSize bounds an operational certificate in Matter TLV form:
	// 400 octets (§6.1.3, "Certificate Sizes").
	MaxCertSize = cert.MaxTLVSize
	// MaxEncryptedSize bounds encrypted2 and encrypted3: a TBEData holding
	// two certificates of MaxCertSize, a signature and a resumption ID,
	// plus the MIC, fits with room to spare.
	MaxEncryptedSize = 2*(MaxCertSize+4) + 128 + MICSize
)

// Sigma1 field tags.
const (
	tagSigma1InitiatorRandom    = 1 // octet string, 32
	tagSigma1InitiatorSessionID = 2 // uint16
	tagSigma1DestinationID      = 3 // octet string, 32
	tagSigma1InitiatorEphPubKey = 4 // octet string, 65
	tagSigma1SessionParams      = 5 // session-parameter-struct, optional
	tagSigma1ResumptionID       = 6 // octet string, 16, optional
	tagSigma1InitiatorResumeMIC = 7 // octet string, 16, optional
)

// Sigma1 opens CASE. With a resumption ID and MIC it asks to resume an
// earlier session (§4.14.2.2).
type Sigma1 struct {
	InitiatorRandom    [RandomSize]byte
	InitiatorSessionID uint16
	DestinationID      [DestinationIDSize]byte
	InitiatorEphPubKey [crypto.PointSize]byte
	HasParams          bool
	Params             session.Params
	// HasResumption says ResumptionID and InitiatorResumeMIC are present;
	// the spec requires both or neither.
	HasResumption      bool
	ResumptionID       [crypto.ResumptionIDSize]byte
	InitiatorResumeMIC [MICSize]byte
}

// AppendTo appends the encoded message to dst.
func (m *Sigma1) AppendTo(dst []byte) ([]byte, error) {
	w := tlv.NewWriter(dst)
	w.StartStructure(tlv.AnonymousTag())
	w.PutBytes(tlv.ContextTag(tagSigma1InitiatorRandom), m.InitiatorRandom[:])
	w.PutUint(tlv.ContextTag(tagSigma1InitiatorSessionID), uint64(m.InitiatorSessionID))
	w.PutBytes(tlv.ContextTag(tagSigma1DestinationID), m.DestinationID[:])
	w.PutBytes(tlv.ContextTag(tagSigma1InitiatorEphPubKey), m.InitiatorEphPubKey[:])
	if m.HasParams {
		putParams(w, tlv.ContextTag(tagSigma1SessionParams), &m.Params)
	}
	if m.HasResumption {
		w.PutBytes(tlv.ContextTag(tagSigma1ResumptionID), m.ResumptionID[:])
		w.PutBytes(tlv.ContextTag(tagSigma1InitiatorResumeMIC), m.InitiatorResumeMIC[:])
	}
	w.EndContainer()
	return w.Bytes()
}

// Unmarshal decodes the message.
func (m *Sigma1) Unmarshal(b []byte) error {
	*m = Sigma1{}
	var have uint16
	err := decodeStruct(b, func(r *tlv.Reader, tag uint8) error {
		var err error
		switch tag {
		case tagSigma1InitiatorRandom:
			err = readFixed(r, "initiatorRandom", m.InitiatorRandom[:])
		case tagSigma1InitiatorSessionID:
			m.InitiatorSessionID, err = r.Uint16()
			err = fieldError("initiatorSessionId", err)
		case tagSigma1DestinationID:
			err = readFixed(r, "destinationId", m.DestinationID[:])
		case tagSigma1InitiatorEphPubKey:
			err = readFixed(r, "initiatorEphPubKey", m.InitiatorEphPubKey[:])
		case tagSigma1SessionParams:
			m.Params, err = readParams(r)
			m.HasParams = err == nil
			err = fieldError("initiatorSessionParams", err)
		case tagSigma1ResumptionID:
			err = readFixed(r, "resumptionID", m.ResumptionID[:])
		case tagSigma1InitiatorResumeMIC:
			err = readFixed(r, "initiatorResumeMIC", m.InitiatorResumeMIC[:])
		default:
			return nil
		}
		have |= 1 << tag
		return err
	})
	if err == nil {
		err = required(have,
			field{tagSigma1InitiatorRandom, "initiatorRandom"},
			field{tagSigma1InitiatorSessionID, "initiatorSessionId"},
			field{tagSigma1DestinationID, "destinationId"},
			field{tagSigma1InitiatorEphPubKey, "initiatorEphPubKey"},
		)
	}
	if err == nil {
		id, mic := have&(1<<tagSigma1ResumptionID) != 0, have&(1<<tagSigma1InitiatorResumeMIC) != 0
		if id != mic {
			err = fmt.Errorf("%w: resumptionID and initiatorResumeMIC must come together", ErrMalformed)
		}
		m.HasResumption = id && mic
	}
	if err != nil {
		return fmt.Errorf("Sigma1: %w", err)
	}
	return nil
}

// Sigma2 field tags.
const (
	tagSigma2ResponderRandom    = 1 // octet string, 32
	tagSigma2ResponderSessionID = 2 // uint16
	tagSigma2ResponderEphPubKey = 3 // octet string, 65
	tagSigma2Encrypted2         = 4 // octet string: TBEData2 ‖ MIC
	tagSigma2SessionParams      = 5 // session-parameter-struct, optional
)

// Sigma2 is the responder's answer to Sigma1 in a full CASE.
type Sigma2 struct {
	ResponderRandom    [RandomSize]byte
	ResponderSessionID uint16
	ResponderEphPubKey [crypto.PointSize]byte
	// Encrypted2 is TBEData2 encrypted under S2K, MIC appended. Decoded
	// messages alias the input.
	Encrypted2 []byte
	HasParams  bool
	Params     session.Params
}

// AppendTo appends the encoded message to dst.
func (m *Sigma2) AppendTo(dst []byte) ([]byte, error) {
	w := tlv.NewWriter(dst)
	w.StartStructure(tlv.AnonymousTag())
	w.PutBytes(tlv.ContextTag(tagSigma2ResponderRandom), m.ResponderRandom[:])
	w.PutUint(tlv.ContextTag(tagSigma2ResponderSessionID), uint64(m.ResponderSessionID))
	w.PutBytes(tlv.ContextTag(tagSigma2ResponderEphPubKey), m.ResponderEphPubKey[:])
	w.PutBytes(tlv.ContextTag(tagSigma2Encrypted2), m.Encrypted2)
	if m.HasParams {
		putParams(w, tlv.ContextTag(tagSigma2SessionParams), &m.Params)
	}
	w.EndContainer()
	return w.Bytes()
}

// Unmarshal decodes the message.
func (m *Sigma2) Unmarshal(b []byte) error {
	*m = Sigma2{}
	var have uint16
	err := decodeStruct(b, func(r *tlv.Reader, tag uint8) error {
		var err error
		switch tag {
		case tagSigma2ResponderRandom:
			err = readFixed(r, "responderRandom", m.ResponderRandom[:])
		case tagSigma2ResponderSessionID:
			m.ResponderSessionID, err = r.Uint16()
			err = fieldError("responderSessionId", err)
		case tagSigma2ResponderEphPubKey:
			err = readFixed(r, "responderEphPubKey", m.ResponderEphPubKey[:])
		case tagSigma2Encrypted2:
			m.Encrypted2, err = readBounded(r, "encrypted2", MICSize+1, MaxEncryptedSize)
		case tagSigma2SessionParams:
			m.Params, err = readParams(r)
			m.HasParams = err == nil
			err = fieldError("responderSessionParams", err)
		default:
			return nil
		}
		have |= 1 << tag
		return err
	})
	if err == nil {
		err = required(have,
			field{tagSigma2ResponderRandom, "responderRandom"},
			field{tagSigma2ResponderSessionID, "responderSessionId"},
			field{tagSigma2ResponderEphPubKey, "responderEphPubKey"},
			field{tagSigma2Encrypted2, "encrypted2"},
		)
	}
	if err != nil {
		return fmt.Errorf("Sigma2: %w", err)
	}
	return nil
}

// Sigma3 field tags.
const tagSigma3Encrypted3 = 1 // octet string: TBEData3 ‖ MIC

// Sigma3 is the initiator's last message in a full CASE.
type Sigma3 struct {
	// Encrypted3 is TBEData3 encrypted under S3K, MIC appended. Decoded
	// messages alias the input.
	Encrypted3 []byte
}

// AppendTo appends the encoded message to dst.
func (m *Sigma3) AppendTo(dst []byte) ([]byte, error) {
	w := tlv.NewWriter(dst)
	w.StartStructure(tlv.AnonymousTag())
	w.PutBytes(tlv.ContextTag(tagSigma3Encrypted3), m.Encrypted3)
	w.EndContainer()
	return w.Bytes()
}

// Unmarshal decodes the message.
func (m *Sigma3) Unmarshal(b []byte) error {
	*m = Sigma3{}
	var have bool
	err := decodeStruct(b, func(r *tlv.Reader, tag uint8) error {
		if tag != tagSigma3Encrypted3 {
			return nil
		}
		have = true
		var err error
		m.Encrypted3, err = readBounded(r, "encrypted3", MICSize+1, MaxEncryptedSize)
		return err
	})
	if err == nil && !have {
		err = missing("encrypted3")
	}
	if err != nil {
		return fmt.Errorf("Sigma3: %w", err)
	}
	return nil
}

// Sigma2_Resume field tags.
const (
	tagSigma2ResumeResumptionID       = 1 // octet string, 16
	tagSigma2ResumeMIC                = 2 // octet string, 16
	tagSigma2ResumeResponderSessionID = 3 // uint16
	tagSigma2ResumeSessionParams      = 4 // session-parameter-struct, optional
)

// Sigma2Resume accepts a resumption request (§4.14.2.2).
type Sigma2Resume struct {
	// ResumptionID is the new ID, for the next resumption.
	ResumptionID       [crypto.ResumptionIDSize]byte
	Sigma2ResumeMIC    [MICSize]byte
	ResponderSessionID uint16
	HasParams          bool
	Params             session.Params
}

// AppendTo appends the encoded message to dst.
func (m *Sigma2Resume) AppendTo(dst []byte) ([]byte, error) {
	w := tlv.NewWriter(dst)
	w.StartStructure(tlv.AnonymousTag())
	w.PutBytes(tlv.ContextTag(tagSigma2ResumeResumptionID), m.ResumptionID[:])
	w.PutBytes(tlv.ContextTag(tagSigma2ResumeMIC), m.Sigma2ResumeMIC[:])
	w.PutUint(tlv.ContextTag(tagSigma2ResumeResponderSessionID), uint64(m.ResponderSessionID))
	if m.HasParams {
		putParams(w, tlv.ContextTag(tagSigma2ResumeSessionParams), &m.Params)
	}
	w.EndContainer()
	return w.Bytes()
}

// Unmarshal decodes the message.
func (m *Sigma2Resume) Unmarshal(b []byte) error {
	*m = Sigma2Resume{}
	var have uint16
	err := decodeStruct(b, func(r *tlv.Reader, tag uint8) error {
		var err error
		switch tag {
		case tagSigma2ResumeResumptionID:
			err = readFixed(r, "resumptionID", m.ResumptionID[:])
		case tagSigma2ResumeMIC:
			err = readFixed(r, "sigma2ResumeMIC", m.Sigma2ResumeMIC[:])
		case tagSigma2ResumeResponderSessionID:
			m.ResponderSessionID, err = r.Uint16()
			err = fieldError("responderSessionID", err)
		case tagSigma2ResumeSessionParams:
			m.Params, err = readParams(r)
			m.HasParams = err == nil
			err = fieldError("responderSessionParams", err)
		default:
			return nil
		}
		have |= 1 << tag
		return err
	})
	if err == nil {
		err = required(have,
			field{tagSigma2ResumeResumptionID, "resumptionID"},
			field{tagSigma2ResumeMIC, "sigma2ResumeMIC"},
			field{tagSigma2ResumeResponderSessionID, "responderSessionID"},
		)
	}
	if err != nil {
		return fmt.Errorf("Sigma2_Resume: %w", err)
	}
	return nil
}

// TBSData2 and TBSData3 field tags: the structure each side signs.
const (
	tagTBSSenderNOC       = 1 // octet string
	tagTBSSenderICAC      = 2 // octet string, optional
	tagTBSSenderEphPubKey = 3 // octet string, 65
	tagTBSPeerEphPubKey   = 4 // octet string, 65
)

// appendTBSData appends TBSData2 (sender = responder) or TBSData3 (sender =
// initiator): the sender's NOC and ICAC, its ephemeral key, then the
// peer's.
func appendTBSData(dst, noc, icac, senderEph, peerEph []byte) ([]byte, error) {
	w := tlv.NewWriter(dst)
	w.StartStructure(tlv.AnonymousTag())
	w.PutBytes(tlv.ContextTag(tagTBSSenderNOC), noc)
	if len(icac) > 0 {
		w.PutBytes(tlv.ContextTag(tagTBSSenderICAC), icac)
	}
	w.PutBytes(tlv.ContextTag(tagTBSSenderEphPubKey), senderEph)
	w.PutBytes(tlv.ContextTag(tagTBSPeerEphPubKey), peerEph)
	w.EndContainer()
	return w.Bytes()
}

// TBEData2 and TBEData3 field tags: the plaintext of encrypted2 and
// encrypted3.
const (
	tagTBESenderNOC    = 1 // octet string
	tagTBESenderICAC   = 2 // octet string, optional
	tagTBESignature    = 3 // octet string, 64
	tagTBEResumptionID = 4 // octet string, 16; TBEData2 only
)

// TBEData is the plaintext of encrypted2 (TBEData2, with a resumption ID)
// or encrypted3 (TBEData3, without).
type TBEData struct {
	// NOC and ICAC are the sender's certificates in Matter TLV form; ICAC
	// is empty when the chain has no intermediate. Decoded values alias the
	// input.
	NOC, ICAC []byte
	Signature [crypto.SignatureSize]byte
	// HasResumptionID is set for TBEData2.
	HasResumptionID bool
	ResumptionID    [crypto.ResumptionIDSize]byte
}

// AppendTo appends the encoded structure to dst.
func (m *TBEData) AppendTo(dst []byte) ([]byte, error) {
	w := tlv.NewWriter(dst)
	w.StartStructure(tlv.AnonymousTag())
	w.PutBytes(tlv.ContextTag(tagTBESenderNOC), m.NOC)
	if len(m.ICAC) > 0 {
		w.PutBytes(tlv.ContextTag(tagTBESenderICAC), m.ICAC)
	}
	w.PutBytes(tlv.ContextTag(tagTBESignature), m.Signature[:])
	if m.HasResumptionID {
		w.PutBytes(tlv.ContextTag(tagTBEResumptionID), m.ResumptionID[:])
	}
	w.EndContainer()
	return w.Bytes()
}

// Unmarshal decodes the structure. An ICAC present but empty is taken as
// absent. Whether a resumption ID must be present is for the caller to
// check.
func (m *TBEData) Unmarshal(b []byte) error {
	*m = TBEData{}
	var have uint16
	err := decodeStruct(b, func(r *tlv.Reader, tag uint8) error {
		var err error
		switch tag {
		case tagTBESenderNOC:
			m.NOC, err = readBounded(r, "senderNOC", 1, MaxCertSize)
		case tagTBESenderICAC:
			m.ICAC, err = readBounded(r, "senderICAC", 0, MaxCertSize)
		case tagTBESignature:
			err = readFixed(r, "signature", m.Signature[:])
		case tagTBEResumptionID:
			err = readFixed(r, "resumptionID", m.ResumptionID[:])
			m.HasResumptionID = err == nil
		default:
			return nil
		}
		have |= 1 << tag
		return err
	})
	if err == nil {
		err = required(have,
			field{tagTBESenderNOC, "senderNOC"},
			field{tagTBESignature, "signature"},
		)
	}
	if err != nil {
		return fmt.Errorf("TBEData: %w", err)
	}
	if len(m.ICAC) == 0 {
		m.ICAC = nil
	}
	return nil
}
