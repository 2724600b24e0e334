package fabric

import (
	"bytes"
	"crypto/ecdsa"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mattercam/mattercam/matter/cert"
	"github.com/mattercam/mattercam/matter/crypto"
	"github.com/mattercam/mattercam/matter/storage"
)

// A test fabric PKI built with matter/cert.

var (
	notBefore = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	notAfter  = time.Date(2034, 1, 1, 0, 0, 0, 0, time.UTC)
	ipkEpoch  = []byte("IPK epoch key 16")
)

const (
	testVendor = 0xFFF1
	adminNode  = 0x0000_0000_0000_C0DE
)

type testCA struct {
	fabricID uint64
	key      *ecdsa.PrivateKey
	rcac     *cert.Certificate
	rcacTLV  []byte
	pub      []byte // root public key, 65 octets

	icacKey *ecdsa.PrivateKey // nil: NOCs issued by the root
	icac    *cert.Certificate
	icacTLV []byte
	serial  byte
}

func (ca *testCA) params(id, fabricID uint64, cats ...cert.CAT) cert.Params {
	ca.serial++
	return cert.Params{SerialNumber: []byte{ca.serial}, NotBefore: notBefore, NotAfter: notAfter, ID: id, FabricID: fabricID, CATs: cats}
}

func mustTLV(t testing.TB, c *cert.Certificate, err error) []byte {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.EncodeTLV()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newCA makes a root for fabricID, with an intermediate if withICAC.
func newCA(t testing.TB, fabricID uint64, withICAC bool) *testCA {
	t.Helper()
	ca := &testCA{fabricID: fabricID, key: mustKey(t)}
	var err error
	ca.pub, _ = crypto.MarshalPublicKey(&ca.key.PublicKey)
	ca.rcac, err = cert.NewRCAC(ca.params(0xCACACACA_00000001, 0), ca.key)
	ca.rcacTLV = mustTLV(t, ca.rcac, err)
	if withICAC {
		ca.icacKey = mustKey(t)
		ca.icac, err = cert.NewICAC(ca.params(0x1CAC0000_00000001, fabricID), &ca.icacKey.PublicKey, ca.rcac, ca.key)
		ca.icacTLV = mustTLV(t, ca.icac, err)
	}
	return ca
}

// noc issues a NOC for pub on the CA's fabric (or fabricID if non-zero) and
// returns it with the ICAC to send, empty (as matter.js sends it) when
// there is none.
func (ca *testCA) noc(t testing.TB, pub *ecdsa.PublicKey, node uint64, cats ...cert.CAT) (noc, icac []byte) {
	t.Helper()
	issuer, key := ca.rcac, ca.key
	if ca.icacKey != nil {
		issuer, key = ca.icac, ca.icacKey
	}
	c, err := cert.NewNOC(ca.params(node, ca.fabricID, cats...), pub, issuer, key)
	return mustTLV(t, c, err), append([]byte{}, ca.icacTLV...)
}

// csrKey calls CSR and returns the public key the request asks for.
func csrKey(t testing.TB, tb *Table, forUpdate bool) *ecdsa.PublicKey {
	t.Helper()
	der, err := tb.CSR(forUpdate)
	if err != nil {
		t.Fatalf("CSR: %v", err)
	}
	pub, err := cert.ParseCSR(der)
	if err != nil {
		t.Fatalf("ParseCSR: %v", err)
	}
	return pub
}

// stageAdd runs CSRRequest, AddTrustedRootCertificate and AddNOC.
func stageAdd(t testing.TB, tb *Table, ca *testCA, node uint64) uint8 {
	t.Helper()
	pub := csrKey(t, tb, false)
	if err := tb.AddTrustedRoot(ca.rcacTLV); err != nil {
		t.Fatalf("AddTrustedRoot: %v", err)
	}
	noc, icac := ca.noc(t, pub, node)
	idx, err := tb.AddNOC(noc, icac, ipkEpoch, adminNode, testVendor)
	if err != nil {
		t.Fatalf("AddNOC: %v", err)
	}
	return idx
}

// commission runs a whole commissioning and commits it.
func commission(t testing.TB, tb *Table, ca *testCA, node uint64) uint8 {
	t.Helper()
	idx := stageAdd(t, tb, ca, node)
	if err := tb.Commit(); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	return idx
}

func openStore(t testing.TB, dir string) *storage.Store {
	t.Helper()
	s, err := storage.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// recorder collects change notifications.
type recorder struct {
	mu      sync.Mutex
	changes []Change
}

func (r *recorder) add(c Change) {
	r.mu.Lock()
	r.changes = append(r.changes, c)
	r.mu.Unlock()
}

func (r *recorder) take() []Change {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.changes
	r.changes = nil
	return c
}

type env struct {
	dir   string
	store *storage.Store
	tb    *Table
	rec   *recorder
	logs  *bytes.Buffer
	cfg   Config

	existing *testCA // a CA whose fabric is committed, for tests that need one
}

func newEnv(t testing.TB, cfg Config) *env {
	t.Helper()
	e := &env{dir: t.TempDir(), rec: &recorder{}, logs: &bytes.Buffer{}, cfg: cfg}
	e.open(t)
	return e
}

// open (re)opens the store and the table, as a restart does.
func (e *env) open(t testing.TB) {
	t.Helper()
	if e.store != nil {
		e.store.Close()
	}
	e.store = openStore(t, e.dir)
	cfg := e.cfg
	cfg.OnChange = e.rec.add
	cfg.Logger = slog.New(slog.NewTextHandler(e.logs, nil))
	tb, err := Open(e.store, cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	e.tb = tb
}

// state is the observable state of a table, for before/after comparisons.
type state struct {
	list  []Descriptor
	roots [][]byte
	count int
}

func snapshot(tb *Table) state {
	return state{list: tb.List(), roots: tb.TrustedRootCertificates(), count: tb.CommissionedFabrics()}
}

func descEqual(a, b Descriptor) bool {
	return a.Index == b.Index && bytes.Equal(a.RootPublicKey, b.RootPublicKey) && a.VendorID == b.VendorID &&
		a.FabricID == b.FabricID && a.NodeID == b.NodeID && a.Label == b.Label &&
		bytes.Equal(a.RCAC, b.RCAC) && bytes.Equal(a.ICAC, b.ICAC) && bytes.Equal(a.NOC, b.NOC) &&
		slices.Equal(a.CATs, b.CATs) && a.CompressedFabricID == b.CompressedFabricID &&
		bytes.Equal(a.IPKEpochKey, b.IPKEpochKey) && a.Pending == b.Pending && a.Updating == b.Updating &&
		bytes.Equal(a.VIDVerificationStatement, b.VIDVerificationStatement) && bytes.Equal(a.VVSC, b.VVSC)
}

func (s state) equal(o state) bool {
	return slices.EqualFunc(s.list, o.list, descEqual) && slices.EqualFunc(s.roots, o.roots, bytes.Equal) && s.count == o.count
}

// keyBytes returns the operational key CASE would use for a fabric.
func keyBytes(t testing.TB, tb *Table, index uint8) []byte {
	t.Helper()
	for _, f := range tb.Fabrics() {
		if f.Index == index {
			b, err := f.Key.Bytes()
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
	return nil
}
