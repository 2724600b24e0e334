package cameraavstreammanagement

import (
	"errors"
	"fmt"
	"slices"

	"github.com/mattercam/mattercam/matter/clusters/field"
	"github.com/mattercam/mattercam/matter/clusters/globals"
	"github.com/mattercam/mattercam/matter/clusters/internal/serve"
	"github.com/mattercam/mattercam/matter/dm"
	"github.com/mattercam/mattercam/matter/storage"
	"github.com/mattercam/mattercam/matter/tlv"
)

// storeKey names the one record holding the cluster's non-volatile
// attributes (spec digest §5.2, quality N): one record, so that an
// allocation and the next-ID counter, or a priority list and the streams
// it allows, are never stored half.
const storeKey = "avsm"

// The record:
//
//	{ 0 = format version (1),
//	  1 = [VideoStreamStruct…], 2 = [AudioStreamStruct…], 3 = [SnapshotStreamStruct…],
//	  4 = [StreamUsageEnum…] (StreamUsagePriorities),
//	  5 = SoftRecordingPrivacyModeEnabled, 6 = SoftLivestreamPrivacyModeEnabled,
//	  7 = MicrophoneMuted, 8 = MicrophoneVolumeLevel, 9 = Viewport (ViewportStruct),
//	  10, 11, 12 = the next video, audio and snapshot stream IDs to try }
//
// The streams are stored with ReferenceCount 0: the counts belong to
// sessions, which do not survive a restart.
const recordVersion = 1

const (
	recVersion = iota
	recVideo
	recAudio
	recSnapshot
	recPriorities
	recSoftRecording
	recSoftLivestream
	recMicMuted
	recMicLevel
	recViewport
	recNextVideo
	recNextAudio
	recNextSnapshot
	recFields // number of fields
)

func encodeRecord(st *state) ([]byte, error) {
	var w tlv.Writer
	w.StartStructure(tlv.AnonymousTag())
	w.PutUint(tlv.ContextTag(recVersion), recordVersion)
	w.StartArray(tlv.ContextTag(recVideo))
	for _, v := range st.video {
		v.ReferenceCount = 0
		v.EncodeTLV(&w, tlv.AnonymousTag())
	}
	w.EndContainer()
	w.StartArray(tlv.ContextTag(recAudio))
	for _, a := range st.audio {
		a.ReferenceCount = 0
		a.EncodeTLV(&w, tlv.AnonymousTag())
	}
	w.EndContainer()
	w.StartArray(tlv.ContextTag(recSnapshot))
	for _, sn := range st.snap {
		sn.ReferenceCount = 0
		sn.EncodeTLV(&w, tlv.AnonymousTag())
	}
	w.EndContainer()
	serve.PutUintList(&w, tlv.ContextTag(recPriorities), st.priorities)
	w.PutBool(tlv.ContextTag(recSoftRecording), st.softRecording)
	w.PutBool(tlv.ContextTag(recSoftLivestream), st.softLivestream)
	w.PutBool(tlv.ContextTag(recMicMuted), st.micMuted)
	w.PutUint(tlv.ContextTag(recMicLevel), uint64(st.micLevel))
	st.viewport.EncodeTLV(&w, tlv.ContextTag(recViewport))
	w.PutUint(tlv.ContextTag(recNextVideo), uint64(st.nextVideo))
	w.PutUint(tlv.ContextTag(recNextAudio), uint64(st.nextAudio))
	w.PutUint(tlv.ContextTag(recNextSnapshot), uint64(st.nextSnap))
	w.EndContainer()
	b, err := w.Bytes() // w is ours alone: no copy needed
	if err != nil {
		return nil, fmt.Errorf("cameraavstreammanagement: encoding the record: %w", err)
	}
	return b, nil
}

