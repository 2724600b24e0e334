package attestation

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"
	"unicode/utf8"

	mcrypto "github.com/mattercam/mattercam/matter/crypto"
)

// Defaults of Generate, and the identity of Development.
const (
	// TestVendorID is the first of the Vendor IDs reserved for testing
	// (0xFFF1-0xFFF4, §2.5.2).
	TestVendorID uint16 = 0xFFF1
	// DefaultProductID is the Product ID of development data.
	DefaultProductID uint16 = 0x8000
	// CameraDeviceType is the Matter Camera device type, the CD's default
	// device_type_id.
	CameraDeviceType uint32 = 0x0142
	// DevelopmentPasscode and DevelopmentDiscriminator are the SDK's
	// well-known development values (the all-clusters and example apps).
	DevelopmentPasscode      uint32 = 20202021
	DevelopmentDiscriminator uint16 = 3840
	// DefaultIterations is the PBKDF iteration count of generated
	// verifiers, the minimum Crypto_PBKDF allows and the SDK's default.
	DefaultIterations = mcrypto.PBKDFMinIterations
	// MaxFileSize bounds the factory data file Load reads.
	MaxFileSize = 64 << 10
	// FileFormat names the file format and its version.
	FileFormat = "mattercam-factory-data-v1"
)

// DefaultNotBefore is the not-before time of generated certificates. It is
// fixed, not the time of generation, so that a seed always gives the same
// certificates.
var DefaultNotBefore = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// developmentSeed derives the development identity. It is public knowledge
// by design: every development device shares this identity, as every
// example app of the SDK shares its test DAC.
var developmentSeed = []byte("mattercam development attestation v1")

// FactoryData is what a device is provisioned with at manufacture: the
// values BasicInformation and commissioning need, the PASE verifier, and
// the attestation credentials.
type FactoryData struct {
	VendorID, ProductID   uint16
	VendorName            string // BasicInformation VendorName, at most 32 octets
	ProductName           string // BasicInformation ProductName, at most 32 octets
	HardwareVersion       uint16
	HardwareVersionString string // 1 to 64 octets
	ManufacturingDate     string // optional, "YYYYMMDD" and up to 8 more characters
	SerialNumber          string // at most 32 octets
	UniqueID              string // BasicInformation UniqueID, at most 32 octets

	// Discriminator is the 12-bit commissioning discriminator.
	Discriminator uint16
	// Iterations, Salt and Verifier are the PASE parameters (§3.10, §4.14.1):
	// the PBKDF iteration count and salt, and the serialized verifier w0 ‖ L.
	Iterations int
	Salt       []byte
	Verifier   []byte
	// Passcode is the setup passcode when known, else 0. A device needs
	// only the verifier; the passcode is there to print the onboarding
	// codes. StorePasscode tells Marshal to write it; development data and
	// data for printing a label do.
	Passcode      uint32
	StorePasscode bool

	// DACKey is the DAC's private key; DAC, PAI and PAA are DER
	// certificates (PAA optional, for reference), CD the CMS Certification
	// Declaration.
	DACKey        *ecdsa.PrivateKey
	DAC, PAI, PAA []byte
	CD            []byte
}

// PasscodeVerifier returns the parsed verifier.
func (f *FactoryData) PasscodeVerifier() (*mcrypto.PasscodeVerifier, error) {
	v, err := mcrypto.ParsePasscodeVerifier(f.Verifier)
	if err != nil {
		return nil, fmt.Errorf("%w: passcode verifier: %w", ErrInvalid, err)
	}
	return v, nil
}

