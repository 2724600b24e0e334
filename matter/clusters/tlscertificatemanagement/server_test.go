package tlscertificatemanagement

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mattercam/mattercam/matter/clusters/field"
	"github.com/mattercam/mattercam/matter/clusters/internal/servetest"
	"github.com/mattercam/mattercam/matter/crypto"
	"github.com/mattercam/mattercam/matter/dm"
	"github.com/mattercam/mattercam/matter/storage"
)

// testNow is the node's UTC time in the tests; the certificates are valid
// from a day before to a year after it.
var testNow = time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)

// env is a server with a settable clock and settable "in use" answers.
type env struct {
	s       *Server
	changes *servetest.Changes

	mu       sync.Mutex
	hasTime  bool
	usedRoot map[uint16]bool
	usedCert map[uint16]bool
}

func newEnv(t *testing.T, store *storage.Store) *env {
	t.Helper()
	e := &env{changes: &servetest.Changes{}, hasTime: true, usedRoot: map[uint16]bool{}, usedCert: map[uint16]bool{}}
	s, err := New(Config{
		Store: store,
		Now: func() (time.Time, bool) {
			e.mu.Lock()
			defer e.mu.Unlock()
			return testNow, e.hasTime
		},
		RootInUse: func(_ uint8, id uint16) bool {
			e.mu.Lock()
			defer e.mu.Unlock()
			return e.usedRoot[id]
		},
		ClientInUse: func(_ uint8, id uint16) bool {
			e.mu.Lock()
			defer e.mu.Unlock()
			return e.usedCert[id]
		},
		Notify: e.changes,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.s = s
	return e
}

func (e *env) setTime(ok bool) {
	e.mu.Lock()
	e.hasTime = ok
	e.mu.Unlock()
}

// large returns a CASE request from fabric over a large-message transport.
func large(fabric uint8) *dm.Request {
	r := servetest.CASE(fabric, 1)
	r.LargeMessage = true
	return r
}

func mustKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var serial int64

// certOpts shapes a generated certificate.
type certOpts struct {
	pub                 *ecdsa.PublicKey // the subject key; nil: the signer's
	notBefore, notAfter time.Time        // zero: a day before and a year after testNow
	pad                 int              // octets of filler extension, to make it big
	ca                  bool
}

// newCert returns a DER certificate signed by signer (self-signed when
// parent is nil).
func newCert(t testing.TB, signer *ecdsa.PrivateKey, parent *x509.Certificate, o certOpts) []byte {
	t.Helper()
	serial++
	if o.pub == nil {
		o.pub = &signer.PublicKey
	}
	if o.notBefore.IsZero() {
		o.notBefore = testNow.Add(-24 * time.Hour)
	}
	if o.notAfter.IsZero() {
		o.notAfter = testNow.Add(365 * 24 * time.Hour)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "tls test " + big.NewInt(serial).String()},
		NotBefore: o.notBefore, NotAfter: o.notAfter, BasicConstraintsValid: true, IsCA: o.ca,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
	}
	if o.pad > 0 {
		tmpl.ExtraExtensions = []pkix.Extension{{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 55555, 1}, Value: bytes.Repeat([]byte{0x23}, o.pad)}}
	}
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, o.pub, signer)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func rootCert(t testing.TB) []byte { return newCert(t, mustKey(t), nil, certOpts{ca: true}) }

func provisionRoot(t testing.TB, s *Server, fabric uint8, der []byte, id field.Nullable[uint16]) (uint16, error) {
	t.Helper()
	resp, err := servetest.Invoke(t, s, large(fabric), CmdProvisionRootCertificate, &ProvisionRootCertificateRequest{Certificate: der, CAID: id})
	if err != nil {
		return 0, err
	}
	var out ProvisionRootCertificateResponse
	servetest.Response(t, resp, CmdProvisionRootCertificateResponse, &out)
	return out.CAID, nil
}

func mustRoot(t testing.TB, s *Server, fabric uint8, der []byte) uint16 {
	t.Helper()
	id, err := provisionRoot(t, s, fabric, der, field.Null[uint16]())
	if err != nil {
		t.Fatalf("ProvisionRootCertificate: %v", err)
	}
	return id
}

func csr(t testing.TB, s *Server, fabric uint8, id field.Nullable[uint16]) (ClientCSRResponse, *x509.CertificateRequest, error) {
	t.Helper()
	nonce := bytes.Repeat([]byte{0x4E}, 32)
	resp, err := servetest.Invoke(t, s, large(fabric), CmdClientCSR, &ClientCSRRequest{Nonce: nonce, CCDID: id})
	if err != nil {
		return ClientCSRResponse{}, nil, err
	}
	var out ClientCSRResponse
	servetest.Response(t, resp, CmdClientCSRResponse, &out)
	req, err := x509.ParseCertificateRequest(out.CSR)
	if err != nil {
		t.Fatalf("CSR: %v", err)
	}
	if err := req.CheckSignature(); err != nil {
		t.Fatalf("CSR signature: %v", err)
	}
	pub, ok := req.PublicKey.(*ecdsa.PublicKey)
	if !ok || req.SignatureAlgorithm != x509.ECDSAWithSHA256 || pub.Curve.Params().Name != "P-256" {
		t.Fatalf("CSR key %T, algorithm %v", req.PublicKey, req.SignatureAlgorithm)
	}
	// The nonce signature is Crypto_Sign of the nonce with the CSR's key.
	if !crypto.Verify(pub, nonce, out.NonceSignature) {
		t.Fatal("NonceSignature does not verify with the CSR's key")
	}
	return out, req, nil
}

func provisionClient(t testing.TB, s *Server, fabric uint8, id uint16, der []byte, chain [][]byte) error {
	t.Helper()
	_, err := servetest.Invoke(t, s, large(fabric), CmdProvisionClientCertificate,
		&ProvisionClientCertificateRequest{CCDID: id, ClientCertificate: der, IntermediateCertificates: chain})
	return err
}

func readRoots(t testing.TB, s *Server, req *dm.Request) []TLSCert {
	t.Helper()
	return servetest.ReadList[TLSCert](t, s, req, AttrProvisionedRootCertificates)
}

