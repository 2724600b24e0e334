package acl

import (
	"errors"
	"testing"

	"github.com/mattercam/mattercam/matter/dm"
)

func statusOf(err error) dm.Status {
	var se *dm.StatusError
	if errors.As(err, &se) {
		return se.Status
	}
	if err != nil {
		return dm.StatusFailure
	}
	return dm.StatusSuccess
}

func TestValidate(t *testing.T) {
	admin := Entry{FabricIndex: 1, Privilege: dm.PrivilegeAdminister, AuthMode: dm.AuthCASE, Subjects: []uint64{0x1111}}
	with := func(f func(*Entry)) Entry { e := admin.Clone(); f(&e); return e }
	const (
		ok        = dm.StatusSuccess
		constrain = dm.StatusConstraintError
		exhausted = dm.StatusResourceExhausted
	)
	tests := []struct {
		name string
		e    Entry
		want dm.Status
	}{
		{"CASE administrator", admin, ok},
		{"CASE wildcard subject", with(func(e *Entry) { e.Subjects = nil }), ok},
		{"CASE CAT subject", with(func(e *Entry) { e.Subjects = []uint64{CATSubject(0xFFFD_0001)} }), ok},
		{"ProxyView", with(func(e *Entry) { e.Privilege = dm.PrivilegeProxyView }), ok},
		{"group operate", Entry{FabricIndex: 2, Privilege: dm.PrivilegeOperate, AuthMode: dm.AuthGroup,
			Subjects: []uint64{1, 0xFFFF}, Targets: []Target{EndpointClusterTarget(1, 6)}}, ok},
		{"all limits used", with(func(e *Entry) {
			e.Subjects = []uint64{1, 2, 3, CATSubject(0x0001_0001)}
			e.Targets = []Target{ClusterTarget(6), EndpointTarget(0), DeviceTypeTarget(0x0142)}
		}), ok},
		{"manufacturer cluster", with(func(e *Entry) { e.Targets = []Target{ClusterTarget(0xFFF1_FC00)} }), ok},
		{"manufacturer device type", with(func(e *Entry) { e.Targets = []Target{DeviceTypeTarget(0xFFF1_0001)} }), ok},
		{"endpoint 0xFFFE", with(func(e *Entry) { e.Targets = []Target{EndpointTarget(0xFFFE)} }), ok},

		{"fabric index 0", with(func(e *Entry) { e.FabricIndex = 0 }), constrain},
		{"fabric index 255", with(func(e *Entry) { e.FabricIndex = 255 }), constrain},
		{"privilege 0", with(func(e *Entry) { e.Privilege = 0 }), constrain},
		{"privilege 6", with(func(e *Entry) { e.Privilege = 6 }), constrain},
		{"PASE auth mode", with(func(e *Entry) { e.AuthMode = dm.AuthPASE; e.Privilege = dm.PrivilegeView; e.Subjects = []uint64{0} }), constrain},
		{"auth mode 0", with(func(e *Entry) { e.AuthMode = 0 }), constrain},
		{"auth mode 4", with(func(e *Entry) { e.AuthMode = 4 }), constrain},
		{"group Administer", Entry{FabricIndex: 1, Privilege: dm.PrivilegeAdminister, AuthMode: dm.AuthGroup, Subjects: []uint64{1}}, constrain},
		{"CASE subject 0", with(func(e *Entry) { e.Subjects = []uint64{0} }), constrain},
		{"CASE subject in the reserved range", with(func(e *Entry) { e.Subjects = []uint64{0xFFFF_FFF0_0000_0000} }), constrain},
		{"CASE subject group node ID", with(func(e *Entry) { e.Subjects = []uint64{0xFFFF_FFFF_FFFF_0001} }), constrain},
		{"CAT version 0", with(func(e *Entry) { e.Subjects = []uint64{CATSubject(0xAB12_0000)} }), constrain},
		{"one bad subject among good", with(func(e *Entry) { e.Subjects = []uint64{1, 0, 3} }), constrain},
		{"group ID 0", Entry{FabricIndex: 1, Privilege: dm.PrivilegeView, AuthMode: dm.AuthGroup, Subjects: []uint64{0}}, constrain},
		{"group ID above 16 bits", Entry{FabricIndex: 1, Privilege: dm.PrivilegeView, AuthMode: dm.AuthGroup, Subjects: []uint64{0x1_0000}}, constrain},
		{"empty target", with(func(e *Entry) { e.Targets = []Target{{}} }), constrain},
		{"endpoint and device type", with(func(e *Entry) {
			e.Targets = []Target{{Endpoint: 1, HasEndpoint: true, DeviceType: 0x0142, HasDeviceType: true}}
		}), constrain},
		{"cluster above the standard range", with(func(e *Entry) { e.Targets = []Target{ClusterTarget(0x8000)} }), constrain},
		{"manufacturer cluster below FC00", with(func(e *Entry) { e.Targets = []Target{ClusterTarget(0xFFF1_0006)} }), constrain},
		{"wildcard cluster", with(func(e *Entry) { e.Targets = []Target{ClusterTarget(0xFFFF_FFFF)} }), constrain},
		{"endpoint 0xFFFF", with(func(e *Entry) { e.Targets = []Target{EndpointTarget(0xFFFF)} }), constrain},
		{"device type suffix C000", with(func(e *Entry) { e.Targets = []Target{DeviceTypeTarget(0xC000)} }), constrain},
		{"device type prefix FFFF", with(func(e *Entry) { e.Targets = []Target{DeviceTypeTarget(0xFFFF_0001)} }), constrain},

		{"5 subjects", with(func(e *Entry) { e.Subjects = []uint64{1, 2, 3, 4, 5} }), exhausted},
		{"4 targets", with(func(e *Entry) {
			e.Targets = []Target{EndpointTarget(0), EndpointTarget(1), EndpointTarget(2), EndpointTarget(3)}
		}), exhausted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := statusOf(Validate(tt.e, DefaultLimits)); got != tt.want {
				t.Errorf("Validate = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestValidateHigherLimits(t *testing.T) {
	lim := Limits{SubjectsPerEntry: 8, TargetsPerEntry: 8, EntriesPerFabric: 8}
	e := Entry{FabricIndex: 1, Privilege: dm.PrivilegeView, AuthMode: dm.AuthCASE, Subjects: []uint64{1, 2, 3, 4, 5, 6, 7, 8}}
	if err := Validate(e, lim); err != nil {
		t.Fatalf("8 subjects with a limit of 8: %v", err)
	}
	e.Subjects = append(e.Subjects, 9)
	if got := statusOf(Validate(e, lim)); got != dm.StatusResourceExhausted {
		t.Fatalf("9 subjects: %v", got)
	}
}

func TestLimitsCheck(t *testing.T) {
	for _, l := range []Limits{
		{3, 3, 4}, {4, 2, 4}, {4, 3, 3}, {hardLimit + 1, 3, 4}, {4, 3, hardLimit + 1},
	} {
		if l.check() == nil {
			t.Errorf("%+v accepted", l)
		}
	}
	for _, l := range []Limits{DefaultLimits, {hardLimit, hardLimit, hardLimit}} {
		if err := l.check(); err != nil {
			t.Errorf("%+v: %v", l, err)
		}
	}
}
