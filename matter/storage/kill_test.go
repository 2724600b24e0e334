//go:build unix

package storage

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The kill -9 test: a helper process (this test binary, re-executed) writes
// records in a loop and is killed with SIGKILL at random moments. After each
// kill the store must open, and every key must hold either the value it had
// when its last write was acknowledged or the value of the write that was in
// flight, complete; never a torn value, never nothing.

const killHelperEnv = "MATTERCAM_STORAGE_KILL_HELPER_DIR"

// killKeys are the keys the helper rewrites. "scratch" is also deleted and
// recreated, so it may legitimately be missing.
var killKeys = []string{"fabric.1", "fabric.2", "acl.1", "counter.group", "meta"}

// killValue is the value the helper writes to key in generation gen: it
// identifies itself (generation, length) and its contents are a function of
// key and gen, so a value that is torn, mixed up with another key's or
// another generation's, is recognized. Sizes vary up to 12 KiB so that writes
// span several pages.
func killValue(key string, gen uint64) []byte {
	h := fnv.New64a()
	h.Write([]byte(key))
	x := h.Sum64() ^ gen*0x9E3779B97F4A7C15
	n := 16 + int((gen*7919+uint64(len(key))*104729)%12000)
	b := make([]byte, n)
	binary.BigEndian.PutUint64(b, gen)
	binary.BigEndian.PutUint64(b[8:], uint64(n))
	for i := 16; i < n; i++ {
		x = x*6364136223846793005 + 1442695040888963407
		b[i] = byte(x >> 56)
	}
	return b
}

// parseKillValue returns the generation of a value written by killValue, and
// whether the value is exactly what killValue produces for it.
func parseKillValue(key string, b []byte) (uint64, bool) {
	if len(b) < 16 {
		return 0, false
	}
	gen := binary.BigEndian.Uint64(b)
	return gen, bytes.Equal(b, killValue(key, gen))
}

// TestKillHelper is the writer process of TestKill9; it does nothing in a
// normal test run.
func TestKillHelper(t *testing.T) {
	dir := os.Getenv(killHelperEnv)
	if dir == "" {
		t.Skip("helper process of TestKill9")
	}
	// Never outlive a parent that failed to kill us.
	time.AfterFunc(60*time.Second, func() { os.Exit(3) })

	s, err := Open(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper: open:", err)
		os.Exit(2)
	}
	var gen uint64
	for _, k := range killKeys {
		if v, err := s.Get(k); err == nil {
			if g, ok := parseKillValue(k, v); ok && g > gen {
				gen = g
			}
		}
	}
	out := os.Stdout // unbuffered: each line is one write(2), atomic on a pipe
	for {
		gen++
		for _, k := range killKeys {
			fmt.Fprintf(out, "B %s %d\n", k, gen)
			if err := s.Put(k, killValue(k, gen)); err != nil {
				fmt.Fprintln(os.Stderr, "helper: put:", err)
				os.Exit(2)
			}
			fmt.Fprintf(out, "A %s %d\n", k, gen)
		}
		if err := s.Delete("scratch"); err != nil {
			fmt.Fprintln(os.Stderr, "helper: delete:", err)
			os.Exit(2)
		}
		if err := s.Put("scratch", killValue("scratch", gen)); err != nil {
			fmt.Fprintln(os.Stderr, "helper: put:", err)
			os.Exit(2)
		}
	}
}

// keyState is what the parent knows of one key during a round.
type keyState struct {
	base     uint64 // generation found on disk before the round; 0: none
	acked    uint64 // last generation whose Put returned; 0: none this round
	inFlight uint64 // last generation whose Put began; 0: none this round
}

func TestKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	const rounds = 24
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed>>1))

	dir := t.TempDir()
	states := make(map[string]*keyState)
	for _, k := range killKeys {
		states[k] = &keyState{}
	}
	tornTemps := 0
	inFlightOld, inFlightNew := 0, 0 // kills during a Put, by outcome
	for round := range rounds {
		cmd := exec.Command(os.Args[0], "-test.run=^TestKillHelper$", "-test.count=1")
		cmd.Env = append(os.Environ(), killHelperEnv+"="+dir)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}

		// Kill after a random number of acknowledged writes, at a random
		// moment within the next write.
		killAfter := 1 + rng.IntN(40)
		acks := 0 // states and acks belong to the reader until done
		reached := make(chan struct{})
		done := make(chan error, 1)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				f := strings.Fields(sc.Text())
				if len(f) != 3 || (f[0] != "A" && f[0] != "B") {
					continue // test framework output
				}
				st := states[f[1]]
				gen, err := strconv.ParseUint(f[2], 10, 64)
				if st == nil || err != nil {
					done <- fmt.Errorf("bad helper line %q", sc.Text())
					return
				}
				if f[0] == "B" {
					st.inFlight = gen
				} else {
					st.acked = gen
					acks++
					if acks == killAfter {
						close(reached)
					}
				}
			}
			done <- sc.Err()
		}()
		select {
		case <-reached:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("round %d: helper made no progress; stderr:\n%s", round, stderr.String())
		}
		time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
		if err := cmd.Process.Kill(); err != nil { // SIGKILL
			t.Fatal(err)
		}
		// Read to EOF before Wait: Wait closes the pipe (os/exec).
		if err := <-done; err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		werr := cmd.Wait()
		if ee := (*exec.ExitError)(nil); !errors.As(werr, &ee) || ee.ExitCode() != -1 {
			t.Fatalf("round %d: helper did not die by the signal: %v; stderr:\n%s", round, werr, stderr.String())
		}

		// Evidence that kills land mid-write: temporary files before Open.
		if m, _ := filepath.Glob(filepath.Join(dir, tempPrefix+"*")); len(m) > 0 {
			tornTemps++
		}

		s, err := Open(dir)
		if err != nil {
			t.Fatalf("round %d: Open after kill: %v", round, err)
		}
		if m, _ := filepath.Glob(filepath.Join(dir, tempPrefix+"*")); len(m) > 0 {
			t.Errorf("round %d: Open left temporary files %q", round, m)
		}
		for _, k := range killKeys {
			st := states[k]
			v, err := s.Get(k)
			if errors.Is(err, ErrNotFound) {
				if st.base != 0 || st.acked != 0 {
					t.Fatalf("round %d: %s missing after a write was acknowledged", round, k)
				}
				if st.inFlight > 1 {
					t.Fatalf("round %d: %s missing", round, k)
				}
				continue
			}
			if err != nil {
				t.Fatalf("round %d: Get(%s): %v", round, k, err)
			}
			gen, ok := parseKillValue(k, v)
			if !ok {
				t.Fatalf("round %d: %s holds a torn or foreign value (%d octets)", round, k, len(v))
			}
			old := st.base
			if st.acked != 0 {
				old = st.acked
			}
			if gen != old && gen != st.inFlight {
				t.Fatalf("round %d: %s holds generation %d; want %d (old) or %d (in flight)", round, k, gen, old, st.inFlight)
			}
			if st.inFlight != 0 && st.inFlight != st.acked {
				if gen == st.inFlight {
					inFlightNew++
				} else {
					inFlightOld++
				}
			}
			*st = keyState{base: gen}
		}
		if v, err := s.Get("scratch"); err == nil {
			if _, ok := parseKillValue("scratch", v); !ok {
				t.Fatalf("round %d: scratch holds a torn value", round)
			}
		} else if !errors.Is(err, ErrNotFound) {
			t.Fatalf("round %d: Get(scratch): %v", round, err)
		}
		s.Close()
	}
	t.Logf("%d of %d kills left a temporary file behind; %d interrupted a Put: %d kept the old value, %d had the new one",
		tornTemps, rounds, inFlightOld+inFlightNew, inFlightOld, inFlightNew)
}
