package e2e

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
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
