package attestation

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"fmt"
	"io"

	"github.com/mattercam/mattercam/matter/cert"
	"github.com/mattercam/mattercam/matter/tlv"
)

// CertificationType is the certification_type of a Certification
// Declaration (§6.3.1).
type CertificationType uint8

const (
	// CertificationDevelopment marks a development and test declaration,
	// the only kind anyone but the CSA can make. Controllers accept it for
	// test vendors (matter.js reports it as the finding CertificationTypeTest,
	// level info).
	CertificationDevelopment CertificationType = 0
	// CertificationProvisional marks a product in certification.
	CertificationProvisional CertificationType = 1
	// CertificationOfficial marks a certified product.
	CertificationOfficial CertificationType = 2
)

// Limits of the Certification Declaration fields (§6.3.1).
const (
	CertificateIDLength  = 19  // certificate_id, e.g. "CSA00000SWC00000-00"
	MaxCDProductIDs      = 100 // product_id_array
	MaxCDAuthorizedPAAs  = 10  // authorized_paa_list
	MaxCDSize            = 600 // the CMS envelope, as matter.js bounds what it signs
	cdFormatVersion      = 1
	defaultCertificateID = "CSA00000SWC00000-00"
)

// CertificationDeclaration is the content of a Certification Declaration
// (§6.3.1), the TLV structure that the CMS envelope signs.
type CertificationDeclaration struct {
	FormatVersion       uint16   // 1
	VendorID            uint16   // vendor_id
	ProductIDs          []uint16 // product_id_array: 1 to 100 Product IDs
	DeviceTypeID        uint32   // device_type_id: the primary device type
	CertificateID       string   // certificate_id: 19 characters
	SecurityLevel       uint8    // security_level: 0
	SecurityInformation uint16   // security_information: 0
	VersionNumber       uint16   // version_number
	CertificationType   CertificationType
	// DACOriginVendorID and DACOriginProductID are the optional
	// dac_origin_vendor_id and dac_origin_product_id, for a product whose
	// DAC comes from another vendor. Both or neither are present.
	DACOriginVendorID, DACOriginProductID *uint16
	// AuthorizedPAAs is the optional authorized_paa_list: subject key
	// identifiers of the only PAAs a DAC may chain to.
	AuthorizedPAAs [][]byte
}

// Context tags of the CD structure (§6.3.1).
const (
	cdTagFormatVersion = iota
	cdTagVendorID
	cdTagProductIDs
	cdTagDeviceTypeID
	cdTagCertificateID
	cdTagSecurityLevel
	cdTagSecurityInformation
	cdTagVersionNumber
	cdTagCertificationType
	cdTagDACOriginVendorID
	cdTagDACOriginProductID
	cdTagAuthorizedPAAs
)

func (cd *CertificationDeclaration) check() error {
	if n := len(cd.ProductIDs); n < 1 || n > MaxCDProductIDs {
		return fmt.Errorf("%w: CD has %d Product IDs, want 1 to %d", ErrInvalid, n, MaxCDProductIDs)
	}
	if len(cd.CertificateID) != CertificateIDLength {
		return fmt.Errorf("%w: CD certificate_id %q is not %d characters", ErrInvalid, cd.CertificateID, CertificateIDLength)
	}
	if (cd.DACOriginVendorID == nil) != (cd.DACOriginProductID == nil) {
		return fmt.Errorf("%w: CD has only one of dac_origin_vendor_id and dac_origin_product_id", ErrInvalid)
	}
	if len(cd.AuthorizedPAAs) > MaxCDAuthorizedPAAs {
		return fmt.Errorf("%w: CD authorizes %d PAAs, at most %d", ErrInvalid, len(cd.AuthorizedPAAs), MaxCDAuthorizedPAAs)
	}
	for _, id := range cd.AuthorizedPAAs {
		if len(id) != cert.KeyIDSize {
			return fmt.Errorf("%w: CD authorized PAA key identifier of %d octets", ErrInvalid, len(id))
		}
	}
	return nil
}

