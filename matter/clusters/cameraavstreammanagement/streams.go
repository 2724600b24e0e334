package cameraavstreammanagement

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/mattercam/mattercam/matter/clusters/field"
	"github.com/mattercam/mattercam/matter/clusters/globals"
	"github.com/mattercam/mattercam/matter/clusters/internal/serve"
	"github.com/mattercam/mattercam/matter/dm"
	"github.com/mattercam/mattercam/matter/tlv"
)

// state is what the cluster stores (persist.go) plus the reference
// counts, which it does not.
type state struct {
	video      []VideoStream
	audio      []AudioStream
	snap       []SnapshotStream
	priorities []globals.StreamUsage

	softRecording, softLivestream bool
	micMuted                      bool
	micLevel                      uint8
	viewport                      globals.Viewport

	// The IDs to try first for the next stream of each kind (spec digest
	// §2.3: up by one, wrapping after 65534, skipping IDs in use). They
	// are stored so that a restart does not hand out a recently freed ID
	// to a new stream while a controller may still hold the old one.
	nextVideo, nextAudio, nextSnap uint16
}

func (st *state) clone() state {
	c := *st
	c.video = slices.Clone(st.video)
	c.audio = slices.Clone(st.audio)
	c.snap = slices.Clone(st.snap)
	c.priorities = slices.Clone(st.priorities)
	return c
}

func (st *state) allocated() bool {
	return len(st.video) > 0 || len(st.audio) > 0 || len(st.snap) > 0
}

type kind uint8

const (
	kindVideo kind = iota
	kindAudio
	kindSnapshot
)

func (k kind) String() string {
	return [...]string{"video", "audio", "snapshot"}[k]
}

// attr is the attribute listing the streams of kind k.
func (k kind) attr() uint32 {
	return [...]uint32{AttrAllocatedVideoStreams, AttrAllocatedAudioStreams, AttrAllocatedSnapshotStreams}[k]
}

func videoID(v *VideoStream) uint16       { return v.VideoStreamID }
func audioID(a *AudioStream) uint16       { return a.AudioStreamID }
func snapshotID(s *SnapshotStream) uint16 { return s.SnapshotStreamID }

func ids[T any](l []T, id func(*T) uint16) []uint16 {
	out := make([]uint16, len(l))
	for i := range l {
		out[i] = id(&l[i])
	}
	return out
}

func indexOf[T any](l []T, id func(*T) uint16, want uint16) int {
	for i := range l {
		if id(&l[i]) == want {
			return i
		}
	}
	return -1
}

// nextID returns the first ID from start on (spec digest §2.3: 0..65534,
// wrapping, 65535 never used) that used rejects, and the ID to start from
// next time; ok is false when all 65535 are in use.
func nextID(start uint16, used func(uint16) bool) (id, following uint16, ok bool) {
	id = start
	for range math.MaxUint16 {
		if id == math.MaxUint16 {
			id = 0
		}
		if !used(id) {
			following = id + 1
			if following == math.MaxUint16 {
				following = 0
			}
			return id, following, true
		}
		id++
	}
	return 0, start, false
}

func status(s dm.Status, format string, args ...any) error {
	return dm.Errorf(s, "cameraavstreammanagement: "+format, args...)
}

// allocatable reports whether a stream may be allocated for usage: the
// Allocate commands take Recording, Analysis and LiveView (spec digest
// §5.3); Internal streams are the camera's own.
func allocatable(u globals.StreamUsage) bool {
	return u == globals.StreamUsageRecording || u == globals.StreamUsageAnalysis || u == globals.StreamUsageLiveView
}

// resolutionRange reports whether min..max is a range of resolutions:
// both at least 1x1 and min no larger than max in either dimension.
func resolutionRange(lo, hi VideoResolution) bool {
	return lo.Width >= 1 && lo.Height >= 1 && lo.Width <= hi.Width && lo.Height <= hi.Height
}

// within reports whether r lies in lo..hi in both dimensions.
func within(r, lo, hi VideoResolution) bool {
	return r.Width >= lo.Width && r.Height >= lo.Height && r.Width <= hi.Width && r.Height <= hi.Height
}

func pixels(r VideoResolution) uint64 { return uint64(r.Width) * uint64(r.Height) }

// featureFields checks that an optional field guarded by a feature (WMARK,
// OSD) is present exactly when the feature is set: INVALID_COMMAND
// otherwise (spec digest §5.5, the first check of the Allocate commands).
func featureFields(watermark, osd bool) error {
	if watermark != (features&FeatureWatermark != 0) {
		return status(dm.StatusInvalidCommand, "WatermarkEnabled present: %v, WMARK feature: %v", watermark, features&FeatureWatermark != 0)
	}
	if osd != (features&FeatureOnScreenDisplay != 0) {
		return status(dm.StatusInvalidCommand, "OSDEnabled present: %v, OSD feature: %v", osd, features&FeatureOnScreenDisplay != 0)
	}
	return nil
}

// scanFields returns which context tags the fields structure at r has,
// leaving r on the structure for decoding. The Allocate commands answer a
// WMARK/OSD field mismatch with INVALID_COMMAND before any constraint
// error (spec digest §5.5), while the generated decoder stops at the
// first value outside its constraint; so presence is looked at first.
func scanFields(r *tlv.Reader) (field.Seen, error) {
	var tags field.Seen
	if r == nil {
		return tags, nil
	}
	raw, err := r.Raw() // does not move r
	if err != nil {
		return tags, &dm.StatusError{Status: dm.StatusInvalidCommand, Err: err}
	}
	scan := tlv.NewReader(raw)
	if scan.Next() == nil && scan.Type() == tlv.TypeStructure && scan.Enter() == nil {
		for scan.Next() == nil {
			if t := scan.Tag(); t.Kind() == tlv.TagContext && t.Number() <= 255 {
				tags.Add(uint8(t.Number()))
			}
		}
	}
	return tags, nil
}

