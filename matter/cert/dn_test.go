package cert

import (
	"bytes"
	"slices"
	"testing"
)

func TestDNAccessors(t *testing.T) {
	d := DN{
		{Type: AttrNodeID, Value: 0x1234},
		{Type: AttrFabricID, Value: 0xFAB},
		{Type: AttrCAT, Value: 0xABCD_0001},
		{Type: AttrCommonName, String: "cam", Printable: true},
		{Type: AttrCAT, Value: 0x0001_0002},
	}
	if v, ok := d.NodeID(); !ok || v != 0x1234 {
		t.Errorf("NodeID = %X, %v", v, ok)
	}
	if v, ok := d.FabricID(); !ok || v != 0xFAB {
		t.Errorf("FabricID = %X, %v", v, ok)
	}
	for name, f := range map[string]func() (uint64, bool){
		"RCACID": d.RCACID, "ICACID": d.ICACID, "FirmwareSigningID": d.FirmwareSigningID,
	} {
		if _, ok := f(); ok {
			t.Errorf("%s present", name)
		}
	}
	if _, ok := d.VendorID(); ok {
		t.Error("VendorID present")
	}
	if cats := d.CATs(); !slices.Equal(cats, []CAT{0xABCD_0001, 0x0001_0002}) {
		t.Errorf("CATs = %v", cats)
	}
	// Two of a kind is not an answer.
	two := append(slices.Clone(d), Attribute{Type: AttrNodeID, Value: 5})
	if _, ok := two.NodeID(); ok {
		t.Error("NodeID with two node IDs")
	}
	want := `matter-node-id=0000000000001234, matter-fabric-id=0000000000000FAB, matter-noc-cat=ABCD0001, ` +
		`CN="cam" (PrintableString), matter-noc-cat=00010002`
	if got := d.String(); got != want {
		t.Errorf("String() = %s\nwant       %s", got, want)
	}
}

func TestDNEqual(t *testing.T) {
	a := DN{{Type: AttrRCACID, Value: 1}, {Type: AttrOrganizationName, String: "CSA"}}
	tests := []struct {
		name string
		b    DN
		want bool
	}{
		{"same", DN{{Type: AttrRCACID, Value: 1}, {Type: AttrOrganizationName, String: "CSA"}}, true},
		{"other order", DN{{Type: AttrOrganizationName, String: "CSA"}, {Type: AttrRCACID, Value: 1}}, false},
		{"PrintableString", DN{{Type: AttrRCACID, Value: 1}, {Type: AttrOrganizationName, String: "CSA", Printable: true}}, false},
		{"other value", DN{{Type: AttrRCACID, Value: 2}, {Type: AttrOrganizationName, String: "CSA"}}, false},
		{"prefix", DN{{Type: AttrRCACID, Value: 1}}, false},
		{"empty", nil, false},
	}
	for _, tt := range tests {
		if got := a.Equal(tt.b); got != tt.want {
			t.Errorf("%s: Equal = %v", tt.name, got)
		}
	}
}

func TestAttributeCheck(t *testing.T) {
	good := []Attribute{
		{Type: AttrCommonName, String: "Any UTF-8 ✓"},
		{Type: AttrCountryName, String: "US", Printable: true},
		{Type: AttrOrganizationName, String: "A-Z a-z 0-9 '()+,-./:=?", Printable: true},
		{Type: AttrDomainComponent, String: "example"},
		{Type: AttrNodeID, Value: 1<<64 - 1},
		{Type: AttrCAT, Value: 0xFFFF_FFFF},
		{Type: AttrVendorID, Value: 0xFFFF},
	}
	for _, a := range good {
		if err := a.check(); err != nil {
			t.Errorf("check(%+v) = %v", a, err)
		}
	}
	bad := []Attribute{
		{Type: 0},
		{Type: 24},
		{Type: AttrCommonName, String: "\xc3"},
		{Type: AttrCommonName, String: "x", Value: 1},
		{Type: AttrCommonName, String: "a@b", Printable: true},
		{Type: AttrDomainComponent, String: "é"},
		{Type: AttrDomainComponent, String: "x", Printable: true},
		{Type: AttrNodeID, Value: 1, Printable: true},
		{Type: AttrNodeID, String: "1"},
		{Type: AttrCAT, Value: 1 << 32},
		{Type: AttrProductID, Value: 0x10000},
	}
	for _, a := range bad {
		if err := a.check(); err == nil {
			t.Errorf("check(%+v) succeeded", a)
		}
	}
}

