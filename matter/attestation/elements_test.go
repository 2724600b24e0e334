package attestation

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"math/big"
	"testing"

	"github.com/mattercam/mattercam/matter/cert"
)

// Element encodings, checked against matter.js 0.17.9's TlvAttestation
// and TlvCertSigningRequest (@matter/protocol OperationalCredentialsTypes).
func TestElementsVectors(t *testing.T) {
	nonce := bytes.Repeat([]byte{0x11}, 32)
	tests := []struct {
		name string
		got  func() ([]byte, error)
		want string
	}{
		{"attestation", func() ([]byte, error) { return AttestationElements([]byte{0xAA, 0xBB}, nonce, 0, nil) },
			"15300102aabb300220" + "1111111111111111111111111111111111111111111111111111111111111111" + "24030018"},
		{"attestation with firmware information", func() ([]byte, error) {
			return AttestationElements([]byte{0xAA, 0xBB}, nonce, 0x12345678, []byte{1, 2})
		}, "15300102aabb300220" + "1111111111111111111111111111111111111111111111111111111111111111" + "260378563412300402010218"},
		{"nocsr", func() ([]byte, error) { return NOCSRElements([]byte{0x30, 0x00}, nonce) },
			"153001023000300220" + "1111111111111111111111111111111111111111111111111111111111111111" + "18"},
	}
	for _, tc := range tests {
		got, err := tc.got()
		if err != nil {
			t.Fatal(err)
		}
		if want := unhex(t, tc.want); !bytes.Equal(got, want) {
			t.Errorf("%s\n got %x\nwant %x", tc.name, got, want)
		}
	}
}

func TestElementsRoundTrip(t *testing.T) {
	f := development(t)
	nonce := bytes.Repeat([]byte{7}, NonceSize)
	el, err := AttestationElements(f.CD, nonce, 12345, []byte("fw"))
	if err != nil {
		t.Fatal(err)
	}
	info, err := ParseAttestationElements(el)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(info.CertificationDeclaration, f.CD) || !bytes.Equal(info.Nonce, nonce) || info.Timestamp != 12345 ||
		string(info.FirmwareInformation) != "fw" {
		t.Errorf("parsed %+v", info)
	}
	csr, err := cert.CreateCSR(f.DACKey)
	if err != nil {
		t.Fatal(err)
	}
	nel, err := NOCSRElements(csr, nonce, nil, []byte("r2"))
	if err != nil {
		t.Fatal(err)
	}
	ninfo, err := ParseNOCSRElements(nel)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ninfo.CSR, csr) || !bytes.Equal(ninfo.Nonce, nonce) || ninfo.VendorReserved[0] != nil || string(ninfo.VendorReserved[1]) != "r2" {
		t.Errorf("parsed %+v", ninfo)
	}
	for name, err := range map[string]error{
		"short nonce":      second(AttestationElements(f.CD, nonce[:31], 0, nil)),
		"short CSR nonce":  second(NOCSRElements(csr, nonce[:31])),
		"4 vendor fields":  second(NOCSRElements(csr, nonce, nil, nil, nil, nil)),
		"oversized":        second(AttestationElements(make([]byte, 900), nonce, 0, nil)),
		"parse empty":      second(ParseAttestationElements(nil)),
		"parse no nonce":   second(ParseAttestationElements(unhex(t, "15300102aabb24030018"))),
		"parse repeated":   second(ParseAttestationElements(append(unhex(t, "15300101aa"), el[1:]...))),
		"parse nocsr bare": second(ParseNOCSRElements(unhex(t, "1518"))),
	} {
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}

func second[T any](_ T, err error) error { return err }

// The attestation and NOCSR signatures are ECDSA over SHA-256 of
// elements ‖ challenge, raw r ‖ s, verifiable with the DAC's public key
// alone (crypto/ecdsa here, not the package's own Verify).
func TestSignAttestation(t *testing.T) {
	f := development(t)
	challenge := bytes.Repeat([]byte{0xC4}, ChallengeSize)
	el, err := AttestationElements(f.CD, bytes.Repeat([]byte{1}, NonceSize), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, signFn := range []func([]byte, []byte) ([]byte, error){f.SignAttestation, f.SignNOCSR} {
		sig, err := signFn(el, challenge)
		if err != nil {
			t.Fatal(err)
		}
		if len(sig) != 64 {
			t.Fatalf("signature of %d octets, want 64", len(sig))
		}
		dac, _ := x509.ParseCertificate(f.DAC)
		digest := sha256.Sum256(append(bytes.Clone(el), challenge...))
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		if !ecdsa.Verify(dac.PublicKey.(*ecdsa.PublicKey), digest[:], r, s) {
			t.Error("signature does not verify over elements ‖ challenge")
		}
		if err := VerifySignature(f.DAC, el, challenge, sig); err != nil {
			t.Error(err)
		}
		other := bytes.Clone(challenge)
		other[0] ^= 1
		if err := VerifySignature(f.DAC, el, other, sig); !errors.Is(err, ErrSignature) {
			t.Errorf("other challenge: %v, want ErrSignature", err)
		}
	}
	if _, err := f.SignAttestation(el, challenge[:15]); !errors.Is(err, ErrInvalid) {
		t.Errorf("short challenge: %v", err)
	}
	if _, err := f.SignAttestation(nil, challenge); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty elements: %v", err)
	}
	if _, err := (&FactoryData{}).SignAttestation(el, challenge); !errors.Is(err, ErrInvalid) {
		t.Errorf("no key: %v", err)
	}
}
