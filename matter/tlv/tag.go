package tlv

import (
	"cmp"
	"encoding/binary"
	"strconv"
)

// TagKind is the form of a tag (Appendix A.2, A.8).
type TagKind uint8

// Tag kinds.
const (
	// TagAnonymous marks an element without a tag (A.2.3).
	TagAnonymous TagKind = iota
	// TagContext is an 8-bit tag whose meaning comes from the enclosing
	// structure or list (A.2.2).
	TagContext
	// TagCommonProfile is a tag from the Matter Common Profile (A.8.3).
	TagCommonProfile
	// TagImplicitProfile is a profile-specific tag whose Vendor ID and profile
	// number are implied by the protocol carrying the encoding (A.8.2).
	TagImplicitProfile
	// TagFullyQualified is a profile-specific tag that carries its Vendor ID
	// and profile number (A.8.1).
	TagFullyQualified
)

// String returns the name of k.
func (k TagKind) String() string {
	switch k {
	case TagAnonymous:
		return "anonymous"
	case TagContext:
		return "context"
	case TagCommonProfile:
		return "common-profile"
	case TagImplicitProfile:
		return "implicit-profile"
	case TagFullyQualified:
		return "fully-qualified"
	}
	return "invalid"
}

// Tag identifies an element within its container. Tags are comparable values,
// so decoders can switch on them:
//
//	switch r.Tag() {
//	case tlv.ContextTag(1):
//
// The zero Tag is the anonymous tag. Tags built by different constructors are
// never equal: a fully-qualified tag for the common profile is not the same Tag
// as the equivalent common-profile tag, and each encodes in its own form.
type Tag struct {
	kind    TagKind
	vendor  uint16
	profile uint16
	num     uint32
}

// AnonymousTag returns the anonymous tag. It is the same as Tag{}.
func AnonymousTag() Tag { return Tag{} }

// ContextTag returns the context-specific tag n.
func ContextTag(n uint8) Tag { return Tag{kind: TagContext, num: uint32(n)} }

// CommonProfileTag returns tag n of the Matter Common Profile.
func CommonProfileTag(n uint32) Tag { return Tag{kind: TagCommonProfile, num: n} }

// ImplicitProfileTag returns tag n of the profile implied by the protocol
// context.
func ImplicitProfileTag(n uint32) Tag { return Tag{kind: TagImplicitProfile, num: n} }

// FullyQualifiedTag returns tag n of the given vendor's profile.
func FullyQualifiedTag(vendorID, profile uint16, n uint32) Tag {
	return Tag{kind: TagFullyQualified, vendor: vendorID, profile: profile, num: n}
}

// Kind returns the form of t.
func (t Tag) Kind() TagKind { return t.kind }

// IsAnonymous reports whether t is the anonymous tag.
func (t Tag) IsAnonymous() bool { return t.kind == TagAnonymous }

// Number returns the tag number, or 0 for the anonymous tag.
func (t Tag) Number() uint32 { return t.num }

// VendorID returns the Vendor ID of a fully-qualified tag, and 0 otherwise.
// The common profile is Vendor ID 0, profile 0.
func (t Tag) VendorID() uint16 { return t.vendor }

// Profile returns the profile number of a fully-qualified tag, and 0
// otherwise.
func (t Tag) Profile() uint16 { return t.profile }

// String describes t for error messages and logs, for example "context 1" or
// "fully-qualified 0xFFF1:0xDEED:1".
func (t Tag) String() string {
	switch t.kind {
	case TagAnonymous:
		return "anonymous"
	case TagFullyQualified:
		b := []byte("fully-qualified 0x")
		b = appendHex16(b, t.vendor)
		b = append(b, ":0x"...)
		b = appendHex16(b, t.profile)
		b = append(b, ':')
		return string(strconv.AppendUint(b, uint64(t.num), 10))
	}
	return t.kind.String() + " " + strconv.FormatUint(uint64(t.num), 10)
}

func appendHex16(b []byte, v uint16) []byte {
	const digits = "0123456789ABCDEF"
	return append(b, digits[v>>12], digits[v>>8&0xf], digits[v>>4&0xf], digits[v&0xf])
}

