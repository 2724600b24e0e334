package webrtc

import (
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
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
	kind, _, _ := strings.Cut(ours.MimeType, "/")
	for _, f := range sectionFormats(md) {
		if codecMatches(ours, pion.RTPCodecCapability{MimeType: kind + "/" + f.name, SDPFmtpLine: f.fmtp}) {
			return true
		}
	}
	return false
}

// validProfileLevelID reports whether s is an RFC 6184 §8.1
// profile-level-id: three bytes in hex.
func validProfileLevelID(s string) bool {
	_, err := hex.DecodeString(s)
	return len(s) == 6 && err == nil
}

// h264Profile is an H.264 profile as an SDP profile-level-id names it.
type h264Profile int

const (
	profileOther h264Profile = iota
	profileConstrainedBaseline
	profileBaseline
	profileMain
	profileExtended
	profileHigh
	profileConstrainedHigh
)

// classifyProfile maps profile_idc and profile-iop (the constraint_set
// flags) to a profile, per RFC 6184 §8.1 Table 5 (x = either bit value),
// plus Constrained High (H.264 Annex A.2: High with constraint_set4 and
// constraint_set5 set).
func classifyProfile(plid string) h264Profile {
	b, err := hex.DecodeString(plid)
	if err != nil || len(b) != 3 {
		return profileOther
	}
	idc, iop := b[0], b[1]
	switch {
	case idc == 0x42 && iop&0x4f == 0x40, // x1xx0000
		idc == 0x4d && iop&0x8f == 0x80, // 1xxx0000
		idc == 0x58 && iop&0xcf == 0xc0: // 11xx0000
		return profileConstrainedBaseline
	case idc == 0x42 && iop&0x4f == 0x00, // x0xx0000
		idc == 0x58 && iop&0xcf == 0x80: // 10xx0000
		return profileBaseline
	case idc == 0x4d && iop&0xaf == 0x00: // 0x0x0000
		return profileMain
	case idc == 0x58 && iop&0xcf == 0x00: // 00xx0000
		return profileExtended
	case idc == 0x64 && iop == 0x00:
		return profileHigh
	case idc == 0x64 && iop == 0x0c:
		return profileConstrainedHigh
	}
	return profileOther
}

// decodes lists, per receiver profile, the stream profiles its decoder
// handles (H.264 Annex A.2: a Constrained Baseline stream obeys the Main
// and High constraints, Main streams are High streams, Constrained High
// is a subset of High).
var decodes = map[h264Profile][]h264Profile{
	profileConstrainedBaseline: {profileConstrainedBaseline},
	profileBaseline:            {profileConstrainedBaseline, profileBaseline},
	profileMain:                {profileConstrainedBaseline, profileMain},
	profileExtended:            {profileExtended},
	profileHigh:                {profileConstrainedBaseline, profileMain, profileHigh, profileConstrainedHigh},
	profileConstrainedHigh:     {profileConstrainedBaseline, profileConstrainedHigh},
}

// h264Satisfies reports whether a stream of profile-level-id src may be
// sent under a format the peer offered with profile-level-id theirs
// (empty: RFC 6184 §8.1's default, Baseline). Answering with the peer's
// own profile keeps RFC 6184 §8.2.2's symmetric use; the level is not
// compared (§8.2.2 exempts it; level-asymmetry-allowed).
func h264Satisfies(src, theirs string) bool {
	if theirs == "" {
		theirs = "42000a"
	}
	if len(src) == 6 && len(theirs) == 6 && strings.EqualFold(src[:4], theirs[:4]) {
		return true
	}
	sp, tp := classifyProfile(src), classifyProfile(theirs)
	if sp == profileOther || tp == profileOther {
		return false
	}
	return slices.Contains(decodes[tp], sp)
}

// Limits on a remote description beyond MaxSDPLen, so a hostile peer
// cannot make the check itself expensive.
const (
	maxMediaSections = 32
	maxFormats       = 64 // payload types per media section
)

// format is one payload format of a media section: its rtpmap and fmtp.
type format struct {
	pt       uint8
	name     string // encoding name as written, e.g. "H264", "opus"
	rate     uint32
	channels uint16
	fmtp     string
}

