package testsrc

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/mattercam/mattercam/capture"
)

// The audio clip holds three periods of a signal that repeats every
// audioPeriod packets, and the source loops the middle one (gen.sh
// explains why: the packets of the middle period were coded from the
// encoder state a previous period left, which is what they meet at the
// loop point).
const (
	audioPeriod      = 100 // packets: 2 s of 20 ms frames, the video clip's length
	audioPeriodStart = audioPeriod
	audioFrame       = 20 * time.Millisecond
)

// Audio plays the embedded Opus clip. It implements capture.AudioSource.
type Audio struct {
	clip *audioClip
	pace *pacer
	n    uint64 // frames returned since start; used by the reader only
}

var _ capture.AudioSource = (*Audio)(nil)

// NewAudio returns a source playing the test clip's audio from its start.
func NewAudio(opts ...Option) (*Audio, error) {
	clip, err := loadAudio()
	if err != nil {
		return nil, err
	}
	c := newConfig(opts)
	return &Audio{clip: clip, pace: newPacer(c.start)}, nil
}

// Format reports the clip's format.
func (a *Audio) Format() capture.AudioFormat { return a.clip.format }

// ReadFrame waits for the next frame's time and returns it.
func (a *Audio) ReadFrame(ctx context.Context) (capture.AudioFrame, error) {
	pts := time.Duration(a.n) * audioFrame
	if err := a.pace.wait(ctx, pts); err != nil {
		return capture.AudioFrame{}, err
	}
	p := a.clip.packets[a.n%uint64(len(a.clip.packets))]
	a.n++
	return capture.NewAudioFrame(p, pts, audioFrame, nil), nil
}

// Close stops the source: a pending ReadFrame returns capture.ErrClosed,
// as do all later ones. It is safe to call from any goroutine and more
// than once.
func (a *Audio) Close() error {
	a.pace.close()
	return nil
}

// audioClip is the parsed, immutable clip shared by all Audio sources.
type audioClip struct {
	packets [][]byte // one period, each packet a view into the embedded file
	format  capture.AudioFormat
}

var loadAudio = sync.OnceValues(func() (*audioClip, error) {
	return newAudioClip(audioOpus)
})

func newAudioClip(file []byte) (*audioClip, error) {
	s, err := parseOggOpus(file)
	if err != nil {
		return nil, fmt.Errorf("testsrc: audio clip: %w", err)
	}
	if len(s.packets) < audioPeriodStart+audioPeriod {
		return nil, fmt.Errorf("testsrc: audio clip has %d packets, want at least %d", len(s.packets), audioPeriodStart+audioPeriod)
	}
	pkts := s.packets[audioPeriodStart : audioPeriodStart+audioPeriod]
	for i, p := range pkts {
		// Pacing and PTS assume a fixed frame duration.
		if d, _ := opusPacketDuration(p); d != audioFrame {
			return nil, fmt.Errorf("testsrc: audio clip packet %d lasts %v, want %v", audioPeriodStart+i, d, audioFrame)
		}
	}
	return &audioClip{
		packets: pkts,
		format: capture.AudioFormat{
			Codec:         "opus",
			ClockRate:     48000, // RFC 7587 §4.1: always 48 kHz
			Channels:      s.channels,
			FrameDuration: audioFrame,
		},
	}, nil
}
