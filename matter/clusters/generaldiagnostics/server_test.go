package generaldiagnostics

import (
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/mattercam/mattercam/matter/clusters/internal/servetest"
	"github.com/mattercam/mattercam/matter/dm"
)

func TestDiagnostics(t *testing.T) {
	dir := t.TempDir()
	store := servetest.OpenStore(t, dir)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	utc := now.Add(time.Hour)
	var events servetest.Events
	cfg := Config{
		Store: store, BootReason: BootReasonSoftwareReset, Now: func() time.Time { return now },
		UTC:        func() (time.Time, bool) { return utc, true },
		Interfaces: func() []NetworkInterface { return make([]NetworkInterface, 10) },
		Load:       func(f uint8) DeviceLoad { return DeviceLoad{CurrentSubscriptionsForFabric: uint16(f)} },
		Events:     &events,
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	req := servetest.CASE(3, 1)
	if got := servetest.ReadUint(t, s, req, AttrRebootCount); got != 1 {
		t.Errorf("RebootCount %d on first boot", got)
	}
	if s2, _ := New(cfg); servetest.ReadUint(t, s2, req, AttrRebootCount) != 2 {
		t.Error("RebootCount not incremented and stored")
	}
	now = now.Add(90 * time.Second)
	if got := servetest.ReadUint(t, s, req, AttrUpTime); got != 90 {
		t.Errorf("UpTime %d", got)
	}
	if got := servetest.ReadUint(t, s, req, AttrBootReason); got != uint64(BootReasonSoftwareReset) {
		t.Errorf("BootReason %d", got)
	}
	if el := servetest.ReadElement(t, s, req, AttrTestEventTriggersEnabled); el.Bool {
		t.Error("TestEventTriggersEnabled")
	}
	if el := servetest.ReadElement(t, s, req, AttrNetworkInterfaces); len(el.Members) != MaxInterfaces {
		t.Errorf("%d interfaces, want at most %d", len(el.Members), MaxInterfaces)
	}
	var load DeviceLoad
	servetest.ReadInto(t, s, req, AttrDeviceLoadStatus, &load)
	if load.CurrentSubscriptionsForFabric != 3 {
		t.Errorf("DeviceLoadStatus %+v", load)
	}

	var snap TimeSnapshotResponse
	servetest.Call(t, s, req, CmdTimeSnapshot, nil, CmdTimeSnapshotResponse, &snap)
	if snap.SystemTimeMs != 90_000 || !snap.PosixTimeMs.Valid || snap.PosixTimeMs.Value != uint64(utc.UnixMilli()) {
		t.Errorf("TimeSnapshot %+v", snap)
	}
	for _, key := range [][]byte{make([]byte, 16), bytes.Repeat([]byte{1}, 16)} {
		_, err := servetest.Invoke(t, s, req, CmdTestEventTrigger, &TestEventTriggerRequest{EnableKey: key, EventTrigger: 1})
		if servetest.Status(err) != dm.StatusConstraintError {
			t.Errorf("TestEventTrigger: %v, want CONSTRAINT_ERROR", err)
		}
	}
	if err := s.Boot(); err != nil {
		t.Fatal(err)
	}
	evs := events.Take()
	var br BootReasonEvent
	if len(evs) != 1 || evs[0].ID != EventBootReason || evs[0].Priority != dm.PriorityCritical {
		t.Fatalf("events %+v", evs)
	}
	servetest.Decode(t, evs[0].Payload, &br)
	if br.BootReason != BootReasonSoftwareReset {
		t.Errorf("BootReason event %+v", br)
	}
}

func TestDescribe(t *testing.T) {
	ifi := net.Interface{Name: "eth0", Flags: net.FlagUp | net.FlagRunning, HardwareAddr: net.HardwareAddr{2, 0, 0, 0, 0, 1}}
	var addrs []net.Addr
	for i := range 6 {
		addrs = append(addrs, &net.IPNet{IP: net.IPv4(192, 168, 0, byte(i))})
	}
	addrs = append(addrs, &net.IPNet{IP: net.ParseIP("fe80::1")})
	n := describe(ifi, addrs)
	if !n.IsOperational || n.Type != InterfaceTypeEthernet || len(n.IPv4Addresses) != 4 || len(n.IPv6Addresses) != 1 ||
		len(n.IPv4Addresses[0]) != 4 || len(n.IPv6Addresses[0]) != 16 {
		t.Errorf("describe = %+v", n)
	}
	if interfaceType("wlan0") != InterfaceTypeWiFi || interfaceType("lo") != InterfaceTypeUnspecified {
		t.Error("interface types")
	}
	for _, n := range HostInterfaces() {
		if l := len(n.HardwareAddress); l != 6 && l != 8 {
			t.Errorf("host interface %s with a %d-octet address", n.Name, l)
		}
	}
}
