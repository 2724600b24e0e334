package cert

import (
	"bytes"
	"crypto/ecdsa"
	"fmt"
	"time"
)

// VerifyOptions parameterize chain validation.
type VerifyOptions struct {
	// Now is the instant at which validity periods are checked. The zero
	// time skips those checks: a node without a trusted notion of time
	// may omit them (§6.4.5.1).
	Now time.Time

	// FabricID, when non-zero, is the fabric the NOC must belong to, for
	// example the fabric a CASE session was set up on.
	FabricID uint64
}

// Identity is what a verified operational chain establishes about the node
// holding the NOC.
type Identity struct {
	NodeID   uint64
	FabricID uint64
	// CATs are the NOC's CASE Authenticated Tags in subject order.
	CATs []CAT
	// RootPublicKey is the RCAC's public key, which with FabricID
	// identifies the fabric (§4.3.2.2, crypto.CompressedFabricID).
	RootPublicKey *ecdsa.PublicKey
}

// Verify validates an operational certificate chain, root first: rcac is the
// trusted root (an RCAC the node already holds), icac the intermediate or nil
// when the NOC is issued by the root directly, and noc the node's certificate
// (§6.4.5). On success it returns the identity the NOC asserts.
//
// The checks, each failure wrapping the sentinel in brackets:
//
//   - Each certificate has the form its role requires: the subject carries
//     exactly one matter-rcac-id, matter-icac-id or matter-node-id and no
//     other identifier [ErrIdentity]; basic constraints, key usage, subject
//     and authority key identifiers are present, CAs have cA set with
//     keyCertSign and cRLSign, the NOC does not, has digitalSignature, and
//     clientAuth and serverAuth among its key purposes; no unrecognized
//     extension is critical [ErrUsage].
//   - The NOC's node ID is an operational node ID, it carries exactly one
//     non-zero fabric ID, and at most MaxCATs CATs, each with a non-zero
//     version and a distinct identifier; CATs appear nowhere else
//     [ErrIdentity].
//   - The RCAC is self-issued, each issuer name equals the subject of the
//     certificate above it and each authority key identifier its subject
//     key identifier, any fabric ID in the RCAC or ICAC equals the NOC's,
//     and so does opts.FabricID if set [ErrChain]. The RCAC's path length
//     constraint, if any, leaves room for the ICAC [ErrUsage].
//   - Every certificate is within its validity period at opts.Now, unless
//     that is zero [ErrNotYetValid, ErrExpired].
//   - Every signature verifies, the RCAC's under its own key
//     [ErrSignature].
//
// Structural checks come first and signatures last, so malformed input is
// rejected before any expensive operation.
func Verify(rcac, icac, noc *Certificate, opts VerifyOptions) (*Identity, error) {
	if rcac == nil || noc == nil {
		return nil, fmt.Errorf("%w: missing RCAC or NOC", ErrChain)
	}
	if err := checkRole(rcac, KindRCAC); err != nil {
		return nil, err
	}
	if icac != nil {
		if err := checkRole(icac, KindICAC); err != nil {
			return nil, err
		}
	}
	if err := checkRole(noc, KindNOC); err != nil {
		return nil, err
	}

	if err := checkSelfIssued(rcac); err != nil {
		return nil, err
	}
	parent := rcac
	if icac != nil {
		if err := checkIssuedBy(icac, rcac, KindICAC); err != nil {
			return nil, err
		}
		if rcac.HasPathLen && rcac.PathLen < 1 {
			return nil, fmt.Errorf("%w: RCAC path length constraint 0 does not allow an ICAC", ErrUsage)
		}
		parent = icac
	}
	if err := checkIssuedBy(noc, parent, KindNOC); err != nil {
		return nil, err
	}

	fabricID, _ := noc.Subject.FabricID()
	for _, ca := range []*Certificate{icac, rcac} {
		if ca == nil {
			continue
		}
		if id, ok := ca.Subject.FabricID(); ok && id != fabricID {
			return nil, fmt.Errorf("%w: %v fabric ID %016X differs from the NOC's %016X", ErrChain, ca.Kind(), id, fabricID)
		}
	}
	if opts.FabricID != 0 && opts.FabricID != fabricID {
		return nil, fmt.Errorf("%w: NOC fabric ID %016X, expected %016X", ErrChain, fabricID, opts.FabricID)
	}

	if !opts.Now.IsZero() {
		for _, c := range []*Certificate{rcac, icac, noc} {
			if c == nil {
				continue
			}
			if err := checkValidity(c, opts.Now); err != nil {
				return nil, err
			}
		}
	}

	if err := rcac.checkSignature(rcac.PublicKey); err != nil {
		return nil, fmt.Errorf("%w: RCAC self-signature", err)
	}
	if icac != nil {
		if err := icac.checkSignature(rcac.PublicKey); err != nil {
			return nil, fmt.Errorf("%w: ICAC", err)
		}
	}
	if err := noc.checkSignature(parent.PublicKey); err != nil {
		return nil, fmt.Errorf("%w: NOC", err)
	}

	nodeID, _ := noc.Subject.NodeID()
	return &Identity{
		NodeID:        nodeID,
		FabricID:      fabricID,
		CATs:          noc.Subject.CATs(),
		RootPublicKey: rcac.PublicKey,
	}, nil
}

