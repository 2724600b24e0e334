// Package storage keeps the node's persistent state: fabrics, access control
// lists, message counters, and whatever else must survive a restart, as small
// key/value records in one directory (the systemd StateDirectory,
// /var/lib/mattercam on the device).
//
// # Files
//
// Every key is one file, "<key>.kv", holding a 12-octet header and the value:
//
//	magic "MCS1" (4) ‖ value length, uint32 big-endian (4) ‖
//	CRC-32C of key ‖ 0x00 ‖ value, uint32 big-endian (4) ‖ value
//
// The checksum covers the key as well, so a file that was copied or renamed
// under another name is rejected along with one that was truncated or
// scribbled on. A record that fails these checks is reported as ErrCorrupt,
// never returned as a value.
//
// # Atomicity and durability
//
// Put never modifies a file in place. It writes the record to a temporary
// file in the same directory, fsyncs it, renames it over the target and
// fsyncs the directory, and only then returns. rename(2) replaces the name
// atomically, so after a crash (a kill -9, a power cut on a file system that
// honours fsync) each key holds either its previous complete value or the new
// one; once Put has returned, the new one. Delete removes the file and fsyncs
// the directory. Temporary files left by a crash are removed by Open.
//
// There are no multi-key transactions. A caller whose state spans several
// keys orders its writes so that every prefix of them is a state it can
// recover from (see matter/fabric for an example).
//
// # Limits and locking
//
// Keys are 1 to MaxKeyLen characters from [A-Za-z0-9._-] and do not start
// with a dot; values are at most MaxValueSize octets; a store holds at most
// MaxKeys keys. A Store is safe for concurrent use, and Open takes an
// exclusive advisory lock (flock) on the directory so that two processes
// cannot share it. Files are created with mode 0600 and the directory with
// 0700: the store holds operational private keys.
package storage
