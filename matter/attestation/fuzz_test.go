package attestation

import (
	"bytes"
	"errors"
	"testing"
)

func checkSentinel(t *testing.T, err error) {
	t.Helper()
	for _, s := range []error{ErrInvalid, ErrChain, ErrMismatch, ErrSignature} {
		if errors.Is(err, s) {
			return
		}
	}
	t.Fatalf("error wraps no sentinel: %v", err)
}

// FuzzDecodeCertificationDeclaration: no panic; what decodes re-encodes to
// a fixed point (the encoder picks the shortest widths).
func FuzzDecodeCertificationDeclaration(f *testing.F) {
	f.Add(unhex(f, "152400012501f1ff360205008018250342012c0413435341303030303053574330303030302d303024050024060024070124080018"))
	f.Add(unhex(f, "152400012501f2ff3602050180050280053412182603785634122c04135a494732303134325a423333303030332d3234240501250603022507942624080125"+
		"09f1ff250a0080360b101462fa823359acfaa9963e1cfa140addf504f371601818"))
	f.Fuzz(func(t *testing.T, b []byte) {
		cd, err := DecodeCertificationDeclaration(b)
		if err != nil {
			checkSentinel(t, err)
			return
		}
		enc, err := cd.Encode()
		if err != nil {
			t.Fatalf("decoded CD does not encode: %v", err)
		}
		cd2, err := DecodeCertificationDeclaration(enc)
		if err != nil {
			t.Fatalf("re-encoded CD does not decode: %v", err)
		}
		enc2, _ := cd2.Encode()
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("not a fixed point: %x vs %x", enc, enc2)
		}
	})
}

// FuzzParseCertificationDeclaration: no panic on any envelope.
func FuzzParseCertificationDeclaration(f *testing.F) {
	d, err := Development()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(d.CD)
	f.Fuzz(func(t *testing.T, b []byte) {
		scd, err := ParseCertificationDeclaration(b)
		if err != nil {
			checkSentinel(t, err)
			return
		}
		_ = scd.Verify(&TestCDSigner().Key.PublicKey)
		_ = scd.Verify(nil)
	})
}

// FuzzParseElements: the commissioner-side parsers never panic, and what
// they accept rebuilds into elements that parse to the same values.
func FuzzParseElements(f *testing.F) {
	nonce := bytes.Repeat([]byte{0x11}, 32)
	a, _ := AttestationElements([]byte{1, 2, 3}, nonce, 7, []byte{9})
	n, _ := NOCSRElements([]byte{0x30, 0x00}, nonce, []byte{1})
	f.Add(a)
	f.Add(n)
	f.Fuzz(func(t *testing.T, b []byte) {
		if info, err := ParseAttestationElements(b); err != nil {
			checkSentinel(t, err)
		} else {
			again, err := AttestationElements(info.CertificationDeclaration, info.Nonce, info.Timestamp, info.FirmwareInformation)
			if err == nil {
				back, err := ParseAttestationElements(again)
				if err != nil || !bytes.Equal(back.Nonce, info.Nonce) || back.Timestamp != info.Timestamp ||
					!bytes.Equal(back.CertificationDeclaration, info.CertificationDeclaration) {
					t.Fatalf("attestation elements do not round-trip: %v", err)
				}
			}
		}
		if info, err := ParseNOCSRElements(b); err != nil {
			checkSentinel(t, err)
		} else if _, err := NOCSRElements(info.CSR, info.Nonce, info.VendorReserved[:]...); err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatal(err)
		}
	})
}

// FuzzParse: the factory data file parser never panics and reports only
// sentinel errors; what it accepts marshals back to a file it accepts.
func FuzzParse(f *testing.F) {
	d, err := Development()
	if err != nil {
		f.Fatal(err)
	}
	good, err := d.Marshal()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(`{"format":"mattercam-factory-data-v1"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		fd, err := Parse(b)
		if err != nil {
			checkSentinel(t, err)
			return
		}
		again, err := fd.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Parse(again); err != nil {
			t.Fatalf("re-marshalled data does not parse: %v", err)
		}
	})
}
