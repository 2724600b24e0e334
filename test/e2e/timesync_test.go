package e2e

import (
	"strconv"
	"strings"
	"testing"
)

// TestTimeSyncFromTrustedSource: the Time Synchronization client side
// (TSC, Core §11.17.13; matter/device/timesync.go). The firmware runs with
// -host-clock=untrusted, so it has no time of its own. The matter.js
// controller (timesync.mjs) serves Time Synchronization on its root
// endpoint with its own clock as UTCTime, commissions the firmware and
// makes itself the TrustedTimeSource:
//
//   - before the controller grants the device any access, the device's
//     read is refused: MissingTrustedTimeSource and TimeFailure, and
//     still no time;
//   - with View granted and the source set again, the device reads it at
//     once, over the controller's own CASE session, and serves a UTCTime
//     within a second of the controller's clock, TimeSource
//     NodeTimeCluster, Granularity Seconds.
func TestTimeSyncFromTrustedSource(t *testing.T) {
	fw := startFirmwareWith(t, t.TempDir(), freePort(t), "-host-clock=untrusted")
	steps := runScript(t, t.TempDir(), "e2e/timesync.mjs", "--address=127.0.0.1", "--port="+strconv.Itoa(fw.port))
	requireSteps(t, steps, "commission", "controller-time", "device-without-time", "source-denied", "grant-view", "device-time", "decommission")
	log := fw.stderr.String()
	for _, want := range []string{
		`msg="reading the trusted time source failed"`,
		`msg="UTC time read from the trusted time source"`,
	} {
		if !strings.Contains(log, want) {
			t.Errorf("firmware log lacks %s:\n%s", want, tail(log, 40))
		}
	}
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, "trusted time source") {
			t.Log(line)
		}
	}
	// The read reused the session the controller opened: no dial.
	if strings.Contains(log, `msg="opened session"`) {
		t.Errorf("the device dialed the controller:\n%s", tail(log, 40))
	}
}
