package fabric

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha256"
	"errors"
	"math/big"
	"testing"

	"github.com/mattercam/mattercam/matter/cert"
)

var (
	statementA = append([]byte{0x21}, bytes.Repeat([]byte{0xA5}, VIDVerificationStatementSize-1)...)
	statementB = append([]byte{0x21}, bytes.Repeat([]byte{0x5B}, VIDVerificationStatementSize-1)...)
	vvscA      = bytes.Repeat([]byte{0xAA}, MaxVVSCLen)
)

func TestSetVIDVerificationCommitted(t *testing.T) {
	e := newEnv(t, Config{})
	commission(t, e.tb, newCA(t, 7, false), 0x11)
	e.rec.take()

	u := VIDVerificationUpdate{VendorID: 0x6A01, SetVendorID: true, Statement: statementA, SetStatement: true, VVSC: vvscA, SetVVSC: true}
	if err := e.tb.SetVIDVerification(1, u); err != nil {
		t.Fatal(err)
	}
	if c := e.rec.take(); len(c) != 1 || c[0].Kind != ChangeVIDVerification || c[0].Index != 1 || c[0].Attrs != AttrFabrics|AttrNOCs {
		t.Fatalf("notified %+v", c)
	}
	check := func(when string, vendor uint16, vvs, vvsc []byte) {
		t.Helper()
		d, ok := e.tb.Get(1)
		if !ok || d.VendorID != vendor || !bytes.Equal(d.VIDVerificationStatement, vvs) || !bytes.Equal(d.VVSC, vvsc) {
			t.Fatalf("%s: vendor %#x, statement %x, VVSC %d octets", when, d.VendorID, d.VIDVerificationStatement, len(d.VVSC))
		}
	}
	check("after set", 0x6A01, statementA, vvscA)
	// Outside a fail-safe the change is stored at once (§11.18.6.14).
	e.open(t)
	check("after restart", 0x6A01, statementA, vvscA)

	// The same values again change nothing and notify nothing.
	if err := e.tb.SetVIDVerification(1, u); err != nil {
		t.Fatal(err)
	}
	if c := e.rec.take(); len(c) != 0 {
		t.Fatalf("a no-op notified %+v", c)
	}
	// Only the VVSC: only NOCs changes.
	if err := e.tb.SetVIDVerification(1, VIDVerificationUpdate{VVSC: []byte{1}, SetVVSC: true}); err != nil {
		t.Fatal(err)
	}
	if c := e.rec.take(); len(c) != 1 || c[0].Attrs != AttrNOCs {
		t.Fatalf("notified %+v", c)
	}
	// Empty values remove the statement and the VVSC; the vendor ID stays.
	if err := e.tb.SetVIDVerification(1, VIDVerificationUpdate{SetStatement: true, Statement: []byte{}, SetVVSC: true}); err != nil {
		t.Fatal(err)
	}
	check("after clearing", 0x6A01, nil, nil)
	e.open(t)
	check("after clearing and restart", 0x6A01, nil, nil)
	if d, _ := e.tb.Get(1); d.VIDVerificationStatement != nil || d.VVSC != nil {
		t.Fatal("cleared fields are not absent")
	}
}

