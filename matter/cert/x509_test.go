package cert

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"math"
	"math/big"
	"slices"
	"testing"
	"time"
)

// node is a DER element as a tree, for editing certificates in tests.
type node struct {
	tag     byte
	content []byte  // primitive elements
	kids    []*node // constructed elements
}

func parseTree(tb testing.TB, b []byte) *node {
	tb.Helper()
	r := derReader{b}
	tag := r.peek()
	content, err := r.read(tag)
	if err != nil || !r.empty() {
		tb.Fatalf("parseTree: %v", err)
	}
	n := &node{tag: tag}
	if tag&0x20 == 0 {
		n.content = slices.Clone(content)
		return n
	}
	cr := derReader{content}
	for !cr.empty() {
		t := cr.peek()
		_, elem, err := cr.next(t)
		if err != nil {
			tb.Fatal(err)
		}
		n.kids = append(n.kids, parseTree(tb, elem))
	}
	return n
}

func (n *node) encode() []byte {
	var w derWriter
	n.write(&w)
	return w.buf
}

func (n *node) write(w *derWriter) {
	if n.tag&0x20 == 0 {
		w.add(n.tag, n.content)
		return
	}
	w.start(n.tag)
	for _, k := range n.kids {
		k.write(w)
	}
	w.end()
}

// mutateDER edits the DER of a vector. tbs is the TBSCertificate, whose
// children are version, serial, signature, issuer, validity, subject,
// subjectPublicKeyInfo and extensions.
func mutateDER(tb testing.TB, name string, edit func(cert, tbs *node)) []byte {
	tb.Helper()
	cert := parseTree(tb, vectorByName(tb, name).der)
	edit(cert, cert.kids[0])
	return cert.encode()
}

// extList returns the SEQUENCE of extensions of a TBSCertificate node.
func extList(tbs *node) *node { return tbs.kids[7].kids[0] }

// extValue replaces the value of extension i, given as DER.
func setExtValue(tb testing.TB, tbs *node, i int, value []byte) {
	ext := extList(tbs).kids[i]
	ext.kids[len(ext.kids)-1].content = value
}

func primitive(tag byte, content []byte) *node { return &node{tag: tag, content: content} }

