package cert

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/mattercam/mattercam/matter/tlv"
)

// mutateTLV decodes the TLV of a vector into a tree, lets edit change it and
// re-encodes it.
func mutateTLV(tb testing.TB, name string, edit func(top *tlv.Element)) []byte {
	tb.Helper()
	top, err := tlv.Decode(vectorByName(tb, name).tlv)
	if err != nil {
		tb.Fatal(err)
	}
	edit(&top)
	b, err := top.Encode()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// field returns the member of a structure or list with context tag n.
func field(e *tlv.Element, n uint8) *tlv.Element {
	for i := range e.Members {
		if e.Members[i].Tag == tlv.ContextTag(n) {
			return &e.Members[i]
		}
	}
	panic("no such field")
}

func uintElem(tag tlv.Tag, v uint64) tlv.Element {
	return tlv.Element{Tag: tag, Type: tlv.TypeUint, Uint: v}
}

func bytesElem(tag tlv.Tag, b []byte) tlv.Element {
	return tlv.Element{Tag: tag, Type: tlv.TypeBytes, Bytes: b}
}

func stringElem(tag tlv.Tag, s string) tlv.Element {
	return tlv.Element{Tag: tag, Type: tlv.TypeString, Bytes: []byte(s)}
}

func TestDecodeTLVRejects(t *testing.T) {
	ctx := tlv.ContextTag
	root01 := vectorByName(t, "Root01").tlv
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrMalformed},
		{"truncated", root01[:len(root01)-1], ErrMalformed},
		{"trailing octet", append(slices.Clone(root01), 0x18), ErrMalformed},
		{"trailing element", append(slices.Clone(root01), 0x04, 0x01), ErrMalformed},
		{"too long", append(slices.Clone(root01), make([]byte, MaxTLVSize)...), ErrMalformed},
		{"array", mutateTLV(t, "Root01", func(e *tlv.Element) { e.Type = tlv.TypeArray; stripTags(e) }), ErrMalformed},
		{"tagged structure", mutateTLV(t, "Root01", func(e *tlv.Element) { e.Tag = ctx(1) }), ErrMalformed},
		{"missing signature", mutateTLV(t, "Root01", func(e *tlv.Element) { e.Members = e.Members[:10] }), ErrMalformed},
		{"fields out of order", mutateTLV(t, "Root01", func(e *tlv.Element) {
			e.Members[3], e.Members[4] = e.Members[4], e.Members[3]
		}), ErrMalformed},
		{"unknown field", mutateTLV(t, "Root01", func(e *tlv.Element) {
			e.Members = append(e.Members, uintElem(ctx(12), 0))
		}), ErrMalformed},
		{"signature algorithm", mutateTLV(t, "Root01", func(e *tlv.Element) { field(e, 2).Uint = 2 }), ErrUnsupported},
		{"public key algorithm", mutateTLV(t, "Root01", func(e *tlv.Element) { field(e, 7).Uint = 2 }), ErrUnsupported},
		{"curve", mutateTLV(t, "Root01", func(e *tlv.Element) { field(e, 8).Uint = 2 }), ErrUnsupported},
		{"signature algorithm as string", mutateTLV(t, "Root01", func(e *tlv.Element) {
			*field(e, 2) = stringElem(ctx(2), "1")
		}), ErrMalformed},
		{"public key off the curve", mutateTLV(t, "Root01", func(e *tlv.Element) {
			k := slices.Clone(field(e, 9).Bytes)
			k[64] ^= 1
			field(e, 9).Bytes = k
		}), ErrMalformed},
		{"public key compressed", mutateTLV(t, "Root01", func(e *tlv.Element) {
			field(e, 9).Bytes = append([]byte{0x02}, field(e, 9).Bytes[1:33]...)
		}), ErrMalformed},
		{"short signature", mutateTLV(t, "Root01", func(e *tlv.Element) {
			field(e, 11).Bytes = field(e, 11).Bytes[:63]
		}), ErrMalformed},
		{"zero signature", mutateTLV(t, "Root01", func(e *tlv.Element) { field(e, 11).Bytes = make([]byte, 64) }), ErrMalformed},
		{"empty serial", mutateTLV(t, "Root01", func(e *tlv.Element) { field(e, 1).Bytes = nil }), ErrMalformed},
		{"long serial", mutateTLV(t, "Root01", func(e *tlv.Element) { field(e, 1).Bytes = append([]byte{1}, make([]byte, 20)...) }), ErrMalformed},
		{"negative serial", mutateTLV(t, "Root01", func(e *tlv.Element) { field(e, 1).Bytes = []byte{0x80} }), ErrMalformed},
		{"non-minimal serial", mutateTLV(t, "Root01", func(e *tlv.Element) { field(e, 1).Bytes = []byte{0, 1} }), ErrMalformed},
		{"empty issuer", mutateTLV(t, "Root01", func(e *tlv.Element) { field(e, 3).Members = nil }), ErrMalformed},
		{"issuer as structure", mutateTLV(t, "Root01", func(e *tlv.Element) { field(e, 3).Type = tlv.TypeStructure }), ErrMalformed},
		{"unknown attribute", mutateTLV(t, "Root01", func(e *tlv.Element) {
			field(e, 6).Members = append(field(e, 6).Members, uintElem(ctx(24), 1))
		}), ErrMalformed},
		{"printable Matter attribute", mutateTLV(t, "Root01", func(e *tlv.Element) {
			field(e, 6).Members[0].Tag = ctx(0x80 | 20)
		}), ErrMalformed},
		{"printable domainComponent", mutateTLV(t, "Root01", func(e *tlv.Element) {
			field(e, 6).Members = append(field(e, 6).Members, stringElem(ctx(0x80|16), "example"))
		}), ErrMalformed},
		{"bad PrintableString", mutateTLV(t, "Root01", func(e *tlv.Element) {
			field(e, 6).Members = append(field(e, 6).Members, stringElem(ctx(0x80|1), "a*b"))
		}), ErrMalformed},
		{"string Matter attribute", mutateTLV(t, "Root01", func(e *tlv.Element) {
			field(e, 6).Members[0] = stringElem(ctx(20), "CACACACA00000001")
		}), ErrMalformed},
		{"integer common name", mutateTLV(t, "Root01", func(e *tlv.Element) {
			field(e, 6).Members = append(field(e, 6).Members, uintElem(ctx(1), 5))
		}), ErrMalformed},
		{"64-bit CAT", mutateTLV(t, "Node02_03", func(e *tlv.Element) {
			m := field(e, 6).Members
			m[len(m)-1].Uint = 1 << 32
		}), ErrMalformed},
		{"anonymous attribute", mutateTLV(t, "Root01", func(e *tlv.Element) {
			field(e, 6).Members = append(field(e, 6).Members, uintElem(tlv.AnonymousTag(), 1))
		}), ErrMalformed},
		{"not-before beyond 32 bits", mutateTLV(t, "Root01", func(e *tlv.Element) { field(e, 4).Uint = 1 << 32 }), ErrMalformed},
		{"no extensions", mutateTLV(t, "Root01", func(e *tlv.Element) { field(e, 10).Members = nil }), ErrMalformed},
		{"duplicate key usage", mutateTLV(t, "Root01", func(e *tlv.Element) {
			x := field(e, 10)
			x.Members = append(x.Members, uintElem(ctx(2), 1))
		}), ErrMalformed},
		{"unknown extension", mutateTLV(t, "Root01", func(e *tlv.Element) {
			x := field(e, 10)
			x.Members = append(x.Members, uintElem(ctx(7), 1))
		}), ErrMalformed},
		{"zero key usage", mutateTLV(t, "Root01", func(e *tlv.Element) { field(field(e, 10), 2).Uint = 0 }), ErrMalformed},
		{"undefined key usage bit", mutateTLV(t, "Root01", func(e *tlv.Element) { field(field(e, 10), 2).Uint = 0x200 }), ErrMalformed},
		{"empty extended key usage", mutateTLV(t, "Node01_01", func(e *tlv.Element) { field(field(e, 10), 3).Members = nil }), ErrMalformed},
		{"unknown key purpose", mutateTLV(t, "Node01_01", func(e *tlv.Element) { field(field(e, 10), 3).Members[0].Uint = 7 }), ErrMalformed},
		{"extended key usage as list", mutateTLV(t, "Node01_01", func(e *tlv.Element) { field(field(e, 10), 3).Type = tlv.TypeList }), ErrMalformed},
		{"short subject key ID", mutateTLV(t, "Root01", func(e *tlv.Element) {
			k := field(field(e, 10), 4)
			k.Bytes = k.Bytes[:19]
		}), ErrMalformed},
		{"path length over 255", mutateTLV(t, "Root02", func(e *tlv.Element) {
			field(field(field(e, 10), 1), 2).Uint = 256
		}), ErrMalformed},
		{"basic constraints without is-ca", mutateTLV(t, "Root01", func(e *tlv.Element) {
			field(field(e, 10), 1).Members = nil
		}), ErrMalformed},
		{"basic constraints with extra member", mutateTLV(t, "Root02", func(e *tlv.Element) {
			bc := field(field(e, 10), 1)
			bc.Members = append(bc.Members, uintElem(ctx(3), 1))
		}), ErrMalformed},
		{"future extension not DER", mutateTLV(t, "Root01", func(e *tlv.Element) {
			x := field(e, 10)
			x.Members = append(x.Members, bytesElem(ctx(6), []byte{0x30, 0x05, 0x06}))
		}), ErrMalformed},
		{"future extension with a standard OID", mutateTLV(t, "Root01", func(e *tlv.Element) {
			x := field(e, 10)
			x.Members = append(x.Members, bytesElem(ctx(6), unhex(t, "3009 0603551d13 04023000")))
		}), ErrMalformed},
		{"future extensions sharing an OID", mutateTLV(t, "Root01", func(e *tlv.Element) {
			x := field(e, 10)
			ext := unhex(t, "3009 06032a0304 04020500")
			x.Members = append(x.Members, bytesElem(ctx(6), ext), bytesElem(ctx(6), ext))
		}), ErrMalformed},
		{"future extension with explicit FALSE", mutateTLV(t, "Root01", func(e *tlv.Element) {
			x := field(e, 10)
			x.Members = append(x.Members, bytesElem(ctx(6), unhex(t, "300c 06032a0304 010100 04020500")))
		}), ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := DecodeTLV(tt.in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("DecodeTLV = %v, %v; want %v", c, err, tt.want)
			}
			t.Log(err)
		})
	}
}

