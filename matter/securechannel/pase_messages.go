package securechannel

import (
	"errors"
	"fmt"
	"io"

	"github.com/mattercam/mattercam/matter/crypto"
	"github.com/mattercam/mattercam/matter/session"
	"github.com/mattercam/mattercam/matter/tlv"
)

// PASE messages (§4.14.1.2, "Protocol Details"). Each is an anonymous TLV
// structure with context-tagged fields.

// RandomSize is the size of the initiator and responder randoms of PASE and
// CASE.
const RandomSize = 32

// DefaultPasscodeID is the only passcode ID defined: the commissioning
// passcode (PBKDFParamRequest field passcodeId, §4.14.1.2).
const DefaultPasscodeID = 0

// PBKDFParamRequest field tags.
const (
	tagPBKDFReqInitiatorRandom    = 1 // octet string, 32
	tagPBKDFReqInitiatorSessionID = 2 // uint16
	tagPBKDFReqPasscodeID         = 3 // uint16
	tagPBKDFReqHasPBKDFParameters = 4 // boolean
	tagPBKDFReqSessionParams      = 5 // session-parameter-struct, optional
)

// PBKDFParamRequest is the first PASE message, from the commissioner.
type PBKDFParamRequest struct {
	InitiatorRandom    [RandomSize]byte
	InitiatorSessionID uint16
	PasscodeID         uint16
	// HasPBKDFParameters says the initiator already knows the salt and
	// iteration count, so the responder does not send them.
	HasPBKDFParameters bool
	// HasParams says the optional session parameters are present.
	HasParams bool
	Params    session.Params
}

// AppendTo appends the encoded message to dst.
func (m *PBKDFParamRequest) AppendTo(dst []byte) ([]byte, error) {
	w := tlv.NewWriter(dst)
	w.StartStructure(tlv.AnonymousTag())
	w.PutBytes(tlv.ContextTag(tagPBKDFReqInitiatorRandom), m.InitiatorRandom[:])
	w.PutUint(tlv.ContextTag(tagPBKDFReqInitiatorSessionID), uint64(m.InitiatorSessionID))
	w.PutUint(tlv.ContextTag(tagPBKDFReqPasscodeID), uint64(m.PasscodeID))
	w.PutBool(tlv.ContextTag(tagPBKDFReqHasPBKDFParameters), m.HasPBKDFParameters)
	if m.HasParams {
		putParams(w, tlv.ContextTag(tagPBKDFReqSessionParams), &m.Params)
	}
	w.EndContainer()
	return w.Bytes()
}

// Unmarshal decodes the message.
func (m *PBKDFParamRequest) Unmarshal(b []byte) error {
	*m = PBKDFParamRequest{}
	var have uint16
	err := decodeStruct(b, func(r *tlv.Reader, tag uint8) error {
		var err error
		switch tag {
		case tagPBKDFReqInitiatorRandom:
			err = readFixed(r, "initiatorRandom", m.InitiatorRandom[:])
		case tagPBKDFReqInitiatorSessionID:
			m.InitiatorSessionID, err = r.Uint16()
			err = fieldError("initiatorSessionId", err)
		case tagPBKDFReqPasscodeID:
			m.PasscodeID, err = r.Uint16()
			err = fieldError("passcodeId", err)
		case tagPBKDFReqHasPBKDFParameters:
			m.HasPBKDFParameters, err = r.Bool()
			err = fieldError("hasPBKDFParameters", err)
		case tagPBKDFReqSessionParams:
			m.Params, err = readParams(r)
			m.HasParams = err == nil
			err = fieldError("initiatorSessionParams", err)
		default:
			return nil
		}
		have |= 1 << tag
		return err
	})
	if err != nil {
		return fmt.Errorf("PBKDFParamRequest: %w", err)
	}
	if err := required(have,
		field{tagPBKDFReqInitiatorRandom, "initiatorRandom"},
		field{tagPBKDFReqInitiatorSessionID, "initiatorSessionId"},
		field{tagPBKDFReqPasscodeID, "passcodeId"},
		field{tagPBKDFReqHasPBKDFParameters, "hasPBKDFParameters"},
	); err != nil {
		return fmt.Errorf("PBKDFParamRequest: %w", err)
	}
	return nil
}

