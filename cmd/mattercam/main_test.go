package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "mattercam.conf")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigFileAndFlags(t *testing.T) {
	conf := writeConfig(t, "# preview\nwhep-listen = 127.0.0.1:9\nmax-sessions = 3 # trailing comment\nwhep-token = \"abc\"\n")
	tests := []struct {
		name    string
		args    []string
		want    options
		wantErr string
	}{
		{"defaults, no file", []string{"-config", filepath.Join(t.TempDir(), "missing")}, options{}, "no such file"},
		{"file", []string{"-config", conf}, options{whepListen: "127.0.0.1:9", maxSessions: 3, whepToken: "abc"}, ""},
		{"flag overrides file", []string{"-config=" + conf, "-max-sessions", "7"}, options{whepListen: "127.0.0.1:9", maxSessions: 7, whepToken: "abc"}, ""},
		{"unknown setting", []string{"-config", writeConfig(t, "nope = 1\n")}, options{}, `unknown setting "nope"`},
		{"bad value", []string{"-config", writeConfig(t, "max-sessions = many\n")}, options{}, "max-sessions"},
		{"no equals", []string{"-config", writeConfig(t, "whep-listen\n")}, options{}, "want name = value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var o options
			set := newFlagSet(&o, io.Discard)
			path, explicit := configPath(tt.args)
			err := loadConfig(set, path, explicit)
			if err == nil {
				err = set.Parse(tt.args)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if o.whepListen != tt.want.whepListen || o.maxSessions != tt.want.maxSessions || o.whepToken != tt.want.whepToken {
				t.Fatalf("got %+v, want %+v", o, tt.want)
			}
		})
	}
}

func TestMissingDefaultConfigIsFine(t *testing.T) {
	var o options
	set := newFlagSet(&o, io.Discard)
	if err := loadConfig(set, filepath.Join(t.TempDir(), "absent.conf"), false); err != nil {
		t.Fatal(err)
	}
}

func TestVersion(t *testing.T) {
	var out bytes.Buffer
	if err := run(t.Context(), []string{"-version"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "mattercam ") {
		t.Fatalf("version output %q", out.String())
	}
	if err := run(t.Context(), []string{"-no-such-flag"}, &out, io.Discard); err == nil {
		t.Fatal("unknown flag accepted")
	}
	if err := run(t.Context(), []string{"-h"}, &out, io.Discard); err != flag.ErrHelp {
		t.Fatalf("-h: %v", err)
	}
}

// syncBuffer is written by the firmware and read by the test.
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

// TestRunServesPreviewAndStops runs the firmware in-process: it prints
// where to watch, serves the page, and returns cleanly when its context
// ends (what SIGINT/SIGTERM do).
func TestRunServesPreviewAndStops(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	var out, logs syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-config", writeConfig(t, ""), "-whep-listen", "127.0.0.1:0", "-state-dir", t.TempDir(), "-matter-port", "-1", "-log-format", "json"}, &out, &logs)
	}()
	url := waitURL(t, out.String, done)
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte("mattercam")) {
		t.Fatalf("GET %s: %d", url, resp.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after cancel")
	}
	if !strings.Contains(logs.String(), `"msg":"shutting down"`) {
		t.Fatalf("logs lack the shutdown line:\n%s", logs.String())
	}
}

func waitURL(t *testing.T, out func() string, done <-chan error) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if _, rest, ok := strings.Cut(out(), "watch the camera at "); ok {
			return strings.TrimSpace(strings.SplitN(rest, "\n", 2)[0])
		}
		select {
		case err := <-done:
			t.Fatalf("run returned early: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatal("no preview URL printed")
	return ""
}

// TestSIGTERMExitsCleanly builds the real binary and stops it with
// SIGTERM, as systemd does.
func TestSIGTERMExitsCleanly(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "mattercam")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		var out, logs syncBuffer
		cmd := exec.Command(bin, "-config", writeConfig(t, ""), "-whep-listen", "127.0.0.1:0", "-state-dir", t.TempDir(), "-matter-port", "-1")
		cmd.Stdout, cmd.Stderr = &out, &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		waitURL(t, out.String, done)
		if err := cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("%v: exit %v\n%s", sig, err, logs.String())
			}
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			t.Fatalf("%v: did not exit", sig)
		}
	}
}
