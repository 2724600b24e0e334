package packetizer

import (
	"bytes"
	"slices"
	"testing"
)

const mtuPayload = 1200 - 12 // WebRTC's customary RTP packet size minus the RTP header

// NAL unit header bytes with F=0 (pion's FU-A reassembly drops F).
const (
	hSlice = 0x41 // NRI 2, non-IDR slice
	hIDR   = 0x65 // NRI 3, IDR slice
	hSEI   = 0x06 // NRI 0
	hSPS   = 0x67 // NRI 3
	hPPS   = 0x68 // NRI 3
	hAUD   = 0x09 // NRI 0
	hFill  = 0x0c // NRI 0, filler data
)

type h264Case struct {
	name       string
	maxPayload int
	au         []byte
	// wantTypes is the RFC 6184 §5.2 packet type of each payload
	// (1–23 single NAL unit, 24 STAP-A, 28 FU-A).
	wantTypes []byte
}

func fuTypes(n int) []byte { return bytes.Repeat([]byte{typeFUA}, n) }

func h264Cases() []h264Case {
	sps, pps := mkNAL(hSPS, 20, 1), mkNAL(hPPS, 5, 2)
	room := mtuPayload - 2
	var slices20 [][]byte
	for i := range 20 {
		slices20 = append(slices20, mkNAL(hSlice, 300+i, uint64(i)))
	}
	return []h264Case{
		{"empty", mtuPayload, nil, nil},
		{"no start code", mtuPayload, []byte{0x65, 1, 2, 3}, nil},
		{"only start codes and zeros", mtuPayload, []byte{0, 0, 1, 0, 0, 0, 1, 0, 0}, nil},
		{"single small NAL", mtuPayload, annexB(sc4, mkNAL(hIDR, 100, 3)), []byte{5}},
		{"header-only NAL", mtuPayload, annexB(sc4, []byte{hAUD}), []byte{9}},
		{"SPS+PPS+IDR", mtuPayload, annexB(sc4, sps, pps, mkNAL(hIDR, 5000, 4)),
			append([]byte{typeSTAPA}, fuTypes(5)...)},
		{"AUD+SPS+PPS+SEI+IDR", mtuPayload,
			annexB(sc4, []byte{hAUD, 0xf0}, sps, pps, mkNAL(hSEI, 30, 5), mkNAL(hIDR, 900, 6)),
			[]byte{typeSTAPA, 5}},
		{"SPS+PPS too big to aggregate", 20, annexB(sc4, mkNAL(hSPS, 15, 7), pps, mkNAL(hIDR, 10, 8)),
			[]byte{7, 8, 5}},
		{"STAP-A exactly maxPayload", 1 + 2 + 20 + 2 + 5, annexB(sc4, sps, pps), []byte{typeSTAPA}},
		{"STAP-A one byte over maxPayload", 1 + 2 + 20 + 2 + 5 - 1, annexB(sc4, sps, pps), []byte{7, 8}},
		{"NAL of exactly maxPayload", mtuPayload, annexB(sc4, mkNAL(hIDR, mtuPayload, 9)), []byte{5}},
		{"NAL of maxPayload+1", mtuPayload, annexB(sc4, mkNAL(hIDR, mtuPayload+1, 10)), fuTypes(2)},
		{"NAL leaving a 1-byte tail if split greedily", mtuPayload,
			annexB(sc4, mkNAL(hIDR, 1+2*room+1, 11)), fuTypes(3)},
		{"1-byte fragments", MinH264Payload, annexB(sc4, mkNAL(hSlice, 6, 12)), fuTypes(5)},
		{"20 slices", mtuPayload, annexB(sc4, slices20...), bytes.Repeat([]byte{1}, 20)},
		{"3-byte start codes", mtuPayload, annexB(sc3, sps, pps, mkNAL(hIDR, 500, 13)), []byte{typeSTAPA, 5}},
		{"mixed start codes", mtuPayload,
			slices.Concat(sc3, sps, sc4, pps, sc3, mkNAL(hIDR, 2000, 14)), []byte{typeSTAPA, 28, 28}},
		{"leading and trailing zero bytes", mtuPayload,
			slices.Concat([]byte{0, 0}, annexB(sc4, mkNAL(hSlice, 50, 15)), []byte{0, 0, 0, 0}), []byte{1}},
		{"zero bytes between NAL units", mtuPayload,
			slices.Concat(annexB(sc4, mkNAL(hSlice, 50, 16)), []byte{0, 0, 0}, annexB(sc3, mkNAL(hSlice, 60, 17))),
			[]byte{1, 1}},
		{"filler and SEI after slice are kept", mtuPayload,
			annexB(sc4, mkNAL(hIDR, 700, 18), mkNAL(hFill, 2000, 19), mkNAL(hSEI, 10, 20)),
			[]byte{5, 28, 28, 6}},
		{"unspecified NAL types dropped", mtuPayload,
			annexB(sc4, []byte{0x00, 0x05}, []byte{0x18, 1, 2}, []byte{0x7f, 9}, mkNAL(hSlice, 10, 21)),
			[]byte{1}},
		{"minimum maxPayload clamps", -5, annexB(sc4, mkNAL(hSlice, 4, 22)), fuTypes(3)},
	}
}

