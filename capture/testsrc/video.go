package testsrc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mattercam/mattercam/capture"
	"github.com/mattercam/mattercam/capture/h264"
)

// Video plays the embedded H.264 clip. It implements capture.VideoSource.
//
// Key-frame requests are answered from a second, all-intra encoding of
// the same pictures: the next access unit is the intra version of the
// picture due (unless the normal clip has an IDR there anyway), and intra
// pictures follow until the normal clip reaches its next IDR. Every access
// unit sent is therefore decodable from the last key frame, and a key
// frame arrives within one frame time of the request.
type Video struct {
	clip   *videoClip
	pace   *pacer
	keyReq atomic.Bool // a key frame has been requested

	// Reader state, used by the one goroutine calling ReadAccessUnit.
	n       uint64 // frames returned since start
	catchUp bool   // sending intra pictures until the clip's next IDR
}

var _ capture.VideoSource = (*Video)(nil)

// NewVideo returns a source playing the test clip from its start.
func NewVideo(opts ...Option) (*Video, error) {
	clip, err := loadVideo()
	if err != nil {
		return nil, err
	}
	c := newConfig(opts)
	return &Video{clip: clip, pace: newPacer(c.start)}, nil
}

// Format reports the clip's format as coded in its SPS.
func (v *Video) Format() capture.VideoFormat { return v.clip.format }

// ReadAccessUnit waits for the next frame's time and returns it.
func (v *Video) ReadAccessUnit(ctx context.Context) (capture.AccessUnit, error) {
	pts := v.clip.pts(v.n)
	if err := v.pace.wait(ctx, pts); err != nil {
		return capture.AccessUnit{}, err
	}
	// The picture is chosen after the wait, so a request made while the
	// reader was blocked is honoured by the frame about to be returned.
	i := v.n % uint64(len(v.clip.normal))
	au := v.clip.normal[i]
	requested := v.keyReq.Swap(false)
	switch {
	case au.key:
		v.catchUp = false
	case requested || v.catchUp:
		v.catchUp = true
		au = v.clip.intra[i]
	}
	v.n++
	return capture.NewAccessUnit(au.data, pts, au.key, nil), nil
}

// RequestKeyFrame makes the next access unit a key frame. It never
// blocks; requests made before that access unit is read coalesce.
func (v *Video) RequestKeyFrame() { v.keyReq.Store(true) }

// Close stops the source: a pending ReadAccessUnit returns
// capture.ErrClosed, as do all later ones. It is safe to call from any
// goroutine and more than once.
func (v *Video) Close() error {
	v.pace.close()
	return nil
}

// videoClip is the parsed, immutable clip shared by all Video sources.
type videoClip struct {
	normal, intra []clipAU
	format        capture.VideoFormat
	// The frame rate is rateNum/rateDen frames per second.
	rateNum, rateDen uint64
}

// pts returns the presentation time of frame n. It splits n into whole
// groups of rateNum frames, each lasting exactly rateDen seconds, so the
// products stay small and frame n's time is exact, not accumulated.
func (c *videoClip) pts(n uint64) time.Duration {
	groups, rem := n/c.rateNum, n%c.rateNum
	return time.Duration(groups*c.rateDen)*time.Second +
		time.Duration(rem*c.rateDen*uint64(time.Second)/c.rateNum)
}

var loadVideo = sync.OnceValues(func() (*videoClip, error) {
	return newVideoClip(videoH264, intraH264)
})

// maxRateTerm bounds the reduced frame-rate fraction so that pts never
// overflows (rem*rateDen*1e9 < 1e6*1e6*1e9 < 2^63). Real rates, such as
// 30/1 or 30000/1001, are far below it.
const maxRateTerm = 1_000_000

