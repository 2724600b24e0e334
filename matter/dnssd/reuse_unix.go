//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package dnssd

import (
	"errors"
	"syscall"

	"golang.org/x/sys/unix"
)

// reuseControl sets SO_REUSEADDR and SO_REUSEPORT before bind, so the
// responder shares UDP 5353 with avahi-daemon, matter.js and any other
// mDNS stack on the host (RFC 6762 §15.1). Every socket on the port needs
// both options; Linux delivers each multicast datagram to all of them.
func reuseControl(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = errors.Join(
			unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1),
			unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1),
		)
	})
	if err != nil {
		return err
	}
	return serr
}
