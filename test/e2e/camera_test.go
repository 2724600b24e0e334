package e2e

import (
	"bytes"
	"encoding/hex"
	"image/jpeg"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// IM status codes the camera tests expect (spec digest §6).
const (
	statusInvalidCommand    = 0x85
	statusConstraintError   = 0x87
	statusResourceExhausted = 0x89
	statusNotFound          = 0x8B
	statusInvalidInState    = 0xCB
	statusDynamicConstraint = 0xCF
)

// Stream usages and end reasons (spec digest §2.3).
const (
	usageRecording = 1
	usageLiveView  = 3

	endPrivacyMode = 11
)

// camera is a running firmware with a matter.js controller ("a") that has
// commissioned it and allocated one video and one audio stream.
type camera struct {
	fw           *firmware
	b            *bridge
	requestorEP  int
	video, audio int
}

type commissioned struct {
	NodeID            string `json:"nodeId"`
	RequestorEndpoint int    `json:"requestorEndpoint"`
}

func startCamera(t testing.TB, args ...string) *camera {
	t.Helper()
	state := t.TempDir()
	fw := startFirmwareWith(t, state, freePort(t), append([]string{"-factory", state + "/absent-factory.json"}, args...)...)
	c := &camera{fw: fw, b: startBridge(t, fw.port)}
	var info commissioned
	if err := jsonInto(c.b.call("commission", map[string]any{"ctl": "a"}), &info); err != nil {
		t.Fatal(err)
	}
	c.requestorEP = info.RequestorEndpoint
	c.video, c.audio = allocateStreams(t, c.b, "a")
	return c
}

// allocateStreams allocates a LiveView H.264 stream within the test
// source's capabilities (1280x720 at 30 fps) and an Opus stream like its
// microphone (mono, 48 kHz, 24 kbit/s).
func allocateStreams(t testing.TB, b *bridge, ctl string) (video, audio int) {
	t.Helper()
	var v struct {
		VideoStreamID int `json:"videoStreamId"`
	}
	if st := b.invoke(ctl, "avsm", "videoStreamAllocate", videoRequest(usageLiveView), &v); st != 0 {
		t.Fatalf("VideoStreamAllocate: status 0x%02X", st)
	}
	var a struct {
		AudioStreamID int `json:"audioStreamId"`
	}
	if st := b.invoke(ctl, "avsm", "audioStreamAllocate", map[string]any{
		"streamUsage": usageLiveView, "audioCodec": 0, "channelCount": 1, "sampleRate": 48000, "bitRate": 24000, "bitDepth": 16,
	}, &a); st != 0 {
		t.Fatalf("AudioStreamAllocate: status 0x%02X", st)
	}
	return v.VideoStreamID, a.AudioStreamID
}

func videoRequest(usage int) map[string]any {
	return map[string]any{
		"streamUsage": usage, "videoCodec": 0, "minFrameRate": 15, "maxFrameRate": 30,
		"minResolution": map[string]int{"width": 640, "height": 360}, "maxResolution": map[string]int{"width": 1280, "height": 720},
		"minBitRate": 100000, "maxBitRate": 4000000, "keyFrameInterval": 4000,
	}
}

// session is one WebRTC session between the camera and a viewer.
type session struct {
	id   int
	ctl  string
	v    *viewer
	stop func() // stops the trickle pumps and checks their statuses
}

// provideOffer runs flow B up to the answer: the viewer offers, the
// controller sends ProvideOffer, the camera pushes Answer (spec digest
// §4.1); trickle ICE then runs both ways until stop.
func (c *camera) provideOffer(t testing.TB, ctl string) *session {
	t.Helper()
	v := newViewer(t, viewerOptions{})
	offer := v.offer(true)
	var po struct {
		WebRtcSessionID int `json:"webRtcSessionId"`
	}
	if st := c.b.invoke(ctl, "webrtc", "provideOffer", c.offerFields(offer), &po); st != 0 {
		t.Fatalf("ProvideOffer: status 0x%02X", st)
	}
	ans := c.b.waitEvent("answer", po.WebRtcSessionID, 15*time.Second)
	v.setAnswer(ans.SDP)
	s := &session{id: po.WebRtcSessionID, ctl: ctl, v: v}
	s.stop = trickle(t, c.b, ctl, s.id, v)
	return s
}

func (c *camera) offerFields(sdp string) map[string]any {
	return map[string]any{
		"webRtcSessionId": nil, "sdp": sdp, "streamUsage": usageLiveView, "originatingEndpointId": c.requestorEP,
		"videoStreams": []int{c.video}, "audioStreams": []int{c.audio},
	}
}

// trickle forwards the viewer's candidates with ProvideICECandidates and
// the camera's ICECandidates to the viewer until the returned stop, which
// then fails the test for any candidate the camera refused.
func trickle(t testing.TB, b *bridge, ctl string, id int, v *viewer) func() {
	done := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var sent []int
	var errs []string
	wg.Add(2)
	go func() { // viewer -> camera
		defer wg.Done()
		for {
			select {
			case c := <-v.local:
				rid, err := b.post("invoke", map[string]any{"ctl": ctl, "cluster": "webrtc", "command": "provideIceCandidates",
					"fields": map[string]any{"webRtcSessionId": id, "iceCandidates": []iceCandidate{c}}})
				mu.Lock()
				if err != nil {
					errs = append(errs, err.Error())
				} else {
					sent = append(sent, rid)
				}
				mu.Unlock()
			case <-done:
				return
			}
		}
	}()
	go func() { // camera -> viewer
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			if ev, ok := b.takeEvent("ice", id, 100*time.Millisecond); ok {
				if err := v.addRemote(ev.Candidates); err != nil {
					mu.Lock()
					errs = append(errs, "camera candidate: "+err.Error())
					mu.Unlock()
				}
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			wg.Wait()
			for _, rid := range sent {
				r := b.wait(rid, 30*time.Second)
				var st struct {
					Status *int `json:"status"`
				}
				if !r.OK {
					t.Errorf("ProvideICECandidates: %s", r.Error)
				} else if jsonInto(r.Value, &st) == nil && st.Status != nil {
					t.Errorf("ProvideICECandidates: status 0x%02X", *st.Status)
				}
			}
			for _, e := range errs {
				t.Error(e)
			}
		})
	}
}

