package acl

import "github.com/mattercam/mattercam/matter/dm"

// DeviceTypes reports whether endpoint has deviceType in its Descriptor
// DeviceTypeList, for targets that name a device type. A nil DeviceTypes
// makes such targets match nothing.
type DeviceTypes func(endpoint uint16, deviceType uint32) bool

// Grants reports whether holding privilege have grants need (§9.10.5.2):
// Administer grants everything, Manage grants Operate and View, Operate
// grants View, ProxyView grants View; ProxyView itself is granted only by
// ProxyView and Administer. PrivilegeNone grants nothing and is granted by
// nothing.
func Grants(have, need dm.Privilege) bool {
	switch need {
	case dm.PrivilegeView:
		return have >= dm.PrivilegeView && have <= dm.PrivilegeAdminister
	case dm.PrivilegeProxyView:
		return have == dm.PrivilegeProxyView || have == dm.PrivilegeAdminister
	case dm.PrivilegeOperate, dm.PrivilegeManage, dm.PrivilegeAdminister:
		return have >= need && have <= dm.PrivilegeAdminister
	}
	return false
}

// Check reports whether subject may perform an operation needing privilege
// need on a cluster of an endpoint, under the access control entries given
// (§6.6.6). Entries of other fabrics are
// ignored, so entries may hold the whole node's list. dt resolves device
// type targets.
//
// A PASE subject is granted Administer on everything (see the package
// documentation). A CASE or group subject needs an entry that applies and
// grants need. Any other subject, and a CASE or group subject without a
// fabric, is denied.
func Check(subject dm.Subject, endpoint uint16, cluster uint32, need dm.Privilege, entries []Entry, dt DeviceTypes) bool {
	if need < dm.PrivilegeView || need > dm.PrivilegeAdminister {
		return false
	}
	switch subject.AuthMode {
	case dm.AuthPASE:
		return true
	case dm.AuthCASE, dm.AuthGroup:
	default:
		return false
	}
	if subject.FabricIndex == 0 {
		return false
	}
	for i := range entries {
		e := &entries[i]
		if e.FabricIndex != subject.FabricIndex || e.AuthMode != subject.AuthMode || !Grants(e.Privilege, need) {
			continue
		}
		if len(e.Subjects) > 0 && !subjectMatches(e.Subjects, subject) {
			continue
		}
		if len(e.Targets) > 0 && !targetMatches(e.Targets, endpoint, cluster, dt) {
			continue
		}
		return true
	}
	return false
}

// subjectMatches reports whether one of an entry's subjects names the
// session's subject: its node ID (CASE) or group ID (Group) exactly, or for
// CASE one of its CATs.
func subjectMatches(subjects []uint64, s dm.Subject) bool {
	for _, want := range subjects {
		if want == s.NodeID {
			return true
		}
		if s.AuthMode != dm.AuthCASE {
			continue
		}
		if cat, ok := SubjectCAT(want); ok && catMatches(cat, s.CATs) {
			return true
		}
	}
	return false
}

// targetMatches reports whether one of an entry's targets covers the cluster:
// every field the target has must match; a device type matches when the
// endpoint has that device type.
func targetMatches(targets []Target, endpoint uint16, cluster uint32, dt DeviceTypes) bool {
	for _, t := range targets {
		switch {
		case !t.HasCluster && !t.HasEndpoint && !t.HasDeviceType:
			continue // invalid; Validate keeps it out of tables
		case t.HasCluster && t.Cluster != cluster:
			continue
		case t.HasEndpoint && t.Endpoint != endpoint:
			continue
		case t.HasDeviceType && (dt == nil || !dt(endpoint, t.DeviceType)):
			continue
		}
		return true
	}
	return false
}
