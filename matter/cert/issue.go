package cert

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	mcrypto "github.com/mattercam/mattercam/matter/crypto"
)

// KeyID returns the key identifier Matter uses for pub: the SHA-1 hash of
// its 65-octet uncompressed encoding (§6.1.2, RFC 5280 §4.2.1.2 method 1).
func KeyID(pub *ecdsa.PublicKey) ([]byte, error) {
	b, err := mcrypto.MarshalPublicKey(pub)
	if err != nil {
		return nil, err
	}
	h := sha1.Sum(b)
	return h[:], nil
}

// Issue creates a certificate from template, signed by key on behalf of
// parent, and returns it with its Signature set. It is to Matter
// certificates what x509.CreateCertificate is to X.509 ones, and is meant
// for tests and provisioning tools.
//
// The result copies template with these changes: Issuer is parent's subject,
// or template's own subject when parent is nil (a self-signed certificate,
// whose key must then be template.PublicKey's); AuthorityKeyID, if nil,
// becomes parent's subject key identifier, or the certificate's own for a
// self-signed one; SubjectKeyID, if nil, becomes KeyID(template.PublicKey);
// times lose any fraction of a second. key's public key must be parent's
// (or template's) public key.
//
// The signature is computed over the DER TBSCertificate (§6.5.2). When key
// is an *ecdsa.PrivateKey it is the deterministic signature of RFC 6979, so
// the same template, parent and key always give the same certificate.
// Other signers sign with their own randomness.
func Issue(template, parent *Certificate, key crypto.Signer) (*Certificate, error) {
	if template == nil || key == nil {
		return nil, errors.New("cert: Issue needs a template and a key")
	}
	c := template.clone()
	c.NotBefore = truncateTime(c.NotBefore)
	c.NotAfter = truncateTime(c.NotAfter)

	signerPub, ok := key.Public().(*ecdsa.PublicKey)
	if !ok {
		return nil, errors.New("cert: signing key is not an ECDSA key")
	}
	issuerPub := c.PublicKey
	if parent != nil {
		issuerPub = parent.PublicKey
		c.Issuer = slices.Clone(parent.Subject)
	} else {
		c.Issuer = slices.Clone(c.Subject)
	}
	if issuerPub == nil || !signerPub.Equal(issuerPub) {
		return nil, errors.New("cert: signing key does not match the issuer's public key")
	}
	if c.SubjectKeyID == nil && c.PublicKey != nil {
		id, err := KeyID(c.PublicKey)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		c.SubjectKeyID = id
	}
	if c.AuthorityKeyID == nil {
		if parent != nil {
			c.AuthorityKeyID = slices.Clone(parent.SubjectKeyID)
		} else {
			c.AuthorityKeyID = slices.Clone(c.SubjectKeyID)
		}
	}

	tbs, err := c.TBSDER()
	if err != nil {
		return nil, err
	}
	digest := sha256.Sum256(tbs)
	// A nil random source selects RFC 6979 for an *ecdsa.PrivateKey.
	var random io.Reader = rand.Reader
	if _, ok := key.(*ecdsa.PrivateKey); ok {
		random = nil
	}
	der, err := key.Sign(random, digest[:], crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("cert: signing: %w", err)
	}
	if c.Signature, err = mcrypto.SignatureFromASN1(der); err != nil {
		return nil, fmt.Errorf("cert: signing: %w", err)
	}
	return c, nil
}

func truncateTime(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.Truncate(time.Second).UTC()
}

// clone returns a deep copy of c, except for the public key, which is
// immutable in practice.
func (c *Certificate) clone() *Certificate {
	d := *c
	d.SerialNumber = slices.Clone(c.SerialNumber)
	d.Issuer = slices.Clone(c.Issuer)
	d.Subject = slices.Clone(c.Subject)
	d.ExtKeyUsage = slices.Clone(c.ExtKeyUsage)
	d.SubjectKeyID = slices.Clone(c.SubjectKeyID)
	d.AuthorityKeyID = slices.Clone(c.AuthorityKeyID)
	d.FutureExtensions = make([][]byte, len(c.FutureExtensions))
	for i, e := range c.FutureExtensions {
		d.FutureExtensions[i] = slices.Clone(e)
	}
	if c.FutureExtensions == nil {
		d.FutureExtensions = nil
	}
	d.Signature = slices.Clone(c.Signature)
	d.order = slices.Clone(c.order)
	return &d
}

// Params describe an operational certificate for NewRCAC, NewICAC and
// NewNOC.
type Params struct {
	// SerialNumber is the certificate serial number, at most MaxSerialSize
	// octets. A leading zero octet is added if the first octet has its
	// high bit set, so any non-zero byte string can be used.
	SerialNumber []byte

	// NotBefore and NotAfter bound the validity period; a zero NotAfter
	// means no well-defined expiration (§6.5.5).
	NotBefore, NotAfter time.Time

	// ID is the matter-rcac-id, matter-icac-id or matter-node-id of the
	// subject.
	ID uint64

	// FabricID is the matter-fabric-id. A NOC must have one; for an RCAC
	// or ICAC, 0 leaves it out of the subject.
	FabricID uint64

	// CATs are the NOC's CASE Authenticated Tags, at most MaxCATs.
	CATs []CAT
}

