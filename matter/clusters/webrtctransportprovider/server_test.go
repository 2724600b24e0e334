package webrtctransportprovider

import (
	"runtime"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mattercam/mattercam/matter/clusters/field"
	"github.com/mattercam/mattercam/matter/clusters/globals"
	"github.com/mattercam/mattercam/matter/clusters/internal/servetest"
	"github.com/mattercam/mattercam/matter/clusters/webrtctransportdefinitions"
	"github.com/mattercam/mattercam/matter/clusters/webrtctransportrequestor"
	"github.com/mattercam/mattercam/matter/dm"
	"github.com/mattercam/mattercam/matter/tlv"
)

type (
	offerReq  = webrtctransportrequestor.OfferRequest
	answerReq = webrtctransportrequestor.AnswerRequest
	candsReq  = webrtctransportrequestor.ICECandidatesRequest
)

const (
	reasonIceFailed     = webrtctransportdefinitions.WebRTCEndReasonICEFailed
	reasonIceTimeout    = webrtctransportdefinitions.WebRTCEndReasonICETimeout
	reasonHangup        = webrtctransportdefinitions.WebRTCEndReasonUserHangup
	reasonInviteTimeout = webrtctransportdefinitions.WebRTCEndReasonInviteTimeout
	reasonOOR           = webrtctransportdefinitions.WebRTCEndReasonOutOfResources
	reasonMediaTimeout  = webrtctransportdefinitions.WebRTCEndReasonMediaTimeout
	reasonPrivacy       = webrtctransportdefinitions.WebRTCEndReasonPrivacyMode
	reasonUnknown       = webrtctransportdefinitions.WebRTCEndReasonUnknownReason
)

// waitFor lets the bubble settle and checks cond.
func waitFor(h *harness, cond func() bool) {
	h.t.Helper()
	synctest.Wait()
	if !cond() {
		h.t.Fatal("condition not reached once the server was idle")
	}
}

// stateOf returns a live session's state (test helper).
func (s *Server) stateOf(id uint16) state {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sess := range s.sessions {
		if sess.id == id {
			return sess.state
		}
	}
	return 255
}

func wantEnds(t *testing.T, h *harness, want map[uint16]webrtctransportdefinitions.WebRTCEndReason) {
	t.Helper()
	got := map[uint16]webrtctransportdefinitions.WebRTCEndReason{}
	for _, e := range ends(t, h.req) {
		if _, dup := got[e.WebRTCSessionID]; dup {
			t.Errorf("End sent twice for session %d", e.WebRTCSessionID)
		}
		got[e.WebRTCSessionID] = e.Reason
	}
	if len(got) != len(want) {
		t.Fatalf("End commands %v, want %v", got, want)
	}
	for id, r := range want {
		if got[id] != r {
			t.Fatalf("End commands %v, want %v", got, want)
		}
	}
}

func mustOK(t *testing.T, h *harness, req *dm.Request, cmd uint32, in servetest.Encoder) {
	t.Helper()
	if _, err := h.invoke(req, cmd, in); err != nil {
		t.Fatalf("command %#x: %v", cmd, err)
	}
}

