package webrtctransportprovider

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mattercam/mattercam/matter/clusters/field"
	"github.com/mattercam/mattercam/matter/clusters/globals"
	"github.com/mattercam/mattercam/matter/clusters/internal/serve"
	"github.com/mattercam/mattercam/matter/dm"
	"github.com/mattercam/mattercam/matter/tlv"
)

// failf returns the status st with a cause for the logs.
func failf(st dm.Status, op, format string, args ...any) error {
	return &dm.StatusError{Status: st, Err: fmt.Errorf("webrtcprovider: %s: %w", op, fmt.Errorf(format, args...))}
}

// decodeErr puts the command's name in front of a decoding failure.
func decodeErr(op string, err error) error {
	var se *dm.StatusError
	if errors.As(err, &se) {
		return &dm.StatusError{Status: se.Status, Err: fmt.Errorf("webrtcprovider: %s: %w", op, se.Err)}
	}
	return fmt.Errorf("webrtcprovider: %s: %w", op, err)
}

// mediaStatus maps a Media error to the status of the command that caused
// it (hooks.go).
func mediaStatus(op string, err error) error {
	st := dm.StatusFailure
	switch {
	case errors.Is(err, ErrInvalidSDP):
		st = dm.StatusInvalidCommand
	case errors.Is(err, ErrUnsupportedMedia):
		st = dm.StatusDynamicConstraintError
	case errors.Is(err, ErrNoResources):
		st = dm.StatusResourceExhausted
	}
	return &dm.StatusError{Status: st, Err: fmt.Errorf("webrtcprovider: %s: %w", op, err)}
}

func reqContext(req *dm.Request) context.Context {
	if req.Ctx != nil {
		return req.Ctx
	}
	return context.Background()
}

// offerFields is what SolicitOffer and a new-session ProvideOffer share.
type offerFields struct {
	usage                  globals.StreamUsage
	endpoint               uint16
	videoID, audioID       field.Optional[field.Nullable[uint16]]
	videoStreams, audioSts field.Optional[[]uint16]
	servers                []ICEServer
	policy                 string
}

func (p *offerFields) hasStreamField() bool {
	return p.videoID.Present || p.audioID.Present || p.videoStreams.Present || p.audioSts.Present
}

// The top-level tags the check order needs from an offer command's raw
// fields (see decodeOffer).
type offerTags struct {
	usage           uint8    // StreamUsage
	mandatory       []uint8  // always mandatory
	mandatoryIfNull []uint8  // mandatory when tag 0 is null (ProvideOffer)
	streams         [4]uint8 // VideoStreamID, AudioStreamID, VideoStreams, AudioStreams
}

var (
	solicitTags = offerTags{usage: 0, mandatory: []uint8{0, 1}, streams: [4]uint8{2, 3, 8, 9}}
	provideTags = offerTags{usage: 2, mandatory: []uint8{0, 1}, mandatoryIfNull: []uint8{2, 3}, streams: [4]uint8{4, 5, 10, 11}}
)

// decodeOffer decodes SolicitOffer or ProvideOffer. The generated decoder
// enforces the ICEServers and ICETransportPolicy limits (checks 3 and 4
// of spec digest §2.4) as it reads, wherever they sit in the encoding; so
// when it fails with CONSTRAINT_ERROR the fields are scanned once more and
// checks 1 (StreamUsage) and 2 (a stream field) answer first, as their
// order asks.
func decodeOffer(op string, r *tlv.Reader, v serve.Decoder, tags offerTags) error {
	var raw []byte
	if r != nil {
		b, err := r.Raw()
		if err != nil {
			return failf(dm.StatusInvalidCommand, op, "%v", err)
		}
		raw = b
	}
	err := serve.DecodeCommand(r, v)
	if err == nil {
		return nil
	}
	if isStatus(err, dm.StatusConstraintError) && raw != nil {
		if early := earlierCheck(op, raw, tags); early != nil {
			return early
		}
	}
	return decodeErr(op, err)
}