// Encode returns the TLV encoding of cd: an anonymous structure with the
// fields in tag order (§6.3.1). Optional fields are written when set; an
// empty AuthorizedPAAs is omitted, as the list may not be empty.
func (cd *CertificationDeclaration) Encode() ([]byte, error) {
	if err := cd.check(); err != nil {
		return nil, err
	}
	var w tlv.Writer
	w.StartStructure(tlv.AnonymousTag())
	w.PutUint(tlv.ContextTag(cdTagFormatVersion), uint64(cd.FormatVersion))
	w.PutUint(tlv.ContextTag(cdTagVendorID), uint64(cd.VendorID))
	w.StartArray(tlv.ContextTag(cdTagProductIDs))
	for _, pid := range cd.ProductIDs {
		w.PutUint(tlv.AnonymousTag(), uint64(pid))
	}
	w.EndContainer()
	w.PutUint(tlv.ContextTag(cdTagDeviceTypeID), uint64(cd.DeviceTypeID))
	w.PutString(tlv.ContextTag(cdTagCertificateID), cd.CertificateID)
	w.PutUint(tlv.ContextTag(cdTagSecurityLevel), uint64(cd.SecurityLevel))
	w.PutUint(tlv.ContextTag(cdTagSecurityInformation), uint64(cd.SecurityInformation))
	w.PutUint(tlv.ContextTag(cdTagVersionNumber), uint64(cd.VersionNumber))
	w.PutUint(tlv.ContextTag(cdTagCertificationType), uint64(cd.CertificationType))
	if cd.DACOriginVendorID != nil {
		w.PutUint(tlv.ContextTag(cdTagDACOriginVendorID), uint64(*cd.DACOriginVendorID))
		w.PutUint(tlv.ContextTag(cdTagDACOriginProductID), uint64(*cd.DACOriginProductID))
	}
	if len(cd.AuthorizedPAAs) > 0 {
		w.StartArray(tlv.ContextTag(cdTagAuthorizedPAAs))
		for _, id := range cd.AuthorizedPAAs {
			w.PutBytes(tlv.AnonymousTag(), id)
		}
		w.EndContainer()
	}
	w.EndContainer()
	b, err := w.Bytes()
	if err != nil {
		return nil, fmt.Errorf("attestation: encoding CD: %w", err)
	}
	return bytes.Clone(b), nil
}

// DecodeCertificationDeclaration parses the TLV content of a Certification
// Declaration. Every mandatory field must be present, in any order, and
// within its type's range; unknown context tags are skipped.
func DecodeCertificationDeclaration(b []byte) (*CertificationDeclaration, error) {
	cd := &CertificationDeclaration{}
	r := tlv.NewReader(b)
	fail := func(err error) (*CertificationDeclaration, error) {
		return nil, fmt.Errorf("%w: CD content: %w", ErrInvalid, err)
	}
	if err := r.Next(); err != nil {
		return fail(unexpectedEOF(err))
	}
	if r.Type() != tlv.TypeStructure || !r.Tag().IsAnonymous() {
		return fail(fmt.Errorf("top-level %s, want an anonymous structure", r.Type()))
	}
	if err := r.Enter(); err != nil {
		return fail(err)
	}
	var seen uint32
	for {
		err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fail(err)
		}
		if r.Tag().Kind() != tlv.TagContext {
			return fail(fmt.Errorf("member with %s", r.Tag()))
		}
		n := r.Tag().Number()
		if n < 32 {
			if seen&(1<<n) != 0 {
				return fail(fmt.Errorf("repeated tag %d", n))
			}
			seen |= 1 << n
		}
		switch n {
		case cdTagFormatVersion:
			cd.FormatVersion, err = r.Uint16()
		case cdTagVendorID:
			cd.VendorID, err = r.Uint16()
		case cdTagProductIDs:
			cd.ProductIDs, err = readUint16Array(r, MaxCDProductIDs)
		case cdTagDeviceTypeID:
			cd.DeviceTypeID, err = r.Uint32()
		case cdTagCertificateID:
			cd.CertificateID, err = r.String()
		case cdTagSecurityLevel:
			cd.SecurityLevel, err = r.Uint8()
		case cdTagSecurityInformation:
			cd.SecurityInformation, err = r.Uint16()
		case cdTagVersionNumber:
			cd.VersionNumber, err = r.Uint16()
		case cdTagCertificationType:
			var v uint8
			v, err = r.Uint8()
			cd.CertificationType = CertificationType(v)
		case cdTagDACOriginVendorID:
			var v uint16
			v, err = r.Uint16()
			cd.DACOriginVendorID = &v
		case cdTagDACOriginProductID:
			var v uint16
			v, err = r.Uint16()
			cd.DACOriginProductID = &v
		case cdTagAuthorizedPAAs:
			cd.AuthorizedPAAs, err = readBytesArray(r, MaxCDAuthorizedPAAs)
		}
		if err != nil {
			return fail(fmt.Errorf("tag %d: %w", n, err))
		}
	}
	if err := r.Exit(); err != nil {
		return fail(err)
	}
	if err := r.Next(); err != io.EOF {
		return fail(fmt.Errorf("data after the structure"))
	}
	const mandatory = 1<<(cdTagCertificationType+1) - 1
	if seen&mandatory != mandatory {
		return fail(fmt.Errorf("mandatory fields missing (present: %09b)", seen&mandatory))
	}
	if err := cd.check(); err != nil {
		return nil, err
	}
	return cd, nil
}

