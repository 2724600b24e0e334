package packetizer

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"unsafe"

	"github.com/mattercam/mattercam/capture/h264"
	"github.com/pion/rtp/codecs"
)

var (
	sc3 = []byte{0, 0, 1}
	sc4 = []byte{0, 0, 0, 1}
)

// mkNAL returns a NAL unit of n bytes (n ≥ 1) with header byte hdr and a
// body of pseudo-random bytes 1..255, so that it holds no start code and
// does not end in zero.
func mkNAL(hdr byte, n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, uint64(hdr)))
	b := make([]byte, n)
	b[0] = hdr
	for i := 1; i < n; i++ {
		b[i] = byte(1 + r.IntN(255))
	}
	return b
}

// annexB joins NAL units, each after the start code sc.
func annexB(sc []byte, nals ...[]byte) []byte {
	var b []byte
	for _, n := range nals {
		b = append(append(b, sc...), n...)
	}
	return b
}

// nalList splits an Annex B stream with the scanner the packetiser uses.
func nalList(b []byte) [][]byte {
	var out [][]byte
	for nal, rest := h264.NextNAL(b); nal != nil; nal, rest = h264.NextNAL(rest) {
		out = append(out, nal)
	}
	return out
}

// sendableNALs is nalList without the NAL unit types that the packetiser
// documents as dropped (0 and 24–31).
func sendableNALs(b []byte) [][]byte {
	var out [][]byte
	for _, n := range nalList(b) {
		if t := n[0] & 0x1f; t >= 1 && t <= 23 {
			out = append(out, n)
		}
	}
	return out
}

// wire gathers a payload into a fresh slice, as a sender would.
func wire(p Payload) []byte { return p.AppendTo(nil) }

// pionDepacketize feeds the payloads, in order, to pion's H.264
// depacketiser in Annex B mode and returns the concatenated output.
func pionDepacketize(payloads []Payload) ([]byte, error) {
	var d codecs.H264Packet // IsAVC false: Annex B output
	var out []byte
	for i, p := range payloads {
		b, err := d.Unmarshal(wire(p))
		if err != nil {
			return nil, fmt.Errorf("payload %d: %w", i, err)
		}
		out = append(out, b...)
	}
	return out, nil
}

// refDepacketize is an independent, strict receiver for
// packetization-mode=1 (RFC 6184 §5.6, §5.7.1, §5.8) that, unlike pion's,
// restores the F bit of fragmented NAL units and rejects malformed
// sequences: an FU-A must start with S, end with E, and not interleave
// with other packets.
func refDepacketize(payloads []Payload) ([][]byte, error) {
	var out [][]byte
	var fu []byte // NAL unit being reassembled, nil outside an FU-A
	for i, p := range payloads {
		b := wire(p)
		if len(b) == 0 {
			return nil, fmt.Errorf("payload %d: empty", i)
		}
		t := b[0] & 0x1f
		if fu != nil && t != typeFUA {
			return nil, fmt.Errorf("payload %d: type %d inside an FU-A", i, t)
		}
		switch {
		case t >= 1 && t <= 23:
			out = append(out, b)
		case t == typeSTAPA:
			b = b[1:]
			if len(b) == 0 {
				return nil, fmt.Errorf("payload %d: empty STAP-A", i)
			}
			for len(b) > 0 {
				if len(b) < 2 {
					return nil, fmt.Errorf("payload %d: truncated STAP-A size", i)
				}
				n := int(binary.BigEndian.Uint16(b))
				b = b[2:]
				if n == 0 || n > len(b) {
					return nil, fmt.Errorf("payload %d: bad STAP-A unit size %d", i, n)
				}
				out = append(out, b[:n])
				b = b[n:]
			}
		case t == typeFUA:
			if len(b) < 3 {
				return nil, fmt.Errorf("payload %d: FU-A of %d bytes", i, len(b))
			}
			s, e := b[1]&fuStart != 0, b[1]&fuEnd != 0
			switch {
			case s && e:
				return nil, fmt.Errorf("payload %d: FU-A with S and E", i)
			case s != (fu == nil):
				return nil, fmt.Errorf("payload %d: FU-A S=%v while reassembling=%v", i, s, fu != nil)
			case s:
				fu = []byte{b[0]&(hdrF|hdrNRI) | b[1]&hdrType}
			case fu[0] != b[0]&(hdrF|hdrNRI)|b[1]&hdrType:
				return nil, fmt.Errorf("payload %d: FU-A header changed mid-unit", i)
			}
			fu = append(fu, b[2:]...)
			if e {
				out = append(out, fu)
				fu = nil
			}
		default:
			return nil, fmt.Errorf("payload %d: unexpected type %d", i, t)
		}
	}
	if fu != nil {
		return nil, errors.New("unterminated FU-A")
	}
	return out, nil
}

// equalNALs compares two NAL unit lists, ignoring the F bit of the header
// byte when ignoreF is set (pion drops it when reassembling an FU-A).
func equalNALs(a, b [][]byte, ignoreF bool) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if len(x) != len(y) || len(x) == 0 {
			return false
		}
		if ignoreF {
			if x[0]&^hdrF != y[0]&^hdrF || !bytes.Equal(x[1:], y[1:]) {
				return false
			}
		} else if !bytes.Equal(x, y) {
			return false
		}
	}
	return true
}

// within reports whether v is a sub-slice of b's backing array, between
// b[0] and b[len(b)-1].
func within(v, b []byte) bool {
	if len(v) == 0 || len(b) == 0 {
		return false
	}
	lo, p := addr(b), addr(v)
	return p >= lo && p+uintptr(len(v)) <= lo+uintptr(len(b))
}

// addr is the address of a slice's first element.
func addr(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

// packetType is the RFC 6184 §5.2 type of a payload: its first byte's type
// field.
func packetType(p Payload) byte { return wire(p)[0] & 0x1f }
