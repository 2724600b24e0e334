//go:build !unix

package storage

import "os"

// lockDir does nothing where flock is not available; the firmware runs on
// Linux only.
func lockDir(*os.File) error { return nil }