// newVideoClip splits the normal and all-intra encodings into access
// units and checks what Video relies on: equal lengths, an IDR at the
// loop point, every intra picture an IDR, every IDR carrying the same SPS
// (so splicing never changes the stream's parameters), and a frame rate
// in the SPS.
func newVideoClip(normal, intra []byte) (*videoClip, error) {
	var c videoClip
	var err error
	if c.normal, err = splitAccessUnits(normal); err != nil {
		return nil, fmt.Errorf("testsrc: video clip: %w", err)
	}
	if c.intra, err = splitAccessUnits(intra); err != nil {
		return nil, fmt.Errorf("testsrc: intra clip: %w", err)
	}
	if len(c.normal) != len(c.intra) {
		return nil, fmt.Errorf("testsrc: video clip has %d frames, intra clip %d", len(c.normal), len(c.intra))
	}
	if !c.normal[0].key {
		return nil, errors.New("testsrc: video clip does not start with an IDR")
	}
	sps := c.normal[0].sps
	for i := range c.normal {
		if !c.intra[i].key {
			return nil, fmt.Errorf("testsrc: intra clip frame %d is not an IDR", i)
		}
		for _, au := range []clipAU{c.normal[i], c.intra[i]} {
			if au.key && !bytes.Equal(au.sps, sps) {
				return nil, fmt.Errorf("testsrc: frame %d: SPS %x differs from %x", i, au.sps, sps)
			}
		}
	}
	s, err := h264.ParseSPS(sps)
	if err != nil {
		return nil, fmt.Errorf("testsrc: video clip: %w", err)
	}
	num, den, ok := s.FrameRate()
	if !ok {
		return nil, errors.New("testsrc: video clip SPS has no VUI timing information")
	}
	if num > maxRateTerm || den > maxRateTerm {
		return nil, fmt.Errorf("testsrc: video clip frame rate %d/%d", num, den)
	}
	c.rateNum, c.rateDen = num, den
	c.format = capture.VideoFormat{
		Codec:          "H264",
		Width:          s.Width,
		Height:         s.Height,
		FrameRate:      float64(num) / float64(den),
		ProfileLevelID: s.ProfileLevelID(),
	}
	return &c, nil
}

// clipAU is one access unit of an embedded clip.
type clipAU struct {
	// data is the access unit in Annex B form, starting with the start
	// code of its first NAL unit: a view into the embedded clip.
	data []byte
	key  bool   // has an IDR slice, preceded by SPS and PPS
	sps  []byte // the SPS NAL unit it carries, if any
}

// splitAccessUnits cuts an Annex B stream into access units (H.264
// §7.4.1.2.3, as simplified by h264.StartsAccessUnit: the encoder emits
// one primary picture per access unit). The access units are contiguous
// views into stream: each begins at its first start code (with the
// zero_byte of a four-byte start code) and ends where the next begins, so
// concatenating them gives back the stream from its first start code on.
func splitAccessUnits(stream []byte) ([]clipAU, error) {
	// A NAL unit's offset is recovered from its capacity, which runs to
	// the end of stream's backing array: pin that to len(stream).
	stream = stream[:len(stream):len(stream)]
	var (
		aus         []clipAU
		cur         clipAU
		begin       = -1 // offset of cur in stream; -1 before the first NAL
		vcl         bool // cur has a slice
		idr, nonIDR bool // kinds of slices in cur
		pps         bool // cur has a PPS
	)
	finish := func(end int) error {
		if !vcl {
			return fmt.Errorf("access unit %d (offset %d) has no slice", len(aus), begin)
		}
		if idr && nonIDR {
			return fmt.Errorf("access unit %d mixes IDR and non-IDR slices", len(aus))
		}
		cur.data = stream[begin:end]
		aus = append(aus, cur)
		return nil
	}
	for rest := stream; ; {
		nal, next := h264.NextNAL(rest)
		if nal == nil {
			break
		}
		rest = next
		off := cap(stream) - cap(nal)
		if begin < 0 || (vcl && h264.StartsAccessUnit(nal)) {
			// The start code is the three bytes before the NAL unit;
			// a zero before it is the zero_byte of a four-byte one.
			start := off - 3
			if start > max(begin, 0) && stream[start-1] == 0 {
				start--
			}
			if begin >= 0 {
				if err := finish(start); err != nil {
					return nil, err
				}
			}
			cur, begin, vcl, idr, nonIDR, pps = clipAU{}, start, false, false, false, false
		}
		switch t := h264.Type(nal); {
		case t == h264.NALSPS:
			cur.sps = nal
		case t == h264.NALPPS:
			pps = true
		case t == h264.NALSliceIDR:
			if cur.sps == nil || !pps {
				return nil, fmt.Errorf("access unit %d: IDR slice without SPS and PPS before it", len(aus))
			}
			vcl, idr, cur.key = true, true, true
		case t.IsVCL():
			vcl, nonIDR = true, true
		}
	}
	if begin < 0 {
		return nil, errors.New("no NAL units")
	}
	if err := finish(len(stream)); err != nil {
		return nil, err
	}
	return aus, nil
}
