package operationalcredentials

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha256"
	"errors"
	"math/big"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/mattercam/mattercam/matter/attestation"
	"github.com/mattercam/mattercam/matter/cert"
	"github.com/mattercam/mattercam/matter/clusters/field"
	"github.com/mattercam/mattercam/matter/clusters/internal/servetest"
	"github.com/mattercam/mattercam/matter/dm"
	"github.com/mattercam/mattercam/matter/fabric"
	"github.com/mattercam/mattercam/matter/tlv"
)

const (
	adminNode  = 0x0000_0000_0000_C0DE
	deviceNode = 0x0000_0000_0000_0042
	vendor     = 0xFFF1
)

// fakeFailSafe is a fail-safe armed for one fabric, recording what the
// cluster tells it.
type fakeFailSafe struct {
	mu      sync.Mutex
	armed   bool
	fabric  uint8
	added   []uint8
	updated []uint8
}

func (f *fakeFailSafe) arm(fabric uint8) {
	f.mu.Lock()
	f.armed, f.fabric = true, fabric
	f.mu.Unlock()
}

func (f *fakeFailSafe) ArmedFor(fabric uint8) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.armed && f.fabric == fabric
}

func (f *fakeFailSafe) NOCAdded(fabric uint8) {
	f.mu.Lock()
	f.fabric = fabric
	f.added = append(f.added, fabric)
	f.mu.Unlock()
}

func (f *fakeFailSafe) NOCUpdated(fabric uint8) {
	f.mu.Lock()
	f.updated = append(f.updated, fabric)
	f.mu.Unlock()
}

// fakeSession records the fabric a PASE session is bound to.
type fakeSession struct{ fabric uint8 }

func (s *fakeSession) SetFabricIndex(f uint8) error {
	if s.fabric != 0 {
		return errors.New("already bound")
	}
	s.fabric = f
	return nil
}

type grant struct {
	fabric  uint8
	subject uint64
}

type env struct {
	t        *testing.T
	s        *Server
	fabrics  *fabric.Table
	fs       *fakeFailSafe
	factory  *attestation.FactoryData
	changes  servetest.Changes
	grants   []grant
	grantErr error
	left     []uint8
	lastGone int
	// rootOverride replaces the root a test case stages.
	rootOverride []byte
}

var (
	devOnce sync.Once
	devData *attestation.FactoryData
	devErr  error
)

