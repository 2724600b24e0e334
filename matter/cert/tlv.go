package cert

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/mattercam/mattercam/matter/crypto"
	"github.com/mattercam/mattercam/matter/tlv"
)

// TLV context tags of the matter-certificate structure (§6.5.2).
const (
	tagSerialNum  = 1
	tagSigAlgo    = 2
	tagIssuer     = 3
	tagNotBefore  = 4
	tagNotAfter   = 5
	tagSubject    = 6
	tagPubKeyAlgo = 7
	tagECCurveID  = 8
	tagECPubKey   = 9
	tagExtensions = 10
	tagSignature  = 11
)

// The only values of the sig-algo, pub-key-algo and ec-curve-id fields (§6.5).
const (
	sigAlgoECDSAWithSHA256 = 1
	pubKeyAlgoEC           = 1
	curvePrime256v1        = 1
)

// printableFlag marks the PrintableString form of an X.520 attribute in a
// TLV tag (§6.5.6).
const printableFlag = 0x80

// DecodeTLV parses a certificate in Matter TLV form (§6.5.2): an anonymous
// structure holding the eleven fields in tag order, nothing before or after
// it, and at most MaxTLVSize octets.
//
// Integer and length fields may use any width Appendix A allows; everything
// else is checked strictly, including that the certificate can be converted
// to X.509. The signature is not checked. The result does not alias b.
func DecodeTLV(b []byte) (*Certificate, error) {
	if len(b) > MaxTLVSize {
		return nil, fmt.Errorf("%w: %d octets exceed the %d-octet limit", ErrMalformed, len(b), MaxTLVSize)
	}
	c, err := decodeTLV(b)
	if err != nil {
		return nil, classify(err)
	}
	if err := c.check(true); err != nil {
		return nil, err
	}
	return c, nil
}

func decodeTLV(b []byte) (*Certificate, error) {
	r := tlv.NewReader(b)
	if err := r.Next(); err != nil {
		if err == io.EOF {
			return nil, errors.New("empty input")
		}
		return nil, err
	}
	if r.Type() != tlv.TypeStructure || !r.Tag().IsAnonymous() {
		return nil, errors.New("not an anonymous structure")
	}
	if err := r.Enter(); err != nil {
		return nil, err
	}
	c := new(Certificate)
	for field := uint8(tagSerialNum); field <= tagSignature; field++ {
		if err := r.Next(); err != nil {
			if err == io.EOF {
				return nil, fmt.Errorf("missing field %d", field)
			}
			return nil, err
		}
		if r.Tag() != tlv.ContextTag(field) {
			return nil, fmt.Errorf("found %v where field %d was expected", r.Tag(), field)
		}
		if err := c.decodeField(r, field); err != nil {
			return nil, fmt.Errorf("field %d: %w", field, err)
		}
	}
	if err := r.Next(); err != io.EOF {
		if err == nil {
			return nil, fmt.Errorf("unexpected %v after the signature", r.Tag())
		}
		return nil, err
	}
	if err := r.Exit(); err != nil {
		return nil, err
	}
	if err := r.Next(); err != io.EOF {
		if err == nil {
			return nil, errors.New("data after the certificate")
		}
		return nil, err
	}
	return c, nil
}

func (c *Certificate) decodeField(r *tlv.Reader, field uint8) error {
	switch field {
	case tagSerialNum:
		v, err := r.Bytes()
		c.SerialNumber = bytes.Clone(v)
		return err
	case tagSigAlgo:
		return expectUint(r, sigAlgoECDSAWithSHA256)
	case tagIssuer:
		d, err := decodeDN(r)
		c.Issuer = d
		return err
	case tagNotBefore, tagNotAfter:
		v, err := r.Uint32()
		if err != nil {
			return err
		}
		if field == tagNotBefore {
			c.NotBefore = fromMatterTime(v)
		} else {
			c.NotAfter = fromMatterTime(v)
		}
	case tagSubject:
		d, err := decodeDN(r)
		c.Subject = d
		return err
	case tagPubKeyAlgo:
		return expectUint(r, pubKeyAlgoEC)
	case tagECCurveID:
		return expectUint(r, curvePrime256v1)
	case tagECPubKey:
		v, err := r.Bytes()
		if err != nil {
			return err
		}
		c.PublicKey, err = crypto.ParsePublicKey(v)
		return err
	case tagExtensions:
		return c.decodeExtensions(r)
	case tagSignature:
		v, err := r.Bytes()
		c.Signature = bytes.Clone(v)
		return err
	}
	return nil
}

