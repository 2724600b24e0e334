package fabric

import (
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/mattercam/mattercam/matter/acl"
	"github.com/mattercam/mattercam/matter/cert"
	"github.com/mattercam/mattercam/matter/crypto"
)

func (t *Table) verifyOptions(fabricID uint64) cert.VerifyOptions {
	opts := cert.VerifyOptions{FabricID: fabricID}
	if t.cfg.Now != nil {
		opts.Now = t.cfg.Now()
	}
	return opts
}

// CSR generates the pending operational key pair of the Node Operational
// CSR Procedure (CSRRequest, §11.18.6.5) and returns a PKCS #10 request for
// it (cert.CreateCSR), which the cluster wraps in the NOCSR elements it signs
// with the attestation key. forUpdate is the IsForUpdateNOC field. A second
// CSR in the same fail-safe replaces the key of the first.
//
// After AddNOC or UpdateNOC in the same fail-safe it fails with
// ErrConstraint.
func (t *Table) CSR(forUpdate bool) ([]byte, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stage.nocDone {
		return nil, constraintErr("CSRRequest after AddNOC or UpdateNOC in the same fail-safe")
	}
	key, err := crypto.GenerateKey()
	if err != nil {
		return nil, fmt.Errorf("fabric: operational key: %w", err)
	}
	csr, err := cert.CreateCSR(key)
	if err != nil {
		return nil, fmt.Errorf("fabric: CSR: %w", err)
	}
	t.stage.key, t.stage.forUpdate = key, forUpdate
	return csr, nil
}

// AddTrustedRoot stages a root CA certificate (AddTrustedRootCertificate,
// §11.18.6.13) for the AddNOC that follows. A second root in the same
// fail-safe, or a root after AddNOC or UpdateNOC, is ErrConstraint; a value
// that is not a valid RCAC (malformed, truncated, oversized, wrong role, bad
// self-signature, outside its validity period when Config.Now is set) is
// ErrInvalidRoot. A certificate identical to one already installed is
// accepted and leaves the TrustedRootCertificates list unchanged.
func (t *Table) AddTrustedRoot(rcac []byte) error {
	t.mu.Lock()
	if t.stage.rootSeen {
		t.mu.Unlock()
		return constraintErr("second AddTrustedRootCertificate in the same fail-safe")
	}
	if t.stage.nocDone {
		t.mu.Unlock()
		return constraintErr("AddTrustedRootCertificate after AddNOC or UpdateNOC")
	}
	c, err := cert.DecodeTLV(rcac)
	if err == nil && c.Kind() != cert.KindRCAC {
		err = fmt.Errorf("a %v, not an RCAC", c.Kind())
	}
	if err == nil {
		err = cert.VerifyRCAC(c, t.verifyOptions(0))
	}
	if err != nil {
		t.mu.Unlock()
		return fmt.Errorf("%w: %w", ErrInvalidRoot, err)
	}
	listed := t.rootListed(rcac)
	t.stage.root, t.stage.rootCert, t.stage.rootSeen = slices.Clone(rcac), c, true
	t.mu.Unlock()
	if !listed {
		t.notify(Change{Kind: ChangeRoots, Attrs: AttrTrustedRootCertificates})
	}
	return nil
}

// validVendorID reports whether v may be an AdminVendorID: not one of the
// reserved values of the Vendor ID allocations (Core Table 1), that is
// 0x0001 to 0xFFF4 (0xFFF1 to 0xFFF4 are the test vendors).
func validVendorID(v uint16) bool { return v >= 0x0001 && v <= 0xFFF4 }

