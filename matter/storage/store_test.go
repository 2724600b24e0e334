package storage

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

func openT(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(dir)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir)
	values := map[string][]byte{
		"fabric.1":    bytes.Repeat([]byte{0xAB}, 1500),
		"fabric.2":    []byte("two"),
		"acl.1":       {},
		"counter.g-x": {0, 0, 0, 7},
		"big":         bytes.Repeat([]byte("0123456789abcdef"), MaxValueSize/16),
	}
	for k, v := range values {
		if err := s.Put(k, v); err != nil {
			t.Fatalf("Put(%q): %v", k, err)
		}
	}
	// Overwrite one.
	values["fabric.2"] = []byte("two, again")
	if err := s.Put("fabric.2", values["fabric.2"]); err != nil {
		t.Fatal(err)
	}
	check := func(s *Store) {
		t.Helper()
		for k, want := range values {
			got, err := s.Get(k)
			if err != nil {
				t.Fatalf("Get(%q): %v", k, err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("Get(%q) = %d octets, want %d", k, len(got), len(want))
			}
		}
		keys, err := s.Keys("fabric.")
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"fabric.1", "fabric.2"}; !slices.Equal(keys, want) {
			t.Fatalf("Keys(fabric.) = %q, want %q", keys, want)
		}
		all, _ := s.Keys("")
		if len(all) != len(values) {
			t.Fatalf("Keys() = %q, want %d keys", all, len(values))
		}
	}
	check(s)

	// And again after reopening.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	check(openT(t, dir))
}

func TestGetMissingAndDelete(t *testing.T) {
	s := openT(t, t.TempDir())
	if _, err := s.Get("nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get(missing) = %v, want ErrNotFound", err)
	}
	if err := s.Delete("nope"); err != nil {
		t.Fatalf("Delete(missing) = %v", err)
	}
	if err := s.Put("k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete("k"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get("k"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get(deleted) = %v, want ErrNotFound", err)
	}
	if keys, _ := s.Keys(""); len(keys) != 0 {
		t.Fatalf("Keys after delete = %q", keys)
	}
}

func TestInvalidInput(t *testing.T) {
	s := openT(t, t.TempDir())
	for _, k := range []string{"", ".hidden", "a/b", "../x", "sp ace", "ü", strings.Repeat("k", MaxKeyLen+1), "nul\x00"} {
		if err := s.Put(k, nil); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Put(%q) = %v, want ErrInvalidKey", k, err)
		}
		if _, err := s.Get(k); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Get(%q) = %v, want ErrInvalidKey", k, err)
		}
		if err := s.Delete(k); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Delete(%q) = %v, want ErrInvalidKey", k, err)
		}
	}
	if err := s.Put(strings.Repeat("k", MaxKeyLen), nil); err != nil {
		t.Errorf("Put(longest key) = %v", err)
	}
	if err := s.Put("big", make([]byte, MaxValueSize+1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Put(too large) = %v, want ErrTooLarge", err)
	}
}

func TestKeyLimit(t *testing.T) {
	defer func(n int) { keyLimit = n }(keyLimit)
	keyLimit = 3
	dir := t.TempDir()
	s := openT(t, dir)
	for i := range 3 {
		if err := s.Put(fmt.Sprint("k", i), nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Put("k3", nil); !errors.Is(err, ErrFull) {
		t.Fatalf("Put beyond the limit = %v, want ErrFull", err)
	}
	if err := s.Put("k1", []byte("replacing is fine")); err != nil {
		t.Fatalf("Put(existing) at the limit = %v", err)
	}
	if err := s.Delete("k0"); err != nil {
		t.Fatal(err)
	}
	if err := s.Put("k3", nil); err != nil {
		t.Fatalf("Put after Delete = %v", err)
	}
	s.Close()
	// A directory holding more records than the limit does not open.
	os.WriteFile(filepath.Join(dir, "extra.kv"), encodeRecord("extra", nil), 0o600)
	if _, err := Open(dir); !errors.Is(err, ErrFull) {
		t.Fatalf("Open(over limit) = %v, want ErrFull", err)
	}
}

// TestCorruptRecords damages record files the ways a broken file system or
// a careless operator would, and expects ErrCorrupt, never a value.
func TestCorruptRecords(t *testing.T) {
	good := encodeRecord("k", []byte("hello, fabric"))
	tests := []struct {
		name string
		file string // file name in the directory, default k.kv
		data []byte
	}{
		{"empty", "", nil},
		{"short header", "", good[:7]},
		{"truncated value", "", good[:len(good)-1]},
		{"appended garbage", "", append(slices.Clone(good), 0)},
		{"bad magic", "", append([]byte("XCS1"), good[4:]...)},
		{"flipped value bit", "", func() []byte { b := slices.Clone(good); b[len(b)-1] ^= 1; return b }()},
		{"flipped checksum bit", "", func() []byte { b := slices.Clone(good); b[9] ^= 0x80; return b }()},
		{"huge length", "", func() []byte { b := slices.Clone(good); b[4] = 0xFF; return b }()},
		{"zero-filled", "", make([]byte, len(good))},
		{"oversized file", "", append(encodeRecord("k", nil)[:4], make([]byte, MaxValueSize+100)...)},
		{"renamed from another key", "", encodeRecord("other", []byte("hello, fabric"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "k.kv"), tt.data, 0o600); err != nil {
				t.Fatal(err)
			}
			s := openT(t, dir)
			v, err := s.Get("k")
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Get = %q, %v; want ErrCorrupt", v, err)
			}
			// The key can be rewritten, which repairs it.
			if err := s.Put("k", []byte("new")); err != nil {
				t.Fatal(err)
			}
			if v, err := s.Get("k"); err != nil || string(v) != "new" {
				t.Fatalf("Get after rewrite = %q, %v", v, err)
			}
		})
	}
}

