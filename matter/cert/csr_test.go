package cert

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"slices"
	"testing"

	"github.com/mattercam/mattercam/matter/crypto"
)

// CSRs published in connectedhomeip, src/crypto/tests/TestChipCryptoPAL.cpp
// (TestCSR_Verify): kGoodCsr with its public key, kBadSignatureSignatureCsr
// (kGoodCsr with one octet of s changed), and kBadTrailingGarbageCsr, whose
// first 221 octets are a CSR in the form the SDK itself generates
// (OU=CSA, an empty extensionRequest attribute) followed by zero padding.
const (
	sdkGoodCSR = "3081ca" + "3070" + "020100" +
		"300e310c300a060355040a0c03435352" + // O=CSR
		"3059301306072a8648ce3d020106082a8648ce3d030107034200" +
		"04a3bea1f54201073c4b7585d8e298ac2ff698dbd95be07ec104d573c5b0907727" +
		"001e22c7895e4d750789820f49b659d5c5157d93e6805c70890a43103deb3d4a" +
		"a000" + // no attributes
		"300c06082a8648ce3d0403020500" + // ecdsa-with-SHA256, with NULL parameters
		"034800304502201d8621b4c2e1a9f3bcc87cdab4b9c68cd0e49a9cef029398277e81215d209d32" +
		"0221008b6b49b67d3e679eb122d36382404f49a4dc1735ac4b7abf52055868e0aad28e"
	sdkGoodCSRKey = "04a3bea1f54201073c4b7585d8e298ac2ff698dbd95be07ec104d573c5b0907727" +
		"001e22c7895e4d750789820f49b659d5c5157d93e6805c70890a43103deb3d4a"
	sdkGeneratedCSR = "3081da" + "308181" + "020100" +
		"300e310c300a060355040b0c03435341" + // OU=CSA
		"3059301306072a8648ce3d020106082a8648ce3d030107034200" +
		"047248c036f0125fd168922dee572b8e209d97fa7392f1a0910efd049366473ca3" +
		"f0a847a1a31e133b673b18ca77d1eae37493498b9ddceff9d59b2719ad6e90d2" +
		"a011300f06092a864886f70d01090e31023000" + // extensionRequest, no extensions
		"300a06082a8648ce3d040302" +
		"034800304502206a2e15341bdecb8fd2fd3503890eed2354ffcb79f9cb403359b42769eb073bd5" +
		"022100b025c9c221e854cc0812f5103a0b25200a6138c86f82a7518461ae9369e47484"
)

func TestParseCSRVectors(t *testing.T) {
	good := unhex(t, sdkGoodCSR)
	if len(good) != 205 {
		t.Fatalf("kGoodCsr is %d octets", len(good))
	}
	pub, err := ParseCSR(good)
	if err != nil {
		t.Fatalf("ParseCSR(kGoodCsr): %v", err)
	}
	if raw, _ := crypto.MarshalPublicKey(pub); !bytes.Equal(raw, unhex(t, sdkGoodCSRKey)) {
		t.Errorf("key %x", raw)
	}

	// kBadSignatureSignatureCsr: octet 0x22 of s became 0x21.
	bad := slices.Clone(good)
	i := bytes.Index(bad, unhex(t, "9eb122d363"))
	bad[i+2] = 0x21
	if _, err := ParseCSR(bad); !errors.Is(err, ErrSignature) {
		t.Errorf("kBadSignatureSignatureCsr: %v, want ErrSignature", err)
	}

	generated := unhex(t, sdkGeneratedCSR)
	if len(generated) != 221 {
		t.Fatalf("SDK-generated CSR is %d octets", len(generated))
	}
	if _, err := ParseCSR(generated); err != nil {
		t.Errorf("ParseCSR(SDK-generated): %v", err)
	}
	padded := append(slices.Clone(generated), make([]byte, 255-221)...)
	if _, err := ParseCSR(padded); !errors.Is(err, ErrMalformed) {
		t.Errorf("kBadTrailingGarbageCsr: %v, want ErrMalformed", err)
	}
	if _, err := ParseCSR(good[:10]); !errors.Is(err, ErrMalformed) {
		t.Errorf("truncated: %v", err)
	}
	notSeq := slices.Clone(good)
	notSeq[0] = 0x31
	if _, err := ParseCSR(notSeq); !errors.Is(err, ErrMalformed) {
		t.Errorf("kNotSequenceCsr: %v", err)
	}
}

func TestCreateCSR(t *testing.T) {
	key := testKey(t, "csr")
	der, err := CreateCSR(key)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ParseCSR(der)
	if err != nil {
		t.Fatalf("ParseCSR: %v", err)
	}
	if !pub.Equal(&key.PublicKey) {
		t.Error("key mismatch")
	}

	// The shape matter.js checks for (version 0, a non-empty subject, the
	// four CertificationRequestInfo elements including the [0]
	// attributes) and the SDK's VerifyCertificateSigningRequestFormat
	// (one outer SEQUENCE, no trailing data).
	r := derReader{der}
	outer, err := r.read(tagSequence)
	if err != nil || !r.empty() {
		t.Fatalf("outer SEQUENCE: %v", err)
	}
	or := derReader{outer}
	cri, _ := or.read(tagSequence)
	_, alg, _ := or.next(tagSequence)
	if !bytes.Equal(alg, derECDSAWithSHA256) {
		t.Errorf("signature algorithm %x", alg)
	}
	cr := derReader{cri}
	if v, _ := cr.read(tagInteger); !bytes.Equal(v, []byte{0}) {
		t.Errorf("version %x", v)
	}
	subject, _ := cr.read(tagSequence)
	if d, err := parseDNDER(subject); err != nil || len(d) != 1 || d[0].Type != AttrOrganizationName || d[0].String != "CSA" {
		t.Errorf("subject %v, %v", d, err)
	}
	if _, err := cr.read(tagSequence); err != nil {
		t.Errorf("subjectPKInfo: %v", err)
	}
	if _, err := cr.read(tagContext0); err != nil || !cr.empty() {
		t.Errorf("attributes: %v", err)
	}

	if _, err := CreateCSR(ed25519.NewKeyFromSeed(make([]byte, 32))); err == nil {
		t.Error("CreateCSR(ed25519) succeeded")
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if _, err := CreateCSR(p384); err == nil {
		t.Error("CreateCSR(P-384) succeeded")
	}
}

func TestParseCSRRejects(t *testing.T) {
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p256 := testKey(t, "csr")
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	mk := func(key any, alg x509.SignatureAlgorithm) []byte {
		der, err := x509.CreateCertificateRequest(rand.Reader,
			&x509.CertificateRequest{Subject: pkix.Name{CommonName: "x"}, SignatureAlgorithm: alg}, key)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	tests := []struct {
		name string
		der  []byte
		want error
	}{
		{"P-384 key", mk(p384, x509.ECDSAWithSHA384), ErrUnsupported},
		{"SHA-384 signature", mk(p256, x509.ECDSAWithSHA384), ErrUnsupported},
		{"Ed25519", mk(ed, x509.PureEd25519), ErrUnsupported},
		{"oversized", make([]byte, MaxCSRSize+1), ErrMalformed},
		{"empty", nil, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseCSR(tt.der); !errors.Is(err, tt.want) {
				t.Fatalf("ParseCSR = %v, want %v", err, tt.want)
			}
		})
	}
}
