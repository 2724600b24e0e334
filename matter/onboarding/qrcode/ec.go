package qrcode

// blocks describes how the codewords of one version and level split into
// error correction blocks (§7.5.1, Table 9): group-1 blocks of n1 data
// codewords, then group-2 blocks of n1+1, every block with ec error
// correction codewords.
type blocks struct {
	ec     int // error correction codewords per block
	g1, n1 int // group 1: number of blocks and data codewords in each
	g2     int // group 2: number of blocks, each with n1+1 data codewords
}

func (b blocks) dataCodewords() int { return b.g1*b.n1 + b.g2*(b.n1+1) }
func (b blocks) totalCodewords() int {
	return b.dataCodewords() + (b.g1+b.g2)*b.ec
}

// blockTable is Table 9 of ISO/IEC 18004 for versions 1 to 10, indexed by
// version-1 and Level (L, M, Q, H). A test checks every row against the
// codeword capacity computed from the symbol layout.
var blockTable = [MaxVersion][4]blocks{
	{{7, 1, 19, 0}, {10, 1, 16, 0}, {13, 1, 13, 0}, {17, 1, 9, 0}},
	{{10, 1, 34, 0}, {16, 1, 28, 0}, {22, 1, 22, 0}, {28, 1, 16, 0}},
	{{15, 1, 55, 0}, {26, 1, 44, 0}, {18, 2, 17, 0}, {22, 2, 13, 0}},
	{{20, 1, 80, 0}, {18, 2, 32, 0}, {26, 2, 24, 0}, {16, 4, 9, 0}},
	{{26, 1, 108, 0}, {24, 2, 43, 0}, {18, 2, 15, 2}, {22, 2, 11, 2}},
	{{18, 2, 68, 0}, {16, 4, 27, 0}, {24, 4, 19, 0}, {28, 4, 15, 0}},
	{{20, 2, 78, 0}, {18, 4, 31, 0}, {18, 2, 14, 4}, {26, 4, 13, 1}},
	{{24, 2, 97, 0}, {22, 2, 38, 2}, {22, 4, 18, 2}, {26, 4, 14, 2}},
	{{30, 2, 116, 0}, {22, 3, 36, 2}, {20, 4, 16, 4}, {24, 4, 12, 4}},
	{{18, 2, 68, 2}, {26, 4, 43, 1}, {24, 6, 19, 2}, {28, 6, 15, 2}},
}

func blocksFor(v int, l Level) blocks { return blockTable[v-1][l] }

// GF(256) arithmetic with the field's generating polynomial
// x⁸ + x⁴ + x³ + x² + 1 (§7.5.2), by logarithm tables.
var gfExp, gfLog = func() (exp [512]byte, log [256]byte) {
	x := 1
	for i := range 255 {
		exp[i] = byte(x)
		log[x] = byte(i)
		x <<= 1
		if x&0x100 != 0 {
			x ^= 0x11D
		}
	}
	for i := 255; i < 512; i++ { // so exp[log a + log b] needs no reduction
		exp[i] = exp[i-255]
	}
	return
}()

func gfMul(a, b byte) byte {
	if a == 0 || b == 0 {
		return 0
	}
	return gfExp[int(gfLog[a])+int(gfLog[b])]
}

// generator returns the coefficients of the Reed-Solomon generator
// polynomial of degree n, (x - α⁰)(x - α¹)…(x - αⁿ⁻¹) (§7.5.2, Annex A),
// highest degree first, without the leading 1.
func generator(n int) []byte {
	g := make([]byte, n+1)
	g[0] = 1
	for i := range n {
		// multiply by (x + αⁱ); in GF(2⁸) subtraction is addition
		root := gfExp[i]
		for j := i + 1; j > 0; j-- {
			g[j] = g[j-1] ^ gfMul(g[j], root)
		}
		g[0] = gfMul(g[0], root)
	}
	// g was built lowest degree first; reverse it and drop the leading 1
	out := make([]byte, n)
	for i := range n {
		out[i] = g[n-1-i]
	}
	return out
}

// ecCodewords returns the n error correction codewords of data: the
// remainder of data(x)·xⁿ divided by the generator polynomial.
func ecCodewords(data []byte, n int) []byte {
	gen := generator(n)
	rem := make([]byte, n)
	for _, d := range data {
		factor := d ^ rem[0]
		copy(rem, rem[1:])
		rem[n-1] = 0
		for i, g := range gen {
			rem[i] ^= gfMul(g, factor)
		}
	}
	return rem
}

// interleave splits data into the blocks of b, appends each block's error
// correction codewords, and interleaves the result into the final
// codeword sequence (§7.6): the first data codeword of every block, then
// the second, and so on, then the error correction codewords the same way.
func interleave(data []byte, b blocks) []byte {
	nb := b.g1 + b.g2
	dataBlocks := make([][]byte, nb)
	ecBlocks := make([][]byte, nb)
	off := 0
	for i := range nb {
		n := b.n1
		if i >= b.g1 {
			n++
		}
		dataBlocks[i] = data[off : off+n]
		ecBlocks[i] = ecCodewords(dataBlocks[i], b.ec)
		off += n
	}
	out := make([]byte, 0, b.totalCodewords())
	for i := 0; i <= b.n1; i++ {
		for _, blk := range dataBlocks {
			if i < len(blk) {
				out = append(out, blk[i])
			}
		}
	}
	for i := range b.ec {
		for _, blk := range ecBlocks {
			out = append(out, blk[i])
		}
	}
	return out
}
