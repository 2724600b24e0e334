package securechannel

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"testing"
	"time"

	"github.com/mattercam/mattercam/matter/message"
	"github.com/mattercam/mattercam/matter/session"
)

// Messages of a real commissioning, recorded on the wire between chip-tool
// (the SDK's commissioner: PBKDFParamRequest, Pake1, Pake3, Sigma1) and
// CircuitMatter (the device: PBKDFParamResponse, Pake2, the StatusReport),
// as published in adafruit/circuitmatter,
// test_data/chip_tool_recorded_packets.jsonl. Each is a complete Matter
// message, header included, base64 as recorded.
var recorded = map[string]string{
	"PBKDFParamRequest":  "BAAAAHBlMQESRzKm3Jmn3gUgybMAABUwASCVnrJMJZg27m/MdpCzm1Il9BiTXIb0JemgIepSTstKfSUC1WIkAwAoBDUFJQH0ASUCLAElA6APJAQSJAULJgYAAAQBJAcBGBg=",
	"PBKDFParamResponse": "AQAAAEgxXAoSRzKm3Jmn3gIhybMAAHBlMQEVMAEglZ6yTCWYNu5vzHaQs5tSJfQYk1yG9CXpoCHqUk7LSn0wAiBJ5z/AS68ARgEqI0rVMDang5q1ORT76K+sOCX2C4HqhyQDATUEJQEQJzACIObgj9CEx2MyPagRHuoX1OB32N8u1aKUpNKjb4b854YkGBg=",
	"Pake1":              "BAAAAHFlMQESRzKm3Jmn3gUiybMAABUwAUEE/b5rkRujADADogRc4puFH+ZoHAXV5Y/3Q4BCbMxmBbgfAntLB5O/uXbnsLXe3BK8TGVTrHGUizvv2gxzayMukBg=",
	"Pake2":              "AQAAAEkxXAoSRzKm3Jmn3gIjybMAAHFlMQEVMAFBBMtMhJl9imP+5azSFT3tnNgAN4Con7NLtW4dsELfiwhu6loCkTV0x0TwFkqetx4BevlkBVCSpp7psFUvRL5DLlQwAiAbqK3KzHnH8M0o2dNtRa2jydEKRC2ZcDStL3iEDhoGtxg=",
	"Pake3":              "BAAAAHJlMQESRzKm3Jmn3gUkybMAABUwASBNYZLDvbYqUSpZ9HW+KrxeYOh7eMXSP0wEzHGV0njsfxg=",
	"StatusReport":       "AQAAAEoxXAoSRzKm3Jmn3gJAybMAAHJlMQEAAAAAAAAAAA==",
	"Sigma1":             "BAAAAHNlMQHg1I/dvZXlDgUw1LMAABUwASBEvWT04a2O6wCabcJg8T1n0PUHkp6daA/F8/fLGiXg5CUC1mIwAyB3kvKKiCysPNE57FGuLrsOiNiGKuRvBqVt1urDapuEXDAEQQSTApMCcUbajWMSQGFh+X0J80Qq46+A6dNwH6U0ji05bRQ+LmuGzhspT2lnfCQe20Tb8tIdDFHJzwzPgs2+fK15NQUlAfQBJQIsASUDoA8kBBIkBQsmBgAABAEkBwEYGA==",
}

// recordedPayload strips the message and protocol headers of a recorded
// message and checks its opcode.
func recordedPayload(t *testing.T, name string, op Opcode) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(recorded[name])
	if err != nil {
		t.Fatal(err)
	}
	var h message.Header
	n, err := h.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	var ph message.ProtocolHeader
	k, err := ph.Decode(b[n:])
	if err != nil {
		t.Fatal(err)
	}
	if ph.ProtocolID != message.ProtocolSecureChannel || Opcode(ph.Opcode) != op {
		t.Fatalf("%s: protocol %v opcode %#x", name, ph.ProtocolID, ph.Opcode)
	}
	return b[n+k:]
}

