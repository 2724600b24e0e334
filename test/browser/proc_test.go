package browser_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// lineLog collects a child's output and hands each complete line to
// watch, which runs under the lock and so must not call back into l.
// exec copies into it, so cmd.Wait returns only once it has everything.
type lineLog struct {
	mu      sync.Mutex
	partial []byte
	lines   []string
	watch   func(string)
	noise   func(string) bool // lines dump leaves out; may be nil
}

func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := string(l.partial[:i])
		l.partial = l.partial[i+1:]
		l.lines = append(l.lines, line)
		if l.watch != nil {
			l.watch(line)
		}
	}
}

// dump logs what was collected but noise, or only its last tail lines
// when tail > 0.
func (l *lineLog) dump(t testing.TB, name string, tail int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var lines []string
	for _, line := range append(l.lines[:len(l.lines):len(l.lines)], string(l.partial)) {
		if line != "" && (l.noise == nil || !l.noise(line)) {
			lines = append(lines, line)
		}
	}
	if tail > 0 && len(lines) > tail {
		t.Logf("%s: (%d earlier lines left out)", name, len(lines)-tail)
		lines = lines[len(lines)-tail:]
	}
	for _, line := range lines {
		t.Logf("%s: %s", name, line)
	}
}

// firmware is a running mattercam binary.
type firmware struct {
	url           string // the preview page
	width, height int    // what the video source says it produces
}

var (
	videoSourceWidth  = regexp.MustCompile(`\bwidth=(\d+)`)
	videoSourceHeight = regexp.MustCompile(`\bheight=(\d+)`)
)

// startFirmware builds cmd/mattercam and runs it with the preview on a
// free loopback port. Cleanup stops it with SIGTERM, as an init system
// would, and fails the test if it does not exit cleanly.
func startFirmware(ctx context.Context, t *testing.T) firmware {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "mattercam")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/mattercam/mattercam/cmd/mattercam")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building mattercam: %v\n%s", err, out)
	}

	urls := make(chan string, 1)
	sizes := make(chan [2]int, 1)
	stdout := &lineLog{watch: func(line string) {
		if u, ok := strings.CutPrefix(line, "watch the camera at "); ok {
			select {
			case urls <- strings.TrimSpace(u):
			default:
			}
		}
	}}
	stderr := &lineLog{watch: func(line string) {
		if !strings.Contains(line, `msg="video source"`) {
			return
		}
		w, h := videoSourceWidth.FindStringSubmatch(line), videoSourceHeight.FindStringSubmatch(line)
		if w == nil || h == nil {
			return
		}
		wi, _ := strconv.Atoi(w[1])
		hi, _ := strconv.Atoi(h[1])
		select {
		case sizes <- [2]int{wi, hi}:
		default:
		}
	}}
	// An empty -config keeps a developer's /etc/mattercam/mattercam.conf
	// out of the test.
	cmd := exec.Command(bin, "-config", os.DevNull, "-whep-listen", "127.0.0.1:0", "-state-dir", t.TempDir(), "-matter-port", "-1")
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting mattercam: %v", err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		defer func() {
			if t.Failed() {
				stderr.dump(t, "mattercam", 0)
			}
		}()
		select {
		case <-exited:
			t.Errorf("mattercam exited before the test ended: %v", waitErr)
			return
		default:
		}
		start := time.Now()
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Errorf("mattercam: SIGTERM: %v", err)
		}
		select {
		case <-exited:
			if waitErr != nil {
				t.Errorf("mattercam did not exit cleanly on SIGTERM: %v", waitErr)
			} else {
				t.Logf("mattercam exited on SIGTERM in %v", time.Since(start).Round(time.Millisecond))
			}
		case <-time.After(10 * time.Second):
			t.Errorf("mattercam still running 10s after SIGTERM; killing it")
			_ = cmd.Process.Kill()
			<-exited
		}
	})

	var fw firmware
	select {
	case fw.url = <-urls:
	case <-exited:
		t.Fatalf("mattercam exited during start-up: %v", waitErr)
	case <-ctx.Done():
		t.Fatalf("mattercam printed no preview URL: %v", ctx.Err())
	}
	// The size is logged before the URL is printed, but on another pipe.
	select {
	case s := <-sizes:
		fw.width, fw.height = s[0], s[1]
	case <-time.After(5 * time.Second):
		t.Fatalf(`mattercam logged no "video source" line with width= and height=`)
	}
	t.Logf("mattercam serves %s; video source %dx%d", fw.url, fw.width, fw.height)
	return fw
}