func readClients(t testing.TB, s *Server, req *dm.Request) []TLSClientCertificateDetail {
	t.Helper()
	return servetest.ReadList[TLSClientCertificateDetail](t, s, req, AttrProvisionedClientCertificates)
}

func wantStatus(t testing.TB, what string, err error, want dm.Status) {
	t.Helper()
	if got := servetest.Status(err); got != want {
		t.Errorf("%s: %v (%v), want %v", what, got, err, want)
	}
}

func TestMetadata(t *testing.T) {
	e := newEnv(t, servetest.Store(t))
	m := e.s.Meta()
	if len(m.Commands) != 9 || len(m.Attributes) != 4 || len(m.Generated) != 6 {
		t.Fatalf("served metadata: %d commands, %d attributes, %d generated", len(m.Commands), len(m.Attributes), len(m.Generated))
	}
	// Every command is Large Message (Core §14.4): the engine refuses
	// them over UDP with INVALID_TRANSPORT_TYPE.
	for _, c := range m.Commands {
		if c.Quality&dm.QualityLargeMessage == 0 || c.Quality&dm.QualityFabricScoped == 0 {
			t.Errorf("command %s: quality %#x lacks L or fabric scoping", c.Name, c.Quality)
		}
	}
	req := servetest.CASE(1, 1)
	if got := servetest.ReadUint(t, e.s, req, AttrMaxRootCertificates); got != DefaultMaxRootCertificates {
		t.Errorf("MaxRootCertificates = %d", got)
	}
	if got := servetest.ReadUint(t, e.s, req, AttrMaxClientCertificates); got != DefaultMaxClientCertificates {
		t.Errorf("MaxClientCertificates = %d", got)
	}
	wantStatus(t, "writing MaxRootCertificates", servetest.Write(t, e.s, req, AttrMaxRootCertificates, []byte{0x04, 5}, false), dm.StatusUnsupportedWrite)
	if _, err := servetest.ReadErr(e.s, req, 0x99); servetest.Status(err) != dm.StatusUnsupportedAttribute {
		t.Errorf("reading attribute 0x99: %v", err)
	}
	_, err := servetest.Invoke(t, e.s, servetest.PASE(0), CmdFindRootCertificate, &FindRootCertificateRequest{})
	wantStatus(t, "Find without a fabric", err, dm.StatusUnsupportedAccess)

	for _, c := range []Config{
		{},
		{Store: servetest.Store(t), MaxRootCertificates: 4},
		{Store: servetest.Store(t), MaxRootCertificates: hardLimit + 1},
		{Store: servetest.Store(t), MaxClientCertificates: 1},
	} {
		if _, err := New(c); err == nil {
			t.Errorf("New(%+v) accepted", c)
		}
	}
}

func TestProvisionRootCertificate(t *testing.T) {
	big := newCert(t, mustKey(t), nil, certOpts{pad: 3100})
	if len(big) <= maxCertSize {
		t.Fatalf("padded certificate of %d octets", len(big))
	}
	for _, tc := range []struct {
		name   string
		setup  func(e *env) // runs after fabric 1 provisioned root A (CAID 0) and fabric 2 root B (CAID 1)
		fabric uint8
		der    func(t testing.TB) []byte
		id     field.Nullable[uint16]
		want   dm.Status
		wantID uint16
	}{
		{name: "new", fabric: 1, der: rootCert, want: dm.StatusSuccess, wantID: 2},
		{name: "rotate", fabric: 1, der: rootCert, id: field.NonNull[uint16](0), want: dm.StatusSuccess, wantID: 0},
		{name: "no time", setup: func(e *env) { e.setTime(false) }, fabric: 1, der: rootCert, want: dm.StatusInvalidInState},
		{name: "not DER", fabric: 1, der: func(testing.TB) []byte { return []byte("not a cert") }, want: dm.StatusDynamicConstraintError},
		{name: "empty", fabric: 1, der: func(testing.TB) []byte { return nil }, want: dm.StatusDynamicConstraintError},
		{name: "expired", fabric: 1, der: func(t testing.TB) []byte {
			return newCert(t, mustKey(t), nil, certOpts{notBefore: testNow.AddDate(-2, 0, 0), notAfter: testNow.AddDate(-1, 0, 0)})
		}, want: dm.StatusDynamicConstraintError},
		{name: "not yet valid", fabric: 1, der: func(t testing.TB) []byte {
			return newCert(t, mustKey(t), nil, certOpts{notBefore: testNow.Add(time.Hour)})
		}, want: dm.StatusDynamicConstraintError},
		{name: "over 3000 octets", fabric: 1, der: func(testing.TB) []byte { return big }, want: dm.StatusConstraintError},
		{name: "CAID 10", fabric: 1, der: rootCert, id: field.NonNull[uint16](10), want: dm.StatusNotFound},
		{name: "CAID of another fabric", fabric: 1, der: rootCert, id: field.NonNull[uint16](1), want: dm.StatusNotFound},
		{name: "CAID 65535", fabric: 1, der: rootCert, id: field.NonNull[uint16](65535), want: dm.StatusConstraintError},
		{name: "over the limit", setup: func(e *env) {
			for range DefaultMaxRootCertificates - 1 {
				mustRoot(t, e.s, 1, rootCert(t))
			}
		}, fabric: 1, der: rootCert, want: dm.StatusResourceExhausted},
		{name: "rotate at the limit", setup: func(e *env) {
			for range DefaultMaxRootCertificates - 1 {
				mustRoot(t, e.s, 1, rootCert(t))
			}
		}, fabric: 1, der: rootCert, id: field.NonNull[uint16](0), want: dm.StatusSuccess, wantID: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, servetest.Store(t))
			a, b := rootCert(t), rootCert(t)
			if id := mustRoot(t, e.s, 1, a); id != 0 {
				t.Fatalf("first CAID %d, want 0", id)
			}
			if id := mustRoot(t, e.s, 2, b); id != 1 {
				t.Fatalf("second CAID %d, want 1", id)
			}
			if tc.setup != nil {
				tc.setup(e)
			}
			before := readRoots(t, e.s, large(tc.fabric))
			e.changes.Reset()
			der := tc.der(t)
			id, err := provisionRoot(t, e.s, tc.fabric, der, tc.id)
			wantStatus(t, "ProvisionRootCertificate", err, tc.want)
			after := readRoots(t, e.s, servetest.Filtered(large(tc.fabric)))
			if tc.want != dm.StatusSuccess {
				if !slices.EqualFunc(before, readRoots(t, e.s, large(tc.fabric)), sameCert) || e.changes.Has(ID, AttrProvisionedRootCertificates) {
					t.Error("a failed provisioning changed the list")
				}
				return
			}
			if id != tc.wantID {
				t.Errorf("CAID %d, want %d", id, tc.wantID)
			}
			i := slices.IndexFunc(after, func(c TLSCert) bool { return c.CAID == id })
			if i < 0 || !bytes.Equal(after[i].Certificate.Value, der) || after[i].FabricIndex != tc.fabric {
				t.Errorf("ProvisionedRootCertificates %+v lacks CAID %d with the certificate", after, id)
			}
			if !e.changes.Has(ID, AttrProvisionedRootCertificates) {
				t.Error("no change reported")
			}
		})
	}
}