// Options controls Generate. The zero value generates a fresh random
// identity with the test Vendor ID and the default Product ID.
type Options struct {
	VendorID, ProductID   uint16 // default TestVendorID, DefaultProductID
	VendorName            string // default "mattercam"
	ProductName           string // default "mattercam camera"
	HardwareVersion       uint16
	HardwareVersionString string // default "1"
	ManufacturingDate     string
	SerialNumber          string // default 16 hexadecimal digits, derived
	UniqueID              string // default 32 hexadecimal digits, derived

	// Discriminator is the discriminator; nil means derived (random).
	Discriminator *uint16
	// Passcode is the setup passcode; 0 means derived (random, valid).
	Passcode uint32
	// StorePasscode keeps the passcode in the file (see FactoryData).
	StorePasscode bool
	// Iterations and Salt are the PBKDF parameters; 0 and nil mean
	// DefaultIterations and a derived 32-octet salt.
	Iterations int
	Salt       []byte

	// DeviceTypeID, CertificationType and CertificateID fill the CD;
	// defaults CameraDeviceType, CertificationDevelopment and
	// "CSA00000SWC00000-00".
	DeviceTypeID      uint32
	CertificationType CertificationType
	CertificateID     string
	// CDSigner signs the CD; nil means TestCDSigner.
	CDSigner *CDSigner

	// PAI, when set, issues the DAC under an existing PAI instead of a new
	// PAA and PAI; PAA is then stored as given (it may be nil).
	PAI *Issuer
	PAA []byte
	// VendorScopedPAA puts the Vendor ID in a generated PAA's subject.
	VendorScopedPAA bool
	// NotBefore starts the validity of generated certificates; zero means
	// DefaultNotBefore. They never expire (NoExpiry).
	NotBefore time.Time

	// Seed, when set, derives every key, serial number and default value
	// from it (HKDF-SHA256), so that the same options always give the same
	// factory data. When nil, crypto/rand supplies them.
	Seed []byte
}

// DevelopmentOptions returns the options of Development.
func DevelopmentOptions() Options {
	d := DevelopmentDiscriminator
	return Options{
		Seed:                  developmentSeed,
		Passcode:              DevelopmentPasscode,
		Discriminator:         &d,
		StorePasscode:         true,
		SerialNumber:          "DEV-0001",
		HardwareVersionString: "dev",
	}
}

// Development returns the development factory data the firmware uses when
// no factory file exists: Vendor ID 0xFFF1, Product ID 0x8000, passcode
// 20202021, discriminator 3840, and a DAC chain and development CD derived
// from a fixed seed. It is the same on every call and every device, so a
// development device keeps its identity across restarts (and so does every
// other one: it is for development only).
func Development() (*FactoryData, error) {
	return Generate(DevelopmentOptions())
}

