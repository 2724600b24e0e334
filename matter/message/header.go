package message

import (
	"encoding/binary"
	"fmt"
)

// SessionType is the Session Type field of the Security Flags (§4.4.1.3).
type SessionType uint8

const (
	// SessionUnicast is a unicast session: a secure PASE or CASE session,
	// or the Unsecured Session when the Session ID is 0.
	SessionUnicast SessionType = 0
	// SessionGroup is a group session; the Session ID is a Group Session ID
	// (§4.17.3.6).
	SessionGroup SessionType = 1
)

func (t SessionType) String() string {
	switch t {
	case SessionUnicast:
		return "unicast"
	case SessionGroup:
		return "group"
	}
	return fmt.Sprintf("SessionType(%d)", uint8(t))
}

// DestinationType is the DSIZ field of the Message Flags: the size and
// meaning of the Destination Node ID field (§4.4.1.1).
type DestinationType uint8

const (
	// DestinationNone means no Destination Node ID field.
	DestinationNone DestinationType = 0
	// DestinationNode means a 64-bit Node ID.
	DestinationNode DestinationType = 1
	// DestinationGroup means a 16-bit Group ID.
	DestinationGroup DestinationType = 2
)

func (d DestinationType) String() string {
	switch d {
	case DestinationNone:
		return "none"
	case DestinationNode:
		return "node"
	case DestinationGroup:
		return "group"
	}
	return fmt.Sprintf("DestinationType(%d)", uint8(d))
}

// Header layout constants (§4.4.1).
const (
	// MinHeaderLen is the size of a message header with no optional field:
	// Message Flags, Session ID, Security Flags and Message Counter.
	MinHeaderLen = 8

	// MaxHeaderLen is the size of the largest header without Message
	// Extensions: 8-octet source and 8-octet destination node IDs.
	MaxHeaderLen = MinHeaderLen + 8 + 8

	// MaxExtensionsLen is the largest Message Extensions or Secured
	// Extensions payload: its length field is 16 bits.
	MaxExtensionsLen = 0xFFFF

	// privacyOffset is where the obfuscated part of the header starts:
	// after Message Flags, Session ID and Security Flags (§4.9.3).
	privacyOffset = 4
)

// Message Flags bits (§4.4.1.1).
const (
	msgFlagVersionShift = 4
	msgFlagS            = 1 << 2
	msgFlagDSIZMask     = 0x03
)

// Security Flags bits (§4.4.1.3).
const (
	secFlagP           = 1 << 7
	secFlagC           = 1 << 6
	secFlagMX          = 1 << 5
	secFlagSessionMask = 0x03
)

// Header is a Matter message header (§4.4.1): everything in front of the
// Message Payload. On a secured message it is the AEAD additional data, and
// with the P flag its counter and node IDs are obfuscated (§4.9).
//
// The zero Header is a valid header of the Unsecured Session with counter 0.
// Reserved bits are written as zero and ignored when decoding (§4.4.1.1,
// §4.4.1.3).
type Header struct {
	// SessionID identifies the session, and so the keys, the message is
	// protected with (§4.4.1.2). With SessionUnicast, 0 is the Unsecured
	// Session.
	SessionID uint16

	// SessionType is the Session Type field of the Security Flags.
	SessionType SessionType

	// Privacy is the P flag: the header is obfuscated (§4.9).
	Privacy bool

	// Control is the C flag: a control message (MCSP), which uses the
	// control message counter (§4.4.1.3).
	Control bool

	// Counter is the Message Counter (§4.4.1.4, §4.6).
	Counter uint32

	// HasSource is the S flag; Source is meaningful only when it is set.
	HasSource bool
	// Source is the Source Node ID (§4.4.1.5).
	Source uint64

	// Destination is the DSIZ field; DestinationNode selects DestNode and
	// DestinationGroup selects DestGroup (§4.4.1.6).
	Destination DestinationType
	// DestNode is the 64-bit Destination Node ID.
	DestNode uint64
	// DestGroup is the 16-bit destination Group ID.
	DestGroup uint16

	// Extensions is the Message Extensions payload (§4.4.1.7). The MX flag
	// is set if and only if Extensions is non-nil. Version 1.0 nodes do not
	// send extensions and skip received ones; a decoded Extensions aliases
	// the decoded buffer.
	Extensions []byte
}

