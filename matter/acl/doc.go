// Package acl is the node's Access Control List (Matter Core §6.6, "Access
// Control", and §9.10, the Access Control cluster): the entries each fabric's
// administrators write, their validation, their persistence, and the access
// decision the Interaction Model takes before any cluster handler runs.
//
// Section numbers are those of Matter 1.4/1.5 (the revisions matter.js 0.17.9
// models); older revisions number the Access Control cluster's data types
// §9.10.4 instead of §9.10.5, and the bootstrapping section §6.6.2.8 instead
// of §6.6.2.9.
//
// # The decision
//
// Check implements the Access Control Privilege Granting algorithm (§6.6.6):
// the privileges an entry grants are those of its own privilege and every
// privilege it implies (Administer ⊃ Manage ⊃ Operate ⊃ View, and
// Administer ⊃ ProxyView ⊃ View, §9.10.5.2); an entry applies to a request
// when its fabric index is the accessing fabric's, its auth mode is the
// session's, one of its subjects matches (or it has none), and one of its
// targets matches (or it has none). Access is granted when some applicable
// entry grants the privilege the operation needs.
//
// A CASE subject matches an entry subject that is its node ID, or that is a
// CASE Authenticated Tag (§6.6.2.1.2) with the same identifier as one of the
// session's CATs and a version no greater than that CAT's: an entry names the
// lowest version it accepts, so that re-issuing NOCs with a higher version
// revokes the older ones. A group subject matches an entry subject equal to
// its group ID.
//
// # PASE
//
// A PASE session is implicitly granted Administer on the whole node
// ("PASE commissioning channel implicitly grants administer privilege to
// commissioner", §6.6.6; §6.6.2.9 "Bootstrapping of the Access Control
// Cluster"). That is how a commissioner reads the node, arms the fail-safe
// and invokes AddNOC before any entry exists. Entries cannot express the
// grant: an entry with the PASE auth mode is a CONSTRAINT_ERROR (§9.10.5.7.3).
// A commissionee accepts PASE only while a commissioning window is open, and
// the grant is revoked where the PASE sessions are cleared: on
// CommissioningComplete (§11.10.7.6, steps 3 and 4) and on fail-safe expiry
// (§11.10.7.2.2, steps 1 and 2). Check therefore treats every PASE subject as
// commissioning; the session layer removing those sessions is what revokes it.
//
// # Limits and validation
//
// Limits holds the sizes the cluster publishes as SubjectsPerAccessControlEntry,
// TargetsPerAccessControlEntry and AccessControlEntriesPerFabric (§9.10.6.5 to
// §9.10.6.7); the defaults are the specification minimums (4, 3, 4), which
// §9.10.6.5 recommends reporting. Validate applies the rules of §9.10.5.7:
// too many subjects, targets or entries is RESOURCE_EXHAUSTED; a PASE or
// unknown auth mode, an unknown privilege, Administer with the Group auth
// mode, a subject outside the range its auth mode allows, an empty target or
// one with both an endpoint and a device type, or an identifier outside its
// valid range, is CONSTRAINT_ERROR.
//
// # Storage
//
// A Table keeps each fabric's list as one record ("acl.<fabric index>") in a
// storage.Store, so a list is always stored whole. ACL entries are
// fabric-scoped data: removing a fabric removes its list (RemoveFabric), and at
// start-up RetainFabrics drops the lists of fabrics the fabric table no longer
// has, for instance one whose AddNOC was interrupted by a restart.
package acl
