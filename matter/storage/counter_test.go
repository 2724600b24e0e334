package storage

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/mattercam/mattercam/matter/message"
)

func TestCounters(t *testing.T) {
	s := openT(t, t.TempDir())
	c := Counters{Store: s}
	if _, ok, err := c.LoadCounter("group"); ok || err != nil {
		t.Fatalf("LoadCounter(absent) = %v, %v", ok, err)
	}
	for _, v := range []uint32{0, 1, 0x1000_0000, 0xFFFF_FFFF} {
		if err := c.StoreCounter("group", v); err != nil {
			t.Fatal(err)
		}
		got, ok, err := c.LoadCounter("group")
		if err != nil || !ok || got != v {
			t.Fatalf("LoadCounter = %#x, %v, %v; want %#x", got, ok, err, v)
		}
	}
	if err := c.StoreCounter("bad/key", 1); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("StoreCounter(bad key) = %v", err)
	}
	// A damaged value is an error, not "absent".
	if err := s.Put(CounterPrefix+"short", []byte{1, 2}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.LoadCounter("short"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("LoadCounter(3 octets) = %v, want ErrCorrupt", err)
	}
	os.WriteFile(filepath.Join(s.Dir(), CounterPrefix+"torn.kv"), []byte("MCS1"), 0o600)
	s.Close()
	s = openT(t, s.Dir())
	if _, _, err := (Counters{s}).LoadCounter("torn"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("LoadCounter(torn) = %v, want ErrCorrupt", err)
	}
}

// TestPersistentCounterSurvivesRestart runs message.PersistentCounter on a
// Store across a simulated restart: the counter must continue above every
// value handed out before.
func TestPersistentCounterSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir)
	pc, err := message.NewPersistentCounter(Counters{s}, "global-group", 10, nil)
	if err != nil {
		t.Fatal(err)
	}
	var last uint32
	for range 25 {
		if last, err = pc.Next(); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()

	s = openT(t, dir)
	pc, err = message.NewPersistentCounter(Counters{s}, "global-group", 10, nil)
	if err != nil {
		t.Fatal(err)
	}
	next, err := pc.Next()
	if err != nil {
		t.Fatal(err)
	}
	if next <= last {
		t.Fatalf("after restart the counter gave %d, not above %d", next, last)
	}
}
