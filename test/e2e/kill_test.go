package e2e

import (
	"bufio"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestKill9DuringCommissioning kills the firmware with SIGKILL at random
// moments while matter.js commissions it, 20 times over one state
// directory. After every kill the firmware must start again from what it
// left on disk and be either commissioned or commissionable — never
// stuck in between (a half-done commissioning is uncommitted, so it is
// gone after the restart, as a fail-safe expiry would leave it).
func TestKill9DuringCommissioning(t *testing.T) {
	if _, err := os.Stat("../node_modules/@matter/main"); err != nil {
		t.Fatal("matter.js is not installed: run `make deps` (npm ci in test/)")
	}
	state, port := t.TempDir(), freePort(t)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0x6d61747465726361))
	var commissioned, commissionable int
	for i := range 20 {
		fw := startFirmware(t, state, port)
		ctl := exec.Command("node", "e2e/commission.mjs", "--address=127.0.0.1", "--port="+strconv.Itoa(port), "--steps=commission")
		ctl.Dir = ".."
		ctl.Env = append(os.Environ(), "MATTER_PATH_ROOT="+t.TempDir())
		out, err := ctl.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := ctl.Start(); err != nil {
			t.Fatal(err)
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
			t.Fatal("controller never became ready")
		}
		// PASE to CommissioningComplete takes about 0.3 s from here on
		// loopback; the kill lands anywhere in it, or just after.
		delay := time.Duration(rng.Int64N(int64(400 * time.Millisecond)))
		time.Sleep(delay)
		if err := fw.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		<-fw.done
		_ = ctl.Process.Kill()
		_ = ctl.Wait()

		fw = startFirmware(t, state, port)
		log := fw.stderr.String()
		switch {
		case strings.Contains(log, "commissioned=true"):
			commissioned++
			fw.stop(t)
			reset := exec.Command(binary, "reset", "-state-dir", state)
			if b, err := reset.CombinedOutput(); err != nil {
				t.Fatalf("reset: %v\n%s", err, b)
			}
		case strings.Contains(log, "commissioning window open"):
			commissionable++
			fw.stop(t)
		default:
			t.Fatalf("kill %d after %v: restarted firmware is neither commissioned nor commissionable:\n%s", i, delay, log)
		}
	}
	t.Logf("after 20 kills: %d commissioned, %d commissionable", commissioned, commissionable)
	if commissioned+commissionable != 20 {
		t.Fatal("lost iterations")
	}
}
