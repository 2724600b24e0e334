package qrcode

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Data and error correction codewords of published worked examples.
func TestCodewords(t *testing.T) {
	tests := []struct {
		name     string
		text     string
		version  int
		level    Level
		data, ec []byte
	}{{
		// ISO/IEC 18004:2015 Annex I ("Symbol encoding example"): "01234567"
		// in numeric mode, version 1-M.
		name: "ISO 18004 Annex I", text: "01234567", version: 1, level: M,
		data: []byte{16, 32, 12, 86, 97, 128, 236, 17, 236, 17, 236, 17, 236, 17, 236, 17},
		ec:   []byte{165, 36, 212, 193, 237, 54, 199, 135, 44, 85},
	}, {
		// The alphanumeric "HELLO WORLD" 1-M example of the Thonky QR Code
		// Tutorial (thonky.com/qr-code-tutorial), data and error correction.
		name: "HELLO WORLD 1-M", text: "HELLO WORLD", version: 1, level: M,
		data: []byte{32, 91, 11, 120, 209, 114, 220, 77, 67, 64, 236, 17, 236, 17, 236, 17},
		ec:   []byte{196, 35, 39, 119, 235, 215, 231, 226, 93, 23},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := blocksFor(tc.version, tc.level)
			data := newSegment(tc.text).codewords(tc.version, b.dataCodewords())
			if !bytes.Equal(data, tc.data) {
				t.Errorf("data codewords\n got %v\nwant %v", data, tc.data)
			}
			if ec := ecCodewords(tc.data, b.ec); !bytes.Equal(ec, tc.ec) {
				t.Errorf("error correction codewords\n got %v\nwant %v", ec, tc.ec)
			}
		})
	}
}

// The generator polynomial of degree 10, α⁰ + α²⁵¹x + … in the exponent form
// of ISO/IEC 18004 Annex A, as coefficient values.
func TestGenerator(t *testing.T) {
	want := []byte{216, 194, 159, 111, 199, 94, 95, 113, 157, 193}
	if g := generator(10); !bytes.Equal(g, want) {
		t.Errorf("generator(10) = %v, want %v", g, want)
	}
}

// Format information of every level and mask: ISO/IEC 18004 Annex C,
// Table C.1, after the XOR with 101010000010010.
func TestFormatBits(t *testing.T) {
	want := map[Level][8]uint32{
		L: {0x77C4, 0x72F3, 0x7DAA, 0x789D, 0x662F, 0x6318, 0x6C41, 0x6976},
		M: {0x5412, 0x5125, 0x5E7C, 0x5B4B, 0x45F9, 0x40CE, 0x4F97, 0x4AA0},
		Q: {0x355F, 0x3068, 0x3F31, 0x3A06, 0x24B4, 0x2183, 0x2EDA, 0x2BED},
		H: {0x1689, 0x13BE, 0x1CE7, 0x19D0, 0x0762, 0x0255, 0x0D0C, 0x083B},
	}
	for l, masks := range want {
		for k, w := range masks {
			if got := formatBits(l, k); got != w {
				t.Errorf("formatBits(%s, %d) = %015b, want %015b", l, k, got, w)
			}
		}
	}
}

// Version information: ISO/IEC 18004 Annex D, Table D.1.
func TestVersionBits(t *testing.T) {
	for v, want := range map[int]uint32{7: 0x07C94, 8: 0x085BC, 9: 0x09A99, 10: 0x0A4D3} {
		if got := versionBits(v); got != want {
			t.Errorf("versionBits(%d) = %018b, want %018b", v, got, want)
		}
	}
}

// Every row of the block table must add up to the codeword capacity of the
// symbol: the modules left after the function patterns, in whole octets,
// leaving the remainder bits of §7.7.3 (Table 1: 0 for version 1, 7 for
// versions 2-6, 0 for 7-13).
func TestBlockTable(t *testing.T) {
	remainder := [MaxVersion + 1]int{1: 0, 2: 7, 3: 7, 4: 7, 5: 7, 6: 7, 7: 0, 8: 0, 9: 0, 10: 0}
	for v := 1; v <= MaxVersion; v++ {
		m := newMatrix(v)
		m.drawFunctionPatterns()
		free := 0
		for _, f := range m.fn {
			if !f {
				free++
			}
		}
		if free%8 != remainder[v] {
			t.Errorf("version %d: %d data modules, remainder %d, want %d", v, free, free%8, remainder[v])
		}
		for l := L; l <= H; l++ {
			if got := blocksFor(v, l).totalCodewords(); got != free/8 {
				t.Errorf("version %d-%s: table gives %d codewords, symbol holds %d", v, l, got, free/8)
			}
		}
	}
}

