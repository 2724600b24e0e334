package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Scenarios with matter.js against the real binary: NodeLabel write,
// subscription report and persistence across a restart; a wrong passcode;
// access control denying a subject without privilege; two controllers on
// two fabrics (known address, and DNS-SD discovery of the enhanced
// window); two subscriptions sent back to back. The matter.js side is in
// nodelabel.mjs, badpasscode.mjs, acl.mjs, twofabrics.mjs and
// concurrentsubscribe.mjs (shared code in lib.mjs).

// scenarioTimeout bounds one controller run; a run that hangs is killed
// and fails the test.
const scenarioTimeout = 60 * time.Second

// runScript runs a matter.js script with MATTER_PATH_ROOT=root (so two
// runs can share the controller's storage) and returns its steps by name,
// failing the test for every failed step and a non-zero exit.
func runScript(t *testing.T, root, script string, args ...string) map[string]stepResult {
	t.Helper()
	if _, err := os.Stat("../node_modules/@matter/main"); err != nil {
		t.Fatal("matter.js is not installed: run `make deps` (npm ci in test/)")
	}
	cmd := exec.Command("node", append([]string{script}, args...)...)
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "MATTER_PATH_ROOT="+root)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Armed before reading, so a hanging script cannot hang the test.
	timer := time.AfterFunc(scenarioTimeout, func() { _ = cmd.Process.Kill() })
	defer timer.Stop()
	steps := map[string]stepResult{}
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r stepResult
		if json.Unmarshal(sc.Bytes(), &r) != nil || r.Step == "" {
			continue
		}
		steps[r.Step] = r
		if r.OK {
			t.Logf("%s: %d ms %s", r.Step, r.MS, r.Value)
		} else {
			t.Errorf("%s failed: %s", r.Step, r.Error)
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("%s: %v\n%s", script, err, tail(stderr.String(), 40))
	}
	return steps
}

// requireSteps fails the test unless every named step passed.
func requireSteps(t *testing.T, steps map[string]stepResult, names ...string) {
	t.Helper()
	for _, s := range names {
		if !steps[s].OK {
			t.Fatalf("step %s did not pass", s)
		}
	}
}

