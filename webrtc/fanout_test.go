package webrtc

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/mattercam/mattercam/capture"
)

// TestBroadcastSlowSubscriber: a subscriber that stops reading loses
// frames until the next key frame, and never holds up another one.
func TestBroadcastSlowSubscriber(t *testing.T) {
	var keyRequests, released atomic.Int32
	b := newBroadcast(4, func() { keyRequests.Add(1) })
	fast, slow := b.subscribe(), b.subscribe()
	if got := keyRequests.Load(); got != 2 {
		t.Fatalf("key requests after two subscribes = %d, want 2", got)
	}
	const frames = 40
	isKey := func(i int) bool { return i%10 == 0 }
	var got []int
	for i := range frames {
		au := capture.NewAccessUnit([]byte{byte(i)}, time.Duration(i)*time.Millisecond, isKey(i), func() { released.Add(1) })
		b.publish(videoUnit(au))
		// The fast subscriber keeps up; the slow one reads only the first
		// frames and then stalls until frame 25.
		for len(fast.ch) > 0 {
			u := <-fast.ch
			got = append(got, int(u.data[0]))
			u.unref()
		}
	}
	if len(got) != frames {
		t.Fatalf("fast subscriber got %d frames, want %d: %v", len(got), frames, got)
	}
	// Slow has its queue full with frames 0..3; every later frame was
	// dropped, including the key frames at 10, 20, 30 because the queue
	// was still full.
	if n := len(slow.ch); n != 4 {
		t.Fatalf("slow queue holds %d, want 4", n)
	}
	for want := range 4 {
		u := <-slow.ch
		if int(u.data[0]) != want {
			t.Fatalf("slow got frame %d, want %d", u.data[0], want)
		}
		u.unref()
	}
	// Now that it drained, it must resume at a key frame, not at the
	// next frame.
	for i := frames; i < frames+15; i++ {
		b.publish(videoUnit(capture.NewAccessUnit([]byte{byte(i)}, 0, isKey(i), func() { released.Add(1) })))
	}
	u := <-slow.ch
	if int(u.data[0]) != 40 || !u.key {
		t.Fatalf("slow resumed at frame %d (key %v), want key frame 40", u.data[0], u.key)
	}
	u.unref()
	b.unsubscribe(slow)
	b.unsubscribe(fast)
	if got, want := released.Load(), int32(frames+15); got != want {
		t.Fatalf("released %d source buffers, want %d (each exactly once)", got, want)
	}
	if b.len() != 0 {
		t.Fatalf("subscribers left: %d", b.len())
	}
}

// TestBroadcastNewSubscriberWaitsForKey: a joining video subscriber gets
// nothing before a key frame, so its first picture is decodable.
func TestBroadcastNewSubscriberWaitsForKey(t *testing.T) {
	b := newBroadcast(8, func() {})
	s := b.subscribe()
	b.publish(videoUnit(capture.NewAccessUnit([]byte{1}, 0, false, nil)))
	b.publish(videoUnit(capture.NewAccessUnit([]byte{2}, 0, true, nil)))
	b.publish(videoUnit(capture.NewAccessUnit([]byte{3}, 0, false, nil)))
	if n := len(s.ch); n != 2 {
		t.Fatalf("queued %d, want 2", n)
	}
	if u := <-s.ch; u.data[0] != 2 {
		t.Fatalf("first frame %d, want the key frame 2", u.data[0])
	}
	b.unsubscribe(s)
}

// TestBroadcastAudioNeverWaits: audio subscribers take every frame.
func TestBroadcastAudioNeverWaits(t *testing.T) {
	b := newBroadcast(8, nil)
	s := b.subscribe()
	b.publish(audioUnit(capture.NewAudioFrame([]byte{1}, 0, 20*time.Millisecond, nil)))
	if len(s.ch) != 1 {
		t.Fatal("audio frame not queued")
	}
	b.unsubscribe(s)
}

func TestRTPTime(t *testing.T) {
	tests := []struct {
		pts  time.Duration
		rate uint32
		want uint32
	}{
		{0, 90000, 0},
		{time.Second / 30, 90000, 3000},
		{20 * time.Millisecond, 48000, 960},
		{time.Second, 48000, 48000},
		// A year in: no int64 overflow, wraps modulo 2^32 as RTP does.
		{365 * 24 * time.Hour, 90000, uint32(uint64(365*24*3600) * 90000 % (1 << 32))},
	}
	for _, tt := range tests {
		if got := rtpTime(tt.pts, tt.rate); got != tt.want {
			t.Errorf("rtpTime(%v, %d) = %d, want %d", tt.pts, tt.rate, got, tt.want)
		}
	}
}

func BenchmarkBroadcastPublish(b *testing.B) {
	bc := newBroadcast(64, func() {})
	subs := make([]*subscriber, 8)
	for i := range subs {
		subs[i] = bc.subscribe()
	}
	data := make([]byte, 15000)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		bc.publish(videoUnit(capture.NewAccessUnit(data, 0, true, nil)))
		for _, s := range subs {
			(<-s.ch).unref()
		}
	}
}
