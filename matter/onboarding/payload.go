package onboarding

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/mattercam/mattercam/matter/crypto"
	"github.com/mattercam/mattercam/matter/onboarding/qrcode"
	"github.com/mattercam/mattercam/matter/tlv"
)

// CommissioningFlow tells a commissioner how the device enters
// commissioning mode (§5.1.3.1, "Custom Flow").
type CommissioningFlow uint8

const (
	// FlowStandard: the device is commissionable when powered up
	// uncommissioned.
	FlowStandard CommissioningFlow = 0
	// FlowUserIntent: the user must act on the device first, for example
	// press a button.
	FlowUserIntent CommissioningFlow = 1
	// FlowCustom: the commissioner must look up the steps for this Vendor
	// and Product ID (in the DCL) first.
	FlowCustom CommissioningFlow = 2
)

// DiscoveryCapabilities is the bitmask of transports on which an
// uncommissioned device can be discovered (§5.1.3.1, "Discovery
// Capabilities Bitmask").
type DiscoveryCapabilities uint8

// Discovery capability bits. Bits 3 and 4 are defined by later
// specification versions (1.4 and 1.5); unknown bits are carried through.
const (
	SoftAP    DiscoveryCapabilities = 1 << 0 // Wi-Fi soft access point
	BLE       DiscoveryCapabilities = 1 << 1 // Bluetooth Low Energy
	OnNetwork DiscoveryCapabilities = 1 << 2 // already on the IP network
	WiFiPAF   DiscoveryCapabilities = 1 << 3 // Wi-Fi Public Action Frame
	NFC       DiscoveryCapabilities = 1 << 4 // NFC transport layer
)

// Field limits of §5.1.1 and §5.1.3.
const (
	// MaxDiscriminator is the largest 12-bit discriminator (§5.1.1).
	MaxDiscriminator = 0xFFF
	// MaxQRLength is the longest single QR code payload, "MT:" included
	// (§5.1.3.2).
	MaxQRLength = 255
	// QRPrefix starts every QR code payload (§5.1.3).
	QRPrefix = "MT:"
)

// Errors returned by this package wrap one of these, so callers can
// classify a failure with errors.Is while the message keeps the detail.
var (
	// ErrMalformed reports a QR code payload or manual pairing code that is
	// not well formed: a wrong prefix, length or character, a failed check
	// digit, non-zero padding, bad TLV data.
	ErrMalformed = errors.New("onboarding: malformed payload")
	// ErrUnsupported reports a well-formed payload of a version or
	// commissioning flow this package does not know.
	ErrUnsupported = errors.New("onboarding: unsupported payload")
	// ErrInvalidPasscode reports a passcode outside 1 to 99999998 or one of
	// the trivial values §5.1.7.1 forbids.
	ErrInvalidPasscode = errors.New("onboarding: invalid passcode")
	// ErrInvalidDiscriminator reports a discriminator above 4095, or a
	// short (4-bit) discriminator where the full 12 bits are needed.
	ErrInvalidDiscriminator = errors.New("onboarding: invalid discriminator")
)

// Payload is the content of an onboarding payload (§5.1.1).
type Payload struct {
	// Version is the payload format version; 0 is the only one defined.
	Version uint8
	// VendorID and ProductID identify the product (§5.1.1).
	VendorID, ProductID uint16
	// CommissioningFlow is how the device becomes commissionable.
	CommissioningFlow CommissioningFlow
	// DiscoveryCapabilities are the discovery transports, in a QR code.
	// A manual pairing code does not carry them.
	DiscoveryCapabilities DiscoveryCapabilities
	// Discriminator is the 12-bit discriminator (§5.1.1). When
	// ShortDiscriminator is set, only bits 11-8 are known (the lower bits
	// are zero), as after ParseManualCode.
	Discriminator uint16
	// ShortDiscriminator marks a Discriminator of which only the upper 4
	// bits are known. Such a payload has no QR code form.
	ShortDiscriminator bool
	// Passcode is the setup passcode, 1 to 99999998 (§5.1.1.6).
	Passcode uint32
	// TLV is the optional TLV data of a QR code (§5.1.3.1): one anonymous
	// structure whose members have context tags (0x00-0x04 defined by the
	// specification, serial number first; 0x80-0xFF manufacturer-specific).
	// Empty means none.
	TLV []byte
}