// Data capacities of ISO/IEC 18004 Table 7 for versions 1 and 10: the
// longest text of each mode fits, one more character does not.
func TestCapacity(t *testing.T) {
	tests := []struct {
		version int
		level   Level
		numeric int
		alnum   int
		bytes   int
	}{
		{1, L, 41, 25, 17}, {1, M, 34, 20, 14}, {1, Q, 27, 16, 11}, {1, H, 17, 10, 7},
		{10, L, 652, 395, 271}, {10, M, 513, 311, 213}, {10, Q, 364, 221, 151}, {10, H, 288, 174, 119},
	}
	for _, tc := range tests {
		for _, c := range []struct {
			ch string
			n  int
		}{{"7", tc.numeric}, {"Z", tc.alnum}, {"z", tc.bytes}} {
			code, err := Encode(strings.Repeat(c.ch, c.n), tc.level)
			if err != nil || code.Version() != tc.version {
				t.Errorf("%d × %q at %s: version %v, %v; want version %d", c.n, c.ch, tc.level, version(code), err, tc.version)
			}
			code, err = Encode(strings.Repeat(c.ch, c.n+1), tc.level)
			if tc.version == MaxVersion {
				if !errors.Is(err, ErrTooLong) {
					t.Errorf("%d × %q at %s: %v, want ErrTooLong", c.n+1, c.ch, tc.level, err)
				}
			} else if err != nil || code.Version() != tc.version+1 {
				t.Errorf("%d × %q at %s: version %v, %v; want %d", c.n+1, c.ch, tc.level, version(code), err, tc.version+1)
			}
		}
	}
}

func version(c *Code) int {
	if c == nil {
		return 0
	}
	return c.Version()
}

func TestEncodeErrors(t *testing.T) {
	if _, err := Encode("x", Level(4)); !errors.Is(err, ErrLevel) {
		t.Errorf("level 4: %v, want ErrLevel", err)
	}
	if _, err := Encode(strings.Repeat("x", 300), L); !errors.Is(err, ErrTooLong) {
		t.Errorf("300 octets: %v, want ErrTooLong", err)
	}
	if c, err := Encode("", M); err != nil || c.Version() != 1 {
		t.Errorf("empty text: %v, %v", version(c), err)
	}
}

// asText draws c as the reference files do: '#' dark, '.' light.
func asText(c *Code) string {
	var sb strings.Builder
	for y := range c.Size() {
		for x := range c.Size() {
			if c.Dark(x, y) {
				sb.WriteByte('#')
			} else {
				sb.WriteByte('.')
			}
		}
		sb.WriteByte('\n')
	}
	return sb.String()
}

