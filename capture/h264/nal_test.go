package h264

import (
	"bytes"
	"strings"
	"testing"
)

// nals collects every NAL unit NextNAL finds in b.
func nals(b []byte) [][]byte {
	var out [][]byte
	for {
		nal, rest := NextNAL(b)
		if nal == nil {
			return out
		}
		out = append(out, nal)
		b = rest
	}
}

func TestNextNAL(t *testing.T) {
	tests := []struct {
		name   string
		stream string // hex, spaces ignored
		want   []string
	}{
		{"empty", "", nil},
		{"no start code", "67 42 00 1f", nil},
		{"start code only", "00 00 01", nil},
		{"three-byte start codes", "000001 6742 000001 68ce 000001 6588", []string{"6742", "68ce", "6588"}},
		{"four-byte start codes", "00000001 6742 00000001 68ce 00000001 6588", []string{"6742", "68ce", "6588"}},
		{"mixed", "00000001 6742 000001 68ce 00000001 6588", []string{"6742", "68ce", "6588"}},
		{"leading bytes skipped", "ffee 00 000001 09f0", []string{"09f0"}},
		{"trailing zeros dropped", "000001 6588 0000 00 000001 41", []string{"6588", "41"}},
		{"trailing zeros at end", "000001 6588 00 00 00", []string{"6588"}},
		{"empty NALs skipped", "000001 000001 00 000001 000001 6588", []string{"6588"}},
		{"emulation prevention kept", "000001 6588 000003 01 ff", []string{"6588000003 01ff"}},
		{"zero inside NAL kept", "000001 65 00 88 000001 41", []string{"650088", "41"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := nals(mustHex(t, strings.ReplaceAll(tc.stream, " ", "")))
			if len(got) != len(tc.want) {
				t.Fatalf("got %d NALs %x, want %d", len(got), got, len(tc.want))
			}
			for i, w := range tc.want {
				if want := mustHex(t, strings.ReplaceAll(w, " ", "")); !bytes.Equal(got[i], want) {
					t.Errorf("NAL %d = %x, want %x", i, got[i], want)
				}
			}
		})
	}
}

// TestNextNALManyEmpty feeds a long run of empty NAL units, which a
// recursive scanner would need one stack frame each for.
func TestNextNALManyEmpty(t *testing.T) {
	b := bytes.Repeat([]byte{0, 0, 1}, 1<<20)
	b = append(b, 0x41, 0x9a)
	nal, rest := NextNAL(b)
	if !bytes.Equal(nal, []byte{0x41, 0x9a}) || rest != nil {
		t.Fatalf("NextNAL = %x, %x", nal, rest)
	}
}

func TestType(t *testing.T) {
	tests := []struct {
		nal  []byte
		want NALType
		vcl  bool
	}{
		{nil, 0, false},
		{[]byte{0x67}, NALSPS, false},
		{[]byte{0x68}, NALPPS, false},
		{[]byte{0x65, 0x88}, NALSliceIDR, true},
		{[]byte{0x41, 0x9a}, NALSlice, true},
		{[]byte{0x01}, NALSlice, true},
		{[]byte{0x06}, NALSEI, false},
		{[]byte{0x09, 0xf0}, NALAUD, false},
		{[]byte{0x0c}, NALFiller, false},
		{[]byte{0x02}, 2, true}, // data partition A
		{[]byte{0x14}, 20, false},
	}
	for _, tc := range tests {
		if got := Type(tc.nal); got != tc.want || got.IsVCL() != tc.vcl {
			t.Errorf("Type(%x) = %d (VCL %v), want %d (VCL %v)", tc.nal, got, got.IsVCL(), tc.want, tc.vcl)
		}
	}
}

func TestStartsAccessUnit(t *testing.T) {
	tests := []struct {
		name string
		nal  []byte
		want bool
	}{
		{"empty", nil, false},
		{"AUD", []byte{0x09, 0xf0}, true},
		{"SPS", []byte{0x67, 0x42}, true},
		{"PPS", []byte{0x68, 0xce}, true},
		{"SEI", []byte{0x06, 0x05}, true},
		{"IDR first_mb 0", []byte{0x65, 0x88}, true},
		{"slice first_mb 0", []byte{0x41, 0x9a}, true},
		{"slice first_mb 1", []byte{0x41, 0x40}, false}, // ue(v) 010 = 1
		{"slice header byte only", []byte{0x41}, false},
		{"filler", []byte{0x0c, 0xff}, false},
		{"end of sequence", []byte{0x0a}, false},
	}
	for _, tc := range tests {
		if got := StartsAccessUnit(tc.nal); got != tc.want {
			t.Errorf("%s: StartsAccessUnit(%x) = %v, want %v", tc.name, tc.nal, got, tc.want)
		}
	}
}

func FuzzNextNAL(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 0x67, 0x42, 0, 0, 1, 0x68, 0xce, 0, 0, 0})
	f.Add([]byte{0xff, 0, 0, 1, 0, 0, 1, 0x41})
	f.Fuzz(func(t *testing.T, b []byte) {
		total := len(b)
		for n := 0; ; n++ {
			if n > total {
				t.Fatalf("more NAL units than bytes")
			}
			nal, rest := NextNAL(b)
			if nal == nil {
				if rest != nil {
					t.Fatalf("nil NAL with rest %x", rest)
				}
				return
			}
			if nal[len(nal)-1] == 0 || bytes.Contains(nal, []byte{0, 0, 1}) {
				t.Fatalf("bad NAL %x", nal)
			}
			if len(rest) >= len(b) || (rest != nil && !bytes.HasPrefix(rest, []byte{0, 0, 1})) {
				t.Fatalf("rest %x of %x", rest, b)
			}
			// nal must be a view into b, before rest.
			off := cap(b) - cap(nal)
			if off < 3 || off+len(nal) > len(b)-len(rest) || !bytes.Equal(b[off:off+len(nal)], nal) {
				t.Fatalf("NAL %x is not a view into %x", nal, b)
			}
			b = rest
		}
	})
}
