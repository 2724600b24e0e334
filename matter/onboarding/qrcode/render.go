package qrcode

import (
	"image"
	"image/color"
	"strings"
)

// QuietZone is the light margin ISO/IEC 18004 requires around a symbol, in
// modules (§6.3.8).
const QuietZone = 4

// Text renders c for a terminal with half-block characters, two module
// rows per line of text and one module per column, so that modules come
// out roughly square in a typical terminal font. quiet is the margin in
// modules on every side (QuietZone is the standard's; negative means 0).
//
// A block character paints the terminal's foreground colour and a space
// leaves its background. With lightOnDark set, blocks stand for the light
// modules, which is right for the usual light-on-dark terminal; otherwise
// blocks are the dark modules, as on paper. Lines end with "\n".
func (c *Code) Text(quiet int, lightOnDark bool) string {
	quiet = max(quiet, 0)
	var sb strings.Builder
	lo, hi := -quiet, c.size+quiet
	for y := lo; y < hi; y += 2 {
		for x := lo; x < hi; x++ {
			top := c.Dark(x, y) != lightOnDark
			// On an odd last line the lower half is beyond the margin and
			// shows the terminal background.
			bottom := y+1 < hi && c.Dark(x, y+1) != lightOnDark
			switch {
			case top && bottom:
				sb.WriteString("█")
			case top:
				sb.WriteString("▀")
			case bottom:
				sb.WriteString("▄")
			default:
				sb.WriteByte(' ')
			}
		}
		sb.WriteByte('\n')
	}
	return sb.String()
}

// Image renders c as a grayscale image, scale pixels per module, with a
// light margin of quiet modules. A scale below 1 is taken as 1.
func (c *Code) Image(scale, quiet int) *image.Gray {
	scale, quiet = max(scale, 1), max(quiet, 0)
	side := (c.size + 2*quiet) * scale
	img := image.NewGray(image.Rect(0, 0, side, side))
	for py := range side {
		for px := range side {
			v := color.Gray{Y: 0xFF}
			if c.Dark(px/scale-quiet, py/scale-quiet) {
				v.Y = 0
			}
			img.SetGray(px, py, v)
		}
	}
	return img
}