// Flow A (spec digest §4.2): SolicitOffer → Offer → ProvideAnswer, trickle
// both ways → EndSession, which sends no End back.
func TestFlowA(t *testing.T) {
	bubble(t, nil, func(t *testing.T, h *harness) {
		h.media.gather = []Candidate{
			candidate("candidate:1 1 udp 2130706431 192.0.2.10 50000 typ host"),
			{Candidate: "candidate:2 1 udp 1694498815 198.51.100.7 50001 typ srflx raddr 192.0.2.10 rport 50000",
				SDPMid: field.NonNull(""), SDPMLineIndex: field.NonNull[uint16](1)},
		}
		var resp SolicitOfferResponse
		servetest.Call(t, h.s, ctrlA, CmdSolicitOffer, &SolicitOfferRequest{
			StreamUsage: globals.StreamUsageLiveView, OriginatingEndpointID: 7,
			VideoStreams: field.Some([]uint16{3}), AudioStreams: field.Some([]uint16{5}),
		}, CmdSolicitOfferResponse, &resp)
		if resp.WebRTCSessionID != 0 || resp.DeferredOffer || resp.VideoStreamID.Present || resp.AudioStreamID.Present {
			t.Fatalf("SolicitOfferResponse %+v; want ID 0 (the first, spec digest §2.3), DeferredOffer false, no deprecated echo", resp)
		}
		if !h.changes.Has(ID, AttrCurrentSessions) {
			t.Error("CurrentSessions not reported after SolicitOffer")
		}
		waitFor(h, func() bool { return h.s.stateOf(0) == stateAwaitingAnswer })

		ms := h.media.session(t, 0)
		if ms.p.Usage != globals.StreamUsageLiveView || !slices.Equal(ms.p.VideoStreams, []uint16{3}) || !slices.Equal(ms.p.AudioStreams, []uint16{5}) {
			t.Errorf("media params %+v", ms.p)
		}
		offers := ofCmd[offerReq](t, h.req, webrtctransportrequestor.CmdOffer)
		if len(offers) != 1 || offers[0].WebRTCSessionID != 0 || offers[0].SDP != "offer-0" || offers[0].ICEServers.Present {
			t.Fatalf("Offer commands %+v", offers)
		}
		if c := h.req.all()[0]; c.peer != (Peer{FabricIndex: 1, NodeID: 0x1111, Endpoint: 7}) {
			t.Errorf("Offer went to %+v", c.peer)
		}
		// The candidates gathered during CreateOffer wait for the batch.
		if got := h.req.cmds(t, 0); len(got) != 1 {
			t.Fatalf("commands before the batch delay: %v", got)
		}
		time.Sleep(candidateBatchDelay)
		synctest.Wait()
		if got := h.req.cmds(t, 0); !slices.Equal(got, []uint32{webrtctransportrequestor.CmdOffer, webrtctransportrequestor.CmdICECandidates}) {
			t.Fatalf("commands %v, want Offer then ICECandidates", got)
		}
		cands := ofCmd[candsReq](t, h.req, webrtctransportrequestor.CmdICECandidates)[0]
		if len(cands.ICECandidates) != 2 || cands.ICECandidates[0] != h.media.gather[0] || cands.ICECandidates[1].SDPMid.Valid {
			t.Errorf("ICECandidates %+v (an empty SDPMid goes as null)", cands)
		}

		// The controller's remote candidates may come before its answer:
		// they are held until the answer is applied.
		mustOK(t, h, ctrlA, CmdProvideICECandidates, &ProvideICECandidatesRequest{WebRTCSessionID: 0, ICECandidates: []Candidate{candidate("candidate:early")}})
		mustOK(t, h, ctrlA, CmdProvideAnswer, &ProvideAnswerRequest{WebRTCSessionID: 0, SDP: "v=0 answer"})
		mustOK(t, h, ctrlA, CmdProvideICECandidates, &ProvideICECandidatesRequest{WebRTCSessionID: 0, ICECandidates: []Candidate{candidate("candidate:late"), {}}})
		// A repeated answer is accepted and not applied again.
		mustOK(t, h, ctrlA, CmdProvideAnswer, &ProvideAnswerRequest{WebRTCSessionID: 0, SDP: "v=0 answer"})
		_, answers, remote, early := ms.remote()
		if !slices.Equal(answers, []string{"v=0 answer"}) || early || len(remote) != 3 ||
			remote[0].Candidate != "candidate:early" || remote[1].Candidate != "candidate:late" || remote[2].Candidate != "" {
			t.Fatalf("media got answers %q, candidates %+v (early %v)", answers, remote, early)
		}
		if st := h.s.stateOf(0); st != stateEstablished {
			t.Fatalf("state %v after the answer", st)
		}

		// Connected: the setup timeout no longer applies.
		ms.p.OnConnected()
		time.Sleep(2 * DefaultSetupTimeout)
		if got := h.ids(); !slices.Equal(got, []uint16{0}) {
			t.Fatalf("sessions %v after the setup timeout of a connected session", got)
		}

		h.changes.Reset()
		mustOK(t, h, ctrlA, CmdEndSession, &EndSessionRequest{WebRTCSessionID: 0, Reason: reasonHangup})
		if len(h.sessions(ctrlA)) != 0 || !h.changes.Has(ID, AttrCurrentSessions) {
			t.Fatal("session still listed, or the change not reported, after EndSession")
		}
		if _, rel, held := h.streams.refs(); rel != 1 || held != 0 {
			t.Fatalf("after EndSession: %d releases, %d references held", rel, held)
		}
		synctest.Wait()
		if ms.closeCount() != 1 {
			t.Fatal("media not closed after EndSession")
		}
		wantEnds(t, h, nil)
		// The session is gone for every command.
		if _, err := h.invoke(ctrlA, CmdEndSession, &EndSessionRequest{WebRTCSessionID: 0}); status(err) != dm.StatusNotFound {
			t.Fatalf("second EndSession: %v", err)
		}
	})
}

