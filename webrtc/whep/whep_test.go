package whep_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	pion "github.com/pion/webrtc/v4"

	"github.com/mattercam/mattercam/capture"
	"github.com/mattercam/mattercam/capture/h264"
	"github.com/mattercam/mattercam/capture/testsrc"
	"github.com/mattercam/mattercam/webrtc"
	"github.com/mattercam/mattercam/webrtc/whep"
)

// recorder remembers every access unit the source emitted, by frame
// index, so what a viewer reassembles can be compared with it.
type recorder struct {
	capture.VideoSource
	frame time.Duration

	mu  sync.Mutex
	aus map[int][]byte
}

func (r *recorder) ReadAccessUnit(ctx context.Context) (capture.AccessUnit, error) {
	au, err := r.VideoSource.ReadAccessUnit(ctx)
	if err == nil {
		r.mu.Lock()
		r.aus[r.index(au.PTS)] = bytes.Clone(au.Data)
		r.mu.Unlock()
	}
	return au, err
}

func (r *recorder) index(pts time.Duration) int { return int((pts + r.frame/2) / r.frame) }

func (r *recorder) get(i int) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.aus[i]
}

type fixture struct {
	srv  *webrtc.Server
	http *httptest.Server
	rec  *recorder
	url  string
}

func newFixture(t *testing.T, cfg webrtc.Config, wcfg whep.Config) *fixture {
	t.Helper()
	v, err := testsrc.NewVideo()
	if err != nil {
		t.Fatal(err)
	}
	a, err := testsrc.NewAudio()
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{VideoSource: v, frame: time.Duration(float64(time.Second) / v.Format().FrameRate), aus: map[int][]byte{}}
	srv, err := webrtc.NewServer(cfg, rec, a)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(whep.New(srv, wcfg))
	t.Cleanup(func() {
		hs.Close()
		srv.Close()
		v.Close()
		a.Close()
	})
	return &fixture{srv: srv, http: hs, rec: rec, url: hs.URL + "/whep"}
}

func nals(annexB []byte) [][]byte {
	var out [][]byte
	for nal, rest := h264.NextNAL(annexB); nal != nil; nal, rest = h264.NextNAL(rest) {
		out = append(out, nal)
	}
	return out
}

func sameNALs(a, b []byte) bool {
	return slices.EqualFunc(nals(a), nals(b), bytes.Equal)
}

