package fabric

import (
	"bytes"
	"crypto/ecdsa"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mattercam/mattercam/matter/cert"
	"github.com/mattercam/mattercam/matter/crypto"
	"github.com/mattercam/mattercam/matter/securechannel"
)

func TestCommissionCommitReload(t *testing.T) {
	for _, tt := range []struct {
		name     string
		withICAC bool
		icac     func([]byte) []byte // what AddNOC gets as ICACValue
	}{
		{"no ICAC, field empty (matter.js)", false, func(b []byte) []byte { return []byte{} }},
		{"no ICAC, field absent", false, func(b []byte) []byte { return nil }},
		{"with ICAC", true, func(b []byte) []byte { return b }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, Config{})
			ca := newCA(t, 0xFAB0_0000_0000_001D, tt.withICAC)

			pub := csrKey(t, e.tb, false)
			if err := e.tb.AddTrustedRoot(ca.rcacTLV); err != nil {
				t.Fatal(err)
			}
			if roots := e.tb.TrustedRootCertificates(); len(roots) != 1 || !bytes.Equal(roots[0], ca.rcacTLV) {
				t.Fatalf("staged root not listed: %d roots", len(roots))
			}
			noc, icac := ca.noc(t, pub, 0x1122_3344_5566_7788, 0xAB12_0003)
			idx, err := e.tb.AddNOC(noc, tt.icac(icac), ipkEpoch, adminNode, testVendor)
			if err != nil {
				t.Fatal(err)
			}
			if idx != 1 {
				t.Fatalf("first fabric index %d", idx)
			}

			// In force before CommissioningComplete.
			d, ok := e.tb.Get(idx)
			if !ok || !d.Pending || d.Updating {
				t.Fatalf("Get = %+v, %v", d, ok)
			}
			cfid, _ := crypto.CompressedFabricID(ca.pub, ca.fabricID)
			want := Descriptor{
				Index: 1, RootPublicKey: ca.pub, VendorID: testVendor, FabricID: ca.fabricID,
				NodeID: 0x1122_3344_5566_7788, RCAC: ca.rcacTLV, NOC: noc, CATs: []uint32{0xAB12_0003},
				CompressedFabricID: cfid, IPKEpochKey: ipkEpoch, Pending: true,
			}
			if tt.withICAC {
				want.ICAC = icac
			}
			if !descEqual(d, want) {
				t.Fatalf("descriptor\n got %+v\nwant %+v", d, want)
			}
			if n := e.tb.CommissionedFabrics(); n != 1 {
				t.Fatalf("CommissionedFabrics = %d", n)
			}
			if roots := e.tb.TrustedRootCertificates(); len(roots) != 1 {
				t.Fatalf("%d roots after AddNOC", len(roots))
			}
			fabrics := e.tb.Fabrics()
			if len(fabrics) != 1 {
				t.Fatalf("CASE sees %d fabrics", len(fabrics))
			}
			f := fabrics[0]
			if err := f.Validate(); err != nil {
				t.Fatal(err)
			}
			wantIPK, _ := crypto.DeriveOperationalGroupKey(ipkEpoch, cfid)
			if !bytes.Equal(f.IPK, wantIPK) || f.NodeID != d.NodeID || f.FabricID != ca.fabricID || !bytes.Equal(f.RootPublicKey, ca.pub) {
				t.Fatalf("CASE fabric %+v", f)
			}
			if tt.withICAC != (len(f.ICAC) > 0) {
				t.Fatalf("CASE fabric ICAC %x", f.ICAC)
			}
			if !bytes.Equal(pubBytes(t, &f.Key.PublicKey), pubBytes(t, pub)) {
				t.Fatal("CASE uses a key other than the CSR's")
			}
			if keys, _ := e.store.Keys(KeyPrefix + "1"); len(keys) != 0 {
				t.Fatalf("fabric stored before CommissioningComplete: %q", keys)
			}

			if err := e.tb.Commit(); err != nil {
				t.Fatal(err)
			}
			want.Pending = false
			if d, _ := e.tb.Get(1); !descEqual(d, want) {
				t.Fatalf("after Commit %+v", d)
			}
			if s := e.tb.Staged(); s != (Staged{}) {
				t.Fatalf("Staged after Commit = %+v", s)
			}
			key := keyBytes(t, e.tb, 1)

			// A restart keeps everything, including the operational key.
			e.open(t)
			if d, _ := e.tb.Get(1); !descEqual(d, want) {
				t.Fatalf("after reload\n got %+v\nwant %+v", d, want)
			}
			if !bytes.Equal(keyBytes(t, e.tb, 1), key) {
				t.Fatal("operational key changed across a restart")
			}
			if f := e.tb.Fabrics(); len(f) != 1 || f[0].Validate() != nil || !bytes.Equal(f[0].IPK, wantIPK) {
				t.Fatalf("after reload CASE sees %+v", f)
			}
			// One record per fabric, plus the index counter.
			if keys, _ := e.store.Keys(""); !slices.Equal(keys, []string{"fabric.1", "fabric.meta"}) {
				t.Fatalf("stored keys %q", keys)
			}
		})
	}
}