func sameCert(a, b TLSCert) bool {
	return a.CAID == b.CAID && a.FabricIndex == b.FabricIndex && bytes.Equal(a.Certificate.Value, b.Certificate.Value)
}

func TestRootDuplicates(t *testing.T) {
	e := newEnv(t, servetest.Store(t))
	a, b := rootCert(t), rootCert(t)
	idA := mustRoot(t, e.s, 1, a)
	idB := mustRoot(t, e.s, 1, b)
	_, err := provisionRoot(t, e.s, 1, a, field.Null[uint16]())
	wantStatus(t, "the same certificate again", err, dm.StatusAlreadyExists)
	_, err = provisionRoot(t, e.s, 1, a, field.NonNull(idA))
	wantStatus(t, "rotating to the same certificate", err, dm.StatusAlreadyExists)
	_, err = provisionRoot(t, e.s, 1, b, field.NonNull(idA))
	wantStatus(t, "rotating to another entry's certificate", err, dm.StatusAlreadyExists)
	// Another fabric may hold the same certificate under its own CAID.
	if id := mustRoot(t, e.s, 2, a); id == idA || id == idB {
		t.Errorf("fabric 2 got CAID %d, already in use", id)
	}
}

func TestReadRootsOverTransports(t *testing.T) {
	e := newEnv(t, servetest.Store(t))
	a, b := rootCert(t), rootCert(t)
	mustRoot(t, e.s, 1, a)
	mustRoot(t, e.s, 2, b)

	small := servetest.Filtered(servetest.CASE(1, 1))
	got := readRoots(t, e.s, small)
	if len(got) != 1 || got[0].CAID != 0 || got[0].FabricIndex != 1 || got[0].Certificate.Present {
		t.Errorf("fabric-filtered read over UDP: %+v (the certificate must be left out)", got)
	}
	got = readRoots(t, e.s, servetest.Filtered(large(1)))
	if len(got) != 1 || !bytes.Equal(got[0].Certificate.Value, a) {
		t.Errorf("fabric-filtered read over TCP: %+v", got)
	}
	got = readRoots(t, e.s, large(1))
	if len(got) != 2 || got[1].FabricIndex != 2 || !bytes.Equal(got[1].Certificate.Value, b) {
		t.Errorf("unfiltered read: %+v", got)
	}
	if got := readRoots(t, e.s, servetest.Filtered(servetest.PASE(0))); len(got) != 0 {
		t.Errorf("filtered read without a fabric: %+v", got)
	}
}

func TestFindLookupRemoveRoot(t *testing.T) {
	e := newEnv(t, servetest.Store(t))
	req := large(1)
	_, err := servetest.Invoke(t, e.s, req, CmdFindRootCertificate, &FindRootCertificateRequest{})
	wantStatus(t, "Find on an empty list", err, dm.StatusNotFound)
	_, err = servetest.Invoke(t, e.s, req, CmdLookupRootCertificate, &LookupRootCertificateRequest{})
	wantStatus(t, "Lookup on an empty list", err, dm.StatusNotFound)
	_, err = servetest.Invoke(t, e.s, req, CmdRemoveRootCertificate, &RemoveRootCertificateRequest{CAID: 0})
	wantStatus(t, "Remove on an empty list", err, dm.StatusNotFound)

	a, b, c := rootCert(t), rootCert(t), rootCert(t)
	idA, idB := mustRoot(t, e.s, 1, a), mustRoot(t, e.s, 1, b)
	idC := mustRoot(t, e.s, 2, c)

	var all FindRootCertificateResponse
	servetest.Call(t, e.s, req, CmdFindRootCertificate, &FindRootCertificateRequest{}, CmdFindRootCertificateResponse, &all)
	if len(all.CertificateDetails) != 2 || !bytes.Equal(all.CertificateDetails[0].Certificate.Value, a) ||
		!bytes.Equal(all.CertificateDetails[1].Certificate.Value, b) || all.CertificateDetails[1].FabricIndex != 1 {
		t.Errorf("Find null: %+v", all)
	}
	var one FindRootCertificateResponse
	servetest.Call(t, e.s, req, CmdFindRootCertificate, &FindRootCertificateRequest{CAID: field.NonNull(idB)}, CmdFindRootCertificateResponse, &one)
	if len(one.CertificateDetails) != 1 || one.CertificateDetails[0].CAID != idB {
		t.Errorf("Find %d: %+v", idB, one)
	}
	for _, tc := range []struct {
		name string
		id   uint16
		want dm.Status
	}{{"another fabric's", idC, dm.StatusNotFound}, {"unknown", 77, dm.StatusNotFound}, {"65535", 65535, dm.StatusConstraintError}} {
		_, err := servetest.Invoke(t, e.s, req, CmdFindRootCertificate, &FindRootCertificateRequest{CAID: field.NonNull(tc.id)})
		wantStatus(t, "Find "+tc.name, err, tc.want)
	}

	fp := func(der []byte) []byte { s := sha256.Sum256(der); return s[:] }
	var lk LookupRootCertificateResponse
	servetest.Call(t, e.s, req, CmdLookupRootCertificate, &LookupRootCertificateRequest{Fingerprint: fp(b)}, CmdLookupRootCertificateResponse, &lk)
	if lk.CAID != idB {
		t.Errorf("Lookup: CAID %d, want %d", lk.CAID, idB)
	}
	_, err = servetest.Invoke(t, e.s, req, CmdLookupRootCertificate, &LookupRootCertificateRequest{Fingerprint: fp(c)})
	wantStatus(t, "Lookup of another fabric's", err, dm.StatusNotFound)
	_, err = servetest.Invoke(t, e.s, req, CmdLookupRootCertificate, &LookupRootCertificateRequest{Fingerprint: append(fp(a), make([]byte, 33)...)})
	wantStatus(t, "Lookup with 65 octets", err, dm.StatusConstraintError)

	e.usedRoot[idA] = true
	_, err = servetest.Invoke(t, e.s, req, CmdRemoveRootCertificate, &RemoveRootCertificateRequest{CAID: idA})
	wantStatus(t, "Remove while referenced", err, dm.StatusInvalidInState)
	_, err = servetest.Invoke(t, e.s, req, CmdRemoveRootCertificate, &RemoveRootCertificateRequest{CAID: idC})
	wantStatus(t, "Remove another fabric's", err, dm.StatusNotFound)
	e.usedRoot[idA] = false
	e.changes.Reset()
	if _, err := servetest.Invoke(t, e.s, req, CmdRemoveRootCertificate, &RemoveRootCertificateRequest{CAID: idA}); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if !e.changes.Has(ID, AttrProvisionedRootCertificates) {
		t.Error("no change reported")
	}
	if got := readRoots(t, e.s, servetest.Filtered(req)); len(got) != 1 || got[0].CAID != idB {
		t.Errorf("after Remove: %+v", got)
	}
	// The removed ID is not handed out again at once.
	if id := mustRoot(t, e.s, 1, rootCert(t)); id != idC+1 {
		t.Errorf("next CAID %d, want %d", id, idC+1)
	}
}

