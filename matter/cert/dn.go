package cert

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// AttrType identifies a distinguished-name attribute. For the attributes a
// Matter certificate can carry, the value is the TLV context tag of the
// attribute in its UTF8String form (§6.5.6): 1 to 16 for the X.520
// attributes and 17 to 23 for the Matter-specific ones. The PrintableString
// form of an X.520 attribute is the same AttrType with Attribute.Printable
// set; its TLV tag is the AttrType plus 0x80.
type AttrType uint16

// X.520 attributes, with their OIDs (RFC 5280 Appendix A, RFC 4519). Their
// values are strings.
const (
	AttrCommonName             AttrType = 1  // 2.5.4.3
	AttrSurname                AttrType = 2  // 2.5.4.4
	AttrSerialNumber           AttrType = 3  // 2.5.4.5
	AttrCountryName            AttrType = 4  // 2.5.4.6
	AttrLocalityName           AttrType = 5  // 2.5.4.7
	AttrStateOrProvinceName    AttrType = 6  // 2.5.4.8
	AttrOrganizationName       AttrType = 7  // 2.5.4.10
	AttrOrganizationalUnitName AttrType = 8  // 2.5.4.11
	AttrTitle                  AttrType = 9  // 2.5.4.12
	AttrName                   AttrType = 10 // 2.5.4.41
	AttrGivenName              AttrType = 11 // 2.5.4.42
	AttrInitials               AttrType = 12 // 2.5.4.43
	AttrGenerationQualifier    AttrType = 13 // 2.5.4.44
	AttrDNQualifier            AttrType = 14 // 2.5.4.46
	AttrPseudonym              AttrType = 15 // 2.5.4.65
	AttrDomainComponent        AttrType = 16 // 0.9.2342.19200300.100.1.25, always an IA5String in X.509
)

// Matter-specific attributes under the CSA arc 1.3.6.1.4.1.37244 (§6.1.1).
// Their values are unsigned integers, carried in X.509 as UTF8Strings of
// fixed-width uppercase hexadecimal: 16 digits for the 64-bit identifiers,
// 8 for a CASE Authenticated Tag and 4 for a Vendor or Product ID.
const (
	AttrNodeID            AttrType = 17 // matter-node-id, 1.3.6.1.4.1.37244.1.1
	AttrFirmwareSigningID AttrType = 18 // matter-firmware-signing-id, 1.3.6.1.4.1.37244.1.2
	AttrICACID            AttrType = 19 // matter-icac-id, 1.3.6.1.4.1.37244.1.3
	AttrRCACID            AttrType = 20 // matter-rcac-id, 1.3.6.1.4.1.37244.1.4
	AttrFabricID          AttrType = 21 // matter-fabric-id, 1.3.6.1.4.1.37244.1.5
	AttrCAT               AttrType = 22 // matter-noc-cat, 1.3.6.1.4.1.37244.1.6 (32-bit)
	AttrVVSID             AttrType = 23 // matter-vvs-id (vendor verification signer), 1.3.6.1.4.1.37244.1.7

	// The Vendor ID and Product ID attributes of the device attestation
	// PKI (§6.2.2.2). Attestation certificates stay in X.509 form, so these
	// have no TLV tag: a certificate carrying them can be parsed and
	// re-encoded to DER, but not encoded as TLV.
	AttrVendorID  AttrType = 0x101 // 1.3.6.1.4.1.37244.2.1 (16-bit)
	AttrProductID AttrType = 0x102 // 1.3.6.1.4.1.37244.2.2 (16-bit)
)

// attrKind says how an attribute's value is represented.
type attrKind uint8

const (
	kindString attrKind = iota // UTF8String or PrintableString
	kindIA5                    // IA5String (domainComponent)
	kindHex64                  // 16 hex digits
	kindHex32                  // 8 hex digits
	kindHex16                  // 4 hex digits
)

type attrInfo struct {
	oid  string // DER contents of the OBJECT IDENTIFIER
	kind attrKind
	name string // short name for String
}

// matterArc is the DER encoding of 1.3.6.1.4.1.37244, the CSA enterprise arc.
const matterArc = "\x2b\x06\x01\x04\x01\x82\xa2\x7c"