func pubBytes(t testing.TB, pub *ecdsa.PublicKey) []byte {
	t.Helper()
	b, err := crypto.MarshalPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFabricsSnapshotIsShared(t *testing.T) {
	// Fabrics is called for every Sigma1; it must not allocate per call.
	e := newEnv(t, Config{})
	commission(t, e.tb, newCA(t, 1, false), 2)
	a, b := e.tb.Fabrics(), e.tb.Fabrics()
	if &a[0] != &b[0] {
		t.Fatal("Fabrics copies on every call")
	}
	if n := testing.AllocsPerRun(100, func() { e.tb.Fabrics() }); n != 0 {
		t.Fatalf("Fabrics allocates %v times", n)
	}
}

func TestRevertAtEachStage(t *testing.T) {
	type stage func(t *testing.T, e *env, ca *testCA)
	csr := func(t *testing.T, e *env, ca *testCA) { csrKey(t, e.tb, false) }
	root := func(t *testing.T, e *env, ca *testCA) {
		csr(t, e, ca)
		if err := e.tb.AddTrustedRoot(ca.rcacTLV); err != nil {
			t.Fatal(err)
		}
	}
	add := func(t *testing.T, e *env, ca *testCA) { stageAdd(t, e.tb, ca, 0x42) }
	addLabel := func(t *testing.T, e *env, ca *testCA) {
		add(t, e, ca)
		if err := e.tb.UpdateLabel(2, "new admin"); err != nil {
			t.Fatal(err)
		}
	}
	update := func(t *testing.T, e *env, ca *testCA) {
		pub := csrKey(t, e.tb, true)
		noc, icac := e.existing.noc(t, pub, 0x77)
		if err := e.tb.UpdateNOC(1, noc, icac); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name  string
		stage stage
		want  Reverted
		kinds []ChangeKind // notifications of Revert
	}{
		{"nothing", func(*testing.T, *env, *testCA) {}, Reverted{}, nil},
		{"after CSRRequest", csr, Reverted{}, nil},
		{"after AddTrustedRootCertificate", root, Reverted{}, []ChangeKind{ChangeRoots}},
		{"after AddNOC", add, Reverted{Added: 2}, []ChangeKind{ChangeRemoved}},
		{"after AddNOC and UpdateFabricLabel", addLabel, Reverted{Added: 2}, []ChangeKind{ChangeRemoved}},
		{"after UpdateNOC", update, Reverted{Updated: 1}, []ChangeKind{ChangeUpdated}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, Config{})
			e.existing = newCA(t, 1, true)
			commission(t, e.tb, e.existing, 0x11)
			before := snapshot(e.tb)
			beforeKey := keyBytes(t, e.tb, 1)
			storedBefore, _ := e.store.Keys("fabric.")

			tt.stage(t, e, newCA(t, 2, false))
			e.rec.take()
			if got := e.tb.Revert(); got != tt.want {
				t.Fatalf("Revert = %+v, want %+v", got, tt.want)
			}
			var kinds []ChangeKind
			for _, c := range e.rec.take() {
				kinds = append(kinds, c.Kind)
			}
			if !slices.Equal(kinds, tt.kinds) {
				t.Fatalf("Revert notified %v, want %v", kinds, tt.kinds)
			}
			if after := snapshot(e.tb); !after.equal(before) {
				t.Fatalf("state after Revert\n got %+v\nwant %+v", after, before)
			}
			if !bytes.Equal(keyBytes(t, e.tb, 1), beforeKey) || len(e.tb.Fabrics()) != 1 {
				t.Fatal("CASE identity not restored")
			}
			if s := e.tb.Staged(); s != (Staged{}) {
				t.Fatalf("Staged after Revert = %+v", s)
			}
			if stored, _ := e.store.Keys("fabric."); !slices.Equal(stored, storedBefore) {
				t.Fatalf("stored keys %q, before %q", stored, storedBefore)
			}
			// A restart agrees, and the next fail-safe starts afresh.
			e.open(t)
			if after := snapshot(e.tb); !after.equal(before) {
				t.Fatal("stored state differs after Revert")
			}
			idx := commission(t, e.tb, newCA(t, 3, false), 0x99)
			if idx == 1 {
				t.Fatal("index reused")
			}
		})
	}
}

func TestRestartDuringFailSafeReverts(t *testing.T) {
	// "If the receiver restarts unexpectedly … the receiver shall behave as
	// if the fail-safe timer expired" (§11.10.7.2).
	e := newEnv(t, Config{})
	commission(t, e.tb, newCA(t, 1, false), 0x11)
	before := snapshot(e.tb)
	stageAdd(t, e.tb, newCA(t, 2, false), 0x22)
	e.open(t) // no Commit: the process died
	if after := snapshot(e.tb); !after.equal(before) {
		t.Fatalf("after restart\n got %+v\nwant %+v", after, before)
	}
	// The index the lost AddNOC took is not given out again.
	if idx := commission(t, e.tb, newCA(t, 3, false), 0x33); idx != 3 {
		t.Fatalf("index after restart = %d, want 3", idx)
	}
}