// IsUnsecured reports whether h belongs to the Unsecured Session: Session
// Type unicast and Session ID 0 (§4.4.1.3). Such messages carry no MIC.
func (h *Header) IsUnsecured() bool {
	return h.SessionType == SessionUnicast && h.SessionID == 0
}

// MessageFlags returns the Message Flags octet h encodes to.
func (h *Header) MessageFlags() byte {
	f := byte(h.Destination) & msgFlagDSIZMask // version 0 in the high nibble
	if h.HasSource {
		f |= msgFlagS
	}
	return f
}

// SecurityFlags returns the Security Flags octet h encodes to. It is also
// the first octet of the AEAD nonce (§4.8.1.1).
func (h *Header) SecurityFlags() byte {
	f := byte(h.SessionType) & secFlagSessionMask
	if h.Privacy {
		f |= secFlagP
	}
	if h.Control {
		f |= secFlagC
	}
	if h.Extensions != nil {
		f |= secFlagMX
	}
	return f
}

// Len returns the encoded size of h.
func (h *Header) Len() int {
	return MinHeaderLen + h.privacyLen() - 4 + h.extensionsLen()
}

// privacyLen is the size of the fields privacy obfuscates: Message Counter,
// Source Node ID and Destination Node ID (§4.9.3).
func (h *Header) privacyLen() int {
	n := 4
	if h.HasSource {
		n += 8
	}
	switch h.Destination {
	case DestinationNode:
		n += 8
	case DestinationGroup:
		n += 2
	}
	return n
}

func (h *Header) extensionsLen() int {
	if h.Extensions == nil {
		return 0
	}
	return 2 + len(h.Extensions)
}

// Validate reports whether h is a header this package will encode. Beyond
// the field ranges it applies the reception validity checks of §4.7.2, so
// that nothing is sent that a conforming receiver must drop: a group
// message needs a source node ID and a destination; a unicast message
// cannot be addressed to a group; and the Unsecured Session has no privacy.
func (h *Header) Validate() error {
	switch {
	case h.SessionType > SessionGroup:
		return fmt.Errorf("%w: session type %d", ErrReserved, h.SessionType)
	case h.Destination > DestinationGroup:
		return fmt.Errorf("%w: DSIZ %d", ErrReserved, h.Destination)
	case len(h.Extensions) > MaxExtensionsLen:
		return fmt.Errorf("%w: %d octets of message extensions", ErrInvalid, len(h.Extensions))
	}
	return h.checkFlags()
}

// checkFlags applies the validity checks of §4.7.2 that depend only on the
// flags, so they hold whether or not the header is obfuscated.
func (h *Header) checkFlags() error {
	switch h.SessionType {
	case SessionGroup:
		if !h.HasSource {
			return fmt.Errorf("%w: group message without a source node ID", ErrInvalid)
		}
		if h.Destination == DestinationNone {
			return fmt.Errorf("%w: group message without a destination", ErrInvalid)
		}
	case SessionUnicast:
		if h.Destination == DestinationGroup {
			return fmt.Errorf("%w: unicast message addressed to a group", ErrInvalid)
		}
		if h.SessionID == 0 && h.Privacy {
			return fmt.Errorf("%w: privacy flag on the unsecured session", ErrInvalid)
		}
	}
	return nil
}

