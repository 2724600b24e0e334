package acl

import (
	"fmt"
	"slices"

	"github.com/mattercam/mattercam/matter/dm"
)

// Target is an AccessControlTargetStruct (§9.10.5.6): each field that is
// present narrows what the entry applies to. The fields are nullable on the
// wire; the Has flags record their presence.
type Target struct {
	Cluster    uint32
	Endpoint   uint16
	DeviceType uint32

	HasCluster    bool
	HasEndpoint   bool
	HasDeviceType bool
}

// ClusterTarget is a target naming a cluster on every endpoint.
func ClusterTarget(cluster uint32) Target { return Target{Cluster: cluster, HasCluster: true} }

// EndpointTarget is a target naming every cluster on one endpoint.
func EndpointTarget(endpoint uint16) Target { return Target{Endpoint: endpoint, HasEndpoint: true} }

// EndpointClusterTarget is a target naming one cluster on one endpoint.
func EndpointClusterTarget(endpoint uint16, cluster uint32) Target {
	return Target{Cluster: cluster, Endpoint: endpoint, HasCluster: true, HasEndpoint: true}
}

// DeviceTypeTarget is a target naming every endpoint that has the device
// type in its Descriptor DeviceTypeList.
func DeviceTypeTarget(deviceType uint32) Target {
	return Target{DeviceType: deviceType, HasDeviceType: true}
}

// Entry is an AccessControlEntryStruct (§9.10.5.7).
type Entry struct {
	// FabricIndex is the fabric the entry belongs to; it applies only to
	// sessions on that fabric.
	FabricIndex uint8
	Privilege   dm.Privilege
	// AuthMode is CASE or Group; PASE entries are not allowed.
	AuthMode dm.AuthMode
	// Subjects are node IDs or CAT subjects (CASE), or group IDs (Group).
	// Empty means every subject that authenticates with AuthMode.
	Subjects []uint64
	// Targets are the clusters the entry covers. Empty means every cluster
	// on every endpoint.
	Targets []Target
}

// Clone returns a deep copy of e.
func (e Entry) Clone() Entry {
	e.Subjects = slices.Clone(e.Subjects)
	e.Targets = slices.Clone(e.Targets)
	return e
}

// Equal reports whether e and o are the same entry.
func (e Entry) Equal(o Entry) bool {
	return e.FabricIndex == o.FabricIndex && e.Privilege == o.Privilege && e.AuthMode == o.AuthMode &&
		slices.Equal(e.Subjects, o.Subjects) && slices.Equal(e.Targets, o.Targets)
}

// Specification minimums of the Access Control cluster's limit attributes
// (§9.10.6.5 to §9.10.6.7; Core §2.11.1.1 "Access Control Limits").
const (
	MinSubjectsPerEntry = 4
	MinTargetsPerEntry  = 3
	MinEntriesPerFabric = 4
)

// hardLimit bounds every configurable limit, so that a table and the
// records it decodes stay small whatever the configuration.
const hardLimit = 64

// Limits are the sizes a node supports. The Access Control cluster publishes
// them as SubjectsPerAccessControlEntry, TargetsPerAccessControlEntry and
// AccessControlEntriesPerFabric; they must never decrease across software
// updates (§9.10.6.5), since entries already written would become invalid.
type Limits struct {
	SubjectsPerEntry int
	TargetsPerEntry  int
	EntriesPerFabric int
}

// DefaultLimits are the specification minimums, which §9.10.6.5 recommends
// reporting.
var DefaultLimits = Limits{
	SubjectsPerEntry: MinSubjectsPerEntry,
	TargetsPerEntry:  MinTargetsPerEntry,
	EntriesPerFabric: MinEntriesPerFabric,
}

// check reports limits below the specification minimums or above what this
// package supports.
func (l Limits) check() error {
	switch {
	case l.SubjectsPerEntry < MinSubjectsPerEntry || l.SubjectsPerEntry > hardLimit,
		l.TargetsPerEntry < MinTargetsPerEntry || l.TargetsPerEntry > hardLimit,
		l.EntriesPerFabric < MinEntriesPerFabric || l.EntriesPerFabric > hardLimit:
		return fmt.Errorf("acl: limits %+v outside the minimums (%d, %d, %d) and %d",
			l, MinSubjectsPerEntry, MinTargetsPerEntry, MinEntriesPerFabric, hardLimit)
	}
	return nil
}