// decodeRecord decodes a stored record strictly: every field once, lists
// within MaxStreamsPerKind, stream IDs unique per kind and never 65535,
// priorities known and unique, nothing after the record. Whether the
// streams still suit the camera is New's business (restore).
func decodeRecord(b []byte) (state, error) {
	var st state
	r := tlv.NewReader(b)
	if err := r.Next(); err != nil {
		return st, err
	}
	if err := field.EnterStruct(r); err != nil {
		return st, err
	}
	var seen field.Seen
	for {
		tag, ok, err := field.Next(r, &seen)
		if err != nil {
			return st, err
		}
		if !ok {
			break
		}
		switch tag {
		case recVersion:
			var v uint64
			if v, err = r.Uint(); err == nil && v != recordVersion {
				err = fmt.Errorf("record version %d, want %d", v, recordVersion)
			}
		case recVideo:
			st.video, err = field.List(r, 0, MaxStreamsPerKind, func(r *tlv.Reader) (v VideoStream, err error) {
				err = v.DecodeTLV(r)
				v.ReferenceCount = 0
				return
			})
		case recAudio:
			st.audio, err = field.List(r, 0, MaxStreamsPerKind, func(r *tlv.Reader) (a AudioStream, err error) {
				err = a.DecodeTLV(r)
				a.ReferenceCount = 0
				return
			})
		case recSnapshot:
			st.snap, err = field.List(r, 0, MaxStreamsPerKind, func(r *tlv.Reader) (sn SnapshotStream, err error) {
				err = sn.DecodeTLV(r)
				sn.ReferenceCount = 0
				return
			})
		case recPriorities:
			st.priorities, err = field.List(r, 0, 4, field.Uint[globals.StreamUsage])
		case recSoftRecording:
			st.softRecording, err = r.Bool()
		case recSoftLivestream:
			st.softLivestream, err = r.Bool()
		case recMicMuted:
			st.micMuted, err = r.Bool()
		case recMicLevel:
			st.micLevel, err = field.Uint[uint8](r)
		case recViewport:
			err = st.viewport.DecodeTLV(r)
		case recNextVideo:
			st.nextVideo, err = field.Uint[uint16](r)
		case recNextAudio:
			st.nextAudio, err = field.Uint[uint16](r)
		case recNextSnapshot:
			st.nextSnap, err = field.Uint[uint16](r)
		}
		if err != nil {
			return st, fmt.Errorf("record field %d: %w", tag, err)
		}
	}
	if err := r.Exit(); err != nil {
		return st, err
	}
	if err := r.Next(); err == nil {
		return st, errors.New("data after the record")
	}
	for t := range uint8(recFields) {
		if !seen.Has(t) {
			return st, fmt.Errorf("record field %d missing", t)
		}
	}
	if err := uniqueIDs(st.video, videoID); err != nil {
		return st, fmt.Errorf("video streams: %w", err)
	}
	if err := uniqueIDs(st.audio, audioID); err != nil {
		return st, fmt.Errorf("audio streams: %w", err)
	}
	if err := uniqueIDs(st.snap, snapshotID); err != nil {
		return st, fmt.Errorf("snapshot streams: %w", err)
	}
	for i, u := range st.priorities {
		if !u.Known() || slices.Contains(st.priorities[:i], u) {
			return st, fmt.Errorf("stream usage priorities %v", st.priorities)
		}
	}
	return st, nil
}

func uniqueIDs[T any](l []T, id func(*T) uint16) error {
	for i := range l {
		v := id(&l[i])
		if v == 0xFFFF {
			return errors.New("stream ID 65535")
		}
		if indexOf(l[:i], id, v) >= 0 {
			return fmt.Errorf("stream ID %d twice", v)
		}
	}
	return nil
}

// commitLocked stores next and puts it in force. The caller holds mu.
func (s *Server) commitLocked(next *state) error {
	b, err := encodeRecord(next)
	if err == nil {
		err = s.cfg.Store.Put(storeKey, b)
	}
	if err != nil {
		return &dm.StatusError{Status: dm.StatusFailure, Err: fmt.Errorf("cameraavstreammanagement: storing: %w", err)}
	}
	s.st = *next
	return nil
}

// load puts the stored state in force (or the factory state when there is
// none or it is unusable) and re-opens the stored streams' encoders. Only
// a store that cannot be read at all is an error.
func (s *Server) load() error {
	b, err := s.cfg.Store.Get(storeKey)
	dirty := false
	switch {
	case errors.Is(err, storage.ErrNotFound):
		s.st = s.caps.factoryState()
		return nil
	case errors.Is(err, storage.ErrCorrupt):
		s.log.Error("stored stream state corrupt; starting factory-new", "err", err)
		s.st, dirty = s.caps.factoryState(), true
	case err != nil:
		return fmt.Errorf("cameraavstreammanagement: reading the stored state: %w", err)
	default:
		rec, err := decodeRecord(b)
		if err != nil {
			s.log.Error("stored stream state unusable; starting factory-new", "err", err)
			s.st, dirty = s.caps.factoryState(), true
		} else {
			dirty = s.restore(&rec)
		}
	}
	if dirty {
		s.mu.Lock()
		next := s.st.clone()
		err := s.commitLocked(&next)
		s.mu.Unlock()
		if err != nil {
			// The state in force is valid; the next change stores it.
			s.log.Error("storing the restored stream state", "err", err)
		}
	}
	return nil
}

