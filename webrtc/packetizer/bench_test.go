package packetizer

import (
	"sync"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
)

// benchGOP is a 1080p-like group of pictures (see /work/shared/spec/media.md
// §4): AU 0 is SPS + PPS + a 200 KB IDR slice, AUs 1..29 a 15 KB P slice
// each, with 4-byte start codes and deterministic payload bytes in 1..255
// so that no start code appears by accident.
var benchGOP = sync.OnceValue(func() [][]byte {
	gop := make([][]byte, 30)
	gop[0] = annexB(sc4, mkNAL(hSPS, 20, 1), mkNAL(hPPS, 5, 2), mkNAL(hIDR, 200_000, 3))
	for i := 1; i < len(gop); i++ {
		gop[i] = annexB(sc4, mkNAL(hSlice, 15_000, uint64(100+i)))
	}
	return gop
})

const (
	benchMTU  = 1200 // RTP packet size, as in pion's NewPacketizer below
	benchSSRC = 0x5eed
	benchPT   = 96
	benchTick = 3000 // 90 kHz / 30 fps
)

// avgFrame is the mean access unit size, for b.SetBytes.
func avgFrame(gop [][]byte) int64 {
	n := 0
	for _, au := range gop {
		n += len(au)
	}
	return int64(n / len(gop))
}

// BenchmarkPacketizeH264 builds the complete RTP packets of each frame:
// headers (sequence number, timestamp, marker, SSRC, PT) and payload views.
func BenchmarkPacketizeH264(b *testing.B) {
	gop := benchGOP()
	p := NewH264(benchMTU - 12)
	s := Sequencer{SSRC: benchSSRC, PayloadType: benchPT}
	var (
		payloads []Payload
		pkts     []Packet
		ts       uint32
		n        int
	)
	b.SetBytes(avgFrame(gop))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		payloads = p.Packetize(payloads, gop[i%len(gop)])
		pkts = s.Packets(pkts, payloads, ts, true)
		ts += benchTick
		n += len(pkts)
	}
	b.ReportMetric(float64(n)/float64(b.N), "pkts/frame")
}

// BenchmarkPacketizeH264Wire adds what a sender does next: marshal each
// packet into its wire buffer, the one gather copy of the payload.
func BenchmarkPacketizeH264Wire(b *testing.B) {
	gop := benchGOP()
	p := NewH264(benchMTU - 12)
	s := Sequencer{SSRC: benchSSRC, PayloadType: benchPT}
	var (
		payloads []Payload
		pkts     []Packet
		ts       uint32
	)
	buf := make([]byte, 0, benchMTU)
	b.SetBytes(avgFrame(gop))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		payloads = p.Packetize(payloads, gop[i%len(gop)])
		pkts = s.Packets(pkts, payloads, ts, true)
		for j := range pkts {
			var err error
			if buf, err = pkts[j].AppendTo(buf[:0]); err != nil {
				b.Fatal(err)
			}
		}
		ts += benchTick
	}
}

// BenchmarkPacketizeH264RTPPackets builds pion rtp.Packets, gathering
// FU-A and STAP-A payloads into one reused buffer, as a sender feeding
// TrackLocalStaticRTP.WriteRTP would.
func BenchmarkPacketizeH264RTPPackets(b *testing.B) {
	gop := benchGOP()
	p := NewH264(benchMTU - 12)
	s := Sequencer{SSRC: benchSSRC, PayloadType: benchPT}
	var (
		payloads []Payload
		pkts     []rtp.Packet
		ts       uint32
	)
	b.SetBytes(avgFrame(gop))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		payloads = p.Packetize(payloads, gop[i%len(gop)])
		pkts = s.RTPPackets(pkts, payloads, ts, true)
		ts += benchTick
	}
}

// BenchmarkPionPacketizeH264 is the reference: pion's packetiser with its
// H.264 payloader, which copies every payload and allocates every packet.
func BenchmarkPionPacketizeH264(b *testing.B) {
	gop := benchGOP()
	pz := rtp.NewPacketizer(benchMTU, benchPT, benchSSRC, &codecs.H264Payloader{}, rtp.NewRandomSequencer(), 90000)
	n := 0
	b.SetBytes(avgFrame(gop))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		n += len(pz.Packetize(gop[i%len(gop)], benchTick))
	}
	b.ReportMetric(float64(n)/float64(b.N), "pkts/frame")
}

// BenchmarkPacketizeOpus packetises a 20 ms, 64 kbit/s Opus frame.
func BenchmarkPacketizeOpus(b *testing.B) {
	frame := mkNAL(0xfc, 160, 1) // TOC byte, then data
	s := Sequencer{SSRC: benchSSRC, PayloadType: 111}
	var (
		payloads []Payload
		pkts     []Packet
		ts       uint32
	)
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		payloads = PacketizeOpus(payloads, frame)
		pkts = s.Packets(pkts, payloads, ts, false)
		ts += 960 // 20 ms at 48 kHz (RFC 7587 §4.1)
	}
}