// stripTags makes the members of e anonymous, as an array requires.
func stripTags(e *tlv.Element) {
	for i := range e.Members {
		e.Members[i].Tag = tlv.AnonymousTag()
	}
}

// Appendix A leaves integer and length widths to the sender. A certificate
// written with wider fields than needed decodes to the same certificate, and
// re-encodes canonically.
func TestDecodeTLVWidths(t *testing.T) {
	v := vectorByName(t, "Root01")
	// not-before: 26 04 ef171b27 (4-octet) becomes 27 04 ef171b27 00000000
	// (8-octet); sig-algo: 24 02 01 becomes 25 02 0100; the serial's
	// length 30 01 08 becomes 31 01 0800.
	wide := bytes.Replace(v.tlv, unhex(t, "2604ef171b27"), unhex(t, "2704ef171b2700000000"), 1)
	wide = bytes.Replace(wide, unhex(t, "240201"), unhex(t, "25020100"), 1)
	wide = bytes.Replace(wide, unhex(t, "300108"), unhex(t, "31010800"), 1)
	if len(wide) != len(v.tlv)+6 {
		t.Fatalf("edit failed: %x", wide)
	}
	c, err := DecodeTLV(wide)
	if err != nil {
		t.Fatalf("DecodeTLV: %v", err)
	}
	again, err := c.EncodeTLV()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, v.tlv) {
		t.Errorf("EncodeTLV = %x, want the canonical %x", again, v.tlv)
	}
	der, err := c.X509DER()
	if err != nil || !bytes.Equal(der, v.der) {
		t.Errorf("X509DER = %x, %v", der, err)
	}
}

