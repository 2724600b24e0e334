package testsrc

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mattercam/mattercam/capture"
)

func TestAudioFormat(t *testing.T) {
	a, err := NewAudio()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	want := capture.AudioFormat{Codec: "opus", ClockRate: 48000, Channels: 1, FrameDuration: 20 * time.Millisecond}
	if got := a.Format(); got != want {
		t.Errorf("Format() = %+v, want %+v", got, want)
	}
}

func TestAudioPacing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, err := parseOggOpus(audioOpus)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		a, err := NewAudio()
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		const n = 2*audioPeriod + audioPeriod/2
		for i := range n {
			f, err := a.ReadFrame(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			want := time.Duration(i) * 20 * time.Millisecond
			if f.PTS != want || f.Duration != 20*time.Millisecond {
				t.Fatalf("frame %d: PTS %v duration %v, want %v 20ms", i, f.PTS, f.Duration, want)
			}
			if got := time.Since(start); got != want {
				t.Fatalf("frame %d released at %v, want %v", i, got, want)
			}
			// The middle period of the file, looped, zero-copy: the same
			// memory as the packet parseOggOpus found in the embedded file
			// (a view, as no packet of the clip spans pages).
			if p := s.packets[audioPeriodStart+i%audioPeriod]; !same(f.Data, p) {
				t.Fatalf("frame %d is not file packet %d", i, audioPeriodStart+i%audioPeriod)
			}
		}
	})
}

// TestAVSync checks that the audio and video loops have the same length
// and, with a shared start, are released on one clock: the loop points
// (video frame 0, where the red square shows, and the audio period start,
// where the beep is) coincide.
func TestAVSync(t *testing.T) {
	c := mustClip(t)
	if v, a := c.pts(clipFrames), audioPeriod*audioFrame; v != a {
		t.Fatalf("video loop %v, audio loop %v", v, a)
	}
	synctest.Test(t, func(t *testing.T) {
		start := time.Now().Add(50 * time.Millisecond)
		v, err := NewVideo(WithStart(start))
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close()
		a, err := NewAudio(WithStart(start))
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		readVideo(t, v, clipFrames)
		for range audioPeriod {
			if _, err := a.ReadFrame(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
		// Both second loops start at PTS 2 s, at start+2s.
		au := readVideo(t, v, 1)[0]
		atVideo := time.Now()
		f, err := a.ReadFrame(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if au.PTS != 2*time.Second || f.PTS != 2*time.Second || !atVideo.Equal(start.Add(2*time.Second)) || !time.Now().Equal(atVideo) {
			t.Errorf("video PTS %v at %v, audio PTS %v at %v", au.PTS, atVideo.Sub(start), f.PTS, time.Since(start))
		}
	})
}

func TestAudioClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, err := NewAudio()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.ReadFrame(t.Context()); err != nil {
			t.Fatal(err)
		}
		errc := make(chan error)
		go func() {
			_, err := a.ReadFrame(context.Background())
			errc <- err
		}()
		synctest.Wait()
		a.Close()
		if err := <-errc; !errors.Is(err, capture.ErrClosed) {
			t.Errorf("pending read after Close: %v, want ErrClosed", err)
		}
		if _, err := a.ReadFrame(t.Context()); !errors.Is(err, capture.ErrClosed) {
			t.Errorf("read after Close: %v, want ErrClosed", err)
		}
		if err := a.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
	})
}

func TestAudioContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, err := NewAudio()
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		if _, err := a.ReadFrame(t.Context()); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		errc := make(chan error)
		go func() {
			_, err := a.ReadFrame(ctx)
			errc <- err
		}()
		synctest.Wait()
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Errorf("read with cancelled context: %v", err)
		}
		f, err := a.ReadFrame(t.Context())
		if err != nil || f.PTS != 20*time.Millisecond {
			t.Errorf("next read: PTS %v, %v; want frame 1", f.PTS, err)
		}
	})
}

func TestAudioAllocs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, err := NewAudio()
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		ctx := t.Context()
		if _, err := a.ReadFrame(ctx); err != nil {
			t.Fatal(err)
		}
		allocs := testing.AllocsPerRun(200, func() {
			f, err := a.ReadFrame(ctx)
			if err != nil {
				t.Fatal(err)
			}
			f.Release()
		})
		if allocs != 0 {
			t.Errorf("%v allocations per ReadFrame, want 0", allocs)
		}
	})
}
