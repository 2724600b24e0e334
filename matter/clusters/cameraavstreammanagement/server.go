package cameraavstreammanagement

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/mattercam/mattercam/matter/clusters/field"
	"github.com/mattercam/mattercam/matter/clusters/globals"
	"github.com/mattercam/mattercam/matter/clusters/internal/serve"
	"github.com/mattercam/mattercam/matter/dm"
	"github.com/mattercam/mattercam/matter/storage"
	"github.com/mattercam/mattercam/matter/tlv"
)

// Limits.
const (
	// MaxStreamsPerKind bounds each of AllocatedVideoStreams,
	// AllocatedAudioStreams and AllocatedSnapshotStreams: the lists a
	// controller can grow. One more allocation is RESOURCE_EXHAUSTED. A
	// camera has few encoders, and the WebRTC session structures carry at
	// most 16 stream IDs of a kind (spec digest §2.3).
	MaxStreamsPerKind = 16

	// MaxSnapshotSize is the largest JPEG CaptureSnapshot returns; a
	// larger one is RESOURCE_EXHAUSTED (spec digest §5.5). The response
	// must fit one large message over TCP: a peer accepts 64000 octets
	// unless it advertises otherwise (transport.DefaultMaxTCPMessageSize,
	// the MAX_TCP_MESSAGE_SIZE session parameter's default). Out of that
	// come the message header (at most 26 octets with source and
	// destination node IDs and an extension length), the protocol header
	// (6 to 10), the MIC (16), the InvokeResponseMessage envelope with the
	// command path (about 40) and the response's other fields and the
	// octet string's 5-octet header (about 20): about 120 octets. 1000 are
	// kept, as connectedhomeip keeps some slack below its own limit of
	// about 63.8 KB, so a camera whose JPEG encoder overshoots a little
	// still answers.
	MaxSnapshotSize = 64000 - 1000

	// SnapshotTimeout bounds Encoders.Snapshot, so a stuck encoder does
	// not hold the command (and its exchange) for ever.
	SnapshotTimeout = 5 * time.Second

	// maxCapabilityEntries bounds the capability lists of the
	// configuration (RateDistortionTradeOffPoints, SnapshotCapabilities,
	// the microphone's codec, rate and depth lists), so the fixed
	// attributes stay small.
	maxCapabilityEntries = 32

	// maxLevel is the largest microphone level (spec digest §5.2:
	// MicrophoneMaxLevel is at most 254).
	maxLevel = 254
)

// Capabilities describe the camera's media hardware, as the capture side
// reports it: the fixed attributes (spec digest §5.2) and what every
// allocation is checked against (§5.5). Nothing here is hard-coded in the
// cluster.
type Capabilities struct {
	// VideoSensorParams is the sensor's size and frame rate (no HDR:
	// MaxHdrfps must be absent).
	VideoSensorParams VideoSensorParams
	// MinViewportResolution is the smallest viewport the sensor crops to.
	MinViewportResolution VideoResolution
	// RateDistortionTradeOffPoints lists, per codec and resolution, the
	// least bit rate worth encoding at; a video stream is possible when a
	// point of its codec lies in its resolution range below its maximum
	// bit rate.
	RateDistortionTradeOffPoints []RateDistortionTradeOffPoints
	// MaxConcurrentEncoders bounds video streams plus hardware-encoded
	// snapshot streams; MaxEncodedPixelRate bounds the sum of their frame
	// rate x width x height (pixels per second).
	MaxConcurrentEncoders uint8
	MaxEncodedPixelRate   uint32
	// MaxContentBufferSize is the pre-roll buffer in octets.
	MaxContentBufferSize uint32
	// MicrophoneCapabilities: audio streams must use one of its codecs,
	// sample rates and bit depths and at most its channels.
	MicrophoneCapabilities AudioCapabilities
	// SnapshotCapabilities: a snapshot stream needs an entry of its codec
	// with at least its frame rate and a resolution in its range.
	SnapshotCapabilities []SnapshotCapabilities
	// MaxNetworkBandwidth in bits per second.
	MaxNetworkBandwidth uint32
	// SupportedStreamUsages, also the factory StreamUsagePriorities, in
	// that order (spec digest §5.2).
	SupportedStreamUsages []globals.StreamUsage
	// MicrophoneMinLevel and MicrophoneMaxLevel bound
	// MicrophoneVolumeLevel (MinLevel <= MaxLevel <= 254).
	MicrophoneMinLevel, MicrophoneMaxLevel uint8
}

