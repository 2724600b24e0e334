package testsrc

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"runtime"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mattercam/mattercam/capture"
	"github.com/mattercam/mattercam/capture/h264"
)

// clipFrames is the number of pictures in clip/video.h264 and
// clip/intra.h264, counted independently of this package by
//
//	ffprobe -v error -count_frames -select_streams v:0 \
//	    -show_entries stream=nb_read_frames -of csv=p=0 clip/video.h264
//
// (60 for both files; gen.sh checks the same.)
const clipFrames = 60

// clipGOP is the IDR period of clip/video.h264 (gen.sh: keyint=30).
const clipGOP = 30

func mustClip(t testing.TB) *videoClip {
	t.Helper()
	c, err := loadVideo()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// nalTypes lists the NAL unit types of an Annex B chunk.
func nalTypes(b []byte) []h264.NALType {
	var ts []h264.NALType
	for {
		nal, rest := h264.NextNAL(b)
		if nal == nil {
			return ts
		}
		ts = append(ts, h264.Type(nal))
		b = rest
	}
}

func hasStartCode(b []byte) bool {
	return bytes.HasPrefix(b, []byte{0, 0, 1}) || bytes.HasPrefix(b, []byte{0, 0, 0, 1})
}

func TestClipSplit(t *testing.T) {
	c := mustClip(t)
	for _, tc := range []struct {
		name   string
		stream []byte
		aus    []clipAU
		isKey  func(i int) bool
	}{
		{"video.h264", videoH264, c.normal, func(i int) bool { return i%clipGOP == 0 }},
		{"intra.h264", intraH264, c.intra, func(int) bool { return true }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.aus) != clipFrames {
				t.Fatalf("%d access units, want %d", len(tc.aus), clipFrames)
			}
			var joined []byte
			for i, au := range tc.aus {
				joined = append(joined, au.data...)
				if !hasStartCode(au.data) {
					t.Errorf("AU %d starts with %x, not a start code", i, au.data[:min(4, len(au.data))])
				}
				types := nalTypes(au.data)
				slices := 0
				for _, ty := range types {
					if ty.IsVCL() {
						slices++
					}
					if ty == h264.NALAUD || ty == h264.NALSEI {
						t.Errorf("AU %d has NAL type %d; gen.sh removes AUD and SEI", i, ty)
					}
				}
				if slices != 1 {
					t.Errorf("AU %d has %d slices, want 1", i, slices)
				}
				if au.key != tc.isKey(i) {
					t.Errorf("AU %d key = %v, want %v", i, au.key, tc.isKey(i))
				}
				if au.key && !slices0(types, h264.NALSPS, h264.NALPPS, h264.NALSliceIDR) {
					t.Errorf("key AU %d has NAL types %v, want SPS PPS IDR", i, types)
				}
			}
			// The access units tile the stream.
			if !bytes.Equal(joined, tc.stream) {
				t.Error("access units do not concatenate back to the clip")
			}
		})
	}
}

func slices0(got []h264.NALType, want ...h264.NALType) bool { return slices.Equal(got, want) }

func TestClipFormat(t *testing.T) {
	v, err := NewVideo()
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	want := capture.VideoFormat{Codec: "H264", Width: 1280, Height: 720, FrameRate: 30, ProfileLevelID: "42e01f"}
	if got := v.Format(); got != want {
		t.Errorf("Format() = %+v, want %+v", got, want)
	}
}

// annexB builds an Annex B stream from hex NAL units; a leading "+" asks
// for a four-byte start code.
func annexB(t *testing.T, nals ...string) []byte {
	t.Helper()
	var b []byte
	for _, n := range nals {
		if four, ok := strings.CutPrefix(n, "+"); ok {
			b = append(b, 0)
			n = four
		}
		raw, err := hex.DecodeString(n)
		if err != nil {
			t.Fatal(err)
		}
		b = append(append(b, 0, 0, 1), raw...)
	}
	return b
}

