package webrtc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/pion/ice/v4"
	"github.com/pion/sdp/v3"
	"github.com/pion/stun/v4"
	pion "github.com/pion/webrtc/v4"

	"github.com/mattercam/mattercam/capture"
	"github.com/mattercam/mattercam/matter/clusters/webrtctransportdefinitions"
	wtp "github.com/mattercam/mattercam/matter/clusters/webrtctransportprovider"
)

// Limits on what a controller hands the provider, beyond the cluster's
// own constraint checks (spec digest §2.3: at most 10 ICE servers of at
// most 10 URLs each).
const (
	maxICEServers    = 10
	maxICEServerURLs = 10
	// maxCandidateLen bounds one candidate attribute. RFC 8839's grammar
	// sets no limit; a real one (foundation, component, transport,
	// priority, address, port, type, related address, extensions) is
	// under 200 bytes.
	maxCandidateLen = 512
)

// Provider is the media side of the Matter WebRTC Transport Provider
// cluster (0x0553): it implements webrtctransportprovider.Media on the
// same machinery as Server. Each allocated Camera AV stream is a stream
// of its own (AddVideoStream, AddAudioStream), read by one goroutine and
// fanned out to every session using it; a session sends the first video
// and the first audio stream of its MediaParams.
//
// Sessions can answer a controller's offer (ProvideOffer, spec digest
// §4.1) or make the offer (SolicitOffer, §4.2), renegotiate on a
// re-offer, and trickle candidates both ways in Matter's
// ICECandidateStruct form.
//
// A session's callbacks (MediaParams.OnCandidate, OnConnected, OnEnd) run
// one at a time on media goroutines; OnEnd comes at most once, after the
// session has released everything, and nothing follows it or Close.
// Close waits for a running callback, so a callback must not call Close
// (the hooks already require callbacks not to block).
type Provider struct {
	core
	// Streams by Camera AV Stream Management ID; guarded by core.mu, like
	// the session table, so a session and the streams it uses are looked
	// up and registered in one step.
	video map[uint16]*stream
	audio map[uint16]*stream
}

var _ wtp.Media = (*Provider)(nil)

// NewProvider returns a provider with no streams. Close stops it.
func NewProvider(cfg Config) (*Provider, error) {
	cfg = cfg.withDefaults()
	// Fail on a bad port range now rather than on the first session.
	if _, err := settingEngine(cfg); err != nil {
		return nil, fmt.Errorf("webrtc: provider: %w", err)
	}
	p := &Provider{video: map[uint16]*stream{}, audio: map[uint16]*stream{}}
	p.init(cfg, "webrtc-provider")
	return p, nil
}

// AddVideoStream starts reading src as the video stream with the given
// VideoStreamID. The source stays the caller's: RemoveVideoStream and
// Close stop reading it but do not close it.
func (p *Provider) AddVideoStream(id uint16, src capture.VideoSource) error {
	return p.addStream(p.video, "video", id, func(log *slog.Logger) (*stream, error) {
		return newVideoStream(p.cfg, log, src)
	})
}

// AddAudioStream starts reading src as the audio stream with the given
// AudioStreamID.
func (p *Provider) AddAudioStream(id uint16, src capture.AudioSource) error {
	return p.addStream(p.audio, "audio", id, func(log *slog.Logger) (*stream, error) {
		return newAudioStream(p.cfg, log, src)
	})
}

func (p *Provider) addStream(m map[uint16]*stream, kind string, id uint16, start func(*slog.Logger) (*stream, error)) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.closed:
		return fmt.Errorf("webrtc: provider: add %s stream %d: %w", kind, id, ErrServerClosed)
	case m[id] != nil:
		return fmt.Errorf("webrtc: provider: add %s stream %d: already added", kind, id)
	}
	st, err := start(p.log.With(kind+"_stream", id))
	if err != nil {
		return fmt.Errorf("webrtc: provider: add %s stream %d: %w", kind, id, err)
	}
	m[id] = st
	return nil
}

