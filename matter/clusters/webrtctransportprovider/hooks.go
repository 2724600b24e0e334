package webrtctransportprovider

import (
	"context"
	"errors"

	"github.com/mattercam/mattercam/matter/clusters/globals"
	"github.com/mattercam/mattercam/matter/clusters/webrtctransportdefinitions"
)

// The seams of the provider (DESIGN §3 "WebRTC provider = cluster +
// hooks"): the cluster owns the session table, the state machine, fabric
// scoping, limits and the outbound worker; everything else is behind the
// three interfaces below.
//
//   - Media: SDP, ICE, DTLS and tracks, implemented in package webrtc.
//   - Streams: Camera AV Stream Management (allocations, reference counts,
//     privacy), implemented by cameraavstreammanagement.Server.
//   - Requestor: invoking commands on the controller's WebRTC Transport
//     Requestor (0x0554), implemented by the node (matter/device).

// Candidate is an ICE candidate as Matter carries it (ICECandidateStruct,
// spec digest §2.3): RFC 8839 candidate-attribute text ("candidate:…"),
// with its media stream identification. An empty Candidate string means
// end of candidates (RFC 8838 §4.1, trickle ICE).
type Candidate = webrtctransportdefinitions.ICECandidate

// ICEServer is a STUN or TURN server the controller asks the camera to use.
type ICEServer = webrtctransportdefinitions.ICEServer

// EndReason says why a session ended (WebRTCEndReasonEnum).
type EndReason = webrtctransportdefinitions.WebRTCEndReason

// Errors a Media implementation returns (wrapped) so the cluster can map
// them to the status the controller gets.
var (
	// ErrInvalidSDP: the SDP does not parse, or lacks what an offer or
	// answer must carry (ICE credentials, a DTLS fingerprint, media
	// sections). The command gets INVALID_COMMAND.
	ErrInvalidSDP = errors.New("webrtc provider: invalid SDP")
	// ErrUnsupportedMedia: the SDP is well formed but accepts none of the
	// codecs the camera sends for a requested stream (an offer without
	// H.264 for a session with video, without Opus for a session with
	// audio). The command gets DYNAMIC_CONSTRAINT_ERROR.
	ErrUnsupportedMedia = errors.New("webrtc provider: no common codec")
	// ErrNoResources: the media side cannot take another session (ports,
	// encoders). The command gets RESOURCE_EXHAUSTED.
	ErrNoResources = errors.New("webrtc provider: no media resources")
)

// Media opens the media side of sessions.
type Media interface {
	// CheckOffer validates a remote offer without side effects, cheaply
	// enough to run inside the command handler: ErrInvalidSDP or
	// ErrUnsupportedMedia (wrapped) when it cannot be accepted for a
	// session with video (hasVideo) and/or audio (hasAudio).
	CheckOffer(sdp string, hasVideo, hasAudio bool) error
	// Open creates the media side of a session. It does not block on the
	// network; the session's events arrive through p's callbacks.
	Open(p MediaParams) (MediaSession, error)
}

// MediaParams describes a session to the media side.
type MediaParams struct {
	// ID is the WebRTCSessionID (for logs and metrics).
	ID uint16
	// Usage is the session's stream usage.
	Usage globals.StreamUsage
	// VideoStreams and AudioStreams are the allocated streams (Camera AV
	// Stream Management IDs) whose encoders feed the session; the
	// reference counts are already taken.
	VideoStreams, AudioStreams []uint16
	// ICEServers and ICETransportPolicy come from the controller
	// ("all", "relay"; empty means all).
	ICEServers         []ICEServer
	ICETransportPolicy string

	// OnCandidate is called for each local candidate as it is gathered
	// (trickle ICE), and once with an empty Candidate at the end of
	// gathering. OnConnected is called once when media starts flowing
	// (ICE and DTLS up). OnEnd is called at most once when the media
	// side ends the session by itself: ICE failed (IceFailed), never
	// connected in time (IceTimeout), no media (MediaTimeout), the peer
	// closed it (UserHangup). The callbacks run on media goroutines and
	// must not block; they are never called after Close returns.
	OnCandidate func(Candidate)
	OnConnected func()
	OnEnd       func(EndReason)
}

// MediaSession is one WebRTC peer connection.
type MediaSession interface {
	// CreateOffer makes the local offer (SolicitOffer flow, spec digest
	// §4.2) with the session's tracks and starts ICE gathering.
	CreateOffer(ctx context.Context) (sdp string, err error)
	// AcceptOffer applies a remote offer (ProvideOffer, new session or
	// re-offer, §4.1) and returns the local answer; gathering starts.
	AcceptOffer(ctx context.Context, sdp string) (answer string, err error)
	// AcceptAnswer applies the remote answer to the local offer
	// (ProvideAnswer).
	AcceptAnswer(ctx context.Context, sdp string) error
	// AddCandidates adds remote candidates (ProvideICECandidates); an
	// empty Candidate marks the end of the remote candidates.
	AddCandidates(c []Candidate) error
	// Close tears the peer connection down and stops its goroutines.
	Close() error
}

// Streams is Camera AV Stream Management as the provider needs it.
type Streams interface {
	// Privacy returns the privacy state: HardPrivacyModeOn,
	// SoftLivestreamPrivacyModeEnabled, SoftRecordingPrivacyModeEnabled.
	Privacy() (hard, softLivestream, softRecording bool)
	// UsagePrioritized reports whether usage is in StreamUsagePriorities.
	UsagePrioritized(usage globals.StreamUsage) bool
	// AllocatedVideoStreams and AllocatedAudioStreams return the IDs of
	// the allocated streams, in the order a session should prefer them
	// for usage (streams of that usage first).
	AllocatedVideoStreams(usage globals.StreamUsage) []uint16
	AllocatedAudioStreams(usage globals.StreamUsage) []uint16
	// Acquire increments the ReferenceCount of every listed stream, all
	// or none: an error if any is not allocated.
	Acquire(video, audio []uint16) error
	// Release decrements what Acquire incremented.
	Release(video, audio []uint16)
}

// Peer names the Requestor a session reports to: the controller node of
// the session's fabric and the endpoint that hosts its Requestor server
// (OriginatingEndpointID).
type Peer struct {
	FabricIndex uint8
	NodeID      uint64
	Endpoint    uint16
}

// Requestor invokes commands on a controller's WebRTC Transport Requestor
// cluster (0x0554, spec digest §3) as large messages, over an existing
// CASE session with the peer when there is one (TCP preferred), else a
// new one.
type Requestor interface {
	// Invoke sends command (webrtctransportrequestor.CmdOffer, …) with
	// fields, the request structure TLV-encoded with an anonymous tag,
	// and waits for the requestor's status. A non-SUCCESS status is
	// returned as a *dm.StatusError; transport failures as other errors.
	// The fields are encoded once by the caller, so retries resend the
	// same payload.
	Invoke(ctx context.Context, peer Peer, command uint32, fields []byte) error
}