func TestOpenCleansTempFiles(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir)
	if err := s.Put("k", []byte("old")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	// What a crash between CreateTemp and Rename leaves behind.
	stale := filepath.Join(dir, tempPrefix+"k.123456")
	if err := os.WriteFile(stale, encodeRecord("k", []byte("half-writ")), 0o600); err != nil {
		t.Fatal(err)
	}
	foreign := filepath.Join(dir, "README")
	os.WriteFile(foreign, []byte("not a record"), 0o600)

	s = openT(t, dir)
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatalf("stale temp file still there: %v", err)
	}
	if _, err := os.Stat(foreign); err != nil {
		t.Fatalf("foreign file removed: %v", err)
	}
	if v, err := s.Get("k"); err != nil || string(v) != "old" {
		t.Fatalf("Get = %q, %v; want old", v, err)
	}
	if keys, _ := s.Keys(""); !slices.Equal(keys, []string{"k"}) {
		t.Fatalf("Keys = %q", keys)
	}
}

func TestFileModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state", "nested")
	s := openT(t, dir)
	if err := s.Put("fabric.1", []byte("secret key material")); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, "fabric.1.kv"))
	if err != nil {
		t.Fatal(err)
	}
	if m := fi.Mode().Perm(); m&0o077 != 0 {
		t.Errorf("record mode %v, want no group/other access", m)
	}
	di, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if m := di.Mode().Perm(); m&0o077 != 0 {
		t.Errorf("directory mode %v, want no group/other access", m)
	}
}

func TestWipe(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir)
	for _, k := range []string{"fabric.1", "acl.1", "counter.x"} {
		if err := s.Put(k, []byte(k)); err != nil {
			t.Fatal(err)
		}
	}
	foreign := filepath.Join(dir, "keep-me")
	os.WriteFile(foreign, nil, 0o600)
	if err := s.Wipe(); err != nil {
		t.Fatal(err)
	}
	if keys, _ := s.Keys(""); len(keys) != 0 {
		t.Fatalf("Keys after Wipe = %q", keys)
	}
	if _, err := s.Get("fabric.1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after Wipe = %v", err)
	}
	if _, err := os.Stat(foreign); err != nil {
		t.Fatalf("Wipe removed a foreign file: %v", err)
	}
	// Still usable, and still empty after reopening.
	if err := s.Put("after", []byte("x")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if keys, _ := openT(t, dir).Keys(""); !slices.Equal(keys, []string{"after"}) {
		t.Fatalf("Keys after reopen = %q", keys)
	}
}

func TestLockAndClose(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open = %v, want ErrLocked", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	for name, err := range map[string]error{
		"Put":    s.Put("k", nil),
		"Delete": s.Delete("k"),
		"Wipe":   s.Wipe(),
		"Get":    func() error { _, err := s.Get("k"); return err }(),
		"Keys":   func() error { _, err := s.Keys(""); return err }(),
	} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", name, err)
		}
	}
	s2, err := Open(dir)
	if err != nil {
		t.Fatalf("Open after Close = %v", err)
	}
	s2.Close()
}

func TestConcurrentUse(t *testing.T) {
	s := openT(t, t.TempDir())
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := fmt.Sprint("w", w)
			for i := range 20 {
				v := []byte(fmt.Sprint(key, "=", i))
				if err := s.Put(key, v); err != nil {
					t.Error(err)
					return
				}
				got, err := s.Get(key)
				if err != nil || !bytes.Equal(got, v) {
					t.Errorf("Get(%s) = %q, %v; want %q", key, got, err, v)
					return
				}
				if _, err := s.Keys("w"); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}