// earlierCheck applies the mandatory-field check and checks 1 and 2 to the
// raw fields of an offer command that failed a later constraint.
func earlierCheck(op string, raw []byte, tags offerTags) error {
	r := tlv.NewReader(raw)
	if r.Next() != nil || r.Enter() != nil {
		return nil
	}
	var seen field.Seen
	var usage uint64
	usageOK, idNull := true, false
	for {
		tag, ok, err := field.Next(r, &seen)
		if err != nil || !ok {
			break
		}
		switch {
		case tag == tags.usage:
			usage, err = r.Uint()
			usageOK = err == nil
		case tag == 0 && len(tags.mandatoryIfNull) > 0:
			idNull = r.IsNull()
		}
	}
	for _, t := range tags.mandatory {
		if !seen.Has(t) {
			return failf(dm.StatusInvalidCommand, op, "field %d missing", t)
		}
	}
	if idNull {
		for _, t := range tags.mandatoryIfNull {
			if !seen.Has(t) {
				return failf(dm.StatusInvalidCommand, op, "field %d missing for a new session", t)
			}
		}
	}
	if seen.Has(tags.usage) {
		if !usageOK {
			return failf(dm.StatusInvalidCommand, op, "StreamUsage is not an unsigned integer")
		}
		if usage > 0xFF || !globals.StreamUsage(usage).Known() {
			return failf(dm.StatusConstraintError, op, "StreamUsage %d", usage)
		}
	}
	if !slices.ContainsFunc(tags.streams[:], seen.Has) {
		return failf(dm.StatusInvalidCommand, op, "no stream requested")
	}
	return nil
}

// checkICEServers is the part of check 3 the decoder does not do: each URL
// must use one of the four schemes ICEServerStruct allows (spec digest
// §2.3). A controller's typo would otherwise surface only inside the ICE
// agent, as a FAILURE or a silently unused server.
func checkICEServers(op string, servers []ICEServer) error {
	for i, srv := range servers {
		for _, u := range srv.URLs {
			switch iceScheme(u) {
			case "stun", "stuns", "turn", "turns":
			default:
				return failf(dm.StatusConstraintError, op, "ICEServers[%d]: URL %.40q has no stun:, stuns:, turn: or turns: scheme", i, u)
			}
		}
	}
	return nil
}

// iceScheme returns the lower-cased scheme of an ICE server URL (RFC 7064,
// RFC 7065: scheme names are case-insensitive).
func iceScheme(u string) string {
	scheme, _, ok := strings.Cut(u, ":")
	if !ok {
		return ""
	}
	return strings.ToLower(scheme)
}

// secureICE reports whether any server is reached over TLS/DTLS (`stuns:`,
// `turns:`), which needs UTC time to check certificates.
func secureICE(servers []ICEServer) bool {
	for _, srv := range servers {
		for _, u := range srv.URLs {
			if s := iceScheme(u); s == "stuns" || s == "turns" {
				return true
			}
		}
	}
	return false
}

// streamRequest is what an offer command asks of one stream type.
type streamRequest struct {
	kind  string
	id    field.Optional[field.Nullable[uint16]] // deprecated rev-1 field
	list  field.Optional[[]uint16]
	alloc []uint16 // allocated streams of the type, preferred first
}

// selected returns the streams the session uses: the named deprecated ID,
// the preferred allocated stream for a null one ("automatic", TC_WEBRTCP_2_5
// step 10), or the list.
func (sr *streamRequest) selected() []uint16 {
	switch {
	case sr.id.Present && sr.id.Value.Valid:
		return []uint16{sr.id.Value.Value}
	case sr.id.Present:
		return []uint16{sr.alloc[0]}
	case sr.list.Present:
		return slices.Clone(sr.list.Value)
	}
	return nil
}