func TestSequenceRules(t *testing.T) {
	ca := newCA(t, 7, false)
	isConstraint := func(err error) bool { return errors.Is(err, ErrConstraint) }
	tests := []struct {
		name string
		run  func(t *testing.T, e *env) error
		want func(error) bool
	}{
		{"second root", func(t *testing.T, e *env) error {
			e.tb.AddTrustedRoot(ca.rcacTLV)
			return e.tb.AddTrustedRoot(ca.rcacTLV)
		}, isConstraint},
		{"root after AddNOC", func(t *testing.T, e *env) error {
			stageAdd(t, e.tb, ca, 1)
			return e.tb.AddTrustedRoot(newCA(t, 8, false).rcacTLV)
		}, isConstraint},
		{"second AddNOC", func(t *testing.T, e *env) error {
			stageAdd(t, e.tb, ca, 1)
			pub := csrKeyNoFail(e.tb)
			noc, icac := ca.noc(t, pub, 2)
			_, err := e.tb.AddNOC(noc, icac, ipkEpoch, adminNode, testVendor)
			return err
		}, isConstraint},
		{"CSR after AddNOC", func(t *testing.T, e *env) error {
			stageAdd(t, e.tb, ca, 1)
			_, err := e.tb.CSR(false)
			return err
		}, isConstraint},
		{"AddNOC after CSR for UpdateNOC", func(t *testing.T, e *env) error {
			pub := csrKey(t, e.tb, true)
			e.tb.AddTrustedRoot(ca.rcacTLV)
			noc, icac := ca.noc(t, pub, 1)
			_, err := e.tb.AddNOC(noc, icac, ipkEpoch, adminNode, testVendor)
			return err
		}, isConstraint},
		{"AddNOC without root", func(t *testing.T, e *env) error {
			pub := csrKey(t, e.tb, false)
			noc, icac := ca.noc(t, pub, 1)
			_, err := e.tb.AddNOC(noc, icac, ipkEpoch, adminNode, testVendor)
			return err
		}, isStatus(StatusInvalidNOC)},
		{"AddNOC without CSR", func(t *testing.T, e *env) error {
			e.tb.AddTrustedRoot(ca.rcacTLV)
			noc, icac := ca.noc(t, &mustKey(t).PublicKey, 1)
			_, err := e.tb.AddNOC(noc, icac, ipkEpoch, adminNode, testVendor)
			return err
		}, isStatus(StatusMissingCSR)},
		{"AddNOC for the first of two CSRs", func(t *testing.T, e *env) error {
			first := csrKey(t, e.tb, false)
			csrKey(t, e.tb, false)
			e.tb.AddTrustedRoot(ca.rcacTLV)
			noc, icac := ca.noc(t, first, 1)
			_, err := e.tb.AddNOC(noc, icac, ipkEpoch, adminNode, testVendor)
			return err
		}, isStatus(StatusInvalidPublicKey)},
		{"AddNOC for the second of two CSRs", func(t *testing.T, e *env) error {
			csrKey(t, e.tb, false)
			second := csrKey(t, e.tb, false)
			e.tb.AddTrustedRoot(ca.rcacTLV)
			noc, icac := ca.noc(t, second, 1)
			_, err := e.tb.AddNOC(noc, icac, ipkEpoch, adminNode, testVendor)
			return err
		}, func(err error) bool { return err == nil }},
		{"UpdateNOC after root", func(t *testing.T, e *env) error {
			commission(t, e.tb, ca, 1)
			pub := csrKey(t, e.tb, true)
			e.tb.AddTrustedRoot(newCA(t, 9, false).rcacTLV)
			noc, icac := ca.noc(t, pub, 2)
			return e.tb.UpdateNOC(1, noc, icac)
		}, isConstraint},
		{"UpdateNOC after CSR for AddNOC", func(t *testing.T, e *env) error {
			commission(t, e.tb, ca, 1)
			pub := csrKey(t, e.tb, false)
			noc, icac := ca.noc(t, pub, 2)
			return e.tb.UpdateNOC(1, noc, icac)
		}, isConstraint},
		{"UpdateNOC without CSR", func(t *testing.T, e *env) error {
			commission(t, e.tb, ca, 1)
			noc, icac := ca.noc(t, &mustKey(t).PublicKey, 2)
			return e.tb.UpdateNOC(1, noc, icac)
		}, isStatus(StatusMissingCSR)},
		{"UpdateNOC twice", func(t *testing.T, e *env) error {
			commission(t, e.tb, ca, 1)
			pub := csrKey(t, e.tb, true)
			noc, icac := ca.noc(t, pub, 2)
			if err := e.tb.UpdateNOC(1, noc, icac); err != nil {
				return err
			}
			return e.tb.UpdateNOC(1, noc, icac)
		}, isConstraint},
		{"AddNOC after UpdateNOC", func(t *testing.T, e *env) error {
			commission(t, e.tb, ca, 1)
			pub := csrKey(t, e.tb, true)
			noc, icac := ca.noc(t, pub, 2)
			e.tb.UpdateNOC(1, noc, icac)
			_, err := e.tb.AddNOC(noc, icac, ipkEpoch, adminNode, testVendor)
			return err
		}, isConstraint},
		{"UpdateNOC of an unknown fabric", func(t *testing.T, e *env) error {
			pub := csrKey(t, e.tb, true)
			noc, icac := ca.noc(t, pub, 2)
			return e.tb.UpdateNOC(3, noc, icac)
		}, isStatus(StatusInvalidFabricIndex)},
		{"UpdateNOC of the fabric being added", func(t *testing.T, e *env) error {
			idx := stageAdd(t, e.tb, ca, 1)
			return e.tb.UpdateNOC(idx, nil, nil)
		}, isConstraint},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, Config{})
			if err := tt.run(t, e); !tt.want(err) {
				t.Fatalf("got %v", err)
			}
		})
	}
}