// RemoveVideoStream stops reading the video stream and ends every session
// using it with OutOfResources (spec digest §2.4: resources lost). It
// returns when those sessions are torn down.
func (p *Provider) RemoveVideoStream(id uint16) { p.removeStream(p.video, "video", id) }

// RemoveAudioStream is RemoveVideoStream for an audio stream.
func (p *Provider) RemoveAudioStream(id uint16) { p.removeStream(p.audio, "audio", id) }

func (p *Provider) removeStream(m map[uint16]*stream, kind string, id uint16) {
	p.mu.Lock()
	st := m[id]
	delete(m, id)
	var users []*Session
	if st != nil {
		for _, s := range p.sessions {
			if s.video == st || s.audio == st {
				users = append(users, s)
			}
		}
	}
	p.mu.Unlock()
	if st == nil {
		return
	}
	st.stop()
	for _, s := range users {
		s.close(ErrStreamRemoved)
	}
	p.log.Info("stream removed", "kind", kind, "id", id, "sessions_ended", len(users))
}

// Len returns the number of live sessions.
func (p *Provider) Len() int { return p.len() }

// Close ends every session (OnEnd with OutOfResources), stops reading the
// streams and waits for every goroutine the provider started.
func (p *Provider) Close() error {
	p.shutdown(ErrServerClosed)
	p.mu.Lock()
	var streams []*stream
	for _, m := range []map[uint16]*stream{p.video, p.audio} {
		for id, st := range m {
			streams = append(streams, st)
			delete(m, id)
		}
	}
	p.mu.Unlock()
	for _, st := range streams {
		st.stop()
	}
	p.cancel()
	p.wg.Wait()
	return nil
}

// CheckOffer validates a remote offer without creating anything: bounded
// parsing (MaxSDPLen, media sections, payload types), ICE credentials and
// a DTLS fingerprint, and, for a session with video, H.264 with
// packetization-mode 1 in a profile one of our video streams satisfies
// (any profile while none is added); for audio, opus/48000/2.
func (p *Provider) CheckOffer(offer string, hasVideo, hasAudio bool) error {
	d, err := parseRemote(offer)
	if err != nil {
		return fmt.Errorf("webrtc: provider: check offer: %w: %w", wtp.ErrInvalidSDP, err)
	}
	p.mu.Lock()
	profiles := make([]string, 0, len(p.video))
	for _, st := range p.video {
		profiles = append(profiles, st.profile())
	}
	p.mu.Unlock()
	if err := checkSendable(d, hasVideo, hasAudio, profiles); err != nil {
		return fmt.Errorf("webrtc: provider: check offer: %w: %w", wtp.ErrUnsupportedMedia, err)
	}
	return nil
}

// profile is a video stream's profile-level-id.
func (st *stream) profile() string { return fmtpParam(st.codec.SDPFmtpLine, "profile-level-id") }

// checkSendable reports ErrUnsupportedCodec unless the remote description
// lets us send video (H.264 mode 1 in a profile one of profiles
// satisfies; none given: any) and audio (Opus) as needed.
func checkSendable(d *sdp.SessionDescription, needVideo, needAudio bool, profiles []string) error {
	if needVideo && len(sendFormats(d, "video", func(f format) bool {
		if len(profiles) == 0 {
			return f.h264For("")
		}
		for _, pr := range profiles {
			if f.h264For(pr) {
				return true
			}
		}
		return false
	})) == 0 {
		return fmt.Errorf("%w: video needs H.264 packetization-mode=1 in a profile satisfied by %q", ErrUnsupportedCodec, profiles)
	}
	if needAudio && len(sendFormats(d, "audio", format.opus)) == 0 {
		return fmt.Errorf("%w: audio needs opus/48000/2", ErrUnsupportedCodec)
	}
	return nil
}