func TestSetVIDVerificationRefusals(t *testing.T) {
	e := newEnv(t, Config{})
	commission(t, e.tb, newCA(t, 1, true), 0x11) // with an ICAC
	commission(t, e.tb, newCA(t, 2, false), 0x11)
	before := snapshot(e.tb)
	e.rec.take()
	for _, tc := range []struct {
		name  string
		index uint8
		u     VIDVerificationUpdate
		want  error
	}{
		{"vendor 0", 2, VIDVerificationUpdate{SetVendorID: true}, ErrConstraint},
		{"vendor 0xFFF5", 2, VIDVerificationUpdate{VendorID: 0xFFF5, SetVendorID: true}, ErrConstraint},
		{"vendor 0xFFFF", 2, VIDVerificationUpdate{VendorID: 0xFFFF, SetVendorID: true}, ErrConstraint},
		{"statement of 1", 2, VIDVerificationUpdate{Statement: []byte{0x21}, SetStatement: true}, ErrConstraint},
		{"statement of 84", 2, VIDVerificationUpdate{Statement: statementA[:84], SetStatement: true}, ErrConstraint},
		{"statement of 86", 2, VIDVerificationUpdate{Statement: append(statementA, 0), SetStatement: true}, ErrConstraint},
		{"VVSC of 401", 2, VIDVerificationUpdate{VVSC: append(vvscA, 0), SetVVSC: true}, ErrConstraint},
		{"VVSC with an ICAC", 1, VIDVerificationUpdate{VVSC: []byte{1}, SetVVSC: true}, ErrVVSCWithICAC},
		{"empty VVSC with an ICAC", 1, VIDVerificationUpdate{SetVVSC: true}, ErrVVSCWithICAC},
		{"VVSC with an ICAC and a vendor", 1, VIDVerificationUpdate{VendorID: 0xFFF2, SetVendorID: true, SetVVSC: true}, ErrVVSCWithICAC},
		{"unknown fabric", 9, VIDVerificationUpdate{VendorID: 0xFFF2, SetVendorID: true}, ErrInvalidFabricIndex},
	} {
		if err := e.tb.SetVIDVerification(tc.index, tc.u); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if !snapshot(e.tb).equal(before) || len(e.rec.take()) != 0 {
		t.Fatal("a refused update changed the table")
	}
	// Everything else is fine on the fabric with an ICAC.
	if err := e.tb.SetVIDVerification(1, VIDVerificationUpdate{VendorID: 0xFFF4, SetVendorID: true, Statement: statementA, SetStatement: true}); err != nil {
		t.Fatal(err)
	}
}

func TestSetVIDVerificationDuringFailSafe(t *testing.T) {
	e := newEnv(t, Config{})
	ca := newCA(t, 2, false)
	commission(t, e.tb, ca, 0x11)
	if err := e.tb.SetVIDVerification(1, VIDVerificationUpdate{VendorID: 0x6A01, SetVendorID: true, Statement: statementA,
		SetStatement: true, VVSC: vvscA, SetVVSC: true}); err != nil {
		t.Fatal(err)
	}

	// On a fabric UpdateNOC staged, the change applies to the staged state
	// and a revert restores the committed values.
	update := func(node uint64, c *testCA) {
		t.Helper()
		pub := csrKey(t, e.tb, true)
		noc, icac := c.noc(t, pub, node)
		if err := e.tb.UpdateNOC(1, noc, icac); err != nil {
			t.Fatal(err)
		}
	}
	update(0x22, ca)
	if d, _ := e.tb.Get(1); !bytes.Equal(d.VIDVerificationStatement, statementA) || !bytes.Equal(d.VVSC, vvscA) {
		t.Fatal("UpdateNOC without an ICAC dropped the statement or the VVSC")
	}
	if err := e.tb.SetVIDVerification(1, VIDVerificationUpdate{VendorID: 0xFFF2, SetVendorID: true, Statement: statementB,
		SetStatement: true, VVSC: []byte{0xCC}, SetVVSC: true}); err != nil {
		t.Fatal(err)
	}
	if d, _ := e.tb.Get(1); !d.Updating || d.VendorID != 0xFFF2 || !bytes.Equal(d.VIDVerificationStatement, statementB) || !bytes.Equal(d.VVSC, []byte{0xCC}) {
		t.Fatalf("staged view %+v", d)
	}
	e.tb.Revert()
	if d, _ := e.tb.Get(1); d.NodeID != 0x11 || d.VendorID != 0x6A01 || !bytes.Equal(d.VIDVerificationStatement, statementA) || !bytes.Equal(d.VVSC, vvscA) {
		t.Fatalf("after revert %+v", d)
	}

	// The same, committed.
	update(0x33, ca)
	if err := e.tb.SetVIDVerification(1, VIDVerificationUpdate{VendorID: 0xFFF4, SetVendorID: true, Statement: statementB, SetStatement: true}); err != nil {
		t.Fatal(err)
	}
	e.open(t) // a restart before CommissioningComplete acts as expiry
	if d, _ := e.tb.Get(1); d.NodeID != 0x11 || d.VendorID != 0x6A01 || !bytes.Equal(d.VIDVerificationStatement, statementA) {
		t.Fatalf("staged VID change stored before Commit: %+v", d)
	}
	update(0x33, ca)
	if err := e.tb.SetVIDVerification(1, VIDVerificationUpdate{VendorID: 0xFFF4, SetVendorID: true, Statement: statementB, SetStatement: true}); err != nil {
		t.Fatal(err)
	}
	if err := e.tb.Commit(); err != nil {
		t.Fatal(err)
	}
	e.open(t)
	if d, _ := e.tb.Get(1); d.NodeID != 0x33 || d.VendorID != 0xFFF4 || !bytes.Equal(d.VIDVerificationStatement, statementB) || !bytes.Equal(d.VVSC, vvscA) {
		t.Fatalf("after commit and restart %+v", d)
	}

	// A new chain with an ICAC cannot keep the VVSC (§11.18.4.4).
	withICAC := *ca
	withICAC.icacKey = mustKey(t)
	var err error
	withICAC.icac, err = cert.NewICAC(withICAC.params(0x1CAC0000_00000002, ca.fabricID), &withICAC.icacKey.PublicKey, ca.rcac, ca.key)
	withICAC.icacTLV = mustTLV(t, withICAC.icac, err)
	update(0x44, &withICAC)
	if d, _ := e.tb.Get(1); d.VVSC != nil || !bytes.Equal(d.VIDVerificationStatement, statementB) {
		t.Fatalf("after UpdateNOC with an ICAC: VVSC %d octets, statement %x", len(d.VVSC), d.VIDVerificationStatement)
	}
	e.tb.Revert()

	// On a fabric AddNOC staged: staged with it, gone with its revert.
	idx := stageAdd(t, e.tb, newCA(t, 3, false), 0x55)
	if err := e.tb.SetVIDVerification(idx, VIDVerificationUpdate{Statement: statementA, SetStatement: true, VVSC: []byte{9}, SetVVSC: true}); err != nil {
		t.Fatal(err)
	}
	if d, _ := e.tb.Get(idx); !d.Pending || !bytes.Equal(d.VIDVerificationStatement, statementA) {
		t.Fatalf("pending fabric %+v", d)
	}
	e.tb.Revert()
	if e.tb.Has(idx) {
		t.Fatal("the pending fabric survived the revert")
	}
	idx = stageAdd(t, e.tb, newCA(t, 3, false), 0x55)
	if err := e.tb.SetVIDVerification(idx, VIDVerificationUpdate{Statement: statementA, SetStatement: true, VVSC: []byte{9}, SetVVSC: true}); err != nil {
		t.Fatal(err)
	}
	if err := e.tb.Commit(); err != nil {
		t.Fatal(err)
	}
	e.open(t)
	if d, _ := e.tb.Get(idx); !bytes.Equal(d.VIDVerificationStatement, statementA) || !bytes.Equal(d.VVSC, []byte{9}) {
		t.Fatalf("committed new fabric %+v", d)
	}
}

// specTBS builds vendor_id_verification_tbs from the field list of Core
// §11.18.6.16 and §6.4.10.1, independently of vidVerificationTBS.
func specTBS(clientChallenge, attChallenge []byte, fabricIndex uint8, rootPub []byte, fabricID uint64, vendorID uint16, statement []byte) []byte {
	var b bytes.Buffer
	b.WriteByte(0x01) // fabric_binding_version
	b.Write(clientChallenge)
	b.Write(attChallenge)
	b.WriteByte(fabricIndex)
	// vendor_fabric_binding_message
	b.WriteByte(0x01)
	b.Write(rootPub)
	for i := 7; i >= 0; i-- {
		b.WriteByte(byte(fabricID >> (8 * i)))
	}
	b.WriteByte(byte(vendorID >> 8))
	b.WriteByte(byte(vendorID))
	b.Write(statement)
	return b.Bytes()
}

// verifyRaw checks a raw r ‖ s P-256 signature with crypto/ecdsa.
func verifyRaw(pub *ecdsa.PublicKey, msg, sig []byte) bool {
	if len(sig) != 64 {
		return false
	}
	h := sha256.Sum256(msg)
	return ecdsa.Verify(pub, h[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:]))
}

