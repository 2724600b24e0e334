package crypto

import (
	"bytes"
	"crypto/aes"
	"testing"
)

type ccmVector struct {
	name      string
	key       string
	nonce     string
	aad       string
	plaintext string
	sealed    string // ciphertext ‖ tag
	tagSize   int
}

// rfc3610Vectors are the 24 packet vectors of RFC 3610 §8 (AES-128, L = 2,
// 13-octet nonce; M = 8 for #1–#6 and #13–#18, M = 10 for the rest). In the
// RFC the first 8 or 12 octets of each packet are the associated data; the
// remainder is encrypted.
var rfc3610Vectors = []ccmVector{
	{"RFC 3610 #1", "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf", "00000003020100a0a1a2a3a4a5", "0001020304050607",
		"08090a0b0c0d0e0f101112131415161718191a1b1c1d1e",
		"588c979a61c663d2f066d0c2c0f989806d5f6b61dac38417e8d12cfdf926e0", 8},
	{"RFC 3610 #2", "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf", "00000004030201a0a1a2a3a4a5", "0001020304050607",
		"08090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
		"72c91a36e135f8cf291ca894085c87e3cc15c439c9e43a3ba091d56e10400916", 8},
	{"RFC 3610 #3", "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf", "00000005040302a0a1a2a3a4a5", "0001020304050607",
		"08090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20",
		"51b1e5f44a197d1da46b0f8e2d282ae871e838bb64da8596574adaa76fbd9fb0c5", 8},
	{"RFC 3610 #4", "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf", "00000006050403a0a1a2a3a4a5", "000102030405060708090a0b",
		"0c0d0e0f101112131415161718191a1b1c1d1e",
		"a28c6865939a9a79faaa5c4c2a9d4a91cdac8c96c861b9c9e61ef1", 8},
	{"RFC 3610 #5", "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf", "00000007060504a0a1a2a3a4a5", "000102030405060708090a0b",
		"0c0d0e0f101112131415161718191a1b1c1d1e1f",
		"dcf1fb7b5d9e23fb9d4e131253658ad86ebdca3e51e83f077d9c2d93", 8},
	{"RFC 3610 #6", "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf", "00000008070605a0a1a2a3a4a5", "000102030405060708090a0b",
		"0c0d0e0f101112131415161718191a1b1c1d1e1f20",
		"6fc1b011f006568b5171a42d953d469b2570a4bd87405a0443ac91cb94", 8},
	{"RFC 3610 #7", "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf", "00000009080706a0a1a2a3a4a5", "0001020304050607",
		"08090a0b0c0d0e0f101112131415161718191a1b1c1d1e",
		"0135d1b2c95f41d5d1d4fec185d166b8094e999dfed96c048c56602c97acbb7490", 10},
	{"RFC 3610 #8", "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf", "0000000a090807a0a1a2a3a4a5", "0001020304050607",
		"08090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
		"7b75399ac0831dd2f0bbd75879a2fd8f6cae6b6cd9b7db24c17b4433f434963f34b4", 10},
	{"RFC 3610 #9", "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf", "0000000b0a0908a0a1a2a3a4a5", "0001020304050607",
		"08090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20",
		"82531a60cc24945a4b8279181ab5c84df21ce7f9b73f42e197ea9c07e56b5eb17e5f4e", 10},
	{"RFC 3610 #10", "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf", "0000000c0b0a09a0a1a2a3a4a5", "000102030405060708090a0b",
		"0c0d0e0f101112131415161718191a1b1c1d1e",
		"07342594157785152b074098330abb141b947b566aa9406b4d999988dd", 10},
	{"RFC 3610 #11", "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf", "0000000d0c0b0aa0a1a2a3a4a5", "000102030405060708090a0b",
		"0c0d0e0f101112131415161718191a1b1c1d1e1f",
		"676bb20380b0e301e8ab79590a396da78b834934f53aa2e9107a8b6c022c", 10},
	{"RFC 3610 #12", "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf", "0000000e0d0c0ba0a1a2a3a4a5", "000102030405060708090a0b",
		"0c0d0e0f101112131415161718191a1b1c1d1e1f20",
		"c0ffa0d6f05bdb67f24d43a4338d2aa4bed7b20e43cd1aa31662e7ad65d6db", 10},
	{"RFC 3610 #13", "d7828d13b2b0bdc325a76236df93cc6b", "00412b4ea9cdbe3c9696766cfa", "0be1a88bace018b1",
		"08e8cf97d820ea258460e96ad9cf5289054d895ceac47c",
		"4cb97f86a2a4689a877947ab8091ef5386a6ffbdd080f8e78cf7cb0cddd7b3", 8},
	{"RFC 3610 #14", "d7828d13b2b0bdc325a76236df93cc6b", "0033568ef7b2633c9696766cfa", "63018f76dc8a1bcb",
		"9020ea6f91bdd85afa0039ba4baff9bfb79c7028949cd0ec",
		"4ccb1e7ca981befaa0726c55d378061298c85c92814abc33c52ee81d7d77c08a", 8},
	{"RFC 3610 #15", "d7828d13b2b0bdc325a76236df93cc6b", "00103fe41336713c9696766cfa", "aa6cfa36cae86b40",
		"b916e0eacc1c00d7dcec68ec0b3bbb1a02de8a2d1aa346132e",
		"b1d23a2220ddc0ac900d9aa03c61fcf4a559a4417767089708a776796edb723506", 8},
	{"RFC 3610 #16", "d7828d13b2b0bdc325a76236df93cc6b", "00764c63b8058e3c9696766cfa", "d0d0735c531e1becf049c244",
		"12daac5630efa5396f770ce1a66b21f7b2101c",
		"14d253c3967b70609b7cbb7c499160283245269a6f49975bcadeaf", 8},
	{"RFC 3610 #17", "d7828d13b2b0bdc325a76236df93cc6b", "00f8b678094e3b3c9696766cfa", "77b60f011c03e1525899bcae",
		"e88b6a46c78d63e52eb8c546efb5de6f75e9cc0d",
		"5545ff1a085ee2efbf52b2e04bee1e2336c73e3f762c0c7744fe7e3c", 8},
	{"RFC 3610 #18", "d7828d13b2b0bdc325a76236df93cc6b", "00d560912d3f703c9696766cfa", "cd9044d2b71fdb8120ea60c0",
		"6435acbafb11a82e2f071d7ca4a5ebd93a803ba87f",
		"009769ecabdf48625594c59251e6035722675e04c847099e5ae0704551", 8},
	{"RFC 3610 #19", "d7828d13b2b0bdc325a76236df93cc6b", "0042fff8f1951c3c9696766cfa", "d85bc7e69f944fb8",
		"8a19b950bcf71a018e5e6701c91787659809d67dbedd18",
		"bc218daa947427b6db386a99ac1aef23ade0b52939cb6a637cf9bec2408897c6ba", 10},
	{"RFC 3610 #20", "d7828d13b2b0bdc325a76236df93cc6b", "00920f40e56cdc3c9696766cfa", "74a0ebc9069f5b37",
		"1761433c37c5a35fc1f39f406302eb907c6163be38c98437",
		"5810e6fd25874022e80361a478e3e9cf484ab04f447efff6f0a477cc2fc9bf548944", 10},
	{"RFC 3610 #21", "d7828d13b2b0bdc325a76236df93cc6b", "0027ca0c7120bc3c9696766cfa", "44a3aa3aae6475ca",
		"a434a8e58500c6e41530538862d686ea9e81301b5ae4226bfa",
		"f2beed7bc5098e83feb5b31608f8e29c38819a89c8e776f1544d4151a4ed3a8b87b9ce", 10},
	{"RFC 3610 #22", "d7828d13b2b0bdc325a76236df93cc6b", "005b8ccbcd9af83c9696766cfa", "ec46bb63b02520c33c49fd70",
		"b96b49e21d621741632875db7f6c9243d2d7c2",
		"31d750a09da3ed7fddd49a2032aabf17ec8ebf7d22c8088c666be5c197", 10},
	{"RFC 3610 #23", "d7828d13b2b0bdc325a76236df93cc6b", "003ebe94044b9a3c9696766cfa", "47a65ac78b3d594227e85e71",
		"e2fcfbb880442c731bf95167c8ffd7895e337076",
		"e882f1dbd38ce3eda7c23f04dd65071eb41342acdf7e00dccec7ae52987d", 10},
	{"RFC 3610 #24", "d7828d13b2b0bdc325a76236df93cc6b", "008d493b30ae8b3c9696766cfa", "6e37a6ef546d955d34ab6059",
		"abf21c0b02feb88f856df4a37381bce3cc128517d4",
		"f32905b88a641b04b9c9ffb58cc390900f3da12ab16dce9e82efa16da62059", 10},
}

