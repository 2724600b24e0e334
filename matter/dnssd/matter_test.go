package dnssd

import (
	"errors"
	"net"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestCommissionable(t *testing.T) {
	tests := []struct {
		name     string
		p        CommissionableParams
		subtypes []string
		txt      []string
	}{
		{
			name: "camera in commissioning mode",
			p: CommissionableParams{
				Instance: "0123456789ABCDEF", Discriminator: 3840, VendorID: 65521, ProductID: 32768,
				DeviceType: 0x0142, DeviceName: "Camera", CommissioningMode: CommissioningBasic, PairingHint: 33,
				Common: CommonParams{SessionIdleInterval: 500 * time.Millisecond, SessionActiveInterval: 300 * time.Millisecond,
					SessionActiveThreshold: 4 * time.Second, TCP: TCPClient | TCPServer},
			},
			subtypes: []string{"_S15", "_L3840", "_V65521", "_T322", "_CM"},
			txt:      []string{"D=3840", "VP=65521+32768", "CM=1", "DT=322", "DN=Camera", "PH=33", "SII=500", "SAI=300", "SAT=4000", "T=6"},
		},
		{
			name:     "minimal, not in commissioning mode",
			p:        CommissionableParams{Instance: "X", Discriminator: 0},
			subtypes: []string{"_S0", "_L0"},
			txt:      []string{"D=0", "CM=0"},
		},
		{
			name: "vendor without product, enhanced mode, rotating id and instruction",
			p: CommissionableParams{Instance: "X", Discriminator: 4095, VendorID: 1, CommissioningMode: CommissioningEnhanced,
				RotatingID: "0a0b", PairingInstruction: "press the button", Common: CommonParams{TCP: TCPServer, ICD: ICDLIT}},
			subtypes: []string{"_S15", "_L4095", "_V1", "_CM"},
			txt:      []string{"D=4095", "VP=1", "CM=2", "RI=0A0B", "PI=press the button", "T=4", "ICD=1"},
		},
		{
			name:     "short discriminator is the upper four bits",
			p:        CommissionableParams{Instance: "X", Discriminator: 0x2FF},
			subtypes: []string{"_S2", "_L767"},
			txt:      []string{"D=767", "CM=0"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Commissionable(tt.p)
			if err != nil {
				t.Fatal(err)
			}
			if s.Type != TypeCommissionable || s.Port != DefaultPort || s.Instance != tt.p.Instance {
				t.Errorf("service = %+v", s)
			}
			if !slices.Equal(s.Subtypes, tt.subtypes) {
				t.Errorf("subtypes = %q, want %q", s.Subtypes, tt.subtypes)
			}
			if !slices.Equal(s.TXT, tt.txt) {
				t.Errorf("TXT = %q, want %q", s.TXT, tt.txt)
			}
		})
	}
}

func TestCommissionableRandomInstance(t *testing.T) {
	a, err := Commissionable(CommissionableParams{Discriminator: 1})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Commissionable(CommissionableParams{Discriminator: 1})
	hex16 := regexp.MustCompile(`^[0-9A-F]{16}$`)
	if !hex16.MatchString(a.Instance) || !hex16.MatchString(b.Instance) {
		t.Fatalf("instances %q %q are not 16 uppercase hex digits", a.Instance, b.Instance)
	}
	if a.Instance == b.Instance {
		t.Fatalf("two random instance names are equal: %q", a.Instance)
	}
}

func TestCommissionableInvalid(t *testing.T) {
	tests := []struct {
		name string
		p    CommissionableParams
	}{
		{"discriminator over 12 bits", CommissionableParams{Discriminator: 4096}},
		{"commissioning mode 3", CommissionableParams{CommissioningMode: 3}},
		{"device name too long", CommissionableParams{DeviceName: strings.Repeat("n", 33)}},
		{"rotating id not hex", CommissionableParams{RotatingID: "xyz"}},
		{"rotating id too long", CommissionableParams{RotatingID: strings.Repeat("ab", 51)}},
		{"pairing instruction too long", CommissionableParams{PairingInstruction: strings.Repeat("p", 129)}},
		{"SII over an hour", CommissionableParams{Common: CommonParams{SessionIdleInterval: time.Hour + time.Millisecond}}},
		{"SAT over 16 bits", CommissionableParams{Common: CommonParams{SessionActiveThreshold: 65536 * time.Millisecond}}},
		{"T reserved bit", CommissionableParams{Common: CommonParams{TCP: 1}}},
		{"ICD mode", CommissionableParams{Common: CommonParams{ICD: 7}}},
		{"instance too long", CommissionableParams{Instance: strings.Repeat("i", 64)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Commissionable(tt.p); !errors.Is(err, ErrInvalidService) {
				t.Fatalf("err = %v, want ErrInvalidService", err)
			}
		})
	}
}

func TestOperational(t *testing.T) {
	cfid := [8]byte{0x87, 0xE1, 0xB0, 0x04, 0xE2, 0x35, 0xA1, 0x30}
	s, err := Operational(cfid, 0x8FC7772401CD0696, OperationalParams{Common: CommonParams{
		SessionIdleInterval: 5 * time.Second, TCP: TCPServer | TCPClient}})
	if err != nil {
		t.Fatal(err)
	}
	want := Service{
		Instance: "87E1B004E235A130-8FC7772401CD0696",
		Type:     "_matter._tcp",
		Subtypes: []string{"_I87E1B004E235A130"},
		Port:     5540,
		TXT:      []string{"SII=5000", "T=6"},
	}
	if s.Instance != want.Instance || s.Type != want.Type || s.Port != want.Port ||
		!slices.Equal(s.Subtypes, want.Subtypes) || !slices.Equal(s.TXT, want.TXT) {
		t.Fatalf("got %+v\nwant %+v", s, want)
	}
	if got := OperationalInstanceName([8]byte{}, 1); got != "0000000000000000-0000000000000001" {
		t.Fatalf("zero-padded name = %q", got)
	}
}

func TestHostNameFromMAC(t *testing.T) {
	tests := []struct {
		hw   net.HardwareAddr
		want string
		ok   bool
	}{
		{net.HardwareAddr{0x02, 0xfc, 0x00, 0x00, 0x00, 0x01}, "02FC00000001", true},
		{net.HardwareAddr{0xb7, 0x5a, 0xfb, 0x45, 0x8e, 0xcd, 0x01, 0x02}, "B75AFB458ECD0102", true},
		{net.HardwareAddr{1, 2, 3}, "", false},
		{nil, "", false},
	}
	for _, tt := range tests {
		got, err := HostNameFromMAC(tt.hw)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("HostNameFromMAC(%v) = %q, %v; want %q ok=%v", tt.hw, got, err, tt.want, tt.ok)
		}
	}
}

