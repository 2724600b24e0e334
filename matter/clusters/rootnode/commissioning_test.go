package rootnode

import (
	"bytes"
	"crypto/x509"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mattercam/mattercam/matter/acl"
	"github.com/mattercam/mattercam/matter/attestation"
	"github.com/mattercam/mattercam/matter/clusters/accesscontrol"
	"github.com/mattercam/mattercam/matter/clusters/administratorcommissioning"
	"github.com/mattercam/mattercam/matter/clusters/basicinformation"
	"github.com/mattercam/mattercam/matter/clusters/descriptor"
	"github.com/mattercam/mattercam/matter/clusters/field"
	"github.com/mattercam/mattercam/matter/clusters/generalcommissioning"
	"github.com/mattercam/mattercam/matter/clusters/groupkeymanagement"
	"github.com/mattercam/mattercam/matter/clusters/internal/servetest"
	"github.com/mattercam/mattercam/matter/clusters/networkcommissioning"
	"github.com/mattercam/mattercam/matter/clusters/operationalcredentials"
	"github.com/mattercam/mattercam/matter/crypto"
	"github.com/mattercam/mattercam/matter/dm"
	"github.com/mattercam/mattercam/matter/storage"
	"github.com/mattercam/mattercam/matter/tlv"
)

// The commissioner as matter.js 0.17.9 behaves (controller.md §1).
const (
	controllerNode   uint64 = 0x0000_0000_0BAD_CAFE // CaseAdminSubject: the controller's node ID
	deviceNode       uint64 = 1                     // matter.js gives node IDs 1, 2, …
	controllerVendor uint16 = 0xFFF1
	fabricID         uint64 = 0x0000_0000_0000_0F0F
)

// window is the node's commissioning mode, recording what the clusters do.
type window struct {
	mu       sync.Mutex
	open     bool
	enhanced []administratorcommissioning.WindowParams
	closes   int
}

func (w *window) OpenEnhanced(p administratorcommissioning.WindowParams) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.open = true
	w.enhanced = append(w.enhanced, p)
	return nil
}

func (w *window) Close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.open = false
	w.closes++
}

func (w *window) IsOpen() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.open
}

// paseSession is a PASE session that AddNOC binds to the new fabric.
type paseSession struct {
	mu     sync.Mutex
	fabric uint8
}

func (s *paseSession) SetFabricIndex(f uint8) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fabric = f
	return nil
}

func (s *paseSession) request() *dm.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := servetest.PASE(s.fabric)
	r.Session = s
	return r
}

// harness is a root node with what the node around it would provide.
type harness struct {
	t       *testing.T
	n       *RootNode
	node    *dm.Node
	events  *dm.Events
	win     *window
	factory *attestation.FactoryData

	mu             sync.Mutex
	closedPASE     int
	removed        []uint8
	closedSessions []uint8
	commissionable int
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
		t.Fatal(devErr)
	}
	return devData
}

func newHarness(t *testing.T, store *storage.Store) *harness {
	t.Helper()
	h := &harness{t: t, node: dm.NewNode(), win: &window{open: true}, factory: development(t)}
	var err error
	if h.events, err = dm.NewEvents(dm.EventsConfig{}); err != nil {
		t.Fatal(err)
	}
	h.n, err = New(Config{
		Node: h.node, Events: h.events, Store: store, Factory: h.factory, Window: h.win,
		Callbacks: Callbacks{
			ClosePASE:           func() { h.mu.Lock(); h.closedPASE++; h.mu.Unlock() },
			CloseFabricSessions: func(f uint8) { h.mu.Lock(); h.closedSessions = append(h.closedSessions, f); h.mu.Unlock() },
			FabricRemoved:       func(f uint8) { h.mu.Lock(); h.removed = append(h.removed, f); h.mu.Unlock() },
			Commissionable:      func() { h.mu.Lock(); h.commissionable++; h.mu.Unlock() },
		},
		SoftwareVersion: 7, SoftwareVersionString: "0.7.0",
		Interface: "eth0",
	})
	if err != nil {
		t.Fatalf("rootnode.New: %v", err)
	}
	return h
}

