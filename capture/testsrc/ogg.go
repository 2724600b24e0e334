package testsrc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// This file reads the Ogg Opus clip: Ogg pages and packets (RFC 3533), the
// Opus headers (RFC 7845) and the Opus packet TOC (RFC 6716 §3.1). It
// accepts only what the clip needs, one logical Opus stream with channel
// mapping family 0, and checks everything it reads, because a mistake in
// the embedded file should fail loudly at start-up rather than send
// garbage to every viewer.

// oggPacket is one packet of an Ogg logical bitstream, with the indices of
// the pages it begins and ends on.
type oggPacket struct {
	data        []byte
	first, last int
}

const (
	oggHeaderLen = 27 // fixed part of a page header (RFC 3533 §6)

	oggContinued = 0x01 // header_type_flag bits (RFC 3533 §6)
	oggBOS       = 0x02
	oggEOS       = 0x04
)

var errOggTruncated = errors.New("ogg: truncated page")

// oggPackets splits a single-stream Ogg file into its packets. Packets
// that lie within one page are views into b; a packet continued across
// pages is copied into a buffer of its own, so the memory used is bounded
// by len(b).
//
// It requires: the capture pattern and stream structure version 0 on
// every page; a correct CRC; the BOS flag on the first page only and the
// EOS flag on the last page only; one serial number; page sequence
// numbers 0, 1, 2, ...; the continued flag exactly when the previous page
// ended inside a packet; nothing after the EOS page.
func oggPackets(b []byte) ([]oggPacket, error) {
	var (
		pkts    []oggPacket
		serial  uint32
		pending []byte // start of a packet continued on the next page
		partial bool   // pending is in use (it may be empty)
		first   int    // page where the pending packet began
	)
	for page := 0; ; page++ {
		if len(b) == 0 {
			if page == 0 {
				return nil, errors.New("ogg: no pages")
			}
			return nil, errors.New("ogg: no EOS page")
		}
		if len(b) < oggHeaderLen {
			return nil, fmt.Errorf("%w (page %d)", errOggTruncated, page)
		}
		if !bytes.Equal(b[:4], []byte("OggS")) {
			return nil, fmt.Errorf("ogg: page %d: no capture pattern", page)
		}
		if v := b[4]; v != 0 {
			return nil, fmt.Errorf("ogg: page %d: stream structure version %d", page, v)
		}
		flags := b[5]
		if flags&^(oggContinued|oggBOS|oggEOS) != 0 {
			return nil, fmt.Errorf("ogg: page %d: unknown header flags %#x", page, flags)
		}
		nseg := int(b[26])
		if len(b) < oggHeaderLen+nseg {
			return nil, fmt.Errorf("%w (page %d)", errOggTruncated, page)
		}
		lacing := b[oggHeaderLen : oggHeaderLen+nseg]
		size := oggHeaderLen + nseg
		for _, l := range lacing {
			size += int(l)
		}
		if len(b) < size {
			return nil, fmt.Errorf("%w (page %d)", errOggTruncated, page)
		}
		p := b[:size]
		b = b[size:]

		if got, want := oggCRC(p), binary.LittleEndian.Uint32(p[22:]); got != want {
			return nil, fmt.Errorf("ogg: page %d: CRC %#08x, header says %#08x", page, got, want)
		}
		if (flags&oggBOS != 0) != (page == 0) {
			return nil, fmt.Errorf("ogg: page %d: BOS flag must be set on the first page only", page)
		}
		if s := binary.LittleEndian.Uint32(p[14:]); page == 0 {
			serial = s
		} else if s != serial {
			return nil, fmt.Errorf("ogg: page %d: serial %#x in a stream of %#x (multiplexed streams are not supported)", page, s, serial)
		}
		if seq := binary.LittleEndian.Uint32(p[18:]); seq != uint32(page) {
			return nil, fmt.Errorf("ogg: page %d: sequence number %d", page, seq)
		}
		if (flags&oggContinued != 0) != partial {
			return nil, fmt.Errorf("ogg: page %d: continued flag %v, but previous packet complete %v", page, flags&oggContinued != 0, !partial)
		}

		// A lacing value below 255 ends a packet; 255 means the packet
		// goes on in the next segment, possibly on the next page.
		body := p[oggHeaderLen+nseg:]
		start, end := 0, 0
		for _, l := range lacing {
			end += int(l)
			if l == 255 {
				continue
			}
			pkt := oggPacket{data: body[start:end:end], first: page, last: page}
			if partial {
				pkt.data = append(pending, pkt.data...)
				pkt.first = first
				pending, partial = nil, false
			}
			pkts = append(pkts, pkt)
			start = end
		}
		if nseg > 0 && lacing[nseg-1] == 255 {
			if !partial {
				first = page
			}
			pending = append(pending, body[start:end]...)
			partial = true
		}

		if flags&oggEOS != 0 {
			if len(b) > 0 {
				return nil, fmt.Errorf("ogg: %d bytes after the EOS page", len(b))
			}
			if partial {
				return nil, fmt.Errorf("ogg: stream ends inside a packet begun on page %d", first)
			}
			return pkts, nil
		}
	}
}

// oggCRCTable is the table for the Ogg CRC-32 (RFC 3533 §6): generator
// polynomial 0x04c11db7, MSB first, initial value 0, no final XOR. This
// is not the reflected IEEE CRC of hash/crc32.
var oggCRCTable = func() (t [256]uint32) {
	for i := range t {
		r := uint32(i) << 24
		for range 8 {
			if r&0x80000000 != 0 {
				r = r<<1 ^ 0x04c11db7
			} else {
				r <<= 1
			}
		}
		t[i] = r
	}
	return t
}()

