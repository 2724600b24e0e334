package fabric

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// A crash can stop the table between any two of its storage writes, and the
// storage layer guarantees each write is all or nothing (matter/storage's
// kill -9 test). These tests put the store into each state such a crash can
// leave, and some a damaged file system can, and check that the table loads
// and holds a consistent set of fabrics.

// writeTemp leaves a temporary file in the store's directory as a write that
// never reached its rename does.
func writeTemp(t *testing.T, dir, key string, contents []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, ".tmp."+key+".12345"), contents, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestCrashStates(t *testing.T) {
	tests := []struct {
		name string
		// crash leaves the store as a crash would, given a table with
		// fabric 1 committed, and returns the state the reopened table
		// must show.
		crash func(t *testing.T, e *env) state
		// next is the index the next AddNOC must get.
		next uint8
	}{
		{"after the index counter, before the fabric (AddNOC, then Commit never ran)", func(t *testing.T, e *env) state {
			before := snapshot(e.tb)
			stageAdd(t, e.tb, newCA(t, 2, false), 1) // writes fabric.meta = 2
			return before
		}, 3},
		{"inside Commit's write of the new fabric", func(t *testing.T, e *env) state {
			before := snapshot(e.tb)
			stageAdd(t, e.tb, newCA(t, 2, false), 1)
			rec := e.tb.stage.added
			b, err := rec.encode()
			if err != nil {
				t.Fatal(err)
			}
			writeTemp(t, e.dir, recordKey(rec.index)+".kv", b[:len(b)/2])
			return before
		}, 3},
		{"inside Commit's write of an UpdateNOC", func(t *testing.T, e *env) state {
			before := snapshot(e.tb)
			pub := csrKey(t, e.tb, true)
			noc, icac := e.existing.noc(t, pub, 0x99)
			if err := e.tb.UpdateNOC(1, noc, icac); err != nil {
				t.Fatal(err)
			}
			b, err := e.tb.stage.updated.encode()
			if err != nil {
				t.Fatal(err)
			}
			writeTemp(t, e.dir, "fabric.1.kv", b) // complete, but not renamed
			return before
		}, 2},
		{"inside a label write", func(t *testing.T, e *env) state {
			before := snapshot(e.tb)
			r := *e.tb.committed[1]
			r.label = "half-written"
			b, _ := r.encode()
			writeTemp(t, e.dir, "fabric.1.kv", b[:10])
			return before
		}, 2},
		{"after a removal", func(t *testing.T, e *env) state {
			if err := e.tb.Remove(1); err != nil {
				t.Fatal(err)
			}
			return snapshot(e.tb)
		}, 2},
		{"index counter lost", func(t *testing.T, e *env) state {
			before := snapshot(e.tb)
			if err := e.store.Delete(metaKey); err != nil {
				t.Fatal(err)
			}
			return before
		}, 2},
		{"index counter damaged", func(t *testing.T, e *env) state {
			before := snapshot(e.tb)
			corruptFile(t, e.dir, metaKey)
			return before
		}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, Config{})
			e.existing = newCA(t, 1, true)
			commission(t, e.tb, e.existing, 0x11)
			want := tt.crash(t, e)
			// The process dies here: no Commit, no Revert.
			e.open(t)
			if got := snapshot(e.tb); !got.equal(want) {
				t.Fatalf("after the crash\n got %+v\nwant %+v", got, want)
			}
			for _, f := range e.tb.Fabrics() {
				if err := f.Validate(); err != nil {
					t.Fatal(err)
				}
			}
			if m, _ := filepath.Glob(filepath.Join(e.dir, ".tmp.*")); len(m) != 0 {
				t.Fatalf("temporary files left: %q", m)
			}
			if idx := commission(t, e.tb, newCA(t, 7, false), 1); idx != tt.next {
				t.Fatalf("next index %d, want %d", idx, tt.next)
			}
		})
	}
}

// corruptFile flips a bit in the middle of a record's file, as a failing
// flash might.
func corruptFile(t *testing.T, dir, key string) {
	t.Helper()
	p := filepath.Join(dir, key+".kv")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x10
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestDamagedRecordsAreSkipped(t *testing.T) {
	e := newEnv(t, Config{})
	ca1, ca2, ca3 := newCA(t, 1, false), newCA(t, 2, false), newCA(t, 3, false)
	commission(t, e.tb, ca1, 1)
	commission(t, e.tb, ca2, 1)
	commission(t, e.tb, ca3, 1)

	// Fabric 2: bit rot. Fabric 3: a valid record under another fabric's
	// key. Fabric 4 (new): a record whose key does not match its NOC.
	corruptFile(t, e.dir, "fabric.2")
	b3, _ := e.store.Get("fabric.3")
	if err := e.store.Put("fabric.4", b3); err != nil {
		t.Fatal(err)
	}
	r := *e.tb.committed[3]
	r.index = 5
	r.key = mustKey(t)
	b5, err := r.encode()
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.Put("fabric.5", b5); err != nil {
		t.Fatal(err)
	}
	e.store.Put("fabric.x", []byte("junk"))
	e.store.Put("fabric.0", b3)
	e.store.Put("fabric.007", b3)

	e.open(t)
	var idx []uint8
	for _, d := range e.tb.List() {
		idx = append(idx, d.Index)
	}
	if !slices.Equal(idx, []uint8{1, 3}) {
		t.Fatalf("loaded fabrics %v, want [1 3]", idx)
	}
	logs := e.logs.String()
	for _, want := range []string{"fabric=2", "fabric=4", "fabric=5", "component=fabric"} {
		if !strings.Contains(logs, want) {
			t.Errorf("no log mentioning %s:\n%s", want, logs)
		}
	}
	// The counter goes on from 3: the index of the damaged fabric 2 is not
	// handed out again before it wraps; the foreign fabric.4 is replaced.
	if idx := commission(t, e.tb, newCA(t, 9, false), 1); idx != 4 {
		t.Fatalf("next index %d", idx)
	}
}

// FuzzDecodeRecord feeds arbitrary stored fabrics to the decoder: it must not
// panic, and what it accepts must re-encode to the same record.
func FuzzDecodeRecord(f *testing.F) {
	e := newEnv(f, Config{})
	commission(f, e.tb, newCA(f, 1, true), 1)
	commission(f, e.tb, newCA(f, 2, false), 1)
	commission(f, e.tb, newCA(f, 3, false), 1)
	if err := e.tb.SetVIDVerification(3, VIDVerificationUpdate{Statement: bytes.Repeat([]byte{0x21}, VIDVerificationStatementSize),
		SetStatement: true, VVSC: []byte{1, 2, 3}, SetVVSC: true}); err != nil {
		f.Fatal(err)
	}
	for _, k := range []string{"fabric.1", "fabric.2", "fabric.3", metaKey} {
		b, err := e.store.Get(k)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		decodeMeta(b)
		r, err := decodeRecord(b)
		if err != nil {
			return
		}
		again, err := r.encode()
		if err != nil {
			t.Fatal(err)
		}
		r2, err := decodeRecord(again)
		if err != nil {
			t.Fatal(err)
		}
		if r2.index != r.index || r2.nodeID != r.nodeID || !bytes.Equal(r2.noc, r.noc) || r2.label != r.label ||
			!bytes.Equal(r2.vvs, r.vvs) || !bytes.Equal(r2.vvsc, r.vvsc) {
			t.Fatal("round trip changed the record")
		}
	})
}
