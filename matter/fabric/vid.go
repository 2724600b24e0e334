package fabric

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/mattercam/mattercam/matter/crypto"
)

// Fabric Table Vendor ID Verification (Core 1.4.2+ §6.4.10) and the
// Operational Credentials commands that serve it, SetVIDVerificationStatement
// (§11.18.6.14) and SignVIDVerificationRequest (§11.18.6.15, answered by
// SignVIDVerificationResponse, §11.18.6.16).

// Sizes of the VID verification data, for version 1.0 of the Matter
// cryptographic primitives.
const (
	// VIDVerificationStatementSize is the length of a VID verification
	// statement (FabricDescriptorStruct field 6, constraint 85;
	// §11.18.6.14: "neither exactly 0 nor exactly 85" is CONSTRAINT_ERROR).
	VIDVerificationStatementSize = 85
	// MaxVVSCLen is the longest VVSC (NOCStruct field 3, constraint
	// max 400, the Matter certificate limit).
	MaxVVSCLen = 400
	// VIDClientChallengeSize is the length of the ClientChallenge of
	// SignVIDVerificationRequest (constraint 32).
	VIDClientChallengeSize = 32
	// AttestationChallengeSize is the length of a secure session's
	// attestation challenge (CRYPTO_SYMMETRIC_KEY_LENGTH_BYTES, §4.14.1.3,
	// §4.14.2.4).
	AttestationChallengeSize = crypto.SymmetricKeySize
	// FabricBindingVersion is the FabricBindingVersion of
	// SignVIDVerificationResponse: 0x01 for version 1.0 of the Matter
	// cryptographic primitives (§11.18.6.16), and the first octet of the
	// vendor_fabric_binding_message (§6.4.10.1).
	FabricBindingVersion = 0x01

	// rootPublicKeySize is CRYPTO_PUBLIC_KEY_SIZE_BYTES: an uncompressed
	// P-256 point.
	rootPublicKeySize = 65
	// vendorFabricBindingMessageSize is 1 + 65 + 8 + 2 (§6.4.10.1).
	vendorFabricBindingMessageSize = 1 + rootPublicKeySize + 8 + 2
	// maxVIDVerificationTBSSize bounds vendor_id_verification_tbs.
	maxVIDVerificationTBSSize = 1 + VIDClientChallengeSize + AttestationChallengeSize + 1 +
		vendorFabricBindingMessageSize + VIDVerificationStatementSize
)

// ErrVVSCWithICAC is INVALID_COMMAND: SetVIDVerificationStatement with a
// VVSC for a fabric whose NOC chain has an ICAC (§11.18.6.14).
var ErrVVSCWithICAC = errors.New("fabric: a VVSC for a fabric with an ICAC")

// VIDVerificationUpdate is what one SetVIDVerificationStatement changes
// (§11.18.6.14). Each field whose Set flag is false is left as it is.
type VIDVerificationUpdate struct {
	// VendorID replaces the fabric's vendor ID (the VendorID of its
	// Fabrics entry), which must be a valid AdminVendorID.
	VendorID    uint16
	SetVendorID bool
	// Statement replaces the fabric's VID verification statement:
	// VIDVerificationStatementSize octets, or empty to remove it.
	Statement    []byte
	SetStatement bool
	// VVSC replaces the fabric's VVSC: at most MaxVVSCLen octets, or empty
	// to remove it. Its contents are not validated: "Clients shall
	// validate the contents at time of use" (§11.18.6.14).
	VVSC    []byte
	SetVVSC bool
}

// SetVIDVerification applies a SetVIDVerificationStatement to fabric index,
// the accessing fabric (§11.18.6.14).
//
// The change applies to the fabric as currently visible: for a fabric that
// an AddNOC or UpdateNOC staged in the current fail-safe, to the staged
// state, which Commit stores and Revert discards with the rest ("field
// updates shall apply to the pending update state that will be reverted if
// fail-safe expires"); otherwise it is stored before SetVIDVerification
// returns and no later revert undoes it.
//
// Failures, checked before anything changes: ErrConstraint for a reserved
// vendor ID, a statement neither empty nor VIDVerificationStatementSize
// octets, or a VVSC longer than MaxVVSCLen; ErrInvalidFabricIndex for an
// unknown fabric; ErrVVSCWithICAC when a VVSC is given (even an empty one:
// the spec conditions on presence) for a fabric with an ICAC.
//
// It notifies ChangeVIDVerification with AttrFabrics when the vendor ID or
// statement changed and AttrNOCs when the VVSC changed; an update that
// changes nothing stores and notifies nothing.
func (t *Table) SetVIDVerification(index uint8, u VIDVerificationUpdate) error {
	switch {
	case u.SetVendorID && !validVendorID(u.VendorID):
		return constraintErr("reserved vendor ID %#04x", u.VendorID)
	case u.SetStatement && len(u.Statement) != 0 && len(u.Statement) != VIDVerificationStatementSize:
		return constraintErr("VID verification statement of %d octets", len(u.Statement))
	case u.SetVVSC && len(u.VVSC) > MaxVVSCLen:
		return constraintErr("VVSC of %d octets", len(u.VVSC))
	}
	t.mu.Lock()
	r := t.lookup(index)
	if r == nil {
		t.mu.Unlock()
		return statusErr(StatusInvalidFabricIndex, "no fabric %d", index)
	}
	if u.SetVVSC && len(r.icac) > 0 {
		t.mu.Unlock()
		return fmt.Errorf("%w: fabric %d", ErrVVSCWithICAC, index)
	}
	next := *r
	var attrs Attrs
	if u.SetVendorID && next.vendorID != u.VendorID {
		next.vendorID = u.VendorID
		attrs |= AttrFabrics
	}
	if u.SetStatement && !slices.Equal(next.vvs, u.Statement) {
		next.vvs = cloneOrNil(u.Statement)
		attrs |= AttrFabrics
	}
	if u.SetVVSC && !slices.Equal(next.vvsc, u.VVSC) {
		next.vvsc = cloneOrNil(u.VVSC)
		attrs |= AttrNOCs
	}
	if attrs == 0 {
		t.mu.Unlock()
		return nil
	}
	switch {
	case t.stage.added == r:
		t.stage.added = &next
	case t.stage.updated == r:
		t.stage.updated = &next
	default:
		if err := t.persist(&next); err != nil {
			t.mu.Unlock()
			return err
		}
		t.committed[index] = &next
	}
	t.publish()
	t.mu.Unlock()
	t.notify(Change{Kind: ChangeVIDVerification, Index: index, Attrs: attrs})
	return nil
}