func TestSignVIDVerification(t *testing.T) {
	e := newEnv(t, Config{})
	ca := newCA(t, 0x2222, false)
	commission(t, e.tb, newCA(t, 1, true), 0x11)
	idx := commission(t, e.tb, ca, 0x22)
	client := bytes.Repeat([]byte{0xA1}, VIDClientChallengeSize)
	att := bytes.Repeat([]byte{0x3C}, AttestationChallengeSize)
	nocKey := func(i uint8) *ecdsa.PublicKey {
		t.Helper()
		d, _ := e.tb.Get(i)
		c, err := cert.DecodeTLV(d.NOC)
		if err != nil {
			t.Fatal(err)
		}
		return c.PublicKey
	}

	sig, err := e.tb.SignVIDVerification(idx, client, att)
	if err != nil {
		t.Fatal(err)
	}
	tbs := specTBS(client, att, idx, ca.pub, 0x2222, testVendor, nil)
	if len(tbs) != 1+32+16+1+76 {
		t.Fatalf("test TBS of %d octets", len(tbs))
	}
	if !verifyRaw(nocKey(idx), tbs, sig) {
		t.Fatal("signature does not verify under the fabric's NOC key")
	}
	if verifyRaw(nocKey(1), tbs, sig) {
		t.Fatal("signature verifies under another fabric's key")
	}

	// With a statement and a new vendor ID, both are signed.
	if err := e.tb.SetVIDVerification(idx, VIDVerificationUpdate{VendorID: 0x6A01, SetVendorID: true, Statement: statementA, SetStatement: true}); err != nil {
		t.Fatal(err)
	}
	sig, err = e.tb.SignVIDVerification(idx, client, att)
	if err != nil {
		t.Fatal(err)
	}
	if !verifyRaw(nocKey(idx), specTBS(client, att, idx, ca.pub, 0x2222, 0x6A01, statementA), sig) {
		t.Fatal("signature with a statement does not verify")
	}
	if verifyRaw(nocKey(idx), specTBS(client, att, idx, ca.pub, 0x2222, 0x6A01, nil), sig) {
		t.Fatal("the statement is not part of the signed message")
	}

	// During UpdateNOC the new key signs.
	pub := csrKey(t, e.tb, true)
	noc, icac := ca.noc(t, pub, 0x23)
	if err := e.tb.UpdateNOC(idx, noc, icac); err != nil {
		t.Fatal(err)
	}
	sig, err = e.tb.SignVIDVerification(idx, client, att)
	if err != nil {
		t.Fatal(err)
	}
	if !verifyRaw(pub, specTBS(client, att, idx, ca.pub, 0x2222, 0x6A01, statementA), sig) {
		t.Fatal("a staged UpdateNOC's key did not sign")
	}

	for _, tc := range []struct {
		name        string
		index       uint8
		client, att []byte
		want        error
	}{
		{"unknown fabric", 9, client, att, ErrInvalidFabricIndex},
		{"fabric 0", 0, client, att, ErrInvalidFabricIndex},
		{"short client challenge", idx, client[:31], att, ErrConstraint},
		{"long client challenge", idx, append(client, 0), att, ErrConstraint},
		{"no attestation challenge", idx, client, nil, ErrConstraint},
	} {
		if _, err := e.tb.SignVIDVerification(tc.index, tc.client, tc.att); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestStoredVIDVerificationChecked(t *testing.T) {
	e := newEnv(t, Config{})
	commission(t, e.tb, newCA(t, 1, true), 1)
	commission(t, e.tb, newCA(t, 2, false), 1)
	commission(t, e.tb, newCA(t, 3, false), 1)
	put := func(index uint8, edit func(r *record)) {
		t.Helper()
		r := *e.tb.committed[index]
		edit(&r)
		b, err := r.encode()
		if err != nil {
			t.Fatal(err)
		}
		if err := e.store.Put(recordKey(index), b); err != nil {
			t.Fatal(err)
		}
	}
	put(1, func(r *record) { r.vvsc = []byte{1} })                     // VVSC beside an ICAC
	put(2, func(r *record) { r.vvs = statementA[:84] })                // short statement
	put(3, func(r *record) { r.vvs, r.vvsc = statementA, vvscA[:10] }) // fine
	e.open(t)
	if e.tb.Has(1) || e.tb.Has(2) || !e.tb.Has(3) {
		t.Fatalf("loaded %v", e.tb.List())
	}
	if d, _ := e.tb.Get(3); !bytes.Equal(d.VIDVerificationStatement, statementA) || !bytes.Equal(d.VVSC, vvscA[:10]) {
		t.Fatalf("fabric 3 %+v", d)
	}
}