var attrInfos = map[AttrType]attrInfo{
	AttrCommonName:             {"\x55\x04\x03", kindString, "CN"},
	AttrSurname:                {"\x55\x04\x04", kindString, "SN"},
	AttrSerialNumber:           {"\x55\x04\x05", kindString, "serialNumber"},
	AttrCountryName:            {"\x55\x04\x06", kindString, "C"},
	AttrLocalityName:           {"\x55\x04\x07", kindString, "L"},
	AttrStateOrProvinceName:    {"\x55\x04\x08", kindString, "ST"},
	AttrOrganizationName:       {"\x55\x04\x0a", kindString, "O"},
	AttrOrganizationalUnitName: {"\x55\x04\x0b", kindString, "OU"},
	AttrTitle:                  {"\x55\x04\x0c", kindString, "title"},
	AttrName:                   {"\x55\x04\x29", kindString, "name"},
	AttrGivenName:              {"\x55\x04\x2a", kindString, "GN"},
	AttrInitials:               {"\x55\x04\x2b", kindString, "initials"},
	AttrGenerationQualifier:    {"\x55\x04\x2c", kindString, "generationQualifier"},
	AttrDNQualifier:            {"\x55\x04\x2e", kindString, "dnQualifier"},
	AttrPseudonym:              {"\x55\x04\x41", kindString, "pseudonym"},
	AttrDomainComponent:        {"\x09\x92\x26\x89\x93\xf2\x2c\x64\x01\x19", kindIA5, "DC"},
	AttrNodeID:                 {matterArc + "\x01\x01", kindHex64, "matter-node-id"},
	AttrFirmwareSigningID:      {matterArc + "\x01\x02", kindHex64, "matter-firmware-signing-id"},
	AttrICACID:                 {matterArc + "\x01\x03", kindHex64, "matter-icac-id"},
	AttrRCACID:                 {matterArc + "\x01\x04", kindHex64, "matter-rcac-id"},
	AttrFabricID:               {matterArc + "\x01\x05", kindHex64, "matter-fabric-id"},
	AttrCAT:                    {matterArc + "\x01\x06", kindHex32, "matter-noc-cat"},
	AttrVVSID:                  {matterArc + "\x01\x07", kindHex64, "matter-vvs-id"},
	AttrVendorID:               {matterArc + "\x02\x01", kindHex16, "matter-vid"},
	AttrProductID:              {matterArc + "\x02\x02", kindHex16, "matter-pid"},
}

// attrByOID is the inverse of attrInfos.
var attrByOID = func() map[string]AttrType {
	m := make(map[string]AttrType, len(attrInfos))
	for t, info := range attrInfos {
		m[info.oid] = t
	}
	return m
}()

// IsMatter reports whether t is one of the Matter-specific attributes, whose
// values are integers.
func (t AttrType) IsMatter() bool {
	info, ok := attrInfos[t]
	return ok && info.kind >= kindHex64
}

// hasTLVTag reports whether t can appear in a TLV-encoded certificate.
func (t AttrType) hasTLVTag() bool { return t >= AttrCommonName && t <= AttrVVSID }

// String returns the short name of t, such as "CN" or "matter-node-id".
func (t AttrType) String() string {
	if info, ok := attrInfos[t]; ok {
		return info.name
	}
	return "AttrType(" + strconv.Itoa(int(t)) + ")"
}

// Attribute is one attribute of a distinguished name. Matter requires every
// RDN to hold exactly one attribute (§6.5.6), so a DN is a plain list.
type Attribute struct {
	Type AttrType

	// Value is the value of a Matter-specific attribute (Type.IsMatter).
	Value uint64

	// String is the value of an X.520 attribute.
	String string

	// Printable records that an X.520 attribute other than domainComponent
	// is a PrintableString in X.509 rather than a UTF8String. The TLV
	// encoding keeps the distinction (tag | 0x80) because the DER, and so
	// the signature, depends on it.
	Printable bool
}

// check validates the attribute's value against its type.
func (a Attribute) check() error {
	info, ok := attrInfos[a.Type]
	if !ok {
		return fmt.Errorf("unknown DN attribute type %d", a.Type)
	}
	switch info.kind {
	case kindString:
		if a.Value != 0 {
			return fmt.Errorf("%v takes a string value", a.Type)
		}
		if !utf8.ValidString(a.String) {
			return fmt.Errorf("%v value is not valid UTF-8", a.Type)
		}
		if a.Printable && !isPrintable(a.String) {
			return fmt.Errorf("%v value %q is not a PrintableString", a.Type, a.String)
		}
	case kindIA5:
		if a.Printable || a.Value != 0 {
			return fmt.Errorf("%v cannot be a PrintableString", a.Type)
		}
		if !isIA5(a.String) {
			return fmt.Errorf("%v value %q is not an IA5String", a.Type, a.String)
		}
	default:
		if a.Printable || a.String != "" {
			return fmt.Errorf("%v takes an integer value", a.Type)
		}
		if a.Value > maxAttrValue(info.kind) {
			return fmt.Errorf("%v value 0x%X out of range", a.Type, a.Value)
		}
	}
	return nil
}

func maxAttrValue(k attrKind) uint64 {
	switch k {
	case kindHex32:
		return 0xffff_ffff
	case kindHex16:
		return 0xffff
	}
	return 0xffff_ffff_ffff_ffff
}

