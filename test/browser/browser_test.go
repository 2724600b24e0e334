// Package browser_test plays the firmware's WHEP preview page in headless
// Chromium, the browser a user would open it in, and checks from the
// browser's own WebRTC statistics that H.264 frames decode at the
// stream's size and Opus audio arrives. It catches what the pion-based
// tests cannot: SDP, codec parameters or packetization a real browser
// rejects, and bugs in the page itself.
package browser_test

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

const (
	// wantFrames decoded frames show the decoder keeps up, not that one
	// key frame slipped through.
	wantFrames = 30
	// playDeadline bounds navigation to wantFrames frames; it is a few
	// seconds when things work.
	playDeadline = 30 * time.Second
	pollEvery    = 100 * time.Millisecond
)

// stats is what window.mattercam.stats() reports.
type stats struct {
	FramesDecoded int   `json:"framesDecoded"`
	AudioBytes    int64 `json:"audioBytes"`
	AudioPackets  int64 `json:"audioPackets"`
	Width         int   `json:"width"`
	Height        int   `json:"height"`
}

func (s stats) playing() bool {
	return s.FramesDecoded >= wantFrames && s.AudioPackets > 0 && s.AudioBytes > 0
}

// statsExpr is null until the page's module script has run.
const statsExpr = `window.mattercam ? window.mattercam.stats() : null`

// icePairExpr describes the candidate pair the connection settled on, for
// the log: whether it is loopback, a LAN address or peer-reflexive says
// which Chromium flags the test really depends on.
const icePairExpr = `(async () => {
  const pc = window.mattercam && window.mattercam.pc;
  if (!pc) return null;
  const r = await pc.getStats();
  let pair = null;
  r.forEach((s) => {
    if (s.type === "transport" && s.selectedCandidatePairId) pair = r.get(s.selectedCandidatePairId);
  });
  if (!pair) return null;
  const d = (c) => c ? c.candidateType + " " + c.address + ":" + c.port + "/" + c.protocol : "?";
  return d(r.get(pair.localCandidateId)) + " <-> " + d(r.get(pair.remoteCandidateId));
})()`

// whepRequestsExpr lists the page's fetches, all of them WHEP requests,
// with their response status (same origin, so it is not hidden).
const whepRequestsExpr = `performance.getEntriesByType("resource")
  .filter((e) => e.initiatorType === "fetch")
  .map((e) => ({ url: e.name, status: e.responseStatus }))`

func TestPreviewPlaysInChromium(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("this test needs Debian's chromium (%v); `make deps` installs it", err)
	}
	// Start-up includes building the firmware, quick with a warm cache.
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	fw := startFirmware(ctx, t)
	b := startChromium(ctx, t, chromium)
	p, err := b.cdp.newPage(ctx)
	if err != nil {
		t.Fatalf("opening a tab: %v", err)
	}

	start := time.Now()
	if err := p.navigate(ctx, fw.url); err != nil {
		t.Fatal(err)
	}
	pctx, pcancel := context.WithTimeout(ctx, playDeadline)
	defer pcancel()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	var (
		last       stats
		lastErr    error
		firstFrame time.Duration
	)
	for !last.playing() {
		var s *stats
		switch err := p.eval(pctx, statsExpr, &s); {
		case err != nil:
			// Evaluating while the page navigates can fail; only the
			// deadline decides. The deadline's own error says nothing.
			if pctx.Err() == nil {
				lastErr = err
			}
		case s != nil:
			last, lastErr = *s, nil
			if firstFrame == 0 && s.FramesDecoded > 0 {
				firstFrame = time.Since(start)
			}
		}
		if last.playing() {
			break
		}
		select {
		case <-pctx.Done():
			failPlayback(ctx, t, p, b, last, lastErr)
		case <-tick.C:
		}
	}
	playing := time.Since(start)

	t.Logf("first decoded frame %v after navigation (polled every %v); %d frames and %d audio packets (%d bytes) after %v",
		firstFrame.Round(time.Millisecond), pollEvery, last.FramesDecoded, last.AudioPackets, last.AudioBytes, playing.Round(time.Millisecond))
	if last.Width != fw.width || last.Height != fw.height {
		t.Errorf("Chromium decodes %dx%d frames; mattercam's video source is %dx%d", last.Width, last.Height, fw.width, fw.height)
	}
	// The page ignores failed trickle PATCHes (the connection may well
	// come up without them), so check them here.
	var requests []struct {
		URL    string `json:"url"`
		Status int    `json:"status"`
	}
	if err := p.eval(ctx, whepRequestsExpr, &requests); err != nil {
		t.Errorf("reading the page's requests: %v", err)
	}
	if len(requests) == 0 {
		t.Errorf("the page made no WHEP request it has a timing entry for")
	}
	for _, r := range requests {
		if r.Status < 200 || r.Status > 299 {
			t.Errorf("the page's request to %s got status %d", r.URL, r.Status)
		}
	}
	t.Logf("%d WHEP requests (offer and trickled candidates), all 2xx", len(requests))

	var pair string
	if err := p.eval(ctx, icePairExpr, &pair); err != nil {
		t.Logf("selected ICE pair: %v", err)
	} else {
		t.Logf("selected ICE pair (Chromium <-> mattercam): %s", pair)
	}
}

// failPlayback ends the test with everything that explains why the page
// did not play: its last statistics, its status line and its console.
func failPlayback(ctx context.Context, t *testing.T, p *page, b *browser, last stats, lastErr error) {
	t.Helper()
	ectx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var state, conn string
	if err := p.eval(ectx, `document.getElementById("state")?.textContent ?? "(no #state)"`, &state); err != nil {
		state = "(" + err.Error() + ")"
	}
	if err := p.eval(ectx, `window.mattercam?.pc ? window.mattercam.pc.connectionState + "/" + window.mattercam.pc.iceConnectionState : "(no peer connection)"`, &conn); err != nil {
		conn = "(" + err.Error() + ")"
	}
	for _, m := range b.pageMessages() {
		t.Logf("page: %s", m)
	}
	msg := []string{
		fmt.Sprintf("the preview did not play within %v: want ≥%d decoded frames and audio packets", playDeadline, wantFrames),
		fmt.Sprintf("last stats: %+v", last),
		"page status: " + state,
		"connection/ICE state: " + conn,
	}
	if lastErr != nil {
		msg = append(msg, "last stats error: "+lastErr.Error())
	}
	t.Fatal(strings.Join(msg, "\n\t"))
}
