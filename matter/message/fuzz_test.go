package message

import (
	"bytes"
	"reflect"
	"testing"
)

// FuzzDecodeHeader decodes arbitrary input as a message header followed by a
// protocol header. Whatever decodes must re-encode to a header that decodes
// to the same value, with the same length, and must match the input octet
// for octet except for reserved bits.
func FuzzDecodeHeader(f *testing.F) {
	for _, v := range messageVectors {
		f.Add(unhex(f, v.plain))
		f.Add(unhex(f, v.private))
	}
	f.Add(unhex(f, "00 0500 20 06000000 0200 aabb 1f 02 0300 0400 0100 05000000 0300 090807"))
	f.Add(unhex(f, "05 0100 c1 02000000 0300000000000000 0400000000000000 02 10 3412 0000 d0c0b0a0"))
	f.Add(unhex(f, "04 0000 00 07000000 8877665544332211 08 00 0000 0200 0000"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var h Header
		n, err := h.Decode(b)
		if err != nil {
			return
		}
		if n > len(b) || n != h.Len() {
			t.Fatalf("Decode length %d, Len %d, input %d", n, h.Len(), len(b))
		}
		enc, err := h.Append(nil)
		if err != nil {
			t.Fatalf("decoded header does not re-encode: %v (%+v)", err, h)
		}
		if !bytes.Equal(maskHeader(enc), maskHeader(b[:n])) {
			t.Fatalf("re-encoded header\n%x\ndiffers from input\n%x", enc, b[:n])
		}
		var h2 Header
		if n2, err := h2.Decode(enc); err != nil || n2 != n || !headersEqual(&h, &h2) {
			t.Fatalf("round trip: %d, %v, %+v; want %d, %+v", n2, err, h2, n, h)
		}

		rest := b[n:]
		var p ProtocolHeader
		k, err := p.Decode(rest)
		if err != nil {
			return
		}
		// A Protocol Vendor ID of 0 may be sent explicitly; it re-encodes
		// without the field, since 0 is what an absent field means.
		want := p.Len()
		if rest[0]&exFlagV != 0 && p.VendorID == 0 {
			want += 2
		}
		if k > len(rest) || k != want {
			t.Fatalf("protocol Decode length %d, Len %d, input %d", k, p.Len(), len(rest))
		}
		penc, err := p.Append(nil)
		if err != nil {
			t.Fatalf("decoded protocol header does not re-encode: %v", err)
		}
		var p2 ProtocolHeader
		if k2, err := p2.Decode(penc); err != nil || k2 != len(penc) || !reflect.DeepEqual(p, p2) {
			t.Fatalf("protocol round trip: %d, %v, %+v; want %+v", k2, err, p2, p)
		}
	})
}

// maskHeader clears the reserved bits of an encoded message header.
func maskHeader(b []byte) []byte {
	b = bytes.Clone(b)
	b[0] &^= 0x08
	b[3] &^= 0x1c
	return b
}

// FuzzOpen feeds arbitrary input to the receive path with a fixed key and
// privacy key. It must never panic, and whatever opens must be a message the
// key really sealed: sealing the opened plaintext under the opened header
// must give back the input.
func FuzzOpen(f *testing.F) {
	aead := mustCCM(testKey)
	priv := mustPrivacy(f, testKey)
	seed := func(h Header, payload []byte) {
		ph := ProtocolHeader{Initiator: true, Ack: true, AckCounter: 4, ExchangeID: 9, ProtocolID: ProtocolInteractionModel}
		plain, err := AppendMessage(nil, &h, &ph, payload)
		if err != nil {
			f.Fatal(err)
		}
		msg, err := Seal(plain, aead, 0x42, priv)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(msg)
	}
	seed(Header{SessionID: 1, Counter: 1}, nil)
	seed(Header{SessionID: 2, Counter: 2, Privacy: true}, []byte("hello"))
	seed(Header{SessionID: 3, SessionType: SessionGroup, Counter: 3, Privacy: true, HasSource: true, Source: 7, Destination: DestinationGroup, DestGroup: 8}, []byte{1, 2, 3})
	seed(Header{SessionID: 4, Counter: 4, Extensions: []byte("mx")}, bytes.Repeat([]byte{0xa5}, 40))
	for _, v := range messageVectors {
		f.Add(unhex(f, v.private))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		in := bytes.Clone(b)
		var h Header
		pt, err := Open(b, &h, aead, 0x42, priv)
		if err != nil {
			return
		}
		var p ProtocolHeader
		_, _ = p.Decode(pt)
		// Re-seal what was opened: it must be the input.
		enc, err := h.Append(nil)
		if err != nil {
			t.Fatalf("opened header does not encode: %v", err)
		}
		resealed, err := Seal(append(maskedInto(enc, in), pt...), aead, 0x42, priv)
		if err != nil {
			t.Fatalf("re-seal: %v", err)
		}
		if !bytes.Equal(resealed, in) {
			t.Fatalf("opened message re-seals to\n%x\nnot\n%x", resealed, in)
		}
	})
}

// maskedInto returns enc with the reserved bits of the original message
// header in put back, since they are authenticated as received.
func maskedInto(enc, orig []byte) []byte {
	enc[0] |= orig[0] & 0x08
	enc[3] |= orig[3] & 0x1c
	return enc
}