// Generate creates factory data: a PASE verifier for the passcode, a DAC
// key and certificate under a new development PAA and PAI (or under
// o.PAI), and a CD signed by o.CDSigner (the CSA test signer by default).
// The result is checked with Validate before it is returned.
func Generate(o Options) (*FactoryData, error) {
	ks := keySource{seed: o.Seed}
	f := &FactoryData{
		VendorID:              or(o.VendorID, TestVendorID),
		ProductID:             or(o.ProductID, DefaultProductID),
		VendorName:            or(o.VendorName, "mattercam"),
		ProductName:           or(o.ProductName, "mattercam camera"),
		HardwareVersion:       o.HardwareVersion,
		HardwareVersionString: or(o.HardwareVersionString, "1"),
		ManufacturingDate:     o.ManufacturingDate,
		SerialNumber:          o.SerialNumber,
		UniqueID:              o.UniqueID,
		Iterations:            or(o.Iterations, DefaultIterations),
		Salt:                  bytes.Clone(o.Salt),
		Passcode:              o.Passcode,
		StorePasscode:         o.StorePasscode,
		PAA:                   bytes.Clone(o.PAA),
	}
	var err error
	derive := func(label string, n int) []byte {
		if err != nil {
			return nil
		}
		var b []byte
		b, err = ks.bytes(label, n)
		return b
	}
	if f.SerialNumber == "" {
		f.SerialNumber = fmt.Sprintf("%X", derive("serial number", 8))
	}
	if f.UniqueID == "" {
		f.UniqueID = fmt.Sprintf("%X", derive("unique id", 16))
	}
	if o.Discriminator != nil {
		f.Discriminator = *o.Discriminator
	} else if b := derive("discriminator", 2); b != nil {
		f.Discriminator = binary.BigEndian.Uint16(b) & 0xFFF
	}
	if f.Salt == nil {
		f.Salt = derive("salt", mcrypto.PBKDFMaxSaltSize)
	}
	for i := 0; f.Passcode == 0 && err == nil; i++ {
		if b := derive("passcode "+strconv.Itoa(i), 4); b != nil {
			if p := binary.BigEndian.Uint32(b)%99999998 + 1; mcrypto.ValidPasscode(p) {
				f.Passcode = p
			}
		}
	}
	if err != nil {
		return nil, err
	}
	if !mcrypto.ValidPasscode(f.Passcode) {
		return nil, fmt.Errorf("%w: passcode %d", ErrInvalid, f.Passcode)
	}
	v, err := mcrypto.ComputePasscodeVerifier(f.Passcode, f.Salt, f.Iterations)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	f.Verifier = v.Bytes()

	if err := f.issueChain(o, ks); err != nil {
		return nil, err
	}

	cd := &CertificationDeclaration{
		FormatVersion:     cdFormatVersion,
		VendorID:          f.VendorID,
		ProductIDs:        []uint16{f.ProductID},
		DeviceTypeID:      or(o.DeviceTypeID, CameraDeviceType),
		CertificateID:     or(o.CertificateID, defaultCertificateID),
		VersionNumber:     1,
		CertificationType: o.CertificationType,
	}
	signer := o.CDSigner
	if signer == nil {
		signer = TestCDSigner()
	}
	if f.CD, err = SignCertificationDeclaration(cd, signer); err != nil {
		return nil, err
	}
	if err := f.Validate(); err != nil {
		return nil, fmt.Errorf("attestation: generated data does not validate: %w", err)
	}
	return f, nil
}

// issueChain creates the DAC key and certificate, and the PAA and PAI
// unless o.PAI is given.
func (f *FactoryData) issueChain(o Options, ks keySource) error {
	notBefore := o.NotBefore
	if notBefore.IsZero() {
		notBefore = DefaultNotBefore
	}
	vid, pid := f.VendorID, f.ProductID
	spec := func(role certRole, cn string, v, p *uint16) (certSpec, error) {
		serial, err := ks.serial(role.String())
		return certSpec{role: role, cn: cn, vid: v, pid: p, serial: serial, notBefore: notBefore, notAfter: NoExpiry}, err
	}

	var pai *x509.Certificate
	var paiKey *ecdsa.PrivateKey
	if o.PAI != nil {
		if o.PAI.Key == nil {
			return fmt.Errorf("%w: PAI without a key", ErrInvalid)
		}
		c, err := checkCert(o.PAI.Cert, rolePAI)
		if err != nil {
			return err
		}
		pai, paiKey, f.PAI = c, o.PAI.Key, bytes.Clone(o.PAI.Cert)
	} else {
		paaKey, err := ks.key("PAA")
		if err != nil {
			return err
		}
		var paaVID *uint16
		if o.VendorScopedPAA {
			paaVID = &vid
		}
		s, err := spec(rolePAA, "mattercam Development PAA", paaVID, nil)
		if err != nil {
			return err
		}
		if f.PAA, err = issueCert(s, &paaKey.PublicKey, nil, paaKey); err != nil {
			return err
		}
		paa, err := x509.ParseCertificate(f.PAA)
		if err != nil {
			return fmt.Errorf("attestation: PAA: %w", err)
		}
		if paiKey, err = ks.key("PAI"); err != nil {
			return err
		}
		if s, err = spec(rolePAI, fmt.Sprintf("mattercam Development PAI 0x%04X", vid), &vid, &pid); err != nil {
			return err
		}
		if f.PAI, err = issueCert(s, &paiKey.PublicKey, paa, paaKey); err != nil {
			return err
		}
		if pai, err = x509.ParseCertificate(f.PAI); err != nil {
			return fmt.Errorf("attestation: PAI: %w", err)
		}
	}

	dacKey, err := ks.key("DAC")
	if err != nil {
		return err
	}
	s, err := spec(roleDAC, fmt.Sprintf("mattercam DAC 0x%04X/0x%04X", vid, pid), &vid, &pid)
	if err != nil {
		return err
	}
	if f.DAC, err = issueCert(s, &dacKey.PublicKey, pai, paiKey); err != nil {
		return err
	}
	f.DACKey = dacKey
	return nil
}

