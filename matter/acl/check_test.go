package acl

import (
	"testing"

	"github.com/mattercam/mattercam/matter/dm"
)

const (
	clusterOnOff         = 0x0006
	clusterAccessControl = 0x001F
	clusterWebRTC        = 0x0553
	deviceTypeCamera     = 0x0142
)

// exampleACL is a node's list with entries for two fabrics, in the shapes
// the specification's examples use: an administrator (what AddNOC
// installs), a CAT-scoped grant, a wildcard-subject grant, a group grant and
// a device type target.
var exampleACL = []Entry{
	{FabricIndex: 1, Privilege: dm.PrivilegeAdminister, AuthMode: dm.AuthCASE, Subjects: []uint64{0x1111}},
	{FabricIndex: 1, Privilege: dm.PrivilegeOperate, AuthMode: dm.AuthCASE,
		Subjects: []uint64{CATSubject(0xAB12_0003)}, Targets: []Target{EndpointClusterTarget(1, clusterWebRTC)}},
	{FabricIndex: 1, Privilege: dm.PrivilegeView, AuthMode: dm.AuthCASE, Targets: []Target{EndpointTarget(2)}},
	{FabricIndex: 1, Privilege: dm.PrivilegeOperate, AuthMode: dm.AuthGroup,
		Subjects: []uint64{0x0101}, Targets: []Target{EndpointClusterTarget(1, clusterOnOff)}},
	{FabricIndex: 1, Privilege: dm.PrivilegeManage, AuthMode: dm.AuthCASE,
		Subjects: []uint64{0x2222}, Targets: []Target{DeviceTypeTarget(deviceTypeCamera)}},
	{FabricIndex: 1, Privilege: dm.PrivilegeProxyView, AuthMode: dm.AuthCASE, Subjects: []uint64{0x4444}},
	{FabricIndex: 2, Privilege: dm.PrivilegeAdminister, AuthMode: dm.AuthCASE, Subjects: []uint64{0x3333}},
}

// cameraOnEndpoint1 is the node's device types: endpoint 1 is a camera.
func cameraOnEndpoint1(ep uint16, dt uint32) bool { return ep == 1 && dt == deviceTypeCamera }

func caseSubject(fabric uint8, node uint64, cats ...uint32) dm.Subject {
	s := dm.Subject{AuthMode: dm.AuthCASE, FabricIndex: fabric, NodeID: node}
	copy(s.CATs[:], cats)
	return s
}

func groupSubject(fabric uint8, group uint16) dm.Subject {
	return dm.Subject{AuthMode: dm.AuthGroup, FabricIndex: fabric, NodeID: uint64(group)}
}

