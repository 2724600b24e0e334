package h264

import (
	"encoding/hex"
	"errors"
	"fmt"
)

// SPS holds the sequence parameter set fields mattercam uses (H.264
// §7.3.2.1.1, semantics in §7.4.2.1.1 and Annex E for the VUI).
type SPS struct {
	ProfileIDC uint8
	// ConstraintFlags is the byte after profile_idc as coded:
	// constraint_set0_flag in the most significant bit down to
	// constraint_set5_flag, then reserved_zero_2bits.
	ConstraintFlags uint8
	LevelIDC        uint8
	ID              uint32 // seq_parameter_set_id

	// ChromaFormatIDC is chroma_format_idc (1, 4:2:0, when the profile
	// does not code it); SeparateColourPlane is separate_colour_plane_flag.
	ChromaFormatIDC     uint32
	SeparateColourPlane bool
	BitDepthLuma        int
	BitDepthChroma      int

	// Log2MaxFrameNum is log2_max_frame_num_minus4 + 4: the width in bits
	// of frame_num in slice headers.
	Log2MaxFrameNum int
	PicOrderCntType uint32
	// Log2MaxPicOrderCntLsb is log2_max_pic_order_cnt_lsb_minus4 + 4 when
	// PicOrderCntType is 0, else 0.
	Log2MaxPicOrderCntLsb int
	MaxNumRefFrames       uint32
	FrameMBSOnly          bool

	// Width and Height are the displayed picture size in luma samples:
	// the coded size in macroblocks less the frame cropping rectangle.
	Width, Height int

	// NumUnitsInTick and TimeScale are the VUI timing information
	// (§E.2.1), both zero when the SPS carries none.
	NumUnitsInTick, TimeScale uint32
}

// ProfileLevelID returns the RFC 6184 §8.1 profile-level-id: profile_idc,
// the constraint flags byte and level_idc as six lowercase hex digits.
func (s SPS) ProfileLevelID() string {
	return hex.EncodeToString([]byte{s.ProfileIDC, s.ConstraintFlags, s.LevelIDC})
}

