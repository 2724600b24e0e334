// Package packetizer splits encoded media into RTP payloads without copying
// the media: H.264 per RFC 6184 (packetization-mode=1, non-interleaved) and
// Opus per RFC 7587.
//
// A payload is described as two views (see [Payload]): a few bytes the
// packetiser wrote itself, and a sub-slice of the caller's frame. The only
// copy of the bulk media happens when a sender gathers a payload into its
// wire buffer, which it must do anyway to prepend the RTP header.
package packetizer

// Payload is one RTP payload described as two views. Head holds bytes the
// packetiser wrote (an FU-A indicator and header, or a whole STAP-A
// aggregate); Body is a sub-slice of the caller's frame and is never copied.
// Either may be empty. The wire payload is Head followed by Body.
//
// Head may be shared between payloads of the same frame (all middle
// fragments of one NAL unit carry the same two FU-A bytes), so treat it as
// read-only.
type Payload struct {
	Head, Body []byte
}

// Len returns the size of the payload on the wire.
func (p Payload) Len() int { return len(p.Head) + len(p.Body) }

// AppendTo appends Head then Body to b and returns the extended slice. This
// is the one gather copy a sender does into its wire buffer.
func (p Payload) AppendTo(b []byte) []byte {
	return append(append(b, p.Head...), p.Body...)
}

// PacketizeOpus appends the RTP payload of one Opus packet to dst[:0] and
// returns it. RFC 7587 §4.2 carries exactly one Opus packet per RTP payload
// and forbids splitting it, so the payload is a view of the whole frame. An
// empty frame yields no payload: an Opus packet is at least one byte long
// (RFC 6716 §3.4, requirement R1), so there is nothing valid to send.
func PacketizeOpus(dst []Payload, frame []byte) []Payload {
	dst = dst[:0]
	if len(frame) == 0 {
		return dst
	}
	return append(dst, Payload{Body: frame})
}