// AddNOC adds a fabric (AddNOC, §11.18.6.8) from the NOC and optional ICAC
// (empty means none, as matter.js sends it), the IPK epoch key, the case
// admin subject and the administrator's vendor ID, under the root staged by
// AddTrustedRoot and with the key staged by CSR. It returns the new fabric
// index. The fabric is in force at once (attributes, CASE) and stored by
// Commit. The caller then installs the administrator's ACL entry
// (acl.Table.GrantAdmin) and, if that fails, calls Remove.
//
// Failures, in the order they are checked:
//
//   - ErrConstraint: IPK epoch key not 16 octets, reserved vendor ID, AddNOC
//     or UpdateNOC already done in this fail-safe, or the pending key was
//     requested for UpdateNOC;
//   - ErrInvalidNOC: no root staged in this fail-safe;
//   - ErrMissingCSR: no pending key;
//   - ErrTableFull: SupportedFabrics fabrics already;
//   - ErrInvalidNOC: a NOC or ICAC that does not decode, or a NOC that is not
//     a NOC;
//   - ErrInvalidNodeOpID: the NOC's node ID is not an operational node ID;
//   - ErrInvalidPublicKey: the NOC's key is not the pending key;
//   - ErrInvalidNOC: the chain does not validate under the staged root
//     (cert.Verify);
//   - ErrFabricConflict: a fabric with the same root public key and fabric ID
//     exists;
//   - ErrInvalidAdminSubject: caseAdminSubject is neither an operational node
//     ID nor a CAT subject (acl.ValidCASESubject).
func (t *Table) AddNOC(noc, icac, ipkEpochKey []byte, caseAdminSubject uint64, adminVendorID uint16) (uint8, error) {
	if len(ipkEpochKey) != crypto.SymmetricKeySize {
		return 0, constraintErr("IPK epoch key of %d octets", len(ipkEpochKey))
	}
	if !validVendorID(adminVendorID) {
		return 0, constraintErr("reserved admin vendor ID %#04x", adminVendorID)
	}
	t.mu.Lock()
	rec, err := t.addNOC(noc, icac, ipkEpochKey, caseAdminSubject, adminVendorID)
	t.mu.Unlock()
	if err != nil {
		return 0, err
	}
	t.notify(Change{Kind: ChangeAdded, Index: rec.index, Attrs: allAttrs})
	return rec.index, nil
}

func (t *Table) addNOC(noc, icac, ipkEpochKey []byte, caseAdminSubject uint64, vendorID uint16) (*record, error) {
	st := &t.stage
	switch {
	case st.nocDone:
		return nil, constraintErr("AddNOC after AddNOC or UpdateNOC in the same fail-safe")
	case st.key != nil && st.forUpdate:
		return nil, constraintErr("AddNOC after a CSRRequest for UpdateNOC")
	case st.root == nil:
		return nil, statusErr(StatusInvalidNOC, "no root certificate added in this fail-safe")
	case st.key == nil:
		return nil, statusErr(StatusMissingCSR, "no CSRRequest in this fail-safe")
	case len(t.committed) >= t.cfg.SupportedFabrics:
		return nil, statusErr(StatusTableFull, "%d fabrics", len(t.committed))
	}
	id, err := t.checkNOC(st.rootCert, noc, icac, 0)
	if err != nil {
		return nil, err
	}
	for _, r := range t.committed {
		if r.fabricID == id.FabricID && slices.Equal(r.rootPub, rootKeyOf(id)) {
			return nil, statusErr(StatusFabricConflict, "fabric %#016x of this root is fabric %d", id.FabricID, r.index)
		}
	}
	if !acl.ValidCASESubject(caseAdminSubject) {
		return nil, statusErr(StatusInvalidAdminSubject, "subject %#016x", caseAdminSubject)
	}

	index, err := t.allocateIndex()
	if err != nil {
		return nil, err
	}
	rec, err := newRecord(index, st.root, icac, noc, id, st.key, vendorID, "", ipkEpochKey)
	if err != nil {
		return nil, fmt.Errorf("fabric: %w", err)
	}
	// The staged root and key now belong to the fabric.
	st.added, st.nocDone = rec, true
	st.key, st.root, st.rootCert = nil, nil, nil
	t.publish()
	return rec, nil
}

// rootKeyOf returns the 65-octet root public key of a verified identity; the
// chain has been verified, so the key is valid.
func rootKeyOf(id *cert.Identity) []byte {
	b, _ := crypto.MarshalPublicKey(id.RootPublicKey)
	return b
}

// checkNOC validates a NOC and optional ICAC under root with the pending key,
// for AddNOC (fabricID 0) or UpdateNOC (the fabric's ID). The caller holds
// mu.
func (t *Table) checkNOC(root *cert.Certificate, noc, icac []byte, fabricID uint64) (*cert.Identity, error) {
	if len(icac) == 0 {
		icac = nil
	}
	nocCert, err := cert.DecodeTLV(noc)
	if err != nil {
		return nil, statusErr(StatusInvalidNOC, "NOC: %w", err)
	}
	if nocCert.Kind() != cert.KindNOC {
		return nil, statusErr(StatusInvalidNOC, "NOC value is a %v", nocCert.Kind())
	}
	var icacCert *cert.Certificate
	if icac != nil {
		if icacCert, err = cert.DecodeTLV(icac); err != nil {
			return nil, statusErr(StatusInvalidNOC, "ICAC: %w", err)
		}
	}
	if node, ok := nocCert.Subject.NodeID(); !ok || !cert.IsOperationalNodeID(node) {
		return nil, statusErr(StatusInvalidNodeOpID, "NOC subject %v", nocCert.Subject)
	}
	if !sameKey(nocCert, t.stage.key) {
		return nil, statusErr(StatusInvalidPublicKey, "NOC key is not the key of the CSR")
	}
	id, err := cert.Verify(root, icacCert, nocCert, t.verifyOptions(fabricID))
	if err != nil {
		return nil, statusErr(StatusInvalidNOC, "%w", err)
	}
	return id, nil
}

