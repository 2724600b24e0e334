package im

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/mattercam/mattercam/matter/dm"
	"github.com/mattercam/mattercam/matter/tlv"
)

// matterJSVectors are IM messages encoded by matter.js 0.17.9's own schemas
// (@matter/types TlvReadRequest, TlvDataReport, ...), produced by
// test/model/im-vectors.mjs.
func matterJSVectors(t testing.TB) map[string][]byte {
	t.Helper()
	b, err := os.ReadFile("testdata/matterjs-im-vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for k, v := range m {
		if strings.HasPrefix(k, "_") {
			continue
		}
		if out[k], err = hex.DecodeString(v); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// tlvOf encodes a TLV tree given in the notation of package tlv's tests.
func fieldsU32S(a uint32, s string) []byte {
	var w tlv.Writer
	w.StartStructure(tlv.AnonymousTag())
	w.PutUint(tlv.ContextTag(0), uint64(a))
	w.PutString(tlv.ContextTag(1), s)
	w.EndContainer()
	b, _ := w.Bytes()
	return b
}

// sameElement compares two TLV elements ignoring their own tags.
func sameElement(t testing.TB, a, b []byte) bool {
	t.Helper()
	ea, err := tlv.Decode(a)
	if err != nil {
		t.Fatal(err)
	}
	eb, err := tlv.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	ea.Tag, eb.Tag = tlv.Tag{}, tlv.Tag{}
	return ea.Equal(eb)
}

// TestMatterJSVectors decodes what matter.js sends and checks every field,
// then checks that re-encoding gives matter.js's octets where both encode
// the same optional fields (matter.js also writes some false booleans that
// this codec leaves out).
func TestMatterJSVectors(t *testing.T) {
	v := matterJSVectors(t)
	type msg interface {
		wireMessage
	}
	exact := map[string]bool{"ReadRequest": true, "ReadRequestWildcard": true, "SubscribeRequest": true, "SubscribeResponse": true,
		"WriteResponse": true, "InvokeRequest": true, "InvokeResponse": true, "TimedRequest": true, "StatusResponse": true}
	decoded := map[string]msg{}
	for name, b := range v {
		var m msg
		switch strings.TrimSuffix(name, "Wildcard") {
		case "ReadRequest":
			m = &ReadRequest{}
		case "SubscribeRequest":
			m = &SubscribeRequest{}
		case "SubscribeResponse":
			m = &SubscribeResponse{}
		case "WriteRequest":
			m = &WriteRequest{}
		case "WriteResponse":
			m = &WriteResponse{}
		case "InvokeRequest":
			m = &InvokeRequest{}
		case "InvokeResponse":
			m = &InvokeResponse{}
		case "TimedRequest":
			m = &TimedRequest{}
		case "StatusResponse":
			m = &StatusResponse{}
		case "ReportData":
			m = &ReportData{}
		default:
			t.Fatalf("unknown vector %s", name)
		}
		if err := m.Unmarshal(b); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		decoded[name] = m
		enc, err := m.AppendTo(nil)
		if err != nil {
			t.Fatalf("%s: re-encode: %v", name, err)
		}
		if exact[name] && !bytes.Equal(enc, b) {
			t.Errorf("%s: re-encoded\n%x\nmatter.js\n%x", name, enc, b)
		}
	}

	rr := decoded["ReadRequest"].(*ReadRequest)
	want := []AttributePath{
		AttrPath(0, 0x3e, 2),
		{Cluster: 0x31, Attribute: 0xfffc, Wildcard: WildEndpoint},
		{Endpoint: 0, Cluster: 0x28, Attribute: 1, Node: 0x1122334455667788, HasNode: true},
	}
	if !reflect.DeepEqual(rr.AttributeRequests, want) || !rr.FabricFiltered || rr.EventRequests != nil {
		t.Errorf("ReadRequest %+v", rr)
	}
	rw := decoded["ReadRequestWildcard"].(*ReadRequest)
	if !reflect.DeepEqual(rw.AttributeRequests, []AttributePath{{Wildcard: WildAll, WildcardFlags: SkipRootNode | SkipDiagnosticsClusters}}) ||
		!reflect.DeepEqual(rw.EventRequests, []EventPath{{Wildcard: WildAll, Urgent: true}, EvPath(1, 0x551, 2)}) ||
		!reflect.DeepEqual(rw.EventFilters, []EventFilter{{EventMin: 0x1_0000_0001}}) || rw.FabricFiltered ||
		!reflect.DeepEqual(rw.DataVersionFilters, []DataVersionFilter{{Path: ClusterPath{Endpoint: 1, Cluster: 6}, DataVersion: 0xdeadbeef}}) {
		t.Errorf("wildcard ReadRequest %+v", rw)
	}
	sr := decoded["SubscribeRequest"].(*SubscribeRequest)
	if !sr.KeepSubscriptions || sr.MinIntervalFloor != 0 || sr.MaxIntervalCeiling != 63 || !sr.FabricFiltered ||
		!reflect.DeepEqual(sr.AttributeRequests, []AttributePath{{Wildcard: WildAll}}) ||
		!reflect.DeepEqual(sr.EventRequests, []EventPath{{Wildcard: WildAll, Urgent: true}}) ||
		!reflect.DeepEqual(sr.EventFilters, []EventFilter{{EventMin: 7}}) ||
		!reflect.DeepEqual(sr.DataVersionFilters, []DataVersionFilter{{Path: ClusterPath{Cluster: 0x28}, DataVersion: 5}}) {
		t.Errorf("SubscribeRequest %+v", sr)
	}
	if r := decoded["SubscribeResponse"].(*SubscribeResponse); *r != (SubscribeResponse{SubscriptionID: 0x12345678, MaxInterval: 60}) {
		t.Errorf("SubscribeResponse %+v", r)
	}
	wr := decoded["WriteRequest"].(*WriteRequest)
	if !wr.TimedRequest || wr.SuppressResponse || !wr.MoreChunkedMessages || len(wr.WriteRequests) != 2 {
		t.Fatalf("WriteRequest %+v", wr)
	}
	if w0 := wr.WriteRequests[0]; !w0.HasDataVersion || w0.DataVersion != 3 || w0.Path != AttrPath(1, 0x1f, 0) || !sameElement(t, w0.Data, emptyArray) {
		t.Errorf("write 0 %+v", w0)
	}
	if w1 := wr.WriteRequests[1]; w1.HasDataVersion || w1.Path.List != ListAppend || !sameElement(t, w1.Data, u32(9)) {
		t.Errorf("write 1 %+v", w1)
	}
	wresp := decoded["WriteResponse"].(*WriteResponse)
	if !reflect.DeepEqual(wresp.WriteResponses, []AttributeStatus{{Path: AttrPath(1, 0x1f, 0)}, {Path: AttrPath(1, 0x1f, 1), Status: Status{Status: dm.StatusUnsupportedWrite}}}) {
		t.Errorf("WriteResponse %+v", wresp)
	}
	ir := decoded["InvokeRequest"].(*InvokeRequest)
	if ir.SuppressResponse || ir.TimedRequest || len(ir.InvokeRequests) != 2 {
		t.Fatalf("InvokeRequest %+v", ir)
	}
	if c := ir.InvokeRequests[0]; c.Path != CmdPath(1, 0x553, 0) || !c.HasRef || c.Ref != 1 || !sameElement(t, c.Fields, fieldsU32S(3, "x")) {
		t.Errorf("command 0 %+v", c)
	}
	if c := ir.InvokeRequests[1]; c.Path != CmdPath(1, 6, 2) || c.Ref != 2 || !sameElement(t, c.Fields, []byte{0x15, 0x18}) {
		t.Errorf("command 1 %+v", c)
	}
	iresp := decoded["InvokeResponse"].(*InvokeResponse)
	if iresp.SuppressResponse || !iresp.MoreChunkedMessages || len(iresp.InvokeResponses) != 2 {
		t.Fatalf("InvokeResponse %+v", iresp)
	}
	if r := iresp.InvokeResponses[0]; r.IsStatus || r.Path != CmdPath(1, 0x553, 1) || r.Ref != 1 || !sameElement(t, r.Fields, fieldsU32S(4, "y")) {
		t.Errorf("response 0 %+v", r)
	}
	if r := iresp.InvokeResponses[1]; !r.IsStatus || r.Path != CmdPath(1, 6, 2) || r.Ref != 2 ||
		r.Status != (Status{Status: dm.StatusFailure, ClusterStatus: 3, HasClusterStatus: true}) {
		t.Errorf("response 1 %+v", r)
	}
	if r := decoded["TimedRequest"].(*TimedRequest); r.Timeout != 500 {
		t.Errorf("TimedRequest %+v", r)
	}
	if r := decoded["StatusResponse"].(*StatusResponse); r.Status != dm.StatusNeedsTimedInteraction {
		t.Errorf("StatusResponse %+v", r)
	}
	rd := decoded["ReportData"].(*ReportData)
	if !rd.HasSubscriptionID || rd.SubscriptionID != 0x42 || !rd.MoreChunkedMessages || rd.SuppressResponse ||
		len(rd.AttributeReports) != 3 || len(rd.EventReports) != 2 {
		t.Fatalf("ReportData %+v", rd)
	}
	if a := rd.AttributeReports[0]; a.IsStatus || a.Data.DataVersion != 7 || a.Data.Path != AttrPath(1, 6, 0) || !sameElement(t, a.Data.Data, []byte{0x10, 3, 1, 2, 3}) {
		t.Errorf("attribute report 0 %+v", a)
	}
	if a := rd.AttributeReports[1]; a.Data.Path.List != ListAppend || !sameElement(t, a.Data.Data, u32(5)) {
		t.Errorf("attribute report 1 %+v", a)
	}
	if a := rd.AttributeReports[2]; !a.IsStatus || a.Status.Path != AttrPath(2, 6, 0) || a.Status.Status.Status != dm.StatusUnsupportedEndpoint {
		t.Errorf("attribute report 2 %+v", a)
	}
	if e := rd.EventReports[0]; e.IsStatus || e.Path != EvPath(1, 0x28, 0) || e.Number != 0x1_0000_0000 || e.Priority != dm.PriorityCritical ||
		e.TimestampKind != EpochTimestamp || e.Timestamp != 1700000000000 || !sameElement(t, e.Data, fieldsU32S(1, "v")) {
		t.Errorf("event report 0 %+v", e)
	}
	if e := rd.EventReports[1]; !e.IsStatus || e.Path != EvPath(1, 0x28, 9) || e.Status.Status != dm.StatusUnsupportedEvent {
		t.Errorf("event report 1 %+v", e)
	}
}

// TestSpecEncoding checks encodings against the schemas of Core §10.6 and
// §10.7 octet by octet, written out by hand.
func TestSpecEncoding(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    wireMessage
		want string
	}{
		// { 0 = 0xC9 (U8), 0xFF = 12 }
		{"StatusResponse", &StatusResponse{Status: dm.StatusTimedRequestMismatch}, "15 2400c9 24ff0c 18"},
		// { 0 = 1000 (U16), 0xFF = 12 }
		{"TimedRequest", &TimedRequest{Timeout: 1000}, "15 2500e803 24ff0c 18"},
		// { 0 = [[2 = 1, 3 = 6, 4 = 0]], 3 = true, 0xFF = 12 }: the path is a
		// list (0x17) inside the array (0x36).
		{"ReadRequest", &ReadRequest{AttributeRequests: []AttributePath{AttrPath(1, 6, 0)}, FabricFiltered: true},
			"15 3600 17 240201 240306 240400 18 18 2903 24ff0c 18"},
		// { 0 = false, 1 = false, 2 = [{ 0 = [[0 = 1, 1 = 6, 2 = 2]] }], 0xFF = 12 }
		{"InvokeRequest", &InvokeRequest{InvokeRequests: []CommandData{{Path: CmdPath(1, 6, 2)}}},
			"15 2800 2801 3602 15 3700 240001 240106 240202 18 18 18 24ff0c 18"},
		// { 0 = 5, 1 = [{ 1 = { 0 = 9, 1 = [[2 = 1, 3 = 6, 4 = 0, 5 = null]], 2 = 1 } }], 3 = true, 0xFF = 12 }
		{"ReportData", &ReportData{SubscriptionID: 5, HasSubscriptionID: true, MoreChunkedMessages: true, AttributeReports: []AttributeReport{
			{Data: AttributeData{DataVersion: 9, HasDataVersion: true, Path: AttributePath{Endpoint: 1, Cluster: 6, List: ListAppend}, Data: []byte{0x04, 0x01}}}}},
			"15 240005 3601 15 3501 240009 3701 240201 240306 240400 3405 18 240201 18 18 18 2903 24ff0c 18"},
		// { 0 = 0x10, 2 = 60, 0xFF = 12 }: tag 1 is not used.
		{"SubscribeResponse", &SubscribeResponse{SubscriptionID: 0x10, MaxInterval: 60}, "15 240010 24023c 24ff0c 18"},
	} {
		b, err := tc.m.AppendTo(nil)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := hex.DecodeString(strings.ReplaceAll(tc.want, " ", ""))
		if !bytes.Equal(b, want) {
			t.Errorf("%s:\n got %x\nwant %x", tc.name, b, want)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	data := fieldsU32S(1, "a")
	for _, m := range roundTripMessages(data) {
		b, err := m.AppendTo(nil)
		if err != nil {
			t.Fatalf("%T: %v", m, err)
		}
		again := reflect.New(reflect.TypeOf(m).Elem()).Interface().(wireMessage)
		if err := again.Unmarshal(b); err != nil {
			t.Fatalf("%T: %v", m, err)
		}
		// Raw values keep their tags on decode (context tags); compare
		// after one more round.
		b2, err := again.AppendTo(nil)
		if err != nil || !bytes.Equal(b, b2) {
			t.Fatalf("%T: not stable: %x / %x, %v", m, b, b2, err)
		}
	}
}

func roundTripMessages(data []byte) []wireMessage {
	return []wireMessage{
		&StatusResponse{Status: dm.StatusBusy},
		&TimedRequest{Timeout: 65535},
		&ReadRequest{
			AttributeRequests:  []AttributePath{{Wildcard: WildAll, WildcardFlags: SkipRootNode}, {Endpoint: 3, Cluster: 0xFFF1FC01, Attribute: 0xFFFB, HasNode: true, Node: 1}},
			EventRequests:      []EventPath{{Wildcard: WildEndpoint, Cluster: 0x28, Event: 0, Urgent: true}},
			EventFilters:       []EventFilter{{EventMin: 3, HasNode: true, Node: 4}},
			FabricFiltered:     true,
			DataVersionFilters: []DataVersionFilter{{Path: ClusterPath{Endpoint: 1, Cluster: 2, HasNode: true, Node: 7}, DataVersion: 0xFFFFFFFF}},
		},
		&SubscribeRequest{KeepSubscriptions: true, MinIntervalFloor: 1, MaxIntervalCeiling: 2, AttributeRequests: []AttributePath{{Wildcard: WildAll}}},
		&SubscribeResponse{SubscriptionID: 1, MaxInterval: 2},
		&ReportData{SubscriptionID: 1, HasSubscriptionID: true, SuppressResponse: true,
			AttributeReports: []AttributeReport{
				{Data: AttributeData{Path: AttrPath(1, 2, 3), Data: data}},
				{IsStatus: true, Status: AttributeStatus{Path: AttrPath(1, 2, 4), Status: Status{Status: dm.StatusFailure, ClusterStatus: 2, HasClusterStatus: true}}},
			},
			EventReports: []EventReport{
				{Path: EvPath(1, 2, 3), Number: 1 << 40, Priority: dm.PriorityDebug, TimestampKind: DeltaSystem, Timestamp: 5, Data: data},
				{Path: EvPath(1, 2, 3), Number: 2},
				{Path: EvPath(1, 2, 4), IsStatus: true, Status: Status{Status: dm.StatusUnsupportedEvent}},
			}},
		&WriteRequest{TimedRequest: true, SuppressResponse: true, WriteRequests: []AttributeData{{Path: AttributePath{Endpoint: 1, Cluster: 2, Attribute: 3, List: ListItem, ListIndex: 4}, Data: data, DataVersion: 1, HasDataVersion: true}}},
		&WriteResponse{WriteResponses: []AttributeStatus{{Path: AttrPath(1, 2, 3)}}},
		&InvokeRequest{SuppressResponse: true, TimedRequest: true, InvokeRequests: []CommandData{{Path: CommandPath{Cluster: 1, Command: 2, WildEndpoint: true}, Fields: data, Ref: 9, HasRef: true}}},
		&InvokeResponse{MoreChunkedMessages: true, InvokeResponses: []InvokeResult{
			{Path: CmdPath(1, 2, 3), Fields: data},
			{IsStatus: true, Path: CmdPath(1, 2, 4), Status: Status{Status: dm.StatusInvalidCommand}, Ref: 1, HasRef: true},
		}},
	}
}

// TestDecodeStrict feeds malformed messages to every decoder: each is
// rejected with ErrMalformed, and unknown context tags are skipped.
func TestDecodeStrict(t *testing.T) {
	h := func(s string) []byte {
		b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	deep := bytes.Repeat([]byte{0x17}, 20)
	deep = append([]byte{0x15, 0x36, 0x00}, deep...)
	many := []byte{0x15, 0x36, 0x00}
	for range MaxDecodedItems + 1 {
		many = append(many, 0x17, 0x18)
	}
	many = append(many, 0x18, 0x29, 0x03, 0x18)
	for _, tc := range []struct {
		name string
		m    wireMessage
		in   []byte
		ok   bool
	}{
		{"status", &StatusResponse{}, h("15 240001 18"), true},
		{"status missing", &StatusResponse{}, h("15 18"), false},
		{"status duplicate", &StatusResponse{}, h("15 240001 240002 18"), false},
		{"status wrong type", &StatusResponse{}, h("15 0c0001 18"), false},
		{"status too large", &StatusResponse{}, h("15 25000001 18"), false},
		{"status unknown tag skipped", &StatusResponse{}, h("15 240001 2c0501 61 18"), true},
		{"status profile tag", &StatusResponse{}, h("15 240001 450100 0100 18"), false},
		{"trailing data", &StatusResponse{}, h("15 240001 18 00"), false},
		{"not a structure", &StatusResponse{}, h("17 240001 18"), false},
		{"tagged message", &StatusResponse{}, h("3501 240001 18"), false},
		{"empty", &StatusResponse{}, nil, false},
		{"truncated", &StatusResponse{}, h("15 2400"), false},
		{"revision wrong type", &StatusResponse{}, h("15 240001 2cff0161 18"), false},
		{"read missing fabric filtered", &ReadRequest{}, h("15 3600 17 18 18 18"), false},
		{"path as a structure", &ReadRequest{}, h("15 3600 15 18 18 2903 18"), false},
		{"path anonymous member", &ReadRequest{}, h("15 3600 17 0401 18 18 2903 18"), false},
		{"path endpoint too large", &ReadRequest{}, h("15 3600 17 26020000 0100 18 18 2903 18"), false},
		{"nested too deep", &ReadRequest{}, deep, false},
		{"too many paths", &ReadRequest{}, many, false},
		{"list index null", &ReadRequest{}, h("15 3600 17 3405 18 18 2903 18"), true},
		{"subscribe missing keep", &SubscribeRequest{}, h("15 240100 240205 2907 18"), false},
		{"attribute report with both", &ReportData{}, h("15 3601 15 3500 3700 18 3501 240000 18 18 3501 3701 18 2402 01 18 18 18 18"), false},
		{"attribute report with neither", &ReportData{}, h("15 3601 15 18 18 18"), false},
		{"event priority 3", &ReportData{}, h("15 3602 15 3501 3700 18 240100 240203 18 18 18 18"), false},
		{"event two timestamps", &ReportData{}, h("15 3602 15 3501 3700 18 240100 240201 240301 240401 18 18 18 18"), false},
		{"invoke missing suppress", &InvokeRequest{}, h("15 2801 3602 18 18"), false},
		{"command path without command", &InvokeRequest{}, h("15 2800 2801 3602 15 3700 240001 240106 18 18 18 18"), false},
		{"write data missing", &WriteRequest{}, h("15 2801 3602 15 3701 18 18 18 18"), false},
		{"cluster path without cluster", &ReadRequest{}, h("15 2903 3604 15 3700 240101 18 240100 18 18 18"), false},
	} {
		err := tc.m.Unmarshal(tc.in)
		if tc.ok != (err == nil) {
			t.Errorf("%s: error %v, want ok %v", tc.name, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v is not ErrMalformed", tc.name, err)
		}
	}
}