func or[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Validate checks f as the firmware relies on it and as a commissioner
// will: field limits; the verifier, and the passcode against it when
// known; the DAC key against the DAC; DAC → PAI (→ PAA when present) by
// name, key identifier and signature, with the profile of each
// certificate; the Vendor and Product IDs of the certificates and the CD
// against f's; and the CD's signature when it is signed with the CSA test
// signer, the one key this package knows.
func (f *FactoryData) Validate() error {
	if err := f.validateFields(); err != nil {
		return err
	}
	if err := f.validateVerifier(); err != nil {
		return err
	}
	dac, pai, paa, err := f.validateChain()
	if err != nil {
		return err
	}
	return f.validateCD(dac, pai, paa)
}

func (f *FactoryData) validateFields() error {
	if f.VendorID == 0 || f.ProductID == 0 {
		return fmt.Errorf("%w: Vendor ID 0x%04X, Product ID 0x%04X", ErrInvalid, f.VendorID, f.ProductID)
	}
	for _, s := range []struct {
		name     string
		v        string
		min, max int
	}{
		{"vendor name", f.VendorName, 0, 32},
		{"product name", f.ProductName, 0, 32},
		{"hardware version string", f.HardwareVersionString, 1, 64},
		{"serial number", f.SerialNumber, 0, 32},
		{"unique ID", f.UniqueID, 0, 32},
	} {
		if len(s.v) < s.min || len(s.v) > s.max || !utf8.ValidString(s.v) {
			return fmt.Errorf("%w: %s %q is not %d to %d octets of UTF-8", ErrInvalid, s.name, s.v, s.min, s.max)
		}
	}
	if d := f.ManufacturingDate; d != "" {
		if len(d) < 8 || len(d) > 16 {
			return fmt.Errorf("%w: manufacturing date %q", ErrInvalid, d)
		}
		if _, err := time.Parse("20060102", d[:8]); err != nil {
			return fmt.Errorf("%w: manufacturing date %q does not start with YYYYMMDD", ErrInvalid, d)
		}
	}
	if f.Discriminator > 0xFFF {
		return fmt.Errorf("%w: discriminator %d exceeds 4095", ErrInvalid, f.Discriminator)
	}
	return nil
}

func (f *FactoryData) validateVerifier() error {
	if f.Iterations < mcrypto.PBKDFMinIterations || f.Iterations > mcrypto.PBKDFMaxIterations {
		return fmt.Errorf("%w: PBKDF iterations %d", ErrInvalid, f.Iterations)
	}
	if len(f.Salt) < mcrypto.PBKDFMinSaltSize || len(f.Salt) > mcrypto.PBKDFMaxSaltSize {
		return fmt.Errorf("%w: PBKDF salt of %d octets", ErrInvalid, len(f.Salt))
	}
	if _, err := f.PasscodeVerifier(); err != nil {
		return err
	}
	if f.Passcode == 0 {
		return nil
	}
	if !mcrypto.ValidPasscode(f.Passcode) {
		return fmt.Errorf("%w: passcode %d", ErrInvalid, f.Passcode)
	}
	v, err := mcrypto.ComputePasscodeVerifier(f.Passcode, f.Salt, f.Iterations)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if !bytes.Equal(v.Bytes(), f.Verifier) {
		return fmt.Errorf("%w: the passcode does not match the verifier", ErrMismatch)
	}
	return nil
}

func (f *FactoryData) validateChain() (dac, pai, paa *x509.Certificate, err error) {
	if f.DACKey == nil || f.DACKey.Curve != elliptic.P256() {
		return nil, nil, nil, fmt.Errorf("%w: DAC key missing or not P-256", ErrInvalid)
	}
	if dac, err = checkCert(f.DAC, roleDAC); err != nil {
		return nil, nil, nil, err
	}
	if !f.DACKey.PublicKey.Equal(dac.PublicKey) {
		return nil, nil, nil, fmt.Errorf("%w: the DAC key does not match the DAC", ErrChain)
	}
	if pai, err = checkCert(f.PAI, rolePAI); err != nil {
		return nil, nil, nil, err
	}
	if err := checkIssued(dac, pai); err != nil {
		return nil, nil, nil, fmt.Errorf("DAC → PAI: %w", err)
	}
	if len(f.PAA) > 0 {
		if paa, err = checkCert(f.PAA, rolePAA); err != nil {
			return nil, nil, nil, err
		}
		if err := checkIssued(pai, paa); err != nil {
			return nil, nil, nil, fmt.Errorf("PAI → PAA: %w", err)
		}
		if !bytes.Equal(paa.RawIssuer, paa.RawSubject) || paa.CheckSignature(paa.SignatureAlgorithm, paa.RawTBSCertificate, paa.Signature) != nil {
			return nil, nil, nil, fmt.Errorf("%w: PAA is not self-signed", ErrChain)
		}
	}
	// Vendor and Product IDs (§6.2.2): the DAC has both, the PAI the
	// Vendor ID and maybe the Product ID, a PAA maybe the Vendor ID.
	dv, dp, hasDV, hasDP, err := nameIDs(dac.Subject)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("DAC: %w", err)
	}
	if !hasDV || !hasDP || dv != f.VendorID || dp != f.ProductID {
		return nil, nil, nil, fmt.Errorf("%w: DAC subject Vendor/Product ID 0x%04X/0x%04X, factory data 0x%04X/0x%04X",
			ErrMismatch, dv, dp, f.VendorID, f.ProductID)
	}
	pv, pp, hasPV, hasPP, err := nameIDs(pai.Subject)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("PAI: %w", err)
	}
	if !hasPV || pv != f.VendorID || hasPP && pp != f.ProductID {
		return nil, nil, nil, fmt.Errorf("%w: PAI subject Vendor/Product ID 0x%04X/0x%04X, factory data 0x%04X/0x%04X",
			ErrMismatch, pv, pp, f.VendorID, f.ProductID)
	}
	if paa != nil {
		av, _, hasAV, hasAP, err := nameIDs(paa.Subject)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("PAA: %w", err)
		}
		if hasAP || hasAV && av != f.VendorID {
			return nil, nil, nil, fmt.Errorf("%w: PAA subject carries a Product ID or Vendor ID 0x%04X", ErrMismatch, av)
		}
	}
	return dac, pai, paa, nil
}