func unhex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// chipToolParams are the session parameters chip-tool (SDK 1.4) sends.
var chipToolParams = session.Params{
	IdleInterval:             500 * time.Millisecond,
	ActiveInterval:           300 * time.Millisecond,
	ActiveThreshold:          4000 * time.Millisecond,
	DataModelRevision:        18,
	InteractionModelRevision: 11,
	SpecificationVersion:     0x0104_0000,
	MaxPathsPerInvoke:        1,
}

// TestRecordedPASE decodes each recorded PASE message, checks its fields,
// and re-encodes it to the same octets: our TLV layout and integer widths
// are the SDK's.
func TestRecordedPASE(t *testing.T) {
	reqRaw := recordedPayload(t, "PBKDFParamRequest", OpPBKDFParamRequest)
	var req PBKDFParamRequest
	if err := req.Unmarshal(reqRaw); err != nil {
		t.Fatal(err)
	}
	wantRandom := unhex("959eb24c259836ee6fcc7690b39b5225f418935c86f425e9a021ea524ecb4a7d")
	if !bytes.Equal(req.InitiatorRandom[:], wantRandom) || req.InitiatorSessionID != 0x62d5 || req.PasscodeID != 0 ||
		req.HasPBKDFParameters || !req.HasParams || req.Params != chipToolParams {
		t.Fatalf("PBKDFParamRequest %+v", req)
	}
	reencode(t, "PBKDFParamRequest", reqRaw, req.AppendTo)

	respRaw := recordedPayload(t, "PBKDFParamResponse", OpPBKDFParamResponse)
	var resp PBKDFParamResponse
	if err := resp.Unmarshal(respRaw); err != nil {
		t.Fatal(err)
	}
	if resp.InitiatorRandom != req.InitiatorRandom || resp.ResponderSessionID != 1 || !resp.HasPBKDFParameters ||
		resp.Iterations != 10000 || len(resp.Salt) != 32 || resp.HasParams {
		t.Fatalf("PBKDFParamResponse %+v", resp)
	}
	reencode(t, "PBKDFParamResponse", respRaw, resp.AppendTo)

	var p1 Pake1
	raw := recordedPayload(t, "Pake1", OpPake1)
	if err := p1.Unmarshal(raw); err != nil || p1.PA[0] != 4 {
		t.Fatalf("Pake1 %x: %v", p1.PA, err)
	}
	reencode(t, "Pake1", raw, p1.AppendTo)
	var p2 Pake2
	raw = recordedPayload(t, "Pake2", OpPake2)
	if err := p2.Unmarshal(raw); err != nil || p2.PB[0] != 4 {
		t.Fatalf("Pake2 %x: %v", p2.PB, err)
	}
	reencode(t, "Pake2", raw, p2.AppendTo)
	var p3 Pake3
	raw = recordedPayload(t, "Pake3", OpPake3)
	if err := p3.Unmarshal(raw); err != nil {
		t.Fatal(err)
	}
	reencode(t, "Pake3", raw, p3.AppendTo)

	raw = recordedPayload(t, "StatusReport", OpStatusReport)
	var sr StatusReport
	if err := sr.Unmarshal(raw); err != nil || !sr.Success() || sr.ProtocolData != nil {
		t.Fatalf("StatusReport %v: %v", sr, err)
	}
	if got := statusSuccess.AppendTo(nil); !bytes.Equal(got, raw) {
		t.Fatalf("StatusReport %x, recorded %x", got, raw)
	}
}

func TestRecordedSigma1(t *testing.T) {
	raw := recordedPayload(t, "Sigma1", OpSigma1)
	var m Sigma1
	if err := m.Unmarshal(raw); err != nil {
		t.Fatal(err)
	}
	if m.InitiatorSessionID != 0x62d6 || m.HasResumption || !m.HasParams || m.Params != chipToolParams ||
		!bytes.Equal(m.DestinationID[:], unhex("7792f28a882cac3cd139ec51ae2ebb0e88d8862ae46f06a56dd6eac36a9b845c")) ||
		m.InitiatorEphPubKey[0] != 4 {
		t.Fatalf("Sigma1 %+v", m)
	}
	reencode(t, "Sigma1", raw, m.AppendTo)
}