// Encoders is the capture side as the cluster drives it (DESIGN §3: "AV
// Stream Management owns stream allocation; the capture side implements
// open/close an encoder for this stream"). Each allocated video and audio
// stream owns one encoder. The methods are called without the cluster's
// locks held, one allocation or deallocation at a time.
type Encoders interface {
	// OpenVideo starts the encoder of a newly allocated video stream
	// (or of a stream reloaded at start). An error refuses the
	// allocation with RESOURCE_EXHAUSTED; nothing stays allocated.
	OpenVideo(stream VideoStream) error
	// CloseVideo stops the encoder of a deallocated video stream.
	CloseVideo(id uint16)
	// OpenAudio and CloseAudio do the same for audio streams.
	OpenAudio(stream AudioStream) error
	CloseAudio(id uint16)
	// Snapshot takes a picture for CaptureSnapshot with the stream's
	// parameters, as near to want as it can (want lies within the
	// stream's resolution range), and returns it coded with the stream's
	// ImageCodec, with its resolution.
	Snapshot(ctx context.Context, stream SnapshotStream, want VideoResolution) (image []byte, got VideoResolution, err error)
}

// VideoReconfigurer is implemented by Encoders that can change a running
// video encoder's parameters. When a compatible allocation reuses a video
// stream and narrows its ranges (spec digest §5.5), the cluster calls it
// with the narrowed stream; an error refuses the allocation with
// RESOURCE_EXHAUSTED and leaves the stream as it was. Without it the
// encoder keeps its parameters.
type VideoReconfigurer interface {
	ReconfigureVideo(stream VideoStream) error
}

// Config configures a CameraAvStreamManagement server.
type Config struct {
	// Capabilities of the capture hardware. Required.
	Capabilities Capabilities
	// Encoders opens and closes encoders and takes snapshots. Required.
	Encoders Encoders
	// Store keeps the allocated streams, StreamUsagePriorities, the soft
	// privacy modes, the microphone settings and the viewport. Required.
	Store *storage.Store
	// Endpoint the cluster is on; zero means 1, the Camera endpoint (the
	// root endpoint cannot host it).
	Endpoint uint16
	// Notify is told about attribute changes; nil means nobody.
	Notify Notifier
	// Logger; nil means slog.Default().
	Logger *slog.Logger
	// OnPrivacyChanged is called after any of HardPrivacyModeOn,
	// SoftLivestreamPrivacyModeEnabled and SoftRecordingPrivacyModeEnabled
	// changes, without the cluster's locks held; Privacy gives the new
	// state. The WebRTC provider ends the sessions the new state forbids
	// (spec digest §5.6). It runs on the goroutine of the write (or of
	// SetHardPrivacy) and must not block. Nil: nobody is told.
	OnPrivacyChanged func()
	// OnMicrophoneChanged is called, without locks, after MicrophoneMuted
	// or MicrophoneVolumeLevel is written (a muted microphone sends
	// silence, spec digest §5.2). Nil: nobody is told.
	OnMicrophoneChanged func(muted bool, level uint8)
	// OnViewportChanged is called, without locks, after Viewport is
	// written. Nil: nobody is told.
	OnViewportChanged func(globals.Viewport)
	// CurrentFrameRate reports the sensor's current frame rate; nil
	// reads as 0. Call FrameRateChanged when it changes.
	CurrentFrameRate func() uint16
}

// Notifier is told about attribute changes; *dm.Node implements it.
type Notifier = serve.Notifier

// Errors of Acquire, wrapped with the stream concerned.
var (
	// ErrNotAllocated: a stream ID is not allocated.
	ErrNotAllocated = errors.New("cameraavstreammanagement: stream not allocated")
	// ErrTooManyReferences: a stream's ReferenceCount (an 8-bit count) is
	// at its maximum.
	ErrTooManyReferences = errors.New("cameraavstreammanagement: stream reference count full")
)

