package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"
)

// bridge drives test/e2e/camera.mjs: matter.js controllers that host a
// WebRTC Transport Requestor, one request per line on the script's stdin,
// replies and the camera's requestor invocations (events) on its stdout.
// The Go test is the conductor and the media peer.
type bridge struct {
	t     testing.TB
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan struct{}
	wmu   sync.Mutex // serialises writes to stdin

	mu      sync.Mutex
	cond    *sync.Cond
	next    int
	replies map[int]bridgeReply
	events  []bridgeEvent // not yet taken by waitEvent
	stderr  bytes.Buffer
	exited  bool
}

type bridgeReply struct {
	ID     int             `json:"id"`
	OK     bool            `json:"ok"`
	Value  json.RawMessage `json:"value"`
	Error  string          `json:"error"`
	Status *int            `json:"status"`
}

// bridgeEvent is something the camera did to a requestor: "offer",
// "answer", "ice", "end".
type bridgeEvent struct {
	Event      string         `json:"event"`
	Ctl        string         `json:"ctl"`
	ID         int            `json:"id"`
	SDP        string         `json:"sdp"`
	Reason     int            `json:"reason"`
	Candidates []iceCandidate `json:"candidates"`
	At         time.Time      `json:"-"`
}

// iceCandidate is ICECandidateStruct as matter.js names its fields.
type iceCandidate struct {
	Candidate     string  `json:"candidate"`
	SDPMid        *string `json:"sdpMid"`
	SDPMLineIndex *uint16 `json:"sdpmLineIndex"`
}

func startBridge(t testing.TB, port int) *bridge {
	t.Helper()
	if _, err := os.Stat("../node_modules/@matter/main"); err != nil {
		t.Fatal("matter.js is not installed: run `make deps` (npm ci in test/)")
	}
	b := &bridge{t: t, replies: map[int]bridgeReply{}, done: make(chan struct{})}
	b.cond = sync.NewCond(&b.mu)
	b.cmd = exec.Command("node", "e2e/camera.mjs", "--address=127.0.0.1", fmt.Sprintf("--port=%d", port))
	b.cmd.Dir = ".."
	b.cmd.Env = append(os.Environ(), "MATTER_PATH_ROOT="+t.TempDir())
	b.cmd.Stderr = &lockedWriter{mu: &b.mu, w: &b.stderr}
	var err error
	if b.stdin, err = b.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := b.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go b.readLoop(out)
	t.Cleanup(b.close)
	b.waitEvent("ready", -1, 30*time.Second)
	return b
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (b *bridge) readLoop(out io.Reader) {
	defer close(b.done)
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 4<<20), 4<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var probe struct {
			ID    *int   `json:"id"`
			Event string `json:"event"`
		}
		if json.Unmarshal(line, &probe) != nil {
			continue
		}
		b.mu.Lock()
		switch {
		case probe.Event != "":
			var ev bridgeEvent
			if json.Unmarshal(line, &ev) == nil {
				ev.At = time.Now()
				b.events = append(b.events, ev)
			}
		case probe.ID != nil:
			var r bridgeReply
			if json.Unmarshal(line, &r) == nil {
				b.replies[r.ID] = r
			}
		}
		b.cond.Broadcast()
		b.mu.Unlock()
	}
	b.mu.Lock()
	b.exited = true
	b.cond.Broadcast()
	b.mu.Unlock()
}

func (b *bridge) close() {
	_, _ = io.WriteString(b.stdin, `{"op":"quit"}`+"\n")
	select {
	case <-b.done:
	case <-time.After(15 * time.Second):
		_ = b.cmd.Process.Kill()
		<-b.done
	}
	_ = b.cmd.Wait()
	if b.t.Failed() {
		b.mu.Lock()
		b.t.Logf("camera.mjs stderr:\n%s", tail(b.stderr.String(), 40))
		b.mu.Unlock()
	}
}

// send issues a request and returns its ID without waiting.
func (b *bridge) send(op string, args map[string]any) int {
	b.t.Helper()
	id, err := b.post(op, args)
	if err != nil {
		b.t.Fatal(err)
	}
	return id
}