// checkNewSession runs checks 5 to 13 of spec digest §2.4, in order, for a
// new session and returns the streams it will use. Each check runs for
// video, then audio, before the next check.
func (s *Server) checkNewSession(op string, p *offerFields) (video, audio []uint16, err error) {
	st := s.cfg.Streams
	// 5: privacy.
	if hard, live, rec := st.Privacy(); privacyBlocks(p.usage, hard, live, rec) {
		return nil, nil, failf(dm.StatusInvalidInState, op, "privacy mode forbids %v sessions", p.usage)
	}
	// 6: the usage must be one the camera prioritises.
	if !st.UsagePrioritized(p.usage) {
		return nil, nil, failf(dm.StatusDynamicConstraintError, op, "%v is not in StreamUsagePriorities", p.usage)
	}
	// 7: rev-1 IDs and rev-2 lists do not mix.
	if (p.videoID.Present || p.audioID.Present) && (p.videoStreams.Present || p.audioSts.Present) {
		return nil, nil, failf(dm.StatusInvalidCommand, op, "deprecated stream IDs together with stream lists")
	}
	reqs := [2]streamRequest{
		{kind: "video", id: p.videoID, list: p.videoStreams, alloc: st.AllocatedVideoStreams(p.usage)},
		{kind: "audio", id: p.audioID, list: p.audioSts, alloc: st.AllocatedAudioStreams(p.usage)},
	}
	checks := []func(sr *streamRequest) error{
		// 8: a null ID asks for any allocated stream.
		func(sr *streamRequest) error {
			if sr.id.Present && !sr.id.Value.Valid && len(sr.alloc) == 0 {
				return failf(dm.StatusInvalidInState, op, "no %s stream allocated", sr.kind)
			}
			return nil
		},
		// 9: a named ID must be allocated.
		func(sr *streamRequest) error {
			if v, ok := sr.id.Value.Get(); sr.id.Present && ok && !slices.Contains(sr.alloc, v) {
				return failf(dm.StatusDynamicConstraintError, op, "%s stream %d is not allocated", sr.kind, v)
			}
			return nil
		},
		// 10: a list needs streams of its type.
		func(sr *streamRequest) error {
			if sr.list.Present && len(sr.alloc) == 0 {
				return failf(dm.StatusInvalidInState, op, "no %s stream allocated", sr.kind)
			}
			return nil
		},
		// 11: no duplicates in a list.
		func(sr *streamRequest) error {
			for i, v := range sr.list.Value {
				if slices.Contains(sr.list.Value[:i], v) {
					return failf(dm.StatusAlreadyExists, op, "%s stream %d listed twice", sr.kind, v)
				}
			}
			return nil
		},
		// 12: every list entry must be allocated.
		func(sr *streamRequest) error {
			for _, v := range sr.list.Value {
				if !slices.Contains(sr.alloc, v) {
					return failf(dm.StatusDynamicConstraintError, op, "%s stream %d is not allocated", sr.kind, v)
				}
			}
			return nil
		},
	}
	for _, check := range checks {
		for i := range reqs {
			if err := check(&reqs[i]); err != nil {
				return nil, nil, err
			}
		}
	}
	// 13: TLS-based ICE servers need UTC time.
	if secureICE(p.servers) && !s.cfg.UTCKnown() {
		return nil, nil, failf(dm.StatusInvalidInState, op, "stuns:/turns: ICE server while UTC time is unknown")
	}
	return reqs[0].selected(), reqs[1].selected(), nil
}

