package crypto

import (
	"encoding/hex"
	"strings"
	"testing"
)

// unhex decodes a hex string, ignoring spaces, tabs and newlines so that
// vectors can be laid out as in their source documents.
func unhex(tb testing.TB, s string) []byte {
	tb.Helper()
	s = strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\n':
			return -1
		}
		return r
	}, s)
	b, err := hex.DecodeString(s)
	if err != nil {
		tb.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

func unhexArray32(tb testing.TB, s string) *[GroupSize]byte {
	tb.Helper()
	b := unhex(tb, s)
	if len(b) != GroupSize {
		tb.Fatalf("want %d octets, got %d", GroupSize, len(b))
	}
	return (*[GroupSize]byte)(b)
}
