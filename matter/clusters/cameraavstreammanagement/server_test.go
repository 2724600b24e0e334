package cameraavstreammanagement

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"testing"

	"github.com/mattercam/mattercam/matter/clusters/field"
	"github.com/mattercam/mattercam/matter/clusters/globals"
	"github.com/mattercam/mattercam/matter/clusters/internal/servetest"
	"github.com/mattercam/mattercam/matter/clusters/webrtctransportprovider"
	"github.com/mattercam/mattercam/matter/dm"
	"github.com/mattercam/mattercam/matter/storage"
	"github.com/mattercam/mattercam/matter/tlv"
	"github.com/mattercam/mattercam/matter/transport"
)

// The provider drives the cluster through this interface; asserted here,
// in a test, so the package itself never imports the provider.
var _ webrtctransportprovider.Streams = (*Server)(nil)

// testCaps is a 1080p30 camera (the spec digest §5.7 suggestions) with
// two encoders and a pixel rate for one 1080p30 video stream plus one
// 1080p snapshot stream at 1 fps, so that each limit can be reached on
// its own.
func testCaps() Capabilities {
	return Capabilities{
		VideoSensorParams:     VideoSensorParams{SensorWidth: 1920, SensorHeight: 1080, MaxFps: 30},
		MinViewportResolution: VideoResolution{Width: 640, Height: 360},
		RateDistortionTradeOffPoints: []RateDistortionTradeOffPoints{
			{Codec: VideoCodecH264, Resolution: VideoResolution{Width: 640, Height: 360}, MinBitRate: 300_000},
			{Codec: VideoCodecH264, Resolution: VideoResolution{Width: 1280, Height: 720}, MinBitRate: 1_000_000},
			{Codec: VideoCodecH264, Resolution: VideoResolution{Width: 1920, Height: 1080}, MinBitRate: 2_000_000},
		},
		MaxConcurrentEncoders: 2,
		MaxEncodedPixelRate:   1920*1080*30 + 1920*1080*1,
		MaxContentBufferSize:  4096,
		MicrophoneCapabilities: AudioCapabilities{
			MaxNumberOfChannels: 1, SupportedCodecs: []AudioCodec{AudioCodecOpus},
			SupportedSampleRates: []uint32{48000, 16000}, SupportedBitDepths: []uint8{16},
		},
		SnapshotCapabilities: []SnapshotCapabilities{
			{Resolution: VideoResolution{Width: 1920, Height: 1080}, MaxFrameRate: 1, ImageCodec: ImageCodecJpeg},
		},
		MaxNetworkBandwidth:   10_000_000,
		SupportedStreamUsages: []globals.StreamUsage{globals.StreamUsageLiveView, globals.StreamUsageRecording},
		MicrophoneMinLevel:    1,
		MicrophoneMaxLevel:    254,
	}
}

// roomyCaps are testCaps whose only video limit is the two encoders.
func roomyCaps() Capabilities {
	c := testCaps()
	c.MaxEncodedPixelRate = 1 << 31
	return c
}

// fakeEncoders records the encoders the cluster opens and closes.
type fakeEncoders struct {
	mu               sync.Mutex
	video            map[uint16]VideoStream
	audio            map[uint16]AudioStream
	opened, closed   int
	failVideo        error
	failAudio        error
	snapshot         func(ctx context.Context, s SnapshotStream, want VideoResolution) ([]byte, VideoResolution, error)
	snapshotRequests []VideoResolution
}

func newFakeEncoders() *fakeEncoders {
	return &fakeEncoders{video: map[uint16]VideoStream{}, audio: map[uint16]AudioStream{}}
}

func (f *fakeEncoders) OpenVideo(s VideoStream) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failVideo != nil {
		return f.failVideo
	}
	if _, ok := f.video[s.VideoStreamID]; ok {
		return fmt.Errorf("video encoder %d opened twice", s.VideoStreamID)
	}
	f.video[s.VideoStreamID] = s
	f.opened++
	return nil
}

func (f *fakeEncoders) CloseVideo(id uint16) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.video, id)
	f.closed++
}

func (f *fakeEncoders) OpenAudio(s AudioStream) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failAudio != nil {
		return f.failAudio
	}
	if _, ok := f.audio[s.AudioStreamID]; ok {
		return fmt.Errorf("audio encoder %d opened twice", s.AudioStreamID)
	}
	f.audio[s.AudioStreamID] = s
	f.opened++
	return nil
}

func (f *fakeEncoders) CloseAudio(id uint16) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.audio, id)
	f.closed++
}

func (f *fakeEncoders) Snapshot(ctx context.Context, s SnapshotStream, want VideoResolution) ([]byte, VideoResolution, error) {
	f.mu.Lock()
	f.snapshotRequests = append(f.snapshotRequests, want)
	snap := f.snapshot
	f.mu.Unlock()
	if snap != nil {
		return snap(ctx, s, want)
	}
	return []byte{0xFF, 0xD8, 0xFF, 0xD9}, want, nil
}

func (f *fakeEncoders) videoIDs() []uint16 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Sorted(maps.Keys(f.video))
}

func (f *fakeEncoders) audioIDs() []uint16 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Sorted(maps.Keys(f.audio))
}

// reconfEncoders are fakeEncoders that also reconfigure running encoders.
type reconfEncoders struct {
	*fakeEncoders
	reconfigured []VideoStream
	failReconf   error
}

func (r *reconfEncoders) ReconfigureVideo(s VideoStream) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failReconf != nil {
		return r.failReconf
	}
	r.reconfigured = append(r.reconfigured, s)
	r.video[s.VideoStreamID] = s
	return nil
}

type env struct {
	s       *Server
	enc     *fakeEncoders
	store   *storage.Store
	changes servetest.Changes
	privacy int // OnPrivacyChanged calls
	mic     [][2]uint8
	views   []globals.Viewport
}

type option func(*Config)

func withCaps(c Capabilities) option { return func(cfg *Config) { cfg.Capabilities = c } }

func withEncoders(e Encoders) option { return func(cfg *Config) { cfg.Encoders = e } }

func newEnv(t *testing.T, store *storage.Store, opts ...option) *env {
	t.Helper()
	e := &env{enc: newFakeEncoders(), store: store}
	cfg := Config{
		Capabilities: testCaps(),
		Encoders:     e.enc,
		Store:        store,
		Notify:       &e.changes,
		Logger:       slog.New(slog.DiscardHandler),
		OnPrivacyChanged: func() {
			// Called without locks: reading the state back must not
			// deadlock.
			e.s.Privacy()
			e.privacy++
		},
		OnMicrophoneChanged: func(muted bool, level uint8) {
			var m uint8
			if muted {
				m = 1
			}
			e.mic = append(e.mic, [2]uint8{m, level})
		},
		OnViewportChanged: func(v globals.Viewport) { e.views = append(e.views, v) },
		CurrentFrameRate:  func() uint16 { return 25 },
	}
	for _, o := range opts {
		o(&cfg)
	}
	var err error
	if e.s, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.s.Close)
	return e
}

var (
	manage = servetest.CASE(1, 0x1111)
	res360 = VideoResolution{Width: 640, Height: 360}
	res720 = VideoResolution{Width: 1280, Height: 720}
	res1k  = VideoResolution{Width: 1920, Height: 1080}
)

func videoReq() VideoStreamAllocateRequest {
	return VideoStreamAllocateRequest{
		StreamUsage: globals.StreamUsageLiveView, VideoCodec: VideoCodecH264,
		MinFrameRate: 15, MaxFrameRate: 30, MinResolution: res360, MaxResolution: res1k,
		MinBitRate: 300_000, MaxBitRate: 2_000_000, KeyFrameInterval: 4000,
	}
}

func audioReq() AudioStreamAllocateRequest {
	return AudioStreamAllocateRequest{
		StreamUsage: globals.StreamUsageLiveView, AudioCodec: AudioCodecOpus,
		ChannelCount: 1, SampleRate: 48000, BitRate: 32000, BitDepth: 16,
	}
}

func snapReq() SnapshotStreamAllocateRequest {
	return SnapshotStreamAllocateRequest{ImageCodec: ImageCodecJpeg, MaxFrameRate: 1, MinResolution: res360, MaxResolution: res1k, Quality: 90}
}

func (e *env) allocVideo(t *testing.T, in VideoStreamAllocateRequest) (uint16, error) {
	t.Helper()
	resp, err := servetest.Invoke(t, e.s, manage, CmdVideoStreamAllocate, &in)
	if err != nil {
		return 0, err
	}
	var out VideoStreamAllocateResponse
	servetest.Response(t, resp, CmdVideoStreamAllocateResponse, &out)
	return out.VideoStreamID, nil
}

func (e *env) allocAudio(t *testing.T, in AudioStreamAllocateRequest) (uint16, error) {
	t.Helper()
	resp, err := servetest.Invoke(t, e.s, manage, CmdAudioStreamAllocate, &in)
	if err != nil {
		return 0, err
	}
	var out AudioStreamAllocateResponse
	servetest.Response(t, resp, CmdAudioStreamAllocateResponse, &out)
	return out.AudioStreamID, nil
}

func (e *env) allocSnapshot(t *testing.T, in SnapshotStreamAllocateRequest) (uint16, error) {
	t.Helper()
	resp, err := servetest.Invoke(t, e.s, manage, CmdSnapshotStreamAllocate, &in)
	if err != nil {
		return 0, err
	}
	var out SnapshotStreamAllocateResponse
	servetest.Response(t, resp, CmdSnapshotStreamAllocateResponse, &out)
	return out.SnapshotStreamID, nil
}

// mustID(t)(e.allocX(…)) fails the test when the allocation does.
func mustID(t *testing.T) func(uint16, error) uint16 {
	return func(id uint16, err error) uint16 {
		t.Helper()
		if err != nil {
			t.Fatalf("allocation: %v", err)
		}
		return id
	}
}

func (e *env) video(t *testing.T) []VideoStream {
	t.Helper()
	return servetest.ReadList[VideoStream](t, e.s, manage, AttrAllocatedVideoStreams)
}

func (e *env) audio(t *testing.T) []AudioStream {
	t.Helper()
	return servetest.ReadList[AudioStream](t, e.s, manage, AttrAllocatedAudioStreams)
}

func (e *env) snaps(t *testing.T) []SnapshotStream {
	t.Helper()
	return servetest.ReadList[SnapshotStream](t, e.s, manage, AttrAllocatedSnapshotStreams)
}

func wantStatus(t *testing.T, what string, err error, want dm.Status) {
	t.Helper()
	if got := servetest.Status(err); got != want {
		t.Fatalf("%s: %v (%v), want %v", what, got, err, want)
	}
}

// rawFields encodes a fields structure by hand, for requests the
// generated encoder cannot express (a missing field).
func rawFields(t *testing.T, put func(w *tlv.Writer)) *tlv.Reader {
	t.Helper()
	return servetest.RawFields(t, servetest.Value(t, func(w *tlv.Writer, tag tlv.Tag) {
		w.StartStructure(tag)
		put(w)
		w.EndContainer()
	}))
}

func TestNewRequires(t *testing.T) {
	store := servetest.Store(t)
	if _, err := New(Config{Capabilities: testCaps(), Store: store}); err == nil {
		t.Error("New without Encoders succeeded")
	}
	if _, err := New(Config{Capabilities: testCaps(), Encoders: newFakeEncoders()}); err == nil {
		t.Error("New without Store succeeded")
	}
}

