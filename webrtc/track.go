package webrtc

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	pion "github.com/pion/webrtc/v4"

	"github.com/mattercam/mattercam/webrtc/packetizer"
)

// track is the pion TrackLocal of one session: it learns the negotiated
// SSRC, payload type and write stream at Bind and writes packets that the
// session's writer goroutine builds from shared frames. It is ours rather
// than pion's TrackLocalStaticRTP so the payload goes to SRTP as a view
// into the encoder's buffer.
type track struct {
	id, streamID string
	codec        pion.RTPCodecCapability
	// match picks the negotiated format we may send; by default the
	// codec with our exact profile (codecMatches).
	match func(pion.RTPCodecCapability) bool
	bound atomic.Pointer[binding]
}

type binding struct {
	ssrc uint32
	pt   uint8
	w    pion.TrackLocalWriter
}

func newTrack(id, streamID string, codec pion.RTPCodecCapability) *track {
	t := &track{id: id, streamID: streamID, codec: codec}
	t.match = func(theirs pion.RTPCodecCapability) bool { return codecMatches(t.codec, theirs) }
	return t
}

// Bind picks the first codec the peer accepted that we produce. pion binds
// once, when the sender starts; a renegotiation keeps the binding (its
// MediaEngine negotiates codecs only on the first exchange).
func (t *track) Bind(ctx pion.TrackLocalContext) (pion.RTPCodecParameters, error) {
	for _, c := range ctx.CodecParameters() {
		if t.match(c.RTPCodecCapability) {
			t.bound.Store(&binding{ssrc: uint32(ctx.SSRC()), pt: uint8(c.PayloadType), w: ctx.WriteStream()})
			return c, nil
		}
	}
	return pion.RTPCodecParameters{}, pion.ErrUnsupportedCodec
}

func (t *track) Unbind(pion.TrackLocalContext) error {
	t.bound.Store(nil)
	return nil
}

func (t *track) ID() string       { return t.id }
func (t *track) RID() string      { return "" }
func (t *track) StreamID() string { return t.streamID }
func (t *track) Kind() pion.RTPCodecType {
	if strings.HasPrefix(strings.ToLower(t.codec.MimeType), "audio/") {
		return pion.RTPCodecTypeAudio
	}
	return pion.RTPCodecTypeVideo
}

// codecMatches reports whether a negotiated codec carries what we send.
// For H.264 that needs packetization-mode=1 (we send FU-A and STAP-A,
// RFC 6184 §6.3) and the same profile_idc and profile-iop as our stream;
// the level may differ (RFC 6184 §8.2.2).
func codecMatches(ours, theirs pion.RTPCodecCapability) bool {
	if !strings.EqualFold(ours.MimeType, theirs.MimeType) {
		return false
	}
	if !strings.EqualFold(ours.MimeType, pion.MimeTypeH264) {
		return true
	}
	if fmtpParam(theirs.SDPFmtpLine, "packetization-mode") != "1" {
		return false
	}
	a := fmtpParam(ours.SDPFmtpLine, "profile-level-id")
	b := fmtpParam(theirs.SDPFmtpLine, "profile-level-id")
	return len(a) == 6 && len(b) == 6 && strings.EqualFold(a[:4], b[:4])
}

// fmtpParam returns one parameter of an a=fmtp parameter list.
func fmtpParam(line, key string) string {
	for kv := range strings.SplitSeq(line, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		if strings.EqualFold(k, key) {
			return v
		}
	}
	return ""
}

// rtpTime converts a presentation time to RTP clock ticks, rounding to
// the nearest tick (a 30 fps PTS of 33.333333 ms is 3000 ticks, not 2999)
// and without overflowing for streams that run for years.
func rtpTime(pts time.Duration, clockRate uint32) uint32 {
	sec, frac := pts/time.Second, pts%time.Second
	return uint32(int64(sec)*int64(clockRate) + (int64(frac)*int64(clockRate)+int64(time.Second)/2)/int64(time.Second))
}

// writer sends one subscriber's frames on one track. It owns its
// packetiser and sequence state, so sessions never contend with each
// other; the frames themselves are shared.
type writer struct {
	t         *track
	sub       *subscriber
	clockRate uint32
	mtu       int
	video     bool
	seq       uint16
	started   bool
	tsOffset  uint32
	failed    atomic.Uint64 // frames that failed to send, for the session log
	// frames counts frames sent by all the session's writers (its media
	// timeout watches it); onFirst is called by the writer that sends the
	// session's first one.
	frames  *atomic.Uint64
	onFirst func()
}

// run sends frames until ctx is done or writing fails for good.
func (w *writer) run(ctx context.Context) {
	var (
		h264     = packetizer.NewH264(w.mtu - rtpHeaderLen)
		payloads []packetizer.Payload
		hdr      = new(rtp.Header)
		gather   = make([]byte, 0, w.mtu)
	)
	for {
		var u *unit
		select {
		case <-ctx.Done():
			return
		case u = <-w.sub.ch:
		}
		b := w.t.bound.Load()
		if b == nil {
			u.unref()
			continue
		}
		if w.video {
			payloads = h264.Packetize(payloads, u.data)
		} else {
			payloads = packetizer.PacketizeOpus(payloads, u.data)
		}
		ts := w.tsOffset + rtpTime(u.pts, w.clockRate)
		var err error
		for i, p := range payloads {
			*hdr = rtp.Header{
				Version: 2,
				// RFC 6184 §5.1: the last packet of an access unit;
				// RFC 7587 §4.1: the first packet of a talkspurt,
				// which for a continuous Opus stream is the first.
				Marker:         w.video && i == len(payloads)-1 || !w.video && !w.started,
				PayloadType:    b.pt,
				SequenceNumber: w.seq,
				Timestamp:      ts,
				SSRC:           b.ssrc,
			}
			w.seq++
			w.started = true
			payload := p.Body
			if len(p.Head) > 0 {
				// pion's SRTP writer takes one contiguous payload, so
				// FU-A and STAP-A headers are gathered with their
				// fragment into a per-writer MTU buffer; single NAL units
				// and Opus go to SRTP as views.
				gather = p.AppendTo(gather[:0])
				payload = gather
			}
			if _, err = b.w.WriteRTP(hdr, payload); err != nil {
				break
			}
		}
		u.unref()
		// A closed transport ends the writer; anything else (a full
		// socket buffer, a route flap) loses this frame only, and the
		// receiver's NACK or PLI recovers.
		if errors.Is(err, io.ErrClosedPipe) || errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			w.failed.Add(1)
			continue
		}
		if w.frames.Add(1) == 1 {
			w.onFirst()
		}
	}
}

const rtpHeaderLen = 12