// Flow B (spec digest §4.1): ProvideOffer → Answer, trickle, the camera
// ends the session (media: ICE failed) with End.
func TestFlowB(t *testing.T) {
	bubble(t, nil, func(t *testing.T, h *harness) {
		h.media.gather = []Candidate{candidate("candidate:1 1 udp 1 192.0.2.10 5000 typ host"), {}}
		// Rev-1 style: null IDs ask the camera to choose.
		var resp ProvideOfferResponse
		servetest.Call(t, h.s, ctrlB, CmdProvideOffer, &ProvideOfferRequest{
			SDP: "v=0 offer", StreamUsage: field.Some(globals.StreamUsageLiveView), OriginatingEndpointID: field.Some[uint16](2),
			VideoStreamID: nullID(), AudioStreamID: nullID(),
		}, CmdProvideOfferResponse, &resp)
		if resp.WebRTCSessionID != 0 || resp.VideoStreamID != someID(3) || resp.AudioStreamID != someID(5) {
			t.Fatalf("ProvideOfferResponse %+v; want the chosen streams 3 and 5 echoed", resp)
		}
		// Trickle right after the response, possibly before the worker
		// applied the offer.
		mustOK(t, h, ctrlB, CmdProvideICECandidates, &ProvideICECandidatesRequest{WebRTCSessionID: 0, ICECandidates: []Candidate{candidate("candidate:r")}})

		waitFor(h, func() bool { return h.s.stateOf(0) == stateEstablished })
		ms := h.media.session(t, 0)
		offers, _, remote, early := ms.remote()
		if !slices.Equal(offers, []string{"v=0 offer"}) || len(remote) != 1 || early {
			t.Fatalf("media: offers %q, remote candidates %+v, added before the offer %v", offers, remote, early)
		}
		answers := ofCmd[answerReq](t, h.req, webrtctransportrequestor.CmdAnswer)
		if len(answers) != 1 || answers[0] != (answerReq{WebRTCSessionID: 0, SDP: "answer-to:v=0 offer"}) {
			t.Fatalf("Answer commands %+v", answers)
		}
		// End of gathering flushes the batch at once.
		if got := h.req.cmds(t, 0); !slices.Equal(got, []uint32{webrtctransportrequestor.CmdAnswer, webrtctransportrequestor.CmdICECandidates}) {
			t.Fatalf("commands %v", got)
		}
		if c := h.req.all()[0]; c.peer != (Peer{FabricIndex: 2, NodeID: 0x2222, Endpoint: 2}) {
			t.Errorf("Answer went to %+v", c.peer)
		}

		// The entry, as its owner reads it (spec digest §2.3).
		got := h.sessions(ctrlB)
		want := webrtctransportdefinitions.WebRTCSession{ID: 0, PeerNodeID: 0x2222, PeerEndpointID: 2, StreamUsage: globals.StreamUsageLiveView,
			VideoStreamID: someID(3), AudioStreamID: someID(5), VideoStreams: field.Some([]uint16{3}), AudioStreams: field.Some([]uint16{5}), FabricIndex: 2}
		if len(got) != 1 || !sameEntry(got[0], want) {
			t.Fatalf("CurrentSessions %+v, want %+v", got, want)
		}

		ms.p.OnEnd(reasonIceFailed)
		synctest.Wait()
		wantEnds(t, h, map[uint16]webrtctransportdefinitions.WebRTCEndReason{0: reasonIceFailed})
		if len(h.ids()) != 0 || ms.closeCount() != 1 {
			t.Fatal("session not removed and closed after the media ended it")
		}
		if last := h.req.all()[len(h.req.all())-1]; last.cmd != webrtctransportrequestor.CmdEnd {
			t.Fatalf("last command %#x, want End", last.cmd)
		}
	})
}

func sameEntry(a, b webrtctransportdefinitions.WebRTCSession) bool {
	return a.ID == b.ID && a.PeerNodeID == b.PeerNodeID && a.PeerEndpointID == b.PeerEndpointID && a.StreamUsage == b.StreamUsage &&
		a.VideoStreamID == b.VideoStreamID && a.AudioStreamID == b.AudioStreamID && a.MetadataEnabled == b.MetadataEnabled &&
		a.VideoStreams.Present == b.VideoStreams.Present && slices.Equal(a.VideoStreams.Value, b.VideoStreams.Value) &&
		a.AudioStreams.Present == b.AudioStreams.Present && slices.Equal(a.AudioStreams.Value, b.AudioStreams.Value) &&
		a.FabricIndex == b.FabricIndex
}

// Deprecated IDs in SolicitOffer are echoed, with the chosen stream for a
// null one; the session without audio has AudioStreamID null in its entry.
func TestDeprecatedEcho(t *testing.T) {
	bubble(t, nil, func(t *testing.T, h *harness) {
		var resp SolicitOfferResponse
		servetest.Call(t, h.s, ctrlA, CmdSolicitOffer, &SolicitOfferRequest{
			StreamUsage: globals.StreamUsageLiveView, OriginatingEndpointID: 1, VideoStreamID: someID(4),
		}, CmdSolicitOfferResponse, &resp)
		if resp.VideoStreamID != someID(4) || resp.AudioStreamID.Present {
			t.Fatalf("SolicitOfferResponse %+v", resp)
		}
		e := h.sessions(ctrlA)[0]
		if e.VideoStreamID != someID(4) || e.AudioStreamID != field.Some(field.Null[uint16]()) || e.AudioStreams.Present ||
			!slices.Equal(e.VideoStreams.Value, []uint16{4}) {
			t.Fatalf("entry %+v", e)
		}
		servetest.Call(t, h.s, ctrlA, CmdSolicitOffer, &SolicitOfferRequest{
			StreamUsage: globals.StreamUsageLiveView, OriginatingEndpointID: 1, AudioStreamID: nullID(),
		}, CmdSolicitOfferResponse, &resp)
		if resp.AudioStreamID != someID(5) || resp.VideoStreamID.Present {
			t.Fatalf("SolicitOfferResponse %+v", resp)
		}
	})
}