func TestFromX509Rejects(t *testing.T) {
	root01 := vectorByName(t, "Root01").der
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrMalformed},
		{"trailing data", append(slices.Clone(root01), 0), ErrMalformed},
		{"truncated", root01[:len(root01)-1], ErrMalformed},
		{"too long", append(slices.Clone(root01), make([]byte, MaxDERSize)...), ErrMalformed},
		{"non-minimal length", append([]byte{0x30, 0x83, 0x00, 0x01, 0x9e}, root01[4:]...), ErrMalformed},
		{"indefinite length", append([]byte{0x30, 0x80}, root01[4:]...), ErrMalformed},
		{"version 1", mutateDER(t, "Root01", func(_, tbs *node) { tbs.kids = tbs.kids[1:] }), ErrUnsupported},
		{"version 2", mutateDER(t, "Root01", func(_, tbs *node) { tbs.kids[0].kids[0].content = []byte{1} }), ErrUnsupported},
		{"RSA signature algorithm", mutateDER(t, "Root01", func(_, tbs *node) {
			tbs.kids[2].kids[0].content = unhex(t, "2a864886f70d01010b")
		}), ErrUnsupported},
		{"outer algorithm ecdsa-with-SHA384", mutateDER(t, "Root01", func(cert, _ *node) {
			cert.kids[1].kids[0].content = unhex(t, "2a8648ce3d040303")
		}), ErrUnsupported},
		{"algorithm with NULL parameters", mutateDER(t, "Root01", func(_, tbs *node) {
			tbs.kids[2].kids = append(tbs.kids[2].kids, primitive(0x05, nil))
		}), ErrUnsupported},
		{"multi-valued RDN", mutateDER(t, "Node01_01", func(_, tbs *node) {
			subject := tbs.kids[5]
			subject.kids[0].kids = append(subject.kids[0].kids, subject.kids[1].kids[0])
			subject.kids = subject.kids[:1]
		}), ErrUnsupported},
		{"emailAddress attribute", mutateDER(t, "Root01", func(_, tbs *node) {
			atv := tbs.kids[5].kids[0].kids[0]
			atv.kids[0].content = unhex(t, "2a864886f70d010901")
			atv.kids[1].tag = tagIA5String
		}), ErrUnsupported},
		{"lowercase node ID", mutateDER(t, "Node01_01", func(_, tbs *node) {
			v := tbs.kids[5].kids[0].kids[0].kids[1]
			v.content = bytes.ToLower(v.content)
		}), ErrUnsupported},
		{"short node ID", mutateDER(t, "Node01_01", func(_, tbs *node) {
			v := tbs.kids[5].kids[0].kids[0].kids[1]
			v.content = v.content[1:]
		}), ErrUnsupported},
		{"node ID as PrintableString", mutateDER(t, "Node01_01", func(_, tbs *node) {
			tbs.kids[5].kids[0].kids[0].kids[1].tag = tagPrintableString
		}), ErrUnsupported},
		{"common name as BMPString", mutateDER(t, "Node02_02", func(_, tbs *node) {
			tbs.kids[5].kids[2].kids[0].kids[1].tag = 0x1e
		}), ErrUnsupported},
		{"common name as bad PrintableString", mutateDER(t, "Node02_02", func(_, tbs *node) {
			v := tbs.kids[5].kids[2].kids[0].kids[1]
			v.tag, v.content = tagPrintableString, []byte("a_b")
		}), ErrUnsupported},
		{"empty issuer", mutateDER(t, "Root01", func(_, tbs *node) { tbs.kids[3].kids = nil }), ErrUnsupported},
		{"GeneralizedTime before 2050", mutateDER(t, "Root01", func(_, tbs *node) {
			tbs.kids[4].kids[1] = primitive(tagGeneralizedTime, []byte("20401015142342Z"))
		}), ErrUnsupported},
		{"UTCTime without seconds", mutateDER(t, "Root01", func(_, tbs *node) {
			tbs.kids[4].kids[0] = primitive(tagUTCTime, []byte("2010151423Z"))
		}), ErrUnsupported},
		{"time before 2000", mutateDER(t, "Root01", func(_, tbs *node) {
			tbs.kids[4].kids[0] = primitive(tagUTCTime, []byte("991231235959Z"))
		}), ErrUnsupported},
		{"not-before at the Matter epoch", mutateDER(t, "Root01", func(_, tbs *node) {
			tbs.kids[4].kids[0] = primitive(tagUTCTime, []byte("000101000000Z"))
		}), ErrUnsupported},
		{"local time", mutateDER(t, "Root01", func(_, tbs *node) {
			tbs.kids[4].kids[0] = primitive(tagUTCTime, []byte("201015142343+"))
		}), ErrUnsupported},
		{"P-384 key", mutateDER(t, "Root01", func(_, tbs *node) {
			tbs.kids[6].kids[0].kids[1].content = unhex(t, "2b81040022")
		}), ErrUnsupported},
		{"key off the curve", mutateDER(t, "Root01", func(_, tbs *node) {
			k := tbs.kids[6].kids[1]
			k.content[len(k.content)-1] ^= 1
		}), ErrUnsupported},
		{"issuerUniqueID", mutateDER(t, "Root01", func(_, tbs *node) {
			tbs.kids = slices.Insert(tbs.kids, 7, primitive(0x81, []byte{0}))
		}), ErrUnsupported},
		{"no extensions", mutateDER(t, "Root01", func(_, tbs *node) { tbs.kids = tbs.kids[:7] }), ErrUnsupported},
		{"empty extensions", mutateDER(t, "Root01", func(_, tbs *node) { extList(tbs).kids = nil }), ErrUnsupported},
		{"basic constraints not critical", mutateDER(t, "Root01", func(_, tbs *node) {
			ext := extList(tbs).kids[0]
			ext.kids = slices.Delete(ext.kids, 1, 2)
		}), ErrUnsupported},
		{"subject key ID critical", mutateDER(t, "Root01", func(_, tbs *node) {
			ext := extList(tbs).kids[2]
			ext.kids = slices.Insert(ext.kids, 1, primitive(tagBoolean, []byte{0xff}))
		}), ErrUnsupported},
		{"explicit critical FALSE", mutateDER(t, "Root01", func(_, tbs *node) {
			ext := extList(tbs).kids[2]
			ext.kids = slices.Insert(ext.kids, 1, primitive(tagBoolean, []byte{0x00}))
		}), ErrMalformed},
		{"basic constraints cA FALSE encoded", mutateDER(t, "Node01_01", func(_, tbs *node) {
			setExtValue(t, tbs, 0, unhex(t, "3003010100"))
		}), ErrMalformed},
		// A nine-bit key usage with a trailing zero octet, as some CAs
		// produce: not DER, and not what the Matter form converts back to.
		{"key usage with a trailing zero octet", mutateDER(t, "Node01_01", func(_, tbs *node) {
			setExtValue(t, tbs, 1, unhex(t, "0303078000"))
		}), ErrUnsupported},
		{"key usage with wrong unused-bit count", mutateDER(t, "Node01_01", func(_, tbs *node) {
			setExtValue(t, tbs, 1, unhex(t, "03020080"))
		}), ErrUnsupported},
		{"key usage beyond decipherOnly", mutateDER(t, "Node01_01", func(_, tbs *node) {
			setExtValue(t, tbs, 1, unhex(t, "0303068040"))
		}), ErrUnsupported},
		{"unknown key purpose", mutateDER(t, "Node01_01", func(_, tbs *node) {
			setExtValue(t, tbs, 2, unhex(t, "300a06082b06010505070305"))
		}), ErrUnsupported},
		{"authority key ID with issuer", mutateDER(t, "Node01_01", func(_, tbs *node) {
			ext := extList(tbs).kids[4]
			v := parseTree(t, ext.kids[1].content)
			v.kids = append(v.kids, primitive(0x82, []byte{1}))
			ext.kids[1].content = v.encode()
		}), ErrUnsupported},
		{"duplicate subject key ID", mutateDER(t, "Root01", func(_, tbs *node) {
			l := extList(tbs)
			l.kids = append(l.kids, l.kids[2])
		}), ErrUnsupported},
		{"duplicate unknown extension", mutateDER(t, "Root01", func(_, tbs *node) {
			l := extList(tbs)
			ext := parseTree(t, unhex(t, "3009 06032a0304 04020500"))
			l.kids = append(l.kids, ext, ext)
		}), ErrUnsupported},
		{"path length 256", mutateDER(t, "Root02", func(_, tbs *node) {
			setExtValue(t, tbs, 0, unhex(t, "30070101ff02020100"))
		}), ErrUnsupported},
		{"zero signature value", mutateDER(t, "Root01", func(cert, _ *node) {
			cert.kids[2].content = append([]byte{0}, unhex(t, "3006020100020101")...)
		}), ErrUnsupported},
		{"signature with unused bits", mutateDER(t, "Root01", func(cert, _ *node) {
			cert.kids[2].content[0] = 1
		}), ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := FromX509(tt.in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("FromX509 = %v, %v; want %v", c, err, tt.want)
			}
			t.Log(err)
		})
	}
}