func TestSplitAccessUnits(t *testing.T) {
	const (
		sps   = "6742e01f"
		pps   = "68ce"
		idr   = "6588"   // first_mb_in_slice 0
		p0    = "419a"   // first_mb_in_slice 0
		p1    = "4140"   // first_mb_in_slice 1: same picture
		sei   = "0605"   // SEI
		aud   = "09f0"   // access unit delimiter
		idrMB = "654000" // IDR slice, first_mb_in_slice 1
	)
	tests := []struct {
		name    string
		nals    []string
		wantAUs [][]int // NAL indices per AU
		wantKey []bool
		wantErr string
	}{
		{
			name:    "GOP",
			nals:    []string{"+" + sps, "+" + pps, "+" + idr, "+" + p0, p0},
			wantAUs: [][]int{{0, 1, 2}, {3}, {4}},
			wantKey: []bool{true, false, false},
		},
		{
			name:    "multi-slice pictures and SEI/AUD",
			nals:    []string{aud, sps, pps, sei, idr, idrMB, "+" + aud, p0, p1, sei, p0},
			wantAUs: [][]int{{0, 1, 2, 3, 4, 5}, {6, 7, 8}, {9, 10}},
			wantKey: []bool{true, false, false},
		},
		{name: "empty", wantErr: "no NAL units"},
		{name: "no slice at end", nals: []string{sps, pps, idr, sps}, wantErr: "no slice"},
		{name: "IDR without SPS", nals: []string{pps, idr}, wantErr: "without SPS and PPS"},
		{name: "IDR without PPS", nals: []string{sps, idr}, wantErr: "without SPS and PPS"},
		{name: "mixed slices", nals: []string{sps, pps, p0, idrMB}, wantErr: "mixes IDR"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stream := annexB(t, tc.nals...)
			aus, err := splitAccessUnits(stream)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(aus) != len(tc.wantAUs) {
				t.Fatalf("%d AUs, want %d", len(aus), len(tc.wantAUs))
			}
			for i, au := range aus {
				var want []string
				for _, k := range tc.wantAUs[i] {
					want = append(want, tc.nals[k])
				}
				if w := annexB(t, want...); !bytes.Equal(au.data, w) {
					t.Errorf("AU %d = %x, want %x", i, au.data, w)
				}
				if au.key != tc.wantKey[i] {
					t.Errorf("AU %d key = %v", i, au.key)
				}
			}
		})
	}
}

// readVideo reads n access units, failing the test on error.
func readVideo(t *testing.T, v *Video, n int) []capture.AccessUnit {
	t.Helper()
	aus := make([]capture.AccessUnit, n)
	for i := range aus {
		au, err := v.ReadAccessUnit(t.Context())
		if err != nil {
			t.Fatalf("ReadAccessUnit %d: %v", i, err)
		}
		aus[i] = au
	}
	return aus
}

// same reports whether a and b are the same bytes in memory (zero copy).
func same(a, b []byte) bool {
	return len(a) == len(b) && len(a) > 0 && &a[0] == &b[0]
}

func framePTS(n int) time.Duration { return time.Duration(n) * time.Second / 30 }

func TestVideoPacing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := mustClip(t)
		start := time.Now()
		v, err := NewVideo()
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close()
		// 2.5 loops: looping and PTS continuity across two loop points.
		const n = 2*clipFrames + clipFrames/2
		var prev time.Duration = -1
		for i := range n {
			au, err := v.ReadAccessUnit(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if au.PTS != framePTS(i) || au.PTS <= prev {
				t.Fatalf("frame %d: PTS %v, want %v (previous %v)", i, au.PTS, framePTS(i), prev)
			}
			prev = au.PTS
			if got := time.Since(start); got != au.PTS {
				t.Fatalf("frame %d released at %v, want %v", i, got, au.PTS)
			}
			if want := c.normal[i%clipFrames]; !same(au.Data, want.data) || au.Key != want.key {
				t.Fatalf("frame %d is not clip frame %d", i, i%clipFrames)
			}
		}
	})
}

// TestVideoNoDrift checks that a late reader catches up without waiting
// and that pacing then continues on the original schedule.
func TestVideoNoDrift(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		v, err := NewVideo()
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close()
		readVideo(t, v, 10)
		time.Sleep(100 * time.Millisecond) // frames 10, 11, 12 fall due
		late := time.Now()
		for i := 10; i < 13; i++ {
			au, _ := v.ReadAccessUnit(t.Context())
			if au.PTS != framePTS(i) || time.Now() != late {
				t.Fatalf("frame %d: PTS %v at %v; want %v without waiting", i, au.PTS, time.Since(start), framePTS(i))
			}
		}
		au, _ := v.ReadAccessUnit(t.Context())
		if got := time.Since(start); au.PTS != framePTS(13) || got != framePTS(13) {
			t.Fatalf("frame 13: PTS %v at %v, want %v", au.PTS, got, framePTS(13))
		}
	})
}

func TestVideoWithStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now().Add(time.Second)
		v, err := NewVideo(WithStart(start))
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close()
		au := readVideo(t, v, 1)[0]
		if au.PTS != 0 || !time.Now().Equal(start) {
			t.Errorf("first frame PTS %v at %v, want 0 at the start", au.PTS, time.Since(start))
		}
	})
}

