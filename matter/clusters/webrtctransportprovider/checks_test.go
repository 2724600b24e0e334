package webrtctransportprovider

import (
	"strings"
	"testing"

	"github.com/mattercam/mattercam/matter/clusters/field"
	"github.com/mattercam/mattercam/matter/clusters/globals"
	"github.com/mattercam/mattercam/matter/clusters/internal/servetest"
	"github.com/mattercam/mattercam/matter/clusters/webrtctransportdefinitions"
	"github.com/mattercam/mattercam/matter/dm"
	"github.com/mattercam/mattercam/matter/tlv"
)

// checkCase is one row of a check-order table: a request built so that one
// check fails (or, in the order rows, two checks, the earlier of which
// must answer).
type checkCase struct {
	name  string
	setup func(h *harness) // optional: state that makes the check fail
	edit  func(*Config)
	req   *dm.Request // nil: ctrlA
	cmd   uint32
	in    servetest.Encoder
	want  dm.Status
}

func runChecks(t *testing.T, cases []checkCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bubble(t, tc.edit, func(t *testing.T, h *harness) {
				if tc.setup != nil {
					tc.setup(h)
				}
				before := len(h.ids())
				req := tc.req
				if req == nil {
					req = ctrlA
				}
				resp, err := h.invoke(req, tc.cmd, tc.in)
				if got := status(err); got != tc.want {
					t.Fatalf("status %v (%v), want %v", got, err, tc.want)
				}
				if tc.want != dm.StatusSuccess && resp.Fields != nil {
					t.Errorf("a response command with a failure: %x", resp.Fields)
				}
				if tc.want != dm.StatusSuccess && (tc.cmd == CmdSolicitOffer || tc.cmd == CmdProvideOffer) {
					if after := len(h.ids()); after != before {
						t.Errorf("failed offer changed the session table: %d → %d sessions", before, after)
					}
				}
			})
		})
	}
}

func servers(urls ...string) field.Optional[[]ICEServer] {
	return field.Some([]ICEServer{{URLs: urls}})
}

func solicit(edit func(*SolicitOfferRequest)) *SolicitOfferRequest {
	in := &SolicitOfferRequest{
		StreamUsage:           globals.StreamUsageLiveView,
		OriginatingEndpointID: requestorEP,
		VideoStreams:          field.Some([]uint16{3}),
		AudioStreams:          field.Some([]uint16{5}),
	}
	if edit != nil {
		edit(in)
	}
	return in
}

// nullID is a deprecated stream ID field sent as null ("automatic").
func nullID() field.Optional[field.Nullable[uint16]] { return field.Some(field.Null[uint16]()) }

func someID(v uint16) field.Optional[field.Nullable[uint16]] { return field.Some(field.NonNull(v)) }

func fill(n int) string { return strings.Repeat("x", n) }

func fullTable(h *harness) {
	for range DefaultMaxSessions {
		h.solicit(ctrlB, globals.StreamUsageLiveView, 3)
	}
}