func (h *harness) cluster(ep uint16, id uint32) dm.Cluster {
	h.t.Helper()
	e := h.node.Endpoint(ep)
	if e == nil || e.Cluster(id) == nil {
		h.t.Fatalf("no cluster %#x on endpoint %d", id, ep)
	}
	return e.Cluster(id)
}

// readEverything reads every attribute of every cluster as req, the way a
// wildcard read does, and fails on any error: the AttributeList of each
// cluster must name only attributes it serves.
func (h *harness) readEverything(req *dm.Request) int {
	h.t.Helper()
	n := 0
	for _, ep := range h.node.EndpointIDs() {
		e := h.node.Endpoint(ep)
		for _, cid := range e.ClusterIDs() {
			c := e.Cluster(cid)
			for _, id := range c.Meta().AttributeIDs() {
				var w tlv.Writer
				var err error
				if dm.GlobalAttribute(id) != nil && c.Meta().Attribute(id) == nil {
					err = dm.ReadGlobalAttribute(c, id, &w, tlv.AnonymousTag())
				} else {
					r := *req
					r.Endpoint = ep
					err = c.ReadAttribute(&r, id, &w, tlv.AnonymousTag())
				}
				if err != nil {
					h.t.Errorf("endpoint %d cluster %s attribute %#x: %v", ep, c.Meta().Name, id, err)
					continue
				}
				b, err := w.Bytes()
				if err == nil {
					_, err = tlv.Decode(b)
				}
				if err != nil {
					h.t.Errorf("endpoint %d cluster %s attribute %#x: malformed value: %v", ep, c.Meta().Name, id, err)
				}
				n++
			}
		}
	}
	return n
}

// commissionUpToAddNOC runs matter.js's steps 1 to 6 over PASE and returns
// the fabric index AddNOC reported.
func (h *harness) commissionUpToAddNOC(pase *paseSession, ca *servetest.CA) uint8 {
	h.t.Helper()
	req := pase.request()
	return h.commissionOver(req, req.AttestationChallenge, ca)
}