func reencode(t *testing.T, name string, want []byte, appendTo func([]byte) ([]byte, error)) {
	t.Helper()
	got, err := appendTo(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s re-encoded:\n got %x\nwant %x", name, got, want)
	}
}

// TestDestinationIDVector checks the worked example of the Destination
// Identifier in the CASE section of the Core specification (§4.14.2.3),
// as the SDK's TestCASESession DestinationIdTest reproduces it.
func TestDestinationIDVector(t *testing.T) {
	root := unhex("044a9f42b1ca4840d37292bbc7f6a7e11e22200c976fc900dbc98a7a383a641cb8254a2e56d4e295a847943b4e3897c4a773e930277b4d9fbede8a052686bfacfa")
	ipk := unhex("9bc61cd9c62a2df6d64dfcaa9dc472d4")
	random := unhex("7e171231568dfa17206b3accf8faec2f4d21b580113196f47c7c4deb810a73dc")
	want := unhex("dc35dd5fc9134cc5544538c9c3fc4297c1ec3370c839136a80e10796451d4c53")
	got, err := DestinationID(ipk, random, root, 0x2906C908D115D362, 0xCD5544AA7B13EF14)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got[:], want) {
		t.Fatalf("destination ID %x, want %x", got, want)
	}
	if other, _ := DestinationID(ipk, random, root, 0x2906C908D115D362, 0xCD5544AA7B13EF15); other == got {
		t.Fatal("node ID does not enter the destination ID")
	}
	if _, err := DestinationID(ipk[:15], random, root, 1, 1); err == nil {
		t.Fatal("short IPK accepted")
	}
}

// TestStatusReportEncoding checks the StatusReport layout of Appendix D
// (all fields little-endian; ProtocolId with the Vendor ID in its upper 16
// bits), the Busy report the SDK's TestStatusReport builds (5000 ms), and
// the decoding of reports from other protocols.
func TestStatusReportEncoding(t *testing.T) {
	for _, tc := range []struct {
		name string
		sr   StatusReport
		hex  string
	}{
		{"success", statusSuccess, "0000" + "00000000" + "0000"},
		{"invalid parameter", statusInvalidParam, "0100" + "00000000" + "0200"},
		{"no shared roots", statusNoSharedRoot, "0100" + "00000000" + "0100"},
		{"close session", statusCloseSession, "0000" + "00000000" + "0300"},
		{"busy 5 s", BusyStatus(5 * time.Second), "0800" + "00000000" + "0400" + "8813"},
		{"vendor protocol", StatusReport{GeneralCode: GeneralUnsupported, ProtocolVendorID: 0xFFF1, ProtocolID: 0x1234, ProtocolCode: 7, ProtocolData: []byte{1, 2, 3}},
			"0500" + "3412f1ff" + "0700" + "010203"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.sr.AppendTo(nil)
			if hex.EncodeToString(b) != tc.hex {
				t.Fatalf("encoded %x, want %s", b, tc.hex)
			}
			var got StatusReport
			if err := got.Unmarshal(b); err != nil {
				t.Fatal(err)
			}
			if got.String() != tc.sr.String() || !bytes.Equal(got.ProtocolData, tc.sr.ProtocolData) {
				t.Fatalf("decoded %v, want %v", got, tc.sr)
			}
		})
	}
	if d, ok := BusyStatus(5 * time.Second).MinimumWait(); !ok || d != 5*time.Second {
		t.Fatalf("busy wait %v %v", d, ok)
	}
	if d, ok := BusyStatus(time.Hour).MinimumWait(); !ok || d != 0xFFFF*time.Millisecond {
		t.Fatalf("busy wait clamps to %v %v", d, ok)
	}
	var sr StatusReport
	if err := sr.Unmarshal(unhex("00000000000000")); err == nil {
		t.Fatal("7-octet report accepted")
	}
}