// oggCRC computes the checksum of a whole page, taking the CRC field
// (bytes 22 to 25) as zero.
func oggCRC(page []byte) uint32 {
	var crc uint32
	for i, c := range page {
		if i >= 22 && i < 26 {
			c = 0
		}
		crc = crc<<8 ^ oggCRCTable[byte(crc>>24)^c]
	}
	return crc
}

// opusStream is the content of an Ogg Opus file.
type opusStream struct {
	channels int
	preSkip  int      // samples at 48 kHz to drop at the start (RFC 7845 §4.2)
	packets  [][]byte // audio packets in order, headers excluded
}

// parseOggOpus reads an Ogg Opus file (RFC 7845) with channel mapping
// family 0 (one Opus stream, mono or stereo: the only kind RTP can carry
// as is, RFC 7587). Every audio packet must be a well-formed Opus packet
// (see opusPacketDuration).
func parseOggOpus(b []byte) (opusStream, error) {
	var s opusStream
	pkts, err := oggPackets(b)
	if err != nil {
		return s, err
	}
	// RFC 7845 §3: the identification header alone on the first page,
	// the comment header starting on the second, audio on a fresh page.
	if len(pkts) < 2 {
		return s, fmt.Errorf("opus: %d packets, want OpusHead and OpusTags at least", len(pkts))
	}
	head, tags := pkts[0], pkts[1]
	if head.last != 0 || tags.first != 1 {
		return s, errors.New("opus: OpusHead must be alone on the first page")
	}
	if len(pkts) > 2 && pkts[2].first == tags.last {
		return s, errors.New("opus: audio data must begin on a new page after OpusTags")
	}
	if s.channels, s.preSkip, err = parseOpusHead(head.data); err != nil {
		return s, err
	}
	if err := checkOpusTags(tags.data); err != nil {
		return s, err
	}
	s.packets = make([][]byte, 0, len(pkts)-2)
	for i, p := range pkts[2:] {
		if _, err := opusPacketDuration(p.data); err != nil {
			return opusStream{}, fmt.Errorf("opus: audio packet %d: %w", i, err)
		}
		s.packets = append(s.packets, p.data)
	}
	return s, nil
}

// parseOpusHead reads the identification header (RFC 7845 §5.1).
func parseOpusHead(b []byte) (channels, preSkip int, err error) {
	const size = 19 // magic 8, version 1, channels 1, pre-skip 2, rate 4, gain 2, family 1
	if len(b) < size || !bytes.HasPrefix(b, []byte("OpusHead")) {
		return 0, 0, errors.New("opus: first packet is not an OpusHead")
	}
	// Version: the upper four bits are the major version; only major 0 is
	// compatible (§5.1 item 2).
	if v := b[8]; v>>4 != 0 {
		return 0, 0, fmt.Errorf("opus: OpusHead version %d", v)
	}
	channels = int(b[9])
	preSkip = int(binary.LittleEndian.Uint16(b[10:]))
	if family := b[18]; family != 0 {
		return 0, 0, fmt.Errorf("opus: channel mapping family %d, want 0", family)
	}
	if channels < 1 || channels > 2 {
		return 0, 0, fmt.Errorf("opus: %d channels with mapping family 0", channels)
	}
	return channels, preSkip, nil
}

// checkOpusTags checks the structure of the comment header (RFC 7845
// §5.2): a vendor string and a list of comments, each length-prefixed.
func checkOpusTags(b []byte) error {
	if !bytes.HasPrefix(b, []byte("OpusTags")) {
		return errors.New("opus: second packet is not OpusTags")
	}
	b = b[8:]
	str := func() bool { // skips one length-prefixed string
		if len(b) < 4 {
			return false
		}
		n := binary.LittleEndian.Uint32(b)
		if uint64(n) > uint64(len(b)-4) {
			return false
		}
		b = b[4+n:]
		return true
	}
	if !str() || len(b) < 4 {
		return errors.New("opus: OpusTags truncated")
	}
	n := binary.LittleEndian.Uint32(b)
	b = b[4:]
	for range n {
		if !str() {
			return errors.New("opus: OpusTags truncated")
		}
	}
	return nil
}

// opusPacketDuration returns the audio duration of an Opus packet from its
// TOC byte (RFC 6716 §3.1), checking the framing rules that need no
// decoding (§3.4 R1, R3, R5 and the 120 ms limit of R2/R5).
func opusPacketDuration(p []byte) (time.Duration, error) {
	if len(p) == 0 {
		return 0, errors.New("empty Opus packet") // R1
	}
	config := int(p[0] >> 3)
	var frame time.Duration
	switch {
	case config < 12: // SILK-only: 10, 20, 40, 60 ms
		frame = [...]time.Duration{10, 20, 40, 60}[config%4] * time.Millisecond
	case config < 16: // Hybrid: 10, 20 ms
		frame = [...]time.Duration{10, 20}[config%2] * time.Millisecond
	default: // CELT-only: 2.5, 5, 10, 20 ms
		frame = [...]time.Duration{2500, 5000, 10000, 20000}[config%4] * time.Microsecond
	}
	var n int
	switch p[0] & 3 {
	case 0:
		n = 1
	case 1: // two frames of equal size
		if (len(p)-1)%2 != 0 {
			return 0, errors.New("code 1 Opus packet with odd payload length") // R3
		}
		n = 2
	case 2:
		n = 2
	case 3:
		if len(p) < 2 {
			return 0, errors.New("code 3 Opus packet without frame count")
		}
		n = int(p[1] & 0x3f)
		if n == 0 {
			return 0, errors.New("code 3 Opus packet with zero frames") // R5
		}
	}
	d := time.Duration(n) * frame
	if d > 120*time.Millisecond {
		return 0, fmt.Errorf("%v Opus packet, more than 120 ms", d)
	}
	return d, nil
}
