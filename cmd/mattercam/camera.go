package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"sync"

	"github.com/mattercam/mattercam/capture"
	"github.com/mattercam/mattercam/capture/testsrc"
	avsm "github.com/mattercam/mattercam/matter/clusters/cameraavstreammanagement"
	"github.com/mattercam/mattercam/matter/clusters/globals"
	"github.com/mattercam/mattercam/matter/clusters/webrtctransportprovider"
	"github.com/mattercam/mattercam/matter/device"
	"github.com/mattercam/mattercam/webrtc"
)

// Encoder budget of the built-in test source: every allocated stream
// plays its own copy of the clip (its own "encoder"), so the limit is a
// CPU budget, not hardware. A V4L2 memory-to-memory encoder reports its
// own count.
const testSourceEncoders = 4

// maxNetworkBandwidth is what the camera may send in total, in bits per
// second (MaxNetworkBandwidth, spec digest §5.2): five sessions of the
// highest rate the source produces, with headroom.
const maxNetworkBandwidth = 20_000_000

// cameraCapabilities describes the capture hardware to Camera AV Stream
// Management from the formats the sources report, so nothing about the
// sensor is hard-coded in the cluster (spec digest §5.7).
func cameraCapabilities(vf capture.VideoFormat, af capture.AudioFormat, encoders int) (avsm.Capabilities, error) {
	if vf.Codec != "H264" || af.Codec != "opus" {
		return avsm.Capabilities{}, fmt.Errorf("camera: sources %s/%s: want H264 and opus", vf.Codec, af.Codec)
	}
	if vf.Width < 64 || vf.Height < 64 || vf.Width > math.MaxUint16 || vf.Height > math.MaxUint16 || vf.FrameRate < 1 {
		return avsm.Capabilities{}, fmt.Errorf("camera: video %dx%d at %g fps out of range", vf.Width, vf.Height, vf.FrameRate)
	}
	w, h := uint16(vf.Width), uint16(vf.Height)
	fps := uint16(math.Round(vf.FrameRate))
	full := avsm.VideoResolution{Width: w, Height: h}
	pixelRate := uint64(vf.Width) * uint64(vf.Height) * uint64(fps) * uint64(encoders)
	return avsm.Capabilities{
		VideoSensorParams: avsm.VideoSensorParams{SensorWidth: w, SensorHeight: h, MaxFps: fps},
		// The source cannot crop: the only viewport is the full picture.
		MinViewportResolution: full,
		// The least bit rate worth encoding the full picture at; the
		// passthrough source's own rate is below it.
		RateDistortionTradeOffPoints: []avsm.RateDistortionTradeOffPoints{{Codec: avsm.VideoCodecH264, Resolution: full, MinBitRate: 100_000}},
		MaxConcurrentEncoders:        uint8(encoders),
		MaxEncodedPixelRate:          uint32(min(pixelRate, math.MaxUint32)),
		// No pre-roll buffer beyond the per-session queue of access units.
		MaxContentBufferSize: 1 << 20,
		MicrophoneCapabilities: avsm.AudioCapabilities{
			MaxNumberOfChannels:  uint8(max(1, af.Channels)),
			SupportedCodecs:      []avsm.AudioCodec{avsm.AudioCodecOpus},
			SupportedSampleRates: []uint32{af.ClockRate},
			SupportedBitDepths:   []uint8{16},
		},
		SnapshotCapabilities: []avsm.SnapshotCapabilities{{
			Resolution: full, MaxFrameRate: 1, ImageCodec: avsm.ImageCodecJpeg,
		}},
		MaxNetworkBandwidth:   maxNetworkBandwidth,
		SupportedStreamUsages: []globals.StreamUsage{globals.StreamUsageLiveView, globals.StreamUsageRecording},
		MicrophoneMinLevel:    1,
		MicrophoneMaxLevel:    254,
	}, nil
}

// encoders implements avsm.Encoders over capture sources and the WebRTC
// provider: each allocated stream gets its own source ("encoder"),
// registered with the provider under its stream ID so every session on
// the stream shares it (DESIGN §1 "encode once, fan out").
type encoders struct {
	log      *slog.Logger
	provider *webrtc.Provider
	newVideo func() (capture.VideoSource, error)
	newAudio func() (capture.AudioSource, error)
	snap     capture.Snapshotter

	mu    sync.Mutex
	video map[uint16]capture.VideoSource
	audio map[uint16]capture.AudioSource
}

var _ avsm.Encoders = (*encoders)(nil)

func newEncoders(log *slog.Logger, p *webrtc.Provider, newVideo func() (capture.VideoSource, error),
	newAudio func() (capture.AudioSource, error), snap capture.Snapshotter) *encoders {
	return &encoders{log: log, provider: p, newVideo: newVideo, newAudio: newAudio, snap: snap,
		video: map[uint16]capture.VideoSource{}, audio: map[uint16]capture.AudioSource{}}
}

func (e *encoders) OpenVideo(s avsm.VideoStream) error {
	if s.VideoCodec != avsm.VideoCodecH264 {
		return fmt.Errorf("camera: video stream %d: codec %v not encoded here", s.VideoStreamID, s.VideoCodec)
	}
	src, err := e.newVideo()
	if err != nil {
		return fmt.Errorf("camera: video stream %d: %w", s.VideoStreamID, err)
	}
	if err := e.provider.AddVideoStream(s.VideoStreamID, src); err != nil {
		e.closeSource("video", s.VideoStreamID, src)
		return err
	}
	e.mu.Lock()
	e.video[s.VideoStreamID] = src
	e.mu.Unlock()
	e.log.Info("video encoder opened", "stream", s.VideoStreamID, "usage", s.StreamUsage,
		"max_resolution", fmt.Sprintf("%dx%d", s.MaxResolution.Width, s.MaxResolution.Height), "max_fps", s.MaxFrameRate)
	return nil
}