// NewRCAC issues a self-signed root CA certificate for key (§6.4.5.3). The
// subject holds the RCAC ID and, if set, the fabric ID; the extensions are
// basic constraints with cA, key usage keyCertSign and cRLSign, and the key
// identifiers.
func NewRCAC(p Params, key crypto.Signer) (*Certificate, error) {
	pub, err := signerKey(key)
	if err != nil {
		return nil, err
	}
	t, err := caTemplate(p, AttrRCACID, pub)
	if err != nil {
		return nil, err
	}
	c, err := Issue(t, nil, key)
	if err != nil {
		return nil, err
	}
	if err := checkRole(c, KindRCAC); err != nil {
		return nil, err
	}
	return c, nil
}

// NewICAC issues an intermediate CA certificate for pub, signed by the root
// rcac with rootKey (§6.4.5.2). Its form is that of NewRCAC with the ICAC ID
// in place of the RCAC ID.
func NewICAC(p Params, pub *ecdsa.PublicKey, rcac *Certificate, rootKey crypto.Signer) (*Certificate, error) {
	if rcac == nil {
		return nil, errors.New("cert: NewICAC needs the RCAC")
	}
	t, err := caTemplate(p, AttrICACID, pub)
	if err != nil {
		return nil, err
	}
	c, err := Issue(t, rcac, rootKey)
	if err != nil {
		return nil, err
	}
	if err := checkRole(c, KindICAC); err != nil {
		return nil, err
	}
	return c, nil
}

// NewNOC issues a node operational certificate for pub, signed by issuer
// (the ICAC, or the RCAC when there is none) with issuerKey (§6.4.5.1). The
// subject holds the node ID, the fabric ID and the CATs; the extensions are
// basic constraints without cA, key usage digitalSignature, extended key
// usage clientAuth and serverAuth, and the key identifiers.
func NewNOC(p Params, pub *ecdsa.PublicKey, issuer *Certificate, issuerKey crypto.Signer) (*Certificate, error) {
	if issuer == nil {
		return nil, errors.New("cert: NewNOC needs the issuing certificate")
	}
	serial, err := serialNumber(p.SerialNumber)
	if err != nil {
		return nil, err
	}
	subject := DN{{Type: AttrNodeID, Value: p.ID}, {Type: AttrFabricID, Value: p.FabricID}}
	for _, cat := range p.CATs {
		subject = append(subject, Attribute{Type: AttrCAT, Value: uint64(cat)})
	}
	t := &Certificate{
		SerialNumber:          serial,
		NotBefore:             p.NotBefore,
		NotAfter:              p.NotAfter,
		Subject:               subject,
		PublicKey:             pub,
		BasicConstraintsValid: true,
		KeyUsage:              KeyUsageDigitalSignature,
		ExtKeyUsage:           []ExtKeyUsage{ExtKeyUsageClientAuth, ExtKeyUsageServerAuth},
	}
	if err := checkIdentity(t, KindNOC); err != nil {
		return nil, err
	}
	c, err := Issue(t, issuer, issuerKey)
	if err != nil {
		return nil, err
	}
	if err := checkRole(c, KindNOC); err != nil {
		return nil, err
	}
	return c, nil
}

func caTemplate(p Params, idType AttrType, pub *ecdsa.PublicKey) (*Certificate, error) {
	serial, err := serialNumber(p.SerialNumber)
	if err != nil {
		return nil, err
	}
	if len(p.CATs) != 0 {
		return nil, fmt.Errorf("%w: CASE Authenticated Tags in a CA certificate", ErrIdentity)
	}
	subject := DN{{Type: idType, Value: p.ID}}
	if p.FabricID != 0 {
		subject = append(subject, Attribute{Type: AttrFabricID, Value: p.FabricID})
	}
	return &Certificate{
		SerialNumber:          serial,
		NotBefore:             p.NotBefore,
		NotAfter:              p.NotAfter,
		Subject:               subject,
		PublicKey:             pub,
		BasicConstraintsValid: true,
		IsCA:                  true,
		KeyUsage:              KeyUsageKeyCertSign | KeyUsageCRLSign,
	}, nil
}

// serialNumber turns a byte string into the contents of a positive DER
// INTEGER.
func serialNumber(b []byte) ([]byte, error) {
	for len(b) > 1 && b[0] == 0 && b[1]&0x80 == 0 {
		b = b[1:]
	}
	if len(b) == 0 || len(b) == 1 && b[0] == 0 {
		return nil, fmt.Errorf("%w: serial number must be non-zero", ErrMalformed)
	}
	if b[0]&0x80 != 0 {
		b = append([]byte{0}, b...)
	} else {
		b = slices.Clone(b)
	}
	if len(b) > MaxSerialSize {
		return nil, fmt.Errorf("%w: serial number of %d octets", ErrMalformed, len(b))
	}
	return b, nil
}

func signerKey(key crypto.Signer) (*ecdsa.PublicKey, error) {
	if key == nil {
		return nil, errors.New("cert: no signing key")
	}
	pub, ok := key.Public().(*ecdsa.PublicKey)
	if !ok {
		return nil, errors.New("cert: signing key is not an ECDSA key")
	}
	return pub, nil
}
