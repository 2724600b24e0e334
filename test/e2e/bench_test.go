package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mattercam/mattercam/webrtc/whep"
)

// benchRuns is how many commissionings each device gets; the median is
// reported.
const benchRuns = 5

// BenchmarkCommission compares how long one matter.js controller takes
// to commission mattercam and a matter.js on/off light in the same run
// (median of benchRuns each, PASE through the initial wildcard read).
// One op is the whole comparison.
func BenchmarkCommission(b *testing.B) {
	for b.Loop() {
		fw := startFirmware(b, b.TempDir(), freePort(b))
		ours := commissionTimes(b, fw.port)

		jsPort := freePort(b)
		js := exec.Command("node", "e2e/jsdevice.mjs", "--port="+strconv.Itoa(jsPort))
		js.Dir = ".."
		js.Env = append(os.Environ(), "MATTER_PATH_ROOT="+b.TempDir())
		out, err := js.StdoutPipe()
		if err != nil {
			b.Fatal(err)
		}
		if err := js.Start(); err != nil {
			b.Fatal(err)
		}
		ready := make(chan struct{})
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				if strings.Contains(sc.Text(), `"step":"ready"`) {
					close(ready)
				}
			}
		}()
		select {
		case <-ready:
		case <-time.After(30 * time.Second):
			b.Fatal("matter.js device did not start")
		}
		peer := commissionTimes(b, jsPort)
		_ = js.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = js.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = js.Process.Kill()
			<-done
		}
		b.ReportMetric(ours, "mattercam-ms")
		b.ReportMetric(peer, "matterjs-ms")
		b.ReportMetric(peer/ours, "x-faster")
	}
}

// commissionTimes runs bench.mjs against a device and returns the median
// commissioning time in milliseconds.
func commissionTimes(b *testing.B, port int) float64 {
	b.Helper()
	cmd := exec.Command("node", "e2e/bench.mjs", "--address=127.0.0.1", "--port="+strconv.Itoa(port), "--runs="+strconv.Itoa(benchRuns))
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "MATTER_PATH_ROOT="+b.TempDir())
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("bench.mjs: %v\n%s", err, out)
	}
	var r struct {
		Value []float64 `json:"value"`
	}
	for line := range strings.Lines(string(out)) {
		if strings.Contains(line, `"step":"bench"`) {
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				b.Fatal(err)
			}
		}
	}
	if len(r.Value) != benchRuns {
		b.Fatalf("got %d commissioning times, want %d", len(r.Value), benchRuns)
	}
	slices.Sort(r.Value)
	return r.Value[benchRuns/2]
}

// benchSessions is how many sessions each latency median is taken over.
const benchSessions = 10

// BenchmarkWebRTCSession measures, on one camera, how long a controller
// waits (median of benchSessions sessions, spec digest §4.1):
//   - from sending ProvideOffer until the camera's Answer reaches its
//     requestor (offer-to-answer-ms), and
//   - until the viewer has the first decodable picture, an IDR access
//     unit with SPS and PPS (offer-to-frame-ms);
//
// and, as the peer in the same run, how long the same firmware's WHEP
// endpoint takes from the viewer's offer to the first picture
// (whep-offer-to-frame-ms): the same WebRTC stack without Matter, so the
// ratio is the cost of signalling over Matter.
func BenchmarkWebRTCSession(b *testing.B) {
	for b.Loop() {
		whepAddr := "127.0.0.1:" + strconv.Itoa(freePort(b))
		c := startCamera(b, "-whep-listen="+whepAddr)
		var answer, frame, peer []float64
		for range benchSessions {
			v := newViewer(b, viewerOptions{})
			offer := v.offer(true)
			t0 := time.Now()
			var po struct {
				WebRtcSessionID int `json:"webRtcSessionId"`
			}
			if st := c.b.invoke("a", "webrtc", "provideOffer", c.offerFields(offer), &po); st != 0 {
				b.Fatalf("ProvideOffer: status 0x%02X", st)
			}
			ans := c.b.waitEvent("answer", po.WebRtcSessionID, 15*time.Second)
			answer = append(answer, ms(ans.At.Sub(t0)))
			v.setAnswer(ans.SDP)
			s := &session{id: po.WebRtcSessionID, ctl: "a", v: v, stop: trickle(b, c.b, "a", po.WebRtcSessionID, v)}
			v.waitMedia(1, 0, 20*time.Second)
			aus, _ := v.received()
			if !isKey(aus[0]) {
				b.Fatal("the first access unit is not a key frame")
			}
			v.mu.Lock()
			frame = append(frame, ms(v.firstAU.Sub(t0)))
			v.mu.Unlock()
			c.endSession(b, s)
			v.close()
		}
		for range benchSessions {
			peer = append(peer, whepFirstFrame(b, "http://"+whepAddr+"/whep"))
		}
		a, f, p := median(answer), median(frame), median(peer)
		b.ReportMetric(a, "offer-to-answer-ms")
		b.ReportMetric(f, "offer-to-frame-ms")
		b.ReportMetric(p, "whep-offer-to-frame-ms")
	}
}

// whepFirstFrame subscribes over WHEP and returns the milliseconds from
// the start of the offer to the first access unit.
func whepFirstFrame(b *testing.B, url string) float64 {
	b.Helper()
	ctx, cancel := context.WithTimeout(b.Context(), 20*time.Second)
	defer cancel()
	first := make(chan time.Time, 1)
	t0 := time.Now()
	v, err := whep.Subscribe(ctx, url, whep.ViewerOptions{Audio: true, OnVideo: func([]byte, uint32) {
		select {
		case first <- time.Now():
		default:
		}
	}})
	if err != nil {
		b.Fatalf("whep: %v", err)
	}
	defer v.Close(context.Background())
	select {
	case at := <-first:
		return ms(at.Sub(t0))
	case <-ctx.Done():
		b.Fatal("whep: no picture")
		return 0
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