// FrameRate returns the frame rate implied by the VUI timing information
// as a fraction num/den frames per second, reduced to lowest terms, and
// false if the SPS has none. A frame lasts two clock ticks (§E.2.1,
// equation E-7 with DeltaTfiDivisor 2 for a progressive frame).
func (s SPS) FrameRate() (num, den uint64, ok bool) {
	if s.NumUnitsInTick == 0 || s.TimeScale == 0 {
		return 0, 0, false
	}
	num, den = uint64(s.TimeScale), 2*uint64(s.NumUnitsInTick)
	g := gcd(num, den)
	return num / g, den / g, true
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// ErrTruncated is returned (wrapped) when a NAL unit ends before its
// syntax does.
var ErrTruncated = errors.New("h264: truncated")

// maxMBs bounds the picture width and height in macroblocks. H.264 A.3.1
// item f and A.3.2 item f limit each to Sqrt(MaxFS * 8), which for the
// largest MaxFS in Table A-1 (139264, levels 6 to 6.2) is 1055. The bound
// also keeps every size computation far from overflow.
const maxMBs = 1055

// ParseSPS parses a sequence parameter set NAL unit, header byte included
// and start code excluded (as returned by NextNAL). It reads the whole
// syntax, VUI included, and requires the RBSP trailing bits to follow it,
// so a truncated or mis-parsed SPS is an error rather than wrong values.
func ParseSPS(nal []byte) (SPS, error) {
	var s SPS
	if len(nal) == 0 {
		return s, fmt.Errorf("h264: SPS: %w", ErrTruncated)
	}
	if nal[0]&0x80 != 0 {
		return s, errors.New("h264: SPS: forbidden_zero_bit set")
	}
	if t := Type(nal); t != NALSPS {
		return s, fmt.Errorf("h264: SPS: NAL unit type %d, want %d", t, NALSPS)
	}
	r := bitReader{b: nal[1:]}
	if err := s.parse(&r); err != nil {
		return SPS{}, fmt.Errorf("h264: SPS: %w", err)
	}
	return s, nil
}

func (s *SPS) parse(r *bitReader) error {
	s.ProfileIDC = uint8(r.u(8))
	s.ConstraintFlags = uint8(r.u(8))
	s.LevelIDC = uint8(r.u(8))
	s.ID = r.ueMax("seq_parameter_set_id", 31)

	s.ChromaFormatIDC = 1
	s.BitDepthLuma, s.BitDepthChroma = 8, 8
	switch s.ProfileIDC {
	case 100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135:
		s.ChromaFormatIDC = r.ueMax("chroma_format_idc", 3)
		if s.ChromaFormatIDC == 3 {
			s.SeparateColourPlane = r.flag()
		}
		s.BitDepthLuma = 8 + int(r.ueMax("bit_depth_luma_minus8", 6))
		s.BitDepthChroma = 8 + int(r.ueMax("bit_depth_chroma_minus8", 6))
		r.flag()      // qpprime_y_zero_transform_bypass_flag
		if r.flag() { // seq_scaling_matrix_present_flag
			n := 8
			if s.ChromaFormatIDC == 3 {
				n = 12
			}
			for i := range n {
				if r.flag() { // seq_scaling_list_present_flag[i]
					size := 16
					if i >= 6 {
						size = 64
					}
					r.skipScalingList(size)
				}
			}
		}
	}

	s.Log2MaxFrameNum = 4 + int(r.ueMax("log2_max_frame_num_minus4", 12))
	s.PicOrderCntType = r.ueMax("pic_order_cnt_type", 2)
	switch s.PicOrderCntType {
	case 0:
		s.Log2MaxPicOrderCntLsb = 4 + int(r.ueMax("log2_max_pic_order_cnt_lsb_minus4", 12))
	case 1:
		r.flag() // delta_pic_order_always_zero_flag
		r.se()   // offset_for_non_ref_pic
		r.se()   // offset_for_top_to_bottom_field
		n := r.ueMax("num_ref_frames_in_pic_order_cnt_cycle", 255)
		for range n {
			r.se() // offset_for_ref_frame[i]
		}
	}
	// MaxDpbFrames is at most 16 at every level (§A.3.1 item h).
	s.MaxNumRefFrames = r.ueMax("max_num_ref_frames", 16)
	r.flag() // gaps_in_frame_num_value_allowed_flag
	widthMBs := int(r.ueMax("pic_width_in_mbs_minus1", maxMBs-1)) + 1
	heightMapUnits := int(r.ueMax("pic_height_in_map_units_minus1", maxMBs-1)) + 1
	s.FrameMBSOnly = r.flag()
	heightMBs := heightMapUnits // FrameHeightInMbs, equation 7-18
	if !s.FrameMBSOnly {
		heightMBs *= 2
		r.flag() // mb_adaptive_frame_field_flag
	}
	if r.err == nil && heightMBs > maxMBs {
		return fmt.Errorf("frame height of %d macroblocks, more than %d", heightMBs, maxMBs)
	}
	r.flag() // direct_8x8_inference_flag
	s.Width, s.Height = widthMBs*16, heightMBs*16
	if r.flag() { // frame_cropping_flag
		if err := s.crop(r); err != nil {
			return err
		}
	}
	if r.flag() { // vui_parameters_present_flag
		s.parseVUI(r)
	}
	r.trailingBits()
	return r.err
}

// crop applies the frame cropping rectangle (§7.4.2.1.1, equations 7-19
// to 7-22: offsets count in units of CropUnitX and CropUnitY).
func (s *SPS) crop(r *bitReader) error {
	var off [4]uint32 // left, right, top, bottom
	for i := range off {
		off[i] = r.ueMax("frame_crop_offset", 2*maxMBs*16)
	}
	if r.err != nil {
		return r.err
	}
	unitX, unitY := 1, 1 // ChromaArrayType 0: monochrome or separate planes
	if s.ChromaFormatIDC != 0 && !s.SeparateColourPlane {
		subWidthC, subHeightC := 2, 2 // Table 6-1
		switch s.ChromaFormatIDC {
		case 2:
			subHeightC = 1
		case 3:
			subWidthC, subHeightC = 1, 1
		}
		unitX, unitY = subWidthC, subHeightC
	}
	if !s.FrameMBSOnly {
		unitY *= 2
	}
	w := s.Width - unitX*int(off[0]+off[1])
	h := s.Height - unitY*int(off[2]+off[3])
	if w <= 0 || h <= 0 {
		return fmt.Errorf("frame cropping %v leaves no picture of %dx%d", off, s.Width, s.Height)
	}
	s.Width, s.Height = w, h
	return nil
}

// parseVUI reads vui_parameters() (§E.1.1), keeping the timing
// information.
func (s *SPS) parseVUI(r *bitReader) {
	if r.flag() { // aspect_ratio_info_present_flag
		const extendedSAR = 255 // Table E-1
		if r.u(8) == extendedSAR {
			r.u(16) // sar_width
			r.u(16) // sar_height
		}
	}
	if r.flag() { // overscan_info_present_flag
		r.flag() // overscan_appropriate_flag
	}
	if r.flag() { // video_signal_type_present_flag
		r.u(3)        // video_format
		r.flag()      // video_full_range_flag
		if r.flag() { // colour_description_present_flag
			r.u(8) // colour_primaries
			r.u(8) // transfer_characteristics
			r.u(8) // matrix_coefficients
		}
	}
	if r.flag() { // chroma_loc_info_present_flag
		r.ueMax("chroma_sample_loc_type_top_field", 5)
		r.ueMax("chroma_sample_loc_type_bottom_field", 5)
	}
	if r.flag() { // timing_info_present_flag
		s.NumUnitsInTick = uint32(r.u(32))
		s.TimeScale = uint32(r.u(32))
		r.flag() // fixed_frame_rate_flag
		if r.err == nil && (s.NumUnitsInTick == 0 || s.TimeScale == 0) {
			// §E.2.1: both "shall be greater than 0".
			r.fail(fmt.Errorf("VUI timing %d/%d: zero", s.NumUnitsInTick, s.TimeScale))
		}
	}
	nalHRD := r.flag() // nal_hrd_parameters_present_flag
	if nalHRD {
		r.skipHRD()
	}
	vclHRD := r.flag() // vcl_hrd_parameters_present_flag
	if vclHRD {
		r.skipHRD()
	}
	if nalHRD || vclHRD {
		r.flag() // low_delay_hrd_flag
	}
	r.flag()      // pic_struct_present_flag
	if r.flag() { // bitstream_restriction_flag
		r.flag()                                     // motion_vectors_over_pic_boundaries_flag
		r.ueMax("max_bytes_per_pic_denom", 16)       // §E.2.1
		r.ueMax("max_bits_per_mb_denom", 16)         // §E.2.1
		r.ueMax("log2_max_mv_length_horizontal", 16) // §E.2.1
		r.ueMax("log2_max_mv_length_vertical", 16)   // §E.2.1
		reorder := r.ueMax("max_num_reorder_frames", 16)
		buffering := r.ueMax("max_dec_frame_buffering", 16)
		if r.err == nil && reorder > buffering {
			r.fail(fmt.Errorf("max_num_reorder_frames %d > max_dec_frame_buffering %d", reorder, buffering))
		}
	}
}

// skipHRD reads hrd_parameters() (§E.1.2).
func (r *bitReader) skipHRD() {
	n := r.ueMax("cpb_cnt_minus1", 31) + 1
	r.u(4) // bit_rate_scale
	r.u(4) // cpb_size_scale
	for range n {
		r.ue()   // bit_rate_value_minus1
		r.ue()   // cpb_size_value_minus1
		r.flag() // cbr_flag
	}
	r.u(5) // initial_cpb_removal_delay_length_minus1
	r.u(5) // cpb_removal_delay_length_minus1
	r.u(5) // dpb_output_delay_length_minus1
	r.u(5) // time_offset_length
}

// skipScalingList reads scaling_list() (§7.3.2.1.1.1). Only the number of
// delta_scale values present depends on the data: the list stops being
// coded once nextScale becomes 0.
func (r *bitReader) skipScalingList(size int) {
	last, next := int64(8), int64(8)
	for range size {
		if next != 0 {
			delta := r.se()
			if r.err != nil {
				return
			}
			if delta < -128 || delta > 127 {
				r.fail(fmt.Errorf("delta_scale %d out of range", delta))
				return
			}
			next = (last + delta + 256) % 256
		}
		if next != 0 {
			last = next
		}
	}
}

// bitReader reads an RBSP bit by bit straight from a NAL unit payload,
// dropping emulation_prevention_three_byte (§7.4.1: the 0x03 in 00 00 03)
// as it goes. The first error sticks: later reads return zero, so parsing
// code can read a run of fields and check r.err once. Reads never go past
// the end of b.
type bitReader struct {
	b     []byte
	zeros int  // consecutive zero bytes just read, for emulation prevention
	cur   byte // byte being read, consumed from the top
	nbits int  // bits left in cur
	err   error
}

func (r *bitReader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

// more loads the next RBSP byte into cur. It reports false at the end of
// the NAL unit.
func (r *bitReader) more() bool {
	if len(r.b) > 0 && r.zeros >= 2 && r.b[0] == 3 {
		r.b = r.b[1:]
		r.zeros = 0
	}
	if len(r.b) == 0 {
		return false
	}
	r.cur, r.b, r.nbits = r.b[0], r.b[1:], 8
	if r.cur == 0 {
		r.zeros++
	} else {
		r.zeros = 0
	}
	return true
}

// bit returns the next bit, or 0 and a sticky ErrTruncated at the end.
func (r *bitReader) bit() uint32 {
	if r.err != nil {
		return 0
	}
	if r.nbits == 0 && !r.more() {
		r.err = ErrTruncated
		return 0
	}
	r.nbits--
	return uint32(r.cur>>r.nbits) & 1
}

func (r *bitReader) flag() bool { return r.bit() == 1 }

// u reads the n-bit unsigned integer u(n), n <= 32.
func (r *bitReader) u(n int) uint64 {
	var v uint64
	for range n {
		v = v<<1 | uint64(r.bit())
	}
	return v
}

// ue reads an Exp-Golomb code ue(v) (§9.1), or returns 0 on error. Codes
// with more than 31 leading zeros, whose value would not fit 32 bits, are
// an error; no syntax element in an SPS goes beyond 2^32-2.
func (r *bitReader) ue() uint32 {
	zeros := 0
	for r.bit() == 0 {
		if r.err != nil {
			return 0
		}
		if zeros++; zeros > 31 {
			r.fail(errors.New("Exp-Golomb code longer than 32 bits"))
			return 0
		}
	}
	suffix := r.u(zeros)
	if r.err != nil {
		// Never a partial value: callers use ue(v) as loop counts.
		return 0
	}
	return uint32(1<<zeros - 1 + suffix)
}

// ueMax reads ue(v) and fails if it exceeds max, the range the semantics
// allow for the named element.
func (r *bitReader) ueMax(name string, max uint32) uint32 {
	v := r.ue()
	if r.err != nil {
		return 0
	}
	if v > max {
		r.fail(fmt.Errorf("%s %d out of range 0..%d", name, v, max))
		return 0
	}
	return v
}

// se reads a signed Exp-Golomb code se(v) (§9.1.1, Table 9-3).
func (r *bitReader) se() int64 {
	k := int64(r.ue())
	if k&1 == 1 {
		return (k + 1) / 2
	}
	return -k / 2
}

// trailingBits checks rbsp_trailing_bits() (§7.3.2.11): a stop bit of 1,
// then zero bits to the end of the NAL unit (trailing zero bytes have
// already been stripped by NextNAL, but are accepted here too).
func (r *bitReader) trailingBits() {
	if r.err != nil {
		return
	}
	if r.bit() != 1 {
		r.fail(errors.New("syntax does not end with rbsp_stop_one_bit"))
		return
	}
	for r.err == nil && (r.nbits > 0 || r.more()) {
		if r.bit() != 0 {
			r.fail(errors.New("data after rbsp_trailing_bits"))
		}
	}
}
