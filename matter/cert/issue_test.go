package cert

import (
	"bytes"
	gocrypto "crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"io"
	"testing"
	"time"
)

// Issuing is deterministic for an *ecdsa.PrivateKey, and what it issues
// round-trips and verifies.
func TestIssueRoundTrip(t *testing.T) {
	a, b := newTestChain(t), newTestChain(t)
	for i, pair := range [][2]*Certificate{{a.rcac, b.rcac}, {a.icac, b.icac}, {a.noc, b.noc}} {
		x, err := pair[0].EncodeTLV()
		if err != nil {
			t.Fatal(err)
		}
		y, _ := pair[1].EncodeTLV()
		if !bytes.Equal(x, y) {
			t.Errorf("certificate %d differs between two issuances", i)
		}
		if len(x) > MaxTLVSize {
			t.Errorf("certificate %d: %d octets", i, len(x))
		}
	}

	c := a.noc
	if c.Kind() != KindNOC || !bytes.Equal(c.AuthorityKeyID, a.icac.SubjectKeyID) || !c.Issuer.Equal(a.icac.Subject) {
		t.Errorf("NOC issuer %v / %x", c.Issuer, c.AuthorityKeyID)
	}
	if id, _ := KeyID(&a.nodeKey.PublicKey); !bytes.Equal(c.SubjectKeyID, id) {
		t.Errorf("SubjectKeyID %x, want %x", c.SubjectKeyID, id)
	}
	if !bytes.Equal(a.rcac.AuthorityKeyID, a.rcac.SubjectKeyID) || !a.rcac.Issuer.Equal(a.rcac.Subject) {
		t.Errorf("RCAC is not self-issued")
	}
	want := DN{{Type: AttrNodeID, Value: testNodeID}, {Type: AttrFabricID, Value: testFabricID},
		{Type: AttrCAT, Value: 0x0001_0001}, {Type: AttrCAT, Value: 0xABCD_0002}}
	if !c.Subject.Equal(want) {
		t.Errorf("NOC subject %v", c.Subject)
	}
	if !bytes.Equal(c.SerialNumber, []byte{3}) || !c.NotBefore.Equal(testNotBefore) || !c.NotAfter.Equal(testNotAfter) {
		t.Errorf("serial %x, validity %v – %v", c.SerialNumber, c.NotBefore, c.NotAfter)
	}
}

// signer hides the concrete key type, so Issue signs with randomness.
type signer struct{ k *ecdsa.PrivateKey }

func (s signer) Public() gocrypto.PublicKey { return s.k.Public() }
func (s signer) Sign(r io.Reader, d []byte, o gocrypto.SignerOpts) ([]byte, error) {
	return s.k.Sign(r, d, o)
}

func TestIssueWithOtherSigner(t *testing.T) {
	key := testKey(t, "signer")
	p := Params{SerialNumber: []byte{0x80, 1}, NotBefore: testNotBefore, ID: 7}
	c1, err := NewRCAC(p, signer{key})
	if err != nil {
		t.Fatalf("NewRCAC: %v", err)
	}
	c2, _ := NewRCAC(p, signer{key})
	if bytes.Equal(c1.Signature, c2.Signature) {
		t.Error("randomized signatures are equal")
	}
	if err := VerifyRCAC(c1, VerifyOptions{}); err != nil {
		t.Errorf("VerifyRCAC: %v", err)
	}
	if !bytes.Equal(c1.SerialNumber, []byte{0, 0x80, 1}) || !c1.NotAfter.IsZero() {
		t.Errorf("serial %x, not-after %v", c1.SerialNumber, c1.NotAfter)
	}
}

func TestIssueRejects(t *testing.T) {
	ch := newTestChain(t)
	other := testKey(t, "other")
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p := Params{SerialNumber: []byte{9}, NotBefore: testNotBefore, NotAfter: testNotAfter, ID: testNodeID, FabricID: testFabricID}
	tests := []struct {
		name string
		f    func() error
		want error // nil: any error
	}{
		{"wrong issuer key", func() error { _, err := NewNOC(p, &other.PublicKey, ch.icac, ch.rootKey); return err }, nil},
		{"ed25519 key", func() error { _, err := NewRCAC(p, edKey); return err }, nil},
		{"P-384 key", func() error { _, err := NewRCAC(p, p384); return err }, ErrMalformed},
		{"nil template", func() error { _, err := Issue(nil, nil, other); return err }, nil},
		{"nil issuer", func() error { _, err := NewNOC(p, &other.PublicKey, nil, other); return err }, nil},
		{"zero serial", func() error {
			q := p
			q.SerialNumber = []byte{0, 0}
			_, err := NewRCAC(q, other)
			return err
		}, ErrMalformed},
		{"long serial", func() error {
			q := p
			q.SerialNumber = bytes.Repeat([]byte{0xff}, 20)
			_, err := NewRCAC(q, other)
			return err
		}, ErrMalformed},
		{"NOC node ID out of range", func() error {
			q := p
			q.ID = 0xFFFF_FFFF_0000_0000
			_, err := NewNOC(q, &other.PublicKey, ch.icac, ch.icaKey)
			return err
		}, ErrIdentity},
		{"NOC without fabric", func() error {
			q := p
			q.FabricID = 0
			_, err := NewNOC(q, &other.PublicKey, ch.icac, ch.icaKey)
			return err
		}, ErrIdentity},
		{"NOC with four CATs", func() error {
			q := p
			q.CATs = []CAT{0x10001, 0x20001, 0x30001, 0x40001}
			_, err := NewNOC(q, &other.PublicKey, ch.icac, ch.icaKey)
			return err
		}, ErrIdentity},
		{"ICAC with CATs", func() error {
			q := p
			q.CATs = []CAT{0x10001}
			_, err := NewICAC(q, &other.PublicKey, ch.rcac, ch.rootKey)
			return err
		}, ErrIdentity},
		{"not-before before 2000", func() error {
			q := p
			q.NotBefore = time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC)
			_, err := NewRCAC(q, other)
			return err
		}, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.f()
			if err == nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
		})
	}
}

// Times lose their fraction of a second and their zone.
func TestIssueTruncatesTimes(t *testing.T) {
	key := testKey(t, "times")
	zone := time.FixedZone("X", 3600)
	p := Params{SerialNumber: []byte{1}, ID: 1,
		NotBefore: time.Date(2030, 1, 1, 1, 0, 0, 999_999_999, zone),
		NotAfter:  time.Date(2031, 1, 1, 1, 0, 0, 1, zone)}
	c, err := NewRCAC(p, key)
	if err != nil {
		t.Fatal(err)
	}
	if c.NotBefore != time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC) || c.NotAfter != time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC) {
		t.Errorf("validity %v – %v", c.NotBefore, c.NotAfter)
	}
	b, _ := c.EncodeTLV()
	d, err := DecodeTLV(b)
	if err != nil || d.NotBefore != c.NotBefore || d.NotAfter != c.NotAfter {
		t.Errorf("decoded validity %v – %v, %v", d.NotBefore, d.NotAfter, err)
	}
}

func TestSerialNumber(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"01", "01"}, {"0001", "01"}, {"80", "0080"}, {"000080", "0080"}, {"7fff", "7fff"}, {"ff", "00ff"},
	} {
		got, err := serialNumber(unhex(t, tt.in))
		if err != nil || !bytes.Equal(got, unhex(t, tt.want)) {
			t.Errorf("serialNumber(%s) = %x, %v; want %s", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{"", "00", "0000"} {
		if _, err := serialNumber(unhex(t, in)); err == nil {
			t.Errorf("serialNumber(%q) succeeded", in)
		}
	}
}
