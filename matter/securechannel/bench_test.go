package securechannel

import (
	"testing"

	"github.com/mattercam/mattercam/matter/session"
	"github.com/mattercam/mattercam/matter/transport"
)

// Full handshakes between two nodes over the in-memory network (no loss, no
// delay): the cost of the cryptography, the codecs, the exchange layer and
// MRP together. Each iteration closes the initiator's session so that the
// tables stay small; the responder's are evicted as they fill up.

func BenchmarkPASE(b *testing.B) {
	dev, ctrl := memPair(b, transport.MemConfig{Seed: 1}, Config{}, Config{})
	if err := dev.srv.OpenPASEWindow(testWindow(b)); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		s, err := ctrl.srv.EstablishPASE(b.Context(), udpPeer(addrDevice), testPasscode)
		if err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
}

func BenchmarkCASE(b *testing.B) {
	pki := newCasePKI(b)
	devCfg, ctrlCfg := pki.configs()
	dev, ctrl := memPair(b, transport.MemConfig{Seed: 2}, devCfg, ctrlCfg)
	b.ReportAllocs()
	for b.Loop() {
		ctrl.srv.Resumptions().RemoveFabric(pki.ctrl.Index) // no resumption
		s, err := ctrl.srv.EstablishCASE(b.Context(), udpPeer(addrDevice), pki.ctrl, devNodeID)
		if err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
	if st := dev.srv.Stats(); st.CASEResumed != 0 {
		b.Fatalf("stats %+v", st)
	}
}

func BenchmarkCASEResumption(b *testing.B) {
	pki := newCasePKI(b)
	devCfg, ctrlCfg := pki.configs()
	dev, ctrl := memPair(b, transport.MemConfig{Seed: 3}, devCfg, ctrlCfg)
	establish := func() *session.Secure {
		s, err := ctrl.srv.EstablishCASE(b.Context(), udpPeer(addrDevice), pki.ctrl, devNodeID)
		if err != nil {
			b.Fatal(err)
		}
		return s
	}
	establish().Close() // the full exchange that leaves a record
	b.ReportAllocs()
	for b.Loop() {
		establish().Close()
	}
	if st := dev.srv.Stats(); st.CASEEstablished != 1 {
		b.Fatalf("stats %+v", st)
	}
}
