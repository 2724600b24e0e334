package crypto

import (
	"bytes"
	"testing"
)

// FuzzSPAKE2PVerifier feeds arbitrary pA and cA to the device side of
// SPAKE2+. Whatever arrives, the verifier must not panic, must answer only
// with well-formed pB and cB, and must accept a confirmation only from the
// honest prover the seed corpus was built with.
func FuzzSPAKE2PVerifier(f *testing.F) {
	w0, w1 := unhexArray32(f, draft01W0), unhexArray32(f, draft01W1)
	pv := &PasscodeVerifier{W0: *w0, L: [PointSize]byte(unhex(f, draft01L))}
	x := unhex(f, draft01Vectors[3].x)
	y := unhex(f, draft01Vectors[3].y)
	context := []byte("fuzz")

	// An honest run, so the corpus reaches key confirmation.
	prover, honestPA, err := newProver(scheduleMatter, context, nil, nil, w0[:], w1[:], x)
	if err != nil {
		f.Fatal(err)
	}
	_, pB, cB, err := newVerifier(scheduleMatter, context, nil, nil, pv, honestPA, y)
	if err != nil {
		f.Fatal(err)
	}
	honestCA, _, err := prover.Finish(pB, cB)
	if err != nil {
		f.Fatal(err)
	}

	f.Add(honestPA, honestCA)
	f.Add(honestPA, honestCA[:31])
	f.Add(honestPA, make([]byte, 32))
	f.Add(unhex(f, rfc9383.shareP), honestCA)
	f.Add(spake2pMBytes, honestCA)
	f.Add([]byte{0x00}, []byte(nil))
	f.Add(honestPA[:33], []byte(nil))
	f.Add(bytes.Repeat([]byte{0xff}, 65), []byte{1})

	f.Fuzz(func(t *testing.T, pA, cA []byte) {
		v, pB, cB, err := newVerifier(scheduleMatter, context, nil, nil, pv, pA, y)
		if err != nil {
			if v != nil || pB != nil || cB != nil {
				t.Fatal("error with non-nil results")
			}
			return
		}
		if len(pB) != PointSize || pB[0] != 0x04 || len(cB) != ConfirmationSize {
			t.Fatalf("malformed response: pB %x, cB %x", pB, cB)
		}
		ke, err := v.Finish(cA)
		if err != nil {
			if ke != nil {
				t.Fatal("error with a key")
			}
			return
		}
		if !bytes.Equal(pA, honestPA) || !bytes.Equal(cA, honestCA) {
			t.Fatalf("confirmation accepted for pA %x, cA %x", pA, cA)
		}
		if len(ke) != SharedKeySize {
			t.Fatalf("Ke is %d octets", len(ke))
		}
	})
}

// FuzzCCMOpen feeds arbitrary nonces, ciphertexts and associated data to
// the Matter AEAD. Open must never panic, and must accept only what Seal
// produces.
func FuzzCCMOpen(f *testing.F) {
	key := unhex(f, matterMessageVectors[1].key)
	aead, err := NewCCM(key)
	if err != nil {
		f.Fatal(err)
	}
	for _, v := range matterMessageVectors[:2] {
		f.Add(unhex(f, v.nonce), unhex(f, v.sealed), unhex(f, v.aad))
	}
	sealed := unhex(f, matterMessageVectors[1].sealed)
	nonce := unhex(f, matterMessageVectors[1].nonce)
	f.Add(nonce, sealed[:16], []byte(nil))
	f.Add(nonce[:12], sealed, []byte(nil))
	f.Add(nonce, []byte(nil), []byte(nil))
	f.Add(nonce, make([]byte, 200), make([]byte, 40))

	f.Fuzz(func(t *testing.T, nonce, ciphertext, aad []byte) {
		pt, err := aead.Open(nil, nonce, ciphertext, aad)
		if err != nil {
			if pt != nil {
				t.Fatal("error with a plaintext")
			}
			// The in-place path must fail the same way and leave no
			// plaintext behind.
			buf := bytes.Clone(ciphertext)
			if _, err := aead.Open(buf[:0], nonce, buf, aad); err == nil {
				t.Fatal("in-place Open succeeded where Open failed")
			}
			return
		}
		if len(nonce) != AEADNonceSize || len(pt) != len(ciphertext)-AEADTagSize {
			t.Fatalf("Open accepted nonce %x, ciphertext %x", nonce, ciphertext)
		}
		if again := aead.Seal(nil, nonce, pt, aad); !bytes.Equal(again, ciphertext) {
			t.Fatalf("Seal(Open(c)) = %x, want %x", again, ciphertext)
		}
	})
}