// sp80038CVectors are examples 1–3 of NIST SP 800-38C Appendix C (key
// 404142…4f). They use 7-, 8- and 12-octet nonces and 4-, 6- and 8-octet
// tags; example 4, the one with Matter's 13-octet nonce, is in
// TestCCMSP80038CExample4 because of its 64 KiB associated data.
var sp80038CVectors = []ccmVector{
	{"SP 800-38C C.1", "404142434445464748494a4b4c4d4e4f", "10111213141516", "0001020304050607",
		"20212223", "7162015b4dac255d", 4},
	{"SP 800-38C C.2", "404142434445464748494a4b4c4d4e4f", "1011121314151617", "000102030405060708090a0b0c0d0e0f",
		"202122232425262728292a2b2c2d2e2f", "d2a1f0e051ea5f62081a7792073d593d1fc64fbfaccd", 6},
	{"SP 800-38C C.3", "404142434445464748494a4b4c4d4e4f", "101112131415161718191a1b",
		"000102030405060708090a0b0c0d0e0f10111213",
		"202122232425262728292a2b2c2d2e2f3031323334353637",
		"e3b201a9f5b71a7a9b1ceaeccd97e70b6176aad9a4428aa5484392fbc1b09951", 8},
}

// matterMessageVectors are secured Matter messages from connectedhomeip
// src/transport/tests/TestSessionManagerDispatch.cpp (theMessageTestVector):
// AES-CCM-128 with M = 16, the message header as associated data, and the
// §4.8.1.1 nonce. The nonces are rebuilt with MessageNonce in
// TestMessageNonceVectors.
var matterMessageVectors = []ccmVector{
	{"CHIP secure PASE message (no payload)", "5eded244e5532b3cdc23409dbad052d2",
		"00393000000000000000000000", "00b80b0039300000",
		"0564ee0e207d",
		"5a989ae42e8d" + "847f535c3007e6150cd65867f2b817db", 16},
	{"CHIP secure PASE message (short payload)", "5eded244e5532b3cdc23409dbad052d2",
		"00393000000000000000000000", "00b80b0039300000",
		"0564ee0e207d1122334455",
		"5a989ae42e8d0f7f885dfb" + "2faa8949cf730a5728e0354610a0c4a7", 16},
	{"CHIP secure PASE message with privacy flag", "5eded244e5532b3cdc23409dbad052d2",
		"80393000000000000000000000", "00b80b8039300000",
		"0564ee0e207d1122334455",
		"aa26a0f901efce9f9a67c8" + "137917d15b81d15d313308319758ea3f", 16},
	{"CHIP secure group message (no privacy)", "ca92d7a0942d1a511a0e26ad074f4c2f",
		"01785634120100000000000000", "067ddb0178563412010000000000000002 00",
		"0164ee0e207d",
		"65c767bc6cda" + "0106c9801323900e9b3ce6d4bb0327d6", 16},
	{"CHIP private group message", "ca92d7a0942d1a511a0e26ad074f4c2f",
		"81795634120100000000000000", "067ddb8179563412010000000000000002 00",
		"0164ee0e207d",
		"2b2f915a66c9" + "596290ebe4408217b3c0c921a2fca4e1", 16},
}

