package attestation

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"io"
	"math/big"
	"strconv"
	"time"

	"github.com/mattercam/mattercam/matter/cert"
	mcrypto "github.com/mattercam/mattercam/matter/crypto"
)

// The Matter-specific name attributes of attestation certificates (§6.2.2,
// §6.1.1): the Vendor ID and the Product ID, each a UTF8String of exactly
// four uppercase hexadecimal digits.
var (
	OIDVendorID  = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 37244, 2, 1}
	OIDProductID = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 37244, 2, 2}
	oidCN        = asn1.ObjectIdentifier{2, 5, 4, 3}
)

// MaxCertSize is the largest DER attestation certificate (§6.2.2:
// 600 octets, the limit matter.js also enforces when parsing a DAC or PAI).
const MaxCertSize = cert.MaxDERSize

// NoExpiry is the not-after time of a certificate without a well-defined
// expiration, 99991231235959Z (RFC 5280 §4.1.2.5, §6.2.2).
var NoExpiry = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)

// Issuer is a CA certificate and its private key, for issuing a PAI or a
// DAC under an existing PAA or PAI.
type Issuer struct {
	Cert []byte // DER
	Key  *ecdsa.PrivateKey
}

// name builds a distinguished name of single-attribute RDNs: CN, then the
// Vendor ID and, if pid is not nil, the Product ID (the order of the SDK's
// test certificates). Every value is a UTF8String.
func name(cn string, vid *uint16, pid *uint16) ([]byte, error) {
	utf8 := func(s string) asn1.RawValue {
		return asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagUTF8String, Bytes: []byte(s)}
	}
	rdn := pkix.RDNSequence{{{Type: oidCN, Value: utf8(cn)}}}
	if vid != nil {
		rdn = append(rdn, pkix.RelativeDistinguishedNameSET{{Type: OIDVendorID, Value: utf8(hex4(*vid))}})
	}
	if pid != nil {
		rdn = append(rdn, pkix.RelativeDistinguishedNameSET{{Type: OIDProductID, Value: utf8(hex4(*pid))}})
	}
	return asn1.Marshal(rdn)
}

func hex4(v uint16) string { return fmt.Sprintf("%04X", v) }

// nameIDs returns the Vendor and Product ID attributes of a parsed name.
// Each must be four uppercase hexadecimal digits (§6.2.2); a malformed or
// repeated one is an error.
func nameIDs(n pkix.Name) (vid, pid uint16, hasVID, hasPID bool, err error) {
	for _, a := range n.Names {
		var dst *uint16
		var has *bool
		switch {
		case a.Type.Equal(OIDVendorID):
			dst, has = &vid, &hasVID
		case a.Type.Equal(OIDProductID):
			dst, has = &pid, &hasPID
		default:
			continue
		}
		s, ok := a.Value.(string)
		if !ok || len(s) != 4 || *has {
			return 0, 0, false, false, fmt.Errorf("%w: malformed or repeated %v attribute", ErrInvalid, a.Type)
		}
		for i := 0; i < 4; i++ {
			if c := s[i]; (c < '0' || c > '9') && (c < 'A' || c > 'F') {
				return 0, 0, false, false, fmt.Errorf("%w: %v attribute %q is not 4 uppercase hex digits", ErrInvalid, a.Type, s)
			}
		}
		v, _ := strconv.ParseUint(s, 16, 16)
		*dst, *has = uint16(v), true
	}
	return vid, pid, hasVID, hasPID, nil
}

// certRole is one of the three attestation certificate profiles (§6.2.2).
type certRole int

const (
	rolePAA certRole = iota
	rolePAI
	roleDAC
)

func (r certRole) String() string { return [...]string{"PAA", "PAI", "DAC"}[r] }

// certSpec is what differs between the certificates issueCert creates.
type certSpec struct {
	role      certRole
	cn        string
	vid, pid  *uint16
	serial    []byte
	notBefore time.Time
	notAfter  time.Time
}