// validateCD applies the Certification Declaration checks a commissioner
// makes (§6.3.1 and matter.js's DeviceAttestationValidator).
func (f *FactoryData) validateCD(dac, pai, paa *x509.Certificate) error {
	scd, err := ParseCertificationDeclaration(f.CD)
	if err != nil {
		return err
	}
	cd := scd.Content
	if cd.VendorID != f.VendorID {
		return fmt.Errorf("%w: CD vendor_id 0x%04X, factory data 0x%04X", ErrMismatch, cd.VendorID, f.VendorID)
	}
	if !containsPID(cd.ProductIDs, f.ProductID) {
		return fmt.Errorf("%w: CD product_id_array lacks 0x%04X", ErrMismatch, f.ProductID)
	}
	dv, dp, _, _, _ := nameIDs(dac.Subject)
	pv, pp, _, hasPP, _ := nameIDs(pai.Subject)
	if cd.DACOriginVendorID != nil {
		ov, op := *cd.DACOriginVendorID, *cd.DACOriginProductID
		if dv != ov || pv != ov || dp != op || hasPP && pp != op {
			return fmt.Errorf("%w: DAC/PAI Vendor or Product ID differs from the CD's dac_origin", ErrMismatch)
		}
	} else if dv != cd.VendorID || pv != cd.VendorID || !containsPID(cd.ProductIDs, dp) || hasPP && !containsPID(cd.ProductIDs, pp) {
		return fmt.Errorf("%w: DAC/PAI Vendor or Product ID not covered by the CD", ErrMismatch)
	}
	if len(cd.AuthorizedPAAs) > 0 && paa != nil {
		found := false
		for _, id := range cd.AuthorizedPAAs {
			found = found || bytes.Equal(id, paa.SubjectKeyId)
		}
		if !found {
			return fmt.Errorf("%w: the PAA is not in the CD's authorized_paa_list", ErrMismatch)
		}
	}
	if test := TestCDSigner(); bytes.Equal(scd.SignerKeyID, test.KeyID) {
		if err := scd.Verify(&test.Key.PublicKey); err != nil {
			return err
		}
	}
	return nil
}

