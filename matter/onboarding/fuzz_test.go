package onboarding

import (
	"errors"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func checkSentinel(t *testing.T, err error) {
	t.Helper()
	for _, s := range []error{ErrMalformed, ErrUnsupported, ErrInvalidPasscode, ErrInvalidDiscriminator} {
		if errors.Is(err, s) {
			return
		}
	}
	t.Fatalf("error wraps no sentinel: %v", err)
}

// FuzzParseQR: ParseQR never panics, fails only with a sentinel, and what
// it accepts re-encodes to the same text (base-38 has one encoding per
// value, and ParseQR rejects everything QR would not produce).
func FuzzParseQR(f *testing.F) {
	for _, v := range qrVectors {
		f.Add(v.qr)
	}
	f.Add("MT:M5L90MP500K64J00000*M5L90U.D010K4J00000")
	f.Add("MT:M5L90MP500W-GT68D20")
	f.Add(must(Payload{VendorID: 1, ProductID: 2, Discriminator: 3, Passcode: 4,
		TLV: []byte{0x15, 0x2C, 0x00, 0x02, 'S', 'N', 0x18}}.QR()))
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseQR(s)
		if err != nil {
			checkSentinel(t, err)
			return
		}
		again, err := p.QR()
		if err != nil || again != s {
			t.Fatalf("ParseQR(%q) = %+v, which encodes to %q, %v", s, p, again, err)
		}
		if _, err := p.ManualCode(); err != nil {
			t.Fatalf("accepted payload has no manual code: %v", err)
		}
	})
}

// FuzzParseManualCode: ParseManualCode never panics, fails only with a
// sentinel, and what it accepts re-encodes to the same digits.
func FuzzParseManualCode(f *testing.F) {
	for _, v := range manualVectors {
		f.Add(v.code)
	}
	f.Add("3497-011-2332")
	f.Add("0-0-0-0-0-1-0-0-0-0-7")
	f.Add("02684354589")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseManualCode(s)
		if err != nil {
			checkSentinel(t, err)
			return
		}
		digits := strings.NewReplacer("-", "", " ", "").Replace(s)
		again, err := p.ManualCode()
		if err != nil || again != digits {
			t.Fatalf("ParseManualCode(%q) = %+v, which encodes to %q, %v", s, p, again, err)
		}
		if _, err := p.QR(); !errors.Is(err, ErrInvalidDiscriminator) {
			t.Fatalf("QR of a manual-code payload: %v, want ErrInvalidDiscriminator", err)
		}
	})
}

// FuzzPayloadRoundTrip: any payload QR accepts parses back unchanged, and
// its manual code carries the same passcode and short discriminator.
func FuzzPayloadRoundTrip(f *testing.F) {
	f.Add(uint16(0xFFF1), uint16(0x8000), uint8(0), uint8(4), uint16(3840), uint32(20202021))
	f.Add(uint16(0), uint16(0), uint8(2), uint8(0xFF), uint16(4095), uint32(99999998))
	f.Fuzz(func(t *testing.T, vid, pid uint16, flow, disc uint8, d uint16, pass uint32) {
		p := Payload{VendorID: vid, ProductID: pid, CommissioningFlow: CommissioningFlow(flow),
			DiscoveryCapabilities: DiscoveryCapabilities(disc), Discriminator: d, Passcode: pass}
		s, err := p.QR()
		if err != nil {
			checkSentinel(t, err)
			return
		}
		q, err := ParseQR(s)
		if err != nil || !equal(p, q) {
			t.Fatalf("%+v → %q → %+v, %v", p, s, q, err)
		}
		code, err := p.ManualCode()
		if err != nil {
			t.Fatal(err)
		}
		m, err := ParseManualCode(code)
		if err != nil || m.Passcode != p.Passcode || m.ShortDiscriminatorValue() != p.ShortDiscriminatorValue() ||
			(p.CommissioningFlow != FlowStandard) != (len(code) == LongManualCodeLength) {
			t.Fatalf("%+v → %q → %+v, %v", p, code, m, err)
		}
		if p.CommissioningFlow != FlowStandard && (m.VendorID != vid || m.ProductID != pid) {
			t.Fatalf("%+v → %q lost the Vendor or Product ID: %+v", p, code, m)
		}
	})
}

// A phone-like reader scans the symbol Payload.QRCode draws: zbarimg reads
// it back, and the text parses to the same payload.
func TestQRCodeScans(t *testing.T) {
	zbar, err := exec.LookPath("zbarimg")
	if err != nil {
		t.Skip("zbarimg not installed (Debian package zbar-tools; scripts/deps installs it)")
	}
	for _, v := range qrVectors {
		code, err := v.p.QRCode()
		if err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(t.TempDir(), "qr.png")
		fh, err := os.Create(file)
		if err != nil {
			t.Fatal(err)
		}
		if err := png.Encode(fh, code.Image(4, 4)); err != nil {
			t.Fatal(err)
		}
		if err := fh.Close(); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(zbar, "--quiet", "--raw", file).Output()
		if err != nil {
			t.Fatalf("zbarimg: %v", err)
		}
		got := strings.TrimSuffix(string(out), "\n")
		if got != v.qr {
			t.Errorf("zbarimg read %q, want %q", got, v.qr)
		}
		if p, err := ParseQR(got); err != nil || !equal(p, v.p) {
			t.Errorf("ParseQR(%q) = %+v, %v", got, p, err)
		}
	}
}