func newTestCCM(t testing.TB, key []byte, nonceSize, tagSize int) *ccm {
	t.Helper()
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := newCCM(block, nonceSize, tagSize)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCCMVectors(t *testing.T) {
	var all []ccmVector
	all = append(all, rfc3610Vectors...)
	all = append(all, sp80038CVectors...)
	all = append(all, matterMessageVectors...)
	for _, v := range all {
		t.Run(v.name, func(t *testing.T) {
			key, nonce, aad := unhex(t, v.key), unhex(t, v.nonce), unhex(t, v.aad)
			pt, want := unhex(t, v.plaintext), unhex(t, v.sealed)
			c := newTestCCM(t, key, len(nonce), v.tagSize)

			got := c.Seal(nil, nonce, pt, aad)
			if !bytes.Equal(got, want) {
				t.Fatalf("Seal = %x, want %x", got, want)
			}
			opened, err := c.Open(nil, nonce, want, aad)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if !bytes.Equal(opened, pt) {
				t.Fatalf("Open = %x, want %x", opened, pt)
			}

			// Flipping any bit of the ciphertext, the tag or the
			// associated data must fail authentication.
			for i := range want {
				bad := bytes.Clone(want)
				bad[i] ^= 0x80
				if _, err := c.Open(nil, nonce, bad, aad); err == nil {
					t.Fatalf("Open accepted a ciphertext with octet %d flipped", i)
				}
			}
			for i := range aad {
				bad := bytes.Clone(aad)
				bad[i] ^= 0x01
				if _, err := c.Open(nil, nonce, want, bad); err == nil {
					t.Fatalf("Open accepted associated data with octet %d flipped", i)
				}
			}
		})
	}
}

// TestCCMMatterAEAD runs the Matter vectors through the public constructor.
func TestCCMMatterAEAD(t *testing.T) {
	for _, v := range matterMessageVectors {
		t.Run(v.name, func(t *testing.T) {
			aead, err := NewCCM(unhex(t, v.key))
			if err != nil {
				t.Fatal(err)
			}
			if aead.NonceSize() != 13 || aead.Overhead() != 16 {
				t.Fatalf("NonceSize, Overhead = %d, %d; want 13, 16", aead.NonceSize(), aead.Overhead())
			}
			got := aead.Seal(nil, unhex(t, v.nonce), unhex(t, v.plaintext), unhex(t, v.aad))
			if want := unhex(t, v.sealed); !bytes.Equal(got, want) {
				t.Fatalf("Seal = %x, want %x", got, want)
			}
		})
	}
}

// TestCCMSP80038CExample4 is NIST SP 800-38C Appendix C example 4: a
// 13-octet nonce, a 14-octet tag and 2^16 octets of associated data, which
// exercises the 0xff 0xfe ‖ 32-bit length encoding of SP 800-38C §A.2.2.
func TestCCMSP80038CExample4(t *testing.T) {
	key := unhex(t, "404142434445464748494a4b4c4d4e4f")
	nonce := unhex(t, "101112131415161718191a1b1c")
	aad := make([]byte, 1<<16)
	for i := range aad {
		aad[i] = byte(i)
	}
	pt := unhex(t, "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f")
	want := unhex(t, "69915dad1e84c6376a68c2967e4dab615ae0fd1faec44cc484828529463ccf72"+
		"b4ac6bec93e8598e7f0dadbcea5b")

	c := newTestCCM(t, key, 13, 14)
	if got := c.Seal(nil, nonce, pt, aad); !bytes.Equal(got, want) {
		t.Fatalf("Seal = %x, want %x", got, want)
	}
	if got, err := c.Open(nil, nonce, want, aad); err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("Open = %x, %v", got, err)
	}
}