// waitLog waits until the firmware log holds want at least n times.
func waitLog(t *testing.T, fw *firmware, want string, n int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for strings.Count(fw.stderr.String(), want) < n {
		if time.Now().After(deadline) {
			t.Fatalf("firmware log: %q seen %d times, want %d:\n%s", want, strings.Count(fw.stderr.String(), want), n, tail(fw.stderr.String(), 30))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func alive(t *testing.T, fw *firmware) {
	t.Helper()
	select {
	case err := <-fw.done:
		fw.done <- err
		t.Fatalf("firmware exited: %v\n%s", err, tail(fw.stderr.String(), 30))
	default:
	}
}

// TestNodeLabelPersistsAcrossRestart: matter.js commissions, subscribes to
// BasicInformation.NodeLabel, writes "kitchen" and gets the new value in a
// DataReport of that subscription; it closes without decommissioning. The
// firmware restarts on the same state directory; a second controller run
// on the same controller storage reaches the peer over CASE alone (the
// device is not commissionable, so PASE is impossible), reads "kitchen",
// and decommissions; the device opens its commissioning window again.
func TestNodeLabelPersistsAcrossRestart(t *testing.T) {
	state, root, port := t.TempDir(), t.TempDir(), freePort(t)
	const label = "kitchen"
	fw := startFirmware(t, state, port)
	steps := runScript(t, root, "e2e/nodelabel.mjs", "--phase=write", "--label="+label, "--address=127.0.0.1", "--port="+strconv.Itoa(port))
	requireSteps(t, steps, "commission", "auto-subscription", "subscribe", "write-nodelabel", "report-nodelabel", "auto-report-nodelabel", "read-nodelabel")
	var reports []string
	if err := json.Unmarshal(steps["report-nodelabel"].Value, &reports); err != nil || len(reports) < 2 || reports[0] != "" || reports[len(reports)-1] != label {
		t.Fatalf("subscription reports %s (%v): want the priming \"\" then %q", steps["report-nodelabel"].Value, err, label)
	}
	if n := strings.Count(fw.stderr.String(), "commissioning window open"); n != 1 {
		t.Fatalf("commissioning window opened %d times before the restart; the controller must not have decommissioned", n)
	}

	fw.stop(t)
	if t.Failed() {
		return
	}
	fw = startFirmware(t, state, port)
	if log := fw.stderr.String(); !strings.Contains(log, "commissioned=true") || strings.Contains(log, "commissioning window open") {
		t.Fatalf("after the restart the device should be commissioned and not commissionable:\n%s", tail(log, 20))
	}
	steps = runScript(t, root, "e2e/nodelabel.mjs", "--phase=verify", "--label="+label, "--address=127.0.0.1", "--port="+strconv.Itoa(port))
	requireSteps(t, steps, "known-peer", "read-nodelabel", "decommission")
	waitLog(t, fw, "commissioning window open", 1, 5*time.Second)
	if strings.Contains(fw.stderr.String(), "fabric added") {
		t.Fatal("the second run commissioned again instead of reusing the fabric")
	}
}

// TestWrongPasscode: commissioning with passcode 20202022 (the device's is
// 20202021) fails in PASE within a bounded time, the firmware keeps running
// and stays commissionable, and commissioning with the right passcode then
// succeeds.
func TestWrongPasscode(t *testing.T) {
	state := t.TempDir()
	fw := startFirmwareWith(t, state, freePort(t), "-factory", filepath.Join(state, "absent-factory.json"), "-log-level", "debug")
	addr := []string{"--address=127.0.0.1", "--port=" + strconv.Itoa(fw.port)}
	steps := runScript(t, t.TempDir(), "e2e/badpasscode.mjs", append(addr, "--passcode=20202022", "--within-ms=15000")...)
	requireSteps(t, steps, "commission-refused")
	if ms := steps["commission-refused"].MS; ms > 15000 {
		t.Fatalf("refusal took %d ms", ms)
	}
	time.Sleep(200 * time.Millisecond)
	alive(t, fw)
	log := fw.stderr.String()
	pase := false
	for _, l := range strings.Split(log, "\n") {
		pase = pase || strings.Contains(l, `msg="handshake failed"`) && strings.Contains(l, `err="pase:`)
	}
	if !pase {
		t.Errorf("firmware did not log the failed PASE:\n%s", tail(log, 20))
	}
	if strings.Contains(log, "fabric added") || strings.Contains(log, "commissioning window timed out") {
		t.Fatalf("unexpected commissioning state after a wrong passcode:\n%s", tail(log, 20))
	}

	steps = runScript(t, t.TempDir(), "e2e/commission.mjs", addr...)
	requireSteps(t, steps, "commission", "read-basic", "decommission")
	waitLog(t, fw, "commissioning window open", 2, 5*time.Second)
}

// TestACLUnsupportedAccess: the administrator narrows its own ACL entry to
// Administer on the Access Control cluster plus View everywhere; then a
// NodeLabel write (Manage) and ArmFailSafe (Administer) get
// UNSUPPORTED_ACCESS (0x7E) while a read succeeds; with only another node
// granted View, the read gets 0x7E too; restoring the admin entry makes
// the write succeed.
func TestACLUnsupportedAccess(t *testing.T) {
	fw := startFirmware(t, t.TempDir(), freePort(t))
	steps := runScript(t, t.TempDir(), "e2e/acl.mjs", "--address=127.0.0.1", "--port="+strconv.Itoa(fw.port))
	requireSteps(t, steps, "commission", "read-acl", "acl-downgrade-to-view", "write-nodelabel-denied",
		"invoke-armfailsafe-denied", "read-nodelabel-allowed", "acl-view-for-other-node", "read-nodelabel-denied",
		"acl-restore", "write-nodelabel-allowed", "decommission")
	for _, s := range []string{"write-nodelabel-denied", "invoke-armfailsafe-denied"} {
		if v := string(steps[s].Value); v != "126" {
			t.Errorf("%s: status %s, want 126 (UNSUPPORTED_ACCESS)", s, v)
		}
	}
	var denied struct{ Status int }
	if err := json.Unmarshal(steps["read-nodelabel-denied"].Value, &denied); err != nil || denied.Status != 0x7E {
		t.Errorf("read-nodelabel-denied: %s, want status 126", steps["read-nodelabel-denied"].Value)
	}
	waitLog(t, fw, "commissioning window open", 2, 5*time.Second)
}

// TestTwoFabrics: controller A commissions, opens an enhanced
// commissioning window with a passcode of its own, controller B
// commissions with it onto a second fabric; each sees only its own fabric
// and NOC in fabric-filtered reads; B leaves, A still works and sees one
// fabric, then A decommissions.
func TestTwoFabrics(t *testing.T) {
	fw := startFirmware(t, t.TempDir(), freePort(t))
	steps := runScript(t, t.TempDir(), "e2e/twofabrics.mjs", "--address=127.0.0.1", "--port="+strconv.Itoa(fw.port))
	requireSteps(t, steps, "a-commission", "a-open-window", "b-commission", "window-closed", "a-own-fabric",
		"b-own-fabric", "a-all-fabrics", "b-decommission", "a-after-b-left", "a-decommission")
	log := fw.stderr.String()
	for _, want := range []string{
		`msg="commissioning window opened" component=matter component=administratorcommissioning fabric=1`,
		`msg="fabric added" component=matter component=operationalcredentials fabric=2`,
		`msg="fabric removed" component=matter component=operationalcredentials fabric=2`,
	} {
		if !strings.Contains(log, want) {
			t.Errorf("firmware log lacks %s", want)
		}
	}
	waitLog(t, fw, "commissioning window open", 2, 5*time.Second)
}

// TestEnhancedWindowDiscovery: controller B finds the enhanced window
// that controller A opened by mDNS, by the discriminator A chose.
func TestEnhancedWindowDiscovery(t *testing.T) {
	fw := startFirmware(t, t.TempDir(), freePort(t))
	steps := runScript(t, t.TempDir(), "e2e/twofabrics.mjs", "--address=127.0.0.1", "--port="+strconv.Itoa(fw.port), "--b-discover=true")
	requireSteps(t, steps, "a-commission", "a-open-window", "b-commission", "b-decommission", "a-decommission")
}

// TestConcurrentSubscribe: matter.js sends two SubscribeRequests on one
// session 1 ms apart, KeepSubscriptions false then true, ten rounds; the
// second must be established every round (it came after the first, so the
// first may not end it, Core §8.5.1) and the first too.
func TestConcurrentSubscribe(t *testing.T) {
	fw := startFirmware(t, t.TempDir(), freePort(t))
	steps := runScript(t, t.TempDir(), "e2e/concurrentsubscribe.mjs", "--address=127.0.0.1",
		"--port="+strconv.Itoa(fw.port), "--rounds=10", "--within-ms=3000")
	names := []string{"commission"}
	for i := 1; i <= 10; i++ {
		names = append(names, "round-"+strconv.Itoa(i))
	}
	requireSteps(t, steps, append(names, "decommission")...)
}

// TestFailSafeExpiryRollsBack: matter.js commissions up to AddNOC over
// PASE and stops there; the device's fail-safe (armed for 4 s, at most 5 s
// in total, however matter.js re-arms it) expires and removes
// the fabric, its root, NOC and ACL (Core §11.10.7.2.2); a second
// controller then commissions with the same passcode and finds only its
// own fabric.
func TestFailSafeExpiryRollsBack(t *testing.T) {
	state := t.TempDir()
	port := freePort(t)
	fw := startFirmwareWith(t, state, port, "-failsafe-expiry=4s", "-failsafe-max-cumulative=5s")
	steps := runScript(t, t.TempDir(), "e2e/failsafe.mjs", "--address=127.0.0.1", "--port="+strconv.Itoa(port), "--wait-ms=6000")
	requireSteps(t, steps, "a-half-commission", "wait-expiry", "b-commission", "b-one-fabric", "b-acl-own-only",
		"b-breadcrumb", "decommission")
	log := fw.stderr.String()
	for _, want := range []string{`msg="fail-safe expired"`, `removed=1`} {
		if !strings.Contains(log, want) {
			t.Errorf("firmware log lacks %s", want)
		}
	}
	waitLog(t, fw, "commissioning window open", 2, 5*time.Second)
}
