package cert

import (
	"bytes"
	"errors"
	"testing"

	"github.com/mattercam/mattercam/matter/tlv"
)

// checkSentinel fails unless err wraps one of the decoding sentinels.
func checkSentinel(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnsupported) {
		t.Fatalf("error wraps neither ErrMalformed nor ErrUnsupported: %v", err)
	}
}

// exercise runs the operations that must not fail or panic on any decoded
// certificate, and returns its TLV and DER encodings.
func exercise(t *testing.T, c *Certificate) (tlvEnc, der []byte) {
	t.Helper()
	der, err := c.X509DER()
	if err != nil {
		t.Fatalf("X509DER of a decoded certificate: %v", err)
	}
	if _, err := c.TBSDER(); err != nil {
		t.Fatalf("TBSDER of a decoded certificate: %v", err)
	}
	_ = c.Kind()
	_ = c.Subject.String()
	_ = c.CheckSignatureFrom(c)
	_, _ = Verify(c, c, c, VerifyOptions{Now: testNow})
	_ = VerifyRCAC(c, VerifyOptions{})
	tlvEnc, err = c.EncodeTLV()
	if err != nil && !errors.Is(err, ErrUnsupported) && !(errors.Is(err, ErrMalformed) && len(der) > 0) {
		t.Fatalf("EncodeTLV: %v", err)
	}
	return tlvEnc, der
}

// FuzzDecodeTLV: DecodeTLV never panics, and whatever it accepts re-encodes
// identically up to the integer and length widths Appendix A leaves to the
// sender (so a canonical input re-encodes to itself). The re-encoding is a
// fixed point: it decodes to the same certificate, converts to DER, and
// comes back from DER unchanged.
func FuzzDecodeTLV(f *testing.F) {
	for _, v := range loadVectors(f) {
		f.Add(v.tlv)
	}
	ch := newTestChain(f)
	for _, c := range []*Certificate{ch.rcac, ch.icac, ch.noc} {
		b, err := c.EncodeTLV()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0x15, 0x18})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeTLV(b)
		if err != nil {
			checkSentinel(t, err)
			return
		}
		enc, der := exercise(t, c)
		if enc == nil {
			t.Fatalf("a decoded certificate does not re-encode")
		}
		// Appendix A lets the sender pick integer and length widths, and
		// the Reader takes a non-negative signed integer for an unsigned
		// one. Up to those choices the encoding is the input.
		e, err := tlv.Decode(b)
		if err != nil {
			t.Fatalf("DecodeTLV accepted what tlv.Decode rejects: %v", err)
		}
		unsign(&e)
		canon, err := e.Encode()
		if err != nil || !bytes.Equal(enc, canon) {
			t.Fatalf("re-encoding is not the canonical input (%v)\n in %x\nout %x", err, canon, enc)
		}
		c2, err := DecodeTLV(enc)
		if err != nil {
			t.Fatalf("re-encoding does not decode: %v", err)
		}
		enc2, der2 := exercise(t, c2)
		if !bytes.Equal(enc2, enc) || !bytes.Equal(der2, der) {
			t.Fatalf("second round trip differs")
		}
		if len(der) <= MaxDERSize {
			c3, err := FromX509(der)
			if err != nil {
				t.Fatalf("FromX509 of the converted DER: %v", err)
			}
			if enc3, _ := c3.EncodeTLV(); !bytes.Equal(enc3, enc) {
				t.Fatalf("DER round trip changes the TLV\n got %x\nwant %x", enc3, enc)
			}
		}
	})
}

// unsign turns the non-negative signed integers of e into unsigned ones.
func unsign(e *tlv.Element) {
	if e.Type == tlv.TypeInt && e.Int >= 0 {
		e.Type, e.Uint = tlv.TypeUint, uint64(e.Int)
	}
	for i := range e.Members {
		unsign(&e.Members[i])
	}
}

// FuzzFromX509: FromX509 never panics, and whatever it accepts converts back
// to the input, through TLV as well when the certificate has a TLV form.
func FuzzFromX509(f *testing.F) {
	for _, v := range loadVectors(f) {
		f.Add(v.der)
	}
	ch := newTestChain(f)
	for _, c := range []*Certificate{ch.rcac, ch.icac, ch.noc} {
		f.Add(mustDER(f, c))
	}
	f.Add([]byte{0x30, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := FromX509(b)
		if err != nil {
			checkSentinel(t, err)
			return
		}
		enc, der := exercise(t, c)
		if !bytes.Equal(der, b) {
			t.Fatalf("X509DER differs from the input")
		}
		if enc == nil {
			return
		}
		c2, err := DecodeTLV(enc)
		if err != nil {
			t.Fatalf("DecodeTLV of the converted TLV: %v", err)
		}
		if der2, err := c2.X509DER(); err != nil || !bytes.Equal(der2, b) {
			t.Fatalf("TLV round trip changes the DER: %v", err)
		}
	})
}
