package message

import (
	"bytes"
	"errors"
	"testing"

	"github.com/mattercam/mattercam/matter/crypto"
)

// These tests check this package against matter/crypto, whose AES-CCM and
// privacy primitives are written independently of the test-only CCM used
// elsewhere here.

func mustCryptoCCM(t testing.TB, key []byte) interface {
	NonceSize() int
	Overhead() int
	Seal(dst, nonce, plaintext, additionalData []byte) []byte
	Open(dst, nonce, ciphertext, additionalData []byte) ([]byte, error)
} {
	t.Helper()
	a, err := crypto.NewCCM(key)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestCrossCheckVectors(t *testing.T) {
	for _, v := range messageVectors {
		t.Run(v.name, func(t *testing.T) {
			aead := mustCryptoCCM(t, unhex(t, v.key))
			got, err := Seal(unhex(t, v.plain), aead, v.nodeID, vectorPrivacy(t, v))
			if err != nil {
				t.Fatal(err)
			}
			if want := unhex(t, v.private); !bytes.Equal(got, want) {
				t.Fatalf("Seal with crypto.NewCCM =\n%x\nwant\n%x", got, want)
			}
			var h Header
			if _, err := Open(got, &h, aead, v.nodeID, vectorPrivacy(t, v)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestCrossCheckPrivacy(t *testing.T) {
	for _, key := range [][]byte{testKey, testKey2, unhex(t, vecGroupKey)} {
		want, err := crypto.DerivePrivacyKey(key)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DerivePrivacyKey(key)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("DerivePrivacyKey = %x, crypto.DerivePrivacyKey = %x", got, want)
		}
		p, err := NewPrivacyWithKey(got)
		if err != nil {
			t.Fatal(err)
		}
		mic := bytes.Repeat([]byte{0x3c}, MICSize)
		region := []byte("0123456789abcdefghij") // the longest obfuscated region
		var nonce [crypto.AEADNonceSize]byte
		if err := crypto.PrivacyNonce(&nonce, 0xbeef, mic); err != nil {
			t.Fatal(err)
		}
		if mine := PrivacyNonce(0xbeef, mic); mine != nonce {
			t.Fatalf("PrivacyNonce = %x, crypto.PrivacyNonce = %x", mine, nonce)
		}
		wantCT := make([]byte, len(region))
		if err := crypto.PrivacyEncrypt(want, &nonce, wantCT, region); err != nil {
			t.Fatal(err)
		}
		gotCT := bytes.Clone(region)
		s := getScratch()
		p.xor(s, gotCT, 0xbeef, mic)
		putScratch(s)
		if !bytes.Equal(gotCT, wantCT) {
			t.Fatalf("privacy key stream = %x, crypto.PrivacyEncrypt = %x", gotCT, wantCT)
		}
	}
}

// TestSealPayloadLimit checks that an oversized payload is an error rather
// than a panic in the AEAD.
func TestSealPayloadLimit(t *testing.T) {
	aead := mustCryptoCCM(t, testKey)
	h := Header{SessionID: 1}
	ph := ProtocolHeader{}
	for _, tt := range []struct {
		payload int
		err     error
	}{
		{MaxPayloadLen - MinProtocolHeaderLen, nil},
		{MaxPayloadLen - MinProtocolHeaderLen + 1, ErrInvalid},
	} {
		msg, err := AppendMessage(nil, &h, &ph, make([]byte, tt.payload))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Seal(msg, aead, 0, nil); !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
			t.Errorf("Seal of a %d-octet payload: err = %v, want %v", tt.payload, err, tt.err)
		}
	}
}
