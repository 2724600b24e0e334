#!/usr/bin/env bash
# gen.sh regenerates the test clips in clip/, which package testsrc embeds.
# It is a development tool: the generated files are committed, so neither
# the build nor the tests run it. Re-running it overwrites the clips with
# the same bytes (every tool runs single-threaded with fixed seeds).
#
# Needs ffmpeg (with libx264, lavfi and libfreetype), ffprobe, opusenc
# (opus-tools), perl and the DejaVu fonts: on Debian
#   apt-get install ffmpeg opus-tools fonts-dejavu-core
#
# Output:
#   clip/video.h264  60 frames (2 s) of 1280x720 at 30 fps, H.264 Annex B,
#                    Constrained Baseline level 3.1 (profile-level-id
#                    42e01f), an IDR with SPS+PPS every 30 frames, no AUD,
#                    no SEI, one slice per picture.
#   clip/intra.h264  the same 60 pictures, every one an IDR with SPS+PPS
#                    (byte-identical to video.h264's), at lower quality.
#                    testsrc answers a key-frame request with intra frame i
#                    in place of video frame i and keeps sending intra
#                    frames until video.h264 reaches its next IDR.
#   clip/audio.opus  Ogg Opus, mono 48 kHz, 20 ms packets: three periods of
#                    a 2 s signal; testsrc loops the middle one.
#   clip/still-N.jpg JPEG stills of the same pictures, one per second of the
#                    clip (frame N*30, N = 0, 1), 1280x720, for testsrc's
#                    snapshots (capture.Snapshotter).
#
# Usage: gen.sh [stills]
#   With no argument everything is regenerated. "stills" renders the
#   pictures and regenerates only the JPEG stills, leaving the H.264 and
#   Opus clips alone (they are the bytes other tests were written against,
#   and a different ffmpeg build may code them differently).
set -euo pipefail

cd "$(dirname "$0")"

mode=${1:-all}
case $mode in
all) tools=(ffmpeg ffprobe opusenc perl) ;;
stills) tools=(ffmpeg ffprobe) ;;
*) echo "usage: gen.sh [stills]" >&2; exit 2 ;;
esac
for tool in "${tools[@]}"; do
	command -v "$tool" >/dev/null || { echo "gen.sh: $tool not found" >&2; exit 1; }