// Open creates the media side of a session. Nothing touches the network
// until CreateOffer or AcceptOffer; the setup timeout runs from here.
func (p *Provider) Open(mp wtp.MediaParams) (wtp.MediaSession, error) {
	if len(mp.VideoStreams) == 0 && len(mp.AudioStreams) == 0 {
		return nil, fmt.Errorf("webrtc: provider: open session %d: no video or audio stream", mp.ID)
	}
	log := p.log.With("webrtc_session", mp.ID)
	if len(mp.VideoStreams) > 1 || len(mp.AudioStreams) > 1 {
		// One track per kind: a controller wanting several streams of a
		// kind would need a media section each; we send the first.
		log.Info("session asks for several streams of a kind; sending the first of each",
			"video_streams", mp.VideoStreams, "audio_streams", mp.AudioStreams)
	}
	ms := &mediaSession{p: p, params: mp}
	opts := SessionOptions{
		ICEServers:         iceServers(mp.ICEServers, log),
		ICETransportPolicy: iceTransportPolicy(mp.ICETransportPolicy, log),
		OnICECandidate:     ms.localCandidate,
		OnClose:            ms.ended,
	}

	p.mu.Lock()
	var vst, ast *stream
	if len(mp.VideoStreams) > 0 {
		if vst = p.video[mp.VideoStreams[0]]; vst == nil {
			p.mu.Unlock()
			return nil, fmt.Errorf("webrtc: provider: open session %d: video stream %d not added: %w", mp.ID, mp.VideoStreams[0], wtp.ErrNoResources)
		}
	}
	if len(mp.AudioStreams) > 0 {
		if ast = p.audio[mp.AudioStreams[0]]; ast == nil {
			p.mu.Unlock()
			return nil, fmt.Errorf("webrtc: provider: open session %d: audio stream %d not added: %w", mp.ID, mp.AudioStreams[0], wtp.ErrNoResources)
		}
	}
	sess := newSession(&p.core, opts, vst, ast)
	sess.log = sess.log.With("webrtc_session", mp.ID)
	sess.onMedia = ms.connected
	if vst != nil {
		profile := vst.profile()
		sess.videoMatch = func(c pion.RTPCodecCapability) bool {
			_, name, _ := strings.Cut(c.MimeType, "/")
			return format{name: name, rate: c.ClockRate, fmtp: c.SDPFmtpLine}.h264For(profile)
		}
	}
	ms.s = sess
	err := p.reserveLocked(sess)
	p.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("webrtc: provider: open session %d: %w: %w", mp.ID, wtp.ErrNoResources, err)
	}
	sess.begin()
	sess.log.Info("session opened", "sessions", p.Len())
	return ms, nil
}

// iceServers converts the controller's ICE servers (ICEServerStruct, spec
// digest §2.3) for pion. A URL pion cannot use is dropped with a warning
// rather than failing the session: host candidates may still connect. nil
// (none given) means Config.ICEServers.
func iceServers(in []wtp.ICEServer, log *slog.Logger) []pion.ICEServer {
	if len(in) == 0 {
		return nil
	}
	out := make([]pion.ICEServer, 0, min(len(in), maxICEServers))
	for i, s := range in {
		if i == maxICEServers {
			log.Warn("ignoring ICE servers beyond the limit", "max", maxICEServers)
			break
		}
		var ps pion.ICEServer
		user, hasUser := s.Username.Get()
		cred, hasCred := s.Credential.Get()
		if hasUser {
			ps.Username = user
		}
		if hasCred {
			ps.Credential, ps.CredentialType = cred, pion.ICECredentialTypePassword
		}
		if _, ok := s.CAID.Get(); ok {
			// A stuns:/turns: server's certificate is checked against the
			// system roots; the TLS Certificate Management CA it names is
			// not wired in.
			log.Debug("ICE server CAID not used", "urls", s.URLs)
		}
		for j, raw := range s.URLs {
			if j == maxICEServerURLs {
				break
			}
			u, err := stun.ParseURI(raw)
			if err != nil {
				log.Warn("ignoring ICE server URL", "url", raw, "err", err)
				continue
			}
			if (u.Scheme == stun.SchemeTypeTURN || u.Scheme == stun.SchemeTypeTURNS) && (!hasUser || !hasCred) {
				log.Warn("ignoring TURN URL without credentials", "url", raw)
				continue
			}
			ps.URLs = append(ps.URLs, raw)
		}
		if len(ps.URLs) > 0 {
			out = append(out, ps)
		}
	}
	return out
}

