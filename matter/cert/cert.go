package cert

import (
	"bytes"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"time"

	"github.com/mattercam/mattercam/matter/crypto"
)

// Size limits of §6.1.3 ("Certificate Sizes").
const (
	// MaxTLVSize is the largest Matter TLV certificate a node must accept
	// and may emit.
	MaxTLVSize = 400
	// MaxDERSize is the largest X.509 DER certificate Matter handles, for
	// the attestation certificates and for the X.509 form of operational
	// certificates.
	MaxDERSize = 600
)

// MaxSerialSize is the longest serial number a certificate may carry, in
// octets of the DER INTEGER (RFC 5280 §4.1.2.2, which §6.5 adopts for serial-num).
const MaxSerialSize = 20

// KeyIDSize is the size of a subject or authority key identifier: the 160-bit
// SHA-1 hash of the public key (§6.1.2, RFC 5280 §4.2.1.2 method 1).
const KeyIDSize = 20

// Errors returned by this package wrap one of these, so callers can classify
// a failure with errors.Is while the message keeps the detail.
var (
	// ErrMalformed reports an encoding that is not a well-formed Matter
	// certificate, in either form, or a Certificate whose fields cannot be
	// encoded.
	ErrMalformed = errors.New("cert: malformed certificate")

	// ErrUnsupported reports a well-formed X.509 certificate that uses
	// something a Matter certificate cannot represent (§6.5: another key
	// type or signature algorithm, a multi-valued RDN, an unknown name
	// attribute, an encoding that would not survive conversion), or a
	// Certificate holding attestation-only attributes being encoded as TLV.
	ErrUnsupported = errors.New("cert: not representable as a Matter certificate")

	// ErrSignature reports a signature that does not verify.
	ErrSignature = errors.New("cert: signature verification failed")

	// ErrExpired and ErrNotYetValid report a certificate used outside its
	// validity period.
	ErrExpired     = errors.New("cert: certificate has expired")
	ErrNotYetValid = errors.New("cert: certificate is not yet valid")

	// ErrChain reports certificates that do not form a chain: an issuer
	// name or authority key identifier that does not match the parent, a
	// root that is not self-issued, or fabric IDs that disagree.
	ErrChain = errors.New("cert: certificates do not chain")

	// ErrUsage reports a certificate whose extensions do not fit its place
	// in the chain: basic constraints, key usage, extended key usage, path
	// length, a missing mandatory extension or an unhandled critical one.
	ErrUsage = errors.New("cert: certificate not valid for its role")

	// ErrIdentity reports a subject whose Matter attributes break the rules
	// for its role: node ID, fabric ID, CASE Authenticated Tags, or the
	// attribute that marks a certificate as an RCAC, ICAC or NOC.
	ErrIdentity = errors.New("cert: invalid Matter identity attributes")
)

// KeyUsage is the key usage extension (RFC 5280 §4.2.1.3) as the Matter TLV
// encodes it: bit n is the X.509 KeyUsage bit n (§6.5.11, key-usage).
type KeyUsage uint16

// Key usage bits.
const (
	KeyUsageDigitalSignature KeyUsage = 1 << iota
	KeyUsageNonRepudiation
	KeyUsageKeyEncipherment
	KeyUsageDataEncipherment
	KeyUsageKeyAgreement
	KeyUsageKeyCertSign
	KeyUsageCRLSign
	KeyUsageEncipherOnly
	KeyUsageDecipherOnly

	keyUsageAll KeyUsage = 1<<9 - 1
)

// ExtKeyUsage is a key purpose of the extended key usage extension (RFC 5280
// §4.2.1.12), numbered as in the Matter TLV encoding (§6.5.11, extended-key-usage).
type ExtKeyUsage uint8

// Key purposes with their OIDs.
const (
	ExtKeyUsageServerAuth      ExtKeyUsage = 1 // 1.3.6.1.5.5.7.3.1
	ExtKeyUsageClientAuth      ExtKeyUsage = 2 // 1.3.6.1.5.5.7.3.2
	ExtKeyUsageCodeSigning     ExtKeyUsage = 3 // 1.3.6.1.5.5.7.3.3
	ExtKeyUsageEmailProtection ExtKeyUsage = 4 // 1.3.6.1.5.5.7.3.4
	ExtKeyUsageTimeStamping    ExtKeyUsage = 5 // 1.3.6.1.5.5.7.3.8
	ExtKeyUsageOCSPSigning     ExtKeyUsage = 6 // 1.3.6.1.5.5.7.3.9
)