func TestClientCSR(t *testing.T) {
	e := newEnv(t, servetest.Store(t))
	e.setTime(false) // ClientCSR does not need the time
	out, req, err := csr(t, e.s, 1, field.Null[uint16]())
	if err != nil {
		t.Fatalf("ClientCSR: %v", err)
	}
	if out.CCDID != 0 || len(out.NonceSignature) != crypto.SignatureSize {
		t.Errorf("ClientCSR: CCDID %d, signature of %d octets", out.CCDID, len(out.NonceSignature))
	}
	got := readClients(t, e.s, servetest.Filtered(large(1)))
	if len(got) != 1 || got[0].CCDID != 0 || !got[0].ClientCertificate.Present || got[0].ClientCertificate.Value.Valid ||
		!got[0].IntermediateCertificates.Present || len(got[0].IntermediateCertificates.Value) != 0 {
		t.Errorf("after ClientCSR: %+v, want a NULL certificate and no intermediates", got)
	}
	// Over UDP too: a NULL certificate and an empty chain may be sent.
	if got := readClients(t, e.s, servetest.Filtered(servetest.CASE(1, 1))); len(got) != 1 || !got[0].ClientCertificate.Present || !got[0].IntermediateCertificates.Present {
		t.Errorf("over UDP: %+v", got)
	}

	// Rotation: the same CCDID and key.
	again, req2, err := csr(t, e.s, 1, field.NonNull(out.CCDID))
	if err != nil || again.CCDID != out.CCDID || !req2.PublicKey.(*ecdsa.PublicKey).Equal(req.PublicKey) {
		t.Errorf("ClientCSR for CCDID %d: %+v, %v; want the same key", out.CCDID, again, err)
	}
	_, _, err = csr(t, e.s, 2, field.NonNull(out.CCDID))
	wantStatus(t, "ClientCSR for another fabric's CCDID", err, dm.StatusNotFound)
	_, _, err = csr(t, e.s, 1, field.NonNull[uint16](9))
	wantStatus(t, "ClientCSR for an unknown CCDID", err, dm.StatusNotFound)
	_, err = servetest.Invoke(t, e.s, large(1), CmdClientCSR, &ClientCSRRequest{Nonce: make([]byte, 33), CCDID: field.Null[uint16]()})
	wantStatus(t, "ClientCSR with a 33-octet nonce", err, dm.StatusConstraintError)
	_, err = servetest.Invoke(t, e.s, large(1), CmdClientCSR, &ClientCSRRequest{Nonce: make([]byte, 32), CCDID: field.NonNull[uint16](65535)})
	wantStatus(t, "ClientCSR for CCDID 65535", err, dm.StatusConstraintError)

	keys := map[string]bool{}
	for i := 1; i < DefaultMaxClientCertificates; i++ {
		o, r, err := csr(t, e.s, 1, field.Null[uint16]())
		if err != nil || o.CCDID != uint16(i) {
			t.Fatalf("ClientCSR %d: CCDID %d, %v", i, o.CCDID, err)
		}
		keys[string(r.RawSubjectPublicKeyInfo)] = true
	}
	if len(keys) != DefaultMaxClientCertificates-1 {
		t.Error("key pairs repeat")
	}
	_, _, err = csr(t, e.s, 1, field.Null[uint16]())
	wantStatus(t, "ClientCSR over the limit", err, dm.StatusResourceExhausted)
	if _, _, err := csr(t, e.s, 2, field.Null[uint16]()); err != nil {
		t.Errorf("fabric 2 has its own limit: %v", err)
	}
}