// PBKDFParamResponse field tags.
const (
	tagPBKDFRespInitiatorRandom    = 1 // octet string, 32
	tagPBKDFRespResponderRandom    = 2 // octet string, 32
	tagPBKDFRespResponderSessionID = 3 // uint16
	tagPBKDFRespPBKDFParameters    = 4 // Crypto_PBKDFParameterSet, optional
	tagPBKDFRespSessionParams      = 5 // session-parameter-struct, optional

	// Crypto_PBKDFParameterSet.
	tagPBKDFIterations = 1 // uint32
	tagPBKDFSalt       = 2 // octet string, 16 to 32
)

// PBKDFParamResponse is the device's answer to PBKDFParamRequest.
type PBKDFParamResponse struct {
	// InitiatorRandom echoes the request's.
	InitiatorRandom    [RandomSize]byte
	ResponderRandom    [RandomSize]byte
	ResponderSessionID uint16
	// HasPBKDFParameters says Iterations and Salt are present: they are
	// unless the request's HasPBKDFParameters was set.
	HasPBKDFParameters bool
	Iterations         uint32
	// Salt is 16 to 32 octets. Decoded messages alias the input.
	Salt      []byte
	HasParams bool
	Params    session.Params
}

// AppendTo appends the encoded message to dst.
func (m *PBKDFParamResponse) AppendTo(dst []byte) ([]byte, error) {
	w := tlv.NewWriter(dst)
	w.StartStructure(tlv.AnonymousTag())
	w.PutBytes(tlv.ContextTag(tagPBKDFRespInitiatorRandom), m.InitiatorRandom[:])
	w.PutBytes(tlv.ContextTag(tagPBKDFRespResponderRandom), m.ResponderRandom[:])
	w.PutUint(tlv.ContextTag(tagPBKDFRespResponderSessionID), uint64(m.ResponderSessionID))
	if m.HasPBKDFParameters {
		w.StartStructure(tlv.ContextTag(tagPBKDFRespPBKDFParameters))
		w.PutUint(tlv.ContextTag(tagPBKDFIterations), uint64(m.Iterations))
		w.PutBytes(tlv.ContextTag(tagPBKDFSalt), m.Salt)
		w.EndContainer()
	}
	if m.HasParams {
		putParams(w, tlv.ContextTag(tagPBKDFRespSessionParams), &m.Params)
	}
	w.EndContainer()
	return w.Bytes()
}

// Unmarshal decodes the message. The iteration count and salt length are
// checked against the limits of §3.9; Salt aliases b.
func (m *PBKDFParamResponse) Unmarshal(b []byte) error {
	*m = PBKDFParamResponse{}
	var have uint16
	err := decodeStruct(b, func(r *tlv.Reader, tag uint8) error {
		var err error
		switch tag {
		case tagPBKDFRespInitiatorRandom:
			err = readFixed(r, "initiatorRandom", m.InitiatorRandom[:])
		case tagPBKDFRespResponderRandom:
			err = readFixed(r, "responderRandom", m.ResponderRandom[:])
		case tagPBKDFRespResponderSessionID:
			m.ResponderSessionID, err = r.Uint16()
			err = fieldError("responderSessionId", err)
		case tagPBKDFRespPBKDFParameters:
			err = fieldError("pbkdf_parameters", m.readPBKDFParameters(r))
			m.HasPBKDFParameters = err == nil
		case tagPBKDFRespSessionParams:
			m.Params, err = readParams(r)
			m.HasParams = err == nil
			err = fieldError("responderSessionParams", err)
		default:
			return nil
		}
		have |= 1 << tag
		return err
	})
	if err != nil {
		return fmt.Errorf("PBKDFParamResponse: %w", err)
	}
	if err := required(have,
		field{tagPBKDFRespInitiatorRandom, "initiatorRandom"},
		field{tagPBKDFRespResponderRandom, "responderRandom"},
		field{tagPBKDFRespResponderSessionID, "responderSessionId"},
	); err != nil {
		return fmt.Errorf("PBKDFParamResponse: %w", err)
	}
	return nil
}

