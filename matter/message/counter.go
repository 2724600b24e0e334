package message

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"sync"
	"sync/atomic"
)

// maxRandomStart is 2^28: counters start at Crypto_DRBG(len = 28) + 1, a
// value in [1, 2^28] (§4.6.1.1).
const maxRandomStart = 1 << 28

// RandomCounterStart returns an initial message counter value,
// Crypto_DRBG(len = 28) + 1 (§4.6.1.1): uniform in [1, 2^28]. Starting at a
// random value keeps an observer from telling how old a session is. r is
// the randomness source; nil means [crypto/rand.Reader].
func RandomCounterStart(r io.Reader) (uint32, error) {
	if r == nil {
		r = rand.Reader
	}
	var b [4]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return 0, fmt.Errorf("message: random counter start: %w", err)
	}
	return binary.LittleEndian.Uint32(b[:])&(maxRandomStart-1) + 1, nil
}

// SessionCounter is the Secure Session Message Counter of one secure
// unicast session (§4.6.1): it starts at a random value and never rolls
// over. Once it is exhausted the session must be discarded and
// re-established. It is safe for concurrent use.
type SessionCounter struct {
	next atomic.Uint64 // the next value; > MaxUint32 when exhausted
}

// NewSessionCounter returns a SessionCounter starting at
// [RandomCounterStart]. r nil means [crypto/rand.Reader].
func NewSessionCounter(r io.Reader) (*SessionCounter, error) {
	v, err := RandomCounterStart(r)
	if err != nil {
		return nil, err
	}
	return NewSessionCounterAt(v), nil
}

// NewSessionCounterAt returns a SessionCounter whose first value is start.
// It exists for tests and vectors; real sessions start at a random value.
func NewSessionCounterAt(start uint32) *SessionCounter {
	c := new(SessionCounter)
	c.next.Store(uint64(start))
	return c
}

// Next returns the counter for the next outgoing message, or
// [ErrCounterExhausted] once 0xFFFFFFFF has been handed out.
func (c *SessionCounter) Next() (uint32, error) {
	v := c.next.Add(1) - 1
	if v > math.MaxUint32 {
		c.next.Store(math.MaxUint32 + 1) // keep it from wrapping the uint64
		return 0, ErrCounterExhausted
	}
	return uint32(v), nil
}

// Peek returns the value Next would return, and whether the counter is
// exhausted.
func (c *SessionCounter) Peek() (next uint32, exhausted bool) {
	v := c.next.Load()
	return uint32(v), v > math.MaxUint32
}

// GlobalCounter is the node's Global Unencrypted Message Counter (§4.6.1):
// it numbers messages of the Unsecured Session, starts at a random value and
// rolls over. Persisting it is optional; a node that loses it starts again
// at a random value. It is safe for concurrent use.
type GlobalCounter struct {
	next atomic.Uint32
}

// NewGlobalCounter returns a GlobalCounter starting at
// [RandomCounterStart]. r nil means [crypto/rand.Reader].
func NewGlobalCounter(r io.Reader) (*GlobalCounter, error) {
	v, err := RandomCounterStart(r)
	if err != nil {
		return nil, err
	}
	c := new(GlobalCounter)
	c.next.Store(v)
	return c, nil
}

// Next returns the counter for the next outgoing message. It rolls over from
// 0xFFFFFFFF to 0.
func (c *GlobalCounter) Next() uint32 {
	return c.next.Add(1) - 1
}

// CounterStore persists the reserved upper bounds of the counters that must
// survive a reboot: the Global Group Encrypted Data and Control Message
// Counters (§4.6.1). Implementations write atomically (write a temporary
// file, fsync, rename) and return only once the value is durable.
type CounterStore interface {
	// LoadCounter returns the last value stored under key; ok is false if
	// none was ever stored.
	LoadCounter(key string) (value uint32, ok bool, err error)
	// StoreCounter durably records value under key.
	StoreCounter(key string, value uint32) error
}

// DefaultCounterReserve is the number of counter values a PersistentCounter
// reserves with each write to its store.
const DefaultCounterReserve = 1024

// PersistentCounter is a counter that never hands out a value twice, even
// across crashes, while writing to storage only once every reserve values.
// It implements the Global Group Encrypted Message Counters (§4.6.1), which
// the spec requires to be persisted and never to roll back.
//
// The store always holds an upper bound: before a value is handed out, a
// bound above it has been made durable. On start-up the counter resumes at
// the stored bound, skipping at most reserve values that were reserved but
// unused. It rolls over from 0xFFFFFFFF to 0, as group counters may; a
// wrap before the group keys are rotated exhausts those keys (§4.6.4),
// which is for the key management to track.
//
// PersistentCounter is safe for concurrent use.
type PersistentCounter struct {
	mu        sync.Mutex
	store     CounterStore
	key       string
	reserve   uint32
	next      uint32 // the next value to hand out
	remaining uint32 // values from next that are covered by the stored bound
}

// NewPersistentCounter loads the counter stored under key, or starts a new
// one at [RandomCounterStart] (as on a factory reset, §4.6.1), reserves
// reserve values and stores the new bound before returning. reserve 0 means
// [DefaultCounterReserve]. r nil means [crypto/rand.Reader].
func NewPersistentCounter(store CounterStore, key string, reserve uint32, r io.Reader) (*PersistentCounter, error) {
	if reserve == 0 {
		reserve = DefaultCounterReserve
	}
	v, ok, err := store.LoadCounter(key)
	if err != nil {
		return nil, fmt.Errorf("message: loading counter %q: %w", key, err)
	}
	if !ok {
		if v, err = RandomCounterStart(r); err != nil {
			return nil, err
		}
	}
	c := &PersistentCounter{store: store, key: key, reserve: reserve, next: v}
	if err := c.extend(); err != nil {
		return nil, err
	}
	return c, nil
}

// extend stores the bound next+reserve, making reserve more values usable.
func (c *PersistentCounter) extend() error {
	if err := c.store.StoreCounter(c.key, c.next+c.reserve); err != nil {
		return fmt.Errorf("message: storing counter %q: %w", c.key, err)
	}
	c.remaining = c.reserve
	return nil
}

// Next returns the counter for the next outgoing message. It fails only if
// the store fails when a new reservation is due; no value is handed out
// without a durable bound above it.
func (c *PersistentCounter) Next() (uint32, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.remaining == 0 {
		if err := c.extend(); err != nil {
			return 0, err
		}
	}
	v := c.next
	c.next++
	c.remaining--
	return v, nil
}
