package webrtctransportprovider

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/mattercam/mattercam/matter/clusters/field"
	"github.com/mattercam/mattercam/matter/clusters/globals"
	"github.com/mattercam/mattercam/matter/clusters/internal/clustertest"
	"github.com/mattercam/mattercam/matter/clusters/internal/servetest"
	"github.com/mattercam/mattercam/matter/clusters/webrtctransportdefinitions"
	"github.com/mattercam/mattercam/matter/clusters/webrtctransportrequestor"
	"github.com/mattercam/mattercam/matter/dm"
)

// Controllers the tests use: two on fabric 1 (different nodes), one on
// fabric 2. Each hosts its Requestor on endpoint 1 (matter.js's
// CameraControllerDevice, controller.md §3).
var (
	ctrlA  = servetest.CASE(1, 0x1111)
	ctrlA2 = servetest.CASE(1, 0x3333)
	ctrlB  = servetest.CASE(2, 0x2222)
)

const requestorEP = 1

// fakeStreams is Camera AV Stream Management: allocations, priorities,
// privacy and reference counts.
type fakeStreams struct {
	mu                  sync.Mutex
	hard, live, rec     bool
	prioritized         []globals.StreamUsage
	video, audio        []uint16
	acquires, releases  int
	videoRefs, audioRef map[uint16]int
}

func newFakeStreams() *fakeStreams {
	return &fakeStreams{
		prioritized: []globals.StreamUsage{globals.StreamUsageLiveView, globals.StreamUsageRecording},
		video:       []uint16{3, 4},
		audio:       []uint16{5},
		videoRefs:   map[uint16]int{},
		audioRef:    map[uint16]int{},
	}
}

func (f *fakeStreams) Privacy() (bool, bool, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hard, f.live, f.rec
}

func (f *fakeStreams) setPrivacy(hard, live, rec bool) {
	f.mu.Lock()
	f.hard, f.live, f.rec = hard, live, rec
	f.mu.Unlock()
}

func (f *fakeStreams) UsagePrioritized(u globals.StreamUsage) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Contains(f.prioritized, u)
}

func (f *fakeStreams) AllocatedVideoStreams(globals.StreamUsage) []uint16 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.video)
}

func (f *fakeStreams) AllocatedAudioStreams(globals.StreamUsage) []uint16 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.audio)
}

func (f *fakeStreams) Acquire(video, audio []uint16) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, v := range video {
		if !slices.Contains(f.video, v) {
			return fmt.Errorf("video stream %d not allocated", v)
		}
	}
	for _, a := range audio {
		if !slices.Contains(f.audio, a) {
			return fmt.Errorf("audio stream %d not allocated", a)
		}
	}
	f.acquires++
	for _, v := range video {
		f.videoRefs[v]++
	}
	for _, a := range audio {
		f.audioRef[a]++
	}
	return nil
}

func (f *fakeStreams) Release(video, audio []uint16) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.releases++
	for _, v := range video {
		f.videoRefs[v]--
	}
	for _, a := range audio {
		f.audioRef[a]--
	}
}

// refs returns the reference counts held now.
func (f *fakeStreams) refs() (acquires, releases int, held int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, n := range f.videoRefs {
		held += n
	}
	for _, n := range f.audioRef {
		held += n
	}
	return f.acquires, f.releases, held
}

// fakeMedia opens fakeSessions.
type fakeMedia struct {
	mu        sync.Mutex
	checkErr  error
	openErr   error
	acceptErr error // AcceptOffer's error for new sessions
	offerErr  error // CreateOffer's error for new sessions
	sessions  []*fakeSession
	// gather is what each new session "gathers" inside CreateOffer and
	// AcceptOffer, reported through OnCandidate before they return.
	gather []Candidate
}

func (m *fakeMedia) CheckOffer(sdp string, hasVideo, hasAudio bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.checkErr != nil {
		return fmt.Errorf("checking: %w", m.checkErr)
	}
	return nil
}

func (m *fakeMedia) Open(p MediaParams) (MediaSession, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.openErr != nil {
		return nil, fmt.Errorf("opening: %w", m.openErr)
	}
	fs := &fakeSession{p: p, gather: slices.Clone(m.gather), acceptErr: m.acceptErr, offerErr: m.offerErr}
	m.sessions = append(m.sessions, fs)
	return fs, nil
}

// session returns the media session opened for WebRTCSessionID id (the
// latest one).
func (m *fakeMedia) session(t testing.TB, id uint16) *fakeSession {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := len(m.sessions) - 1; i >= 0; i-- {
		if m.sessions[i].p.ID == id {
			return m.sessions[i]
		}
	}
	t.Fatalf("no media session %d", id)
	return nil
}

// open returns how many media sessions are open (not closed).
func (m *fakeMedia) open() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, s := range m.sessions {
		if s.closeCount() == 0 {
			n++
		}
	}
	return n
}

