package securechannel

import (
	"crypto/ecdsa"
	"testing"
	"time"

	"github.com/mattercam/mattercam/matter/cert"
	"github.com/mattercam/mattercam/matter/crypto"
	"github.com/mattercam/mattercam/matter/session"
)

// Operational PKI for the CASE tests, with real Matter certificates from
// package matter/cert.

// testVerify is the default chain verifier, without validity periods.
var testVerify = CertChainVerifier(nil)

var (
	certNotBefore = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	certNotAfter  = time.Date(2034, 1, 1, 0, 0, 0, 0, time.UTC)
)

// testCA is a fabric's root CA.
type testCA struct {
	key     *ecdsa.PrivateKey
	pub     []byte
	rcac    *cert.Certificate
	rcacTLV []byte
	serial  byte
}

func (ca *testCA) params(id, fabricID uint64, cats ...session.CAT) cert.Params {
	ca.serial++
	p := cert.Params{SerialNumber: []byte{ca.serial}, NotBefore: certNotBefore, NotAfter: certNotAfter, ID: id, FabricID: fabricID}
	for _, c := range cats {
		p.CATs = append(p.CATs, cert.CAT(c))
	}
	return p
}

func mustTLV(t testing.TB, c *cert.Certificate, err error) []byte {
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

// testRoot makes a root CA for a fabric.
func testRoot(t testing.TB, fabricID uint64) *testCA {
	t.Helper()
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	ca := &testCA{key: key}
	ca.pub, _ = crypto.MarshalPublicKey(&key.PublicKey)
	ca.rcac, err = cert.NewRCAC(ca.params(0xCACA_CACA_0000_0001, fabricID), key)
	ca.rcacTLV = mustTLV(t, ca.rcac, err)
	return ca
}

// testIPKEpochKey is the IPK epoch key AddNOC would deliver.
var testIPKEpochKey = []byte("test IPK epoch k")

// fabricFor issues a NOC for node on the root's fabric, optionally under an
// ICAC, and returns the node's Fabric.
func (ca *testCA) fabricFor(t testing.TB, index uint8, fabricID, node uint64, withICAC bool, cats ...session.CAT) Fabric {
	t.Helper()
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	issuer, issuerKey := ca.rcac, ca.key
	var icacTLV []byte
	if withICAC {
		ik, err := crypto.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		icac, err := cert.NewICAC(ca.params(0x1CAC_0000_0000_0001, fabricID), &ik.PublicKey, ca.rcac, ca.key)
		icacTLV = mustTLV(t, icac, err)
		issuer, issuerKey = icac, ik
	}
	noc, err := cert.NewNOC(ca.params(node, fabricID, cats...), &key.PublicKey, issuer, issuerKey)
	nocTLV := mustTLV(t, noc, err)
	cfid, err := crypto.CompressedFabricID(ca.pub, fabricID)
	if err != nil {
		t.Fatal(err)
	}
	ipk, err := crypto.DeriveOperationalGroupKey(testIPKEpochKey, cfid)
	if err != nil {
		t.Fatal(err)
	}
	return Fabric{
		Index:         index,
		FabricID:      fabricID,
		NodeID:        node,
		RootPublicKey: ca.pub,
		RCAC:          ca.rcacTLV,
		ICAC:          icacTLV,
		NOC:           nocTLV,
		Key:           key,
		IPK:           ipk,
	}
}