done
font=/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf
[[ -r $font ]] || { echo "gen.sh: $font not found (fonts-dejavu-core)" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

readonly frames=60 # clip length: 2 s at 30 fps
readonly gop=30    # IDR period: 1 s

ff() { ffmpeg -hide_banner -nostdin -v error -y "$@"; }

# 1. The pictures, rendered once to raw YUV so that both encodes (and both
# halves of the first) see identical input. Every moving element is a
# function of n mod 60 with period 60 (or 30), so frame 59 flows into frame
# 0 when the clip loops:
#   - SMPTE HD colour bars as the static background;
#   - a "plasma" panel whose phase advances 2π per loop (texture in motion,
#     so P-frames carry real residual, not only skipped macroblocks);
#   - a white box moving on a Lissajous figure (x period 60, y period 30);
#   - a red square shown on frames 0-2 while the audio beeps (lip-sync
#     check: flash and beep both start at the loop point);
#   - the frame index, to identify frames when debugging.
ff -f lavfi -i "
smptehdbars=size=1280x720:rate=30[bg];
nullsrc=size=400x224:rate=30,format=gray,
	geq=lum='128+60*sin(X/17+2*PI*N/$frames)+60*sin(Y/13-4*PI*N/$frames)',
	format=yuv420p[plasma];
color=c=white:size=120x120:rate=30[box];
[bg][plasma]overlay=x=W-w-40:y=40[a];
[a][box]overlay=eval=frame
	:x='(W-w)*(0.5-0.5*cos(2*PI*n/$frames))'
	:y='(H-h)*(0.5+0.35*sin(4*PI*n/$frames))',
drawbox=x=40:y=120:w=160:h=160:color=red:t=fill:enable='lt(mod(n,$frames),3)',
drawtext=fontfile=$font:text='mattercam %{eif\:mod(n,$frames)\:d\:2}'
	:fontsize=48:fontcolor=white:box=1:boxcolor=black:x=40:y=40" \
	-frames:v "$frames" -pix_fmt yuv420p -f rawvideo "$tmp/src.yuv"

# 1b. The stills. There is no H.264 decoder in pure Go, so testsrc cannot
# take a snapshot of the clip it plays; it returns the still nearest to the
# playback position instead, one per second (every $gop frames, at the IDRs),
# cut from the same raw pictures the clips are encoded from. They are coded
# straight from src.yuv, not decoded from the H.264 clip, so they carry no
# H.264 artefacts.
#   -q:v 3: ffmpeg's MJPEG quantiser scale. Its low-frequency luma
#     quantisers (6-8) are those of libjpeg quality ~75, the usual snapshot
#     quality; the file is ~30 KB, well under the ~63 KB one Matter large
#     message can carry (CaptureSnapshotResponse, spec digest §5.5), and
#     checked below against 60000 bytes.
#   -pix_fmt yuvj420p: JFIF is full range; swscale expands the limited-range
#     source (a JPEG decoder would otherwise show grey blacks).
#   -threads 1 -bitexact: the same bytes on every run.
readonly stills=$((frames / gop))
for ((i = 0; i < stills; i++)); do
	ff -f rawvideo -pix_fmt yuv420p -s 1280x720 -r 30 -i "$tmp/src.yuv" \
		-vf "select=eq(n\\,$((i * gop)))" -frames:v 1 \
		-c:v mjpeg -q:v 3 -pix_fmt yuvj420p -threads 1 -bitexact "$tmp/still-$i.jpg"
	size=$(stat -c %s "$tmp/still-$i.jpg")
	((size < 60000)) || { echo "gen.sh: still-$i.jpg is $size bytes, want < 60000" >&2; exit 1; }
	got=$(ffprobe -v error -show_entries stream=codec_name,width,height -of csv=p=0 "$tmp/still-$i.jpg")
	[[ $got == "mjpeg,1280,720" ]] || { echo "gen.sh: still-$i.jpg: got $got" >&2; exit 1; }
done
mkdir -p clip
if [[ $mode == stills ]]; then
	rm -f clip/still-*.jpg
	mv "$tmp"/still-*.jpg clip/
	ls -l clip/still-*.jpg
	exit 0
fi

# 2. x264 settings shared by both encodes, so that their SPS and PPS are
# byte-identical and a decoder sees no parameter change at a splice:
#   profile baseline, level 3.1: Constrained Baseline (x264 sets
#     constraint_set0 and set1, and uses CAVLC, no B-frames, no FMO/ASO);
#   keyint=min-keyint=30, scenecut=0: IDRs exactly at frames 0 and 30, and
#     log2_max_frame_num in the SPS derives from keyint, so it must match;
#   ref=1: x264 forces one reference frame for all-intra encodes, so the
#     normal clip uses one too (max_num_ref_frames is in the SPS);
#   stitchable=1: pic_init_qp in the PPS stays 26 instead of following the
#     CRF, so the two encodes' PPS match despite different quality;
#   repeat-headers=1: SPS+PPS in front of every IDR (RFC 6184 receivers
#     joining late need them; testsrc marks such AUs Key);
#   aud=0, slices=1: no access unit delimiters, one slice per picture;
#   threads=1: deterministic output.
# The filter_units bitstream filter drops x264's version SEI (type 6) from
# the first frame: it would be the only non-slice, non-parameter NAL in the
# clip and says nothing a decoder needs.
x264=(
	-f rawvideo -pix_fmt yuv420p -s 1280x720 -r 30 -i "$tmp/src.yuv"
	-c:v libx264 -profile:v baseline -level 3.1 -preset medium -threads 1
	-x264-params "keyint=$gop:min-keyint=$gop:scenecut=0:ref=1:stitchable=1:repeat-headers=1:aud=0:slices=1"
	-bsf:v filter_units=remove_types=6 -f h264
)

# 3. video.h264, CRF 30 (measured: ~60 KB for 2 s, about 240 kbit/s; the
# bars and plasma are smooth, so a lower CRF buys little).
#
# It is encoded as two independent 30-frame halves and concatenated,
# because of idr_pic_id (H.264 §7.4.3: two consecutive IDR access units
# must differ in idr_pic_id, and §7.4.1.2.4 uses that difference to tell
# the pictures apart). x264 alternates idr_pic_id 0, 1, 0, ... over the IDRs
# of one encode. In one encode video.h264 would have 0 at frame 0 and 1 at
# frame 30, while intra.h264 has i%2 at frame i, so a catch-up ending with
# intra frame 29 (id 1) followed by video frame 30 (id 1) would break the
# rule. Encoded in halves, both IDRs of video.h264 have id 0, and every
# splice the source makes joins ids that differ:
#   video 0|30 (0)  -> intra 1|31 (1)     key request right after an IDR
#   intra i (i%2)   -> intra i+1          consecutive catch-up frames
#   intra 29|59 (1) -> video 30|0 (0)     catch-up ends at the next IDR
for half in 0 1; do
	start=$((half * gop))
	ff "${x264[@]}" -crf 30 \
		-vf "trim=start_frame=$start:end_frame=$((start + gop)),setpts=PTS-STARTPTS" \
		"$tmp/video$half.h264"
done
cat "$tmp/video0.h264" "$tmp/video1.h264" >"$tmp/video.h264"

# 4. intra.h264: every frame forced to an IDR (forced-idr makes x264 code
# the forced key frames as IDR rather than plain I pictures) while keeping
# keyint=30 so the SPS matches video.h264. CRF 44: a 720p CAVLC IDR costs
# at least ~2.8 KB even for a flat grey picture (about 6 bits per
# macroblock of mandatory syntax), so lowering the quality buys little
# (measured for these pictures: CRF 40 ~320 KB, 44 ~257 KB, 51 ~240 KB);
# CRF 44 is still legible and is shown for at most one second after a
# request.
ff "${x264[@]}" -crf 44 -force_key_frames 'expr:1' -forced-idr 1 "$tmp/intra.h264"

# 5. profile-level-id 42c01f -> 42e01f. x264 leaves constraint_set2_flag
# clear, but browsers offer H.264 as 42e01f (and 42001f), and
# profile-level-id matching compares the profile_idc and constraint byte
# (RFC 6184 §8.2.2). Setting constraint_set2_flag claims conformance to the
# Extended profile (H.264 A.2.3), which this stream meets: it is
# Constrained Baseline with direct_8x8_inference_flag=1, CAVLC and one
# slice group. The byte follows profile_idc right after the SPS NAL header
# (67 42), which x264 always writes after a four-byte start code; the
# pattern cannot occur elsewhere because 00 00 00 01 only appears at start
# codes (emulation prevention, H.264 §7.4.1). Flipping one bit of that byte
# cannot create an emulation-prevention pattern.
setcs2() { # file, expected number of SPS
	perl -0777 -pi -e '
		$n = s/\x00\x00\x00\x01\x67\x42\xc0\x1f/\x00\x00\x00\x01\x67\x42\xe0\x1f/g;
		die "gen.sh: '"$1"': patched $n SPS, want '"$2"'\n" if $n != '"$2"';
	' "$1"
}
setcs2 "$tmp/video.h264" $((frames / gop))
setcs2 "$tmp/intra.h264" "$frames"

# 6. Check both clips: they decode without a complaint and have the frame
# count and profile testsrc relies on.
for f in video intra; do
	errs=$(ffmpeg -hide_banner -nostdin -v error -i "$tmp/$f.h264" -f null - 2>&1)
	[[ -z $errs ]] || { echo "gen.sh: $f.h264 does not decode cleanly: $errs" >&2; exit 1; }
	got=$(ffprobe -v error -count_frames -select_streams v:0 \
		-show_entries stream=nb_read_frames,profile,width,height -of csv=p=0 "$tmp/$f.h264")
	want="Constrained Baseline,1280,720,$frames"
	[[ $got == "$want" ]] || { echo "gen.sh: $f.h264: got $got, want $want" >&2; exit 1; }
done

# 7. audio.opus. The 2 s signal: a continuous 440 Hz tone (880 whole cycles
# per period, so it is phase-continuous across the loop) plus a 100 ms
# 880 Hz beep with a raised-cosine envelope (no click) at the start of
# each period, together with the red flash in the video.
#
# The Opus encoder delays its output by the pre-skip (312 samples for
# libopus, recorded in OpusHead, RFC 7845 §5.1), so the signal is
# generated 312 samples early: packet k then decodes to period time
# k*20 ms and the beep lines up with video frame 0.
#
# Three periods are encoded and testsrc plays only the middle one
# (packets 100-199): its packets were coded with the encoder state of a
# preceding period, so when the loop jumps from packet 199 back to 100 the
# decoder's state matches what packet 100 expects. The first period carries
# the encoder's start-up transient and the last one its end-of-stream
# padding.
#
# Mono (RFC 7587 §7 signals opus/48000/2 whatever is coded; a tone needs
# no more), 20 ms frames, hard CBR at 24 kbit/s: every packet is 60 bytes,
# which keeps the file small (VBR spends ~38 kbit/s on a pure tone) and the
# audio bandwidth predictable. -bitexact keeps ffmpeg's LIST/INFO chunk
# out of the WAV file.
ff -f lavfi -i "aevalsrc=s=48000:d=6:exprs='
	0.2*sin(2*PI*440*(t+312/48000))
	+ 0.4*sin(2*PI*880*(t+312/48000))
	  * lt(mod(t+312/48000,2),0.1)
	  * pow(sin(PI*mod(t+312/48000,2)/0.1),2)'" \
	-c:a pcm_s16le -bitexact "$tmp/audio.wav"
opusenc --quiet --hard-cbr --bitrate 24 --framesize 20 --comp 10 --serial 1 \
	"$tmp/audio.wav" "$tmp/audio.opus"

rm -f clip/still-*.jpg
mv "$tmp/video.h264" "$tmp/intra.h264" "$tmp/audio.opus" "$tmp"/still-*.jpg clip/
ls -l clip/