func expectUint(r *tlv.Reader, want uint64) error {
	v, err := r.Uint()
	if err != nil {
		return err
	}
	if v != want {
		return unsupported("algorithm identifier %d", v)
	}
	return nil
}

// decodeDN decodes a DN list (§6.5.6).
func decodeDN(r *tlv.Reader) (DN, error) {
	if r.Type() != tlv.TypeList {
		return nil, fmt.Errorf("DN is a %v, not a list", r.Type())
	}
	if err := r.Enter(); err != nil {
		return nil, err
	}
	var d DN
	for {
		err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		tag := r.Tag()
		if tag.Kind() != tlv.TagContext {
			return nil, fmt.Errorf("DN attribute with %v tag", tag)
		}
		a := Attribute{Type: AttrType(tag.Number() &^ printableFlag), Printable: tag.Number()&printableFlag != 0}
		if !a.Type.hasTLVTag() {
			return nil, fmt.Errorf("unknown DN attribute tag %d", tag.Number())
		}
		if a.Type.IsMatter() {
			if a.Printable {
				return nil, fmt.Errorf("%v with the PrintableString flag", a.Type)
			}
			if a.Value, err = r.Uint(); err != nil {
				return nil, err
			}
		} else if a.String, err = r.String(); err != nil {
			return nil, err
		}
		if err := a.check(); err != nil {
			return nil, err
		}
		d = append(d, a)
	}
	return d, r.Exit()
}

// decodeExtensions decodes the extensions list (§6.5.11).
func (c *Certificate) decodeExtensions(r *tlv.Reader) error {
	if r.Type() != tlv.TypeList {
		return fmt.Errorf("extensions are a %v, not a list", r.Type())
	}
	if err := r.Enter(); err != nil {
		return err
	}
	var seen [extFuture]bool
	for {
		err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		tag := r.Tag()
		if tag.Kind() != tlv.TagContext || tag.Number() < extBasicConstraints || tag.Number() > extFuture {
			return fmt.Errorf("unknown extension %v", tag)
		}
		kind := uint8(tag.Number())
		if kind != extFuture {
			if seen[kind-1] {
				return fmt.Errorf("duplicate extension %d", kind)
			}
			seen[kind-1] = true
		}
		ref := extRef{kind: kind}
		switch kind {
		case extBasicConstraints:
			err = c.decodeBasicConstraints(r)
		case extKeyUsage:
			var v uint16
			v, err = r.Uint16()
			if err == nil && v == 0 {
				err = errors.New("empty key usage")
			}
			c.KeyUsage = KeyUsage(v)
		case extExtKeyUsage:
			err = c.decodeExtKeyUsage(r)
		case extSubjectKeyID, extAuthorityKeyID:
			var v []byte
			if v, err = r.Bytes(); err == nil {
				if kind == extSubjectKeyID {
					c.SubjectKeyID = bytes.Clone(v)
				} else {
					c.AuthorityKeyID = bytes.Clone(v)
				}
			}
		case extFuture:
			var v []byte
			if v, err = r.Bytes(); err == nil {
				ref.idx = len(c.FutureExtensions)
				c.FutureExtensions = append(c.FutureExtensions, bytes.Clone(v))
			}
		}
		if err != nil {
			return fmt.Errorf("extension %d: %w", kind, err)
		}
		c.order = append(c.order, ref)
	}
	return r.Exit()
}

func (c *Certificate) decodeBasicConstraints(r *tlv.Reader) error {
	if r.Type() != tlv.TypeStructure {
		return fmt.Errorf("basic constraints are a %v, not a structure", r.Type())
	}
	if err := r.Enter(); err != nil {
		return err
	}
	if err := r.Next(); err != nil {
		if err == io.EOF {
			return errors.New("basic constraints without is-ca")
		}
		return err
	}
	if r.Tag() != tlv.ContextTag(1) {
		return fmt.Errorf("found %v where is-ca was expected", r.Tag())
	}
	isCA, err := r.Bool()
	if err != nil {
		return err
	}
	c.BasicConstraintsValid, c.IsCA = true, isCA
	switch err := r.Next(); err {
	case io.EOF:
		return r.Exit()
	case nil:
	default:
		return err
	}
	if r.Tag() != tlv.ContextTag(2) {
		return fmt.Errorf("unexpected %v in basic constraints", r.Tag())
	}
	if c.PathLen, err = r.Uint8(); err != nil {
		return err
	}
	c.HasPathLen = true
	if err := r.Next(); err != io.EOF {
		if err == nil {
			return fmt.Errorf("unexpected %v in basic constraints", r.Tag())
		}
		return err
	}
	return r.Exit()
}

