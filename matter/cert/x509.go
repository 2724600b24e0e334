package cert

import (
	"bytes"
	"fmt"

	"github.com/mattercam/mattercam/matter/crypto"
)

// Fixed DER fragments of every Matter certificate: its version, algorithms and
// curve are not choices (§6.5).
var (
	// version [0] EXPLICIT INTEGER 2 (v3).
	derVersion3 = []byte{tagContext0, 0x03, tagInteger, 0x01, 0x02}
	// AlgorithmIdentifier { ecdsa-with-SHA256 } (RFC 5758 §3.2: no parameters).
	derECDSAWithSHA256 = []byte{tagSequence, 0x0a, tagOID, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02}
	// AlgorithmIdentifier { id-ecPublicKey, prime256v1 } (RFC 5480 §2.1.1).
	derECP256 = []byte{
		tagSequence, 0x13,
		tagOID, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
		tagOID, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
	}
	derTrue = []byte{tagBoolean, 0x01, 0xff}
)

// TBSDER returns the DER encoding of c's TBSCertificate (RFC 5280 §4.1), the
// octets the issuer signs (§6.5.2). The Signature field is not used.
func (c *Certificate) TBSDER() ([]byte, error) {
	if err := c.check(false); err != nil {
		return nil, err
	}
	w := derWriter{buf: make([]byte, 0, MaxDERSize)}
	c.appendTBS(&w)
	return w.buf, nil
}

// X509DER returns the X.509 DER encoding of c: the certificate the issuer
// produced, which the Matter TLV encoding stands for.
func (c *Certificate) X509DER() ([]byte, error) {
	if err := c.check(true); err != nil {
		return nil, err
	}
	sig, err := crypto.SignatureToASN1(c.Signature)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	w := derWriter{buf: make([]byte, 0, MaxDERSize)}
	w.start(tagSequence)
	c.appendTBS(&w)
	w.raw(derECDSAWithSHA256)
	w.start(tagBitString)
	w.buf = append(w.buf, 0) // no unused bits
	w.raw(sig)
	w.end()
	w.end()
	return w.buf, nil
}

// appendTBS writes the TBSCertificate of a checked certificate.
func (c *Certificate) appendTBS(w *derWriter) {
	nb, _ := toMatterTime(c.NotBefore)
	na, _ := toMatterTime(c.NotAfter)
	pub, _ := crypto.MarshalPublicKey(c.PublicKey)

	w.start(tagSequence)
	w.raw(derVersion3)
	w.add(tagInteger, c.SerialNumber)
	w.raw(derECDSAWithSHA256)
	c.Issuer.appendDER(w)
	w.start(tagSequence)
	appendX509Time(w, nb)
	appendX509Time(w, na)
	w.end()
	c.Subject.appendDER(w)
	w.start(tagSequence)
	w.raw(derECP256)
	w.start(tagBitString)
	w.buf = append(w.buf, 0)
	w.buf = append(w.buf, pub...)
	w.end()
	w.end()
	w.start(tagContext3)
	w.start(tagSequence)
	for _, e := range c.extensions() {
		c.appendExtension(w, e)
	}
	w.end()
	w.end()
	w.end()
}

// appendExtension writes one extension. The criticality of the standard
// extensions is fixed by §6.5.11: basic constraints, key usage and extended
// key usage are critical, the key identifiers are not.
func (c *Certificate) appendExtension(w *derWriter, e extRef) {
	if e.kind == extFuture {
		w.raw(c.FutureExtensions[e.idx])
		return
	}
	w.start(tagSequence)
	switch e.kind {
	case extBasicConstraints:
		w.addString(tagOID, oidBasicConstraints)
		w.raw(derTrue)
		w.start(tagOctetString)
		w.start(tagSequence)
		if c.IsCA {
			w.raw(derTrue)
		}
		if c.HasPathLen {
			w.add(tagInteger, appendUintContent(nil, uint64(c.PathLen)))
		}
		w.end()
		w.end()
	case extKeyUsage:
		w.addString(tagOID, oidKeyUsage)
		w.raw(derTrue)
		w.start(tagOctetString)
		w.add(tagBitString, keyUsageBits(c.KeyUsage))
		w.end()
	case extExtKeyUsage:
		w.addString(tagOID, oidExtKeyUsage)
		w.raw(derTrue)
		w.start(tagOctetString)
		w.start(tagSequence)
		for _, u := range c.ExtKeyUsage {
			w.addString(tagOID, extKeyUsageOIDs[u])
		}
		w.end()
		w.end()
	case extSubjectKeyID:
		w.addString(tagOID, oidSubjectKeyID)
		w.start(tagOctetString)
		w.add(tagOctetString, c.SubjectKeyID)
		w.end()
	case extAuthorityKeyID:
		w.addString(tagOID, oidAuthorityKeyID)
		w.start(tagOctetString)
		w.start(tagSequence)
		w.add(tagContextPrim0, c.AuthorityKeyID) // keyIdentifier [0]
		w.end()
		w.end()
	}
	w.end()
}