// TestViewerReceivesSourceBytes is the media path end to end: a pion
// viewer subscribes over WHEP, receives more than 3 s of video and audio,
// and every access unit it reassembles is byte-identical to what the
// source emitted; ffmpeg then decodes the received stream without error.
func TestViewerReceivesSourceBytes(t *testing.T) {
	f := newFixture(t, webrtc.Config{}, whep.Config{})
	type rx struct {
		au []byte
		ts uint32
	}
	var (
		mu     sync.Mutex
		video  []rx
		audio  int
		audioB int
	)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	v, err := whep.Subscribe(ctx, f.url, whep.ViewerOptions{
		Audio: true,
		OnVideo: func(au []byte, ts uint32) {
			mu.Lock()
			video = append(video, rx{au, ts})
			mu.Unlock()
		},
		OnAudio: func(p []byte, _ uint32) {
			mu.Lock()
			audio++
			audioB += len(p)
			mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-v.Connected():
	case <-ctx.Done():
		t.Fatal("viewer never connected")
	}
	time.Sleep(3500 * time.Millisecond)
	if err := v.Close(ctx); err != nil {
		t.Errorf("close: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()

	// ≥ 3 s at 30 fps, allowing for the frame still in the viewer's
	// sample builder.
	if len(video) < 90 {
		t.Fatalf("received %d access units in 3.5 s, want ≥ 90", len(video))
	}
	if audio < 150 {
		t.Fatalf("received %d Opus packets in 3.5 s, want ≥ 150 (20 ms frames)", audio)
	}
	first := video[0]
	if h264.Type(nals(first.au)[0]) != h264.NALSPS {
		t.Fatalf("first access unit starts with NAL type %d, want an SPS (key frame first)", h264.Type(nals(first.au)[0]))
	}
	// Align RTP time with the source's frame index using the first
	// access unit (RTP timestamps start at a random offset).
	base := -1
	for i := 0; i < 1000 && base < 0; i++ {
		if src := f.rec.get(i); src != nil && sameNALs(src, first.au) {
			base = i
		}
	}
	if base < 0 {
		t.Fatal("first received access unit matches nothing the source emitted")
	}
	var stream bytes.Buffer
	for _, r := range video {
		idx := base + int((r.ts-first.ts+1500)/3000)
		src := f.rec.get(idx)
		if src == nil {
			t.Fatalf("access unit at RTP %d (frame %d) was never emitted by the source", r.ts, idx)
		}
		if !sameNALs(src, r.au) {
			t.Fatalf("frame %d differs from the source: got %d bytes in %d NALs, want %d bytes in %d NALs",
				idx, len(r.au), len(nals(r.au)), len(src), len(nals(src)))
		}
		stream.Write(r.au)
	}
	t.Logf("received %d access units (%d bytes), %d Opus packets (%d bytes)", len(video), stream.Len(), audio, audioB)
	ffmpegDecodes(t, stream.Bytes(), len(video))
}

// ffmpegDecodes runs ffmpeg over an Annex B stream and fails on any
// error it reports or a frame count other than want.
func ffmpegDecodes(t *testing.T, annexB []byte, want int) {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Fatal("ffmpeg is not installed: run `make deps`")
	}
	path := filepath.Join(t.TempDir(), "rx.h264")
	if err := os.WriteFile(path, annexB, 0o644); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-f", "h264", "-i", path, "-f", "framemd5", "-")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("ffmpeg: %v\n%s", err, stderr.String())
	}
	frames := 0
	for line := range strings.Lines(string(out)) {
		if !strings.HasPrefix(line, "#") {
			frames++
		}
	}
	if frames != want {
		t.Fatalf("ffmpeg decoded %d frames, want %d", frames, want)
	}
}

func post(t *testing.T, url, ctype string, body []byte, hdr ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", ctype)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// vp8Offer is a real browser-like offer that cannot receive H.264.
func vp8Offer(t *testing.T) string {
	t.Helper()
	m := &pion.MediaEngine{}
	if err := m.RegisterCodec(pion.RTPCodecParameters{RTPCodecCapability: pion.RTPCodecCapability{MimeType: pion.MimeTypeVP8, ClockRate: 90000}, PayloadType: 96}, pion.RTPCodecTypeVideo); err != nil {
		t.Fatal(err)
	}
	pc, err := pion.NewAPI(pion.WithMediaEngine(m)).NewPeerConnection(pion.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if _, err := pc.AddTransceiverFromKind(pion.RTPCodecTypeVideo, pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	return offer.SDP
}

func TestHTTPStatus(t *testing.T) {
	f := newFixture(t, webrtc.Config{}, whep.Config{Token: "s3cret"})
	auth := []string{"Authorization", "Bearer s3cret"}
	tests := []struct {
		name  string
		ctype string
		body  []byte
		hdr   []string
		want  int
	}{
		{"no token", "application/sdp", []byte("v=0\r\n"), nil, http.StatusUnauthorized},
		{"wrong token", "application/sdp", []byte("v=0\r\n"), []string{"Authorization", "Bearer nope"}, http.StatusUnauthorized},
		{"not sdp", "text/plain", []byte("v=0\r\n"), auth, http.StatusUnsupportedMediaType},
		{"garbage", "application/sdp", []byte("hello"), auth, http.StatusBadRequest},
		{"empty", "application/sdp", nil, auth, http.StatusBadRequest},
		{"no h264", "application/sdp", []byte(vp8Offer(t)), auth, http.StatusNotAcceptable},
		{"too large", "application/sdp", bytes.Repeat([]byte("a=x\r\n"), 14000), auth, http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := post(t, f.url, tt.ctype, tt.body, tt.hdr...)
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
	if n := f.srv.Len(); n != 0 {
		t.Fatalf("%d sessions left after refused offers", n)
	}

	// OPTIONS: CORS preflight without a token.
	req, _ := http.NewRequest(http.MethodOptions, f.url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != "*" ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "PATCH") || resp.Header.Get("Accept-Post") != "application/sdp" {
		t.Fatalf("OPTIONS: %d %v", resp.StatusCode, resp.Header)
	}

	// A real session: PATCH with a candidate and end-of-candidates, then
	// DELETE twice (idempotent), then PATCH on the deleted resource.
	ctx := t.Context()
	v, err := whep.Subscribe(ctx, f.url, whep.ViewerOptions{Token: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	frag := "a=ice-ufrag:nomatch\r\na=mid:0\r\na=candidate:1 1 udp 2130706431 127.0.0.1 9 typ host\r\n"
	if code := do(t, http.MethodPatch, v.Resource(), "application/trickle-ice-sdpfrag", frag, auth...); code != http.StatusUnprocessableEntity {
		t.Fatalf("PATCH with a new ufrag (ICE restart): %d, want 422", code)
	}
	frag = "a=mid:0\r\na=candidate:1 1 udp 2130706431 127.0.0.1 9 typ host\r\na=end-of-candidates\r\n"
	if code := do(t, http.MethodPatch, v.Resource(), "application/trickle-ice-sdpfrag", frag, auth...); code != http.StatusNoContent {
		t.Fatalf("PATCH trickle: %d, want 204", code)
	}
	if code := do(t, http.MethodPatch, v.Resource(), "application/sdp", frag, auth...); code != http.StatusUnsupportedMediaType {
		t.Fatalf("PATCH wrong type: %d, want 415", code)
	}
	for range 2 {
		if code := do(t, http.MethodDelete, v.Resource(), "", "", auth...); code != http.StatusOK {
			t.Fatalf("DELETE: %d, want 200", code)
		}
	}
	if code := do(t, http.MethodPatch, v.Resource(), "application/trickle-ice-sdpfrag", frag, auth...); code != http.StatusNotFound {
		t.Fatalf("PATCH after DELETE: %d, want 404", code)
	}
	_ = v.Close(ctx) // already deleted above; only the local side is left
	if n := f.srv.Len(); n != 0 {
		t.Fatalf("%d sessions left", n)
	}
}

func do(t *testing.T, method, url, ctype, body string, hdr ...string) int {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestSessionLimit: the limit+1-th viewer gets 503 while the others keep
// their sessions.
func TestSessionLimit(t *testing.T) {
	const limit = 3
	f := newFixture(t, webrtc.Config{MaxSessions: limit}, whep.Config{})
	ctx := t.Context()
	var viewers []*whep.Viewer
	for range limit {
		v, err := whep.Subscribe(ctx, f.url, whep.ViewerOptions{})
		if err != nil {
			t.Fatal(err)
		}
		viewers = append(viewers, v)
	}
	_, err := whep.Subscribe(ctx, f.url, whep.ViewerOptions{})
	var se *whep.StatusError
	if !errors.As(err, &se) || se.Code != http.StatusServiceUnavailable {
		t.Fatalf("viewer %d: %v, want HTTP 503", limit+1, err)
	}
	if n := f.srv.Len(); n != limit {
		t.Fatalf("%d sessions, want %d", n, limit)
	}
	// Freeing one slot admits the next viewer.
	if err := viewers[0].Close(ctx); err != nil {
		t.Fatal(err)
	}
	v, err := whep.Subscribe(ctx, f.url, whep.ViewerOptions{})
	if err != nil {
		t.Fatalf("after a slot freed: %v", err)
	}
	viewers[0] = v
	for _, v := range viewers {
		if err := v.Close(ctx); err != nil {
			t.Error(err)
		}
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

// settle waits until cond holds or the deadline passes; teardown of
// pion's goroutines and sockets is asynchronous.
func settle(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return cond()
}

// TestNoLeaksAfterCycles: 100 connect/disconnect cycles leave goroutines
// and file descriptors where they started.
func TestNoLeaksAfterCycles(t *testing.T) {
	f := newFixture(t, webrtc.Config{MaxSessions: 5}, whep.Config{})
	ctx := t.Context()
	cycle := func() {
		v, err := whep.Subscribe(ctx, f.url, whep.ViewerOptions{Audio: true})
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-v.Connected():
		case <-time.After(10 * time.Second):
			t.Fatal("viewer did not connect")
		}
		if err := v.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
	cycle() // warm up lazily started goroutines (HTTP keep-alive, timers)
	http.DefaultClient.CloseIdleConnections()
	f.http.CloseClientConnections()
	settle(5*time.Second, func() bool { return f.srv.Len() == 0 })
	g0, fd0 := runtime.NumGoroutine(), openFDs(t)
	for range 100 {
		cycle()
	}
	f.http.CloseClientConnections()
	ok := settle(15*time.Second, func() bool {
		return f.srv.Len() == 0 && runtime.NumGoroutine() <= g0 && openFDs(t) <= fd0
	})
	if !ok {
		buf := make([]byte, 1<<20)
		n := runtime.Stack(buf, true)
		t.Fatalf("after 100 cycles: sessions %d, goroutines %d (baseline %d), fds %d (baseline %d)\n%s",
			f.srv.Len(), runtime.NumGoroutine(), g0, openFDs(t), fd0, buf[:n])
	}
	t.Logf("goroutines %d (baseline %d), fds %d (baseline %d)", runtime.NumGoroutine(), g0, openFDs(t), fd0)
}