func containsPID(ids []uint16, pid uint16) bool {
	for _, id := range ids {
		if id == pid {
			return true
		}
	}
	return false
}

// fileData is the JSON form of FactoryData. Octet strings are base64
// (standard alphabet, padded), as encoding/json writes []byte.
type fileData struct {
	Format                string        `json:"format"`
	VendorID              uint16        `json:"vendor_id"`
	ProductID             uint16        `json:"product_id"`
	VendorName            string        `json:"vendor_name"`
	ProductName           string        `json:"product_name"`
	HardwareVersion       uint16        `json:"hardware_version"`
	HardwareVersionString string        `json:"hardware_version_string"`
	ManufacturingDate     string        `json:"manufacturing_date,omitempty"`
	SerialNumber          string        `json:"serial_number"`
	UniqueID              string        `json:"unique_id"`
	Discriminator         uint16        `json:"discriminator"`
	Passcode              uint32        `json:"passcode,omitempty"`
	SPAKE2P               spake2pParams `json:"spake2p"`
	DACKey                []byte        `json:"dac_key"`
	DAC                   []byte        `json:"dac"`
	PAI                   []byte        `json:"pai"`
	PAA                   []byte        `json:"paa,omitempty"`
	CD                    []byte        `json:"cd"`
}

type spake2pParams struct {
	Iterations int    `json:"iterations"`
	Salt       []byte `json:"salt"`
	Verifier   []byte `json:"verifier"`
}

