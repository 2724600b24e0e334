// Package qrcode encodes text as a QR Code symbol (ISO/IEC 18004:2015) and
// renders it for a terminal or as an image. It exists so that the firmware
// can print its Matter onboarding code at start-up without a dependency.
//
// The encoder covers what an onboarding payload needs and little more:
// versions 1 to 10, the four error correction levels, and one segment in
// numeric, alphanumeric or byte mode, whichever is the most compact mode
// that can hold the whole text. A Matter "MT:" payload is all alphanumeric
// (§5.1.3 of the Matter Core Specification keeps its base-38 alphabet inside
// the QR alphanumeric set), so it takes the 5.5-bit-per-character mode.
//
// The mask is chosen as ISO/IEC 18004 §7.8.3 asks: all eight are tried and
// the one with the lowest penalty score wins.
//
// Section numbers below refer to ISO/IEC 18004:2015.
package qrcode

import (
	"errors"
	"fmt"
)

// Level is an error correction level (§5.3.8, Table 7).
type Level uint8

// The error correction levels, from the least to the most redundant. They
// restore roughly 7, 15, 25 and 30 % of the codewords.
const (
	L Level = iota
	M
	Q
	H
)

// String returns the letter of l.
func (l Level) String() string {
	if l > H {
		return fmt.Sprintf("Level(%d)", uint8(l))
	}
	return "LMQH"[l : l+1]
}

// formatBits is the two-bit indicator of l in the format information
// (§7.9.1, Table 12): L 01, M 00, Q 11, H 10.
func (l Level) formatBits() uint32 {
	return [...]uint32{1, 0, 3, 2}[l]
}

// MaxVersion is the largest symbol version Encode produces (57 × 57 modules).
const MaxVersion = 10

var (
	// ErrTooLong is returned when the text does not fit in a version
	// MaxVersion symbol at the requested level.
	ErrTooLong = errors.New("qrcode: text too long for a version 1-10 symbol")
	// ErrLevel is returned for a Level other than L, M, Q and H.
	ErrLevel = errors.New("qrcode: invalid error correction level")
)

// A Code is an encoded symbol: a square of dark and light modules, without
// the quiet zone around it.
type Code struct {
	version int
	level   Level
	mask    int
	size    int
	dark    []bool // row-major, size × size
}

// Version returns the symbol version, 1 to MaxVersion.
func (c *Code) Version() int { return c.version }

// Level returns the error correction level.
func (c *Code) Level() Level { return c.level }

// Mask returns the data mask pattern reference, 0 to 7 (§7.8.2).
func (c *Code) Mask() int { return c.mask }

// Size returns the number of modules on each side: 17 + 4 × version.
func (c *Code) Size() int { return c.size }

// Dark reports whether the module in column x and row y is dark. (0, 0) is
// the top-left corner. Coordinates outside the symbol are light, as the
// quiet zone is.
func (c *Code) Dark(x, y int) bool {
	if x < 0 || y < 0 || x >= c.size || y >= c.size {
		return false
	}
	return c.dark[y*c.size+x]
}

// Encode encodes text in the smallest symbol of version 1 to MaxVersion
// that holds it at error correction level level.
func Encode(text string, level Level) (*Code, error) {
	if level > H {
		return nil, fmt.Errorf("%w: %d", ErrLevel, level)
	}
	seg := newSegment(text)
	for v := 1; v <= MaxVersion; v++ {
		if seg.bitLen(v) <= 8*blocksFor(v, level).dataCodewords() {
			return encode(seg, v, level, -1), nil
		}
	}
	return nil, fmt.Errorf("%w: %d octets in %s mode at level %s", ErrTooLong, len(text), seg.mode, level)
}

// encode builds the symbol of seg at version v and level level. A mask of
// -1 selects the best by penalty; 0 to 7 forces one, for tests against
// published symbols.
func encode(seg segment, v int, level Level, mask int) *Code {
	data := seg.codewords(v, blocksFor(v, level).dataCodewords())
	stream := interleave(data, blocksFor(v, level))

	m := newMatrix(v)
	m.drawFunctionPatterns()
	m.placeCodewords(stream)

	if mask < 0 {
		best := -1
		for k := range 8 {
			m.applyMask(k)
			m.drawFormat(level, k)
			if p := m.penalty(); best < 0 || p < best {
				best, mask = p, k
			}
			m.applyMask(k) // masking is its own inverse
		}
	}
	m.applyMask(mask)
	m.drawFormat(level, mask)
	return &Code{version: v, level: level, mask: mask, size: m.size, dark: m.dark}
}