func TestNewCapabilities(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*Capabilities)
	}{
		{"small sensor", func(c *Capabilities) { c.VideoSensorParams.SensorWidth = 63 }},
		{"no fps", func(c *Capabilities) { c.VideoSensorParams.MaxFps = 0 }},
		{"HDR fps without HDR", func(c *Capabilities) { c.VideoSensorParams.MaxHdrfps = field.Some[uint16](30) }},
		{"viewport larger than sensor", func(c *Capabilities) { c.MinViewportResolution.Width = 2000 }},
		{"no RD points", func(c *Capabilities) { c.RateDistortionTradeOffPoints = nil }},
		{"RD point beyond the sensor", func(c *Capabilities) { c.RateDistortionTradeOffPoints[2].Resolution.Height = 1200 }},
		{"RD point unknown codec", func(c *Capabilities) { c.RateDistortionTradeOffPoints[0].Codec = 9 }},
		{"RD point 0 bps", func(c *Capabilities) { c.RateDistortionTradeOffPoints[0].MinBitRate = 0 }},
		{"no encoders", func(c *Capabilities) { c.MaxConcurrentEncoders = 0 }},
		{"no pixel rate", func(c *Capabilities) { c.MaxEncodedPixelRate = 0 }},
		{"9 channels", func(c *Capabilities) { c.MicrophoneCapabilities.MaxNumberOfChannels = 9 }},
		{"no audio codec", func(c *Capabilities) { c.MicrophoneCapabilities.SupportedCodecs = nil }},
		{"rate 0", func(c *Capabilities) { c.MicrophoneCapabilities.SupportedSampleRates = []uint32{0} }},
		{"depth 12", func(c *Capabilities) { c.MicrophoneCapabilities.SupportedBitDepths = []uint8{12} }},
		{"no snapshot capabilities", func(c *Capabilities) { c.SnapshotCapabilities = nil }},
		{"snapshot HW flag without encoded pixels", func(c *Capabilities) {
			c.SnapshotCapabilities[0].RequiresHardwareEncoder = field.Some(true)
		}},
		{"no usages", func(c *Capabilities) { c.SupportedStreamUsages = nil }},
		{"usage twice", func(c *Capabilities) {
			c.SupportedStreamUsages = []globals.StreamUsage{globals.StreamUsageLiveView, globals.StreamUsageLiveView}
		}},
		{"unknown usage", func(c *Capabilities) { c.SupportedStreamUsages = []globals.StreamUsage{7} }},
		{"levels reversed", func(c *Capabilities) { c.MicrophoneMinLevel, c.MicrophoneMaxLevel = 10, 5 }},
		{"level 255", func(c *Capabilities) { c.MicrophoneMaxLevel = 255 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testCaps()
			tc.mutate(&c)
			if _, err := New(Config{Capabilities: c, Encoders: newFakeEncoders(), Store: servetest.Store(t)}); err == nil {
				t.Error("New accepted the capabilities")
			}
		})
	}
	// The server keeps its own copy.
	c := testCaps()
	e := newEnv(t, servetest.Store(t), withCaps(c))
	c.RateDistortionTradeOffPoints[0].MinBitRate = 1
	c.SupportedStreamUsages[0] = globals.StreamUsageAnalysis
	if got := servetest.ReadList[RateDistortionTradeOffPoints](t, e.s, manage, AttrRateDistortionTradeOffPoints); got[0].MinBitRate != 300_000 {
		t.Errorf("capabilities aliased: %+v", got[0])
	}
	if !e.s.UsagePrioritized(globals.StreamUsageLiveView) {
		t.Error("SupportedStreamUsages aliased")
	}
}

func TestMetadata(t *testing.T) {
	e := newEnv(t, servetest.Store(t))
	if got := e.s.FeatureMap(); got != 0x0F {
		t.Errorf("FeatureMap %#x, want 0x0F (ADO|VDO|SNP|PRIV)", got)
	}
	m := e.s.Meta()
	if m.ID != 0x0551 || m.Revision != 2 {
		t.Errorf("cluster %#x rev %d", m.ID, m.Revision)
	}
	// Spec digest §5.7, with PRIV and HardPrivacyModeOn.
	wantAttrs := []uint32{0x00, 0x01, 0x02, 0x04, 0x05, 0x06, 0x07, 0x0A, 0x0B, 0x0C, 0x0E, 0x0F, 0x10, 0x11, 0x12,
		0x13, 0x14, 0x15, 0x18, 0x1D, 0x1E, 0x1F, 0x20}
	var attrs []uint32
	for _, a := range m.Attributes {
		attrs = append(attrs, a.ID)
	}
	if !slices.Equal(attrs, wantAttrs) {
		t.Errorf("attributes %#x, want %#x", attrs, wantAttrs)
	}
	var cmds []uint32
	for _, c := range m.Commands {
		cmds = append(cmds, c.ID)
	}
	if want := []uint32{0x00, 0x02, 0x03, 0x06, 0x07, 0x0A, 0x0B, 0x0C}; !slices.Equal(cmds, want) {
		t.Errorf("accepted commands %#x, want %#x", cmds, want)
	}
	gen := slices.Clone(m.Generated)
	slices.Sort(gen)
	if want := []uint32{0x01, 0x04, 0x08, 0x0D}; !slices.Equal(gen, want) {
		t.Errorf("generated commands %#x, want %#x", gen, want)
	}
	for _, tc := range []struct {
		cmd  uint32
		want dm.Privilege
	}{{CmdSetStreamPriorities, dm.PrivilegeAdminister}, {CmdCaptureSnapshot, dm.PrivilegeOperate}, {CmdVideoStreamAllocate, dm.PrivilegeManage}} {
		if got := m.Command(tc.cmd).Invoke; got != tc.want {
			t.Errorf("command %#x invoke privilege %v, want %v", tc.cmd, got, tc.want)
		}
	}
	if a := m.Attribute(AttrSoftLivestreamPrivacyModeEnabled); a.Write != dm.PrivilegeOperate {
		t.Errorf("SoftLivestreamPrivacyModeEnabled write privilege %v, want Operate", a.Write)
	}
	if _, err := servetest.ReadErr(e.s, manage, AttrSpeakerMuted); servetest.Status(err) != dm.StatusUnsupportedAttribute {
		t.Errorf("reading SpeakerMuted: %v", err)
	}
	if err := e.s.Invoke(manage, CmdVideoStreamModify, nil, &dm.CommandResponse{}); servetest.Status(err) != dm.StatusUnsupportedCommand {
		t.Errorf("VideoStreamModify: %v", err)
	}
}

func TestReadAttributes(t *testing.T) {
	e := newEnv(t, servetest.Store(t))
	caps := testCaps()
	for _, a := range e.s.Meta().Attributes {
		if _, err := servetest.ReadErr(e.s, manage, a.ID); err != nil {
			t.Errorf("reading %s: %v", a.Name, err)
		}
	}
	var sp VideoSensorParams
	servetest.ReadInto(t, e.s, manage, AttrVideoSensorParams, &sp)
	if sp != caps.VideoSensorParams {
		t.Errorf("VideoSensorParams %+v", sp)
	}
	var mvr VideoResolution
	servetest.ReadInto(t, e.s, manage, AttrMinViewportResolution, &mvr)
	if mvr != res360 {
		t.Errorf("MinViewportResolution %+v", mvr)
	}
	if got := servetest.ReadList[RateDistortionTradeOffPoints](t, e.s, manage, AttrRateDistortionTradeOffPoints); !slices.Equal(got, caps.RateDistortionTradeOffPoints) {
		t.Errorf("RateDistortionTradeOffPoints %+v", got)
	}
	if got := servetest.ReadList[SnapshotCapabilities](t, e.s, manage, AttrSnapshotCapabilities); len(got) != 1 || got[0].Resolution != res1k {
		t.Errorf("SnapshotCapabilities %+v", got)
	}
	var mic AudioCapabilities
	servetest.ReadInto(t, e.s, manage, AttrMicrophoneCapabilities, &mic)
	if mic.MaxNumberOfChannels != 1 || !slices.Equal(mic.SupportedSampleRates, []uint32{48000, 16000}) {
		t.Errorf("MicrophoneCapabilities %+v", mic)
	}
	for _, tc := range []struct {
		attr uint32
		want uint64
	}{
		{AttrMaxConcurrentEncoders, 2}, {AttrMaxEncodedPixelRate, 1920*1080*30 + 1920*1080},
		{AttrMaxContentBufferSize, 4096}, {AttrMaxNetworkBandwidth, 10_000_000}, {AttrCurrentFrameRate, 25},
		{AttrMicrophoneVolumeLevel, 254}, {AttrMicrophoneMaxLevel, 254}, {AttrMicrophoneMinLevel, 1},
	} {
		if got := servetest.ReadUint(t, e.s, manage, tc.attr); got != tc.want {
			t.Errorf("attribute %#x = %d, want %d", tc.attr, got, tc.want)
		}
	}
	// Factory state (spec digest §5.2): priorities as supported, the
	// viewport the whole sensor, privacy off.
	if got := servetest.UintList(t, e.s, manage, AttrStreamUsagePriorities); !slices.Equal(got, []uint64{3, 1}) {
		t.Errorf("StreamUsagePriorities %v, want [3 1]", got)
	}
	if got := servetest.UintList(t, e.s, manage, AttrSupportedStreamUsages); !slices.Equal(got, []uint64{3, 1}) {
		t.Errorf("SupportedStreamUsages %v, want [3 1]", got)
	}
	var vp globals.Viewport
	servetest.ReadInto(t, e.s, manage, AttrViewport, &vp)
	if vp != (globals.Viewport{X2: 1920, Y2: 1080}) {
		t.Errorf("Viewport %+v", vp)
	}
	for _, a := range []uint32{AttrSoftRecordingPrivacyModeEnabled, AttrSoftLivestreamPrivacyModeEnabled, AttrHardPrivacyModeOn, AttrMicrophoneMuted} {
		if e := servetest.ReadElement(t, e.s, manage, a); e.Type != tlv.TypeBool || e.Bool {
			t.Errorf("attribute %#x = %+v, want false", a, e)
		}
	}
	for _, a := range []uint32{AttrAllocatedVideoStreams, AttrAllocatedAudioStreams, AttrAllocatedSnapshotStreams} {
		if got := servetest.ReadElement(t, e.s, manage, a); got.Type != tlv.TypeArray || len(got.Members) != 0 {
			t.Errorf("attribute %#x = %+v, want an empty list", a, got)
		}
	}
	// CurrentFrameRate without a source reads 0; FrameRateChanged
	// reports it.
	e2 := newEnv(t, servetest.Store(t), func(c *Config) { c.CurrentFrameRate = nil })
	if got := servetest.ReadUint(t, e2.s, manage, AttrCurrentFrameRate); got != 0 {
		t.Errorf("CurrentFrameRate without a source: %d", got)
	}
	e2.s.FrameRateChanged()
	if !e2.changes.Has(ID, AttrCurrentFrameRate) {
		t.Error("FrameRateChanged reported nothing")
	}
}

