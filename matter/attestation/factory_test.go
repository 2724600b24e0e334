package attestation

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/asn1"
	"encoding/json"
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mattercam/mattercam/matter/cert"
	"github.com/mattercam/mattercam/matter/crypto"
)

func development(t testing.TB) *FactoryData {
	t.Helper()
	f, err := Development()
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestDevelopment(t *testing.T) {
	f := development(t)
	if f.VendorID != 0xFFF1 || f.ProductID != 0x8000 || f.Passcode != 20202021 || f.Discriminator != 3840 || !f.StorePasscode {
		t.Errorf("development identity %#x/%#x passcode %d discriminator %d", f.VendorID, f.ProductID, f.Passcode, f.Discriminator)
	}
	// The same on every call: a development device keeps its identity.
	g := development(t)
	a, _ := f.Marshal()
	b, _ := g.Marshal()
	if !bytes.Equal(a, b) {
		t.Error("Development differs between calls")
	}
	// The verifier is the one PASE needs for the passcode.
	v, err := crypto.ComputePasscodeVerifier(20202021, f.Salt, f.Iterations)
	if err != nil || !bytes.Equal(v.Bytes(), f.Verifier) {
		t.Errorf("verifier does not match passcode 20202021: %v", err)
	}
	// A random generation is different, and valid.
	r, err := Generate(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(r.DAC, f.DAC) || r.Passcode == 0 || !crypto.ValidPasscode(r.Passcode) || r.StorePasscode {
		t.Errorf("random generation: passcode %d, store %v", r.Passcode, r.StorePasscode)
	}
}

// The chain verifies with crypto/x509 from the PAA as the only root.
func TestChainVerifies(t *testing.T) {
	f := development(t)
	parse := func(der []byte) *x509.Certificate {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	paa, pai, dac := parse(f.PAA), parse(f.PAI), parse(f.DAC)
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(paa)
	inter.AddCert(pai)
	chains, err := dac.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}, CurrentTime: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if len(chains) != 1 || len(chains[0]) != 3 {
		t.Errorf("chains %v", chains)
	}
	// Not under another PAA.
	other, err := Generate(Options{Seed: []byte("other")})
	if err != nil {
		t.Fatal(err)
	}
	roots = x509.NewCertPool()
	roots.AddCert(parse(other.PAA))
	if _, err := dac.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err == nil {
		t.Error("DAC verifies under a foreign PAA")
	}
}

// The profiles of §6.2.2: name attributes, extensions and their
// criticality, key identifiers, path lengths, sizes. Each certificate also
// passes the repository's own Matter certificate parser, which reads the
// Vendor and Product IDs independently.
func TestCertificateProfiles(t *testing.T) {
	f := development(t)
	tests := []struct {
		role     certRole
		der      []byte
		issuer   []byte
		vid, pid uint16 // 0: absent
		isCA     bool
		pathLen  int
		usage    x509.KeyUsage
	}{
		{rolePAA, f.PAA, f.PAA, 0, 0, true, 1, x509.KeyUsageCertSign | x509.KeyUsageCRLSign},
		{rolePAI, f.PAI, f.PAA, 0xFFF1, 0x8000, true, 0, x509.KeyUsageCertSign | x509.KeyUsageCRLSign},
		{roleDAC, f.DAC, f.PAI, 0xFFF1, 0x8000, false, -1, x509.KeyUsageDigitalSignature},
	}
	for _, tc := range tests {
		t.Run(tc.role.String(), func(t *testing.T) {
			if len(tc.der) > 600 {
				t.Errorf("%d octets", len(tc.der))
			}
			c, _ := x509.ParseCertificate(tc.der)
			issuer, _ := x509.ParseCertificate(tc.issuer)
			if c.IsCA != tc.isCA || c.KeyUsage != tc.usage || tc.isCA && c.MaxPathLen != tc.pathLen {
				t.Errorf("CA %v pathlen %d usage %v", c.IsCA, c.MaxPathLen, c.KeyUsage)
			}
			critical := map[string]bool{}
			for _, e := range c.Extensions {
				critical[e.Id.String()] = e.Critical
			}
			for oid, crit := range map[string]bool{"2.5.29.19": true, "2.5.29.15": true, "2.5.29.14": false, "2.5.29.35": false} {
				if c, ok := critical[oid]; !ok || c != crit {
					t.Errorf("extension %s present %v critical %v, want present, critical %v", oid, ok, c, crit)
				}
			}
			pub, _ := crypto.MarshalPublicKey(c.PublicKey.(*ecdsa.PublicKey))
			if sum := sha1.Sum(pub); !bytes.Equal(c.SubjectKeyId, sum[:]) {
				t.Error("subject key identifier is not SHA-1 of the key")
			}
			if !bytes.Equal(c.AuthorityKeyId, issuer.SubjectKeyId) {
				t.Error("authority key identifier is not the issuer's")
			}
			// The attributes are UTF8Strings (tag 12) of 4 uppercase digits.
			for _, want := range []struct {
				oid asn1.ObjectIdentifier
				v   uint16
			}{{OIDVendorID, tc.vid}, {OIDProductID, tc.pid}} {
				raw := utf8Attr(t, c.RawSubject, want.oid)
				switch {
				case want.v == 0 && raw != "":
					t.Errorf("unexpected %v = %q", want.oid, raw)
				case want.v != 0 && raw != hex4(want.v):
					t.Errorf("%v = %q, want UTF8String %q", want.oid, raw, hex4(want.v))
				}
			}
			mc, err := cert.FromX509(tc.der)
			if err != nil {
				t.Fatalf("matter/cert rejects it: %v", err)
			}
			v, hasV := mc.Subject.VendorID()
			p, hasP := mc.Subject.ProductID()
			if hasV != (tc.vid != 0) || v != tc.vid || hasP != (tc.pid != 0) || p != tc.pid {
				t.Errorf("matter/cert reads VID %#x (%v) PID %#x (%v)", v, hasV, p, hasP)
			}
		})
	}
}

// utf8Attr returns the value of the attribute oid in a DER name when it is
// a UTF8String, "" when absent, and fails on another string type.
func utf8Attr(t *testing.T, name []byte, oid asn1.ObjectIdentifier) string {
	t.Helper()
	var rdns []asn1.RawValue
	if _, err := asn1.Unmarshal(name, &rdns); err != nil {
		t.Fatal(err)
	}
	for _, r := range rdns {
		var attrs []struct {
			Type  asn1.ObjectIdentifier
			Value asn1.RawValue
		}
		if _, err := asn1.UnmarshalWithParams(r.FullBytes, &attrs, "set"); err != nil {
			t.Fatal(err)
		}
		for _, a := range attrs {
			if a.Type.Equal(oid) {
				if a.Value.Tag != asn1.TagUTF8String {
					t.Fatalf("%v is string type %d, want UTF8String", oid, a.Value.Tag)
				}
				return string(a.Value.Bytes)
			}
		}
	}
	return ""
}

func TestFactoryFileRoundTrip(t *testing.T) {
	for _, store := range []bool{true, false} {
		f, err := Generate(Options{Seed: []byte("round trip"), StorePasscode: store, ManufacturingDate: "20250102",
			VendorName: "Example", ProductName: "Cam", HardwareVersion: 3, HardwareVersionString: "rev C"})
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "factory.json")
		if err := f.WriteFile(path); err != nil {
			t.Fatal(err)
		}
		if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("file mode %v, %v", st.Mode(), err)
		}
		g, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		want := *f
		if !store {
			want.Passcode = 0
		}
		a, _ := want.Marshal()
		b, _ := g.Marshal()
		if !bytes.Equal(a, b) || g.Passcode != want.Passcode || g.StorePasscode != store {
			t.Errorf("store %v: loaded data differs\n%s\n%s", store, a, b)
		}
		raw, _ := os.ReadFile(path)
		if store != strings.Contains(string(raw), `"passcode"`) {
			t.Errorf("store %v, file:\n%s", store, raw)
		}
		if !g.DACKey.Equal(f.DACKey) {
			t.Error("DAC key changed")
		}
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.json")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}
}

// Every check of Validate, by breaking one thing at a time.
func TestValidationErrors(t *testing.T) {
	other, err := Generate(Options{Seed: []byte("other"), ProductID: 0x8001})
	if err != nil {
		t.Fatal(err)
	}
	otherVendor, err := Generate(Options{Seed: []byte("other vendor"), VendorID: 0xFFF2})
	if err != nil {
		t.Fatal(err)
	}
	otherKey, _ := crypto.GenerateKey()
	tests := []struct {
		name string
		edit func(*FactoryData)
		want error
	}{
		{"Vendor ID 0", func(f *FactoryData) { f.VendorID = 0 }, ErrInvalid},
		{"Vendor ID differs", func(f *FactoryData) { f.VendorID = 0xFFF2 }, ErrMismatch},
		{"Product ID differs", func(f *FactoryData) { f.ProductID = 0x8001 }, ErrMismatch},
		{"long vendor name", func(f *FactoryData) { f.VendorName = strings.Repeat("v", 33) }, ErrInvalid},
		{"empty hardware version string", func(f *FactoryData) { f.HardwareVersionString = "" }, ErrInvalid},
		{"long serial", func(f *FactoryData) { f.SerialNumber = strings.Repeat("1", 33) }, ErrInvalid},
		{"bad date", func(f *FactoryData) { f.ManufacturingDate = "2025-01-02" }, ErrInvalid},
		{"discriminator 4096", func(f *FactoryData) { f.Discriminator = 4096 }, ErrInvalid},
		{"iterations 999", func(f *FactoryData) { f.Iterations = 999 }, ErrInvalid},
		{"salt 15 octets", func(f *FactoryData) { f.Salt = f.Salt[:15] }, ErrInvalid},
		{"verifier garbage", func(f *FactoryData) { f.Verifier = bytes.Repeat([]byte{0xFF}, 97) }, ErrInvalid},
		{"passcode 11111111", func(f *FactoryData) { f.Passcode = 11111111 }, ErrInvalid},
		{"wrong passcode", func(f *FactoryData) { f.Passcode = 20202022 }, ErrMismatch},
		{"other salt", func(f *FactoryData) { f.Salt = bytes.Repeat([]byte{1}, 32) }, ErrMismatch},
		{"no DAC key", func(f *FactoryData) { f.DACKey = nil }, ErrInvalid},
		{"DAC key of another DAC", func(f *FactoryData) { f.DACKey = otherKey }, ErrChain},
		{"DAC not a certificate", func(f *FactoryData) { f.DAC = []byte{0x30, 0x00} }, ErrInvalid},
		{"PAI as DAC", func(f *FactoryData) { f.DAC = f.PAI }, ErrInvalid},
		{"DAC as PAI", func(f *FactoryData) { f.PAI = f.DAC }, ErrInvalid},
		{"PAI of another chain", func(f *FactoryData) { f.PAI = other.PAI }, ErrChain},
		{"PAA of another chain", func(f *FactoryData) { f.PAA = other.PAA }, ErrChain},
		{"DAC and key of another product", func(f *FactoryData) { f.DAC, f.DACKey, f.PAI = other.DAC, other.DACKey, other.PAI; f.PAA = other.PAA }, ErrMismatch},
		{"CD of another product", func(f *FactoryData) { f.CD = other.CD }, ErrMismatch},
		{"CD of another vendor", func(f *FactoryData) { f.CD = otherVendor.CD }, ErrMismatch},
		{"CD not CMS", func(f *FactoryData) { f.CD = []byte{1, 2, 3} }, ErrInvalid},
		{"CD signature tampered", func(f *FactoryData) { f.CD[len(f.CD)-5] ^= 1 }, ErrSignature},
	}
	for _, tc := range tests {
		f := development(t)
		tc.edit(f)
		if err := f.Validate(); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestParseRejects(t *testing.T) {
	good, err := development(t).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Parse(good); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(good, &m); err != nil {
		t.Fatal(err)
	}
	edit := func(k string, v any) []byte {
		c := map[string]any{}
		for kk, vv := range m {
			c[kk] = vv
		}
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		b, _ := json.Marshal(c)
		return b
	}
	for name, b := range map[string][]byte{
		"empty":          nil,
		"not JSON":       []byte("vendor_id = 1"),
		"unknown field":  edit("colour", "blue"),
		"other format":   edit("format", "mattercam-factory-data-v2"),
		"no DAC key":     edit("dac_key", nil),
		"bad DAC key":    edit("dac_key", "AAAA"),
		"trailing data":  append(bytes.Clone(good), []byte("{}")...),
		"too large":      append(bytes.Clone(good), bytes.Repeat([]byte(" "), MaxFileSize)...),
		"wrong passcode": edit("passcode", 20202022),
		"wrong type":     edit("vendor_id", "FFF1"),
	} {
		if _, err := Parse(b); !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrMismatch) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// Generate's options reach the data, and an existing PAI can issue the DAC.
func TestGenerateOptions(t *testing.T) {
	d := uint16(77)
	f, err := Generate(Options{Seed: []byte("options"), VendorID: 0xFFF2, ProductID: 0x1234, Discriminator: &d, Passcode: 34567890,
		Iterations: 2000, DeviceTypeID: 0x0016, CertificationType: CertificationProvisional, CertificateID: "ZIG20142ZB330003-24",
		VendorScopedPAA: true})
	if err != nil {
		t.Fatal(err)
	}
	if f.Discriminator != 77 || f.Passcode != 34567890 || f.Iterations != 2000 || f.VendorID != 0xFFF2 || f.ProductID != 0x1234 {
		t.Errorf("fields %+v", f)
	}
	scd, err := ParseCertificationDeclaration(f.CD)
	if err != nil {
		t.Fatal(err)
	}
	if c := scd.Content; c.VendorID != 0xFFF2 || c.ProductIDs[0] != 0x1234 || c.DeviceTypeID != 0x16 ||
		c.CertificationType != CertificationProvisional || c.CertificateID != "ZIG20142ZB330003-24" {
		t.Errorf("CD %+v", c)
	}
	paa, _ := x509.ParseCertificate(f.PAA)
	if utf8Attr(t, paa.RawSubject, OIDVendorID) != "FFF2" {
		t.Error("vendor-scoped PAA lacks the Vendor ID")
	}

	// Issue a second device under the first one's PAI.
	paiKey, err := keySource{seed: []byte("options")}.key("PAI")
	if err != nil {
		t.Fatal(err)
	}
	g, err := Generate(Options{Seed: []byte("second device"), VendorID: 0xFFF2, ProductID: 0x1234,
		PAI: &Issuer{Cert: f.PAI, Key: paiKey}, PAA: f.PAA})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(g.PAI, f.PAI) || bytes.Equal(g.DAC, f.DAC) {
		t.Error("second device does not share the PAI or repeats the DAC")
	}
	if _, err := Generate(Options{VendorID: 0xFFF1, PAI: &Issuer{Cert: f.PAI, Key: paiKey}}); !errors.Is(err, ErrMismatch) {
		t.Errorf("DAC for VID 0xFFF1 under a 0xFFF2 PAI: %v, want ErrMismatch", err)
	}
	if _, err := Generate(Options{Passcode: 12345678}); !errors.Is(err, ErrInvalid) {
		t.Errorf("passcode 12345678: %v", err)
	}
	if _, err := Generate(Options{CertificateID: "short"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("short certificate ID: %v", err)
	}
}

func TestFlags(t *testing.T) {
	var o Options
	fs := flag.NewFlagSet("factory", flag.ContinueOnError)
	o.Flags(fs)
	err := fs.Parse([]string{"-development", "-vendor-id", "0xFFF2", "-product-id", "4660", "-passcode", "34567890",
		"-discriminator", "0xABC", "-serial-number", "SN1", "-certification-type", "1", "-device-type", "0x142"})
	if err != nil {
		t.Fatal(err)
	}
	if o.VendorID != 0xFFF2 || o.ProductID != 4660 || o.Passcode != 34567890 || *o.Discriminator != 0xABC ||
		o.SerialNumber != "SN1" || o.CertificationType != 1 || o.DeviceTypeID != 0x142 || !o.StorePasscode ||
		!bytes.Equal(o.Seed, developmentSeed) {
		t.Errorf("options %+v", o)
	}
	for _, bad := range [][]string{{"-vendor-id", "0x10000"}, {"-discriminator", "4096"}, {"-certification-type", "2"}, {"-passcode", "x"}} {
		fs := flag.NewFlagSet("factory", flag.ContinueOnError)
		fs.SetOutput(new(bytes.Buffer))
		(&Options{}).Flags(fs)
		if fs.Parse(bad) == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
