package basicinformation

import (
	"strings"
	"testing"

	"github.com/mattercam/mattercam/matter/clusters/internal/servetest"
	"github.com/mattercam/mattercam/matter/dm"
	"github.com/mattercam/mattercam/matter/storage"
	"github.com/mattercam/mattercam/matter/tlv"
)

var identity = Identity{
	VendorName: "mattercam", VendorID: 0xFFF1, ProductName: "mattercam camera", ProductID: 0x8000,
	HardwareVersion: 2, SoftwareVersion: 7, SoftwareVersionString: "0.7.0", SerialNumber: "DEV-0001",
}

func newServer(t *testing.T, store *storage.Store, events *servetest.Events, changes *servetest.Changes) *Server {
	t.Helper()
	cfg := Config{Identity: identity, Store: store}
	if events != nil {
		cfg.Events = events
	}
	if changes != nil {
		cfg.Notify = changes
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func str(t *testing.T, v string) []byte {
	return servetest.Value(t, func(w *tlv.Writer, tag tlv.Tag) { w.PutString(tag, v) })
}

func TestRead(t *testing.T) {
	s := newServer(t, servetest.Store(t), nil, nil)
	req := servetest.PASE(0)
	for _, tc := range []struct {
		attr uint32
		want any
	}{
		{AttrDataModelRevision, uint64(DefaultDataModelRevision)},
		{AttrVendorName, "mattercam"},
		{AttrVendorID, uint64(0xFFF1)},
		{AttrProductName, "mattercam camera"},
		{AttrProductID, uint64(0x8000)},
		{AttrNodeLabel, ""},
		{AttrLocation, "XX"},
		{AttrHardwareVersion, uint64(2)},
		{AttrHardwareVersionString, "2"},
		{AttrSoftwareVersion, uint64(7)},
		{AttrSoftwareVersionString, "0.7.0"},
		{AttrSerialNumber, "DEV-0001"},
		{AttrSpecificationVersion, uint64(0x01060000)},
		{AttrMaxPathsPerInvoke, uint64(1)},
		{AttrConfigurationVersion, uint64(1)},
	} {
		el := servetest.ReadElement(t, s, req, tc.attr)
		var got any = el.Uint
		if el.Type == tlv.TypeString {
			got = string(el.Bytes)
		}
		if got != tc.want {
			t.Errorf("attribute %#x = %v, want %v", tc.attr, got, tc.want)
		}
	}
	var cm CapabilityMinima
	servetest.ReadInto(t, s, req, AttrCapabilityMinima, &cm)
	if cm.CASESessionsPerFabric != 3 || cm.SubscriptionsPerFabric != 3 {
		t.Errorf("CapabilityMinima %+v", cm)
	}
	// Optional attributes without a value are not served.
	if _, err := servetest.ReadErr(s, req, AttrProductURL); servetest.Status(err) != dm.StatusUnsupportedAttribute {
		t.Errorf("ProductURL: %v", err)
	}
	if s.Meta().Attribute(AttrProductURL) != nil || s.Meta().Attribute(AttrSerialNumber) == nil {
		t.Error("metadata does not follow the configured identity")
	}
}

func TestUniqueIDPersistsAndResets(t *testing.T) {
	dir := t.TempDir()
	store := servetest.OpenStore(t, dir)
	id := newServer(t, store, nil, nil).UniqueID()
	if len(id) != 32 || id == identity.SerialNumber {
		t.Fatalf("UniqueID %q", id)
	}
	if again := newServer(t, store, nil, nil).UniqueID(); again != id {
		t.Errorf("UniqueID changed across restarts: %q then %q", id, again)
	}
	// A factory reset (wiping the store) makes a new one.
	if err := store.Wipe(); err != nil {
		t.Fatal(err)
	}
	if fresh := newServer(t, store, nil, nil).UniqueID(); fresh == id {
		t.Error("UniqueID survived a factory reset")
	}
}

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	store := servetest.OpenStore(t, dir)
	var changes servetest.Changes
	s := newServer(t, store, nil, &changes)
	req := servetest.CASE(1, 1)
	for _, tc := range []struct {
		name  string
		attr  uint32
		value []byte
		want  dm.Status
	}{
		{"label", AttrNodeLabel, str(t, "Front door"), dm.StatusSuccess},
		{"label too long", AttrNodeLabel, str(t, strings.Repeat("x", 33)), dm.StatusConstraintError},
		{"label not a string", AttrNodeLabel, servetest.Value(t, func(w *tlv.Writer, tag tlv.Tag) { w.PutUint(tag, 1) }), dm.StatusInvalidDataType},
		{"location", AttrLocation, str(t, "DE"), dm.StatusSuccess},
		{"location of 3", AttrLocation, str(t, "DEU"), dm.StatusConstraintError},
		{"vendor name", AttrVendorName, str(t, "x"), dm.StatusUnsupportedWrite},
		{"product URL", AttrProductURL, str(t, "x"), dm.StatusUnsupportedAttribute},
	} {
		if err := servetest.Write(t, s, req, tc.attr, tc.value, false); servetest.Status(err) != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if !changes.Has(ID, AttrNodeLabel) || !changes.Has(ID, AttrLocation) {
		t.Error("changes not reported")
	}
	store.Close()
	s = newServer(t, servetest.OpenStore(t, dir), nil, nil)
	if s.NodeLabel() != "Front door" || s.Location() != "DE" {
		t.Errorf("after restart: label %q, location %q", s.NodeLabel(), s.Location())
	}
}

func TestEvents(t *testing.T) {
	var events servetest.Events
	s := newServer(t, servetest.Store(t), &events, nil)
	if err := s.StartUp(); err != nil {
		t.Fatal(err)
	}
	if err := s.Leave(3); err != nil {
		t.Fatal(err)
	}
	if err := s.ShutDown(); err != nil {
		t.Fatal(err)
	}
	evs := events.Take()
	if len(evs) != 3 {
		t.Fatalf("%d events", len(evs))
	}
	var up StartUpEvent
	servetest.Decode(t, evs[0].Payload, &up)
	if evs[0].ID != EventStartUp || evs[0].Priority != dm.PriorityCritical || up.SoftwareVersion != 7 {
		t.Errorf("StartUp %+v %+v", evs[0], up)
	}
	var leave LeaveEvent
	servetest.Decode(t, evs[1].Payload, &leave)
	if evs[1].ID != EventLeave || evs[1].FabricIndex != 3 || leave.FabricIndex != 3 {
		t.Errorf("Leave %+v %+v", evs[1], leave)
	}
	if evs[2].ID != EventShutDown {
		t.Errorf("ShutDown %+v", evs[2])
	}
}

func TestNewRejectsBadIdentity(t *testing.T) {
	for _, id := range []Identity{
		{VendorName: strings.Repeat("v", 33)},
		{ProductName: "\xff"},
		{ManufacturingDate: "2024"},
	} {
		if _, err := New(Config{Identity: id, Store: servetest.Store(t)}); err == nil {
			t.Errorf("New accepted %+v", id)
		}
	}
}