// post is send for goroutines other than the test's: it reports errors.
func (b *bridge) post(op string, args map[string]any) (int, error) {
	b.wmu.Lock()
	defer b.wmu.Unlock() // one line at a time on stdin
	b.mu.Lock()
	b.next++
	id := b.next
	b.mu.Unlock()
	req := map[string]any{"id": id, "op": op}
	for k, v := range args {
		req[k] = v
	}
	line, err := json.Marshal(req)
	if err != nil {
		return 0, fmt.Errorf("bridge: %w", err)
	}
	if _, err := b.stdin.Write(append(line, '\n')); err != nil {
		return 0, fmt.Errorf("bridge: %w", err)
	}
	return id, nil
}

// wait returns the reply to request id.
func (b *bridge) wait(id int, within time.Duration) bridgeReply {
	b.t.Helper()
	deadline := time.Now().Add(within)
	timer := time.AfterFunc(within, func() {
		b.mu.Lock()
		b.cond.Broadcast()
		b.mu.Unlock()
	})
	defer timer.Stop()
	b.mu.Lock()
	defer b.mu.Unlock()
	for {
		if r, ok := b.replies[id]; ok {
			delete(b.replies, id)
			return r
		}
		if b.exited {
			b.t.Fatalf("camera.mjs exited before answering request %d\n%s", id, tail(b.stderr.String(), 30))
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("camera.mjs: no answer to request %d within %v", id, within)
		}
		b.cond.Wait()
	}
}

// call runs op and returns its reply; a failed op fails the test.
func (b *bridge) call(op string, args map[string]any) json.RawMessage {
	b.t.Helper()
	r := b.wait(b.send(op, args), 60*time.Second)
	if !r.OK {
		b.t.Fatalf("%s %.300v: %s", op, args, r.Error)
	}
	return r.Value
}

// invoke runs a command on the camera's endpoint 1 as controller ctl and
// returns the response (decoded into out when non-nil) and the IM status
// (0 for success, the status code of a status error).
func (b *bridge) invoke(ctl, cluster, command string, fields map[string]any, out any) int {
	b.t.Helper()
	v := b.call("invoke", map[string]any{"ctl": ctl, "cluster": cluster, "command": command, "fields": fields})
	var st struct {
		Status *int `json:"status"`
	}
	if json.Unmarshal(v, &st) == nil && st.Status != nil {
		return *st.Status
	}
	if out != nil {
		if err := json.Unmarshal(v, out); err != nil {
			b.t.Fatalf("%s.%s response %.300s: %v", cluster, command, v, err)
		}
	}
	return 0
}

// read reads attributes of cluster on endpoint 1 as ctl into out.
func (b *bridge) read(ctl, cluster string, out any, attributes ...string) {
	b.t.Helper()
	v := b.call("read", map[string]any{"ctl": ctl, "cluster": cluster, "attributes": attributes})
	if err := json.Unmarshal(v, out); err != nil {
		b.t.Fatalf("read %s %v: %.300s: %v", cluster, attributes, v, err)
	}
}

// waitEvent takes the first event of the given kind for session id (any
// session when id < 0) that has not been taken yet.
func (b *bridge) waitEvent(kind string, id int, within time.Duration) bridgeEvent {
	b.t.Helper()
	ev, ok := b.takeEvent(kind, id, within)
	if !ok {
		b.t.Fatalf("camera.mjs: no %q event for session %d within %v", kind, id, within)
	}
	return ev
}

func (b *bridge) takeEvent(kind string, id int, within time.Duration) (bridgeEvent, bool) {
	deadline := time.Now().Add(within)
	timer := time.AfterFunc(within, func() {
		b.mu.Lock()
		b.cond.Broadcast()
		b.mu.Unlock()
	})
	defer timer.Stop()
	b.mu.Lock()
	defer b.mu.Unlock()
	for {
		for i, ev := range b.events {
			if ev.Event == kind && (id < 0 || ev.ID == id) {
				b.events = append(b.events[:i], b.events[i+1:]...)
				return ev, true
			}
		}
		if b.exited || time.Now().After(deadline) {
			return bridgeEvent{}, false
		}
		b.cond.Wait()
	}
}

// jsonInto decodes a reply value.
func jsonInto(v json.RawMessage, out any) error { return json.Unmarshal(v, out) }
