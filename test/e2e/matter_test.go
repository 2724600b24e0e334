// Package e2e drives the real mattercam binary with matter.js 0.17.9, a
// Matter controller nobody here wrote (test/package-lock.json pins it;
// `make deps` installs it).
package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// firmware is a running mattercam binary.
type firmware struct {
	cmd    *exec.Cmd
	port   int
	state  string
	stderr *syncBuffer
	done   chan error
}

// syncBuffer collects the firmware's log, written by exec's copying
// goroutine while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mattercam-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "mattercam")
	build := exec.Command("go", "build", "-o", binary, "../../cmd/mattercam")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// freePort finds a port free for both UDP and TCP.
func freePort(t testing.TB) int {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp", "[::]:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if u, err := net.ListenPacket("udp", "[::]:"+strconv.Itoa(port)); err == nil {
			u.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

func startFirmware(t testing.TB, state string, port int) *firmware {
	t.Helper()
	return startFirmwareWith(t, state, port, "-factory", filepath.Join(state, "absent-factory.json"))
}

func startFirmwareWith(t testing.TB, state string, port int, args ...string) *firmware {
	t.Helper()
	f := &firmware{port: port, state: state, stderr: new(syncBuffer), done: make(chan error, 1)}
	f.cmd = exec.Command(binary, append([]string{"-config", os.DevNull, "-state-dir", state, "-matter-port", strconv.Itoa(port)}, args...)...)
	f.cmd.Stderr = f.stderr
	f.cmd.Stdout = new(bytes.Buffer)
	if err := f.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { f.done <- f.cmd.Wait() }()
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(f.stderr.String(), "matter node up") {
		select {
		case err := <-f.done:
			t.Fatalf("firmware exited: %v\n%s", err, f.stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("firmware did not start:\n%s", f.stderr.String())
		}
	}
	t.Cleanup(func() { f.stop(t) })
	return f
}

func (f *firmware) stop(t testing.TB) {
	if f.cmd.ProcessState != nil {
		return
	}
	_ = f.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-f.done:
		if err != nil {
			t.Errorf("firmware exit: %v", err)
		}
	case <-time.After(10 * time.Second):
		_ = f.cmd.Process.Kill()
		<-f.done
		t.Error("firmware ignored SIGTERM")
	}
	if t.Failed() {
		t.Logf("firmware log:\n%s", tail(f.stderr.String(), 60))
	}
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

type stepResult struct {
	Step  string          `json:"step"`
	OK    bool            `json:"ok"`
	MS    int             `json:"ms"`
	Value json.RawMessage `json:"value"`
	Error string          `json:"error"`
}

// controller runs one matter.js script and returns its steps by name.
func controller(t *testing.T, script string, args ...string) map[string]stepResult {
	t.Helper()
	if _, err := os.Stat("../node_modules/@matter/main"); err != nil {
		t.Fatal("matter.js is not installed: run `make deps` (npm ci in test/)")
	}
	cmd := exec.Command("node", append([]string{script}, args...)...)
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "MATTER_PATH_ROOT="+t.TempDir())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	steps := map[string]stepResult{}
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r stepResult
		if json.Unmarshal(sc.Bytes(), &r) != nil {
			continue
		}
		steps[r.Step] = r
		if r.OK {
			t.Logf("%s: %d ms %s", r.Step, r.MS, r.Value)
		} else {
			t.Errorf("%s failed: %s", r.Step, r.Error)
		}
	}
	timer := time.AfterFunc(2*time.Minute, func() { _ = cmd.Process.Kill() })
	defer timer.Stop()
	if err := cmd.Wait(); err != nil {
		t.Errorf("controller: %v\n%s", err, tail(stderr.String(), 40))
	}
	return steps
}

// TestCommissionAtKnownAddress: matter.js commissions the binary at
// 127.0.0.1 and at ::1 (PASE, attestation, CSR, AddNOC, CASE,
// CommissioningComplete, its full wildcard read and subscription), reads
// Basic Information, decommissions; the device is commissionable again.
func TestCommissionAtKnownAddress(t *testing.T) {
	for _, addr := range []string{"127.0.0.1", "::1"} {
		t.Run(addr, func(t *testing.T) {
			fw := startFirmware(t, t.TempDir(), freePort(t))
			steps := controller(t, "e2e/commission.mjs", "--address="+addr, "--port="+strconv.Itoa(fw.port))
			for _, s := range []string{"commission", "read-basic", "cached-state", "decommission"} {
				if !steps[s].OK {
					t.Fatalf("step %s did not pass", s)
				}
			}
			var basic map[string]any
			if err := json.Unmarshal(steps["read-basic"].Value, &basic); err != nil {
				t.Fatal(err)
			}
			if basic["2"] != float64(0xFFF1) || basic["4"] != float64(0x8000) {
				t.Fatalf("VendorID/ProductID read %v", basic)
			}
			deadline := time.Now().Add(5 * time.Second)
			for strings.Count(fw.stderr.String(), "commissioning window open") < 2 {
				if time.Now().After(deadline) {
					t.Fatal("not commissionable again after RemoveFabric")
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

// TestCommissionByDiscovery: matter.js finds the device by mDNS
// (_matterc._udp, long discriminator subtype) with no address given. The
// device gets its own factory data (`mattercam factory`) with a random
// discriminator and passcode, so only this device can match.
func TestCommissionByDiscovery(t *testing.T) {
	state := t.TempDir()
	disc := 1 + rand.IntN(4000)
	passcode := 10000000 + rand.IntN(80000000)
	factory := filepath.Join(state, "factory.json")
	gen := exec.Command(binary, "factory", "-o", factory, "-discriminator", strconv.Itoa(disc), "-passcode", strconv.Itoa(passcode), "-store-passcode")
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("factory: %v\n%s", err, out)
	}
	fw := startFirmwareWith(t, state, freePort(t), "-factory", factory)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(fw.stderr.String(), "_L"+strconv.Itoa(disc)) {
		if time.Now().After(deadline) {
			t.Fatal("device never advertised its commissionable service")
		}
		time.Sleep(20 * time.Millisecond)
	}
	steps := controller(t, "e2e/commission.mjs", "--discriminator="+strconv.Itoa(disc), "--passcode="+strconv.Itoa(passcode),
		"--address=127.0.0.1", "--port="+strconv.Itoa(fw.port))
	for _, s := range []string{"commission", "read-basic", "decommission"} {
		if !steps[s].OK {
			t.Fatalf("step %s did not pass", s)
		}
	}
	// Commissioned, the device advertises _matter._tcp for its fabric;
	// after RemoveFabric it withdraws it.
	deadline = time.Now().Add(3 * time.Second)
	for {
		log := fw.stderr.String()
		if strings.Contains(log, "type=_matter._tcp") && strings.Contains(log, `msg="withdrew service" component=matter type=_matter._tcp`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("operational service not advertised and withdrawn:\n%s", tail(log, 30))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