func (m *fakeMedia) all() []*fakeSession {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.sessions)
}

// fakeSession is one media session.
type fakeSession struct {
	p      MediaParams
	gather []Candidate

	mu                  sync.Mutex
	offerErr, acceptErr error
	answerErr, addErr   error
	offers, answers     []string // remote SDPs applied
	created             int      // CreateOffer calls
	cands               []Candidate
	remoteSet           bool
	addBeforeRemote     bool
	closed              int
}

func (s *fakeSession) emit() {
	s.mu.Lock()
	g := s.gather
	s.gather = nil
	s.mu.Unlock()
	for _, c := range g {
		s.p.OnCandidate(c)
	}
}

func (s *fakeSession) CreateOffer(ctx context.Context) (string, error) {
	s.mu.Lock()
	s.created++
	err := s.offerErr
	s.mu.Unlock()
	if err != nil {
		return "", err
	}
	s.emit()
	return fmt.Sprintf("offer-%d", s.p.ID), nil
}

func (s *fakeSession) AcceptOffer(ctx context.Context, sdp string) (string, error) {
	s.mu.Lock()
	err := s.acceptErr
	if err == nil {
		s.offers = append(s.offers, sdp)
		s.remoteSet = true
	}
	s.mu.Unlock()
	if err != nil {
		return "", err
	}
	s.emit()
	return "answer-to:" + sdp, nil
}

func (s *fakeSession) AcceptAnswer(ctx context.Context, sdp string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.answerErr != nil {
		return s.answerErr
	}
	s.answers = append(s.answers, sdp)
	s.remoteSet = true
	return nil
}

func (s *fakeSession) AddCandidates(c []Candidate) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.addErr != nil {
		return s.addErr
	}
	if !s.remoteSet {
		s.addBeforeRemote = true
	}
	s.cands = append(s.cands, c...)
	return nil
}

func (s *fakeSession) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed++
	return nil
}

func (s *fakeSession) closeCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

func (s *fakeSession) remote() (offers, answers []string, cands []Candidate, early bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.offers), slices.Clone(s.answers), slices.Clone(s.cands), s.addBeforeRemote
}

// call is one command the camera sent to a Requestor.
type call struct {
	peer   Peer
	cmd    uint32
	fields []byte
}

// fakeRequestor records the camera's commands and answers them.
type fakeRequestor struct {
	mu    sync.Mutex
	calls []call
	// respond answers a call (n: its index among all calls); nil: SUCCESS.
	respond func(c call, n int) error
	// gate, when set, holds every Invoke until it is closed (or the
	// context ends).
	gate chan struct{}
}

func (r *fakeRequestor) Invoke(ctx context.Context, peer Peer, cmd uint32, fields []byte) error {
	r.mu.Lock()
	c := call{peer, cmd, slices.Clone(fields)}
	n := len(r.calls)
	r.calls = append(r.calls, c)
	gate, respond := r.gate, r.respond
	r.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if respond != nil {
		return respond(c, n)
	}
	return nil
}

func (r *fakeRequestor) setRespond(f func(c call, n int) error) {
	r.mu.Lock()
	r.respond = f
	r.mu.Unlock()
}

func (r *fakeRequestor) setGate(g chan struct{}) {
	r.mu.Lock()
	r.gate = g
	r.mu.Unlock()
}

func (r *fakeRequestor) all() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

// cmds returns the command IDs sent for session id, in order.
func (r *fakeRequestor) cmds(t testing.TB, id uint16) []uint32 {
	t.Helper()
	var out []uint32
	for _, c := range r.all() {
		if callSession(t, c) == id {
			out = append(out, c.cmd)
		}
	}
	return out
}

// callSession decodes the WebRTCSessionID of a recorded call.
func callSession(t testing.TB, c call) uint16 {
	t.Helper()
	switch c.cmd {
	case webrtctransportrequestor.CmdOffer:
		return decodeCall[webrtctransportrequestor.OfferRequest](t, c).WebRTCSessionID
	case webrtctransportrequestor.CmdAnswer:
		return decodeCall[webrtctransportrequestor.AnswerRequest](t, c).WebRTCSessionID
	case webrtctransportrequestor.CmdICECandidates:
		return decodeCall[webrtctransportrequestor.ICECandidatesRequest](t, c).WebRTCSessionID
	case webrtctransportrequestor.CmdEnd:
		return decodeCall[webrtctransportrequestor.EndRequest](t, c).WebRTCSessionID
	}
	t.Fatalf("unexpected command %#x", c.cmd)
	return 0
}

// decodeCall decodes a recorded call's fields with the generated requestor
// codec, strictly.
func decodeCall[T any, P interface {
	*T
	clustertest.Codec
}](t testing.TB, c call) T {
	t.Helper()
	var v T
	if err := clustertest.Decode(c.fields, P(&v)); err != nil {
		t.Fatalf("decoding command %#x %x: %v", c.cmd, c.fields, err)
	}
	return v
}