// cloneOrNil copies b, with nil for empty so that "absent" has one form.
func cloneOrNil(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return slices.Clone(b)
}

// SignVIDVerification computes the Signature of the SignVIDVerificationResponse
// for fabric index (§11.18.6.16): Crypto_Sign(noc_private_key,
// vendor_id_verification_tbs), the fabric's operational key over the
// message vidVerificationTBS builds. attestationChallenge is that of the
// secure session the response goes out on. The fabric may be any fabric in
// force, not only the accessing one: the command is not fabric-scoped.
//
// ErrInvalidFabricIndex for an unknown fabric (the cluster answers
// CONSTRAINT_ERROR); ErrConstraint for a challenge of the wrong length.
func (t *Table) SignVIDVerification(index uint8, clientChallenge, attestationChallenge []byte) ([]byte, error) {
	if len(clientChallenge) != VIDClientChallengeSize {
		return nil, constraintErr("client challenge of %d octets", len(clientChallenge))
	}
	if len(attestationChallenge) != AttestationChallengeSize {
		return nil, constraintErr("attestation challenge of %d octets", len(attestationChallenge))
	}
	// The message and the key come from the same record, read under the
	// lock, so a concurrent UpdateNOC or SetVIDVerification cannot pair
	// one fabric state's key with another's message. Signing happens
	// outside the lock; records are never modified in place after they
	// are published, except a staged fabric's label, which is not signed.
	t.mu.Lock()
	r := t.lookup(index)
	if r == nil {
		t.mu.Unlock()
		return nil, statusErr(StatusInvalidFabricIndex, "no fabric %d", index)
	}
	key := r.key
	tbs := vidVerificationTBS(index, clientChallenge, attestationChallenge, r.rootPub, r.fabricID, r.vendorID, r.vvs)
	t.mu.Unlock()
	sig, err := crypto.Sign(key, tbs)
	if err != nil {
		return nil, fmt.Errorf("fabric: signing the VID verification of fabric %d: %w", index, err)
	}
	return sig, nil
}

// vidVerificationTBS returns vendor_id_verification_tbs (§11.18.6.16):
//
//	fabric_binding_version (1 octet, FabricBindingVersion)
//	|| client_challenge (32 octets)
//	|| attestation_challenge (16 octets, of the current secure session)
//	|| fabric_index (1 octet)
//	|| vendor_fabric_binding_message (76 octets, §6.4.10.1)
//	|| vid_verification_statement (85 octets, only if the fabric has one)
//
// where vendor_fabric_binding_message is
//
//	fabric_binding_version (1 octet) || root_public_key (65 octets,
//	uncompressed) || fabric_id (8 octets, big-endian) || vendor_id
//	(2 octets, big-endian)
//
// with the vendor ID the Fabrics attribute shows for the fabric (as
// SetVIDVerificationStatement may have changed it). The lengths are the
// caller's to check.
func vidVerificationTBS(fabricIndex uint8, clientChallenge, attestationChallenge, rootPub []byte, fabricID uint64, vendorID uint16, statement []byte) []byte {
	b := make([]byte, 0, maxVIDVerificationTBSSize)
	b = append(b, FabricBindingVersion)
	b = append(b, clientChallenge...)
	b = append(b, attestationChallenge...)
	b = append(b, fabricIndex)
	b = append(b, FabricBindingVersion)
	b = append(b, rootPub...)
	b = binary.BigEndian.AppendUint64(b, fabricID)
	b = binary.BigEndian.AppendUint16(b, vendorID)
	return append(b, statement...)
}
