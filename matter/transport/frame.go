package transport

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Framing of Matter messages on a stream (Core §4.4.1, Message Length): each
// message is preceded by its length as a 32-bit little-endian unsigned
// integer that does not count the prefix itself.

// ErrFrameTooLarge reports a length prefix over the reader's limit. The
// stream cannot be resynchronised after it: close the connection.
var ErrFrameTooLarge = fmt.Errorf("%w: frame length over limit", ErrMessageTooLarge)

// ErrEmptyFrame reports a zero length prefix. No Matter message is empty, so
// a peer that sends one is treated as broken and its connection closed.
var ErrEmptyFrame = errors.New("transport: empty frame")

// frameChunk is how much of a frame body is allocated before its bytes have
// arrived: a peer that announces a large frame and then stalls commits at
// most this much memory.
const frameChunk = 16 << 10

// AppendFrame appends msg with its length prefix to dst.
func AppendFrame(dst, msg []byte) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(msg)))
	return append(dst, msg...)
}

// ReadFrame reads one length-prefixed message from r. A length of zero or
// over limit fails before the body is read or allocated; memory for a long
// body is committed as its bytes arrive. A stream that ends between frames
// returns io.EOF; one that ends inside a frame returns io.ErrUnexpectedEOF.
func ReadFrame(r io.Reader, limit int) ([]byte, error) {
	var hdr [TCPLengthPrefixSize]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.LittleEndian.Uint32(hdr[:])
	switch {
	case n == 0:
		return nil, ErrEmptyFrame
	case limit < 0 || uint64(n) > uint64(limit):
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, n, limit)
	}
	return readBody(r, int(n))
}

// readBody reads exactly n bytes, growing its buffer a chunk at a time.
func readBody(r io.Reader, n int) ([]byte, error) {
	if n <= frameChunk {
		buf := make([]byte, n)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, unexpected(err)
		}
		return buf, nil
	}
	buf := make([]byte, 0, frameChunk)
	for len(buf) < n {
		want := min(n-len(buf), frameChunk)
		if cap(buf)-len(buf) < want {
			grown := make([]byte, len(buf), min(n, 2*cap(buf)))
			copy(grown, buf)
			buf = grown
		}
		m, err := io.ReadFull(r, buf[len(buf):len(buf)+want])
		buf = buf[:len(buf)+m]
		if err != nil {
			return nil, unexpected(err)
		}
	}
	return buf, nil
}

// unexpected turns a clean end of stream inside a frame into
// io.ErrUnexpectedEOF.
func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