func TestVideoKeyFrameRequest(t *testing.T) {
	tests := []struct {
		name string
		// requests lists, in order, the frame numbers before whose read
		// RequestKeyFrame is called (repeats are several calls).
		requests []int
		// intra lists the frame numbers expected from the intra clip.
		intra []int
	}{
		{"none", nil, nil},
		{"at an IDR", []int{0, 30, 60}, nil},
		{"mid GOP", []int{17}, span(17, 30)},
		{"just before an IDR", []int{29}, []int{29}},
		{"just after an IDR", []int{31}, span(31, 60)},
		{"across the loop point", []int{58}, []int{58, 59}},
		{"second loop", []int{75}, span(75, 90)},
		{"coalesced", []int{5, 5, 5}, span(5, 30)},
		{"during catch-up", []int{5, 12, 29}, span(5, 30)},
		{"twice", []int{3, 40}, append(span(3, 30), span(40, 60)...)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := mustClip(t)
				v, err := NewVideo()
				if err != nil {
					t.Fatal(err)
				}
				defer v.Close()
				reqs := tc.requests
				for n := range 2*clipFrames + 10 {
					for len(reqs) > 0 && reqs[0] == n {
						v.RequestKeyFrame()
						reqs = reqs[1:]
					}
					au, err := v.ReadAccessUnit(t.Context())
					if err != nil {
						t.Fatal(err)
					}
					i := n % clipFrames
					want := c.normal[i]
					if slices.Contains(tc.intra, n) {
						want = c.intra[i]
					}
					if !same(au.Data, want.data) {
						t.Fatalf("frame %d: not the expected clip frame (intra %v)", n, slices.Contains(tc.intra, n))
					}
					if au.Key != want.key || au.PTS != framePTS(n) {
						t.Fatalf("frame %d: Key %v PTS %v", n, au.Key, au.PTS)
					}
					if slices.Contains(tc.requests, n) {
						// The very next AU answers the request.
						if types := nalTypes(au.Data); !au.Key || !slices0(types, h264.NALSPS, h264.NALPPS, h264.NALSliceIDR) {
							t.Fatalf("frame %d after a request: Key %v, NAL types %v", n, au.Key, types)
						}
					}
				}
			})
		})
	}
}

func span(from, to int) []int {
	var s []int
	for i := from; i < to; i++ {
		s = append(s, i)
	}
	return s
}

// TestVideoKeyFrameRequestWhileBlocked requests a key frame while the
// reader is waiting for a frame: that frame must be the key frame.
func TestVideoKeyFrameRequestWhileBlocked(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		v, err := NewVideo()
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close()
		readVideo(t, v, 10)
		got := make(chan capture.AccessUnit)
		go func() {
			au, err := v.ReadAccessUnit(context.Background())
			if err != nil {
				t.Error(err)
			}
			got <- au
		}()
		synctest.Wait() // the reader is blocked until frame 10's time
		v.RequestKeyFrame()
		if au := <-got; !au.Key || au.PTS != framePTS(10) {
			t.Errorf("frame after request: Key %v PTS %v, want key frame 10", au.Key, au.PTS)
		}
	})
}