// kpPrefix is the DER encoding of 1.3.6.1.5.5.7.3, id-kp.
const kpPrefix = "\x2b\x06\x01\x05\x05\x07\x03"

var extKeyUsageOIDs = [...]string{
	ExtKeyUsageServerAuth:      kpPrefix + "\x01",
	ExtKeyUsageClientAuth:      kpPrefix + "\x02",
	ExtKeyUsageCodeSigning:     kpPrefix + "\x03",
	ExtKeyUsageEmailProtection: kpPrefix + "\x04",
	ExtKeyUsageTimeStamping:    kpPrefix + "\x08",
	ExtKeyUsageOCSPSigning:     kpPrefix + "\x09",
}

func (u ExtKeyUsage) valid() bool { return u >= ExtKeyUsageServerAuth && u <= ExtKeyUsageOCSPSigning }

// Certificate is a Matter certificate (§6.5): an X.509 v3 certificate
// restricted to what the Matter TLV encoding can carry. The same value
// converts to either encoding, and each conversion reproduces the bytes the
// issuer produced, so the signature over the DER TBSCertificate checks out
// whichever form the certificate arrived in.
//
// The signature algorithm is always ecdsa-with-SHA256 and the key always a
// P-256 key, so neither has a field.
type Certificate struct {
	// SerialNumber holds the contents octets of the DER INTEGER: a
	// positive, minimally encoded integer of at most MaxSerialSize octets.
	SerialNumber []byte

	Issuer DN

	// NotBefore and NotAfter bound the validity period. Matter counts them
	// in whole seconds from MatterEpoch (§6.5.5); the zero time.Time is the
	// value 0, which for NotAfter means "no well-defined expiration" and
	// becomes 99991231235959Z in X.509.
	NotBefore, NotAfter time.Time

	Subject DN

	// PublicKey is the subject's P-256 public key.
	PublicKey *ecdsa.PublicKey

	// BasicConstraintsValid reports whether the basic constraints extension
	// is present. IsCA is its cA flag, and PathLen its pathLenConstraint
	// when HasPathLen is set.
	BasicConstraintsValid bool
	IsCA                  bool
	HasPathLen            bool
	PathLen               uint8

	// KeyUsage is the key usage extension; 0 means absent.
	KeyUsage KeyUsage

	// ExtKeyUsage is the extended key usage extension in encoded order;
	// empty means absent.
	ExtKeyUsage []ExtKeyUsage

	// SubjectKeyID and AuthorityKeyID are the key identifier extensions;
	// nil means absent. When present they are KeyIDSize octets.
	SubjectKeyID   []byte
	AuthorityKeyID []byte

	// FutureExtensions are the other extensions, each the complete DER of
	// an X.509 Extension, carried verbatim (§6.5.11, future-extension).
	FutureExtensions [][]byte

	// Signature is the ECDSA signature over the DER TBSCertificate in the
	// raw r ‖ s form (§6.5.2, signature).
	Signature []byte

	// order records the order of the extensions as decoded. X.509 lets the
	// issuer choose it and the Matter encoding keeps it (§6.5.11), since the
	// DER depends on it. Extensions absent from it (all of them, for a
	// Certificate built in code) follow in the order of their TLV tags:
	// basic constraints, key usage, extended key usage, subject and
	// authority key identifiers, then FutureExtensions.
	order []extRef
}

// TLV context tags of the extensions list (§6.5.11).
const (
	extBasicConstraints = 1
	extKeyUsage         = 2
	extExtKeyUsage      = 3
	extSubjectKeyID     = 4
	extAuthorityKeyID   = 5
	extFuture           = 6
)

// extRef names one extension: a kind, and for future extensions an index
// into FutureExtensions.
type extRef struct {
	kind uint8
	idx  int
}