// A certificate from crypto/x509, which orders extensions differently from
// the connectedhomeip vectors (key usage before basic constraints),
// converts to TLV and back to the same DER, and its signature checks out.
func TestFromX509GoCertificate(t *testing.T) {
	key := testKey(t, "go")
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(0x1234),
		Subject: pkix.Name{ExtraNames: []pkix.AttributeTypeAndValue{
			{Type: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 37244, 1, 4}, Value: asn1.RawValue{Tag: asn1.TagUTF8String, Bytes: []byte("00000000000000AB")}},
			{Type: asn1.ObjectIdentifier{2, 5, 4, 10}, Value: "Example"},
		}},
		NotBefore:             time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:              time.Date(2054, 3, 1, 0, 0, 0, 0, time.UTC),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            1,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := FromX509(der)
	if err != nil {
		t.Fatalf("FromX509: %v", err)
	}
	if got := c.extensions(); got[0].kind != extKeyUsage || got[1].kind != extBasicConstraints {
		t.Errorf("extension order %v", got)
	}
	if id, _ := c.Subject.RCACID(); id != 0xAB || !c.Subject[1].Printable || !c.HasPathLen || c.PathLen != 1 {
		t.Errorf("subject %v, path length %v %d", c.Subject, c.HasPathLen, c.PathLen)
	}
	if !c.NotAfter.Equal(tmpl.NotAfter) {
		t.Errorf("NotAfter %v", c.NotAfter)
	}
	b, err := c.EncodeTLV()
	if err != nil {
		t.Fatalf("EncodeTLV: %v", err)
	}
	d, err := DecodeTLV(b)
	if err != nil {
		t.Fatalf("DecodeTLV: %v", err)
	}
	again, err := d.X509DER()
	if err != nil || !bytes.Equal(again, der) {
		t.Fatalf("TLV round trip changed the DER: %v", err)
	}
	if err := d.CheckSignatureFrom(d); err != nil {
		t.Errorf("CheckSignatureFrom: %v", err)
	}
}