func TestCheck(t *testing.T) {
	acl := dm.Path{Endpoint: 0, Cluster: clusterAccessControl}
	webrtc := dm.Path{Endpoint: 1, Cluster: clusterWebRTC}
	onoff1 := dm.Path{Endpoint: 1, Cluster: clusterOnOff}
	onoff2 := dm.Path{Endpoint: 2, Cluster: clusterOnOff}
	tests := []struct {
		name    string
		subject dm.Subject
		path    dm.Path
		need    dm.Privilege
		nilDT   bool
		want    bool
	}{
		// The administrator AddNOC installed.
		{"admin administers the ACL", caseSubject(1, 0x1111), acl, dm.PrivilegeAdminister, false, true},
		{"admin views anything", caseSubject(1, 0x1111), onoff2, dm.PrivilegeView, false, true},
		{"Administer implies ProxyView", caseSubject(1, 0x1111), onoff2, dm.PrivilegeProxyView, false, true},
		{"admin of fabric 1 on fabric 2", caseSubject(2, 0x1111), acl, dm.PrivilegeView, false, false},
		{"admin of fabric 2 on fabric 1", caseSubject(1, 0x3333), acl, dm.PrivilegeView, false, false},
		{"admin of fabric 2", caseSubject(2, 0x3333), webrtc, dm.PrivilegeAdminister, false, true},
		{"unknown node", caseSubject(1, 0x5555), webrtc, dm.PrivilegeView, false, false},

		// CAT subjects: tag identifier 0xAB12, version 0x0003 is the
		// subject 0xFFFF_FFFD_AB12_0003 (§6.6.2.1.2); a NOC carrying that
		// identifier at that version or a newer one matches.
		{"CAT, same version", caseSubject(1, 0x9999, 0xAB12_0003), webrtc, dm.PrivilegeOperate, false, true},
		{"CAT, newer version", caseSubject(1, 0x9999, 0xAB12_0004), webrtc, dm.PrivilegeOperate, false, true},
		{"CAT, newest version", caseSubject(1, 0x9999, 0xAB12_FFFF), webrtc, dm.PrivilegeOperate, false, true},
		{"CAT, older version", caseSubject(1, 0x9999, 0xAB12_0002), webrtc, dm.PrivilegeOperate, false, false},
		{"CAT, other identifier", caseSubject(1, 0x9999, 0xAB13_0003), webrtc, dm.PrivilegeOperate, false, false},
		{"CAT in third slot", caseSubject(1, 0x9999, 0x0001_0001, 0x0002_0001, 0xAB12_0005), webrtc, dm.PrivilegeOperate, false, true},
		{"CAT, version 0 is no CAT", caseSubject(1, 0x9999, 0xAB12_0000), webrtc, dm.PrivilegeView, false, false},
		{"CAT, other cluster", caseSubject(1, 0x9999, 0xAB12_0003), onoff1, dm.PrivilegeView, false, false},
		{"CAT, more than granted", caseSubject(1, 0x9999, 0xAB12_0003), webrtc, dm.PrivilegeManage, false, false},
		{"CAT on another fabric", caseSubject(2, 0x9999, 0xAB12_0003), webrtc, dm.PrivilegeView, false, false},

		// Empty subject list: any CASE node of the fabric.
		{"wildcard subject, endpoint target", caseSubject(1, 0x7777), onoff2, dm.PrivilegeView, false, true},
		{"wildcard subject, more than View", caseSubject(1, 0x7777), onoff2, dm.PrivilegeOperate, false, false},
		{"wildcard subject, other endpoint", caseSubject(1, 0x7777), onoff1, dm.PrivilegeView, false, false},
		{"wildcard subject needs the auth mode", groupSubject(1, 0x7777), onoff2, dm.PrivilegeView, false, false},

		// Group entries.
		{"group member operates", groupSubject(1, 0x0101), onoff1, dm.PrivilegeOperate, false, true},
		{"other group", groupSubject(1, 0x0102), onoff1, dm.PrivilegeOperate, false, false},
		{"group, other cluster", groupSubject(1, 0x0101), webrtc, dm.PrivilegeView, false, false},
		{"group, Manage", groupSubject(1, 0x0101), onoff1, dm.PrivilegeManage, false, false},
		{"CASE node numbered like the group", caseSubject(1, 0x0101), onoff1, dm.PrivilegeOperate, false, false},
		{"group on another fabric", groupSubject(2, 0x0101), onoff1, dm.PrivilegeOperate, false, false},

		// Device type targets.
		{"device type, endpoint has it", caseSubject(1, 0x2222), onoff1, dm.PrivilegeManage, false, true},
		{"device type, endpoint lacks it", caseSubject(1, 0x2222), onoff2, dm.PrivilegeManage, false, false},
		{"device type, no resolver", caseSubject(1, 0x2222), onoff1, dm.PrivilegeView, true, false},
		{"device type, Administer", caseSubject(1, 0x2222), onoff1, dm.PrivilegeAdminister, false, false},

		// ProxyView grants View and ProxyView only.
		{"ProxyView entry, ProxyView", caseSubject(1, 0x4444), onoff1, dm.PrivilegeProxyView, false, true},
		{"ProxyView entry, View", caseSubject(1, 0x4444), onoff1, dm.PrivilegeView, false, true},
		{"ProxyView entry, Operate", caseSubject(1, 0x4444), onoff1, dm.PrivilegeOperate, false, false},
		{"Manage does not grant ProxyView", caseSubject(1, 0x2222), onoff1, dm.PrivilegeProxyView, false, false},

		// PASE: the commissioning grant, with or without a fabric yet.
		{"PASE before AddNOC", dm.Subject{AuthMode: dm.AuthPASE}, acl, dm.PrivilegeAdminister, false, true},
		{"PASE after AddNOC", dm.Subject{AuthMode: dm.AuthPASE, FabricIndex: 3}, onoff2, dm.PrivilegeAdminister, false, true},

		// Malformed requests fail closed.
		{"CASE without a fabric", caseSubject(0, 0x1111), acl, dm.PrivilegeView, false, false},
		{"unknown auth mode", dm.Subject{AuthMode: 0, FabricIndex: 1, NodeID: 0x1111}, acl, dm.PrivilegeView, false, false},
		{"auth mode 4", dm.Subject{AuthMode: 4, FabricIndex: 1, NodeID: 0x1111}, acl, dm.PrivilegeView, false, false},
		{"no privilege needed is no request", caseSubject(1, 0x1111), acl, dm.PrivilegeNone, false, false},
		{"privilege 6", caseSubject(1, 0x1111), acl, 6, false, false},
		{"PASE, privilege 6", dm.Subject{AuthMode: dm.AuthPASE}, acl, 6, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dt := DeviceTypes(cameraOnEndpoint1)
			if tt.nilDT {
				dt = nil
			}
			if got := Check(tt.subject, tt.path.Endpoint, tt.path.Cluster, tt.need, exampleACL, dt); got != tt.want {
				t.Errorf("Check = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCheckEmptyList(t *testing.T) {
	for _, s := range []dm.Subject{caseSubject(1, 0x1111), groupSubject(1, 1)} {
		if Check(s, 0, 0, dm.PrivilegeView, nil, nil) {
			t.Errorf("%+v granted with no entries", s)
		}
	}
}

func TestCheckIgnoresInvalidEntries(t *testing.T) {
	// Entries Validate rejects must not grant anything even if handed to
	// Check directly.
	entries := []Entry{
		{FabricIndex: 1, Privilege: dm.PrivilegeAdminister, AuthMode: dm.AuthCASE, Subjects: []uint64{CATSubject(0xAB12_0000)}},
		{FabricIndex: 1, Privilege: dm.PrivilegeAdminister, AuthMode: dm.AuthCASE, Subjects: []uint64{0x1111}, Targets: []Target{{}}},
		{FabricIndex: 0, Privilege: dm.PrivilegeAdminister, AuthMode: dm.AuthCASE},
		{FabricIndex: 1, Privilege: 9, AuthMode: dm.AuthCASE},
	}
	s := caseSubject(1, 0x1111, 0xAB12_0001)
	if Check(s, 1, 6, dm.PrivilegeView, entries, nil) {
		t.Fatal("an invalid entry granted access")
	}
}

func TestGrants(t *testing.T) {
	const (
		N = dm.PrivilegeNone
		V = dm.PrivilegeView
		P = dm.PrivilegeProxyView
		O = dm.PrivilegeOperate
		M = dm.PrivilegeManage
		A = dm.PrivilegeAdminister
	)
	// want[have] lists what each privilege grants (§9.10.5.2).
	want := map[dm.Privilege][]dm.Privilege{
		N: nil,
		V: {V},
		P: {P, V},
		O: {O, V},
		M: {M, O, V},
		A: {A, M, O, P, V},
		6: nil,
	}
	for have, granted := range want {
		for _, need := range []dm.Privilege{N, V, P, O, M, A, 6} {
			exp := false
			for _, g := range granted {
				exp = exp || g == need
			}
			if got := Grants(have, need); got != exp {
				t.Errorf("Grants(%d, %d) = %v, want %v", have, need, got, exp)
			}
		}
	}
}

func TestSubjectHelpers(t *testing.T) {
	if got := CATSubject(0xAB12_0003); got != 0xFFFF_FFFD_AB12_0003 {
		t.Errorf("CATSubject = %#x", got)
	}
	if cat, ok := SubjectCAT(0xFFFF_FFFD_AB12_0003); !ok || cat != 0xAB12_0003 {
		t.Errorf("SubjectCAT = %#x, %v", cat, ok)
	}
	for _, s := range []uint64{0x1111, 0xFFFF_FFFC_AB12_0003, 0xFFFF_FFFE_0000_0001, 0xFFFF_FFFF_FFFF_0001} {
		if _, ok := SubjectCAT(s); ok {
			t.Errorf("SubjectCAT(%#x) ok", s)
		}
	}
	tests := []struct {
		s            uint64
		caseOK, grOK bool
	}{
		{0, false, false},
		{1, true, true},
		{0xFFFF, true, true},
		{0x1_0000, true, false},
		{MaxOperationalNodeID, true, false},
		{MaxOperationalNodeID + 1, false, false}, // reserved range
		{0xFFFF_FFFB_0000_0001, false, false},    // PAKE key ID
		{0xFFFF_FFFD_0001_0000, false, false},    // CAT version 0
		{0xFFFF_FFFD_0001_0001, true, false},     // CAT
		{0xFFFF_FFFE_0000_0001, false, false},    // temporary local ID
		{0xFFFF_FFFF_FFFF_0101, false, false},    // group node ID: groups are plain group IDs here
	}
	for _, tt := range tests {
		if got := ValidCASESubject(tt.s); got != tt.caseOK {
			t.Errorf("ValidCASESubject(%#x) = %v", tt.s, got)
		}
		if got := ValidGroupSubject(tt.s); got != tt.grOK {
			t.Errorf("ValidGroupSubject(%#x) = %v", tt.s, got)
		}
	}
}
