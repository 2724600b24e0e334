package webrtc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp/codecs"
	"github.com/pion/sdp/v3"
	pion "github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media/samplebuilder"

	"github.com/mattercam/mattercam/capture"
	"github.com/mattercam/mattercam/capture/h264"
	"github.com/mattercam/mattercam/capture/testsrc"
	"github.com/mattercam/mattercam/matter/clusters/webrtctransportdefinitions"
	wtp "github.com/mattercam/mattercam/matter/clusters/webrtctransportprovider"
)

const (
	endICEFailed      = webrtctransportdefinitions.WebRTCEndReasonICEFailed
	endICETimeout     = webrtctransportdefinitions.WebRTCEndReasonICETimeout
	endUserHangup     = webrtctransportdefinitions.WebRTCEndReasonUserHangup
	endOutOfResources = webrtctransportdefinitions.WebRTCEndReasonOutOfResources
	endMediaTimeout   = webrtctransportdefinitions.WebRTCEndReasonMediaTimeout
)

// countingSource is the test clip, watched: it counts reads and key-frame
// requests, notices concurrent readers, and remembers every access unit
// it emitted by frame index so received ones can be compared with it.
type countingSource struct {
	capture.VideoSource
	frame time.Duration

	reads, keyRequests, inflight, maxInflight atomic.Int32

	mu  sync.Mutex
	aus map[int][]byte
}

func newCountingSource(t *testing.T) *countingSource {
	t.Helper()
	v, err := testsrc.NewVideo()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return &countingSource{VideoSource: v, frame: time.Duration(float64(time.Second) / v.Format().FrameRate), aus: map[int][]byte{}}
}

func (c *countingSource) ReadAccessUnit(ctx context.Context) (capture.AccessUnit, error) {
	if n := c.inflight.Add(1); n > c.maxInflight.Load() {
		c.maxInflight.Store(n)
	}
	defer c.inflight.Add(-1)
	au, err := c.VideoSource.ReadAccessUnit(ctx)
	if err == nil {
		c.reads.Add(1)
		c.mu.Lock()
		c.aus[int((au.PTS+c.frame/2)/c.frame)] = bytes.Clone(au.Data)
		c.mu.Unlock()
	}
	return au, err
}

func (c *countingSource) RequestKeyFrame() {
	c.keyRequests.Add(1)
	c.VideoSource.RequestKeyFrame()
}

func (c *countingSource) get(i int) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.aus[i]
}

// fixture is a provider with video stream 1 (the counting clip) and audio
// stream 2 (the Opus clip).
type fixture struct {
	p     *Provider
	video *countingSource
	audio *testsrc.Audio
}

func newFixture(t *testing.T, cfg Config) *fixture {
	t.Helper()
	if testing.Verbose() && cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	p, err := NewProvider(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{p: p, video: newCountingSource(t)}
	if f.audio, err = testsrc.NewAudio(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Close()
		f.audio.Close()
	})
	if err := p.AddVideoStream(1, f.video); err != nil {
		t.Fatal(err)
	}
	if err := p.AddAudioStream(2, f.audio); err != nil {
		t.Fatal(err)
	}
	return f
}

// events records a session's callbacks. After Close, any callback is a
// test failure.
type events struct {
	t         *testing.T
	closed    atomic.Bool
	connected atomic.Int32
	ends      chan wtp.EndReason
	gathered  chan struct{}

	mu       sync.Mutex
	cands    []wtp.Candidate
	toViewer func(wtp.Candidate)
}

func newEvents(t *testing.T) *events {
	return &events{t: t, ends: make(chan wtp.EndReason, 4), gathered: make(chan struct{})}
}

func (e *events) params(id uint16, video, audio []uint16) wtp.MediaParams {
	check := func(what string) {
		if e.closed.Load() {
			e.t.Errorf("%s after Close returned", what)
		}
	}
	return wtp.MediaParams{
		ID: id, VideoStreams: video, AudioStreams: audio,
		OnCandidate: func(c wtp.Candidate) {
			check("OnCandidate")
			e.mu.Lock()
			e.cands = append(e.cands, c)
			fwd := e.toViewer
			e.mu.Unlock()
			if c.Candidate == "" {
				close(e.gathered)
			}
			if fwd != nil {
				fwd(c)
			}
		},
		OnConnected: func() {
			check("OnConnected")
			e.connected.Add(1)
		},
		OnEnd: func(r wtp.EndReason) {
			check("OnEnd")
			e.ends <- r
		},
	}
}

// forward sends the session's candidates, past and future, to v.
func (e *events) forward(v *viewer) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, c := range e.cands {
		v.addRemote(c)
	}
	e.toViewer = v.addRemote
}

func (e *events) candidates() []wtp.Candidate {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.cands)
}

func (e *events) waitEnd(t *testing.T, want wtp.EndReason, d time.Duration) {
	t.Helper()
	select {
	case r := <-e.ends:
		if r != want {
			t.Fatalf("OnEnd(%v), want %v", r, want)
		}
	case <-time.After(d):
		t.Fatalf("no OnEnd(%v) within %v", want, d)
	}
}

// viewer is an in-process pion controller-side peer on loopback.
type viewer struct {
	t  *testing.T
	pc *pion.PeerConnection

	mu         sync.Mutex
	haveRemote bool
	held       []wtp.Candidate
	video      []rxAU
	audio      int
	toSession  wtp.MediaSession
	early      []wtp.Candidate
}

type rxAU struct {
	data []byte
	ts   uint32
}