// create makes a new session after its checks passed: checks 14 and 15
// (a free session slot and ID), then, for ProvideOffer, the offer's
// validation, then the stream references and the media side. Running out
// of media resources is RESOURCE_EXHAUSTED for both commands, as hooks.go
// asks; connectedhomeip answers DYNAMIC_CONSTRAINT_ERROR to SolicitOffer
// there (spec digest §7 item 4). The session
// joins CurrentSessions with its first job queued: the camera's offer for
// SolicitOffer, the answer to offer for ProvideOffer.
func (s *Server) create(req *dm.Request, op string, p *offerFields, video, audio []uint16, offer *string) (*session, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, failf(dm.StatusFailure, op, "server closed")
	}
	// Ended sessions whose media is not torn down yet count too: each is
	// still a peer connection.
	if len(s.sessions)+s.creating >= s.cfg.MaxSessions || s.unclosed >= s.cfg.MaxSessions {
		live := len(s.sessions)
		s.mu.Unlock()
		return nil, failf(dm.StatusResourceExhausted, op, "%d of %d sessions in use", live, s.cfg.MaxSessions)
	}
	id, ok := s.allocateIDLocked()
	if !ok {
		s.mu.Unlock()
		return nil, failf(dm.StatusResourceExhausted, op, "no free session ID")
	}
	s.reserved[id] = struct{}{}
	s.creating++
	s.mu.Unlock()
	unreserve := func() {
		s.mu.Lock()
		delete(s.reserved, id)
		s.creating--
		s.giveBackIDLocked(id)
		s.mu.Unlock()
	}

	if offer != nil {
		if err := s.cfg.Media.CheckOffer(*offer, len(video) > 0, len(audio) > 0); err != nil {
			unreserve()
			return nil, mediaStatus(op, err)
		}
	}
	if err := s.cfg.Streams.Acquire(video, audio); err != nil {
		unreserve()
		return nil, failf(dm.StatusDynamicConstraintError, op, "stream references: %w", err)
	}
	sess := &session{
		id:       id,
		fabric:   req.Subject.FabricIndex,
		node:     req.Subject.NodeID,
		endpoint: p.endpoint,
		usage:    p.usage,
		video:    video,
		audio:    audio,
		offerer:  offer == nil,
	}
	m, err := s.cfg.Media.Open(s.mediaParams(sess, p.servers, p.policy))
	if err != nil {
		s.cfg.Streams.Release(video, audio)
		unreserve()
		return nil, mediaStatus(op, err)
	}
	sess.media = m

	s.mu.Lock()
	delete(s.reserved, id)
	s.creating--
	var fail error
	switch {
	case s.closed:
		fail = failf(dm.StatusFailure, op, "server closed")
	case sess.ended:
		fail = failf(dm.StatusFailure, op, "media ended the session while it was opened")
	case len(s.queue) >= s.cfg.QueueLength:
		fail = failf(dm.StatusResourceExhausted, op, "outbound queue full")
	}
	if fail != nil {
		sess.ended = true
		s.giveBackIDLocked(id)
		s.mu.Unlock()
		sess.closeMedia(s.log)
		s.cfg.Streams.Release(video, audio)
		return nil, fail
	}
	sess.inserted = true
	s.sessions = append(s.sessions, sess)
	if offer == nil {
		sess.state = stateOfferPending
		s.queue = append(s.queue, job{sess: sess, kind: jobOffer})
	} else {
		sess.state = stateAnswering
		sess.pendingOffers = 1
		s.queue = append(s.queue, job{sess: sess, kind: jobAnswer, sdp: *offer})
	}
	s.wakeWorker()
	sess.setupTimer = time.AfterFunc(s.cfg.SetupTimeout, func() { s.setupExpired(sess) })
	s.mu.Unlock()

	s.Changed(AttrCurrentSessions)
	s.log.Info("session created", "session", id, "fabric", sess.fabric, "node", sess.node, "endpoint", sess.endpoint,
		"usage", sess.usage, "video", video, "audio", audio, "camera-offers", sess.offerer)
	return sess, nil
}

// echo is a deprecated stream ID field of a response: present iff the
// request carried it, holding the session's first stream of the type
// (spec digest §2.2).
func echo(requested bool, ids []uint16) field.Optional[field.Nullable[uint16]] {
	if !requested {
		return field.Optional[field.Nullable[uint16]]{}
	}
	return field.Some(firstOrNull(ids))
}

