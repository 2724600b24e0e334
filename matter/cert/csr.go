package cert

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"

	mcrypto "github.com/mattercam/mattercam/matter/crypto"
)

// MaxCSRSize bounds the PKCS #10 requests ParseCSR accepts. A P-256 request
// with a short subject is about 230 octets; the bound only keeps hostile
// input cheap.
const MaxCSRSize = 1024

// CreateCSR returns a DER PKCS #10 certification request (RFC 2986) for the
// operational key, as a node puts in the NOCSR elements of its CSRResponse
// (Node Operational Credentials cluster, §11.18). The commissioner takes
// only the public key from it: the subject is a placeholder, O=CSA, and
// there are no requested extensions. The request is signed with
// ecdsa-with-SHA256.
func CreateCSR(key crypto.Signer) ([]byte, error) {
	pub, err := signerKey(key)
	if err != nil {
		return nil, err
	}
	if pub.Curve != elliptic.P256() {
		return nil, errors.New("cert: CSR key is not a P-256 key")
	}
	tmpl := &x509.CertificateRequest{
		Subject:            pkix.Name{Organization: []string{"CSA"}},
		SignatureAlgorithm: x509.ECDSAWithSHA256,
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		return nil, fmt.Errorf("cert: creating CSR: %w", err)
	}
	return der, nil
}

// ParseCSR parses a DER PKCS #10 certification request, checks its
// signature, and returns the P-256 public key it asks a NOC for. The subject
// and attributes are not interpreted: the issuer of a NOC decides its
// subject. Requests other than version 1 with an EC P-256 key signed with
// ecdsa-with-SHA256, requests with trailing data, and requests longer than
// MaxCSRSize are rejected.
func ParseCSR(der []byte) (*ecdsa.PublicKey, error) {
	if len(der) > MaxCSRSize {
		return nil, fmt.Errorf("%w: CSR of %d octets exceeds %d", ErrMalformed, len(der), MaxCSRSize)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, fmt.Errorf("%w: CSR: %v", ErrMalformed, err)
	}
	if csr.Version != 0 {
		return nil, fmt.Errorf("%w: CSR version %d", ErrUnsupported, csr.Version)
	}
	if csr.SignatureAlgorithm != x509.ECDSAWithSHA256 {
		return nil, fmt.Errorf("%w: CSR signature algorithm %v", ErrUnsupported, csr.SignatureAlgorithm)
	}
	pub, ok := csr.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return nil, fmt.Errorf("%w: CSR key is not a P-256 key", ErrUnsupported)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("%w: CSR: %v", ErrSignature, err)
	}
	// Round-trip through the Matter encoding so the key is known to be a
	// valid point in the form certificates carry.
	raw, err := mcrypto.MarshalPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("%w: CSR key: %v", ErrUnsupported, err)
	}
	return mcrypto.ParsePublicKey(raw)
}
