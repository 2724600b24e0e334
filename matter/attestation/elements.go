package attestation

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/x509"
	"fmt"
	"io"

	mcrypto "github.com/mattercam/mattercam/matter/crypto"
	"github.com/mattercam/mattercam/matter/tlv"
)

// Sizes of the OperationalCredentials attestation exchange (§11.18).
const (
	NonceSize     = 32                       // AttestationNonce and CSRNonce
	ChallengeSize = mcrypto.SymmetricKeySize // the session's attestation challenge
	// MaxElementsSize is RESP_MAX, the largest attestation_elements or
	// nocsr_elements a device may send.
	MaxElementsSize = 900
)

// Context tags of attestation_elements ("Attestation Information") and
// nocsr_elements ("NOCSR Information"), §11.18.4.
const (
	tagCD               = 1
	tagAttestationNonce = 2
	tagTimestamp        = 3
	tagFirmwareInfo     = 4
	tagCSR              = 1
	tagCSRNonce         = 2
	tagVendorReserved1  = 3
)

// AttestationElements builds attestation_elements, the payload of the
// AttestationResponse (§11.18.4, "Attestation Information"):
//
//	attestation-elements => STRUCTURE [ tag-order ] {
//	  certification_declaration [1] : OCTET STRING,
//	  attestation_nonce         [2] : OCTET STRING [ length 32 ],
//	  timestamp                 [3] : UNSIGNED INTEGER [ range 32-bits ],
//	  firmware_information      [4, optional] : OCTET STRING,
//	}
//
// timestamp is the epoch-s time of signing, or 0 for a device without
// trusted time; firmwareInfo is omitted when empty.
func AttestationElements(cd, nonce []byte, timestamp uint32, firmwareInfo []byte) ([]byte, error) {
	if len(nonce) != NonceSize {
		return nil, fmt.Errorf("%w: attestation nonce of %d octets, want %d", ErrInvalid, len(nonce), NonceSize)
	}
	var w tlv.Writer
	w.StartStructure(tlv.AnonymousTag())
	w.PutBytes(tlv.ContextTag(tagCD), cd)
	w.PutBytes(tlv.ContextTag(tagAttestationNonce), nonce)
	w.PutUint(tlv.ContextTag(tagTimestamp), uint64(timestamp))
	if len(firmwareInfo) > 0 {
		w.PutBytes(tlv.ContextTag(tagFirmwareInfo), firmwareInfo)
	}
	w.EndContainer()
	return finishElements(&w, "attestation_elements")
}

// NOCSRElements builds nocsr_elements, the payload of the CSRResponse
// (§11.18.4, "NOCSR Information"):
//
//	nocsr-elements => STRUCTURE [ tag-order ] {
//	  csr             [1] : OCTET STRING,
//	  CSRNonce        [2] : OCTET STRING [ length 32 ],
//	  vendor_reserved1 [3, optional] : OCTET STRING,
//	  vendor_reserved2 [4, optional] : OCTET STRING,
//	  vendor_reserved3 [5, optional] : OCTET STRING,
//	}
//
// csr is the DER PKCS #10 request for the new operational key
// (matter/cert.CreateCSR). Empty vendorReserved entries are omitted; at
// most three are allowed.
func NOCSRElements(csr, csrNonce []byte, vendorReserved ...[]byte) ([]byte, error) {
	if len(csrNonce) != NonceSize {
		return nil, fmt.Errorf("%w: CSR nonce of %d octets, want %d", ErrInvalid, len(csrNonce), NonceSize)
	}
	if len(vendorReserved) > 3 {
		return nil, fmt.Errorf("%w: %d vendor reserved fields, at most 3", ErrInvalid, len(vendorReserved))
	}
	var w tlv.Writer
	w.StartStructure(tlv.AnonymousTag())
	w.PutBytes(tlv.ContextTag(tagCSR), csr)
	w.PutBytes(tlv.ContextTag(tagCSRNonce), csrNonce)
	for i, v := range vendorReserved {
		if len(v) > 0 {
			w.PutBytes(tlv.ContextTag(uint8(tagVendorReserved1+i)), v)
		}
	}
	w.EndContainer()
	return finishElements(&w, "nocsr_elements")
}

func finishElements(w *tlv.Writer, what string) ([]byte, error) {
	b, err := w.Bytes()
	if err != nil {
		return nil, fmt.Errorf("attestation: encoding %s: %w", what, err)
	}
	if len(b) > MaxElementsSize {
		return nil, fmt.Errorf("%w: %s of %d octets exceeds %d", ErrInvalid, what, len(b), MaxElementsSize)
	}
	return bytes.Clone(b), nil
}

// AttestationInfo is parsed attestation_elements.
type AttestationInfo struct {
	CertificationDeclaration []byte
	Nonce                    []byte
	Timestamp                uint32
	FirmwareInformation      []byte // nil when absent
}

