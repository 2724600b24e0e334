package webrtc

import (
	"errors"
	"fmt"
	"strings"

	"github.com/pion/sdp/v3"
	pion "github.com/pion/webrtc/v4"
)

// Offer errors. Front ends map them to their protocol's status: WHEP
// answers 400 and 406, the Matter provider CONSTRAINT_ERROR.
var (
	ErrBadOffer         = errors.New("webrtc: malformed offer")
	ErrUnsupportedCodec = errors.New("webrtc: offer accepts no codec we send")
)

// MaxSDPLen bounds an offer we parse. 64 KiB is far above any browser's
// offer and matches the WHEP body limit.
const MaxSDPLen = 64 << 10

// offerMedia says which kinds an offer lets us send.
type offerMedia struct {
	video, audio bool
}

// checkOffer parses an offer and makes sure we can send into it: its
// video section must accept H.264 with packetization-mode=1 and our
// profile, and an audio section, if present, must accept Opus. Media we
// cannot send is refused here, before any resource is taken, rather than
// negotiated down to a silent session.
func checkOffer(offer string, video, audio pion.RTPCodecCapability) (offerMedia, error) {
	var m offerMedia
	if len(offer) > MaxSDPLen {
		return m, fmt.Errorf("%w: %d bytes exceeds %d", ErrBadOffer, len(offer), MaxSDPLen)
	}
	var d sdp.SessionDescription
	if err := d.UnmarshalString(offer); err != nil {
		return m, fmt.Errorf("%w: %w", ErrBadOffer, err)
	}
	if len(d.MediaDescriptions) == 0 {
		return m, fmt.Errorf("%w: no media sections", ErrBadOffer)
	}
	var sawVideo, sawAudio bool
	for _, md := range d.MediaDescriptions {
		if md.MediaName.Port.Value == 0 || !receives(md) {
			continue
		}
		switch md.MediaName.Media {
		case "video":
			sawVideo = true
			m.video = m.video || accepts(md, video)
		case "audio":
			sawAudio = true
			m.audio = m.audio || accepts(md, audio)
		}
	}
	switch {
	case !sawVideo:
		return m, fmt.Errorf("%w: no video section we can send on", ErrUnsupportedCodec)
	case !m.video:
		return m, fmt.Errorf("%w: video needs H.264 packetization-mode=1 profile %s", ErrUnsupportedCodec, fmtpParam(video.SDPFmtpLine, "profile-level-id"))
	case sawAudio && !m.audio && audio.MimeType != "":
		return m, fmt.Errorf("%w: audio needs Opus", ErrUnsupportedCodec)
	}
	return m, nil
}

// receives reports whether the offerer will receive on a media section.
func receives(md *sdp.MediaDescription) bool {
	for _, a := range md.Attributes {
		if a.Key == "sendonly" || a.Key == "inactive" {
			return false
		}
	}
	return true
}

// accepts reports whether a media section lists a codec matching ours.
func accepts(md *sdp.MediaDescription, ours pion.RTPCodecCapability) bool {
	if ours.MimeType == "" {
		return false
	}
	_, sub, _ := strings.Cut(ours.MimeType, "/")
	fmtps := map[string]string{}
	names := map[string]string{}
	for _, a := range md.Attributes {
		pt, rest, _ := strings.Cut(a.Value, " ")
		switch a.Key {
		case "rtpmap":
			name, _, _ := strings.Cut(rest, "/")
			names[pt] = name
		case "fmtp":
			fmtps[pt] = rest
		}
	}
	for _, pt := range md.MediaName.Formats {
		if !strings.EqualFold(names[pt], sub) {
			continue
		}
		theirs := pion.RTPCodecCapability{MimeType: ours.MimeType, SDPFmtpLine: fmtps[pt]}
		if codecMatches(ours, theirs) {
			return true
		}
	}
	return false
}