func TestProvisionClientCertificate(t *testing.T) {
	rootKey := mustKey(t)
	rootDER := newCert(t, rootKey, nil, certOpts{ca: true})
	root, _ := x509.ParseCertificate(rootDER)
	icaKey := mustKey(t)
	icaDER := newCert(t, rootKey, root, certOpts{pub: &icaKey.PublicKey, ca: true})
	ica, _ := x509.ParseCertificate(icaDER)

	type fixture struct {
		e    *env
		id   uint16           // fabric 1's CSR'd CCDID
		pub  *ecdsa.PublicKey // its key
		id2  uint16           // fabric 2's
		pub2 *ecdsa.PublicKey
		dup  []byte // a certificate already provisioned on fabric 1
	}
	leaf := func(t *testing.T, pub *ecdsa.PublicKey) []byte {
		return newCert(t, icaKey, ica, certOpts{pub: pub})
	}
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, f *fixture)
		req   func(t *testing.T, f *fixture) ProvisionClientCertificateRequest
		want  dm.Status
	}{
		{name: "with an intermediate", req: func(t *testing.T, f *fixture) ProvisionClientCertificateRequest {
			return ProvisionClientCertificateRequest{CCDID: f.id, ClientCertificate: leaf(t, f.pub), IntermediateCertificates: [][]byte{icaDER}}
		}, want: dm.StatusSuccess},
		{name: "signed by the root", req: func(t *testing.T, f *fixture) ProvisionClientCertificateRequest {
			return ProvisionClientCertificateRequest{CCDID: f.id, ClientCertificate: newCert(t, rootKey, root, certOpts{pub: f.pub})}
		}, want: dm.StatusSuccess},
		{name: "without time", setup: func(_ *testing.T, f *fixture) { f.e.setTime(false) }, req: func(t *testing.T, f *fixture) ProvisionClientCertificateRequest {
			return ProvisionClientCertificateRequest{CCDID: f.id, ClientCertificate: leaf(t, f.pub)}
		}, want: dm.StatusSuccess},
		{name: "another key", req: func(t *testing.T, f *fixture) ProvisionClientCertificateRequest {
			return ProvisionClientCertificateRequest{CCDID: f.id, ClientCertificate: leaf(t, &mustKey(t).PublicKey)}
		}, want: dm.StatusDynamicConstraintError},
		{name: "fabric 2's key", req: func(t *testing.T, f *fixture) ProvisionClientCertificateRequest {
			return ProvisionClientCertificateRequest{CCDID: f.id, ClientCertificate: leaf(t, f.pub2)}
		}, want: dm.StatusDynamicConstraintError},
		{name: "not DER", req: func(*testing.T, *fixture) ProvisionClientCertificateRequest {
			return ProvisionClientCertificateRequest{CCDID: 0, ClientCertificate: []byte{0x30, 0x03, 0x02, 0x01, 0x01}}
		}, want: dm.StatusDynamicConstraintError},
		{name: "bad intermediate", req: func(t *testing.T, f *fixture) ProvisionClientCertificateRequest {
			return ProvisionClientCertificateRequest{CCDID: f.id, ClientCertificate: leaf(t, f.pub), IntermediateCertificates: [][]byte{icaDER, []byte("x")}}
		}, want: dm.StatusDynamicConstraintError},
		{name: "expired", req: func(t *testing.T, f *fixture) ProvisionClientCertificateRequest {
			return ProvisionClientCertificateRequest{CCDID: f.id, ClientCertificate: newCert(t, icaKey, ica,
				certOpts{pub: f.pub, notBefore: testNow.AddDate(-2, 0, 0), notAfter: testNow.AddDate(-1, 0, 0)})}
		}, want: dm.StatusDynamicConstraintError},
		{name: "11 intermediates", req: func(t *testing.T, f *fixture) ProvisionClientCertificateRequest {
			chain := make([][]byte, 11)
			for i := range chain {
				chain[i] = icaDER
			}
			return ProvisionClientCertificateRequest{CCDID: f.id, ClientCertificate: leaf(t, f.pub), IntermediateCertificates: chain}
		}, want: dm.StatusConstraintError},
		{name: "unknown CCDID", req: func(t *testing.T, f *fixture) ProvisionClientCertificateRequest {
			return ProvisionClientCertificateRequest{CCDID: 40, ClientCertificate: leaf(t, f.pub)}
		}, want: dm.StatusNotFound},
		{name: "another fabric's CCDID", req: func(t *testing.T, f *fixture) ProvisionClientCertificateRequest {
			return ProvisionClientCertificateRequest{CCDID: f.id2, ClientCertificate: leaf(t, f.pub2)}
		}, want: dm.StatusNotFound},
		{name: "no client certificates", setup: func(t *testing.T, f *fixture) {
			if _, err := servetest.Invoke(t, f.e.s, large(1), CmdRemoveClientCertificate, &RemoveClientCertificateRequest{CCDID: f.id}); err != nil {
				t.Fatal(err)
			}
		}, req: func(t *testing.T, f *fixture) ProvisionClientCertificateRequest {
			return ProvisionClientCertificateRequest{CCDID: f.id, ClientCertificate: leaf(t, f.pub)}
		}, want: dm.StatusNotFound},
		{name: "already provisioned for another CCDID", setup: func(t *testing.T, f *fixture) {
			f.dup = leaf(t, f.pub)
			if err := provisionClient(t, f.e.s, 1, f.id, f.dup, nil); err != nil {
				t.Fatal(err)
			}
			out, req, err := csr(t, f.e.s, 1, field.Null[uint16]())
			if err != nil {
				t.Fatal(err)
			}
			f.id, f.pub = out.CCDID, req.PublicKey.(*ecdsa.PublicKey)
		}, req: func(_ *testing.T, f *fixture) ProvisionClientCertificateRequest {
			return ProvisionClientCertificateRequest{CCDID: f.id, ClientCertificate: f.dup}
		}, want: dm.StatusAlreadyExists},
		{name: "the same certificate again", setup: func(t *testing.T, f *fixture) {
			f.dup = leaf(t, f.pub)
			if err := provisionClient(t, f.e.s, 1, f.id, f.dup, nil); err != nil {
				t.Fatal(err)
			}
		}, req: func(_ *testing.T, f *fixture) ProvisionClientCertificateRequest {
			return ProvisionClientCertificateRequest{CCDID: f.id, ClientCertificate: f.dup}
		}, want: dm.StatusAlreadyExists},
		{name: "rotation", setup: func(t *testing.T, f *fixture) {
			if err := provisionClient(t, f.e.s, 1, f.id, leaf(t, f.pub), [][]byte{icaDER}); err != nil {
				t.Fatal(err)
			}
		}, req: func(t *testing.T, f *fixture) ProvisionClientCertificateRequest {
			return ProvisionClientCertificateRequest{CCDID: f.id, ClientCertificate: leaf(t, f.pub)}
		}, want: dm.StatusSuccess},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fixture{e: newEnv(t, servetest.Store(t))}
			out, req, err := csr(t, f.e.s, 1, field.Null[uint16]())
			if err != nil {
				t.Fatal(err)
			}
			f.id, f.pub = out.CCDID, req.PublicKey.(*ecdsa.PublicKey)
			out, req, err = csr(t, f.e.s, 2, field.Null[uint16]())
			if err != nil {
				t.Fatal(err)
			}
			f.id2, f.pub2 = out.CCDID, req.PublicKey.(*ecdsa.PublicKey)
			if tc.setup != nil {
				tc.setup(t, f)
			}
			in := tc.req(t, f)
			before := readClients(t, f.e.s, large(1))
			f.e.changes.Reset()
			_, err = servetest.Invoke(t, f.e.s, large(1), CmdProvisionClientCertificate, &in)
			wantStatus(t, "ProvisionClientCertificate", err, tc.want)
			after := readClients(t, f.e.s, large(1))
			if tc.want != dm.StatusSuccess {
				if len(before) != len(after) || f.e.changes.Has(ID, AttrProvisionedClientCertificates) {
					t.Error("a failed provisioning changed the list")
				}
				return
			}
			i := slices.IndexFunc(after, func(d TLSClientCertificateDetail) bool { return d.CCDID == in.CCDID })
			if i < 0 || !bytes.Equal(after[i].ClientCertificate.Value.Value, in.ClientCertificate) ||
				len(after[i].IntermediateCertificates.Value) != len(in.IntermediateCertificates) {
				t.Errorf("after provisioning: %+v", after)
			}
			if !f.e.changes.Has(ID, AttrProvisionedClientCertificates) {
				t.Error("no change reported")
			}
			// Over UDP the certificate and a non-empty chain are left out
			// (Core §14.4.4.4.2-3).
			small := readClients(t, f.e.s, servetest.Filtered(servetest.CASE(1, 1)))
			j := slices.IndexFunc(small, func(d TLSClientCertificateDetail) bool { return d.CCDID == in.CCDID })
			if j < 0 || small[j].ClientCertificate.Present || small[j].IntermediateCertificates.Present != (len(in.IntermediateCertificates) == 0) {
				t.Errorf("over UDP: %+v", small)
			}
			// The key and certificate are there for TLS.
			key, der, _, ok := f.e.s.ClientCertificate(1, in.CCDID)
			if !ok || !key.PublicKey.Equal(f.pub) || !bytes.Equal(der, in.ClientCertificate) {
				t.Error("ClientCertificate does not return the provisioned certificate")
			}
		})
	}
}

