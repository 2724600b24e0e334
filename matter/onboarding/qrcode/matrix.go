package qrcode

// matrix is a symbol under construction. fn marks the function modules
// (finder, separator, timing and alignment patterns, format and version
// information, the dark module), which data placement and masking skip.
type matrix struct {
	version int
	size    int
	dark    []bool
	fn      []bool
}

func newMatrix(v int) *matrix {
	size := 17 + 4*v
	return &matrix{version: v, size: size, dark: make([]bool, size*size), fn: make([]bool, size*size)}
}

// set places a function module.
func (m *matrix) set(x, y int, dark bool) {
	m.dark[y*m.size+x] = dark
	m.fn[y*m.size+x] = true
}

// alignmentCenters returns the row/column coordinates of the alignment
// pattern centres for version v (§6.3.6, Annex E, Table E.1).
func alignmentCenters(v int) []int {
	if v == 1 {
		return nil
	}
	last := 4*v + 10 // size - 7
	return [...][]int{
		2: {6, last}, 3: {6, last}, 4: {6, last}, 5: {6, last}, 6: {6, last},
		7: {6, 22, 38}, 8: {6, 24, 42}, 9: {6, 26, 46}, 10: {6, 28, 50},
	}[v]
}

// drawFunctionPatterns places every function pattern and reserves the
// format and version information areas (§6.3).
func (m *matrix) drawFunctionPatterns() {
	n := m.size
	// Timing patterns: row 6 and column 6, alternating, dark at even
	// coordinates (§6.3.5). Drawn first; the finders overwrite their ends.
	for i := range n {
		m.set(6, i, i%2 == 0)
		m.set(i, 6, i%2 == 0)
	}
	// Finder patterns with their separators (§6.3.3, §6.3.4): a dark 7×7
	// ring, a light 5×5 ring, a dark 3×3 centre, and a light border.
	for _, c := range [][2]int{{3, 3}, {n - 4, 3}, {3, n - 4}} {
		for dy := -4; dy <= 4; dy++ {
			for dx := -4; dx <= 4; dx++ {
				x, y := c[0]+dx, c[1]+dy
				if x < 0 || y < 0 || x >= n || y >= n {
					continue
				}
				d := max(abs(dx), abs(dy))
				m.set(x, y, d != 2 && d != 4)
			}
		}
	}
	// Alignment patterns (§6.3.6): every combination of the centres except
	// the three that would overlap a finder.
	centers := alignmentCenters(m.version)
	for i, cy := range centers {
		for j, cx := range centers {
			if (i == 0 && j == 0) || (i == 0 && j == len(centers)-1) || (i == len(centers)-1 && j == 0) {
				continue
			}
			for dy := -2; dy <= 2; dy++ {
				for dx := -2; dx <= 2; dx++ {
					m.set(cx+dx, cy+dy, max(abs(dx), abs(dy)) != 1)
				}
			}
		}
	}
	// Reserve the format information areas (§7.9.1); drawFormat fills them.
	// This also places the dark module at (8, 4V+9).
	m.drawFormat(M, 0)
	// Version information, versions 7 and up (§7.10): two 6×3 blocks.
	if m.version >= 7 {
		bits := versionBits(m.version)
		for i := range 18 {
			d := bits>>uint(i)&1 != 0
			a, b := n-11+i%3, i/3
			m.set(a, b, d) // top right, 3 wide and 6 high
			m.set(b, a, d) // bottom left, 6 wide and 3 high
		}
	}
}

// formatBits returns the 15-bit format information of level and mask: the
// five data bits, ten BCH(15,5) error correction bits from the generator
// x¹⁰ + x⁸ + x⁵ + x⁴ + x² + x + 1, and the XOR mask 101010000010010
// (§7.9.1, §7.9.2, Annex C).
func formatBits(level Level, mask int) uint32 {
	data := level.formatBits()<<3 | uint32(mask)
	rem := data << 10
	for i := 14; i >= 10; i-- {
		if rem>>uint(i)&1 != 0 {
			rem ^= 0x537 << uint(i-10)
		}
	}
	return (data<<10 | rem) ^ 0x5412
}

// versionBits returns the 18-bit version information of v: six data bits
// and twelve BCH(18,6) bits from the generator
// x¹² + x¹¹ + x¹⁰ + x⁹ + x⁸ + x⁵ + x² + 1 (§7.10, Annex D).
func versionBits(v int) uint32 {
	rem := uint32(v) << 12
	for i := 17; i >= 12; i-- {
		if rem>>uint(i)&1 != 0 {
			rem ^= 0x1F25 << uint(i-12)
		}
	}
	return uint32(v)<<12 | rem
}

