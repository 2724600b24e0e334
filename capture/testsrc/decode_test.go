package testsrc

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
)

// needTool returns the path of an external program the test cannot do
// without. A missing tool is a failure, not a skip: the decode tests are
// the only check that a real decoder accepts what the sources send.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found: this test needs ffmpeg and ffprobe (Debian: apt-get install ffmpeg; the Makefile installs them)", name)
	}
	return p
}

// ffmpegClean decodes file with ffmpeg and fails the test if ffmpeg
// reports anything at level error or above.
func ffmpegClean(t *testing.T, file string) {
	t.Helper()
	cmd := exec.Command(needTool(t, "ffmpeg"), "-hide_banner", "-nostdin", "-v", "error", "-i", file, "-f", "null", "-")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil || stderr.Len() > 0 {
		t.Errorf("ffmpeg decoding %s: %v\n%s", filepath.Base(file), err, stderr.String())
	}
}

// ffprobeCount returns what ffprobe counts of entry (nb_read_frames or
// nb_read_packets) in the first stream of file.
func ffprobeCount(t *testing.T, file, entry string) int {
	t.Helper()
	flag := "-count_frames"
	if entry == "nb_read_packets" {
		flag = "-count_packets"
	}
	out, err := exec.Command(needTool(t, "ffprobe"), "-v", "error", flag, "-select_streams", "0",
		"-show_entries", "stream="+entry, "-of", "csv=p=0", file).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", file, err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("ffprobe %s: output %q", file, out)
	}
	return n
}

// frameMD5s decodes file with ffmpeg and returns the MD5 of every decoded
// picture (ffmpeg's framemd5 muxer), failing the test if ffmpeg reports
// anything at level error or above.
func frameMD5s(t *testing.T, file string) []string {
	t.Helper()
	cmd := exec.Command(needTool(t, "ffmpeg"), "-hide_banner", "-nostdin", "-v", "error",
		"-i", file, "-f", "framemd5", "-")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("ffmpeg decoding %s: %v\n%s", filepath.Base(file), err, stderr.String())
	}
	var sums []string
	for line := range strings.Lines(string(out)) {
		if strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(strings.TrimSpace(line), ",")
		sums = append(sums, strings.TrimSpace(f[len(f)-1]))
	}
	return sums
}

func writeTemp(t *testing.T, name string, b []byte) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(f, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestDecodeVideo plays 3 s of video with key-frame requests at awkward
// places (mid-GOP, just before an IDR, across the loop point, repeated)
// and has ffmpeg decode the concatenated access units. Decoding must be
// free of errors, and more: every picture must be bit-identical to the
// same picture decoded from the clip it was taken from. A clean decode
// alone would not catch a bad splice, since a P picture decoded against
// the intra version of its reference (the same scene) raises no error.
func TestDecodeVideo(t *testing.T) {
	const frames = 90 // 3 s
	requests := map[int]int{7: 1, 29: 1, 44: 3, 58: 1, 75: 1}
	c := mustClip(t)
	var (
		stream []byte
		want   []string // expected picture: "v" or "i" and the clip index
		keys   int
	)
	synctest.Test(t, func(t *testing.T) {
		v, err := NewVideo()
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close()
		for n := range frames {
			for range requests[n] {
				v.RequestKeyFrame()
			}
			au := readVideo(t, v, 1)[0]
			if au.Key {
				keys++
			}
			i := n % clipFrames
			switch {
			case same(au.Data, c.normal[i].data):
				want = append(want, "v"+strconv.Itoa(i))
			case same(au.Data, c.intra[i].data):
				want = append(want, "i"+strconv.Itoa(i))
			default:
				t.Fatalf("frame %d is neither clip's frame %d", n, i)
			}
			stream = append(stream, au.Data...)
		}
	})
	// 3 normal IDRs (0, 30, 60) and catch-up runs 7-29, 44-59, 75-89,
	// with 29 and 58-59 inside earlier runs.
	if want := 3 + 23 + 16 + 15; keys != want {
		t.Errorf("%d key frames, want %d", keys, want)
	}

	ref := map[string][]string{
		"v": frameMD5s(t, writeTemp(t, "video.h264", videoH264)),
		"i": frameMD5s(t, writeTemp(t, "intra.h264", intraH264)),
	}
	for k, sums := range ref {
		if len(sums) != clipFrames {
			t.Fatalf("clip %s decodes to %d pictures, want %d", k, len(sums), clipFrames)
		}
	}
	f := writeTemp(t, "spliced.h264", stream)
	got := frameMD5s(t, f)
	if len(got) != frames {
		t.Fatalf("spliced stream decodes to %d pictures, want %d", len(got), frames)
	}
	for n, w := range want {
		i, _ := strconv.Atoi(w[1:])
		if got[n] != ref[w[:1]][i] {
			t.Errorf("picture %d differs from clip picture %s", n, w)
		}
	}
	if n := ffprobeCount(t, f, "nb_read_frames"); n != frames {
		t.Errorf("ffprobe counts %d frames, want %d", n, frames)
	}
}

// TestDecodeAudio plays 3 s of audio (one and a half loops), wraps the
// frames in an Ogg Opus file and has ffmpeg decode it.
func TestDecodeAudio(t *testing.T) {
	const frames = 150
	var pkts [][]byte
	synctest.Test(t, func(t *testing.T) {
		a, err := NewAudio()
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		for range frames {
			f, err := a.ReadFrame(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			pkts = append(pkts, f.Data)
		}
	})
	// One packet per page (each is well under 255 bytes), so each audio
	// page's granule position is the sample count through its packet
	// plus the pre-skip (RFC 7845 §4).
	const preSkip = 312
	pages := paginate(1, [][]byte{opusHead(1, preSkip, 0)}, [][]byte{opusTags("mattercam test")}, pkts)
	if len(pages) != 2+frames {
		t.Fatalf("%d pages", len(pages))
	}
	var b []byte
	for i, p := range pages {
		page := p.encode()
		if i >= 2 {
			binary.LittleEndian.PutUint64(page[6:], uint64(preSkip+(i-1)*960))
			binary.LittleEndian.PutUint32(page[22:], oggCRC(page))
		}
		b = append(b, page...)
	}
	f := writeTemp(t, "looped.opus", b)
	ffmpegClean(t, f)
	if n := ffprobeCount(t, f, "nb_read_packets"); n != frames {
		t.Errorf("ffprobe counts %d packets, want %d", n, frames)
	}
}
