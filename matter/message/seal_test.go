package message

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"reflect"
	"testing"
)

var (
	testKey  = unhexMust("000102030405060708090a0b0c0d0e0f")
	testKey2 = unhexMust("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff")
)

func unhexMust(s string) []byte {
	var t testing.T
	return unhex(&t, s)
}

func mustPrivacy(t testing.TB, key []byte) *Privacy {
	t.Helper()
	p, err := NewPrivacy(key)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSealOpenRoundTrip seals and opens headers of every shape, with and
// without privacy, and checks that the obfuscated header differs from the
// plain one exactly in the obfuscated fields.
func TestSealOpenRoundTrip(t *testing.T) {
	headers := []struct {
		name string
		h    Header
	}{
		{"unicast", Header{SessionID: 0x1234, Counter: 0x0a0b0c0d}},
		{"unicast privacy", Header{SessionID: 0x1234, Counter: 0x0a0b0c0d, Privacy: true}},
		{"unicast privacy with node IDs", Header{SessionID: 1, Counter: 2, Privacy: true, HasSource: true, Source: 3, Destination: DestinationNode, DestNode: 4}},
		{"unicast extensions", Header{SessionID: 1, Counter: 2, Privacy: true, Extensions: []byte("ext")}},
		{"group", Header{SessionID: 0xdb7d, SessionType: SessionGroup, Counter: 9, HasSource: true, Source: 0x1122, Destination: DestinationGroup, DestGroup: 0x0102}},
		{"group privacy", Header{SessionID: 0xdb7d, SessionType: SessionGroup, Counter: 9, Privacy: true, HasSource: true, Source: 0x1122, Destination: DestinationGroup, DestGroup: 0x0102}},
		{"group control", Header{SessionID: 7, SessionType: SessionGroup, Control: true, Privacy: true, Counter: 1, HasSource: true, Source: 5, Destination: DestinationNode, DestNode: 6}},
	}
	payloads := [][]byte{nil, []byte("x"), bytes.Repeat([]byte{0x5a}, 1000)}
	aead := mustCCM(testKey)
	priv := mustPrivacy(t, testKey)
	for _, hc := range headers {
		for _, payload := range payloads {
			t.Run(hc.name, func(t *testing.T) {
				ph := ProtocolHeader{Initiator: true, Reliable: true, Opcode: 2, ExchangeID: 3, ProtocolID: ProtocolInteractionModel}
				plain, err := AppendMessage(nil, &hc.h, &ph, payload)
				if err != nil {
					t.Fatal(err)
				}
				msg, err := Seal(bytes.Clone(plain), aead, 0x42, priv)
				if err != nil {
					t.Fatal(err)
				}
				if len(msg) != len(plain)+MICSize {
					t.Fatalf("sealed length %d, want %d", len(msg), len(plain)+MICSize)
				}
				hl := hc.h.Len()
				obf := privacyOffset + hc.h.privacyLen()
				for i := range hl {
					changed := msg[i] != plain[i]
					if changed && !(hc.h.Privacy && i >= privacyOffset && i < obf) {
						t.Errorf("header octet %d changed outside the obfuscated fields", i)
					}
				}
				if hc.h.Privacy && bytes.Equal(msg[privacyOffset:obf], plain[privacyOffset:obf]) {
					t.Errorf("privacy left the header fields unchanged")
				}
				var h Header
				pt, err := Open(msg, &h, aead, 0x42, priv)
				if err != nil {
					t.Fatal(err)
				}
				if !headersEqual(&h, &hc.h) {
					t.Errorf("header = %+v, want %+v", h, hc.h)
				}
				if !bytes.Equal(pt, plain[hl:]) {
					t.Errorf("plaintext differs")
				}
			})
		}
	}
}

func TestOpenErrors(t *testing.T) {
	aead := mustCCM(testKey)
	priv := mustPrivacy(t, testKey)
	seal := func(h Header) []byte {
		ph := ProtocolHeader{ExchangeID: 1}
		plain, err := AppendMessage(nil, &h, &ph, []byte("payload"))
		if err != nil {
			t.Fatal(err)
		}
		msg, err := Seal(plain, aead, 1, priv)
		if err != nil {
			t.Fatal(err)
		}
		return msg
	}
	unicast := seal(Header{SessionID: 1, Counter: 5})
	private := seal(Header{SessionID: 1, Counter: 5, Privacy: true})
	group := seal(Header{SessionID: 2, SessionType: SessionGroup, Counter: 5, HasSource: true, Source: 9, Destination: DestinationGroup, DestGroup: 3})
	tests := []struct {
		name   string
		msg    []byte
		aead   cipher.AEAD
		source uint64
		priv   *Privacy
		err    error
	}{
		{"wrong key", unicast, mustCCM(testKey2), 1, nil, ErrAuth},
		{"wrong nonce source", unicast, aead, 2, nil, ErrAuth},
		{"group ignores nonce source", group, aead, 12345, nil, nil},
		{"privacy without key", private, aead, 1, nil, ErrNoPrivacyKey},
		{"privacy with wrong key", private, aead, 1, mustPrivacy(t, testKey2), ErrAuth},
		{"truncated MIC", unicast[:len(unicast)-1], aead, 1, nil, ErrAuth},
		{"header only", unicast[:MinHeaderLen], aead, 1, nil, ErrTruncated},
		{"header and 15 octets", unicast[:MinHeaderLen+15], aead, 1, nil, ErrTruncated},
		{"unsecured", unhex(t, "00 0000 00 01000000 0000 0000 0000"+"00112233445566778899aabbccddeeff"), aead, 1, nil, ErrUnsecured},
		{"bad version", unhex(t, "20 0100 00 01000000"+"00112233445566778899aabbccddeeff"), aead, 1, nil, ErrVersion},
		{"AEAD with 12-octet nonce", unicast, mustGCM(testKey, 12), 1, nil, ErrAEAD},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h Header
			_, err := Open(bytes.Clone(tt.msg), &h, tt.aead, tt.source, tt.priv)
			if !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
				t.Fatalf("Open err = %v, want %v", err, tt.err)
			}
		})
	}
}