// A re-offer keeps the ID, echoes as asked, and gets a new Answer.
func TestReoffer(t *testing.T) {
	bubble(t, nil, func(t *testing.T, h *harness) {
		id := h.provide(ctrlA, "v=0 one", 3)
		synctest.Wait()
		var resp ProvideOfferResponse
		servetest.Call(t, h.s, ctrlA, CmdProvideOffer, &ProvideOfferRequest{
			WebRTCSessionID: field.NonNull(id), SDP: "v=0 two", VideoStreamID: someID(3),
		}, CmdProvideOfferResponse, &resp)
		if resp.WebRTCSessionID != id || resp.VideoStreamID != someID(3) || resp.AudioStreamID.Present {
			t.Fatalf("re-offer response %+v", resp)
		}
		synctest.Wait()
		offers, _, _, _ := h.media.session(t, id).remote()
		answers := ofCmd[answerReq](t, h.req, webrtctransportrequestor.CmdAnswer)
		if !slices.Equal(offers, []string{"v=0 one", "v=0 two"}) || len(answers) != 2 || answers[1].SDP != "answer-to:v=0 two" {
			t.Fatalf("offers %q, answers %+v", offers, answers)
		}
		if acq, _, _ := h.streams.refs(); acq != 1 || len(h.media.all()) != 1 {
			t.Fatal("a re-offer took new references or a new media session")
		}
		if h.s.stateOf(id) != stateEstablished {
			t.Fatal("not established after the re-offer's answer")
		}
	})
}

// A limit+1 session is refused and the others are untouched; a freed slot
// is usable again. MaxSessions below the minimum is raised to it.
func TestSessionLimit(t *testing.T) {
	bubble(t, nil, func(t *testing.T, h *harness) {
		for i := range DefaultMaxSessions {
			req := ctrlA
			if i%2 == 1 {
				req = ctrlB
			}
			h.solicit(req, globals.StreamUsageLiveView, 3)
		}
		synctest.Wait()
		before := h.req.all()
		_, err := h.invoke(ctrlA, CmdProvideOffer, &ProvideOfferRequest{SDP: "v=0", StreamUsage: field.Some(globals.StreamUsageLiveView),
			OriginatingEndpointID: field.Some[uint16](1), VideoStreams: field.Some([]uint16{3})})
		if status(err) != dm.StatusResourceExhausted {
			t.Fatalf("session %d: %v, want RESOURCE_EXHAUSTED", DefaultMaxSessions+1, err)
		}
		synctest.Wait()
		if got := h.ids(); !slices.Equal(got, []uint16{0, 1, 2, 3, 4}) || len(h.req.all()) != len(before) || h.media.open() != 5 {
			t.Fatalf("sessions %v, %d commands, %d media open after the refusal", got, len(h.req.all()), h.media.open())
		}
		mustOK(t, h, ctrlB, CmdEndSession, &EndSessionRequest{WebRTCSessionID: 1})
		synctest.Wait()
		if id := h.solicit(ctrlA, globals.StreamUsageLiveView, 3); id != 5 {
			t.Fatalf("next session ID %d, want 5", id)
		}
	})
	bubble(t, func(c *Config) { c.MaxSessions = 1 }, func(t *testing.T, h *harness) {
		for range MinSessions {
			h.solicit(ctrlA, globals.StreamUsageLiveView, 3)
		}
		if _, err := h.invoke(ctrlA, CmdSolicitOffer, solicit(nil)); status(err) != dm.StatusResourceExhausted {
			t.Fatalf("session %d with MaxSessions 1: %v", MinSessions+1, err)
		}
	})
}

// IDs count up from 0, wrap after 65534 (65535 is never used) and skip
// live IDs (spec digest §2.3).
func TestSessionIDs(t *testing.T) {
	bubble(t, nil, func(t *testing.T, h *harness) {
		if id := h.solicit(ctrlA, globals.StreamUsageLiveView, 3); id != 0 {
			t.Fatalf("first ID %d", id)
		}
		h.s.mu.Lock()
		h.s.nextID = maxSessionID - 1
		h.s.mu.Unlock()
		var got []uint16
		for range 3 {
			got = append(got, h.solicit(ctrlA, globals.StreamUsageLiveView, 3))
		}
		if !slices.Equal(got, []uint16{65533, 65534, 1}) {
			t.Fatalf("IDs %v, want 65533 65534 1 (0 is live)", got)
		}
	})
}

// Commands on another fabric's or another node's session are NOT_FOUND and
// leave it alone.
func TestForeignSession(t *testing.T) {
	bubble(t, nil, func(t *testing.T, h *harness) {
		id := h.solicit(ctrlA, globals.StreamUsageLiveView, 3)
		synctest.Wait()
		for _, req := range []*dm.Request{ctrlB, ctrlA2} {
			for _, c := range []struct {
				cmd uint32
				in  servetest.Encoder
			}{
				{CmdProvideAnswer, &ProvideAnswerRequest{WebRTCSessionID: id, SDP: "v=0"}},
				{CmdProvideICECandidates, &ProvideICECandidatesRequest{WebRTCSessionID: id, ICECandidates: []Candidate{candidate("c")}}},
				{CmdEndSession, &EndSessionRequest{WebRTCSessionID: id}},
				{CmdProvideOffer, &ProvideOfferRequest{WebRTCSessionID: field.NonNull(id), SDP: "v=0", VideoStreams: field.Some([]uint16{3})}},
			} {
				if _, err := h.invoke(req, c.cmd, c.in); status(err) != dm.StatusNotFound {
					t.Errorf("fabric %d node %#x command %#x: %v, want NOT_FOUND", req.Subject.FabricIndex, req.Subject.NodeID, c.cmd, err)
				}
			}
		}
		_, answers, cands, _ := h.media.session(t, id).remote()
		if len(h.ids()) != 1 || len(answers) != 0 || len(cands) != 0 || h.s.stateOf(id) != stateAwaitingAnswer {
			t.Fatal("a foreign command touched the session")
		}
	})
}