func TestCCMAADLengthBoundaries(t *testing.T) {
	// Associated data lengths on either side of the 2- to 6-octet length
	// encoding switch (0xff00) must round-trip, and must not collide.
	key := unhex(t, "000102030405060708090a0b0c0d0e0f")
	aead, err := NewCCM(key)
	if err != nil {
		t.Fatal(err)
	}
	nonce := make([]byte, 13)
	seen := map[string]int{}
	for _, n := range []int{0, 1, 14, 15, 16, 17, 0xfeff, 0xff00, 0xff01} {
		aad := make([]byte, n)
		sealed := aead.Seal(nil, nonce, []byte("payload"), aad)
		if prev, ok := seen[string(sealed)]; ok {
			t.Fatalf("associated data of %d and %d octets give the same tag", prev, n)
		}
		seen[string(sealed)] = n
		if _, err := aead.Open(nil, nonce, sealed, aad); err != nil {
			t.Fatalf("aad %d: %v", n, err)
		}
	}
}

func TestCCMInPlace(t *testing.T) {
	v := matterMessageVectors[1]
	aead, err := NewCCM(unhex(t, v.key))
	if err != nil {
		t.Fatal(err)
	}
	nonce, aad, pt := unhex(t, v.nonce), unhex(t, v.aad), unhex(t, v.plaintext)

	buf := make([]byte, len(pt), len(pt)+aead.Overhead())
	copy(buf, pt)
	sealed := aead.Seal(buf[:0], nonce, buf, aad)
	if !bytes.Equal(sealed, unhex(t, v.sealed)) || &sealed[0] != &buf[0] {
		t.Fatalf("in-place Seal = %x", sealed)
	}
	opened, err := aead.Open(sealed[:0], nonce, sealed, aad)
	if err != nil || !bytes.Equal(opened, pt) || &opened[0] != &buf[0] {
		t.Fatalf("in-place Open = %x, %v", opened, err)
	}

	// A failed in-place Open must not leave plaintext behind.
	sealed = aead.Seal(buf[:0], nonce, pt, aad)
	sealed[len(sealed)-1] ^= 1
	if _, err := aead.Open(sealed[:0], nonce, sealed, aad); err == nil {
		t.Fatal("Open accepted a bad tag")
	}
	if bytes.Contains(sealed, pt) {
		t.Fatal("failed Open left the plaintext in the buffer")
	}

	// Appending to a prefix keeps the prefix.
	out := aead.Seal([]byte("hdr"), nonce, pt, aad)
	if string(out[:3]) != "hdr" || !bytes.Equal(out[3:], unhex(t, v.sealed)) {
		t.Fatalf("Seal with prefix = %x", out)
	}
}