func csrKeyNoFail(tb *Table) *ecdsa.PublicKey {
	der, err := tb.CSR(false)
	if err != nil {
		k, _ := crypto.GenerateKey()
		return &k.PublicKey
	}
	pub, _ := cert.ParseCSR(der)
	return pub
}

func isStatus(s Status) func(error) bool {
	return func(err error) bool { got, ok := StatusOf(err); return ok && got == s && err != nil }
}

func TestAddNOCValidation(t *testing.T) {
	ca := newCA(t, 0x1D, true)
	other := newCA(t, 0x1D, true)
	now := func() time.Time { return notBefore.Add(time.Hour) }
	tests := []struct {
		name    string
		cfg     Config
		mutate  func(t *testing.T, pub *ecdsa.PublicKey, noc, icac, ipk *[]byte, subject *uint64, vendor *uint16)
		want    func(error) bool
		wantIdx uint8
	}{
		{"valid", Config{}, nil, func(err error) bool { return err == nil }, 1},
		{"valid with time check", Config{Now: now}, nil, func(err error) bool { return err == nil }, 1},
		{"valid CAT admin subject", Config{}, func(t *testing.T, _ *ecdsa.PublicKey, _, _, _ *[]byte, s *uint64, _ *uint16) {
			*s = 0xFFFF_FFFD_0001_0002
		}, func(err error) bool { return err == nil }, 1},
		{"NOC of another key", Config{}, func(t *testing.T, _ *ecdsa.PublicKey, noc, icac, _ *[]byte, _ *uint64, _ *uint16) {
			*noc, *icac = ca.noc(t, &mustKey(t).PublicKey, 5)
		}, isStatus(StatusInvalidPublicKey), 0},
		{"NOC of another CA", Config{}, func(t *testing.T, pub *ecdsa.PublicKey, noc, icac, _ *[]byte, _ *uint64, _ *uint16) {
			*noc, *icac = other.noc(t, pub, 5)
		}, isStatus(StatusInvalidNOC), 0},
		{"ICAC of another CA", Config{}, func(t *testing.T, _ *ecdsa.PublicKey, _, icac, _ *[]byte, _ *uint64, _ *uint16) {
			*icac = other.icacTLV
		}, isStatus(StatusInvalidNOC), 0},
		{"ICAC missing", Config{}, func(t *testing.T, _ *ecdsa.PublicKey, _, icac, _ *[]byte, _ *uint64, _ *uint16) {
			*icac = nil
		}, isStatus(StatusInvalidNOC), 0},
		{"garbage NOC", Config{}, func(t *testing.T, _ *ecdsa.PublicKey, noc, _, _ *[]byte, _ *uint64, _ *uint16) {
			*noc = []byte{0x15, 0x18}
		}, isStatus(StatusInvalidNOC), 0},
		{"truncated NOC", Config{}, func(t *testing.T, _ *ecdsa.PublicKey, noc, _, _ *[]byte, _ *uint64, _ *uint16) {
			*noc = (*noc)[:len(*noc)-3]
		}, isStatus(StatusInvalidNOC), 0},
		{"oversized NOC", Config{}, func(t *testing.T, _ *ecdsa.PublicKey, noc, _, _ *[]byte, _ *uint64, _ *uint16) {
			*noc = append(*noc, make([]byte, cert.MaxTLVSize)...)
		}, isStatus(StatusInvalidNOC), 0},
		{"RCAC as NOC", Config{}, func(t *testing.T, _ *ecdsa.PublicKey, noc, _, _ *[]byte, _ *uint64, _ *uint16) {
			*noc = ca.rcacTLV
		}, isStatus(StatusInvalidNOC), 0},
		{"garbage ICAC", Config{}, func(t *testing.T, _ *ecdsa.PublicKey, _, icac, _ *[]byte, _ *uint64, _ *uint16) {
			*icac = []byte("not a certificate")
		}, isStatus(StatusInvalidNOC), 0},
		{"node ID not operational", Config{}, func(t *testing.T, pub *ecdsa.PublicKey, noc, _, _ *[]byte, _ *uint64, _ *uint16) {
			*noc = badNodeNOC(t, ca, pub, 0xFFFF_FFFB_0000_0001)
		}, isStatus(StatusInvalidNodeOpID), 0},
		{"NOC expired", Config{Now: now}, func(t *testing.T, pub *ecdsa.PublicKey, noc, _, _ *[]byte, _ *uint64, _ *uint16) {
			p := ca.params(0x42, ca.fabricID)
			p.NotAfter = notBefore.Add(time.Minute)
			c, err := cert.NewNOC(p, pub, ca.icac, ca.icacKey)
			*noc = mustTLV(t, c, err)
		}, isStatus(StatusInvalidNOC), 0},
		{"NOC not yet valid", Config{Now: now}, func(t *testing.T, pub *ecdsa.PublicKey, noc, _, _ *[]byte, _ *uint64, _ *uint16) {
			p := ca.params(0x42, ca.fabricID)
			p.NotBefore = notBefore.Add(2 * time.Hour)
			c, err := cert.NewNOC(p, pub, ca.icac, ca.icacKey)
			*noc = mustTLV(t, c, err)
		}, isStatus(StatusInvalidNOC), 0},
		{"admin subject 0", Config{}, func(t *testing.T, _ *ecdsa.PublicKey, _, _, _ *[]byte, s *uint64, _ *uint16) {
			*s = 0
		}, isStatus(StatusInvalidAdminSubject), 0},
		{"admin subject group node", Config{}, func(t *testing.T, _ *ecdsa.PublicKey, _, _, _ *[]byte, s *uint64, _ *uint16) {
			*s = 0xFFFF_FFFF_FFFF_0001
		}, isStatus(StatusInvalidAdminSubject), 0},
		{"admin subject CAT version 0", Config{}, func(t *testing.T, _ *ecdsa.PublicKey, _, _, _ *[]byte, s *uint64, _ *uint16) {
			*s = 0xFFFF_FFFD_0001_0000
		}, isStatus(StatusInvalidAdminSubject), 0},
		{"IPK of 15 octets", Config{}, func(t *testing.T, _ *ecdsa.PublicKey, _, _, ipk *[]byte, _ *uint64, _ *uint16) {
			*ipk = (*ipk)[:15]
		}, func(err error) bool { return errors.Is(err, ErrConstraint) }, 0},
		{"vendor 0", Config{}, func(t *testing.T, _ *ecdsa.PublicKey, _, _, _ *[]byte, _ *uint64, v *uint16) {
			*v = 0
		}, func(err error) bool { return errors.Is(err, ErrConstraint) }, 0},
		{"vendor 0xFFF5", Config{}, func(t *testing.T, _ *ecdsa.PublicKey, _, _, _ *[]byte, _ *uint64, v *uint16) {
			*v = 0xFFF5
		}, func(err error) bool { return errors.Is(err, ErrConstraint) }, 0},
		{"test vendor 0xFFF4", Config{}, func(t *testing.T, _ *ecdsa.PublicKey, _, _, _ *[]byte, _ *uint64, v *uint16) {
			*v = 0xFFF4
		}, func(err error) bool { return err == nil }, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.cfg)
			pub := csrKey(t, e.tb, false)
			if err := e.tb.AddTrustedRoot(ca.rcacTLV); err != nil {
				t.Fatal(err)
			}
			noc, icac := ca.noc(t, pub, 0x42)
			ipk, subject, vendor := slices.Clone(ipkEpoch), uint64(adminNode), uint16(testVendor)
			if tt.mutate != nil {
				tt.mutate(t, pub, &noc, &icac, &ipk, &subject, &vendor)
			}
			before := snapshot(e.tb)
			idx, err := e.tb.AddNOC(noc, icac, ipk, subject, vendor)
			if !tt.want(err) || idx != tt.wantIdx {
				t.Fatalf("AddNOC = %d, %v", idx, err)
			}
			if err == nil {
				return
			}
			// A failed AddNOC changes nothing: the same fail-safe can go on
			// with a correct NOC.
			if after := snapshot(e.tb); !after.equal(before) {
				t.Fatal("a failed AddNOC changed the table")
			}
			if s := e.tb.Staged(); !s.CSR || !s.Root || s.NOCDone {
				t.Fatalf("Staged after failure = %+v", s)
			}
			noc, icac = ca.noc(t, pub, 0x42)
			if _, err := e.tb.AddNOC(noc, icac, ipkEpoch, adminNode, testVendor); err != nil {
				t.Fatalf("AddNOC after a failed one: %v", err)
			}
		})
	}
}