// VerifyRCAC validates a root certificate on its own, as a node does before
// trusting one (AddTrustedRootCertificate): the RCAC form of Verify, self
// issuance, the validity period at opts.Now if set, and the self-signature.
// opts.FabricID, if set, must match a fabric ID in the subject if there is
// one.
func VerifyRCAC(rcac *Certificate, opts VerifyOptions) error {
	if rcac == nil {
		return fmt.Errorf("%w: missing RCAC", ErrChain)
	}
	if err := checkRole(rcac, KindRCAC); err != nil {
		return err
	}
	if err := checkSelfIssued(rcac); err != nil {
		return err
	}
	if id, ok := rcac.Subject.FabricID(); ok && opts.FabricID != 0 && id != opts.FabricID {
		return fmt.Errorf("%w: RCAC fabric ID %016X, expected %016X", ErrChain, id, opts.FabricID)
	}
	if !opts.Now.IsZero() {
		if err := checkValidity(rcac, opts.Now); err != nil {
			return err
		}
	}
	if err := rcac.checkSignature(rcac.PublicKey); err != nil {
		return fmt.Errorf("%w: RCAC self-signature", err)
	}
	return nil
}

// checkRole checks that c is well formed for the given kind (§6.4.5.1-3).
func checkRole(c *Certificate, kind Kind) error {
	if err := c.check(true); err != nil {
		return fmt.Errorf("%v: %w", kind, err)
	}
	if err := checkIdentity(c, kind); err != nil {
		return err
	}
	return checkExtensions(c, kind)
}

// checkIdentity applies the subject rules of §6.4.5 and §6.5.6 for kind.
func checkIdentity(c *Certificate, kind Kind) error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%w: %v: %s", ErrIdentity, kind, fmt.Sprintf(format, args...))
	}
	s := c.Subject
	var want AttrType
	switch kind {
	case KindRCAC:
		want = AttrRCACID
	case KindICAC:
		want = AttrICACID
	case KindNOC:
		want = AttrNodeID
	}
	for _, t := range []AttrType{AttrRCACID, AttrICACID, AttrNodeID, AttrFirmwareSigningID, AttrVVSID, AttrVendorID, AttrProductID} {
		n := s.count(t)
		switch {
		case t == want && n != 1:
			return fail("subject carries %d %v attributes, want 1", n, t)
		case t != want && n != 0:
			return fail("subject carries %v", t)
		}
	}
	if n := s.count(AttrFabricID); n > 1 || kind == KindNOC && n != 1 {
		return fail("subject carries %d fabric IDs", n)
	}
	if id, ok := s.FabricID(); ok && id == 0 {
		return fail("fabric ID 0 is invalid")
	}
	cats := s.CATs()
	if kind != KindNOC {
		if len(cats) != 0 {
			return fail("CASE Authenticated Tags outside a NOC")
		}
		return nil
	}
	if id, _ := s.NodeID(); !IsOperationalNodeID(id) {
		return fail("node ID %016X is not an operational node ID", id)
	}
	if len(cats) > MaxCATs {
		return fail("%d CASE Authenticated Tags, at most %d allowed", len(cats), MaxCATs)
	}
	for i, cat := range cats {
		if !cat.Valid() {
			return fail("CASE Authenticated Tag %v has version 0", cat)
		}
		for _, prev := range cats[:i] {
			if prev.Identifier() == cat.Identifier() {
				return fail("CASE Authenticated Tags %v and %v share identifier %04X", prev, cat, cat.Identifier())
			}
		}
	}
	return nil
}

