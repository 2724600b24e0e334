package qrcode

import "strings"

// mode is a data encoding mode (§7.3, §7.4).
type mode uint8

const (
	numeric mode = iota
	alphanumeric
	byteMode
)

func (m mode) String() string {
	return [...]string{"numeric", "alphanumeric", "byte"}[m]
}

// indicator returns the four-bit mode indicator (§7.4.2, Table 2).
func (m mode) indicator() uint32 {
	return [...]uint32{0b0001, 0b0010, 0b0100}[m]
}

// countBits returns the length of the character count indicator for
// version v (§7.4.2, Table 3). Versions 1-9 and 10-26 differ.
func (m mode) countBits(v int) int {
	if v <= 9 {
		return [...]int{10, 9, 8}[m]
	}
	return [...]int{12, 11, 16}[m]
}

// alphanumericSet is the character set of alphanumeric mode, in the order
// of its values 0 to 44 (§7.4.5, Table 5).
const alphanumericSet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"

// segment is the whole text in one mode. A byte-mode segment holding
// octets beyond ASCII is preceded by the ECI designator of UTF-8 (§7.4.3,
// ECI 000026), so that decoders do not read it as ISO/IEC 8859-1 or guess.
type segment struct {
	mode mode
	text string
	utf8 bool
}

// eciUTF8 is the Extended Channel Interpretation assignment number of
// UTF-8, written as a one-octet designator 0bbbbbbb (§7.4.3.2, Table 4).
const eciUTF8 = 26

// newSegment picks the most compact mode that can encode every character
// of text: numeric, then alphanumeric, then byte (UTF-8 octets, §7.4.6;
// decoders commonly detect UTF-8 without an ECI).
func newSegment(text string) segment {
	m := numeric
	for i := 0; i < len(text); i++ {
		c := text[i]
		if c >= '0' && c <= '9' {
			continue
		}
		if strings.IndexByte(alphanumericSet, c) >= 0 {
			m = max(m, alphanumeric)
			continue
		}
		m = byteMode
		break
	}
	seg := segment{mode: m, text: text}
	if m == byteMode {
		for i := 0; i < len(text); i++ {
			if text[i] >= 0x80 {
				seg.utf8 = true
				break
			}
		}
	}
	return seg
}

// dataBits returns the length of the encoded characters alone.
func (s segment) dataBits() int {
	n := len(s.text)
	switch s.mode {
	case numeric: // 10 bits per 3 digits, 7 for 2 left over, 4 for 1 (§7.4.4)
		return n/3*10 + [...]int{0, 4, 7}[n%3]
	case alphanumeric: // 11 bits per pair, 6 for one left over (§7.4.5)
		return n/2*11 + n%2*6
	default:
		return n * 8
	}
}

// bitLen returns the length of the segment at version v: mode indicator,
// character count and data. It is larger than any capacity when the count
// does not fit in its indicator.
func (s segment) bitLen(v int) int {
	if len(s.text) >= 1<<s.mode.countBits(v) {
		return 1 << 30
	}
	n := 4 + s.mode.countBits(v) + s.dataBits()
	if s.utf8 {
		n += 4 + 8 // ECI mode indicator and designator
	}
	return n
}

// bitWriter appends bits, most significant first, to a byte slice.
type bitWriter struct {
	buf []byte
	n   int // bits written
}

func (w *bitWriter) write(v uint32, bits int) {
	for i := bits - 1; i >= 0; i-- {
		if w.n%8 == 0 {
			w.buf = append(w.buf, 0)
		}
		if v>>uint(i)&1 != 0 {
			w.buf[w.n/8] |= 0x80 >> uint(w.n%8)
		}
		w.n++
	}
}

// codewords returns the data codewords of s for version v, capacity octets
// long: the segment, the terminator, zero bits to the octet boundary and
// the alternating pad codewords 11101100 and 00010001 (§7.4.9, §7.4.10).
// The caller has checked that the segment fits.
func (s segment) codewords(v, capacity int) []byte {
	var w bitWriter
	if s.utf8 {
		w.write(0b0111, 4) // ECI mode indicator (§7.4.2, Table 2)
		w.write(eciUTF8, 8)
	}
	w.write(s.mode.indicator(), 4)
	w.write(uint32(len(s.text)), s.mode.countBits(v))
	t := s.text
	switch s.mode {
	case numeric:
		for len(t) >= 3 {
			w.write(digits(t[:3]), 10)
			t = t[3:]
		}
		switch len(t) {
		case 2:
			w.write(digits(t), 7)
		case 1:
			w.write(digits(t), 4)
		}
	case alphanumeric:
		for len(t) >= 2 {
			a := strings.IndexByte(alphanumericSet, t[0])
			b := strings.IndexByte(alphanumericSet, t[1])
			w.write(uint32(a*45+b), 11)
			t = t[2:]
		}
		if len(t) == 1 {
			w.write(uint32(strings.IndexByte(alphanumericSet, t[0])), 6)
		}
	default:
		for i := 0; i < len(t); i++ {
			w.write(uint32(t[i]), 8)
		}
	}
	// Terminator: up to four zero bits, fewer if the symbol is full.
	w.write(0, min(4, capacity*8-w.n))
	if r := w.n % 8; r != 0 {
		w.write(0, 8-r)
	}
	for pad := byte(0xEC); len(w.buf) < capacity; pad ^= 0xEC ^ 0x11 {
		w.buf = append(w.buf, pad)
	}
	return w.buf
}

// digits returns the decimal value of a string of ASCII digits.
func digits(s string) uint32 {
	var v uint32
	for i := 0; i < len(s); i++ {
		v = v*10 + uint32(s[i]-'0')
	}
	return v
}
