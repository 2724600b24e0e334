package main

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// hostClock returns how the node decides whether the host clock is
// synchronised (Time Synchronization UTCTime, Core §11.17.6.1): "auto"
// asks the kernel (adjtimex: an NTP client such as systemd-timesyncd
// clears STA_UNSYNC once it has disciplined the clock), "trusted" and
// "untrusted" fix the answer, for boards with an RTC and for tests.
func hostClock(mode string) (func() bool, error) {
	switch mode {
	case "auto":
		return kernelClockSynced, nil
	case "trusted":
		return func() bool { return true }, nil
	case "untrusted":
		return func() bool { return false }, nil
	}
	return nil, fmt.Errorf("-host-clock %q: want auto, trusted or untrusted", mode)
}

// kernelClockSynced reports the kernel's view: TIME_ERROR or STA_UNSYNC
// mean no NTP client keeps the clock (adjtimex(2)).
func kernelClockSynced() bool {
	var tx unix.Timex
	state, err := unix.Adjtimex(&tx)
	if err != nil {
		return false
	}
	return state != unix.TIME_ERROR && tx.Status&unix.STA_UNSYNC == 0
}
