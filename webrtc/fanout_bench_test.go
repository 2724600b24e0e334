package webrtc_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

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

// fanoutBaseline is the 0-viewer cost measured earlier in the same run.
var fanoutBaseline float64

// BenchmarkFanout measures the camera side's CPU per viewer: N WHEP
// viewers in a separate process (so their receive work is not counted)
// watch a 5.2 Mbit/s stream for fanoutWindow; one op is the whole window.
// Reported: cpu-% of one core for the server process, and the marginal
// cpu-% per viewer against the 0-viewer run.
func BenchmarkFanout(b *testing.B) {
	for _, n := range []int{0, 1, 4, 8} {
		b.Run(fmt.Sprintf("viewers=%d", n), func(b *testing.B) { benchFanout(b, n) })
	}
}

const fanoutWindow = 3 * time.Second

func benchFanout(b *testing.B, viewers int) {
	srv, err := webrtc.NewServer(webrtc.Config{MaxSessions: 16}, newPacedSource(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	hs := httptest.NewServer(whep.New(srv, whep.Config{}))
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
		for srv.Len() < viewers && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if srv.Len() < viewers {
			b.Fatalf("%d of %d viewers connected", srv.Len(), viewers)
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
		fanoutBaseline = pct
	} else {
		b.ReportMetric((pct-fanoutBaseline)/float64(viewers), "cpu-%/viewer")
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