// The shared checks 1–13 of spec digest §2.4, each as a SolicitOffer and as
// a new-session ProvideOffer; one row per check (some checks have several
// ways to fail), in the digest's order.
func offerCheckRows(cmd uint32) []checkCase {
	type edit = func(*SolicitOfferRequest)
	rows := []struct {
		name  string
		setup func(h *harness)
		edit  edit
		want  dm.Status
	}{
		{"1 unknown StreamUsage", nil, func(in *SolicitOfferRequest) { in.StreamUsage = 4 }, dm.StatusConstraintError},
		{"2 no stream field", nil, func(in *SolicitOfferRequest) {
			in.VideoStreams, in.AudioStreams = field.Optional[[]uint16]{}, field.Optional[[]uint16]{}
		}, dm.StatusInvalidCommand},
		{"3 eleven ICE servers", nil, func(in *SolicitOfferRequest) {
			in.ICEServers = field.Some(make([]ICEServer, 11))
			for i := range in.ICEServers.Value {
				in.ICEServers.Value[i].URLs = []string{"stun:a"}
			}
		}, dm.StatusConstraintError},
		{"3 eleven URLs", nil, func(in *SolicitOfferRequest) {
			in.ICEServers = servers("stun:1", "stun:2", "stun:3", "stun:4", "stun:5", "stun:6", "stun:7", "stun:8", "stun:9", "stun:10", "stun:11")
		}, dm.StatusConstraintError},
		{"3 URL over 2000", nil, func(in *SolicitOfferRequest) { in.ICEServers = servers("stun:" + fill(1996)) }, dm.StatusConstraintError},
		{"3 Username over 508", nil, func(in *SolicitOfferRequest) {
			in.ICEServers = field.Some([]ICEServer{{URLs: []string{"turn:a"}, Username: field.Some(fill(509))}})
		}, dm.StatusConstraintError},
		{"3 Credential over 512", nil, func(in *SolicitOfferRequest) {
			in.ICEServers = field.Some([]ICEServer{{URLs: []string{"turn:a"}, Credential: field.Some(fill(513))}})
		}, dm.StatusConstraintError},
		{"3 CAID 65535", nil, func(in *SolicitOfferRequest) {
			in.ICEServers = field.Some([]ICEServer{{URLs: []string{"turn:a"}, CAID: field.Some[uint16](65535)}})
		}, dm.StatusConstraintError},
		{"3 URL scheme", nil, func(in *SolicitOfferRequest) { in.ICEServers = servers("https://stun.example") }, dm.StatusConstraintError},
		{"4 ICETransportPolicy over 16", nil, func(in *SolicitOfferRequest) { in.ICETransportPolicy = field.Some(fill(17)) }, dm.StatusConstraintError},
		{"5 hard privacy", func(h *harness) { h.streams.setPrivacy(true, false, false) }, nil, dm.StatusInvalidInState},
		{"5 soft livestream privacy, LiveView", func(h *harness) { h.streams.setPrivacy(false, true, false) }, nil, dm.StatusInvalidInState},
		{"5 soft recording privacy, Recording", func(h *harness) { h.streams.setPrivacy(false, false, true) },
			func(in *SolicitOfferRequest) { in.StreamUsage = globals.StreamUsageRecording }, dm.StatusInvalidInState},
		{"6 usage not prioritised", nil, func(in *SolicitOfferRequest) { in.StreamUsage = globals.StreamUsageAnalysis }, dm.StatusDynamicConstraintError},
		{"7 IDs and lists", nil, func(in *SolicitOfferRequest) { in.VideoStreamID = someID(3) }, dm.StatusInvalidCommand},
		{"8 null video ID, no video allocated", func(h *harness) { h.streams.video = nil }, func(in *SolicitOfferRequest) {
			in.VideoStreams, in.AudioStreams, in.VideoStreamID = field.Optional[[]uint16]{}, field.Optional[[]uint16]{}, nullID()
		}, dm.StatusInvalidInState},
		{"8 null audio ID, no audio allocated", func(h *harness) { h.streams.audio = nil }, func(in *SolicitOfferRequest) {
			in.VideoStreams, in.AudioStreams = field.Optional[[]uint16]{}, field.Optional[[]uint16]{}
			in.VideoStreamID, in.AudioStreamID = someID(3), nullID()
		}, dm.StatusInvalidInState},
		{"9 video ID not allocated", nil, func(in *SolicitOfferRequest) {
			in.VideoStreams, in.AudioStreams, in.VideoStreamID = field.Optional[[]uint16]{}, field.Optional[[]uint16]{}, someID(9)
		}, dm.StatusDynamicConstraintError},
		{"10 VideoStreams, no video allocated", func(h *harness) { h.streams.video = nil }, nil, dm.StatusInvalidInState},
		{"10 AudioStreams, no audio allocated", func(h *harness) { h.streams.audio = nil }, nil, dm.StatusInvalidInState},
		{"11 duplicate in VideoStreams", nil, func(in *SolicitOfferRequest) { in.VideoStreams = field.Some([]uint16{3, 3}) }, dm.StatusAlreadyExists},
		{"12 VideoStreams entry not allocated", nil, func(in *SolicitOfferRequest) { in.VideoStreams = field.Some([]uint16{3, 9}) }, dm.StatusDynamicConstraintError},
		{"12 AudioStreams entry not allocated", nil, func(in *SolicitOfferRequest) { in.AudioStreams = field.Some([]uint16{6}) }, dm.StatusDynamicConstraintError},
		{"13 turns: without UTC time", nil, func(in *SolicitOfferRequest) { in.ICEServers = servers("turns:relay.example:443") }, dm.StatusInvalidInState},
		{"13 stuns: without UTC time", nil, func(in *SolicitOfferRequest) { in.ICEServers = servers("STUNS:relay.example") }, dm.StatusInvalidInState},
		{"ok turns: with UTC time", func(h *harness) { h.utc = true }, func(in *SolicitOfferRequest) { in.ICEServers = servers("turns:relay.example:443") }, dm.StatusSuccess},
		{"ok automatic IDs", nil, func(in *SolicitOfferRequest) {
			in.VideoStreams, in.AudioStreams = field.Optional[[]uint16]{}, field.Optional[[]uint16]{}
			in.VideoStreamID, in.AudioStreamID = nullID(), nullID()
		}, dm.StatusSuccess},
		{"ok usage differs from the streams'", nil, func(in *SolicitOfferRequest) { in.StreamUsage = globals.StreamUsageRecording }, dm.StatusSuccess},
		{"14 media out of resources", func(h *harness) { h.media.openErr = ErrNoResources }, nil, dm.StatusResourceExhausted},
		{"15 no free session", fullTable, nil, dm.StatusResourceExhausted},

		// Order: the earlier check answers when two fail.
		{"order 1 before 2", nil, func(in *SolicitOfferRequest) {
			in.StreamUsage, in.VideoStreams, in.AudioStreams = 9, field.Optional[[]uint16]{}, field.Optional[[]uint16]{}
		}, dm.StatusConstraintError},
		{"order 2 before 3 (decoder limit)", nil, func(in *SolicitOfferRequest) {
			in.VideoStreams, in.AudioStreams = field.Optional[[]uint16]{}, field.Optional[[]uint16]{}
			in.ICEServers = field.Some(make([]ICEServer, 11))
			for i := range in.ICEServers.Value {
				in.ICEServers.Value[i].URLs = []string{"stun:a"}
			}
		}, dm.StatusInvalidCommand},
		{"order 2 before 4 (decoder limit)", nil, func(in *SolicitOfferRequest) {
			in.VideoStreams, in.AudioStreams = field.Optional[[]uint16]{}, field.Optional[[]uint16]{}
			in.ICETransportPolicy = field.Some(fill(17))
		}, dm.StatusInvalidCommand},
		{"order 4 before 5", func(h *harness) { h.streams.setPrivacy(true, false, false) },
			func(in *SolicitOfferRequest) { in.ICETransportPolicy = field.Some(fill(17)) }, dm.StatusConstraintError},
		{"order 5 before 6", func(h *harness) { h.streams.setPrivacy(true, false, false) },
			func(in *SolicitOfferRequest) { in.StreamUsage = globals.StreamUsageAnalysis }, dm.StatusInvalidInState},
		{"order 6 before 7", nil, func(in *SolicitOfferRequest) {
			in.StreamUsage, in.VideoStreamID = globals.StreamUsageAnalysis, someID(3)
		}, dm.StatusDynamicConstraintError},
		{"order 8 before 9", func(h *harness) { h.streams.audio = nil }, func(in *SolicitOfferRequest) {
			in.VideoStreams, in.AudioStreams = field.Optional[[]uint16]{}, field.Optional[[]uint16]{}
			in.VideoStreamID, in.AudioStreamID = someID(9), nullID()
		}, dm.StatusInvalidInState},
		{"order 10 before 11", func(h *harness) { h.streams.audio = nil }, func(in *SolicitOfferRequest) {
			in.VideoStreams = field.Some([]uint16{3, 3})
		}, dm.StatusInvalidInState},
		{"order 11 before 12", nil, func(in *SolicitOfferRequest) { in.VideoStreams = field.Some([]uint16{9, 9}) }, dm.StatusAlreadyExists},
		{"order 12 before 13", nil, func(in *SolicitOfferRequest) {
			in.VideoStreams, in.ICEServers = field.Some([]uint16{9}), servers("turns:relay.example")
		}, dm.StatusDynamicConstraintError},
		{"order 13 before 15", fullTable, func(in *SolicitOfferRequest) { in.ICEServers = servers("turns:relay.example") }, dm.StatusInvalidInState},
	}
	var out []checkCase
	for _, r := range rows {
		in := solicit(r.edit)
		var enc servetest.Encoder = in
		if cmd == CmdProvideOffer {
			enc = &ProvideOfferRequest{
				SDP: "v=0", StreamUsage: field.Some(in.StreamUsage), OriginatingEndpointID: field.Some(in.OriginatingEndpointID),
				VideoStreamID: in.VideoStreamID, AudioStreamID: in.AudioStreamID, ICEServers: in.ICEServers,
				ICETransportPolicy: in.ICETransportPolicy, VideoStreams: in.VideoStreams, AudioStreams: in.AudioStreams,
			}
		}
		out = append(out, checkCase{name: r.name, setup: r.setup, cmd: cmd, in: enc, want: r.want})
	}
	return out
}

