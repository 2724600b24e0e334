package tlscertificatemanagement

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/x509"
	"testing"
)

// FuzzDecodeRecords feeds the stored-record decoders (a damaged or
// tampered state directory is untrusted input): none may panic, and a
// record one accepts must encode back to a record that decodes to the
// same entries.
func FuzzDecodeRecords(f *testing.F) {
	rootKey := mustKey(f)
	rootDER := newCert(f, rootKey, nil, certOpts{ca: true})
	root, _ := x509.ParseCertificate(rootDER)
	clientKey := mustKey(f)
	leaf := newCert(f, rootKey, root, certOpts{pub: &clientKey.PublicKey})
	roots, err := encodeRoots([]rootEntry{{id: 3, der: rootDER}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(roots)
	for _, l := range [][]clientEntry{
		{{id: 1, key: clientKey}},
		{{id: 2, key: clientKey, cert: leaf, chain: [][]byte{rootDER}}},
	} {
		b, err := encodeClients(l)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0x15, 0x24, 0x00, 0x05, 0x24, 0x01, 0x07, 0x18}) // ids
	f.Add([]byte{0x15, 0x18})

	f.Fuzz(func(t *testing.T, b []byte) {
		if l, err := decodeRoots(b); err == nil {
			enc, err := encodeRoots(l)
			if err != nil {
				t.Fatal(err)
			}
			again, err := decodeRoots(enc)
			if err != nil || len(again) != len(l) {
				t.Fatalf("roots round trip: %v", err)
			}
			for i := range l {
				if again[i].id != l[i].id || !bytes.Equal(again[i].der, l[i].der) || again[i].fp != l[i].fp {
					t.Fatalf("roots round trip: entry %d differs", i)
				}
			}
		}
		if l, err := decodeClients(b); err == nil {
			enc, err := encodeClients(l)
			if err != nil {
				t.Fatal(err)
			}
			again, err := decodeClients(enc)
			if err != nil || len(again) != len(l) {
				t.Fatalf("clients round trip: %v", err)
			}
			for i := range l {
				a, e := again[i], l[i]
				if a.id != e.id || !a.key.Equal(e.key) || !bytes.Equal(a.cert, e.cert) || len(a.chain) != len(e.chain) {
					t.Fatalf("clients round trip: entry %d differs", i)
				}
				if e.cert != nil {
					c, _ := x509.ParseCertificate(e.cert)
					if pub, ok := c.PublicKey.(*ecdsa.PublicKey); !ok || !pub.Equal(&e.key.PublicKey) {
						t.Fatalf("accepted a certificate that is not for its key")
					}
				}
			}
		}
		_, _, _ = decodeIDs(b)
	})
}