// checkVideo applies the checks of VideoStreamAllocate in the order of
// spec digest §5.5: INVALID_COMMAND for a WMARK/OSD field mismatch,
// CONSTRAINT_ERROR for static range violations, INVALID_IN_STATE for a
// usage not in StreamUsagePriorities, DYNAMIC_CONSTRAINT_ERROR when the
// capabilities cannot produce the stream.
func (c *Capabilities) checkVideo(v *VideoStream, priorities []globals.StreamUsage) error {
	if err := featureFields(v.WatermarkEnabled.Present, v.OSDEnabled.Present); err != nil {
		return err
	}
	switch {
	case !allocatable(v.StreamUsage):
		return status(dm.StatusConstraintError, "video stream usage %v", v.StreamUsage)
	case !v.VideoCodec.Known():
		return status(dm.StatusConstraintError, "video codec %v", v.VideoCodec)
	case v.MinFrameRate < 1 || v.MinFrameRate > v.MaxFrameRate:
		return status(dm.StatusConstraintError, "frame rate %d..%d", v.MinFrameRate, v.MaxFrameRate)
	case !resolutionRange(v.MinResolution, v.MaxResolution):
		return status(dm.StatusConstraintError, "resolution %+v..%+v", v.MinResolution, v.MaxResolution)
	case v.MinBitRate < 1 || v.MinBitRate > v.MaxBitRate:
		return status(dm.StatusConstraintError, "bit rate %d..%d", v.MinBitRate, v.MaxBitRate)
	case v.KeyFrameInterval > 65500:
		return status(dm.StatusConstraintError, "key frame interval %d", v.KeyFrameInterval)
	}
	if !slices.Contains(priorities, v.StreamUsage) {
		return status(dm.StatusInvalidInState, "usage %v not in StreamUsagePriorities %v", v.StreamUsage, priorities)
	}
	if _, ok := c.videoPixelRate(v); !ok {
		return status(dm.StatusDynamicConstraintError, "no %v encoding at %d..%d fps, %+v..%+v, up to %d bps",
			v.VideoCodec, v.MinFrameRate, v.MaxFrameRate, v.MinResolution, v.MaxResolution, v.MaxBitRate)
	}
	return nil
}

// videoPixelRate returns the pixels per second the encoder of v codes,
// and whether the capabilities can produce v at all: the sensor reaches
// its minimum frame rate, and a rate-distortion point of its codec lies
// in its resolution range at a bit rate it allows. The encoder then runs
// at up to the lower of its maximum frame rate and the sensor's, at the
// largest such point: that is what counts against MaxEncodedPixelRate
// (spec digest §5.5: frame rate x width x height), not the request's
// ceiling, which may exceed anything the camera does.
func (c *Capabilities) videoPixelRate(v *VideoStream) (uint64, bool) {
	sensor := c.VideoSensorParams.MaxFps
	if v.MinFrameRate > sensor {
		return 0, false
	}
	var best uint64
	found := false
	for _, p := range c.RateDistortionTradeOffPoints {
		if p.Codec == v.VideoCodec && within(p.Resolution, v.MinResolution, v.MaxResolution) && p.MinBitRate <= v.MaxBitRate {
			found = true
			best = max(best, pixels(p.Resolution))
		}
	}
	return uint64(min(v.MaxFrameRate, sensor)) * best, found
}

// checkAudio applies the checks of AudioStreamAllocate (spec digest
// §5.5): CONSTRAINT_ERROR, INVALID_IN_STATE, DYNAMIC_CONSTRAINT_ERROR
// against MicrophoneCapabilities.
func (c *Capabilities) checkAudio(a *AudioStream, priorities []globals.StreamUsage) error {
	switch {
	case !allocatable(a.StreamUsage):
		return status(dm.StatusConstraintError, "audio stream usage %v", a.StreamUsage)
	case !a.AudioCodec.Known():
		return status(dm.StatusConstraintError, "audio codec %v", a.AudioCodec)
	case a.ChannelCount < 1 || a.ChannelCount > 8:
		return status(dm.StatusConstraintError, "%d channels", a.ChannelCount)
	case a.SampleRate < 1 || a.BitRate < 1:
		return status(dm.StatusConstraintError, "sample rate %d, bit rate %d", a.SampleRate, a.BitRate)
	case !validBitDepth(a.BitDepth):
		return status(dm.StatusConstraintError, "bit depth %d", a.BitDepth)
	}
	if !slices.Contains(priorities, a.StreamUsage) {
		return status(dm.StatusInvalidInState, "usage %v not in StreamUsagePriorities %v", a.StreamUsage, priorities)
	}
	m := &c.MicrophoneCapabilities
	if !slices.Contains(m.SupportedCodecs, a.AudioCodec) || a.ChannelCount > m.MaxNumberOfChannels ||
		!slices.Contains(m.SupportedSampleRates, a.SampleRate) || !slices.Contains(m.SupportedBitDepths, a.BitDepth) {
		return status(dm.StatusDynamicConstraintError, "the microphone does not do %v, %d channels, %d Hz, %d bits",
			a.AudioCodec, a.ChannelCount, a.SampleRate, a.BitDepth)
	}
	return nil
}

func validBitDepth(d uint8) bool { return d == 8 || d == 16 || d == 24 || d == 32 }