func TestClientCertificateLifecycle(t *testing.T) {
	e := newEnv(t, servetest.Store(t))
	rootKey := mustKey(t)
	root, _ := x509.ParseCertificate(newCert(t, rootKey, nil, certOpts{ca: true}))
	req := large(1)

	_, err := servetest.Invoke(t, e.s, req, CmdFindClientCertificate, &FindClientCertificateRequest{})
	wantStatus(t, "Find on an empty list", err, dm.StatusNotFound)
	_, err = servetest.Invoke(t, e.s, req, CmdRemoveClientCertificate, &RemoveClientCertificateRequest{CCDID: 0})
	wantStatus(t, "Remove on an empty list", err, dm.StatusNotFound)

	a, ra, _ := csr(t, e.s, 1, field.Null[uint16]())
	b, _, _ := csr(t, e.s, 1, field.Null[uint16]())
	c, rc, _ := csr(t, e.s, 2, field.Null[uint16]())
	leafA := newCert(t, rootKey, root, certOpts{pub: ra.PublicKey.(*ecdsa.PublicKey)})
	leafC := newCert(t, rootKey, root, certOpts{pub: rc.PublicKey.(*ecdsa.PublicKey)})
	if err := provisionClient(t, e.s, 1, a.CCDID, leafA, nil); err != nil {
		t.Fatal(err)
	}
	if err := provisionClient(t, e.s, 2, c.CCDID, leafC, nil); err != nil {
		t.Fatal(err)
	}

	var all FindClientCertificateResponse
	servetest.Call(t, e.s, req, CmdFindClientCertificate, &FindClientCertificateRequest{}, CmdFindClientCertificateResponse, &all)
	if len(all.CertificateDetails) != 2 || !bytes.Equal(all.CertificateDetails[0].ClientCertificate.Value.Value, leafA) ||
		all.CertificateDetails[1].ClientCertificate.Value.Valid {
		t.Errorf("Find null: %+v", all)
	}
	var one FindClientCertificateResponse
	servetest.Call(t, e.s, req, CmdFindClientCertificate, &FindClientCertificateRequest{CCDID: field.NonNull(b.CCDID)}, CmdFindClientCertificateResponse, &one)
	if len(one.CertificateDetails) != 1 || one.CertificateDetails[0].CCDID != b.CCDID {
		t.Errorf("Find %d: %+v", b.CCDID, one)
	}
	_, err = servetest.Invoke(t, e.s, req, CmdFindClientCertificate, &FindClientCertificateRequest{CCDID: field.NonNull(c.CCDID)})
	wantStatus(t, "Find another fabric's", err, dm.StatusNotFound)

	// Over UDP the provisioned certificate is left out; the NULL one
	// stays.
	small := readClients(t, e.s, servetest.Filtered(servetest.CASE(1, 1)))
	if len(small) != 2 || small[0].ClientCertificate.Present || !small[1].ClientCertificate.Present {
		t.Errorf("over UDP: %+v", small)
	}
	if got := readClients(t, e.s, large(1)); len(got) != 3 {
		t.Errorf("unfiltered read: %d entries, want 3", len(got))
	}

	fpA, fpC := sha256.Sum256(leafA), sha256.Sum256(leafC)
	var lk LookupClientCertificateResponse
	servetest.Call(t, e.s, req, CmdLookupClientCertificate, &LookupClientCertificateRequest{Fingerprint: fpA[:]}, CmdLookupClientCertificateResponse, &lk)
	if lk.CCDID != a.CCDID {
		t.Errorf("Lookup: %d, want %d", lk.CCDID, a.CCDID)
	}
	_, err = servetest.Invoke(t, e.s, req, CmdLookupClientCertificate, &LookupClientCertificateRequest{Fingerprint: fpC[:]})
	wantStatus(t, "Lookup another fabric's", err, dm.StatusNotFound)
	_, err = servetest.Invoke(t, e.s, req, CmdLookupClientCertificate, &LookupClientCertificateRequest{Fingerprint: make([]byte, 65)})
	wantStatus(t, "Lookup with 65 octets", err, dm.StatusConstraintError)

	e.usedCert[a.CCDID] = true
	_, err = servetest.Invoke(t, e.s, req, CmdRemoveClientCertificate, &RemoveClientCertificateRequest{CCDID: a.CCDID})
	wantStatus(t, "Remove while referenced", err, dm.StatusInvalidInState)
	_, err = servetest.Invoke(t, e.s, req, CmdRemoveClientCertificate, &RemoveClientCertificateRequest{CCDID: c.CCDID})
	wantStatus(t, "Remove another fabric's", err, dm.StatusNotFound)
	e.usedCert[a.CCDID] = false
	if _, err := servetest.Invoke(t, e.s, req, CmdRemoveClientCertificate, &RemoveClientCertificateRequest{CCDID: a.CCDID}); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if _, _, _, ok := e.s.ClientCertificate(1, a.CCDID); ok {
		t.Error("the removed certificate and key are still there")
	}
	if got := readClients(t, e.s, servetest.Filtered(req)); len(got) != 1 || got[0].CCDID != b.CCDID {
		t.Errorf("after Remove: %+v", got)
	}
}