// newViewer receives the given H.264 fmtp lines (none: VP8 only) and,
// with opus, Opus.
func newViewer(t *testing.T, h264Fmtps []string, opus bool) *viewer {
	t.Helper()
	m := &pion.MediaEngine{}
	fb := []pion.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}}
	for i, f := range h264Fmtps {
		if err := m.RegisterCodec(pion.RTPCodecParameters{RTPCodecCapability: pion.RTPCodecCapability{
			MimeType: pion.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: f, RTCPFeedback: fb,
		}, PayloadType: pion.PayloadType(96 + i)}, pion.RTPCodecTypeVideo); err != nil {
			t.Fatal(err)
		}
	}
	if len(h264Fmtps) == 0 {
		if err := m.RegisterCodec(pion.RTPCodecParameters{RTPCodecCapability: pion.RTPCodecCapability{MimeType: pion.MimeTypeVP8, ClockRate: 90000}, PayloadType: 120}, pion.RTPCodecTypeVideo); err != nil {
			t.Fatal(err)
		}
	}
	ac := pion.RTPCodecCapability{MimeType: pion.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"}
	pt := pion.PayloadType(111)
	if !opus {
		ac, pt = pion.RTPCodecCapability{MimeType: pion.MimeTypePCMU, ClockRate: 8000}, 0
	}
	if err := m.RegisterCodec(pion.RTPCodecParameters{RTPCodecCapability: ac, PayloadType: pt}, pion.RTPCodecTypeAudio); err != nil {
		t.Fatal(err)
	}
	var se pion.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	se.SetICETimeouts(2*time.Second, 4*time.Second, 0)
	pc, err := pion.NewAPI(pion.WithMediaEngine(m), pion.WithSettingEngine(se)).NewPeerConnection(pion.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	v := &viewer{t: t, pc: pc}
	t.Cleanup(func() { pc.Close() })
	pc.OnTrack(func(tr *pion.TrackRemote, _ *pion.RTPReceiver) {
		if tr.Kind() == pion.RTPCodecTypeAudio {
			for {
				if _, _, err := tr.ReadRTP(); err != nil {
					return
				}
				v.mu.Lock()
				v.audio++
				v.mu.Unlock()
			}
		}
		sb := samplebuilder.New(256, &codecs.H264Packet{}, 90000)
		for {
			pkt, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			sb.Push(pkt)
			for s := sb.Pop(); s != nil; s = sb.Pop() {
				v.mu.Lock()
				v.video = append(v.video, rxAU{s.Data, s.PacketTimestamp})
				v.mu.Unlock()
			}
		}
	})
	pc.OnICECandidate(func(c *pion.ICECandidate) {
		var mc wtp.Candidate // nil: end of candidates
		if c != nil {
			init := c.ToJSON()
			mc.Candidate = init.Candidate
			mc.SDPMid.Value, mc.SDPMid.Valid = *init.SDPMid, true
			mc.SDPMLineIndex.Value, mc.SDPMLineIndex.Valid = *init.SDPMLineIndex, true
		}
		v.mu.Lock()
		ms := v.toSession
		if ms == nil {
			v.early = append(v.early, mc)
		}
		v.mu.Unlock()
		if ms != nil {
			if err := ms.AddCandidates([]wtp.Candidate{mc}); err != nil && !errors.Is(err, ErrSessionClosed) {
				t.Errorf("AddCandidates: %v", err)
			}
		}
	})
	return v
}

// trickleTo sends the viewer's candidates, past and future, to ms.
func (v *viewer) trickleTo(ms wtp.MediaSession) {
	v.mu.Lock()
	early := v.early
	v.early, v.toSession = nil, ms
	v.mu.Unlock()
	if len(early) > 0 {
		if err := ms.AddCandidates(early); err != nil {
			v.t.Errorf("AddCandidates: %v", err)
		}
	}
}

func (v *viewer) recvOffer() string {
	v.t.Helper()
	for _, k := range []pion.RTPCodecType{pion.RTPCodecTypeVideo, pion.RTPCodecTypeAudio} {
		if _, err := v.pc.AddTransceiverFromKind(k, pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionRecvonly}); err != nil {
			v.t.Fatal(err)
		}
	}
	return v.offer()
}

func (v *viewer) offer() string {
	v.t.Helper()
	o, err := v.pc.CreateOffer(nil)
	if err != nil {
		v.t.Fatal(err)
	}
	if err := v.pc.SetLocalDescription(o); err != nil {
		v.t.Fatal(err)
	}
	return o.SDP
}

// addRemote applies a session candidate, holding it until the viewer has
// the remote description, as any signalling channel must.
func (v *viewer) addRemote(c wtp.Candidate) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.haveRemote {
		v.held = append(v.held, c)
		return
	}
	v.apply(c)
}

func (v *viewer) apply(c wtp.Candidate) {
	init := pion.ICECandidateInit{Candidate: c.Candidate}
	if mid, ok := c.SDPMid.Get(); ok {
		init.SDPMid = &mid
	}
	if err := v.pc.AddICECandidate(init); err != nil && v.pc.ConnectionState() != pion.PeerConnectionStateClosed {
		v.t.Errorf("viewer AddICECandidate(%q): %v", c.Candidate, err)
	}
}

func (v *viewer) setRemote(typ pion.SDPType, s string) {
	v.t.Helper()
	if err := v.pc.SetRemoteDescription(pion.SessionDescription{Type: typ, SDP: s}); err != nil {
		v.t.Fatal(err)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.haveRemote = true
	for _, c := range v.held {
		v.apply(c)
	}
	v.held = nil
}

func (v *viewer) counts() (video, audio int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.video), v.audio
}

func (v *viewer) waitMedia(t *testing.T, video, audio int, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		nv, na := v.counts()
		if nv >= video && na >= audio {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("received %d access units and %d Opus packets in %v, want ≥ %d and ≥ %d", nv, na, d, video, audio)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func nals(annexB []byte) [][]byte {
	var out [][]byte
	for nal, rest := h264.NextNAL(annexB); nal != nil; nal, rest = h264.NextNAL(rest) {
		out = append(out, nal)
	}
	return out
}

func sameNALs(a, b []byte) bool { return slices.EqualFunc(nals(a), nals(b), bytes.Equal) }

// checkSourceBytes: the first access unit is a key frame, and every one
// received is byte-identical (NAL by NAL) to what the source emitted for
// that picture, located by RTP time.
func (v *viewer) checkSourceBytes(t *testing.T, src *countingSource) {
	t.Helper()
	v.mu.Lock()
	video := slices.Clone(v.video)
	v.mu.Unlock()
	first := video[0]
	if ns := nals(first.data); len(ns) == 0 || h264.Type(ns[0]) != h264.NALSPS {
		t.Fatal("first access unit is not a key frame starting with an SPS")
	}
	base := -1
	for i := 0; i < 2000 && base < 0; i++ {
		if s := src.get(i); s != nil && sameNALs(s, first.data) {
			base = i
		}
	}
	if base < 0 {
		t.Fatal("first received access unit matches nothing the source emitted")
	}
	for _, r := range video {
		idx := base + int((r.ts-first.ts+1500)/3000)
		s := src.get(idx)
		if s == nil || !sameNALs(s, r.data) {
			t.Fatalf("access unit at frame %d differs from the source (%d bytes received, %d emitted)", idx, len(r.data), len(s))
		}
	}
}

// connectAnswerer runs flow B (spec digest §4.1): the viewer offers, the
// session answers, candidates trickle both ways.
func connectAnswerer(t *testing.T, f *fixture, ev *events, v *viewer, mp wtp.MediaParams) wtp.MediaSession {
	t.Helper()
	ms, err := f.p.Open(mp)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ms.Close() })
	v.trickleTo(ms)
	ev.forward(v)
	answer, err := ms.AcceptOffer(t.Context(), v.recvOffer())
	if err != nil {
		t.Fatal(err)
	}
	v.setRemote(pion.SDPTypeAnswer, answer)
	return ms
}