// Marshal returns the factory data file: one JSON object,
//
//	{
//	  "format": "mattercam-factory-data-v1",
//	  "vendor_id": 65521, "product_id": 32768,
//	  "vendor_name": "…", "product_name": "…",
//	  "hardware_version": 0, "hardware_version_string": "…",
//	  "manufacturing_date": "YYYYMMDD",          (optional)
//	  "serial_number": "…", "unique_id": "…",
//	  "discriminator": 3840,
//	  "passcode": 20202021,                      (only when StorePasscode)
//	  "spake2p": {"iterations": 1000, "salt": "<base64>", "verifier": "<base64 w0 ‖ L, 97 octets>"},
//	  "dac_key": "<base64 SEC 1 ECPrivateKey DER>",
//	  "dac": "<base64 DER>", "pai": "<base64 DER>", "paa": "<base64 DER>" (optional),
//	  "cd": "<base64 CMS DER>"
//	}
//
// Numbers are decimal. The certificates and key convert to PEM with
// "base64 -d | openssl x509 -inform DER" and "openssl ec -inform DER".
// The file holds the DAC private key: keep it readable by the firmware only.
func (f *FactoryData) Marshal() ([]byte, error) {
	if f.DACKey == nil {
		return nil, fmt.Errorf("%w: no DAC key", ErrInvalid)
	}
	key, err := x509.MarshalECPrivateKey(f.DACKey)
	if err != nil {
		return nil, fmt.Errorf("%w: DAC key: %w", ErrInvalid, err)
	}
	w := fileData{
		Format:                FileFormat,
		VendorID:              f.VendorID,
		ProductID:             f.ProductID,
		VendorName:            f.VendorName,
		ProductName:           f.ProductName,
		HardwareVersion:       f.HardwareVersion,
		HardwareVersionString: f.HardwareVersionString,
		ManufacturingDate:     f.ManufacturingDate,
		SerialNumber:          f.SerialNumber,
		UniqueID:              f.UniqueID,
		Discriminator:         f.Discriminator,
		SPAKE2P:               spake2pParams{Iterations: f.Iterations, Salt: f.Salt, Verifier: f.Verifier},
		DACKey:                key,
		DAC:                   f.DAC,
		PAI:                   f.PAI,
		PAA:                   f.PAA,
		CD:                    f.CD,
	}
	if f.StorePasscode {
		w.Passcode = f.Passcode
	}
	b, err := json.MarshalIndent(&w, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("attestation: %w", err)
	}
	return append(b, '\n'), nil
}

