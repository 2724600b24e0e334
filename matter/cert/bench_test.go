package cert

import "testing"

// BenchmarkVerify validates a three-certificate chain: two ECDSA
// verifications plus the RCAC self-signature, and the DER rebuilt for each.
func BenchmarkVerify(b *testing.B) {
	rcac, icac, noc := mustDecode(b, "Root02"), mustDecode(b, "ICA02"), mustDecode(b, "Node02_01")
	opts := VerifyOptions{Now: testNow, FabricID: 0xFAB000000000001D}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Verify(rcac, icac, noc, opts); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyTLV is the CASE path: decode the peer's NOC and ICAC from
// TLV and validate them against a root already in memory.
func BenchmarkVerifyTLV(b *testing.B) {
	rcac := mustDecode(b, "Root02")
	icacTLV, nocTLV := vectorByName(b, "ICA02").tlv, vectorByName(b, "Node02_01").tlv
	b.ReportAllocs()
	for b.Loop() {
		icac, err := DecodeTLV(icacTLV)
		if err != nil {
			b.Fatal(err)
		}
		noc, err := DecodeTLV(nocTLV)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Verify(rcac, icac, noc, VerifyOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeTLV(b *testing.B) {
	in := vectorByName(b, "Node02_08").tlv
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if _, err := DecodeTLV(in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeTLV(b *testing.B) {
	c := mustDecode(b, "Node02_08")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.EncodeTLV(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkX509DER(b *testing.B) {
	c := mustDecode(b, "Node02_08")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.X509DER(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFromX509(b *testing.B) {
	in := vectorByName(b, "Node02_08").der
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if _, err := FromX509(in); err != nil {
			b.Fatal(err)
		}
	}
}
