package session

import (
	"bytes"
	"testing"

	"github.com/mattercam/mattercam/matter/message"
	"github.com/mattercam/mattercam/matter/transport"
)

// FuzzTableOpen feeds arbitrary packets to a table holding a PASE session,
// a CASE session with privacy and an initiator's Unsecured Session context.
// It must never panic, must not let the unsecured table outgrow its bound,
// and whatever opens as a new message of a secure session must have been
// sealed by its peer (here: be one of the seeds).
func FuzzTableOpen(f *testing.F) {
	peerTab := newTestTable(f, Config{})
	tab := newTestTable(f, Config{MaxUnsecured: 4})
	pa, pb := pair(f, peerTab, tab, paseConfig)
	ca, cb := pair(f, peerTab, tab, func(r Role, p uint16) SecureConfig {
		c := caseConfig(r, 1, 0x10, 0x20, p)
		if r == Responder {
			c.LocalNodeID, c.PeerNodeID = 0x20, 0x10
		}
		c.Privacy = true
		return c
	})
	from := udp("[fe80::9]:5540")
	ui := tab.Unsecured(from, 0x1234, Initiator)
	ur := peerTab.Unsecured(from, 0x1234, Responder)

	ph := message.ProtocolHeader{Initiator: true, Reliable: true, Opcode: 5, ExchangeID: 6, ProtocolID: message.ProtocolInteractionModel}
	sealed := map[string]bool{}
	for _, s := range []*Secure{pa, ca} {
		m, _, err := s.SealMessage(nil, &ph, []byte("payload"))
		if err != nil {
			f.Fatal(err)
		}
		sealed[string(m)] = true
		f.Add(m)
	}
	for _, u := range []*Unsecured{ur, tab.Unsecured(from, 0x99, Responder)} {
		m, _, err := u.SealMessage(nil, &ph, []byte("handshake"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(m)
	}
	f.Add([]byte{0x04, 0, 0, 0, 1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		in, err := tab.Open(transport.Packet{From: from, Data: bytes.Clone(b)})
		if n := tab.UnsecuredLen(); n > 4 {
			t.Fatalf("%d unsecured contexts, bound 4", n)
		}
		if err != nil {
			return
		}
		if s, ok := in.Session.(*Secure); ok && !in.Duplicate {
			if s != pb && s != cb {
				t.Fatalf("opened by an unknown session %v", s)
			}
			if !sealed[string(b)] {
				t.Fatalf("forged message accepted: %x", b)
			}
		}
		_ = ui
	})
}
