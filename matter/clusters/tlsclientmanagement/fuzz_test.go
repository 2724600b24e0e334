package tlsclientmanagement

import (
	"bytes"
	"testing"

	"github.com/mattercam/mattercam/matter/clusters/field"
)

// FuzzDecodeRecord feeds the stored-record decoders (a damaged or tampered
// state directory is untrusted input): none may panic, whatever one
// accepts is a valid set of endpoints, and it encodes back to the same
// bytes.
func FuzzDecodeRecord(f *testing.F) {
	f.Add(encodeRecord([]endpoint{
		{TLSEndpoint: TLSEndpoint{EndpointID: 1, Hostname: []byte("cam.example.com"), Port: 443, CAID: 2}},
		{TLSEndpoint: TLSEndpoint{EndpointID: 4, Hostname: []byte("192.0.2.1"), Port: 8443, CAID: 3, CCDID: field.NonNull[uint16](9)}},
	}))
	f.Add([]byte{0x15, 0x24, 0x00, 0x05, 0x18})
	f.Add([]byte{0x15, 0x18})

	f.Fuzz(func(t *testing.T, b []byte) {
		if l, err := decodeRecord(b); err == nil {
			for _, e := range l {
				if !validHostname(e.Hostname) || e.EndpointID > MaxID || e.Port == 0 || e.ReferenceCount != 0 {
					t.Fatalf("accepted %+v", e)
				}
			}
			enc := encodeRecord(l)
			again, err := decodeRecord(enc)
			if err != nil || !bytes.Equal(encodeRecord(again), enc) {
				t.Fatalf("round trip: %v", err)
			}
		}
		_, _ = decodeIDs(b)
	})
}