// browser is a headless Chromium driven over CDP.
type browser struct {
	cdp      *cdp
	mu       sync.Mutex
	messages []string // console output and exceptions from the page
}

func (b *browser) note(s string) {
	b.mu.Lock()
	b.messages = append(b.messages, s)
	b.mu.Unlock()
}

func (b *browser) pageMessages() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.messages...)
}

// chromiumFlags are the flags the project requires for headless
// Chromium. There is deliberately no --autoplay-policy override: the page
// must start playing under the policy a user's browser applies.
var chromiumFlags = []string{
	"--headless",
	"--no-sandbox",
	"--disable-gpu",
	"--disable-background-networking",
	"--disable-component-update",
	"--disable-sync",
	"--no-first-run",
}

// loopbackOnlyFlags let Chromium connect where loopback is the only
// network, as in some build sandboxes: it leaves loopback out of ICE
// unless allowed, and its mDNS-hidden host candidates never finish
// gathering there. Elsewhere the test runs without them, so it covers
// what a user's browser does: mDNS host candidates trickled to a server
// that cannot resolve them, and a pair the server learns as peer
// reflexive.
var loopbackOnlyFlags = []string{
	"--allow-loopback-in-peer-connection",
	"--disable-features=WebRtcHideLocalIpsWithMdns",
}

// loopbackOnly reports whether no interface but loopback has an address
// WebRTC would use.
func loopbackOnly() (bool, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return false, fmt.Errorf("listing interfaces: %w", err)
	}
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			return false, fmt.Errorf("addresses of %s: %w", ifc.Name, err)
		}
		for _, a := range addrs {
			if ip, ok := a.(*net.IPNet); ok && !ip.IP.IsLinkLocalUnicast() {
				return false, nil
			}
		}
	}
	return true, nil
}

// startChromium runs Chromium in its own process group with a fresh
// profile and home directory and connects to its DevTools endpoint.
// Cleanup closes the browser, kills whatever of it survives, and fails
// the test if any of its processes is still running afterwards.
func startChromium(ctx context.Context, t *testing.T, path string) *browser {
	t.Helper()
	// The crash handler Chromium always starts keeps its database under
	// $HOME whatever --user-data-dir says; a home of our own keeps the
	// developer's untouched and marks that process as ours.
	root := t.TempDir()
	profile, home := filepath.Join(root, "profile"), filepath.Join(root, "home")
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	args := append([]string(nil), chromiumFlags...)
	lo, err := loopbackOnly()
	if err != nil {
		t.Fatal(err)
	}
	if lo {
		t.Logf("only loopback is up: running chromium with %s", strings.Join(loopbackOnlyFlags, " "))
		args = append(args, loopbackOnlyFlags...)
	}
	args = append(args, "--user-data-dir="+profile, "--remote-debugging-port=0", "about:blank")
	endpoints := make(chan string, 1)
	stderr := &lineLog{
		watch: func(line string) {
			if _, u, ok := strings.Cut(line, "DevTools listening on "); ok {
				select {
				case endpoints <- strings.TrimSpace(u):
				default:
				}
			}
		},
		// A container has no D-Bus and no sound card, and Chromium
		// says so at length; neither matters here.
		noise: func(line string) bool {
			return strings.Contains(line, "dbus/") || strings.Contains(line, "ALSA lib") || strings.Contains(line, "alsa_util.cc")
		},
	}
	cmd := exec.Command(path, args...)
	cmd.Env = append(os.Environ(),
		"HOME="+home,
		"XDG_CONFIG_HOME="+filepath.Join(home, ".config"),
		"XDG_CACHE_HOME="+filepath.Join(home, ".cache"),
	)
	cmd.Stderr = stderr
	// Its own group, so zygote, renderer, GPU and utility processes can
	// be found and killed with it; a killed browser cannot end them.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// Helpers that outlive the browser hold stderr open; do not wait on
	// them forever.
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	pgid := cmd.Process.Pid
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait() // a browser we kill exits with a signal; that is expected
		close(exited)
	}()

	b := &browser{}
	t.Cleanup(func() {
		if b.cdp != nil {
			// The polite way: the browser shuts its helpers down itself.
			cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = b.cdp.call(cctx, "", "Browser.close", nil, nil) // the connection may drop before the reply
			cancel()
		}
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			t.Logf("chromium ignored Browser.close; sending SIGTERM")
			_ = syscall.Kill(-pgid, syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(5 * time.Second):
				_ = syscall.Kill(-pgid, syscall.SIGKILL)
				<-exited
			}
		}
		if b.cdp != nil {
			_ = b.cdp.Close()
		}
		// Anything of the group still alive has lost its parent; end it.
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		if left := waitGone(pgid, root, 5*time.Second); len(left) > 0 {
			t.Errorf("chromium processes still running after cleanup: %v", left)
			for _, p := range left {
				_ = syscall.Kill(p.pid, syscall.SIGKILL)
			}
		}
		if t.Failed() {
			stderr.dump(t, "chromium", 60)
		}
	})

	var wsURL string
	select {
	case wsURL = <-endpoints:
	case <-exited:
		stderr.dump(t, "chromium", 60)
		t.Fatalf("chromium exited during start-up")
	case <-ctx.Done():
		stderr.dump(t, "chromium", 60)
		t.Fatalf("chromium printed no DevTools endpoint: %v", ctx.Err())
	}
	c, err := dialCDP(ctx, wsURL, func(ev cdpEvent) { b.event(ev) })
	if err != nil {
		t.Fatalf("connecting to chromium: %v", err)
	}
	b.cdp = c
	return b
}