func (c *Certificate) decodeExtKeyUsage(r *tlv.Reader) error {
	if r.Type() != tlv.TypeArray {
		return fmt.Errorf("extended key usage is a %v, not an array", r.Type())
	}
	if err := r.Enter(); err != nil {
		return err
	}
	for {
		err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		v, err := r.Uint8()
		if err != nil {
			return err
		}
		c.ExtKeyUsage = append(c.ExtKeyUsage, ExtKeyUsage(v))
	}
	if len(c.ExtKeyUsage) == 0 {
		return errors.New("empty extended key usage")
	}
	return r.Exit()
}

// EncodeTLV returns the Matter TLV encoding of c (§6.5.2). Integers and
// lengths take their shortest form, so a certificate decoded from a canonical
// encoding re-encodes to the same octets. Certificates carrying attributes
// without a TLV tag (AttrVendorID, AttrProductID) are ErrUnsupported; results
// longer than MaxTLVSize are ErrMalformed.
func (c *Certificate) EncodeTLV() ([]byte, error) {
	if err := c.check(true); err != nil {
		return nil, err
	}
	for _, dn := range []DN{c.Issuer, c.Subject} {
		for _, a := range dn {
			if !a.Type.hasTLVTag() {
				return nil, fmt.Errorf("%w: %v has no Matter TLV encoding", ErrUnsupported, a.Type)
			}
		}
	}
	nb, _ := toMatterTime(c.NotBefore)
	na, _ := toMatterTime(c.NotAfter)
	pub, _ := crypto.MarshalPublicKey(c.PublicKey)

	w := tlv.NewWriter(make([]byte, 0, MaxTLVSize))
	w.StartStructure(tlv.AnonymousTag())
	w.PutBytes(tlv.ContextTag(tagSerialNum), c.SerialNumber)
	w.PutUint(tlv.ContextTag(tagSigAlgo), sigAlgoECDSAWithSHA256)
	encodeDN(w, tagIssuer, c.Issuer)
	w.PutUint(tlv.ContextTag(tagNotBefore), uint64(nb))
	w.PutUint(tlv.ContextTag(tagNotAfter), uint64(na))
	encodeDN(w, tagSubject, c.Subject)
	w.PutUint(tlv.ContextTag(tagPubKeyAlgo), pubKeyAlgoEC)
	w.PutUint(tlv.ContextTag(tagECCurveID), curvePrime256v1)
	w.PutBytes(tlv.ContextTag(tagECPubKey), pub)
	w.StartList(tlv.ContextTag(tagExtensions))
	for _, e := range c.extensions() {
		c.encodeExtension(w, e)
	}
	w.EndContainer()
	w.PutBytes(tlv.ContextTag(tagSignature), c.Signature)
	w.EndContainer()
	b, err := w.Bytes()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if len(b) > MaxTLVSize {
		return nil, fmt.Errorf("%w: encoding of %d octets exceeds the %d-octet limit", ErrMalformed, len(b), MaxTLVSize)
	}
	return b, nil
}

func encodeDN(w *tlv.Writer, tag uint8, d DN) {
	w.StartList(tlv.ContextTag(tag))
	for _, a := range d {
		t := uint8(a.Type)
		if a.Type.IsMatter() {
			w.PutUint(tlv.ContextTag(t), a.Value)
			continue
		}
		if a.Printable {
			t |= printableFlag
		}
		w.PutString(tlv.ContextTag(t), a.String)
	}
	w.EndContainer()
}

func (c *Certificate) encodeExtension(w *tlv.Writer, e extRef) {
	tag := tlv.ContextTag(e.kind)
	switch e.kind {
	case extBasicConstraints:
		w.StartStructure(tag)
		w.PutBool(tlv.ContextTag(1), c.IsCA)
		if c.HasPathLen {
			w.PutUint(tlv.ContextTag(2), uint64(c.PathLen))
		}
		w.EndContainer()
	case extKeyUsage:
		w.PutUint(tag, uint64(c.KeyUsage))
	case extExtKeyUsage:
		w.StartArray(tag)
		for _, u := range c.ExtKeyUsage {
			w.PutUint(tlv.AnonymousTag(), uint64(u))
		}
		w.EndContainer()
	case extSubjectKeyID:
		w.PutBytes(tag, c.SubjectKeyID)
	case extAuthorityKeyID:
		w.PutBytes(tag, c.AuthorityKeyID)
	case extFuture:
		w.PutBytes(tag, c.FutureExtensions[e.idx])
	}
}
