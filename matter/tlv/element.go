package tlv

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"strconv"
)

// Element is a decoded element and, for containers, its members: the tree form
// of an encoding. Which value field applies depends on Type:
//
//	TypeInt                             Int
//	TypeUint                            Uint
//	TypeBool                            Bool
//	TypeFloat32, TypeFloat64            Float (a float32 is stored widened)
//	TypeString, TypeBytes               Bytes (UTF-8 contents or octets)
//	TypeStructure, TypeArray, TypeList  Members
//
// Fields that do not apply are ignored by Equal, Encode and String.
type Element struct {
	Tag     Tag
	Type    Type
	Int     int64
	Uint    uint64
	Bool    bool
	Float   float64
	Bytes   []byte
	Members []Element
}

// Decode parses b, which must hold exactly one top-level element and nothing
// after it (Appendix A.1), into a tree. It applies the same checks as a Reader
// with the default MaxDepth. String and octet string contents alias b.
//
// Decode allocates for every element. It is meant for tests, tools and
// diagnostics. Protocol code should use a Reader.
func Decode(b []byte) (Element, error) {
	r := NewReader(b)
	if err := r.Next(); err != nil {
		if err == io.EOF {
			err = fmt.Errorf("tlv: no element in input: %w", ErrTruncated)
		}
		return Element{}, err
	}
	e, err := decodeElement(r)
	if err != nil {
		return Element{}, err
	}
	switch err := r.Next(); err {
	case io.EOF:
		return e, nil
	case nil:
		return Element{}, fmt.Errorf("tlv: data after the top-level element at offset %d: %w", r.cur.start, ErrInvalid)
	default:
		return Element{}, err
	}
}

// decodeElement builds the tree for the current element of r. Recursion is
// bounded by r's MaxDepth, which Enter enforces.
func decodeElement(r *Reader) (Element, error) {
	h := r.cur
	e := Element{Tag: h.tag, Type: typeOf(h.et)}
	switch e.Type {
	case TypeInt:
		e.Int = int64(h.u)
	case TypeUint:
		e.Uint = h.u
	case TypeBool:
		e.Bool = h.et == etTrue
	case TypeFloat32:
		e.Float = float64(math.Float32frombits(uint32(h.u)))
	case TypeFloat64:
		e.Float = math.Float64frombits(h.u)
	case TypeString, TypeBytes:
		e.Bytes = r.buf[h.val:h.end:h.end]
	case TypeStructure, TypeArray, TypeList:
		if err := r.Enter(); err != nil {
			return Element{}, err
		}
		for {
			err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return Element{}, err
			}
			m, err := decodeElement(r)
			if err != nil {
				return Element{}, err
			}
			e.Members = append(e.Members, m)
		}
		if err := r.Exit(); err != nil {
			return Element{}, err
		}
	}
	return e, nil
}

// Encode returns the canonical encoding of e.
func (e Element) Encode() ([]byte, error) {
	var w Writer
	w.PutElement(e)
	return w.Bytes()
}

// PutElement writes the tree e. Tag placement and UTF-8 are checked as for the
// other Put methods. An Element without a Type is an error.
func (w *Writer) PutElement(e Element) {
	if w.err != nil {
		return
	}
	switch e.Type {
	case TypeInt:
		w.PutInt(e.Tag, e.Int)
	case TypeUint:
		w.PutUint(e.Tag, e.Uint)
	case TypeBool:
		w.PutBool(e.Tag, e.Bool)
	case TypeFloat32:
		w.PutFloat32(e.Tag, float32(e.Float))
	case TypeFloat64:
		w.PutFloat64(e.Tag, e.Float)
	case TypeString:
		w.putStringBytes(e.Tag, e.Bytes)
	case TypeBytes:
		w.PutBytes(e.Tag, e.Bytes)
	case TypeNull:
		w.PutNull(e.Tag)
	case TypeStructure, TypeArray, TypeList:
		et := etStruct + byte(e.Type-TypeStructure)
		w.start(e.Tag, et)
		for _, m := range e.Members {
			if w.err != nil {
				return
			}
			w.PutElement(m)
		}
		w.EndContainer()
	default:
		w.err = fmt.Errorf("tlv: element with %v tag has invalid type %d: %w", e.Tag, e.Type, ErrInvalid)
	}
}

