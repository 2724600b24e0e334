package cert

import (
	"errors"
	"fmt"
)

// This file holds the minimal DER (ITU-T X.690 §10) machinery the package
// needs: a writer that produces definite, minimal lengths and a strict reader
// over single-octet tags. Certificates are at most a few hundred octets
// (§6.1.3), so neither needs to be general.

// Universal and context-specific tags used by certificates (X.690 §8, RFC 5280 §4.1).
const (
	tagBoolean         = 0x01
	tagInteger         = 0x02
	tagBitString       = 0x03
	tagOctetString     = 0x04
	tagOID             = 0x06
	tagUTF8String      = 0x0c
	tagPrintableString = 0x13
	tagIA5String       = 0x16
	tagUTCTime         = 0x17
	tagGeneralizedTime = 0x18
	tagSequence        = 0x30
	tagSet             = 0x31
	tagContext0        = 0xa0 // [0] constructed
	tagContext3        = 0xa3 // [3] constructed
	tagContextPrim0    = 0x80 // [0] primitive
)

// maxDERLength bounds every length the reader accepts. Nothing in a
// certificate or CSR this package handles comes close.
const maxDERLength = 0xffff

// derWriter appends DER elements to buf. Constructed elements are opened with
// start and closed with end, which back-patches the length, so an element is
// written without building its contents in a separate buffer.
type derWriter struct {
	buf   []byte
	stack []int // offsets of the length octet of each open element
}

// start opens a constructed element with the given tag.
func (w *derWriter) start(tag byte) {
	w.buf = append(w.buf, tag, 0)
	w.stack = append(w.stack, len(w.buf)-1)
}

// end closes the innermost element opened by start.
func (w *derWriter) end() {
	at := w.stack[len(w.stack)-1]
	w.stack = w.stack[:len(w.stack)-1]
	n := len(w.buf) - at - 1
	if n < 0x80 {
		w.buf[at] = byte(n)
		return
	}
	hdr := lengthOctets(n)
	// Make room for the long-form length octets after the placeholder.
	extra := len(hdr) - 1
	w.buf = append(w.buf, hdr[:extra]...)
	copy(w.buf[at+1+extra:], w.buf[at+1:len(w.buf)-extra])
	copy(w.buf[at:], hdr)
}

// add appends a primitive element.
func (w *derWriter) add(tag byte, content []byte) {
	w.buf = append(w.buf, tag)
	w.buf = appendLength(w.buf, len(content))
	w.buf = append(w.buf, content...)
}

// addString is add for contents held in a string.
func (w *derWriter) addString(tag byte, content string) {
	w.buf = append(w.buf, tag)
	w.buf = appendLength(w.buf, len(content))
	w.buf = append(w.buf, content...)
}

// raw appends a complete, already-encoded element.
func (w *derWriter) raw(elem []byte) {
	w.buf = append(w.buf, elem...)
}

// lengthOctets returns the minimal DER length encoding of n (X.690 §10.1).
func lengthOctets(n int) []byte {
	var b [4]byte
	return appendLength(b[:0], n)
}

func appendLength(dst []byte, n int) []byte {
	switch {
	case n < 0x80:
		return append(dst, byte(n))
	case n <= 0xff:
		return append(dst, 0x81, byte(n))
	case n <= 0xffff:
		return append(dst, 0x82, byte(n>>8), byte(n))
	default:
		return append(dst, 0x83, byte(n>>16), byte(n>>8), byte(n))
	}
}

// errDER is wrapped by every DER reading error.
var errDER = errors.New("invalid DER")

// unsupportedError marks a parsing failure caused by something well formed
// that a Matter certificate cannot represent. The exported functions turn it
// into ErrUnsupported, and every other parsing failure into ErrMalformed.
type unsupportedError struct{ msg string }

func (e *unsupportedError) Error() string { return e.msg }

func unsupported(format string, args ...any) error {
	return &unsupportedError{fmt.Sprintf(format, args...)}
}

