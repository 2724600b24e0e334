package session

import (
	"bytes"
	"crypto/cipher"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/mattercam/mattercam/matter/crypto"
	"github.com/mattercam/mattercam/matter/transport"
)

func newAEAD(key []byte) (cipher.AEAD, error) { return crypto.NewCCM(key) }

// fakeClock is a settable clock for tables under test.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// removal records an OnRemove call.
type removal struct {
	id     uint16
	reason RemoveReason
}

type recorder struct {
	mu  sync.Mutex
	got []removal
}

func (r *recorder) OnRemove(s *Secure, reason RemoveReason) {
	r.mu.Lock()
	r.got = append(r.got, removal{s.LocalSessionID(), reason})
	r.mu.Unlock()
}

func (r *recorder) take() []removal {
	r.mu.Lock()
	defer r.mu.Unlock()
	g := r.got
	r.got = nil
	return g
}

func newTestTable(t testing.TB, cfg Config) *Table {
	t.Helper()
	if cfg.NewAEAD == nil {
		cfg.NewAEAD = newAEAD
	}
	tab, err := NewTable(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

func udp(s string) transport.PeerAddr {
	return transport.PeerAddr{Network: transport.UDP, Addr: netip.MustParseAddrPort(s)}
}

var (
	keyI2R = bytes.Repeat([]byte{0x11}, 16)
	keyR2I = bytes.Repeat([]byte{0x22}, 16)
	keyAC  = bytes.Repeat([]byte{0x33}, 16)
)

func testKeys() Keys { return Keys{I2R: keyI2R, R2I: keyR2I, AttestationChallenge: keyAC} }

// caseConfig returns the configuration of a CASE session on a fabric.
func caseConfig(role Role, fabric uint8, local, peer uint64, peerSessionID uint16) SecureConfig {
	return SecureConfig{
		PeerSessionID: peerSessionID,
		Role:          role,
		AuthMode:      AuthCASE,
		FabricIndex:   fabric,
		LocalNodeID:   local,
		PeerNodeID:    peer,
		Keys:          testKeys(),
		Peer:          udp("[fe80::1]:5540"),
	}
}

func paseConfig(role Role, peerSessionID uint16) SecureConfig {
	return SecureConfig{
		PeerSessionID: peerSessionID,
		Role:          role,
		AuthMode:      AuthPASE,
		Keys:          testKeys(),
		Peer:          udp("[fe80::2]:5540"),
	}
}

func establish(t testing.TB, tab *Table, cfg SecureConfig) *Secure {
	t.Helper()
	r, err := tab.Reserve()
	if err != nil {
		t.Fatal(err)
	}
	s, err := r.Establish(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// pair establishes the two ends of one session in two tables.
func pair(t testing.TB, a, b *Table, mk func(role Role, peerSessionID uint16) SecureConfig) (*Secure, *Secure) {
	t.Helper()
	ra, err := a.Reserve()
	if err != nil {
		t.Fatal(err)
	}
	rb, err := b.Reserve()
	if err != nil {
		t.Fatal(err)
	}
	sa, err := ra.Establish(mk(Initiator, rb.ID()))
	if err != nil {
		t.Fatal(err)
	}
	sb, err := rb.Establish(mk(Responder, ra.ID()))
	if err != nil {
		t.Fatal(err)
	}
	return sa, sb
}