// Equal reports whether e and o have the same tag, type and value, comparing
// members in order. Floats are compared by their bits at the element's
// precision, so a NaN equals an identical NaN. A nil and an empty member list
// are equal.
func (e Element) Equal(o Element) bool {
	if e.Tag != o.Tag || e.Type != o.Type {
		return false
	}
	switch e.Type {
	case TypeInt:
		return e.Int == o.Int
	case TypeUint:
		return e.Uint == o.Uint
	case TypeBool:
		return e.Bool == o.Bool
	case TypeFloat32:
		return math.Float32bits(float32(e.Float)) == math.Float32bits(float32(o.Float))
	case TypeFloat64:
		return math.Float64bits(e.Float) == math.Float64bits(o.Float)
	case TypeString, TypeBytes:
		return bytes.Equal(e.Bytes, o.Bytes)
	case TypeStructure, TypeArray, TypeList:
		if len(e.Members) != len(o.Members) {
			return false
		}
		for i := range e.Members {
			if !e.Members[i].Equal(o.Members[i]) {
				return false
			}
		}
	}
	return true
}

// String formats e on one line in the notation of the Appendix A.12 examples:
//
//	{0 = 42, 1 = -17}               structure with context tags
//	[[1, 0 = 42, 2]]                 list
//	[42U, "Hello!", h'0001', null]   array of unsigned, UTF-8, octets, null
//	Matter::1 = 42U                  common-profile tag
//	65521::57069:1 = 42U             fully-qualified tag (vendor::profile:tag)
//
// Implicit-profile tags print as Implicit::n. Unsigned integers end in U,
// octet strings print as h'hex', and floats print in the shortest form that
// round-trips at their precision.
func (e Element) String() string {
	return string(e.appendText(nil))
}

func (e Element) appendText(b []byte) []byte {
	b = appendTagText(b, e.Tag)
	switch e.Type {
	case TypeInt:
		return strconv.AppendInt(b, e.Int, 10)
	case TypeUint:
		return append(strconv.AppendUint(b, e.Uint, 10), 'U')
	case TypeBool:
		return strconv.AppendBool(b, e.Bool)
	case TypeFloat32:
		return strconv.AppendFloat(b, e.Float, 'g', -1, 32)
	case TypeFloat64:
		return strconv.AppendFloat(b, e.Float, 'g', -1, 64)
	case TypeString:
		return strconv.AppendQuote(b, string(e.Bytes))
	case TypeBytes:
		b = append(b, "h'"...)
		return append(hex.AppendEncode(b, e.Bytes), '\'')
	case TypeNull:
		return append(b, "null"...)
	case TypeStructure:
		return appendMembers(append(b, '{'), e.Members, "}")
	case TypeArray:
		return appendMembers(append(b, '['), e.Members, "]")
	case TypeList:
		return appendMembers(append(b, "[["...), e.Members, "]]")
	}
	return append(b, "<invalid>"...)
}

func appendMembers(b []byte, ms []Element, closing string) []byte {
	for i, m := range ms {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = m.appendText(b)
	}
	return append(b, closing...)
}

func appendTagText(b []byte, t Tag) []byte {
	switch t.kind {
	case TagAnonymous:
		return b
	case TagCommonProfile:
		b = append(b, "Matter::"...)
	case TagImplicitProfile:
		b = append(b, "Implicit::"...)
	case TagFullyQualified:
		b = strconv.AppendUint(b, uint64(t.vendor), 10)
		b = append(b, "::"...)
		b = strconv.AppendUint(b, uint64(t.profile), 10)
		b = append(b, ':')
	}
	b = strconv.AppendUint(b, uint64(t.num), 10)
	return append(b, " = "...)
}
