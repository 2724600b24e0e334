package storage

import (
	"bytes"
	"testing"
)

// FuzzDecodeRecord feeds arbitrary file contents to the record decoder: it
// must not panic, must accept only what encodeRecord produces for the key,
// and must return exactly the value encoded.
func FuzzDecodeRecord(f *testing.F) {
	f.Add("k", encodeRecord("k", []byte("value")))
	f.Add("fabric.1", encodeRecord("fabric.1", nil))
	f.Add("k", encodeRecord("other", []byte("value")))
	f.Add("k", []byte("MCS1\x00\x00\x00\x01"))
	f.Fuzz(func(t *testing.T, key string, b []byte) {
		v, err := decodeRecord(key, b)
		if err != nil {
			return
		}
		if !bytes.Equal(encodeRecord(key, v), b) {
			t.Fatalf("accepted a record encodeRecord would not produce: %x", b)
		}
	})
}