// Whole symbols against an independent encoder (testdata/README.md): every
// module, including format and version information, must agree.
func TestReferenceSymbols(t *testing.T) {
	tests := []struct {
		file    string
		text    string
		version int
		mask    int
	}{
		{"01234567-1M-mask2.txt", "01234567", 1, 2},
		{"MT-24J0AFN00KA0648G00-2M-mask1.txt", "MT:-24J0AFN00KA0648G00", 2, 1},
		{"xyz50-8M-mask1.txt", strings.Repeat("xyz", 50), 8, 1},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			got := asText(encode(newSegment(tc.text), tc.version, M, tc.mask))
			if got != string(want) {
				t.Errorf("symbol differs\n got:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

// parseText turns Text output back into module rows: true where the
// terminal paints its foreground.
func parseText(t *testing.T, s string) [][]bool {
	t.Helper()
	var rows [][]bool
	for _, line := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		var top, bottom []bool
		for _, r := range line {
			switch r {
			case '█':
				top, bottom = append(top, true), append(bottom, true)
			case '▀':
				top, bottom = append(top, true), append(bottom, false)
			case '▄':
				top, bottom = append(top, false), append(bottom, true)
			case ' ':
				top, bottom = append(top, false), append(bottom, false)
			default:
				t.Fatalf("unexpected character %q in %q", r, line)
			}
		}
		rows = append(rows, top, bottom)
	}
	return rows
}

func TestText(t *testing.T) {
	c, err := Encode("MT:-24J0AFN00KA0648G00", M)
	if err != nil {
		t.Fatal(err)
	}
	for _, lightOnDark := range []bool{false, true} {
		for _, quiet := range []int{0, 1, 4} {
			rows := parseText(t, c.Text(quiet, lightOnDark))
			side := c.Size() + 2*quiet
			if len(rows) != side+1 || len(rows[0]) != side {
				t.Fatalf("quiet %d: %d × %d cells, want %d × %d plus a half line", quiet, len(rows[0]), len(rows), side, side)
			}
			for y := range side {
				for x := range side {
					if rows[y][x] != (c.Dark(x-quiet, y-quiet) != lightOnDark) {
						t.Fatalf("quiet %d lightOnDark %v: module (%d, %d) wrong", quiet, lightOnDark, x-quiet, y-quiet)
					}
				}
			}
			// The half line below an odd number of rows is background.
			for _, b := range rows[side] {
				if b {
					t.Fatalf("quiet %d: the unused lower half of the last line is painted", quiet)
				}
			}
		}
	}
}

// zbarimg is the independent check that a symbol scans: it must read back
// exactly the text that went in. `make deps` installs zbar-tools.
func zbarimg(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("zbarimg")
	if err != nil {
		t.Skip("zbarimg not installed (Debian package zbar-tools; scripts/deps installs it)")
	}
	return path
}

func scan(t *testing.T, zbar string, img image.Image) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "qr.png")
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(zbar, "--quiet", "--raw", file).Output()
	if err != nil {
		t.Fatalf("zbarimg: %v", err)
	}
	return strings.TrimSuffix(string(out), "\n")
}

func TestZbarReadsSymbols(t *testing.T) {
	zbar := zbarimg(t)
	texts := []string{
		"MT:-24J0AFN00KA0648G00",
		"01234567",
		"HELLO WORLD",
		"https://example.com/?q=1",
		"héllo wörld",
		strings.Repeat("0123456789", 20),
		strings.Repeat("MT:Y.K9042C00KA0648G00", 8),
		strings.Repeat("xyz", 50),
	}
	for _, text := range texts {
		for l := L; l <= H; l++ {
			c, err := Encode(text, l)
			if errors.Is(err, ErrTooLong) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := scan(t, zbar, c.Image(3, QuietZone)); got != text {
				t.Errorf("%q at %s (version %d, mask %d): zbarimg read %q", text, l, c.Version(), c.Mask(), got)
			}
		}
	}
	// Every version and every mask, forced.
	for v := 1; v <= MaxVersion; v++ {
		for k := range 8 {
			text := strings.Repeat("A", 10*v)
			if got := scan(t, zbar, encode(newSegment(text), v, L, k).Image(3, QuietZone)); got != text {
				t.Errorf("version %d mask %d: zbarimg read %q", v, k, got)
			}
		}
	}
}

// The terminal rendering itself scans: its characters are drawn back into
// pixels as a terminal would paint them, black on white, or white on black
// for the lightOnDark form, whose blocks are then the light modules.
func TestZbarReadsText(t *testing.T) {
	zbar := zbarimg(t)
	const text = "MT:-24J0AFN00KA0648G00"
	c, err := Encode(text, M)
	if err != nil {
		t.Fatal(err)
	}
	for _, lightOnDark := range []bool{false, true} {
		rows := parseText(t, c.Text(QuietZone, lightOnDark))
		const scale = 4
		img := image.NewGray(image.Rect(0, 0, len(rows[0])*scale+16, len(rows)*scale+16))
		fg, bg := color.Gray{Y: 0}, color.Gray{Y: 0xFF}
		if lightOnDark {
			fg, bg = bg, fg
		}
		for py := range img.Bounds().Dy() {
			for px := range img.Bounds().Dx() {
				x, y := (px-8)/scale, (py-8)/scale
				on := px >= 8 && py >= 8 && y < len(rows) && x < len(rows[0]) && rows[y][x]
				if on {
					img.SetGray(px, py, fg)
				} else {
					img.SetGray(px, py, bg)
				}
			}
		}
		if got := scan(t, zbar, img); got != text {
			t.Errorf("lightOnDark %v: zbarimg read %q", lightOnDark, got)
		}
	}
}

// FuzzEncode: Encode never panics, and a symbol it returns has the size of
// its version and renders.
func FuzzEncode(f *testing.F) {
	f.Add("MT:-24J0AFN00KA0648G00", uint8(1))
	f.Add("01234567", uint8(0))
	f.Add("héllo", uint8(3))
	f.Fuzz(func(t *testing.T, text string, level uint8) {
		c, err := Encode(text, Level(level))
		if err != nil {
			if !errors.Is(err, ErrTooLong) && !errors.Is(err, ErrLevel) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if c.Size() != 17+4*c.Version() || c.Mask() < 0 || c.Mask() > 7 {
			t.Fatalf("version %d, size %d, mask %d", c.Version(), c.Size(), c.Mask())
		}
		_ = c.Text(QuietZone, true)
	})
}