func TestEncodeTLVRejects(t *testing.T) {
	ch := newTestChain(t)
	tests := []struct {
		name string
		edit func(c *Certificate)
		want error
	}{
		{"vendor ID", func(c *Certificate) {
			c.Subject = append(c.Subject, Attribute{Type: AttrVendorID, Value: 0xFFF1})
		}, ErrUnsupported},
		{"too long", func(c *Certificate) {
			c.Subject = append(c.Subject, Attribute{Type: AttrCommonName, String: strings.Repeat("x", 200)})
		}, ErrMalformed},
		{"no signature", func(c *Certificate) { c.Signature = nil }, ErrMalformed},
		{"no public key", func(c *Certificate) { c.PublicKey = nil }, ErrMalformed},
		{"no subject", func(c *Certificate) { c.Subject = nil }, ErrMalformed},
		{"path length without basic constraints", func(c *Certificate) {
			c.BasicConstraintsValid, c.HasPathLen = false, true
		}, ErrMalformed},
		{"not-before before the epoch", func(c *Certificate) { c.NotBefore = MatterEpoch.AddDate(0, 0, -1) }, ErrMalformed},
		{"not-after beyond 2136", func(c *Certificate) { c.NotAfter = maxMatterTime.AddDate(0, 0, 1) }, ErrMalformed},
		{"string attribute with a value", func(c *Certificate) {
			c.Subject = append(c.Subject, Attribute{Type: AttrCommonName, String: "x", Value: 1})
		}, ErrMalformed},
		{"unknown attribute type", func(c *Certificate) {
			c.Subject = append(c.Subject, Attribute{Type: 99})
		}, ErrMalformed},
		{"invalid UTF-8", func(c *Certificate) {
			c.Subject = append(c.Subject, Attribute{Type: AttrCommonName, String: "\xff"})
		}, ErrMalformed},
		{"no extensions", func(c *Certificate) {
			c.BasicConstraintsValid, c.KeyUsage, c.ExtKeyUsage, c.SubjectKeyID, c.AuthorityKeyID = false, 0, nil, nil, nil
		}, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ch.noc.clone()
			tt.edit(c)
			if _, err := c.EncodeTLV(); !errors.Is(err, tt.want) {
				t.Fatalf("EncodeTLV = %v, want %v", err, tt.want)
			}
		})
	}
}

