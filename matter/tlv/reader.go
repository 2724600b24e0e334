package tlv

import (
	"fmt"
	"io"
	"math"
)

// Reader is a pull parser over an encoded byte slice. See the package
// documentation for the iteration pattern.
//
// A Reader starts before the first top-level element. [Reader.Next] makes the
// next element current. Accessors read the current element, and [Reader.Enter]
// descends into it. The slices returned by Bytes, StringBytes and Raw alias the
// input.
type Reader struct {
	// MaxDepth limits how deeply containers may nest. The limit applies to
	// every container the Reader reaches, including those it only skips. Zero
	// means DefaultMaxDepth. Values above 64 are treated as 64.
	MaxDepth int

	buf   []byte
	off   int    // where the next element starts once the current one is done
	cur   header // current element, if has
	has   bool
	known bool // end is valid: cur is a scalar, or its end-of-container was found
	end   int  // offset just past the current element
	eoc   bool // the end-of-container of the current level has been reached
	depth int  // containers entered
	stack [maxDepthLimit]byte
	err   error // sticky decoding error
}

// NewReader returns a Reader over b, positioned before the first element.
func NewReader(b []byte) *Reader {
	return &Reader{buf: b}
}

func (r *Reader) fail(err error) error {
	r.err = err
	r.has = false
	return err
}

func (r *Reader) parent() byte {
	if r.depth == 0 {
		return parentNone
	}
	return r.stack[r.depth-1]
}

// finish moves past the current element, walking a container that was not
// entered to find its end.
func (r *Reader) finish() error {
	if !r.known {
		end, err := skipElement(r.buf, r.cur, r.depth, clampDepth(r.MaxDepth))
		if err != nil {
			return r.fail(err)
		}
		r.end = end
	}
	r.off = r.end
	r.has = false
	return nil
}

// Next advances to the next element at the current level, skipping the rest of
// the current element if it is a container that was not entered. It returns
// io.EOF, without consuming anything, at the end-of-container of the current
// container, or at the end of the input when at top level. After a decoding
// error every further call returns that error.
func (r *Reader) Next() error {
	if r.err != nil {
		return r.err
	}
	if r.has {
		if err := r.finish(); err != nil {
			return err
		}
	}
	if r.eoc {
		return io.EOF
	}
	if r.off == len(r.buf) && r.depth == 0 {
		return io.EOF
	}
	h, err := parseHeader(r.buf, r.off, r.parent(), r.depth, clampDepth(r.MaxDepth))
	if err != nil {
		return r.fail(err)
	}
	if h.eoc {
		r.eoc = true
		return io.EOF
	}
	r.cur, r.has = h, true
	r.known = !isContainer(h.et)
	r.end = h.end
	return nil
}

// Skip moves past the current element. A container is checked to its end. The
// Reader is then between elements, as after Exit, and Next moves to the
// following sibling. Next skips on its own, so Skip is only needed to check
// a container in full before going on.
func (r *Reader) Skip() error {
	if r.err != nil {
		return r.err
	}
	if !r.has {
		return errNoElement
	}
	return r.finish()
}

// Enter descends into the current element, which must be a structure, array or
// list. Call Next to reach its first member.
func (r *Reader) Enter() error {
	if r.err != nil {
		return r.err
	}
	if !r.has {
		return errNoElement
	}
	if !isContainer(r.cur.et) {
		return errNotContainer
	}
	// parseHeader refused the container if entering it would exceed
	// MaxDepth, so depth < maxDepthLimit here.
	r.stack[r.depth] = r.cur.et
	r.depth++
	r.off = r.cur.val
	r.has, r.eoc = false, false
	return nil
}

// Exit skips the remaining members of the innermost entered container,
// checking them, consumes its end-of-container and returns to the enclosing
// level. Next then moves to the container's next sibling.
func (r *Reader) Exit() error {
	if r.err != nil {
		return r.err
	}
	if r.depth == 0 {
		return errNotEntered
	}
	for !r.eoc {
		if err := r.Next(); err != nil && err != io.EOF {
			return err
		}
	}
	// r.off is at the end-of-container octet that Next found.
	r.off++
	r.depth--
	r.eoc, r.has = false, false
	return nil
}

// Depth returns the number of containers entered and not yet exited.
func (r *Reader) Depth() int { return r.depth }

// Type returns the type of the current element, or 0 if there is none.
func (r *Reader) Type() Type {
	if !r.has {
		return 0
	}
	return typeOf(r.cur.et)
}

// Tag returns the tag of the current element. It returns the anonymous tag if
// there is no current element.
func (r *Reader) Tag() Tag {
	if !r.has {
		return Tag{}
	}
	return r.cur.tag
}

// IsNull reports whether the current element is a null.
func (r *Reader) IsNull() bool { return r.has && r.cur.et == etNull }

// Raw returns the complete encoding of the current element: control octet, tag,
// length and value, and for a container every member and the end-of-container.
// The slice aliases the input, with its capacity capped at its length so that
// appending to it cannot overwrite the input. For a container, Raw checks the
// contents. Next then continues after the container without reading them
// again.
func (r *Reader) Raw() ([]byte, error) {
	if r.err != nil {
		return nil, r.err
	}
	if !r.has {
		return nil, errNoElement
	}
	if !r.known {
		end, err := skipElement(r.buf, r.cur, r.depth, clampDepth(r.MaxDepth))
		if err != nil {
			return nil, r.fail(err)
		}
		r.end, r.known = end, true
	}
	return r.buf[r.cur.start:r.end:r.end], nil
}

