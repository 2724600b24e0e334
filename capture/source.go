// Package capture is mattercam's media input: sources of encoded video
// access units and Opus frames, the drivers behind them, and the built-in
// test source used whenever no camera is configured.
//
// The types in this file are the seam between capture and the WebRTC side.
// A source is pull-based and paces itself: ReadAccessUnit blocks until the
// encoder (a V4L2 memory-to-memory encoder, a camera that already emits
// H.264, or the embedded test clip) has the next access unit. Exactly one
// goroutine reads a source; fan-out to viewers happens downstream, so every
// source is encoded once however many sessions watch it.
package capture

import (
	"context"
	"errors"
	"time"
)

// ErrClosed is returned by Read methods after Close.
var ErrClosed = errors.New("capture: source closed")

// VideoFormat describes an encoded video stream.
type VideoFormat struct {
	Codec     string  // "H264"
	Width     int     // luma samples
	Height    int     // luma samples
	FrameRate float64 // nominal frames per second
	// ProfileLevelID is the RFC 6184 §8.1 profile-level-id, six hex digits
	// (for example "42e01f": Constrained Baseline, level 3.1).
	ProfileLevelID string
}

// AudioFormat describes an encoded audio stream.
type AudioFormat struct {
	Codec         string        // "opus"
	ClockRate     uint32        // RTP clock rate; 48000 for Opus (RFC 7587 §4.1)
	Channels      int           // channels coded in the stream
	FrameDuration time.Duration // duration of one frame, e.g. 20 ms
}

// AccessUnit is one encoded H.264 access unit in Annex B byte-stream form
// (start codes included). Data belongs to the source: it may be a view into
// an encoder's output buffer, so the consumer must call Release exactly once
// when every reader of Data is done, and must not write to Data.
type AccessUnit struct {
	Data []byte
	// PTS is the presentation time since the stream started. It increases
	// strictly from one access unit to the next, across clip loops and
	// encoder restarts.
	PTS time.Duration
	// Key marks an IDR access unit that carries SPS and PPS, so a decoder
	// can start from it.
	Key bool

	release func()
}

// NewAccessUnit returns an access unit whose Release calls release (which
// may be nil for data the source never recycles).
func NewAccessUnit(data []byte, pts time.Duration, key bool, release func()) AccessUnit {
	return AccessUnit{Data: data, PTS: pts, Key: key, release: release}
}

// Release hands the access unit's buffer back to its source.
func (au *AccessUnit) Release() {
	if au.release != nil {
		au.release()
		au.release = nil
	}
}

// AudioFrame is one encoded Opus packet (RFC 7587 §4.2: one packet per RTP
// payload). Ownership follows the same rules as AccessUnit.
type AudioFrame struct {
	Data     []byte
	PTS      time.Duration // presentation time on the same clock as video
	Duration time.Duration

	release func()
}

// NewAudioFrame returns an audio frame whose Release calls release (which
// may be nil).
func NewAudioFrame(data []byte, pts, duration time.Duration, release func()) AudioFrame {
	return AudioFrame{Data: data, PTS: pts, Duration: duration, release: release}
}

// Release hands the frame's buffer back to its source.
func (f *AudioFrame) Release() {
	if f.release != nil {
		f.release()
		f.release = nil
	}
}

// VideoSource produces encoded video. ReadAccessUnit is called from one
// goroutine only; RequestKeyFrame and Format may be called from any.
type VideoSource interface {
	Format() VideoFormat
	// ReadAccessUnit blocks until the next access unit, ctx is done
	// (returning ctx.Err()) or the source is closed (ErrClosed).
	ReadAccessUnit(ctx context.Context) (AccessUnit, error)
	// RequestKeyFrame asks the encoder for a decodable key frame with SPS
	// and PPS as soon as it can (V4L2_CID_MPEG_VIDEO_FORCE_KEY_FRAME on a
	// hardware encoder). It never blocks; repeated requests coalesce.
	RequestKeyFrame()
	Close() error
}

// AudioSource produces encoded audio. ReadFrame is called from one
// goroutine only.
type AudioSource interface {
	Format() AudioFormat
	// ReadFrame blocks until the next frame, ctx is done or the source is
	// closed (ErrClosed).
	ReadFrame(ctx context.Context) (AudioFrame, error)
	Close() error
}
