package h264

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// Real SPS NAL units (header byte included, start code excluded). Each
// was produced at development time with ffmpeg 5.1 / libx264 (Debian 12),
// cut out of the Annex B output, and the expected values below were
// checked against `ffprobe -show_streams` and the trace_headers bitstream
// filter (`ffmpeg -i f.h264 -c copy -bsf:v trace_headers -f null -`).
var realSPS = []struct {
	name string
	hex  string
	want SPS
}{
	{
		// The embedded test clip (capture/testsrc/clip/video.h264, made
		// by capture/testsrc/gen.sh): x264 baseline level 3.1 with
		// constraint_set2_flag set by gen.sh. 00 00 03 00 contains an
		// emulation prevention byte.
		name: "testsrc clip 1280x720 Constrained Baseline",
		hex:  "6742e01fda014016e840000003004000000f03c60ca8",
		want: SPS{
			ProfileIDC: 66, ConstraintFlags: 0xe0, LevelIDC: 31,
			ChromaFormatIDC: 1, BitDepthLuma: 8, BitDepthChroma: 8,
			Log2MaxFrameNum: 4, PicOrderCntType: 2, MaxNumRefFrames: 1,
			FrameMBSOnly: true, Width: 1280, Height: 720,
			NumUnitsInTick: 1, TimeScale: 60,
		},
	},
	{
		// ffmpeg -f lavfi -i testsrc2=size=1920x1080:rate=30 -pix_fmt yuv420p
		//   -c:v libx264 -profile:v high -level 4.0 -frames:v 1 -f h264 f.h264
		// 1088 coded lines, frame_crop_bottom_offset 4 (CropUnitY 2).
		name: "1920x1080 High cropped",
		hex:  "67640028acd940780227e5c044000003000400000300f03c60c658",
		want: SPS{
			ProfileIDC: 100, ConstraintFlags: 0x00, LevelIDC: 40,
			ChromaFormatIDC: 1, BitDepthLuma: 8, BitDepthChroma: 8,
			Log2MaxFrameNum: 4, PicOrderCntType: 0, Log2MaxPicOrderCntLsb: 6,
			MaxNumRefFrames: 4, FrameMBSOnly: true, Width: 1920, Height: 1080,
			NumUnitsInTick: 1, TimeScale: 60,
		},
	},
	{
		// As above with -flags +ildct -x264-params tff=1: field coding,
		// frame_mbs_only_flag 0, 34 map units (68 macroblock rows) and
		// frame_crop_bottom_offset 2 (CropUnitY 4).
		name: "1920x1080 High interlaced",
		hex:  "67640028acd94078044fde0220000003002000000783e2c5b2c0",
		want: SPS{
			ProfileIDC: 100, ConstraintFlags: 0x00, LevelIDC: 40,
			ChromaFormatIDC: 1, BitDepthLuma: 8, BitDepthChroma: 8,
			Log2MaxFrameNum: 4, PicOrderCntType: 0, Log2MaxPicOrderCntLsb: 6,
			MaxNumRefFrames: 4, FrameMBSOnly: false, Width: 1920, Height: 1080,
			NumUnitsInTick: 1, TimeScale: 60,
		},
	},
	{
		// ffmpeg -f lavfi -i testsrc2=size=642x482:rate=30
		//   -vf format=yuv444p,crop=641:481:0:0 -c:v libx264
		//   -profile:v high444 -frames:v 1 -f h264 f.h264
		// 4:4:4, so CropUnitX = CropUnitY = 1: crop right and bottom 15.
		name: "641x481 High 4:4:4 Predictive",
		hex:  "67f4001e919b281487fc21086022000003000200000300781e2c5b2c",
		want: SPS{
			ProfileIDC: 244, ConstraintFlags: 0x00, LevelIDC: 30,
			ChromaFormatIDC: 3, BitDepthLuma: 8, BitDepthChroma: 8,
			Log2MaxFrameNum: 4, PicOrderCntType: 0, Log2MaxPicOrderCntLsb: 6,
			MaxNumRefFrames: 4, FrameMBSOnly: true, Width: 641, Height: 481,
			NumUnitsInTick: 1, TimeScale: 60,
		},
	},
	{
		// ffmpeg -f lavfi -i testsrc2=size=720x486:rate=30000/1001
		//   -pix_fmt yuv422p10le -c:v libx264 -profile:v high422
		//   -frames:v 1 -f h264 f.h264
		// 4:2:2 10-bit: CropUnitY 1, crop bottom 10 from 496 lines.
		name: "720x486 High 4:2:2 10-bit 29.97",
		hex:  "677a001fb6cd940b43ff8bc04400000fa40003a9803c60c658",
		want: SPS{
			ProfileIDC: 122, ConstraintFlags: 0x00, LevelIDC: 31,
			ChromaFormatIDC: 2, BitDepthLuma: 10, BitDepthChroma: 10,
			Log2MaxFrameNum: 4, PicOrderCntType: 0, Log2MaxPicOrderCntLsb: 6,
			MaxNumRefFrames: 4, FrameMBSOnly: true, Width: 720, Height: 486,
			NumUnitsInTick: 1001, TimeScale: 60000,
		},
	},
	{
		// ffmpeg -f lavfi -i testsrc2=size=352x288:rate=25 -pix_fmt yuv420p
		//   -c:v libx264 -profile:v main -level 2.1 -bf 2 -frames:v 1 -f h264 f.h264
		name: "352x288 Main no cropping",
		hex:  "674d4015eca0b04b6022000003000200000300641e2c5b2c",
		want: SPS{
			ProfileIDC: 77, ConstraintFlags: 0x40, LevelIDC: 21,
			ChromaFormatIDC: 1, BitDepthLuma: 8, BitDepthChroma: 8,
			Log2MaxFrameNum: 4, PicOrderCntType: 0, Log2MaxPicOrderCntLsb: 6,
			MaxNumRefFrames: 4, FrameMBSOnly: true, Width: 352, Height: 288,
			NumUnitsInTick: 1, TimeScale: 50,
		},
	},
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseSPSReal(t *testing.T) {
	for _, tc := range realSPS {
		t.Run(tc.name, func(t *testing.T) {
			nal := mustHex(t, tc.hex)
			got, err := ParseSPS(nal)
			if err != nil {
				t.Fatalf("ParseSPS: %v", err)
			}
			if got != tc.want {
				t.Errorf("ParseSPS =\n%+v\nwant\n%+v", got, tc.want)
			}
			if pli := got.ProfileLevelID(); pli != tc.hex[2:8] {
				t.Errorf("ProfileLevelID = %q, want %q", pli, tc.hex[2:8])
			}
			// Every strict prefix is a truncated SPS and must be rejected.
			for n := range len(nal) {
				if _, err := ParseSPS(nal[:n]); err == nil {
					t.Errorf("ParseSPS(first %d of %d bytes) succeeded", n, len(nal))
				}
			}
		})
	}
}

func TestSPSFrameRate(t *testing.T) {
	tests := []struct {
		tick, scale uint32
		num, den    uint64
		ok          bool
	}{
		{1, 60, 30, 1, true},
		{1001, 60000, 30000, 1001, true},
		{1, 50, 25, 1, true},
		{1, 25, 25, 2, true},
		{0, 0, 0, 0, false},
		{1, 0, 0, 0, false},
	}
	for _, tc := range tests {
		num, den, ok := SPS{NumUnitsInTick: tc.tick, TimeScale: tc.scale}.FrameRate()
		if num != tc.num || den != tc.den || ok != tc.ok {
			t.Errorf("FrameRate(%d/%d) = %d/%d %v, want %d/%d %v",
				tc.tick, tc.scale, num, den, ok, tc.num, tc.den, tc.ok)
		}
	}
}

func TestProfileLevelID(t *testing.T) {
	tests := []struct {
		s    SPS
		want string
	}{
		{SPS{ProfileIDC: 0x42, ConstraintFlags: 0xe0, LevelIDC: 0x1f}, "42e01f"},
		{SPS{ProfileIDC: 0x64, ConstraintFlags: 0x00, LevelIDC: 0x33}, "640033"},
		{SPS{ProfileIDC: 0x42, ConstraintFlags: 0x10, LevelIDC: 0x0b}, "42100b"}, // level 1b
		{SPS{}, "000000"},
	}
	for _, tc := range tests {
		if got := tc.s.ProfileLevelID(); got != tc.want {
			t.Errorf("ProfileLevelID(%+v) = %q, want %q", tc.s, got, tc.want)
		}
	}
}

// bitWriter builds synthetic RBSPs for the cases no encoder at hand
// produces (scaling lists, pic_order_cnt_type 1, monochrome, HRD, ...).
type bitWriter struct {
	b     []byte
	nbits int
}

func (w *bitWriter) u(n int, v uint64) {
	for i := n - 1; i >= 0; i-- {
		if w.nbits%8 == 0 {
			w.b = append(w.b, 0)
		}
		if v>>i&1 == 1 {
			w.b[len(w.b)-1] |= 0x80 >> (w.nbits % 8)
		}
		w.nbits++
	}
}

func (w *bitWriter) flag(f bool) {
	if f {
		w.u(1, 1)
	} else {
		w.u(1, 0)
	}
}

func (w *bitWriter) ue(v uint64) {
	v++
	n := 0
	for v>>n > 1 {
		n++
	}
	w.u(n, 0)
	w.u(n+1, v)
}

func (w *bitWriter) se(v int64) {
	if v > 0 {
		w.ue(uint64(2*v - 1))
	} else {
		w.ue(uint64(-2 * v))
	}
}

// nal returns header followed by the RBSP with emulation prevention bytes
// inserted (§7.4.1).
func (w *bitWriter) nal(header byte) []byte {
	out := []byte{header}
	zeros := 0
	for _, c := range w.b {
		if zeros >= 2 && c <= 3 {
			out = append(out, 3)
			zeros = 0
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

// spsSyntax is the value of every SPS syntax element; write codes it.
type spsSyntax struct {
	profile, flags, level uint8
	id                    uint64
	chroma                uint64 // coded for the High profiles only
	separate              bool
	depthLuma8            uint64
	depthChroma8          uint64
	scaling               [][]int64 // per list: nil absent, else delta_scale values
	log2FrameNum4         uint64
	pocType               uint64
	log2PocLsb4           uint64
	pocCycle              []int64
	maxRefs               uint64
	widthMBs1, heightMU1  uint64
	frameMBSOnly          bool
	crop                  []uint64 // nil: no cropping; else left, right, top, bottom
	vui                   func(w *bitWriter)
	trailing              func(w *bitWriter) // nil: rbsp_trailing_bits
}

func (s spsSyntax) nal() []byte {
	var w bitWriter
	w.u(8, uint64(s.profile))
	w.u(8, uint64(s.flags))
	w.u(8, uint64(s.level))
	w.ue(s.id)
	switch s.profile {
	case 100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135:
		w.ue(s.chroma)
		if s.chroma == 3 {
			w.flag(s.separate)
		}
		w.ue(s.depthLuma8)
		w.ue(s.depthChroma8)
		w.flag(false)
		w.flag(s.scaling != nil)
		for _, list := range s.scaling {
			w.flag(list != nil)
			for _, d := range list {
				w.se(d)
			}
		}
	}
	w.ue(s.log2FrameNum4)
	w.ue(s.pocType)
	switch s.pocType {
	case 0:
		w.ue(s.log2PocLsb4)
	case 1:
		w.flag(false)
		w.se(-3)
		w.se(7)
		w.ue(uint64(len(s.pocCycle)))
		for _, o := range s.pocCycle {
			w.se(o)
		}
	}
	w.ue(s.maxRefs)
	w.flag(false)
	w.ue(s.widthMBs1)
	w.ue(s.heightMU1)
	w.flag(s.frameMBSOnly)
	if !s.frameMBSOnly {
		w.flag(true)
	}
	w.flag(true)
	w.flag(s.crop != nil)
	for _, c := range s.crop {
		w.ue(c)
	}
	w.flag(s.vui != nil)
	if s.vui != nil {
		s.vui(&w)
	}
	if s.trailing != nil {
		s.trailing(&w)
	} else {
		w.u(1, 1)
		for w.nbits%8 != 0 {
			w.u(1, 0)
		}
	}
	return w.nal(0x67)
}

// baseSyntax is a valid 1280x720 High profile SPS without VUI.
func baseSyntax() spsSyntax {
	return spsSyntax{
		profile: 100, level: 31, chroma: 1,
		maxRefs: 1, widthMBs1: 79, heightMU1: 44, frameMBSOnly: true,
	}
}

// flatList is a scaling list coded in full with all deltas zero.
func flatList(size int) []int64 { return make([]int64, size) }

func vuiTiming(tick, scale uint64) func(w *bitWriter) {
	return func(w *bitWriter) {
		w.flag(false)  // aspect_ratio_info_present_flag
		w.flag(false)  // overscan_info_present_flag
		w.flag(false)  // video_signal_type_present_flag
		w.flag(false)  // chroma_loc_info_present_flag
		w.flag(true)   // timing_info_present_flag
		w.u(32, tick)  // num_units_in_tick
		w.u(32, scale) // time_scale
		w.flag(true)   // fixed_frame_rate_flag
		w.flag(false)  // nal_hrd_parameters_present_flag
		w.flag(false)  // vcl_hrd_parameters_present_flag
		w.flag(false)  // pic_struct_present_flag
		w.flag(false)  // bitstream_restriction_flag
	}
}

func hrd(w *bitWriter) {
	w.ue(1) // cpb_cnt_minus1
	w.u(4, 3)
	w.u(4, 5)
	for range 2 {
		w.ue(99999)
		w.ue(123456)
		w.flag(true)
	}
	w.u(5, 23)
	w.u(5, 23)
	w.u(5, 23)
	w.u(5, 24)
}

// vuiFull sets every optional VUI part.
func vuiFull(reorder, buffering uint64) func(w *bitWriter) {
	return func(w *bitWriter) {
		w.flag(true)
		w.u(8, 255) // Extended_SAR
		w.u(16, 4)
		w.u(16, 3)
		w.flag(true)
		w.flag(true)
		w.flag(true)
		w.u(3, 5)
		w.flag(false)
		w.flag(true)
		w.u(8, 1)
		w.u(8, 1)
		w.u(8, 1)
		w.flag(true)
		w.ue(2)
		w.ue(5)
		w.flag(true)
		w.u(32, 1001)
		w.u(32, 48000)
		w.flag(false)
		w.flag(true) // nal_hrd_parameters_present_flag
		hrd(w)
		w.flag(true) // vcl_hrd_parameters_present_flag
		hrd(w)
		w.flag(false) // low_delay_hrd_flag
		w.flag(true)  // pic_struct_present_flag
		w.flag(true)  // bitstream_restriction_flag
		w.flag(true)
		w.ue(2)
		w.ue(1)
		w.ue(16)
		w.ue(16)
		w.ue(reorder)
		w.ue(buffering)
	}
}

func TestParseSPSSynthetic(t *testing.T) {
	tests := []struct {
		name string
		mod  func(s *spsSyntax)
		// check inspects the result; nil means only "parses".
		check func(t *testing.T, got SPS)
		// wantErr is a substring of the expected error; empty: success.
		wantErr string
		// prefixesValid: the NAL ends in optional syntax, so some of its
		// prefixes parse too (otherwise every prefix must fail).
		prefixesValid bool
	}{
		{name: "base", check: func(t *testing.T, got SPS) {
			if got.Width != 1280 || got.Height != 720 || got.ProfileLevelID() != "64001f" {
				t.Errorf("got %dx%d %s", got.Width, got.Height, got.ProfileLevelID())
			}
		}},
		{
			name: "scaling lists 4:2:0",
			mod: func(s *spsSyntax) {
				// List 0 in full, list 1 stops at once (delta -8 makes
				// nextScale 0: "use default"), list 6 8x8 in full with
				// large deltas, list 7 stops after a few values.
				s.scaling = [][]int64{
					{1, -1, 2, -2, 3, -3, 4, -4, 5, -5, 6, -6, 7, -7, 8, -8},
					{-8}, nil, nil, nil, nil,
					append([]int64{127, -128}, flatList(62)...),
					{4, 4, -16},
				}
			},
		},
		{
			name: "scaling lists 4:4:4 (12 lists)",
			mod: func(s *spsSyntax) {
				s.profile, s.chroma = 244, 3
				s.scaling = make([][]int64, 12)
				for i := range s.scaling {
					if i < 6 {
						s.scaling[i] = flatList(16)
					} else {
						s.scaling[i] = flatList(64)
					}
				}
				s.crop = []uint64{1, 2, 3, 4} // CropUnit 1x1
			},
			check: func(t *testing.T, got SPS) {
				if got.Width != 1277 || got.Height != 713 || got.ChromaFormatIDC != 3 {
					t.Errorf("got %dx%d chroma %d", got.Width, got.Height, got.ChromaFormatIDC)
				}
			},
		},
		{
			name:    "delta_scale out of range",
			mod:     func(s *spsSyntax) { s.scaling = [][]int64{{128}} },
			wantErr: "delta_scale",
		},
		{
			name: "separate colour planes crop in luma units",
			mod: func(s *spsSyntax) {
				s.profile, s.chroma, s.separate = 244, 3, true
				s.frameMBSOnly = false
				s.crop = []uint64{0, 1, 0, 1} // CropUnitX 1, CropUnitY 2
			},
			check: func(t *testing.T, got SPS) {
				if !got.SeparateColourPlane || got.Width != 1279 || got.Height != 1440-2 {
					t.Errorf("got %+v", got)
				}
			},
		},
		{
			name: "monochrome",
			mod: func(s *spsSyntax) {
				s.chroma = 0
				s.crop = []uint64{1, 0, 1, 0}
			},
			check: func(t *testing.T, got SPS) {
				if got.ChromaFormatIDC != 0 || got.Width != 1279 || got.Height != 719 {
					t.Errorf("got %+v", got)
				}
			},
		},
		{
			name: "4:2:2 interlaced crop",
			mod: func(s *spsSyntax) {
				s.chroma, s.frameMBSOnly = 2, false
				s.crop = []uint64{1, 1, 1, 1} // CropUnitX 2, CropUnitY 2
			},
			check: func(t *testing.T, got SPS) {
				if got.Width != 1276 || got.Height != 1436 {
					t.Errorf("got %dx%d", got.Width, got.Height)
				}
			},
		},
		{
			name: "pic_order_cnt_type 1",
			mod: func(s *spsSyntax) {
				s.profile = 77
				s.pocType, s.pocCycle = 1, []int64{2, -2, 100000, 0}
			},
			check: func(t *testing.T, got SPS) {
				if got.PicOrderCntType != 1 || got.MaxNumRefFrames != 1 || got.Width != 1280 {
					t.Errorf("got %+v", got)
				}
			},
		},
		{
			name: "full VUI with HRD",
			mod:  func(s *spsSyntax) { s.vui = vuiFull(2, 4) },
			check: func(t *testing.T, got SPS) {
				if num, den, _ := got.FrameRate(); num != 24000 || den != 1001 {
					t.Errorf("frame rate %d/%d", num, den)
				}
			},
		},
		{
			name: "emulation prevention in timing",
			// num_units_in_tick 1 and time_scale 1<<8 code many zero
			// bytes, so the RBSP needs emulation prevention bytes.
			mod: func(s *spsSyntax) { s.vui = vuiTiming(1, 1<<8) },
			check: func(t *testing.T, got SPS) {
				if got.NumUnitsInTick != 1 || got.TimeScale != 256 {
					t.Errorf("timing %d/%d", got.NumUnitsInTick, got.TimeScale)
				}
			},
		},
		{name: "large max sizes", mod: func(s *spsSyntax) {
			s.widthMBs1, s.heightMU1 = maxMBs-1, maxMBs-1
		}},
		{name: "width too large", mod: func(s *spsSyntax) { s.widthMBs1 = maxMBs }, wantErr: "pic_width_in_mbs_minus1"},
		{name: "height too large", mod: func(s *spsSyntax) { s.heightMU1 = 1 << 31 }, wantErr: "pic_height_in_map_units_minus1"},
		{name: "field height too large", mod: func(s *spsSyntax) {
			s.frameMBSOnly, s.heightMU1 = false, maxMBs/2+1
		}, wantErr: "frame height"},
		{name: "field height max", mod: func(s *spsSyntax) {
			s.frameMBSOnly, s.heightMU1 = false, maxMBs/2-1
		}},
		{name: "sps id", mod: func(s *spsSyntax) { s.id = 32 }, wantErr: "seq_parameter_set_id"},
		{name: "chroma_format_idc", mod: func(s *spsSyntax) { s.chroma = 4 }, wantErr: "chroma_format_idc"},
		{name: "bit depth", mod: func(s *spsSyntax) { s.depthChroma8 = 7 }, wantErr: "bit_depth_chroma_minus8"},
		{name: "log2_max_frame_num", mod: func(s *spsSyntax) { s.log2FrameNum4 = 13 }, wantErr: "log2_max_frame_num_minus4"},
		{name: "poc type", mod: func(s *spsSyntax) { s.pocType = 3 }, wantErr: "pic_order_cnt_type"},
		{name: "poc lsb", mod: func(s *spsSyntax) { s.log2PocLsb4 = 13 }, wantErr: "log2_max_pic_order_cnt_lsb_minus4"},
		{name: "poc cycle", mod: func(s *spsSyntax) { s.pocType, s.pocCycle = 1, make([]int64, 256) }, wantErr: "num_ref_frames_in_pic_order_cnt_cycle"},
		{name: "max refs", mod: func(s *spsSyntax) { s.maxRefs = 17 }, wantErr: "max_num_ref_frames"},
		{name: "crop all width", mod: func(s *spsSyntax) { s.crop = []uint64{320, 320, 0, 0} }, wantErr: "frame cropping"},
		{name: "crop all height", mod: func(s *spsSyntax) { s.crop = []uint64{0, 0, 360, 0} }, wantErr: "frame cropping"},
		{name: "crop offset huge", mod: func(s *spsSyntax) { s.crop = []uint64{1 << 30, 0, 0, 0} }, wantErr: "frame_crop_offset"},
		{name: "zero time_scale", mod: func(s *spsSyntax) { s.vui = vuiTiming(1, 0) }, wantErr: "VUI timing"},
		{name: "zero num_units_in_tick", mod: func(s *spsSyntax) { s.vui = vuiTiming(0, 60) }, wantErr: "VUI timing"},
		{name: "reorder > buffering", mod: func(s *spsSyntax) { s.vui = vuiFull(3, 2) }, wantErr: "max_num_reorder_frames"},
		{
			name: "no stop bit",
			mod: func(s *spsSyntax) {
				s.trailing = func(w *bitWriter) {
					for w.nbits%8 != 0 {
						w.u(1, 0)
					}
					w.u(8, 0x40)
				}
			},
			wantErr: "rbsp_stop_one_bit",
		},
		{
			name: "data after trailing bits",
			mod: func(s *spsSyntax) {
				s.trailing = func(w *bitWriter) {
					w.u(1, 1)
					for w.nbits%8 != 0 {
						w.u(1, 0)
					}
					w.u(8, 0x01)
				}
			},
			wantErr: "after rbsp_trailing_bits",
		},
		{
			name: "cabac_zero_words after trailing bits",
			mod: func(s *spsSyntax) {
				s.trailing = func(w *bitWriter) {
					w.u(1, 1)
					for w.nbits%8 != 0 {
						w.u(1, 0)
					}
					w.u(16, 0) // becomes 00 00 03 with emulation prevention
					w.u(16, 0)
				}
			},
			prefixesValid: true,
		},
		{
			name: "Exp-Golomb code too long",
			mod: func(s *spsSyntax) {
				s.vui = func(w *bitWriter) {
					w.u(3, 0)
					w.u(1, 1) // chroma_loc_info_present_flag
					w.u(32, 0)
					w.u(33, 1)
				}
			},
			wantErr: "Exp-Golomb",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := baseSyntax()
			if tc.mod != nil {
				tc.mod(&s)
			}
			nal := s.nal()
			got, err := ParseSPS(nal)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseSPS(%x) = %+v, %v; want error containing %q", nal, got, err, tc.wantErr)
				}
				if got != (SPS{}) {
					t.Errorf("ParseSPS returned %+v with its error, want zero SPS", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseSPS(%x): %v", nal, err)
			}
			if tc.check != nil {
				tc.check(t, got)
			}
			if tc.prefixesValid {
				return
			}
			for n := range len(nal) {
				if _, err := ParseSPS(nal[:n]); err == nil {
					t.Errorf("ParseSPS(first %d of %d bytes) succeeded", n, len(nal))
				}
			}
		})
	}
}

func TestParseSPSHeader(t *testing.T) {
	good := mustHex(t, realSPS[0].hex)
	tests := []struct {
		name    string
		nal     []byte
		wantErr string
	}{
		{"empty", nil, "truncated"},
		{"header only", good[:1], "truncated"},
		{"PPS", append([]byte{0x68}, good[1:]...), "NAL unit type 8"},
		{"forbidden bit", append([]byte{0xe7}, good[1:]...), "forbidden_zero_bit"},
		// Found by FuzzParseSPS: the NAL ends inside the suffix of
		// cpb_cnt_minus1, and the partial value (about 2^31) was used as
		// a loop count before the error was checked.
		{"truncated loop count", []byte("'000Y0\xb0Ba1000000B0 \x00\x00\x0000"), "truncated"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseSPS(tc.nal)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("ParseSPS(%x) error %v, want one containing %q", tc.nal, err, tc.wantErr)
			}
		})
	}
	if _, err := ParseSPS(good[:10]); !errors.Is(err, ErrTruncated) {
		t.Errorf("truncated SPS: error %v, want ErrTruncated", err)
	}
}

func FuzzParseSPS(f *testing.F) {
	for _, tc := range realSPS {
		f.Add(mustHex(f, tc.hex))
	}
	s := baseSyntax()
	s.vui = vuiFull(2, 4)
	s.scaling = [][]int64{{1, 2, -8}, nil, nil, nil, nil, nil, flatList(64)}
	f.Add(s.nal())
	s = baseSyntax()
	s.pocType, s.pocCycle = 1, []int64{5, -5}
	f.Add(s.nal())
	f.Fuzz(func(t *testing.T, nal []byte) {
		s, err := ParseSPS(nal)
		if err != nil {
			if s != (SPS{}) {
				t.Fatalf("error %v with non-zero SPS %+v", err, s)
			}
			return
		}
		if s.Width <= 0 || s.Height <= 0 || s.Width > maxMBs*16 || s.Height > maxMBs*16 {
			t.Fatalf("size %dx%d out of range", s.Width, s.Height)
		}
		// The first three RBSP bytes, after emulation prevention (which
		// can apply already there: 00 00 03 for profile_idc 0).
		var rbsp []byte
		zeros := 0
		for _, c := range nal[1:] {
			if zeros >= 2 && c == 3 {
				zeros = 0
				continue
			}
			rbsp = append(rbsp, c)
			if c == 0 {
				zeros++
			} else {
				zeros = 0
			}
		}
		if pli := s.ProfileLevelID(); len(rbsp) < 3 || pli != hex.EncodeToString(rbsp[:3]) {
			t.Fatalf("ProfileLevelID %q for NAL %x", pli, nal)
		}
	})
}