// badNodeNOC issues a NOC whose node ID is outside the operational range,
// which cert.NewNOC refuses to do.
func badNodeNOC(t *testing.T, ca *testCA, pub *ecdsa.PublicKey, node uint64) []byte {
	t.Helper()
	tmpl := &cert.Certificate{
		SerialNumber:          []byte{0x77},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		Subject:               cert.DN{{Type: cert.AttrNodeID, Value: node}, {Type: cert.AttrFabricID, Value: ca.fabricID}},
		PublicKey:             pub,
		BasicConstraintsValid: true,
		KeyUsage:              cert.KeyUsageDigitalSignature,
		ExtKeyUsage:           []cert.ExtKeyUsage{cert.ExtKeyUsageClientAuth, cert.ExtKeyUsageServerAuth},
	}
	c, err := cert.Issue(tmpl, ca.icac, ca.icacKey)
	return mustTLV(t, c, err)
}

func TestAddTrustedRootValidation(t *testing.T) {
	ca := newCA(t, 1, true)
	expired := func() time.Time { return notAfter.Add(time.Hour) }
	for _, tt := range []struct {
		name string
		cfg  Config
		rcac []byte
	}{
		{"garbage", Config{}, []byte("garbage")},
		{"empty", Config{}, nil},
		{"truncated", Config{}, ca.rcacTLV[:len(ca.rcacTLV)-1]},
		{"oversized", Config{}, append(slices.Clone(ca.rcacTLV), make([]byte, cert.MaxTLVSize)...)},
		{"an ICAC", Config{}, ca.icacTLV},
		{"bad signature", Config{}, func() []byte {
			c, _ := cert.DecodeTLV(ca.rcacTLV)
			c.Signature[5] ^= 1
			b, _ := c.EncodeTLV()
			return b
		}()},
		{"expired", Config{Now: expired}, ca.rcacTLV},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.cfg)
			if err := e.tb.AddTrustedRoot(tt.rcac); !errors.Is(err, ErrInvalidRoot) {
				t.Fatalf("AddTrustedRoot = %v, want ErrInvalidRoot", err)
			}
			if _, ok := StatusOf(e.tb.AddTrustedRoot(tt.rcac)); ok {
				t.Fatal("an invalid root has an NOCResponse status")
			}
			if len(e.tb.TrustedRootCertificates()) != 0 || e.tb.Staged().Root {
				t.Fatal("invalid root staged")
			}
		})
	}
}

