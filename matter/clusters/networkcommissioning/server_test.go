package networkcommissioning

import (
	"testing"

	"github.com/mattercam/mattercam/matter/clusters/internal/servetest"
	"github.com/mattercam/mattercam/matter/dm"
	"github.com/mattercam/mattercam/matter/tlv"
)

func TestEthernet(t *testing.T) {
	link := true
	s, err := New(Config{Interface: "eth0", Connected: func() bool { return link }})
	if err != nil {
		t.Fatal(err)
	}
	req := servetest.CASE(1, 1)
	if s.FeatureMap() != FeatureEthernetNetworkInterface {
		t.Errorf("FeatureMap %#x", s.FeatureMap())
	}
	if got := servetest.ReadUint(t, s, req, AttrMaxNetworks); got != 1 {
		t.Errorf("MaxNetworks %d", got)
	}
	for _, want := range []bool{true, false} {
		link = want
		nets := servetest.ReadList[NetworkInfo](t, s, req, AttrNetworks)
		if len(nets) != 1 || string(nets[0].NetworkID) != "eth0" || nets[0].Connected != want {
			t.Errorf("Networks %+v, want eth0 connected %v", nets, want)
		}
	}
	for _, attr := range []uint32{AttrLastNetworkingStatus, AttrLastNetworkID, AttrLastConnectErrorValue} {
		if el := servetest.ReadElement(t, s, req, attr); el.Type != tlv.TypeNull {
			t.Errorf("attribute %#x = %v, want null", attr, el)
		}
	}
	boolean := func(v bool) []byte { return servetest.Value(t, func(w *tlv.Writer, tag tlv.Tag) { w.PutBool(tag, v) }) }
	if err := servetest.Write(t, s, req, AttrInterfaceEnabled, boolean(true), false); err != nil {
		t.Errorf("enabling: %v", err)
	}
	if err := servetest.Write(t, s, req, AttrInterfaceEnabled, boolean(false), false); servetest.Status(err) != dm.StatusInvalidAction {
		t.Errorf("disabling: %v, want INVALID_ACTION", err)
	}
	if s.Meta().Command(CmdScanNetworks) != nil || s.Meta().Attribute(AttrScanMaxTimeSeconds) != nil {
		t.Error("Wi-Fi/Thread elements in the metadata")
	}
	if _, err := New(Config{}); err == nil {
		t.Error("New without an interface")
	}
}