// extensions returns the extensions present in c, in encoding order.
func (c *Certificate) extensions() []extRef {
	present := func(e extRef) bool {
		switch e.kind {
		case extBasicConstraints:
			return c.BasicConstraintsValid
		case extKeyUsage:
			return c.KeyUsage != 0
		case extExtKeyUsage:
			return len(c.ExtKeyUsage) > 0
		case extSubjectKeyID:
			return c.SubjectKeyID != nil
		case extAuthorityKeyID:
			return c.AuthorityKeyID != nil
		case extFuture:
			return e.idx >= 0 && e.idx < len(c.FutureExtensions)
		}
		return false
	}
	out := make([]extRef, 0, 5+len(c.FutureExtensions))
	var seen [extFuture]bool
	seenFuture := make([]bool, len(c.FutureExtensions))
	for _, e := range c.order {
		if !present(e) {
			continue
		}
		if e.kind == extFuture {
			if seenFuture[e.idx] {
				continue
			}
			seenFuture[e.idx] = true
		} else {
			if seen[e.kind-1] {
				continue
			}
			seen[e.kind-1] = true
		}
		out = append(out, e)
	}
	for k := uint8(extBasicConstraints); k < extFuture; k++ {
		if e := (extRef{kind: k}); !seen[k-1] && present(e) {
			out = append(out, e)
		}
	}
	for i := range c.FutureExtensions {
		if !seenFuture[i] {
			out = append(out, extRef{kind: extFuture, idx: i})
		}
	}
	return out
}

// Kind classifies a certificate by the Matter identifier in its subject.
type Kind uint8

// Certificate kinds.
const (
	KindUnknown         Kind = iota
	KindRCAC                 // subject carries a matter-rcac-id
	KindICAC                 // subject carries a matter-icac-id
	KindNOC                  // subject carries a matter-node-id
	KindFirmwareSigning      // subject carries a matter-firmware-signing-id
)

func (k Kind) String() string {
	switch k {
	case KindRCAC:
		return "RCAC"
	case KindICAC:
		return "ICAC"
	case KindNOC:
		return "NOC"
	case KindFirmwareSigning:
		return "firmware signing certificate"
	}
	return "unknown certificate kind"
}

// Kind reports what c is, going by the identifier attribute of its subject.
// A subject with none of them, or with more than one, is KindUnknown.
func (c *Certificate) Kind() Kind {
	kind := KindUnknown
	for _, a := range c.Subject {
		var k Kind
		switch a.Type {
		case AttrRCACID:
			k = KindRCAC
		case AttrICACID:
			k = KindICAC
		case AttrNodeID:
			k = KindNOC
		case AttrFirmwareSigningID:
			k = KindFirmwareSigning
		default:
			continue
		}
		if kind != KindUnknown {
			return KindUnknown
		}
		kind = k
	}
	return kind
}

// CheckSignatureFrom checks that c's signature was made by parent's key over
// c's TBSCertificate. It checks nothing else; see Verify for chain
// validation.
func (c *Certificate) CheckSignatureFrom(parent *Certificate) error {
	if parent == nil || parent.PublicKey == nil {
		return fmt.Errorf("%w: no issuer public key", ErrSignature)
	}
	return c.checkSignature(parent.PublicKey)
}

func (c *Certificate) checkSignature(pub *ecdsa.PublicKey) error {
	tbs, err := c.TBSDER()
	if err != nil {
		return err
	}
	if !crypto.Verify(pub, tbs, c.Signature) {
		return ErrSignature
	}
	return nil
}

// check validates the fields of c that both encodings need. With signed set
// the signature must be present as well.
func (c *Certificate) check(signed bool) error {
	if err := c.checkFields(signed); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return nil
}