func readUint16Array(r *tlv.Reader, limit int) ([]uint16, error) {
	if r.Type() != tlv.TypeArray {
		return nil, fmt.Errorf("%s, want an array", r.Type())
	}
	if err := r.Enter(); err != nil {
		return nil, err
	}
	var out []uint16
	for {
		err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if len(out) == limit {
			return nil, fmt.Errorf("more than %d elements", limit)
		}
		v, err := r.Uint16()
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, r.Exit()
}

func readBytesArray(r *tlv.Reader, limit int) ([][]byte, error) {
	if r.Type() != tlv.TypeArray {
		return nil, fmt.Errorf("%s, want an array", r.Type())
	}
	if err := r.Enter(); err != nil {
		return nil, err
	}
	var out [][]byte
	for {
		err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if len(out) == limit {
			return nil, fmt.Errorf("more than %d elements", limit)
		}
		v, err := r.Bytes()
		if err != nil {
			return nil, err
		}
		out = append(out, bytes.Clone(v))
	}
	return out, r.Exit()
}

func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// CDSigner is a key that signs Certification Declarations, named in the
// CMS envelope by its subject key identifier.
type CDSigner struct {
	Key   *ecdsa.PrivateKey
	KeyID []byte // subject key identifier of the signer's certificate
}

// The development CD signing key that the CSA publishes for testing
// (Matter Core Specification, Appendix F; in the SDK as
// credentials/test/certification-declaration/Chip-Test-CD-Signing-Key.pem,
// subject "CN=Matter Test CD Signing Authority"). The SDK's controllers
// trust it by default for development CDs, and matter.js signs its own
// test CDs with it, so a CD signed with it verifies wherever test CDs do.
const (
	testCDSigningKeyHex   = "aef3484116e9481ec57be0472df41bf499064e5024ad869eca5e889802d48075"
	testCDSigningKeyIDHex = "62fa823359acfaa9963e1cfa140addf504f37160"
)

// TestCDSigner returns the CSA's published development CD signing key and
// key identifier (Appendix F). A development Certification Declaration
// signed with it is the one controllers are prepared to accept.
func TestCDSigner() *CDSigner {
	d, _ := hex.DecodeString(testCDSigningKeyHex)
	id, _ := hex.DecodeString(testCDSigningKeyIDHex)
	key, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d)
	if err != nil {
		return nil // unreachable: the constant is a valid scalar, as a test checks
	}
	return &CDSigner{Key: key, KeyID: id}
}

// Object identifiers of the CMS envelope (RFC 5652, RFC 5754, RFC 5758).
var (
	oidData            = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidSignedData      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidSHA256          = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidECDSAWithSHA256 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
)

// The CMS structures of a Certification Declaration (§6.3.1, RFC 5652
// §3, §5): a ContentInfo holding a SignedData of version 3 with one digest
// algorithm (SHA-256), the TLV content as id-data eContent, no
// certificates, no CRLs, and one SignerInfo of version 3 naming the signer
// by subject key identifier, without signed attributes, so that the
// ECDSA signature is over the eContent octets themselves (RFC 5652 §5.4).
type contentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue // [0] EXPLICIT, checked and built by hand
}

type signedData struct {
	Version          int
	DigestAlgorithms []pkix.AlgorithmIdentifier `asn1:"set"`
	EncapContentInfo encapContentInfo
	SignerInfos      []signerInfo `asn1:"set"`
}

type encapContentInfo struct {
	EContentType asn1.ObjectIdentifier
	EContent     []byte `asn1:"explicit,tag:0"`
}

type signerInfo struct {
	Version            int
	SubjectKeyID       []byte `asn1:"tag:0"`
	DigestAlgorithm    pkix.AlgorithmIdentifier
	SignatureAlgorithm pkix.AlgorithmIdentifier
	Signature          []byte
}

// SignCertificationDeclaration encodes cd and wraps it in the CMS
// SignedData envelope of §6.3.1, signed by signer.
func SignCertificationDeclaration(cd *CertificationDeclaration, signer *CDSigner) ([]byte, error) {
	if signer == nil || signer.Key == nil || len(signer.KeyID) == 0 {
		return nil, fmt.Errorf("%w: no CD signer", ErrInvalid)
	}
	content, err := cd.Encode()
	if err != nil {
		return nil, err
	}
	digest := sha256.Sum256(content)
	// Deterministic (RFC 6979) with a nil random source.
	sig, err := signer.Key.Sign(nil, digest[:], cryptoSHA256)
	if err != nil {
		return nil, fmt.Errorf("attestation: signing CD: %w", err)
	}
	sd, err := asn1.Marshal(signedData{
		Version:          3,
		DigestAlgorithms: []pkix.AlgorithmIdentifier{{Algorithm: oidSHA256}},
		EncapContentInfo: encapContentInfo{EContentType: oidData, EContent: content},
		SignerInfos: []signerInfo{{
			Version:            3,
			SubjectKeyID:       signer.KeyID,
			DigestAlgorithm:    pkix.AlgorithmIdentifier{Algorithm: oidSHA256},
			SignatureAlgorithm: pkix.AlgorithmIdentifier{Algorithm: oidECDSAWithSHA256},
			Signature:          sig,
		}},
	})
	if err != nil {
		return nil, fmt.Errorf("attestation: encoding CD envelope: %w", err)
	}
	der, err := asn1.Marshal(contentInfo{
		ContentType: oidSignedData,
		Content:     asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: sd},
	})
	if err != nil {
		return nil, fmt.Errorf("attestation: encoding CD envelope: %w", err)
	}
	if len(der) > MaxCDSize {
		return nil, fmt.Errorf("%w: CD of %d octets exceeds %d", ErrInvalid, len(der), MaxCDSize)
	}
	return der, nil
}