// allocateIndex takes the next fabric index in monotonically increasing
// order, wrapping from 254 to 1 and skipping indices in use (§11.18.6.8
// step 1), and stores the counter before the index is used. The caller
// holds mu.
func (t *Table) allocateIndex() (uint8, error) {
	idx := t.lastIndex
	for range MaxFabricIndex {
		idx++
		if idx > MaxFabricIndex {
			idx = 1
		}
		if t.lookup(idx) != nil {
			continue
		}
		b, err := encodeMeta(idx)
		if err == nil {
			err = t.store.Put(metaKey, b)
		}
		if err != nil {
			return 0, fmt.Errorf("fabric: storing the index counter: %w", err)
		}
		t.lastIndex = idx
		return idx, nil
	}
	return 0, statusErr(StatusTableFull, "no free fabric index")
}

// UpdateNOC replaces the NOC and ICAC (empty means none) of fabric index, the
// accessing fabric, with a chain for the pending key (UpdateNOC, §11.18.6.9).
// The new identity is in force at once; Commit stores it and Revert restores
// the old one.
//
// Failures: ErrConstraint if AddNOC or UpdateNOC was already done, a root was
// added in this fail-safe, or the pending key was requested for AddNOC;
// ErrMissingCSR without a pending key; ErrInvalidFabricIndex if the fabric
// does not exist or is the one being added; then as AddNOC for the
// certificates, with a NOC or ICAC of another fabric ID being ErrInvalidNOC.
func (t *Table) UpdateNOC(index uint8, noc, icac []byte) error {
	t.mu.Lock()
	st := &t.stage
	var err error
	switch {
	case st.nocDone:
		err = constraintErr("UpdateNOC after AddNOC or UpdateNOC in the same fail-safe")
	case st.rootSeen:
		err = constraintErr("UpdateNOC after AddTrustedRootCertificate")
	case st.key == nil:
		err = statusErr(StatusMissingCSR, "no CSRRequest in this fail-safe")
	case !st.forUpdate:
		err = constraintErr("UpdateNOC after a CSRRequest for AddNOC")
	case t.committed[index] == nil:
		err = statusErr(StatusInvalidFabricIndex, "no fabric %d", index)
	}
	if err != nil {
		t.mu.Unlock()
		return err
	}
	old := t.committed[index]
	root, _ := cert.DecodeTLV(old.rcac) // decoded when the fabric was loaded or added
	if root == nil {
		t.mu.Unlock()
		return fmt.Errorf("fabric: fabric %d: root does not decode", index)
	}
	id, err := t.checkNOC(root, noc, icac, old.fabricID)
	if err != nil {
		t.mu.Unlock()
		return err
	}
	rec, err := newRecord(index, old.rcac, icac, noc, id, st.key, old.vendorID, old.label, old.ipkEpoch)
	if err != nil {
		t.mu.Unlock()
		return fmt.Errorf("fabric: %w", err)
	}
	// The VID verification statement binds the root, fabric ID and vendor
	// ID, which UpdateNOC keeps, so it stays. A VVSC exists only for a
	// chain without an ICAC (§11.18.4.4): a new chain with one drops it.
	rec.vvs = old.vvs
	if rec.icac == nil {
		rec.vvsc = old.vvsc
	}
	st.updated, st.nocDone, st.key = rec, true, nil
	t.publish()
	t.mu.Unlock()
	t.notify(Change{Kind: ChangeUpdated, Index: index, Attrs: AttrNOCs | AttrFabrics})
	return nil
}

// UpdateLabel sets the label of fabric index (UpdateFabricLabel,
// §11.18.6.11). A label longer than MaxLabelLen octets or not UTF-8 is
// ErrConstraint; one another fabric already has is ErrLabelConflict (the
// empty label, every fabric's initial one, conflicts with nothing); an
// unknown fabric is ErrInvalidFabricIndex. The label of a committed fabric
// is stored before UpdateLabel returns; that of a fabric AddNOC added in
// the current fail-safe is stored by Commit.
func (t *Table) UpdateLabel(index uint8, label string) error {
	if len(label) > MaxLabelLen || !utf8.ValidString(label) {
		return constraintErr("label of %d octets", len(label))
	}
	t.mu.Lock()
	r := t.lookup(index)
	if r == nil {
		t.mu.Unlock()
		return statusErr(StatusInvalidFabricIndex, "no fabric %d", index)
	}
	if label != "" {
		for _, o := range t.visible() {
			if o.index != index && o.label == label {
				t.mu.Unlock()
				return statusErr(StatusLabelConflict, "fabric %d has label %q", o.index, label)
			}
		}
	}
	if r.label == label {
		t.mu.Unlock()
		return nil
	}
	if c := t.committed[index]; c != nil {
		next := *c
		next.label = label
		if err := t.persist(&next); err != nil {
			t.mu.Unlock()
			return err
		}
		t.committed[index] = &next
	}
	if a := t.stage.added; a != nil && a.index == index {
		a.label = label
	}
	if u := t.stage.updated; u != nil && u.index == index {
		u.label = label
	}
	t.mu.Unlock()
	t.notify(Change{Kind: ChangeLabel, Index: index, Attrs: AttrFabrics})
	return nil
}

