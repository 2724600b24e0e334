package onboarding

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// Published QR code payloads. Sources:
//   - sdk: connectedhomeip src/setup_payload/tests/TestHelpers.h
//     (kDefaultPayloadQRCode).
//   - sdk-apps: the payload the SDK example apps print and its test scripts
//     and Darwin framework tests commission with ("--qr-code
//     MT:-24J0AFN00KA0648G00"): VID 0xFFF1 with PID 0x8001, not 0x8000.
//   - matter.js: encoded by @matter/types 0.17.9 QrPairingCodeCodec
//     (test/node_modules), an independent implementation.
//   - nordic: the example of Nordic's setup payload module documentation
//     ('MT:8IXS142C00KA0648G00', discriminator 3840, passcode 20202021).
//   - esp: an Espressif test device README (shubhamdp/esp_ota), whose
//     manual code is checked in TestManualCodeVectors.
var qrVectors = []struct {
	source string
	qr     string
	p      Payload
}{
	{"sdk", "MT:M5L90MP500K64J00000",
		Payload{VendorID: 12, ProductID: 1, DiscoveryCapabilities: SoftAP, Discriminator: 128, Passcode: 2048}},
	{"sdk-apps, matter.js", "MT:-24J0AFN00KA0648G00",
		Payload{VendorID: 0xFFF1, ProductID: 0x8001, DiscoveryCapabilities: OnNetwork, Discriminator: 3840, Passcode: 20202021}},
	{"matter.js", "MT:Y.K90AFN00KA0648G00",
		Payload{VendorID: 0xFFF1, ProductID: 0x8000, DiscoveryCapabilities: OnNetwork, Discriminator: 3840, Passcode: 20202021}},
	{"matter.js", "MT:Y.K9042C00KA0648G00",
		Payload{VendorID: 0xFFF1, ProductID: 0x8000, DiscoveryCapabilities: BLE, Discriminator: 3840, Passcode: 20202021}},
	{"nordic", "MT:8IXS142C00KA0648G00",
		Payload{VendorID: 0xFFF1, ProductID: 0x8006, DiscoveryCapabilities: BLE, Discriminator: 3840, Passcode: 20202021}},
	{"esp", "MT:634J0CEK01938S2KV00",
		Payload{VendorID: 0xFFF2, ProductID: 0x8001, DiscoveryCapabilities: BLE, Discriminator: 2777, Passcode: 39267232}},
}

func TestQRVectors(t *testing.T) {
	for _, v := range qrVectors {
		t.Run(v.qr, func(t *testing.T) {
			got, err := v.p.QR()
			if err != nil || got != v.qr {
				t.Errorf("QR() = %q, %v; want %q (%s)", got, err, v.qr, v.source)
			}
			p, err := ParseQR(v.qr)
			if err != nil {
				t.Fatalf("ParseQR: %v", err)
			}
			if !equal(p, v.p) {
				t.Errorf("ParseQR = %+v, want %+v", p, v.p)
			}
		})
	}
}

func equal(a, b Payload) bool {
	return a.Version == b.Version && a.VendorID == b.VendorID && a.ProductID == b.ProductID &&
		a.CommissioningFlow == b.CommissioningFlow && a.DiscoveryCapabilities == b.DiscoveryCapabilities &&
		a.Discriminator == b.Discriminator && a.ShortDiscriminator == b.ShortDiscriminator &&
		a.Passcode == b.Passcode && bytes.Equal(a.TLV, b.TLV)
}

// The packed bits of the SDK's default payload, written as the SDK's
// TestPayloadByteArrayRep does: padding, passcode, discriminator,
// discovery, flow, product, vendor, version, most significant field first.
func TestQRBitLayout(t *testing.T) {
	const want = "0000 000000000000000100000000000 000010000000 00000001 00 0000000000000001 0000000000001100 000"
	p := qrVectors[0].p
	data, err := decodeBase38(strings.TrimPrefix(must(p.QR()), QRPrefix))
	if err != nil {
		t.Fatal(err)
	}
	var bits strings.Builder
	for i := len(data)*8 - 1; i >= 0; i-- {
		bits.WriteByte('0' + data[i/8]>>uint(i%8)&1)
	}
	if got := strings.ReplaceAll(want, " ", ""); bits.String() != got {
		t.Errorf("packed bits\n got %s\nwant %s", bits.String(), got)
	}
}