// SignedCD is a parsed Certification Declaration envelope.
type SignedCD struct {
	Content      *CertificationDeclaration
	RawContent   []byte // the signed eContent octets (TLV)
	SignerKeyID  []byte // subject key identifier of the signer
	SignatureDER []byte // ECDSA-Sig-Value
}

// ParseCertificationDeclaration parses the CMS envelope of §6.3.1 and the
// TLV content inside it. It accepts only the shape §6.3.1 fixes and that
// matter.js reads by position: SignedData version 3 without certificates or
// CRLs, id-data content, exactly one SignerInfo of version 3 identified by
// subject key identifier, SHA-256 and ecdsa-with-SHA256, and no signed
// attributes. The signature is not checked; see [SignedCD.Verify].
func ParseCertificationDeclaration(der []byte) (*SignedCD, error) {
	if len(der) > 2*MaxCDSize {
		return nil, fmt.Errorf("%w: CD of %d octets", ErrInvalid, len(der))
	}
	var ci contentInfo
	if rest, err := asn1.Unmarshal(der, &ci); err != nil || len(rest) > 0 {
		return nil, fmt.Errorf("%w: CD ContentInfo: %v", ErrInvalid, trailing(err, rest))
	}
	if !ci.ContentType.Equal(oidSignedData) {
		return nil, fmt.Errorf("%w: CD content type %v, want signedData", ErrInvalid, ci.ContentType)
	}
	if ci.Content.Class != asn1.ClassContextSpecific || ci.Content.Tag != 0 || !ci.Content.IsCompound {
		return nil, fmt.Errorf("%w: CD content is not [0] EXPLICIT", ErrInvalid)
	}
	var sd signedData
	if rest, err := asn1.Unmarshal(ci.Content.Bytes, &sd); err != nil || len(rest) > 0 {
		return nil, fmt.Errorf("%w: CD SignedData: %v", ErrInvalid, trailing(err, rest))
	}
	if sd.Version != 3 || len(sd.DigestAlgorithms) != 1 || !sd.DigestAlgorithms[0].Algorithm.Equal(oidSHA256) {
		return nil, fmt.Errorf("%w: CD SignedData is not version 3 with SHA-256", ErrInvalid)
	}
	if !sd.EncapContentInfo.EContentType.Equal(oidData) {
		return nil, fmt.Errorf("%w: CD eContentType %v, want id-data", ErrInvalid, sd.EncapContentInfo.EContentType)
	}
	if len(sd.SignerInfos) != 1 {
		return nil, fmt.Errorf("%w: CD has %d SignerInfos, want 1", ErrInvalid, len(sd.SignerInfos))
	}
	si := sd.SignerInfos[0]
	if si.Version != 3 || len(si.SubjectKeyID) != cert.KeyIDSize ||
		!si.DigestAlgorithm.Algorithm.Equal(oidSHA256) || !si.SignatureAlgorithm.Algorithm.Equal(oidECDSAWithSHA256) {
		return nil, fmt.Errorf("%w: CD SignerInfo is not version 3, key identifier, SHA-256, ecdsa-with-SHA256", ErrInvalid)
	}
	content, err := DecodeCertificationDeclaration(sd.EncapContentInfo.EContent)
	if err != nil {
		return nil, err
	}
	return &SignedCD{
		Content:      content,
		RawContent:   sd.EncapContentInfo.EContent,
		SignerKeyID:  si.SubjectKeyID,
		SignatureDER: si.Signature,
	}, nil
}

func trailing(err error, rest []byte) error {
	if err != nil {
		return err
	}
	return fmt.Errorf("%d trailing octets", len(rest))
}

// Verify checks the envelope's signature with the signer's public key.
func (s *SignedCD) Verify(pub *ecdsa.PublicKey) error {
	digest := sha256.Sum256(s.RawContent)
	if pub == nil || !ecdsa.VerifyASN1(pub, digest[:], s.SignatureDER) {
		return fmt.Errorf("%w: CD signature does not verify", ErrSignature)
	}
	return nil
}