// persist stores a committed fabric. The caller holds mu.
func (t *Table) persist(r *record) error {
	b, err := r.encode()
	if err == nil {
		err = t.store.Put(recordKey(r.index), b)
	}
	if err != nil {
		return fmt.Errorf("fabric: storing fabric %d: %w", r.index, err)
	}
	return nil
}

// Remove removes fabric index (RemoveFabric, §11.18.6.12), committed or
// staged by AddNOC, and with it its root certificate. ErrInvalidFabricIndex
// if there is no such fabric. The caller removes the fabric's other
// fabric-scoped data (ACL entries, sessions, resumption records), which the
// ChangeRemoved notification also announces.
func (t *Table) Remove(index uint8) error {
	t.mu.Lock()
	switch {
	case t.stage.added != nil && t.stage.added.index == index:
		t.stage.added = nil
	case t.committed[index] != nil:
		if err := t.store.Delete(recordKey(index)); err != nil {
			t.mu.Unlock()
			return fmt.Errorf("fabric: removing fabric %d: %w", index, err)
		}
		delete(t.committed, index)
		if u := t.stage.updated; u != nil && u.index == index {
			t.stage.updated = nil
		}
	default:
		t.mu.Unlock()
		return statusErr(StatusInvalidFabricIndex, "no fabric %d", index)
	}
	t.publish()
	t.mu.Unlock()
	t.notify(Change{Kind: ChangeRemoved, Index: index, Attrs: allAttrs})
	return nil
}

// Commit stores what the fail-safe staged (CommissioningComplete,
// §11.10.7.6) and ends the staging: a fabric AddNOC added, or the new NOC,
// ICAC and key of an UpdateNOC. A pending key or root that no AddNOC used is
// dropped. If storing fails nothing changes, and the fail-safe's expiry will
// Revert.
func (t *Table) Commit() error {
	t.mu.Lock()
	st := t.stage
	var changes []Change
	for _, r := range []*record{st.added, st.updated} {
		if r == nil {
			continue
		}
		if err := t.persist(r); err != nil {
			t.mu.Unlock()
			return err
		}
		changes = append(changes, Change{Kind: ChangeCommitted, Index: r.index})
	}
	if st.added != nil {
		t.committed[st.added.index] = st.added
	}
	if st.updated != nil {
		t.committed[st.updated.index] = st.updated
	}
	rootDropped := st.root != nil && !t.rootListed(st.root)
	t.stage = staging{}
	t.publish()
	t.mu.Unlock()
	if rootDropped {
		changes = append(changes, Change{Kind: ChangeRoots, Attrs: AttrTrustedRootCertificates})
	}
	t.notify(changes...)
	return nil
}

// Revert undoes everything the fail-safe staged (fail-safe expiry,
// §11.10.7.2.2 steps 5 to 8): a fabric AddNOC added is removed, the NOC,
// ICAC and key an UpdateNOC replaced are restored, the pending key and a
// root no fabric uses are dropped. It reports what it undid, so that the
// caller can do the rest of the clean-up; ChangeRemoved and ChangeUpdated
// notifications announce the same.
func (t *Table) Revert() Reverted {
	t.mu.Lock()
	st := t.stage
	var res Reverted
	var changes []Change
	if st.added != nil {
		res.Added = st.added.index
		changes = append(changes, Change{Kind: ChangeRemoved, Index: res.Added, Attrs: allAttrs})
	}
	if st.updated != nil {
		res.Updated = st.updated.index
		changes = append(changes, Change{Kind: ChangeUpdated, Index: res.Updated, Attrs: AttrNOCs | AttrFabrics})
	}
	rootDropped := st.root != nil && !t.rootListed(st.root)
	t.stage = staging{}
	t.publish()
	t.mu.Unlock()
	if rootDropped {
		changes = append(changes, Change{Kind: ChangeRoots, Attrs: AttrTrustedRootCertificates})
	}
	t.notify(changes...)
	return res
}