// ParseAttestationElements parses attestation_elements, as a commissioner
// does. Members with tags it does not know (vendor-reserved, §11.18.4)
// are skipped.
func ParseAttestationElements(b []byte) (*AttestationInfo, error) {
	var info AttestationInfo
	var seen [5]bool
	err := parseElements(b, func(r *tlv.Reader, n uint32) (err error) {
		if n < uint32(len(seen)) {
			if seen[n] {
				return fmt.Errorf("repeated tag %d", n)
			}
			seen[n] = true
		}
		switch n {
		case tagCD:
			info.CertificationDeclaration, err = cloneBytes(r)
		case tagAttestationNonce:
			info.Nonce, err = cloneBytes(r)
		case tagTimestamp:
			info.Timestamp, err = r.Uint32()
		case tagFirmwareInfo:
			info.FirmwareInformation, err = cloneBytes(r)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%w: attestation_elements: %w", ErrInvalid, err)
	}
	if !seen[tagCD] || !seen[tagAttestationNonce] || !seen[tagTimestamp] || len(info.Nonce) != NonceSize {
		return nil, fmt.Errorf("%w: attestation_elements lacks a field or has a nonce of %d octets", ErrInvalid, len(info.Nonce))
	}
	return &info, nil
}

// NOCSRInfo is parsed nocsr_elements.
type NOCSRInfo struct {
	CSR            []byte
	Nonce          []byte
	VendorReserved [3][]byte
}

// ParseNOCSRElements parses nocsr_elements, as a commissioner does.
func ParseNOCSRElements(b []byte) (*NOCSRInfo, error) {
	var info NOCSRInfo
	var seen [6]bool
	err := parseElements(b, func(r *tlv.Reader, n uint32) (err error) {
		if n < uint32(len(seen)) {
			if seen[n] {
				return fmt.Errorf("repeated tag %d", n)
			}
			seen[n] = true
		}
		switch n {
		case tagCSR:
			info.CSR, err = cloneBytes(r)
		case tagCSRNonce:
			info.Nonce, err = cloneBytes(r)
		case 3, 4, 5:
			info.VendorReserved[n-3], err = cloneBytes(r)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%w: nocsr_elements: %w", ErrInvalid, err)
	}
	if !seen[tagCSR] || !seen[tagCSRNonce] || len(info.Nonce) != NonceSize {
		return nil, fmt.Errorf("%w: nocsr_elements lacks a field or has a nonce of %d octets", ErrInvalid, len(info.Nonce))
	}
	return &info, nil
}

// parseElements walks an anonymous structure of at most MaxElementsSize
// octets and calls member for each context-tagged member; members with
// other tags are skipped.
func parseElements(b []byte, member func(*tlv.Reader, uint32) error) error {
	if len(b) > MaxElementsSize {
		return fmt.Errorf("%d octets exceed %d", len(b), MaxElementsSize)
	}
	r := tlv.NewReader(b)
	if err := r.Next(); err != nil {
		return unexpectedEOF(err)
	}
	if r.Type() != tlv.TypeStructure || !r.Tag().IsAnonymous() {
		return fmt.Errorf("top-level %s, want an anonymous structure", r.Type())
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
		if r.Tag().Kind() != tlv.TagContext {
			continue
		}
		if err := member(r, r.Tag().Number()); err != nil {
			return fmt.Errorf("tag %d: %w", r.Tag().Number(), err)
		}
	}
	if err := r.Exit(); err != nil {
		return err
	}
	if err := r.Next(); err != io.EOF {
		return fmt.Errorf("data after the structure")
	}
	return nil
}

func cloneBytes(r *tlv.Reader) ([]byte, error) {
	b, err := r.Bytes()
	return bytes.Clone(b), err
}

// sign is the attestation signature of §11.18.4: Crypto_Sign with the DAC
// key over elements ‖ attestation challenge, in raw r ‖ s form.
func sign(key *ecdsa.PrivateKey, elements, challenge []byte, what string) ([]byte, error) {
	if key == nil {
		return nil, fmt.Errorf("%w: no DAC key", ErrInvalid)
	}
	if len(challenge) != ChallengeSize {
		return nil, fmt.Errorf("%w: attestation challenge of %d octets, want %d", ErrInvalid, len(challenge), ChallengeSize)
	}
	if len(elements) == 0 || len(elements) > MaxElementsSize {
		return nil, fmt.Errorf("%w: %s of %d octets", ErrInvalid, what, len(elements))
	}
	tbs := make([]byte, 0, len(elements)+len(challenge))
	tbs = append(append(tbs, elements...), challenge...)
	sig, err := mcrypto.Sign(key, tbs)
	if err != nil {
		return nil, fmt.Errorf("attestation: signing %s: %w", what, err)
	}
	return sig, nil
}

// SignAttestation returns the attestation_signature of an
// AttestationResponse (§11.18.4): the DAC key's signature over
// attestationElements ‖ attestationChallenge, the challenge being the
// AttestationChallenge of the PASE or CASE session the request came on.
func (f *FactoryData) SignAttestation(attestationElements, attestationChallenge []byte) ([]byte, error) {
	return sign(f.DACKey, attestationElements, attestationChallenge, "attestation_elements")
}

// SignNOCSR returns the attestation_signature of a CSRResponse
// (§11.18.4): the same construction over nocsrElements.
func (f *FactoryData) SignNOCSR(nocsrElements, attestationChallenge []byte) ([]byte, error) {
	return sign(f.DACKey, nocsrElements, attestationChallenge, "nocsr_elements")
}

// VerifySignature checks, as a commissioner does, a signature made by
// SignAttestation or SignNOCSR against the public key of dac, a DER DAC.
func VerifySignature(dac, elements, challenge, signature []byte) error {
	c, err := x509.ParseCertificate(dac)
	if err != nil {
		return fmt.Errorf("%w: DAC: %w", ErrInvalid, err)
	}
	pub, ok := c.PublicKey.(*ecdsa.PublicKey)
	if !ok {
		return fmt.Errorf("%w: DAC key is not ECDSA", ErrInvalid)
	}
	tbs := append(bytes.Clone(elements), challenge...)
	if !mcrypto.Verify(pub, tbs, signature) {
		return fmt.Errorf("%w: attestation signature does not verify", ErrSignature)
	}
	return nil
}