func TestVideoStreamAllocate(t *testing.T) {
	analysis := func(r *VideoStreamAllocateRequest) { r.StreamUsage = globals.StreamUsageAnalysis }
	// The cases follow spec digest §5.5's order of checks; those with two
	// faults check that the earlier check wins.
	for _, tc := range []struct {
		name   string
		mutate func(*VideoStreamAllocateRequest)
		want   dm.Status
	}{
		{"ok", func(*VideoStreamAllocateRequest) {}, dm.StatusSuccess},
		{"ok recording, 360p only", func(r *VideoStreamAllocateRequest) {
			r.StreamUsage, r.MaxResolution, r.MaxBitRate = globals.StreamUsageRecording, res360, 300_000
		}, dm.StatusSuccess},
		{"ok above the sensor's frame rate", func(r *VideoStreamAllocateRequest) { r.MaxFrameRate = 60 }, dm.StatusSuccess},
		{"ok KeyFrameInterval 0", func(r *VideoStreamAllocateRequest) { r.KeyFrameInterval = 0 }, dm.StatusSuccess},

		{"WatermarkEnabled without WMARK", func(r *VideoStreamAllocateRequest) { r.WatermarkEnabled = field.Some(false) }, dm.StatusInvalidCommand},
		{"OSDEnabled without OSD", func(r *VideoStreamAllocateRequest) { r.OSDEnabled = field.Some(true) }, dm.StatusInvalidCommand},
		{"WatermarkEnabled and a range fault", func(r *VideoStreamAllocateRequest) {
			r.WatermarkEnabled, r.MinFrameRate, r.StreamUsage = field.Some(true), 0, globals.StreamUsageInternal
		}, dm.StatusInvalidCommand},

		{"usage Internal", func(r *VideoStreamAllocateRequest) { r.StreamUsage = globals.StreamUsageInternal }, dm.StatusConstraintError},
		{"usage unknown", func(r *VideoStreamAllocateRequest) { r.StreamUsage = 4 }, dm.StatusConstraintError},
		{"codec unknown", func(r *VideoStreamAllocateRequest) { r.VideoCodec = 4 }, dm.StatusConstraintError},
		{"MinFrameRate 0", func(r *VideoStreamAllocateRequest) { r.MinFrameRate = 0 }, dm.StatusConstraintError},
		{"MaxFrameRate 0", func(r *VideoStreamAllocateRequest) { r.MaxFrameRate = 0 }, dm.StatusConstraintError},
		{"frame rates reversed", func(r *VideoStreamAllocateRequest) { r.MinFrameRate, r.MaxFrameRate = 30, 15 }, dm.StatusConstraintError},
		{"width 0", func(r *VideoStreamAllocateRequest) { r.MinResolution.Width = 0 }, dm.StatusConstraintError},
		{"resolutions reversed", func(r *VideoStreamAllocateRequest) { r.MinResolution, r.MaxResolution = res1k, res360 }, dm.StatusConstraintError},
		{"heights reversed", func(r *VideoStreamAllocateRequest) {
			r.MinResolution, r.MaxResolution = VideoResolution{Width: 640, Height: 720}, VideoResolution{Width: 1920, Height: 360}
		}, dm.StatusConstraintError},
		{"MinBitRate 0", func(r *VideoStreamAllocateRequest) { r.MinBitRate = 0 }, dm.StatusConstraintError},
		{"bit rates reversed", func(r *VideoStreamAllocateRequest) { r.MinBitRate, r.MaxBitRate = 2_000_000, 300_000 }, dm.StatusConstraintError},
		{"KeyFrameInterval 65501", func(r *VideoStreamAllocateRequest) { r.KeyFrameInterval = 65501 }, dm.StatusConstraintError},
		{"range fault and usage not prioritised", func(r *VideoStreamAllocateRequest) {
			analysis(r)
			r.MinFrameRate, r.MaxFrameRate = 30, 15
		}, dm.StatusConstraintError},

		{"usage not prioritised", analysis, dm.StatusInvalidInState},
		{"usage not prioritised and unsupported codec", func(r *VideoStreamAllocateRequest) {
			analysis(r)
			r.VideoCodec = VideoCodecHevc
		}, dm.StatusInvalidInState},

		{"HEVC", func(r *VideoStreamAllocateRequest) { r.VideoCodec = VideoCodecHevc }, dm.StatusDynamicConstraintError},
		{"faster than the sensor", func(r *VideoStreamAllocateRequest) { r.MinFrameRate, r.MaxFrameRate = 31, 60 }, dm.StatusDynamicConstraintError},
		{"no resolution in range", func(r *VideoStreamAllocateRequest) {
			r.MinResolution, r.MaxResolution = VideoResolution{Width: 700, Height: 400}, VideoResolution{Width: 1200, Height: 700}
		}, dm.StatusDynamicConstraintError},
		{"beyond the sensor", func(r *VideoStreamAllocateRequest) {
			r.MinResolution, r.MaxResolution = VideoResolution{Width: 3840, Height: 2160}, VideoResolution{Width: 3840, Height: 2160}
		}, dm.StatusDynamicConstraintError},
		{"bit rate too low for every resolution", func(r *VideoStreamAllocateRequest) { r.MinBitRate, r.MaxBitRate = 10_000, 200_000 }, dm.StatusDynamicConstraintError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, servetest.Store(t))
			in := videoReq()
			tc.mutate(&in)
			id, err := e.allocVideo(t, in)
			wantStatus(t, "VideoStreamAllocate", err, tc.want)
			got := e.video(t)
			if tc.want != dm.StatusSuccess {
				if len(got) != 0 || len(e.enc.videoIDs()) != 0 || e.changes.Has(ID, AttrAllocatedVideoStreams) {
					t.Fatalf("a failed allocation left %+v, encoders %v", got, e.enc.videoIDs())
				}
				return
			}
			want := VideoStream{
				VideoStreamID: id, StreamUsage: in.StreamUsage, VideoCodec: in.VideoCodec,
				MinFrameRate: in.MinFrameRate, MaxFrameRate: in.MaxFrameRate,
				MinResolution: in.MinResolution, MaxResolution: in.MaxResolution,
				MinBitRate: in.MinBitRate, MaxBitRate: in.MaxBitRate, KeyFrameInterval: in.KeyFrameInterval,
			}
			if id != 0 || len(got) != 1 || got[0] != want {
				t.Fatalf("allocated %d: %+v, want %+v", id, got, want)
			}
			if enc := e.enc.video[id]; enc != want {
				t.Errorf("encoder opened with %+v", enc)
			}
			if !e.changes.Has(ID, AttrAllocatedVideoStreams) {
				t.Error("AllocatedVideoStreams change not reported")
			}
		})
	}
}

func TestVideoStreamAllocateMalformed(t *testing.T) {
	e := newEnv(t, servetest.Store(t))
	for _, tc := range []struct {
		name string
		r    *tlv.Reader
		want dm.Status
	}{
		{"no fields", nil, dm.StatusInvalidCommand},
		{"not a structure", servetest.RawFields(t, servetest.Value(t, func(w *tlv.Writer, tag tlv.Tag) { w.PutUint(tag, 1) })), dm.StatusInvalidCommand},
		{"KeyFrameInterval missing", rawFields(t, func(w *tlv.Writer) {
			in := videoReq()
			w.PutUint(tlv.ContextTag(0), uint64(in.StreamUsage))
			w.PutUint(tlv.ContextTag(1), uint64(in.VideoCodec))
			w.PutUint(tlv.ContextTag(2), 15)
			w.PutUint(tlv.ContextTag(3), 30)
			in.MinResolution.EncodeTLV(w, tlv.ContextTag(4))
			in.MaxResolution.EncodeTLV(w, tlv.ContextTag(5))
			w.PutUint(tlv.ContextTag(6), 300_000)
			w.PutUint(tlv.ContextTag(7), 2_000_000)
		}), dm.StatusInvalidCommand},
		{"OSDEnabled of the wrong type", rawFields(t, func(w *tlv.Writer) { w.PutString(tlv.ContextTag(10), "yes") }), dm.StatusInvalidCommand},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := servetest.InvokeRaw(t, e.s, manage, CmdVideoStreamAllocate, tc.r)
			wantStatus(t, "VideoStreamAllocate", err, tc.want)
		})
	}
}

func TestVideoStreamReuse(t *testing.T) {
	rc := &reconfEncoders{fakeEncoders: newFakeEncoders()}
	e := newEnv(t, servetest.Store(t), withEncoders(rc), withCaps(roomyCaps()))
	e.enc = rc.fakeEncoders
	first := videoReq()
	id := mustID(t)(e.allocVideo(t, first))

	// The same request again: the same stream, untouched (TC_AVSM_2_7
	// step 12).
	e.changes.Reset()
	if again := mustID(t)(e.allocVideo(t, first)); again != id {
		t.Fatalf("same request got stream %d, want %d", again, id)
	}
	if e.changes.Has(ID, AttrAllocatedVideoStreams) || len(rc.reconfigured) != 0 || e.enc.opened != 1 {
		t.Errorf("an identical request changed the stream (reconfigured %v, %d opened)", rc.reconfigured, e.enc.opened)
	}

	// An overlapping request for another usage: the same stream, narrowed
	// to the intersection, its usage kept.
	narrow := videoReq()
	narrow.StreamUsage = globals.StreamUsageRecording
	narrow.MinFrameRate, narrow.MaxFrameRate = 20, 60
	narrow.MinResolution, narrow.MaxResolution = res720, VideoResolution{Width: 2560, Height: 1440}
	narrow.MinBitRate, narrow.MaxBitRate = 1_000_000, 4_000_000
	if got := mustID(t)(e.allocVideo(t, narrow)); got != id {
		t.Fatalf("compatible request got stream %d, want %d", got, id)
	}
	want := VideoStream{
		VideoStreamID: id, StreamUsage: globals.StreamUsageLiveView, VideoCodec: VideoCodecH264,
		MinFrameRate: 20, MaxFrameRate: 30, MinResolution: res720, MaxResolution: res1k,
		MinBitRate: 1_000_000, MaxBitRate: 2_000_000, KeyFrameInterval: 4000,
	}
	if got := e.video(t); len(got) != 1 || got[0] != want {
		t.Fatalf("narrowed stream %+v, want %+v", got, want)
	}
	if !e.changes.Has(ID, AttrAllocatedVideoStreams) || len(rc.reconfigured) != 1 || rc.reconfigured[0] != want {
		t.Errorf("narrowing: reported %v, reconfigured %+v", e.changes.Has(ID, AttrAllocatedVideoStreams), rc.reconfigured)
	}

	// A reference taken before narrowing survives it.
	if err := e.s.Acquire([]uint16{id}, nil); err != nil {
		t.Fatal(err)
	}
	contained := videoReq()
	contained.MinResolution, contained.MaxResolution, contained.MaxBitRate = res1k, res1k, 2_000_000
	if got := mustID(t)(e.allocVideo(t, contained)); got != id {
		t.Fatalf("contained request got stream %d", got)
	}
	if got := e.video(t)[0]; got.ReferenceCount != 1 || got.MinResolution != res1k {
		t.Errorf("after narrowing a used stream: %+v", got)
	}

	// Not compatible: another key frame interval, disjoint ranges, or an
	// intersection the camera cannot encode. Each gets a stream of its
	// own, until the encoders run out.
	other := videoReq()
	other.KeyFrameInterval = 2000
	if got := mustID(t)(e.allocVideo(t, other)); got == id {
		t.Error("a request with another key frame interval reused the stream")
	}
	disjoint := videoReq()
	disjoint.MaxResolution, disjoint.MaxBitRate = res360, 300_000
	_, err := e.allocVideo(t, disjoint)
	wantStatus(t, "third stream on two encoders", err, dm.StatusResourceExhausted)

	// A failing reconfiguration refuses the reuse and changes nothing.
	rc.failReconf = errors.New("encoder busy")
	before := e.video(t)
	again := videoReq()
	again.MinFrameRate = 25
	again.KeyFrameInterval = 2000
	_, err = e.allocVideo(t, again)
	wantStatus(t, "reuse with a failing reconfiguration", err, dm.StatusResourceExhausted)
	if after := e.video(t); !slices.Equal(before, after) {
		t.Errorf("streams changed: %+v -> %+v", before, after)
	}
}