// commissionOver runs steps 2 to 6 with the requests of one PASE session;
// ch is the attestation challenge as the commissioner knows it.
func (h *harness) commissionOver(req *dm.Request, ch [16]byte, ca *servetest.CA) uint8 {
	t := h.t
	t.Helper()

	// Step 2: the first reads.
	oc := h.cluster(0, operationalcredentials.ID)
	if got := servetest.ReadUint(t, oc, req, operationalcredentials.AttrSupportedFabrics); got < 5 {
		t.Errorf("SupportedFabrics = %d", got)
	}
	servetest.ReadUint(t, oc, req, operationalcredentials.AttrCommissionedFabrics)
	desc := h.cluster(0, descriptor.ID)
	if parts := servetest.UintList(t, desc, req, descriptor.AttrPartsList); !slices.Equal(parts, []uint64{1}) {
		t.Errorf("PartsList = %v, want [1]", parts)
	}
	servers := servetest.UintList(t, desc, req, descriptor.AttrServerList)
	for _, want := range []uint32{0x1D, 0x1F, 0x28, 0x2F, 0x30, 0x31, 0x33, 0x38, 0x3C, 0x3E, 0x3F} {
		if !slices.Contains(servers, uint64(want)) {
			t.Errorf("ServerList %v lacks %#x", servers, want)
		}
	}
	bi := h.cluster(0, basicinformation.ID)
	if got := servetest.ReadUint(t, bi, req, basicinformation.AttrVendorID); got != uint64(h.factory.VendorID) {
		t.Errorf("VendorID = %#x", got)
	}
	if got := servetest.ReadUint(t, bi, req, basicinformation.AttrProductID); got != uint64(h.factory.ProductID) {
		t.Errorf("ProductID = %#x", got)
	}
	if got := servetest.ReadElement(t, bi, req, basicinformation.AttrProductName); string(got.Bytes) != h.factory.ProductName {
		t.Errorf("ProductName = %q", got.Bytes)
	}
	gc := h.cluster(0, generalcommissioning.ID)
	if !servetest.ReadElement(t, gc, req, generalcommissioning.AttrSupportsConcurrentConnection).Bool {
		t.Error("SupportsConcurrentConnection false: matter.js would drop PASE before CASE")
	}
	// The wildcard read of networkCommissioning: Ethernet only, so no
	// SetRegulatoryConfig (step 4).
	nc := h.cluster(0, networkcommissioning.ID)
	if fm := nc.FeatureMap(); fm != networkcommissioning.FeatureEthernetNetworkInterface {
		t.Errorf("NetworkCommissioning FeatureMap = %#x", fm)
	}
	if nets := servetest.ReadElement(t, nc, req, networkcommissioning.AttrNetworks); len(nets.Members) != 1 {
		t.Errorf("Networks has %d entries", len(nets.Members))
	}

	// Step 3.
	var info generalcommissioning.BasicCommissioningInfo
	servetest.ReadInto(t, gc, req, generalcommissioning.AttrBasicCommissioningInfo, &info)
	var arm generalcommissioning.ArmFailSafeResponse
	servetest.Call(t, gc, req, generalcommissioning.CmdArmFailSafe,
		&generalcommissioning.ArmFailSafeRequest{ExpiryLengthSeconds: info.FailSafeExpiryLengthSeconds, Breadcrumb: 1},
		generalcommissioning.CmdArmFailSafeResponse, &arm)
	if arm.ErrorCode != generalcommissioning.CommissioningErrorOK {
		t.Fatalf("ArmFailSafe: %v", arm.ErrorCode)
	}

	// Step 5: device attestation, checked as matter.js does (§6.5).
	var dacResp, paiResp operationalcredentials.CertificateChainResponse
	servetest.Call(t, oc, req, operationalcredentials.CmdCertificateChainRequest,
		&operationalcredentials.CertificateChainRequest{CertificateType: operationalcredentials.CertificateChainTypeDacCertificate},
		operationalcredentials.CmdCertificateChainResponse, &dacResp)
	servetest.Call(t, oc, req, operationalcredentials.CmdCertificateChainRequest,
		&operationalcredentials.CertificateChainRequest{CertificateType: operationalcredentials.CertificateChainTypePaiCertificate},
		operationalcredentials.CmdCertificateChainResponse, &paiResp)
	if len(dacResp.Certificate) > 600 || len(paiResp.Certificate) > 600 {
		t.Errorf("DAC %d, PAI %d octets: over 600", len(dacResp.Certificate), len(paiResp.Certificate))
	}
	dac, err := x509.ParseCertificate(dacResp.Certificate)
	if err != nil {
		t.Fatalf("DAC: %v", err)
	}
	pai, err := x509.ParseCertificate(paiResp.Certificate)
	if err != nil {
		t.Fatalf("PAI: %v", err)
	}
	if err := dac.CheckSignatureFrom(pai); err != nil {
		t.Errorf("DAC not issued by PAI: %v", err)
	}
	nonce := bytes.Repeat([]byte{0x11}, 32)
	var att operationalcredentials.AttestationResponse
	servetest.Call(t, oc, req, operationalcredentials.CmdAttestationRequest,
		&operationalcredentials.AttestationRequest{AttestationNonce: nonce}, operationalcredentials.CmdAttestationResponse, &att)
	if err := attestation.VerifySignature(dacResp.Certificate, att.AttestationElements, ch[:], att.AttestationSignature); err != nil {
		t.Errorf("attestation signature: %v", err)
	}
	ai, err := attestation.ParseAttestationElements(att.AttestationElements)
	if err != nil || !bytes.Equal(ai.Nonce, nonce) {
		t.Fatalf("attestation elements: %v", err)
	}
	signed, err := attestation.ParseCertificationDeclaration(ai.CertificationDeclaration)
	if err != nil {
		t.Fatalf("CD: %v", err)
	}
	cd := signed.Content
	if cd.VendorID != h.factory.VendorID || !slices.Contains(cd.ProductIDs, h.factory.ProductID) {
		t.Errorf("CD vendor %#x products %v do not match BasicInformation", cd.VendorID, cd.ProductIDs)
	}

	// Step 6: CSR, root, NOC with an empty ICAC.
	csrNonce := bytes.Repeat([]byte{0x22}, 32)
	var csrResp operationalcredentials.CSRResponse
	servetest.Call(t, oc, req, operationalcredentials.CmdCSRRequest,
		&operationalcredentials.CSRRequest{CSRNonce: csrNonce}, operationalcredentials.CmdCSRResponse, &csrResp)
	if err := attestation.VerifySignature(dacResp.Certificate, csrResp.NocsrElements, ch[:], csrResp.AttestationSignature); err != nil {
		t.Errorf("NOCSR signature: %v", err)
	}
	ni, err := attestation.ParseNOCSRElements(csrResp.NocsrElements)
	if err != nil || !bytes.Equal(ni.Nonce, csrNonce) {
		t.Fatalf("NOCSR elements: %v", err)
	}
	if _, err := servetest.Invoke(t, oc, req, operationalcredentials.CmdAddTrustedRootCertificate,
		&operationalcredentials.AddTrustedRootCertificateRequest{RootCaCertificate: ca.RCAC}); err != nil {
		t.Fatalf("AddTrustedRootCertificate: %v", err)
	}
	var noc operationalcredentials.NOCResponse
	servetest.Call(t, oc, req, operationalcredentials.CmdAddNOC, &operationalcredentials.AddNOCRequest{
		NOCValue: ca.NOC(t, ni.CSR, deviceNode), ICACValue: field.Some([]byte{}), IPKValue: servetest.IPK,
		CASEAdminSubject: controllerNode, AdminVendorID: controllerVendor,
	}, operationalcredentials.CmdNOCResponse, &noc)
	if noc.StatusCode != operationalcredentials.NodeOperationalCertStatusOK || !noc.FabricIndex.Present {
		t.Fatalf("AddNOC: %+v", noc)
	}
	return noc.FabricIndex.Value
}