// solicitOffer is SolicitOffer (spec digest §2.4, §4.2): the camera will
// make the offer. MetadataEnabled belongs to the METADATA feature, which
// the server does not have; it is ignored and entries say false.
func (s *Server) solicitOffer(req *dm.Request, r *tlv.Reader, resp *dm.CommandResponse) error {
	const op = "solicit offer"
	var in SolicitOfferRequest
	if err := decodeOffer(op, r, &in, solicitTags); err != nil {
		return err
	}
	p := offerFields{
		usage:        in.StreamUsage,
		endpoint:     in.OriginatingEndpointID,
		videoID:      in.VideoStreamID,
		audioID:      in.AudioStreamID,
		videoStreams: in.VideoStreams,
		audioSts:     in.AudioStreams,
		servers:      in.ICEServers.Value,
		policy:       in.ICETransportPolicy.Value,
	}
	// 1
	if !p.usage.Known() {
		return failf(dm.StatusConstraintError, op, "StreamUsage %d", p.usage)
	}
	// 2
	if !p.hasStreamField() {
		return failf(dm.StatusInvalidCommand, op, "no stream requested")
	}
	// 3 (the limits were checked while decoding, as was 4)
	if err := checkICEServers(op, p.servers); err != nil {
		return err
	}
	video, audio, err := s.checkNewSession(op, &p)
	if err != nil {
		return err
	}
	sess, err := s.create(req, op, &p, video, audio, nil)
	if err != nil {
		return err
	}
	// DeferredOffer is false: the worker makes the offer right away, so
	// the echoed IDs are never null (spec digest §2.4).
	return serve.Respond(resp, CmdSolicitOfferResponse, &SolicitOfferResponse{
		WebRTCSessionID: sess.id,
		DeferredOffer:   false,
		VideoStreamID:   echo(in.VideoStreamID.Present, sess.video),
		AudioStreamID:   echo(in.AudioStreamID.Present, sess.audio),
	})
}

// provideOffer is ProvideOffer (spec digest §2.4, §4.1): a new session
// when WebRTCSessionID is null, else a re-offer on the caller's session.
// The offer is validated here; the worker applies it and pushes Answer.
func (s *Server) provideOffer(req *dm.Request, r *tlv.Reader, resp *dm.CommandResponse) error {
	const op = "provide offer"
	var in ProvideOfferRequest
	if err := decodeOffer(op, r, &in, provideTags); err != nil {
		return err
	}
	newSession := !in.WebRTCSessionID.Valid
	// StreamUsage and OriginatingEndpointID: "WebRTCSessionID == null, O".
	if newSession && (!in.StreamUsage.Present || !in.OriginatingEndpointID.Present) {
		return failf(dm.StatusInvalidCommand, op, "StreamUsage and OriginatingEndpointID are required for a new session")
	}
	p := offerFields{
		usage:        in.StreamUsage.Value,
		endpoint:     in.OriginatingEndpointID.Value,
		videoID:      in.VideoStreamID,
		audioID:      in.AudioStreamID,
		videoStreams: in.VideoStreams,
		audioSts:     in.AudioStreams,
		servers:      in.ICEServers.Value,
		policy:       in.ICETransportPolicy.Value,
	}
	// 1
	if in.StreamUsage.Present && !p.usage.Known() {
		return failf(dm.StatusConstraintError, op, "StreamUsage %d", p.usage)
	}
	// 2, for re-offers too, as connectedhomeip does (spec digest §7 item 8)
	if !p.hasStreamField() {
		return failf(dm.StatusInvalidCommand, op, "no stream requested")
	}
	// 3 (and 4, while decoding)
	if err := checkICEServers(op, p.servers); err != nil {
		return err
	}
	// Our SDP limit, with the other static constraints (spec digest §2.6).
	if len(in.SDP) > MaxSDPLength {
		return failf(dm.StatusConstraintError, op, "SDP of %d bytes exceeds %d", len(in.SDP), MaxSDPLength)
	}
	if !newSession {
		return s.reoffer(req, &in, resp)
	}
	video, audio, err := s.checkNewSession(op, &p)
	if err != nil {
		return err
	}
	sess, err := s.create(req, op, &p, video, audio, &in.SDP)
	if err != nil {
		return err
	}
	return serve.Respond(resp, CmdProvideOfferResponse, &ProvideOfferResponse{
		WebRTCSessionID: sess.id,
		VideoStreamID:   echo(in.VideoStreamID.Present, sess.video),
		AudioStreamID:   echo(in.AudioStreamID.Present, sess.audio),
	})
}

