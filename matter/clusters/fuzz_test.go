package clusters_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"reflect"
	"testing"

	"github.com/mattercam/mattercam/matter/clusters/internal/clustertest"
)

// FuzzDecode feeds every input to every generated decoder (requests,
// responses, structs and events alike: all of them read untrusted bytes
// somewhere). No decoder may panic, and whatever one accepts must survive
// a round trip: re-encoded, it decodes to the same value and the same
// bytes, so nothing a peer sends can put a value into the device that the
// device itself would write out differently.
func FuzzDecode(f *testing.F) {
	raw, err := os.ReadFile("testdata/matterjs-vectors.json")
	if err != nil {
		f.Fatal(err)
	}
	var file struct{ Vectors []struct{ Hex string } }
	if err := json.Unmarshal(raw, &file); err != nil {
		f.Fatal(err)
	}
	for _, v := range file.Vectors {
		b, err := hex.DecodeString(v.Hex)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0x15, 0x18})       // empty structure
	f.Add([]byte{0x16, 0x18})       // empty array
	f.Add([]byte{0x15, 0x34, 0x00}) // truncated

	f.Fuzz(func(t *testing.T, b []byte) {
		for _, pkg := range generatedPackages {
			for _, c := range pkg.Codecs {
				v := c.New()
				if clustertest.Decode(b, v) != nil {
					continue
				}
				enc, err := clustertest.Encode(v)
				if err != nil {
					t.Fatalf("%s.%s: accepted %x, cannot encode it: %v", pkg.Name, c.Name, b, err)
				}
				again := c.New()
				if err := clustertest.Decode(enc, again); err != nil {
					t.Fatalf("%s.%s: accepted %x, refuses its own encoding %x: %v", pkg.Name, c.Name, b, enc, err)
				}
				if !reflect.DeepEqual(v, again) {
					t.Fatalf("%s.%s: %x round-trips to a different value", pkg.Name, c.Name, b)
				}
				enc2, err := clustertest.Encode(again)
				if err != nil || !bytes.Equal(enc, enc2) {
					t.Fatalf("%s.%s: encoding is not stable: %x, %x (%v)", pkg.Name, c.Name, enc, enc2, err)
				}
			}
		}
	})
}