func (r *Reader) typeError(want string) error {
	if !r.has {
		return errNoElement
	}
	return fmt.Errorf("tlv: %v element with %v tag at offset %d read as %s: %w",
		typeOf(r.cur.et), r.cur.tag, r.cur.start, want, ErrType)
}

func (r *Reader) rangeError(v any, want string) error {
	return fmt.Errorf("tlv: value %v of the element with %v tag at offset %d does not fit %s: %w",
		v, r.cur.tag, r.cur.start, want, ErrRange)
}

// Int returns the value of a signed or unsigned integer element. An unsigned
// value above math.MaxInt64 is an ErrRange error.
func (r *Reader) Int() (int64, error) {
	if !r.has || r.cur.et > etUint64 {
		return 0, r.typeError("a signed integer")
	}
	if r.cur.et >= etUint8 && r.cur.u > math.MaxInt64 {
		return 0, r.rangeError(r.cur.u, "int64")
	}
	return int64(r.cur.u), nil
}

// Uint returns the value of an unsigned or signed integer element. A negative
// value is an ErrRange error.
func (r *Reader) Uint() (uint64, error) {
	if !r.has || r.cur.et > etUint64 {
		return 0, r.typeError("an unsigned integer")
	}
	if r.cur.et <= etInt64 && int64(r.cur.u) < 0 {
		return 0, r.rangeError(int64(r.cur.u), "an unsigned integer")
	}
	return r.cur.u, nil
}

func (r *Reader) intIn(lo, hi int64, want string) (int64, error) {
	v, err := r.Int()
	if err != nil {
		return 0, err
	}
	if v < lo || v > hi {
		return 0, r.rangeError(v, want)
	}
	return v, nil
}

func (r *Reader) uintIn(hi uint64, want string) (uint64, error) {
	v, err := r.Uint()
	if err != nil {
		return 0, err
	}
	if v > hi {
		return 0, r.rangeError(v, want)
	}
	return v, nil
}

// Int8 is like Int but requires the value to fit in an int8.
func (r *Reader) Int8() (int8, error) {
	v, err := r.intIn(math.MinInt8, math.MaxInt8, "int8")
	return int8(v), err
}

// Int16 is like Int but requires the value to fit in an int16.
func (r *Reader) Int16() (int16, error) {
	v, err := r.intIn(math.MinInt16, math.MaxInt16, "int16")
	return int16(v), err
}

// Int32 is like Int but requires the value to fit in an int32.
func (r *Reader) Int32() (int32, error) {
	v, err := r.intIn(math.MinInt32, math.MaxInt32, "int32")
	return int32(v), err
}

// Uint8 is like Uint but requires the value to fit in a uint8.
func (r *Reader) Uint8() (uint8, error) {
	v, err := r.uintIn(math.MaxUint8, "uint8")
	return uint8(v), err
}

// Uint16 is like Uint but requires the value to fit in a uint16.
func (r *Reader) Uint16() (uint16, error) {
	v, err := r.uintIn(math.MaxUint16, "uint16")
	return uint16(v), err
}

// Uint32 is like Uint but requires the value to fit in a uint32.
func (r *Reader) Uint32() (uint32, error) {
	v, err := r.uintIn(math.MaxUint32, "uint32")
	return uint32(v), err
}

// Bool returns the value of a boolean element.
func (r *Reader) Bool() (bool, error) {
	if !r.has || (r.cur.et != etFalse && r.cur.et != etTrue) {
		return false, r.typeError("a boolean")
	}
	return r.cur.et == etTrue, nil
}

// Float returns the value of a floating-point element of either precision. A
// float32 is widened, which is exact.
func (r *Reader) Float() (float64, error) {
	if r.has {
		switch r.cur.et {
		case etFloat32:
			return float64(math.Float32frombits(uint32(r.cur.u))), nil
		case etFloat64:
			return math.Float64frombits(r.cur.u), nil
		}
	}
	return 0, r.typeError("a float")
}

// Bytes returns the contents of an octet string element. The slice aliases the
// input.
func (r *Reader) Bytes() ([]byte, error) {
	if !r.has || r.cur.et < etBytes || r.cur.et >= etNull {
		return nil, r.typeError("an octet string")
	}
	return r.buf[r.cur.val:r.cur.end:r.cur.end], nil
}

// StringBytes returns the contents of a UTF-8 string element without copying.
// The contents were checked to be valid UTF-8 when the element was read.
func (r *Reader) StringBytes() ([]byte, error) {
	if !r.has || r.cur.et < etUTF8 || r.cur.et >= etBytes {
		return nil, r.typeError("a UTF-8 string")
	}
	return r.buf[r.cur.val:r.cur.end:r.cur.end], nil
}

// String returns the value of a UTF-8 string element. Unlike StringBytes it
// copies the contents.
func (r *Reader) String() (string, error) {
	b, err := r.StringBytes()
	return string(b), err
}