// checkSnapshot applies the checks of SnapshotStreamAllocate (spec digest
// §5.5): INVALID_COMMAND, CONSTRAINT_ERROR, then DYNAMIC_CONSTRAINT_ERROR
// when no SnapshotCapabilities entry matches. It returns the matching
// entry.
func (c *Capabilities) checkSnapshot(s *SnapshotStream) (SnapshotCapabilities, error) {
	if err := featureFields(s.WatermarkEnabled.Present, s.OSDEnabled.Present); err != nil {
		return SnapshotCapabilities{}, err
	}
	switch {
	case !s.ImageCodec.Known():
		return SnapshotCapabilities{}, status(dm.StatusConstraintError, "image codec %v", s.ImageCodec)
	case s.FrameRate < 1:
		return SnapshotCapabilities{}, status(dm.StatusConstraintError, "frame rate 0")
	case !resolutionRange(s.MinResolution, s.MaxResolution):
		return SnapshotCapabilities{}, status(dm.StatusConstraintError, "resolution %+v..%+v", s.MinResolution, s.MaxResolution)
	case s.Quality < 1 || s.Quality > 100:
		return SnapshotCapabilities{}, status(dm.StatusConstraintError, "quality %d", s.Quality)
	}
	m, ok := c.snapshotMatch(s)
	if !ok {
		return SnapshotCapabilities{}, status(dm.StatusDynamicConstraintError, "no %v snapshots at %d fps in %+v..%+v",
			s.ImageCodec, s.FrameRate, s.MinResolution, s.MaxResolution)
	}
	return m, nil
}

// snapshotMatch returns the SnapshotCapabilities entry for s: one of its
// codec, with at least its frame rate and a resolution in its range (spec
// digest §5.5); the largest such, which is what snapshots are taken at.
func (c *Capabilities) snapshotMatch(s *SnapshotStream) (SnapshotCapabilities, bool) {
	var best SnapshotCapabilities
	found := false
	for _, e := range c.SnapshotCapabilities {
		if e.ImageCodec == s.ImageCodec && e.MaxFrameRate >= s.FrameRate && within(e.Resolution, s.MinResolution, s.MaxResolution) &&
			(!found || pixels(e.Resolution) > pixels(best.Resolution)) {
			best, found = e, true
		}
	}
	return best, found
}

// snapshotPixelRate is what a snapshot stream counts against
// MaxEncodedPixelRate: its frame rate at the resolution it is taken at.
func (c *Capabilities) snapshotPixelRate(s *SnapshotStream) uint64 {
	m, ok := c.snapshotMatch(s)
	if !ok {
		return uint64(s.FrameRate) * pixels(s.MaxResolution)
	}
	return uint64(s.FrameRate) * pixels(m.Resolution)
}

// roomLocked checks that the allocated streams plus one more using
// encoders encoders (0 or 1) and rate pixels per second stay within
// MaxConcurrentEncoders (video streams and hardware-encoded snapshot
// streams) and MaxEncodedPixelRate (every video and snapshot stream), as
// spec digest §5.5 describes connectedhomeip's check.
func (s *Server) roomLocked(encoders int, rate uint64) error {
	st := &s.st
	n, total := encoders, rate
	for i := range st.video {
		r, ok := s.caps.videoPixelRate(&st.video[i])
		if !ok {
			r = uint64(st.video[i].MaxFrameRate) * pixels(st.video[i].MaxResolution)
		}
		n++
		total += r
	}
	for i := range st.snap {
		if st.snap[i].HardwareEncoder {
			n++
		}
		total += s.caps.snapshotPixelRate(&st.snap[i])
	}
	if n > int(s.caps.MaxConcurrentEncoders) {
		return status(dm.StatusResourceExhausted, "%d encoders needed, %d available", n, s.caps.MaxConcurrentEncoders)
	}
	if total > uint64(s.caps.MaxEncodedPixelRate) {
		return status(dm.StatusResourceExhausted, "%d pixels/s needed, MaxEncodedPixelRate %d", total, s.caps.MaxEncodedPixelRate)
	}
	return nil
}

// reusable returns the index of the first stream of l for which narrow
// succeeds, preferring streams of the same usage, and the narrowed
// stream. Internal streams are the camera's and are never changed (spec
// digest §5.5).
func reusable[T any](l []T, usage func(*T) globals.StreamUsage, want globals.StreamUsage, narrow func(*T) (T, bool)) (int, T, bool) {
	for _, same := range []bool{true, false} {
		for i := range l {
			u := usage(&l[i])
			if u == globals.StreamUsageInternal || (u == want) != same {
				continue
			}
			if n, ok := narrow(&l[i]); ok {
				return i, n, true
			}
		}
	}
	var zero T
	return -1, zero, false
}

// narrowVideo returns e narrowed to serve v as well: the same codec, key
// frame interval and WMARK/OSD settings, and ranges that overlap, which
// become their intersection (spec digest §5.5, TC_AVSM_2_7 step 12: a
// request that fits an allocated stream gets its ID back, and the
// stream's ranges are narrowed to the intersection). The digest speaks of
// ranges "contained" in the stream's; that is the case where the
// intersection is the request itself. Any overlap is accepted here,
// because the intersection satisfies both requesters just the same, and
// a camera with one encoder could otherwise serve only one of them. The
// intersection must still be something the capabilities produce.
func (c *Capabilities) narrowVideo(e, v *VideoStream) (VideoStream, bool) {
	if e.VideoCodec != v.VideoCodec || e.KeyFrameInterval != v.KeyFrameInterval ||
		e.WatermarkEnabled != v.WatermarkEnabled || e.OSDEnabled != v.OSDEnabled {
		return VideoStream{}, false
	}
	n := *e
	n.MinFrameRate, n.MaxFrameRate = max(e.MinFrameRate, v.MinFrameRate), min(e.MaxFrameRate, v.MaxFrameRate)
	n.MinResolution, n.MaxResolution = intersect(e.MinResolution, e.MaxResolution, v.MinResolution, v.MaxResolution)
	n.MinBitRate, n.MaxBitRate = max(e.MinBitRate, v.MinBitRate), min(e.MaxBitRate, v.MaxBitRate)
	if n.MinFrameRate > n.MaxFrameRate || !resolutionRange(n.MinResolution, n.MaxResolution) || n.MinBitRate > n.MaxBitRate {
		return VideoStream{}, false
	}
	if _, ok := c.videoPixelRate(&n); !ok {
		return VideoStream{}, false
	}
	return n, true
}

