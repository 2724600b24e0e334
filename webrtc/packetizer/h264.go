package packetizer

import (
	"encoding/binary"
	"slices"

	"github.com/mattercam/mattercam/capture/h264"
)

// Bounds on the maxPayload given to NewH264.
const (
	// MinH264Payload is the smallest useful payload: an FU-A needs its two
	// header bytes plus at least one byte of the fragmented NAL unit
	// (RFC 6184 §5.8).
	MinH264Payload = 3
	// MaxH264Payload is the largest payload: STAP-A carries each NAL unit
	// size in 16 bits (RFC 6184 §5.7.1), and no UDP datagram is larger.
	MaxH264Payload = 65535
)

// NAL unit header fields (RFC 6184 §5.3) and the packet types of
// packetization-mode=1 (RFC 6184 §5.2, Table 1 and §5.4, Table 3).
const (
	hdrF    = 0x80 // forbidden_zero_bit
	hdrNRI  = 0x60 // nal_ref_idc
	hdrType = 0x1f // nal_unit_type

	typeSTAPA = 24
	typeFUA   = 28

	fuStart = 0x80 // FU header S bit (RFC 6184 §5.8)
	fuEnd   = 0x40 // FU header E bit
)

// H264 packetises H.264 access units in Annex B form into RTP payloads
// (RFC 6184, packetization-mode=1) without copying slice data:
//
//   - a NAL unit that fits in one payload is sent as a single NAL unit
//     packet (§5.6) whose Body is the NAL unit itself;
//   - a run of two or more consecutive small non-slice NAL units (SPS, PPS,
//     SEI, AUD, end of sequence/stream, SPS extension, subset SPS) that fit
//     together is aggregated into one STAP-A (§5.7.1), written to scratch
//     memory; they are a few dozen bytes, and aggregating them saves packets
//     on every key frame;
//   - a larger NAL unit is split into FU-A fragments (§5.8) of nearly equal
//     size, each a two-byte Head plus a Body view of the NAL unit.
//
// Coded slices are never aggregated, so picture data is never copied.
//
// NAL units of type 0 and 24–31 are dropped. H.264 leaves them unspecified
// (ITU-T H.264 Table 7-1; decoders ignore them), and RFC 6184 §5.2 gives
// those values to aggregation and fragmentation packets or reserves them, so
// a receiver would misread them as a single NAL unit packet. Every other NAL
// unit, filler data included, is sent, in order.
//
// An H264 is not safe for concurrent use; use one per sender.
type H264 struct {
	maxPayload int
	nals       [][]byte // NAL units of the current access unit
	scratch    []byte   // FU-A and STAP-A heads of the current access unit
}

// NewH264 returns a packetiser whose payloads are at most maxPayload bytes:
// the path MTU minus the IP, UDP, SRTP and RTP overhead (for example
// 1200 - 12 for WebRTC's customary 1200-byte RTP packets). maxPayload is
// clamped to [MinH264Payload, MaxH264Payload] rather than rejected, because
// any value in that range yields a valid stream and a smaller one cannot.
func NewH264(maxPayload int) *H264 {
	return &H264{maxPayload: min(max(maxPayload, MinH264Payload), MaxH264Payload)}
}

// MaxPayload returns the payload size limit after clamping.
func (p *H264) MaxPayload() int { return p.maxPayload }

// Packetize appends the RTP payloads of one Annex B access unit to dst[:0]
// and returns it. All payloads share the access unit's RTP timestamp, and
// the last one must carry the RTP marker bit (RFC 6184 §5.1); see
// [Sequencer]. Bodies are views of au, so au must stay unmodified until the
// payloads are sent. Heads point into p's scratch memory and stay valid
// until the next call to Packetize. Empty input, or input without a start
// code, yields no payloads.
//
// Once dst and p's scratch memory have grown to fit the largest access unit,
// Packetize does not allocate.
func (p *H264) Packetize(dst []Payload, au []byte) []Payload {
	p.scratch = p.scratch[:0]
	p.nals = p.nals[:0]
	for nal, rest := h264.NextNAL(au); nal != nil; nal, rest = h264.NextNAL(rest) {
		if t := h264.Type(nal); t >= 1 && t <= 23 {
			p.nals = append(p.nals, nal[:len(nal):len(nal)])
		}
	}

	// A NAL unit of L bytes yields at most L/room + 1 payloads (one if it
	// is sent whole or aggregated), so one Grow up front fits them all.
	room := p.maxPayload - 2
	dst = slices.Grow(dst[:0], len(au)/room+len(p.nals))

	nals := p.nals
	for len(nals) > 0 {
		if n := p.stapCount(nals); n >= 2 {
			dst = p.appendSTAPA(dst, nals[:n])
			nals = nals[n:]
			continue
		}
		if nal := nals[0]; len(nal) <= p.maxPayload {
			dst = append(dst, Payload{Body: nal}) // RFC 6184 §5.6
		} else {
			dst = p.appendFUA(dst, nal)
		}
		nals = nals[1:]
	}

	// Forget the views of au so that p does not keep a pooled or large
	// frame buffer reachable between calls.
	clear(p.nals)
	return dst
}