// Extensions keep the order they were decoded in, and fields set later go
// after them.
func TestExtensionOrder(t *testing.T) {
	c := mustDecode(t, "Node02_06")
	// Move the first future extension to the front by hand-building the
	// order, as a DER issuer might.
	c.order = append([]extRef{{kind: extFuture, idx: 0}}, c.order...)
	if got := c.extensions(); got[0] != (extRef{kind: extFuture, idx: 0}) || len(got) != 7 {
		t.Fatalf("extensions() = %v", got)
	}
	b, err := c.EncodeTLV()
	if err != nil {
		t.Fatal(err)
	}
	d, err := DecodeTLV(b)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d.extensions(), c.extensions()) {
		t.Errorf("order not kept: %v vs %v", d.extensions(), c.extensions())
	}

	// Removing an extension drops it from the order; adding one appends it.
	d.ExtKeyUsage = nil
	d.FutureExtensions = d.FutureExtensions[:1]
	want := []extRef{{extFuture, 0}, {extBasicConstraints, 0}, {extKeyUsage, 0}, {extSubjectKeyID, 0}, {extAuthorityKeyID, 0}}
	if got := d.extensions(); !slices.Equal(got, want) {
		t.Errorf("after removal: %v, want %v", got, want)
	}
	// Restoring it puts it back where it was.
	d.ExtKeyUsage = []ExtKeyUsage{ExtKeyUsageClientAuth}
	if got := d.extensions(); got[3] != (extRef{kind: extExtKeyUsage}) {
		t.Errorf("after restoring: %v", got)
	}
	// One the certificate never had goes last.
	r := mustDecode(t, "Root01")
	r.ExtKeyUsage = []ExtKeyUsage{ExtKeyUsageServerAuth}
	want = []extRef{{extBasicConstraints, 0}, {extKeyUsage, 0}, {extSubjectKeyID, 0}, {extAuthorityKeyID, 0}, {extExtKeyUsage, 0}}
	if got := r.extensions(); !slices.Equal(got, want) {
		t.Errorf("after adding: %v, want %v", got, want)
	}
}