// drawFormat writes both copies of the format information (§7.9.1,
// Figure 25). Bit 14 is the most significant. The first copy runs down
// column 8 from row 0 (bits 0-7, skipping the timing row) and then left
// along row 8 (bits 8-14, skipping the timing column); the second is split
// between row 8 at the right edge (bits 0-7, right to left) and column 8
// at the bottom (bits 8-14, top to bottom), beside the dark module.
func (m *matrix) drawFormat(level Level, mask int) {
	f := formatBits(level, mask)
	bit := func(i int) bool { return f>>uint(i)&1 != 0 }
	n := m.size
	for i := range 6 {
		m.set(8, i, bit(i))
	}
	m.set(8, 7, bit(6))
	m.set(8, 8, bit(7))
	m.set(7, 8, bit(8))
	for i := 9; i < 15; i++ {
		m.set(14-i, 8, bit(i))
	}
	for i := range 8 {
		m.set(n-1-i, 8, bit(i))
	}
	for i := 8; i < 15; i++ {
		m.set(8, n-15+i, bit(i))
	}
	m.set(8, n-8, true) // the dark module (§6.3.3 note, Figure 25)
}

// placeCodewords fills the non-function modules with the codeword bits,
// most significant bit first, in two-module-wide columns from the right
// edge, upwards and downwards in turn, stepping over the vertical timing
// pattern (§7.7.3). Modules left over are remainder bits, zero.
func (m *matrix) placeCodewords(cw []byte) {
	n := m.size
	i := 0 // bit index
	up := true
	for right := n - 1; right >= 1; right -= 2 {
		if right == 6 {
			right = 5
		}
		for k := range n {
			y := k
			if up {
				y = n - 1 - k
			}
			for _, x := range [2]int{right, right - 1} {
				if m.fn[y*n+x] {
					continue
				}
				if i < len(cw)*8 {
					m.dark[y*n+x] = cw[i/8]>>uint(7-i%8)&1 != 0
				}
				i++
			}
		}
		up = !up
	}
}

// masked reports whether data mask k inverts the module in row y, column x
// (§7.8.2, Table 10).
func masked(k, x, y int) bool {
	switch k {
	case 0:
		return (x+y)%2 == 0
	case 1:
		return y%2 == 0
	case 2:
		return x%3 == 0
	case 3:
		return (x+y)%3 == 0
	case 4:
		return (y/2+x/3)%2 == 0
	case 5:
		return x*y%2+x*y%3 == 0
	case 6:
		return (x*y%2+x*y%3)%2 == 0
	default:
		return ((x+y)%2+x*y%3)%2 == 0
	}
}

// applyMask XORs mask k onto the data modules. Applying it twice undoes it.
func (m *matrix) applyMask(k int) {
	for y := range m.size {
		for x := range m.size {
			if !m.fn[y*m.size+x] && masked(k, x, y) {
				m.dark[y*m.size+x] = !m.dark[y*m.size+x]
			}
		}
	}
}

// Penalty weights N1 to N4 (§7.8.3.1, Table 11).
const (
	penaltyN1 = 3
	penaltyN2 = 3
	penaltyN3 = 40
	penaltyN4 = 10
)

// penalty scores the symbol by the four rules of §7.8.3.1: runs of five or
// more same-coloured modules in a row or column, 2×2 blocks of one colour,
// finder-like 1:1:3:1:1 patterns with four light modules before or after
// them (each side counted), and the departure of the dark proportion from
// 50 %.
func (m *matrix) penalty() int {
	n := m.size
	// at reads a module of a row (or, transposed, a column); outside the
	// symbol it reads the light quiet zone.
	at := func(x, y int, transpose bool) bool {
		if x < 0 || x >= n {
			return false
		}
		if transpose {
			x, y = y, x
		}
		return m.dark[y*n+x]
	}
	light4 := func(x, y int, tr bool) bool {
		return !at(x, y, tr) && !at(x+1, y, tr) && !at(x+2, y, tr) && !at(x+3, y, tr)
	}
	score := 0
	for _, tr := range [2]bool{false, true} {
		for y := range n {
			run := 1
			for x := 1; x <= n; x++ {
				if x < n && at(x, y, tr) == at(x-1, y, tr) {
					run++
					continue
				}
				if run >= 5 {
					score += penaltyN1 + run - 5
				}
				run = 1
			}
			// 1011101 preceded by 0000, and 1011101 followed by 0000, each
			// counted; the quiet zone counts as light.
			for x := 0; x+7 <= n; x++ {
				if !finderLike(func(i int) bool { return at(x+i, y, tr) }) {
					continue
				}
				if light4(x-4, y, tr) {
					score += penaltyN3
				}
				if light4(x+7, y, tr) {
					score += penaltyN3
				}
			}
		}
	}
	dark := 0
	for y := range n {
		for x := range n {
			d := m.dark[y*n+x]
			if d {
				dark++
			}
			if x+1 < n && y+1 < n && d == m.dark[y*n+x+1] && d == m.dark[(y+1)*n+x] && d == m.dark[(y+1)*n+x+1] {
				score += penaltyN2
			}
		}
	}
	// k = the number of whole 5 % steps the dark proportion is away from 50 %.
	total := n * n
	k := abs(dark*20-total*10) / total
	score += penaltyN4 * k
	return score
}

// finderLike reports whether the seven modules at(0…6) read dark, light,
// dark, dark, dark, light, dark.
func finderLike(at func(int) bool) bool {
	return at(0) && !at(1) && at(2) && at(3) && at(4) && !at(5) && at(6)
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
