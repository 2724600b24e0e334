package cert

import (
	"bytes"
	"crypto/ecdsa"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/mattercam/mattercam/matter/crypto"
)

// Chains built from the connectedhomeip vectors.
func TestVerifyVectorChains(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		root, ica, noc string
		nodeID         uint64
		cats           []CAT
	}{
		{"Root01", "ICA01", "Node01_01", 0xDEDEDEDE00010001, nil},
		{"Root01", "", "Node01_02", 0xDEDEDEDE00010002, nil},
		{"Root02", "ICA02", "Node02_01", 0xDEDEDEDE00020001, nil},
		{"Root02", "ICA02", "Node02_02", 0xDEDEDEDE00020002, nil},
		{"Root02", "ICA02", "Node02_03", 0xDEDEDEDE00020003, []CAT{0xABCD0001}},
		{"Root02", "ICA02", "Node02_04", 0xDEDEDEDE00020004, []CAT{0xABCE1002, 0xABCD0003}},
		{"Root02", "ICA02", "Node02_06", 0xDEDEDEDE00020006, nil},
		{"Root02", "ICA02", "Node02_08", 0xDEDEDEDE00020008, []CAT{0xABCF00A0, 0xABCD0020, 0xABCE0100}},
	}
	for _, tt := range tests {
		t.Run(tt.noc, func(t *testing.T) {
			rcac := mustDecode(t, tt.root)
			var icac *Certificate
			if tt.ica != "" {
				icac = mustDecode(t, tt.ica)
			}
			id, err := Verify(rcac, icac, mustDecode(t, tt.noc), VerifyOptions{Now: now, FabricID: 0xFAB000000000001D})
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if id.NodeID != tt.nodeID || id.FabricID != 0xFAB000000000001D || !slices.Equal(id.CATs, tt.cats) ||
				!id.RootPublicKey.Equal(rcac.PublicKey) {
				t.Errorf("identity %+v", id)
			}
			if err := VerifyRCAC(rcac, VerifyOptions{Now: now}); err != nil {
				t.Errorf("VerifyRCAC: %v", err)
			}
		})
	}

	// Node02_07 carries a critical subjectAltName, which no Matter node
	// processes.
	_, err := Verify(mustDecode(t, "Root02"), mustDecode(t, "ICA02"), mustDecode(t, "Node02_07"), VerifyOptions{Now: now})
	if !errors.Is(err, ErrUsage) {
		t.Errorf("Node02_07: %v, want ErrUsage", err)
	}
	// The vectors expire in 2040.
	_, err = Verify(mustDecode(t, "Root01"), mustDecode(t, "ICA01"), mustDecode(t, "Node01_01"),
		VerifyOptions{Now: time.Date(2041, 1, 1, 0, 0, 0, 0, time.UTC)})
	if !errors.Is(err, ErrExpired) {
		t.Errorf("in 2041: %v, want ErrExpired", err)
	}
	// A NOC from one fabric does not chain to another fabric's root.
	_, err = Verify(mustDecode(t, "Root01"), nil, mustDecode(t, "Node02_01"), VerifyOptions{})
	if !errors.Is(err, ErrChain) {
		t.Errorf("cross-fabric: %v, want ErrChain", err)
	}
}

// chainCase describes a chain derived from the valid test chain by changing
// templates before signing, or certificates after.
type chainCase struct {
	name string
	// Each hook, if set, edits a template before it is signed by the
	// issuer's key (or by wrongKey, if set).
	root, ica, noc func(ch *testChain, c *Certificate)
	// post edits the finished chain.
	post    func(ch *testChain)
	noICAC  bool
	opts    VerifyOptions
	wantErr error
}

