package webrtc_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pion/interceptor"
	pion "github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/mattercam/mattercam/capture"
	"github.com/mattercam/mattercam/webrtc"
	"github.com/mattercam/mattercam/webrtc/whep"
)

// pacedSource plays a synthetic 1080p-like GOP (one ~200 KB IDR, 29
// ~15 KB P frames, about 5.2 Mbit/s) in real time at 30 fps. The bytes are
// not decodable; the transport does not care.
type pacedSource struct {
	gop   [][]byte
	start time.Time
	n     int
	pos   int
	key   atomic.Bool
}

func newPacedSource() *pacedSource {
	nal := func(hdr byte, size int) []byte {
		b := make([]byte, size)
		b[0], b[1], b[2], b[3], b[4] = 0, 0, 0, 1, hdr
		for i := 5; i < size; i++ {
			b[i] = byte(i%251) + 1
		}
		return b
	}
	gop := make([][]byte, 30)
	gop[0] = append(append(nal(0x67, 24), nal(0x68, 8)...), nal(0x65, 200_000)...)
	for i := 1; i < 30; i++ {
		gop[i] = nal(0x41, 15_000)
	}
	return &pacedSource{gop: gop, start: time.Now()}
}

func (s *pacedSource) Format() capture.VideoFormat {
	return capture.VideoFormat{Codec: "H264", Width: 1920, Height: 1080, FrameRate: 30, ProfileLevelID: "42e01f"}
}

func (s *pacedSource) ReadAccessUnit(ctx context.Context) (capture.AccessUnit, error) {
	due := s.start.Add(time.Duration(s.n) * time.Second / 30)
	t := time.NewTimer(time.Until(due))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return capture.AccessUnit{}, ctx.Err()
	case <-t.C:
	}
	if s.key.Swap(false) {
		s.pos = 0
	}
	au := capture.NewAccessUnit(s.gop[s.pos], time.Duration(s.n)*time.Second/30, s.pos == 0, nil)
	s.pos = (s.pos + 1) % len(s.gop)
	s.n++
	return au, nil
}

func (s *pacedSource) RequestKeyFrame() { s.key.Store(true) }
func (s *pacedSource) Close() error     { return nil }

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// fanoutBaseline is the 0-viewer cost measured earlier in the same run,
// per implementation.
var fanoutBaseline = map[string]float64{}

// BenchmarkFanout measures the camera side's CPU per viewer: N WHEP
// viewers in a separate process (so their receive work is not counted)
// watch a 5.2 Mbit/s stream for fanoutWindow; one op is the whole window.
// Reported: cpu-% of one core for the server process, and the marginal
// cpu-% per viewer against the 0-viewer run.
func BenchmarkFanout(b *testing.B) {
	for _, n := range []int{0, 1, 4, 8} {
		b.Run(fmt.Sprintf("viewers=%d", n), func(b *testing.B) {
			srv, err := webrtc.NewServer(webrtc.Config{MaxSessions: 16}, newPacedSource(), nil)
			if err != nil {
				b.Fatal(err)
			}
			defer srv.Close()
			benchFanout(b, "ours", whep.New(srv, whep.Config{}), srv.Len, n)
		})
	}
}

// BenchmarkPionFanout is the peer: pion's own shared
// TrackLocalStaticSample (its H264Payloader, one packetisation per frame
// written to every PeerConnection) fed by the same source, behind a
// minimal WHEP POST handler.
func BenchmarkPionFanout(b *testing.B) {
	for _, n := range []int{0, 1, 4, 8} {
		b.Run(fmt.Sprintf("viewers=%d", n), func(b *testing.B) {
			p, err := newPionPeer()
			if err != nil {
				b.Fatal(err)
			}
			defer p.close()
			benchFanout(b, "pion", p, p.len, n)
		})
	}
}

const fanoutWindow = 3 * time.Second

