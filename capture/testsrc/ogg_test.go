package testsrc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"
)

// testPage is an Ogg page for building test streams (RFC 3533 §6).
type testPage struct {
	flags  byte
	serial uint32
	seq    uint32
	lacing []byte
	body   []byte
}

func (p testPage) encode() []byte {
	b := make([]byte, oggHeaderLen, oggHeaderLen+len(p.lacing)+len(p.body))
	copy(b, "OggS")
	b[5] = p.flags
	binary.LittleEndian.PutUint32(b[14:], p.serial)
	binary.LittleEndian.PutUint32(b[18:], p.seq)
	b[26] = byte(len(p.lacing))
	b = append(append(b, p.lacing...), p.body...)
	binary.LittleEndian.PutUint32(b[22:], oggCRC(b))
	return b
}

func joinPages(pages []testPage) []byte {
	var b []byte
	for _, p := range pages {
		b = append(b, p.encode()...)
	}
	return b
}

// paginate lays groups of packets out on pages as a muxer would: each
// group starts on a fresh page, a page holds at most maxSegs lacing
// values, packets continue across pages as needed, and the pages are
// numbered, with BOS first and EOS last.
func paginate(maxSegs int, groups ...[][]byte) []testPage {
	var pages []testPage
	for _, g := range groups {
		pages = append(pages, testPage{})
		for _, pkt := range g {
			rest := pkt
			for first := true; ; first = false {
				p := &pages[len(pages)-1]
				if len(p.lacing) == maxSegs {
					pages = append(pages, testPage{})
					p = &pages[len(pages)-1]
					if !first {
						p.flags |= oggContinued
					}
				}
				v := min(len(rest), 255)
				p.lacing = append(p.lacing, byte(v))
				p.body = append(p.body, rest[:v]...)
				rest = rest[v:]
				if v < 255 {
					break
				}
			}
		}
	}
	for i := range pages {
		pages[i].seq = uint32(i)
		pages[i].serial = 0x1234
	}
	pages[0].flags |= oggBOS
	pages[len(pages)-1].flags |= oggEOS
	return pages
}

func opusHead(channels byte, preSkip uint16, family byte) []byte {
	b := []byte("OpusHead")
	b = append(b, 1, channels)
	b = binary.LittleEndian.AppendUint16(b, preSkip)
	b = binary.LittleEndian.AppendUint32(b, 48000)
	b = binary.LittleEndian.AppendUint16(b, 0)
	return append(b, family)
}

func opusTags(vendor string, comments ...string) []byte {
	b := []byte("OpusTags")
	b = binary.LittleEndian.AppendUint32(b, uint32(len(vendor)))
	b = append(b, vendor...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(comments)))
	for _, c := range comments {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(c)))
		b = append(b, c...)
	}
	return b
}

// celt20 is a 20 ms CELT fullband mono packet (TOC config 31, code 0) of
// n bytes.
func celt20(n int) []byte {
	p := bytes.Repeat([]byte{0x5a}, n)
	p[0] = 31 << 3
	return p
}

func sizes(n ...int) [][]byte {
	var ps [][]byte
	for _, k := range n {
		p := make([]byte, k)
		for i := range p {
			p[i] = byte(i + k)
		}
		ps = append(ps, p)
	}
	return ps
}

func TestOggPackets(t *testing.T) {
	tests := []struct {
		name    string
		maxSegs int
		groups  [][][]byte
	}{
		{"one packet", 255, [][][]byte{sizes(10)}},
		{"lacing edge sizes", 255, [][][]byte{sizes(0, 1, 254, 255, 256, 509, 510, 511)}},
		{"spanning pages", 3, [][][]byte{sizes(100, 1000, 255, 2, 765, 3)}},
		{"one segment per page", 1, [][][]byte{sizes(600, 1, 255)}},
		{"groups", 4, [][][]byte{sizes(19), sizes(300), sizes(60, 60, 60, 60, 60)}},
		{"packet larger than a page", 255, [][][]byte{sizes(70000, 5)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pages := paginate(tc.maxSegs, tc.groups...)
			got, err := oggPackets(joinPages(pages))
			if err != nil {
				t.Fatal(err)
			}
			var want [][]byte
			for _, g := range tc.groups {
				want = append(want, g...)
			}
			if len(got) != len(want) {
				t.Fatalf("%d packets, want %d", len(got), len(want))
			}
			for i := range want {
				if !bytes.Equal(got[i].data, want[i]) {
					t.Errorf("packet %d: %d bytes, want %d", i, len(got[i].data), len(want[i]))
				}
				if got[i].first > got[i].last || got[i].last >= len(pages) {
					t.Errorf("packet %d on pages %d..%d", i, got[i].first, got[i].last)
				}
			}
		})
	}
}