// issueCert creates an attestation certificate for pub following the
// profile of its role (§6.2.2): ecdsa-with-SHA256, critical basic
// constraints (CA with path length 1 for a PAA and 0 for a PAI; not a CA
// for a DAC), critical key usage (keyCertSign and cRLSign for a CA,
// digitalSignature for a DAC), and SHA-1 key identifiers (RFC 5280
// §4.2.1.2 method 1). A PAA is self-signed when parent is nil, and carries
// its own key identifier as authority key identifier, as the SDK's test
// PAAs do. Signing is deterministic (RFC 6979), so equal inputs give equal
// certificates.
func issueCert(s certSpec, pub *ecdsa.PublicKey, parent *x509.Certificate, key *ecdsa.PrivateKey) ([]byte, error) {
	subject, err := name(s.cn, s.vid, s.pid)
	if err != nil {
		return nil, fmt.Errorf("attestation: %s subject: %w", s.role, err)
	}
	skid, err := cert.KeyID(pub)
	if err != nil {
		return nil, fmt.Errorf("attestation: %s: %w", s.role, err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          new(big.Int).SetBytes(s.serial),
		RawSubject:            subject,
		NotBefore:             s.notBefore,
		NotAfter:              s.notAfter,
		BasicConstraintsValid: true,
		SubjectKeyId:          skid,
		SignatureAlgorithm:    x509.ECDSAWithSHA256,
	}
	switch s.role {
	case rolePAA:
		tmpl.IsCA, tmpl.MaxPathLen = true, 1
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
		tmpl.AuthorityKeyId = skid
	case rolePAI:
		tmpl.IsCA, tmpl.MaxPathLen, tmpl.MaxPathLenZero = true, 0, true
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	case roleDAC:
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	}
	if parent == nil {
		parent = tmpl
	}
	// A nil random source makes ecdsa sign deterministically (RFC 6979).
	der, err := x509.CreateCertificate(nil, tmpl, parent, pub, key)
	if err != nil {
		return nil, fmt.Errorf("attestation: issuing %s: %w", s.role, err)
	}
	if len(der) > MaxCertSize {
		return nil, fmt.Errorf("attestation: %s of %d octets exceeds %d", s.role, len(der), MaxCertSize)
	}
	return der, nil
}

// keySource yields the key pairs, serial numbers and other secrets of a
// generation run: from crypto/rand, or derived from a seed so that the
// same seed always gives the same identity.
type keySource struct {
	seed []byte // nil: random
}

// bytes returns n octets for the purpose named by label.
func (k keySource) bytes(label string, n int) ([]byte, error) {
	if k.seed == nil {
		b := make([]byte, n)
		if _, err := io.ReadFull(rand.Reader, b); err != nil {
			return nil, fmt.Errorf("attestation: %w", err)
		}
		return b, nil
	}
	// Crypto_KDF (HKDF-SHA256) with the label as info keeps the derived
	// values independent of each other.
	return mcrypto.HKDF(k.seed, []byte("mattercam attestation"), []byte(label), n)
}

// key returns the P-256 key pair named by label. A derived scalar that is
// zero or not below the group order (probability about 2⁻³²) is replaced
// by the next candidate.
func (k keySource) key(label string) (*ecdsa.PrivateKey, error) {
	if k.seed == nil {
		return mcrypto.GenerateKey()
	}
	for i := 0; i < 16; i++ {
		b, err := k.bytes(label+" key "+strconv.Itoa(i), 32)
		if err != nil {
			return nil, err
		}
		if key, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), b); err == nil {
			return key, nil
		}
	}
	return nil, fmt.Errorf("attestation: no valid scalar derived for %s", label)
}

// serial returns a positive 8-octet serial number.
func (k keySource) serial(label string) ([]byte, error) {
	b, err := k.bytes(label+" serial", 8)
	if err != nil {
		return nil, err
	}
	b[0] = b[0]&0x7F | 0x40 // positive, and 8 octets long in DER
	return b, nil
}

// checkCert checks that der is an attestation certificate of the given role
// (§6.2.2): size, key type, extensions, CA flag and key usage. It returns
// the parsed certificate.
func checkCert(der []byte, role certRole) (*x509.Certificate, error) {
	if len(der) > MaxCertSize {
		return nil, fmt.Errorf("%w: %s of %d octets exceeds %d", ErrInvalid, role, len(der), MaxCertSize)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrInvalid, role, err)
	}
	if c.Version != 3 || c.SignatureAlgorithm != x509.ECDSAWithSHA256 {
		return nil, fmt.Errorf("%w: %s is not an X.509 v3 ecdsa-with-SHA256 certificate", ErrInvalid, role)
	}
	pub, ok := c.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return nil, fmt.Errorf("%w: %s key is not P-256", ErrInvalid, role)
	}
	if !c.BasicConstraintsValid || len(c.SubjectKeyId) != cert.KeyIDSize {
		return nil, fmt.Errorf("%w: %s lacks basic constraints or a subject key identifier", ErrInvalid, role)
	}
	if role != rolePAA && len(c.AuthorityKeyId) != cert.KeyIDSize {
		return nil, fmt.Errorf("%w: %s lacks an authority key identifier", ErrInvalid, role)
	}
	if role == roleDAC {
		if c.IsCA || c.KeyUsage&x509.KeyUsageDigitalSignature == 0 || c.KeyUsage&x509.KeyUsageCertSign != 0 {
			return nil, fmt.Errorf("%w: DAC must be an end-entity certificate for digitalSignature", ErrInvalid)
		}
	} else if !c.IsCA || c.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, fmt.Errorf("%w: %s must be a CA certificate for keyCertSign", ErrInvalid, role)
	}
	return c, nil
}

// checkIssued checks that child was issued by parent: names, key
// identifiers and signature.
func checkIssued(child, parent *x509.Certificate) error {
	if !bytes.Equal(child.RawIssuer, parent.RawSubject) {
		return fmt.Errorf("%w: issuer name does not match the parent's subject", ErrChain)
	}
	if !bytes.Equal(child.AuthorityKeyId, parent.SubjectKeyId) {
		return fmt.Errorf("%w: authority key identifier does not match the parent's", ErrChain)
	}
	if err := parent.CheckSignature(child.SignatureAlgorithm, child.RawTBSCertificate, child.Signature); err != nil {
		return fmt.Errorf("%w: %w", ErrChain, err)
	}
	return nil
}
