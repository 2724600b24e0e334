package webrtc_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp/codecs"
	pion "github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media/samplebuilder"

	"github.com/mattercam/mattercam/capture/testsrc"
	"github.com/mattercam/mattercam/webrtc"
	"github.com/mattercam/mattercam/webrtc/whep"
)

func newTestServer(t *testing.T, cfg webrtc.Config) *webrtc.Server {
	t.Helper()
	v, err := testsrc.NewVideo()
	if err != nil {
		t.Fatal(err)
	}
	a, err := testsrc.NewAudio()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := webrtc.NewServer(cfg, v, a)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Close()
		v.Close()
		a.Close()
	})
	return srv
}

// newPeer is a pion receiver whose candidates trickle to the server.
func newPeer(t *testing.T) *pion.PeerConnection {
	t.Helper()
	m := &pion.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	var se pion.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	pc, err := pion.NewAPI(pion.WithMediaEngine(m), pion.WithSettingEngine(se)).NewPeerConnection(pion.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	for _, k := range []pion.RTPCodecType{pion.RTPCodecTypeVideo, pion.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	return pc
}

// TestTrickleBothWays: the offer carries no candidates; both sides
// trickle theirs (RFC 8838) and media flows, the first frame a key frame.
func TestTrickleBothWays(t *testing.T) {
	srv := newTestServer(t, webrtc.Config{})
	pc := newPeer(t)

	var (
		video, audio atomic.Int32
		firstKey     = make(chan bool, 1)
		firstAt      atomic.Int64
	)
	pc.OnTrack(func(tr *pion.TrackRemote, _ *pion.RTPReceiver) {
		sb := samplebuilder.New(256, &codecs.H264Packet{}, 90000)
		for {
			pkt, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			if tr.Kind() == pion.RTPCodecTypeAudio {
				audio.Add(1)
				continue
			}
			sb.Push(pkt)
			for s := sb.Pop(); s != nil; s = sb.Pop() {
				if video.Add(1) == 1 {
					firstAt.Store(time.Now().UnixNano())
					// NAL header after the 4-byte start code: 7 = SPS.
					firstKey <- len(s.Data) > 4 && s.Data[4]&0x1f == 7
				}
			}
		}
	})

	var (
		mu      sync.Mutex
		session *webrtc.Session
		early   []pion.ICECandidateInit
	)
	pc.OnICECandidate(func(c *pion.ICECandidate) {
		if c == nil {
			return
		}
		init := c.ToJSON()
		mu.Lock()
		defer mu.Unlock()
		if session == nil {
			early = append(early, init)
			return
		}
		if err := session.AddICECandidate(init); err != nil {
			t.Errorf("server AddICECandidate: %v", err)
		}
	})
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	// The server trickles from the moment it has answered; like any
	// signalling channel, the test holds those candidates until the viewer
	// has applied the answer.
	var (
		fromServer atomic.Int32
		answered   bool
		held       []pion.ICECandidateInit
	)
	sess, err := srv.NewSession(offer.SDP, webrtc.SessionOptions{
		OnICECandidate: func(c *pion.ICECandidateInit) {
			if c == nil {
				return
			}
			fromServer.Add(1)
			mu.Lock()
			defer mu.Unlock()
			if !answered {
				held = append(held, *c)
				return
			}
			if err := pc.AddICECandidate(*c); err != nil {
				t.Errorf("viewer AddICECandidate: %v", err)
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	answer, err := sess.Answer(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.SetRemoteDescription(pion.SessionDescription{Type: pion.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	answered = true
	for _, c := range held {
		if err := pc.AddICECandidate(c); err != nil {
			t.Fatal(err)
		}
	}
	session = sess
	for _, c := range early {
		if err := sess.AddICECandidate(c); err != nil {
			t.Fatal(err)
		}
	}
	mu.Unlock()
	if err := sess.AddICECandidate(pion.ICECandidateInit{}); err != nil { // end-of-candidates
		t.Fatal(err)
	}
	select {
	case key := <-firstKey:
		if !key {
			t.Fatal("first frame after connect is not a key frame with SPS")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no video after trickle")
	}
	deadline := time.Now().Add(5 * time.Second)
	for (video.Load() < 10 || audio.Load() < 10) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if video.Load() < 10 || audio.Load() < 10 || fromServer.Load() == 0 {
		t.Fatalf("video %d, audio %d, server candidates trickled %d", video.Load(), audio.Load(), fromServer.Load())
	}
	// Reported, not asserted (timing belongs in benchmarks); the sample
	// builder holds a frame until the next one starts, so this includes
	// one frame time.
	t.Logf("first picture %v after the server saw the connection", time.Unix(0, firstAt.Load()).Sub(sess.ConnectedAt()))
	sess.Close()
	if !errors.Is(sess.Err(), webrtc.ErrSessionClosed) {
		t.Fatalf("reason %v", sess.Err())
	}
}

// TestSetupTimeout: a session whose peer never connects is torn down.
func TestSetupTimeout(t *testing.T) {
	srv := newTestServer(t, webrtc.Config{SetupTimeout: 300 * time.Millisecond})
	pc := newPeer(t)
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	closed := make(chan error, 1)
	// The offer is never answered on the viewer side, so ICE cannot
	// complete.
	sess, err := srv.NewSession(offer.SDP, webrtc.SessionOptions{OnClose: func(r error) { closed <- r }})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-closed:
		if !errors.Is(r, webrtc.ErrSetupTimeout) {
			t.Fatalf("reason %v, want ErrSetupTimeout", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("session not torn down after the setup timeout")
	}
	<-sess.Done()
	if srv.Len() != 0 {
		t.Fatalf("%d sessions left", srv.Len())
	}
}

// TestICEFailureTearsDown: a viewer that vanishes without a word (its
// process is killed) is detected by ICE and its session released.
func TestICEFailureTearsDown(t *testing.T) {
	srv := newTestServer(t, webrtc.Config{ICEDisconnectedTimeout: 500 * time.Millisecond, ICEFailedTimeout: time.Second})
	hs := httptest.NewServer(whep.New(srv, whep.Config{}))
	defer hs.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestFanoutViewers$", "-test.timeout=60s")
	cmd.Env = append(os.Environ(), "FANOUT_URL="+hs.URL+"/whep", "FANOUT_VIEWERS=2")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, func() bool { return srv.Len() == 2 }, "two viewers")
	time.Sleep(300 * time.Millisecond) // let media flow
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait() // killed: its exit status is the signal
	waitFor(t, 10*time.Second, func() bool { return srv.Len() == 0 }, "sessions released after ICE failure")
}

func waitFor(t *testing.T, d time.Duration, cond func() bool, what string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