// TestVideoStreamReuseWhenFull checks that a request an allocated stream
// can serve is not refused for lack of encoders: reuse comes before the
// resource checks.
func TestVideoStreamReuseWhenFull(t *testing.T) {
	caps := testCaps()
	caps.MaxConcurrentEncoders = 1
	e := newEnv(t, servetest.Store(t), withCaps(caps))
	id := mustID(t)(e.allocVideo(t, videoReq()))
	if got := mustID(t)(e.allocVideo(t, videoReq())); got != id {
		t.Errorf("got %d, want %d", got, id)
	}
	other := videoReq()
	other.KeyFrameInterval = 1000
	_, err := e.allocVideo(t, other)
	wantStatus(t, "second encoder", err, dm.StatusResourceExhausted)
}

func TestVideoResourceLimits(t *testing.T) {
	small := func(kfi uint16) VideoStreamAllocateRequest {
		r := videoReq()
		r.MaxResolution, r.MaxBitRate, r.KeyFrameInterval = res360, 300_000, kfi
		return r
	}
	t.Run("encoders", func(t *testing.T) {
		e := newEnv(t, servetest.Store(t))
		mustID(t)(e.allocVideo(t, small(1)))
		mustID(t)(e.allocVideo(t, small(2)))
		_, err := e.allocVideo(t, small(3))
		wantStatus(t, "third video stream", err, dm.StatusResourceExhausted)
		if len(e.video(t)) != 2 || e.enc.opened != 2 {
			t.Error("the refused stream was allocated")
		}
	})
	t.Run("pixel rate", func(t *testing.T) {
		e := newEnv(t, servetest.Store(t))
		// 1080p30 plus a 1080p snapshot stream at 1 fps fill the pixel
		// rate exactly.
		mustID(t)(e.allocVideo(t, videoReq()))
		mustID(t)(e.allocSnapshot(t, snapReq()))
		_, err := e.allocVideo(t, small(1))
		wantStatus(t, "360p30 on top", err, dm.StatusResourceExhausted)
		// The pixel rate counts what the camera encodes: a request
		// whose ceiling is far beyond the sensor still counts as 1080p30.
		e2 := newEnv(t, servetest.Store(t))
		big := videoReq()
		big.MaxFrameRate, big.MaxResolution = 240, VideoResolution{Width: 8192, Height: 4320}
		mustID(t)(e2.allocVideo(t, big))
		mustID(t)(e2.allocSnapshot(t, snapReq()))
	})
	t.Run("snapshot pixel rate", func(t *testing.T) {
		e := newEnv(t, servetest.Store(t))
		mustID(t)(e.allocVideo(t, videoReq()))
		mustID(t)(e.allocVideo(t, func() VideoStreamAllocateRequest {
			r := small(1)
			r.MaxFrameRate = 1
			r.MinFrameRate = 1
			return r
		}()))
		_, err := e.allocSnapshot(t, snapReq())
		wantStatus(t, "snapshot stream beyond the pixel rate", err, dm.StatusResourceExhausted)
	})
	t.Run("encoder fails to open", func(t *testing.T) {
		e := newEnv(t, servetest.Store(t))
		e.enc.failVideo = errors.New("no such device")
		_, err := e.allocVideo(t, videoReq())
		wantStatus(t, "VideoStreamAllocate", err, dm.StatusResourceExhausted)
		if len(e.video(t)) != 0 || e.changes.Has(ID, AttrAllocatedVideoStreams) {
			t.Error("stream allocated without an encoder")
		}
		// The ID was not used up.
		e.enc.failVideo = nil
		if id := mustID(t)(e.allocVideo(t, videoReq())); id != 0 {
			t.Errorf("next stream %d, want 0", id)
		}
	})
}

func TestHardwareSnapshotEncoders(t *testing.T) {
	caps := testCaps()
	caps.MaxConcurrentEncoders = 1
	caps.MaxEncodedPixelRate = 1 << 31
	caps.SnapshotCapabilities = []SnapshotCapabilities{
		{Resolution: res720, MaxFrameRate: 5, ImageCodec: ImageCodecJpeg, RequiresEncodedPixels: true, RequiresHardwareEncoder: field.Some(true)},
		{Resolution: res1k, MaxFrameRate: 1, ImageCodec: ImageCodecJpeg},
	}
	e := newEnv(t, servetest.Store(t), withCaps(caps))
	// Only the 720p entry reaches 5 fps: a hardware encoder.
	hw := snapReq()
	hw.MaxFrameRate = 5
	id := mustID(t)(e.allocSnapshot(t, hw))
	if got := e.snaps(t); len(got) != 1 || !got[0].EncodedPixels || !got[0].HardwareEncoder {
		t.Fatalf("snapshot stream %+v: flags not copied from the capability", got)
	}
	// It takes the only encoder.
	_, err := e.allocVideo(t, videoReq())
	wantStatus(t, "video stream with the encoder taken", err, dm.StatusResourceExhausted)
	// A 1 fps stream matches the larger, software entry.
	sw := snapReq()
	sw.Quality = 50
	id2 := mustID(t)(e.allocSnapshot(t, sw))
	if got := e.snaps(t); len(got) != 2 || got[1].SnapshotStreamID != id2 || got[1].EncodedPixels || got[1].HardwareEncoder {
		t.Fatalf("snapshot streams %+v", got)
	}
	wantStatus(t, "deallocate", deallocate(t, e, CmdSnapshotStreamDeallocate, id), dm.StatusSuccess)
	mustID(t)(e.allocVideo(t, videoReq()))
}

func TestAudioStreamAllocate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*AudioStreamAllocateRequest)
		want   dm.Status
	}{
		{"ok", func(*AudioStreamAllocateRequest) {}, dm.StatusSuccess},
		{"ok 16 kHz recording", func(r *AudioStreamAllocateRequest) {
			r.SampleRate, r.StreamUsage = 16000, globals.StreamUsageRecording
		}, dm.StatusSuccess},

		{"usage Internal", func(r *AudioStreamAllocateRequest) { r.StreamUsage = globals.StreamUsageInternal }, dm.StatusConstraintError},
		{"usage unknown", func(r *AudioStreamAllocateRequest) { r.StreamUsage = 200 }, dm.StatusConstraintError},
		{"codec unknown", func(r *AudioStreamAllocateRequest) { r.AudioCodec = 2 }, dm.StatusConstraintError},
		{"0 channels", func(r *AudioStreamAllocateRequest) { r.ChannelCount = 0 }, dm.StatusConstraintError},
		{"9 channels", func(r *AudioStreamAllocateRequest) { r.ChannelCount = 9 }, dm.StatusConstraintError},
		{"sample rate 0", func(r *AudioStreamAllocateRequest) { r.SampleRate = 0 }, dm.StatusConstraintError},
		{"bit rate 0", func(r *AudioStreamAllocateRequest) { r.BitRate = 0 }, dm.StatusConstraintError},
		{"bit depth 12", func(r *AudioStreamAllocateRequest) { r.BitDepth = 12 }, dm.StatusConstraintError},
		{"bit depth 12, usage not prioritised", func(r *AudioStreamAllocateRequest) {
			r.BitDepth, r.StreamUsage = 12, globals.StreamUsageAnalysis
		}, dm.StatusConstraintError},

		{"usage not prioritised", func(r *AudioStreamAllocateRequest) { r.StreamUsage = globals.StreamUsageAnalysis }, dm.StatusInvalidInState},
		{"usage not prioritised, AAC", func(r *AudioStreamAllocateRequest) {
			r.StreamUsage, r.AudioCodec = globals.StreamUsageAnalysis, AudioCodecAacLc
		}, dm.StatusInvalidInState},

		{"AAC-LC", func(r *AudioStreamAllocateRequest) { r.AudioCodec = AudioCodecAacLc }, dm.StatusDynamicConstraintError},
		{"stereo", func(r *AudioStreamAllocateRequest) { r.ChannelCount = 2 }, dm.StatusDynamicConstraintError},
		{"44.1 kHz", func(r *AudioStreamAllocateRequest) { r.SampleRate = 44100 }, dm.StatusDynamicConstraintError},
		{"24 bits", func(r *AudioStreamAllocateRequest) { r.BitDepth = 24 }, dm.StatusDynamicConstraintError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, servetest.Store(t))
			in := audioReq()
			tc.mutate(&in)
			id, err := e.allocAudio(t, in)
			wantStatus(t, "AudioStreamAllocate", err, tc.want)
			got := e.audio(t)
			if tc.want != dm.StatusSuccess {
				if len(got) != 0 || len(e.enc.audioIDs()) != 0 {
					t.Fatalf("a failed allocation left %+v", got)
				}
				return
			}
			want := AudioStream{AudioStreamID: id, StreamUsage: in.StreamUsage, AudioCodec: in.AudioCodec,
				ChannelCount: in.ChannelCount, SampleRate: in.SampleRate, BitRate: in.BitRate, BitDepth: in.BitDepth}
			if len(got) != 1 || got[0] != want || e.enc.audio[id] != want {
				t.Fatalf("allocated %+v (encoder %+v), want %+v", got, e.enc.audio[id], want)
			}
			if !e.changes.Has(ID, AttrAllocatedAudioStreams) {
				t.Error("AllocatedAudioStreams change not reported")
			}
		})
	}
}

func TestAudioStreamReuseAndLimits(t *testing.T) {
	e := newEnv(t, servetest.Store(t))
	id := mustID(t)(e.allocAudio(t, audioReq()))
	// An identical request, for another usage too, reuses the stream.
	same := audioReq()
	same.StreamUsage = globals.StreamUsageRecording
	if got := mustID(t)(e.allocAudio(t, same)); got != id || e.enc.opened != 1 {
		t.Fatalf("identical request got %d (%d encoders), want %d", got, e.enc.opened, id)
	}
	// Audio encoders count against neither video limit, only against
	// MaxStreamsPerKind.
	for i := 1; i < MaxStreamsPerKind; i++ {
		in := audioReq()
		in.BitRate = uint32(1000 * (i + 1))
		if got := mustID(t)(e.allocAudio(t, in)); got != uint16(i) {
			t.Fatalf("stream %d got ID %d", i, got)
		}
	}
	in := audioReq()
	in.BitRate = 999
	_, err := e.allocAudio(t, in)
	wantStatus(t, "audio stream 17", err, dm.StatusResourceExhausted)
	// The video encoders are still free.
	mustID(t)(e.allocVideo(t, videoReq()))

	e2 := newEnv(t, servetest.Store(t))
	e2.enc.failAudio = errors.New("no microphone")
	_, err = e2.allocAudio(t, audioReq())
	wantStatus(t, "audio encoder failing", err, dm.StatusResourceExhausted)
	if len(e2.audio(t)) != 0 {
		t.Error("audio stream allocated without an encoder")
	}
}