type webrtcSession struct {
	ID           int   `json:"id"`
	PeerEndpoint int   `json:"peerEndpointId"`
	StreamUsage  int   `json:"streamUsage"`
	VideoStreams []int `json:"videoStreams"`
	AudioStreams []int `json:"audioStreams"`
	FabricIndex  int   `json:"fabricIndex"`
}

func (c *camera) currentSessions(t testing.TB, ctl string) []webrtcSession {
	t.Helper()
	var v struct {
		CurrentSessions []webrtcSession `json:"currentSessions"`
	}
	c.b.read(ctl, "webrtc", &v, "currentSessions")
	return v.CurrentSessions
}

type streamRefs struct {
	Video []struct {
		ID   int `json:"videoStreamId"`
		Refs int `json:"referenceCount"`
	} `json:"allocatedVideoStreams"`
	Audio []struct {
		ID   int `json:"audioStreamId"`
		Refs int `json:"referenceCount"`
	} `json:"allocatedAudioStreams"`
}

// requireReleased fails unless no session is left and every stream's
// ReferenceCount is back to zero.
func (c *camera) requireReleased(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		sessions := c.currentSessions(t, "a")
		var refs streamRefs
		c.b.read("a", "avsm", &refs, "allocatedVideoStreams", "allocatedAudioStreams")
		busy := len(sessions) > 0
		for _, s := range refs.Video {
			busy = busy || s.Refs != 0
		}
		for _, s := range refs.Audio {
			busy = busy || s.Refs != 0
		}
		if !busy {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("resources held: sessions %+v, streams %+v", sessions, refs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// endSession ends a session from the controller (EndSession, UserHangup).
func (c *camera) endSession(t testing.TB, s *session) {
	t.Helper()
	s.stop()
	if st := c.b.invoke(s.ctl, "webrtc", "endSession", map[string]any{"webRtcSessionId": s.id, "reason": 2}, nil); st != 0 {
		t.Fatalf("EndSession %d: status 0x%02X", s.id, st)
	}
}

// requireDecodes checks what the viewer received: at least minFrames
// access units that ffmpeg decodes without an error, and Opus.
func requireDecodes(t testing.TB, v *viewer, minFrames int) {
	t.Helper()
	aus, opus := v.received()
	if !isKey(aus[0]) {
		t.Errorf("the first access unit is not an IDR picture with SPS and PPS")
	}
	n := decodedFrames(t, aus)
	if n < minFrames || n != len(aus) {
		t.Fatalf("ffmpeg decoded %d frames of %d received, want >= %d", n, len(aus), minFrames)
	}
	if opus == 0 {
		t.Fatal("no Opus packets")
	}
	t.Logf("viewer: %d access units decoded, %d Opus packets", n, opus)
}

// isKey reports whether an Annex B access unit carries SPS, PPS and an
// IDR slice.
func isKey(au []byte) bool {
	var sps, pps, idr bool
	for _, nal := range bytes.Split(au, []byte{0, 0, 1}) {
		if len(nal) == 0 {
			continue
		}
		switch nal[0] & 0x1F {
		case 7:
			sps = true
		case 8:
			pps = true
		case 5:
			idr = true
		}
	}
	return sps && pps && idr
}

// TestCameraFlowB: ProvideOffer → ProvideOfferResponse → Answer pushed to
// the controller → trickle both ways → the viewer decodes ≥ 60 frames and
// receives Opus → EndSession → CurrentSessions empty and every stream
// reference released (spec digest §4.1).
func TestCameraFlowB(t *testing.T) {
	c := startCamera(t)
	s := c.provideOffer(t, "a")
	got := c.currentSessions(t, "a")
	if len(got) != 1 || got[0].ID != s.id || got[0].StreamUsage != usageLiveView || got[0].PeerEndpoint != c.requestorEP ||
		!slices.Equal(got[0].VideoStreams, []int{c.video}) || !slices.Equal(got[0].AudioStreams, []int{c.audio}) {
		t.Fatalf("CurrentSessions %+v", got)
	}
	var refs streamRefs
	c.b.read("a", "avsm", &refs, "allocatedVideoStreams", "allocatedAudioStreams")
	if len(refs.Video) != 1 || refs.Video[0].Refs != 1 || len(refs.Audio) != 1 || refs.Audio[0].Refs != 1 {
		t.Fatalf("reference counts during the session: %+v", refs)
	}
	s.v.waitMedia(75, 50, 30*time.Second)
	c.endSession(t, s)
	c.requireReleased(t)
	requireDecodes(t, s.v, 60)
	if ev, ok := c.b.takeEvent("end", s.id, 500*time.Millisecond); ok {
		t.Errorf("the camera sent End (reason %d) for a session the controller ended", ev.Reason)
	}
}

// TestCameraFlowA: SolicitOffer → the camera invokes Offer → ProvideAnswer
// → media → the soft livestream privacy attribute is set → the camera
// ends the session with End(PrivacyMode) → new offers get INVALID_IN_STATE
// until privacy is cleared (spec digest §4.2, §5.6).
func TestCameraFlowA(t *testing.T) {
	c := startCamera(t)
	var sol struct {
		WebRtcSessionID int  `json:"webRtcSessionId"`
		DeferredOffer   bool `json:"deferredOffer"`
	}
	if st := c.b.invoke("a", "webrtc", "solicitOffer", map[string]any{
		"streamUsage": usageLiveView, "originatingEndpointId": c.requestorEP,
		"videoStreams": []int{c.video}, "audioStreams": []int{c.audio},
	}, &sol); st != 0 {
		t.Fatalf("SolicitOffer: status 0x%02X", st)
	}
	offer := c.b.waitEvent("offer", sol.WebRtcSessionID, 15*time.Second)
	v := newViewer(t, viewerOptions{})
	answer := v.answer(offer.SDP)
	stop := trickle(t, c.b, "a", sol.WebRtcSessionID, v)
	if st := c.b.invoke("a", "webrtc", "provideAnswer", map[string]any{"webRtcSessionId": sol.WebRtcSessionID, "sdp": answer}, nil); st != 0 {
		t.Fatalf("ProvideAnswer: status 0x%02X", st)
	}
	v.waitMedia(75, 50, 30*time.Second)

	c.b.call("write", map[string]any{"ctl": "a", "cluster": "avsm", "attribute": "softLivestreamPrivacyModeEnabled", "value": true})
	end := c.b.waitEvent("end", sol.WebRtcSessionID, 10*time.Second)
	if end.Reason != endPrivacyMode {
		t.Errorf("End reason %d, want %d (PrivacyMode)", end.Reason, endPrivacyMode)
	}
	stop()
	c.requireReleased(t)
	requireDecodes(t, v, 60)

	v2 := newViewer(t, viewerOptions{})
	if st := c.b.invoke("a", "webrtc", "provideOffer", c.offerFields(v2.offer(true)), nil); st != statusInvalidInState {
		t.Errorf("ProvideOffer under privacy: status 0x%02X, want INVALID_IN_STATE", st)
	}
	if st := c.b.invoke("a", "webrtc", "solicitOffer", map[string]any{
		"streamUsage": usageLiveView, "originatingEndpointId": c.requestorEP, "videoStreams": []int{c.video},
	}, nil); st != statusInvalidInState {
		t.Errorf("SolicitOffer under privacy: status 0x%02X, want INVALID_IN_STATE", st)
	}
	c.b.call("write", map[string]any{"ctl": "a", "cluster": "avsm", "attribute": "softLivestreamPrivacyModeEnabled", "value": false})
	s := c.provideOffer(t, "a")
	s.v.waitMedia(10, 5, 30*time.Second)
	c.endSession(t, s)
	c.requireReleased(t)
}

// TestCameraSessionLimit: with the default limit of 5, a sixth concurrent
// session gets RESOURCE_EXHAUSTED while the five others keep streaming.
func TestCameraSessionLimit(t *testing.T) {
	c := startCamera(t)
	var sessions []*session
	for range 5 {
		s := c.provideOffer(t, "a")
		sessions = append(sessions, s)
	}
	for _, s := range sessions {
		s.v.waitMedia(5, 1, 30*time.Second)
	}
	v := newViewer(t, viewerOptions{})
	if st := c.b.invoke("a", "webrtc", "provideOffer", c.offerFields(v.offer(true)), nil); st != statusResourceExhausted {
		t.Errorf("sixth ProvideOffer: status 0x%02X, want RESOURCE_EXHAUSTED", st)
	}
	var before []int
	for _, s := range sessions {
		aus, _ := s.v.received()
		before = append(before, len(aus))
	}
	time.Sleep(time.Second)
	for i, s := range sessions {
		if aus, _ := s.v.received(); len(aus) < before[i]+15 {
			t.Errorf("session %d: %d access units in the second after the refusal", s.id, len(aus)-before[i])
		}
	}
	if n := len(c.currentSessions(t, "a")); n != 5 {
		t.Errorf("%d sessions, want 5", n)
	}
	for _, s := range sessions {
		c.endSession(t, s)
	}
	c.requireReleased(t)
}

// TestCameraSecondFabric: a controller on a second fabric neither sees
// nor ends the first fabric's session (NOT_FOUND, spec digest §2.4).
func TestCameraSecondFabric(t *testing.T) {
	c := startCamera(t)
	s := c.provideOffer(t, "a")
	c.b.call("commission", map[string]any{"ctl": "b"})
	if got := c.currentSessions(t, "b"); len(got) != 0 {
		t.Errorf("fabric B sees %+v", got)
	}
	for _, tc := range []struct {
		command string
		fields  map[string]any
	}{
		{"endSession", map[string]any{"webRtcSessionId": s.id, "reason": 2}},
		{"provideAnswer", map[string]any{"webRtcSessionId": s.id, "sdp": "v=0\r\n"}},
		{"provideIceCandidates", map[string]any{"webRtcSessionId": s.id, "iceCandidates": []iceCandidate{{Candidate: "candidate:1 1 udp 1 127.0.0.1 9 typ host"}}}},
	} {
		if st := c.b.invoke("b", "webrtc", tc.command, tc.fields, nil); st != statusNotFound {
			t.Errorf("fabric B %s on A's session: status 0x%02X, want NOT_FOUND", tc.command, st)
		}
	}
	if got := c.currentSessions(t, "a"); len(got) != 1 || got[0].ID != s.id {
		t.Errorf("fabric A's sessions after B's attempts: %+v", got)
	}
	s.v.waitMedia(30, 10, 30*time.Second)
	c.endSession(t, s)
	c.requireReleased(t)
}

// TestCameraBadRequests: malformed SDP, an offer without H.264, an empty
// candidate list, unknown stream IDs and oversized SDP each get their
// status, and nothing is left behind.
func TestCameraBadRequests(t *testing.T) {
	c := startCamera(t)
	vp8 := newViewer(t, viewerOptions{noH264: true})
	good := newViewer(t, viewerOptions{}).offer(true)
	with := func(k string, v any) map[string]any {
		f := c.offerFields(good)
		f[k] = v
		return f
	}
	cases := []struct {
		name    string
		command string
		fields  map[string]any
		want    int
	}{
		{"malformed SDP", "provideOffer", with("sdp", "this is not SDP"), statusInvalidCommand},
		{"no H.264", "provideOffer", c.offerFields(vp8.offer(true)), statusDynamicConstraint},
		{"unknown video stream", "provideOffer", with("videoStreams", []int{c.video + 100}), statusDynamicConstraint},
		{"unknown audio stream", "provideOffer", with("audioStreams", []int{c.audio + 100}), statusDynamicConstraint},
		{"oversized SDP", "provideOffer", with("sdp", good+strings.Repeat("a=x-padding:"+strings.Repeat("x", 1000)+"\r\n", 40)), statusConstraintError},
		{"unknown session answer", "provideAnswer", map[string]any{"webRtcSessionId": 4321, "sdp": good}, statusNotFound},
		{"unknown session end", "endSession", map[string]any{"webRtcSessionId": 4321, "reason": 2}, statusNotFound},
		{"solicit without streams", "solicitOffer", map[string]any{"streamUsage": usageLiveView, "originatingEndpointId": c.requestorEP}, statusInvalidCommand},
	}
	for _, tc := range cases {
		if st := c.b.invoke("a", "webrtc", tc.command, tc.fields, nil); st != tc.want {
			t.Errorf("%s: status 0x%02X, want 0x%02X", tc.name, st, tc.want)
		}
	}
	// An empty candidate list on a live session: CONSTRAINT_ERROR.
	s := c.provideOffer(t, "a")
	r := c.b.wait(c.b.send("invoke", map[string]any{"ctl": "a", "cluster": "webrtc", "command": "provideIceCandidates",
		"fields": map[string]any{"webRtcSessionId": s.id, "iceCandidates": []iceCandidate{}}}), 30*time.Second)
	var st struct {
		Status *int `json:"status"`
	}
	switch {
	case !r.OK && strings.Contains(r.Error, "onstraint"):
		// matter.js validates the list length itself before sending.
		t.Logf("matter.js refused the empty list locally: %.200s", r.Error)
	case !r.OK:
		t.Errorf("empty candidate list: %s", r.Error)
	case jsonInto(r.Value, &st) != nil || st.Status == nil || *st.Status != statusConstraintError:
		t.Errorf("empty candidate list: %s, want CONSTRAINT_ERROR", r.Value)
	}
	s.v.waitMedia(10, 5, 30*time.Second)
	c.endSession(t, s)
	c.requireReleased(t)
}

// TestCameraPersistence: allocated streams and stream priorities survive a
// restart; CaptureSnapshot returns a JPEG that decodes.
func TestCameraPersistence(t *testing.T) {
	state := t.TempDir()
	port := freePort(t)
	fw := startFirmware(t, state, port)
	b := startBridge(t, port)
	b.call("commission", map[string]any{"ctl": "a"})
	if st := b.invoke("a", "avsm", "setStreamPriorities", map[string]any{"streamPriorities": []int{usageRecording, usageLiveView}}, nil); st != 0 {
		t.Fatalf("SetStreamPriorities: status 0x%02X", st)
	}
	video, audio := allocateStreams(t, b, "a")
	var snap struct {
		SnapshotStreamID int `json:"snapshotStreamId"`
	}
	if st := b.invoke("a", "avsm", "snapshotStreamAllocate", map[string]any{
		"imageCodec": 0, "maxFrameRate": 1, "minResolution": map[string]int{"width": 320, "height": 180},
		"maxResolution": map[string]int{"width": 1280, "height": 720}, "quality": 75,
	}, &snap); st != 0 {
		t.Fatalf("SnapshotStreamAllocate: status 0x%02X", st)
	}
	type avsm struct {
		Priorities []int `json:"streamUsagePriorities"`
		Video      []struct {
			ID int `json:"videoStreamId"`
		} `json:"allocatedVideoStreams"`
		Audio []struct {
			ID int `json:"audioStreamId"`
		} `json:"allocatedAudioStreams"`
		Snapshot []struct {
			ID int `json:"snapshotStreamId"`
		} `json:"allocatedSnapshotStreams"`
	}
	var before avsm
	b.read("a", "avsm", &before, "streamUsagePriorities", "allocatedVideoStreams", "allocatedAudioStreams", "allocatedSnapshotStreams")

	fw.stop(t)
	startFirmware(t, state, port)
	// The controller's session died with the old process; its first
	// request after the restart may time out (the new process drops
	// messages of sessions it does not know), the next one runs on a new
	// CASE session.
	var after avsm
	for attempt := 1; ; attempt++ {
		r := b.wait(b.send("read", map[string]any{"ctl": "a", "cluster": "avsm",
			"attributes": []string{"streamUsagePriorities", "allocatedVideoStreams", "allocatedAudioStreams", "allocatedSnapshotStreams"}}), time.Minute)
		if r.OK {
			if err := jsonInto(r.Value, &after); err != nil {
				t.Fatal(err)
			}
			break
		}
		if attempt == 3 {
			t.Fatalf("read after restart: %s", r.Error)
		}
	}
	if !slices.Equal(after.Priorities, []int{usageRecording, usageLiveView}) || len(after.Video) != 1 || after.Video[0].ID != video ||
		len(after.Audio) != 1 || after.Audio[0].ID != audio || len(after.Snapshot) != 1 || after.Snapshot[0].ID != snap.SnapshotStreamID {
		t.Fatalf("after restart: %+v, before: %+v", after, before)
	}

	var shot struct {
		Data       string `json:"data"`
		ImageCodec int    `json:"imageCodec"`
		Resolution struct {
			Width  int `json:"width"`
			Height int `json:"height"`
		} `json:"resolution"`
	}
	if st := b.invoke("a", "avsm", "captureSnapshot", map[string]any{
		"snapshotStreamId": snap.SnapshotStreamID, "requestedResolution": map[string]int{"width": 640, "height": 360},
	}, &shot); st != 0 {
		t.Fatalf("CaptureSnapshot: status 0x%02X", st)
	}
	raw, err := hex.DecodeString(shot.Data)
	if err != nil {
		t.Fatal(err)
	}
	img, err := jpeg.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("snapshot of %d bytes does not decode: %v", len(raw), err)
	}
	if sz := img.Bounds().Size(); shot.ImageCodec != 0 || sz.X != shot.Resolution.Width || sz.Y != shot.Resolution.Height || sz.X > 1280 || sz.X < 1 {
		t.Fatalf("snapshot %v, codec %d, reported %+v", sz, shot.ImageCodec, shot.Resolution)
	}
	t.Logf("snapshot: %d bytes, %v", len(raw), img.Bounds().Size())
}