// TestVideoIDRPicID checks H.264 §7.4.3 on every stream the source can
// send with one key-frame request: two consecutive IDR access units must
// differ in idr_pic_id (§7.4.1.2.4 uses it to tell the pictures apart).
// ffmpeg does not check this, so the decode test would not notice; gen.sh
// encodes video.h264 in two halves to satisfy it.
func TestVideoIDRPicID(t *testing.T) {
	c := mustClip(t)
	sps, err := h264.ParseSPS(c.normal[0].sps)
	if err != nil {
		t.Fatal(err)
	}
	for req := range clipFrames {
		// A start in the past releases every frame at once.
		v, err := NewVideo(WithStart(time.Now().Add(-time.Hour)))
		if err != nil {
			t.Fatal(err)
		}
		prevIDR, prevID := false, uint32(0)
		for n := range 2*clipFrames + 1 {
			if n == req {
				v.RequestKeyFrame()
			}
			au, err := v.ReadAccessUnit(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if !au.Key {
				prevIDR = false
				continue
			}
			id := idrPicID(t, au.Data, sps)
			if prevIDR && id == prevID {
				t.Fatalf("request at %d: frames %d and %d are consecutive IDRs with idr_pic_id %d", req, n-1, n, id)
			}
			prevIDR, prevID = true, id
		}
		v.Close()
	}
}

// idrPicID reads idr_pic_id from the IDR slice of an access unit
// (slice_header(), H.264 §7.3.3).
func idrPicID(t *testing.T, au []byte, sps h264.SPS) uint32 {
	t.Helper()
	for b := au; ; {
		nal, rest := h264.NextNAL(b)
		if nal == nil {
			t.Fatal("no IDR slice")
		}
		b = rest
		if h264.Type(nal) != h264.NALSliceIDR {
			continue
		}
		r := rbspReader{b: unescape(nal[1:])}
		r.ue() // first_mb_in_slice
		r.ue() // slice_type
		r.ue() // pic_parameter_set_id
		if sps.SeparateColourPlane {
			r.u(2) // colour_plane_id
		}
		r.u(sps.Log2MaxFrameNum) // frame_num
		if !sps.FrameMBSOnly && r.u(1) == 1 {
			r.u(1) // bottom_field_flag
		}
		id := r.ue()
		if r.pos > 8*len(r.b) {
			t.Fatal("slice header truncated")
		}
		return id
	}
}

// unescape removes emulation prevention bytes (H.264 §7.4.1).
func unescape(b []byte) []byte {
	var out []byte
	zeros := 0
	for _, c := range b {
		if zeros >= 2 && c == 3 {
			zeros = 0
			continue
		}
		out = append(out, c)
		if c == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	return out
}

// rbspReader is a minimal bit reader for the test; reads past the end
// yield zeros and are detected by the caller through pos.
type rbspReader struct {
	b   []byte
	pos int
}

func (r *rbspReader) u(n int) uint32 {
	var v uint32
	for range n {
		var bit uint32
		if r.pos < 8*len(r.b) {
			bit = uint32(r.b[r.pos/8]>>(7-r.pos%8)) & 1
		}
		r.pos++
		v = v<<1 | bit
	}
	return v
}

func (r *rbspReader) ue() uint32 {
	zeros := 0
	for r.u(1) == 0 && zeros < 32 {
		zeros++
	}
	return 1<<zeros - 1 + r.u(zeros)
}

// TestVideoClose checks that Close unblocks a pending read, that later
// reads fail too, and that Close is idempotent.
func TestVideoClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		v, err := NewVideo()
		if err != nil {
			t.Fatal(err)
		}
		readVideo(t, v, 1)
		errc := make(chan error)
		go func() {
			_, err := v.ReadAccessUnit(context.Background())
			errc <- err
		}()
		synctest.Wait()
		if err := v.Close(); err != nil {
			t.Fatal(err)
		}
		if err := <-errc; !errors.Is(err, capture.ErrClosed) {
			t.Errorf("pending read after Close: %v, want ErrClosed", err)
		}
		if _, err := v.ReadAccessUnit(context.Background()); !errors.Is(err, capture.ErrClosed) {
			t.Errorf("read after Close: %v, want ErrClosed", err)
		}
		if err := v.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
	})
}

// TestVideoContext checks cancellation and deadlines, and that a frame
// whose read was cancelled is still delivered by the next read.
func TestVideoContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		v, err := NewVideo()
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close()
		readVideo(t, v, 1)

		ctx, cancel := context.WithCancel(t.Context())
		errc := make(chan error)
		go func() {
			_, err := v.ReadAccessUnit(ctx)
			errc <- err
		}()
		synctest.Wait()
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Errorf("read with cancelled context: %v", err)
		}
		if _, err := v.ReadAccessUnit(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("read with context cancelled before: %v", err)
		}

		ctx, cancel = context.WithTimeout(t.Context(), 10*time.Millisecond)
		defer cancel()
		if _, err := v.ReadAccessUnit(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("read past deadline: %v", err)
		}
		au := readVideo(t, v, 1)[0]
		if au.PTS != framePTS(1) {
			t.Errorf("after cancelled reads got PTS %v, want frame 1", au.PTS)
		}
	})
}

func TestVideoNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	v, err := NewVideo()
	if err != nil {
		t.Fatal(err)
	}
	a, err := NewAudio()
	if err != nil {
		t.Fatal(err)
	}
	if n := runtime.NumGoroutine(); n != before {
		t.Errorf("%d goroutines after NewVideo and NewAudio, %d before", n, before)
	}
	v.Close()
	a.Close()
}

func TestVideoAllocs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		v, err := NewVideo()
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close()
		ctx := t.Context()
		readVideo(t, v, 1) // first use of ctx.Done allocates its channel
		n := 0
		allocs := testing.AllocsPerRun(200, func() {
			if n%7 == 0 {
				v.RequestKeyFrame()
			}
			n++
			au, err := v.ReadAccessUnit(ctx)
			if err != nil {
				t.Fatal(err)
			}
			au.Release()
		})
		if allocs != 0 {
			t.Errorf("%v allocations per ReadAccessUnit, want 0", allocs)
		}
	})
}

func BenchmarkReadAccessUnit(b *testing.B) {
	// A start long past releases every frame at once: the benchmark
	// measures the read path, not the pacing. (A day would not do: a fast
	// loop reads a day of frames within the benchmark time and then waits.)
	v, err := NewVideo(WithStart(time.Now().Add(-100 * 365 * 24 * time.Hour)))
	if err != nil {
		b.Fatal(err)
	}
	defer v.Close()
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.ReadAccessUnit(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