func TestOggPacketsZeroCopy(t *testing.T) {
	b := joinPages(paginate(255, sizes(10, 20)))
	pkts, err := oggPackets(b)
	if err != nil {
		t.Fatal(err)
	}
	body := b[oggHeaderLen+2:]
	if &pkts[0].data[0] != &body[0] || &pkts[1].data[0] != &body[10] {
		t.Error("packets within a page are copies, want views")
	}
}

func TestOggPacketsErrors(t *testing.T) {
	// Three pages: lacing [10 255] [255 90] [20], the second continued.
	valid := func() []testPage { return paginate(2, sizes(10, 600, 20)) }
	tests := []struct {
		name    string
		mod     func(ps []testPage) []testPage
		raw     func(b []byte) []byte // applied after encoding
		wantErr string
	}{
		{name: "empty", raw: func([]byte) []byte { return nil }, wantErr: "no pages"},
		{name: "truncated header", raw: func(b []byte) []byte { return b[:20] }, wantErr: "truncated"},
		{name: "truncated lacing", raw: func(b []byte) []byte { return b[:oggHeaderLen+1] }, wantErr: "truncated"},
		{name: "truncated body", raw: func(b []byte) []byte { return b[:len(b)-1] }, wantErr: "truncated"},
		{name: "garbage after EOS", raw: func(b []byte) []byte { return append(b, 0) }, wantErr: "after the EOS"},
		{name: "capture pattern", raw: func(b []byte) []byte { b[0] = 'o'; return b }, wantErr: "capture pattern"},
		{name: "version", raw: func(b []byte) []byte { b[4] = 1; return b }, wantErr: "version"},
		{name: "CRC", raw: func(b []byte) []byte { b[22] ^= 1; return b }, wantErr: "CRC"},
		{name: "body corrupt", raw: func(b []byte) []byte { b[len(b)-1] ^= 1; return b }, wantErr: "CRC"},
		{name: "unknown flag", mod: func(ps []testPage) []testPage { ps[1].flags |= 8; return ps }, wantErr: "unknown header flags"},
		{name: "no BOS", mod: func(ps []testPage) []testPage { ps[0].flags &^= oggBOS; return ps }, wantErr: "BOS"},
		{name: "second BOS", mod: func(ps []testPage) []testPage { ps[1].flags |= oggBOS; return ps }, wantErr: "BOS"},
		{name: "no EOS", mod: func(ps []testPage) []testPage { ps[2].flags &^= oggEOS; return ps }, wantErr: "no EOS"},
		{name: "early EOS", mod: func(ps []testPage) []testPage { ps[0].flags |= oggEOS; return ps }, wantErr: "after the EOS"},
		{name: "last page missing", mod: func(ps []testPage) []testPage { return ps[:2] }, wantErr: "no EOS"},
		{name: "serial", mod: func(ps []testPage) []testPage { ps[2].serial++; return ps }, wantErr: "serial"},
		{name: "sequence gap", mod: func(ps []testPage) []testPage { ps[2].seq = 3; return ps }, wantErr: "sequence"},
		{name: "sequence start", mod: func(ps []testPage) []testPage { ps[0].seq = 1; return ps }, wantErr: "sequence"},
		{name: "continued flag missing", mod: func(ps []testPage) []testPage { ps[1].flags &^= oggContinued; return ps }, wantErr: "continued"},
		{name: "continued flag spurious", mod: func(ps []testPage) []testPage { ps[0].flags |= oggContinued; return ps }, wantErr: "continued"},
		{
			name: "stream ends inside packet",
			mod: func(ps []testPage) []testPage {
				ps = ps[:1]
				ps[0].flags |= oggEOS
				return ps
			},
			wantErr: "ends inside a packet",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ps := valid()
			if len(ps) != 3 || ps[1].flags&oggContinued == 0 || ps[2].flags&oggContinued != 0 {
				t.Fatal("test stream layout changed")
			}
			if tc.mod != nil {
				ps = tc.mod(ps)
			}
			b := joinPages(ps)
			if tc.raw != nil {
				b = tc.raw(b)
			}
			_, err := oggPackets(b)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestOggTruncatedIs(t *testing.T) {
	b := joinPages(paginate(255, sizes(10)))
	if _, err := oggPackets(b[:len(b)-2]); !errors.Is(err, errOggTruncated) {
		t.Errorf("error %v, want errOggTruncated", err)
	}
}

// TestOggCRC checks the CRC against a page produced by opusenc (the
// clip's first page), whose checksum libogg computed.
func TestOggCRC(t *testing.T) {
	size := oggHeaderLen + 1 + int(audioOpus[oggHeaderLen])
	page := audioOpus[:size]
	if got, want := oggCRC(page), binary.LittleEndian.Uint32(page[22:]); got != want {
		t.Errorf("CRC %#08x, want %#08x", got, want)
	}
}

// clipOpusPackets is the number of audio packets in clip/audio.opus,
// counted independently by
//
//	ffprobe -v error -count_packets -show_entries stream=nb_read_packets \
//	    -of csv=p=0 clip/audio.opus
//
// 6 s of 20 ms packets plus one that flushes the encoder's 312-sample
// delay.
const clipOpusPackets = 301

func TestParseOggOpusClip(t *testing.T) {
	s, err := parseOggOpus(audioOpus)
	if err != nil {
		t.Fatal(err)
	}
	if s.channels != 1 || s.preSkip != 312 || len(s.packets) != clipOpusPackets {
		t.Errorf("got %d channels, pre-skip %d, %d packets; want 1, 312, %d", s.channels, s.preSkip, len(s.packets), clipOpusPackets)
	}
	for i, p := range s.packets {
		if d, err := opusPacketDuration(p); err != nil || d != 20*time.Millisecond {
			t.Errorf("packet %d: %v, %v; want 20ms", i, d, err)
		}
	}
}

func TestParseOggOpus(t *testing.T) {
	head := opusHead(2, 312, 0)
	tags := opusTags("test", "A=b", "")
	audio := [][]byte{celt20(60), celt20(300), celt20(3)}
	tests := []struct {
		name     string
		pages    func() []testPage
		wantErr  string
		channels int
	}{
		{
			name:     "valid",
			pages:    func() []testPage { return paginate(255, [][]byte{head}, [][]byte{tags}, audio) },
			channels: 2,
		},
		{
			name: "tags over pages, audio spanning",
			pages: func() []testPage {
				return paginate(1, [][]byte{head}, [][]byte{opusTags(strings.Repeat("v", 600))}, audio)
			},
			channels: 2,
		},
		{
			name:     "headers only",
			pages:    func() []testPage { return paginate(255, [][]byte{head}, [][]byte{tags}) },
			channels: 2,
		},
		{name: "no tags", pages: func() []testPage { return paginate(255, [][]byte{head}) }, wantErr: "want OpusHead and OpusTags"},
		{name: "head shares page", pages: func() []testPage { return paginate(255, [][]byte{head, tags}, audio) }, wantErr: "alone on the first page"},
		{name: "audio on tags page", pages: func() []testPage { return paginate(255, [][]byte{head}, append([][]byte{tags}, audio...)) }, wantErr: "new page"},
		{name: "not OpusHead", pages: func() []testPage {
			return paginate(255, [][]byte{[]byte("OpusHeaX" + string(head[8:]))}, [][]byte{tags})
		}, wantErr: "not an OpusHead"},
		{name: "short OpusHead", pages: func() []testPage { return paginate(255, [][]byte{head[:18]}, [][]byte{tags}) }, wantErr: "not an OpusHead"},
		{
			name: "version 16",
			pages: func() []testPage {
				h := bytes.Clone(head)
				h[8] = 16
				return paginate(255, [][]byte{h}, [][]byte{tags})
			},
			wantErr: "version",
		},
		{name: "family 1", pages: func() []testPage { return paginate(255, [][]byte{opusHead(2, 0, 1)}, [][]byte{tags}) }, wantErr: "mapping family 1"},
		{name: "0 channels", pages: func() []testPage { return paginate(255, [][]byte{opusHead(0, 0, 0)}, [][]byte{tags}) }, wantErr: "0 channels"},
		{name: "3 channels", pages: func() []testPage { return paginate(255, [][]byte{opusHead(3, 0, 0)}, [][]byte{tags}) }, wantErr: "3 channels"},
		{name: "not OpusTags", pages: func() []testPage { return paginate(255, [][]byte{head}, [][]byte{celt20(10)}) }, wantErr: "not OpusTags"},
		{name: "tags vendor truncated", pages: func() []testPage { return paginate(255, [][]byte{head}, [][]byte{tags[:13]}) }, wantErr: "OpusTags truncated"},
		{name: "tags count truncated", pages: func() []testPage { return paginate(255, [][]byte{head}, [][]byte{tags[:18]}) }, wantErr: "OpusTags truncated"},
		{name: "tags comment truncated", pages: func() []testPage { return paginate(255, [][]byte{head}, [][]byte{tags[:len(tags)-1]}) }, wantErr: "OpusTags truncated"},
		{name: "empty audio packet", pages: func() []testPage { return paginate(255, [][]byte{head}, [][]byte{tags}, sizes(0)) }, wantErr: "audio packet 0"},
		{name: "bad audio packet", pages: func() []testPage { return paginate(255, [][]byte{head}, [][]byte{tags}, [][]byte{celt20(5), {0x03}}) }, wantErr: "audio packet 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := parseOggOpus(joinPages(tc.pages()))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.channels != tc.channels || s.preSkip != 312 {
				t.Errorf("channels %d pre-skip %d", s.channels, s.preSkip)
			}
		})
	}
}

func TestOpusPacketDuration(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		packet  []byte
		want    time.Duration
		wantErr bool
	}{
		{nil, 0, true},
		{[]byte{0 << 3}, 10 * ms, false},                  // SILK NB 10 ms
		{[]byte{3 << 3}, 60 * ms, false},                  // SILK NB 60 ms
		{[]byte{9 << 3}, 20 * ms, false},                  // SILK WB 20 ms
		{[]byte{12 << 3}, 10 * ms, false},                 // Hybrid SWB 10 ms
		{[]byte{15 << 3}, 20 * ms, false},                 // Hybrid FB 20 ms
		{[]byte{16 << 3}, 2500 * time.Microsecond, false}, // CELT NB 2.5 ms
		{[]byte{31 << 3}, 20 * ms, false},                 // CELT FB 20 ms
		{[]byte{31<<3 | 1, 1, 2}, 40 * ms, false},         // code 1: two equal frames
		{[]byte{31<<3 | 1, 1}, 0, true},                   // code 1, odd length (R3)
		{[]byte{31<<3 | 2, 1, 2}, 40 * ms, false},         // code 2: two frames
		{[]byte{31<<3 | 3, 6}, 120 * ms, false},           // code 3: six 20 ms frames
		{[]byte{31<<3 | 3, 7}, 0, true},                   // 140 ms (R5)
		{[]byte{3<<3 | 3, 3}, 0, true},                    // 3 x 60 ms
		{[]byte{31<<3 | 3, 0}, 0, true},                   // zero frames
		{[]byte{31<<3 | 3}, 0, true},                      // no frame count byte
		{[]byte{16<<3 | 3, 48}, 120 * ms, false},          // 48 x 2.5 ms
	}
	for _, tc := range tests {
		got, err := opusPacketDuration(tc.packet)
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("opusPacketDuration(%x) = %v, %v; want %v, error %v", tc.packet, got, err, tc.want, tc.wantErr)
		}
	}
}