// ShortDiscriminatorValue returns the upper 4 bits of the discriminator,
// the part a manual pairing code carries and DNS-SD browsing can filter on
// (the _S subtype of commissionable node discovery, §4.3.1).
func (p Payload) ShortDiscriminatorValue() uint8 { return uint8(p.Discriminator>>8) & 0xF }

// validate checks the fields both encodings share.
func (p Payload) validate() error {
	if p.Version != 0 {
		return fmt.Errorf("%w: version %d", ErrUnsupported, p.Version)
	}
	if p.CommissioningFlow > FlowCustom {
		return fmt.Errorf("%w: commissioning flow %d", ErrUnsupported, p.CommissioningFlow)
	}
	if p.Discriminator > MaxDiscriminator {
		return fmt.Errorf("%w: %d exceeds %d", ErrInvalidDiscriminator, p.Discriminator, MaxDiscriminator)
	}
	if !crypto.ValidPasscode(p.Passcode) {
		return fmt.Errorf("%w: %d", ErrInvalidPasscode, p.Passcode)
	}
	return nil
}

// Bit layout of the packed QR code data (§5.1.3.1): fields from the least
// significant bit of the first octet upwards.
const (
	qrVersionBits       = 3
	qrVendorIDBits      = 16
	qrProductIDBits     = 16
	qrFlowBits          = 2
	qrDiscoveryBits     = 8
	qrDiscriminatorBits = 12
	qrPasscodeBits      = 27
	qrPaddingBits       = 4
	// qrPackedSize is the packed fields in octets: 88 bits.
	qrPackedSize = (qrVersionBits + qrVendorIDBits + qrProductIDBits + qrFlowBits + qrDiscoveryBits +
		qrDiscriminatorBits + qrPasscodeBits + qrPaddingBits) / 8
)

// bitPacker writes and reads little-endian bit fields, least significant
// bit first, in the packed QR code data.
type bitPacker struct {
	b   []byte
	pos int
}

func (p *bitPacker) put(v uint32, n int) {
	for i := range n {
		if v>>uint(i)&1 != 0 {
			p.b[(p.pos+i)/8] |= 1 << uint((p.pos+i)%8)
		}
	}
	p.pos += n
}

func (p *bitPacker) get(n int) uint32 {
	var v uint32
	for i := range n {
		v |= uint32(p.b[(p.pos+i)/8]>>uint((p.pos+i)%8)&1) << uint(i)
	}
	p.pos += n
	return v
}

// QR returns the QR code payload of p, "MT:" and base-38 text (§5.1.3). It
// fails for an invalid passcode, a discriminator above 4095 or a short one,
// a version other than 0, an unknown commissioning flow, TLV data that is
// not one anonymous structure of context-tagged members, or a result
// longer than MaxQRLength.
func (p Payload) QR() (string, error) {
	if err := p.validate(); err != nil {
		return "", err
	}
	if p.ShortDiscriminator {
		return "", fmt.Errorf("%w: a QR code needs the full 12-bit discriminator", ErrInvalidDiscriminator)
	}
	if len(p.TLV) > 0 {
		if err := checkTLV(p.TLV); err != nil {
			return "", err
		}
	}
	data := make([]byte, qrPackedSize, qrPackedSize+len(p.TLV))
	w := bitPacker{b: data}
	w.put(uint32(p.Version), qrVersionBits)
	w.put(uint32(p.VendorID), qrVendorIDBits)
	w.put(uint32(p.ProductID), qrProductIDBits)
	w.put(uint32(p.CommissioningFlow), qrFlowBits)
	w.put(uint32(p.DiscoveryCapabilities), qrDiscoveryBits)
	w.put(uint32(p.Discriminator), qrDiscriminatorBits)
	w.put(p.Passcode, qrPasscodeBits)
	data = append(data, p.TLV...)
	s := string(appendBase38([]byte(QRPrefix), data))
	if len(s) > MaxQRLength {
		return "", fmt.Errorf("%w: QR code payload of %d characters exceeds %d", ErrMalformed, len(s), MaxQRLength)
	}
	return s, nil
}

