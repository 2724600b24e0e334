package cameraavstreammanagement

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/mattercam/mattercam/matter/clusters/field"
	"github.com/mattercam/mattercam/matter/clusters/globals"
)

// FuzzDecodeRecord checks that the stored record's decoder never panics
// and that whatever it accepts encodes back to a record that decodes to
// the same state.
func FuzzDecodeRecord(f *testing.F) {
	empty := factory(testCaps())
	full := state{
		video: []VideoStream{{VideoStreamID: 3, StreamUsage: globals.StreamUsageLiveView, VideoCodec: VideoCodecH264,
			MinFrameRate: 15, MaxFrameRate: 30, MinResolution: res360, MaxResolution: res1k,
			MinBitRate: 300_000, MaxBitRate: 2_000_000, KeyFrameInterval: 4000, ReferenceCount: 4}},
		audio: []AudioStream{{AudioStreamID: 65534, StreamUsage: globals.StreamUsageRecording, AudioCodec: AudioCodecOpus,
			ChannelCount: 1, SampleRate: 48000, BitRate: 32000, BitDepth: 16}},
		snap: []SnapshotStream{{SnapshotStreamID: 0, ImageCodec: ImageCodecJpeg, FrameRate: 1,
			MinResolution: res360, MaxResolution: res1k, Quality: 90, WatermarkEnabled: field.Some(true)}},
		priorities:    []globals.StreamUsage{globals.StreamUsageRecording, globals.StreamUsageLiveView},
		softRecording: true, micMuted: true, micLevel: 7,
		viewport:  globals.Viewport{X1: 1, Y1: 2, X2: 3, Y2: 4},
		nextVideo: 4, nextAudio: 0, nextSnap: 1,
	}
	for _, st := range []state{empty, full} {
		b, err := encodeRecord(&st)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0x15, 0x18})
	f.Add([]byte{0x15, 0x24, 0x00, 0x01, 0x18})

	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := decodeRecord(b)
		if err != nil {
			return
		}
		for _, l := range [][]uint16{ids(st.video, videoID), ids(st.audio, audioID), ids(st.snap, snapshotID)} {
			if len(l) > MaxStreamsPerKind {
				t.Fatalf("%d streams accepted", len(l))
			}
		}
		for _, v := range st.video {
			if v.ReferenceCount != 0 {
				t.Fatal("a stored reference count was kept")
			}
		}
		again, err := encodeRecord(&st)
		if err != nil {
			t.Fatalf("re-encoding: %v", err)
		}
		st2, err := decodeRecord(again)
		if err != nil {
			t.Fatalf("re-encoded record %x does not decode: %v", again, err)
		}
		if !reflect.DeepEqual(st, st2) {
			t.Fatalf("round trip differs:\n%+v\n%+v", st, st2)
		}
		if third, _ := encodeRecord(&st2); !bytes.Equal(again, third) {
			t.Fatal("encoding is not stable")
		}
	})
}

func TestRecordRoundTrip(t *testing.T) {
	st := factory(testCaps())
	st.video = []VideoStream{{VideoStreamID: 1, StreamUsage: globals.StreamUsageLiveView, VideoCodec: VideoCodecH264,
		MinFrameRate: 1, MaxFrameRate: 30, MinResolution: res360, MaxResolution: res1k, MinBitRate: 1, MaxBitRate: 5,
		ReferenceCount: 9}}
	b, err := encodeRecord(&st)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeRecord(b)
	if err != nil {
		t.Fatal(err)
	}
	st.video[0].ReferenceCount = 0 // not stored
	if !reflect.DeepEqual(got, st) {
		t.Errorf("round trip:\n%+v\n%+v", got, st)
	}
	for _, tc := range []struct {
		name   string
		mutate func(*state)
	}{
		{"duplicate video ID", func(s *state) { s.video = append(s.video, s.video[0]) }},
		{"ID 65535", func(s *state) {
			s.audio = []AudioStream{{AudioStreamID: 65535, ChannelCount: 1, SampleRate: 1, BitRate: 1, BitDepth: 16}}
		}},
		{"unknown usage priority", func(s *state) { s.priorities = []globals.StreamUsage{9} }},
		{"repeated priority", func(s *state) { s.priorities = []globals.StreamUsage{3, 3} }},
		{"too many streams", func(s *state) {
			for i := range MaxStreamsPerKind + 1 {
				s.snap = append(s.snap, SnapshotStream{SnapshotStreamID: uint16(i), FrameRate: 1, MinResolution: res360, MaxResolution: res360, Quality: 1})
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := st.clone()
			tc.mutate(&s)
			b, err := encodeRecord(&s)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := decodeRecord(b); err == nil {
				t.Error("decoded")
			}
		})
	}
	if _, err := decodeRecord(append(b, 0x04, 0x01)); err == nil {
		t.Error("data after the record decoded")
	}
}
