package browser_test

import (
	"context"
	"testing"
	"time"
)

func TestScratchNet(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	fw := startFirmware(ctx, t)
	b := startChromium(ctx, t, "/usr/bin/chromium")
	p, err := b.cdp.newPage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.navigate(ctx, fw.url); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		time.Sleep(time.Second)
		for _, e := range []string{`1+1`, `window.mattercam?.pc ? [pc => pc.signalingState + " " + pc.iceGatheringState + " " + pc.iceConnectionState + " " + (pc.localDescription?.sdp.match(/a=candidate.*/g)||[]).join("|") + " R " + (pc.remoteDescription?.sdp.match(/a=candidate.*/g)||[]).join("|")][0](window.mattercam.pc) : "nopc"`, `document.getElementById("state").textContent`, `window.mattercam.stats()`, `performance.getEntriesByType("resource").map(e => e.initiatorType + " " + e.name + " " + e.responseStatus)`} {
			ectx, c := context.WithTimeout(ctx, 2*time.Second)
			var v any
			err := p.eval(ectx, e, &v)
			c()
			t.Log(v, err)
		}
	}
	t.Log(b.pageMessages())
	t.Fail()
}