// sectionFormats returns the payload formats a media section lists, in
// the peer's order of preference (RFC 3264 §5.1). Formats without a
// well-formed rtpmap are skipped.
func sectionFormats(md *sdp.MediaDescription) []format {
	maps := map[string]format{}
	fmtps := map[string]string{}
	for _, a := range md.Attributes {
		pt, rest, _ := strings.Cut(a.Value, " ")
		switch a.Key {
		case "rtpmap":
			// RFC 8866 §6.6: <encoding name>/<clock rate>[/<channels>]
			parts := strings.Split(rest, "/")
			if len(parts) < 2 || len(parts) > 3 {
				continue
			}
			rate, err := strconv.ParseUint(parts[1], 10, 32)
			if err != nil {
				continue
			}
			f := format{name: parts[0], rate: uint32(rate), channels: 1}
			if len(parts) == 3 {
				ch, err := strconv.ParseUint(parts[2], 10, 16)
				if err != nil {
					continue
				}
				f.channels = uint16(ch)
			}
			maps[pt] = f
		case "fmtp":
			fmtps[pt] = strings.TrimSpace(rest)
		}
	}
	var out []format
	for i, pt := range md.MediaName.Formats {
		if i == maxFormats {
			break
		}
		n, err := strconv.ParseUint(pt, 10, 7) // RFC 3550 §5.1: 7-bit payload types
		if err != nil {
			continue
		}
		f, ok := maps[pt]
		if !ok {
			continue
		}
		f.pt, f.fmtp = uint8(n), fmtps[pt]
		out = append(out, f)
	}
	return out
}

// h264For reports whether we can send a stream of profile-level-id src
// in this format: H.264/90000, packetization-mode 1 (we send FU-A and
// STAP-A, RFC 6184 §6.3), a profile src satisfies. An empty src accepts
// any profile.
func (f format) h264For(src string) bool {
	if !strings.EqualFold(f.name, "H264") || f.rate != 90000 || fmtpParam(f.fmtp, "packetization-mode") != "1" {
		return false
	}
	return src == "" || h264Satisfies(src, fmtpParam(f.fmtp, "profile-level-id"))
}

// opus reports whether the format is Opus as RFC 7587 §7 requires it to
// be written: opus/48000/2.
func (f format) opus() bool {
	return strings.EqualFold(f.name, "opus") && f.rate == 48000 && f.channels == 2
}

// parseRemote parses a remote offer or answer within bounds and checks
// what any of them must carry: media sections, ICE credentials
// (a=ice-ufrag and a=ice-pwd, RFC 8839) and a DTLS certificate
// fingerprint (a=fingerprint, RFC 8122 as RFC 8842 uses it). Errors wrap
// ErrBadOffer.
func parseRemote(text string) (*sdp.SessionDescription, error) {
	if len(text) > MaxSDPLen {
		return nil, fmt.Errorf("%w: %d bytes exceeds %d", ErrBadOffer, len(text), MaxSDPLen)
	}
	var d sdp.SessionDescription
	if err := d.UnmarshalString(text); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadOffer, err)
	}
	switch n := len(d.MediaDescriptions); {
	case n == 0:
		return nil, fmt.Errorf("%w: no media sections", ErrBadOffer)
	case n > maxMediaSections:
		return nil, fmt.Errorf("%w: %d media sections exceeds %d", ErrBadOffer, n, maxMediaSections)
	}
	for _, key := range []string{"ice-ufrag", "ice-pwd", "fingerprint"} {
		if !hasAttribute(&d, key) {
			return nil, fmt.Errorf("%w: no a=%s", ErrBadOffer, key)
		}
	}
	return &d, nil
}

// hasAttribute reports whether key is set at session level or in a media
// section.
func hasAttribute(d *sdp.SessionDescription, key string) bool {
	if _, ok := d.Attribute(key); ok {
		return true
	}
	for _, md := range d.MediaDescriptions {
		if _, ok := md.Attribute(key); ok {
			return true
		}
	}
	return false
}

// sendFormats collects, from the media sections of kind the peer receives
// on, the formats we can send and that satisfy ok, first preference
// first, one per payload type.
func sendFormats(d *sdp.SessionDescription, kind string, ok func(format) bool) []format {
	var out []format
	for _, md := range d.MediaDescriptions {
		if md.MediaName.Media != kind || md.MediaName.Port.Value == 0 || !receives(md) {
			continue
		}
		for _, f := range sectionFormats(md) {
			if ok(f) && !slices.ContainsFunc(out, func(g format) bool { return g.pt == f.pt }) {
				out = append(out, f)
			}
		}
	}
	return out
}

// bundleMid returns the media stream identification our candidates carry:
// the mid and index of the BUNDLE group's tagged (first) section (RFC
// 9143), or of the first media section without BUNDLE.
func bundleMid(text string) (mid string, index uint16, ok bool) {
	var d sdp.SessionDescription
	if d.UnmarshalString(text) != nil || len(d.MediaDescriptions) == 0 {
		return "", 0, false
	}
	want := ""
	if g, ok := d.Attribute("group"); ok {
		if rest, found := strings.CutPrefix(g, "BUNDLE "); found {
			want, _, _ = strings.Cut(rest, " ")
		}
	}
	for i, md := range d.MediaDescriptions {
		m, _ := md.Attribute("mid")
		if m != "" && (want == "" || m == want) {
			return m, uint16(i), true
		}
	}
	return "", 0, false
}