// Attestation certificates carry Vendor and Product IDs (§6.2.2.2), which
// parse but have no TLV form.
func TestFromX509Attestation(t *testing.T) {
	paiKey, dacKey := testKey(t, "pai"), testKey(t, "dac")
	vid := asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 37244, 2, 1}
	pid := asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 37244, 2, 2}
	utf8 := func(s string) asn1.RawValue { return asn1.RawValue{Tag: asn1.TagUTF8String, Bytes: []byte(s)} }
	pai := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject: pkix.Name{ExtraNames: []pkix.AttributeTypeAndValue{
			{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: utf8("Matter Test PAI")},
			{Type: vid, Value: utf8("FFF1")},
		}},
		NotBefore: testNotBefore, NotAfter: testNotAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true, IsCA: true, MaxPathLenZero: true,
	}
	dac := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject: pkix.Name{ExtraNames: []pkix.AttributeTypeAndValue{
			{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: utf8("Matter Test DAC")},
			{Type: vid, Value: utf8("FFF1")},
			{Type: pid, Value: utf8("8000")},
		}},
		NotBefore: testNotBefore, NotAfter: testNotAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	paiDER, err := x509.CreateCertificate(rand.Reader, pai, pai, &paiKey.PublicKey, paiKey)
	if err != nil {
		t.Fatal(err)
	}
	paiX509, _ := x509.ParseCertificate(paiDER)
	dacDER, err := x509.CreateCertificate(rand.Reader, dac, paiX509, &dacKey.PublicKey, paiKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := FromX509(dacDER)
	if err != nil {
		t.Fatalf("FromX509: %v", err)
	}
	v, vok := c.Subject.VendorID()
	p, pok := c.Subject.ProductID()
	iv, iok := c.Issuer.VendorID()
	if !vok || !pok || !iok || v != 0xFFF1 || p != 0x8000 || iv != 0xFFF1 {
		t.Errorf("VID %04X %v, PID %04X %v, issuer VID %04X %v", v, vok, p, pok, iv, iok)
	}
	if _, ok := c.Issuer.ProductID(); ok {
		t.Errorf("PAI subject has no PID")
	}
	paiCert, err := FromX509(paiDER)
	if err != nil {
		t.Fatalf("FromX509(PAI): %v", err)
	}
	if err := c.CheckSignatureFrom(paiCert); err != nil {
		t.Errorf("DAC signature: %v", err)
	}
	if _, err := c.EncodeTLV(); !errors.Is(err, ErrUnsupported) {
		t.Errorf("EncodeTLV = %v, want ErrUnsupported", err)
	}
	if got := c.Subject.String(); got != `CN="Matter Test DAC", matter-vid=FFF1, matter-pid=8000` {
		t.Errorf("String() = %s", got)
	}
}

