package packetizer

import (
	"slices"

	"github.com/pion/rtp"
)

// Packet is one RTP packet whose payload is still described by views: the
// header a [Sequencer] filled in and the [Payload] from a packetiser.
type Packet struct {
	Header  rtp.Header
	Payload Payload
}

// MarshalSize returns the size of the packet on the wire.
func (p *Packet) MarshalSize() int { return p.Header.MarshalSize() + p.Payload.Len() }

// AppendTo appends the wire form of the packet (RFC 3550 §5.1 header, then
// Head and Body) to b and returns the extended slice. It allocates only if b
// lacks capacity.
func (p *Packet) AppendTo(b []byte) ([]byte, error) {
	hlen := p.Header.MarshalSize()
	b = slices.Grow(b, hlen+p.Payload.Len())
	n, err := p.Header.MarshalTo(b[len(b) : len(b)+hlen])
	if err != nil {
		return b, err
	}
	return p.Payload.AppendTo(b[:len(b)+n]), nil
}

// Sequencer turns the payloads of one frame into RTP packets of one stream:
// consecutive sequence numbers, the frame's timestamp, the marker bit, SSRC
// and payload type (RFC 3550 §5.1). The zero value starts at sequence
// number 0; RFC 3550 §5.1 asks for a random initial value, so set
// SequenceNumber (and SSRC) before use. A Sequencer is not safe for
// concurrent use.
type Sequencer struct {
	SSRC        uint32
	PayloadType uint8
	// SequenceNumber is the sequence number of the next packet. It wraps
	// modulo 2^16.
	SequenceNumber uint16

	gather []byte // contiguous payloads for RTPPackets
}

// fill sets every field of h for the next packet. It clears h in place and
// then writes the fields that are not zero, instead of assigning an
// rtp.Header literal, which the compiler turns into a write-barriered copy
// of the whole struct; this runs per packet. Clearing the whole header
// resets whatever a previous user of dst left, in fields this package never
// sets too (such as the deprecated PayloadOffset).
func (s *Sequencer) fill(h *rtp.Header, timestamp uint32, marker bool) {
	*h = rtp.Header{}
	s.next(h, timestamp, marker)
}

// next writes the fields of the next packet into h, which must be zero.
func (s *Sequencer) next(h *rtp.Header, timestamp uint32, marker bool) {
	h.Version = 2
	h.Marker = marker
	h.PayloadType = s.PayloadType
	h.SequenceNumber = s.SequenceNumber
	h.Timestamp = timestamp
	h.SSRC = s.SSRC
	s.SequenceNumber++
}

// Packets appends one Packet per payload to dst[:0] and returns it. All
// packets get timestamp; the last gets the marker bit if marker is set.
// For video pass marker = true for every access unit (the marker flags the
// last packet of the access unit, RFC 6184 §5.1). For Opus, where a frame is
// one packet, pass marker = true only for the first packet of a talkspurt
// after discontinuous transmission (RFC 7587 §4.1, RFC 3551 §4.1).
//
// Payload views are copied as slice headers only, so Packets does not
// allocate once dst has grown.
func (s *Sequencer) Packets(dst []Packet, payloads []Payload, timestamp uint32, marker bool) []Packet {
	dst = slices.Grow(dst[:0], len(payloads))[:len(payloads)]
	for i := range dst {
		s.fill(&dst[i].Header, timestamp, marker && i == len(dst)-1)
		dst[i].Payload = payloads[i]
	}
	return dst
}

// RTPPackets is Packets for APIs that take a pion rtp.Packet, whose payload
// must be contiguous (for example webrtc.TrackLocalStaticRTP.WriteRTP). A
// payload with an empty Head is referenced as is; the others (FU-A
// fragments, STAP-As) are gathered into s's buffer, which costs one copy of
// those bytes and stays valid until the next call to RTPPackets. It does not
// allocate once dst and that buffer have grown.
func (s *Sequencer) RTPPackets(dst []rtp.Packet, payloads []Payload, timestamp uint32, marker bool) []rtp.Packet {
	// Size the gather buffer once per frame, so that a larger frame costs
	// one allocation rather than a series of doublings.
	need := 0
	for _, pl := range payloads {
		if len(pl.Head) > 0 {
			need += pl.Len()
		}
	}
	s.gather = slices.Grow(s.gather[:0], need)

	dst = slices.Grow(dst[:0], len(payloads))[:len(payloads)]
	for i, pl := range payloads {
		if len(pl.Head) > 0 {
			start := len(s.gather)
			s.gather = pl.AppendTo(s.gather)
			pl.Body = s.gather[start:len(s.gather):len(s.gather)]
		}
		// Clear the packet in place, as fill clears a header: this also
		// resets the deprecated PaddingSize, which Marshal still reads,
		// and Raw.
		pkt := &dst[i]
		*pkt = rtp.Packet{}
		s.next(&pkt.Header, timestamp, marker && i == len(payloads)-1)
		pkt.Payload = pl.Body
	}
	return dst
}
