package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp/codecs"
	pion "github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media/samplebuilder"
)

// viewer is the media peer of the camera tests: a receive-only pion
// PeerConnection whose signalling goes through the matter.js controller
// (the bridge), with trickle ICE in Matter's ICECandidateStruct form.
type viewer struct {
	t  testing.TB
	pc *pion.PeerConnection

	mu        sync.Mutex
	aus       [][]byte // H.264 access units, Annex B
	firstAU   time.Time
	opus      int
	connected chan struct{}
	once      sync.Once
	wg        sync.WaitGroup
	closed    bool

	// local receives the viewer's own candidates as they are gathered,
	// and an empty one at the end of gathering.
	local chan iceCandidate
}

// viewerOptions shapes what the viewer offers.
type viewerOptions struct {
	noH264 bool // offer VP8 only: the camera must refuse it
}

func newViewer(t testing.TB, o viewerOptions) *viewer {
	t.Helper()
	m := &pion.MediaEngine{}
	vc := pion.RTPCodecCapability{
		MimeType: pion.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine:  "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
		RTCPFeedback: []pion.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}},
	}
	if o.noH264 {
		vc = pion.RTPCodecCapability{MimeType: pion.MimeTypeVP8, ClockRate: 90000}
	}
	if err := m.RegisterCodec(pion.RTPCodecParameters{RTPCodecCapability: vc, PayloadType: 102}, pion.RTPCodecTypeVideo); err != nil {
		t.Fatal(err)
	}
	if err := m.RegisterCodec(pion.RTPCodecParameters{
		RTPCodecCapability: pion.RTPCodecCapability{MimeType: pion.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"},
		PayloadType:        111,
	}, pion.RTPCodecTypeAudio); err != nil {
		t.Fatal(err)
	}
	var se pion.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	se.SetICETimeouts(3*time.Second, 8*time.Second, 0)
	api := pion.NewAPI(pion.WithMediaEngine(m), pion.WithSettingEngine(se))
	pc, err := api.NewPeerConnection(pion.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	v := &viewer{t: t, pc: pc, connected: make(chan struct{}), local: make(chan iceCandidate, 64)}
	t.Cleanup(v.close)
	pc.OnConnectionStateChange(func(s pion.PeerConnectionState) {
		if s == pion.PeerConnectionStateConnected {
			v.once.Do(func() { close(v.connected) })
		}
	})
	pc.OnICECandidate(func(c *pion.ICECandidate) {
		if c == nil {
			v.local <- iceCandidate{}
			return
		}
		j := c.ToJSON()
		v.local <- iceCandidate{Candidate: j.Candidate, SDPMid: j.SDPMid, SDPMLineIndex: j.SDPMLineIndex}
	})
	pc.OnTrack(func(tr *pion.TrackRemote, _ *pion.RTPReceiver) {
		v.mu.Lock()
		defer v.mu.Unlock()
		if v.closed {
			return
		}
		v.wg.Add(1)
		go func() {
			defer v.wg.Done()
			if tr.Kind() == pion.RTPCodecTypeVideo {
				v.readVideo(tr)
			} else {
				v.readAudio(tr)
			}
		}()
	})
	return v
}

// offer makes a receive-only offer (trickle: candidates follow on local).
func (v *viewer) offer(audio bool) string {
	v.t.Helper()
	dir := pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionRecvonly}
	if _, err := v.pc.AddTransceiverFromKind(pion.RTPCodecTypeVideo, dir); err != nil {
		v.t.Fatal(err)
	}
	if audio {
		if _, err := v.pc.AddTransceiverFromKind(pion.RTPCodecTypeAudio, dir); err != nil {
			v.t.Fatal(err)
		}
	}
	o, err := v.pc.CreateOffer(nil)
	if err != nil {
		v.t.Fatal(err)
	}
	if err := v.pc.SetLocalDescription(o); err != nil {
		v.t.Fatal(err)
	}
	return o.SDP
}

// answer answers the camera's offer (SolicitOffer flow).
func (v *viewer) answer(offer string) string {
	v.t.Helper()
	if err := v.pc.SetRemoteDescription(pion.SessionDescription{Type: pion.SDPTypeOffer, SDP: offer}); err != nil {
		v.t.Fatalf("camera's offer: %v\n%s", err, offer)
	}
	a, err := v.pc.CreateAnswer(nil)
	if err != nil {
		v.t.Fatal(err)
	}
	if err := v.pc.SetLocalDescription(a); err != nil {
		v.t.Fatal(err)
	}
	return a.SDP
}

// setAnswer applies the camera's answer.
func (v *viewer) setAnswer(sdp string) {
	v.t.Helper()
	if err := v.pc.SetRemoteDescription(pion.SessionDescription{Type: pion.SDPTypeAnswer, SDP: sdp}); err != nil {
		v.t.Fatalf("camera's answer: %v\n%s", err, sdp)
	}
}

// addRemote adds the camera's candidates; an empty one is end of
// candidates.
func (v *viewer) addRemote(cs []iceCandidate) error {
	for _, c := range cs {
		if c.Candidate == "" {
			continue // pion needs no end-of-candidates signal
		}
		if err := v.pc.AddICECandidate(pion.ICECandidateInit{Candidate: c.Candidate, SDPMid: c.SDPMid, SDPMLineIndex: c.SDPMLineIndex}); err != nil {
			return err
		}
	}
	return nil
}

func (v *viewer) readVideo(tr *pion.TrackRemote) {
	sb := samplebuilder.New(512, &codecs.H264Packet{}, 90000)
	for {
		pkt, _, err := tr.ReadRTP()
		if err != nil {
			return
		}
		sb.Push(pkt)
		for s := sb.Pop(); s != nil; s = sb.Pop() {
			if len(s.Data) == 0 {
				continue
			}
			v.mu.Lock()
			if len(v.aus) == 0 {
				v.firstAU = time.Now()
			}
			v.aus = append(v.aus, s.Data)
			v.mu.Unlock()
		}
	}
}

func (v *viewer) readAudio(tr *pion.TrackRemote) {
	for {
		if _, _, err := tr.ReadRTP(); err != nil {
			return
		}
		v.mu.Lock()
		v.opus++
		v.mu.Unlock()
	}
}

// received returns the access units and Opus packets so far.
func (v *viewer) received() (aus [][]byte, opus int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([][]byte(nil), v.aus...), v.opus
}

// waitMedia waits until at least frames access units and opus packets
// arrived.
func (v *viewer) waitMedia(frames, opus int, within time.Duration) {
	v.t.Helper()
	deadline := time.Now().Add(within)
	for {
		aus, n := v.received()
		if len(aus) >= frames && n >= opus {
			return
		}
		if time.Now().After(deadline) {
			v.t.Fatalf("viewer received %d access units and %d Opus packets in %v, want %d and %d", len(aus), n, within, frames, opus)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (v *viewer) close() {
	v.mu.Lock()
	v.closed = true
	v.mu.Unlock()
	_ = v.pc.Close()
	v.wg.Wait()
}

// decodedFrames runs ffmpeg over the received access units from the first
// key frame on and returns how many frames it decoded; any error ffmpeg
// reports fails the test.
func decodedFrames(t testing.TB, aus [][]byte) int {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Fatal("ffmpeg is not installed: run `make deps`")
	}
	var stream bytes.Buffer
	for _, au := range aus {
		stream.Write(au)
	}
	path := filepath.Join(t.TempDir(), "rx.h264")
	if err := os.WriteFile(path, stream.Bytes(), 0o644); err != nil {
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
	return frames
}