// TestCommissioningSequence replays what matter.js 0.17.9 reads and invokes
// while commissioning (controller.md §1) against the root node, with a real
// fabric table, the development attestation data and certificates issued
// from the node's CSR, then checks the state it leaves.
func TestCommissioningSequence(t *testing.T) {
	h := newHarness(t, servetest.Store(t))
	if err := h.n.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	pase := &paseSession{}
	ca := servetest.NewCA(t, fabricID, false)
	idx := h.commissionUpToAddNOC(pase, ca)
	if idx != 1 || pase.fabric != idx {
		t.Fatalf("AddNOC: fabric %d, PASE session bound to %d", idx, pase.fabric)
	}

	// Step 7: re-arm before CASE, from the PASE session now on the fabric.
	gc := h.cluster(0, generalcommissioning.ID)
	var arm generalcommissioning.ArmFailSafeResponse
	servetest.Call(t, gc, pase.request(), generalcommissioning.CmdArmFailSafe,
		&generalcommissioning.ArmFailSafeRequest{ExpiryLengthSeconds: 310, Breadcrumb: 2}, generalcommissioning.CmdArmFailSafeResponse, &arm)
	if arm.ErrorCode != generalcommissioning.CommissioningErrorOK {
		t.Fatalf("re-arm: %v", arm.ErrorCode)
	}

	// CASE can reach the new fabric before CommissioningComplete.
	fabs := h.n.Fabrics().Fabrics()
	if len(fabs) != 1 || fabs[0].NodeID != deviceNode || fabs[0].FabricID != fabricID {
		t.Fatalf("CASE fabrics %+v", fabs)
	}
	cfid, _ := crypto.CompressedFabricID(ca.RootPub, fabricID)
	if ipk, _ := crypto.DeriveOperationalGroupKey(servetest.IPK, cfid); !bytes.Equal(fabs[0].IPK, ipk) {
		t.Error("operational IPK not derived from AddNOC's IPK")
	}
	// The administrator may act over CASE thanks to AddNOC's entry.
	admin := servetest.CASE(idx, controllerNode)
	if !h.n.Check(admin.Subject, 0, operationalcredentials.ID, dm.PrivilegeAdminister) ||
		!h.n.Check(admin.Subject, 1, 0x0553, dm.PrivilegeOperate) {
		t.Fatal("the CaseAdminSubject has no Administer over CASE")
	}
	if h.n.Check(servetest.CASE(idx, 0x99).Subject, 0, operationalcredentials.ID, dm.PrivilegeView) {
		t.Fatal("another node of the fabric has access")
	}

	// Step 8: CommissioningComplete over CASE, then the label.
	var done generalcommissioning.CommissioningCompleteResponse
	servetest.Call(t, gc, admin, generalcommissioning.CmdCommissioningComplete, nil, generalcommissioning.CmdCommissioningCompleteResponse, &done)
	if done.ErrorCode != generalcommissioning.CommissioningErrorOK {
		t.Fatalf("CommissioningComplete: %v", done.ErrorCode)
	}
	oc := h.cluster(0, operationalcredentials.ID)
	var label operationalcredentials.NOCResponse
	servetest.Call(t, oc, admin, operationalcredentials.CmdUpdateFabricLabel,
		&operationalcredentials.UpdateFabricLabelRequest{Label: "matter.js"}, operationalcredentials.CmdNOCResponse, &label)
	if label.StatusCode != operationalcredentials.NodeOperationalCertStatusOK {
		t.Fatalf("UpdateFabricLabel: %+v", label)
	}

	// The state commissioning leaves.
	if h.n.FailSafe().Armed() || h.win.IsOpen() || h.closedPASE != 1 {
		t.Errorf("after completion: armed %v, window open %v, PASE closed %d times", h.n.FailSafe().Armed(), h.win.IsOpen(), h.closedPASE)
	}
	if !h.n.Commissioned() {
		t.Error("Commissioned() is false")
	}
	d, ok := h.n.Fabrics().Get(idx)
	if !ok || d.Pending || d.Label != "matter.js" || d.VendorID != controllerVendor || d.NodeID != deviceNode || d.ICAC != nil {
		t.Errorf("fabric %+v", d)
	}
	entries := h.n.ACL().Entries(idx)
	want := acl.Entry{FabricIndex: idx, Privilege: dm.PrivilegeAdminister, AuthMode: dm.AuthCASE, Subjects: []uint64{controllerNode}}
	if len(entries) != 1 || !entries[0].Equal(want) {
		t.Errorf("ACL %+v, want %+v", entries, want)
	}
	var ids groupkeymanagement.KeySetReadAllIndicesResponse
	servetest.Call(t, h.cluster(0, groupkeymanagement.ID), admin, groupkeymanagement.CmdKeySetReadAllIndices, nil,
		groupkeymanagement.CmdKeySetReadAllIndicesResponse, &ids)
	if !slices.Equal(ids.GroupKeySetIDs, []uint16{0}) {
		t.Errorf("key sets %v, want the IPK's only", ids.GroupKeySetIDs)
	}
	if got := servetest.ReadUint(t, gc, admin, generalcommissioning.AttrBreadcrumb); got != 0 {
		t.Errorf("Breadcrumb = %d", got)
	}
	// The AccessControlEntryChanged event of AddNOC's entry, over PASE.
	var sawACL bool
	h.events.Read(0, h.events.Next(), func(ev *dm.Event) bool {
		if ev.Path.Cluster == accesscontrol.ID && ev.Path.ID == accesscontrol.EventAccessControlEntryChanged {
			var p accesscontrol.AccessControlEntryChangedEvent
			servetest.Decode(t, ev.Payload, &p)
			sawACL = p.ChangeType == accesscontrol.ChangeTypeAdded && p.AdminPasscodeID.Valid && !p.AdminNodeID.Valid &&
				ev.FabricIndex == idx
		}
		return true
	})
	if !sawACL {
		t.Error("no AccessControlEntryChanged event for AddNOC's entry")
	}

	// Step 9: the full wildcard read succeeds everywhere.
	if n := h.readEverything(admin); n < 100 {
		t.Errorf("wildcard read covered only %d attributes", n)
	}

	// Step 10: decommission.
	var rm operationalcredentials.NOCResponse
	servetest.Call(t, oc, admin, operationalcredentials.CmdRemoveFabric,
		&operationalcredentials.RemoveFabricRequest{FabricIndex: idx}, operationalcredentials.CmdNOCResponse, &rm)
	if rm.StatusCode != operationalcredentials.NodeOperationalCertStatusOK {
		t.Fatalf("RemoveFabric: %+v", rm)
	}
	if h.n.Fabrics().CommissionedFabrics() != 0 || len(h.n.ACL().Entries(idx)) != 0 || h.n.Commissioned() {
		t.Error("fabric data survived RemoveFabric")
	}
	if !slices.Equal(h.removed, []uint8{idx}) || h.commissionable != 1 {
		t.Errorf("callbacks: removed %v, commissionable %d", h.removed, h.commissionable)
	}
}