func intersect(lo1, hi1, lo2, hi2 VideoResolution) (lo, hi VideoResolution) {
	return VideoResolution{Width: max(lo1.Width, lo2.Width), Height: max(lo1.Height, lo2.Height)},
		VideoResolution{Width: min(hi1.Width, hi2.Width), Height: min(hi1.Height, hi2.Height)}
}

// narrowAudio: audio streams have no ranges, so only an identical request
// reuses one (spec digest §5.5).
func narrowAudio(e, a *AudioStream) (AudioStream, bool) {
	ok := e.AudioCodec == a.AudioCodec && e.ChannelCount == a.ChannelCount && e.SampleRate == a.SampleRate &&
		e.BitRate == a.BitRate && e.BitDepth == a.BitDepth
	return *e, ok
}

// narrowSnapshot returns e narrowed to serve s as well: the same codec,
// quality and WMARK/OSD settings, overlapping resolution ranges (which
// become their intersection) and the lower frame rate, still matching a
// capability that takes them the same way (encoded pixels, hardware
// encoder).
func (c *Capabilities) narrowSnapshot(e, s *SnapshotStream) (SnapshotStream, bool) {
	if e.ImageCodec != s.ImageCodec || e.Quality != s.Quality ||
		e.WatermarkEnabled != s.WatermarkEnabled || e.OSDEnabled != s.OSDEnabled {
		return SnapshotStream{}, false
	}
	n := *e
	n.FrameRate = min(e.FrameRate, s.FrameRate)
	n.MinResolution, n.MaxResolution = intersect(e.MinResolution, e.MaxResolution, s.MinResolution, s.MaxResolution)
	if !resolutionRange(n.MinResolution, n.MaxResolution) {
		return SnapshotStream{}, false
	}
	m, ok := c.snapshotMatch(&n)
	if !ok || m.RequiresEncodedPixels != e.EncodedPixels || m.RequiresHardwareEncoder.Value != e.HardwareEncoder {
		return SnapshotStream{}, false
	}
	return n, true
}

// videoStreamAllocate is VideoStreamAllocate (spec digest §5.3, §5.5).
func (s *Server) videoStreamAllocate(r *tlv.Reader) (uint16, error) {
	tags, err := scanFields(r)
	if err != nil {
		return 0, err
	}
	if err := featureFields(tags.Has(9), tags.Has(10)); err != nil {
		return 0, err
	}
	var in VideoStreamAllocateRequest
	if err := serve.DecodeCommand(r, &in); err != nil {
		return 0, err
	}
	v := VideoStream{
		StreamUsage: in.StreamUsage, VideoCodec: in.VideoCodec,
		MinFrameRate: in.MinFrameRate, MaxFrameRate: in.MaxFrameRate,
		MinResolution: in.MinResolution, MaxResolution: in.MaxResolution,
		MinBitRate: in.MinBitRate, MaxBitRate: in.MaxBitRate,
		KeyFrameInterval: in.KeyFrameInterval,
		WatermarkEnabled: in.WatermarkEnabled, OSDEnabled: in.OSDEnabled,
	}

	s.opMu.Lock()
	defer s.opMu.Unlock()
	s.mu.Lock()
	if err := s.caps.checkVideo(&v, s.st.priorities); err != nil {
		s.mu.Unlock()
		return 0, err
	}
	if i, n, ok := reusable(s.st.video, func(e *VideoStream) globals.StreamUsage { return e.StreamUsage }, v.StreamUsage,
		func(e *VideoStream) (VideoStream, bool) { return s.caps.narrowVideo(e, &v) }); ok {
		old := s.st.video[i]
		s.mu.Unlock()
		return s.reuseVideo(old, n)
	}
	rate, _ := s.caps.videoPixelRate(&v)
	id, following, err := s.admitLocked(kindVideo, rate, true)
	s.mu.Unlock()
	if err != nil {
		return 0, err
	}
	v.VideoStreamID = id
	if err := s.addStream(kindVideo, id, func() error { return s.cfg.Encoders.OpenVideo(v) }, func(st *state) {
		st.video, st.nextVideo = append(st.video, v), following
	}); err != nil {
		return 0, err
	}
	s.log.Info("video stream allocated", "id", id, "usage", v.StreamUsage, "codec", v.VideoCodec,
		"fps", [2]uint16{v.MinFrameRate, v.MaxFrameRate}, "min", v.MinResolution, "max", v.MaxResolution,
		"bps", [2]uint32{v.MinBitRate, v.MaxBitRate})
	return id, nil
}

// addStream puts a new stream in force: it opens its encoder with open
// (nil for snapshot streams, which have none), stores the state add
// makes, and reports the change. An encoder that does not open refuses
// the allocation with RESOURCE_EXHAUSTED; a store that refuses the
// record closes the encoder again. The caller holds opMu, not mu.
func (s *Server) addStream(k kind, id uint16, open func() error, add func(*state)) error {
	if open != nil {
		if err := open(); err != nil {
			return &dm.StatusError{Status: dm.StatusResourceExhausted, Err: fmt.Errorf("cameraavstreammanagement: opening %v encoder %d: %w", k, id, err)}
		}
	}
	if _, err := s.update(func(st *state) bool {
		add(st)
		return true
	}); err != nil {
		s.closeEncoder(k, id)
		return err
	}
	s.Changed(k.attr())
	return nil
}