func must(s string, err error) string {
	if err != nil {
		panic(err)
	}
	return s
}

// Base-38 vectors of connectedhomeip src/setup_payload/tests/TestQRCode.cpp
// (TestBase38).
func TestBase38(t *testing.T) {
	tests := []struct {
		in  []byte
		out string
	}{
		{nil, ""},
		{[]byte{10}, "A0"},
		{[]byte{10, 10}, "OT10"},
		{[]byte{10, 10, 10}, "-N.B0"},
		{[]byte{10, 10, 0}, "OT100"},
		{[]byte{10, 10, 40}, "Y6V91"},
		{[]byte{10, 10, 41}, "KL0B1"},
		{[]byte{10, 10, 255}, "Q-M08"},
		{[]byte{35}, "Z0"},
		{[]byte{255, 0}, "R600"},
		{[]byte{46, 0, 0}, "81000"},
		{[]byte{255}, "R6"},
		{[]byte{255, 255}, "NE71"},
		{[]byte{255, 255, 255}, "PLS18"},
		{[]byte("Hello World!"), "KKHF3W2S013OPM3EJX11"},
		{[]byte{0, 1}, "S600"},
		{[]byte{0, 0, 1}, "OE710"},
	}
	for _, tc := range tests {
		if got := string(appendBase38(nil, tc.in)); got != tc.out {
			t.Errorf("encode %v = %q, want %q", tc.in, got, tc.out)
		}
		got, err := decodeBase38(tc.out)
		if err != nil || !bytes.Equal(got, tc.in) && len(tc.in) > 0 {
			t.Errorf("decode %q = %v, %v; want %v", tc.out, got, err, tc.in)
		}
	}
	// Over-range chunks and impossible lengths, also from TestBase38.
	for _, bad := range []string{"S6", "OE71", "QLS18", "0", "000", "A0B", "[0", " 0", "a0", "$0", "%0", "*0", "0\x01"} {
		if _, err := decodeBase38(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("decode %q: %v, want ErrMalformed", bad, err)
		}
	}
}

func TestQRRejects(t *testing.T) {
	valid := Payload{VendorID: 0xFFF1, ProductID: 0x8000, DiscoveryCapabilities: OnNetwork, Discriminator: 3840, Passcode: 20202021}
	tests := []struct {
		name string
		edit func(*Payload)
		want error
	}{
		{"passcode 0", func(p *Payload) { p.Passcode = 0 }, ErrInvalidPasscode},
		{"passcode 11111111", func(p *Payload) { p.Passcode = 11111111 }, ErrInvalidPasscode},
		{"passcode 99999999", func(p *Payload) { p.Passcode = 99999999 }, ErrInvalidPasscode},
		{"passcode 12345678", func(p *Payload) { p.Passcode = 12345678 }, ErrInvalidPasscode},
		{"passcode 87654321", func(p *Payload) { p.Passcode = 87654321 }, ErrInvalidPasscode},
		{"passcode 99999999+1", func(p *Payload) { p.Passcode = 100000000 }, ErrInvalidPasscode},
		{"passcode 2^27", func(p *Payload) { p.Passcode = 1 << 27 }, ErrInvalidPasscode},
		{"discriminator 4096", func(p *Payload) { p.Discriminator = 4096 }, ErrInvalidDiscriminator},
		{"short discriminator", func(p *Payload) { p.ShortDiscriminator = true }, ErrInvalidDiscriminator},
		{"version 1", func(p *Payload) { p.Version = 1 }, ErrUnsupported},
		{"flow 3", func(p *Payload) { p.CommissioningFlow = 3 }, ErrUnsupported},
		{"TLV not a structure", func(p *Payload) { p.TLV = []byte{0x04, 0x01} }, ErrMalformed},
		{"TLV anonymous member", func(p *Payload) { p.TLV = []byte{0x15, 0x04, 0x01, 0x18} }, ErrMalformed},
		{"TLV trailing", func(p *Payload) { p.TLV = []byte{0x15, 0x18, 0x00} }, ErrMalformed},
		{"TLV unterminated", func(p *Payload) { p.TLV = []byte{0x15, 0x24, 0x00, 0x01} }, ErrMalformed},
		{"too long", func(p *Payload) { p.TLV = append(append([]byte{0x15, 0x30, 0x80, 200}, make([]byte, 200)...), 0x18) }, ErrMalformed},
	}
	for _, tc := range tests {
		p := valid
		tc.edit(&p)
		if _, err := p.QR(); !errors.Is(err, tc.want) {
			t.Errorf("%s: QR() error %v, want %v", tc.name, err, tc.want)
		}
	}
	// The passcode checks apply to the manual code too, except the short
	// discriminator, which is all a manual code carries.
	for _, tc := range tests[:8] {
		p := valid
		tc.edit(&p)
		if _, err := p.ManualCode(); !errors.Is(err, tc.want) {
			t.Errorf("%s: ManualCode() error %v, want %v", tc.name, err, tc.want)
		}
	}
}