// TestCommissioningFailSafeExpiry stops after AddNOC, as a commissioner
// that vanished would: when the fail-safe expires the fabric, its root,
// its ACL entry and its sessions go, and the node can be commissioned
// again.
func TestCommissioningFailSafeExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, servetest.Store(t))
		pase := &paseSession{}
		idx := h.commissionUpToAddNOC(pase, servetest.NewCA(t, fabricID, false))
		if len(h.n.ACL().Entries(idx)) != 1 {
			t.Fatal("no admin entry after AddNOC")
		}

		time.Sleep(generalcommissioning.DefaultFailSafeExpiryLength + time.Second)
		synctest.Wait()

		if h.n.FailSafe().Armed() {
			t.Fatal("fail-safe still armed")
		}
		f := h.n.Fabrics()
		if f.CommissionedFabrics() != 0 || len(f.TrustedRootCertificates()) != 0 || f.Has(idx) {
			t.Errorf("fabric state survived: %d fabrics, %d roots", f.CommissionedFabrics(), len(f.TrustedRootCertificates()))
		}
		if len(h.n.ACL().Entries(idx)) != 0 {
			t.Error("the admin entry survived")
		}
		h.mu.Lock()
		closed, removed := h.closedPASE, slices.Clone(h.removed)
		h.mu.Unlock()
		if closed != 1 || !slices.Equal(removed, []uint8{idx}) {
			t.Errorf("PASE closed %d times, fabrics removed %v", closed, removed)
		}
		if h.commissionable != 0 {
			t.Error("Commissionable called: the window is still open")
		}
		if !h.win.IsOpen() {
			t.Error("fail-safe expiry closed the commissioning window")
		}

		// A commissioner can start over, and gets a new fabric index.
		again := h.commissionUpToAddNOC(&paseSession{}, servetest.NewCA(t, fabricID, false))
		if again == idx {
			t.Errorf("fabric index %d reused", again)
		}
		h.n.FailSafe().Expire()
	})
}