// classify wraps a parsing error in the exported sentinel that describes it.
func classify(err error) error {
	var u *unsupportedError
	if errors.As(err, &u) {
		return fmt.Errorf("%w: %v", ErrUnsupported, err)
	}
	return fmt.Errorf("%w: %v", ErrMalformed, err)
}

// derReader reads a sequence of DER elements from b.
type derReader struct {
	b []byte
}

// empty reports whether all input has been consumed.
func (r *derReader) empty() bool { return len(r.b) == 0 }

// peek returns the tag of the next element, or 0 at the end of the input.
func (r *derReader) peek() byte {
	if len(r.b) == 0 {
		return 0
	}
	return r.b[0]
}

// next reads the next element, which must carry tag, and returns its contents
// and its complete encoding.
func (r *derReader) next(tag byte) (content, elem []byte, err error) {
	if len(r.b) == 0 {
		return nil, nil, fmt.Errorf("%w: missing element with tag 0x%02x", errDER, tag)
	}
	if r.b[0] != tag {
		return nil, nil, fmt.Errorf("%w: tag 0x%02x where 0x%02x was expected", errDER, r.b[0], tag)
	}
	hdr, n, err := parseLength(r.b)
	if err != nil {
		return nil, nil, err
	}
	elem = r.b[:hdr+n]
	content = r.b[hdr : hdr+n]
	r.b = r.b[hdr+n:]
	return content, elem, nil
}

// read is next without the complete encoding.
func (r *derReader) read(tag byte) ([]byte, error) {
	c, _, err := r.next(tag)
	return c, err
}

// parseLength parses the tag and length octets at the start of b. It returns
// the size of those octets and the content length, which it checks against the
// input. Only single-octet tags and minimal definite lengths are accepted
// (X.690 §10.1).
func parseLength(b []byte) (hdr, n int, err error) {
	if len(b) < 2 {
		return 0, 0, fmt.Errorf("%w: truncated element header", errDER)
	}
	if b[0]&0x1f == 0x1f {
		return 0, 0, fmt.Errorf("%w: multi-octet tag", errDER)
	}
	l := b[1]
	switch {
	case l < 0x80:
		hdr, n = 2, int(l)
	case l == 0x81:
		if len(b) < 3 || b[2] < 0x80 {
			return 0, 0, fmt.Errorf("%w: non-minimal length", errDER)
		}
		hdr, n = 3, int(b[2])
	case l == 0x82:
		if len(b) < 4 || b[2] == 0 {
			return 0, 0, fmt.Errorf("%w: non-minimal length", errDER)
		}
		hdr, n = 4, int(b[2])<<8|int(b[3])
	default:
		// 0x80 is the indefinite form, which DER forbids; anything
		// longer exceeds maxDERLength.
		return 0, 0, fmt.Errorf("%w: unsupported length form 0x%02x", errDER, l)
	}
	if n > maxDERLength || n > len(b)-hdr {
		return 0, 0, fmt.Errorf("%w: length %d exceeds input", errDER, n)
	}
	return hdr, n, nil
}

// validOID reports whether b is the content of a well-formed OBJECT IDENTIFIER:
// at least one subidentifier, each in minimal base-128 form (X.690 §8.19).
func validOID(b []byte) bool {
	if len(b) == 0 || b[len(b)-1]&0x80 != 0 {
		return false
	}
	start := true
	for _, c := range b {
		if start && c == 0x80 {
			return false // leading 0x80 pads a subidentifier
		}
		start = c&0x80 == 0
	}
	return true
}

// validInteger reports whether b is the content of a minimally encoded
// INTEGER (X.690 §8.3.2).
func validInteger(b []byte) bool {
	switch {
	case len(b) == 0:
		return false
	case len(b) == 1:
		return true
	case b[0] == 0x00 && b[1]&0x80 == 0, b[0] == 0xff && b[1]&0x80 != 0:
		return false
	}
	return true
}