// Server is the Camera AV Stream Management cluster (0x0551, rev 2; spec
// digest §5) with Audio, Video, Snapshot and Privacy (FeatureMap 0x0F),
// serving the minimal profile of §5.7 plus HardPrivacyModeOn, driven by
// the board's privacy switch through SetHardPrivacy.
//
// It owns stream allocation (the capture side only opens and closes
// encoders) and the privacy state (DESIGN §3: one state, one owner).
// Allocations, StreamUsagePriorities, the soft privacy modes, the
// microphone settings and the viewport are stored as one record, so a
// change is written whole or not at all. Reference counts are not
// stored: sessions do not survive a restart, so they start at 0.
//
// Server implements webrtctransportprovider.Streams.
type Server struct {
	serve.Base
	cfg  Config
	caps *Capabilities
	log  *slog.Logger

	// opMu serialises the commands that change allocations or
	// priorities, with the Encoders calls they make outside mu.
	opMu   sync.Mutex
	closed bool // Close ran; guarded by opMu

	mu   sync.Mutex
	st   state
	hard bool // HardPrivacyModeOn; not stored, the switch says
}

var _ dm.Cluster = (*Server)(nil)

// The attributes of the minimal profile (spec digest §5.7) with PRIV, and
// HardPrivacyModeOn for the privacy switch.
var servedAttrs = []uint32{
	AttrMaxConcurrentEncoders, AttrMaxEncodedPixelRate, AttrVideoSensorParams, AttrMinViewportResolution,
	AttrRateDistortionTradeOffPoints, AttrMaxContentBufferSize, AttrMicrophoneCapabilities,
	AttrSnapshotCapabilities, AttrMaxNetworkBandwidth, AttrCurrentFrameRate, AttrSupportedStreamUsages,
	AttrAllocatedVideoStreams, AttrAllocatedAudioStreams, AttrAllocatedSnapshotStreams,
	AttrStreamUsagePriorities, AttrSoftRecordingPrivacyModeEnabled, AttrSoftLivestreamPrivacyModeEnabled,
	AttrHardPrivacyModeOn, AttrViewport, AttrMicrophoneMuted, AttrMicrophoneVolumeLevel,
	AttrMicrophoneMaxLevel, AttrMicrophoneMinLevel,
}

// The commands of the minimal profile: no Modify commands without WMARK
// or OSD (spec digest §5.7).
var servedCmds = []uint32{
	CmdAudioStreamAllocate, CmdAudioStreamDeallocate, CmdVideoStreamAllocate, CmdVideoStreamDeallocate,
	CmdSnapshotStreamAllocate, CmdSnapshotStreamDeallocate, CmdSetStreamPriorities, CmdCaptureSnapshot,
}

var meta = serve.Subset(&Meta, servedAttrs, servedCmds, nil)

// features is the FeatureMap: ADO | VDO | SNP | PRIV (spec digest §5.7).
const features = FeatureAudio | FeatureVideo | FeatureSnapshot | FeaturePrivacy

// New returns a server, reloading the stored state and re-opening the
// encoders of the stored streams. A stored stream the capabilities or the
// encoders no longer allow is dropped (and the record rewritten); an
// unusable record is replaced by the factory state.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.Encoders == nil {
		return nil, errors.New("cameraavstreammanagement: Config.Store and Config.Encoders are required")
	}
	caps, err := cfg.Capabilities.checked()
	if err != nil {
		return nil, fmt.Errorf("cameraavstreammanagement: capabilities: %w", err)
	}
	if cfg.Endpoint == 0 {
		cfg.Endpoint = 1
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	s := &Server{cfg: cfg, caps: caps, log: log.With("component", "cameraavstreammanagement")}
	s.Init(meta, cfg.Endpoint, cfg.Notify)
	if err := s.load(); err != nil {
		return nil, err
	}
	return s, nil
}

