// Package h264 reads the H.264 Annex B byte stream (ITU-T H.264 Annex B)
// and the few syntax elements mattercam needs: NAL unit boundaries and
// types, access-unit boundaries, and the sequence parameter set fields that
// describe a stream.
package h264

import "bytes"

// NALType is nal_unit_type (H.264 §7.4.1, Table 7-1).
type NALType uint8

// NAL unit types used by mattercam.
const (
	NALSlice    NALType = 1  // coded slice of a non-IDR picture
	NALSliceIDR NALType = 5  // coded slice of an IDR picture
	NALSEI      NALType = 6  // supplemental enhancement information
	NALSPS      NALType = 7  // sequence parameter set
	NALPPS      NALType = 8  // picture parameter set
	NALAUD      NALType = 9  // access unit delimiter
	NALFiller   NALType = 12 // filler data
)

// Type returns the nal_unit_type of a NAL unit (without start code).
// An empty NAL has type 0 (unspecified).
func Type(nal []byte) NALType {
	if len(nal) == 0 {
		return 0
	}
	return NALType(nal[0] & 0x1f)
}

// IsVCL reports whether t is a coded slice type (1–5).
func (t NALType) IsVCL() bool { return t >= 1 && t <= 5 }

var startCode = []byte{0, 0, 1}

// NextNAL returns the first NAL unit in an Annex B stream, without its start
// code and without trailing zero bytes (H.264 §7.4.1: a NAL unit never ends
// in 0x00, so trailing zeros belong to the next four-byte start code), and
// the rest of the stream starting at the next start code. Leading bytes
// before the first start code are skipped. It returns a nil nal when b holds
// no further NAL unit. Both results are views into b; nothing is copied.
func NextNAL(b []byte) (nal, rest []byte) {
	// A loop, not recursion, over empty NAL units (start codes with
	// nothing but zeros between them): hostile input made of millions of
	// them must not grow the stack.
	for {
		i := bytes.Index(b, startCode)
		if i < 0 {
			return nil, nil
		}
		b = b[i+3:]
		j := bytes.Index(b, startCode)
		if j < 0 {
			nal, rest = b, nil
		} else {
			nal, rest = b[:j], b[j:]
		}
		for len(nal) > 0 && nal[len(nal)-1] == 0 {
			nal = nal[:len(nal)-1]
		}
		if len(nal) > 0 {
			return nal, rest
		}
		b = rest
	}
}

// FirstMBIsZero reports whether a slice NAL begins a new picture, that is,
// whether its first_mb_in_slice (the first ue(v) of the slice header,
// H.264 §7.3.3) is 0. ue(v) codes 0 as the single bit 1.
func FirstMBIsZero(nal []byte) bool {
	return len(nal) > 1 && nal[1]&0x80 != 0
}

// StartsAccessUnit reports whether nal begins a new access unit when it
// follows a VCL NAL unit of the previous picture (H.264 §7.4.1.2.3,
// simplified for encoders that emit one primary picture per access unit):
// an AUD, SPS, PPS or SEI, or the first slice of a new picture.
func StartsAccessUnit(nal []byte) bool {
	switch t := Type(nal); {
	case t == NALAUD, t == NALSPS, t == NALPPS, t == NALSEI:
		return true
	case t.IsVCL():
		return FirstMBIsZero(nal)
	}
	return false
}