func TestPacketizeH264(t *testing.T) {
	for _, tc := range h264Cases() {
		t.Run(tc.name, func(t *testing.T) {
			p := NewH264(tc.maxPayload)
			got := p.Packetize(nil, tc.au)

			var types []byte
			for i, pl := range got {
				if pl.Len() > p.MaxPayload() {
					t.Errorf("payload %d is %d bytes, max %d", i, pl.Len(), p.MaxPayload())
				}
				types = append(types, packetType(pl))
			}
			if !bytes.Equal(types, tc.wantTypes) {
				t.Errorf("packet types = %v, want %v", types, tc.wantTypes)
			}

			want := sendableNALs(tc.au)
			annexb, err := pionDepacketize(got)
			if err != nil {
				t.Fatalf("pion depacketiser: %v", err)
			}
			if gotNALs := nalList(annexb); !equalNALs(gotNALs, want, false) {
				t.Errorf("pion round trip: got %d NAL units, want %d (or contents differ)", len(gotNALs), len(want))
			}
			gotNALs, err := refDepacketize(got)
			if err != nil {
				t.Fatalf("reference depacketiser: %v", err)
			}
			if !equalNALs(gotNALs, want, false) {
				t.Errorf("reference round trip: got %d NAL units, want %d (or contents differ)", len(gotNALs), len(want))
			}
		})
	}
}

// TestPacketizeH264ZeroCopy checks that single NAL unit and FU-A payloads
// are views of the access unit, and that FU-A fragments are contiguous,
// in order, and of nearly equal size.
func TestPacketizeH264ZeroCopy(t *testing.T) {
	for _, tc := range h264Cases() {
		t.Run(tc.name, func(t *testing.T) {
			p := NewH264(tc.maxPayload)
			var prevEnd uintptr // end of the previous FU-A body
			var fuSizes []int
			for i, pl := range p.Packetize(nil, tc.au) {
				switch typ := packetType(pl); typ {
				case typeSTAPA:
					if len(pl.Body) != 0 || len(pl.Head) == 0 {
						t.Errorf("payload %d: STAP-A with Head %d, Body %d bytes", i, len(pl.Head), len(pl.Body))
					}
				case typeFUA:
					if len(pl.Head) != 2 || !within(pl.Body, tc.au) {
						t.Fatalf("payload %d: FU-A Head %d bytes, Body aliases AU: %v", i, len(pl.Head), within(pl.Body, tc.au))
					}
					start := addr(pl.Body)
					if pl.Head[1]&fuStart != 0 {
						fuSizes = fuSizes[:0]
					} else if start != prevEnd {
						t.Errorf("payload %d: FU-A body not contiguous with the previous fragment", i)
					}
					prevEnd = start + uintptr(len(pl.Body))
					fuSizes = append(fuSizes, len(pl.Body))
					if pl.Head[1]&fuEnd != 0 && slices.Max(fuSizes)-slices.Min(fuSizes) > 1 {
						t.Errorf("payload %d: unbalanced fragments %v", i, fuSizes)
					}
				default:
					if len(pl.Head) != 0 || !within(pl.Body, tc.au) {
						t.Errorf("payload %d: single NAL unit with Head %d bytes, Body aliases AU: %v", i, len(pl.Head), within(pl.Body, tc.au))
					}
				}
				if cap(pl.Body) != len(pl.Body) || cap(pl.Head) != len(pl.Head) {
					t.Errorf("payload %d: views not capped; append on them would overwrite neighbours", i)
				}
			}
		})
	}
}