// build issues the chain with the case's edits applied.
func (cc chainCase) build(t *testing.T) *testChain {
	t.Helper()
	base := newTestChain(t)
	ch := &testChain{rootKey: base.rootKey, icaKey: base.icaKey, nodeKey: base.nodeKey}
	reissue := func(tmpl, parent *Certificate, key *ecdsa.PrivateKey, edit func(*testChain, *Certificate)) *Certificate {
		c := tmpl.clone()
		c.Signature = nil
		c.SubjectKeyID, c.AuthorityKeyID = nil, nil
		if edit != nil {
			edit(ch, c)
		}
		out, err := Issue(c, parent, key)
		if err != nil {
			t.Fatalf("Issue: %v", err)
		}
		return out
	}
	ch.rcac = reissue(base.rcac, nil, ch.rootKey, cc.root)
	issuer, issuerKey := ch.rcac, ch.rootKey
	if !cc.noICAC {
		ch.icac = reissue(base.icac, ch.rcac, ch.rootKey, cc.ica)
		issuer, issuerKey = ch.icac, ch.icaKey
	}
	ch.noc = reissue(base.noc, issuer, issuerKey, cc.noc)
	if cc.post != nil {
		cc.post(ch)
	}
	return ch
}

func setSubject(t AttrType, v uint64) func(*testChain, *Certificate) {
	return func(_ *testChain, c *Certificate) {
		for i := range c.Subject {
			if c.Subject[i].Type == t {
				c.Subject[i].Value = v
				return
			}
		}
		c.Subject = append(c.Subject, Attribute{Type: t, Value: v})
	}
}

func addSubject(a Attribute) func(*testChain, *Certificate) {
	return func(_ *testChain, c *Certificate) { c.Subject = append(c.Subject, a) }
}

func removeSubject(t AttrType) func(*testChain, *Certificate) {
	return func(_ *testChain, c *Certificate) {
		c.Subject = slices.DeleteFunc(c.Subject, func(a Attribute) bool { return a.Type == t })
	}
}

func flipSignature(c *Certificate) {
	c.Signature = slices.Clone(c.Signature)
	c.Signature[10] ^= 1
}