// event keeps what the page said on its console and what it threw.
func (b *browser) event(ev cdpEvent) {
	switch ev.Method {
	case "Runtime.consoleAPICalled":
		var p struct {
			Type string `json:"type"`
			Args []struct {
				Value       any    `json:"value"`
				Description string `json:"description"`
			} `json:"args"`
		}
		if json.Unmarshal(ev.Params, &p) != nil {
			return
		}
		parts := []string{"console." + p.Type + ":"}
		for _, a := range p.Args {
			if a.Value != nil {
				parts = append(parts, fmt.Sprint(a.Value))
			} else {
				parts = append(parts, a.Description)
			}
		}
		b.note(strings.Join(parts, " "))
	case "Runtime.exceptionThrown":
		var p struct {
			ExceptionDetails struct {
				Text      string `json:"text"`
				Exception struct {
					Description string `json:"description"`
				} `json:"exception"`
			} `json:"exceptionDetails"`
		}
		if json.Unmarshal(ev.Params, &p) != nil {
			return
		}
		b.note("exception: " + p.ExceptionDetails.Text + " " + p.ExceptionDetails.Exception.Description)
	case "Inspector.targetCrashed":
		b.note("the page crashed")
	}
}

// proc is a process found in /proc.
type proc struct {
	pid  int
	comm string
}

func (p proc) String() string { return fmt.Sprintf("%d %s", p.pid, p.comm) }

// waitGone waits for every live process that is ours to end, and returns
// those that did not. A process is ours if it is in group pgid or its
// command line names dir (the crash handler leaves the group). Zombies
// are not running and do not count: orphans are reaped by the machine's
// init, not by us.
func waitGone(pgid int, dir string, timeout time.Duration) []proc {
	deadline := time.Now().Add(timeout)
	for {
		left := ours(pgid, dir)
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func ours(pgid int, dir string) []proc {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil // not Linux; nothing to check with
	}
	var out []proc
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // it ended while we looked
		}
		// "pid (comm) state ppid pgrp …", and comm may hold spaces and
		// parentheses.
		s := string(stat)
		open, shut := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || shut < open {
			continue
		}
		f := strings.Fields(s[shut+1:])
		if len(f) < 3 || f[0] == "Z" {
			continue
		}
		mine := f[2] == strconv.Itoa(pgid)
		if !mine {
			cmdline, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
			mine = bytes.Contains(cmdline, []byte(dir))
		}
		if mine {
			out = append(out, proc{pid, s[open+1 : shut]})
		}
	}
	return out
}
