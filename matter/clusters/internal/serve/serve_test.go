package serve_test

import (
	"slices"
	"testing"

	"github.com/mattercam/mattercam/matter/clusters/generalcommissioning"
	"github.com/mattercam/mattercam/matter/clusters/internal/serve"
	"github.com/mattercam/mattercam/matter/dm"
	"github.com/mattercam/mattercam/matter/tlv"
)

func TestSubset(t *testing.T) {
	m := serve.Subset(&generalcommissioning.Meta,
		[]uint32{generalcommissioning.AttrBreadcrumb, 0x4242},
		[]uint32{generalcommissioning.CmdArmFailSafe, generalcommissioning.CmdCommissioningComplete}, nil)
	if m.ID != generalcommissioning.ID || m.Revision != generalcommissioning.Revision {
		t.Errorf("identity %+v", m)
	}
	if len(m.Attributes) != 1 || m.Attributes[0].ID != generalcommissioning.AttrBreadcrumb {
		t.Errorf("attributes %+v", m.Attributes)
	}
	if got := []uint32{m.Commands[0].ID, m.Commands[1].ID}; len(m.Commands) != 2 || !slices.Equal(got, []uint32{0, 4}) {
		t.Errorf("commands %+v", m.Commands)
	}
	if !slices.Equal(m.Generated, []uint32{generalcommissioning.CmdArmFailSafeResponse, generalcommissioning.CmdCommissioningCompleteResponse}) {
		t.Errorf("generated %v: only the kept commands' responses", m.Generated)
	}
	if len(generalcommissioning.Meta.Attributes) < 5 {
		t.Error("Subset modified the generated metadata")
	}
}

func decode(t *testing.T, b []byte, v serve.Decoder) error {
	t.Helper()
	r := tlv.NewReader(b)
	if err := r.Next(); err != nil {
		t.Fatal(err)
	}
	return serve.DecodeCommand(r, v)
}

func TestDecodeCommandStatus(t *testing.T) {
	var w tlv.Writer
	w.StartStructure(tlv.AnonymousTag())
	w.PutUint(tlv.ContextTag(0), 1)
	w.PutString(tlv.ContextTag(1), "DEU") // CountryCode: exactly 2
	w.PutUint(tlv.ContextTag(2), 0)
	w.EndContainer()
	b, _ := w.Bytes()
	var reg generalcommissioning.SetRegulatoryConfigRequest
	if err := decode(t, b, &reg); statusOf(err) != dm.StatusConstraintError {
		t.Errorf("constraint violation: %v, want CONSTRAINT_ERROR", err)
	}
	var arm generalcommissioning.ArmFailSafeRequest
	if err := serve.DecodeCommand(nil, &arm); statusOf(err) != dm.StatusInvalidCommand {
		t.Errorf("missing fields: %v, want INVALID_COMMAND", err)
	}
	if err := decode(t, []byte{0x24, 0x00, 0x01}, &arm); statusOf(err) != dm.StatusInvalidCommand {
		t.Errorf("not a structure: %v, want INVALID_COMMAND", err)
	}
	var empty generalcommissioning.CommissioningCompleteRequest
	if err := serve.DecodeCommand(nil, &empty); err != nil {
		t.Errorf("empty command without fields: %v", err)
	}
}

func statusOf(err error) dm.Status {
	if se, ok := err.(*dm.StatusError); ok {
		return se.Status
	}
	return dm.StatusSuccess
}

func TestBaseChanged(t *testing.T) {
	var got []dm.Path
	var b serve.Base
	b.Init(&generalcommissioning.Meta, 3, notifier(func(p dm.Path) { got = append(got, p) }))
	v := b.DataVersion()
	b.Changed(1, 2)
	if b.DataVersion() != v+1 {
		t.Error("version not bumped")
	}
	if len(got) != 2 || got[1] != (dm.Path{Endpoint: 3, Cluster: generalcommissioning.ID, ID: 2}) {
		t.Errorf("notified %v", got)
	}
}

type notifier func(dm.Path)

func (n notifier) Changed(p dm.Path) { n(p) }