// Parse parses and validates a factory data file (see Marshal). Unknown
// fields, a different format name and trailing data are errors.
func Parse(b []byte) (*FactoryData, error) {
	if len(b) > MaxFileSize {
		return nil, fmt.Errorf("%w: factory data of %d octets exceeds %d", ErrInvalid, len(b), MaxFileSize)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var w fileData
	if err := dec.Decode(&w); err != nil {
		return nil, fmt.Errorf("%w: factory data: %w", ErrInvalid, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: factory data: data after the object", ErrInvalid)
	}
	if w.Format != FileFormat {
		return nil, fmt.Errorf("%w: factory data format %q, want %q", ErrInvalid, w.Format, FileFormat)
	}
	key, err := x509.ParseECPrivateKey(w.DACKey)
	if err != nil {
		return nil, fmt.Errorf("%w: DAC key: %w", ErrInvalid, err)
	}
	f := &FactoryData{
		VendorID:              w.VendorID,
		ProductID:             w.ProductID,
		VendorName:            w.VendorName,
		ProductName:           w.ProductName,
		HardwareVersion:       w.HardwareVersion,
		HardwareVersionString: w.HardwareVersionString,
		ManufacturingDate:     w.ManufacturingDate,
		SerialNumber:          w.SerialNumber,
		UniqueID:              w.UniqueID,
		Discriminator:         w.Discriminator,
		Iterations:            w.SPAKE2P.Iterations,
		Salt:                  w.SPAKE2P.Salt,
		Verifier:              w.SPAKE2P.Verifier,
		Passcode:              w.Passcode,
		StorePasscode:         w.Passcode != 0,
		DACKey:                key,
		DAC:                   w.DAC,
		PAI:                   w.PAI,
		PAA:                   w.PAA,
		CD:                    w.CD,
	}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	return f, nil
}

// Load reads and validates the factory data file at path. A missing file
// is reported as an error wrapping fs.ErrNotExist, for which the firmware
// falls back to Development.
func Load(path string) (*FactoryData, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("attestation: %w", err)
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("attestation: %w", err)
	}
	f, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// WriteFile writes the factory data file to path atomically, readable by
// its owner only (mode 0600): a temporary file in the same directory,
// synced, then renamed over path.
func (f *FactoryData) WriteFile(path string) error {
	b, err := f.Marshal()
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("attestation: %w", err)
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(b); err != nil {
		return fmt.Errorf("attestation: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("attestation: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("attestation: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		done = true
		return fmt.Errorf("attestation: %w", err)
	}
	done = true
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync() // make the rename durable where the file system allows
		d.Close()
	}
	return nil
}

// Flags defines, on fs, command-line flags that set o's fields, for a
// "factory" command. Vendor and Product IDs accept decimal or 0x
// hexadecimal. -development applies DevelopmentOptions' identity (seed,
// passcode, discriminator); flags after it override those.
func (o *Options) Flags(fs *flag.FlagSet) {
	id := func(dst *uint16) func(string) error {
		return func(s string) error {
			v, err := strconv.ParseUint(s, 0, 16)
			*dst = uint16(v)
			return err
		}
	}
	fs.Func("vendor-id", "Vendor `ID` (default 0xFFF1, a test vendor)", id(&o.VendorID))
	fs.Func("product-id", "Product `ID` (default 0x8000)", id(&o.ProductID))
	fs.StringVar(&o.VendorName, "vendor-name", o.VendorName, "BasicInformation VendorName (default \"mattercam\")")
	fs.StringVar(&o.ProductName, "product-name", o.ProductName, "BasicInformation ProductName (default \"mattercam camera\")")
	fs.Func("hardware-version", "hardware `version` number", id(&o.HardwareVersion))
	fs.StringVar(&o.HardwareVersionString, "hardware-version-string", o.HardwareVersionString, "hardware version `string` (default \"1\")")
	fs.StringVar(&o.ManufacturingDate, "manufacturing-date", o.ManufacturingDate, "manufacturing `date`, YYYYMMDD")
	fs.StringVar(&o.SerialNumber, "serial-number", o.SerialNumber, "serial `number` (default: random)")
	fs.StringVar(&o.UniqueID, "unique-id", o.UniqueID, "BasicInformation UniqueID (default: random)")
	fs.Func("discriminator", "12-bit `discriminator` (default: random)", func(s string) error {
		v, err := strconv.ParseUint(s, 0, 12)
		d := uint16(v)
		o.Discriminator = &d
		return err
	})
	fs.Func("passcode", "setup `passcode` (default: random)", func(s string) error {
		v, err := strconv.ParseUint(s, 10, 27)
		o.Passcode = uint32(v)
		return err
	})
	fs.BoolVar(&o.StorePasscode, "store-passcode", o.StorePasscode, "keep the passcode in the file, for printing the onboarding codes later")
	fs.IntVar(&o.Iterations, "iterations", o.Iterations, "PBKDF iteration `count` (default 1000)")
	fs.Func("device-type", "CD device_type_id (default 0x0142, Camera)", func(s string) error {
		v, err := strconv.ParseUint(s, 0, 32)
		o.DeviceTypeID = uint32(v)
		return err
	})
	fs.Func("certification-type", "CD certification_type: 0 development (default), 1 provisional", func(s string) error {
		v, err := strconv.ParseUint(s, 10, 8)
		if err == nil && v > 1 {
			err = errors.New("only 0 and 1 can be signed outside the CSA")
		}
		o.CertificationType = CertificationType(v)
		return err
	})
	fs.Func("seed", "derive everything from this `string`, reproducibly (default: random)", func(s string) error {
		o.Seed = []byte(s)
		return nil
	})
	fs.BoolFunc("development", "the built-in development identity (VID 0xFFF1, PID 0x8000, passcode 20202021, discriminator 3840)", func(string) error {
		d := DevelopmentOptions()
		o.Seed, o.Passcode, o.Discriminator, o.StorePasscode, o.SerialNumber = d.Seed, d.Passcode, d.Discriminator, true, d.SerialNumber
		return nil
	})
}