// Compare orders tags by the canonical ordering of Appendix A.2.4 and returns
// -1, 0 or +1. Anonymous tags come first, then context-specific tags by number,
// then profile-specific tags by Vendor ID, profile number and tag number. A
// common-profile tag sorts as Vendor ID 0, profile 0.
//
// A.2.4 does not place implicit-profile tags, because their profile is known
// only from context. Compare puts them after all other tags, ordered by number.
// Compare returns 0 for a common-profile tag and the fully-qualified tag that
// names the same profile tag.
func (t Tag) Compare(u Tag) int {
	if c := cmp.Compare(t.rank(), u.rank()); c != 0 {
		return c
	}
	if c := cmp.Compare(t.vendor, u.vendor); c != 0 {
		return c
	}
	if c := cmp.Compare(t.profile, u.profile); c != 0 {
		return c
	}
	return cmp.Compare(t.num, u.num)
}

func (t Tag) rank() int {
	switch t.kind {
	case TagAnonymous:
		return 0
	case TagContext:
		return 1
	case TagImplicitProfile:
		return 3
	}
	return 2
}

// Tag control field values (the high three bits of the control octet),
// Appendix A.7.2.
const (
	tcAnonymous = 0 // no tag octets
	tcContext   = 1 // 1 octet
	tcCommon2   = 2 // 2-octet tag number
	tcCommon4   = 3 // 4-octet tag number
	tcImplicit2 = 4 // 2-octet tag number
	tcImplicit4 = 5 // 4-octet tag number
	tcFull6     = 6 // Vendor ID, profile, 2-octet tag number
	tcFull8     = 7 // Vendor ID, profile, 4-octet tag number
)

// tagSize is the number of tag octets for each tag control value (A.8).
var tagSize = [8]int{0, 1, 2, 4, 2, 4, 6, 8}

// appendHeader appends the control octet for element type et and tag t, then
// the tag octets. Each tag number is written in the shortest form that holds
// it. A.8.1 requires this for fully-qualified tags, and this package does the
// same for common and implicit profile tags so that output is canonical. All
// tag fields are little-endian (A.8).
func appendHeader(b []byte, et byte, t Tag) []byte {
	small := t.num <= 0xffff
	switch t.kind {
	case TagContext:
		return append(b, tcContext<<5|et, byte(t.num))
	case TagCommonProfile:
		if small {
			return binary.LittleEndian.AppendUint16(append(b, tcCommon2<<5|et), uint16(t.num))
		}
		return binary.LittleEndian.AppendUint32(append(b, tcCommon4<<5|et), t.num)
	case TagImplicitProfile:
		if small {
			return binary.LittleEndian.AppendUint16(append(b, tcImplicit2<<5|et), uint16(t.num))
		}
		return binary.LittleEndian.AppendUint32(append(b, tcImplicit4<<5|et), t.num)
	case TagFullyQualified:
		tc := byte(tcFull6)
		if !small {
			tc = tcFull8
		}
		b = append(b, tc<<5|et)
		b = binary.LittleEndian.AppendUint16(b, t.vendor)
		b = binary.LittleEndian.AppendUint16(b, t.profile)
		if small {
			return binary.LittleEndian.AppendUint16(b, uint16(t.num))
		}
		return binary.LittleEndian.AppendUint32(b, t.num)
	}
	return append(b, et)
}

// parseTag decodes the tag octets p for tag control tc. The caller has checked
// that len(p) >= tagSize[tc]. Readers accept the 4-octet forms even when the
// number would fit in 2 octets. The width does not change which tag is meant.
func parseTag(tc byte, p []byte) Tag {
	le := binary.LittleEndian
	switch tc {
	case tcContext:
		return ContextTag(p[0])
	case tcCommon2:
		return CommonProfileTag(uint32(le.Uint16(p)))
	case tcCommon4:
		return CommonProfileTag(le.Uint32(p))
	case tcImplicit2:
		return ImplicitProfileTag(uint32(le.Uint16(p)))
	case tcImplicit4:
		return ImplicitProfileTag(le.Uint32(p))
	case tcFull6:
		return FullyQualifiedTag(le.Uint16(p), le.Uint16(p[2:]), uint32(le.Uint16(p[4:])))
	case tcFull8:
		return FullyQualifiedTag(le.Uint16(p), le.Uint16(p[2:]), le.Uint32(p[4:]))
	}
	return Tag{}
}

// allowedIn reports whether an element tagged t may appear directly inside a
// container of element type parent. Structure members need a tag (A.5.1) and
// array members must be anonymous (A.5.2). Lists accept any tag (A.5.3). Top
// level accepts any tag too, so that elements cut out of a larger encoding can
// be parsed or written on their own.
func allowedIn(parent byte, t Tag) bool {
	switch parent {
	case etStruct:
		return t.kind != TagAnonymous
	case etArray:
		return t.kind == TagAnonymous
	}
	return true
}

func containerName(et byte) string {
	switch et {
	case etStruct:
		return "structure"
	case etArray:
		return "array"
	}
	return "list"
}