// Every attribute type survives DER and, where it has a tag, TLV.
func TestDNEncodings(t *testing.T) {
	var d DN
	for typ := range attrInfos {
		info := attrInfos[typ]
		switch info.kind {
		case kindString:
			d = append(d, Attribute{Type: typ, String: "v" + typ.String()}, Attribute{Type: typ, String: "P", Printable: true})
		case kindIA5:
			d = append(d, Attribute{Type: typ, String: "dc"})
		default:
			d = append(d, Attribute{Type: typ, Value: maxAttrValue(info.kind) - 1})
		}
	}
	slices.SortStableFunc(d, func(a, b Attribute) int { return int(a.Type) - int(b.Type) })
	var w derWriter
	d.appendDER(&w)
	r := derReader{w.buf}
	content, err := r.read(tagSequence)
	if err != nil {
		t.Fatal(err)
	}
	back, err := parseDNDER(content)
	if err != nil {
		t.Fatalf("parseDNDER: %v", err)
	}
	if !back.Equal(d) {
		t.Fatalf("DER round trip: %v\nwant %v", back, d)
	}

	// The attributes with TLV tags, in a certificate.
	tlvOnly := slices.DeleteFunc(slices.Clone(d), func(a Attribute) bool { return !a.Type.hasTLVTag() })
	base := newTestChain(t).noc
	for chunk := range slices.Chunk(tlvOnly, 8) {
		c := base.clone()
		c.Subject = chunk
		b, err := c.EncodeTLV()
		if err != nil {
			t.Fatalf("EncodeTLV: %v", err)
		}
		dec, err := DecodeTLV(b)
		if err != nil {
			t.Fatalf("DecodeTLV: %v", err)
		}
		if !dec.Subject.Equal(c.Subject) {
			t.Errorf("TLV round trip changed %v", c.Subject)
		}
		der1, _ := c.X509DER()
		der2, _ := dec.X509DER()
		if !bytes.Equal(der1, der2) {
			t.Errorf("DER differs after the TLV round trip")
		}
	}
}

func TestCAT(t *testing.T) {
	c := CAT(0xABCD_0102)
	if c.Identifier() != 0xABCD || c.Version() != 0x0102 || !c.Valid() || c.String() != "ABCD0102" {
		t.Errorf("CAT %v: %04X %04X %v", c, c.Identifier(), c.Version(), c.Valid())
	}
	if CAT(0xABCD_0000).Valid() {
		t.Error("version 0 is valid")
	}
}

func TestIsOperationalNodeID(t *testing.T) {
	for id, want := range map[uint64]bool{
		0: false, 1: true, 0xFFFF_FFEF_FFFF_FFFF: true, 0xFFFF_FFF0_0000_0000: false,
		0xFFFF_FFFB_0000_0001: false, 0xFFFF_FFFF_FFFF_FFFF: false,
	} {
		if IsOperationalNodeID(id) != want {
			t.Errorf("IsOperationalNodeID(%X) = %v", id, !want)
		}
	}
}

func TestKind(t *testing.T) {
	for name, want := range map[string]Kind{
		"Root01": KindRCAC, "ICA01": KindICAC, "Node01_01": KindNOC, "FWSign01": KindFirmwareSigning, "PDCID01": KindUnknown,
	} {
		if got := mustDecode(t, name).Kind(); got != want {
			t.Errorf("%s: Kind = %v, want %v", name, got, want)
		}
	}
	c := &Certificate{Subject: DN{{Type: AttrRCACID, Value: 1}, {Type: AttrNodeID, Value: 1}}}
	if c.Kind() != KindUnknown {
		t.Errorf("two identifiers: %v", c.Kind())
	}
}