func TestSnapshotStreamAllocate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*SnapshotStreamAllocateRequest)
		want   dm.Status
	}{
		{"ok", func(*SnapshotStreamAllocateRequest) {}, dm.StatusSuccess},
		{"ok exactly 1080p", func(r *SnapshotStreamAllocateRequest) { r.MinResolution = res1k }, dm.StatusSuccess},

		{"WatermarkEnabled without WMARK", func(r *SnapshotStreamAllocateRequest) { r.WatermarkEnabled = field.Some(true) }, dm.StatusInvalidCommand},
		{"OSDEnabled without OSD", func(r *SnapshotStreamAllocateRequest) { r.OSDEnabled = field.Some(false) }, dm.StatusInvalidCommand},
		{"OSDEnabled and quality 0", func(r *SnapshotStreamAllocateRequest) { r.OSDEnabled, r.Quality = field.Some(false), 0 }, dm.StatusInvalidCommand},

		{"codec unknown", func(r *SnapshotStreamAllocateRequest) { r.ImageCodec = 2 }, dm.StatusConstraintError},
		{"MaxFrameRate 0", func(r *SnapshotStreamAllocateRequest) { r.MaxFrameRate = 0 }, dm.StatusConstraintError},
		{"height 0", func(r *SnapshotStreamAllocateRequest) { r.MaxResolution.Height = 0 }, dm.StatusConstraintError},
		{"resolutions reversed", func(r *SnapshotStreamAllocateRequest) { r.MinResolution, r.MaxResolution = res1k, res360 }, dm.StatusConstraintError},
		{"quality 0", func(r *SnapshotStreamAllocateRequest) { r.Quality = 0 }, dm.StatusConstraintError},
		{"quality 101", func(r *SnapshotStreamAllocateRequest) { r.Quality = 101 }, dm.StatusConstraintError},
		{"quality 101 and HEIC", func(r *SnapshotStreamAllocateRequest) { r.Quality, r.ImageCodec = 101, ImageCodecHeic }, dm.StatusConstraintError},

		{"HEIC", func(r *SnapshotStreamAllocateRequest) { r.ImageCodec = ImageCodecHeic }, dm.StatusDynamicConstraintError},
		{"2 fps", func(r *SnapshotStreamAllocateRequest) { r.MaxFrameRate = 2 }, dm.StatusDynamicConstraintError},
		{"up to 720p", func(r *SnapshotStreamAllocateRequest) { r.MaxResolution = res720 }, dm.StatusDynamicConstraintError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, servetest.Store(t))
			in := snapReq()
			tc.mutate(&in)
			id, err := e.allocSnapshot(t, in)
			wantStatus(t, "SnapshotStreamAllocate", err, tc.want)
			got := e.snaps(t)
			if tc.want != dm.StatusSuccess {
				if len(got) != 0 {
					t.Fatalf("a failed allocation left %+v", got)
				}
				return
			}
			want := SnapshotStream{SnapshotStreamID: id, ImageCodec: in.ImageCodec, FrameRate: in.MaxFrameRate,
				MinResolution: in.MinResolution, MaxResolution: in.MaxResolution, Quality: in.Quality}
			if len(got) != 1 || got[0] != want {
				t.Fatalf("allocated %+v, want %+v", got, want)
			}
			if !e.changes.Has(ID, AttrAllocatedSnapshotStreams) {
				t.Error("AllocatedSnapshotStreams change not reported")
			}
		})
	}
}

func TestSnapshotStreamReuse(t *testing.T) {
	e := newEnv(t, servetest.Store(t))
	id := mustID(t)(e.allocSnapshot(t, snapReq()))
	if got := mustID(t)(e.allocSnapshot(t, snapReq())); got != id {
		t.Fatalf("same request got %d, want %d", got, id)
	}
	narrow := snapReq()
	narrow.MinResolution = res720
	if got := mustID(t)(e.allocSnapshot(t, narrow)); got != id {
		t.Fatalf("compatible request got %d, want %d", got, id)
	}
	if got := e.snaps(t); len(got) != 1 || got[0].MinResolution != res720 || got[0].MaxResolution != res1k {
		t.Fatalf("narrowed stream %+v", got)
	}
	other := snapReq()
	other.Quality = 50
	if got := mustID(t)(e.allocSnapshot(t, other)); got == id {
		t.Error("another quality reused the stream")
	}
}

func deallocate(t *testing.T, e *env, cmd uint32, id uint16) error {
	t.Helper()
	var in servetest.Encoder
	switch cmd {
	case CmdVideoStreamDeallocate:
		in = &VideoStreamDeallocateRequest{VideoStreamID: id}
	case CmdAudioStreamDeallocate:
		in = &AudioStreamDeallocateRequest{AudioStreamID: id}
	default:
		in = &SnapshotStreamDeallocateRequest{SnapshotStreamID: id}
	}
	_, err := servetest.Invoke(t, e.s, manage, cmd, in)
	return err
}

func TestDeallocate(t *testing.T) {
	e := newEnv(t, servetest.Store(t))
	v := mustID(t)(e.allocVideo(t, videoReq()))
	a := mustID(t)(e.allocAudio(t, audioReq()))
	sn := mustID(t)(e.allocSnapshot(t, snapReq()))

	for _, tc := range []struct {
		name string
		cmd  uint32
		id   uint16
		want dm.Status
	}{
		{"unknown video", CmdVideoStreamDeallocate, v + 1, dm.StatusNotFound},
		{"unknown audio", CmdAudioStreamDeallocate, 7, dm.StatusNotFound},
		{"unknown snapshot", CmdSnapshotStreamDeallocate, 65535, dm.StatusNotFound},
		// An audio ID is not a video ID.
		{"video by the snapshot's ID space", CmdVideoStreamDeallocate, 3, dm.StatusNotFound},
	} {
		wantStatus(t, tc.name, deallocate(t, e, tc.cmd, tc.id), tc.want)
	}

	// In use: INVALID_IN_STATE until released.
	if err := e.s.Acquire([]uint16{v}, []uint16{a}); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, "video in use", deallocate(t, e, CmdVideoStreamDeallocate, v), dm.StatusInvalidInState)
	wantStatus(t, "audio in use", deallocate(t, e, CmdAudioStreamDeallocate, a), dm.StatusInvalidInState)
	if len(e.enc.videoIDs()) != 1 || len(e.enc.audioIDs()) != 1 {
		t.Fatal("an encoder in use was closed")
	}
	e.s.Release([]uint16{v}, []uint16{a})

	e.changes.Reset()
	for _, tc := range []struct {
		cmd  uint32
		id   uint16
		attr uint32
	}{
		{CmdVideoStreamDeallocate, v, AttrAllocatedVideoStreams},
		{CmdAudioStreamDeallocate, a, AttrAllocatedAudioStreams},
		{CmdSnapshotStreamDeallocate, sn, AttrAllocatedSnapshotStreams},
	} {
		wantStatus(t, fmt.Sprintf("deallocating %#x", tc.cmd), deallocate(t, e, tc.cmd, tc.id), dm.StatusSuccess)
		if !e.changes.Has(ID, tc.attr) {
			t.Errorf("attribute %#x change not reported", tc.attr)
		}
		wantStatus(t, "again", deallocate(t, e, tc.cmd, tc.id), dm.StatusNotFound)
	}
	if len(e.video(t)) != 0 || len(e.audio(t)) != 0 || len(e.snaps(t)) != 0 {
		t.Error("streams left")
	}
	if len(e.enc.videoIDs()) != 0 || len(e.enc.audioIDs()) != 0 || e.enc.closed != 2 {
		t.Errorf("encoders left: video %v audio %v, %d closed", e.enc.videoIDs(), e.enc.audioIDs(), e.enc.closed)
	}
	// A freed encoder can be used again, under a new ID.
	if got := mustID(t)(e.allocVideo(t, videoReq())); got != v+1 {
		t.Errorf("next video stream %d, want %d", got, v+1)
	}
}

// TestDeallocateInternal: the camera's Internal streams cannot be
// deallocated by a controller (spec digest §5.5).
func TestDeallocateInternal(t *testing.T) {
	e := newEnv(t, servetest.Store(t), withCaps(roomyCaps()))
	e.s.mu.Lock()
	e.s.st.video = append(e.s.st.video, VideoStream{VideoStreamID: 9, StreamUsage: globals.StreamUsageInternal})
	e.s.st.audio = append(e.s.st.audio, AudioStream{AudioStreamID: 9, StreamUsage: globals.StreamUsageInternal})
	e.s.mu.Unlock()
	wantStatus(t, "video", deallocate(t, e, CmdVideoStreamDeallocate, 9), dm.StatusDynamicConstraintError)
	wantStatus(t, "audio", deallocate(t, e, CmdAudioStreamDeallocate, 9), dm.StatusDynamicConstraintError)
	// Nor are they reused.
	e.s.mu.Lock()
	e.s.st.video[0] = VideoStream{VideoStreamID: 9, StreamUsage: globals.StreamUsageInternal, VideoCodec: VideoCodecH264,
		MinFrameRate: 1, MaxFrameRate: 30, MinResolution: res360, MaxResolution: res1k, MinBitRate: 1, MaxBitRate: 1 << 30, KeyFrameInterval: 4000}
	e.s.mu.Unlock()
	if id := mustID(t)(e.allocVideo(t, videoReq())); id == 9 {
		t.Error("an Internal stream was reused")
	}
}

func setPriorities(t *testing.T, e *env, req *dm.Request, list ...globals.StreamUsage) error {
	t.Helper()
	_, err := servetest.Invoke(t, e.s, req, CmdSetStreamPriorities, &SetStreamPrioritiesRequest{StreamPriorities: list})
	return err
}

func TestSetStreamPriorities(t *testing.T) {
	const (
		live   = globals.StreamUsageLiveView
		rec    = globals.StreamUsageRecording
		anal   = globals.StreamUsageAnalysis
		intern = globals.StreamUsageInternal
	)
	for _, tc := range []struct {
		name  string
		list  []globals.StreamUsage
		alloc bool // with a stream allocated
		want  dm.Status
	}{
		{"reordered", []globals.StreamUsage{rec, live}, false, dm.StatusSuccess},
		{"one", []globals.StreamUsage{live}, false, dm.StatusSuccess},
		{"empty", nil, false, dm.StatusSuccess},
		{"stream allocated", []globals.StreamUsage{rec, live}, true, dm.StatusInvalidInState},
		{"stream allocated and duplicates", []globals.StreamUsage{live, live}, true, dm.StatusInvalidInState},
		{"unknown usage", []globals.StreamUsage{live, 4}, false, dm.StatusInvalidCommand},
		{"unsupported usage", []globals.StreamUsage{anal}, false, dm.StatusDynamicConstraintError},
		{"Internal not supported", []globals.StreamUsage{live, intern}, false, dm.StatusDynamicConstraintError},
		{"duplicate", []globals.StreamUsage{live, rec, live}, false, dm.StatusAlreadyExists},
		// Entry by entry, as connectedhomeip checks.
		{"duplicate before an unsupported usage", []globals.StreamUsage{live, live, anal}, false, dm.StatusAlreadyExists},
		{"unsupported usage before a duplicate", []globals.StreamUsage{anal, live, live}, false, dm.StatusDynamicConstraintError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, servetest.Store(t))
			if tc.alloc {
				mustID(t)(e.allocSnapshot(t, snapReq()))
			}
			wantStatus(t, "SetStreamPriorities", setPriorities(t, e, manage, tc.list...), tc.want)
			got := servetest.UintList(t, e.s, manage, AttrStreamUsagePriorities)
			want := []uint64{3, 1}
			if tc.want == dm.StatusSuccess {
				want = nil
				for _, u := range tc.list {
					want = append(want, uint64(u))
				}
			}
			if !slices.Equal(got, want) {
				t.Fatalf("StreamUsagePriorities %v, want %v", got, want)
			}
			if changed := e.changes.Has(ID, AttrStreamUsagePriorities); changed != (tc.want == dm.StatusSuccess) {
				t.Errorf("change reported: %v", changed)
			}
			for _, u := range []globals.StreamUsage{live, rec} {
				if got := e.s.UsagePrioritized(u); got != slices.Contains(want, uint64(u)) {
					t.Errorf("UsagePrioritized(%v) = %v", u, got)
				}
			}
		})
	}

	// A usage taken out of the priorities can no longer be allocated.
	e := newEnv(t, servetest.Store(t))
	if err := setPriorities(t, e, manage, rec); err != nil {
		t.Fatal(err)
	}
	_, err := e.allocVideo(t, videoReq())
	wantStatus(t, "LiveView stream", err, dm.StatusInvalidInState)
	_, err = e.allocAudio(t, audioReq())
	wantStatus(t, "LiveView audio", err, dm.StatusInvalidInState)
}

