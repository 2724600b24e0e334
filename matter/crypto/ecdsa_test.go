package crypto

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"testing"
)

// rfc6979Key is the P-256 key of RFC 6979 Appendix A.2.5.
const rfc6979Key = "04" +
	"60fed4ba255a9d31c961eb74c6356d68c049b8923b61fa6ce669622e60f29fb6" +
	"7903fe1008b8bc99a41ae9e95628bc64f2f1b20c2d7e9f5177a3c294d4462299"

// rfc6979Signatures are the deterministic ECDSA P-256/SHA-256 signatures of
// RFC 6979 Appendix A.2.5, as raw r ‖ s, with their DER encodings.
var rfc6979Signatures = []struct {
	message, raw, der string
}{
	{"sample",
		"efd48b2aacb6a8fd1140dd9cd45e81d69d2c877b56aaf991c34d0ea84eaf3716" +
			"f7cb1c942d657c41d436c7a1b6e29f65f3e900dbb9aff4064dc4ab2f843acda8",
		"3046" + "022100efd48b2aacb6a8fd1140dd9cd45e81d69d2c877b56aaf991c34d0ea84eaf3716" +
			"022100f7cb1c942d657c41d436c7a1b6e29f65f3e900dbb9aff4064dc4ab2f843acda8"},
	{"test",
		"f1abb023518351cd71d881567b1ea663ed3efcf6c5132b354f28d3b0b7d38367" +
			"019f4113742a2b14bd25926b49c649155f267e60d3814b4c0cc84250e46f0083",
		"3045" + "022100f1abb023518351cd71d881567b1ea663ed3efcf6c5132b354f28d3b0b7d38367" +
			"0220019f4113742a2b14bd25926b49c649155f267e60d3814b4c0cc84250e46f0083"},
}

func TestVerifyRFC6979(t *testing.T) {
	pub, err := ParsePublicKey(unhex(t, rfc6979Key))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range rfc6979Signatures {
		raw := unhex(t, v.raw)
		if !Verify(pub, []byte(v.message), raw) {
			t.Errorf("%q: valid signature rejected", v.message)
		}
		if Verify(pub, []byte(v.message+"!"), raw) {
			t.Errorf("%q: signature accepted for another message", v.message)
		}
		der, err := SignatureToASN1(raw)
		if err != nil || !bytes.Equal(der, unhex(t, v.der)) {
			t.Errorf("%q: SignatureToASN1 = %x, %v", v.message, der, err)
		}
		back, err := SignatureFromASN1(unhex(t, v.der))
		if err != nil || !bytes.Equal(back, raw) {
			t.Errorf("%q: SignatureFromASN1 = %x, %v", v.message, back, err)
		}
	}
}

func TestSignVerify(t *testing.T) {
	priv, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("NOC TBS")
	sig, err := Sign(priv, msg)
	if err != nil {
		t.Fatal(err)
	}
	if len(sig) != SignatureSize {
		t.Fatalf("signature is %d octets", len(sig))
	}
	if !Verify(&priv.PublicKey, msg, sig) {
		t.Fatal("own signature rejected")
	}
	for i := range sig {
		bad := bytes.Clone(sig)
		bad[i] ^= 0x01
		if Verify(&priv.PublicKey, msg, bad) {
			t.Fatalf("signature with octet %d flipped accepted", i)
		}
	}
	other, _ := GenerateKey()
	if Verify(&other.PublicKey, msg, sig) {
		t.Error("signature accepted under another key")
	}
	if Verify(nil, msg, sig) || Verify(&priv.PublicKey, msg, sig[:63]) || Verify(&priv.PublicKey, msg, nil) {
		t.Error("malformed input accepted")
	}

	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Sign(p384, msg); err == nil {
		t.Error("Sign accepted a P-384 key")
	}
	if Verify(&p384.PublicKey, msg, sig) {
		t.Error("Verify accepted a P-384 key")
	}
	if _, err := MarshalPublicKey(&p384.PublicKey); err == nil {
		t.Error("MarshalPublicKey accepted a P-384 key")
	}
}

