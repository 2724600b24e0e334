//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package dnssd

import (
	"errors"
	"syscall"
)

// reuseControl cannot share port 5353 on this platform.
func reuseControl(_, _ string, _ syscall.RawConn) error {
	return errors.New("dnssd: SO_REUSEPORT is not available on this platform")
}