func (e *encoders) CloseVideo(id uint16) {
	e.provider.RemoveVideoStream(id) // ends the sessions on it first
	e.mu.Lock()
	src := e.video[id]
	delete(e.video, id)
	e.mu.Unlock()
	if src != nil {
		e.closeSource("video", id, src)
	}
}

func (e *encoders) OpenAudio(s avsm.AudioStream) error {
	if s.AudioCodec != avsm.AudioCodecOpus {
		return fmt.Errorf("camera: audio stream %d: codec %v not encoded here", s.AudioStreamID, s.AudioCodec)
	}
	src, err := e.newAudio()
	if err != nil {
		return fmt.Errorf("camera: audio stream %d: %w", s.AudioStreamID, err)
	}
	if err := e.provider.AddAudioStream(s.AudioStreamID, src); err != nil {
		e.closeSource("audio", s.AudioStreamID, src)
		return err
	}
	e.mu.Lock()
	e.audio[s.AudioStreamID] = src
	e.mu.Unlock()
	e.log.Info("audio encoder opened", "stream", s.AudioStreamID, "usage", s.StreamUsage)
	return nil
}

func (e *encoders) CloseAudio(id uint16) {
	e.provider.RemoveAudioStream(id)
	e.mu.Lock()
	src := e.audio[id]
	delete(e.audio, id)
	e.mu.Unlock()
	if src != nil {
		e.closeSource("audio", id, src)
	}
}

// closeSource closes the source ("encoder") of a stream, logging a
// failure: there is nobody else to tell.
func (e *encoders) closeSource(kind string, id uint16, src io.Closer) {
	if err := src.Close(); err != nil {
		e.log.Warn(kind+" encoder did not close cleanly", "stream", id, "err", err)
		return
	}
	e.log.Info(kind+" encoder closed", "stream", id)
}

func (e *encoders) Snapshot(ctx context.Context, s avsm.SnapshotStream, want avsm.VideoResolution) ([]byte, avsm.VideoResolution, error) {
	if s.ImageCodec != avsm.ImageCodecJpeg {
		return nil, avsm.VideoResolution{}, fmt.Errorf("camera: snapshot stream %d: codec %v not encoded here", s.SnapshotStreamID, s.ImageCodec)
	}
	if e.snap == nil {
		return nil, avsm.VideoResolution{}, errors.New("camera: no snapshot source")
	}
	img, w, h, err := e.snap.Snapshot(ctx, int(want.Width), int(want.Height))
	if err != nil {
		return nil, avsm.VideoResolution{}, fmt.Errorf("camera: snapshot: %w", err)
	}
	return img, avsm.VideoResolution{Width: uint16(w), Height: uint16(h)}, nil
}

// Close stops every encoder still open (the device has closed the
// clusters; the provider is closed after).
func (e *encoders) Close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for id, src := range e.video {
		e.closeSource("video", id, src)
		delete(e.video, id)
	}
	for id, src := range e.audio {
		e.closeSource("audio", id, src)
		delete(e.audio, id)
	}
}

// cameraMedia is the media side of the camera clusters: the WebRTC
// provider and the encoders of the allocated streams.
type cameraMedia struct {
	log      *slog.Logger
	provider *webrtc.Provider
	encoders *encoders
	config   *device.CameraConfig
}

// startCameraMedia builds the provider and encoders for the sources: the
// sensor's format gives the capabilities, video (when it can take
// stills) answers snapshots, and each allocated stream opens its own
// source of the same kind.
func startCameraMedia(o options, log *slog.Logger, video capture.VideoSource, audio capture.AudioSource) (*cameraMedia, error) {
	vf, af := video.Format(), audio.Format()
	caps, err := cameraCapabilities(vf, af, testSourceEncoders)
	if err != nil {
		return nil, err
	}
	// The provider cluster is the authority on the session limit (never
	// below MinSessions); the media side allows twice that, because
	// sessions the cluster has ended may still be closing their peer
	// connections when new ones open.
	limit := max(o.maxSessions, webrtctransportprovider.MinSessions)
	p, err := webrtc.NewProvider(webrtc.Config{MTU: o.mtu, MaxSessions: 2 * limit, Logger: log})
	if err != nil {
		return nil, err
	}
	snap, _ := video.(capture.Snapshotter)
	enc := newEncoders(log, p,
		func() (capture.VideoSource, error) { return testsrc.NewVideo() },
		func() (capture.AudioSource, error) { return testsrc.NewAudio() },
		snap)
	fps := uint16(math.Round(vf.FrameRate))
	return &cameraMedia{log: log, provider: p, encoders: enc, config: &device.CameraConfig{
		Capabilities: caps, Encoders: enc, Media: p, MaxSessions: o.maxSessions,
		CurrentFrameRate: func() uint16 { return fps },
	}}, nil
}

// close runs after the device has closed the camera clusters.
func (c *cameraMedia) close() {
	c.encoders.Close()
	if err := c.provider.Close(); err != nil {
		c.log.Warn("closing the WebRTC provider", "err", err)
	}
}