func TestSignatureConversionRejects(t *testing.T) {
	n := orderBytes()
	one := make([]byte, 32)
	one[31] = 1
	for name, raw := range map[string][]byte{
		"short":  make([]byte, 63),
		"r zero": append(make([]byte, 32), one...),
		"s zero": append(bytes.Clone(one), make([]byte, 32)...),
		"r = n":  append(bytes.Clone(n), one...),
		"s = n":  append(bytes.Clone(one), n...),
	} {
		if _, err := SignatureToASN1(raw); err == nil {
			t.Errorf("SignatureToASN1 %s: accepted", name)
		}
	}

	// SEQUENCE { INTEGER 1, INTEGER 0x80 00…00 }: the second integer needs
	// a leading zero octet.
	small := "3026 020101 022100 80" + "00000000000000000000000000000000000000000000000000000000000000"
	raw, err := SignatureFromASN1(unhex(t, small))
	if err != nil {
		t.Fatal(err)
	}
	want := append(bytes.Clone(one), append([]byte{0x80}, make([]byte, 31)...)...)
	if !bytes.Equal(raw, want) {
		t.Fatalf("SignatureFromASN1 = %x", raw)
	}
	if der, err := SignatureToASN1(raw); err != nil || !bytes.Equal(der, unhex(t, small)) {
		t.Fatalf("SignatureToASN1 = %x, %v", der, err)
	}

	for name, der := range map[string]string{
		"empty":              "",
		"trailing data":      small + "00",
		"truncated":          small[:len(small)-2],
		"non-minimal int":    "3007 02020001 020101",
		"negative r":         "3006 020180 020101",
		"zero r":             "3006 020100 020101",
		"long-form length":   "308106 020101 020101",
		"indefinite length":  "3080 020101 020101 0000",
		"not a sequence":     "3106 020101 020101",
		"three integers":     "3009 020101 020101 020101",
		"r = n":              "3026 022100" + "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551" + "020101",
		"r of 33 octets":     "3027 022201" + "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551" + "020101",
		"octet string for s": "3006 020101 040101",
	} {
		if _, err := SignatureFromASN1(unhex(t, der)); err == nil {
			t.Errorf("SignatureFromASN1 %s: accepted", name)
		}
	}
}

func TestPublicKeyEncoding(t *testing.T) {
	raw := unhex(t, rfc6979Key)
	pub, err := ParsePublicKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	back, err := MarshalPublicKey(pub)
	if err != nil || !bytes.Equal(back, raw) {
		t.Fatalf("MarshalPublicKey = %x, %v", back, err)
	}

	offCurve := bytes.Clone(raw)
	offCurve[64] ^= 1
	for name, b := range map[string][]byte{
		"off curve":  offCurve,
		"compressed": append([]byte{0x02 | raw[64]&1}, raw[1:33]...),
		"no prefix":  raw[1:],
		"identity":   {0x00},
		"all zero":   make([]byte, 65),
	} {
		if _, err := ParsePublicKey(b); err == nil {
			t.Errorf("ParsePublicKey %s: accepted", name)
		}
	}
}

func TestECDH(t *testing.T) {
	a, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ab, err := ECDH(a, b.PublicKey().Bytes())
	if err != nil {
		t.Fatal(err)
	}
	ba, err := ECDH(b, a.PublicKey().Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if len(ab) != GroupSize || !bytes.Equal(ab, ba) {
		t.Fatalf("shared secrets differ: %x, %x", ab, ba)
	}

	pub := b.PublicKey().Bytes()
	offCurve := bytes.Clone(pub)
	offCurve[64] ^= 1
	for name, peer := range map[string][]byte{
		"off curve":  offCurve,
		"compressed": append([]byte{0x02 | pub[64]&1}, pub[1:33]...),
		"identity":   {0x00},
		"empty":      nil,
	} {
		if _, err := ECDH(a, peer); err == nil {
			t.Errorf("ECDH %s: accepted", name)
		}
	}
	x, _ := ecdh.X25519().GenerateKey(rand.Reader)
	if _, err := ECDH(x, pub); err == nil {
		t.Error("ECDH accepted an X25519 key")
	}
	if _, err := ECDH(nil, pub); err == nil {
		t.Error("ECDH accepted a nil key")
	}
}