// closeEncoder stops the encoder of stream id of kind k; snapshot streams
// have none.
func (s *Server) closeEncoder(k kind, id uint16) {
	switch k {
	case kindVideo:
		s.cfg.Encoders.CloseVideo(id)
	case kindAudio:
		s.cfg.Encoders.CloseAudio(id)
	}
}

// roomForLocked applies the RESOURCE_EXHAUSTED checks of one more stream
// of kind k, at rate pixels per second and needing an encoder or not:
// MaxStreamsPerKind, then MaxConcurrentEncoders and MaxEncodedPixelRate.
// The caller holds mu.
func (s *Server) roomForLocked(k kind, rate uint64, encoder bool) error {
	n := [...]int{len(s.st.video), len(s.st.audio), len(s.st.snap)}[k]
	if n >= MaxStreamsPerKind {
		return status(dm.StatusResourceExhausted, "%d %v streams allocated", n, k)
	}
	if k == kindAudio {
		// Audio encoders are not video encoders: they count against
		// neither MaxConcurrentEncoders nor MaxEncodedPixelRate.
		return nil
	}
	enc := 0
	if encoder {
		enc = 1
	}
	return s.roomLocked(enc, rate)
}

// newIDLocked picks the ID of a new stream of kind k (spec digest §2.3)
// and returns the one to start from next time. The caller holds mu.
func (s *Server) newIDLocked(k kind) (id, following uint16, err error) {
	st := &s.st
	var start uint16
	var used func(uint16) bool
	switch k {
	case kindVideo:
		start, used = st.nextVideo, func(id uint16) bool { return indexOf(st.video, videoID, id) >= 0 }
	case kindAudio:
		start, used = st.nextAudio, func(id uint16) bool { return indexOf(st.audio, audioID, id) >= 0 }
	default:
		start, used = st.nextSnap, func(id uint16) bool { return indexOf(st.snap, snapshotID, id) >= 0 }
	}
	id, following, ok := nextID(start, used)
	if !ok {
		return 0, 0, status(dm.StatusResourceExhausted, "no free %v stream ID", k)
	}
	return id, following, nil
}

// admitLocked is roomForLocked and newIDLocked.
func (s *Server) admitLocked(k kind, rate uint64, encoder bool) (id, following uint16, err error) {
	if err := s.roomForLocked(k, rate, encoder); err != nil {
		return 0, 0, err
	}
	return s.newIDLocked(k)
}

// reuseVideo gives a compatible allocation the ID of stream old, narrowed
// to n. The caller holds opMu.
func (s *Server) reuseVideo(old, n VideoStream) (uint16, error) {
	n.ReferenceCount = old.ReferenceCount
	if n == old {
		return old.VideoStreamID, nil
	}
	rc, _ := s.cfg.Encoders.(VideoReconfigurer)
	if rc != nil {
		if err := rc.ReconfigureVideo(n); err != nil {
			return 0, &dm.StatusError{Status: dm.StatusResourceExhausted,
				Err: fmt.Errorf("cameraavstreammanagement: reconfiguring video encoder %d: %w", old.VideoStreamID, err)}
		}
	}
	_, err := s.update(func(st *state) bool {
		i := indexOf(st.video, videoID, old.VideoStreamID)
		n.ReferenceCount = st.video[i].ReferenceCount // Acquire may have run meanwhile
		st.video[i] = n
		return true
	})
	if err != nil {
		if rc != nil {
			if err := rc.ReconfigureVideo(old); err != nil {
				s.log.Error("restoring a video encoder's parameters", "id", old.VideoStreamID, "err", err)
			}
		}
		return 0, err
	}
	s.log.Info("video stream reused and narrowed", "id", n.VideoStreamID,
		"fps", [2]uint16{n.MinFrameRate, n.MaxFrameRate}, "min", n.MinResolution, "max", n.MaxResolution,
		"bps", [2]uint32{n.MinBitRate, n.MaxBitRate})
	s.Changed(AttrAllocatedVideoStreams)
	return n.VideoStreamID, nil
}

// audioStreamAllocate is AudioStreamAllocate (spec digest §5.3, §5.5).
func (s *Server) audioStreamAllocate(r *tlv.Reader) (uint16, error) {
	var in AudioStreamAllocateRequest
	if err := serve.DecodeCommand(r, &in); err != nil {
		return 0, err
	}
	a := AudioStream{
		StreamUsage: in.StreamUsage, AudioCodec: in.AudioCodec, ChannelCount: in.ChannelCount,
		SampleRate: in.SampleRate, BitRate: in.BitRate, BitDepth: in.BitDepth,
	}

	s.opMu.Lock()
	defer s.opMu.Unlock()
	s.mu.Lock()
	if err := s.caps.checkAudio(&a, s.st.priorities); err != nil {
		s.mu.Unlock()
		return 0, err
	}
	if i, _, ok := reusable(s.st.audio, func(e *AudioStream) globals.StreamUsage { return e.StreamUsage }, a.StreamUsage,
		func(e *AudioStream) (AudioStream, bool) { return narrowAudio(e, &a) }); ok {
		id := s.st.audio[i].AudioStreamID
		s.mu.Unlock()
		return id, nil
	}
	id, following, err := s.admitLocked(kindAudio, 0, false)
	s.mu.Unlock()
	if err != nil {
		return 0, err
	}
	a.AudioStreamID = id
	if err := s.addStream(kindAudio, id, func() error { return s.cfg.Encoders.OpenAudio(a) }, func(st *state) {
		st.audio, st.nextAudio = append(st.audio, a), following
	}); err != nil {
		return 0, err
	}
	s.log.Info("audio stream allocated", "id", id, "usage", a.StreamUsage, "codec", a.AudioCodec,
		"channels", a.ChannelCount, "rate", a.SampleRate, "bps", a.BitRate, "depth", a.BitDepth)
	return id, nil
}