// factoryState is the state of a factory-new camera: nothing allocated,
// priorities as supported (spec digest §5.2), privacy off, the
// microphone unmuted at its highest level, the viewport the whole sensor.
func (c *Capabilities) factoryState() state {
	return state{
		priorities: slices.Clone(c.SupportedStreamUsages),
		micLevel:   c.MicrophoneMaxLevel,
		viewport:   globals.Viewport{X2: c.VideoSensorParams.SensorWidth, Y2: c.VideoSensorParams.SensorHeight},
	}
}

// FeatureMap implements dm.Cluster.
func (s *Server) FeatureMap() uint32 { return features }

// Close stops the encoders of every allocated stream, at shutdown, once
// the node no longer serves the cluster; later calls do nothing. The
// allocations stay stored; New re-opens them.
func (s *Server) Close() {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	s.mu.Lock()
	video, audio := ids(s.st.video, videoID), ids(s.st.audio, audioID)
	s.mu.Unlock()
	for _, id := range video {
		s.cfg.Encoders.CloseVideo(id)
	}
	for _, id := range audio {
		s.cfg.Encoders.CloseAudio(id)
	}
}

// Privacy returns HardPrivacyModeOn, SoftLivestreamPrivacyModeEnabled and
// SoftRecordingPrivacyModeEnabled.
func (s *Server) Privacy() (hard, softLivestream, softRecording bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hard, s.st.softLivestream, s.st.softRecording
}

// SetHardPrivacy sets HardPrivacyModeOn from the privacy switch. It is
// not stored: the switch is read again at start.
func (s *Server) SetHardPrivacy(on bool) {
	s.mu.Lock()
	changed := s.hard != on
	s.hard = on
	s.mu.Unlock()
	if !changed {
		return
	}
	s.log.Info("hard privacy mode", "on", on)
	s.Changed(AttrHardPrivacyModeOn)
	s.privacyChanged()
}

func (s *Server) privacyChanged() {
	if f := s.cfg.OnPrivacyChanged; f != nil {
		f()
	}
}

// Microphone returns MicrophoneMuted and MicrophoneVolumeLevel.
func (s *Server) Microphone() (muted bool, level uint8) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.micMuted, s.st.micLevel
}

// Viewport returns the Viewport attribute.
func (s *Server) Viewport() globals.Viewport {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.viewport
}

// FrameRateChanged reports that Config.CurrentFrameRate now returns
// another value.
func (s *Server) FrameRateChanged() { s.Changed(AttrCurrentFrameRate) }

// ReadAttribute implements dm.Cluster.
func (s *Server) ReadAttribute(_ *dm.Request, attr uint32, w *tlv.Writer, tag tlv.Tag) error {
	c := s.caps
	switch attr {
	case AttrMaxConcurrentEncoders:
		w.PutUint(tag, uint64(c.MaxConcurrentEncoders))
	case AttrMaxEncodedPixelRate:
		w.PutUint(tag, uint64(c.MaxEncodedPixelRate))
	case AttrVideoSensorParams:
		c.VideoSensorParams.EncodeTLV(w, tag)
	case AttrMinViewportResolution:
		c.MinViewportResolution.EncodeTLV(w, tag)
	case AttrRateDistortionTradeOffPoints:
		serve.PutList(w, tag, c.RateDistortionTradeOffPoints)
	case AttrMaxContentBufferSize:
		w.PutUint(tag, uint64(c.MaxContentBufferSize))
	case AttrMicrophoneCapabilities:
		c.MicrophoneCapabilities.EncodeTLV(w, tag)
	case AttrSnapshotCapabilities:
		serve.PutList(w, tag, c.SnapshotCapabilities)
	case AttrMaxNetworkBandwidth:
		w.PutUint(tag, uint64(c.MaxNetworkBandwidth))
	case AttrCurrentFrameRate:
		var v uint16
		if f := s.cfg.CurrentFrameRate; f != nil {
			v = f()
		}
		w.PutUint(tag, uint64(v))
	case AttrSupportedStreamUsages:
		serve.PutUintList(w, tag, c.SupportedStreamUsages)
	case AttrMicrophoneMaxLevel:
		w.PutUint(tag, uint64(c.MicrophoneMaxLevel))
	case AttrMicrophoneMinLevel:
		w.PutUint(tag, uint64(c.MicrophoneMinLevel))
	default:
		return s.readState(attr, w, tag)
	}
	return w.Err()
}