// reoffer renegotiates an existing session (spec digest §2.4, §4.1 step
// 9): privacy and stream checks are skipped and the session keeps its
// streams, ICE servers and peer endpoint; the stream fields, ICEServers
// and ICETransportPolicy of a re-offer are not used. A re-offer while the
// camera's own offer is outstanding (glare) is INVALID_IN_STATE.
func (s *Server) reoffer(req *dm.Request, in *ProvideOfferRequest, resp *dm.CommandResponse) error {
	const op = "provide offer (re-offer)"
	id := in.WebRTCSessionID.Value
	s.mu.Lock()
	sess := s.lookupLocked(id, req.Subject.FabricIndex, req.Subject.NodeID)
	if sess == nil {
		s.mu.Unlock()
		return failf(dm.StatusNotFound, op, "no session %d of this peer", id)
	}
	if sess.state == stateOfferPending || sess.state == stateAwaitingAnswer {
		st := sess.state
		s.mu.Unlock()
		return failf(dm.StatusInvalidInState, op, "session %d is %v: the camera's offer is outstanding", id, st)
	}
	s.mu.Unlock()

	if err := s.cfg.Media.CheckOffer(in.SDP, len(sess.video) > 0, len(sess.audio) > 0); err != nil {
		return mediaStatus(op, err)
	}

	s.mu.Lock()
	if sess.ended {
		s.mu.Unlock()
		return failf(dm.StatusNotFound, op, "session %d ended", id)
	}
	if len(s.queue) >= s.cfg.QueueLength {
		s.mu.Unlock()
		return failf(dm.StatusResourceExhausted, op, "outbound queue full")
	}
	sess.state = stateAnswering
	sess.pendingOffers++
	s.queue = append(s.queue, job{sess: sess, kind: jobAnswer, sdp: in.SDP})
	s.wakeWorker()
	s.mu.Unlock()
	s.log.Info("session re-offered", "session", id)
	return serve.Respond(resp, CmdProvideOfferResponse, &ProvideOfferResponse{
		WebRTCSessionID: id,
		VideoStreamID:   echo(in.VideoStreamID.Present, sess.video),
		AudioStreamID:   echo(in.AudioStreamID.Present, sess.audio),
	})
}

// provideAnswer is ProvideAnswer (spec digest §2.4, §4.2 step 8): the
// controller's answer to the camera's offer. A repeated answer on a
// session the camera offered and that is already established is accepted
// and ignored, as camera-app does (spec digest §7 item 10), so a
// controller's retry does not fail; an answer where the camera has no offer
// outstanding is INVALID_IN_STATE.
func (s *Server) provideAnswer(req *dm.Request, r *tlv.Reader) error {
	const op = "provide answer"
	var in ProvideAnswerRequest
	if err := serve.DecodeCommand(r, &in); err != nil {
		return decodeErr(op, err)
	}
	if len(in.SDP) > MaxSDPLength {
		return failf(dm.StatusConstraintError, op, "SDP of %d bytes exceeds %d", len(in.SDP), MaxSDPLength)
	}
	s.mu.Lock()
	sess := s.lookupLocked(in.WebRTCSessionID, req.Subject.FabricIndex, req.Subject.NodeID)
	if sess == nil {
		s.mu.Unlock()
		return failf(dm.StatusNotFound, op, "no session %d of this peer", in.WebRTCSessionID)
	}
	switch {
	case sess.state == stateAwaitingAnswer:
		// Claimed here, so a concurrent duplicate does not apply it twice.
		sess.state = stateEstablished
	case sess.state == stateEstablished && sess.offerer:
		s.mu.Unlock()
		return nil
	default:
		st := sess.state
		s.mu.Unlock()
		return failf(dm.StatusInvalidInState, op, "session %d is %v: no offer of the camera's awaits an answer", in.WebRTCSessionID, st)
	}
	s.mu.Unlock()

	sess.mediaMu.Lock()
	var err error
	if sess.mediaClosed {
		err = errMediaClosed
	} else if err = sess.media.AcceptAnswer(reqContext(req), in.SDP); err == nil {
		s.remoteApplied(sess, sess.media)
	}
	sess.mediaMu.Unlock()
	if errors.Is(err, errMediaClosed) {
		return failf(dm.StatusNotFound, op, "session %d ended", in.WebRTCSessionID)
	}
	if err != nil {
		// The offer still awaits a usable answer.
		s.mu.Lock()
		if !sess.ended && sess.state == stateEstablished {
			sess.state = stateAwaitingAnswer
		}
		s.mu.Unlock()
		return mediaStatus(op, err)
	}
	return nil
}

