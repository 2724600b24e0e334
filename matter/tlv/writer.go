package tlv

import (
	"encoding/binary"
	"fmt"
	"math"
	"unicode/utf8"
)

// Writer appends canonical TLV elements to a byte slice. The zero value is
// ready to use and starts with an empty buffer.
//
// Methods record the first error and ignore later calls, so a message can be
// written straight through and checked once with Err or Bytes. After the buffer
// has grown to fit, writing an element does not allocate, so a Writer reused
// with Reset encodes without allocating.
type Writer struct {
	buf   []byte
	err   error
	depth int
	stack [maxDepthLimit]byte // element type of each open container
}

// NewWriter returns a Writer that appends to buf. Existing contents of buf are
// kept, so a caller can write a message header first and the TLV payload after
// it. Bytes returns both.
func NewWriter(buf []byte) *Writer {
	return &Writer{buf: buf}
}

// Reset empties the buffer, including any prefix passed to NewWriter, and
// clears the error and the open containers. The buffer's capacity is kept.
func (w *Writer) Reset() {
	w.buf = w.buf[:0]
	w.err = nil
	w.depth = 0
}

// Err returns the first error recorded by the Writer, if any.
func (w *Writer) Err() error { return w.err }

// Len returns the number of bytes in the buffer.
func (w *Writer) Len() int { return len(w.buf) }

// Bytes returns the encoding. It fails if an error was recorded or if a
// container is still open. The slice aliases the Writer's buffer and is only
// valid until the next call that modifies the Writer.
func (w *Writer) Bytes() ([]byte, error) {
	if w.err != nil {
		return nil, w.err
	}
	if w.depth != 0 {
		return nil, fmt.Errorf("tlv: %d container(s) left open: %w", w.depth, ErrInvalid)
	}
	return w.buf, nil
}

// begin checks that an element tagged tag may be written at this point and
// appends its control octet and tag. It reports false, after recording an
// error, if the element must not be written.
func (w *Writer) begin(tag Tag, et byte) bool {
	if w.err != nil {
		return false
	}
	if w.depth > 0 && !allowedIn(w.stack[w.depth-1], tag) {
		w.err = fmt.Errorf("tlv: element with %v tag not allowed in a %s: %w",
			tag, containerName(w.stack[w.depth-1]), ErrInvalid)
		return false
	}
	w.buf = appendHeader(w.buf, et, tag)
	return true
}

// PutInt writes a signed integer in the fewest octets that hold v.
func (w *Writer) PutInt(tag Tag, v int64) {
	switch {
	case v >= math.MinInt8 && v <= math.MaxInt8:
		if w.begin(tag, etInt8) {
			w.buf = append(w.buf, byte(v))
		}
	case v >= math.MinInt16 && v <= math.MaxInt16:
		if w.begin(tag, etInt8+1) {
			w.buf = binary.LittleEndian.AppendUint16(w.buf, uint16(v))
		}
	case v >= math.MinInt32 && v <= math.MaxInt32:
		if w.begin(tag, etInt8+2) {
			w.buf = binary.LittleEndian.AppendUint32(w.buf, uint32(v))
		}
	default:
		if w.begin(tag, etInt64) {
			w.buf = binary.LittleEndian.AppendUint64(w.buf, uint64(v))
		}
	}
}

// PutUint writes an unsigned integer in the fewest octets that hold v.
func (w *Writer) PutUint(tag Tag, v uint64) {
	switch {
	case v <= math.MaxUint8:
		if w.begin(tag, etUint8) {
			w.buf = append(w.buf, byte(v))
		}
	case v <= math.MaxUint16:
		if w.begin(tag, etUint8+1) {
			w.buf = binary.LittleEndian.AppendUint16(w.buf, uint16(v))
		}
	case v <= math.MaxUint32:
		if w.begin(tag, etUint8+2) {
			w.buf = binary.LittleEndian.AppendUint32(w.buf, uint32(v))
		}
	default:
		if w.begin(tag, etUint64) {
			w.buf = binary.LittleEndian.AppendUint64(w.buf, v)
		}
	}
}

// PutBool writes a boolean. The value is carried in the element type, so the
// element has no value octets (A.11.3).
func (w *Writer) PutBool(tag Tag, v bool) {
	et := etFalse
	if v {
		et = etTrue
	}
	w.begin(tag, et)
}

// PutFloat32 writes a single-precision float. The bits are copied unchanged,
// NaN payloads included.
func (w *Writer) PutFloat32(tag Tag, v float32) {
	if w.begin(tag, etFloat32) {
		w.buf = binary.LittleEndian.AppendUint32(w.buf, math.Float32bits(v))
	}
}