// checkExtensions applies the extension rules of §6.4.5 and §6.5.11.
func checkExtensions(c *Certificate, kind Kind) error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%w: %v: %s", ErrUsage, kind, fmt.Sprintf(format, args...))
	}
	switch {
	case !c.BasicConstraintsValid:
		return fail("missing basic constraints")
	case c.KeyUsage == 0:
		return fail("missing key usage")
	case c.SubjectKeyID == nil:
		return fail("missing subject key identifier")
	case c.AuthorityKeyID == nil:
		return fail("missing authority key identifier")
	}
	for _, ext := range c.FutureExtensions {
		// An extension a node does not process must not be critical
		// (RFC 5280 §4.2, §6.5.11).
		if oid, critical, _ := parseExtension(ext); critical {
			return fail("unhandled critical extension %x", oid)
		}
	}
	if kind == KindRCAC || kind == KindICAC {
		switch {
		case !c.IsCA:
			return fail("basic constraints do not mark a CA")
		case c.KeyUsage&KeyUsageKeyCertSign == 0:
			return fail("key usage lacks keyCertSign")
		case c.KeyUsage&KeyUsageCRLSign == 0:
			return fail("key usage lacks cRLSign")
		}
		return nil
	}
	switch {
	case c.IsCA:
		return fail("basic constraints mark a CA")
	case c.HasPathLen:
		return fail("path length constraint on an end-entity certificate")
	case c.KeyUsage&KeyUsageDigitalSignature == 0:
		return fail("key usage lacks digitalSignature")
	case c.KeyUsage&(KeyUsageKeyCertSign|KeyUsageCRLSign) != 0:
		return fail("key usage allows certificate or CRL signing")
	}
	var client, server bool
	for _, u := range c.ExtKeyUsage {
		client = client || u == ExtKeyUsageClientAuth
		server = server || u == ExtKeyUsageServerAuth
	}
	if !client || !server {
		return fail("extended key usage lacks clientAuth or serverAuth")
	}
	return nil
}

// checkSelfIssued checks that the RCAC names itself as issuer by DN and key
// identifier.
func checkSelfIssued(rcac *Certificate) error {
	if !rcac.Issuer.Equal(rcac.Subject) {
		return fmt.Errorf("%w: RCAC issuer %v differs from its subject %v", ErrChain, rcac.Issuer, rcac.Subject)
	}
	if !bytes.Equal(rcac.AuthorityKeyID, rcac.SubjectKeyID) {
		return fmt.Errorf("%w: RCAC authority key identifier differs from its subject key identifier", ErrChain)
	}
	return nil
}

// checkIssuedBy checks that child names parent as its issuer.
func checkIssuedBy(child, parent *Certificate, kind Kind) error {
	if !child.Issuer.Equal(parent.Subject) {
		return fmt.Errorf("%w: %v issuer %v is not the %v subject %v", ErrChain, kind, child.Issuer, parent.Kind(), parent.Subject)
	}
	if !bytes.Equal(child.AuthorityKeyID, parent.SubjectKeyID) {
		return fmt.Errorf("%w: %v authority key identifier is not the %v subject key identifier", ErrChain, kind, parent.Kind())
	}
	return nil
}

// checkValidity checks now against c's validity period. A zero NotBefore
// (Matter time 0) places no lower bound and a zero NotAfter no upper bound
// (§6.5.5).
func checkValidity(c *Certificate, now time.Time) error {
	if !c.NotBefore.IsZero() && now.Before(c.NotBefore) {
		return fmt.Errorf("%w: %v valid from %s", ErrNotYetValid, c.Kind(), c.NotBefore.Format(time.RFC3339))
	}
	if !c.NotAfter.IsZero() && now.After(c.NotAfter) {
		return fmt.Errorf("%w: %v valid until %s", ErrExpired, c.Kind(), c.NotAfter.Format(time.RFC3339))
	}
	return nil
}