func TestPacketizeH264HeaderBits(t *testing.T) {
	tests := []struct {
		name     string
		nals     [][]byte
		wantHead []byte // first bytes of the first payload's Head
	}{
		// STAP-A: F is the OR, NRI the maximum of the aggregated units
		// (RFC 6184 §5.3, §5.7).
		{"STAP-A NRI max", [][]byte{{0x06, 1}, {0x47, 2}, {0x28, 3}}, []byte{0x40 | typeSTAPA, 0, 2, 0x06, 1}},
		{"STAP-A F or", [][]byte{{0x86, 1}, {0x07, 2}}, []byte{0x80 | typeSTAPA, 0, 2, 0x86, 1}},
		// FU-A: indicator carries F and NRI, header carries S and the
		// type (RFC 6184 §5.8).
		{"FU-A start", [][]byte{mkNAL(0xc5, 100, 1)}, []byte{0xc0 | typeFUA, fuStart | 5}},
		{"FU-A NRI 0", [][]byte{mkNAL(0x01, 100, 1)}, []byte{typeFUA, fuStart | 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := NewH264(40).Packetize(nil, annexB(sc4, tt.nals...))
			if len(got) == 0 || !bytes.HasPrefix(got[0].Head, tt.wantHead) {
				t.Fatalf("first payload %+v, want Head prefix % x", got, tt.wantHead)
			}
			if last := got[len(got)-1]; packetType(last) == typeFUA && !bytes.Equal(last.Head, []byte{tt.wantHead[0], fuEnd | tt.wantHead[1]&hdrType}) {
				t.Errorf("last FU-A Head % x", last.Head)
			}
		})
	}
}

func TestNewH264Clamps(t *testing.T) {
	for _, tt := range []struct{ in, want int }{
		{-1, MinH264Payload}, {0, MinH264Payload}, {2, MinH264Payload}, {3, 3},
		{1188, 1188}, {MaxH264Payload, MaxH264Payload}, {1 << 20, MaxH264Payload},
	} {
		if got := NewH264(tt.in).MaxPayload(); got != tt.want {
			t.Errorf("NewH264(%d).MaxPayload() = %d, want %d", tt.in, got, tt.want)
		}
	}
}

// TestPacketizeH264Reuse checks that a second call reuses scratch memory
// without corrupting the result: heads of call 2 are correct even though
// call 1 wrote different heads there.
func TestPacketizeH264Reuse(t *testing.T) {
	p := NewH264(mtuPayload)
	gop := benchGOP()
	var dst []Payload
	for i := range 3 * len(gop) {
		au := gop[i%len(gop)]
		dst = p.Packetize(dst, au)
		nals, err := refDepacketize(dst)
		if err != nil || !equalNALs(nals, sendableNALs(au), false) {
			t.Fatalf("frame %d: round trip failed (err %v)", i, err)
		}
	}
}

func TestPacketizeH264Allocs(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a GOP")
	}
	gop := benchGOP()
	p := NewH264(mtuPayload)
	var dst []Payload
	for _, au := range gop { // grow dst and scratch
		dst = p.Packetize(dst, au)
	}
	i := 0
	allocs := testing.AllocsPerRun(100, func() {
		dst = p.Packetize(dst, gop[i%len(gop)])
		i++
	})
	if allocs != 0 {
		t.Errorf("Packetize: %v allocs per frame in steady state, want 0", allocs)
	}
}

func FuzzPacketizeH264(f *testing.F) {
	for _, tc := range h264Cases() {
		f.Add(tc.au, uint16(max(tc.maxPayload, 0)))
	}
	f.Add([]byte{0, 0, 1, 0x7c, 0x85, 1, 2, 3, 4, 5}, uint16(4)) // looks like an FU-A
	f.Add([]byte{0, 0, 1, 0x98, 0, 2, 1, 1}, uint16(100))        // looks like a STAP-A
	f.Add([]byte{0, 0, 0, 1, 0xe5, 0, 0, 3, 0, 0, 2, 7}, uint16(5))
	f.Fuzz(func(t *testing.T, au []byte, maxPayload uint16) {
		p := NewH264(int(maxPayload))
		got := p.Packetize(nil, au)
		for i, pl := range got {
			if pl.Len() == 0 || pl.Len() > p.MaxPayload() {
				t.Fatalf("payload %d is %d bytes, max %d", i, pl.Len(), p.MaxPayload())
			}
		}
		want := sendableNALs(au)
		nals, err := refDepacketize(got)
		if err != nil {
			t.Fatalf("reference depacketiser: %v", err)
		}
		if !equalNALs(nals, want, false) {
			t.Fatalf("reference round trip: got %d NAL units, want %d (or contents differ)", len(nals), len(want))
		}
		annexb, err := pionDepacketize(got)
		if err != nil {
			t.Fatalf("pion depacketiser: %v", err)
		}
		if nals := nalList(annexb); !equalNALs(nals, want, true) {
			t.Fatalf("pion round trip: got %d NAL units, want %d (or contents differ)", len(nals), len(want))
		}
	})
}