func development(t testing.TB) *attestation.FactoryData {
	t.Helper()
	devOnce.Do(func() { devData, devErr = attestation.Development() })
	if devErr != nil {
		t.Fatalf("development factory data: %v", devErr)
	}
	return devData
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, fs: &fakeFailSafe{}, factory: development(t)}
	var err error
	e.fabrics, err = fabric.Open(servetest.Store(t), fabric.Config{OnChange: func(c fabric.Change) {
		if e.s != nil {
			e.s.FabricChanged(c)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	e.s, err = New(Config{
		Fabrics:     e.fabrics,
		FailSafe:    e.fs,
		Attestation: e.factory,
		GrantAdmin: func(_ *dm.Request, f uint8, subject uint64) error {
			if e.grantErr != nil {
				return e.grantErr
			}
			e.grants = append(e.grants, grant{f, subject})
			return nil
		},
		OnLeave:             func(f uint8) { e.left = append(e.left, f) },
		OnLastFabricRemoved: func() { e.lastGone++ },
		Notify:              &e.changes,
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// csr runs CSRRequest and returns the DER CSR from the response.
func (e *env) csr(req *dm.Request, forUpdate bool) []byte {
	e.t.Helper()
	in := CSRRequest{CSRNonce: bytes.Repeat([]byte{7}, 32)}
	if forUpdate {
		in.IsForUpdateNOC = field.Some(true)
	}
	var out CSRResponse
	servetest.Call(e.t, e.s, req, CmdCSRRequest, &in, CmdCSRResponse, &out)
	info, err := attestation.ParseNOCSRElements(out.NocsrElements)
	if err != nil {
		e.t.Fatalf("NOCSR elements: %v", err)
	}
	return info.CSR
}

func (e *env) addNOC(req *dm.Request, in *AddNOCRequest) (NOCResponse, error) {
	e.t.Helper()
	resp, err := servetest.Invoke(e.t, e.s, req, CmdAddNOC, in)
	var out NOCResponse
	if err == nil {
		servetest.Response(e.t, resp, CmdNOCResponse, &out)
	}
	return out, err
}

// commission adds and commits a fabric of ca over PASE and returns its
// index.
func (e *env) commission(ca *servetest.CA, node uint64) uint8 {
	e.t.Helper()
	e.fs.arm(0)
	req := servetest.PASE(0)
	csr := e.csr(req, false)
	if _, err := servetest.Invoke(e.t, e.s, req, CmdAddTrustedRootCertificate, &AddTrustedRootCertificateRequest{RootCaCertificate: ca.RCAC}); err != nil {
		e.t.Fatalf("AddTrustedRootCertificate: %v", err)
	}
	out, err := e.addNOC(req, &AddNOCRequest{NOCValue: ca.NOC(e.t, csr, node), ICACValue: field.Some(ca.ICAC),
		IPKValue: servetest.IPK, CASEAdminSubject: adminNode, AdminVendorID: vendor})
	if err != nil || out.StatusCode != NodeOperationalCertStatusOK {
		e.t.Fatalf("AddNOC: %v %+v", err, out)
	}
	if err := e.fabrics.Commit(); err != nil {
		e.t.Fatal(err)
	}
	e.fs = &fakeFailSafe{}
	e.s.cfg.FailSafe = e.fs
	return out.FabricIndex.Value
}

func TestAttestationRequest(t *testing.T) {
	e := newEnv(t)
	nonce := bytes.Repeat([]byte{0x5A}, 32)
	var out AttestationResponse
	servetest.Call(t, e.s, servetest.PASE(0), CmdAttestationRequest, &AttestationRequest{AttestationNonce: nonce},
		CmdAttestationResponse, &out)
	info, err := attestation.ParseAttestationElements(out.AttestationElements)
	if err != nil {
		t.Fatalf("attestation elements: %v", err)
	}
	if !bytes.Equal(info.Nonce, nonce) || !bytes.Equal(info.CertificationDeclaration, e.factory.CD) || info.Timestamp != 0 {
		t.Errorf("elements %+v", info)
	}
	ch := servetest.Challenge
	if err := attestation.VerifySignature(e.factory.DAC, out.AttestationElements, ch[:], out.AttestationSignature); err != nil {
		t.Errorf("signature over elements ‖ challenge: %v", err)
	}
	// Signed over the session's challenge, not another one.
	other := servetest.PASE(0)
	other.AttestationChallenge[0] ^= 1
	if err := attestation.VerifySignature(e.factory.DAC, out.AttestationElements, other.AttestationChallenge[:], out.AttestationSignature); err == nil {
		t.Error("signature verifies with another challenge")
	}

	for _, tc := range []struct {
		name  string
		req   *dm.Request
		nonce []byte
		want  dm.Status
	}{
		{"short nonce", servetest.PASE(0), nonce[:31], dm.StatusInvalidCommand},
		{"long nonce", servetest.PASE(0), append(slices.Clone(nonce), 0), dm.StatusInvalidCommand},
		{"no challenge", &dm.Request{Subject: dm.Subject{AuthMode: dm.AuthPASE}}, nonce, dm.StatusFailure},
	} {
		_, err := servetest.Invoke(t, e.s, tc.req, CmdAttestationRequest, &AttestationRequest{AttestationNonce: tc.nonce})
		if got := servetest.Status(err); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestCertificateChainRequest(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		typ  CertificateChainType
		want []byte
	}{
		{CertificateChainTypeDacCertificate, e.factory.DAC},
		{CertificateChainTypePaiCertificate, e.factory.PAI},
	} {
		var out CertificateChainResponse
		servetest.Call(t, e.s, servetest.PASE(0), CmdCertificateChainRequest, &CertificateChainRequest{CertificateType: tc.typ},
			CmdCertificateChainResponse, &out)
		if !bytes.Equal(out.Certificate, tc.want) {
			t.Errorf("certificate type %d: wrong certificate", tc.typ)
		}
	}
	for _, typ := range []CertificateChainType{0, 3, 255} {
		_, err := servetest.Invoke(t, e.s, servetest.PASE(0), CmdCertificateChainRequest, &CertificateChainRequest{CertificateType: typ})
		if servetest.Status(err) != dm.StatusInvalidCommand {
			t.Errorf("certificate type %d: %v, want INVALID_COMMAND", typ, err)
		}
	}
}

func TestCSRRequest(t *testing.T) {
	nonce := bytes.Repeat([]byte{1}, 32)
	for _, tc := range []struct {
		name      string
		armFor    int // -1: not armed
		req       *dm.Request
		nonce     []byte
		forUpdate bool
		want      dm.Status
	}{
		{"not armed", -1, servetest.PASE(0), nonce, false, dm.StatusFailsafeRequired},
		{"armed for another fabric", 1, servetest.PASE(0), nonce, false, dm.StatusFailsafeRequired},
		{"bad nonce", 0, servetest.PASE(0), nonce[:16], false, dm.StatusInvalidCommand},
		{"for UpdateNOC over PASE", 0, servetest.PASE(0), nonce, true, dm.StatusInvalidCommand},
		{"for AddNOC over PASE", 0, servetest.PASE(0), nonce, false, dm.StatusSuccess},
		{"for UpdateNOC over CASE", 1, servetest.CASE(1, adminNode), nonce, true, dm.StatusSuccess},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			if tc.armFor >= 0 {
				e.fs.arm(uint8(tc.armFor))
			}
			in := CSRRequest{CSRNonce: tc.nonce}
			if tc.forUpdate {
				in.IsForUpdateNOC = field.Some(true)
			}
			resp, err := servetest.Invoke(t, e.s, tc.req, CmdCSRRequest, &in)
			if got := servetest.Status(err); got != tc.want {
				t.Fatalf("%v, want %v", err, tc.want)
			}
			if err != nil {
				if s := e.fabrics.Staged(); s.CSR {
					t.Error("a refused CSRRequest staged a key")
				}
				return
			}
			var out CSRResponse
			servetest.Response(t, resp, CmdCSRResponse, &out)
			info, err := attestation.ParseNOCSRElements(out.NocsrElements)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(info.Nonce, tc.nonce) {
				t.Error("CSRNonce not echoed")
			}
			if _, err := cert.ParseCSR(info.CSR); err != nil {
				t.Errorf("CSR: %v", err)
			}
			ch := servetest.Challenge
			if err := attestation.VerifySignature(e.factory.DAC, out.NocsrElements, ch[:], out.AttestationSignature); err != nil {
				t.Errorf("NOCSR signature: %v", err)
			}
			if s := e.fabrics.Staged(); !s.CSR || s.ForUpdate != tc.forUpdate {
				t.Errorf("staging %+v", s)
			}
		})
	}
}

func TestAddTrustedRootCertificate(t *testing.T) {
	ca := servetest.NewCA(t, 1, false)
	e := newEnv(t)
	add := func(rcac []byte) error {
		_, err := servetest.Invoke(t, e.s, servetest.PASE(0), CmdAddTrustedRootCertificate, &AddTrustedRootCertificateRequest{RootCaCertificate: rcac})
		return err
	}
	if err := add(ca.RCAC); servetest.Status(err) != dm.StatusFailsafeRequired {
		t.Errorf("without fail-safe: %v", err)
	}
	e.fs.arm(0)
	if err := add(ca.RCAC[:len(ca.RCAC)-3]); servetest.Status(err) != dm.StatusInvalidCommand {
		t.Errorf("truncated root: %v, want INVALID_COMMAND", err)
	}
	if err := add(ca.RCAC); err != nil {
		t.Fatalf("AddTrustedRootCertificate: %v", err)
	}
	if roots := e.fabrics.TrustedRootCertificates(); len(roots) != 1 || !bytes.Equal(roots[0], ca.RCAC) {
		t.Errorf("TrustedRootCertificates = %x", roots)
	}
	if err := add(servetest.NewCA(t, 2, false).RCAC); servetest.Status(err) != dm.StatusConstraintError {
		t.Errorf("second root in the same fail-safe: %v, want CONSTRAINT_ERROR", err)
	}
}

func TestAddNOC(t *testing.T) {
	for _, tc := range []struct {
		name string
		// mutate prepares the request; csr is the staged CSR
		mutate  func(e *env, ca *servetest.CA, csr []byte, in *AddNOCRequest)
		noRoot  bool
		status  dm.Status
		code    NodeOperationalCertStatus
		success bool
	}{
		{name: "ok without ICAC", success: true},
		{name: "ok with ICAC", mutate: func(e *env, _ *servetest.CA, csr []byte, in *AddNOCRequest) {
			ica := servetest.NewCA(e.t, 1, true)
			// Use the ICA chain throughout: its root must be the staged one.
			*in = AddNOCRequest{NOCValue: ica.NOC(e.t, csr, deviceNode), ICACValue: field.Some(ica.ICAC),
				IPKValue: servetest.IPK, CASEAdminSubject: adminNode, AdminVendorID: vendor}
			e.rootOverride = ica.RCAC
		}, success: true},
		{name: "no root", noRoot: true, code: NodeOperationalCertStatusInvalidNOC},
		{name: "key not the CSR's", mutate: func(e *env, ca *servetest.CA, _ []byte, in *AddNOCRequest) {
			other := servetest.NewCA(e.t, 9, false) // any other key
			in.NOCValue = ca.NOCFor(e.t, &other.Key.PublicKey, deviceNode)
		}, code: NodeOperationalCertStatusInvalidPublicKey},
		{name: "garbage NOC", mutate: func(_ *env, _ *servetest.CA, _ []byte, in *AddNOCRequest) {
			in.NOCValue = []byte{0x15, 0x18}
		}, code: NodeOperationalCertStatusInvalidNOC},
		{name: "bad admin subject", mutate: func(_ *env, _ *servetest.CA, _ []byte, in *AddNOCRequest) {
			in.CASEAdminSubject = 0
		}, code: NodeOperationalCertStatusInvalidAdminSubject},
		{name: "reserved vendor", mutate: func(_ *env, _ *servetest.CA, _ []byte, in *AddNOCRequest) {
			in.AdminVendorID = 0
		}, status: dm.StatusConstraintError},
		{name: "short IPK", mutate: func(_ *env, _ *servetest.CA, _ []byte, in *AddNOCRequest) {
			in.IPKValue = in.IPKValue[:15]
		}, status: dm.StatusConstraintError},
		{name: "not armed", mutate: func(e *env, _ *servetest.CA, _ []byte, _ *AddNOCRequest) {
			e.fs.mu.Lock()
			e.fs.armed = false
			e.fs.mu.Unlock()
		}, status: dm.StatusFailsafeRequired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.fs.arm(0)
			req := servetest.PASE(0)
			sess := &fakeSession{}
			req.Session = sess
			ca := servetest.NewCA(t, 1, false)
			csr := e.csr(req, false)
			// Empty ICAC, as matter.js sends it.
			in := AddNOCRequest{NOCValue: ca.NOC(t, csr, deviceNode), ICACValue: field.Some([]byte{}),
				IPKValue: servetest.IPK, CASEAdminSubject: adminNode, AdminVendorID: vendor}
			if tc.mutate != nil {
				tc.mutate(e, ca, csr, &in)
			}
			if !tc.noRoot {
				root := ca.RCAC
				if e.rootOverride != nil {
					root = e.rootOverride
				}
				if _, err := servetest.Invoke(t, e.s, req, CmdAddTrustedRootCertificate, &AddTrustedRootCertificateRequest{RootCaCertificate: root}); err != nil &&
					tc.status != dm.StatusFailsafeRequired {
					t.Fatalf("AddTrustedRootCertificate: %v", err)
				}
			}
			e.changes.Reset()
			out, err := e.addNOC(req, &in)
			if got := servetest.Status(err); got != tc.status {
				t.Fatalf("status %v, want %v", err, tc.status)
			}
			if err != nil {
				if e.fabrics.CommissionedFabrics() != 0 {
					t.Error("a refused AddNOC added a fabric")
				}
				return
			}
			if tc.success {
				tc.code = NodeOperationalCertStatusOK
			}
			if out.StatusCode != tc.code {
				t.Fatalf("StatusCode %v, want %v (%q)", out.StatusCode, tc.code, out.DebugText.Value)
			}
			if !tc.success {
				if out.FabricIndex.Present || len(e.grants) != 0 || e.fabrics.CommissionedFabrics() != 0 || sess.fabric != 0 {
					t.Errorf("failed AddNOC had effects: %+v, grants %v, session %d", out, e.grants, sess.fabric)
				}
				if !out.DebugText.Present {
					t.Error("no DebugText")
				}
				return
			}
			if !out.FabricIndex.Present || out.FabricIndex.Value != 1 {
				t.Fatalf("FabricIndex %+v, want 1", out.FabricIndex)
			}
			if len(e.grants) != 1 || e.grants[0] != (grant{1, adminNode}) {
				t.Errorf("grants %v", e.grants)
			}
			if !slices.Equal(e.fs.added, []uint8{1}) {
				t.Errorf("fail-safe told %v", e.fs.added)
			}
			if sess.fabric != 1 {
				t.Errorf("PASE session bound to fabric %d, want 1", sess.fabric)
			}
			if !e.changes.Has(ID, AttrFabrics) || !e.changes.Has(ID, AttrCommissionedFabrics) {
				t.Error("attribute changes not reported")
			}
			d, ok := e.fabrics.Get(1)
			if !ok || d.NodeID != deviceNode || d.VendorID != vendor || !bytes.Equal(d.IPKEpochKey, servetest.IPK) {
				t.Errorf("fabric %+v", d)
			}
			// A second AddNOC in the same fail-safe is out of sequence.
			if _, err := e.addNOC(servetest.PASE(1), &in); servetest.Status(err) != dm.StatusConstraintError {
				t.Errorf("second AddNOC: %v, want CONSTRAINT_ERROR", err)
			}
		})
	}
}

func TestAddNOCGrantFails(t *testing.T) {
	e := newEnv(t)
	e.grantErr = errors.New("acl full")
	e.fs.arm(0)
	req := servetest.PASE(0)
	ca := servetest.NewCA(t, 1, false)
	csr := e.csr(req, false)
	servetest.Invoke(t, e.s, req, CmdAddTrustedRootCertificate, &AddTrustedRootCertificateRequest{RootCaCertificate: ca.RCAC})
	_, err := e.addNOC(req, &AddNOCRequest{NOCValue: ca.NOC(t, csr, deviceNode), IPKValue: servetest.IPK,
		CASEAdminSubject: adminNode, AdminVendorID: vendor})
	if servetest.Status(err) != dm.StatusFailure {
		t.Fatalf("%v, want FAILURE", err)
	}
	if n := e.fabrics.CommissionedFabrics(); n != 0 {
		t.Errorf("fabric kept without its admin entry (%d fabrics)", n)
	}
}

func TestUpdateNOC(t *testing.T) {
	e := newEnv(t)
	ca := servetest.NewCA(t, 1, false)
	idx := e.commission(ca, deviceNode)
	req := servetest.CASE(idx, adminNode)

	in := UpdateNOCRequest{NOCValue: ca.NOCFor(t, &servetest.NewCA(t, 5, false).Key.PublicKey, deviceNode)}
	if _, err := servetest.Invoke(t, e.s, req, CmdUpdateNOC, &in); servetest.Status(err) != dm.StatusFailsafeRequired {
		t.Fatalf("UpdateNOC without fail-safe: %v", err)
	}
	e.fs.arm(idx)
	csr := e.csr(req, true)
	newNOC := ca.NOC(t, csr, deviceNode)
	var out NOCResponse
	servetest.Call(t, e.s, req, CmdUpdateNOC, &UpdateNOCRequest{NOCValue: newNOC}, CmdNOCResponse, &out)
	if out.StatusCode != NodeOperationalCertStatusOK || out.FabricIndex.Value != idx {
		t.Fatalf("UpdateNOC: %+v", out)
	}
	if d, _ := e.fabrics.Get(idx); !bytes.Equal(d.NOC, newNOC) || !d.Updating {
		t.Error("NOC not replaced")
	}
	if !slices.Equal(e.fs.updated, []uint8{idx}) {
		t.Errorf("fail-safe told %v", e.fs.updated)
	}
}

func TestUpdateFabricLabel(t *testing.T) {
	e := newEnv(t)
	f1 := e.commission(servetest.NewCA(t, 1, false), deviceNode)
	f2 := e.commission(servetest.NewCA(t, 2, false), deviceNode)
	label := func(f uint8, s string) (NOCResponse, error) {
		resp, err := servetest.Invoke(t, e.s, servetest.CASE(f, adminNode), CmdUpdateFabricLabel, &UpdateFabricLabelRequest{Label: s})
		var out NOCResponse
		if err == nil {
			servetest.Response(t, resp, CmdNOCResponse, &out)
		}
		return out, err
	}
	if out, err := label(f1, "matter.js"); err != nil || out.StatusCode != NodeOperationalCertStatusOK || out.FabricIndex.Value != f1 {
		t.Fatalf("UpdateFabricLabel: %+v %v", out, err)
	}
	if d, _ := e.fabrics.Get(f1); d.Label != "matter.js" {
		t.Errorf("label %q", d.Label)
	}
	if out, err := label(f2, "matter.js"); err != nil || out.StatusCode != NodeOperationalCertStatusLabelConflict {
		t.Errorf("same label on another fabric: %+v %v", out, err)
	}
	if _, err := label(f2, strings.Repeat("x", 33)); servetest.Status(err) != dm.StatusConstraintError {
		t.Errorf("33-octet label: %v, want CONSTRAINT_ERROR", err)
	}
}

func TestRemoveFabric(t *testing.T) {
	e := newEnv(t)
	f1 := e.commission(servetest.NewCA(t, 1, false), deviceNode)
	f2 := e.commission(servetest.NewCA(t, 2, false), deviceNode)
	remove := func(f uint8) NOCResponse {
		var out NOCResponse
		servetest.Call(t, e.s, servetest.CASE(f1, adminNode), CmdRemoveFabric, &RemoveFabricRequest{FabricIndex: f}, CmdNOCResponse, &out)
		return out
	}
	if out := remove(7); out.StatusCode != NodeOperationalCertStatusInvalidFabricIndex {
		t.Errorf("unknown fabric: %+v", out)
	}
	if out := remove(f2); out.StatusCode != NodeOperationalCertStatusOK || out.FabricIndex.Value != f2 {
		t.Fatalf("RemoveFabric: %+v", out)
	}
	if e.fabrics.Has(f2) || !slices.Equal(e.left, []uint8{f2}) || e.lastGone != 0 {
		t.Errorf("after removing %d: has %v, left %v, last %d", f2, e.fabrics.Has(f2), e.left, e.lastGone)
	}
	if len(e.fabrics.TrustedRootCertificates()) != 1 {
		t.Error("the removed fabric's root stayed")
	}
	if out := remove(f1); out.StatusCode != NodeOperationalCertStatusOK {
		t.Fatalf("removing the last fabric: %+v", out)
	}
	if e.lastGone != 1 {
		t.Errorf("OnLastFabricRemoved called %d times", e.lastGone)
	}
	if _, err := servetest.Invoke(t, e.s, servetest.CASE(1, adminNode), CmdRemoveFabric, &RemoveFabricRequest{FabricIndex: 0}); servetest.Status(err) != dm.StatusConstraintError {
		t.Errorf("fabric index 0: %v, want CONSTRAINT_ERROR", err)
	}
}

func TestReadFabricScopedLists(t *testing.T) {
	e := newEnv(t)
	ca2 := servetest.NewCA(t, 2, true)
	f1 := e.commission(servetest.NewCA(t, 1, false), deviceNode)
	f2 := e.commission(ca2, 0x77)
	req := servetest.CASE(f1, adminNode)

	for _, tc := range []struct {
		name     string
		req      *dm.Request
		fabrics  []uint8
		fullNOCs []uint8
	}{
		{"filtered", servetest.Filtered(req), []uint8{f1}, []uint8{f1}},
		{"unfiltered", req, []uint8{f1, f2}, []uint8{f1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fds := servetest.ReadList[FabricDescriptor](t, e.s, tc.req, AttrFabrics)
			var got []uint8
			for _, fd := range fds {
				got = append(got, fd.FabricIndex)
				if len(fd.RootPublicKey) != 65 || fd.VendorID != vendor {
					t.Errorf("descriptor %+v", fd)
				}
			}
			if !slices.Equal(got, tc.fabrics) {
				t.Errorf("Fabrics lists %v, want %v", got, tc.fabrics)
			}
			// NOCs of other fabrics show only their index.
			el := servetest.ReadElement(t, e.s, tc.req, AttrNOCs)
			var full []uint8
			for _, m := range el.Members {
				var idx uint8
				hasNOC := false
				for _, f := range m.Members {
					switch f.Tag {
					case tlv.ContextTag(254):
						idx = uint8(f.Uint)
					case tlv.ContextTag(1):
						hasNOC = true
					}
				}
				if hasNOC {
					full = append(full, idx)
				}
			}
			if !slices.Equal(full, tc.fullNOCs) || len(el.Members) != len(tc.fabrics) {
				t.Errorf("NOCs: %d entries, with certificates %v; want %d, %v", len(el.Members), full, len(tc.fabrics), tc.fullNOCs)
			}
		})
	}
	// Fabric 2's view shows its ICAC.
	nocs := servetest.ReadList[NOC](t, e.s, servetest.Filtered(servetest.CASE(f2, 1)), AttrNOCs)
	if len(nocs) != 1 || !nocs[0].ICAC.Valid || !bytes.Equal(nocs[0].ICAC.Value, ca2.ICAC) {
		t.Errorf("fabric 2 NOCs %+v", nocs)
	}
	if got := servetest.ReadUint(t, e.s, req, AttrCurrentFabricIndex); got != uint64(f1) {
		t.Errorf("CurrentFabricIndex = %d", got)
	}
	if got := servetest.ReadUint(t, e.s, servetest.PASE(0), AttrCurrentFabricIndex); got != 0 {
		t.Errorf("CurrentFabricIndex over PASE = %d", got)
	}
	if got := servetest.ReadUint(t, e.s, req, AttrCommissionedFabrics); got != 2 {
		t.Errorf("CommissionedFabrics = %d", got)
	}
	if got := servetest.ReadUint(t, e.s, req, AttrSupportedFabrics); got != fabric.DefaultSupportedFabrics {
		t.Errorf("SupportedFabrics = %d", got)
	}
	if roots := servetest.ReadElement(t, e.s, req, AttrTrustedRootCertificates); len(roots.Members) != 2 {
		t.Errorf("%d trusted roots", len(roots.Members))
	}
	m := e.s.Meta()
	if m.Command(CmdSignVIDVerificationRequest) == nil || m.Command(CmdSetVIDVerificationStatement) == nil ||
		!slices.Contains(m.Generated, CmdSignVIDVerificationResponse) {
		t.Error("metadata does not list the VID verification commands")
	}
}

func TestDebugTextBounded(t *testing.T) {
	long := errors.New(strings.Repeat("é", 100))
	if s := debugText(long); len(s) > maxDebugText || !strings.HasPrefix(long.Error(), s) {
		t.Errorf("debugText = %d octets", len(s))
	}
}

// VID verification (Core §11.18.6.14 to §11.18.6.16, §6.4.10).

var (
	vidStatement = append([]byte{0x21}, bytes.Repeat([]byte{0x42}, 84)...)
	vidVVSC      = bytes.Repeat([]byte{0xAA}, 400)
)

// vidEnv has fabric 1 with an ICAC and fabric 2 without, on its own root
// with fabric ID 0x2222.
func vidEnv(t *testing.T) (e *env, ca2 *servetest.CA, f1, f2 uint8) {
	t.Helper()
	e = newEnv(t)
	f1 = e.commission(servetest.NewCA(t, 1, true), deviceNode)
	ca2 = servetest.NewCA(t, 0x2222, false)
	f2 = e.commission(ca2, 0x77)
	e.changes.Reset()
	return e, ca2, f1, f2
}

// ownEntries reads the accessing fabric's Fabrics and NOCs entries.
func ownEntries(t *testing.T, e *env, f uint8) (FabricDescriptor, NOC) {
	t.Helper()
	req := servetest.Filtered(servetest.CASE(f, adminNode))
	fds := servetest.ReadList[FabricDescriptor](t, e.s, req, AttrFabrics)
	nocs := servetest.ReadList[NOC](t, e.s, req, AttrNOCs)
	if len(fds) != 1 || len(nocs) != 1 || fds[0].FabricIndex != f || nocs[0].FabricIndex != f {
		t.Fatalf("fabric %d entries: %+v %+v", f, fds, nocs)
	}
	return fds[0], nocs[0]
}

func TestSetVIDVerificationStatement(t *testing.T) {
	e, _, f1, f2 := vidEnv(t)
	set := func(req *dm.Request, in *SetVIDVerificationStatementRequest) error {
		t.Helper()
		resp, err := servetest.Invoke(t, e.s, req, CmdSetVIDVerificationStatement, in)
		if err == nil && resp.ID != 0 {
			t.Fatalf("answered with command %#x, want a status", resp.ID)
		}
		return err
	}
	req2 := servetest.CASE(f2, adminNode)

	in := &SetVIDVerificationStatementRequest{VendorID: field.Some[uint16](0x6A01),
		VIDVerificationStatement: field.Some(vidStatement), Vvsc: field.Some(vidVVSC)}
	if err := set(req2, in); err != nil {
		t.Fatal(err)
	}
	fd, noc := ownEntries(t, e, f2)
	if fd.VendorID != 0x6A01 || !fd.VIDVerificationStatement.Present || !bytes.Equal(fd.VIDVerificationStatement.Value, vidStatement) {
		t.Errorf("Fabrics entry %+v", fd)
	}
	if !noc.Vvsc.Present || !bytes.Equal(noc.Vvsc.Value, vidVVSC) {
		t.Errorf("NOCs entry VVSC %+v", noc.Vvsc)
	}
	if !e.changes.Has(ID, AttrFabrics) || !e.changes.Has(ID, AttrNOCs) {
		t.Error("Fabrics and NOCs not reported changed")
	}
	if fd1, noc1 := ownEntries(t, e, f1); fd1.VendorID != vendor || fd1.VIDVerificationStatement.Present || noc1.Vvsc.Present {
		t.Errorf("the other fabric changed: %+v %+v", fd1, noc1)
	}

	// Only the vendor ID: Fabrics changes, NOCs does not.
	e.changes.Reset()
	if err := set(req2, &SetVIDVerificationStatementRequest{VendorID: field.Some[uint16](0xFFF1)}); err != nil {
		t.Fatal(err)
	}
	if fd, _ := ownEntries(t, e, f2); fd.VendorID != 0xFFF1 || !fd.VIDVerificationStatement.Present {
		t.Errorf("after setting the vendor only: %+v", fd)
	}
	if !e.changes.Has(ID, AttrFabrics) || e.changes.Has(ID, AttrNOCs) {
		t.Error("wrong attributes reported for a vendor ID change")
	}

	// Refusals change nothing and report nothing.
	e.changes.Reset()
	before := e.fabrics.List()
	raw := func(put func(w *tlv.Writer)) *tlv.Reader {
		return servetest.RawFields(t, servetest.Value(t, func(w *tlv.Writer, tag tlv.Tag) {
			w.StartStructure(tag)
			put(w)
			w.EndContainer()
		}))
	}
	for _, tc := range []struct {
		name string
		req  *dm.Request
		in   *SetVIDVerificationStatementRequest
		r    *tlv.Reader
		want dm.Status
	}{
		{"no field", req2, &SetVIDVerificationStatementRequest{}, nil, dm.StatusInvalidCommand},
		{"vendor 0", req2, &SetVIDVerificationStatementRequest{VendorID: field.Some[uint16](0)}, nil, dm.StatusConstraintError},
		{"vendor 0xFFF5", req2, &SetVIDVerificationStatementRequest{VendorID: field.Some[uint16](0xFFF5)}, nil, dm.StatusConstraintError},
		{"statement of 84", req2, &SetVIDVerificationStatementRequest{VIDVerificationStatement: field.Some(vidStatement[:84])}, nil, dm.StatusConstraintError},
		{"statement of 86", req2, &SetVIDVerificationStatementRequest{VIDVerificationStatement: field.Some(append(slices.Clone(vidStatement), 0))}, nil, dm.StatusConstraintError},
		{"VVSC of 401", req2, &SetVIDVerificationStatementRequest{Vvsc: field.Some(append(slices.Clone(vidVVSC), 0))}, nil, dm.StatusConstraintError},
		{"VVSC with an ICAC", servetest.CASE(f1, adminNode), &SetVIDVerificationStatementRequest{Vvsc: field.Some([]byte{1})}, nil, dm.StatusInvalidCommand},
		{"empty VVSC with an ICAC", servetest.CASE(f1, adminNode), &SetVIDVerificationStatementRequest{Vvsc: field.Some([]byte{}),
			VendorID: field.Some[uint16](0xFFF2)}, nil, dm.StatusInvalidCommand},
		{"no accessing fabric", servetest.PASE(0), &SetVIDVerificationStatementRequest{VendorID: field.Some[uint16](0xFFF2)}, nil, dm.StatusUnsupportedAccess},
		{"vendor ID not an integer", req2, nil, raw(func(w *tlv.Writer) { w.PutString(tlv.ContextTag(0), "x") }), dm.StatusInvalidCommand},
		{"statement not octets", req2, nil, raw(func(w *tlv.Writer) { w.PutUint(tlv.ContextTag(1), 1) }), dm.StatusInvalidCommand},
	} {
		var err error
		if tc.r != nil {
			_, err = servetest.InvokeRaw(t, e.s, tc.req, CmdSetVIDVerificationStatement, tc.r)
		} else {
			err = set(tc.req, tc.in)
		}
		if got := servetest.Status(err); got != tc.want {
			t.Errorf("%s: %v (%v), want %v", tc.name, got, err, tc.want)
		}
	}
	if !slices.EqualFunc(before, e.fabrics.List(), func(a, b fabric.Descriptor) bool {
		return a.VendorID == b.VendorID && bytes.Equal(a.VIDVerificationStatement, b.VIDVerificationStatement) && bytes.Equal(a.VVSC, b.VVSC)
	}) || e.changes.Has(ID, AttrFabrics) || e.changes.Has(ID, AttrNOCs) {
		t.Error("a refused command changed the fabric table")
	}

	// Empty values remove the fields: omitted, not empty, on the wire.
	if err := set(req2, &SetVIDVerificationStatementRequest{VIDVerificationStatement: field.Some([]byte{}), Vvsc: field.Some([]byte{})}); err != nil {
		t.Fatal(err)
	}
	el := servetest.ReadElement(t, e.s, servetest.Filtered(req2), AttrFabrics)
	for _, m := range el.Members[0].Members {
		if m.Tag == tlv.ContextTag(6) {
			t.Error("Fabrics entry still has field 6")
		}
	}
	el = servetest.ReadElement(t, e.s, servetest.Filtered(req2), AttrNOCs)
	for _, m := range el.Members[0].Members {
		if m.Tag == tlv.ContextTag(3) {
			t.Error("NOCs entry still has field 3")
		}
	}

	// Inside a fail-safe with no AddNOC or UpdateNOC the change is
	// committed: expiry does not undo it.
	e.fs.arm(f2)
	if err := set(req2, &SetVIDVerificationStatementRequest{VendorID: field.Some[uint16](0xFFF3)}); err != nil {
		t.Fatal(err)
	}
	e.fabrics.Revert()
	if fd, _ := ownEntries(t, e, f2); fd.VendorID != 0xFFF3 {
		t.Errorf("vendor ID after a revert: %#x", fd.VendorID)
	}
}

// vidTBS builds vendor_id_verification_tbs from Core §11.18.6.16 and the
// vendor_fabric_binding_message of §6.4.10.1, field by field.
func vidTBS(clientChallenge []byte, attestationChallenge [16]byte, fabricIndex uint8, rootPub []byte, fabricID uint64, vendorID uint16, statement []byte) []byte {
	var b []byte
	b = append(b, 0x01) // fabric_binding_version
	b = append(b, clientChallenge...)
	b = append(b, attestationChallenge[:]...)
	b = append(b, fabricIndex)
	b = append(b, 0x01) // vendor_fabric_binding_message: fabric_binding_version
	b = append(b, rootPub...)
	b = append(b, byte(fabricID>>56), byte(fabricID>>48), byte(fabricID>>40), byte(fabricID>>32),
		byte(fabricID>>24), byte(fabricID>>16), byte(fabricID>>8), byte(fabricID))
	b = append(b, byte(vendorID>>8), byte(vendorID))
	return append(b, statement...)
}

// verifyP256 checks a raw r ‖ s signature over SHA-256(msg) with
// crypto/ecdsa.
func verifyP256(pub *ecdsa.PublicKey, msg, sig []byte) bool {
	if len(sig) != 64 {
		return false
	}
	h := sha256.Sum256(msg)
	return ecdsa.Verify(pub, h[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:]))
}

func TestSignVIDVerificationRequest(t *testing.T) {
	e, ca2, f1, f2 := vidEnv(t)
	client := bytes.Repeat([]byte{0xC1}, 32)
	nocKey := func(f uint8) *ecdsa.PublicKey {
		t.Helper()
		_, noc := ownEntries(t, e, f)
		c, err := cert.DecodeTLV(noc.NOC)
		if err != nil {
			t.Fatal(err)
		}
		return c.PublicKey
	}
	sign := func(req *dm.Request, idx uint8) SignVIDVerificationResponse {
		t.Helper()
		var out SignVIDVerificationResponse
		servetest.Call(t, e.s, req, CmdSignVIDVerificationRequest, &SignVIDVerificationRequest{FabricIndex: idx, ClientChallenge: client},
			CmdSignVIDVerificationResponse, &out)
		if out.FabricIndex != idx || out.FabricBindingVersion != 1 || len(out.Signature) != 64 {
			t.Fatalf("response %+v", out)
		}
		return out
	}

	// An administrator on fabric 1 asks about fabric 2: fabric 2's
	// operational key signs, over this session's attestation challenge.
	out := sign(servetest.CASE(f1, adminNode), f2)
	tbs := vidTBS(client, servetest.Challenge, f2, ca2.RootPub, ca2.FabricID, vendor, nil)
	if !verifyP256(nocKey(f2), tbs, out.Signature) {
		t.Fatal("signature does not verify under fabric 2's NOC key")
	}
	if verifyP256(nocKey(f1), tbs, out.Signature) || verifyP256(&e.factory.DACKey.PublicKey, tbs, out.Signature) {
		t.Fatal("signature verifies under the wrong key")
	}
	other := servetest.CASE(f1, adminNode)
	other.AttestationChallenge[0] ^= 1
	if verifyP256(nocKey(f2), vidTBS(client, other.AttestationChallenge, f2, ca2.RootPub, ca2.FabricID, vendor, nil), out.Signature) {
		t.Fatal("the attestation challenge is not signed")
	}

	// With a statement and another vendor ID, both are in the message.
	if _, err := servetest.Invoke(t, e.s, servetest.CASE(f2, adminNode), CmdSetVIDVerificationStatement, &SetVIDVerificationStatementRequest{
		VendorID: field.Some[uint16](0x6A01), VIDVerificationStatement: field.Some(vidStatement)}); err != nil {
		t.Fatal(err)
	}
	out = sign(other, f2)
	if !verifyP256(nocKey(f2), vidTBS(client, other.AttestationChallenge, f2, ca2.RootPub, ca2.FabricID, 0x6A01, vidStatement), out.Signature) {
		t.Fatal("signature with a statement does not verify")
	}

	// Over PASE, before any AddNOC, it works the same.
	out = sign(servetest.PASE(0), f2)
	if !verifyP256(nocKey(f2), vidTBS(client, servetest.Challenge, f2, ca2.RootPub, ca2.FabricID, 0x6A01, vidStatement), out.Signature) {
		t.Fatal("signature over PASE does not verify")
	}

	raw := func(put func(w *tlv.Writer)) *tlv.Reader {
		return servetest.RawFields(t, servetest.Value(t, func(w *tlv.Writer, tag tlv.Tag) {
			w.StartStructure(tag)
			put(w)
			w.EndContainer()
		}))
	}
	noChallenge := servetest.CASE(f1, adminNode)
	noChallenge.AttestationChallenge = [16]byte{}
	for _, tc := range []struct {
		name string
		req  *dm.Request
		in   *SignVIDVerificationRequest
		r    *tlv.Reader
		want dm.Status
	}{
		{"unknown fabric", servetest.CASE(f1, adminNode), &SignVIDVerificationRequest{FabricIndex: 9, ClientChallenge: client}, nil, dm.StatusConstraintError},
		{"fabric 0", servetest.CASE(f1, adminNode), &SignVIDVerificationRequest{FabricIndex: 0, ClientChallenge: client}, nil, dm.StatusConstraintError},
		{"fabric 255", servetest.CASE(f1, adminNode), nil, raw(func(w *tlv.Writer) {
			w.PutUint(tlv.ContextTag(0), 255)
			w.PutBytes(tlv.ContextTag(1), client)
		}), dm.StatusConstraintError},
		{"challenge of 31", servetest.CASE(f1, adminNode), &SignVIDVerificationRequest{FabricIndex: f2, ClientChallenge: client[:31]}, nil, dm.StatusConstraintError},
		{"challenge of 33", servetest.CASE(f1, adminNode), &SignVIDVerificationRequest{FabricIndex: f2, ClientChallenge: append(slices.Clone(client), 0)}, nil, dm.StatusConstraintError},
		{"no challenge", servetest.CASE(f1, adminNode), nil, raw(func(w *tlv.Writer) { w.PutUint(tlv.ContextTag(0), uint64(f2)) }), dm.StatusInvalidCommand},
		{"no fabric index", servetest.CASE(f1, adminNode), nil, raw(func(w *tlv.Writer) { w.PutBytes(tlv.ContextTag(1), client) }), dm.StatusInvalidCommand},
		{"no fields", servetest.CASE(f1, adminNode), nil, nil, dm.StatusInvalidCommand},
		{"session without an attestation challenge", noChallenge, &SignVIDVerificationRequest{FabricIndex: f2, ClientChallenge: client}, nil, dm.StatusFailure},
	} {
		var resp dm.CommandResponse
		var err error
		if tc.in != nil {
			resp, err = servetest.Invoke(t, e.s, tc.req, CmdSignVIDVerificationRequest, tc.in)
		} else {
			resp, err = servetest.InvokeRaw(t, e.s, tc.req, CmdSignVIDVerificationRequest, tc.r)
		}
		if got := servetest.Status(err); got != tc.want || resp.ID != 0 {
			t.Errorf("%s: %v (%v), response %#x; want %v", tc.name, got, err, resp.ID, tc.want)
		}
	}
}
