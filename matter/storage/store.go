package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// Limits of a Store.
const (
	// MaxKeyLen is the longest key.
	MaxKeyLen = 64
	// MaxValueSize is the largest value. The largest record the stack
	// keeps is a fabric (three certificates of at most 400 octets, a key,
	// a label), far below it.
	MaxValueSize = 64 << 10
	// MaxKeys is the largest number of keys a store holds.
	MaxKeys = 1024
)

// Errors returned by this package wrap one of these.
var (
	// ErrNotFound reports a key that holds no value.
	ErrNotFound = errors.New("storage: not found")
	// ErrCorrupt reports a record whose header, length or checksum is
	// wrong: the file system lost or damaged data.
	ErrCorrupt = errors.New("storage: corrupt record")
	// ErrInvalidKey reports a key outside the allowed syntax.
	ErrInvalidKey = errors.New("storage: invalid key")
	// ErrTooLarge reports a value longer than MaxValueSize.
	ErrTooLarge = errors.New("storage: value too large")
	// ErrFull reports a Put of a new key into a store holding MaxKeys.
	ErrFull = errors.New("storage: too many keys")
	// ErrClosed reports use of a closed Store.
	ErrClosed = errors.New("storage: store closed")
	// ErrLocked reports a directory another Store (in this or another
	// process) holds open.
	ErrLocked = errors.New("storage: directory in use")
)

const (
	fileSuffix = ".kv"
	tempPrefix = ".tmp."
	headerSize = 12
)

// keyLimit is MaxKeys; tests lower it.
var keyLimit = MaxKeys

var (
	magic      = [4]byte{'M', 'C', 'S', '1'}
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
)

// Store is a directory of key/value records. It is safe for concurrent use.
type Store struct {
	path string

	mu     sync.RWMutex
	dir    *os.File // open for fsync and the lock; nil once closed
	keys   map[string]struct{}
	closed bool
}

// Open opens the store in dir, creating the directory (mode 0700) if
// needed. It takes the directory's lock, removes temporary files a crash
// left behind, and indexes the keys present. Records are not read until
// asked for.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	if err := lockDir(d); err != nil {
		d.Close()
		return nil, fmt.Errorf("storage: %s: %w", dir, err)
	}
	s := &Store{path: dir, dir: d, keys: make(map[string]struct{})}
	if err := s.scan(); err != nil {
		d.Close()
		return nil, err
	}
	return s, nil
}

// scan removes stale temporary files and indexes the records.
func (s *Store) scan() error {
	entries, err := os.ReadDir(s.path)
	if err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	removed := false
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, tempPrefix) {
			// A Put that never reached its rename: the target still
			// holds the previous value, so the partial file is junk.
			if err := os.Remove(filepath.Join(s.path, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("storage: removing stale %s: %w", name, err)
			}
			removed = true
			continue
		}
		key, ok := strings.CutSuffix(name, fileSuffix)
		if !ok || !e.Type().IsRegular() || validKey(key) != nil {
			continue // not ours
		}
		if len(s.keys) >= keyLimit {
			return fmt.Errorf("storage: %s holds more than %d records: %w", s.path, keyLimit, ErrFull)
		}
		s.keys[key] = struct{}{}
	}
	if removed {
		if err := s.dir.Sync(); err != nil {
			return fmt.Errorf("storage: sync %s: %w", s.path, err)
		}
	}
	return nil
}

// Dir returns the directory the store lives in.
func (s *Store) Dir() string { return s.path }

// Close releases the directory lock. Later calls fail with ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	err := s.dir.Close() // closing the descriptor drops the flock
	s.dir = nil
	if err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	return nil
}

// validKey checks the key syntax: 1 to MaxKeyLen characters from
// [A-Za-z0-9._-], not starting with a dot (names starting with a dot are the
// store's own temporary and lock files).
func validKey(key string) error {
	if key == "" || len(key) > MaxKeyLen || key[0] == '.' {
		return fmt.Errorf("%w: %q", ErrInvalidKey, key)
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == '-':
		default:
			return fmt.Errorf("%w: %q", ErrInvalidKey, key)
		}
	}
	return nil
}

func (s *Store) file(key string) string { return filepath.Join(s.path, key+fileSuffix) }

// checksum is the record checksum: CRC-32C of key ‖ 0x00 ‖ value.
func checksum(key string, value []byte) uint32 {
	c := crc32.Update(0, castagnoli, []byte(key))
	c = crc32.Update(c, castagnoli, []byte{0})
	return crc32.Update(c, castagnoli, value)
}

