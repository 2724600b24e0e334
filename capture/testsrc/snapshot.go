package testsrc

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"image"
	"image/draw"
	"image/jpeg"
	"io/fs"
	"slices"
	"sync"
	"time"

	"github.com/mattercam/mattercam/capture"
)

// Snapshots. Go has no H.264 decoder, so the source cannot take a picture
// of the clip it plays. gen.sh therefore also codes JPEG stills of the same
// pictures, one per second of the clip, and Snapshot returns the still
// nearest to the playback position, scaled down when asked for less.

//go:embed clip/still-*.jpg
var stillFS embed.FS

// snapshotQuality is the JPEG quality of scaled-down snapshots (the
// stills themselves are coded by gen.sh at about the same quality).
const snapshotQuality = 75

var _ capture.Snapshotter = (*Video)(nil)

// Snapshot implements capture.Snapshotter: a JPEG of the picture due now.
// The playback position is the wall-clock time since the source's start
// modulo the clip length, the PTS the pacer releases at this instant, so
// a snapshot shows what a viewer sees now. This holds whether or not
// anyone is reading the source, as with a real camera.
func (v *Video) Snapshot(ctx context.Context, maxWidth, maxHeight int) ([]byte, int, int, error) {
	if maxWidth < 1 || maxHeight < 1 {
		return nil, 0, 0, fmt.Errorf("testsrc: snapshot of at most %dx%d", maxWidth, maxHeight)
	}
	if err := ctx.Err(); err != nil {
		return nil, 0, 0, err
	}
	st, err := loadStills()
	if err != nil {
		return nil, 0, 0, err
	}
	pos := max(time.Since(v.pace.start), 0)
	s := st.at(pos, v.clip.pts(uint64(len(v.clip.normal))))
	w, h := fitWithin(s.width, s.height, maxWidth, maxHeight)
	if w == s.width && h == s.height {
		return bytes.Clone(s.jpeg), w, h, nil
	}
	b, err := scaleJPEG(s.jpeg, w, h)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("testsrc: snapshot: %w", err)
	}
	return b, w, h, nil
}

// still is one embedded JPEG.
type still struct {
	jpeg          []byte
	width, height int
}

// stills are the embedded stills, evenly spaced over the clip: still i
// shows the picture at i*clipLength/len(stills).
type stills []still

var loadStills = sync.OnceValues(func() (stills, error) {
	return parseStills(stillFS)
})

// parseStills reads clip/still-0.jpg, still-1.jpg, … in order, and checks
// that each is a JPEG of the clip's size.
func parseStills(fsys fs.FS) (stills, error) {
	names, err := fs.Glob(fsys, "clip/still-*.jpg")
	if err != nil {
		return nil, fmt.Errorf("testsrc: stills: %w", err)
	}
	var st stills
	for i := range names {
		// By index, not by the glob's lexical order (still-10 sorts
		// before still-2).
		name := fmt.Sprintf("clip/still-%d.jpg", i)
		if !slices.Contains(names, name) {
			return nil, fmt.Errorf("testsrc: stills: %s missing", name)
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("testsrc: stills: %w", err)
		}
		cfg, err := jpeg.DecodeConfig(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("testsrc: %s: %w", name, err)
		}
		st = append(st, still{jpeg: b, width: cfg.Width, height: cfg.Height})
	}
	if len(st) == 0 {
		return nil, errors.New("testsrc: no stills embedded")
	}
	return st, nil
}

// at returns the still nearest to playback position pos of a clip of the
// given length. The clip loops, so the nearest still to a position just
// before the end is the first one.
func (st stills) at(pos, length time.Duration) still {
	return st[st.index(pos, length)]
}

func (st stills) index(pos, length time.Duration) int {
	if length <= 0 {
		return 0
	}
	n := time.Duration(len(st))
	pos %= length
	// Round pos/(length/n) to the nearest integer without dividing the
	// length first (which could truncate): (2*pos*n + length) / (2*length).
	i := (2*pos*n + length) / (2 * length)
	return int(i % n)
}

// fitWithin returns the largest size with w:h's aspect ratio (rounded to
// whole pixels, at least 1x1) that fits maxW x maxH and is no larger
// than w x h.
func fitWithin(w, h, maxW, maxH int) (int, int) {
	if w <= maxW && h <= maxH {
		return w, h
	}
	// Width-bound when w/h >= maxW/maxH.
	if w*maxH >= h*maxW {
		return maxW, max(1, (h*maxW+w/2)/w)
	}
	return max(1, (w*maxH+h/2)/h), maxH
}

// scaleJPEG decodes src and re-encodes it at w x h (no larger than the
// source), averaging the source pixels each output pixel covers (a box
// filter: right for reduction, and free of the aliasing of point
// sampling).
func scaleJPEG(src []byte, w, h int) ([]byte, error) {
	img, err := jpeg.Decode(bytes.NewReader(src))
	if err != nil {
		return nil, err
	}
	b := img.Bounds()
	rgba := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	// The standard library converts YCbCr to RGBA on a fast path.
	draw.Draw(rgba, rgba.Bounds(), img, b.Min, draw.Src)
	out := boxScale(rgba, w, h)
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, out, &jpeg.Options{Quality: snapshotQuality}); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// boxScale reduces src to w x h (each at most src's and at least 1):
// output pixel (x, y) is the mean of the source pixels in columns
// [x*W/w, (x+1)*W/w) and rows [y*H/h, (y+1)*H/h), which are never empty
// because w <= W and h <= H.
func boxScale(src *image.RGBA, w, h int) *image.RGBA {
	sw, sh := src.Rect.Dx(), src.Rect.Dy()
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		y0, y1 := y*sh/h, (y+1)*sh/h
		for x := range w {
			x0, x1 := x*sw/w, (x+1)*sw/w
			var sum [4]uint32
			for sy := y0; sy < y1; sy++ {
				row := src.Pix[sy*src.Stride+x0*4 : sy*src.Stride+x1*4]
				for i := 0; i < len(row); i += 4 {
					sum[0] += uint32(row[i])
					sum[1] += uint32(row[i+1])
					sum[2] += uint32(row[i+2])
					sum[3] += uint32(row[i+3])
				}
			}
			n := uint32((y1 - y0) * (x1 - x0))
			o := dst.PixOffset(x, y)
			for c := range sum {
				dst.Pix[o+c] = uint8((sum[c] + n/2) / n)
			}
		}
	}
	return dst
}