// aggregatable reports whether a NAL unit may go into a STAP-A: small
// non-slice units that describe the stream rather than a picture.
func aggregatable(nal []byte) bool {
	switch h264.Type(nal) {
	case h264.NALSEI, h264.NALSPS, h264.NALPPS, h264.NALAUD,
		10, // end of sequence
		11, // end of stream
		13, // sequence parameter set extension
		15: // subset sequence parameter set
		return true
	}
	return false
}

// stapCount returns how many NAL units from the start of nals fit, in order,
// into one STAP-A of at most maxPayload bytes: one STAP-A header byte, then
// a 16-bit size and the NAL unit for each (RFC 6184 §5.7.1).
func (p *H264) stapCount(nals [][]byte) int {
	size := 1
	for i, nal := range nals {
		size += 2 + len(nal)
		if !aggregatable(nal) || size > p.maxPayload {
			return i
		}
	}
	return len(nals)
}

// appendSTAPA writes a STAP-A holding nals into scratch and appends it to
// dst as a Head-only payload.
func (p *H264) appendSTAPA(dst []Payload, nals [][]byte) []Payload {
	start := len(p.scratch)
	p.scratch = append(p.scratch, 0)
	var f, nri byte
	for _, nal := range nals {
		// RFC 6184 §5.3 and §5.7: an aggregation packet's F bit is set
		// if any aggregated unit's is, and its NRI is the highest of
		// theirs, so that a network element dropping by NRI never drops
		// a parameter set along with a disposable SEI.
		f |= nal[0] & hdrF
		nri = max(nri, nal[0]&hdrNRI)
		p.scratch = binary.BigEndian.AppendUint16(p.scratch, uint16(len(nal)))
		p.scratch = append(p.scratch, nal...)
	}
	p.scratch[start] = f | nri | typeSTAPA
	end := len(p.scratch)
	return append(dst, Payload{Head: p.scratch[start:end:end]})
}

// appendFUA appends the FU-A fragments of a NAL unit longer than
// maxPayload to dst (RFC 6184 §5.8).
func (p *H264) appendFUA(dst []Payload, nal []byte) []Payload {
	// The FU indicator takes F and NRI from the NAL unit header and the
	// FU header takes its type; the header byte itself is not sent, the
	// receiver rebuilds it from these two. Only three distinct heads exist
	// per NAL unit (start, middle, end), so they are written once and
	// shared.
	ind := nal[0]&(hdrF|hdrNRI) | typeFUA
	typ := nal[0] & hdrType
	i := len(p.scratch)
	p.scratch = append(p.scratch, ind, fuStart|typ, ind, typ, ind, fuEnd|typ)
	first := p.scratch[i : i+2 : i+2]
	middle := p.scratch[i+2 : i+4 : i+4]
	last := p.scratch[i+4 : i+6 : i+6]

	// Split the rest into k fragments of nearly equal size, so that no
	// runt packet trails a frame. len(nal) > maxPayload implies k ≥ 2, so
	// no fragment has both S and E set, which §5.8 forbids.
	data := nal[1:]
	room := p.maxPayload - 2
	k := (len(data) + room - 1) / room
	size, extra := len(data)/k, len(data)%k
	// Write the k payloads in place: field stores are cheaper than
	// appending struct literals. Packetize has already grown dst, so the
	// Grow here only guards that invariant.
	n := len(dst)
	dst = slices.Grow(dst, k)[:n+k]
	for j := range k {
		m := size
		if j < extra {
			m++
		}
		pl := &dst[n+j]
		switch j {
		case 0:
			pl.Head = first
		case k - 1:
			pl.Head = last
		default:
			pl.Head = middle
		}
		pl.Body = data[:m:m]
		data = data[m:]
	}
	return dst
}
