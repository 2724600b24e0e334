package cert

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/x509"
	"errors"
	"testing"
	"time"
)

// The connectedhomeip vectors of testdata/chip_test_vectors.txt, converted
// in both directions. Every one must convert octet for octet.
func TestVectorsByteExact(t *testing.T) {
	for _, v := range loadVectors(t) {
		t.Run(v.name, func(t *testing.T) {
			fromTLV, err := DecodeTLV(v.tlv)
			if err != nil {
				t.Fatalf("DecodeTLV: %v", err)
			}
			der, err := fromTLV.X509DER()
			if err != nil {
				t.Fatalf("X509DER: %v", err)
			}
			if !bytes.Equal(der, v.der) {
				t.Fatalf("TLV→DER mismatch\n got %x\nwant %x", der, v.der)
			}
			tlvAgain, err := fromTLV.EncodeTLV()
			if err != nil {
				t.Fatalf("EncodeTLV: %v", err)
			}
			if !bytes.Equal(tlvAgain, v.tlv) {
				t.Fatalf("TLV→TLV mismatch\n got %x\nwant %x", tlvAgain, v.tlv)
			}

			fromDER, err := FromX509(v.der)
			if err != nil {
				t.Fatalf("FromX509: %v", err)
			}
			tlv, err := fromDER.EncodeTLV()
			if err != nil {
				t.Fatalf("EncodeTLV of FromX509: %v", err)
			}
			if !bytes.Equal(tlv, v.tlv) {
				t.Fatalf("DER→TLV mismatch\n got %x\nwant %x", tlv, v.tlv)
			}

			// crypto/x509 agrees on what was signed and on the fields
			// both model.
			xc, err := x509.ParseCertificate(v.der)
			if err != nil {
				t.Fatalf("x509.ParseCertificate: %v", err)
			}
			tbs, err := fromTLV.TBSDER()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(tbs, xc.RawTBSCertificate) {
				t.Errorf("TBSDER differs from crypto/x509's RawTBSCertificate")
			}
			if !bytes.Equal(fromTLV.SerialNumber, xc.SerialNumber.Bytes()) {
				t.Errorf("serial %x, crypto/x509 has %x", fromTLV.SerialNumber, xc.SerialNumber.Bytes())
			}
			if !bytes.Equal(fromTLV.SubjectKeyID, xc.SubjectKeyId) || !bytes.Equal(fromTLV.AuthorityKeyID, xc.AuthorityKeyId) {
				t.Errorf("key identifiers differ from crypto/x509's")
			}
			if !fromTLV.NotBefore.Equal(xc.NotBefore) {
				t.Errorf("NotBefore %v, crypto/x509 has %v", fromTLV.NotBefore, xc.NotBefore)
			}
			if want := xc.NotAfter; !(fromTLV.NotAfter.IsZero() && want.Year() == 9999) && !fromTLV.NotAfter.Equal(want) {
				t.Errorf("NotAfter %v, crypto/x509 has %v", fromTLV.NotAfter, want)
			}
			if fromTLV.IsCA != xc.IsCA || x509.KeyUsage(keyUsageX509(fromTLV.KeyUsage)) != xc.KeyUsage {
				t.Errorf("IsCA/KeyUsage %v/%v, crypto/x509 has %v/%v", fromTLV.IsCA, fromTLV.KeyUsage, xc.IsCA, xc.KeyUsage)
			}
			if pub, ok := xc.PublicKey.(*ecdsa.PublicKey); !ok || !pub.Equal(fromTLV.PublicKey) {
				t.Errorf("public key differs from crypto/x509's")
			}
			// Matter uses the SHA-1 of the key as its identifier (§6.1.2).
			if id, _ := KeyID(fromTLV.PublicKey); v.name != "PDCID01" && !bytes.Equal(id, fromTLV.SubjectKeyID) {
				t.Errorf("SubjectKeyID %x is not KeyID %x", fromTLV.SubjectKeyID, id)
			}
		})
	}
}

// keyUsageX509 maps the Matter key usage bits onto crypto/x509's, which
// number them the same way.
func keyUsageX509(ku KeyUsage) int { return int(ku) }

// Each signature verifies under the issuer the vectors name, and fails under
// another key.
func TestVectorsSignatures(t *testing.T) {
	tests := []struct{ cert, issuer string }{
		{"Root01", "Root01"},
		{"Root02", "Root02"},
		{"Root03", "Root03"},
		{"ICA01", "Root01"},
		{"ICA02", "Root02"},
		{"Node01_01", "ICA01"},
		{"Node01_02", "Root01"},
		{"Node02_01", "ICA02"},
		{"Node02_02", "ICA02"},
		{"Node02_03", "ICA02"},
		{"Node02_04", "ICA02"},
		{"Node02_06", "ICA02"},
		{"Node02_07", "ICA02"},
		{"Node02_08", "ICA02"},
		{"PDCID01", "PDCID01"},
	}
	for _, tt := range tests {
		t.Run(tt.cert, func(t *testing.T) {
			c, issuer := mustDecode(t, tt.cert), mustDecode(t, tt.issuer)
			if err := c.CheckSignatureFrom(issuer); err != nil {
				t.Fatalf("CheckSignatureFrom(%s): %v", tt.issuer, err)
			}
			other := mustDecode(t, "Node02_08")
			if tt.cert == "Node02_08" {
				other = mustDecode(t, "Root01")
			}
			if err := c.CheckSignatureFrom(other); !errors.Is(err, ErrSignature) {
				t.Fatalf("CheckSignatureFrom(wrong key) = %v, want ErrSignature", err)
			}
		})
	}
}