func captureSnapshot(t *testing.T, e *env, id field.Nullable[uint16], w, h uint16) (CaptureSnapshotResponse, error) {
	t.Helper()
	in := CaptureSnapshotRequest{SnapshotStreamID: id, RequestedResolution: VideoResolution{Width: w, Height: h}}
	resp, err := servetest.Invoke(t, e.s, servetest.CASE(1, 0x2222), CmdCaptureSnapshot, &in)
	var out CaptureSnapshotResponse
	if err == nil {
		servetest.Response(t, resp, CmdCaptureSnapshotResponse, &out)
	}
	return out, err
}

func TestMaxSnapshotSize(t *testing.T) {
	// One large message minus the headers, the MIC and the response's
	// encoding (about 120 octets), with room to spare.
	if MaxSnapshotSize > transport.DefaultMaxTCPMessageSize-200 || MaxSnapshotSize < 60000 {
		t.Errorf("MaxSnapshotSize %d for messages of %d", MaxSnapshotSize, transport.DefaultMaxTCPMessageSize)
	}
	// The largest snapshot does fit: encode a response carrying it.
	b := servetest.Encode(t, &CaptureSnapshotResponse{Data: make([]byte, MaxSnapshotSize), Resolution: res1k})
	if len(b) > transport.DefaultMaxTCPMessageSize-100 {
		t.Errorf("a response with the largest snapshot is %d octets", len(b))
	}
}

func TestCaptureSnapshot(t *testing.T) {
	null := field.Null[uint16]()
	id := field.NonNull[uint16]
	jpeg := func(n int) []byte { return make([]byte, n) }
	for _, tc := range []struct {
		name      string
		streams   bool // allocate snapshot streams 0 (360p..1080p) and 1 (1080p only)
		id        field.Nullable[uint16]
		w, h      uint16
		hard      bool
		softLive  bool
		softRec   bool
		size      int   // JPEG size the encoder returns; 0: 4 octets
		encErr    error // the encoder fails
		want      dm.Status
		wantReq   VideoResolution // what the encoder was asked for
		wantCodec ImageCodec
	}{
		{name: "ok", streams: true, id: id(0), w: 640, h: 360, want: dm.StatusSuccess, wantReq: res360},
		{name: "ok picked", streams: true, id: null, w: 1920, h: 1080, want: dm.StatusSuccess, wantReq: res1k},
		{name: "ok clamped to the stream", streams: true, id: id(1), w: 640, h: 360, want: dm.StatusSuccess, wantReq: res1k},
		{name: "ok clamped up to the range", streams: true, id: id(0), w: 100, h: 5000, want: dm.StatusSuccess,
			wantReq: VideoResolution{Width: 640, Height: 1080}},
		{name: "ok under soft recording privacy", streams: true, id: null, w: 640, h: 360, softRec: true, want: dm.StatusSuccess, wantReq: res360},
		{name: "ok at the size limit", streams: true, id: null, w: 640, h: 360, size: MaxSnapshotSize, want: dm.StatusSuccess, wantReq: res360},

		{name: "no stream", id: null, w: 640, h: 360, want: dm.StatusNotFound},
		{name: "no stream, width 0, privacy", id: null, w: 0, h: 360, hard: true, want: dm.StatusNotFound},
		{name: "unknown stream", streams: true, id: id(5), w: 640, h: 360, want: dm.StatusNotFound},
		{name: "unknown stream, height 0", streams: true, id: id(5), w: 640, h: 0, want: dm.StatusNotFound},

		{name: "width 0", streams: true, id: null, w: 0, h: 360, want: dm.StatusConstraintError},
		{name: "height 0 under privacy", streams: true, id: id(0), w: 640, h: 0, softLive: true, want: dm.StatusConstraintError},

		{name: "soft livestream privacy", streams: true, id: null, w: 640, h: 360, softLive: true, want: dm.StatusInvalidInState},
		{name: "hard privacy", streams: true, id: id(1), w: 640, h: 360, hard: true, want: dm.StatusInvalidInState},

		{name: "too large", streams: true, id: null, w: 640, h: 360, size: MaxSnapshotSize + 1, want: dm.StatusResourceExhausted, wantReq: res360},
		{name: "encoder fails", streams: true, id: null, w: 640, h: 360, encErr: errors.New("sensor gone"), want: dm.StatusFailure, wantReq: res360},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, servetest.Store(t))
			if tc.streams {
				mustID(t)(e.allocSnapshot(t, snapReq()))
				one := snapReq()
				one.MinResolution, one.Quality = res1k, 50
				mustID(t)(e.allocSnapshot(t, one))
			}
			e.s.SetHardPrivacy(tc.hard)
			e.s.mu.Lock()
			e.s.st.softLivestream, e.s.st.softRecording = tc.softLive, tc.softRec
			e.s.mu.Unlock()
			e.enc.snapshot = func(ctx context.Context, s SnapshotStream, want VideoResolution) ([]byte, VideoResolution, error) {
				if _, ok := ctx.Deadline(); !ok {
					t.Error("Snapshot called without a deadline")
				}
				if tc.encErr != nil {
					return nil, VideoResolution{}, tc.encErr
				}
				b := []byte{0xFF, 0xD8, 0xFF, 0xD9}
				if tc.size > 0 {
					b = jpeg(tc.size)
				}
				// The stream's codec, whatever the encoder says.
				return b, VideoResolution{Width: want.Width / 2, Height: want.Height / 2}, nil
			}
			out, err := captureSnapshot(t, e, tc.id, tc.w, tc.h)
			wantStatus(t, "CaptureSnapshot", err, tc.want)
			if tc.wantReq != (VideoResolution{}) {
				if len(e.enc.snapshotRequests) != 1 || e.enc.snapshotRequests[0] != tc.wantReq {
					t.Errorf("encoder asked for %+v, want %+v", e.enc.snapshotRequests, tc.wantReq)
				}
			} else if len(e.enc.snapshotRequests) != 0 {
				t.Errorf("encoder asked for %+v", e.enc.snapshotRequests)
			}
			if tc.want != dm.StatusSuccess {
				return
			}
			if out.ImageCodec != ImageCodecJpeg || out.Resolution != (VideoResolution{Width: tc.wantReq.Width / 2, Height: tc.wantReq.Height / 2}) {
				t.Errorf("response codec %v resolution %+v", out.ImageCodec, out.Resolution)
			}
			if want := max(tc.size, 4); len(out.Data) != want {
				t.Errorf("%d octets, want %d", len(out.Data), want)
			}
		})
	}
}

func TestCaptureSnapshotMalformed(t *testing.T) {
	e := newEnv(t, servetest.Store(t))
	mustID(t)(e.allocSnapshot(t, snapReq()))
	for _, tc := range []struct {
		name string
		r    *tlv.Reader
	}{
		{"no fields", nil},
		{"resolution missing", rawFields(t, func(w *tlv.Writer) { w.PutNull(tlv.ContextTag(0)) })},
		{"ID missing", rawFields(t, func(w *tlv.Writer) { res360.EncodeTLV(w, tlv.ContextTag(1)) })},
		{"height missing", rawFields(t, func(w *tlv.Writer) {
			w.PutNull(tlv.ContextTag(0))
			w.StartStructure(tlv.ContextTag(1))
			w.PutUint(tlv.ContextTag(0), 640)
			w.EndContainer()
		})},
		{"ID too large", rawFields(t, func(w *tlv.Writer) {
			w.PutUint(tlv.ContextTag(0), 70000)
			res360.EncodeTLV(w, tlv.ContextTag(1))
		})},
		{"ID a string", rawFields(t, func(w *tlv.Writer) {
			w.PutString(tlv.ContextTag(0), "0")
			res360.EncodeTLV(w, tlv.ContextTag(1))
		})},
		{"ID twice", rawFields(t, func(w *tlv.Writer) {
			w.PutUint(tlv.ContextTag(0), 0)
			w.PutUint(tlv.ContextTag(0), 0)
			res360.EncodeTLV(w, tlv.ContextTag(1))
		})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := servetest.InvokeRaw(t, e.s, manage, CmdCaptureSnapshot, tc.r)
			wantStatus(t, "CaptureSnapshot", err, dm.StatusInvalidCommand)
		})
	}
}

func TestAcquireRelease(t *testing.T) {
	e := newEnv(t, servetest.Store(t), withCaps(roomyCaps()))
	v0 := mustID(t)(e.allocVideo(t, videoReq()))
	other := videoReq()
	other.KeyFrameInterval = 1000
	other.MaxResolution, other.MaxBitRate = res360, 300_000
	v1 := mustID(t)(e.allocVideo(t, other))
	a0 := mustID(t)(e.allocAudio(t, audioReq()))
	refs := func() (v, a []uint8) {
		for _, s := range e.video(t) {
			v = append(v, s.ReferenceCount)
		}
		for _, s := range e.audio(t) {
			a = append(a, s.ReferenceCount)
		}
		return
	}
	check := func(what string, wantV, wantA []uint8) {
		t.Helper()
		if v, a := refs(); !slices.Equal(v, wantV) || !slices.Equal(a, wantA) {
			t.Fatalf("%s: reference counts %v %v, want %v %v", what, v, a, wantV, wantA)
		}
	}

	e.changes.Reset()
	if err := e.s.Acquire([]uint16{v0}, []uint16{a0}); err != nil {
		t.Fatal(err)
	}
	check("acquired", []uint8{1, 0}, []uint8{1})
	if !e.changes.Has(ID, AttrAllocatedVideoStreams) || !e.changes.Has(ID, AttrAllocatedAudioStreams) {
		t.Error("reference count changes not reported")
	}
	// Listed twice, counted twice.
	if err := e.s.Acquire([]uint16{v1, v1}, nil); err != nil {
		t.Fatal(err)
	}
	check("acquired twice", []uint8{1, 2}, []uint8{1})

	// All or none.
	for _, tc := range []struct {
		video, audio []uint16
	}{
		{[]uint16{v0, 9}, nil},
		{[]uint16{v0}, []uint16{a0, 9}},
		{nil, []uint16{v0 + 100}},
	} {
		if err := e.s.Acquire(tc.video, tc.audio); !errors.Is(err, ErrNotAllocated) {
			t.Errorf("Acquire(%v, %v): %v, want ErrNotAllocated", tc.video, tc.audio, err)
		}
	}
	check("after failed acquisitions", []uint8{1, 2}, []uint8{1})

	// Saturation: the count is 8 bits.
	for range 254 {
		if err := e.s.Acquire([]uint16{v0}, nil); err != nil {
			t.Fatal(err)
		}
	}
	check("full", []uint8{255, 2}, []uint8{1})
	if err := e.s.Acquire([]uint16{v1, v0}, []uint16{a0}); !errors.Is(err, ErrTooManyReferences) {
		t.Errorf("acquiring a full stream: %v, want ErrTooManyReferences", err)
	}
	e2 := newEnv(t, servetest.Store(t))
	mustID(t)(e2.allocVideo(t, videoReq()))
	if err := e2.s.Acquire(slices.Repeat([]uint16{0}, 256), nil); !errors.Is(err, ErrTooManyReferences) {
		t.Errorf("256 references in one call: %v", err)
	}
	check("after a saturated acquisition", []uint8{255, 2}, []uint8{1})

	for range 255 {
		e.s.Release([]uint16{v0}, nil)
	}
	e.s.Release([]uint16{v1, v1}, []uint16{a0})
	check("released", []uint8{0, 0}, []uint8{0})
	// Releasing too often, or unknown streams, changes nothing else.
	e.s.Release([]uint16{v0, 77}, []uint16{a0})
	check("over-released", []uint8{0, 0}, []uint8{0})
	if err := e.s.Acquire(nil, nil); err != nil {
		t.Errorf("empty Acquire: %v", err)
	}
}

