package message

import (
	"encoding/binary"
	"fmt"
)

// ProtocolID identifies the protocol of a message within its vendor's
// namespace (§4.4.3.5). The IDs below are the standard ones (vendor 0x0000).
type ProtocolID uint16

// Standard protocol IDs (Core Appendix "Protocol IDs").
const (
	ProtocolSecureChannel             ProtocolID = 0x0000
	ProtocolInteractionModel          ProtocolID = 0x0001
	ProtocolBDX                       ProtocolID = 0x0002
	ProtocolUserDirectedCommissioning ProtocolID = 0x0003
)

func (p ProtocolID) String() string {
	switch p {
	case ProtocolSecureChannel:
		return "SecureChannel"
	case ProtocolInteractionModel:
		return "InteractionModel"
	case ProtocolBDX:
		return "BDX"
	case ProtocolUserDirectedCommissioning:
		return "UserDirectedCommissioning"
	}
	return fmt.Sprintf("ProtocolID(%#04x)", uint16(p))
}

// Protocol header sizes (§4.4.3).
const (
	// MinProtocolHeaderLen is the size of a protocol header with no
	// optional field: Exchange Flags, Protocol Opcode, Exchange ID and
	// Protocol ID.
	MinProtocolHeaderLen = 6

	// MaxProtocolHeaderLen is the size of the largest protocol header
	// without Secured Extensions: with a Protocol Vendor ID and an
	// Acknowledged Message Counter.
	MaxProtocolHeaderLen = MinProtocolHeaderLen + 2 + 4
)

// Exchange Flags bits (§4.4.3.1). Bits 5 to 7 are reserved.
const (
	exFlagI  = 1 << 0
	exFlagA  = 1 << 1
	exFlagR  = 1 << 2
	exFlagSX = 1 << 3
	exFlagV  = 1 << 4
)

// ProtocolHeader is the protocol header that starts the Message Payload
// (§4.4.3). On a secured message it is encrypted.
//
// The zero ProtocolHeader is a valid header (Secure Channel protocol,
// opcode 0, exchange 0, responder, no acknowledgement).
type ProtocolHeader struct {
	// Initiator is the I flag: the sender initiated the exchange.
	Initiator bool
	// Ack is the A flag; AckCounter is present on the wire if and only if
	// it is set (§4.4.3.1, §4.12.1).
	Ack bool
	// Reliable is the R flag: the sender requests an acknowledgement.
	Reliable bool

	// Opcode is the Protocol Opcode (§4.4.3.2).
	Opcode uint8
	// ExchangeID is the Exchange ID (§4.4.3.3).
	ExchangeID uint16
	// VendorID is the Protocol Vendor ID (§4.4.3.4). The V flag is set, and
	// the field sent, if and only if it is non-zero; 0 is the standard
	// (Matter) namespace, which is also what an absent field means.
	VendorID uint16
	// ProtocolID is the Protocol ID (§4.4.3.5).
	ProtocolID ProtocolID
	// AckCounter is the Acknowledged Message Counter (§4.4.3.6).
	AckCounter uint32

	// SecuredExtensions is the Secured Extensions payload (§4.4.3.7). The
	// SX flag is set if and only if it is non-nil. Version 1.0 nodes do not
	// send it and skip it on reception; a decoded value aliases the decoded
	// buffer.
	SecuredExtensions []byte
}

// ExchangeFlags returns the Exchange Flags octet p encodes to.
func (p *ProtocolHeader) ExchangeFlags() byte {
	var f byte
	if p.Initiator {
		f |= exFlagI
	}
	if p.Ack {
		f |= exFlagA
	}
	if p.Reliable {
		f |= exFlagR
	}
	if p.SecuredExtensions != nil {
		f |= exFlagSX
	}
	if p.VendorID != 0 {
		f |= exFlagV
	}
	return f
}

// Len returns the encoded size of p.
func (p *ProtocolHeader) Len() int {
	n := MinProtocolHeaderLen
	if p.VendorID != 0 {
		n += 2
	}
	if p.Ack {
		n += 4
	}
	if p.SecuredExtensions != nil {
		n += 2 + len(p.SecuredExtensions)
	}
	return n
}

// Append appends the encoding of p to b. It does not allocate when b has
// room for [ProtocolHeader.Len] more octets.
func (p *ProtocolHeader) Append(b []byte) ([]byte, error) {
	if len(p.SecuredExtensions) > MaxExtensionsLen {
		return b, fmt.Errorf("%w: %d octets of secured extensions", ErrInvalid, len(p.SecuredExtensions))
	}
	b = append(b, p.ExchangeFlags(), p.Opcode)
	b = binary.LittleEndian.AppendUint16(b, p.ExchangeID)
	if p.VendorID != 0 {
		b = binary.LittleEndian.AppendUint16(b, p.VendorID)
	}
	b = binary.LittleEndian.AppendUint16(b, uint16(p.ProtocolID))
	if p.Ack {
		b = binary.LittleEndian.AppendUint32(b, p.AckCounter)
	}
	if p.SecuredExtensions != nil {
		b = binary.LittleEndian.AppendUint16(b, uint16(len(p.SecuredExtensions)))
		b = append(b, p.SecuredExtensions...)
	}
	return b, nil
}

// Decode decodes the protocol header at the start of b into p and returns
// its length; the application payload is b[n:]. Reserved Exchange Flags
// bits are ignored (§4.4.3.1); Secured Extensions are skipped, and
// p.SecuredExtensions aliases b.
func (p *ProtocolHeader) Decode(b []byte) (n int, err error) {
	if len(b) < MinProtocolHeaderLen {
		return 0, fmt.Errorf("%w: protocol header needs %d octets, have %d", ErrTruncated, MinProtocolHeaderLen, len(b))
	}
	f := b[0]
	*p = ProtocolHeader{
		Initiator:  f&exFlagI != 0,
		Ack:        f&exFlagA != 0,
		Reliable:   f&exFlagR != 0,
		Opcode:     b[1],
		ExchangeID: binary.LittleEndian.Uint16(b[2:]),
	}
	n = 4
	if f&exFlagV != 0 {
		if len(b) < n+4 {
			return 0, fmt.Errorf("%w: protocol vendor ID", ErrTruncated)
		}
		p.VendorID = binary.LittleEndian.Uint16(b[n:])
		n += 2
	}
	p.ProtocolID = ProtocolID(binary.LittleEndian.Uint16(b[n:]))
	n += 2
	if p.Ack {
		if len(b) < n+4 {
			return 0, fmt.Errorf("%w: acknowledged message counter", ErrTruncated)
		}
		p.AckCounter = binary.LittleEndian.Uint32(b[n:])
		n += 4
	}
	if f&exFlagSX != 0 {
		if len(b) < n+2 {
			return 0, fmt.Errorf("%w: secured extensions length", ErrTruncated)
		}
		l := int(binary.LittleEndian.Uint16(b[n:]))
		n += 2
		if len(b)-n < l {
			return 0, fmt.Errorf("%w: secured extensions need %d octets, have %d", ErrTruncated, l, len(b)-n)
		}
		p.SecuredExtensions = b[n : n+l : n+l]
		n += l
	}
	return n, nil
}
