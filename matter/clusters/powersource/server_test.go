package powersource

import (
	"slices"
	"strings"
	"testing"

	"github.com/mattercam/mattercam/matter/clusters/internal/servetest"
	"github.com/mattercam/mattercam/matter/dm"
)

func TestWiredSource(t *testing.T) {
	var changes servetest.Changes
	s, err := New(Config{EndpointList: []uint16{0, 1}, Notify: &changes})
	if err != nil {
		t.Fatal(err)
	}
	req := servetest.PASE(0)
	if s.FeatureMap() != FeatureWired {
		t.Errorf("FeatureMap %#x", s.FeatureMap())
	}
	if got := servetest.ReadUint(t, s, req, AttrStatus); got != uint64(PowerSourceStatusActive) {
		t.Errorf("Status %d", got)
	}
	if got := servetest.ReadUint(t, s, req, AttrOrder); got != 0 {
		t.Errorf("Order %d", got)
	}
	if got := servetest.ReadElement(t, s, req, AttrDescription); string(got.Bytes) != "Mains" {
		t.Errorf("Description %q", got.Bytes)
	}
	if got := servetest.ReadUint(t, s, req, AttrWiredCurrentType); got != uint64(WiredCurrentTypeAc) {
		t.Errorf("WiredCurrentType %d", got)
	}
	if got := servetest.UintList(t, s, req, AttrEndpointList); !slices.Equal(got, []uint64{0, 1}) {
		t.Errorf("EndpointList %v", got)
	}
	if _, err := servetest.ReadErr(s, req, AttrBatVoltage); servetest.Status(err) != dm.StatusUnsupportedAttribute {
		t.Errorf("BatVoltage: %v", err)
	}
	if ids := s.Meta().AttributeIDs(); slices.Contains(ids, AttrBatChargeLevel) || !slices.Contains(ids, AttrWiredCurrentType) {
		t.Errorf("AttributeList %v", ids)
	}
	s.SetStatus(PowerSourceStatusUnavailable)
	if got := servetest.ReadUint(t, s, req, AttrStatus); got != uint64(PowerSourceStatusUnavailable) || !changes.Has(ID, AttrStatus) {
		t.Errorf("Status %d after SetStatus", got)
	}
	if _, err := New(Config{Description: strings.Repeat("d", 61)}); err == nil {
		t.Error("New accepted a 61-octet description")
	}
	if _, err := New(Config{CurrentType: 5}); err == nil {
		t.Error("New accepted current type 5")
	}
}