func TestAllocatedStreamsOrder(t *testing.T) {
	e := newEnv(t, servetest.Store(t))
	small := func(u globals.StreamUsage, kfi uint16) VideoStreamAllocateRequest {
		r := videoReq()
		r.StreamUsage, r.KeyFrameInterval, r.MaxResolution, r.MaxBitRate = u, kfi, res360, 300_000
		return r
	}
	rec := mustID(t)(e.allocVideo(t, small(globals.StreamUsageRecording, 1)))
	live := mustID(t)(e.allocVideo(t, small(globals.StreamUsageLiveView, 2)))
	if got := e.s.AllocatedVideoStreams(globals.StreamUsageLiveView); !slices.Equal(got, []uint16{live, rec}) {
		t.Errorf("for LiveView %v", got)
	}
	if got := e.s.AllocatedVideoStreams(globals.StreamUsageRecording); !slices.Equal(got, []uint16{rec, live}) {
		t.Errorf("for Recording %v", got)
	}
	// Another usage: by priority (LiveView, then Recording).
	if got := e.s.AllocatedVideoStreams(globals.StreamUsageAnalysis); !slices.Equal(got, []uint16{live, rec}) {
		t.Errorf("for Analysis %v", got)
	}
	a := audioReq()
	a.StreamUsage = globals.StreamUsageRecording
	arec := mustID(t)(e.allocAudio(t, a))
	a.StreamUsage, a.SampleRate = globals.StreamUsageLiveView, 16000
	alive := mustID(t)(e.allocAudio(t, a))
	if got := e.s.AllocatedAudioStreams(globals.StreamUsageLiveView); !slices.Equal(got, []uint16{alive, arec}) {
		t.Errorf("audio for LiveView %v", got)
	}
	if got := newEnv(t, servetest.Store(t)).s.AllocatedVideoStreams(globals.StreamUsageLiveView); len(got) != 0 {
		t.Errorf("nothing allocated: %v", got)
	}
}

func writeBool(t *testing.T, e *env, req *dm.Request, attr uint32, v bool) error {
	t.Helper()
	return servetest.Write(t, e.s, req, attr, servetest.Value(t, func(w *tlv.Writer, tag tlv.Tag) { w.PutBool(tag, v) }), false)
}

func TestPrivacy(t *testing.T) {
	e := newEnv(t, servetest.Store(t))
	operate := servetest.CASE(1, 0x3333)
	for _, tc := range []struct {
		attr uint32
		get  func() bool
	}{
		{AttrSoftRecordingPrivacyModeEnabled, func() bool { _, _, r := e.s.Privacy(); return r }},
		{AttrSoftLivestreamPrivacyModeEnabled, func() bool { _, l, _ := e.s.Privacy(); return l }},
	} {
		e.changes.Reset()
		before := e.privacy
		if err := writeBool(t, e, operate, tc.attr, true); err != nil {
			t.Fatalf("writing %#x: %v", tc.attr, err)
		}
		if !tc.get() || !servetest.ReadElement(t, e.s, operate, tc.attr).Bool || !e.changes.Has(ID, tc.attr) || e.privacy != before+1 {
			t.Errorf("attribute %#x after writing true: %v, reported %v, callbacks %d", tc.attr, tc.get(), e.changes.Has(ID, tc.attr), e.privacy-before)
		}
		// Writing the same value changes nothing.
		e.changes.Reset()
		if err := writeBool(t, e, operate, tc.attr, true); err != nil || e.changes.Has(ID, tc.attr) || e.privacy != before+1 {
			t.Errorf("rewriting %#x: %v, reported %v, callbacks %d", tc.attr, err, e.changes.Has(ID, tc.attr), e.privacy-before)
		}
	}
	hard, live, rec := e.s.Privacy()
	if hard || !live || !rec {
		t.Errorf("Privacy() = %v %v %v", hard, live, rec)
	}
	// Not a bool.
	err := servetest.Write(t, e.s, operate, AttrSoftRecordingPrivacyModeEnabled,
		servetest.Value(t, func(w *tlv.Writer, tag tlv.Tag) { w.PutUint(tag, 1) }), false)
	wantStatus(t, "writing an integer", err, dm.StatusInvalidDataType)

	// The switch.
	e.changes.Reset()
	before := e.privacy
	e.s.SetHardPrivacy(true)
	e.s.SetHardPrivacy(true)
	if hard, _, _ := e.s.Privacy(); !hard || !servetest.ReadElement(t, e.s, operate, AttrHardPrivacyModeOn).Bool ||
		!e.changes.Has(ID, AttrHardPrivacyModeOn) || e.privacy != before+1 {
		t.Errorf("SetHardPrivacy(true): hard %v, callbacks %d", hard, e.privacy-before)
	}
	e.s.SetHardPrivacy(false)
	if hard, _, _ := e.s.Privacy(); hard || e.privacy != before+2 {
		t.Errorf("SetHardPrivacy(false): hard %v, callbacks %d", hard, e.privacy-before)
	}
	// HardPrivacyModeOn is read-only.
	wantStatus(t, "writing HardPrivacyModeOn", writeBool(t, e, operate, AttrHardPrivacyModeOn, false), dm.StatusUnsupportedWrite)
}

func TestWrites(t *testing.T) {
	e := newEnv(t, servetest.Store(t))
	u8 := func(v uint64) []byte {
		return servetest.Value(t, func(w *tlv.Writer, tag tlv.Tag) { w.PutUint(tag, v) })
	}
	vp := func(v globals.Viewport) []byte { return servetest.Encode(t, &v) }
	for _, tc := range []struct {
		name  string
		attr  uint32
		value []byte
		want  dm.Status
	}{
		{"volume", AttrMicrophoneVolumeLevel, u8(100), dm.StatusSuccess},
		{"volume min", AttrMicrophoneVolumeLevel, u8(1), dm.StatusSuccess},
		{"volume below min", AttrMicrophoneVolumeLevel, u8(0), dm.StatusConstraintError},
		{"volume 255", AttrMicrophoneVolumeLevel, u8(255), dm.StatusConstraintError},
		{"volume 300", AttrMicrophoneVolumeLevel, u8(300), dm.StatusConstraintError},
		{"volume not a number", AttrMicrophoneVolumeLevel, servetest.Value(t, func(w *tlv.Writer, tag tlv.Tag) { w.PutBool(tag, true) }), dm.StatusInvalidDataType},
		{"muted", AttrMicrophoneMuted, servetest.Value(t, func(w *tlv.Writer, tag tlv.Tag) { w.PutBool(tag, true) }), dm.StatusSuccess},
		{"viewport", AttrViewport, vp(globals.Viewport{X1: 100, Y1: 100, X2: 1380, Y2: 820}), dm.StatusSuccess},
		{"viewport whole sensor", AttrViewport, vp(globals.Viewport{X2: 1920, Y2: 1080}), dm.StatusSuccess},
		{"viewport off the sensor", AttrViewport, vp(globals.Viewport{X1: 1000, X2: 2000, Y2: 1080}), dm.StatusConstraintError},
		{"viewport too small", AttrViewport, vp(globals.Viewport{X2: 320, Y2: 180}), dm.StatusConstraintError},
		{"viewport reversed", AttrViewport, vp(globals.Viewport{X1: 1920, Y1: 1080}), dm.StatusConstraintError},
		{"viewport not a struct", AttrViewport, u8(1), dm.StatusInvalidDataType},
		{"fixed attribute", AttrMaxConcurrentEncoders, u8(3), dm.StatusUnsupportedWrite},
		{"stream list", AttrAllocatedVideoStreams, servetest.List[VideoStream](t, nil), dm.StatusUnsupportedWrite},
		{"priorities", AttrStreamUsagePriorities, servetest.Value(t, func(w *tlv.Writer, tag tlv.Tag) { serveUints(w, tag) }), dm.StatusUnsupportedWrite},
		{"not served", AttrSpeakerMuted, u8(1), dm.StatusUnsupportedAttribute},
		{"no such attribute", 0x99, u8(1), dm.StatusUnsupportedAttribute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := servetest.Write(t, e.s, manage, tc.attr, tc.value, false)
			wantStatus(t, "write", err, tc.want)
		})
	}
	muted, level := e.s.Microphone()
	if !muted || level != 1 || servetest.ReadUint(t, e.s, manage, AttrMicrophoneVolumeLevel) != 1 {
		t.Errorf("microphone %v %d", muted, level)
	}
	if want := [][2]uint8{{0, 100}, {0, 1}, {1, 1}}; !slices.Equal(e.mic, want) {
		t.Errorf("microphone callbacks %v, want %v", e.mic, want)
	}
	if want := (globals.Viewport{X2: 1920, Y2: 1080}); e.s.Viewport() != want || len(e.views) != 2 {
		t.Errorf("viewport %+v, callbacks %+v", e.s.Viewport(), e.views)
	}
}

func serveUints(w *tlv.Writer, tag tlv.Tag) {
	w.StartArray(tag)
	w.PutUint(tlv.AnonymousTag(), 3)
	w.EndContainer()
}

func TestNextID(t *testing.T) {
	usedSet := func(ids ...uint16) func(uint16) bool {
		return func(id uint16) bool { return slices.Contains(ids, id) }
	}
	for _, tc := range []struct {
		start         uint16
		used          []uint16
		id, following uint16
	}{
		{0, nil, 0, 1},
		{5, nil, 5, 6},
		{5, []uint16{5, 6}, 7, 8},
		{65533, nil, 65533, 65534},
		{65534, nil, 65534, 0}, // 65535 is never used
		{65535, nil, 0, 1},
		{65534, []uint16{65534, 0, 1}, 2, 3},
	} {
		id, following, ok := nextID(tc.start, usedSet(tc.used...))
		if !ok || id != tc.id || following != tc.following {
			t.Errorf("nextID(%d, used %v) = %d, %d, %v; want %d, %d", tc.start, tc.used, id, following, ok, tc.id, tc.following)
		}
	}
	if _, _, ok := nextID(7, func(uint16) bool { return true }); ok {
		t.Error("an ID was found with all in use")
	}
}