// CurrentSessions: a fabric-filtered read shows the accessor's entries; an
// unfiltered one also lists other fabrics' entries, by fabric index only.
func TestCurrentSessionsRead(t *testing.T) {
	bubble(t, nil, func(t *testing.T, h *harness) {
		h.solicit(ctrlA, globals.StreamUsageLiveView, 3)
		h.solicit(ctrlB, globals.StreamUsageRecording, 4)
		if got := h.sessions(ctrlA); len(got) != 1 || got[0].FabricIndex != 1 || got[0].PeerNodeID != 0x1111 {
			t.Fatalf("fabric 1 filtered: %+v", got)
		}
		if got := h.sessions(ctrlB); len(got) != 1 || got[0].FabricIndex != 2 || got[0].StreamUsage != globals.StreamUsageRecording {
			t.Fatalf("fabric 2 filtered: %+v", got)
		}
		e := servetest.ReadElement(t, h.s, ctrlA, AttrCurrentSessions)
		if e.Type != tlv.TypeArray || len(e.Members) != 2 {
			t.Fatalf("unfiltered read: %+v", e)
		}
		if len(e.Members[0].Members) < 8 {
			t.Errorf("own entry has %d fields", len(e.Members[0].Members))
		}
		other := e.Members[1]
		if len(other.Members) != 1 || other.Members[0].Tag != tlv.ContextTag(254) || other.Members[0].Uint != 2 {
			t.Errorf("other fabric's entry %+v, want only FabricIndex 2", other)
		}
		if err := h.s.WriteAttribute(ctrlA, AttrCurrentSessions, nil, false); status(err) != dm.StatusUnsupportedWrite {
			t.Errorf("write: %v", err)
		}
		if _, err := servetest.ReadErr(h.s, ctrlA, 0x0001); status(err) != dm.StatusUnsupportedAttribute {
			t.Errorf("read of attribute 1: %v", err)
		}
		if h.s.FeatureMap() != 0 || h.s.Meta().Revision != 2 || len(h.s.Meta().Commands) != 5 || len(h.s.Meta().Generated) != 2 {
			t.Error("metadata")
		}
	})
}

// Privacy ends the sessions each mode forbids with End(PrivacyMode) and
// refuses new ones (spec digest §5.6).
func TestPrivacy(t *testing.T) {
	bubble(t, nil, func(t *testing.T, h *harness) {
		h.streams.prioritized = []globals.StreamUsage{globals.StreamUsageLiveView, globals.StreamUsageRecording,
			globals.StreamUsageAnalysis, globals.StreamUsageInternal}
		live := h.solicit(ctrlA, globals.StreamUsageLiveView, 3)
		rec := h.solicit(ctrlA, globals.StreamUsageRecording, 3)
		ana := h.solicit(ctrlB, globals.StreamUsageAnalysis, 4)
		internal := h.solicit(ctrlB, globals.StreamUsageInternal, 4)
		synctest.Wait()

		h.streams.setPrivacy(false, true, false)
		h.s.PrivacyChanged()
		synctest.Wait()
		wantEnds(t, h, map[uint16]webrtctransportdefinitions.WebRTCEndReason{live: reasonPrivacy})
		if _, err := h.invoke(ctrlA, CmdSolicitOffer, solicit(nil)); status(err) != dm.StatusInvalidInState {
			t.Fatalf("LiveView under soft livestream privacy: %v", err)
		}
		h.solicit(ctrlA, globals.StreamUsageRecording, 3) // still allowed: rec2 (ID 4)

		h.streams.setPrivacy(false, true, true)
		h.s.PrivacyChanged()
		synctest.Wait()
		wantEnds(t, h, map[uint16]webrtctransportdefinitions.WebRTCEndReason{live: reasonPrivacy, rec: reasonPrivacy, ana: reasonPrivacy, 4: reasonPrivacy})
		if got := h.ids(); !slices.Equal(got, []uint16{internal}) {
			t.Fatalf("sessions %v, want only the Internal one", got)
		}

		h.streams.setPrivacy(true, true, true)
		h.s.PrivacyChanged()
		synctest.Wait()
		if len(h.ids()) != 0 {
			t.Fatal("hard privacy left a session")
		}
		if e := ends(t, h.req); e[len(e)-1].WebRTCSessionID != internal || e[len(e)-1].Reason != reasonPrivacy {
			t.Fatalf("last End %+v", e[len(e)-1])
		}
		in := solicit(func(in *SolicitOfferRequest) { in.StreamUsage = globals.StreamUsageInternal })
		if _, err := h.invoke(ctrlA, CmdSolicitOffer, in); status(err) != dm.StatusInvalidInState {
			t.Fatalf("Internal under hard privacy: %v", err)
		}
		// Nothing more happens when nothing changed.
		n := len(h.req.all())
		h.s.PrivacyChanged()
		synctest.Wait()
		if len(h.req.all()) != n {
			t.Fatal("PrivacyChanged without sessions sent commands")
		}
	})
}

