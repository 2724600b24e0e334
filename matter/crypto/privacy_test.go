package crypto

import (
	"bytes"
	"testing"
)

// The message vectors below come from connectedhomeip
// src/transport/tests/TestSessionManagerDispatch.cpp (theMessageTestVector)
// unless stated otherwise; see also matterMessageVectors in ccm_test.go.

func TestMessageNonceVectors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		flags   uint8
		counter uint32
		node    uint64
		want    string
	}{
		{"CHIP secure PASE message", 0x00, 0x00003039, 0, "00393000000000000000000000"},
		{"CHIP secure PASE message with privacy flag", 0x80, 0x00003039, 0, "80393000000000000000000000"},
		{"CHIP secure group message", 0x01, 0x12345678, 1, "01785634120100000000000000"},
		{"CHIP private group message", 0x81, 0x12345679, 1, "81795634120100000000000000"},
		{"all fields distinct", 0xa5, 0x04030201, 0x0c0b0a0908070605, "a5 01020304 05060708090a0b0c"},
	} {
		var got [AEADNonceSize]byte
		MessageNonce(&got, tc.flags, tc.counter, tc.node)
		if want := unhex(t, tc.want); !bytes.Equal(got[:], want) {
			t.Errorf("%s: MessageNonce = %x, want %x", tc.name, got, want)
		}
	}
}

func TestPrivacyNonceVectors(t *testing.T) {
	for _, tc := range []struct {
		name      string
		sessionID uint16
		mic, want string
	}{
		// connectedhomeip src/transport/tests/TestCryptoContext.cpp
		// (thePrivacyNonceTestVector).
		{"CHIP TestBuildPrivacyNonce", 0x002a, "c5a0063ad5d2518191400dd68c5c163b", "002ad2518191400dd68c5c163b"},
		{"CHIP secure PASE message with privacy flag", 0x0bb8, "137917d15b81d15d313308319758ea3f", "0bb881d15d313308319758ea3f"},
		{"CHIP secure group message", 0xdb7d, "0106c9801323900e9b3ce6d4bb0327d6", "db7d23900e9b3ce6d4bb0327d6"},
		{"CHIP private group message", 0xdb7d, "596290ebe4408217b3c0c921a2fca4e1", "db7d408217b3c0c921a2fca4e1"},
	} {
		var got [AEADNonceSize]byte
		if err := PrivacyNonce(&got, tc.sessionID, unhex(t, tc.mic)); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if want := unhex(t, tc.want); !bytes.Equal(got[:], want) {
			t.Errorf("%s: PrivacyNonce = %x, want %x", tc.name, got, want)
		}
	}
	var n [AEADNonceSize]byte
	for _, l := range []int{0, 15, 17} {
		if err := PrivacyNonce(&n, 1, make([]byte, l)); err == nil {
			t.Errorf("PrivacyNonce accepted a %d-octet MIC", l)
		}
	}
}

func TestDerivePrivacyKeyVectors(t *testing.T) {
	for _, tc := range []struct{ name, encryptionKey, privacyKey string }{
		{"CHIP secure group message", "ca92d7a0942d1a511a0e26ad074f4c2f", "bfe9da016a765365f2dd97a9f939e425"},
		// connectedhomeip src/crypto/tests/TestGroupOperationalCredentials.cpp
		// (kGroupKeys0[].encryption_key → privacy_key).
		{"CHIP group credentials #0", "c5f2690187115150c356ad93b385bb0f", "f5ce81881d1118c5c891c9060bc77009"},
		{"CHIP group credentials #1", "aed95695f375d2ce78556a41730c3f43", "dc90db2e61765a42607fafaf1637400a"},
		{"CHIP group credentials #2", "35ca346e5e24bbbe889cf4d35c5e820a", "b1fb3e79a2ff27f3704d2be9192db607"},
	} {
		got, err := DerivePrivacyKey(unhex(t, tc.encryptionKey))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if want := unhex(t, tc.privacyKey); !bytes.Equal(got, want) {
			t.Errorf("%s: DerivePrivacyKey = %x, want %x", tc.name, got, want)
		}
	}
	if _, err := DerivePrivacyKey(make([]byte, 15)); err == nil {
		t.Error("DerivePrivacyKey accepted a 15-octet key")
	}
}

// TestPrivacyEncryptVectors checks the obfuscated header fields of the
// private messages of TestSessionManagerDispatch.cpp: everything after the
// message flags, session ID and security flags (message counter, source node
// ID, destination group ID) is encrypted under the privacy key and nonce.
func TestPrivacyEncryptVectors(t *testing.T) {
	for _, tc := range []struct {
		name, privacyKey, privacyNonce, clear, obfuscated string
	}{
		// The group privacy key is DerivePrivacyKey of the group's
		// operational key (see TestDerivePrivacyKeyVectors).
		{"CHIP private group message", "bfe9da016a765365f2dd97a9f939e425", "db7d408217b3c0c921a2fca4e1",
			"79563412 0100000000000000 0200", "d926afce 24c8a0981bdd44f4 e730"},
		// This vector (a negative test in the SDK, which drops private
		// PASE messages) obfuscates with the session encryption key itself
		// rather than a derived privacy key. It still pins the AES-CTR
		// counter layout.
		{"CHIP secure PASE message with privacy flag", "5eded244e5532b3cdc23409dbad052d2", "0bb881d15d313308319758ea3f",
			"39300000", "87beef06"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := unhex(t, tc.privacyKey)
			nonce := (*[AEADNonceSize]byte)(unhex(t, tc.privacyNonce))
			clearText, want := unhex(t, tc.clear), unhex(t, tc.obfuscated)

			got := make([]byte, len(clearText))
			if err := PrivacyEncrypt(key, nonce, got, clearText); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("PrivacyEncrypt = %x, want %x", got, want)
			}
			// In place, and back.
			if err := PrivacyDecrypt(key, nonce, got, got); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, clearText) {
				t.Fatalf("PrivacyDecrypt = %x, want %x", got, clearText)
			}
		})
	}
}

// TestPrivacyMatchesCCMKeyStream checks the §3.7 construction against its
// definition: the privacy key stream is the key stream CCM uses for the
// payload under the same nonce.
func TestPrivacyMatchesCCMKeyStream(t *testing.T) {
	key := unhex(t, "000102030405060708090a0b0c0d0e0f")
	var nonce [AEADNonceSize]byte
	copy(nonce[:], "privacy nonce")
	zeros := make([]byte, 100)

	aead, err := NewCCM(key)
	if err != nil {
		t.Fatal(err)
	}
	stream := aead.Seal(nil, nonce[:], zeros, nil)[:len(zeros)]
	got := make([]byte, len(zeros))
	if err := PrivacyEncrypt(key, &nonce, got, zeros); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, stream) {
		t.Fatalf("privacy key stream %x, CCM key stream %x", got, stream)
	}
}

func TestPrivacyEncryptRejects(t *testing.T) {
	var nonce [AEADNonceSize]byte
	key := make([]byte, 16)
	buf := make([]byte, 32)
	for _, tc := range []struct {
		name          string
		key, dst, src []byte
	}{
		{"short key", key[:15], buf[:4], buf[4:8]},
		{"short dst", key, buf[:3], buf[4:8]},
		{"overlap", key, buf[1:5], buf[0:4]},
		{"too long", key, make([]byte, maxPrivacyLength+1), make([]byte, maxPrivacyLength+1)},
	} {
		if err := PrivacyEncrypt(tc.key, &nonce, tc.dst, tc.src); err == nil {
			t.Errorf("%s: PrivacyEncrypt succeeded", tc.name)
		}
	}
}