// ofCmd returns the decoded calls of one command.
func ofCmd[T any, P interface {
	*T
	clustertest.Codec
}](t testing.TB, r *fakeRequestor, cmd uint32) []T {
	t.Helper()
	var out []T
	for _, c := range r.all() {
		if c.cmd == cmd {
			out = append(out, decodeCall[T, P](t, c))
		}
	}
	return out
}

func ends(t testing.TB, r *fakeRequestor) []webrtctransportrequestor.EndRequest {
	return ofCmd[webrtctransportrequestor.EndRequest](t, r, webrtctransportrequestor.CmdEnd)
}

// harness is a server with fakes around it.
type harness struct {
	t       testing.TB
	s       *Server
	streams *fakeStreams
	media   *fakeMedia
	req     *fakeRequestor
	changes *servetest.Changes
	utc     bool
	utcMu   sync.Mutex
}

func newHarness(t testing.TB, edit func(*Config)) *harness {
	t.Helper()
	h := &harness{t: t, streams: newFakeStreams(), media: &fakeMedia{}, req: &fakeRequestor{}, changes: &servetest.Changes{}}
	cfg := Config{
		Endpoint:  1,
		Media:     h.media,
		Streams:   h.streams,
		Requestor: h.req,
		UTCKnown: func() bool {
			h.utcMu.Lock()
			defer h.utcMu.Unlock()
			return h.utc
		},
		Notify: h.changes,
		Logger: slog.New(slog.DiscardHandler),
	}
	if edit != nil {
		edit(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.s = s
	return h
}

// finish closes the server and checks that every stream reference taken
// was given back, once, and every media session closed.
func (h *harness) finish() {
	h.t.Helper()
	if err := h.s.Close(); err != nil {
		h.t.Fatal(err)
	}
	acq, rel, held := h.streams.refs()
	if acq != rel || held != 0 {
		h.t.Errorf("stream references: %d Acquire, %d Release, %d held", acq, rel, held)
	}
	for _, m := range h.media.all() {
		if n := m.closeCount(); n != 1 {
			h.t.Errorf("media session %d closed %d times", m.p.ID, n)
		}
	}
}

func (h *harness) invoke(req *dm.Request, cmd uint32, in servetest.Encoder) (dm.CommandResponse, error) {
	h.t.Helper()
	return servetest.Invoke(h.t, h.s, req, cmd, in)
}

// solicit creates a session with SolicitOffer and returns its ID.
func (h *harness) solicit(req *dm.Request, usage globals.StreamUsage, video ...uint16) uint16 {
	h.t.Helper()
	var out SolicitOfferResponse
	servetest.Call(h.t, h.s, req, CmdSolicitOffer, &SolicitOfferRequest{
		StreamUsage: usage, OriginatingEndpointID: requestorEP, VideoStreams: field.Some(video),
	}, CmdSolicitOfferResponse, &out)
	return out.WebRTCSessionID
}

// provide creates a session with ProvideOffer and returns its ID.
func (h *harness) provide(req *dm.Request, sdp string, video ...uint16) uint16 {
	h.t.Helper()
	var out ProvideOfferResponse
	servetest.Call(h.t, h.s, req, CmdProvideOffer, &ProvideOfferRequest{
		SDP: sdp, StreamUsage: field.Some(globals.StreamUsageLiveView), OriginatingEndpointID: field.Some[uint16](requestorEP),
		VideoStreams: field.Some(video),
	}, CmdProvideOfferResponse, &out)
	return out.WebRTCSessionID
}

// sessions reads CurrentSessions fabric-filtered as req.
func (h *harness) sessions(req *dm.Request) []webrtctransportdefinitions.WebRTCSession {
	h.t.Helper()
	return servetest.ReadList[webrtctransportdefinitions.WebRTCSession](h.t, h.s, servetest.Filtered(req), AttrCurrentSessions)
}

// ids returns the IDs of all live sessions.
func (h *harness) ids() []uint16 {
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	var out []uint16
	for _, sess := range h.s.sessions {
		out = append(out, sess.id)
	}
	return out
}

// bubble runs f inside a synctest bubble with a fresh harness, which is
// finished (closed and checked) at the end; synctest then fails the test
// if any goroutine the server started is still around. After a failure
// the server is only closed, so the bubble can end.
func bubble(t *testing.T, edit func(*Config), f func(t *testing.T, h *harness)) {
	t.Helper()
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, edit)
		t.Cleanup(func() {
			if t.Failed() {
				h.s.Close()
			}
		})
		f(t, h)
		synctest.Wait()
		h.finish()
	})
}

func status(err error) dm.Status { return servetest.Status(err) }

func candidate(s string) Candidate {
	return Candidate{Candidate: s, SDPMid: field.NonNull("0"), SDPMLineIndex: field.NonNull[uint16](0)}
}

var errUnreachable = errors.New("no route to controller")