// PutFloat64 writes a double-precision float. The bits are copied unchanged,
// NaN payloads included.
func (w *Writer) PutFloat64(tag Tag, v float64) {
	if w.begin(tag, etFloat64) {
		w.buf = binary.LittleEndian.AppendUint64(w.buf, math.Float64bits(v))
	}
}

// PutNull writes a null.
func (w *Writer) PutNull(tag Tag) { w.begin(tag, etNull) }

// lengthCode returns the width bits of the shortest length field for n octets.
func lengthCode(n uint64) byte {
	switch {
	case n <= math.MaxUint8:
		return 0
	case n <= math.MaxUint16:
		return 1
	case n <= math.MaxUint32:
		return 2
	}
	return 3
}

func (w *Writer) appendLength(code byte, n uint64) {
	switch code {
	case 0:
		w.buf = append(w.buf, byte(n))
	case 1:
		w.buf = binary.LittleEndian.AppendUint16(w.buf, uint16(n))
	case 2:
		w.buf = binary.LittleEndian.AppendUint32(w.buf, uint32(n))
	default:
		w.buf = binary.LittleEndian.AppendUint64(w.buf, n)
	}
}

// PutString writes a UTF-8 string with the shortest length field. Invalid
// UTF-8 is an error (A.11.2).
func (w *Writer) PutString(tag Tag, s string) {
	if w.err != nil {
		return
	}
	if !utf8.ValidString(s) {
		w.err = fmt.Errorf("tlv: string for %v tag is not valid UTF-8: %w", tag, ErrInvalid)
		return
	}
	code := lengthCode(uint64(len(s)))
	if w.begin(tag, etUTF8|code) {
		w.appendLength(code, uint64(len(s)))
		w.buf = append(w.buf, s...)
	}
}

// putStringBytes is PutString for a byte slice, so that Element trees can be
// encoded without converting to string.
func (w *Writer) putStringBytes(tag Tag, s []byte) {
	if w.err != nil {
		return
	}
	if !utf8.Valid(s) {
		w.err = fmt.Errorf("tlv: string for %v tag is not valid UTF-8: %w", tag, ErrInvalid)
		return
	}
	code := lengthCode(uint64(len(s)))
	if w.begin(tag, etUTF8|code) {
		w.appendLength(code, uint64(len(s)))
		w.buf = append(w.buf, s...)
	}
}

// PutBytes writes an octet string with the shortest length field.
func (w *Writer) PutBytes(tag Tag, b []byte) {
	code := lengthCode(uint64(len(b)))
	if w.begin(tag, etBytes|code) {
		w.appendLength(code, uint64(len(b)))
		w.buf = append(w.buf, b...)
	}
}

func (w *Writer) start(tag Tag, et byte) {
	if w.err != nil {
		return
	}
	if w.depth == maxDepthLimit {
		w.err = fmt.Errorf("tlv: more than %d nested containers: %w", maxDepthLimit, ErrDepth)
		return
	}
	if w.begin(tag, et) {
		w.stack[w.depth] = et
		w.depth++
	}
}

// StartStructure opens a structure. Its members must be tagged (A.5.1).
func (w *Writer) StartStructure(tag Tag) { w.start(tag, etStruct) }

// StartArray opens an array. Its members must be anonymous (A.5.2).
func (w *Writer) StartArray(tag Tag) { w.start(tag, etArray) }

// StartList opens a list. Its members may have any tag (A.5.3).
func (w *Writer) StartList(tag Tag) { w.start(tag, etList) }

// EndContainer closes the innermost open container (A.10). Calling it with no
// container open is an error.
func (w *Writer) EndContainer() {
	if w.err != nil {
		return
	}
	if w.depth == 0 {
		w.err = fmt.Errorf("tlv: EndContainer without an open container: %w", ErrInvalid)
		return
	}
	w.depth--
	w.buf = append(w.buf, etEnd)
}

// PutRaw writes a pre-encoded element, such as one returned by [Reader.Raw],
// under tag. The element's own tag is replaced. Its value octets, including
// any nested members, are copied unchanged, so their encoding widths are kept
// as they are. elem must hold exactly one well-formed element, checked as a
// Reader would check it, with the nesting limit counted from the current
// depth.
func (w *Writer) PutRaw(tag Tag, elem []byte) {
	if w.err != nil {
		return
	}
	h, err := parseHeader(elem, 0, parentNone, w.depth, maxDepthLimit)
	if err == nil {
		var end int
		end, err = skipElement(elem, h, w.depth, maxDepthLimit)
		if err == nil && end != len(elem) {
			err = fmt.Errorf("tlv: %d octets after the element: %w", len(elem)-end, ErrInvalid)
		}
	}
	if err != nil {
		w.err = fmt.Errorf("tlv: PutRaw: %w", err)
		return
	}
	if w.begin(tag, h.et) {
		w.buf = append(w.buf, elem[1+tagSize[elem[0]>>5]:]...)
	}
}