// Payloads with optional TLV data survive the round trip. The serial
// number (context tag 0) is a UTF-8 string; 0x80 is a vendor tag.
func TestQRWithTLV(t *testing.T) {
	p := Payload{VendorID: 0xFFF1, ProductID: 0x8000, DiscoveryCapabilities: OnNetwork, Discriminator: 3840, Passcode: 20202021,
		TLV: []byte{0x15, 0x2C, 0x00, 0x04, 'S', 'N', '4', '2', 0x24, 0x80, 0x07, 0x18}}
	s, err := p.QR()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseQR(s)
	if err != nil || !equal(got, p) {
		t.Fatalf("ParseQR(%q) = %+v, %v", s, got, err)
	}
}

func TestParseQRRejects(t *testing.T) {
	tests := []struct {
		in   string
		want error
	}{
		{"", ErrMalformed},
		{"MT:", ErrMalformed},
		{"AT:M5L90MP500K64J00000", ErrMalformed},
		{"mt:M5L90MP500K64J00000", ErrMalformed},
		{"MT:M5L90MP500K64J0000", ErrMalformed},  // one character short: a 4-char chunk over range, or too short
		{"MT:M5L90MP500K64J0000 ", ErrMalformed}, // space is not base-38 (TestInvalidQRCodePayload_WrongCharacterSet)
		{"MT:M5L90MP500K64J00000*M5L90U.D010K4J00000", ErrUnsupported},
		// Passcode 111111111, from TestPopulatePayloadsMarginalValues: well
		// formed, but no valid payload.
		{"MT:M5L90MP500W-GT68D20", ErrInvalidPasscode},
		{"MT:" + strings.Repeat("0", 300), ErrMalformed},
	}
	for _, tc := range tests {
		if p, err := ParseQR(tc.in); !errors.Is(err, tc.want) {
			t.Errorf("ParseQR(%q) = %+v, %v; want %v", tc.in, p, err, tc.want)
		}
	}
	// Non-zero padding bits, version 1 and flow 3, made by hand.
	base := []byte{0x88, 0xFF, 0x07, 0x00, 0x04, 0x80, 0x00, 0x1E, 0x25, 0x43, 0x01}
	for name, edit := range map[string]func([]byte){
		"padding": func(b []byte) { b[10] |= 0x10 },
		"version": func(b []byte) { b[0] |= 1 },
		"flow 3":  func(b []byte) { b[4] |= 0x18 },
	} {
		b := bytes.Clone(base)
		if _, err := ParseQR(string(appendBase38([]byte(QRPrefix), b))); err != nil {
			t.Fatalf("base payload does not parse: %v", err)
		}
		edit(b)
		if _, err := ParseQR(string(appendBase38([]byte(QRPrefix), b))); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// Manual pairing codes. Sources:
//   - sdk: connectedhomeip src/setup_payload/tests/TestManualCode.cpp
//     (digits without the check digit there; the check digit here is the
//     one matter.js computes for the same digits);
//   - matter.js: @matter/types 0.17.9 ManualPairingCodeCodec;
//   - esp: the Espressif README of TestQRVectors.
var manualVectors = []struct {
	source string
	code   string
	p      Payload // as ParseManualCode returns it
}{
	{"matter.js, SDK apps", "34970112332",
		Payload{Discriminator: 0xF00, ShortDiscriminator: true, Passcode: 20202021}},
	{"matter.js", "749701123365521327687",
		Payload{VendorID: 0xFFF1, ProductID: 0x8000, CommissioningFlow: FlowCustom, Discriminator: 0xF00, ShortDiscriminator: true, Passcode: 20202021}},
	{"sdk, matter.js", "529276236304562000322",
		Payload{VendorID: 4562, ProductID: 32, CommissioningFlow: FlowCustom, Discriminator: 1280, ShortDiscriminator: true, Passcode: 38728284}},
	{"sdk, matter.js", "00000100007",
		Payload{ShortDiscriminator: true, Passcode: 1}},
	{"matter.js", "757598610365535655351",
		Payload{VendorID: 0xFFFF, ProductID: 0xFFFF, CommissioningFlow: FlowCustom, Discriminator: 0xF00, ShortDiscriminator: true, Passcode: 99999998}},
	{"esp", "24393623965",
		Payload{Discriminator: 2777 &^ 0xFF, ShortDiscriminator: true, Passcode: 39267232}},
}

func TestManualCodeVectors(t *testing.T) {
	for _, v := range manualVectors {
		t.Run(v.code, func(t *testing.T) {
			got, err := v.p.ManualCode()
			if err != nil || got != v.code {
				t.Errorf("ManualCode() = %q, %v; want %q (%s)", got, err, v.code, v.source)
			}
			p, err := ParseManualCode(v.code)
			if err != nil || !equal(p, v.p) {
				t.Errorf("ParseManualCode = %+v, %v; want %+v", p, err, v.p)
			}
		})
	}
	// The full discriminator is accepted and reduced to its upper bits.
	full := Payload{VendorID: 0xFFF1, ProductID: 0x8000, DiscoveryCapabilities: OnNetwork, Discriminator: 3840, Passcode: 20202021}
	if code, err := full.ManualCode(); err != nil || code != "34970112332" {
		t.Errorf("ManualCode of the default development payload = %q, %v", code, err)
	}
}

func TestParseManualCodeForms(t *testing.T) {
	for _, s := range []string{"3497-011-2332", "3497 011 2332", "34970112332"} {
		if p, err := ParseManualCode(s); err != nil || p.Passcode != 20202021 {
			t.Errorf("ParseManualCode(%q) = %+v, %v", s, p, err)
		}
	}
	withCheck := func(d string) string { return d + string(verhoeffCheck(d)) }
	tests := []struct {
		in   string
		want error
	}{
		{"", ErrMalformed},
		{"-34970112332", ErrMalformed},                    // separator before the first digit
		{"34970112332-", ErrMalformed},                    // or after the last
		{" 34970112332", ErrMalformed},                    //
		{"34970112332\n", ErrMalformed},                   //
		{"3497_011_2332", ErrMalformed},                   // not a separator
		{"3497011233\u00e92", ErrMalformed},               // non-ASCII
		{"34970112333", ErrMalformed},                     // wrong check digit
		{"02684354589", ErrMalformed},                     // wrong check digit (SDK)
		{"74970112336552132768" + "0", ErrMalformed},      // wrong check digit, long code
		{"3497011233", ErrMalformed},                      // 10 digits
		{"349701123322", ErrMalformed},                    // 12 digits
		{"12345678901234567890123", ErrMalformed},         // 23 digits
		{strings.Repeat("1", 60), ErrMalformed},           // far too long
		{"24184.21960", ErrMalformed},                     // invalid character (SDK)
		{withCheck("23456789123456785610"), ErrMalformed}, // short-code flag with 21 digits (SDK)
		{withCheck("4970112336"), ErrMalformed},           // long-code flag with 11 digits
		{withCheck("3999991233"), ErrMalformed},           // digits 2-6 above 65535
		{withCheck("74970112339999932768"), ErrMalformed}, // Vendor ID above 65535
		{withCheck("74970112336552199999"), ErrMalformed}, // Product ID above 65535
		{withCheck("8123456789"), ErrUnsupported},         // version bit set
		{withCheck("2327680000"), ErrInvalidPasscode},     // passcode 0 (SDK)
		{withCheck("2361087535"), ErrInvalidPasscode},     // passcode 123456780 (SDK's, above today's limit)
		{"0000 0100007", nil},                             // spaces anywhere inside are fine
		{"0-0-0-0-0-1-0-0-0-0-7", nil},                    // and hyphens
		{"757598610365535655351", nil},                    // the largest long code
	}
	for _, tc := range tests {
		_, err := ParseManualCode(tc.in)
		if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("ParseManualCode(%q): %v, want %v", tc.in, err, tc.want)
		}
	}
}

// Verhoeff check digits from the literature: the worked example of
// Wikipedia's "Verhoeff algorithm" article (236 → 3) and the SDK's manual
// code digits.
func TestVerhoeff(t *testing.T) {
	for digits, want := range map[string]byte{
		"236":                  '3',
		"3497011233":           '2',
		"0000010000":           '7',
		"52927623630456200032": '2',
		"":                     '0',
	} {
		if got := verhoeffCheck(digits); got != want {
			t.Errorf("check digit of %q = %c, want %c", digits, got, want)
		}
		if !verhoeffValid(digits + string(want)) {
			t.Errorf("%q%c does not validate", digits, want)
		}
	}
	// Every single-digit substitution and every adjacent transposition of
	// a code is detected, the property the check digit exists for.
	code := "34970112332"
	for i := range code {
		for d := byte('0'); d <= '9'; d++ {
			if d == code[i] {
				continue
			}
			mod := code[:i] + string(d) + code[i+1:]
			if verhoeffValid(mod) {
				t.Errorf("substitution %q validates", mod)
			}
		}
		if i+1 < len(code) && code[i] != code[i+1] {
			mod := code[:i] + string(code[i+1]) + string(code[i]) + code[i+2:]
			if verhoeffValid(mod) {
				t.Errorf("transposition %q validates", mod)
			}
		}
	}
}

// The tables are those of Verhoeff's scheme: D is the dihedral group D5
// (rotations r_k = k, reflections s_k = 5 + k, with r_j r_k = r_(j+k),
// r_j s_k = s_(j+k), s_j r_k = s_(j-k), s_j s_k = r_(j-k)), P row i is the
// i-th power of row 1, and Inv inverts D.
func TestVerhoeffTables(t *testing.T) {
	for j := range 10 {
		for k := range 10 {
			var want int
			switch {
			case j < 5 && k < 5:
				want = (j + k) % 5
			case j < 5:
				want = 5 + (j+k-5)%5
			case k < 5:
				want = 5 + (j-5-k+5)%5
			default:
				want = (j - k + 5) % 5
			}
			if int(verhoeffD[j][k]) != want {
				t.Errorf("D[%d][%d] = %d, want %d", j, k, verhoeffD[j][k], want)
			}
		}
		if verhoeffD[j][verhoeffInv[j]] != 0 {
			t.Errorf("Inv[%d] = %d is not the inverse", j, verhoeffInv[j])
		}
	}
	for i := 1; i < 8; i++ {
		for k := range 10 {
			if verhoeffP[i][k] != verhoeffP[1][verhoeffP[i-1][k]] {
				t.Errorf("P[%d][%d] is not P[1] applied to P[%d][%d]", i, k, i-1, k)
			}
		}
	}
	for k := range 10 {
		if verhoeffP[1][verhoeffP[7][k]] != uint8(k) {
			t.Errorf("P[1] does not have order 8 at %d", k)
		}
	}
}

func TestFormatManualCode(t *testing.T) {
	for in, want := range map[string]string{
		"34970112332":           "3497-011-2332",
		"749701123365521327687": "749701123365521327687",
		"3497-011-2332":         "3497-011-2332",
		"123":                   "123",
	} {
		if got := FormatManualCode(in); got != want {
			t.Errorf("FormatManualCode(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestBanner(t *testing.T) {
	p := Payload{VendorID: 0xFFF1, ProductID: 0x8000, DiscoveryCapabilities: OnNetwork, Discriminator: 3840, Passcode: 20202021}
	b, err := p.Banner()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Manual pairing code: 3497-011-2332\n", "QR code payload:     MT:Y.K90AFN00KA0648G00\n", "█"} {
		if !strings.Contains(b, want) {
			t.Errorf("banner lacks %q:\n%s", want, b)
		}
	}
	p.Passcode = 0
	if _, err := p.Banner(); !errors.Is(err, ErrInvalidPasscode) {
		t.Errorf("banner of an invalid payload: %v", err)
	}
}

func TestShortDiscriminatorValue(t *testing.T) {
	if got := (Payload{Discriminator: 3840}).ShortDiscriminatorValue(); got != 15 {
		t.Errorf("ShortDiscriminatorValue(3840) = %d, want 15", got)
	}
	if got := (Payload{Discriminator: 2777}).ShortDiscriminatorValue(); got != 10 {
		t.Errorf("ShortDiscriminatorValue(2777) = %d, want 10", got)
	}
}