// provideICECandidates is ProvideICECandidates (spec digest §2.4): the
// controller's candidates go to the ICE agent, or are held until the
// remote description is applied.
func (s *Server) provideICECandidates(req *dm.Request, r *tlv.Reader) error {
	const op = "provide ICE candidates"
	var in ProvideICECandidatesRequest
	// An empty list or an empty non-null SDPMid is CONSTRAINT_ERROR, a
	// malformed list INVALID_COMMAND: both from the decoder.
	if err := serve.DecodeCommand(r, &in); err != nil {
		return decodeErr(op, err)
	}
	if len(in.ICECandidates) > MaxCandidatesPerCommand {
		return failf(dm.StatusResourceExhausted, op, "%d candidates; at most %d per command", len(in.ICECandidates), MaxCandidatesPerCommand)
	}
	s.mu.Lock()
	sess := s.lookupLocked(in.WebRTCSessionID, req.Subject.FabricIndex, req.Subject.NodeID)
	s.mu.Unlock()
	if sess == nil {
		return failf(dm.StatusNotFound, op, "no session %d of this peer", in.WebRTCSessionID)
	}

	sess.mediaMu.Lock()
	defer sess.mediaMu.Unlock()
	switch {
	case sess.mediaClosed:
		return failf(dm.StatusNotFound, op, "session %d ended", in.WebRTCSessionID)
	case !sess.remoteSet:
		if len(sess.remoteBuf)+len(in.ICECandidates) > maxBufferedRemoteCandidates {
			return failf(dm.StatusResourceExhausted, op, "more than %d candidates before the remote description", maxBufferedRemoteCandidates)
		}
		sess.remoteBuf = append(sess.remoteBuf, in.ICECandidates...)
		return nil
	}
	if err := sess.media.AddCandidates(in.ICECandidates); err != nil {
		return mediaStatus(op, err)
	}
	return nil
}

// endSessionCmd is EndSession (spec digest §2.4): the controller ends its
// session; no End goes back.
func (s *Server) endSessionCmd(req *dm.Request, r *tlv.Reader) error {
	const op = "end session"
	var in EndSessionRequest
	if err := serve.DecodeCommand(r, &in); err != nil {
		return decodeErr(op, err)
	}
	if !in.Reason.Known() {
		return failf(dm.StatusConstraintError, op, "reason %d", in.Reason)
	}
	s.mu.Lock()
	sess := s.lookupLocked(in.WebRTCSessionID, req.Subject.FabricIndex, req.Subject.NodeID)
	if sess == nil {
		s.mu.Unlock()
		return failf(dm.StatusNotFound, op, "no session %d of this peer", in.WebRTCSessionID)
	}
	ended := s.endLocked(sess, in.Reason, false)
	s.mu.Unlock()
	if ended {
		s.finishEnd([]*session{sess})
	}
	return nil
}