func TestCCMRejects(t *testing.T) {
	if _, err := NewCCM(make([]byte, 32)); err == nil {
		t.Error("NewCCM accepted a 32-octet key")
	}
	block, _ := aes.NewCipher(make([]byte, 16))
	for _, tc := range []struct{ nonce, tag int }{{6, 16}, {14, 16}, {13, 2}, {13, 18}, {13, 7}} {
		if _, err := newCCM(block, tc.nonce, tc.tag); err == nil {
			t.Errorf("newCCM accepted nonce %d, tag %d", tc.nonce, tc.tag)
		}
	}

	aead, err := NewCCM(make([]byte, 16))
	if err != nil {
		t.Fatal(err)
	}
	nonce := make([]byte, 13)
	sealed := aead.Seal(nil, nonce, []byte("hello"), nil)
	for _, tc := range []struct {
		name       string
		nonce, msg []byte
	}{
		{"short nonce", nonce[:12], sealed},
		{"long nonce", append(bytes.Clone(nonce), 0), sealed},
		{"empty", nonce, nil},
		{"shorter than a tag", nonce, sealed[:15]},
		{"truncated", nonce, sealed[:len(sealed)-1]},
		{"too long for L=2", nonce, make([]byte, 1<<16+16)},
	} {
		if _, err := aead.Open(nil, tc.nonce, tc.msg, nil); err == nil {
			t.Errorf("%s: Open succeeded", tc.name)
		}
	}

	mustPanic(t, "Seal with a short nonce", func() { aead.Seal(nil, nonce[:12], nil, nil) })
	mustPanic(t, "Seal of 2^16 octets", func() { aead.Seal(nil, nonce, make([]byte, 1<<16), nil) })
	buf := make([]byte, 64)
	mustPanic(t, "Seal with overlapping buffers", func() { aead.Seal(buf[1:1], nonce, buf[:32], nil) })
	if _, err := aead.Open(buf[1:1], nonce, buf[:32], nil); err == nil {
		t.Error("Open accepted overlapping buffers")
	}
	// The largest L = 2 message is accepted.
	big := aead.Seal(nil, nonce, make([]byte, 1<<16-1), nil)
	if _, err := aead.Open(nil, nonce, big, nil); err != nil {
		t.Errorf("Open of a 65535-octet message: %v", err)
	}
}

func mustPanic(t *testing.T, name string, f func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Errorf("%s did not panic", name)
		}
	}()
	f()
}

func TestCCMAllocations(t *testing.T) {
	if testing.CoverMode() != "" || raceEnabled {
		t.Skip("allocation counts are unreliable under coverage or the race detector")
	}
	aead, err := NewCCM(make([]byte, 16))
	if err != nil {
		t.Fatal(err)
	}
	nonce := make([]byte, 13)
	aad := make([]byte, 8)
	pt := make([]byte, 1024)
	buf := make([]byte, 0, len(pt)+16)
	out := make([]byte, 0, len(pt))
	sealed := aead.Seal(nil, nonce, pt, aad)
	if n := testing.AllocsPerRun(100, func() { aead.Seal(buf, nonce, pt, aad) }); n != 0 {
		t.Errorf("Seal allocates %v times", n)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = aead.Open(out, nonce, sealed, aad) }); n != 0 {
		t.Errorf("Open allocates %v times", n)
	}
}