// The fields the vectors exercise decode to what their published text
// form (openssl output in the vectors file) says.
func TestVectorsFields(t *testing.T) {
	t.Run("Root01", func(t *testing.T) {
		c := mustDecode(t, "Root01")
		if id, ok := c.Subject.RCACID(); !ok || id != 0xCACACACA00000001 {
			t.Errorf("RCACID = %X, %v", id, ok)
		}
		want := time.Date(2020, 10, 15, 14, 23, 43, 0, time.UTC)
		if !c.NotBefore.Equal(want) {
			t.Errorf("NotBefore = %v, want %v", c.NotBefore, want)
		}
		if c.Kind() != KindRCAC || !c.IsCA || c.HasPathLen || c.KeyUsage != KeyUsageKeyCertSign|KeyUsageCRLSign {
			t.Errorf("kind %v, IsCA %v, path len %v, key usage %x", c.Kind(), c.IsCA, c.HasPathLen, c.KeyUsage)
		}
	})
	t.Run("Root03 no expiry", func(t *testing.T) {
		c := mustDecode(t, "Root03")
		if !c.NotAfter.IsZero() || !c.HasPathLen || c.PathLen != 1 {
			t.Errorf("NotAfter %v, path len %v %d", c.NotAfter, c.HasPathLen, c.PathLen)
		}
	})
	t.Run("ICA02", func(t *testing.T) {
		c := mustDecode(t, "ICA02")
		id, _ := c.Subject.ICACID()
		fabric, _ := c.Subject.FabricID()
		if c.Kind() != KindICAC || id != 0xCACACACA00000004 || fabric != 0xFAB000000000001D || !c.HasPathLen || c.PathLen != 0 {
			t.Errorf("ICA02: %v %X %X %v %d", c.Kind(), id, fabric, c.HasPathLen, c.PathLen)
		}
	})
	t.Run("FWSign01", func(t *testing.T) {
		c := mustDecode(t, "FWSign01")
		id, _ := c.Subject.FirmwareSigningID()
		if c.Kind() != KindFirmwareSigning || id != 0xFFFFFFFF00000001 {
			t.Errorf("kind %v, ID %X", c.Kind(), id)
		}
		if len(c.ExtKeyUsage) != 1 || c.ExtKeyUsage[0] != ExtKeyUsageCodeSigning || c.KeyUsage != KeyUsageDigitalSignature {
			t.Errorf("usage %v %v", c.KeyUsage, c.ExtKeyUsage)
		}
		if c.Subject[1] != (Attribute{Type: AttrCommonName, String: "FW SIGN CERT 01"}) {
			t.Errorf("subject %v", c.Subject)
		}
	})
	t.Run("Node02_04 attribute order", func(t *testing.T) {
		c := mustDecode(t, "Node02_04")
		want := "matter-noc-cat=ABCE1002, CN=\"TestCert02_04\", matter-fabric-id=FAB000000000001D, " +
			"matter-noc-cat=ABCD0003, matter-node-id=DEDEDEDE00020004"
		if got := c.Subject.String(); got != want {
			t.Errorf("subject %s\nwant    %s", got, want)
		}
		if cats := c.Subject.CATs(); len(cats) != 2 || cats[0] != 0xABCE1002 || cats[1] != 0xABCD0003 {
			t.Errorf("CATs %v", cats)
		}
	})
	t.Run("Node02_06 future extensions", func(t *testing.T) {
		c := mustDecode(t, "Node02_06")
		if len(c.FutureExtensions) != 2 {
			t.Fatalf("%d future extensions", len(c.FutureExtensions))
		}
		oid, critical, err := parseExtension(c.FutureExtensions[0])
		if err != nil || string(oid) != "\x55\x1d\x11" || critical {
			t.Errorf("first future extension: %x %v %v", oid, critical, err)
		}
	})
	t.Run("PDCID01 minimal", func(t *testing.T) {
		c := mustDecode(t, "PDCID01")
		if !bytes.Equal(c.SerialNumber, []byte{1}) || c.SubjectKeyID != nil || c.AuthorityKeyID != nil {
			t.Errorf("serial %x, key IDs %x %x", c.SerialNumber, c.SubjectKeyID, c.AuthorityKeyID)
		}
		if !c.NotBefore.Equal(MatterEpoch.Add(time.Second)) || !c.NotAfter.IsZero() {
			t.Errorf("validity %v – %v", c.NotBefore, c.NotAfter)
		}
	})
}