// TestRestartForgetsUncommittedFabric: a restart after AddNOC behaves as a
// fail-safe expiry (Core §11.10.7.2): the fabric was never stored, and its
// admin entry, which was, is dropped.
func TestRestartForgetsUncommittedFabric(t *testing.T) {
	dir := t.TempDir()
	store := servetest.OpenStore(t, dir)
	h := newHarness(t, store)
	idx := h.commissionUpToAddNOC(&paseSession{}, servetest.NewCA(t, fabricID, false))
	// The process stops here, before CommissioningComplete.
	store.Close()

	h2 := newHarness(t, servetest.OpenStore(t, dir))
	if h2.n.Fabrics().Has(idx) || len(h2.n.ACL().Entries(idx)) != 0 {
		t.Error("the uncommitted fabric or its ACL survived a restart")
	}
	if h2.n.Commissioned() {
		t.Error("Commissioned() after restart")
	}
}

func TestComposition(t *testing.T) {
	h := newHarness(t, servetest.Store(t))
	req := servetest.PASE(0)
	types := servetest.ReadList[descriptor.DeviceType](t, h.cluster(0, descriptor.ID), req, descriptor.AttrDeviceTypeList)
	if !slices.Equal(types, []descriptor.DeviceType{{DeviceType: 0x0016, Revision: 4}, {DeviceType: 0x0011, Revision: 1}}) {
		t.Errorf("EP0 device types %+v", types)
	}
	cam := h.cluster(1, descriptor.ID)
	types = servetest.ReadList[descriptor.DeviceType](t, cam, req, descriptor.AttrDeviceTypeList)
	if !slices.Equal(types, []descriptor.DeviceType{{DeviceType: 0x0142, Revision: 1}}) {
		t.Errorf("EP1 device types %+v", types)
	}
	if got := servetest.UintList(t, cam, req, descriptor.AttrClientList); !slices.Equal(got, []uint64{0x0554}) {
		t.Errorf("EP1 ClientList %v", got)
	}
	if got := servetest.UintList(t, cam, req, descriptor.AttrPartsList); len(got) != 0 {
		t.Errorf("EP1 PartsList %v", got)
	}
	if got := servetest.UintList(t, h.cluster(0, descriptor.ID), req, descriptor.AttrClientList); !slices.Equal(got, []uint64{0x0038}) {
		t.Errorf("EP0 ClientList %v", got)
	}
	// Time Synchronization with TZ, NTPC and TSC (matter-camera.md §1.2).
	if fm := h.cluster(0, 0x0038).FeatureMap(); fm != 0x0B {
		t.Errorf("TimeSynchronization FeatureMap %#x, want 0x0B", fm)
	}
	if fm := h.cluster(0, 0x002F).FeatureMap(); fm != 1 {
		t.Errorf("PowerSource FeatureMap %#x, want Wired", fm)
	}
	if got := servetest.UintList(t, h.cluster(0, 0x002F), req, 0x1F); !slices.Equal(got, []uint64{0, 1}) {
		t.Errorf("PowerSource EndpointList %v", got)
	}
	// A cluster added to the camera endpoint later is listed.
	ps, _ := h.n.Camera.Cluster(descriptor.ID).(*descriptor.Server)
	if ps == nil {
		t.Fatal("no camera descriptor")
	}
	h.n.Camera.Add(fakeCluster{id: 0x0553})
	if got := servetest.UintList(t, cam, req, descriptor.AttrServerList); !slices.Equal(got, []uint64{0x001D, 0x0553}) {
		t.Errorf("EP1 ServerList %v", got)
	}
	// The start-up events come first.
	if err := h.n.Start(); err != nil {
		t.Fatal(err)
	}
	var got []uint32
	h.events.Read(0, h.events.Next(), func(ev *dm.Event) bool { got = append(got, ev.Path.Cluster); return true })
	if !slices.Equal(got, []uint32{basicinformation.ID, 0x0033}) {
		t.Errorf("start-up events from clusters %#x", got)
	}
}

// fakeCluster stands in for a camera cluster.
type fakeCluster struct{ id uint32 }

func (f fakeCluster) Meta() *dm.ClusterMeta {
	return &dm.ClusterMeta{ID: f.id, Name: "fake", Revision: 1}
}
func (fakeCluster) FeatureMap() uint32  { return 0 }
func (fakeCluster) DataVersion() uint32 { return 0 }
func (fakeCluster) ReadAttribute(*dm.Request, uint32, *tlv.Writer, tlv.Tag) error {
	return &dm.StatusError{Status: dm.StatusUnsupportedAttribute}
}
func (fakeCluster) WriteAttribute(*dm.Request, uint32, *tlv.Reader, bool) error {
	return &dm.StatusError{Status: dm.StatusUnsupportedWrite}
}
func (fakeCluster) Invoke(*dm.Request, uint32, *tlv.Reader, *dm.CommandResponse) error {
	return &dm.StatusError{Status: dm.StatusUnsupportedCommand}
}