// Append appends the encoding of h to b. It does not allocate when b has
// room for [Header.Len] more octets.
func (h *Header) Append(b []byte) ([]byte, error) {
	if err := h.Validate(); err != nil {
		return b, err
	}
	b = append(b, h.MessageFlags())
	b = binary.LittleEndian.AppendUint16(b, h.SessionID)
	b = append(b, h.SecurityFlags())
	b = binary.LittleEndian.AppendUint32(b, h.Counter)
	if h.HasSource {
		b = binary.LittleEndian.AppendUint64(b, h.Source)
	}
	switch h.Destination {
	case DestinationNode:
		b = binary.LittleEndian.AppendUint64(b, h.DestNode)
	case DestinationGroup:
		b = binary.LittleEndian.AppendUint16(b, h.DestGroup)
	}
	if h.Extensions != nil {
		b = binary.LittleEndian.AppendUint16(b, uint16(len(h.Extensions)))
		b = append(b, h.Extensions...)
	}
	return b, nil
}

// Decode decodes the message header at the start of b into h and returns
// its length; the Message Payload starts at b[n:]. It rejects what the
// spec requires a receiver to drop (a non-zero version, a reserved DSIZ or
// Session Type, and the flag combinations of §4.7.2) and ignores reserved
// bits. Message Extensions are skipped: h.Extensions aliases b.
//
// Decode reads the wire as it is: on a message with the P flag set, Counter,
// Source, DestNode and DestGroup hold obfuscated values until the header has
// been deobfuscated (see [Open]). The header length depends only on the
// flags, which are never obfuscated.
func (h *Header) Decode(b []byte) (n int, err error) {
	if len(b) < MinHeaderLen {
		return 0, fmt.Errorf("%w: message header needs %d octets, have %d", ErrTruncated, MinHeaderLen, len(b))
	}
	mf, sf := b[0], b[3]
	if v := mf >> msgFlagVersionShift; v != 0 {
		return 0, fmt.Errorf("%w: %d", ErrVersion, v)
	}
	*h = Header{
		SessionID:   binary.LittleEndian.Uint16(b[1:]),
		SessionType: SessionType(sf & secFlagSessionMask),
		Privacy:     sf&secFlagP != 0,
		Control:     sf&secFlagC != 0,
		Counter:     binary.LittleEndian.Uint32(b[4:]),
		HasSource:   mf&msgFlagS != 0,
		Destination: DestinationType(mf & msgFlagDSIZMask),
	}
	if h.Destination > DestinationGroup {
		return 0, fmt.Errorf("%w: DSIZ %d", ErrReserved, h.Destination)
	}
	if h.SessionType > SessionGroup {
		return 0, fmt.Errorf("%w: session type %d", ErrReserved, h.SessionType)
	}
	if err := h.checkFlags(); err != nil {
		return 0, err
	}
	n = MinHeaderLen
	if h.HasSource {
		if len(b) < n+8 {
			return 0, fmt.Errorf("%w: source node ID", ErrTruncated)
		}
		h.Source = binary.LittleEndian.Uint64(b[n:])
		n += 8
	}
	switch h.Destination {
	case DestinationNode:
		if len(b) < n+8 {
			return 0, fmt.Errorf("%w: destination node ID", ErrTruncated)
		}
		h.DestNode = binary.LittleEndian.Uint64(b[n:])
		n += 8
	case DestinationGroup:
		if len(b) < n+2 {
			return 0, fmt.Errorf("%w: destination group ID", ErrTruncated)
		}
		h.DestGroup = binary.LittleEndian.Uint16(b[n:])
		n += 2
	}
	if sf&secFlagMX != 0 {
		if len(b) < n+2 {
			return 0, fmt.Errorf("%w: message extensions length", ErrTruncated)
		}
		l := int(binary.LittleEndian.Uint16(b[n:]))
		n += 2
		if len(b)-n < l {
			return 0, fmt.Errorf("%w: message extensions need %d octets, have %d", ErrTruncated, l, len(b)-n)
		}
		h.Extensions = b[n : n+l : n+l]
		n += l
	}
	return n, nil
}
