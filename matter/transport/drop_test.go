package transport_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mattercam/mattercam/matter/crypto"
	"github.com/mattercam/mattercam/matter/message"
	"github.com/mattercam/mattercam/matter/session"
	"github.com/mattercam/mattercam/matter/transport"
)

// lockedBuffer collects log output written from the manager's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestHostileMessagesDropped: replayed, behind-the-window, wrongly keyed,
// truncated and oversized messages reach no handler, leave a log line, and
// never panic; a genuine message still gets through afterwards.
func TestHostileMessagesDropped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := transport.NewMemNetwork(transport.MemConfig{MaxMessageSize: 4096})
		aAddr, bAddr, evil := netip.MustParseAddrPort("[fd00::a]:5540"), netip.MustParseAddrPort("[fd00::b]:5540"), netip.MustParseAddrPort("[fd00::e]:5540")
		ta, _ := net.Listen(aAddr)
		tb, _ := net.Listen(bAddr)
		te, _ := net.Listen(evil)
		defer ta.Close()
		defer te.Close()

		var logs lockedBuffer
		tabB, err := session.NewTable(session.Config{NewAEAD: crypto.NewCCM})
		if err != nil {
			t.Fatal(err)
		}
		mB, err := transport.NewManager(transport.ManagerConfig{
			Transports: []transport.Transport{tb}, Sessions: tabB,
			Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		})
		if err != nil {
			t.Fatal(err)
		}
		defer mB.Close()
		var delivered atomic.Int32
		mB.Handle(protoTest, func(ctx context.Context, e *transport.Exchange, first transport.Message) {
			delivered.Add(1)
		})
		a := newPeer(t, ta)
		b := &peer{table: tabB, m: mB}
		sa, _ := paseSessions(t, a, b, transport.PeerAddr{Network: transport.UDP, Addr: aAddr}, transport.PeerAddr{Network: transport.UDP, Addr: bAddr})

		var xid uint16
		seal := func(s *session.Secure) []byte {
			xid++
			// Unreliable, so a dropped message is not retransmitted
			// and its absence is what the test observes.
			ph := message.ProtocolHeader{Initiator: true, Opcode: 1, ExchangeID: xid, ProtocolID: protoTest}
			msg, _, err := s.SealMessage(nil, &ph, []byte("hello"))
			if err != nil {
				t.Fatal(err)
			}
			return msg
		}
		send := func(msg []byte) {
			if err := te.Send(t.Context(), bAddr, msg); err != nil {
				t.Fatal(err)
			}
			time.Sleep(10 * time.Millisecond)
			synctest.Wait()
		}
		expect := func(what string, want int32) {
			t.Helper()
			if got := delivered.Load(); got != want {
				t.Fatalf("%s: %d messages delivered, want %d", what, got, want)
			}
		}

		first := seal(sa)
		send(bytes.Clone(first))
		expect("genuine message", 1)
		send(bytes.Clone(first))
		expect("replay", 1)

		// 40 newer messages move the window past the first 8 of them.
		var old [][]byte
		for range 40 {
			old = append(old, seal(sa))
		}
		send(old[len(old)-1])
		expect("newest of 40", 2)
		send(old[0])
		expect("counter behind the window", 2)

		// Same session IDs, other keys: the MIC fails.
		other, err := session.NewTable(session.Config{NewAEAD: crypto.NewCCM})
		if err != nil {
			t.Fatal(err)
		}
		r, _ := other.Reserve()
		forged, err := r.Establish(session.SecureConfig{
			PeerSessionID: sa.PeerSessionID(), Role: session.Initiator, AuthMode: session.AuthPASE,
			Keys: session.Keys{I2R: bytes.Repeat([]byte{9}, 16), R2I: bytes.Repeat([]byte{9}, 16), AttestationChallenge: make([]byte, 16)},
		})
		if err != nil {
			t.Fatal(err)
		}
		send(seal(forged))
		expect("wrong key", 2)

		genuine := seal(sa)
		for _, n := range []int{0, 1, 4, 8, len(genuine) - 17, len(genuine) - 1} {
			send(bytes.Clone(genuine[:n]))
		}
		expect("truncated", 2)
		send(append(bytes.Clone(genuine), make([]byte, 3000)...))
		expect("oversized", 2)

		send(genuine)
		expect("genuine message after the attack", 3)

		if n := strings.Count(logs.String(), "dropped message"); n < 4 {
			t.Fatalf("%d 'dropped message' log lines, want ≥ 4:\n%s", n, logs.String())
		}
		if s := mB.Stats(); s.DecodeErrors == 0 || s.Duplicates == 0 {
			t.Fatalf("stats %+v", s)
		}
	})
}