// fixCRCs walks b as a sequence of Ogg pages, as far as their headers
// allow, and rewrites each page's CRC. The fuzz target parses both the
// raw input and this repaired copy, so that mutations reach the checks
// beyond the CRC instead of all failing on it.
func fixCRCs(b []byte) []byte {
	b = bytes.Clone(b)
	for p := b; len(p) >= oggHeaderLen; {
		n := oggHeaderLen + int(p[26])
		if len(p) < n {
			break
		}
		for _, l := range p[oggHeaderLen:n] {
			n += int(l)
		}
		if len(p) < n {
			break
		}
		binary.LittleEndian.PutUint32(p[22:], oggCRC(p[:n]))
		p = p[n:]
	}
	return b
}

func FuzzOgg(f *testing.F) {
	head, tags := opusHead(1, 312, 0), opusTags("v", "c")
	f.Add(joinPages(paginate(255, [][]byte{head}, [][]byte{tags}, [][]byte{celt20(60), celt20(61)})))
	f.Add(joinPages(paginate(1, [][]byte{head}, [][]byte{tags}, [][]byte{celt20(300), celt20(2)})))
	f.Add(joinPages(paginate(2, sizes(0, 255, 300, 1))))
	f.Add(audioOpus[:oggHeaderLen+1+int(audioOpus[oggHeaderLen])]) // the clip's first page
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, in := range [][]byte{b, fixCRCs(b)} {
			orig := bytes.Clone(in)
			s, err := parseOggOpus(in)
			if !bytes.Equal(in, orig) {
				t.Fatal("parseOggOpus modified its input")
			}
			if err != nil {
				continue
			}
			if s.channels < 1 || s.channels > 2 {
				t.Fatalf("%d channels", s.channels)
			}
			total := 0
			for _, p := range s.packets {
				if _, err := opusPacketDuration(p); err != nil {
					t.Fatalf("accepted bad packet %x: %v", p, err)
				}
				total += len(p)
			}
			if total > len(in) {
				t.Fatalf("%d bytes of packets from %d bytes of input", total, len(in))
			}
		}
	})
}