func hexWidth(k attrKind) int {
	switch k {
	case kindHex64:
		return 16
	case kindHex32:
		return 8
	}
	return 4
}

// isPrintable reports whether s uses only the PrintableString alphabet
// (X.680 §41.4).
func isPrintable(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte(" '()+,-./:=?", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// isIA5 reports whether s is 7-bit ASCII.
func isIA5(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// DN is a distinguished name: the issuer or subject of a certificate. Order
// is significant; it is kept exactly as encoded, since it is part of the DER
// the signature covers.
type DN []Attribute

// Equal reports whether d and o are the same name, attribute by attribute and
// in the same order, including the string type of X.520 attributes. This is
// the comparison chain building needs: a name equal in this sense encodes to
// the same DER.
func (d DN) Equal(o DN) bool {
	if len(d) != len(o) {
		return false
	}
	for i := range d {
		if d[i] != o[i] {
			return false
		}
	}
	return true
}

// find returns the value of the only attribute of type t. It reports false if
// there is none or more than one.
func (d DN) find(t AttrType) (uint64, bool) {
	var v uint64
	n := 0
	for _, a := range d {
		if a.Type == t {
			v = a.Value
			n++
		}
	}
	return v, n == 1
}

// count returns the number of attributes of type t.
func (d DN) count(t AttrType) int {
	n := 0
	for _, a := range d {
		if a.Type == t {
			n++
		}
	}
	return n
}

// NodeID returns the matter-node-id of d. It reports false unless d holds
// exactly one.
func (d DN) NodeID() (uint64, bool) { return d.find(AttrNodeID) }

// FabricID returns the matter-fabric-id of d. It reports false unless d holds
// exactly one.
func (d DN) FabricID() (uint64, bool) { return d.find(AttrFabricID) }

// RCACID returns the matter-rcac-id of d. It reports false unless d holds
// exactly one.
func (d DN) RCACID() (uint64, bool) { return d.find(AttrRCACID) }

// ICACID returns the matter-icac-id of d. It reports false unless d holds
// exactly one.
func (d DN) ICACID() (uint64, bool) { return d.find(AttrICACID) }

// FirmwareSigningID returns the matter-firmware-signing-id of d. It reports
// false unless d holds exactly one.
func (d DN) FirmwareSigningID() (uint64, bool) { return d.find(AttrFirmwareSigningID) }

// VendorID returns the Vendor ID of an attestation certificate name
// (§6.2.2.2). It reports false unless d holds exactly one.
func (d DN) VendorID() (uint16, bool) {
	v, ok := d.find(AttrVendorID)
	return uint16(v), ok
}

// ProductID returns the Product ID of an attestation certificate name
// (§6.2.2.2). It reports false unless d holds exactly one.
func (d DN) ProductID() (uint16, bool) {
	v, ok := d.find(AttrProductID)
	return uint16(v), ok
}

// CATs returns the CASE Authenticated Tags of d in the order they appear.
func (d DN) CATs() []CAT {
	var cats []CAT
	for _, a := range d {
		if a.Type == AttrCAT {
			cats = append(cats, CAT(a.Value))
		}
	}
	return cats
}

// String formats d for diagnostics, for example
// "matter-node-id=DEDEDEDE00010001, matter-fabric-id=FAB000000000001D". X.520
// values are quoted, and marked when they are PrintableStrings.
func (d DN) String() string {
	var b strings.Builder
	for i, a := range d {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(a.Type.String())
		b.WriteByte('=')
		if info, ok := attrInfos[a.Type]; ok && info.kind >= kindHex64 {
			fmt.Fprintf(&b, "%0*X", hexWidth(info.kind), a.Value)
		} else {
			b.WriteString(strconv.Quote(a.String))
			if a.Printable {
				b.WriteString(" (PrintableString)")
			}
		}
	}
	return b.String()
}

func (d DN) check() error {
	if len(d) == 0 {
		return fmt.Errorf("empty distinguished name")
	}
	for _, a := range d {
		if err := a.check(); err != nil {
			return err
		}
	}
	return nil
}

// appendDER writes d as an X.509 Name (RFC 5280 §4.1.2.4): a SEQUENCE of
// single-attribute SETs. d must have been checked.
func (d DN) appendDER(w *derWriter) {
	w.start(tagSequence)
	for _, a := range d {
		info := attrInfos[a.Type]
		w.start(tagSet)
		w.start(tagSequence)
		w.addString(tagOID, info.oid)
		switch info.kind {
		case kindString:
			tag := byte(tagUTF8String)
			if a.Printable {
				tag = tagPrintableString
			}
			w.addString(tag, a.String)
		case kindIA5:
			w.addString(tagIA5String, a.String)
		default:
			var hex [16]byte
			w.add(tagUTF8String, appendUpperHex(hex[:0], a.Value, hexWidth(info.kind)))
		}
		w.end()
		w.end()
	}
	w.end()
}

// parseDNDER parses the contents of an X.509 Name. Anything a Matter
// certificate cannot carry is an error: multi-valued RDNs, attribute types
// other than those of AttrType, string types other than the one the
// attribute allows, and Matter-specific values not in fixed-width uppercase
// hexadecimal.
func parseDNDER(b []byte) (DN, error) {
	r := derReader{b}
	var d DN
	for !r.empty() {
		set, err := r.read(tagSet)
		if err != nil {
			return nil, err
		}
		sr := derReader{set}
		atv, err := sr.read(tagSequence)
		if err != nil {
			return nil, err
		}
		if !sr.empty() {
			return nil, unsupported("multi-valued RDN")
		}
		ar := derReader{atv}
		oid, err := ar.read(tagOID)
		if err != nil {
			return nil, err
		}
		t, ok := attrByOID[string(oid)]
		if !ok {
			return nil, unsupported("DN attribute with OID %x", oid)
		}
		info := attrInfos[t]
		tag := ar.peek()
		val, err := ar.read(tag)
		if err != nil {
			return nil, err
		}
		if !ar.empty() {
			return nil, fmt.Errorf("%w: trailing data in DN attribute", errDER)
		}
		a := Attribute{Type: t}
		switch info.kind {
		case kindString:
			switch tag {
			case tagUTF8String:
			case tagPrintableString:
				a.Printable = true
			default:
				return nil, unsupported("%v encoded with tag 0x%02x", t, tag)
			}
			a.String = string(val)
		case kindIA5:
			if tag != tagIA5String {
				return nil, unsupported("%v encoded with tag 0x%02x", t, tag)
			}
			a.String = string(val)
		default:
			if tag != tagUTF8String {
				return nil, unsupported("%v encoded with tag 0x%02x", t, tag)
			}
			v, ok := parseUpperHex(val, hexWidth(info.kind))
			if !ok {
				return nil, unsupported("%v value %q is not %d uppercase hexadecimal digits",
					t, val, hexWidth(info.kind))
			}
			a.Value = v
		}
		if err := a.check(); err != nil {
			return nil, unsupported("%v", err)
		}
		d = append(d, a)
	}
	return d, nil
}

// appendUpperHex appends v as width uppercase hexadecimal digits.
func appendUpperHex(dst []byte, v uint64, width int) []byte {
	const digits = "0123456789ABCDEF"
	for i := width - 1; i >= 0; i-- {
		dst = append(dst, digits[v>>(4*i)&0xf])
	}
	return dst
}

// parseUpperHex parses exactly width uppercase hexadecimal digits, as §6.1.1
// requires of Matter-specific attribute values.
func parseUpperHex(b []byte, width int) (uint64, bool) {
	if len(b) != width {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		switch {
		case '0' <= c && c <= '9':
			v = v<<4 | uint64(c-'0')
		case 'A' <= c && c <= 'F':
			v = v<<4 | uint64(c-'A'+10)
		default:
			return 0, false
		}
	}
	return v, true
}

// CAT is a CASE Authenticated Tag (§6.6.2.1.2): a 16-bit identifier in the
// upper half and a 16-bit version in the lower half. A NOC carries at most
// MaxCATs of them, in matter-noc-cat subject attributes.
type CAT uint32

// MaxCATs is the largest number of CASE Authenticated Tags a NOC subject may
// carry.
const MaxCATs = 3

// Identifier returns the tag identifier, the upper 16 bits.
func (c CAT) Identifier() uint16 { return uint16(c >> 16) }

// Version returns the tag version, the lower 16 bits.
func (c CAT) Version() uint16 { return uint16(c) }

// Valid reports whether c has a non-zero version, which a CAT must.
func (c CAT) Valid() bool { return c.Version() != 0 }

// String formats c as 8 uppercase hexadecimal digits, as in X.509.
func (c CAT) String() string { return fmt.Sprintf("%08X", uint32(c)) }

// Operational node IDs (§2.5.5.1): the range a NOC's matter-node-id must fall
// in. Values above it are reserved for group, temporary and PAKE node IDs.
const (
	MinOperationalNodeID uint64 = 0x0000_0000_0000_0001
	MaxOperationalNodeID uint64 = 0xFFFF_FFEF_FFFF_FFFF
)

// IsOperationalNodeID reports whether id is in the operational node ID range.
func IsOperationalNodeID(id uint64) bool {
	return id >= MinOperationalNodeID && id <= MaxOperationalNodeID
}