// TestClientRecordBudget: the spec allows ten intermediates of 3000
// octets per client certificate; a fabric's client certificates are kept
// within one record (and one Find response), so the chain that would
// outgrow it is RESOURCE_EXHAUSTED, and nothing changes.
func TestClientRecordBudget(t *testing.T) {
	e := newEnv(t, servetest.Store(t))
	rootKey := mustKey(t)
	root, _ := x509.ParseCertificate(newCert(t, rootKey, nil, certOpts{ca: true}))
	fat := newCert(t, rootKey, root, certOpts{pub: &mustKey(t).PublicKey, pad: 2600})
	chain := slices.Repeat([][]byte{fat}, maxIntermediates)
	if n := len(fat); n < 2900 || n > maxCertSize {
		t.Fatalf("padded intermediate of %d octets", n)
	}
	// Two chains of about 29000 octets each pass the 56000-octet budget.
	var err error
	n := 0
	for ; n < 2 && err == nil; n++ {
		out, r, cerr := csr(t, e.s, 1, field.Null[uint16]())
		if cerr != nil {
			t.Fatal(cerr)
		}
		err = provisionClient(t, e.s, 1, out.CCDID, newCert(t, rootKey, root, certOpts{pub: r.PublicKey.(*ecdsa.PublicKey)}), chain)
	}
	if n != 2 {
		t.Fatalf("the first chain: %v", err)
	}
	wantStatus(t, "the second chain of ten large intermediates", err, dm.StatusResourceExhausted)
	got := readClients(t, e.s, servetest.Filtered(large(1)))
	if len(got) != 2 || !got[0].ClientCertificate.Value.Valid || got[1].ClientCertificate.Value.Valid {
		t.Errorf("after the refused provisioning: %d entries", len(got))
	}
	var find FindClientCertificateResponse
	servetest.Call(t, e.s, large(1), CmdFindClientCertificate, &FindClientCertificateRequest{}, CmdFindClientCertificateResponse, &find)
	if n := len(servetest.Encode(t, &find)); n > maxRecordSize {
		t.Errorf("Find response of %d octets", n)
	}
}

func TestPersistence(t *testing.T) {
	dir := t.TempDir()
	store := servetest.OpenStore(t, dir)
	e := newEnv(t, store)
	rootKey := mustKey(t)
	rootDER := newCert(t, rootKey, nil, certOpts{ca: true})
	root, _ := x509.ParseCertificate(rootDER)
	ica := newCert(t, rootKey, root, certOpts{pub: &mustKey(t).PublicKey, ca: true})

	idRoot := mustRoot(t, e.s, 1, rootDER)
	gone := mustRoot(t, e.s, 1, rootCert(t))
	if _, err := servetest.Invoke(t, e.s, large(1), CmdRemoveRootCertificate, &RemoveRootCertificateRequest{CAID: gone}); err != nil {
		t.Fatal(err)
	}
	a, ra, _ := csr(t, e.s, 1, field.Null[uint16]())
	pending, rp, _ := csr(t, e.s, 2, field.Null[uint16]())
	leaf := newCert(t, rootKey, root, certOpts{pub: ra.PublicKey.(*ecdsa.PublicKey)})
	if err := provisionClient(t, e.s, 1, a.CCDID, leaf, [][]byte{ica}); err != nil {
		t.Fatal(err)
	}
	wantRoots, wantClients := readRoots(t, e.s, large(1)), readClients(t, e.s, large(1))
	store.Close()

	e = newEnv(t, servetest.OpenStore(t, dir))
	if got := readRoots(t, e.s, large(1)); !slices.EqualFunc(got, wantRoots, sameCert) {
		t.Errorf("roots after a restart: %+v, want %+v", got, wantRoots)
	}
	got := readClients(t, e.s, large(1))
	if len(got) != len(wantClients) || len(got) != 2 {
		t.Fatalf("client certificates after a restart: %+v", got)
	}
	for i := range got {
		if servetest.Encode(t, &got[i]) == nil || !bytes.Equal(servetest.Encode(t, &got[i]), servetest.Encode(t, &wantClients[i])) {
			t.Errorf("client certificate %d after a restart: %+v, want %+v", i, got[i], wantClients[i])
		}
	}
	// The key pairs survive: a rotation CSR carries the same key, and the
	// provisioned key still signs for its certificate.
	_, r2, err := csr(t, e.s, 2, field.NonNull(pending.CCDID))
	if err != nil || !r2.PublicKey.(*ecdsa.PublicKey).Equal(rp.PublicKey) {
		t.Errorf("CSR after a restart: %v; the key changed", err)
	}
	if key, _, _, ok := e.s.ClientCertificate(1, a.CCDID); !ok || !key.PublicKey.Equal(ra.PublicKey) {
		t.Error("the provisioned key pair did not survive")
	}
	// Lookup works from the recomputed fingerprint, and the ID counters
	// went on from where they were.
	fp := sha256.Sum256(rootDER)
	var lk LookupRootCertificateResponse
	servetest.Call(t, e.s, large(1), CmdLookupRootCertificate, &LookupRootCertificateRequest{Fingerprint: fp[:]}, CmdLookupRootCertificateResponse, &lk)
	if lk.CAID != idRoot {
		t.Errorf("Lookup after a restart: %d", lk.CAID)
	}
	if id := mustRoot(t, e.s, 1, rootCert(t)); id != gone+1 {
		t.Errorf("CAID after a restart %d, want %d", id, gone+1)
	}
	if out, _, _ := csr(t, e.s, 1, field.Null[uint16]()); out.CCDID != pending.CCDID+1 {
		t.Errorf("CCDID after a restart %d, want %d", out.CCDID, pending.CCDID+1)
	}
}