// iceTransportPolicy maps the controller's ICETransportPolicy (W3C
// RTCIceTransportPolicy names). An unknown value is treated as "all" so
// the session can still connect, and logged.
func iceTransportPolicy(s string, log *slog.Logger) pion.ICETransportPolicy {
	switch strings.ToLower(s) {
	case "", "all":
		return pion.ICETransportPolicyAll
	case "relay":
		return pion.ICETransportPolicyRelay
	}
	log.Warn("unknown ICE transport policy, using all", "policy", s)
	return pion.ICETransportPolicyAll
}

// mediaSession is one session of the provider: a Session plus the Matter
// callbacks, which it guards so none runs after Close returns.
type mediaSession struct {
	p      *Provider
	s      *Session
	params wtp.MediaParams

	// mu is held while a callback runs; quiet, once set, stops them all.
	// Close sets it, so when Close returns no callback is running or
	// will run. It is also set after OnEnd: nothing follows the end.
	mu    sync.Mutex
	quiet bool
	// gathered is set once the end of gathering has been reported: pion
	// reports it again on every later SetLocalDescription (a
	// renegotiation), which is no news to the controller.
	gathered atomic.Bool
}

var _ wtp.MediaSession = (*mediaSession)(nil)

func (m *mediaSession) emit(f func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.quiet {
		f()
	}
}

// localCandidate passes a gathered candidate on in Matter form: RFC 8839
// candidate-attribute text with its media stream identification, and an
// empty Candidate at the end of gathering (trickle ICE, RFC 8838).
func (m *mediaSession) localCandidate(c *pion.ICECandidateInit) {
	if m.params.OnCandidate == nil {
		return
	}
	var out wtp.Candidate
	switch {
	case c == nil:
		if m.gathered.Swap(true) {
			return
		}
	case c.Candidate == "candidate:": // pion could not marshal it
		return
	default:
		out.Candidate = c.Candidate
	}
	mid, index := "0", uint16(0)
	if lm := m.s.localMid.Load(); lm != nil {
		mid, index = lm.mid, lm.index
	} else if c != nil && c.SDPMid != nil && *c.SDPMid != "" {
		mid = *c.SDPMid
		if c.SDPMLineIndex != nil {
			index = *c.SDPMLineIndex
		}
	}
	// ICECandidateStruct's SDPMid is nullable with a minimum length of 1
	// and SDPMLineIndex nullable; with BUNDLE both are known, so set.
	out.SDPMid.Value, out.SDPMid.Valid = mid, true
	out.SDPMLineIndex.Value, out.SDPMLineIndex.Valid = index, true
	m.emit(func() { m.params.OnCandidate(out) })
}

// connected runs on a writer goroutine once the first frame is sent: ICE
// and DTLS are up and media flows.
func (m *mediaSession) connected() {
	if m.params.OnConnected != nil {
		m.emit(m.params.OnConnected)
	}
}

// ended maps why the Session ended to a WebRTCEndReason (spec digest
// §2.4, provider-initiated end). A local Close is not reported.
func (m *mediaSession) ended(reason error) {
	r, ok := endReason(reason)
	if !ok {
		return
	}
	m.emit(func() {
		if m.params.OnEnd != nil {
			m.params.OnEnd(r)
		}
		m.quiet = true
	})
}

