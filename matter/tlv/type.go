package tlv

// Type is the kind of value an element holds. It abstracts over the element
// type field of the control octet (Appendix A.7.1). Integer and string widths
// are an encoding detail the Reader hides, so Type does not record them. Float
// precision is kept, because a float32 and a float64 are different values.
//
// The zero Type means "no element".
type Type uint8

// Element types.
const (
	TypeInt       Type = iota + 1 // signed integer
	TypeUint                      // unsigned integer
	TypeBool                      // boolean
	TypeFloat32                   // IEEE 754 single precision
	TypeFloat64                   // IEEE 754 double precision
	TypeString                    // UTF-8 string
	TypeBytes                     // octet string
	TypeNull                      // null
	TypeStructure                 // structure container
	TypeArray                     // array container
	TypeList                      // list container
)

var typeNames = [...]string{
	0:             "none",
	TypeInt:       "signed integer",
	TypeUint:      "unsigned integer",
	TypeBool:      "boolean",
	TypeFloat32:   "float32",
	TypeFloat64:   "float64",
	TypeString:    "UTF-8 string",
	TypeBytes:     "octet string",
	TypeNull:      "null",
	TypeStructure: "structure",
	TypeArray:     "array",
	TypeList:      "list",
}

// String returns a human-readable name for t.
func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return "invalid"
}

// IsContainer reports whether t is a structure, array or list.
func (t Type) IsContainer() bool {
	return t == TypeStructure || t == TypeArray || t == TypeList
}

// Element type field values (the low five bits of the control octet), Appendix
// A.7.1. For integers the low two bits give the value width, and for strings
// the width of the length field: 1, 2, 4 or 8 octets. 0x19-0x1F are reserved.
const (
	etInt8     byte = 0x00
	etInt64    byte = 0x03
	etUint8    byte = 0x04
	etUint64   byte = 0x07
	etFalse    byte = 0x08
	etTrue     byte = 0x09
	etFloat32  byte = 0x0a
	etFloat64  byte = 0x0b
	etUTF8     byte = 0x0c // 0x0c-0x0f
	etBytes    byte = 0x10 // 0x10-0x13
	etNull     byte = 0x14
	etStruct   byte = 0x15
	etArray    byte = 0x16
	etList     byte = 0x17
	etEnd      byte = 0x18
	etReserved byte = 0x19 // first reserved value

	etMask byte = 0x1f
)

// parentNone is the container type recorded for top-level elements. It lies
// outside the 5-bit element type space.
const parentNone byte = 0xff

// typeOf maps an element type field value to its Type. et must not be reserved
// or end-of-container.
func typeOf(et byte) Type {
	switch {
	case et <= etInt64:
		return TypeInt
	case et <= etUint64:
		return TypeUint
	case et == etFalse, et == etTrue:
		return TypeBool
	case et == etFloat32:
		return TypeFloat32
	case et == etFloat64:
		return TypeFloat64
	case et < etBytes:
		return TypeString
	case et < etNull:
		return TypeBytes
	case et == etNull:
		return TypeNull
	case et == etStruct:
		return TypeStructure
	case et == etArray:
		return TypeArray
	case et == etList:
		return TypeList
	}
	return 0
}

func isContainer(et byte) bool { return et >= etStruct && et <= etList }

// widthOf decodes the two width bits used by integers and string lengths:
// 00, 01, 10 and 11 select 1, 2, 4 and 8 octets (A.7.1).
func widthOf(et byte) int { return 1 << (et & 3) }
