package attestation

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"os"
	"testing"

	"github.com/mattercam/mattercam/matter/crypto"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func u16(v uint16) *uint16 { return &v }

// CD content vectors: the TLV that matter.js 0.17.9 writes for the same
// fields (CertificationDeclaration.TlvDc.encode in @matter/protocol).
func TestCertificationDeclarationTLV(t *testing.T) {
	tests := []struct {
		name string
		cd   CertificationDeclaration
		tlv  string
	}{{
		name: "development camera",
		cd: CertificationDeclaration{FormatVersion: 1, VendorID: 0xFFF1, ProductIDs: []uint16{0x8000}, DeviceTypeID: 0x0142,
			CertificateID: "CSA00000SWC00000-00", VersionNumber: 1},
		tlv: "152400012501f1ff360205008018250342012c0413435341303030303053574330303030302d303024050024060024070124080018",
	}, {
		name: "every field",
		cd: CertificationDeclaration{FormatVersion: 1, VendorID: 0xFFF2, ProductIDs: []uint16{0x8001, 0x8002, 0x1234},
			DeviceTypeID: 0x12345678, CertificateID: "ZIG20142ZB330003-24", SecurityLevel: 1, SecurityInformation: 0x0203,
			VersionNumber: 0x2694, CertificationType: CertificationProvisional,
			DACOriginVendorID: u16(0xFFF1), DACOriginProductID: u16(0x8000),
			AuthorizedPAAs: [][]byte{unhex(t, "62fa823359acfaa9963e1cfa140addf504f37160")}},
		tlv: "152400012501f2ff3602050180050280053412182603785634122c04135a494732303134325a423333303030332d3234240501250603022507942624080125" +
			"09f1ff250a0080360b101462fa823359acfaa9963e1cfa140addf504f371601818",
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.cd.Encode()
			if err != nil {
				t.Fatal(err)
			}
			if want := unhex(t, tc.tlv); !bytes.Equal(got, want) {
				t.Errorf("Encode\n got %x\nwant %x", got, want)
			}
			back, err := DecodeCertificationDeclaration(got)
			if err != nil {
				t.Fatal(err)
			}
			again, err := back.Encode()
			if err != nil || !bytes.Equal(again, got) {
				t.Errorf("decode/encode round trip: %x, %v", again, err)
			}
		})
	}
}