func endReason(err error) (wtp.EndReason, bool) {
	switch {
	case errors.Is(err, ErrSessionClosed):
		return 0, false
	case errors.Is(err, ErrICEFailed):
		return webrtctransportdefinitions.WebRTCEndReasonICEFailed, true
	case errors.Is(err, ErrSetupTimeout):
		return webrtctransportdefinitions.WebRTCEndReasonICETimeout, true
	case errors.Is(err, ErrPeerClosed):
		return webrtctransportdefinitions.WebRTCEndReasonUserHangup, true
	case errors.Is(err, ErrMediaTimeout):
		return webrtctransportdefinitions.WebRTCEndReasonMediaTimeout, true
	case errors.Is(err, ErrStreamRemoved), errors.Is(err, ErrSourceEnded), errors.Is(err, ErrServerClosed):
		return webrtctransportdefinitions.WebRTCEndReasonOutOfResources, true
	}
	return webrtctransportdefinitions.WebRTCEndReasonUnknownReason, true
}

// CreateOffer makes the local offer (SolicitOffer flow) with a sendonly
// H.264 and/or Opus transceiver per the session's streams, in our own
// payload types, and starts gathering; candidates trickle to OnCandidate.
// On an established session it is a renegotiation from our side.
func (m *mediaSession) CreateOffer(ctx context.Context) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("webrtc: provider: create offer: %w", err)
	}
	offer, err := m.s.offer(func() (*pion.API, error) { return ownAPI(m.p.cfg, m.s.video, m.s.audio) })
	if err != nil {
		return "", fmt.Errorf("webrtc: provider: create offer: %w", err)
	}
	return offer, nil
}

// AcceptOffer applies the controller's offer (ProvideOffer, a new session
// or a re-offer) and returns our answer. On the first offer the session's
// codecs are taken from it: every H.264 format (packetization-mode 1, a
// profile our stream satisfies) and Opus format the controller receives,
// in its payload types and preference order (RFC 3264 §6.1); a re-offer
// renegotiates on the same connection and media keeps flowing.
func (m *mediaSession) AcceptOffer(ctx context.Context, offer string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("webrtc: provider: accept offer: %w", err)
	}
	d, err := parseRemote(offer)
	if err != nil {
		return "", fmt.Errorf("webrtc: provider: accept offer: %w: %w", wtp.ErrInvalidSDP, err)
	}
	if err := m.sendable(d); err != nil {
		return "", fmt.Errorf("webrtc: provider: accept offer: %w: %w", wtp.ErrUnsupportedMedia, err)
	}
	answer, err := m.s.answer(func() (*pion.API, error) {
		var video, audio []pion.RTPCodecParameters
		if m.s.video != nil {
			profile := m.s.video.profile()
			for _, f := range sendFormats(d, "video", func(f format) bool { return f.h264For(profile) }) {
				video = append(video, pion.RTPCodecParameters{PayloadType: pion.PayloadType(f.pt), RTPCodecCapability: pion.RTPCodecCapability{
					MimeType: pion.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: f.fmtp, RTCPFeedback: videoFeedback,
				}})
			}
		}
		if m.s.audio != nil {
			for _, f := range sendFormats(d, "audio", format.opus) {
				audio = append(audio, pion.RTPCodecParameters{PayloadType: pion.PayloadType(f.pt), RTPCodecCapability: pion.RTPCodecCapability{
					MimeType: pion.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: f.fmtp,
				}})
			}
		}
		return newAPI(m.p.cfg, video, audio)
	}, offer)
	switch {
	case errors.Is(err, ErrBadOffer):
		return "", fmt.Errorf("webrtc: provider: accept offer: %w: %w", wtp.ErrInvalidSDP, err)
	case err != nil:
		return "", fmt.Errorf("webrtc: provider: accept offer: %w", err)
	}
	return answer, nil
}