func (m *PBKDFParamResponse) readPBKDFParameters(r *tlv.Reader) error {
	var haveIter, haveSalt bool
	if r.Type() != tlv.TypeStructure {
		return fmt.Errorf("%w: not a structure", ErrMalformed)
	}
	if err := r.Enter(); err != nil {
		return malformed(err)
	}
	for {
		if err := r.Next(); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return malformed(err)
		}
		switch r.Tag() {
		case tlv.ContextTag(tagPBKDFIterations):
			if haveIter {
				return fmt.Errorf("%w: iterations repeated", ErrMalformed)
			}
			v, err := r.Uint32()
			if err != nil {
				return fieldError("iterations", err)
			}
			if v < crypto.PBKDFMinIterations || v > crypto.PBKDFMaxIterations {
				return fmt.Errorf("%w: %d iterations outside [%d, %d]", ErrMalformed, v, crypto.PBKDFMinIterations, crypto.PBKDFMaxIterations)
			}
			m.Iterations, haveIter = v, true
		case tlv.ContextTag(tagPBKDFSalt):
			if haveSalt {
				return fmt.Errorf("%w: salt repeated", ErrMalformed)
			}
			s, err := readBounded(r, "salt", crypto.PBKDFMinSaltSize, crypto.PBKDFMaxSaltSize)
			if err != nil {
				return err
			}
			m.Salt, haveSalt = s, true
		}
	}
	if err := r.Exit(); err != nil {
		return malformed(err)
	}
	if !haveIter {
		return missing("iterations")
	}
	if !haveSalt {
		return missing("salt")
	}
	return nil
}

// Pake1, Pake2 and Pake3 field tags.
const (
	tagPake1PA = 1 // octet string, 65

	tagPake2PB = 1 // octet string, 65
	tagPake2CB = 2 // octet string, 32

	tagPake3CA = 1 // octet string, 32
)

// Pake1 carries the commissioner's SPAKE2+ share pA.
type Pake1 struct {
	PA [crypto.PointSize]byte
}

// AppendTo appends the encoded message to dst.
func (m *Pake1) AppendTo(dst []byte) ([]byte, error) {
	w := tlv.NewWriter(dst)
	w.StartStructure(tlv.AnonymousTag())
	w.PutBytes(tlv.ContextTag(tagPake1PA), m.PA[:])
	w.EndContainer()
	return w.Bytes()
}

// Unmarshal decodes the message.
func (m *Pake1) Unmarshal(b []byte) error {
	var have bool
	err := decodeStruct(b, func(r *tlv.Reader, tag uint8) error {
		if tag != tagPake1PA {
			return nil
		}
		have = true
		return readFixed(r, "pA", m.PA[:])
	})
	if err == nil && !have {
		err = missing("pA")
	}
	if err != nil {
		return fmt.Errorf("Pake1: %w", err)
	}
	return nil
}

// Pake2 carries the device's share pB and key confirmation cB.
type Pake2 struct {
	PB [crypto.PointSize]byte
	CB [crypto.ConfirmationSize]byte
}

// AppendTo appends the encoded message to dst.
func (m *Pake2) AppendTo(dst []byte) ([]byte, error) {
	w := tlv.NewWriter(dst)
	w.StartStructure(tlv.AnonymousTag())
	w.PutBytes(tlv.ContextTag(tagPake2PB), m.PB[:])
	w.PutBytes(tlv.ContextTag(tagPake2CB), m.CB[:])
	w.EndContainer()
	return w.Bytes()
}

// Unmarshal decodes the message.
func (m *Pake2) Unmarshal(b []byte) error {
	var havePB, haveCB bool
	err := decodeStruct(b, func(r *tlv.Reader, tag uint8) error {
		switch tag {
		case tagPake2PB:
			havePB = true
			return readFixed(r, "pB", m.PB[:])
		case tagPake2CB:
			haveCB = true
			return readFixed(r, "cB", m.CB[:])
		}
		return nil
	})
	switch {
	case err != nil:
	case !havePB:
		err = missing("pB")
	case !haveCB:
		err = missing("cB")
	}
	if err != nil {
		return fmt.Errorf("Pake2: %w", err)
	}
	return nil
}

// Pake3 carries the commissioner's key confirmation cA.
type Pake3 struct {
	CA [crypto.ConfirmationSize]byte
}

// AppendTo appends the encoded message to dst.
func (m *Pake3) AppendTo(dst []byte) ([]byte, error) {
	w := tlv.NewWriter(dst)
	w.StartStructure(tlv.AnonymousTag())
	w.PutBytes(tlv.ContextTag(tagPake3CA), m.CA[:])
	w.EndContainer()
	return w.Bytes()
}

// Unmarshal decodes the message.
func (m *Pake3) Unmarshal(b []byte) error {
	var have bool
	err := decodeStruct(b, func(r *tlv.Reader, tag uint8) error {
		if tag != tagPake3CA {
			return nil
		}
		have = true
		return readFixed(r, "cA", m.CA[:])
	})
	if err == nil && !have {
		err = missing("cA")
	}
	if err != nil {
		return fmt.Errorf("Pake3: %w", err)
	}
	return nil
}