// snapshotStreamAllocate is SnapshotStreamAllocate (spec digest §5.3,
// §5.5). Snapshot streams own no running encoder: Encoders.Snapshot takes
// each picture on demand.
func (s *Server) snapshotStreamAllocate(r *tlv.Reader) (uint16, error) {
	tags, err := scanFields(r)
	if err != nil {
		return 0, err
	}
	if err := featureFields(tags.Has(5), tags.Has(6)); err != nil {
		return 0, err
	}
	var in SnapshotStreamAllocateRequest
	if err := serve.DecodeCommand(r, &in); err != nil {
		return 0, err
	}
	sn := SnapshotStream{
		ImageCodec: in.ImageCodec, FrameRate: in.MaxFrameRate,
		MinResolution: in.MinResolution, MaxResolution: in.MaxResolution, Quality: in.Quality,
		WatermarkEnabled: in.WatermarkEnabled, OSDEnabled: in.OSDEnabled,
	}

	s.opMu.Lock()
	defer s.opMu.Unlock()
	s.mu.Lock()
	m, err := s.caps.checkSnapshot(&sn)
	if err != nil {
		s.mu.Unlock()
		return 0, err
	}
	// Copied from the matching capability (spec digest §5.5).
	sn.EncodedPixels, sn.HardwareEncoder = m.RequiresEncodedPixels, m.RequiresHardwareEncoder.Value
	// Snapshot streams have no usage: the first compatible one is reused.
	for i := range s.st.snap {
		if n, ok := s.caps.narrowSnapshot(&s.st.snap[i], &sn); ok {
			old := s.st.snap[i]
			s.mu.Unlock()
			return s.reuseSnapshot(old, n)
		}
	}
	id, following, err := s.admitLocked(kindSnapshot, s.caps.snapshotPixelRate(&sn), sn.HardwareEncoder)
	s.mu.Unlock()
	if err != nil {
		return 0, err
	}
	sn.SnapshotStreamID = id
	if err := s.addStream(kindSnapshot, id, nil, func(st *state) {
		st.snap, st.nextSnap = append(st.snap, sn), following
	}); err != nil {
		return 0, err
	}
	s.log.Info("snapshot stream allocated", "id", id, "codec", sn.ImageCodec, "fps", sn.FrameRate,
		"min", sn.MinResolution, "max", sn.MaxResolution, "quality", sn.Quality)
	return id, nil
}

// reuseSnapshot gives a compatible allocation the ID of stream old,
// narrowed to n. The caller holds opMu.
func (s *Server) reuseSnapshot(old, n SnapshotStream) (uint16, error) {
	if n == old {
		return old.SnapshotStreamID, nil
	}
	if _, err := s.update(func(st *state) bool {
		i := indexOf(st.snap, snapshotID, old.SnapshotStreamID)
		n.ReferenceCount = st.snap[i].ReferenceCount
		st.snap[i] = n
		return true
	}); err != nil {
		return 0, err
	}
	s.Changed(AttrAllocatedSnapshotStreams)
	return n.SnapshotStreamID, nil
}

// deallocate is Video/Audio/SnapshotStreamDeallocate (spec digest §5.5):
// NOT_FOUND for an unknown ID, INVALID_IN_STATE while a session uses the
// stream, DYNAMIC_CONSTRAINT_ERROR for the camera's Internal streams.
func (s *Server) deallocate(k kind, id uint16) error {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	s.mu.Lock()
	var i int
	var refs uint8
	var usage globals.StreamUsage
	switch k {
	case kindVideo:
		if i = indexOf(s.st.video, videoID, id); i >= 0 {
			refs, usage = s.st.video[i].ReferenceCount, s.st.video[i].StreamUsage
		}
	case kindAudio:
		if i = indexOf(s.st.audio, audioID, id); i >= 0 {
			refs, usage = s.st.audio[i].ReferenceCount, s.st.audio[i].StreamUsage
		}
	case kindSnapshot:
		// Snapshot streams have no usage.
		if i = indexOf(s.st.snap, snapshotID, id); i >= 0 {
			refs, usage = s.st.snap[i].ReferenceCount, globals.StreamUsageLiveView
		}
	}
	var err error
	switch {
	case i < 0:
		err = status(dm.StatusNotFound, "no %v stream %d", k, id)
	case refs > 0:
		err = status(dm.StatusInvalidInState, "%v stream %d is used by %d sessions", k, id, refs)
	case usage == globals.StreamUsageInternal:
		err = status(dm.StatusDynamicConstraintError, "%v stream %d is an Internal stream", k, id)
	default:
		next := s.st.clone()
		switch k {
		case kindVideo:
			next.video = slices.Delete(next.video, i, i+1)
		case kindAudio:
			next.audio = slices.Delete(next.audio, i, i+1)
		case kindSnapshot:
			next.snap = slices.Delete(next.snap, i, i+1)
		}
		err = s.commitLocked(&next)
	}
	s.mu.Unlock()
	if err != nil {
		return err
	}
	// No session holds the stream and none can acquire it any more: its
	// encoder can go.
	s.closeEncoder(k, id)
	s.log.Info("stream deallocated", "kind", k, "id", id)
	s.Changed(k.attr())
	return nil
}