// readState reads the attributes that change.
func (s *Server) readState(attr uint32, w *tlv.Writer, tag tlv.Tag) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &s.st
	switch attr {
	case AttrAllocatedVideoStreams:
		serve.PutList(w, tag, st.video)
	case AttrAllocatedAudioStreams:
		serve.PutList(w, tag, st.audio)
	case AttrAllocatedSnapshotStreams:
		serve.PutList(w, tag, st.snap)
	case AttrStreamUsagePriorities:
		serve.PutUintList(w, tag, st.priorities)
	case AttrSoftRecordingPrivacyModeEnabled:
		w.PutBool(tag, st.softRecording)
	case AttrSoftLivestreamPrivacyModeEnabled:
		w.PutBool(tag, st.softLivestream)
	case AttrHardPrivacyModeOn:
		w.PutBool(tag, s.hard)
	case AttrViewport:
		st.viewport.EncodeTLV(w, tag)
	case AttrMicrophoneMuted:
		w.PutBool(tag, st.micMuted)
	case AttrMicrophoneVolumeLevel:
		w.PutUint(tag, uint64(st.micLevel))
	default:
		return serve.UnsupportedAttribute()
	}
	return w.Err()
}

// WriteAttribute implements dm.Cluster: the soft privacy modes (Operate),
// the viewport and the microphone settings (Manage) are writable and
// stored (spec digest §5.2).
func (s *Server) WriteAttribute(_ *dm.Request, attr uint32, r *tlv.Reader, _ bool) error {
	switch attr {
	case AttrSoftRecordingPrivacyModeEnabled, AttrSoftLivestreamPrivacyModeEnabled:
		v, err := r.Bool()
		if err != nil {
			return serve.ValueError(err)
		}
		return s.setSoftPrivacy(attr, v)
	case AttrMicrophoneMuted:
		v, err := r.Bool()
		if err != nil {
			return serve.ValueError(err)
		}
		return s.setMicrophone(func(st *state) { st.micMuted = v }, AttrMicrophoneMuted)
	case AttrMicrophoneVolumeLevel:
		v, err := field.Uint[uint8](r)
		if err != nil {
			return serve.ValueError(err)
		}
		if v < s.caps.MicrophoneMinLevel || v > s.caps.MicrophoneMaxLevel {
			return dm.Errorf(dm.StatusConstraintError, "cameraavstreammanagement: microphone level %d outside %d..%d",
				v, s.caps.MicrophoneMinLevel, s.caps.MicrophoneMaxLevel)
		}
		return s.setMicrophone(func(st *state) { st.micLevel = v }, AttrMicrophoneVolumeLevel)
	case AttrViewport:
		var v globals.Viewport
		if err := serve.DecodeValue(r, &v); err != nil {
			return err
		}
		return s.setViewport(v)
	}
	if meta.Attribute(attr) == nil {
		return serve.UnsupportedAttribute()
	}
	return serve.UnsupportedWrite()
}

// setSoftPrivacy writes SoftRecordingPrivacyModeEnabled or
// SoftLivestreamPrivacyModeEnabled (spec digest §5.6).
func (s *Server) setSoftPrivacy(attr uint32, on bool) error {
	changed, err := s.update(func(st *state) bool {
		p := &st.softRecording
		if attr == AttrSoftLivestreamPrivacyModeEnabled {
			p = &st.softLivestream
		}
		if *p == on {
			return false
		}
		*p = on
		return true
	})
	if err != nil || !changed {
		return err
	}
	s.log.Info("soft privacy mode", "attribute", meta.Attribute(attr).Name, "on", on)
	s.Changed(attr)
	s.privacyChanged()
	return nil
}