// restore puts a decoded record in force, re-admitting each stored stream
// as an allocation would (spec digest §5.5: the stored lists are reloaded
// at boot) and re-opening its encoder: a stream the capabilities, the
// limits or the encoders no longer allow (the camera or its firmware
// changed) is dropped with a log entry rather than kept as an allocation
// no session could use. It reports whether anything had to change.
func (s *Server) restore(rec *state) (dirty bool) {
	c := s.caps
	st := *rec
	st.video, st.audio, st.snap = nil, nil, nil
	st.priorities = slices.DeleteFunc(slices.Clone(rec.priorities), func(u globals.StreamUsage) bool {
		return !slices.Contains(c.SupportedStreamUsages, u)
	})
	if len(st.priorities) != len(rec.priorities) {
		s.log.Warn("dropping stored stream usage priorities the camera no longer supports",
			"stored", rec.priorities, "kept", st.priorities)
		dirty = true
	}
	if st.micLevel < c.MicrophoneMinLevel || st.micLevel > c.MicrophoneMaxLevel {
		st.micLevel, dirty = c.MicrophoneMaxLevel, true
	}
	if !c.validViewport(st.viewport) {
		st.viewport, dirty = c.factoryState().viewport, true
	}
	s.mu.Lock()
	s.st = st
	s.mu.Unlock()

	drop := func(k kind, id uint16, err error) {
		s.log.Warn("dropping a stored stream", "kind", k, "id", id, "err", err)
		dirty = true
	}
	for _, v := range rec.video {
		s.mu.Lock()
		err := c.checkVideo(&v, s.st.priorities)
		if err == nil {
			rate, _ := c.videoPixelRate(&v)
			err = s.roomForLocked(kindVideo, rate, true)
		}
		s.mu.Unlock()
		if err == nil {
			err = s.cfg.Encoders.OpenVideo(v)
		}
		if err != nil {
			drop(kindVideo, v.VideoStreamID, err)
			continue
		}
		s.mu.Lock()
		s.st.video = append(s.st.video, v)
		s.mu.Unlock()
	}
	for _, a := range rec.audio {
		s.mu.Lock()
		err := c.checkAudio(&a, s.st.priorities)
		if err == nil {
			err = s.roomForLocked(kindAudio, 0, false)
		}
		s.mu.Unlock()
		if err == nil {
			err = s.cfg.Encoders.OpenAudio(a)
		}
		if err != nil {
			drop(kindAudio, a.AudioStreamID, err)
			continue
		}
		s.mu.Lock()
		s.st.audio = append(s.st.audio, a)
		s.mu.Unlock()
	}
	for _, sn := range rec.snap {
		s.mu.Lock()
		m, err := c.checkSnapshot(&sn)
		if err == nil && (m.RequiresEncodedPixels != sn.EncodedPixels || m.RequiresHardwareEncoder.Value != sn.HardwareEncoder) {
			err = errors.New("taken differently by the camera now")
		}
		if err == nil {
			err = s.roomForLocked(kindSnapshot, c.snapshotPixelRate(&sn), sn.HardwareEncoder)
		}
		if err == nil {
			s.st.snap = append(s.st.snap, sn)
		}
		s.mu.Unlock()
		if err != nil {
			drop(kindSnapshot, sn.SnapshotStreamID, err)
		}
	}
	return dirty
}

// validViewport reports whether v is a rectangle of the sensor at least
// MinViewportResolution in size.
func (c *Capabilities) validViewport(v globals.Viewport) bool {
	return v.X1 < v.X2 && v.Y1 < v.Y2 &&
		v.X2 <= c.VideoSensorParams.SensorWidth && v.Y2 <= c.VideoSensorParams.SensorHeight &&
		v.X2-v.X1 >= c.MinViewportResolution.Width && v.Y2-v.Y1 >= c.MinViewportResolution.Height
}