// setStreamPriorities is SetStreamPriorities (spec digest §5.5):
// INVALID_IN_STATE while any stream is allocated; then, entry by entry as
// connectedhomeip checks them, INVALID_COMMAND for a value outside the
// enum, DYNAMIC_CONSTRAINT_ERROR for a usage not in
// SupportedStreamUsages, ALREADY_EXISTS for a repeated one.
func (s *Server) setStreamPriorities(list []globals.StreamUsage) error {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	s.mu.Lock()
	if s.st.allocated() {
		s.mu.Unlock()
		return status(dm.StatusInvalidInState, "streams are allocated")
	}
	s.mu.Unlock()
	for i, u := range list {
		switch {
		case !u.Known():
			return status(dm.StatusInvalidCommand, "stream usage %d", u)
		case !slices.Contains(s.caps.SupportedStreamUsages, u):
			return status(dm.StatusDynamicConstraintError, "stream usage %v not supported", u)
		case slices.Contains(list[:i], u):
			return status(dm.StatusAlreadyExists, "stream usage %v listed twice", u)
		}
	}
	changed, err := s.update(func(st *state) bool {
		if slices.Equal(st.priorities, list) {
			return false
		}
		st.priorities = slices.Clone(list)
		return true
	})
	if err != nil || !changed {
		return err
	}
	s.log.Info("stream usage priorities set", "priorities", list)
	s.Changed(AttrStreamUsagePriorities)
	return nil
}

// captureSnapshot is CaptureSnapshot (spec digest §5.5): NOT_FOUND
// without a snapshot stream or for an unknown ID, CONSTRAINT_ERROR for a
// requested size under 1x1, INVALID_IN_STATE under hard or soft
// livestream privacy, RESOURCE_EXHAUSTED for a picture larger than
// MaxSnapshotSize.
func (s *Server) captureSnapshot(ctx context.Context, r *tlv.Reader) (*CaptureSnapshotResponse, error) {
	id, want, err := decodeCaptureSnapshot(r)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	st := &s.st
	i := -1
	switch {
	case len(st.snap) == 0:
		err = status(dm.StatusNotFound, "no snapshot stream allocated")
	case id.Valid:
		if i = indexOf(st.snap, snapshotID, id.Value); i < 0 {
			err = status(dm.StatusNotFound, "no snapshot stream %d", id.Value)
		}
	default:
		// Null: the camera picks, the first stream whose range holds the
		// requested size, else the first.
		i = max(slices.IndexFunc(st.snap, func(sn SnapshotStream) bool {
			return within(want, sn.MinResolution, sn.MaxResolution)
		}), 0)
	}
	if err == nil {
		switch {
		case want.Width < 1 || want.Height < 1:
			err = status(dm.StatusConstraintError, "requested resolution %+v", want)
		case s.hard || st.softLivestream:
			err = status(dm.StatusInvalidInState, "privacy mode (hard %v, soft livestream %v)", s.hard, st.softLivestream)
		}
	}
	var stream SnapshotStream
	if err == nil {
		stream = st.snap[i]
	}
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}

	// Ask for the requested size within the stream's range.
	want = VideoResolution{
		Width:  min(max(want.Width, stream.MinResolution.Width), stream.MaxResolution.Width),
		Height: min(max(want.Height, stream.MinResolution.Height), stream.MaxResolution.Height),
	}
	ctx, cancel := context.WithTimeout(ctx, SnapshotTimeout)
	defer cancel()
	img, got, err := s.cfg.Encoders.Snapshot(ctx, stream, want)
	if err != nil {
		return nil, &dm.StatusError{Status: dm.StatusFailure, Err: fmt.Errorf("cameraavstreammanagement: snapshot on stream %d: %w", stream.SnapshotStreamID, err)}
	}
	if len(img) > MaxSnapshotSize {
		return nil, status(dm.StatusResourceExhausted, "snapshot of %d octets, at most %d fit a message", len(img), MaxSnapshotSize)
	}
	if len(img) == 0 || got.Width < 1 || got.Height < 1 {
		return nil, status(dm.StatusFailure, "encoder returned %d octets at %+v", len(img), got)
	}
	return &CaptureSnapshotResponse{Data: img, ImageCodec: stream.ImageCodec, Resolution: got}, nil
}

// decodeCaptureSnapshot decodes CaptureSnapshotRequest without the
// RequestedResolution constraint (at least 1x1), which the generated
// decoder checks first but which comes after NOT_FOUND in spec digest
// §5.5. Malformed fields are INVALID_COMMAND.
func decodeCaptureSnapshot(r *tlv.Reader) (field.Nullable[uint16], VideoResolution, error) {
	var id field.Nullable[uint16]
	var res VideoResolution
	invalid := func(err error) (field.Nullable[uint16], VideoResolution, error) {
		return id, res, &dm.StatusError{Status: dm.StatusInvalidCommand, Err: fmt.Errorf("cameraavstreammanagement: CaptureSnapshot: %w", err)}
	}
	if r == nil {
		return invalid(errors.New("no fields"))
	}
	if err := field.EnterStruct(r); err != nil {
		return invalid(err)
	}
	var seen field.Seen
	for {
		tag, ok, err := field.Next(r, &seen)
		if err != nil {
			return invalid(err)
		}
		if !ok {
			break
		}
		switch tag {
		case 0:
			if !r.IsNull() {
				id.Valid = true
				if id.Value, err = field.Uint[uint16](r); err != nil {
					return invalid(err)
				}
			}
		case 1:
			if res, err = decodeResolution(r); err != nil {
				return invalid(err)
			}
		}
	}
	if err := r.Exit(); err != nil {
		return invalid(err)
	}
	if !seen.Has(0) || !seen.Has(1) {
		return invalid(field.ErrMissing)
	}
	return id, res, nil
}

