package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"strconv"
	"testing"
	"time"

	"github.com/mattercam/mattercam/matter/crypto"
)

// TestTLSCertificatesAndEndpoints: matter.js provisions a TLS root
// certificate (generated here: node has no X.509 writer) over a TCP CASE
// session, as the Large-Message commands of TLS Certificate Management
// require; before SetUTCTime the device refuses it with INVALID_IN_STATE.
// It reads the list over UDP (no certificate in it), finds and looks the
// root up over TCP, gets a client CSR (checked here: a P-256 PKCS #10
// request whose key signed the nonce), provisions a TLS Client Management
// endpoint referencing both, sees the certificates refused removal while
// referenced (INVALID_IN_STATE), removes the endpoint, then the
// certificates, and decommissions.
func TestTLSCertificatesAndEndpoints(t *testing.T) {
	// An untrusted host clock: the node has no UTC time until the
	// controller sets it, which the scenario checks first.
	state := t.TempDir()
	fw := startFirmwareWith(t, state, freePort(t), "-factory", state+"/absent-factory.json", "-host-clock=untrusted")
	steps := runScript(t, t.TempDir(), "e2e/tls.mjs", "--address=127.0.0.1", "--port="+strconv.Itoa(fw.port),
		"--root-der="+hex.EncodeToString(selfSignedRoot(t)))
	requireSteps(t, steps, "commission", "read-limits", "provision-root-without-time", "set-utc-time", "provision-root",
		"provision-root-again", "read-roots", "find-root", "lookup-root", "client-csr", "provision-endpoint", "read-endpoints",
		"remove-root-in-use", "remove-client-in-use", "remove-endpoint", "remove-root", "find-root-removed", "decommission")
	for _, s := range []struct {
		name string
		want int
	}{{"provision-root-without-time", 0xCB}, {"provision-root-again", 0xD0}, {"remove-root-in-use", 0xCB},
		{"remove-client-in-use", 0xCB}, {"find-root-removed", 0x8B}} {
		if v := string(steps[s.name].Value); v != strconv.Itoa(s.want) {
			t.Errorf("%s: status %s, want %d", s.name, v, s.want)
		}
	}

	var csr struct{ Nonce, CSR, NonceSignature string }
	if err := json.Unmarshal(steps["client-csr"].Value, &csr); err != nil {
		t.Fatalf("client-csr value %s: %v", steps["client-csr"].Value, err)
	}
	der, _ := hex.DecodeString(csr.CSR)
	nonce, _ := hex.DecodeString(csr.Nonce)
	sig, _ := hex.DecodeString(csr.NonceSignature)
	req, err := x509.ParseCertificateRequest(der)
	if err != nil {
		t.Fatalf("ClientCSR's CSR: %v", err)
	}
	if err := req.CheckSignature(); err != nil || req.SignatureAlgorithm != x509.ECDSAWithSHA256 {
		t.Errorf("CSR signature (%v): %v", req.SignatureAlgorithm, err)
	}
	pub, ok := req.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		t.Fatalf("CSR key %T", req.PublicKey)
	}
	if !crypto.Verify(pub, nonce, sig) {
		t.Error("NonceSignature is not the CSR key's signature of the nonce")
	}
	waitLog(t, fw, "commissioning window open", 2, 5*time.Second)
}

// selfSignedRoot returns a DER self-signed P-256 CA certificate valid from
// an hour ago (the device's clock comes from the controller's SetUTCTime).
func selfSignedRoot(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(now.UnixNano()), Subject: pkix.Name{Organization: []string{"mattercam e2e"}, CommonName: "TLS root"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}
