package securechannel

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/mattercam/mattercam/matter/session"
	"github.com/mattercam/mattercam/matter/tlv"
)

// maxMessageDepth bounds container nesting in secure-channel messages: the
// deepest is a message structure holding the session-parameter structure.
// One more level is allowed for unknown future members.
const maxMessageDepth = 3

// decodeStruct decodes b, which must be exactly one anonymous structure
// (every secure-channel message and signed or encrypted blob is one: "with
// an anonymous tag for the outermost struct", §4.14). It calls member for
// each member with a context tag, with r positioned on it. A context tag
// seen twice is an error. Members with other tags, and context tags member
// does not know, are skipped: the spec lets later versions add fields.
func decodeStruct(b []byte, member func(r *tlv.Reader, tag uint8) error) error {
	r := tlv.NewReader(b)
	r.MaxDepth = maxMessageDepth
	if err := r.Next(); err != nil {
		return malformed(err)
	}
	if r.Type() != tlv.TypeStructure || !r.Tag().IsAnonymous() {
		return fmt.Errorf("%w: not an anonymous structure", ErrMalformed)
	}
	if err := r.Enter(); err != nil {
		return malformed(err)
	}
	var seen [4]uint64 // 256 context tags
	for {
		err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return malformed(err)
		}
		tag := r.Tag()
		if tag.Kind() != tlv.TagContext {
			continue
		}
		n := uint8(tag.Number())
		if seen[n/64]&(1<<(n%64)) != 0 {
			return fmt.Errorf("%w: field %d repeated", ErrMalformed, n)
		}
		seen[n/64] |= 1 << (n % 64)
		if err := member(r, n); err != nil {
			return err
		}
	}
	if err := r.Exit(); err != nil {
		return malformed(err)
	}
	if err := r.Next(); !errors.Is(err, io.EOF) {
		if err == nil {
			return fmt.Errorf("%w: data after the message structure", ErrMalformed)
		}
		return malformed(err)
	}
	return nil
}

func malformed(err error) error { return fmt.Errorf("%w: %w", ErrMalformed, err) }

// fieldError wraps a field's decoding error with its name.
func fieldError(name string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, ErrMalformed) {
		return fmt.Errorf("%s: %w", name, err)
	}
	return fmt.Errorf("%w: %s: %w", ErrMalformed, name, err)
}

// readFixed copies an octet string of exactly len(dst) octets into dst.
func readFixed(r *tlv.Reader, name string, dst []byte) error {
	b, err := r.Bytes()
	if err != nil {
		return fieldError(name, err)
	}
	if len(b) != len(dst) {
		return fmt.Errorf("%w: %s is %d octets, want %d", ErrMalformed, name, len(b), len(dst))
	}
	copy(dst, b)
	return nil
}

// readBounded returns an octet string of min to max octets, aliasing the
// input.
func readBounded(r *tlv.Reader, name string, minLen, maxLen int) ([]byte, error) {
	b, err := r.Bytes()
	if err != nil {
		return nil, fieldError(name, err)
	}
	if len(b) < minLen || len(b) > maxLen {
		return nil, fmt.Errorf("%w: %s is %d octets, want %d to %d", ErrMalformed, name, len(b), minLen, maxLen)
	}
	return b, nil
}

// missing reports a required field not seen.
func missing(name string) error {
	return fmt.Errorf("%w: %s missing", ErrMalformed, name)
}

// field names a message field for required.
type field struct {
	tag  uint8
	name string
}

// required reports the first of fields whose bit is not set in have.
func required(have uint16, fields ...field) error {
	for _, f := range fields {
		if have&(1<<f.tag) == 0 {
			return missing(f.name)
		}
	}
	return nil
}

// Session parameters (§4.12.8, "Session Parameters"): a structure of
// optional fields carried by PBKDFParamRequest and PBKDFParamResponse, Sigma1,
// Sigma2 and Sigma2_Resume. The tags are defined by package session.