func TestSealErrors(t *testing.T) {
	aead := mustCCM(testKey)
	tests := []struct {
		name string
		msg  []byte
		aead cipher.AEAD
		priv *Privacy
		err  error
	}{
		{"unsecured", unhex(t, "00 0000 00 01000000 000000000000"), aead, nil, ErrUnsecured},
		{"privacy without key", unhex(t, "00 0100 80 01000000 000000000000"), aead, nil, ErrNoPrivacyKey},
		{"truncated header", unhex(t, "00 0100 00 010000"), aead, nil, ErrTruncated},
		{"GCM with 12-octet nonce", unhex(t, "00 0100 00 01000000"), mustGCM(testKey, 12), nil, ErrAEAD},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := bytes.Clone(tt.msg)
			out, err := Seal(in, tt.aead, 0, tt.priv)
			if !errors.Is(err, tt.err) {
				t.Fatalf("Seal err = %v, want %v", err, tt.err)
			}
			if !bytes.Equal(out, tt.msg) {
				t.Errorf("failed Seal changed the message: %x", out)
			}
		})
	}
}

// TestSealInPlace checks that Seal does not reallocate when the buffer has
// room for the MIC, and grows it otherwise.
func TestSealInPlace(t *testing.T) {
	h := Header{SessionID: 1, Counter: 1}
	ph := ProtocolHeader{}
	buf := make([]byte, 0, 64)
	plain, err := AppendMessage(buf, &h, &ph, []byte("abc"))
	if err != nil {
		t.Fatal(err)
	}
	tight := bytes.Clone(plain)[:len(plain):len(plain)]
	msg, err := Seal(plain, mustCCM(testKey), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if &msg[0] != &buf[:1][0] {
		t.Error("Seal reallocated a buffer with room")
	}
	msg2, err := Seal(tight, mustCCM(testKey), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(msg, msg2) {
		t.Error("Seal of a full buffer produced a different message")
	}
}

func TestSealOpenNoAlloc(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	aead := mustCCM(testKey)
	priv := mustPrivacy(t, testKey)
	h := Header{SessionID: 1, Counter: 1, Privacy: true}
	ph := ProtocolHeader{Initiator: true, ExchangeID: 1, ProtocolID: ProtocolInteractionModel}
	payload := make([]byte, 256)
	buf := make([]byte, 0, 512)
	allocs := testing.AllocsPerRun(100, func() {
		msg, err := AppendMessage(buf[:0], &h, &ph, payload)
		if err != nil {
			t.Fatal(err)
		}
		msg, err = Seal(msg, aead, 0, priv)
		if err != nil {
			t.Fatal(err)
		}
		var d Header
		if _, err := Open(msg, &d, aead, 0, priv); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("AppendMessage+Seal+Open allocate %v times per message", allocs)
	}
}

func TestDecodeUnsecured(t *testing.T) {
	h := Header{Counter: 3, HasSource: true, Source: 0xabcdef}
	ph := ProtocolHeader{Initiator: true, Reliable: true, Opcode: 0x20, ExchangeID: 0x77, ProtocolID: ProtocolSecureChannel}
	b, err := AppendMessage(nil, &h, &ph, []byte("pbkdf"))
	if err != nil {
		t.Fatal(err)
	}
	var m Message
	if err := m.DecodeUnsecured(b); err != nil {
		t.Fatal(err)
	}
	if !headersEqual(&m.Header, &h) || !reflect.DeepEqual(m.Protocol, ph) || string(m.Payload) != "pbkdf" {
		t.Errorf("DecodeUnsecured = %+v", m)
	}
	secured := unhex(t, "00 0100 00 01000000 000000000000")
	if err := m.DecodeUnsecured(secured); !errors.Is(err, ErrInvalid) {
		t.Errorf("DecodeUnsecured of a secured message: err = %v, want ErrInvalid", err)
	}
	if err := m.DecodeUnsecured(b[:MinHeaderLen+8+3]); !errors.Is(err, ErrTruncated) {
		t.Errorf("DecodeUnsecured of a truncated message: err = %v, want ErrTruncated", err)
	}
}

// TestPrivacyObfuscateRoundTrip exercises the exported Obfuscate and
// Deobfuscate on a sealed message.
func TestPrivacyObfuscateRoundTrip(t *testing.T) {
	priv := mustPrivacy(t, testKey)
	h := Header{SessionID: 0x55aa, SessionType: SessionGroup, Privacy: true, Counter: 77, HasSource: true, Source: 1, Destination: DestinationNode, DestNode: 2}
	ph := ProtocolHeader{}
	plain, err := AppendMessage(nil, &h, &ph, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := bytes.Clone(plain)
	msg, err := Seal(plain, mustCCM(testKey), 0, nil) // P set, but no key: fails
	if !errors.Is(err, ErrNoPrivacyKey) {
		t.Fatalf("Seal without privacy key: %v", err)
	}
	if !bytes.Equal(msg, want) {
		t.Fatalf("failed Seal changed the message: %x, want %x", msg, want)
	}
	h.Privacy = false // seal without privacy, then obfuscate by hand
	plain, _ = AppendMessage(nil, &h, &ph, nil)
	msg, err = Seal(plain, mustCCM(testKey), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	orig := bytes.Clone(msg)
	if err := priv.Obfuscate(msg); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(msg, orig) {
		t.Fatal("Obfuscate changed nothing")
	}
	if err := priv.Deobfuscate(msg); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(msg, orig) {
		t.Fatal("Deobfuscate did not restore the message")
	}
	if err := priv.Obfuscate(msg[:len(msg)-1-MICSize+MinHeaderLen]); !errors.Is(err, ErrTruncated) {
		t.Errorf("Obfuscate of a message without MIC: %v", err)
	}
	if err := priv.Obfuscate(unhex(t, "00 0000 00 01000000"+"00112233445566778899aabbccddeeff")); !errors.Is(err, ErrUnsecured) {
		t.Errorf("Obfuscate of an unsecured message: %v", err)
	}
	if _, err := NewPrivacyWithKey(make([]byte, 15)); err == nil {
		t.Error("NewPrivacyWithKey accepted a 15-octet key")
	}
}

// gcm13 is AES-GCM with Matter's nonce and tag sizes: a stand-in AEAD for
// comparison benchmarks, and a wrong-size one for error tests.
func mustGCM(key []byte, nonceSize int) cipher.AEAD {
	b, err := aes.NewCipher(key)
	if err != nil {
		panic(err)
	}
	g, err := cipher.NewGCMWithNonceSize(b, nonceSize)
	if err != nil {
		panic(err)
	}
	return g
}