// Each row breaks one rule of chain validation.
func TestVerifyRules(t *testing.T) {
	cases := []chainCase{
		{name: "valid", opts: VerifyOptions{Now: testNow, FabricID: testFabricID}},
		{name: "valid without ICAC", noICAC: true, opts: VerifyOptions{Now: testNow}},
		{name: "valid without time", opts: VerifyOptions{}},
		{name: "valid before not-before when time is unknown",
			noc: func(_ *testChain, c *Certificate) { c.NotBefore = testNow.Add(time.Hour) }},
		{name: "valid with no expiry", noc: func(_ *testChain, c *Certificate) { c.NotAfter = time.Time{} },
			opts: VerifyOptions{Now: time.Date(2130, 1, 1, 0, 0, 0, 0, time.UTC)},
			root: func(_ *testChain, c *Certificate) { c.NotAfter = time.Time{} },
			ica:  func(_ *testChain, c *Certificate) { c.NotAfter = time.Time{} }},
		{name: "valid with RCAC path length 1", root: func(_ *testChain, c *Certificate) { c.HasPathLen, c.PathLen = true, 1 }},
		{name: "valid with CA without fabric ID", root: removeSubject(AttrFabricID), ica: removeSubject(AttrFabricID)},
		{name: "valid with CN in NOC", noc: addSubject(Attribute{Type: AttrCommonName, String: "camera"})},

		// Signatures.
		{name: "NOC signature", post: func(ch *testChain) { flipSignature(ch.noc) }, wantErr: ErrSignature},
		{name: "ICAC signature", post: func(ch *testChain) { flipSignature(ch.icac) }, wantErr: ErrSignature},
		{name: "RCAC signature", post: func(ch *testChain) { flipSignature(ch.rcac) }, wantErr: ErrSignature},
		{name: "NOC changed after signing",
			post: func(ch *testChain) { ch.noc.NotAfter = ch.noc.NotAfter.Add(time.Second) }, wantErr: ErrSignature},
		{name: "NOC naming the ICAC but signed with the root key",
			post: func(ch *testChain) {
				tbs, err := ch.noc.TBSDER()
				if err != nil {
					panic(err)
				}
				if ch.noc.Signature, err = crypto.Sign(ch.rootKey, tbs); err != nil {
					panic(err)
				}
			}, wantErr: ErrSignature},

		// Chaining.
		{name: "NOC issuer DN", post: func(ch *testChain) { ch.noc.Issuer = ch.rcac.Subject }, wantErr: ErrChain},
		{name: "NOC authority key ID",
			post: func(ch *testChain) { ch.noc.AuthorityKeyID = ch.rcac.SubjectKeyID }, wantErr: ErrChain},
		{name: "ICAC issuer DN", post: func(ch *testChain) { ch.icac.Issuer = ch.icac.Subject }, wantErr: ErrChain},
		{name: "RCAC not self-issued",
			post: func(ch *testChain) { ch.rcac.Issuer = DN{{Type: AttrRCACID, Value: 99}} }, wantErr: ErrChain},
		{name: "RCAC authority key ID",
			post: func(ch *testChain) { ch.rcac.AuthorityKeyID = ch.icac.SubjectKeyID }, wantErr: ErrChain},
		{name: "DN string type differs",
			root: func(_ *testChain, c *Certificate) {
				c.Subject = append(c.Subject, Attribute{Type: AttrOrganizationName, String: "CSA"})
			},
			post: func(ch *testChain) { ch.icac.Issuer[len(ch.icac.Issuer)-1].Printable = true }, wantErr: ErrChain},
		{name: "ICAC fabric ID differs", ica: setSubject(AttrFabricID, testFabricID+1), wantErr: ErrChain},
		{name: "RCAC fabric ID differs", root: setSubject(AttrFabricID, testFabricID+1), wantErr: ErrChain},
		{name: "expected fabric differs", opts: VerifyOptions{FabricID: testFabricID + 1}, wantErr: ErrChain},

		// Roles and extensions.
		{name: "ICAC not a CA", ica: func(_ *testChain, c *Certificate) { c.IsCA = false }, wantErr: ErrUsage},
		{name: "RCAC not a CA", root: func(_ *testChain, c *Certificate) { c.IsCA = false }, wantErr: ErrUsage},
		{name: "ICAC without keyCertSign",
			ica: func(_ *testChain, c *Certificate) { c.KeyUsage = KeyUsageCRLSign }, wantErr: ErrUsage},
		{name: "RCAC without cRLSign",
			root: func(_ *testChain, c *Certificate) { c.KeyUsage = KeyUsageKeyCertSign }, wantErr: ErrUsage},
		{name: "NOC is a CA", noc: func(_ *testChain, c *Certificate) { c.IsCA = true }, wantErr: ErrUsage},
		{name: "NOC with path length",
			noc: func(_ *testChain, c *Certificate) { c.HasPathLen = true }, wantErr: ErrUsage},
		{name: "NOC without digitalSignature",
			noc: func(_ *testChain, c *Certificate) { c.KeyUsage = KeyUsageKeyAgreement }, wantErr: ErrUsage},
		{name: "NOC with keyCertSign",
			noc: func(_ *testChain, c *Certificate) { c.KeyUsage |= KeyUsageKeyCertSign }, wantErr: ErrUsage},
		{name: "NOC without serverAuth",
			noc: func(_ *testChain, c *Certificate) { c.ExtKeyUsage = []ExtKeyUsage{ExtKeyUsageClientAuth} }, wantErr: ErrUsage},
		{name: "NOC without clientAuth",
			noc: func(_ *testChain, c *Certificate) { c.ExtKeyUsage = []ExtKeyUsage{ExtKeyUsageServerAuth} }, wantErr: ErrUsage},
		{name: "NOC without extended key usage",
			noc: func(_ *testChain, c *Certificate) { c.ExtKeyUsage = nil }, wantErr: ErrUsage},
		{name: "NOC without basic constraints",
			noc: func(_ *testChain, c *Certificate) { c.BasicConstraintsValid = false }, wantErr: ErrUsage},
		{name: "NOC without key usage", noc: func(_ *testChain, c *Certificate) { c.KeyUsage = 0 }, wantErr: ErrUsage},
		{name: "NOC without subject key ID",
			post: func(ch *testChain) { ch.noc.SubjectKeyID = nil }, wantErr: ErrUsage},
		{name: "ICAC without authority key ID",
			post: func(ch *testChain) { ch.icac.AuthorityKeyID = nil }, wantErr: ErrUsage},
		{name: "NOC with critical unknown extension",
			noc: func(_ *testChain, c *Certificate) {
				c.FutureExtensions = [][]byte{unhex(t, "300c 0603 2a0304 0101ff 0402 0500")}
			}, wantErr: ErrUsage},
		{name: "RCAC path length 0 with ICAC",
			root: func(_ *testChain, c *Certificate) { c.HasPathLen, c.PathLen = true, 0 }, wantErr: ErrUsage},

		// Identities.
		{name: "NOC without node ID", noc: removeSubject(AttrNodeID), wantErr: ErrIdentity},
		{name: "NOC with two node IDs", noc: addSubject(Attribute{Type: AttrNodeID, Value: 5}), wantErr: ErrIdentity},
		{name: "NOC node ID 0", noc: setSubject(AttrNodeID, 0), wantErr: ErrIdentity},
		{name: "NOC group node ID", noc: setSubject(AttrNodeID, 0xFFFF_FFFF_FFFF_0001), wantErr: ErrIdentity},
		{name: "NOC node ID just above the operational range",
			noc: setSubject(AttrNodeID, MaxOperationalNodeID+1), wantErr: ErrIdentity},
		{name: "NOC without fabric ID", noc: removeSubject(AttrFabricID), wantErr: ErrIdentity},
		{name: "NOC fabric ID 0", noc: setSubject(AttrFabricID, 0), wantErr: ErrIdentity},
		{name: "NOC with two fabric IDs",
			noc: addSubject(Attribute{Type: AttrFabricID, Value: testFabricID}), wantErr: ErrIdentity},
		{name: "NOC with an RCAC ID too", noc: addSubject(Attribute{Type: AttrRCACID, Value: 1}), wantErr: ErrIdentity},
		{name: "NOC with four CATs",
			noc: func(_ *testChain, c *Certificate) {
				for _, v := range []uint64{0x0002_0001, 0x0003_0001} {
					c.Subject = append(c.Subject, Attribute{Type: AttrCAT, Value: v})
				}
			}, wantErr: ErrIdentity},
		{name: "NOC CAT version 0", noc: addSubject(Attribute{Type: AttrCAT, Value: 0x0005_0000}), wantErr: ErrIdentity},
		{name: "NOC CATs with the same identifier",
			noc: addSubject(Attribute{Type: AttrCAT, Value: 0x0001_0002}), wantErr: ErrIdentity},
		{name: "ICAC with a CAT", ica: addSubject(Attribute{Type: AttrCAT, Value: 0x0001_0001}), wantErr: ErrIdentity},
		{name: "ICAC with a node ID", ica: addSubject(Attribute{Type: AttrNodeID, Value: 1}), wantErr: ErrIdentity},
		{name: "RCAC without RCAC ID",
			root: func(_ *testChain, c *Certificate) { c.Subject[0].Type = AttrICACID },
			ica:  func(ch *testChain, c *Certificate) {}, wantErr: ErrIdentity},
		{name: "ICAC fabric ID 0", ica: setSubject(AttrFabricID, 0), wantErr: ErrIdentity},

		// Validity periods.
		{name: "NOC expired",
			noc:  func(_ *testChain, c *Certificate) { c.NotAfter = testNow.Add(-time.Second) },
			opts: VerifyOptions{Now: testNow}, wantErr: ErrExpired},
		{name: "ICAC not yet valid",
			ica:  func(_ *testChain, c *Certificate) { c.NotBefore = testNow.Add(time.Second) },
			opts: VerifyOptions{Now: testNow}, wantErr: ErrNotYetValid},
		{name: "RCAC expired",
			root: func(_ *testChain, c *Certificate) { c.NotAfter = testNow.Add(-time.Hour) },
			opts: VerifyOptions{Now: testNow}, wantErr: ErrExpired},
		{name: "NOC valid at its last second",
			noc:  func(_ *testChain, c *Certificate) { c.NotAfter = testNow },
			opts: VerifyOptions{Now: testNow}},
	}
	for _, cc := range cases {
		t.Run(cc.name, func(t *testing.T) {
			ch := cc.build(t)
			id, err := Verify(ch.rcac, ch.icac, ch.noc, cc.opts)
			if cc.wantErr == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if id.NodeID != testNodeID || id.FabricID != testFabricID || !id.RootPublicKey.Equal(&ch.rootKey.PublicKey) {
					t.Errorf("identity %+v", id)
				}
				return
			}
			if !errors.Is(err, cc.wantErr) {
				t.Fatalf("Verify = %v, want %v", err, cc.wantErr)
			}
			t.Log(err)
			// Every sentinel is distinct: a failure wraps exactly one.
			for _, other := range []error{ErrSignature, ErrChain, ErrUsage, ErrIdentity, ErrExpired, ErrNotYetValid, ErrMalformed} {
				if other != cc.wantErr && errors.Is(err, other) {
					t.Errorf("error %v also wraps %v", err, other)
				}
			}
		})
	}
}