// checked validates the capabilities (the data model's constraints, spec
// digest §5.2 and §5.4, and this cluster's limits) and returns a copy the
// caller can no longer change.
func (c Capabilities) checked() (*Capabilities, error) {
	sp := c.VideoSensorParams
	switch {
	case sp.SensorWidth < 64 || sp.SensorHeight < 64 || sp.MaxFps < 1:
		return nil, fmt.Errorf("VideoSensorParams %+v: at least 64x64 at 1 fps", sp)
	case sp.MaxHdrfps.Present:
		return nil, errors.New("VideoSensorParams.MaxHdrfps without the HDR feature")
	case c.MinViewportResolution.Width < 1 || c.MinViewportResolution.Height < 1 ||
		c.MinViewportResolution.Width > sp.SensorWidth || c.MinViewportResolution.Height > sp.SensorHeight:
		return nil, fmt.Errorf("MinViewportResolution %+v not within the sensor", c.MinViewportResolution)
	case len(c.RateDistortionTradeOffPoints) < 1 || len(c.RateDistortionTradeOffPoints) > maxCapabilityEntries:
		return nil, fmt.Errorf("%d RateDistortionTradeOffPoints, want 1 to %d", len(c.RateDistortionTradeOffPoints), maxCapabilityEntries)
	case c.MaxConcurrentEncoders < 1 || c.MaxEncodedPixelRate < 1:
		return nil, fmt.Errorf("MaxConcurrentEncoders %d, MaxEncodedPixelRate %d: at least 1", c.MaxConcurrentEncoders, c.MaxEncodedPixelRate)
	case len(c.SnapshotCapabilities) < 1 || len(c.SnapshotCapabilities) > maxCapabilityEntries:
		return nil, fmt.Errorf("%d SnapshotCapabilities, want 1 to %d", len(c.SnapshotCapabilities), maxCapabilityEntries)
	case len(c.SupportedStreamUsages) < 1 || len(c.SupportedStreamUsages) > 4:
		return nil, fmt.Errorf("%d SupportedStreamUsages, want 1 to 4", len(c.SupportedStreamUsages))
	case c.MicrophoneMinLevel > c.MicrophoneMaxLevel || c.MicrophoneMaxLevel > maxLevel:
		return nil, fmt.Errorf("microphone levels %d..%d, want MinLevel <= MaxLevel <= %d", c.MicrophoneMinLevel, c.MicrophoneMaxLevel, maxLevel)
	}
	for _, p := range c.RateDistortionTradeOffPoints {
		if !p.Codec.Known() || p.MinBitRate < 1 || p.Resolution.Width < 1 || p.Resolution.Height < 1 ||
			p.Resolution.Width > sp.SensorWidth || p.Resolution.Height > sp.SensorHeight {
			return nil, fmt.Errorf("RateDistortionTradeOffPoint %+v: known codec, 1 bps, a resolution within the sensor", p)
		}
	}
	m := c.MicrophoneCapabilities
	if m.MaxNumberOfChannels < 1 || m.MaxNumberOfChannels > 8 {
		return nil, fmt.Errorf("microphone: %d channels, want 1 to 8", m.MaxNumberOfChannels)
	}
	for _, l := range []int{len(m.SupportedCodecs), len(m.SupportedSampleRates), len(m.SupportedBitDepths)} {
		if l < 1 || l > maxCapabilityEntries {
			return nil, fmt.Errorf("microphone capabilities %+v: lists of 1 to %d", m, maxCapabilityEntries)
		}
	}
	if slices.ContainsFunc(m.SupportedCodecs, func(a AudioCodec) bool { return !a.Known() }) ||
		slices.Contains(m.SupportedSampleRates, 0) ||
		slices.ContainsFunc(m.SupportedBitDepths, func(d uint8) bool { return !validBitDepth(d) }) {
		return nil, fmt.Errorf("microphone capabilities %+v: unknown codec, rate 0 or bit depth not 8, 16, 24 or 32", m)
	}
	for _, e := range c.SnapshotCapabilities {
		if !e.ImageCodec.Known() || e.MaxFrameRate < 1 || e.Resolution.Width < 1 || e.Resolution.Height < 1 ||
			e.RequiresHardwareEncoder.Present != e.RequiresEncodedPixels {
			return nil, fmt.Errorf("SnapshotCapability %+v: known codec, 1 fps, 1x1, RequiresHardwareEncoder iff RequiresEncodedPixels", e)
		}
	}
	for i, u := range c.SupportedStreamUsages {
		if !u.Known() || slices.Contains(c.SupportedStreamUsages[:i], u) {
			return nil, fmt.Errorf("SupportedStreamUsages %v: known usages, each once", c.SupportedStreamUsages)
		}
	}
	c.RateDistortionTradeOffPoints = slices.Clone(c.RateDistortionTradeOffPoints)
	c.SnapshotCapabilities = slices.Clone(c.SnapshotCapabilities)
	c.SupportedStreamUsages = slices.Clone(c.SupportedStreamUsages)
	c.MicrophoneCapabilities.SupportedCodecs = slices.Clone(m.SupportedCodecs)
	c.MicrophoneCapabilities.SupportedSampleRates = slices.Clone(m.SupportedSampleRates)
	c.MicrophoneCapabilities.SupportedBitDepths = slices.Clone(m.SupportedBitDepths)
	return &c, nil
}