func TestSameRootTwice(t *testing.T) {
	// "If the certificate … is already installed, based on exact
	// byte-for-byte equality, then this command shall succeed with no change
	// to the list" (§11.18.6.13), and AddNOC still needs it in its own
	// fail-safe.
	e := newEnv(t, Config{})
	ca := newCA(t, 1, false)
	commission(t, e.tb, ca, 1)
	e.rec.take()
	if err := e.tb.AddTrustedRoot(ca.rcacTLV); err != nil {
		t.Fatal(err)
	}
	if roots := e.tb.TrustedRootCertificates(); len(roots) != 1 {
		t.Fatalf("%d roots", len(roots))
	}
	if c := e.rec.take(); len(c) != 0 {
		t.Fatalf("notified %+v", c)
	}
	// Same root, another fabric ID: a second fabric.
	ca2 := *ca
	ca2.fabricID = 2
	pub := csrKey(t, e.tb, false)
	noc, icac := ca2.noc(t, pub, 1)
	if _, err := e.tb.AddNOC(noc, icac, ipkEpoch, adminNode, testVendor); err != nil {
		t.Fatal(err)
	}
	if err := e.tb.Commit(); err != nil {
		t.Fatal(err)
	}
	if roots := e.tb.TrustedRootCertificates(); len(roots) != 2 || !bytes.Equal(roots[0], roots[1]) {
		t.Fatalf("roots %d", len(roots))
	}
}

func TestFabricConflict(t *testing.T) {
	e := newEnv(t, Config{})
	ca := newCA(t, 0x1D, false)
	commission(t, e.tb, ca, 1)
	// The same <root public key, fabric ID> again, even with another node
	// ID: UpdateNOC was due, not AddNOC.
	pub := csrKey(t, e.tb, false)
	e.tb.AddTrustedRoot(ca.rcacTLV)
	noc, icac := ca.noc(t, pub, 2)
	_, err := e.tb.AddNOC(noc, icac, ipkEpoch, adminNode, testVendor)
	if !errors.Is(err, ErrFabricConflict) {
		t.Fatalf("AddNOC = %v, want FabricConflict", err)
	}
	if s, _ := StatusOf(err); s != 9 {
		t.Fatalf("status %d", s)
	}
	// Another root with the same fabric ID is another fabric.
	e.tb.Revert()
	commission(t, e.tb, newCA(t, 0x1D, false), 1)
	if e.tb.CommissionedFabrics() != 2 {
		t.Fatal("second fabric with the same fabric ID under another root refused")
	}
}

func TestTableFullAndIndexAllocation(t *testing.T) {
	e := newEnv(t, Config{})
	if e.tb.SupportedFabrics() != 5 {
		t.Fatalf("SupportedFabrics = %d", e.tb.SupportedFabrics())
	}
	for i := range 5 {
		if idx := commission(t, e.tb, newCA(t, uint64(i+1), false), 1); idx != uint8(i+1) {
			t.Fatalf("fabric %d got index %d", i+1, idx)
		}
	}
	pub := csrKey(t, e.tb, false)
	ca := newCA(t, 6, false)
	e.tb.AddTrustedRoot(ca.rcacTLV)
	noc, icac := ca.noc(t, pub, 1)
	if _, err := e.tb.AddNOC(noc, icac, ipkEpoch, adminNode, testVendor); !errors.Is(err, ErrTableFull) {
		t.Fatalf("sixth AddNOC = %v, want TableFull", err)
	}
	e.tb.Revert()
	if err := e.tb.Remove(2); err != nil {
		t.Fatal(err)
	}
	// Indices keep increasing after a removal and across a restart.
	e.open(t)
	if idx := commission(t, e.tb, ca, 1); idx != 6 {
		t.Fatalf("index after removal = %d, want 6", idx)
	}

	if _, err := Open(e.store, Config{SupportedFabrics: 4}); err == nil {
		t.Fatal("SupportedFabrics 4 accepted")
	}
	if _, err := Open(e.store, Config{SupportedFabrics: 255}); err == nil {
		t.Fatal("SupportedFabrics 255 accepted")
	}
}

func TestIndexWrapsAround(t *testing.T) {
	e := newEnv(t, Config{SupportedFabrics: 10})
	commission(t, e.tb, newCA(t, 1, false), 1) // index 1
	// Pretend 252 more fabrics came and went.
	b, _ := encodeMeta(253)
	if err := e.store.Put(metaKey, b); err != nil {
		t.Fatal(err)
	}
	e.open(t)
	var got []uint8
	for i := range 3 {
		got = append(got, commission(t, e.tb, newCA(t, uint64(10+i), false), 1))
	}
	if want := []uint8{254, 2, 3}; !slices.Equal(got, want) {
		t.Fatalf("indices %v, want %v (wrapping from 254 to 1, skipping 1)", got, want)
	}
}