// sendable checks that a remote offer or answer lets the session send its
// own streams (checkSendable with its video stream's profile).
func (m *mediaSession) sendable(d *sdp.SessionDescription) error {
	var profiles []string
	if m.s.video != nil {
		profiles = []string{m.s.video.profile()}
	}
	return checkSendable(d, m.s.video != nil, m.s.audio != nil, profiles)
}

// AcceptAnswer applies the controller's answer to our offer
// (ProvideAnswer). The same answer twice is accepted (a retried command);
// an answer with no offer pending is an error.
func (m *mediaSession) AcceptAnswer(ctx context.Context, answer string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("webrtc: provider: accept answer: %w", err)
	}
	d, err := parseRemote(answer)
	if err != nil {
		return fmt.Errorf("webrtc: provider: accept answer: %w: %w", wtp.ErrInvalidSDP, err)
	}
	if err := m.sendable(d); err != nil {
		return fmt.Errorf("webrtc: provider: accept answer: %w: %w", wtp.ErrUnsupportedMedia, err)
	}
	switch err := m.s.acceptAnswer(answer); {
	case err == nil:
		return nil
	case errors.Is(err, errNoLocalOffer), errors.Is(err, ErrSessionClosed):
		return fmt.Errorf("webrtc: provider: accept answer: %w", err)
	default:
		return fmt.Errorf("webrtc: provider: accept answer: %w: %w", wtp.ErrInvalidSDP, err)
	}
}

// AddCandidates adds the controller's candidates (ProvideICECandidates).
// Each is RFC 8839 candidate-attribute text; the SDP line form
// ("a=candidate:…") is tolerated. An empty Candidate (or
// "a=end-of-candidates") marks the end of the remote candidates (RFC 8838). Candidates that arrive before the remote description are held
// and applied with it; more than 64 per session is ErrTooManyICE.
func (m *mediaSession) AddCandidates(cs []wtp.Candidate) error {
	for i, c := range cs {
		init, err := candidateInit(c)
		if err != nil {
			return fmt.Errorf("webrtc: provider: add candidates: #%d: %w", i, err)
		}
		if err := m.s.AddICECandidate(init); err != nil {
			return fmt.Errorf("webrtc: provider: add candidates: #%d: %w", i, err)
		}
	}
	return nil
}

// candidateInit checks a Matter candidate and converts it for pion.
func candidateInit(c wtp.Candidate) (pion.ICECandidateInit, error) {
	text := strings.TrimPrefix(strings.TrimSpace(c.Candidate), "a=")
	if text == "" || text == "end-of-candidates" {
		return pion.ICECandidateInit{}, nil
	}
	if len(text) > maxCandidateLen {
		return pion.ICECandidateInit{}, fmt.Errorf("%w: candidate of %d bytes exceeds %d", wtp.ErrInvalidSDP, len(text), maxCandidateLen)
	}
	body := strings.TrimPrefix(text, "candidate:")
	// pion drops candidates of unknown types or networks itself; anything
	// else that does not parse is the controller's error.
	if _, err := ice.UnmarshalCandidate(body); err != nil &&
		!errors.Is(err, ice.ErrUnknownCandidateTyp) && !errors.Is(err, ice.ErrDetermineNetworkType) {
		return pion.ICECandidateInit{}, fmt.Errorf("%w: candidate %q: %w", wtp.ErrInvalidSDP, text, err)
	}
	init := pion.ICECandidateInit{Candidate: "candidate:" + body}
	if mid, ok := c.SDPMid.Get(); ok {
		init.SDPMid = &mid
	}
	if index, ok := c.SDPMLineIndex.Get(); ok {
		init.SDPMLineIndex = &index
	}
	return init, nil
}

// Close tears the session down and waits for its goroutines. No callback
// runs once it returns; OnEnd is not called for it. Close must not be
// called from inside one of the session's callbacks (they must not block).
func (m *mediaSession) Close() error {
	m.mu.Lock()
	m.quiet = true
	m.mu.Unlock()
	m.s.close(ErrSessionClosed)
	return nil
}