func TestUnusableRecordsDropped(t *testing.T) {
	dir := t.TempDir()
	store := servetest.OpenStore(t, dir)
	e := newEnv(t, store)
	mustRoot(t, e.s, 1, rootCert(t))
	mustRoot(t, e.s, 2, rootCert(t))
	if err := store.Put(rootKey(2), []byte{0x15, 0x24, 0x00, 0x07, 0x18}); err != nil { // version 7
		t.Fatal(err)
	}
	if err := store.Put(clientKey(3), []byte("garbage")); err != nil {
		t.Fatal(err)
	}
	if err := store.Put(rootPrefix+"x", []byte("ignored")); err != nil {
		t.Fatal(err)
	}
	store.Close()
	e = newEnv(t, servetest.OpenStore(t, dir))
	got := readRoots(t, e.s, large(1))
	if len(got) != 1 || got[0].FabricIndex != 1 {
		t.Errorf("after loading a bad record: %+v", got)
	}
}

func TestFabricRemoval(t *testing.T) {
	dir := t.TempDir()
	store := servetest.OpenStore(t, dir)
	e := newEnv(t, store)
	mustRoot(t, e.s, 1, rootCert(t))
	mustRoot(t, e.s, 2, rootCert(t))
	if _, _, err := csr(t, e.s, 2, field.Null[uint16]()); err != nil {
		t.Fatal(err)
	}
	e.changes.Reset()
	e.s.RetainFabrics(func(fi uint8) bool { return fi == 1 })
	if !e.changes.Has(ID, AttrProvisionedRootCertificates) || !e.changes.Has(ID, AttrProvisionedClientCertificates) {
		t.Error("no change reported")
	}
	if got := readRoots(t, e.s, large(1)); len(got) != 1 || got[0].FabricIndex != 1 {
		t.Errorf("roots after RetainFabrics: %+v", got)
	}
	if got := readClients(t, e.s, large(1)); len(got) != 0 {
		t.Errorf("client certificates after RetainFabrics: %+v", got)
	}
	for _, k := range []string{rootKey(2), clientKey(2)} {
		if _, err := store.Get(k); err == nil {
			t.Errorf("%s still stored", k)
		}
	}
	e.s.FabricRemoved(1)
	store.Close()
	e = newEnv(t, servetest.OpenStore(t, dir))
	if got := readRoots(t, e.s, large(1)); len(got) != 0 {
		t.Errorf("after removing every fabric and a restart: %+v", got)
	}
}

func TestHold(t *testing.T) {
	e := newEnv(t, servetest.Store(t))
	caid := mustRoot(t, e.s, 1, rootCert(t))
	out, _, _ := csr(t, e.s, 1, field.Null[uint16]())
	for _, tc := range []struct {
		fabric             uint8
		caid               uint16
		ccdid              field.Nullable[uint16]
		wantRoot, wantCert bool
	}{
		{1, caid, field.Null[uint16](), true, true},
		{1, caid, field.NonNull(out.CCDID), true, true},
		{1, caid + 1, field.NonNull(out.CCDID + 1), false, false},
		{2, caid, field.NonNull(out.CCDID), false, false},
	} {
		if err := e.s.Hold(tc.fabric, tc.caid, tc.ccdid, func(root, client bool) error {
			if root != tc.wantRoot || client != tc.wantCert {
				t.Errorf("Hold(%d, %d, %v): %v %v", tc.fabric, tc.caid, tc.ccdid, root, client)
			}
			return nil
		}); err != nil {
			t.Error(err)
		}
	}
	if der, ok := e.s.RootCertificate(1, caid); !ok || der == nil {
		t.Error("RootCertificate")
	}
}

// TestConcurrentUse runs commands, reads and removals from several
// goroutines, for the race detector.
func TestConcurrentUse(t *testing.T) {
	e := newEnv(t, servetest.Store(t))
	certs := make([][]byte, 8)
	for i := range certs {
		certs[i] = rootCert(t)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fi := uint8(g%2 + 1)
			for i := range 2 {
				id, err := provisionRoot(t, e.s, fi, certs[g*2+i], field.Null[uint16]())
				if err != nil {
					t.Error(err)
					continue
				}
				readRoots(t, e.s, large(fi))
				_ = e.s.Hold(fi, id, field.Null[uint16](), func(bool, bool) error { return nil })
				if _, err := servetest.Invoke(t, e.s, large(fi), CmdRemoveRootCertificate, &RemoveRootCertificateRequest{CAID: id}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
}