func TestSolicitOfferChecks(t *testing.T) {
	rows := offerCheckRows(CmdSolicitOffer)
	rows = append(rows,
		checkCase{name: "missing OriginatingEndpointID", cmd: CmdSolicitOffer, in: rawFields(func(w *tlv.Writer) {
			w.PutUint(tlv.ContextTag(0), 3)
			w.StartArray(tlv.ContextTag(8))
			w.PutUint(tlv.AnonymousTag(), 3)
			w.EndContainer()
		}), want: dm.StatusInvalidCommand},
		checkCase{name: "empty VideoStreams", cmd: CmdSolicitOffer, in: solicit(func(in *SolicitOfferRequest) {
			in.VideoStreams = field.Some([]uint16{})
		}), want: dm.StatusConstraintError},
		checkCase{name: "PASE subject", req: servetest.PASE(1), cmd: CmdSolicitOffer, in: solicit(nil), want: dm.StatusUnsupportedAccess},
	)
	runChecks(t, rows)
}

func TestProvideOfferChecks(t *testing.T) {
	sdpErr := func(err error) func(h *harness) { return func(h *harness) { h.media.checkErr = err } }
	provide := func(edit func(in *ProvideOfferRequest)) *ProvideOfferRequest {
		in := &ProvideOfferRequest{
			SDP: "v=0", StreamUsage: field.Some(globals.StreamUsageLiveView), OriginatingEndpointID: field.Some[uint16](requestorEP),
			VideoStreams: field.Some([]uint16{3}),
		}
		if edit != nil {
			edit(in)
		}
		return in
	}
	var existing uint16
	ownSession := func(h *harness) { existing = h.provide(ctrlA, "v=0 first", 3) }
	reoffer := func(in *ProvideOfferRequest) { in.WebRTCSessionID = field.NonNull(existing) }
	rows := offerCheckRows(CmdProvideOffer)
	rows = append(rows, []checkCase{
		{name: "1 StreamUsage missing for a new session", cmd: CmdProvideOffer,
			in: provide(func(in *ProvideOfferRequest) { in.StreamUsage = field.Optional[globals.StreamUsage]{} }), want: dm.StatusInvalidCommand},
		{name: "1 OriginatingEndpointID missing for a new session", cmd: CmdProvideOffer,
			in: provide(func(in *ProvideOfferRequest) { in.OriginatingEndpointID = field.Optional[uint16]{} }), want: dm.StatusInvalidCommand},
		{name: "SDP over the limit", cmd: CmdProvideOffer, setup: func(h *harness) { h.streams.setPrivacy(true, false, false) },
			in: provide(func(in *ProvideOfferRequest) { in.SDP = fill(MaxSDPLength + 1) }), want: dm.StatusConstraintError},
		{name: "ok SDP at the limit", cmd: CmdProvideOffer, in: provide(func(in *ProvideOfferRequest) { in.SDP = fill(MaxSDPLength) }), want: dm.StatusSuccess},
		{name: "invalid SDP", cmd: CmdProvideOffer, setup: sdpErr(ErrInvalidSDP), in: provide(nil), want: dm.StatusInvalidCommand},
		{name: "no common codec", cmd: CmdProvideOffer, setup: sdpErr(ErrUnsupportedMedia), in: provide(nil), want: dm.StatusDynamicConstraintError},
		{name: "no media resources", cmd: CmdProvideOffer, setup: sdpErr(ErrNoResources), in: provide(nil), want: dm.StatusResourceExhausted},
		{name: "order 15 before the SDP check", cmd: CmdProvideOffer, setup: func(h *harness) { fullTable(h); h.media.checkErr = ErrInvalidSDP },
			in: provide(nil), want: dm.StatusResourceExhausted},
		{name: "re-offer unknown ID", cmd: CmdProvideOffer, setup: ownSession,
			in: provide(func(in *ProvideOfferRequest) { in.WebRTCSessionID = field.NonNull[uint16](77) }), want: dm.StatusNotFound},
		{name: "re-offer other fabric", cmd: CmdProvideOffer, setup: ownSession, req: ctrlB, in: provide(reoffer), want: dm.StatusNotFound},
		{name: "re-offer other node", cmd: CmdProvideOffer, setup: ownSession, req: ctrlA2, in: provide(reoffer), want: dm.StatusNotFound},
		{name: "re-offer needs a stream field", cmd: CmdProvideOffer, setup: ownSession, in: provide(func(in *ProvideOfferRequest) {
			reoffer(in)
			in.VideoStreams = field.Optional[[]uint16]{}
		}), want: dm.StatusInvalidCommand},
		{name: "re-offer skips privacy", cmd: CmdProvideOffer, setup: func(h *harness) { ownSession(h); h.streams.setPrivacy(true, false, false) },
			in: provide(reoffer), want: dm.StatusSuccess},
		{name: "re-offer invalid SDP", cmd: CmdProvideOffer, setup: func(h *harness) { ownSession(h); h.media.checkErr = ErrInvalidSDP },
			in: provide(reoffer), want: dm.StatusInvalidCommand},
		{name: "re-offer over the SDP limit", cmd: CmdProvideOffer, setup: ownSession,
			in: provide(func(in *ProvideOfferRequest) { reoffer(in); in.SDP = fill(MaxSDPLength + 1) }), want: dm.StatusConstraintError},
		{name: "re-offer while the camera's offer is outstanding", cmd: CmdProvideOffer,
			setup: func(h *harness) { existing = h.solicit(ctrlA, globals.StreamUsageLiveView, 3) },
			in:    provide(reoffer), want: dm.StatusInvalidInState},
	}...)
	runChecks(t, rows)
}

