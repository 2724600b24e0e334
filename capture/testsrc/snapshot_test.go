package testsrc

import (
	"bytes"
	"context"
	"image"
	"image/jpeg"
	"strconv"
	"testing"
	"testing/fstest"
	"testing/synctest"
	"time"
)

// maxStillSize bounds each embedded still: a snapshot must fit one Matter
// large message (about 63 KB, spec digest §5.5) with room to spare.
const maxStillSize = 60000

// clipLength is the clip's duration: clipFrames at 30 fps.
const clipLength = 2 * time.Second

func decodeJPEG(t *testing.T, b []byte) image.Image {
	t.Helper()
	img, err := jpeg.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not a JPEG: %v", err)
	}
	return img
}

// meanRGB returns the mean colour of r in img, 8 bits per channel.
func meanRGB(img image.Image, r image.Rectangle) [3]uint32 {
	var sum [3]uint64
	var n uint64
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			cr, cg, cb, _ := img.At(x, y).RGBA()
			sum[0] += uint64(cr >> 8)
			sum[1] += uint64(cg >> 8)
			sum[2] += uint64(cb >> 8)
			n++
		}
	}
	return [3]uint32{uint32(sum[0] / n), uint32(sum[1] / n), uint32(sum[2] / n)}
}

// redFlash reports whether img shows the red square gen.sh draws on
// frames 0-2 (x 40-200, y 120-280 at 1280x720), sampled inside it in
// coordinates scaled to img's size.
func redFlash(img image.Image) bool {
	b := img.Bounds()
	sx := func(x int) int { return x * b.Dx() / 1280 }
	sy := func(y int) int { return y * b.Dy() / 720 }
	c := meanRGB(img, image.Rect(sx(60), sy(140), max(sx(180), sx(60)+1), max(sy(260), sy(140)+1)))
	return c[0] > 200 && c[1] < 60 && c[2] < 60
}

func TestEmbeddedStills(t *testing.T) {
	st, err := loadStills()
	if err != nil {
		t.Fatal(err)
	}
	// One per second of the clip.
	if len(st) != int(clipLength/time.Second) {
		t.Fatalf("%d stills, want %d", len(st), clipLength/time.Second)
	}
	for i, s := range st {
		if len(s.jpeg) >= maxStillSize {
			t.Errorf("still %d: %d bytes, want < %d", i, len(s.jpeg), maxStillSize)
		}
		img := decodeJPEG(t, s.jpeg)
		if b := img.Bounds(); b.Dx() != 1280 || b.Dy() != 720 || s.width != 1280 || s.height != 720 {
			t.Errorf("still %d: %v (config %dx%d), want 1280x720", i, b, s.width, s.height)
		}
		// Still 0 is frame 0, which has the red flash; still 1 is frame
		// 30, which has not.
		if got := redFlash(img); got != (i == 0) {
			t.Errorf("still %d: red flash %v", i, got)
		}
	}
}

func TestStillIndex(t *testing.T) {
	st := make(stills, 2)
	for _, tc := range []struct {
		pos  time.Duration
		want int
	}{
		{0, 0},
		{400 * time.Millisecond, 0},
		{499 * time.Millisecond, 0},
		{500 * time.Millisecond, 1}, // halfway: the later one
		{time.Second, 1},
		{1400 * time.Millisecond, 1},
		{1600 * time.Millisecond, 0}, // nearer the loop point than frame 30
		{1999 * time.Millisecond, 0},
		{2 * time.Second, 0},
		{3100 * time.Millisecond, 1}, // second loop
		{time.Hour + time.Second, 1},
	} {
		if got := st.index(tc.pos, clipLength); got != tc.want {
			t.Errorf("index(%v) = %d, want %d", tc.pos, got, tc.want)
		}
	}
	if got := make(stills, 4).index(1600*time.Millisecond, clipLength); got != 3 {
		t.Errorf("four stills: index(1.6s) = %d, want 3", got)
	}
	if got := st.index(time.Second, 0); got != 0 {
		t.Errorf("zero length: index %d, want 0", got)
	}
}

func TestFitWithin(t *testing.T) {
	for _, tc := range []struct {
		w, h, maxW, maxH int
		wantW, wantH     int
	}{
		{1280, 720, 1920, 1080, 1280, 720}, // never scales up
		{1280, 720, 1280, 720, 1280, 720},
		{1280, 720, 640, 480, 640, 360},   // width-bound
		{1280, 720, 1920, 360, 640, 360},  // height-bound
		{1280, 720, 100, 100, 100, 56},    // 56.25 rounds down
		{1280, 720, 1, 1, 1, 1},           // never below 1x1
		{1280, 720, 1280, 700, 1244, 700}, // 1244.4
		{1280, 720, 3, 65535, 3, 2},       // 1.69 rounds up
	} {
		w, h := fitWithin(tc.w, tc.h, tc.maxW, tc.maxH)
		if w != tc.wantW || h != tc.wantH {
			t.Errorf("fitWithin(%dx%d in %dx%d) = %dx%d, want %dx%d", tc.w, tc.h, tc.maxW, tc.maxH, w, h, tc.wantW, tc.wantH)
		}
	}
}