func TestX509Time(t *testing.T) {
	tests := []struct {
		v    uint32
		tag  byte
		text string
		at   time.Time
	}{
		{0, tagGeneralizedTime, "99991231235959Z", time.Time{}},
		{1, tagUTCTime, "000101000001Z", time.Date(2000, 1, 1, 0, 0, 1, 0, time.UTC)},
		{656087023, tagUTCTime, "201015142343Z", time.Date(2020, 10, 15, 14, 23, 43, 0, time.UTC)},
		{1577923199, tagUTCTime, "491231235959Z", time.Date(2049, 12, 31, 23, 59, 59, 0, time.UTC)},
		{1577923200, tagGeneralizedTime, "20500101000000Z", time.Date(2050, 1, 1, 0, 0, 0, 0, time.UTC)},
		{math.MaxUint32, tagGeneralizedTime, "21360207062815Z", time.Date(2136, 2, 7, 6, 28, 15, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			if got := fromMatterTime(tt.v); !got.Equal(tt.at) {
				t.Errorf("fromMatterTime(%d) = %v, want %v", tt.v, got, tt.at)
			}
			if got, err := toMatterTime(tt.at); err != nil || got != tt.v {
				t.Errorf("toMatterTime(%v) = %d, %v", tt.at, got, err)
			}
			var w derWriter
			appendX509Time(&w, tt.v)
			want := append([]byte{tt.tag, byte(len(tt.text))}, tt.text...)
			if !bytes.Equal(w.buf, want) {
				t.Errorf("appendX509Time(%d) = %q, want %q", tt.v, w.buf, want)
			}
			if got, err := parseX509Time(tt.tag, []byte(tt.text)); err != nil || got != tt.v {
				t.Errorf("parseX509Time(%s) = %d, %v", tt.text, got, err)
			}
		})
	}

	bad := []struct {
		tag  byte
		text string
	}{
		{tagUTCTime, "500101000000Z"},           // 1950
		{tagUTCTime, "000101000000Z"},           // the epoch itself
		{tagGeneralizedTime, "21360207062816Z"}, // one second too late
		{tagGeneralizedTime, "20200230000000Z"}, // 30 February
		{tagUTCTime, "201015242343Z"},           // hour 24
		{tagUTCTime, "2010151423430Z"},          // too long
		{tagUTCTime, "20101514234Z"},            // too short
		{tagUTCTime, "20101514234 Z"},           // not a digit
		{tagUTCTime, "201015142343z"},           // lowercase zone
		{tagGeneralizedTime, "201015142343Z"},   // UTCTime digits in a GeneralizedTime
		{tagOctetString, "201015142343Z"},       // wrong type
	}
	for _, b := range bad {
		if v, err := parseX509Time(b.tag, []byte(b.text)); err == nil {
			t.Errorf("parseX509Time(%#x, %s) = %d, want an error", b.tag, b.text, v)
		}
	}

	// Fractions of a second are dropped; the range is checked.
	if v, err := toMatterTime(MatterEpoch.Add(1500 * time.Millisecond)); err != nil || v != 1 {
		t.Errorf("toMatterTime(epoch+1.5s) = %d, %v", v, err)
	}
	for _, at := range []time.Time{MatterEpoch.Add(-time.Second), maxMatterTime.Add(time.Second)} {
		if _, err := toMatterTime(at); err == nil {
			t.Errorf("toMatterTime(%v) succeeded", at)
		}
	}
}

func TestKeyUsageBits(t *testing.T) {
	tests := []struct {
		ku   KeyUsage
		bits string
	}{
		{KeyUsageDigitalSignature, "0780"},
		{KeyUsageKeyCertSign | KeyUsageCRLSign, "0106"},
		{KeyUsageDigitalSignature | KeyUsageKeyCertSign | KeyUsageCRLSign, "0186"},
		{KeyUsageEncipherOnly, "0001"},
		{KeyUsageDecipherOnly, "070080"},
		{KeyUsageKeyAgreement | KeyUsageDecipherOnly, "070880"},
		{keyUsageAll, "07ff80"},
	}
	for _, tt := range tests {
		got := keyUsageBits(tt.ku)
		if !bytes.Equal(got, unhex(t, tt.bits)) {
			t.Errorf("keyUsageBits(%#x) = %x, want %s", tt.ku, got, tt.bits)
		}
		if back, err := parseKeyUsageBits(got); err != nil || back != tt.ku {
			t.Errorf("parseKeyUsageBits(%x) = %#x, %v", got, back, err)
		}
	}
}