// ParseQR parses a QR code payload (§5.1.3). The prefix "MT:" is
// required. Besides malformed text it rejects what QR refuses to produce:
// version other than 0, the reserved commissioning flow 3, non-zero
// padding, an invalid passcode and malformed TLV data. Unknown discovery
// capability bits are kept. Several payloads joined by '*' (§5.1.3.1) are
// rejected; split them first.
func ParseQR(s string) (Payload, error) {
	var p Payload
	if len(s) > MaxQRLength {
		return p, fmt.Errorf("%w: %d characters exceed %d", ErrMalformed, len(s), MaxQRLength)
	}
	rest, ok := strings.CutPrefix(s, QRPrefix)
	if !ok {
		return p, fmt.Errorf("%w: missing %q prefix", ErrMalformed, QRPrefix)
	}
	if strings.IndexByte(rest, '*') >= 0 {
		return p, fmt.Errorf("%w: concatenated payloads", ErrUnsupported)
	}
	data, err := decodeBase38(rest)
	if err != nil {
		return p, err
	}
	if len(data) < qrPackedSize {
		return p, fmt.Errorf("%w: %d octets of packed data, want at least %d", ErrMalformed, len(data), qrPackedSize)
	}
	r := bitPacker{b: data}
	p.Version = uint8(r.get(qrVersionBits))
	p.VendorID = uint16(r.get(qrVendorIDBits))
	p.ProductID = uint16(r.get(qrProductIDBits))
	p.CommissioningFlow = CommissioningFlow(r.get(qrFlowBits))
	p.DiscoveryCapabilities = DiscoveryCapabilities(r.get(qrDiscoveryBits))
	p.Discriminator = uint16(r.get(qrDiscriminatorBits))
	p.Passcode = r.get(qrPasscodeBits)
	if pad := r.get(qrPaddingBits); pad != 0 {
		return Payload{}, fmt.Errorf("%w: padding bits %04b are not zero", ErrMalformed, pad)
	}
	if err := p.validate(); err != nil {
		return Payload{}, err
	}
	if tail := data[qrPackedSize:]; len(tail) > 0 {
		if err := checkTLV(tail); err != nil {
			return Payload{}, err
		}
		p.TLV = tail
	}
	return p, nil
}

// checkTLV checks that b is exactly one anonymous TLV structure whose
// members carry context tags, as the optional data of §5.1.3.1 must be.
func checkTLV(b []byte) error {
	r := tlv.NewReader(b)
	if err := r.Next(); err != nil {
		return fmt.Errorf("%w: TLV data: %w", ErrMalformed, eofIsMalformed(err))
	}
	if r.Type() != tlv.TypeStructure || !r.Tag().IsAnonymous() {
		return fmt.Errorf("%w: TLV data is a %s with %s, want an anonymous structure", ErrMalformed, r.Type(), r.Tag())
	}
	if err := r.Enter(); err != nil {
		return fmt.Errorf("%w: TLV data: %w", ErrMalformed, err)
	}
	for {
		err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("%w: TLV data: %w", ErrMalformed, err)
		}
		if r.Tag().Kind() != tlv.TagContext {
			return fmt.Errorf("%w: TLV member with %s, want a context tag", ErrMalformed, r.Tag())
		}
	}
	if err := r.Exit(); err != nil {
		return fmt.Errorf("%w: TLV data: %w", ErrMalformed, err)
	}
	if err := r.Next(); err != io.EOF {
		return fmt.Errorf("%w: TLV data continues after the structure", ErrMalformed)
	}
	return nil
}

func eofIsMalformed(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// QRCode returns the QR Code symbol of p's QR code payload, at error
// correction level M.
func (p Payload) QRCode() (*qrcode.Code, error) {
	s, err := p.QR()
	if err != nil {
		return nil, err
	}
	c, err := qrcode.Encode(s, qrcode.M)
	if err != nil {
		return nil, fmt.Errorf("onboarding: %w", err)
	}
	return c, nil
}

// Banner returns what a device prints at start-up so that it can be
// commissioned: the QR code drawn with half-block characters for a terminal
// with a dark background, the manual pairing code and the QR code payload,
// each line ending in "\n".
func (p Payload) Banner() (string, error) {
	code, err := p.QRCode()
	if err != nil {
		return "", err
	}
	manual, err := p.ManualCode()
	if err != nil {
		return "", err
	}
	qr, _ := p.QR() // QRCode succeeded, so QR does
	var sb strings.Builder
	sb.WriteString(code.Text(qrcode.QuietZone, true))
	fmt.Fprintf(&sb, "Manual pairing code: %s\n", FormatManualCode(manual))
	fmt.Fprintf(&sb, "QR code payload:     %s\n", qr)
	return sb.String(), nil
}