func TestUpdateNOC(t *testing.T) {
	e := newEnv(t, Config{})
	ca := newCA(t, 0x1D, true)
	commission(t, e.tb, ca, 0x11)
	if err := e.tb.UpdateLabel(1, "home"); err != nil {
		t.Fatal(err)
	}
	oldKey := keyBytes(t, e.tb, 1)
	e.rec.take()

	pub := csrKey(t, e.tb, true)
	noc, icac := ca.noc(t, pub, 0x22, 0x0001_0002)
	if err := e.tb.UpdateNOC(1, noc, icac); err != nil {
		t.Fatal(err)
	}
	d, _ := e.tb.Get(1)
	if !d.Updating || d.NodeID != 0x22 || !bytes.Equal(d.NOC, noc) || d.Label != "home" || !slices.Equal(d.CATs, []uint32{0x0001_0002}) {
		t.Fatalf("after UpdateNOC %+v", d)
	}
	if f := e.tb.Fabrics(); f[0].NodeID != 0x22 || bytes.Equal(keyBytes(t, e.tb, 1), oldKey) {
		t.Fatal("CASE does not use the new identity")
	}
	if c := e.rec.take(); len(c) != 1 || c[0].Kind != ChangeUpdated || c[0].Attrs != AttrNOCs|AttrFabrics {
		t.Fatalf("notified %+v", c)
	}
	// The stored fabric is still the old one until CommissioningComplete.
	e.open(t)
	if d, _ := e.tb.Get(1); d.NodeID != 0x11 || !bytes.Equal(keyBytes(t, e.tb, 1), oldKey) {
		t.Fatal("UpdateNOC stored before Commit")
	}

	pub = csrKey(t, e.tb, true)
	noc, icac = ca.noc(t, pub, 0x33)
	if err := e.tb.UpdateNOC(1, noc, icac); err != nil {
		t.Fatal(err)
	}
	newKey := keyBytes(t, e.tb, 1)
	if err := e.tb.Commit(); err != nil {
		t.Fatal(err)
	}
	e.open(t)
	if d, _ := e.tb.Get(1); d.NodeID != 0x33 || d.Updating || d.Label != "home" || !bytes.Equal(keyBytes(t, e.tb, 1), newKey) {
		t.Fatalf("after Commit and reload %+v", d)
	}
}

func TestUpdateNOCOtherFabricID(t *testing.T) {
	// "The NOC provided in the NOCValue does not refer in its subject to
	// the FabricID associated with the accessing fabric" → InvalidNOC.
	e := newEnv(t, Config{})
	ca := newCA(t, 1, false)
	commission(t, e.tb, ca, 0x11)
	other := *ca
	other.fabricID = 2
	pub := csrKey(t, e.tb, true)
	noc, icac := other.noc(t, pub, 0x11)
	if err := e.tb.UpdateNOC(1, noc, icac); !errors.Is(err, ErrInvalidNOC) {
		t.Fatalf("UpdateNOC = %v", err)
	}
}

func TestUpdateLabel(t *testing.T) {
	e := newEnv(t, Config{})
	commission(t, e.tb, newCA(t, 1, false), 1)
	commission(t, e.tb, newCA(t, 2, false), 1)
	e.rec.take()
	tests := []struct {
		index uint8
		label string
		want  func(error) bool
	}{
		{1, "matter.js", func(err error) bool { return err == nil }},
		{2, "matter.js", isStatus(StatusLabelConflict)},
		{1, "matter.js", func(err error) bool { return err == nil }}, // its own label again
		{2, "", func(err error) bool { return err == nil }},          // empty never conflicts
		{2, strings.Repeat("x", MaxLabelLen), func(err error) bool { return err == nil }},
		{2, strings.Repeat("x", MaxLabelLen+1), func(err error) bool { return errors.Is(err, ErrConstraint) }},
		{2, "\xff", func(err error) bool { return errors.Is(err, ErrConstraint) }},
		{3, "nobody", isStatus(StatusInvalidFabricIndex)},
	}
	for _, tt := range tests {
		if err := e.tb.UpdateLabel(tt.index, tt.label); !tt.want(err) {
			t.Errorf("UpdateLabel(%d, %q) = %v", tt.index, tt.label, err)
		}
	}
	if c := e.rec.take(); len(c) != 2 || c[0] != (Change{Kind: ChangeLabel, Index: 1, Attrs: AttrFabrics}) {
		t.Fatalf("notified %+v", c)
	}
	e.open(t)
	if d, _ := e.tb.Get(1); d.Label != "matter.js" {
		t.Fatalf("label after reload %q", d.Label)
	}
	if d, _ := e.tb.Get(2); d.Label != strings.Repeat("x", MaxLabelLen) {
		t.Fatalf("label after reload %q", d.Label)
	}

	// The label of a fabric being added is stored with it.
	idx := stageAdd(t, e.tb, newCA(t, 3, false), 1)
	if err := e.tb.UpdateLabel(idx, "matter.js"); !errors.Is(err, ErrLabelConflict) {
		t.Fatalf("conflict with a committed label: %v", err)
	}
	if err := e.tb.UpdateLabel(idx, "camera admin"); err != nil {
		t.Fatal(err)
	}
	if err := e.tb.Commit(); err != nil {
		t.Fatal(err)
	}
	e.open(t)
	if d, _ := e.tb.Get(idx); d.Label != "camera admin" {
		t.Fatalf("label of the added fabric after reload %q", d.Label)
	}
}