func (c *Certificate) checkFields(signed bool) error {
	s := c.SerialNumber
	if len(s) == 0 || len(s) > MaxSerialSize {
		return fmt.Errorf("serial number of %d octets", len(s))
	}
	if !validInteger(s) || s[0]&0x80 != 0 {
		return errors.New("serial number is not a minimally encoded positive integer")
	}
	if err := c.Issuer.check(); err != nil {
		return fmt.Errorf("issuer: %v", err)
	}
	if err := c.Subject.check(); err != nil {
		return fmt.Errorf("subject: %v", err)
	}
	if _, err := toMatterTime(c.NotBefore); err != nil {
		return fmt.Errorf("not-before: %v", err)
	}
	if _, err := toMatterTime(c.NotAfter); err != nil {
		return fmt.Errorf("not-after: %v", err)
	}
	if _, err := crypto.MarshalPublicKey(c.PublicKey); err != nil {
		return errors.New("public key is not a P-256 key")
	}
	if (c.IsCA || c.HasPathLen) && !c.BasicConstraintsValid {
		return errors.New("cA flag or path length constraint without basic constraints")
	}
	if c.KeyUsage&^keyUsageAll != 0 {
		return fmt.Errorf("key usage 0x%04x has undefined bits", uint16(c.KeyUsage))
	}
	for _, u := range c.ExtKeyUsage {
		if !u.valid() {
			return fmt.Errorf("unknown extended key usage %d", u)
		}
	}
	if c.SubjectKeyID != nil && len(c.SubjectKeyID) != KeyIDSize {
		return fmt.Errorf("subject key identifier of %d octets", len(c.SubjectKeyID))
	}
	if c.AuthorityKeyID != nil && len(c.AuthorityKeyID) != KeyIDSize {
		return fmt.Errorf("authority key identifier of %d octets", len(c.AuthorityKeyID))
	}
	for i, ext := range c.FutureExtensions {
		oid, _, err := parseExtension(ext)
		if err != nil {
			return fmt.Errorf("future extension %d: %v", i, err)
		}
		if knownExtension(oid) {
			return fmt.Errorf("future extension %d has the OID of a standard extension", i)
		}
		for _, prev := range c.FutureExtensions[:i] {
			if o, _, _ := parseExtension(prev); bytes.Equal(o, oid) {
				return fmt.Errorf("future extension %d repeats OID %x", i, oid)
			}
		}
	}
	if len(c.extensions()) == 0 {
		return errors.New("no extensions")
	}
	if signed {
		if _, err := crypto.SignatureToASN1(c.Signature); err != nil {
			return errors.New("signature is not a P-256 ECDSA r ‖ s pair")
		}
	}
	return nil
}

// parseExtension parses the DER of an X.509 Extension (RFC 5280 §4.1) and
// returns its OID and criticality.
func parseExtension(b []byte) (oid []byte, critical bool, err error) {
	outer := derReader{b}
	seq, err := outer.read(tagSequence)
	if err != nil {
		return nil, false, err
	}
	if !outer.empty() {
		return nil, false, fmt.Errorf("%w: trailing data after extension", errDER)
	}
	r := derReader{seq}
	if oid, err = r.read(tagOID); err != nil {
		return nil, false, err
	}
	if !validOID(oid) {
		return nil, false, fmt.Errorf("%w: malformed OID", errDER)
	}
	if r.peek() == tagBoolean {
		v, err := r.read(tagBoolean)
		if err != nil {
			return nil, false, err
		}
		// DER: TRUE is 0xff, and the DEFAULT FALSE is never encoded.
		if len(v) != 1 || v[0] != 0xff {
			return nil, false, fmt.Errorf("%w: critical flag is not a DER TRUE", errDER)
		}
		critical = true
	}
	if _, err := r.read(tagOctetString); err != nil {
		return nil, false, err
	}
	if !r.empty() {
		return nil, false, fmt.Errorf("%w: trailing data in extension", errDER)
	}
	return oid, critical, nil
}

// Extension OIDs (RFC 5280 §4.2.1).
const (
	oidBasicConstraints = "\x55\x1d\x13"
	oidKeyUsage         = "\x55\x1d\x0f"
	oidExtKeyUsage      = "\x55\x1d\x25"
	oidSubjectKeyID     = "\x55\x1d\x0e"
	oidAuthorityKeyID   = "\x55\x1d\x23"
)

func knownExtension(oid []byte) bool {
	switch string(oid) {
	case oidBasicConstraints, oidKeyUsage, oidExtKeyUsage, oidSubjectKeyID, oidAuthorityKeyID:
		return true
	}
	return false
}