// appendUintContent appends the contents octets of a DER INTEGER holding v.
func appendUintContent(dst []byte, v uint64) []byte {
	n := 1
	for n < 8 && v>>(8*n) != 0 {
		n++
	}
	if v>>(8*n-1)&1 != 0 {
		dst = append(dst, 0) // keep it positive
	}
	for i := n - 1; i >= 0; i-- {
		dst = append(dst, byte(v>>(8*i)))
	}
	return dst
}

// keyUsageBits returns the contents of the KeyUsage BIT STRING for ku: X.509
// numbers bits from the most significant bit of the first octet, and DER
// drops trailing zero bits of a named bit list (X.690 §11.2.2).
func keyUsageBits(ku KeyUsage) []byte {
	var b [2]byte
	for i := 0; i < 9; i++ {
		if ku&(1<<i) != 0 {
			b[i/8] |= 0x80 >> (i % 8)
		}
	}
	n := 2
	for n > 0 && b[n-1] == 0 {
		n--
	}
	if n == 0 {
		return []byte{0}
	}
	unused := 0
	for b[n-1]&(1<<unused) == 0 {
		unused++
	}
	return append([]byte{byte(unused)}, b[:n]...)
}

// FromX509 parses an X.509 DER certificate into a Certificate.
//
// It accepts exactly the certificates a Matter certificate can stand for
// (§6.5): X.509 v3, ecdsa-with-SHA256, a P-256 key, single-attribute RDNs of
// the types of AttrType, times Matter can express, and the mandated
// criticality of the standard extensions. It also requires that converting
// back reproduce der octet for octet, which rules out every encoding choice
// the Matter form does not record. Anything else is ErrUnsupported, or
// ErrMalformed if der is not valid DER. Operational certificates that pass
// can be re-encoded as TLV; attestation certificates (DAC, PAI, PAA), which
// Matter keeps in X.509 form, parse as well so that their Vendor and Product
// IDs can be read, but cannot be TLV-encoded when they carry those.
//
// The signature is not checked.
func FromX509(der []byte) (*Certificate, error) {
	if len(der) > MaxDERSize {
		return nil, fmt.Errorf("%w: %d octets exceed the %d-octet limit", ErrMalformed, len(der), MaxDERSize)
	}
	c, err := parseX509(der)
	if err != nil {
		return nil, classify(err)
	}
	if err := c.checkFields(true); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnsupported, err)
	}
	again, err := c.X509DER()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnsupported, err)
	}
	if !bytes.Equal(again, der) {
		return nil, fmt.Errorf("%w: the DER uses an encoding the Matter form cannot reproduce", ErrUnsupported)
	}
	return c, nil
}