// Validate checks an entry against the rules of §9.10.5.7 and the limits,
// as a write of the ACL attribute must. It returns nil, or a *dm.StatusError
// with RESOURCE_EXHAUSTED (too many subjects or targets) or CONSTRAINT_ERROR
// (anything else). The fabric index is not checked against the fabric table;
// the cluster sets it to the accessing fabric.
func Validate(e Entry, lim Limits) error {
	if e.FabricIndex == 0 || e.FabricIndex == 255 {
		return dm.Errorf(dm.StatusConstraintError, "acl: fabric index %d", e.FabricIndex)
	}
	if e.Privilege < dm.PrivilegeView || e.Privilege > dm.PrivilegeAdminister {
		return dm.Errorf(dm.StatusConstraintError, "acl: privilege %d", e.Privilege)
	}
	switch e.AuthMode {
	case dm.AuthCASE:
	case dm.AuthGroup:
		// "The Administer privilege shall NOT be used on Access Control
		// Entries which use the Group auth mode." (§9.10.5.7.1)
		if e.Privilege == dm.PrivilegeAdminister {
			return dm.Errorf(dm.StatusConstraintError, "acl: Administer with the Group auth mode")
		}
	case dm.AuthPASE:
		// Reserved: the PASE grant is implicit (§9.10.5.7.3).
		return dm.Errorf(dm.StatusConstraintError, "acl: PASE auth mode in an entry")
	default:
		return dm.Errorf(dm.StatusConstraintError, "acl: auth mode %d", e.AuthMode)
	}
	if len(e.Subjects) > lim.SubjectsPerEntry {
		return dm.Errorf(dm.StatusResourceExhausted, "acl: %d subjects, at most %d", len(e.Subjects), lim.SubjectsPerEntry)
	}
	if len(e.Targets) > lim.TargetsPerEntry {
		return dm.Errorf(dm.StatusResourceExhausted, "acl: %d targets, at most %d", len(e.Targets), lim.TargetsPerEntry)
	}
	for _, s := range e.Subjects {
		if e.AuthMode == dm.AuthCASE && !ValidCASESubject(s) || e.AuthMode == dm.AuthGroup && !ValidGroupSubject(s) {
			return dm.Errorf(dm.StatusConstraintError, "acl: subject %#016x invalid for auth mode %d", s, e.AuthMode)
		}
	}
	for _, t := range e.Targets {
		if err := validTarget(t); err != nil {
			return err
		}
	}
	return nil
}

// validTarget applies the target rules of §9.10.5.7.4: at least one field,
// not both an endpoint and a device type, and identifiers in their ranges.
func validTarget(t Target) error {
	switch {
	case !t.HasCluster && !t.HasEndpoint && !t.HasDeviceType:
		return dm.Errorf(dm.StatusConstraintError, "acl: empty target")
	case t.HasEndpoint && t.HasDeviceType:
		return dm.Errorf(dm.StatusConstraintError, "acl: target with both an endpoint and a device type")
	case t.HasCluster && !validClusterID(t.Cluster):
		return dm.Errorf(dm.StatusConstraintError, "acl: cluster ID %#08x", t.Cluster)
	case t.HasEndpoint && t.Endpoint == 0xFFFF:
		return dm.Errorf(dm.StatusConstraintError, "acl: endpoint 0xFFFF")
	case t.HasDeviceType && !validDeviceTypeID(t.DeviceType):
		return dm.Errorf(dm.StatusConstraintError, "acl: device type ID %#08x", t.DeviceType)
	}
	return nil
}

// validClusterID reports whether id is a cluster ID (Core §7.19.2, Manufacturer
// Extensible Identifiers): a standard cluster 0x0000_0000 to 0x0000_7FFF, or a
// manufacturer-specific one 0xVVVV_FC00 to 0xVVVV_FFFE under a vendor prefix
// VVVV other than 0 and the reserved 0xFFFF.
func validClusterID(id uint32) bool {
	prefix, suffix := id>>16, id&0xFFFF
	switch {
	case prefix == 0:
		return suffix <= 0x7FFF
	case prefix == 0xFFFF:
		return false
	default:
		return suffix >= 0xFC00 && suffix <= 0xFFFE
	}
}

// validDeviceTypeID reports whether id is a device type ID: suffix 0x0000 to
// 0xBFFF under any vendor prefix but the reserved 0xFFFF.
func validDeviceTypeID(id uint32) bool {
	return id>>16 != 0xFFFF && id&0xFFFF <= 0xBFFF
}