func benchFanout(b *testing.B, impl string, h http.Handler, live func() int, viewers int) {
	hs := httptest.NewServer(h)
	defer hs.Close()

	var cmd *exec.Cmd
	if viewers > 0 {
		cmd = exec.Command(os.Args[0], "-test.run=^TestFanoutViewers$", "-test.timeout=60s")
		cmd.Env = append(os.Environ(), "FANOUT_URL="+hs.URL+"/whep", "FANOUT_VIEWERS="+strconv.Itoa(viewers))
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		defer func() {
			_ = cmd.Process.Signal(syscall.SIGTERM) // the helper exits on it
			_ = cmd.Wait()
		}()
		deadline := time.Now().Add(20 * time.Second)
		for live() < viewers && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if live() < viewers {
			b.Fatalf("%d of %d viewers connected", live(), viewers)
		}
		time.Sleep(time.Second) // past the first key frame burst
	}
	var pct float64
	for b.Loop() {
		c0, t0 := cpuTime(), time.Now()
		time.Sleep(fanoutWindow)
		pct = 100 * float64(cpuTime()-c0) / float64(time.Since(t0))
	}
	b.ReportMetric(pct, "cpu-%")
	if viewers == 0 {
		fanoutBaseline[impl] = pct
	} else {
		b.ReportMetric((pct-fanoutBaseline[impl])/float64(viewers), "cpu-%/viewer")
	}
}

// TestFanoutViewers is the viewer process of BenchmarkFanout; it does
// nothing unless started by it.
func TestFanoutViewers(t *testing.T) {
	url := os.Getenv("FANOUT_URL")
	if url == "" {
		return
	}
	n, _ := strconv.Atoi(os.Getenv("FANOUT_VIEWERS"))
	ctx := context.Background()
	var frames atomic.Int64
	for range n {
		v, err := whep.Subscribe(ctx, url, whep.ViewerOptions{OnVideo: func([]byte, uint32) { frames.Add(1) }})
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close(ctx)
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM)
	<-stop
}

// pionPeer serves WHEP POSTs with pion's stock shared sample track.
type pionPeer struct {
	api    *pion.API
	track  *pion.TrackLocalStaticSample
	src    *pacedSource
	cancel context.CancelFunc
	done   chan struct{}

	mu  sync.Mutex
	pcs []*pion.PeerConnection
}

func newPionPeer() (*pionPeer, error) {
	m := &pion.MediaEngine{}
	codec := pion.RTPCodecCapability{MimeType: pion.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}
	if err := m.RegisterCodec(pion.RTPCodecParameters{RTPCodecCapability: codec, PayloadType: 102}, pion.RTPCodecTypeVideo); err != nil {
		return nil, err
	}
	ir := &interceptor.Registry{}
	if err := pion.RegisterDefaultInterceptors(m, ir); err != nil {
		return nil, err
	}
	var se pion.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	track, err := pion.NewTrackLocalStaticSample(codec, "video", "pion")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &pionPeer{api: pion.NewAPI(pion.WithMediaEngine(m), pion.WithInterceptorRegistry(ir), pion.WithSettingEngine(se)),
		track: track, src: newPacedSource(), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for {
			au, err := p.src.ReadAccessUnit(ctx)
			if err != nil {
				return
			}
			_ = p.track.WriteSample(media.Sample{Data: au.Data, Duration: time.Second / 30}) // as in pion's examples
		}
	}()
	return p, nil
}

func (p *pionPeer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	offer, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	pc, err := p.api.NewPeerConnection(pion.Configuration{})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	p.mu.Lock()
	p.pcs = append(p.pcs, pc)
	p.mu.Unlock()
	snd, err := pc.AddTrack(p.track)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	go func() { // pion needs RTCP read for NACK and PLI
		for {
			if _, _, err := snd.ReadRTCP(); err != nil {
				return
			}
		}
	}()
	if err := pc.SetRemoteDescription(pion.SessionDescription{Type: pion.SDPTypeOffer, SDP: string(offer)}); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	gathered := pion.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	<-gathered
	w.Header().Set("Location", "/whep/x")
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, pc.LocalDescription().SDP)
}

func (p *pionPeer) len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, pc := range p.pcs {
		if pc.ConnectionState() == pion.PeerConnectionStateConnected {
			n++
		}
	}
	return n
}

func (p *pionPeer) close() {
	p.cancel()
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pc := range p.pcs {
		_ = pc.Close()
	}
}
