package webrtctransportprovider

import (
	"errors"
	"testing"

	"github.com/mattercam/mattercam/matter/clusters/field"
	"github.com/mattercam/mattercam/matter/clusters/globals"
	"github.com/mattercam/mattercam/matter/clusters/internal/clustertest"
	"github.com/mattercam/mattercam/matter/dm"
	"github.com/mattercam/mattercam/matter/tlv"
)

var fuzzCommands = []uint32{CmdSolicitOffer, CmdProvideOffer, CmdProvideAnswer, CmdProvideICECandidates, CmdEndSession}

// FuzzInvoke feeds arbitrary fields to every command's Invoke path, as
// the IM engine hands them over (a TLV structure, or none), on a server
// that already holds a session of each flow. Nothing may panic, the session
// table stays within its limit, and every reference taken is given back.
func FuzzInvoke(f *testing.F) {
	seeds := []clustertest.Codec{
		&SolicitOfferRequest{StreamUsage: globals.StreamUsageLiveView, OriginatingEndpointID: 1, VideoStreams: field.Some([]uint16{3}),
			ICEServers: field.Some([]ICEServer{{URLs: []string{"turns:relay.example:443"}, Username: field.Some("u"), CAID: field.Some[uint16](1)}})},
		&ProvideOfferRequest{SDP: "v=0", StreamUsage: field.Some(globals.StreamUsageLiveView), OriginatingEndpointID: field.Some[uint16](1),
			VideoStreamID: field.Some(field.Null[uint16]()), AudioStreamID: field.Some(field.NonNull[uint16](5))},
		&ProvideOfferRequest{WebRTCSessionID: field.NonNull[uint16](1), SDP: "v=0 again", VideoStreams: field.Some([]uint16{3})},
		&ProvideAnswerRequest{WebRTCSessionID: 0, SDP: "v=0 answer"},
		&ProvideICECandidatesRequest{WebRTCSessionID: 1, ICECandidates: []Candidate{candidate("candidate:1 1 udp 1 192.0.2.1 9 typ host"), {}}},
		&EndSessionRequest{WebRTCSessionID: 0, Reason: reasonHangup},
	}
	cmds := []uint8{0, 1, 1, 2, 3, 4}
	for i, v := range seeds {
		b, err := clustertest.Encode(v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(cmds[i], b)
		f.Add(cmds[i]+5, b) // from the other fabric
	}
	f.Add(uint8(0), []byte{})
	f.Add(uint8(1), []byte{0x15, 0x18})

	f.Fuzz(func(t *testing.T, sel uint8, data []byte) {
		h := newHarness(t, nil)
		h.streams.prioritized = append(h.streams.prioritized, globals.StreamUsageAnalysis, globals.StreamUsageInternal)
		h.solicit(ctrlA, globals.StreamUsageLiveView, 3)
		h.provide(ctrlA, "v=0", 3)

		cmd := fuzzCommands[int(sel)%len(fuzzCommands)]
		req := ctrlA
		if sel/uint8(len(fuzzCommands))%2 == 1 {
			req = ctrlB
		}
		for range 2 {
			var r *tlv.Reader
			if len(data) > 0 {
				r = tlv.NewReader(data)
				// The IM engine passes a fields structure or nothing.
				if r.Next() != nil || r.Type() != tlv.TypeStructure {
					h.finish()
					return
				}
			}
			var resp dm.CommandResponse
			err := h.s.Invoke(req, cmd, r, &resp)
			// Any status may be right for arbitrary fields, but a failure
			// must carry one, and only a success a response.
			var se *dm.StatusError
			switch {
			case err != nil && (!errors.As(err, &se) || se.Status == dm.StatusSuccess):
				t.Fatalf("command %#x failed without a failure status: %v", cmd, err)
			case err != nil && resp.Fields != nil:
				t.Fatalf("command %#x failed (%v) with a response", cmd, err)
			case err == nil && (cmd == CmdSolicitOffer || cmd == CmdProvideOffer) && resp.Fields == nil:
				t.Fatalf("command %#x succeeded without a response", cmd)
			}
			if n := len(h.ids()); n > h.s.cfg.MaxSessions {
				t.Fatalf("%d sessions, limit %d", n, h.s.cfg.MaxSessions)
			}
		}
		h.finish()
	})
}
