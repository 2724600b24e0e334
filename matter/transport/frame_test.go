package transport

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"testing"
	"testing/iotest"
)

func TestReadFrame(t *testing.T) {
	big := bytes.Repeat([]byte{0xA5}, 3*frameChunk+17)
	tests := []struct {
		name    string
		in      []byte
		max     int
		want    []byte
		wantErr error
	}{
		{name: "one byte", in: []byte{1, 0, 0, 0, 0x42}, max: 10, want: []byte{0x42}},
		{name: "at limit", in: AppendFrame(nil, make([]byte, 10)), max: 10, want: make([]byte, 10)},
		{name: "over limit", in: AppendFrame(nil, make([]byte, 11)), max: 10, wantErr: ErrFrameTooLarge},
		{name: "huge length, no body", in: []byte{0xff, 0xff, 0xff, 0xff}, max: DefaultMaxTCPMessageSize, wantErr: ErrMessageTooLarge},
		{name: "empty frame", in: []byte{0, 0, 0, 0}, max: 10, wantErr: ErrEmptyFrame},
		{name: "clean end", in: nil, max: 10, wantErr: io.EOF},
		{name: "truncated length", in: []byte{5, 0}, max: 10, wantErr: io.ErrUnexpectedEOF},
		{name: "truncated body", in: []byte{5, 0, 0, 0, 1, 2}, max: 10, wantErr: io.ErrUnexpectedEOF},
		{name: "little endian", in: append([]byte{0x01, 0x01, 0, 0}, make([]byte, 257)...), max: 300, want: make([]byte, 257)},
		{name: "chunked body", in: AppendFrame(nil, big), max: len(big), want: big},
		{name: "chunked body truncated", in: AppendFrame(nil, big)[:2*frameChunk], max: len(big), wantErr: io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		for _, mode := range []string{"whole", "byte-at-a-time"} {
			t.Run(tt.name+"/"+mode, func(t *testing.T) {
				var r io.Reader = bytes.NewReader(tt.in)
				if mode != "whole" {
					r = iotest.OneByteReader(r)
				}
				got, err := ReadFrame(r, tt.max)
				if tt.wantErr != nil {
					if !errors.Is(err, tt.wantErr) {
						t.Fatalf("ReadFrame error = %v, want %v", err, tt.wantErr)
					}
					return
				}
				if err != nil {
					t.Fatalf("ReadFrame: %v", err)
				}
				if !bytes.Equal(got, tt.want) {
					t.Fatalf("ReadFrame = %d bytes, want %d", len(got), len(tt.want))
				}
			})
		}
	}
}

// TestReadFrameAllocatesAsDataArrives checks that a peer announcing a large
// frame and sending little of it cannot make the reader allocate the whole
// frame.
func TestReadFrameAllocatesAsDataArrives(t *testing.T) {
	const announced = 1 << 30
	in := []byte{0, 0, 0, 0x40} // 1 GiB
	in = append(in, make([]byte, 100)...)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 10 {
		if _, err := ReadFrame(bytes.NewReader(in), announced); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("err = %v", err)
		}
	}
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > 1<<20 {
		t.Fatalf("10 stalled 1 GiB frames allocated %d bytes", got)
	}
}

// chunkReader returns at most n bytes per Read, cycling n through sizes.
type chunkReader struct {
	r     io.Reader
	sizes []byte
	i     int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	n := 1
	if len(c.sizes) > 0 {
		n = int(c.sizes[c.i%len(c.sizes)])%7 + 1
		c.i++
	}
	return c.r.Read(p[:min(n, len(p))])
}

func FuzzReadFrame(f *testing.F) {
	f.Add([]byte{1, 0, 0, 0, 0x42}, []byte{3})
	f.Add(AppendFrame(AppendFrame(nil, []byte("hello")), []byte("matter")), []byte{1, 2, 3})
	f.Add([]byte{0, 0, 0, 0}, []byte{})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1}, []byte{6})
	f.Add(AppendFrame(nil, make([]byte, 1024)), []byte{0})
	f.Add(AppendFrame(nil, make([]byte, 1025)), []byte{5, 4})
	f.Fuzz(func(t *testing.T, stream, chunks []byte) {
		const max = 1024
		r := &chunkReader{r: bytes.NewReader(stream), sizes: chunks}
		var reencoded []byte
		for {
			msg, err := ReadFrame(r, max)
			if err != nil {
				if len(msg) != 0 {
					t.Fatalf("error %v with %d bytes", err, len(msg))
				}
				break
			}
			if len(msg) == 0 || len(msg) > max {
				t.Fatalf("frame of %d bytes, limit %d", len(msg), max)
			}
			reencoded = AppendFrame(reencoded, msg)
		}
		// Everything decoded is a prefix of the input, byte for byte.
		if !bytes.HasPrefix(stream, reencoded) {
			t.Fatalf("re-encoded frames are not a prefix of the input")
		}
	})
}