func waitConnected(t *testing.T, ev *events) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for ev.connected.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("OnConnected not called")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestProviderAnswerer is flow B end to end, then a re-offer on the live
// session, then Close: candidates arrive in Matter form ending with an
// empty one, OnConnected comes once, the video is byte-identical to the
// source, audio flows, media survives the renegotiation, and no callback
// follows Close.
func TestProviderAnswerer(t *testing.T) {
	f := newFixture(t, Config{})
	ev := newEvents(t)
	v := newViewer(t, []string{"level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}, true)
	ms := connectAnswerer(t, f, ev, v, ev.params(7, []uint16{1}, []uint16{2}))
	waitConnected(t, ev)
	v.waitMedia(t, 45, 75, 10*time.Second)
	v.checkSourceBytes(t, f.video)

	select {
	case <-ev.gathered:
	case <-time.After(5 * time.Second):
		t.Fatal("no end-of-candidates (empty Candidate) from the session")
	}
	ld := v.pc.RemoteDescription()
	wantMid, _, _ := bundleMid(ld.SDP)
	cands := ev.candidates()
	if len(cands) < 2 {
		t.Fatalf("%d candidates, want at least one and the end marker", len(cands))
	}
	for i, c := range cands {
		last := i == len(cands)-1
		if last != (c.Candidate == "") {
			t.Fatalf("candidate %d of %d is %q: only the last may be (and must be) empty", i, len(cands), c.Candidate)
		}
		if !last && !strings.HasPrefix(c.Candidate, "candidate:") {
			t.Fatalf("candidate %q is not RFC 8839 candidate-attribute text", c.Candidate)
		}
		if mid, ok := c.SDPMid.Get(); !ok || mid != wantMid {
			t.Fatalf("candidate %d SDPMid %v, want %q", i, c.SDPMid, wantMid)
		}
		if idx, ok := c.SDPMLineIndex.Get(); !ok || idx != 0 {
			t.Fatalf("candidate %d SDPMLineIndex %v, want 0", i, c.SDPMLineIndex)
		}
	}

	// Re-offer (spec digest §4.1 step 9): the same connection renegotiates
	// and media keeps flowing.
	answer, err := ms.AcceptOffer(t.Context(), v.offer())
	if err != nil {
		t.Fatalf("re-offer: %v", err)
	}
	v.setRemote(pion.SDPTypeAnswer, answer)
	nv, na := v.counts()
	v.waitMedia(t, nv+30, na+50, 5*time.Second)
	if v.pc.ConnectionState() != pion.PeerConnectionStateConnected {
		t.Fatalf("viewer %v after the re-offer", v.pc.ConnectionState())
	}
	v.checkSourceBytes(t, f.video)
	if n := ev.connected.Load(); n != 1 {
		t.Fatalf("OnConnected called %d times, want once", n)
	}

	if err := ms.Close(); err != nil {
		t.Fatal(err)
	}
	ev.closed.Store(true)
	if err := ms.Close(); err != nil { // idempotent
		t.Fatal(err)
	}
	v.pc.Close()
	time.Sleep(100 * time.Millisecond)
	select {
	case r := <-ev.ends:
		t.Fatalf("OnEnd(%v) for a session the cluster closed", r)
	default:
	}
	if n := f.p.Len(); n != 0 {
		t.Fatalf("%d sessions after Close", n)
	}
	if err := ms.AddCandidates([]wtp.Candidate{{}}); !errors.Is(err, ErrSessionClosed) {
		t.Fatalf("AddCandidates after Close: %v", err)
	}
}

// TestProviderAnswererHighProfile: a controller that receives only High
// profile still gets our Constrained Baseline stream (a valid High
// stream), in its own payload type.
func TestProviderAnswererHighProfile(t *testing.T) {
	f := newFixture(t, Config{})
	ev := newEvents(t)
	v := newViewer(t, []string{"packetization-mode=1;profile-level-id=640032"}, false)
	ms := connectAnswerer(t, f, ev, v, ev.params(1, []uint16{1}, nil))
	waitConnected(t, ev)
	v.waitMedia(t, 10, 0, 10*time.Second)
	v.checkSourceBytes(t, f.video)
	ms.Close()
}

// TestProviderOfferer is flow A (spec digest §4.2): the session offers
// sendonly H.264 and Opus in our payload types, the viewer answers, the
// answer is applied (twice: a retried ProvideAnswer is harmless) and
// media flows. The viewer's candidates arrive before the answer and are
// held until it.
func TestProviderOfferer(t *testing.T) {
	f := newFixture(t, Config{})
	ev := newEvents(t)
	v := newViewer(t, []string{"level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}, true)
	ms, err := f.p.Open(ev.params(3, []uint16{1}, []uint16{2}))
	if err != nil {
		t.Fatal(err)
	}
	defer ms.Close()
	if err := ms.AcceptAnswer(t.Context(), "v=0"); !errors.Is(err, wtp.ErrInvalidSDP) {
		t.Fatalf("answer before any offer: %v, want ErrInvalidSDP", err)
	}
	ev.forward(v)
	offer, err := ms.CreateOffer(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var d sdp.SessionDescription
	if err := d.UnmarshalString(offer); err != nil {
		t.Fatal(err)
	}
	if len(d.MediaDescriptions) != 2 {
		t.Fatalf("offer has %d media sections, want video and audio", len(d.MediaDescriptions))
	}
	for _, md := range d.MediaDescriptions {
		if _, ok := md.Attribute("sendonly"); !ok {
			t.Fatalf("%s section is not sendonly", md.MediaName.Media)
		}
	}
	if !strings.Contains(offer, "a=rtpmap:102 H264/90000") || !strings.Contains(offer, "packetization-mode=1;profile-level-id=42e01f") ||
		!strings.Contains(offer, "a=rtpmap:111 opus/48000/2") {
		t.Fatalf("offer lacks our H.264 or Opus format:\n%s", offer)
	}
	// Glare: a controller offer while ours is unanswered is refused, and
	// not as bad SDP.
	if _, err := ms.AcceptOffer(t.Context(), offerSDP(t, []string{"packetization-mode=1;profile-level-id=42e01f"}, true)); err == nil || errors.Is(err, wtp.ErrInvalidSDP) {
		t.Fatalf("offer while ours is pending: %v, want a state error", err)
	}
	v.setRemote(pion.SDPTypeOffer, offer)
	answer, err := v.pc.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.pc.SetLocalDescription(answer); err != nil {
		t.Fatal(err)
	}
	// Let the viewer's first candidates get ahead of its answer: the
	// session must hold them until the answer gives it a remote
	// description.
	deadline := time.Now().Add(5 * time.Second)
	for {
		v.mu.Lock()
		n := len(v.early)
		v.mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("viewer gathered no candidate")
		}
		time.Sleep(5 * time.Millisecond)
	}
	v.trickleTo(ms)
	if err := ms.AcceptAnswer(t.Context(), answer.SDP); err != nil {
		t.Fatal(err)
	}
	if err := ms.AcceptAnswer(t.Context(), answer.SDP); err != nil {
		t.Fatalf("the same answer again: %v", err)
	}
	waitConnected(t, ev)
	v.waitMedia(t, 30, 50, 10*time.Second)
	v.checkSourceBytes(t, f.video)
	if err := ms.AcceptAnswer(t.Context(), strings.Replace(answer.SDP, "a=ice-ufrag:", "a=ice-ufrag:x", 1)); err == nil {
		t.Fatal("a different answer with no offer pending was accepted")
	}
}

// offerSDP is a viewer offer with the given codecs.
func offerSDP(t *testing.T, h264Fmtps []string, opus bool) string {
	t.Helper()
	v := newViewer(t, h264Fmtps, opus)
	defer v.pc.Close()
	return v.recvOffer()
}

// TestProviderRejects: CheckOffer and AcceptOffer refuse malformed SDP
// with ErrInvalidSDP and offers without our codecs with
// ErrUnsupportedMedia; a refused AcceptOffer leaves the session usable.
func TestProviderRejects(t *testing.T) {
	f := newFixture(t, Config{})
	cb := offerSDP(t, []string{"level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}, true)
	many := "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=ice-ufrag:a\r\na=ice-pwd:b\r\na=fingerprint:sha-256 00\r\n" +
		strings.Repeat("m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1;profile-level-id=42e01f\r\n", maxMediaSections+1)
	tests := []struct {
		name         string
		sdp          string
		video, audio bool
		want         error
	}{
		{"garbage", "hello", true, false, wtp.ErrInvalidSDP},
		{"empty", "", true, false, wtp.ErrInvalidSDP},
		{"too large", cb + strings.Repeat("a=x\r\n", MaxSDPLen/5), true, false, wtp.ErrInvalidSDP},
		{"too many sections", many, true, false, wtp.ErrInvalidSDP},
		{"no fingerprint", removeLines(cb, "a=fingerprint:"), true, false, wtp.ErrInvalidSDP},
		{"no ice-pwd", removeLines(cb, "a=ice-pwd:"), true, false, wtp.ErrInvalidSDP},
		{"constrained baseline", cb, true, true, nil},
		{"baseline", offerSDP(t, []string{"packetization-mode=1;profile-level-id=42001f"}, true), true, true, nil},
		{"high", offerSDP(t, []string{"packetization-mode=1;profile-level-id=640c1f"}, true), true, true, nil},
		{"vp8 only", offerSDP(t, nil, true), true, false, wtp.ErrUnsupportedMedia},
		{"vp8 only, audio session", offerSDP(t, nil, true), false, true, nil},
		{"packetization-mode 0", offerSDP(t, []string{"packetization-mode=0;profile-level-id=42e01f"}, true), true, false, wtp.ErrUnsupportedMedia},
		{"extended profile", offerSDP(t, []string{"packetization-mode=1;profile-level-id=58001f"}, true), true, false, wtp.ErrUnsupportedMedia},
		{"no opus", offerSDP(t, []string{"packetization-mode=1;profile-level-id=42e01f"}, false), true, true, wtp.ErrUnsupportedMedia},
		{"no opus, video session", offerSDP(t, []string{"packetization-mode=1;profile-level-id=42e01f"}, false), true, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := f.p.CheckOffer(tt.sdp, tt.video, tt.audio)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("CheckOffer: %v, want %v", err, tt.want)
			}
			if tt.want != nil && !strings.HasPrefix(err.Error(), "webrtc: provider: check offer: ") {
				t.Fatalf("error lacks context: %v", err)
			}
		})
	}

	ev := newEvents(t)
	ms, err := f.p.Open(ev.params(4, []uint16{1}, []uint16{2}))
	if err != nil {
		t.Fatal(err)
	}
	defer ms.Close()
	if _, err := ms.AcceptOffer(t.Context(), "hello"); !errors.Is(err, wtp.ErrInvalidSDP) {
		t.Fatalf("garbage: %v, want ErrInvalidSDP", err)
	}
	if _, err := ms.AcceptOffer(t.Context(), offerSDP(t, nil, true)); !errors.Is(err, wtp.ErrUnsupportedMedia) {
		t.Fatalf("VP8 offer: %v, want ErrUnsupportedMedia", err)
	}
	if _, err := ms.AcceptOffer(t.Context(), cb); err != nil {
		t.Fatalf("good offer after refused ones: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := ms.AcceptOffer(ctx, cb); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled context: %v", err)
	}

	// Streams that do not exist, or none at all.
	if _, err := f.p.Open(ev.params(5, []uint16{9}, nil)); !errors.Is(err, wtp.ErrNoResources) {
		t.Fatalf("unknown video stream: %v, want ErrNoResources", err)
	}
	if _, err := f.p.Open(ev.params(5, nil, []uint16{9})); !errors.Is(err, wtp.ErrNoResources) {
		t.Fatalf("unknown audio stream: %v, want ErrNoResources", err)
	}
	if _, err := f.p.Open(ev.params(5, nil, nil)); err == nil {
		t.Fatal("a session without streams was opened")
	}
	if err := f.p.AddVideoStream(1, f.video); err == nil {
		t.Fatal("video stream 1 added twice")
	}
	if err := f.p.AddVideoStream(3, badSource{}); err == nil {
		t.Fatal("a VP8 source was accepted")
	}
}

func removeLines(s, prefix string) string {
	var b strings.Builder
	for line := range strings.Lines(s) {
		if !strings.HasPrefix(line, prefix) {
			b.WriteString(line)
		}
	}
	return b.String()
}

type badSource struct{ capture.VideoSource }

func (badSource) Format() capture.VideoFormat { return capture.VideoFormat{Codec: "VP8"} }

// TestProviderCandidates: remote candidates in Matter form, before and
// after the offer: the a= line form is tolerated, an empty one is end of
// candidates (repeatable), malformed text is ErrInvalidSDP, and the
// per-session bound holds.
func TestProviderCandidates(t *testing.T) {
	f := newFixture(t, Config{})
	ev := newEvents(t)
	ms, err := f.p.Open(ev.params(5, []uint16{1}, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer ms.Close()
	host := func(port int) string { return fmt.Sprintf("candidate:1 1 udp 2130706431 127.0.0.1 %d typ host", port) }
	var mc wtp.Candidate
	mc.SDPMid.Value, mc.SDPMid.Valid = "0", true
	with := func(text string) wtp.Candidate { c := mc; c.Candidate = text; return c }
	// Before any offer: held.
	if err := ms.AddCandidates([]wtp.Candidate{with(host(9)), with("a=" + host(10)), {}, {}}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"candidate:garbage", "candidate:1 1 udp x 127.0.0.1 9 typ host", "candidate:" + strings.Repeat("1", maxCandidateLen)} {
		if err := ms.AddCandidates([]wtp.Candidate{with(bad)}); !errors.Is(err, wtp.ErrInvalidSDP) {
			t.Fatalf("AddCandidates(%.40q): %v, want ErrInvalidSDP", bad, err)
		}
	}
	if _, err := ms.AcceptOffer(t.Context(), offerSDP(t, []string{"packetization-mode=1;profile-level-id=42e01f"}, true)); err != nil {
		t.Fatal(err)
	}
	// After: applied directly, until the bound.
	var batch []wtp.Candidate
	for i := 2; i < maxRemoteCandidates; i++ {
		batch = append(batch, with(host(20+i)))
	}
	batch = append(batch, wtp.Candidate{Candidate: "a=end-of-candidates"})
	if err := ms.AddCandidates(batch); err != nil {
		t.Fatal(err)
	}
	if err := ms.AddCandidates([]wtp.Candidate{with(host(9999))}); !errors.Is(err, ErrTooManyICE) {
		t.Fatalf("candidate %d: %v, want ErrTooManyICE", maxRemoteCandidates+1, err)
	}
}

func TestCandidateInit(t *testing.T) {
	var c wtp.Candidate
	c.Candidate = "  a=candidate:1 1 udp 2130706431 192.0.2.1 5000 typ host  "
	c.SDPMid.Value, c.SDPMid.Valid = "v", true
	c.SDPMLineIndex.Value, c.SDPMLineIndex.Valid = 2, true
	init, err := candidateInit(c)
	if err != nil {
		t.Fatal(err)
	}
	if init.Candidate != "candidate:1 1 udp 2130706431 192.0.2.1 5000 typ host" || *init.SDPMid != "v" || *init.SDPMLineIndex != 2 {
		t.Fatalf("got %q mid %q index %d", init.Candidate, *init.SDPMid, *init.SDPMLineIndex)
	}
	// Null SDPMid and SDPMLineIndex stay unset; an unknown type is
	// pion's to drop, not an error.
	init, err = candidateInit(wtp.Candidate{Candidate: "candidate:1 1 udp 1 192.0.2.1 5000 typ bogus"})
	if err != nil || init.SDPMid != nil || init.SDPMLineIndex != nil {
		t.Fatalf("got %+v, %v", init, err)
	}
}

// TestProviderSharedEncoder: two sessions on one video stream are fed by
// one reader of the source (never two reads at once, at the source's
// frame rate), each join asks the encoder for one key frame, and both
// sessions get the same bytes.
func TestProviderSharedEncoder(t *testing.T) {
	f := newFixture(t, Config{})
	var viewers []*viewer
	for i := range 2 {
		ev := newEvents(t)
		v := newViewer(t, []string{"packetization-mode=1;profile-level-id=42e01f"}, true)
		connectAnswerer(t, f, ev, v, ev.params(uint16(10+i), []uint16{1}, nil))
		waitConnected(t, ev)
		viewers = append(viewers, v)
	}
	for _, v := range viewers {
		v.waitMedia(t, 10, 0, 10*time.Second)
	}
	r0 := f.video.reads.Load()
	time.Sleep(2 * time.Second)
	reads := f.video.reads.Load() - r0
	for _, v := range viewers {
		v.checkSourceBytes(t, f.video)
	}
	if m := f.video.maxInflight.Load(); m != 1 {
		t.Fatalf("%d concurrent ReadAccessUnit calls, want one reader", m)
	}
	// 30 fps: one reader reads ~60 access units in two seconds, however
	// many sessions watch; a reader per session would read ~120. The lower
	// bound only says the stream moves: a loaded machine (the race
	// detector on two cores) has been seen to fall well behind.
	if reads < 10 || reads > 90 {
		t.Fatalf("%d reads in two seconds with two sessions, want ~60", reads)
	}
	if n := f.video.keyRequests.Load(); n != 2 {
		t.Fatalf("%d key-frame requests, want one per joining session (2)", n)
	}
}

// TestProviderRemoveStream: removing a video stream ends the sessions on
// it with OutOfResources before it returns, and leaves a session on
// another stream alone; the ID can be added again.
func TestProviderRemoveStream(t *testing.T) {
	f := newFixture(t, Config{})
	evV, evA := newEvents(t), newEvents(t)
	vV := newViewer(t, []string{"packetization-mode=1;profile-level-id=42e01f"}, true)
	vA := newViewer(t, []string{"packetization-mode=1;profile-level-id=42e01f"}, true)
	msV := connectAnswerer(t, f, evV, vV, evV.params(1, []uint16{1}, []uint16{2}))
	msA := connectAnswerer(t, f, evA, vA, evA.params(2, nil, []uint16{2}))
	waitConnected(t, evV)
	waitConnected(t, evA)

	f.p.RemoveVideoStream(1)
	select {
	case r := <-evV.ends:
		if r != endOutOfResources {
			t.Fatalf("OnEnd(%v), want OutOfResources", r)
		}
	default:
		t.Fatal("RemoveVideoStream returned before the session on it ended")
	}
	if n := f.p.Len(); n != 1 {
		t.Fatalf("%d sessions after removing the video stream, want the audio-only one", n)
	}
	_, na := vA.counts()
	vA.waitMedia(t, 0, na+25, 5*time.Second)
	if err := msV.Close(); err != nil {
		t.Fatal(err)
	}
	f.p.RemoveVideoStream(1) // unknown now: nothing happens
	if err := f.p.AddVideoStream(1, f.video); err != nil {
		t.Fatalf("re-adding stream 1: %v", err)
	}

	// The source failing by itself is the same loss of resources.
	f.audio.Close()
	evA.waitEnd(t, endOutOfResources, 5*time.Second)
	msA.Close()
	select {
	case r := <-evV.ends:
		t.Fatalf("second OnEnd(%v)", r)
	default:
	}
}

// TestProviderSetupTimeout: a session that never connects ends with
// IceTimeout, whether it got an offer or nothing at all.
func TestProviderSetupTimeout(t *testing.T) {
	f := newFixture(t, Config{SetupTimeout: 300 * time.Millisecond})
	// Made before Open: building a viewer can take longer than the setup
	// timeout on a loaded machine.
	offer := offerSDP(t, []string{"packetization-mode=1;profile-level-id=42e01f"}, true)
	ev := newEvents(t)
	ms, err := f.p.Open(ev.params(1, []uint16{1}, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer ms.Close()
	// The viewer never gets the answer, so ICE cannot complete.
	if _, err := ms.AcceptOffer(t.Context(), offer); err != nil {
		t.Fatal(err)
	}
	idle := newEvents(t)
	ms2, err := f.p.Open(idle.params(2, nil, []uint16{2}))
	if err != nil {
		t.Fatal(err)
	}
	defer ms2.Close()
	ev.waitEnd(t, endICETimeout, 5*time.Second)
	idle.waitEnd(t, endICETimeout, 5*time.Second)
	if n := f.p.Len(); n != 0 {
		t.Fatalf("%d sessions left", n)
	}
	if _, err := ms.AcceptOffer(t.Context(), offer); !errors.Is(err, ErrSessionClosed) {
		t.Fatalf("AcceptOffer on an ended session: %v", err)
	}
}

// TestProviderPeerHangup: the viewer closing its connection (DTLS
// close_notify) ends the session with UserHangup.
func TestProviderPeerHangup(t *testing.T) {
	f := newFixture(t, Config{})
	ev := newEvents(t)
	v := newViewer(t, []string{"packetization-mode=1;profile-level-id=42e01f"}, true)
	connectAnswerer(t, f, ev, v, ev.params(1, []uint16{1}, []uint16{2}))
	waitConnected(t, ev)
	v.pc.Close()
	ev.waitEnd(t, endUserHangup, 5*time.Second)
}

// TestProviderICEFailed: a viewer that vanishes without a word is
// detected by ICE consent freshness and reported as IceFailed.
func TestProviderICEFailed(t *testing.T) {
	f := newFixture(t, Config{ICEDisconnectedTimeout: 300 * time.Millisecond, ICEFailedTimeout: 600 * time.Millisecond})
	ev := newEvents(t)
	v := newViewer(t, []string{"packetization-mode=1;profile-level-id=42e01f"}, true)
	connectAnswerer(t, f, ev, v, ev.params(1, []uint16{1}, nil))
	waitConnected(t, ev)
	// Silence the viewer without a close_notify: stop its ICE transport's
	// sockets by closing only the ICE layer.
	if err := v.pc.SCTP().Transport().ICETransport().Stop(); err != nil {
		t.Fatal(err)
	}
	ev.waitEnd(t, endICEFailed, 10*time.Second)
}

// stallSource never produces a frame.
type stallSource struct{}

func (stallSource) Format() capture.VideoFormat {
	return capture.VideoFormat{Codec: "H264", Width: 640, Height: 480, FrameRate: 30, ProfileLevelID: "42e01f"}
}
func (stallSource) ReadAccessUnit(ctx context.Context) (capture.AccessUnit, error) {
	<-ctx.Done()
	return capture.AccessUnit{}, ctx.Err()
}
func (stallSource) RequestKeyFrame() {}
func (stallSource) Close() error     { return nil }

// TestProviderMediaTimeout: a connected session whose source sends
// nothing ends with MediaTimeout, and OnConnected (first media) never
// comes.
func TestProviderMediaTimeout(t *testing.T) {
	f := newFixture(t, Config{MediaTimeout: 400 * time.Millisecond})
	if err := f.p.AddVideoStream(5, stallSource{}); err != nil {
		t.Fatal(err)
	}
	ev := newEvents(t)
	v := newViewer(t, []string{"packetization-mode=1;profile-level-id=42e01f"}, true)
	connectAnswerer(t, f, ev, v, ev.params(1, []uint16{5}, nil))
	ev.waitEnd(t, endMediaTimeout, 10*time.Second)
	if n := ev.connected.Load(); n != 0 {
		t.Fatalf("OnConnected called %d times without media", n)
	}
}

// TestProviderICEPolicy: "relay" without a TURN server gathers nothing,
// so the only candidate callback is the end marker.
func TestProviderICEPolicy(t *testing.T) {
	f := newFixture(t, Config{})
	ev := newEvents(t)
	mp := ev.params(1, []uint16{1}, nil)
	mp.ICETransportPolicy = "relay"
	ms, err := f.p.Open(mp)
	if err != nil {
		t.Fatal(err)
	}
	defer ms.Close()
	if _, err := ms.AcceptOffer(t.Context(), offerSDP(t, []string{"packetization-mode=1;profile-level-id=42e01f"}, true)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ev.gathered:
	case <-time.After(5 * time.Second):
		t.Fatal("gathering did not complete")
	}
	if c := ev.candidates(); len(c) != 1 || c[0].Candidate != "" {
		t.Fatalf("candidates %v, want only the end marker", c)
	}
}

func TestICEServersAndPolicy(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	var turn, stun, broken wtp.ICEServer
	turn.URLs = []string{"turn:turn.example.com:3478?transport=udp", "turns:turn.example.com"}
	turn.Username.Value, turn.Username.Present = "u", true
	turn.Credential.Value, turn.Credential.Present = "p", true
	stun.URLs = []string{"stun:stun.example.com", "turn:nocreds.example.com", "http://not-ice"}
	broken.URLs = []string{"bogus"}
	got := iceServers([]wtp.ICEServer{turn, stun, broken}, log)
	if len(got) != 2 {
		t.Fatalf("%d servers, want 2: %+v", len(got), got)
	}
	if !slices.Equal(got[0].URLs, turn.URLs) || got[0].Username != "u" || got[0].Credential != "p" || got[0].CredentialType != pion.ICECredentialTypePassword {
		t.Fatalf("TURN server converted to %+v", got[0])
	}
	if !slices.Equal(got[1].URLs, []string{"stun:stun.example.com"}) {
		t.Fatalf("STUN server converted to %+v (TURN without credentials and non-ICE URLs must go)", got[1])
	}
	if iceServers(nil, log) != nil {
		t.Fatal("no servers must mean the configured ones (nil)")
	}
	for in, want := range map[string]pion.ICETransportPolicy{
		"": pion.ICETransportPolicyAll, "all": pion.ICETransportPolicyAll, "relay": pion.ICETransportPolicyRelay,
		"RELAY": pion.ICETransportPolicyRelay, "bogus": pion.ICETransportPolicyAll,
	} {
		if got := iceTransportPolicy(in, log); got != want {
			t.Errorf("policy %q → %v, want %v", in, got, want)
		}
	}
}

func TestH264Satisfies(t *testing.T) {
	tests := []struct {
		src, theirs string
		want        bool
	}{
		{"42e01f", "42e01f", true},
		{"42e01f", "42e034", true},  // the level is not compared
		{"42e01f", "42c01f", true},  // constrained baseline either way
		{"42e01f", "42001f", true},  // baseline decoders take CB
		{"42e01f", "", true},        // RFC 6184 default: baseline
		{"42e01f", "4d001f", true},  // main
		{"42e01f", "640032", true},  // high
		{"42e01f", "640c1f", true},  // constrained high
		{"42e01f", "58001f", false}, // extended
		{"42001f", "42e01f", false}, // a plain baseline stream may use FMO/ASO
		{"4d001f", "42e01f", false}, // main is not baseline
		{"4d001f", "640032", true},  // high decoders take main
		{"640032", "4d001f", false}, // high is not main
		{"640032", "640c1f", false}, // may use B slices
		{"f4001f", "f4001f", true},  // unknown profiles: exact match
		{"f4001f", "640032", false},
		{"42e01f", "zzzzzz", false},
	}
	for _, tt := range tests {
		if got := h264Satisfies(tt.src, tt.theirs); got != tt.want {
			t.Errorf("h264Satisfies(%q, %q) = %v, want %v", tt.src, tt.theirs, got, tt.want)
		}
	}
}

func TestBundleMid(t *testing.T) {
	const head = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
	const secs = "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:a\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:v\r\n"
	for sdpText, want := range map[string]candidateMid{
		head + secs:                            {"a", 0},
		head + "a=group:BUNDLE v a\r\n" + secs: {"v", 1},
	} {
		mid, idx, ok := bundleMid(sdpText)
		if !ok || mid != want.mid || idx != want.index {
			t.Errorf("bundleMid = %q %d %v, want %+v", mid, idx, ok, want)
		}
	}
	if _, _, ok := bundleMid("nonsense"); ok {
		t.Error("bundleMid of nonsense")
	}
}

// TestProviderClose: closing the provider ends live sessions with
// OutOfResources and refuses new sessions and streams.
func TestProviderClose(t *testing.T) {
	f := newFixture(t, Config{})
	ev := newEvents(t)
	v := newViewer(t, []string{"packetization-mode=1;profile-level-id=42e01f"}, true)
	ms := connectAnswerer(t, f, ev, v, ev.params(1, []uint16{1}, []uint16{2}))
	waitConnected(t, ev)
	if err := f.p.Close(); err != nil {
		t.Fatal(err)
	}
	ev.waitEnd(t, endOutOfResources, time.Second)
	if err := ms.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.p.Open(ev.params(2, []uint16{1}, nil)); !errors.Is(err, wtp.ErrNoResources) {
		t.Fatalf("Open after Close: %v", err)
	}
	if err := f.p.AddAudioStream(9, f.audio); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("AddAudioStream after Close: %v", err)
	}
}

// TestProviderSessionLimit: the session bound is reported as
// ErrNoResources.
func TestProviderSessionLimit(t *testing.T) {
	f := newFixture(t, Config{MaxSessions: 2})
	ev := newEvents(t)
	for i := range 2 {
		ms, err := f.p.Open(ev.params(uint16(i), nil, []uint16{2}))
		if err != nil {
			t.Fatal(err)
		}
		defer ms.Close()
	}
	if _, err := f.p.Open(ev.params(3, nil, []uint16{2})); !errors.Is(err, wtp.ErrNoResources) || !errors.Is(err, ErrSessionLimit) {
		t.Fatalf("third session: %v, want ErrNoResources (ErrSessionLimit)", err)
	}
}

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// TestProviderNoLeaks: 100 open/connect/close cycles leave goroutines and
// file descriptors where they started.
func TestProviderNoLeaks(t *testing.T) {
	f := newFixture(t, Config{})
	cycle := func(i int) {
		ev := newEvents(t)
		v := newViewer(t, []string{"packetization-mode=1;profile-level-id=42e01f"}, true)
		ms, err := f.p.Open(ev.params(uint16(i), []uint16{1}, []uint16{2}))
		if err != nil {
			t.Fatal(err)
		}
		v.trickleTo(ms)
		ev.forward(v)
		answer, err := ms.AcceptOffer(t.Context(), v.recvOffer())
		if err != nil {
			t.Fatal(err)
		}
		v.setRemote(pion.SDPTypeAnswer, answer)
		waitConnected(t, ev)
		if err := ms.Close(); err != nil {
			t.Fatal(err)
		}
		ev.closed.Store(true)
		if err := v.pc.Close(); err != nil {
			t.Fatal(err)
		}
	}
	cycle(0) // warm up lazily started goroutines
	settle := func(d time.Duration, cond func() bool) bool {
		deadline := time.Now().Add(d)
		for !cond() && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		return cond()
	}
	settle(5*time.Second, func() bool { return f.p.Len() == 0 })
	time.Sleep(200 * time.Millisecond)
	g0, fd0 := runtime.NumGoroutine(), openFDs(t)
	for i := range 100 {
		cycle(i + 1)
	}
	ok := settle(15*time.Second, func() bool {
		return f.p.Len() == 0 && runtime.NumGoroutine() <= g0 && openFDs(t) <= fd0
	})
	if !ok {
		buf := make([]byte, 1<<20)
		n := runtime.Stack(buf, true)
		t.Fatalf("after 100 cycles: sessions %d, goroutines %d (baseline %d), fds %d (baseline %d)\n%s",
			f.p.Len(), runtime.NumGoroutine(), g0, openFDs(t), fd0, buf[:n])
	}
	t.Logf("goroutines %d (baseline %d), fds %d (baseline %d)", runtime.NumGoroutine(), g0, openFDs(t), fd0)
}

var _ io.Closer = (*Provider)(nil)

// FuzzCheckOffer: no offer, however malformed, makes the check panic, and
// its errors are always one of the two the cluster maps.
func FuzzCheckOffer(f *testing.F) {
	p, err := NewProvider(Config{})
	if err != nil {
		f.Fatal(err)
	}
	defer p.Close()
	const good = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\na=ice-ufrag:a\r\na=ice-pwd:b\r\na=fingerprint:sha-256 00\r\n" +
		"m=video 9 UDP/TLS/RTP/SAVPF 96 97\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=recvonly\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1;profile-level-id=42e01f\r\na=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\n" +
		"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\na=rtpmap:111 opus/48000/2\r\n"
	f.Add(good, true, true)
	f.Add(strings.ReplaceAll(good, "H264", "VP8"), true, false)
	f.Add("v=0\r\n", false, true)
	f.Add("hello", true, true)
	f.Fuzz(func(t *testing.T, offer string, video, audio bool) {
		err := p.CheckOffer(offer, video, audio)
		if err != nil && !errors.Is(err, wtp.ErrInvalidSDP) && !errors.Is(err, wtp.ErrUnsupportedMedia) {
			t.Fatalf("CheckOffer: %v", err)
		}
		d, perr := parseRemote(offer)
		if perr == nil {
			for _, md := range d.MediaDescriptions {
				for _, fm := range sectionFormats(md) {
					fm.h264For("42e01f")
					fm.opus()
				}
			}
		}
	})
}

// FuzzCandidateInit: remote candidate text never panics and is either
// accepted or ErrInvalidSDP.
func FuzzCandidateInit(f *testing.F) {
	f.Add("candidate:1 1 udp 2130706431 127.0.0.1 9 typ host")
	f.Add("a=candidate:842163049 1 udp 1677729535 192.0.2.3 40000 typ srflx raddr 10.0.0.1 rport 40000 generation 0 ufrag x")
	f.Add("a=end-of-candidates")
	f.Add("candidate:")
	f.Fuzz(func(t *testing.T, text string) {
		if _, err := candidateInit(wtp.Candidate{Candidate: text}); err != nil && !errors.Is(err, wtp.ErrInvalidSDP) {
			t.Fatalf("candidateInit(%q): %v", text, err)
		}
	})
}

// TestProviderCloseRacesEnd: the cluster closing sessions while the media
// side ends them (their stream removed) never yields two OnEnds or a
// callback after Close returns.
func TestProviderCloseRacesEnd(t *testing.T) {
	f := newFixture(t, Config{})
	offer := offerSDP(t, []string{"packetization-mode=1;profile-level-id=42e01f"}, true)
	for range 20 {
		if err := f.p.AddVideoStream(7, stallSource{}); err != nil {
			t.Fatal(err)
		}
		var sessions []wtp.MediaSession
		var evs []*events
		for i := range 3 {
			ev := newEvents(t)
			ms, err := f.p.Open(ev.params(uint16(i), []uint16{7}, nil))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ms.AcceptOffer(t.Context(), offer); err != nil {
				t.Fatal(err)
			}
			sessions, evs = append(sessions, ms), append(evs, ev)
		}
		var wg sync.WaitGroup
		wg.Go(func() { f.p.RemoveVideoStream(7) })
		for i, ms := range sessions {
			wg.Go(func() {
				ms.Close()
				evs[i].closed.Store(true)
			})
		}
		wg.Wait()
		for _, ev := range evs {
			if n := len(ev.ends); n > 1 {
				t.Fatalf("%d OnEnd calls", n)
			}
		}
		if n := f.p.Len(); n != 0 {
			t.Fatalf("%d sessions left", n)
		}
	}
}
