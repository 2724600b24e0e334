package tlv

import (
	"encoding/binary"
	"fmt"
	"unicode/utf8"
)

// DefaultMaxDepth is the container nesting limit a Reader applies when its
// MaxDepth field is zero. The deepest Interaction Model messages nest about
// five containers before the cluster payload starts, so 16 leaves room for
// cluster data while still bounding hostile input.
const DefaultMaxDepth = 16

// maxDepthLimit is the hard nesting limit. Reader.MaxDepth is clamped to it,
// and the Writer enforces it. Keeping it fixed lets container stacks live in
// fixed-size arrays, so neither side allocates to track nesting.
const maxDepthLimit = 64

// header is one parsed element: the control octet, the tag and, for scalars,
// the value. For strings, val:end is the content. For containers, val is the
// offset of the first member and end == val. An end-of-container marker has
// eoc set and end just past it.
type header struct {
	start int // offset of the control octet
	val   int // offset of the value (after tag and length octets)
	end   int // offset just past the value (scalars and strings)
	et    byte
	eoc   bool
	tag   Tag
	u     uint64 // integer value (sign-extended for signed types) or float bits
}

// parseHeader decodes the element starting at b[off]. parent is the element
// type of the enclosing container, or parentNone at top level. depth is the
// number of open containers around the element. The whole element is checked
// against Appendix A except a container's members, which are checked when the
// caller gets to them. That includes the tag placement, the string bounds and,
// for UTF-8 strings, the content.
func parseHeader(b []byte, off int, parent byte, depth, maxDepth int) (header, error) {
	h := header{start: off}
	if off >= len(b) {
		return h, fmt.Errorf("tlv: input ends at offset %d, expected an element: %w", off, ErrTruncated)
	}
	c := b[off]
	et, tc := c&etMask, c>>5
	h.et = et
	if et >= etReserved {
		return h, fmt.Errorf("tlv: reserved element type %#02x at offset %d: %w", et, off, ErrInvalid)
	}
	if et == etEnd {
		// A.10: end-of-container never has a tag and only closes an open
		// container.
		if tc != tcAnonymous {
			return h, fmt.Errorf("tlv: end-of-container with tag control %d at offset %d: %w", tc, off, ErrInvalid)
		}
		if parent == parentNone {
			return h, fmt.Errorf("tlv: end-of-container outside a container at offset %d: %w", off, ErrInvalid)
		}
		h.eoc = true
		h.end = off + 1
		return h, nil
	}

	p := off + 1
	n := tagSize[tc]
	if len(b)-p < n {
		return h, fmt.Errorf("tlv: input ends inside the tag of the element at offset %d: %w", off, ErrTruncated)
	}
	h.tag = parseTag(tc, b[p:p+n])
	p += n
	if !allowedIn(parent, h.tag) {
		return h, fmt.Errorf("tlv: element with %v tag at offset %d not allowed in a %s: %w",
			h.tag, off, containerName(parent), ErrInvalid)
	}

	switch {
	case et <= etUint64:
		w := widthOf(et)
		if len(b)-p < w {
			return h, fmt.Errorf("tlv: input ends inside the integer at offset %d: %w", off, ErrTruncated)
		}
		h.u = readUint(b[p:], w)
		if et <= etInt64 {
			// Sign-extend from the encoded width (two's complement, A.11.1).
			shift := 64 - 8*uint(w)
			h.u = uint64(int64(h.u<<shift) >> shift)
		}
		p += w
	case et == etFloat32 || et == etFloat64:
		w := 4
		if et == etFloat64 {
			w = 8
		}
		if len(b)-p < w {
			return h, fmt.Errorf("tlv: input ends inside the float at offset %d: %w", off, ErrTruncated)
		}
		h.u = readUint(b[p:], w)
		p += w
	case et >= etUTF8 && et < etNull:
		w := widthOf(et)
		if len(b)-p < w {
			return h, fmt.Errorf("tlv: input ends inside the string length at offset %d: %w", off, ErrTruncated)
		}
		length := readUint(b[p:], w)
		p += w
		// Compare as uint64 so that a length that does not fit an int can
		// neither overflow nor wrap negative.
		if length > uint64(len(b)-p) {
			return h, fmt.Errorf("tlv: string length %d at offset %d exceeds the %d remaining octets: %w",
				length, off, len(b)-p, ErrTruncated)
		}
		h.val = p
		p += int(length)
		if et < etBytes && !utf8.Valid(b[h.val:p]) {
			return h, fmt.Errorf("tlv: invalid UTF-8 in the string at offset %d: %w", off, ErrInvalid)
		}
		h.end = p
		return h, nil
	case isContainer(et):
		if depth >= maxDepth {
			return h, fmt.Errorf("tlv: container at offset %d exceeds nesting depth %d: %w", off, maxDepth, ErrDepth)
		}
	}
	// Booleans and null carry their value in the element type (A.11.3,
	// A.11.6). Containers continue with their members.
	h.val, h.end = p, p
	return h, nil
}

// readUint reads a w-octet little-endian unsigned integer. len(p) >= w.
func readUint(p []byte, w int) uint64 {
	switch w {
	case 1:
		return uint64(p[0])
	case 2:
		return uint64(binary.LittleEndian.Uint16(p))
	case 4:
		return uint64(binary.LittleEndian.Uint32(p))
	}
	return binary.LittleEndian.Uint64(p)
}

// skipElement returns the offset just past the element h, which sits inside
// depth open containers. A container is walked to its end-of-container and
// every nested element is checked as parseHeader would. The walk uses a loop
// with a fixed stack rather than recursion, because its depth comes from the
// input.
func skipElement(b []byte, h header, depth, maxDepth int) (int, error) {
	if !isContainer(h.et) {
		return h.end, nil
	}
	var stack [maxDepthLimit]byte
	stack[0] = h.et
	n := 1
	off := h.val
	for n > 0 {
		m, err := parseHeader(b, off, stack[n-1], depth+n, maxDepth)
		if err != nil {
			return 0, err
		}
		switch {
		case m.eoc:
			n--
			off = m.end
		case isContainer(m.et):
			// parseHeader checked depth+n < maxDepth <= maxDepthLimit.
			stack[n] = m.et
			n++
			off = m.val
		default:
			off = m.end
		}
	}
	return off, nil
}

// clampDepth maps a MaxDepth setting to the limit actually applied.
func clampDepth(d int) int {
	switch {
	case d <= 0:
		return DefaultMaxDepth
	case d > maxDepthLimit:
		return maxDepthLimit
	}
	return d
}