// putParams writes p as a session-parameter structure under tag, omitting the
// fields that are zero (absent).
func putParams(w *tlv.Writer, tag tlv.Tag, p *session.Params) {
	w.StartStructure(tag)
	if p.IdleInterval > 0 {
		w.PutUint(tlv.ContextTag(session.TagSessionIdleInterval), uint64(p.IdleInterval/time.Millisecond))
	}
	if p.ActiveInterval > 0 {
		w.PutUint(tlv.ContextTag(session.TagSessionActiveInterval), uint64(p.ActiveInterval/time.Millisecond))
	}
	if p.ActiveThreshold > 0 {
		w.PutUint(tlv.ContextTag(session.TagSessionActiveThreshold), uint64(p.ActiveThreshold/time.Millisecond))
	}
	if p.DataModelRevision != 0 {
		w.PutUint(tlv.ContextTag(session.TagDataModelRevision), uint64(p.DataModelRevision))
	}
	if p.InteractionModelRevision != 0 {
		w.PutUint(tlv.ContextTag(session.TagInteractionModelRevision), uint64(p.InteractionModelRevision))
	}
	if p.SpecificationVersion != 0 {
		w.PutUint(tlv.ContextTag(session.TagSpecificationVersion), uint64(p.SpecificationVersion))
	}
	if p.MaxPathsPerInvoke != 0 {
		w.PutUint(tlv.ContextTag(session.TagMaxPathsPerInvoke), uint64(p.MaxPathsPerInvoke))
	}
	if p.SupportedTransports != 0 {
		w.PutUint(tlv.ContextTag(session.TagSupportedTransports), uint64(p.SupportedTransports))
	}
	if p.MaxTCPMessageSize != 0 {
		w.PutUint(tlv.ContextTag(session.TagMaxTCPMessageSize), uint64(p.MaxTCPMessageSize))
	}
	w.EndContainer()
}

// readParams decodes the session-parameter structure r is positioned on.
// Unknown fields are skipped; values out of the spec's range (intervals
// over an hour) are errors.
func readParams(r *tlv.Reader) (session.Params, error) {
	var p session.Params
	if r.Type() != tlv.TypeStructure {
		return p, fmt.Errorf("%w: session parameters are not a structure", ErrMalformed)
	}
	if err := r.Enter(); err != nil {
		return p, malformed(err)
	}
	var seen uint16
	for {
		err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return p, malformed(err)
		}
		tag := r.Tag()
		if tag.Kind() != tlv.TagContext || tag.Number() > session.TagMaxTCPMessageSize {
			continue
		}
		n := tag.Number()
		if seen&(1<<n) != 0 {
			return p, fmt.Errorf("%w: session parameter %d repeated", ErrMalformed, n)
		}
		seen |= 1 << n
		var v uint64
		switch n {
		case session.TagSessionIdleInterval, session.TagSessionActiveInterval,
			session.TagSpecificationVersion, session.TagMaxTCPMessageSize:
			var v32 uint32
			v32, err = r.Uint32()
			v = uint64(v32)
		case session.TagSessionActiveThreshold, session.TagDataModelRevision, session.TagInteractionModelRevision,
			session.TagMaxPathsPerInvoke, session.TagSupportedTransports:
			var v16 uint16
			v16, err = r.Uint16()
			v = uint64(v16)
		default:
			continue
		}
		if err != nil {
			return p, fieldError(fmt.Sprintf("session parameter %d", n), err)
		}
		switch n {
		case session.TagSessionIdleInterval:
			p.IdleInterval = time.Duration(v) * time.Millisecond
		case session.TagSessionActiveInterval:
			p.ActiveInterval = time.Duration(v) * time.Millisecond
		case session.TagSessionActiveThreshold:
			p.ActiveThreshold = time.Duration(v) * time.Millisecond
		case session.TagDataModelRevision:
			p.DataModelRevision = uint16(v)
		case session.TagInteractionModelRevision:
			p.InteractionModelRevision = uint16(v)
		case session.TagSpecificationVersion:
			p.SpecificationVersion = uint32(v)
		case session.TagMaxPathsPerInvoke:
			p.MaxPathsPerInvoke = uint16(v)
		case session.TagSupportedTransports:
			p.SupportedTransports = session.Transports(v)
		case session.TagMaxTCPMessageSize:
			p.MaxTCPMessageSize = uint32(v)
		}
	}
	if err := r.Exit(); err != nil {
		return p, malformed(err)
	}
	if err := p.Validate(); err != nil {
		return p, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return p, nil
}