func TestRemove(t *testing.T) {
	e := newEnv(t, Config{})
	ca1, ca2 := newCA(t, 1, false), newCA(t, 2, true)
	commission(t, e.tb, ca1, 1)
	commission(t, e.tb, ca2, 1)
	e.rec.take()
	if err := e.tb.Remove(1); err != nil {
		t.Fatal(err)
	}
	if c := e.rec.take(); len(c) != 1 || c[0] != (Change{Kind: ChangeRemoved, Index: 1, Attrs: allAttrs}) {
		t.Fatalf("notified %+v", c)
	}
	if err := e.tb.Remove(1); !errors.Is(err, ErrInvalidFabricIndex) {
		t.Fatalf("second Remove = %v", err)
	}
	if err := e.tb.Remove(0); !errors.Is(err, ErrInvalidFabricIndex) {
		t.Fatalf("Remove(0) = %v", err)
	}
	// Its root goes with it (§11.18.6.12).
	if roots := e.tb.TrustedRootCertificates(); len(roots) != 1 || !bytes.Equal(roots[0], ca2.rcacTLV) {
		t.Fatal("root of the removed fabric still listed")
	}
	if len(e.tb.Fabrics()) != 1 || e.tb.Has(1) || !e.tb.Has(2) {
		t.Fatal("removed fabric still in force")
	}
	e.open(t)
	if e.tb.CommissionedFabrics() != 1 || e.tb.Has(1) {
		t.Fatal("removal not stored")
	}

	// Removing the fabric being added leaves nothing to commit.
	idx := stageAdd(t, e.tb, newCA(t, 3, false), 1)
	if err := e.tb.Remove(idx); err != nil {
		t.Fatal(err)
	}
	if err := e.tb.Commit(); err != nil {
		t.Fatal(err)
	}
	e.open(t)
	if e.tb.Has(idx) {
		t.Fatal("removed staged fabric committed")
	}

	// Removing a fabric during its UpdateNOC drops the update.
	pub := csrKey(t, e.tb, true)
	noc, icac := ca2.noc(t, pub, 9)
	if err := e.tb.UpdateNOC(2, noc, icac); err != nil {
		t.Fatal(err)
	}
	if err := e.tb.Remove(2); err != nil {
		t.Fatal(err)
	}
	if err := e.tb.Commit(); err != nil {
		t.Fatal(err)
	}
	e.open(t)
	if e.tb.CommissionedFabrics() != 0 {
		t.Fatal("update of a removed fabric committed")
	}
}

func TestNotifications(t *testing.T) {
	e := newEnv(t, Config{})
	ca := newCA(t, 1, false)
	idx := stageAdd(t, e.tb, ca, 1)
	if err := e.tb.Commit(); err != nil {
		t.Fatal(err)
	}
	want := []Change{
		{Kind: ChangeRoots, Attrs: AttrTrustedRootCertificates},
		{Kind: ChangeAdded, Index: idx, Attrs: allAttrs},
		{Kind: ChangeCommitted, Index: idx},
	}
	if got := e.rec.take(); !slices.Equal(got, want) {
		t.Fatalf("notified %+v, want %+v", got, want)
	}
	// A root that no AddNOC used is dropped at Commit too.
	if err := e.tb.AddTrustedRoot(newCA(t, 2, false).rcacTLV); err != nil {
		t.Fatal(err)
	}
	e.tb.Commit()
	want = []Change{
		{Kind: ChangeRoots, Attrs: AttrTrustedRootCertificates},
		{Kind: ChangeRoots, Attrs: AttrTrustedRootCertificates},
	}
	if got := e.rec.take(); !slices.Equal(got, want) {
		t.Fatalf("notified %+v, want %+v", got, want)
	}
	if len(e.tb.TrustedRootCertificates()) != 1 {
		t.Fatal("unused root kept after Commit")
	}
}

func TestNotificationMayReadTable(t *testing.T) {
	var tb *Table
	var seen []int
	st := openStore(t, t.TempDir())
	tb, err := Open(st, Config{OnChange: func(c Change) { seen = append(seen, tb.CommissionedFabrics()) }})
	if err != nil {
		t.Fatal(err)
	}
	commission(t, tb, newCA(t, 1, false), 1)
	if !slices.Equal(seen, []int{0, 1, 1}) {
		t.Fatalf("counts seen by the callback %v", seen)
	}
}

func TestConcurrentCASEDuringCommissioning(t *testing.T) {
	e := newEnv(t, Config{})
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				for _, f := range e.tb.Fabrics() {
					if err := f.Validate(); err != nil {
						t.Error(err)
						return
					}
				}
				e.tb.List()
				e.tb.TrustedRootCertificates()
			}
		}()
	}
	for i := range 3 {
		commission(t, e.tb, newCA(t, uint64(i+1), false), 1)
	}
	e.tb.Remove(2)
	close(stop)
	wg.Wait()
}

var _ securechannel.Fabrics = (*Table)(nil)