func TestCertificationDeclarationRejects(t *testing.T) {
	valid := func() CertificationDeclaration {
		return CertificationDeclaration{FormatVersion: 1, VendorID: 0xFFF1, ProductIDs: []uint16{0x8000},
			CertificateID: "CSA00000SWC00000-00"}
	}
	for name, edit := range map[string]func(*CertificationDeclaration){
		"no Product IDs":         func(c *CertificationDeclaration) { c.ProductIDs = nil },
		"101 Product IDs":        func(c *CertificationDeclaration) { c.ProductIDs = make([]uint16, 101) },
		"short certificate_id":   func(c *CertificationDeclaration) { c.CertificateID = "CSA" },
		"dac_origin VID only":    func(c *CertificationDeclaration) { c.DACOriginVendorID = u16(1) },
		"11 authorized PAAs":     func(c *CertificationDeclaration) { c.AuthorizedPAAs = make([][]byte, 11) },
		"authorized PAA of 19 B": func(c *CertificationDeclaration) { c.AuthorizedPAAs = [][]byte{make([]byte, 19)} },
	} {
		cd := valid()
		edit(&cd)
		if _, err := cd.Encode(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Encode error %v, want ErrInvalid", name, err)
		}
	}
	// Decoding: a missing mandatory field, a repeated one, trailing data.
	good, _ := (&CertificationDeclaration{FormatVersion: 1, VendorID: 1, ProductIDs: []uint16{2}, CertificateID: "CSA00000SWC00000-00"}).Encode()
	for name, b := range map[string][]byte{
		"empty":            {},
		"not a structure":  {0x04, 0x01},
		"missing type":     bytes.Replace(good, []byte{0x24, 0x08, 0x00}, nil, 1),
		"repeated version": append([]byte{0x15, 0x24, 0x00, 0x01}, good[1:]...),
		"trailing":         append(bytes.Clone(good), 0x00),
	} {
		if _, err := DecodeCertificationDeclaration(b); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}

// The CSA test CD signer: the key of TestCDSigner belongs to the published
// certificate (testdata/test-cd-signing-cert.der, the SDK's
// Chip-Test-CD-Signing-Cert, as bundled in matter.js), and its key
// identifier is that certificate's, the SHA-1 of the public key.
func TestTestCDSigner(t *testing.T) {
	c := testCDSignerCert(t)
	s := TestCDSigner()
	if !s.Key.PublicKey.Equal(c.PublicKey) {
		t.Fatal("TestCDSigner key does not match the test CD signing certificate")
	}
	if !bytes.Equal(s.KeyID, c.SubjectKeyId) {
		t.Errorf("key ID %x, certificate SKID %x", s.KeyID, c.SubjectKeyId)
	}
	pub, _ := crypto.MarshalPublicKey(&s.Key.PublicKey)
	if sum := sha1.Sum(pub); !bytes.Equal(sum[:], s.KeyID) {
		t.Errorf("key ID is not SHA-1 of the public key")
	}
	if c.Subject.CommonName != "Matter Test CD Signing Authority" {
		t.Errorf("unexpected signer %q", c.Subject.CommonName)
	}
}

func testCDSignerCert(t *testing.T) *x509.Certificate {
	t.Helper()
	der, err := os.ReadFile("testdata/test-cd-signing-cert.der")
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// der is a minimal DER reader for the test: it splits an element into tag,
// contents and the rest, independently of encoding/asn1.
func der(t *testing.T, b []byte) (tag byte, contents, rest []byte) {
	t.Helper()
	if len(b) < 2 {
		t.Fatalf("truncated DER %x", b)
	}
	tag, n := b[0], int(b[1])
	b = b[2:]
	if n&0x80 != 0 {
		k := n & 0x7F
		if k == 0 || k > 2 || len(b) < k {
			t.Fatalf("bad DER length")
		}
		n = 0
		for _, c := range b[:k] {
			n = n<<8 | int(c)
		}
		b = b[k:]
	}
	if len(b) < n {
		t.Fatalf("DER element overruns its input")
	}
	return tag, b[:n], b[n:]
}

// children returns the elements inside a constructed element's contents.
func children(t *testing.T, b []byte) (tags []byte, elems [][]byte) {
	t.Helper()
	for len(b) > 0 {
		tag, c, rest := der(t, b)
		tags, elems, b = append(tags, tag), append(elems, c), rest
	}
	return tags, elems
}

// The envelope has exactly the positional layout matter.js reads
// (CertificationDeclaration.parse in @matter/protocol) and RFC 5652 and
// §6.3.1 define, and its signature verifies with the test signing
// certificate's key over SHA-256 of the TLV content.
func TestCDEnvelope(t *testing.T) {
	cd := &CertificationDeclaration{FormatVersion: 1, VendorID: 0xFFF1, ProductIDs: []uint16{0x8000}, DeviceTypeID: CameraDeviceType,
		CertificateID: "CSA00000SWC00000-00", VersionNumber: 1}
	env, err := SignCertificationDeclaration(cd, TestCDSigner())
	if err != nil {
		t.Fatal(err)
	}
	tag, ci, rest := der(t, env)
	if tag != 0x30 || len(rest) != 0 {
		t.Fatalf("ContentInfo tag %#x, %d trailing", tag, len(rest))
	}
	tags, e := children(t, ci)
	if !bytes.Equal(tags, []byte{0x06, 0xA0}) || !bytes.Equal(e[0], []byte(oidBytes(t, "2a864886f70d010702"))) {
		t.Fatalf("ContentInfo = %x %x", tags, e[0])
	}
	_, sd, _ := der(t, e[1])
	tags, sdElems := children(t, sd)
	if !bytes.Equal(tags, []byte{0x02, 0x31, 0x30, 0x31}) {
		t.Fatalf("SignedData element tags %x, want INTEGER SET SEQUENCE SET (no certificates)", tags)
	}
	if !bytes.Equal(sdElems[0], []byte{3}) {
		t.Errorf("SignedData version %x", sdElems[0])
	}
	tags, encap := children(t, sdElems[2])
	if !bytes.Equal(tags, []byte{0x06, 0xA0}) || !bytes.Equal(encap[0], oidBytes(t, "2a864886f70d010701")) {
		t.Fatalf("encapContentInfo %x", tags)
	}
	tag, content, _ := der(t, encap[1])
	if tag != 0x04 {
		t.Fatalf("eContent tag %#x, want OCTET STRING", tag)
	}
	want, _ := cd.Encode()
	if !bytes.Equal(content, want) {
		t.Errorf("eContent %x, want %x", content, want)
	}
	_, signers := children(t, sdElems[3])
	if len(signers) != 1 {
		t.Fatalf("%d SignerInfos", len(signers))
	}
	tags, si := children(t, signers[0])
	if !bytes.Equal(tags, []byte{0x02, 0x80, 0x30, 0x30, 0x04}) {
		t.Fatalf("SignerInfo tags %x, want INTEGER [0] SEQUENCE SEQUENCE OCTET STRING", tags)
	}
	if !bytes.Equal(si[0], []byte{3}) || !bytes.Equal(si[1], TestCDSigner().KeyID) {
		t.Errorf("SignerInfo version %x, key ID %x", si[0], si[1])
	}
	digest := sha256.Sum256(content)
	if !ecdsa.VerifyASN1(testCDSignerCert(t).PublicKey.(*ecdsa.PublicKey), digest[:], si[4]) {
		t.Error("CD signature does not verify with the test CD signing certificate")
	}

	// The package's own parser agrees, and rejects a modified content.
	scd, err := ParseCertificationDeclaration(env)
	if err != nil {
		t.Fatal(err)
	}
	if err := scd.Verify(&TestCDSigner().Key.PublicKey); err != nil {
		t.Error(err)
	}
	bad := bytes.Clone(env)
	i := bytes.Index(bad, []byte("CSA00000SWC"))
	bad[i] = 'X'
	scd, err = ParseCertificationDeclaration(bad)
	if err != nil {
		t.Fatal(err)
	}
	if err := scd.Verify(&TestCDSigner().Key.PublicKey); !errors.Is(err, ErrSignature) {
		t.Errorf("tampered CD: %v, want ErrSignature", err)
	}
}

func oidBytes(t *testing.T, h string) []byte { return unhex(t, h) }

func TestParseCertificationDeclarationRejects(t *testing.T) {
	cd := &CertificationDeclaration{FormatVersion: 1, VendorID: 0xFFF1, ProductIDs: []uint16{0x8000}, CertificateID: "CSA00000SWC00000-00"}
	env, err := SignCertificationDeclaration(cd, TestCDSigner())
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{
		"empty":     nil,
		"truncated": env[:len(env)-1],
		"trailing":  append(bytes.Clone(env), 0),
		"data type": bytes.Replace(env, unhex(t, "2a864886f70d010702"), unhex(t, "2a864886f70d010701"), 1),
		"version 1": bytes.Replace(env, unhex(t, "020103310d"), unhex(t, "020101310d"), 1),
	} {
		if _, err := ParseCertificationDeclaration(b); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if _, err := SignCertificationDeclaration(cd, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("nil signer: %v", err)
	}
}