func TestProvideAnswerChecks(t *testing.T) {
	var id uint16
	solicited := func(h *harness) {
		id = h.solicit(ctrlA, globals.StreamUsageLiveView, 3)
	}
	answer := func(sdp string) *ProvideAnswerRequest { return &ProvideAnswerRequest{WebRTCSessionID: id, SDP: sdp} }
	runChecks(t, []checkCase{
		{name: "missing SDP", cmd: CmdProvideAnswer, setup: solicited, in: rawFields(func(w *tlv.Writer) { w.PutUint(tlv.ContextTag(0), 0) }),
			want: dm.StatusInvalidCommand},
		{name: "SDP over the limit before NOT_FOUND", cmd: CmdProvideAnswer, req: ctrlB, setup: solicited,
			in: &ProvideAnswerRequest{WebRTCSessionID: 0, SDP: fill(MaxSDPLength + 1)}, want: dm.StatusConstraintError},
		{name: "unknown session", cmd: CmdProvideAnswer, setup: solicited, in: &ProvideAnswerRequest{WebRTCSessionID: 9, SDP: "a"}, want: dm.StatusNotFound},
		{name: "other fabric", cmd: CmdProvideAnswer, setup: solicited, req: ctrlB, in: &ProvideAnswerRequest{SDP: "a"}, want: dm.StatusNotFound},
		{name: "camera answered the session", cmd: CmdProvideAnswer, setup: func(h *harness) {
			id = h.provide(ctrlA, "v=0", 3)
		}, in: &ProvideAnswerRequest{SDP: "a"}, want: dm.StatusInvalidInState},
		{name: "invalid SDP", cmd: CmdProvideAnswer, setup: func(h *harness) {
			solicited(h)
			waitFor(h, func() bool { return h.s.stateOf(id) == stateAwaitingAnswer })
			h.media.session(h.t, id).answerErr = ErrInvalidSDP
		}, in: answer("bad"), want: dm.StatusInvalidCommand},
		{name: "ok", cmd: CmdProvideAnswer, setup: func(h *harness) {
			solicited(h)
			waitFor(h, func() bool { return h.s.stateOf(id) == stateAwaitingAnswer })
		}, in: answer("v=0 answer"), want: dm.StatusSuccess},
	})
}