func (s *Server) setMicrophone(set func(*state), attr uint32) error {
	var muted bool
	var level uint8
	changed, err := s.update(func(st *state) bool {
		old := *st
		set(st)
		muted, level = st.micMuted, st.micLevel
		return st.micMuted != old.micMuted || st.micLevel != old.micLevel
	})
	if err != nil || !changed {
		return err
	}
	s.Changed(attr)
	if f := s.cfg.OnMicrophoneChanged; f != nil {
		f(muted, level)
	}
	return nil
}

// setViewport writes Viewport: a rectangle of the sensor (origin top
// left) at least MinViewportResolution in size, else CONSTRAINT_ERROR
// (spec digest §5.2, §5.5 "a value outside its constraint").
func (s *Server) setViewport(v globals.Viewport) error {
	c := s.caps
	if !c.validViewport(v) {
		return dm.Errorf(dm.StatusConstraintError, "cameraavstreammanagement: viewport %+v outside the %dx%d sensor or under %dx%d",
			v, c.VideoSensorParams.SensorWidth, c.VideoSensorParams.SensorHeight,
			c.MinViewportResolution.Width, c.MinViewportResolution.Height)
	}
	changed, err := s.update(func(st *state) bool {
		if st.viewport == v {
			return false
		}
		st.viewport = v
		return true
	})
	if err != nil || !changed {
		return err
	}
	s.Changed(AttrViewport)
	if f := s.cfg.OnViewportChanged; f != nil {
		f(v)
	}
	return nil
}

// update applies change to a copy of the state and, when it reports a
// change, stores the copy and puts it in force, all under mu so that no
// concurrent change (a reference count) is lost.
func (s *Server) update(change func(*state) bool) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := s.st.clone()
	if !change(&next) {
		return false, nil
	}
	if err := s.commitLocked(&next); err != nil {
		return false, err
	}
	return true, nil
}

// Invoke implements dm.Cluster.
func (s *Server) Invoke(req *dm.Request, cmd uint32, r *tlv.Reader, resp *dm.CommandResponse) error {
	switch cmd {
	case CmdVideoStreamAllocate:
		id, err := s.videoStreamAllocate(r)
		if err != nil {
			return err
		}
		return serve.Respond(resp, CmdVideoStreamAllocateResponse, &VideoStreamAllocateResponse{VideoStreamID: id})
	case CmdAudioStreamAllocate:
		id, err := s.audioStreamAllocate(r)
		if err != nil {
			return err
		}
		return serve.Respond(resp, CmdAudioStreamAllocateResponse, &AudioStreamAllocateResponse{AudioStreamID: id})
	case CmdSnapshotStreamAllocate:
		id, err := s.snapshotStreamAllocate(r)
		if err != nil {
			return err
		}
		return serve.Respond(resp, CmdSnapshotStreamAllocateResponse, &SnapshotStreamAllocateResponse{SnapshotStreamID: id})
	case CmdVideoStreamDeallocate:
		var in VideoStreamDeallocateRequest
		if err := serve.DecodeCommand(r, &in); err != nil {
			return err
		}
		return s.deallocate(kindVideo, in.VideoStreamID)
	case CmdAudioStreamDeallocate:
		var in AudioStreamDeallocateRequest
		if err := serve.DecodeCommand(r, &in); err != nil {
			return err
		}
		return s.deallocate(kindAudio, in.AudioStreamID)
	case CmdSnapshotStreamDeallocate:
		var in SnapshotStreamDeallocateRequest
		if err := serve.DecodeCommand(r, &in); err != nil {
			return err
		}
		return s.deallocate(kindSnapshot, in.SnapshotStreamID)
	case CmdSetStreamPriorities:
		var in SetStreamPrioritiesRequest
		if err := serve.DecodeCommand(r, &in); err != nil {
			return err
		}
		return s.setStreamPriorities(in.StreamPriorities)
	case CmdCaptureSnapshot:
		ctx := context.Background()
		if req != nil && req.Ctx != nil {
			ctx = req.Ctx
		}
		out, err := s.captureSnapshot(ctx, r)
		if err != nil {
			return err
		}
		return serve.Respond(resp, CmdCaptureSnapshotResponse, out)
	}
	return serve.UnsupportedCommand()
}
