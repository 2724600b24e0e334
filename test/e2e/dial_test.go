package e2e

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestDeviceDialsController: the device acts as a client of its controller
// through device.Peer (matter/device/peer.go). The device is the test-only
// program internal/dialdevice (matter/device in-process, so that the test
// can drive Peer); the controller is a matter.js ServerNode listening on UDP
// and TCP with a WebRTC Transport Requestor endpoint (dial.mjs).
//
//   - matter.js commissions the device; the device learns the controller's
//     node ID and address from the CASE session the controller opens;
//   - the device reads the controller's Basic Information over that
//     session (reused, no dial);
//   - the device invokes WebRTC Requestor Offer and End, Large Message
//     commands: it dials the controller over TCP at the remembered address,
//     four concurrent callers sharing one dial, and matter.js sees both
//     commands arrive over TCP;
//   - stopped, the device closes the session it opened.
func TestDeviceDialsController(t *testing.T) { dialScenario(t, false) }

// TestDeviceDialsControllerByDNSSD: as TestDeviceDialsController, then the
// device closes every session with the controller and forgets its address
// (Device.ResetPeer); the next Peer call can only find the controller
// through operational discovery, the "_matter._tcp" instance matter.js
// advertises for its own fabric, and reads its Basic Information over a
// new TCP session.
func TestDeviceDialsControllerByDNSSD(t *testing.T) { dialScenario(t, true) }

