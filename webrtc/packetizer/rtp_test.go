package packetizer

import (
	"bytes"
	"reflect"
	"slices"
	"testing"

	"github.com/pion/rtp"
)

func TestPayload(t *testing.T) {
	tests := []struct {
		name string
		p    Payload
		want []byte
	}{
		{"empty", Payload{}, nil},
		{"body only", Payload{Body: []byte{1, 2}}, []byte{1, 2}},
		{"head only", Payload{Head: []byte{3}}, []byte{3}},
		{"both", Payload{Head: []byte{0x7c, 0x85}, Body: []byte{9, 8, 7}}, []byte{0x7c, 0x85, 9, 8, 7}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.Len(); got != len(tt.want) {
				t.Errorf("Len() = %d, want %d", got, len(tt.want))
			}
			prefix := []byte{0xaa}
			if got := tt.p.AppendTo(prefix); !bytes.Equal(got, append([]byte{0xaa}, tt.want...)) {
				t.Errorf("AppendTo = % x, want aa % x", got, tt.want)
			}
		})
	}
}

func TestPacketizeOpus(t *testing.T) {
	frame := []byte{0xfc, 0xff, 0xfe, 1, 2, 3} // TOC byte, then data
	tests := []struct {
		name  string
		frame []byte
	}{
		{"nil", nil},
		{"empty", []byte{}},
		{"one byte (TOC only, DTX-style)", frame[:1]},
		{"frame", frame},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := make([]Payload, 3, 4) // stale contents must be dropped
			got := PacketizeOpus(dst, tt.frame)
			if len(tt.frame) == 0 {
				if len(got) != 0 {
					t.Fatalf("got %d payloads for an empty frame, want 0", len(got))
				}
				return
			}
			if len(got) != 1 || len(got[0].Head) != 0 || !bytes.Equal(got[0].Body, tt.frame) || !within(got[0].Body, tt.frame) {
				t.Fatalf("got %+v, want one Body-only view of the frame", got)
			}
		})
	}
}

func TestSequencerPackets(t *testing.T) {
	payloads := []Payload{
		{Head: []byte{0x78}, Body: nil},
		{Body: []byte{0x65, 1}},
		{Head: []byte{0x7c, 0x85}, Body: []byte{2, 3}},
	}
	tests := []struct {
		name       string
		payloads   []Payload
		marker     bool
		startSeq   uint16
		wantSeq    []uint16
		wantMarker []bool
	}{
		{"video frame", payloads, true, 7, []uint16{7, 8, 9}, []bool{false, false, true}},
		{"wraps", payloads, true, 65535, []uint16{65535, 0, 1}, []bool{false, false, true}},
		{"no marker", payloads, false, 1, []uint16{1, 2, 3}, []bool{false, false, false}},
		{"single opus packet, talkspurt start", payloads[1:2], true, 4, []uint16{4}, []bool{true}},
		{"nothing", nil, true, 4, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const ts, ssrc, pt = 0xdeadbeef, 0x1234, 96
			// Reused destinations full of stale fields must be reset.
			stale := rtp.Header{Padding: true, Extension: true, Marker: true, CSRC: []uint32{1},
				ExtensionProfile: 0xbede, Extensions: []rtp.Extension{{}}, PaddingSize: 4}
			dst := slices.Repeat([]Packet{{Header: stale, Payload: Payload{Head: []byte{1}}}}, 4)
			dstRTP := slices.Repeat([]rtp.Packet{{Header: stale, Payload: []byte{1}, PaddingSize: 3, Raw: []byte{2}}}, 4)

			s := Sequencer{SSRC: ssrc, PayloadType: pt, SequenceNumber: tt.startSeq}
			got := s.Packets(dst[:1], tt.payloads, ts, tt.marker)
			s2 := Sequencer{SSRC: ssrc, PayloadType: pt, SequenceNumber: tt.startSeq}
			gotRTP := s2.RTPPackets(dstRTP[:2], tt.payloads, ts, tt.marker)
			if len(got) != len(tt.wantSeq) || len(gotRTP) != len(tt.wantSeq) {
				t.Fatalf("got %d and %d packets, want %d", len(got), len(gotRTP), len(tt.wantSeq))
			}
			if next := tt.startSeq + uint16(len(tt.wantSeq)); s.SequenceNumber != next || s2.SequenceNumber != next {
				t.Errorf("next sequence number %d and %d, want %d", s.SequenceNumber, s2.SequenceNumber, next)
			}
			for i := range got {
				want := rtp.Header{Version: 2, Marker: tt.wantMarker[i], PayloadType: pt,
					SequenceNumber: tt.wantSeq[i], Timestamp: ts, SSRC: ssrc}
				if !reflect.DeepEqual(got[i].Header, want) {
					t.Errorf("packet %d header %+v, want %+v", i, got[i].Header, want)
				}
				if !reflect.DeepEqual(got[i].Payload, tt.payloads[i]) {
					t.Errorf("packet %d payload %+v, want %+v", i, got[i].Payload, tt.payloads[i])
				}
				// The wire form of both must parse back to the same
				// header and the gathered payload.
				wantPayload := tt.payloads[i].AppendTo(nil)
				b, err := got[i].AppendTo([]byte{0xee})
				if err != nil || b[0] != 0xee || len(b)-1 != got[i].MarshalSize() {
					t.Fatalf("AppendTo: % x, %v; MarshalSize %d", b, err, got[i].MarshalSize())
				}
				var parsed rtp.Packet
				if err := parsed.Unmarshal(b[1:]); err != nil {
					t.Fatal(err)
				}
				if parsed.SequenceNumber != want.SequenceNumber || parsed.Marker != want.Marker ||
					parsed.SSRC != ssrc || !bytes.Equal(parsed.Payload, wantPayload) {
					t.Errorf("packet %d parsed as %v", i, parsed.String())
				}
				// Every field, the stale deprecated ones included.
				if wantRTP := (rtp.Packet{Header: want, Payload: wantPayload}); !reflect.DeepEqual(gotRTP[i], wantRTP) {
					t.Errorf("rtp.Packet %d %+v, want %+v", i, gotRTP[i], wantRTP)
				}
				if len(tt.payloads[i].Head) == 0 && !within(gotRTP[i].Payload, tt.payloads[i].Body) {
					t.Errorf("rtp.Packet %d copied a Body-only payload", i)
				}
			}
		})
	}
}

func TestSequencerAllocs(t *testing.T) {
	gop := benchGOP()
	p := NewH264(mtuPayload)
	var s Sequencer
	var (
		payloads []Payload
		pkts     []Packet
		rtpPkts  []rtp.Packet
		buf      []byte
	)
	frame := func(i int) {
		payloads = p.Packetize(payloads, gop[i%len(gop)])
		pkts = s.Packets(pkts, payloads, uint32(i)*3000, true)
		for j := range pkts {
			var err error
			if buf, err = pkts[j].AppendTo(buf[:0]); err != nil {
				t.Fatal(err)
			}
		}
		rtpPkts = s.RTPPackets(rtpPkts, payloads, uint32(i)*3000, true)
	}
	for i := range gop {
		frame(i)
	}
	i := 0
	if allocs := testing.AllocsPerRun(100, func() { frame(i); i++ }); allocs != 0 {
		t.Errorf("%v allocs per frame in steady state, want 0", allocs)
	}
}