// RemoveFabric ends that fabric's sessions without End, and drops an End
// still queued for it.
func TestRemoveFabric(t *testing.T) {
	bubble(t, nil, func(t *testing.T, h *harness) {
		a1 := h.solicit(ctrlA, globals.StreamUsageLiveView, 3)
		b := h.solicit(ctrlB, globals.StreamUsageLiveView, 3)
		a2 := h.provide(ctrlA2, "v=0", 3)
		synctest.Wait()

		// Hold the worker in a push to fabric 2 while a1 ends by itself:
		// its End waits behind it.
		gate := make(chan struct{})
		h.req.setGate(gate)
		h.media.session(t, b).p.OnCandidate(Candidate{}) // flushes at once
		synctest.Wait()
		h.media.session(t, a1).p.OnEnd(reasonMediaTimeout)
		h.s.RemoveFabric(1)
		if got := h.ids(); !slices.Equal(got, []uint16{b}) {
			t.Fatalf("sessions %v after RemoveFabric(1)", got)
		}
		close(gate)
		synctest.Wait()
		wantEnds(t, h, nil)
		for _, id := range []uint16{a1, a2} {
			if h.media.session(t, id).closeCount() != 1 {
				t.Errorf("media of session %d not closed", id)
			}
		}
		if h.media.session(t, b).closeCount() != 0 {
			t.Error("fabric 2's session closed")
		}
	})
}

// EndStreams ends the sessions of a stream that went away with
// End(OutOfResources).
func TestEndStreams(t *testing.T) {
	bubble(t, nil, func(t *testing.T, h *harness) {
		s3 := h.solicit(ctrlA, globals.StreamUsageLiveView, 3)
		s4 := h.solicit(ctrlA, globals.StreamUsageLiveView, 4)
		var resp SolicitOfferResponse
		servetest.Call(t, h.s, ctrlB, CmdSolicitOffer, &SolicitOfferRequest{
			StreamUsage: globals.StreamUsageLiveView, OriginatingEndpointID: 1, AudioStreams: field.Some([]uint16{5}),
		}, CmdSolicitOfferResponse, &resp)
		synctest.Wait()
		h.s.EndStreams([]uint16{3}, []uint16{5})
		synctest.Wait()
		wantEnds(t, h, map[uint16]webrtctransportdefinitions.WebRTCEndReason{s3: reasonOOR, resp.WebRTCSessionID: reasonOOR})
		if got := h.ids(); !slices.Equal(got, []uint16{s4}) {
			t.Fatalf("sessions %v", got)
		}
	})
}

// The media side's own ends are forwarded with their reasons.
func TestMediaEndReasons(t *testing.T) {
	bubble(t, nil, func(t *testing.T, h *harness) {
		want := map[uint16]webrtctransportdefinitions.WebRTCEndReason{}
		for _, r := range []webrtctransportdefinitions.WebRTCEndReason{reasonIceFailed, reasonIceTimeout, reasonMediaTimeout, reasonHangup, 200} {
			id := h.provide(ctrlA, "v=0", 3)
			synctest.Wait()
			ms := h.media.session(t, id)
			ms.p.OnEnd(r)
			ms.p.OnEnd(reasonIceFailed) // a second end changes nothing
			if r == 200 {
				r = reasonUnknown
			}
			want[id] = r
		}
		synctest.Wait()
		wantEnds(t, h, want)
	})
}