func TestSnapshot(t *testing.T) {
	st, err := loadStills()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name         string
		maxW, maxH   int
		wantW, wantH int
	}{
		{"full size", 1920, 1080, 1280, 720},
		{"exact", 1280, 720, 1280, 720},
		{"VGA", 640, 480, 640, 360},
		{"thumbnail", 160, 160, 160, 90},
		{"one pixel", 1, 1, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				v, err := NewVideo()
				if err != nil {
					t.Fatal(err)
				}
				defer v.Close()
				b, w, h, err := v.Snapshot(t.Context(), tc.maxW, tc.maxH)
				if err != nil {
					t.Fatal(err)
				}
				if w != tc.wantW || h != tc.wantH {
					t.Fatalf("size %dx%d, want %dx%d", w, h, tc.wantW, tc.wantH)
				}
				if len(b) >= maxStillSize {
					t.Errorf("%d bytes, want < %d", len(b), maxStillSize)
				}
				img := decodeJPEG(t, b)
				if got := img.Bounds(); got.Dx() != w || got.Dy() != h {
					t.Errorf("JPEG is %v, reported %dx%d", got, w, h)
				}
				// At the start the picture is frame 0, with the red flash;
				// the scaled pictures keep it (box filter, not a crop).
				if w >= 16 && !redFlash(img) {
					t.Error("no red flash in the snapshot of frame 0")
				}
				if w == 1280 {
					if !bytes.Equal(b, st[0].jpeg) {
						t.Error("a full-size snapshot is not the embedded still")
					}
					// The caller owns the bytes: changing them must not
					// change the next snapshot.
					b[len(b)/2] ^= 0xFF
					b2, _, _, err := v.Snapshot(t.Context(), tc.maxW, tc.maxH)
					if err != nil || !bytes.Equal(b2, st[0].jpeg) {
						t.Error("the embedded still was modified through a snapshot")
					}
				}
			})
		})
	}
}

// TestSnapshotFollowsPlayback checks that the picture follows the clip's
// playback position, whether or not the source is being read.
func TestSnapshotFollowsPlayback(t *testing.T) {
	st, err := loadStills()
	if err != nil {
		t.Fatal(err)
	}
	synctest.Test(t, func(t *testing.T) {
		v, err := NewVideo()
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close()
		snap := func() []byte {
			t.Helper()
			b, _, _, err := v.Snapshot(t.Context(), 1280, 720)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
		for _, step := range []struct {
			at   time.Duration // since start
			read bool          // read the frames due first
			want int
		}{
			{0, false, 0},
			{400 * time.Millisecond, true, 0},
			{1100 * time.Millisecond, true, 1},
			{1600 * time.Millisecond, false, 0}, // nearest is the loop point
			{3 * time.Second, false, 1},
			{4 * time.Second, true, 0},
		} {
			time.Sleep(step.at - sinceStart(v))
			if step.read {
				for sinceStart(v) >= v.clip.pts(v.n) {
					au, err := v.ReadAccessUnit(t.Context())
					if err != nil {
						t.Fatal(err)
					}
					au.Release()
				}
			}
			if !bytes.Equal(snap(), st[step.want].jpeg) {
				t.Errorf("at %v: not still %d", step.at, step.want)
			}
		}
	})
}

func sinceStart(v *Video) time.Duration { return time.Since(v.pace.start) }

func TestSnapshotErrors(t *testing.T) {
	v, err := NewVideo()
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	for _, m := range [][2]int{{0, 720}, {1280, 0}, {-1, -1}} {
		if _, _, _, err := v.Snapshot(t.Context(), m[0], m[1]); err == nil {
			t.Errorf("Snapshot(%d, %d) succeeded", m[0], m[1])
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, _, _, err := v.Snapshot(ctx, 640, 360); err != context.Canceled {
		t.Errorf("cancelled context: %v", err)
	}
}

func TestParseStills(t *testing.T) {
	good := stillFSBytes(t, "clip/still-0.jpg")
	for _, tc := range []struct {
		name  string
		files fstest.MapFS
		n     int // 0: an error
	}{
		{"none", fstest.MapFS{}, 0},
		{"gap", fstest.MapFS{"clip/still-0.jpg": good, "clip/still-2.jpg": good}, 0},
		{"not a JPEG", fstest.MapFS{"clip/still-0.jpg": &fstest.MapFile{Data: []byte("GIF89a")}}, 0},
		{"eleven, by number", func() fstest.MapFS {
			m := fstest.MapFS{}
			for i := range 11 {
				m["clip/still-"+strconv.Itoa(i)+".jpg"] = good
			}
			return m
		}(), 11},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := parseStills(tc.files)
			if tc.n == 0 {
				if err == nil {
					t.Fatalf("parsed %d stills, want an error", len(st))
				}
				return
			}
			if err != nil || len(st) != tc.n {
				t.Fatalf("%d stills, %v; want %d", len(st), err, tc.n)
			}
		})
	}
}

func stillFSBytes(t *testing.T, name string) *fstest.MapFile {
	t.Helper()
	b, err := stillFS.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return &fstest.MapFile{Data: b}
}

func TestBoxScale(t *testing.T) {
	// A 4x2 picture of two 2x2 blocks, black and white: halving it gives
	// one black and one white pixel; a 3x1 reduction averages unevenly
	// covered columns.
	src := image.NewRGBA(image.Rect(0, 0, 4, 2))
	for y := range 2 {
		for x := 2; x < 4; x++ {
			o := src.PixOffset(x, y)
			copy(src.Pix[o:o+4], []byte{255, 255, 255, 255})
		}
		for x := range 2 {
			src.Pix[src.PixOffset(x, y)+3] = 255
		}
	}
	half := boxScale(src, 2, 1)
	if got := half.Pix; !bytes.Equal(got, []byte{0, 0, 0, 255, 255, 255, 255, 255}) {
		t.Errorf("2x1: %v", got)
	}
	one := boxScale(src, 1, 1)
	if got := one.Pix; !bytes.Equal(got, []byte{128, 128, 128, 255}) {
		t.Errorf("1x1: %v", got)
	}
}