func dialScenario(t *testing.T, discover bool) {
	if _, err := os.Stat("../node_modules/@matter/main"); err != nil {
		t.Fatal("matter.js is not installed: run `make deps` (npm ci in test/)")
	}
	bin := filepath.Join(t.TempDir(), "dialdevice")
	build := exec.Command("go", "build", "-o", bin, "./internal/dialdevice")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build dialdevice: %v\n%s", err, out)
	}
	devPort, ctrlPort := freePort(t), freePort(t)
	const webrtcSession = 42

	dev := exec.Command(bin, "-state-dir", t.TempDir(), "-port", strconv.Itoa(devPort), "-webrtc-session", strconv.Itoa(webrtcSession),
		"-discover="+strconv.FormatBool(discover))
	devLog := new(syncBuffer)
	dev.Stderr = devLog
	stdin, err := dev.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	devOut, err := dev.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := dev.Start(); err != nil {
		t.Fatal(err)
	}
	ctrlLog := new(syncBuffer)
	devDone := make(chan error, 1)
	events := make(chan map[string]any, 16)
	go func() {
		sc := bufio.NewScanner(devOut)
		for sc.Scan() {
			var ev map[string]any
			if json.Unmarshal(sc.Bytes(), &ev) == nil {
				events <- ev
			}
		}
		close(events)
		devDone <- dev.Wait()
	}()
	defer func() {
		if dev.ProcessState == nil {
			_ = dev.Process.Kill()
			<-devDone
		}
		if t.Failed() {
			t.Logf("device log:\n%s", tail(devLog.String(), 80))
			t.Logf("controller log:\n%s", tail(ctrlLog.String(), 80))
		}
	}()
	got := map[string]map[string]any{}
	next := func(within time.Duration) map[string]any {
		t.Helper()
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("device exited")
			}
			t.Logf("device: %v", ev)
			got[ev["event"].(string)] = ev
			return ev
		case <-time.After(within):
			t.Fatal("no event from the device")
		}
		return nil
	}
	if ev := next(15 * time.Second); ev["event"] != "up" {
		t.Fatalf("first event %v", ev)
	}

	// The controller script; its steps stream while the device works.
	ctrl := exec.Command("node", "e2e/dial.mjs", "--address=127.0.0.1", "--port="+strconv.Itoa(devPort),
		"--listen="+strconv.Itoa(ctrlPort), "--session="+strconv.Itoa(webrtcSession))
	ctrl.Dir = ".."
	ctrl.Env = append(os.Environ(), "MATTER_PATH_ROOT="+t.TempDir(), "MATTER_LOG_LEVEL="+cmpOr(os.Getenv("MATTER_LOG_LEVEL"), "warn"))
	ctrl.Stderr = ctrlLog
	ctrlIn, err := ctrl.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	ctrlOut, err := ctrl.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := ctrl.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(scenarioTimeout+30*time.Second, func() { _ = ctrl.Process.Kill() })
	defer timer.Stop()
	defer func() {
		if ctrl.ProcessState == nil {
			_ = ctrl.Process.Kill()
			_ = ctrl.Wait()
		}
	}()
	steps := map[string]stepResult{}
	stepsDone := make(chan struct{})
	sawTCP := make(chan struct{})
	go func() {
		defer close(stepsDone)
		sc := bufio.NewScanner(ctrlOut)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var r stepResult
			if json.Unmarshal(sc.Bytes(), &r) != nil || r.Step == "" {
				// matter.js logs on stdout.
				_, _ = ctrlLog.Write(append(sc.Bytes(), '\n'))
				continue
			}
			steps[r.Step] = r
			if r.OK {
				t.Logf("controller %s: %d ms %s", r.Step, r.MS, r.Value)
			} else {
				t.Errorf("controller %s failed: %s", r.Step, r.Error)
			}
			if r.Step == "device-tcp-session" {
				close(sawTCP)
			}
		}
		_, _ = io.Copy(io.Discard, ctrlOut)
	}()

	for _, want := range []string{"peer", "read", "invoke"} {
		ev := next(60 * time.Second)
		if ev["event"] != want || ev["error"] != nil {
			t.Fatalf("device event %v, want %s", ev, want)
		}
	}
	select {
	case <-sawTCP:
	case <-stepsDone:
	}
	if discover {
		if ev := next(60 * time.Second); ev["event"] != "discover" || ev["error"] != nil {
			t.Fatalf("device event %v, want discover", ev)
		}
	}
	// Both sides are done: stop the device, which closes the session it
	// opened, while matter.js watches.
	stdin.Close()
	ctrlIn.Close()
	<-stepsDone
	if err := ctrl.Wait(); err != nil {
		t.Errorf("dial.mjs: %v\n%s", err, tail(ctrlLog.String(), 40))
	}
	stdin.Close()
	for {
		ev, ok := <-events
		if !ok {
			break
		}
		t.Logf("device: %v", ev)
		got[ev["event"].(string)] = ev
	}
	select {
	case err := <-devDone:
		if err != nil {
			t.Errorf("device exit: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("device did not exit")
	}
	requireSteps(t, steps, "commission", "grant-view", "register-session", "offer", "end", "device-tcp-session", "device-closed-session")

	// The read reused the controller's own UDP session.
	read := got["read"]
	values, _ := read["values"].(map[string]any)
	if read["network"] != "udp" || read["role"] != "responder" || values["vendorId"] == nil || values["productName"] == nil {
		t.Fatalf("read %v: want BasicInformation over the controller's UDP session", read)
	}
	// The invokes went over one TCP session the device opened.
	inv := got["invoke"]
	if inv["network"] != "tcp" || inv["role"] != "initiator" || inv["sessions"] != float64(1) ||
		!strings.HasSuffix(inv["peer"].(string), ":"+strconv.Itoa(ctrlPort)) {
		t.Fatalf("invoke %v: want one TCP session opened by the device to port %d", inv, ctrlPort)
	}
	if _, ok := got["closed"]; !ok {
		t.Fatal("device did not report Close")
	}
	log := devLog.String()
	if !discover {
		if n := strings.Count(log, `msg="opened session"`); n != 1 || !strings.Contains(log, `address_from="last address"`) {
			t.Fatalf("%d sessions opened, want one to the remembered address", n)
		}
		return
	}
	disc := got["discover"]
	values, _ = disc["values"].(map[string]any)
	if disc["network"] != "tcp" || values["vendorId"] == nil || !strings.Contains(log, `address_from=DNS-SD`) {
		t.Fatalf("discover %v: want a read over a TCP session to an address DNS-SD gave", disc)
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
