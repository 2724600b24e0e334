package onboarding

import "fmt"

// base38Alphabet is the character set of the QR code payload, in the order
// of the digit values 0 to 37 (§5.1.3).
// Every character is also in the QR alphanumeric set.
const base38Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-."

// base38Value maps a character to its digit value, or -1.
var base38Value = func() (v [256]int8) {
	for i := range v {
		v[i] = -1
	}
	for i := 0; i < len(base38Alphabet); i++ {
		v[base38Alphabet[i]] = int8(i)
	}
	return
}()

// base38Chars is the number of characters that encode a chunk of 1, 2 or 3
// octets (§5.1.3): enough digits for 2⁸, 2¹⁶ and 2²⁴ values.
var base38Chars = [4]int{0, 2, 4, 5}

// appendBase38 appends the base-38 encoding of b (§5.1.3). Each chunk of
// three octets, read as a little-endian 24-bit integer, becomes five
// digits, least significant first; a last chunk of two octets becomes four
// digits and one octet two.
func appendBase38(dst []byte, b []byte) []byte {
	for len(b) > 0 {
		n := min(len(b), 3)
		var v uint32
		for i := n - 1; i >= 0; i-- {
			v = v<<8 | uint32(b[i])
		}
		for range base38Chars[n] {
			dst = append(dst, base38Alphabet[v%38])
			v /= 38
		}
		b = b[n:]
	}
	return dst
}

// decodeBase38 reverses appendBase38. It rejects characters outside the
// alphabet, a length that no sequence of chunks has (a last chunk of one or
// three characters) and a chunk whose value does not fit in its octets.
func decodeBase38(s string) ([]byte, error) {
	out := make([]byte, 0, len(s)/5*3+2)
	for len(s) > 0 {
		nc := min(len(s), 5)
		n := 3
		switch nc {
		case 4:
			n = 2
		case 2:
			n = 1
		case 5:
		default:
			return nil, fmt.Errorf("%w: base-38 data ends in a chunk of %d characters", ErrMalformed, nc)
		}
		var v uint32
		for i := nc - 1; i >= 0; i-- {
			d := base38Value[s[i]]
			if d < 0 {
				return nil, fmt.Errorf("%w: character %q is not in the base-38 alphabet", ErrMalformed, s[i])
			}
			v = v*38 + uint32(d)
		}
		if v >= 1<<(8*n) {
			return nil, fmt.Errorf("%w: base-38 chunk %q exceeds %d octets", ErrMalformed, s[:nc], n)
		}
		for range n {
			out = append(out, byte(v))
			v >>= 8
		}
		s = s[nc:]
	}
	return out, nil
}