func TestIDWrap(t *testing.T) {
	e := newEnv(t, servetest.Store(t))
	e.s.mu.Lock()
	e.s.st.nextVideo, e.s.st.nextAudio, e.s.st.nextSnap = 65534, 65534, 65533
	e.s.mu.Unlock()
	small := func(kfi uint16) VideoStreamAllocateRequest {
		r := videoReq()
		r.MaxResolution, r.MaxBitRate, r.KeyFrameInterval = res360, 300_000, kfi
		return r
	}
	if id := mustID(t)(e.allocVideo(t, small(1))); id != 65534 {
		t.Fatalf("first video %d, want 65534", id)
	}
	if id := mustID(t)(e.allocVideo(t, small(2))); id != 0 {
		t.Fatalf("after 65534: %d, want 0", id)
	}
	// Audio: 65534, then 0; free 65534 and wrap around again: 65534 is
	// skipped only while in use.
	a := audioReq()
	for _, want := range []uint16{65534, 0, 1} {
		if id := mustID(t)(e.allocAudio(t, a)); id != want {
			t.Fatalf("audio %d, want %d", id, want)
		}
		a.BitRate++
	}
	e.s.mu.Lock()
	e.s.st.nextAudio = 65534
	e.s.mu.Unlock()
	if id := mustID(t)(e.allocAudio(t, a)); id != 2 {
		t.Fatalf("audio after a full wrap %d, want 2 (65534, 0 and 1 in use)", id)
	}
	sn := snapReq()
	for _, want := range []uint16{65533, 65534, 0} {
		if id := mustID(t)(e.allocSnapshot(t, sn)); id != want {
			t.Fatalf("snapshot %d, want %d", id, want)
		}
		sn.Quality--
	}
}

// TestPersistence checks that allocations, priorities, privacy, the
// microphone settings, the viewport and the next IDs survive a restart,
// with reference counts back at 0 and the encoders re-opened.
func TestPersistence(t *testing.T) {
	dir := t.TempDir()
	store := servetest.OpenStore(t, dir)
	e := newEnv(t, store)
	if err := setPriorities(t, e, manage, globals.StreamUsageRecording, globals.StreamUsageLiveView); err != nil {
		t.Fatal(err)
	}
	v := videoReq()
	v.StreamUsage = globals.StreamUsageRecording
	mustID(t)(e.allocVideo(t, v))
	a := audioReq()
	mustID(t)(e.allocAudio(t, a))
	a.SampleRate = 16000
	a1 := mustID(t)(e.allocAudio(t, a))
	mustID(t)(e.allocSnapshot(t, snapReq()))
	if err := deallocate(t, e, CmdAudioStreamDeallocate, a1); err != nil {
		t.Fatal(err)
	}
	for _, w := range []struct {
		attr  uint32
		value []byte
	}{
		{AttrSoftRecordingPrivacyModeEnabled, servetest.Value(t, func(w *tlv.Writer, tag tlv.Tag) { w.PutBool(tag, true) })},
		{AttrMicrophoneMuted, servetest.Value(t, func(w *tlv.Writer, tag tlv.Tag) { w.PutBool(tag, true) })},
		{AttrMicrophoneVolumeLevel, servetest.Value(t, func(w *tlv.Writer, tag tlv.Tag) { w.PutUint(tag, 42) })},
		{AttrViewport, servetest.Encode(t, &globals.Viewport{X1: 10, Y1: 20, X2: 1290, Y2: 740})},
	} {
		if err := servetest.Write(t, e.s, manage, w.attr, w.value, false); err != nil {
			t.Fatalf("writing %#x: %v", w.attr, err)
		}
	}
	e.s.SetHardPrivacy(true) // not stored: the switch is read at start
	if err := e.s.Acquire([]uint16{0}, []uint16{0}); err != nil {
		t.Fatal(err)
	}
	wantVideo, wantAudio, wantSnap := e.video(t), e.audio(t), e.snaps(t)
	wantVideo[0].ReferenceCount, wantAudio[0].ReferenceCount = 0, 0
	e.s.Close()
	if len(e.enc.videoIDs()) != 0 || len(e.enc.audioIDs()) != 0 {
		t.Fatal("Close left encoders open")
	}
	store.Close()

	store2 := servetest.OpenStore(t, dir)
	e2 := newEnv(t, store2)
	if got := e2.video(t); !slices.Equal(got, wantVideo) {
		t.Errorf("video streams %+v, want %+v", got, wantVideo)
	}
	if got := e2.audio(t); !slices.Equal(got, wantAudio) {
		t.Errorf("audio streams %+v, want %+v", got, wantAudio)
	}
	if got := e2.snaps(t); !slices.Equal(got, wantSnap) {
		t.Errorf("snapshot streams %+v, want %+v", got, wantSnap)
	}
	if got := e2.enc.videoIDs(); !slices.Equal(got, []uint16{0}) || e2.enc.video[0] != wantVideo[0] {
		t.Errorf("video encoders re-opened: %v", got)
	}
	if got := e2.enc.audioIDs(); !slices.Equal(got, []uint16{0}) {
		t.Errorf("audio encoders re-opened: %v", got)
	}
	if got := servetest.UintList(t, e2.s, manage, AttrStreamUsagePriorities); !slices.Equal(got, []uint64{1, 3}) {
		t.Errorf("priorities %v", got)
	}
	if hard, live, rec := e2.s.Privacy(); hard || live || !rec {
		t.Errorf("privacy %v %v %v, want soft recording only", hard, live, rec)
	}
	if muted, level := e2.s.Microphone(); !muted || level != 42 {
		t.Errorf("microphone %v %d", muted, level)
	}
	if got := e2.s.Viewport(); got != (globals.Viewport{X1: 10, Y1: 20, X2: 1290, Y2: 740}) {
		t.Errorf("viewport %+v", got)
	}
	// The next IDs carry on: audio 1 was freed before the restart and is
	// not handed out again at once.
	a.SampleRate, a.StreamUsage = 48000, globals.StreamUsageRecording
	a.BitRate = 64000
	if id := mustID(t)(e2.allocAudio(t, a)); id != 2 {
		t.Errorf("next audio stream %d, want 2", id)
	}
	// Reference counts were recomputed: the streams can go.
	wantStatus(t, "deallocating after restart", deallocate(t, e2, CmdVideoStreamDeallocate, 0), dm.StatusSuccess)
}

// TestPersistenceDropsStreams checks that stored streams the camera can
// no longer produce, or whose encoders no longer open, are dropped at
// start, and the record rewritten.
func TestPersistenceDropsStreams(t *testing.T) {
	dir := t.TempDir()
	store := servetest.OpenStore(t, dir)
	e := newEnv(t, store, withCaps(roomyCaps()))
	mustID(t)(e.allocVideo(t, videoReq()))
	small := videoReq()
	small.MaxResolution, small.MaxBitRate, small.KeyFrameInterval = res360, 300_000, 1
	mustID(t)(e.allocVideo(t, small))
	mustID(t)(e.allocAudio(t, audioReq()))
	only1k := snapReq()
	only1k.MinResolution = res1k
	mustID(t)(e.allocSnapshot(t, only1k))
	e.s.Close()

	// A 720p sensor: the 1080p-only streams cannot be; 16 kHz audio only.
	caps := roomyCaps()
	caps.VideoSensorParams = VideoSensorParams{SensorWidth: 1280, SensorHeight: 720, MaxFps: 30}
	caps.RateDistortionTradeOffPoints = caps.RateDistortionTradeOffPoints[:2]
	caps.SnapshotCapabilities[0].Resolution = res720
	caps.MicrophoneCapabilities.SupportedSampleRates = []uint32{16000}
	caps.MicrophoneMaxLevel = 100
	e2 := newEnv(t, store, withCaps(caps))
	if got := e2.video(t); len(got) != 2 {
		t.Errorf("video streams %+v: both still have a resolution in range", got)
	}
	if got := e2.audio(t); len(got) != 0 {
		t.Errorf("audio streams %+v, want none", got)
	}
	if got := e2.snaps(t); len(got) != 0 {
		t.Errorf("snapshot streams %+v, want none (1080p only)", got)
	}
	if _, level := e2.s.Microphone(); level != 100 {
		t.Errorf("microphone level %d, want the new maximum", level)
	}
	if got := e2.s.Viewport(); got != (globals.Viewport{X2: 1280, Y2: 720}) {
		t.Errorf("viewport %+v, want the new sensor", got)
	}
	e2.s.Close()

	// An encoder that no longer opens.
	e3 := newEnv(t, store, withCaps(caps), func(c *Config) {
		f := newFakeEncoders()
		f.failVideo = errors.New("gone")
		c.Encoders = f
	})
	if got := e3.video(t); len(got) != 0 {
		t.Errorf("video streams %+v without encoders", got)
	}
	e3.s.Close()
	// The drops were stored.
	rec, err := decodeRecord(mustGet(t, store))
	if err != nil || len(rec.video)+len(rec.audio)+len(rec.snap) != 0 {
		t.Errorf("stored record %+v, %v", rec, err)
	}
}

func factory(c Capabilities) state { return c.factoryState() }

func mustGet(t *testing.T, store *storage.Store) []byte {
	t.Helper()
	b, err := store.Get(storeKey)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCorruptRecord(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"not TLV", []byte("garbage")},
		{"empty structure", []byte{0x15, 0x18}},
		{"wrong version", func() []byte {
			st := factory(testCaps())
			b, _ := encodeRecord(&st)
			b[2] = 9 // the version's value
			return b
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := servetest.Store(t)
			if err := store.Put(storeKey, tc.b); err != nil {
				t.Fatal(err)
			}
			e := newEnv(t, store)
			if got := servetest.UintList(t, e.s, manage, AttrStreamUsagePriorities); !slices.Equal(got, []uint64{3, 1}) {
				t.Errorf("priorities %v, want the factory default", got)
			}
			if _, err := decodeRecord(mustGet(t, store)); err != nil {
				t.Errorf("the unusable record was not replaced: %v", err)
			}
		})
	}
}

// TestStoreFailure checks that a change the store refuses is not put in
// force.
func TestStoreFailure(t *testing.T) {
	store, err := storage.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, store)
	store.Close()
	_, err = e.allocVideo(t, videoReq())
	wantStatus(t, "allocating with a closed store", err, dm.StatusFailure)
	if len(e.video(t)) != 0 || len(e.enc.videoIDs()) != 0 {
		t.Error("the allocation was kept, or its encoder left open")
	}
	wantStatus(t, "privacy", writeBool(t, e, manage, AttrSoftLivestreamPrivacyModeEnabled, true), dm.StatusFailure)
	if _, live, _ := e.s.Privacy(); live || e.privacy != 0 {
		t.Error("a privacy change that was not stored is in force")
	}
}

// TestConcurrency runs the provider's calls against allocations and reads
// (for the race detector).
func TestConcurrency(t *testing.T) {
	e := newEnv(t, servetest.Store(t))
	id := mustID(t)(e.allocVideo(t, videoReq()))
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				if err := e.s.Acquire([]uint16{id}, nil); err != nil {
					t.Error(err)
					return
				}
				e.s.AllocatedVideoStreams(globals.StreamUsageLiveView)
				e.s.Privacy()
				e.s.Release([]uint16{id}, nil)
				if i == 0 {
					e.s.SetHardPrivacy(true)
					e.s.SetHardPrivacy(false)
				}
			}
		}()
	}
	for range 20 {
		a := mustID(t)(e.allocAudio(t, audioReq()))
		if _, err := servetest.ReadErr(e.s, manage, AttrAllocatedVideoStreams); err != nil {
			t.Fatal(err)
		}
		if err := deallocate(t, e, CmdAudioStreamDeallocate, a); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if got := e.video(t); got[0].ReferenceCount != 0 {
		t.Errorf("reference count %d after balanced use", got[0].ReferenceCount)
	}
}