// decodeResolution decodes a VideoResolutionStruct without its range
// check.
func decodeResolution(r *tlv.Reader) (VideoResolution, error) {
	var v VideoResolution
	if err := field.EnterStruct(r); err != nil {
		return v, err
	}
	var seen field.Seen
	for {
		tag, ok, err := field.Next(r, &seen)
		if err != nil {
			return v, err
		}
		if !ok {
			break
		}
		switch tag {
		case 0:
			v.Width, err = field.Uint[uint16](r)
		case 1:
			v.Height, err = field.Uint[uint16](r)
		}
		if err != nil {
			return v, err
		}
	}
	if err := r.Exit(); err != nil {
		return v, err
	}
	if !seen.Has(0) || !seen.Has(1) {
		return v, field.ErrMissing
	}
	return v, nil
}

// UsagePrioritized reports whether usage is in StreamUsagePriorities.
func (s *Server) UsagePrioritized(usage globals.StreamUsage) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Contains(s.st.priorities, usage)
}

// AllocatedVideoStreams returns the IDs of the allocated video streams,
// those of usage first, then the others by the priority of their usage
// (StreamUsagePriorities), in allocation order otherwise.
func (s *Server) AllocatedVideoStreams(usage globals.StreamUsage) []uint16 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return preferred(s.st.video, videoID, func(v *VideoStream) globals.StreamUsage { return v.StreamUsage }, usage, s.st.priorities)
}

// AllocatedAudioStreams is AllocatedVideoStreams for audio streams.
func (s *Server) AllocatedAudioStreams(usage globals.StreamUsage) []uint16 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return preferred(s.st.audio, audioID, func(a *AudioStream) globals.StreamUsage { return a.StreamUsage }, usage, s.st.priorities)
}

func preferred[T any](l []T, id func(*T) uint16, usageOf func(*T) globals.StreamUsage, usage globals.StreamUsage, priorities []globals.StreamUsage) []uint16 {
	rank := func(t *T) int {
		u := usageOf(t)
		if u == usage {
			return -1
		}
		if i := slices.Index(priorities, u); i >= 0 {
			return i
		}
		return len(priorities)
	}
	idx := make([]int, len(l))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return rank(&l[a]) - rank(&l[b]) })
	out := make([]uint16, len(idx))
	for i, j := range idx {
		out[i] = id(&l[j])
	}
	return out
}

// Acquire increments the ReferenceCount of every listed stream (an ID
// listed twice counts twice), all or none: ErrNotAllocated for a stream
// that is not allocated, ErrTooManyReferences for one whose 8-bit count
// would overflow. The change is reported like any other; it is not
// stored (spec digest §5.5: recomputed at boot).
func (s *Server) Acquire(video, audio []uint16) error {
	if len(video) == 0 && len(audio) == 0 {
		return nil
	}
	s.mu.Lock()
	err := s.adjustLocked(video, audio, +1)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	s.refsChanged(video, audio)
	return nil
}

// Release decrements what Acquire incremented. Unknown streams and counts
// already at 0 are skipped (and logged): a session's end must not fail.
func (s *Server) Release(video, audio []uint16) {
	if len(video) == 0 && len(audio) == 0 {
		return
	}
	s.mu.Lock()
	err := s.adjustLocked(video, audio, -1)
	s.mu.Unlock()
	if err != nil {
		s.log.Error("releasing streams", "video", video, "audio", audio, "err", err)
	}
	s.refsChanged(video, audio)
}

func (s *Server) refsChanged(video, audio []uint16) {
	var attrs []uint32
	if len(video) > 0 {
		attrs = append(attrs, AttrAllocatedVideoStreams)
	}
	if len(audio) > 0 {
		attrs = append(attrs, AttrAllocatedAudioStreams)
	}
	s.Changed(attrs...)
}

// adjustLocked adds delta (+1 or -1) to the reference counts of the
// listed streams. For +1 it checks everything before changing anything;
// for -1 it releases what it can and reports the rest.
func (s *Server) adjustLocked(video, audio []uint16, delta int) error {
	vc, err := refCounts(s.st.video, videoID, func(v *VideoStream) *uint8 { return &v.ReferenceCount }, video, delta, kindVideo)
	if err != nil && delta > 0 {
		return err
	}
	ac, aerr := refCounts(s.st.audio, audioID, func(a *AudioStream) *uint8 { return &a.ReferenceCount }, audio, delta, kindAudio)
	if aerr != nil && delta > 0 {
		return aerr
	}
	for _, c := range append(vc, ac...) {
		*c.p = c.v
	}
	return errors.Join(err, aerr)
}

type countUpdate struct {
	p *uint8
	v uint8
}

// refCounts computes the new reference counts of the listed streams of l.
func refCounts[T any](l []T, id func(*T) uint16, ref func(*T) *uint8, list []uint16, delta int, k kind) ([]countUpdate, error) {
	var out []countUpdate
	var errs []error
	for _, want := range list {
		i := indexOf(l, id, want)
		if i < 0 {
			errs = append(errs, fmt.Errorf("%v stream %d: %w", k, want, ErrNotAllocated))
			continue
		}
		p := ref(&l[i])
		cur := int(*p)
		// A stream listed before in this call already has an update.
		for _, u := range out {
			if u.p == p {
				cur = int(u.v)
			}
		}
		next := cur + delta
		switch {
		case next > math.MaxUint8:
			errs = append(errs, fmt.Errorf("%v stream %d: %w", k, want, ErrTooManyReferences))
			continue
		case next < 0:
			errs = append(errs, fmt.Errorf("%v stream %d: released more often than acquired", k, want))
			continue
		}
		out = append(out, countUpdate{p, uint8(next)})
	}
	return out, errors.Join(errs...)
}
