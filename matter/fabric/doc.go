// Package fabric is the node's fabric table (Matter Core §11.18, Node
// Operational Credentials cluster, "the fabric table"): the operational
// identities the node holds, one per fabric, what the Operational Credentials
// cluster shows of them, what CASE needs from them, and the fail-safe staging
// through which commissioning adds or replaces them.
//
// Section numbers are those of Matter 1.4/1.5 (the revisions matter.js 0.17.9
// models): §11.10 General Commissioning, §11.18 Operational Credentials.
// Matter 1.0 to 1.2 number the latter §11.17.
//
// # A fabric
//
// A fabric is identified on the node by its fabric index (1 to 254) and
// globally by its root public key and fabric ID. For each one the table keeps
// the root certificate (RCAC), the optional intermediate (ICAC), the node's
// operational certificate (NOC) and its operational private key, the
// administrator's vendor ID, the label, and the IPK epoch key that AddNOC
// delivered, with the values derived from them: fabric and node ID, compressed
// fabric ID (§4.3.2.2) and the operational IPK
// (crypto.DeriveOperationalGroupKey, §4.15).
//
// # Staging during the fail-safe
//
// Commissioning and credential rotation happen inside a fail-safe context
// (§11.10.7.2), which the General Commissioning cluster arms and the
// Operational Credentials cluster fills:
//
//	ArmFailSafe → CSRRequest → AddTrustedRootCertificate → AddNOC → … → CommissioningComplete
//	ArmFailSafe → CSRRequest(IsForUpdateNOC) → UpdateNOC → … → CommissioningComplete
//
// Table.CSR generates the pending operational key (a second CSRRequest
// replaces it), Table.AddTrustedRoot stages the root, Table.AddNOC validates
// the chain and adds the new fabric, Table.UpdateNOC replaces a fabric's NOC
// and key. A fabric added or updated this way is in force at once, as
// §11.18.6.8 and §11.18.6.9 require: the attributes show it and CASE uses it
// (the administrator opens CASE to the new identity before it sends
// CommissioningComplete). Nothing staged is written to storage, except the
// fabric index counter.
//
// Table.Commit (CommissioningComplete) stores what is staged. Table.Revert
// (fail-safe expiry) undoes it, which is the fabric table's share of the
// clean-up of §11.10.7.2.2: step 5, restore the NOC, ICAC and key an UpdateNOC
// replaced; step 6, remove the fabric an AddNOC added; step 7, drop an unused
// pending key; step 8, drop a root certificate no fabric uses. The other steps
// (closing PASE and the fabric's CASE sessions, removing the fabric's other
// fabric-scoped data such as its ACL entries, the breadcrumb) belong to the
// callers, which learn what to clean up from Revert's result and from the
// ChangeRemoved notification. A restart must behave as a fail-safe expiry
// (§11.10.7.2); since staged state is never stored, a restart forgets it.
//
// # VID verification
//
// Since Core 1.4.2 an administrator may replace its fabric's vendor ID and
// attach a VID verification statement and a VVSC
// (SetVIDVerificationStatement, §11.18.6.14; Table.SetVIDVerification), and
// any administrator may ask the node to prove it holds a fabric by signing a
// challenge with that fabric's operational key (SignVIDVerificationRequest,
// §11.18.6.15 and §6.4.10; Table.SignVIDVerification). The statement and
// VVSC are part of the fabric's record: stored at once for a committed
// fabric, staged with a fabric AddNOC or UpdateNOC staged.
//
// # Errors
//
// Failures that the NOCResponse command reports carry a Status, the
// NodeOperationalCertStatusEnum (§11.18.4.3), in an *Error; use StatusOf or
// errors.Is with the Err* values. Failures the cluster answers with an
// Interaction Model status wrap ErrConstraint (CONSTRAINT_ERROR: a command out
// of sequence within the fail-safe, or a field outside its constraints) or
// ErrInvalidRoot (INVALID_COMMAND: AddTrustedRootCertificate with a bad
// certificate). Checking that a fail-safe is armed (FAILSAFE_REQUIRED), and
// which session may call what, is the cluster's job.
//
// # Storage and crash safety
//
// Each committed fabric is one storage record, "fabric.<index>", holding
// everything above including the operational private key: this record is
// the device's operational key file, readable only by the firmware's user
// (matter/storage creates files with mode 0600). A commit, an UpdateNOC
// commit, a label change and a removal each rewrite or delete that one record
// atomically, so a crash leaves each fabric entirely as it was or entirely
// as it became. The only other record, "fabric.meta", holds the last
// allocated fabric index, and is written before any fabric record that uses
// an index it allocated. A crash between the two writes therefore wastes an
// index at most; it never lets two fabrics, or a fabric and stale
// fabric-scoped data of an uncommitted one, share an index. (The ACL table
// also drops lists of unknown fabrics at start-up: acl.Table.RetainFabrics.)
// Records that fail to load are skipped and logged.
package fabric