func TestDERPrimitives(t *testing.T) {
	for _, tt := range []struct {
		v    uint64
		want string
	}{{0, "00"}, {1, "01"}, {127, "7f"}, {128, "0080"}, {255, "00ff"}, {256, "0100"}, {math.MaxUint64, "00ffffffffffffffff"}} {
		if got := appendUintContent(nil, tt.v); !bytes.Equal(got, unhex(t, tt.want)) {
			t.Errorf("appendUintContent(%d) = %x, want %s", tt.v, got, tt.want)
		}
	}

	// Back-patched lengths take the long form exactly when needed.
	for _, n := range []int{0, 127, 128, 255, 256, 1000} {
		var w derWriter
		w.start(tagSequence)
		w.start(tagOctetString)
		w.buf = append(w.buf, make([]byte, n)...)
		w.end()
		w.end()
		var want derWriter
		inner := append(append([]byte{tagOctetString}, lengthOctets(n)...), make([]byte, n)...)
		want.add(tagSequence, inner)
		if !bytes.Equal(w.buf, want.buf) {
			t.Errorf("nested length %d: %x", n, w.buf[:8])
		}
		r := derReader{w.buf}
		if c, err := r.read(tagSequence); err != nil || len(c) != len(inner) {
			t.Errorf("reading back length %d: %v", n, err)
		}
	}

	for _, b := range []string{
		"30", "3080", "30810100", "3081", "3082007f" + "00", "30820000", "308300000100",
		"3003 0000", "1f0100",
	} {
		r := derReader{unhex(t, b)}
		if _, err := r.read(r.peek()); err == nil {
			t.Errorf("read(%s) succeeded", b)
		}
	}

	for _, tt := range []struct {
		oid  string
		want bool
	}{{"2a03", true}, {"", false}, {"2a83", false}, {"2a8001", false}, {"2a8101", true}} {
		if validOID(unhex(t, tt.oid)) != tt.want {
			t.Errorf("validOID(%s) = %v", tt.oid, !tt.want)
		}
	}
	for _, tt := range []struct {
		n    string
		want bool
	}{{"00", true}, {"", false}, {"0001", false}, {"0080", true}, {"ff80", false}, {"ff7f", true}} {
		if validInteger(unhex(t, tt.n)) != tt.want {
			t.Errorf("validInteger(%s) = %v", tt.n, !tt.want)
		}
	}
}

// The DER this package writes is what crypto/x509 writes for the same
// certificate, field for field.
func TestX509DERMatchesCryptoX509(t *testing.T) {
	ch := newTestChain(t)
	for _, c := range []*Certificate{ch.rcac, ch.icac, ch.noc} {
		der, err := c.X509DER()
		if err != nil {
			t.Fatal(err)
		}
		xc, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatalf("x509.ParseCertificate: %v", err)
		}
		if c != ch.rcac {
			parent, _ := x509.ParseCertificate(mustDER(t, ch.rcac))
			if c == ch.noc {
				parent, _ = x509.ParseCertificate(mustDER(t, ch.icac))
			}
			if err := xc.CheckSignatureFrom(parent); err != nil {
				t.Errorf("crypto/x509 rejects the %v signature: %v", c.Kind(), err)
			}
		}
		pub, ok := xc.PublicKey.(*ecdsa.PublicKey)
		if !ok || pub.Curve != elliptic.P256() || !pub.Equal(c.PublicKey) {
			t.Errorf("public key")
		}
	}
}

func mustDER(tb testing.TB, c *Certificate) []byte {
	tb.Helper()
	der, err := c.X509DER()
	if err != nil {
		tb.Fatal(err)
	}
	return der
}