// The setup timeout: InviteTimeout while the camera's offer is unanswered,
// IceTimeout once offer and answer are done but ICE never connected.
func TestSetupTimeout(t *testing.T) {
	bubble(t, nil, func(t *testing.T, h *harness) {
		a := h.solicit(ctrlA, globals.StreamUsageLiveView, 3)
		b := h.provide(ctrlB, "v=0", 3)
		synctest.Wait()
		time.Sleep(DefaultSetupTimeout - time.Millisecond)
		synctest.Wait()
		if len(h.ids()) != 2 {
			t.Fatal("a session ended before the setup timeout")
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		wantEnds(t, h, map[uint16]webrtctransportdefinitions.WebRTCEndReason{a: reasonInviteTimeout, b: reasonIceTimeout})
		if len(h.ids()) != 0 {
			t.Fatal("sessions left after the setup timeout")
		}
	})
	bubble(t, func(c *Config) { c.SetupTimeout = time.Second }, func(t *testing.T, h *harness) {
		h.solicit(ctrlA, globals.StreamUsageLiveView, 3)
		time.Sleep(time.Second)
		synctest.Wait()
		wantEnds(t, h, map[uint16]webrtctransportdefinitions.WebRTCEndReason{0: reasonInviteTimeout})
	})
}

// A full outbound queue refuses a new session at once, and ends a live
// session whose work does not fit with End(OutOfResources).
func TestQueueOverflow(t *testing.T) {
	bubble(t, func(c *Config) { c.QueueLength = 1 }, func(t *testing.T, h *harness) {
		gate := make(chan struct{})
		h.req.setGate(gate)
		s1 := h.solicit(ctrlA, globals.StreamUsageLiveView, 3) // the worker takes its job and blocks pushing Offer
		synctest.Wait()
		s2 := h.solicit(ctrlA, globals.StreamUsageLiveView, 3) // its job fills the queue
		if _, err := h.invoke(ctrlA, CmdSolicitOffer, solicit(nil)); status(err) != dm.StatusResourceExhausted {
			t.Fatalf("session with a full queue: %v", err)
		}
		if _, err := h.invoke(ctrlA, CmdProvideOffer, &ProvideOfferRequest{WebRTCSessionID: field.NonNull(s1), SDP: "v=0",
			VideoStreams: field.Some([]uint16{3})}); status(err) != dm.StatusInvalidInState {
			t.Fatalf("re-offer: %v", err)
		}
		// s1 gathers a candidate: its batch does not fit.
		h.media.session(t, s1).p.OnCandidate(Candidate{})
		if got := h.ids(); !slices.Equal(got, []uint16{s2}) {
			t.Fatalf("sessions %v after the overflow", got)
		}
		close(gate)
		synctest.Wait()
		wantEnds(t, h, map[uint16]webrtctransportdefinitions.WebRTCEndReason{s1: reasonOOR})
		if got := h.req.cmds(t, s1); !slices.Equal(got, []uint32{webrtctransportrequestor.CmdOffer, webrtctransportrequestor.CmdEnd}) {
			t.Fatalf("s1 commands %v, want Offer then End", got)
		}
	})
}

// A Requestor that cannot be reached, or refuses a push, ends the session;
// End goes out only when the Requestor answered with a status other than
// NOT_FOUND or UNSUPPORTED_ACCESS.
func TestRequestorFailure(t *testing.T) {
	cases := []struct {
		name    string
		err     error
		wantEnd bool
	}{
		{"unreachable", errUnreachable, false},
		{"NOT_FOUND", statusErr(dm.StatusNotFound), false},
		{"UNSUPPORTED_ACCESS", statusErr(dm.StatusUnsupportedAccess), false},
		{"FAILURE", statusErr(dm.StatusFailure), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bubble(t, nil, func(t *testing.T, h *harness) {
				h.req.setRespond(func(c call, n int) error {
					if c.cmd == webrtctransportrequestor.CmdEnd {
						return nil
					}
					return tc.err
				})
				id := h.solicit(ctrlA, globals.StreamUsageLiveView, 3)
				time.Sleep(time.Second) // past any retry
				synctest.Wait()
				if len(h.ids()) != 0 || h.media.session(t, id).closeCount() != 1 {
					t.Fatal("session not ended after the failed Offer")
				}
				if _, rel, held := h.streams.refs(); rel != 1 || held != 0 {
					t.Fatalf("%d releases, %d held", rel, held)
				}
				if tc.wantEnd {
					wantEnds(t, h, map[uint16]webrtctransportdefinitions.WebRTCEndReason{id: reasonUnknown})
				} else {
					wantEnds(t, h, nil)
				}
			})
		})
	}
}

func statusErr(s dm.Status) error { return &dm.StatusError{Status: s} }

// A NOT_FOUND for the very first Offer is retried: the Requestor may not
// have stored the session from our response yet (controller.md §3).
func TestFirstPushRetry(t *testing.T) {
	bubble(t, nil, func(t *testing.T, h *harness) {
		var at []time.Time
		h.req.setRespond(func(c call, n int) error {
			at = append(at, time.Now())
			if n < firstPushRetries {
				return statusErr(dm.StatusNotFound)
			}
			return nil
		})
		id := h.solicit(ctrlA, globals.StreamUsageLiveView, 3)
		time.Sleep(time.Second)
		synctest.Wait()
		offers := ofCmd[offerReq](t, h.req, webrtctransportrequestor.CmdOffer)
		if len(offers) != firstPushRetries+1 || !slices.Equal(h.ids(), []uint16{id}) {
			t.Fatalf("%d Offers, sessions %v", len(offers), h.ids())
		}
		if d := at[len(at)-1].Sub(at[0]); d != firstPushRetries*firstPushRetryDelay {
			t.Errorf("retries took %v", d)
		}
		calls := h.req.all()
		for _, c := range calls[1:] {
			if string(c.fields) != string(calls[0].fields) {
				t.Errorf("retry differs: %x vs %x", c.fields, calls[0].fields)
			}
		}
		// Later pushes are not retried: a NOT_FOUND for ICECandidates ends
		// the session, without End.
		h.req.setRespond(func(call, int) error { return statusErr(dm.StatusNotFound) })
		h.media.session(t, id).p.OnCandidate(Candidate{})
		synctest.Wait()
		if len(h.ids()) != 0 || len(ofCmd[candsReq](t, h.req, webrtctransportrequestor.CmdICECandidates)) != 1 {
			t.Fatal("ICECandidates retried or the session kept")
		}
		wantEnds(t, h, nil)
	})
	// NOT_FOUND every time: given up after the retries.
	bubble(t, nil, func(t *testing.T, h *harness) {
		h.req.setRespond(func(call, int) error { return statusErr(dm.StatusNotFound) })
		h.provide(ctrlA, "v=0", 3)
		synctest.Wait()
		time.Sleep(time.Second)
		if n := len(h.req.all()); n != firstPushRetries+1 || len(h.ids()) != 0 {
			t.Fatalf("%d Answers, %d sessions", n, len(h.ids()))
		}
	})
}