// Get returns the value stored under key: ErrNotFound if there is none,
// ErrCorrupt if its record fails the integrity checks.
func (s *Store) Get(key string) ([]byte, error) {
	if err := validKey(key); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	if _, ok := s.keys[key]; !ok {
		return nil, fmt.Errorf("storage: %q: %w", key, ErrNotFound)
	}
	f, err := os.Open(s.file(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("storage: %q: %w", key, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	defer f.Close()
	// Read at most one octet more than the largest valid record, so an
	// oversized file is detected without reading it all.
	b, err := io.ReadAll(io.LimitReader(f, headerSize+MaxValueSize+1))
	if err != nil {
		return nil, fmt.Errorf("storage: reading %q: %w", key, err)
	}
	return decodeRecord(key, b)
}

// decodeRecord checks a record read from the file of key and returns its
// value.
func decodeRecord(key string, b []byte) ([]byte, error) {
	if len(b) < headerSize || [4]byte(b[:4]) != magic {
		return nil, fmt.Errorf("storage: %q: bad header: %w", key, ErrCorrupt)
	}
	n := binary.BigEndian.Uint32(b[4:8])
	if n > MaxValueSize || uint64(len(b)-headerSize) != uint64(n) {
		return nil, fmt.Errorf("storage: %q: length %d, file holds %d: %w", key, n, len(b)-headerSize, ErrCorrupt)
	}
	value := b[headerSize:]
	if binary.BigEndian.Uint32(b[8:12]) != checksum(key, value) {
		return nil, fmt.Errorf("storage: %q: checksum mismatch: %w", key, ErrCorrupt)
	}
	return value, nil
}

// encodeRecord returns the file contents for value stored under key.
func encodeRecord(key string, value []byte) []byte {
	b := make([]byte, headerSize+len(value))
	copy(b, magic[:])
	binary.BigEndian.PutUint32(b[4:8], uint32(len(value)))
	binary.BigEndian.PutUint32(b[8:12], checksum(key, value))
	copy(b[headerSize:], value)
	return b
}

// Put stores value under key, replacing any previous value, and returns once
// the new value is durable. If it fails, the key holds its previous value.
func (s *Store) Put(key string, value []byte) error {
	if err := validKey(key); err != nil {
		return err
	}
	if len(value) > MaxValueSize {
		return fmt.Errorf("storage: %q: %d octets: %w", key, len(value), ErrTooLarge)
	}
	rec := encodeRecord(key, value)

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if _, ok := s.keys[key]; !ok && len(s.keys) >= keyLimit {
		return fmt.Errorf("storage: %q: %w", key, ErrFull)
	}
	if err := s.writeAtomic(key, rec); err != nil {
		return err
	}
	s.keys[key] = struct{}{}
	return nil
}

// writeAtomic replaces the file of key with rec: temporary file, fsync,
// rename, fsync of the directory.
func (s *Store) writeAtomic(key string, rec []byte) (err error) {
	tmp, err := os.CreateTemp(s.path, tempPrefix+key+".*") // mode 0600
	if err != nil {
		return fmt.Errorf("storage: %q: %w", key, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(rec); err != nil {
		return fmt.Errorf("storage: writing %q: %w", key, err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("storage: sync %q: %w", key, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("storage: writing %q: %w", key, err)
	}
	if err = os.Rename(tmp.Name(), s.file(key)); err != nil {
		return fmt.Errorf("storage: %q: %w", key, err)
	}
	// From here on the new value is in place; a failed directory sync
	// means only that it may not survive a power cut.
	if err := s.dir.Sync(); err != nil {
		return fmt.Errorf("storage: sync %s after writing %q: %w", s.path, key, err)
	}
	return nil
}

// Delete removes key and returns once the removal is durable. Deleting a key
// that holds no value is not an error.
func (s *Store) Delete(key string) error {
	if err := validKey(key); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if err := os.Remove(s.file(key)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			delete(s.keys, key)
			return nil
		}
		return fmt.Errorf("storage: deleting %q: %w", key, err)
	}
	delete(s.keys, key)
	if err := s.dir.Sync(); err != nil {
		return fmt.Errorf("storage: sync %s after deleting %q: %w", s.path, key, err)
	}
	return nil
}

// Keys returns the keys starting with prefix, in ascending order. An empty
// prefix lists every key.
func (s *Store) Keys(prefix string) ([]string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	var out []string
	for k := range s.keys {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out, nil
}

// Wipe deletes every record, as a factory reset does (fabrics, access
// control lists, counters and settings all go), and returns once that is
// durable. The store stays open and usable. Files in the directory that are
// not records of the store are left alone.
func (s *Store) Wipe() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	entries, err := os.ReadDir(s.path)
	if err != nil {
		return fmt.Errorf("storage: wipe: %w", err)
	}
	var errs []error
	for _, e := range entries {
		name := e.Name()
		key, isRecord := strings.CutSuffix(name, fileSuffix)
		isRecord = isRecord && validKey(key) == nil
		if !isRecord && !strings.HasPrefix(name, tempPrefix) {
			continue
		}
		if err := os.Remove(filepath.Join(s.path, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		if isRecord {
			delete(s.keys, key)
		}
	}
	if err := s.dir.Sync(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("storage: wipe: %w", err)
	}
	return nil
}