func TestVerifyRCAC(t *testing.T) {
	ch := newTestChain(t)
	if err := VerifyRCAC(ch.rcac, VerifyOptions{Now: testNow, FabricID: testFabricID}); err != nil {
		t.Fatalf("VerifyRCAC: %v", err)
	}
	tests := []struct {
		name string
		c    *Certificate
		opts VerifyOptions
		want error
	}{
		{"ICAC as root", ch.icac, VerifyOptions{}, ErrIdentity},
		{"NOC as root", ch.noc, VerifyOptions{}, ErrIdentity},
		{"nil", nil, VerifyOptions{}, ErrChain},
		{"other fabric", ch.rcac, VerifyOptions{FabricID: 1}, ErrChain},
		{"expired", ch.rcac, VerifyOptions{Now: testNotAfter.Add(time.Second)}, ErrExpired},
		{"bad signature", func() *Certificate { c := ch.rcac.clone(); flipSignature(c); return c }(), VerifyOptions{}, ErrSignature},
		{"malformed", func() *Certificate { c := ch.rcac.clone(); c.SerialNumber = nil; return c }(), VerifyOptions{}, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := VerifyRCAC(tt.c, tt.opts); !errors.Is(err, tt.want) {
				t.Fatalf("VerifyRCAC = %v, want %v", err, tt.want)
			}
		})
	}
}