// An EndSession during the retry wait stops the retries.
func TestEndDuringRetry(t *testing.T) {
	bubble(t, nil, func(t *testing.T, h *harness) {
		h.req.setRespond(func(call, int) error { return statusErr(dm.StatusNotFound) })
		id := h.solicit(ctrlA, globals.StreamUsageLiveView, 3)
		synctest.Wait()
		mustOK(t, h, ctrlA, CmdEndSession, &EndSessionRequest{WebRTCSessionID: id})
		time.Sleep(time.Second)
		synctest.Wait()
		if n := len(h.req.all()); n != 1 {
			t.Fatalf("%d commands, want the one Offer", n)
		}
	})
}

// The media side failing to make the offer or answer ends the session with
// End, OutOfResources when it ran out of resources.
func TestMediaFailure(t *testing.T) {
	bubble(t, nil, func(t *testing.T, h *harness) {
		h.media.acceptErr = ErrNoResources
		id := h.provide(ctrlA, "v=0", 3)
		synctest.Wait()
		wantEnds(t, h, map[uint16]webrtctransportdefinitions.WebRTCEndReason{id: reasonOOR})
		if got := h.req.cmds(t, id); !slices.Equal(got, []uint32{webrtctransportrequestor.CmdEnd}) {
			t.Fatalf("commands %v", got)
		}
	})
	bubble(t, nil, func(t *testing.T, h *harness) {
		h.media.offerErr = errUnreachable
		id := h.solicit(ctrlA, globals.StreamUsageLiveView, 3)
		synctest.Wait()
		wantEnds(t, h, map[uint16]webrtctransportdefinitions.WebRTCEndReason{id: reasonUnknown})
	})
}

// Open errors map to statuses and take nothing.
func TestOpenFailure(t *testing.T) {
	bubble(t, nil, func(t *testing.T, h *harness) {
		h.media.openErr = ErrUnsupportedMedia
		if _, err := h.invoke(ctrlA, CmdSolicitOffer, solicit(nil)); status(err) != dm.StatusDynamicConstraintError {
			t.Fatalf("%v", err)
		}
		h.media.openErr = errUnreachable
		if _, err := h.invoke(ctrlA, CmdSolicitOffer, solicit(nil)); status(err) != dm.StatusFailure {
			t.Fatalf("%v", err)
		}
		if acq, rel, _ := h.streams.refs(); acq != 2 || rel != 2 {
			t.Fatalf("%d acquires, %d releases", acq, rel)
		}
		h.media.openErr = nil
		if id := h.solicit(ctrlA, globals.StreamUsageLiveView, 3); id != 0 {
			t.Fatalf("ID %d after failed creations, want 0 again", id)
		}
	})
}

// Close ends live sessions without End, releases their streams, closes
// their media and leaves no goroutine behind (counted without synctest).
func TestCloseNoLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	h := newHarness(t, nil)
	h.media.gather = []Candidate{candidate("c")}
	h.solicit(ctrlA, globals.StreamUsageLiveView, 3)
	h.provide(ctrlB, "v=0", 3)
	deadline := time.Now().Add(5 * time.Second)
	for len(h.req.all()) < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	h.finish()
	if len(ends(t, h.req)) != 0 {
		t.Fatal("Close sent End")
	}
	if _, err := h.invoke(ctrlA, CmdSolicitOffer, solicit(nil)); status(err) != dm.StatusFailure {
		t.Fatalf("SolicitOffer after Close: %v", err)
	}
	h.s.PrivacyChanged()
	h.s.RemoveFabric(1)
	if err := h.s.Close(); err != nil {
		t.Fatal(err)
	}
	for time.Now().Before(deadline) && runtime.NumGoroutine() > before {
		time.Sleep(time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("%d goroutines after Close, %d before", n, before)
	}
}

// Close while the worker waits on a Requestor aborts the push.
func TestCloseDuringPush(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, nil)
		h.req.setGate(make(chan struct{})) // never opened
		h.solicit(ctrlA, globals.StreamUsageLiveView, 3)
		synctest.Wait()
		h.finish()
	})
}

func TestConfig(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Error("New without hooks")
	}
	for _, c := range []Config{{MaxSessions: maxSessionsLimit + 1}, {QueueLength: -1}, {QueueLength: maxQueueLength + 1}} {
		c.Media, c.Streams, c.Requestor = &fakeMedia{}, newFakeStreams(), &fakeRequestor{}
		if s, err := New(c); err == nil {
			s.Close()
			t.Errorf("New(%+v) accepted", c)
		}
	}
}
