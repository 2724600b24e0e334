package session

import (
	"bytes"
	"errors"
	"testing"

	"github.com/mattercam/mattercam/matter/message"
	"github.com/mattercam/mattercam/matter/transport"
)

// TestHoldUntilEstablished: a message for a Session ID that a handshake has
// reserved but not yet installed is held, within bounds, and handed back in
// order once the session is installed; a failed handshake drops it; without
// a registered redeliver function nothing is held.
func TestHoldUntilEstablished(t *testing.T) {
	from := udp("[2001:db8::a]:5540")
	// seal returns n messages from a to the session b will install under
	// b's reserved ID.
	seal := func(t *testing.T, a *Secure, n int) [][]byte {
		var out [][]byte
		for i := range n {
			ph := message.ProtocolHeader{Initiator: true, Opcode: 1, ExchangeID: uint16(i), ProtocolID: message.ProtocolInteractionModel}
			msg, _, err := a.SealMessage(nil, &ph, bytes.Repeat([]byte{byte(i)}, 60))
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, msg)
		}
		return out
	}
	// setup reserves an ID in b, establishes a's end with it, and returns
	// the reservation and a's session.
	setup := func(t *testing.T, ta, tb *Table) (*Reservation, *Secure) {
		rb, err := tb.Reserve()
		if err != nil {
			t.Fatal(err)
		}
		ra, err := ta.Reserve()
		if err != nil {
			t.Fatal(err)
		}
		sa, err := ra.Establish(caseConfig(Initiator, 1, 0x1111, 0x2222, rb.ID()))
		if err != nil {
			t.Fatal(err)
		}
		return rb, sa
	}

	t.Run("redelivered in order", func(t *testing.T) {
		ta, tb := newTestTable(t, Config{}), newTestTable(t, Config{MaxHeld: 3})
		var got []transport.Packet
		tb.SetRedeliver(func(p transport.Packet) { got = append(got, p) })
		rb, sa := setup(t, ta, tb)
		msgs := seal(t, sa, 4)
		for i, m := range msgs {
			_, err := tb.Open(transport.Packet{From: from, Data: bytes.Clone(m)})
			if i < 3 && !errors.Is(err, transport.ErrSessionPending) {
				t.Fatalf("message %d: %v, want it held", i, err)
			}
			if i == 3 && !errors.Is(err, ErrNoSession) {
				t.Fatalf("message over MaxHeld: %v, want ErrNoSession", err)
			}
		}
		if len(got) != 0 {
			t.Fatal("redelivered before the session exists")
		}
		sb, err := rb.Establish(caseConfig(Responder, 1, 0x2222, 0x1111, sa.LocalSessionID()))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 {
			t.Fatalf("%d packets redelivered, want 3", len(got))
		}
		for i, p := range got {
			if !bytes.Equal(p.Data, msgs[i]) || p.From != from {
				t.Fatalf("packet %d changed while held", i)
			}
			in, err := tb.Open(p)
			if err != nil || in.Session != sb || in.Payload[0] != byte(i) {
				t.Fatalf("redelivered packet %d: %v %+v", i, err, in)
			}
		}
		if tb.heldBytes != 0 {
			t.Fatalf("%d bytes still counted as held", tb.heldBytes)
		}
	})

	t.Run("byte bound", func(t *testing.T) {
		ta := newTestTable(t, Config{})
		tb := newTestTable(t, Config{MaxHeldBytes: 100})
		tb.SetRedeliver(func(transport.Packet) {})
		_, sa := setup(t, ta, tb)
		msgs := seal(t, sa, 2) // each well over 50 bytes
		if _, err := tb.Open(transport.Packet{From: from, Data: msgs[0]}); !errors.Is(err, transport.ErrSessionPending) {
			t.Fatal(err)
		}
		if _, err := tb.Open(transport.Packet{From: from, Data: msgs[1]}); !errors.Is(err, ErrNoSession) {
			t.Fatalf("over MaxHeldBytes: %v", err)
		}
	})

	t.Run("dropped when the handshake fails", func(t *testing.T) {
		ta, tb := newTestTable(t, Config{}), newTestTable(t, Config{})
		redelivered := 0
		tb.SetRedeliver(func(transport.Packet) { redelivered++ })
		rb, sa := setup(t, ta, tb)
		if _, err := tb.Open(transport.Packet{From: from, Data: seal(t, sa, 1)[0]}); !errors.Is(err, transport.ErrSessionPending) {
			t.Fatal(err)
		}
		rb.Release()
		if tb.heldBytes != 0 || redelivered != 0 {
			t.Fatalf("held bytes %d, redelivered %d after Release", tb.heldBytes, redelivered)
		}
		if _, err := rb.Establish(caseConfig(Responder, 1, 0x2222, 0x1111, sa.LocalSessionID())); err == nil || redelivered != 0 {
			t.Fatal("released reservation established or redelivered")
		}
	})

	t.Run("nothing held without a redeliver function", func(t *testing.T) {
		ta, tb := newTestTable(t, Config{}), newTestTable(t, Config{})
		_, sa := setup(t, ta, tb)
		if _, err := tb.Open(transport.Packet{From: from, Data: seal(t, sa, 1)[0]}); !errors.Is(err, ErrNoSession) {
			t.Fatalf("%v, want ErrNoSession", err)
		}
	})

	t.Run("unreserved ID", func(t *testing.T) {
		ta, tb := newTestTable(t, Config{}), newTestTable(t, Config{})
		tb.SetRedeliver(func(transport.Packet) { t.Fatal("redelivered") })
		ra, _ := ta.Reserve()
		sa, err := ra.Establish(caseConfig(Initiator, 1, 0x1111, 0x2222, 0x4242))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tb.Open(transport.Packet{From: from, Data: seal(t, sa, 1)[0]}); !errors.Is(err, ErrNoSession) {
			t.Fatalf("%v, want ErrNoSession", err)
		}
	})
}