// A certificate built in code, decoded from TLV or parsed from DER verifies
// the same, and Verify does not modify its inputs.
func TestVerifyRoundTrip(t *testing.T) {
	ch := newTestChain(t)
	var tlvs [3][]byte
	for i, c := range []*Certificate{ch.rcac, ch.icac, ch.noc} {
		b, err := c.EncodeTLV()
		if err != nil {
			t.Fatalf("EncodeTLV: %v", err)
		}
		tlvs[i] = b
	}
	decode := func(b []byte) *Certificate {
		c, err := DecodeTLV(b)
		if err != nil {
			t.Fatalf("DecodeTLV: %v", err)
		}
		return c
	}
	rcac, icac, noc := decode(tlvs[0]), decode(tlvs[1]), decode(tlvs[2])
	id, err := Verify(rcac, icac, noc, VerifyOptions{Now: testNow})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if !slices.Equal(id.CATs, []CAT{0x0001_0001, 0xABCD_0002}) {
		t.Errorf("CATs %v", id.CATs)
	}
	for i, c := range []*Certificate{rcac, icac, noc} {
		b, _ := c.EncodeTLV()
		if !bytes.Equal(b, tlvs[i]) {
			t.Errorf("certificate %d changed by Verify", i)
		}
		der, err := c.X509DER()
		if err != nil {
			t.Fatal(err)
		}
		back, err := FromX509(der)
		if err != nil {
			t.Fatalf("FromX509: %v", err)
		}
		if b2, _ := back.EncodeTLV(); !bytes.Equal(b2, tlvs[i]) {
			t.Errorf("certificate %d: DER round trip changed the TLV", i)
		}
	}
}
