package descriptor

import (
	"slices"
	"testing"

	"github.com/mattercam/mattercam/matter/clusters/internal/servetest"
	"github.com/mattercam/mattercam/matter/dm"
	"github.com/mattercam/mattercam/matter/tlv"
)

func TestDescriptor(t *testing.T) {
	ep := dm.NewEndpoint(0, dm.DeviceType{Type: 0x16, Revision: 4}, dm.DeviceType{Type: 0x11, Revision: 1})
	ep.Clients = []uint32{0x38, 0x29, 0x38}
	parts := []uint16{2, 0, 1, 2}
	var changes servetest.Changes
	s, err := New(Config{Endpoint: ep, Parts: func() []uint16 { return parts }, Notify: &changes})
	if err != nil {
		t.Fatal(err)
	}
	ep.Add(s)
	req := servetest.PASE(0)

	types := servetest.ReadList[DeviceType](t, s, req, AttrDeviceTypeList)
	if !slices.Equal(types, []DeviceType{{0x16, 4}, {0x11, 1}}) {
		t.Errorf("DeviceTypeList %+v", types)
	}
	if got := servetest.UintList(t, s, req, AttrServerList); !slices.Equal(got, []uint64{0x1D}) {
		t.Errorf("ServerList %v", got)
	}
	if got := servetest.UintList(t, s, req, AttrClientList); !slices.Equal(got, []uint64{0x29, 0x38}) {
		t.Errorf("ClientList %v, want sorted and unique", got)
	}
	// The endpoint itself is never its own part; duplicates go.
	if got := servetest.UintList(t, s, req, AttrPartsList); !slices.Equal(got, []uint64{1, 2}) {
		t.Errorf("PartsList %v", got)
	}
	s.PartsChanged()
	if !changes.Has(ID, AttrPartsList) {
		t.Error("PartsList change not reported")
	}
	if _, err := servetest.ReadErr(s, req, AttrTagList); servetest.Status(err) != dm.StatusUnsupportedAttribute {
		t.Errorf("TagList: %v", err)
	}
	if slices.Contains(s.Meta().AttributeIDs(), AttrTagList) || s.FeatureMap() != 0 {
		t.Error("TagList advertised")
	}
	v := servetest.Value(t, func(w *tlv.Writer, tag tlv.Tag) { w.StartArray(tag); w.EndContainer() })
	if err := servetest.Write(t, s, req, AttrPartsList, v, false); servetest.Status(err) != dm.StatusUnsupportedWrite {
		t.Errorf("write: %v", err)
	}
	if _, err := New(Config{}); err == nil {
		t.Error("New without an endpoint")
	}
}
