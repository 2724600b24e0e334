package message

import (
	"crypto/cipher"
	"testing"

	"github.com/mattercam/mattercam/matter/crypto"
)

// The benchmarks seal and open a message with a 1 KiB application payload,
// as a secure unicast session does, and report throughput over the payload.
// "ccm" uses matter/crypto's AES-CCM, the AEAD sessions really use;
// "gcm13" uses the standard library's AES-GCM with Matter's nonce and tag
// sizes, to show the cost of the message layer itself next to a
// hardware-accelerated AEAD.

func benchAEADs() []struct {
	name string
	aead cipher.AEAD
} {
	return []struct {
		name string
		aead cipher.AEAD
	}{
		{"ccm", mustNewCCM(testKey)},
		{"gcm13", mustGCM(testKey, NonceSize)},
	}
}

func BenchmarkSeal1K(b *testing.B) {
	for _, a := range benchAEADs() {
		for _, privacy := range []bool{false, true} {
			name := a.name
			if privacy {
				name += "/privacy"
			}
			b.Run(name, func(b *testing.B) {
				priv := mustPrivacy(b, testKey)
				h := Header{SessionID: 0x1234, Privacy: privacy}
				ph := ProtocolHeader{Initiator: true, Reliable: true, Opcode: 8, ExchangeID: 1, ProtocolID: ProtocolInteractionModel}
				payload := make([]byte, 1024)
				buf := make([]byte, 0, 2048)
				b.SetBytes(int64(len(payload)))
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					h.Counter = uint32(i)
					msg, err := AppendMessage(buf[:0], &h, &ph, payload)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := Seal(msg, a.aead, 0, priv); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkOpen1K(b *testing.B) {
	for _, a := range benchAEADs() {
		for _, privacy := range []bool{false, true} {
			name := a.name
			if privacy {
				name += "/privacy"
			}
			b.Run(name, func(b *testing.B) {
				priv := mustPrivacy(b, testKey)
				h := Header{SessionID: 0x1234, Counter: 99, Privacy: privacy}
				ph := ProtocolHeader{Initiator: true, Reliable: true, Opcode: 8, ExchangeID: 1, ProtocolID: ProtocolInteractionModel}
				plain, err := AppendMessage(nil, &h, &ph, make([]byte, 1024))
				if err != nil {
					b.Fatal(err)
				}
				sealed, err := Seal(plain, a.aead, 0, priv)
				if err != nil {
					b.Fatal(err)
				}
				buf := make([]byte, len(sealed))
				b.SetBytes(1024)
				b.ReportAllocs()
				for b.Loop() {
					copy(buf, sealed) // Open decrypts in place
					var d Header
					if _, err := Open(buf, &d, a.aead, 0, priv); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkHeaderDecode(b *testing.B) {
	msg := unhexMust("067ddb81d926afce24c8a0981bdd44f4e7302b2f915a66c9596290ebe4408217b3c0c921a2fca4e1")
	b.ReportAllocs()
	for b.Loop() {
		var h Header
		if _, err := h.Decode(msg); err != nil {
			b.Fatal(err)
		}
	}
}

func mustNewCCM(key []byte) cipher.AEAD {
	a, err := crypto.NewCCM(key)
	if err != nil {
		panic(err)
	}
	return a
}