func TestServiceValidate(t *testing.T) {
	ok := Service{Instance: "Cam", Type: "_matterc._udp", Port: 5540, Subtypes: []string{"_L1"}, TXT: []string{"D=1", "flag"}}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid service: %v", err)
	}
	mod := func(f func(*Service)) Service { s := ok.Clone(); f(&s); return s }
	tests := []struct {
		name string
		s    Service
	}{
		{"empty instance", mod(func(s *Service) { s.Instance = "" })},
		{"control char", mod(func(s *Service) { s.Instance = "a\x01" })},
		{"no proto", mod(func(s *Service) { s.Type = "_matterc" })},
		{"bad proto", mod(func(s *Service) { s.Type = "_matterc._sctp" })},
		{"no underscore", mod(func(s *Service) { s.Type = "matterc._udp" })},
		{"service name 16 chars", mod(func(s *Service) { s.Type = "_abcdefghijklmnop._udp" })},
		{"bad service char", mod(func(s *Service) { s.Type = "_a_b._udp" })},
		{"port 0", mod(func(s *Service) { s.Port = 0 })},
		{"subtype with dot", mod(func(s *Service) { s.Subtypes = []string{"_L1._sub"} })},
		{"empty subtype", mod(func(s *Service) { s.Subtypes = []string{""} })},
		{"duplicate subtype", mod(func(s *Service) { s.Subtypes = []string{"_CM", "_cm"} })},
		{"too many subtypes", mod(func(s *Service) { s.Subtypes = make([]string, MaxSubtypes+1) })},
		{"TXT entry 256 bytes", mod(func(s *Service) { s.TXT = []string{"k=" + strings.Repeat("v", 254)} })},
		{"TXT empty entry", mod(func(s *Service) { s.TXT = []string{""} })},
		{"TXT empty key", mod(func(s *Service) { s.TXT = []string{"=v"} })},
		{"TXT duplicate key", mod(func(s *Service) { s.TXT = []string{"D=1", "d=2"} })},
		{"TXT key not ASCII", mod(func(s *Service) { s.TXT = []string{"ké=1"} })},
		{"TXT total too big", mod(func(s *Service) {
			s.TXT = nil
			for i := range 6 {
				s.TXT = append(s.TXT, string(rune('a'+i))+"="+strings.Repeat("v", 250))
			}
		})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.s.Validate(); !errors.Is(err, ErrInvalidService) {
				t.Fatalf("err = %v, want ErrInvalidService", err)
			}
		})
	}
	// 255 bytes per string is the limit, not beyond it (RFC 6763 §6.1).
	edge := mod(func(s *Service) { s.TXT = []string{"k=" + strings.Repeat("v", 253)} })
	if err := edge.Validate(); err != nil {
		t.Fatalf("255-byte TXT string rejected: %v", err)
	}
}