func TestProvideICECandidatesChecks(t *testing.T) {
	var id uint16
	own := func(h *harness) { id = h.provide(ctrlA, "v=0", 3) }
	cands := func(c ...Candidate) *ProvideICECandidatesRequest {
		return &ProvideICECandidatesRequest{WebRTCSessionID: id, ICECandidates: c}
	}
	many := make([]Candidate, MaxCandidatesPerCommand+1)
	for i := range many {
		many[i] = candidate("candidate:1 1 udp 1 192.0.2.1 9 typ host")
	}
	runChecks(t, []checkCase{
		{name: "empty list", cmd: CmdProvideICECandidates, setup: own, in: cands(), want: dm.StatusConstraintError},
		{name: "empty SDPMid", cmd: CmdProvideICECandidates, setup: own,
			in: cands(Candidate{Candidate: "candidate:x", SDPMid: field.NonNull("")}), want: dm.StatusConstraintError},
		{name: "malformed list", cmd: CmdProvideICECandidates, setup: own, in: rawFields(func(w *tlv.Writer) {
			w.PutUint(tlv.ContextTag(0), 0)
			w.StartArray(tlv.ContextTag(1))
			w.PutUint(tlv.AnonymousTag(), 1)
			w.EndContainer()
		}), want: dm.StatusInvalidCommand},
		{name: "too many", cmd: CmdProvideICECandidates, setup: own, in: cands(many...), want: dm.StatusResourceExhausted},
		{name: "unknown session", cmd: CmdProvideICECandidates, setup: own,
			in: &ProvideICECandidatesRequest{WebRTCSessionID: 4, ICECandidates: []Candidate{candidate("c")}}, want: dm.StatusNotFound},
		{name: "other node", cmd: CmdProvideICECandidates, setup: own, req: ctrlA2, in: cands(candidate("c")), want: dm.StatusNotFound},
		{name: "refused by media", cmd: CmdProvideICECandidates, setup: func(h *harness) {
			own(h)
			waitFor(h, func() bool { return h.s.stateOf(id) == stateEstablished })
			h.media.session(h.t, id).addErr = ErrInvalidSDP
		}, in: cands(candidate("garbage")), want: dm.StatusInvalidCommand},
		{name: "ok", cmd: CmdProvideICECandidates, setup: own, in: cands(candidate("c"), Candidate{}), want: dm.StatusSuccess},
	})
}

