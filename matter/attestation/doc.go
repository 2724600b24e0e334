// Package attestation holds a device's identity as a Matter commissioner
// checks it (Matter Core Specification §6.2, §6.3, §11.18): the Device
// Attestation Certificate chain, the Certification Declaration, and the
// factory data file that carries them with the rest of what a device is
// provisioned with at manufacture.
//
// # Certificates
//
// Attestation certificates stay in X.509 DER form (§6.2.2). [Generate]
// issues a development chain: a self-signed PAA, a PAI for the Vendor and
// Product ID, and a DAC whose subject holds a common name and the Matter
// Vendor ID and Product ID attributes (OIDs 1.3.6.1.4.1.37244.2.1 and .2.2,
// UTF8Strings of four uppercase hexadecimal digits). All keys are P-256 and
// all signatures ecdsa-with-SHA256, with critical basic constraints and key
// usage and SHA-1 key identifiers, as the profiles of §6.2.2 require.
//
// # Certification Declaration
//
// A CD (§6.3.1) is a TLV structure (format_version, vendor_id,
// product_id_array, device_type_id, certificate_id, security_level,
// security_information, version_number, certification_type and the
// optional dac_origin_vendor_id, dac_origin_product_id and
// authorized_paa_list) inside a CMS SignedData envelope (RFC 5652) that
// signs the TLV octets directly, with no signed attributes, and names the
// signer by subject key identifier. Only the CSA signs real CDs; a device
// under development carries a development CD (certification_type 0)
// signed with the CSA's published test CD signing key ([TestCDSigner],
// Appendix F), which is what the SDK's example devices and matter.js's own
// test devices carry too.
//
// # What matter.js requires
//
// The end-to-end tests commission with matter.js 0.17.9. Read from its
// DeviceAttestationValidator, Certificate and CertificationDeclaration
// modules, its hard requirements, which no attestation policy relaxes, are:
//
//   - DAC and PAI: DER of at most 600 octets, exactly three top-level
//     elements, an EC P-256 key, and the basicConstraints, keyUsage,
//     subjectKeyIdentifier and authorityKeyIdentifier extensions. The
//     Vendor ID of the DAC and of the PAI must be equal.
//   - attestation_elements: tags 1 (CD), 2 (the 32-octet nonce it sent,
//     compared), 3 (a 32-bit timestamp, required by its schema), 4
//     (firmware information, optional).
//   - The attestation signature (and the NOCSR signature) must verify with
//     the DAC key over elements ‖ attestation challenge.
//   - The CD is read by position: ContentInfo [content type, [0]
//     SignedData]; SignedData [version, digestAlgorithms, encapContentInfo,
//     signerInfos] with nothing between (so no certificates field);
//     eContent the [0]-wrapped OCTET STRING; SignerInfo [version, [0]
//     subject key identifier, digestAlgorithm, signatureAlgorithm,
//     signature]. The CD TLV must decode: certificate_id exactly 19
//     characters, 1 to 100 Product IDs.
//   - CD vendor_id must equal BasicInformation VendorID, product_id_array
//     must contain BasicInformation ProductID, and (without
//     dac_origin_*) the DAC and PAI Vendor IDs must equal vendor_id and
//     their Product IDs, where present, be in product_id_array.
//
// Without a DclCertificateService (which needs the internet) matter.js does
// not check the chain to a PAA, revocation, or the CD signature; it reports
// DclServiceUnavailable and CdSignerVerificationSkipped (warnings) and
// CertificationTypeTest (info), and its default policy accepts them. With
// a DCL service whose test CD signers include the CSA test signer, the CD
// signature made here verifies; the development PAA generated here is of
// course in no trust store, which a test policy has to accept
// (PaaNotTrusted).
//
// # Factory data
//
// [FactoryData] is what the firmware reads at start-up; [Load] reads and
// validates the file, [FactoryData.WriteFile] writes it, and
// [Development] gives the built-in development identity used when no file
// exists. The file format is described at [FactoryData.Marshal].
package attestation

import (
	"crypto"
	"errors"
)

// Errors returned by this package wrap one of these, so callers can
// classify a failure with errors.Is while the message keeps the detail.
var (
	// ErrInvalid reports factory data, a certificate, a Certification
	// Declaration or an argument that does not meet the specification or
	// this package's format.
	ErrInvalid = errors.New("attestation: invalid data")
	// ErrChain reports certificates that do not chain: DAC to PAI, PAI to
	// PAA, or a key that does not match its certificate.
	ErrChain = errors.New("attestation: certificates do not chain")
	// ErrMismatch reports identities that disagree: Vendor or Product IDs
	// of the certificates, the Certification Declaration and the factory
	// data, or a passcode that does not match its verifier.
	ErrMismatch = errors.New("attestation: inconsistent identity")
	// ErrSignature reports a signature that does not verify.
	ErrSignature = errors.New("attestation: signature verification failed")
)

const cryptoSHA256 = crypto.SHA256
