package servetest

import (
	"crypto/ecdsa"
	"testing"
	"time"

	"github.com/mattercam/mattercam/matter/cert"
	"github.com/mattercam/mattercam/matter/crypto"
)

// Validity of the test certificates.
var (
	NotBefore = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	NotAfter  = time.Date(2044, 1, 1, 0, 0, 0, 0, time.UTC)
)

// IPK is the IPK epoch key the test commissioners send.
var IPK = []byte("test IPK epoch 0")

// CA is a commissioner's fabric PKI: a root, optionally an intermediate,
// issuing NOCs for the keys of CSRs, as a commissioner does.
type CA struct {
	FabricID uint64
	Key      *ecdsa.PrivateKey
	RCAC     []byte // Matter TLV
	RootPub  []byte // 65 octets

	rcac    *cert.Certificate
	icacKey *ecdsa.PrivateKey
	icac    *cert.Certificate
	ICAC    []byte // nil without an intermediate
	serial  byte
}

func mustKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func encodeCert(t testing.TB, c *cert.Certificate, err error) []byte {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.EncodeTLV()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (ca *CA) params(id uint64, fabricID uint64, cats ...cert.CAT) cert.Params {
	ca.serial++
	return cert.Params{SerialNumber: []byte{ca.serial}, NotBefore: NotBefore, NotAfter: NotAfter, ID: id, FabricID: fabricID, CATs: cats}
}

// NewCA returns a root for fabricID, with an intermediate if withICAC.
func NewCA(t testing.TB, fabricID uint64, withICAC bool) *CA {
	t.Helper()
	ca := &CA{FabricID: fabricID, Key: mustKey(t)}
	var err error
	ca.RootPub, err = crypto.MarshalPublicKey(&ca.Key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	ca.rcac, err = cert.NewRCAC(ca.params(0xCACACACA_00000001, 0), ca.Key)
	ca.RCAC = encodeCert(t, ca.rcac, err)
	if withICAC {
		ca.icacKey = mustKey(t)
		ca.icac, err = cert.NewICAC(ca.params(0x1CAC0000_00000001, fabricID), &ca.icacKey.PublicKey, ca.rcac, ca.Key)
		ca.ICAC = encodeCert(t, ca.icac, err)
	}
	return ca
}

// NOC issues a NOC for the key of a DER CSR, for node on the CA's fabric.
func (ca *CA) NOC(t testing.TB, csr []byte, node uint64, cats ...cert.CAT) []byte {
	t.Helper()
	pub, err := cert.ParseCSR(csr)
	if err != nil {
		t.Fatalf("ParseCSR: %v", err)
	}
	return ca.NOCFor(t, pub, node, cats...)
}

// NOCFor issues a NOC for pub.
func (ca *CA) NOCFor(t testing.TB, pub *ecdsa.PublicKey, node uint64, cats ...cert.CAT) []byte {
	t.Helper()
	issuer, key := ca.rcac, ca.Key
	if ca.icacKey != nil {
		issuer, key = ca.icac, ca.icacKey
	}
	c, err := cert.NewNOC(ca.params(node, ca.FabricID, cats...), pub, issuer, key)
	return encodeCert(t, c, err)
}