func TestEndSessionChecks(t *testing.T) {
	own := func(h *harness) { h.solicit(ctrlA, globals.StreamUsageLiveView, 3) }
	runChecks(t, []checkCase{
		{name: "unknown reason before NOT_FOUND", cmd: CmdEndSession, setup: own,
			in: &EndSessionRequest{WebRTCSessionID: 8, Reason: 13}, want: dm.StatusConstraintError},
		{name: "reason does not fit enum8", cmd: CmdEndSession, setup: own, in: rawFields(func(w *tlv.Writer) {
			w.PutUint(tlv.ContextTag(0), 0)
			w.PutUint(tlv.ContextTag(1), 300)
		}), want: dm.StatusInvalidCommand},
		{name: "unknown session", cmd: CmdEndSession, setup: own, in: &EndSessionRequest{WebRTCSessionID: 8}, want: dm.StatusNotFound},
		{name: "other fabric", cmd: CmdEndSession, setup: own, req: ctrlB, in: &EndSessionRequest{}, want: dm.StatusNotFound},
		{name: "other node", cmd: CmdEndSession, setup: own, req: ctrlA2, in: &EndSessionRequest{}, want: dm.StatusNotFound},
		{name: "ok", cmd: CmdEndSession, setup: own,
			in: &EndSessionRequest{Reason: webrtctransportdefinitions.WebRTCEndReasonUserHangup}, want: dm.StatusSuccess},
	})
}

// rawFields is a fields structure written by hand, for shapes the
// generated encoders cannot produce.
type rawFields func(w *tlv.Writer)

func (f rawFields) EncodeTLV(w *tlv.Writer, tag tlv.Tag) {
	w.StartStructure(tag)
	f(w)
	w.EndContainer()
}