func parseX509(der []byte) (*Certificate, error) {
	top := derReader{der}
	certSeq, err := top.read(tagSequence)
	if err != nil {
		return nil, err
	}
	if !top.empty() {
		return nil, fmt.Errorf("%w: trailing data after certificate", errDER)
	}
	cr := derReader{certSeq}
	tbs, err := cr.read(tagSequence)
	if err != nil {
		return nil, err
	}
	_, alg, err := cr.next(tagSequence)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(alg, derECDSAWithSHA256) {
		return nil, unsupported("signature algorithm is not ecdsa-with-SHA256")
	}
	sigBits, err := cr.read(tagBitString)
	if err != nil {
		return nil, err
	}
	if !cr.empty() {
		return nil, fmt.Errorf("%w: trailing data in certificate", errDER)
	}
	if len(sigBits) < 1 || sigBits[0] != 0 {
		return nil, fmt.Errorf("%w: signature BIT STRING has unused bits", errDER)
	}

	c := new(Certificate)
	if c.Signature, err = crypto.SignatureFromASN1(sigBits[1:]); err != nil {
		return nil, unsupported("%v", err)
	}

	r := derReader{tbs}
	if r.peek() != tagContext0 {
		return nil, unsupported("not an X.509 v3 certificate")
	}
	_, version, err := r.next(tagContext0)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(version, derVersion3) {
		return nil, unsupported("not an X.509 v3 certificate")
	}
	serial, err := r.read(tagInteger)
	if err != nil {
		return nil, err
	}
	c.SerialNumber = bytes.Clone(serial)
	if _, alg, err = r.next(tagSequence); err != nil {
		return nil, err
	}
	if !bytes.Equal(alg, derECDSAWithSHA256) {
		return nil, unsupported("signature algorithm is not ecdsa-with-SHA256")
	}
	name, err := r.read(tagSequence)
	if err != nil {
		return nil, err
	}
	if c.Issuer, err = parseDNDER(name); err != nil {
		return nil, fmt.Errorf("issuer: %w", err)
	}
	validity, err := r.read(tagSequence)
	if err != nil {
		return nil, err
	}
	vr := derReader{validity}
	var times [2]uint32
	for i := range times {
		tag := vr.peek()
		s, err := vr.read(tag)
		if err != nil {
			return nil, err
		}
		if times[i], err = parseX509Time(tag, s); err != nil {
			return nil, unsupported("%v", err)
		}
	}
	c.NotBefore, c.NotAfter = fromMatterTime(times[0]), fromMatterTime(times[1])
	if !vr.empty() {
		return nil, fmt.Errorf("%w: trailing data in validity", errDER)
	}
	if name, err = r.read(tagSequence); err != nil {
		return nil, err
	}
	if c.Subject, err = parseDNDER(name); err != nil {
		return nil, fmt.Errorf("subject: %w", err)
	}
	spki, err := r.read(tagSequence)
	if err != nil {
		return nil, err
	}
	sr := derReader{spki}
	if _, alg, err = sr.next(tagSequence); err != nil {
		return nil, err
	}
	if !bytes.Equal(alg, derECP256) {
		return nil, unsupported("public key is not an EC P-256 key")
	}
	keyBits, err := sr.read(tagBitString)
	if err != nil {
		return nil, err
	}
	if !sr.empty() || len(keyBits) < 1 || keyBits[0] != 0 {
		return nil, fmt.Errorf("%w: malformed subjectPublicKey", errDER)
	}
	if c.PublicKey, err = crypto.ParsePublicKey(keyBits[1:]); err != nil {
		return nil, unsupported("%v", err)
	}
	if r.peek() != tagContext3 {
		return nil, unsupported("no extensions, or unique identifiers present")
	}
	exts, err := r.read(tagContext3)
	if err != nil {
		return nil, err
	}
	if !r.empty() {
		return nil, fmt.Errorf("%w: trailing data in TBSCertificate", errDER)
	}
	er := derReader{exts}
	list, err := er.read(tagSequence)
	if err != nil {
		return nil, err
	}
	if !er.empty() {
		return nil, fmt.Errorf("%w: trailing data after extensions", errDER)
	}
	lr := derReader{list}
	for !lr.empty() {
		_, ext, err := lr.next(tagSequence)
		if err != nil {
			return nil, err
		}
		if err := c.parseExtensionDER(ext); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// parseExtensionDER records one X.509 extension in c.
func (c *Certificate) parseExtensionDER(ext []byte) error {
	oid, critical, err := parseExtension(ext)
	if err != nil {
		return err
	}
	if !knownExtension(oid) {
		c.order = append(c.order, extRef{kind: extFuture, idx: len(c.FutureExtensions)})
		c.FutureExtensions = append(c.FutureExtensions, bytes.Clone(ext))
		return nil
	}
	// Re-read the value. parseExtension has checked the structure.
	r := derReader{ext}
	seq, _ := r.read(tagSequence)
	r = derReader{seq}
	_, _ = r.read(tagOID)
	if critical {
		_, _ = r.read(tagBoolean)
	}
	value, _ := r.read(tagOctetString)
	vr := derReader{value}

	var kind uint8
	wantCritical := true
	switch string(oid) {
	case oidBasicConstraints:
		kind = extBasicConstraints
		if c.BasicConstraintsValid {
			return unsupported("duplicate basic constraints")
		}
		seq, err := vr.read(tagSequence)
		if err != nil {
			return err
		}
		br := derReader{seq}
		if br.peek() == tagBoolean {
			v, err := br.read(tagBoolean)
			if err != nil {
				return err
			}
			// DER encodes TRUE as 0xff and omits the DEFAULT FALSE.
			if len(v) != 1 || v[0] != 0xff {
				return fmt.Errorf("%w: basic constraints cA is not a DER TRUE", errDER)
			}
			c.IsCA = true
		}
		if br.peek() == tagInteger {
			v, err := br.read(tagInteger)
			if err != nil {
				return err
			}
			// A non-negative INTEGER of at most 255, as the TLV form
			// allows (§6.5.11).
			if !validInteger(v) || v[0]&0x80 != 0 || len(v) > 2 || len(v) == 2 && v[0] != 0 {
				return unsupported("path length constraint out of range")
			}
			c.HasPathLen, c.PathLen = true, v[len(v)-1]
		}
		if !br.empty() {
			return fmt.Errorf("%w: trailing data in basic constraints", errDER)
		}
		c.BasicConstraintsValid = true
	case oidKeyUsage:
		kind = extKeyUsage
		if c.KeyUsage != 0 {
			return unsupported("duplicate key usage")
		}
		bits, err := vr.read(tagBitString)
		if err != nil {
			return err
		}
		if c.KeyUsage, err = parseKeyUsageBits(bits); err != nil {
			return err
		}
	case oidExtKeyUsage:
		kind = extExtKeyUsage
		if len(c.ExtKeyUsage) != 0 {
			return unsupported("duplicate extended key usage")
		}
		seq, err := vr.read(tagSequence)
		if err != nil {
			return err
		}
		kr := derReader{seq}
		for !kr.empty() {
			o, err := kr.read(tagOID)
			if err != nil {
				return err
			}
			u := extKeyUsageByOID(o)
			if u == 0 {
				return unsupported("key purpose %x", o)
			}
			c.ExtKeyUsage = append(c.ExtKeyUsage, u)
		}
		if len(c.ExtKeyUsage) == 0 {
			return unsupported("empty extended key usage")
		}
	case oidSubjectKeyID:
		kind, wantCritical = extSubjectKeyID, false
		if c.SubjectKeyID != nil {
			return unsupported("duplicate subject key identifier")
		}
		id, err := vr.read(tagOctetString)
		if err != nil {
			return err
		}
		c.SubjectKeyID = bytes.Clone(id)
	case oidAuthorityKeyID:
		kind, wantCritical = extAuthorityKeyID, false
		if c.AuthorityKeyID != nil {
			return unsupported("duplicate authority key identifier")
		}
		seq, err := vr.read(tagSequence)
		if err != nil {
			return err
		}
		ar := derReader{seq}
		id, err := ar.read(tagContextPrim0)
		if err != nil {
			return unsupported("authority key identifier without keyIdentifier: %v", err)
		}
		if !ar.empty() {
			return unsupported("authority key identifier with issuer and serial number")
		}
		c.AuthorityKeyID = bytes.Clone(id)
	}
	if !vr.empty() {
		return fmt.Errorf("%w: trailing data in extension value", errDER)
	}
	if critical != wantCritical {
		return unsupported("extension %x has criticality %t, Matter requires %t", oid, critical, wantCritical)
	}
	c.order = append(c.order, extRef{kind: kind})
	return nil
}

// parseKeyUsageBits parses the contents of the KeyUsage BIT STRING.
func parseKeyUsageBits(b []byte) (KeyUsage, error) {
	if len(b) < 2 || len(b) > 3 || b[0] > 7 {
		return 0, unsupported("key usage of %d octets", len(b))
	}
	var ku KeyUsage
	for i := 0; i < 8*(len(b)-1); i++ {
		if b[1+i/8]&(0x80>>(i%8)) != 0 {
			if i > 8 {
				return 0, unsupported("undefined key usage bit %d", i)
			}
			ku |= 1 << i
		}
	}
	return ku, nil
}

func extKeyUsageByOID(oid []byte) ExtKeyUsage {
	for u, o := range extKeyUsageOIDs {
		if o != "" && o == string(oid) {
			return ExtKeyUsage(u)
		}
	}
	return 0
}
