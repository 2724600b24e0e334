package crypto

import (
	"bytes"
	"crypto/pbkdf2"
	"crypto/sha256"
	"testing"
)

func TestHash(t *testing.T) {
	for _, tc := range []struct{ name, msg, want string }{
		// FIPS 180-2 Appendix B.1 ("abc").
		{"FIPS 180-2 B.1", "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
		// FIPS 180-2 Appendix B.2.
		{"FIPS 180-2 B.2", "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
			"248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
	} {
		if got := Hash([]byte(tc.msg)); !bytes.Equal(got[:], unhex(t, tc.want)) {
			t.Errorf("%s: Hash = %x", tc.name, got)
		}
	}
}

func TestHMAC(t *testing.T) {
	for _, tc := range []struct{ name, key, msg, want string }{
		// RFC 4231 §4.2, test case 1.
		{"RFC 4231 TC1", "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "4869205468657265",
			"b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
		// RFC 4231 §4.3, test case 2 ("Jefe").
		{"RFC 4231 TC2", "4a656665", "7768617420646f2079612077616e7420666f72206e6f7468696e673f",
			"5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
	} {
		if got := HMAC(unhex(t, tc.key), unhex(t, tc.msg)); !bytes.Equal(got[:], unhex(t, tc.want)) {
			t.Errorf("%s: HMAC = %x", tc.name, got)
		}
	}
}

func TestHKDF(t *testing.T) {
	for _, tc := range []struct {
		name, ikm, salt, info, okm string
	}{
		// RFC 5869 Appendix A.1.
		{"RFC 5869 A.1", "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "000102030405060708090a0b0c",
			"f0f1f2f3f4f5f6f7f8f9",
			"3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"},
		// RFC 5869 Appendix A.3: no salt, no info, which is how Matter
		// calls Crypto_KDF with salt "[]".
		{"RFC 5869 A.3", "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "", "",
			"8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"},
	} {
		got, err := HKDF(unhex(t, tc.ikm), unhex(t, tc.salt), unhex(t, tc.info), len(tc.okm)/2)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !bytes.Equal(got, unhex(t, tc.okm)) {
			t.Errorf("%s: HKDF = %x", tc.name, got)
		}
	}
	for _, n := range []int{0, -1, 255*32 + 1} {
		if _, err := HKDF([]byte("k"), nil, nil, n); err == nil {
			t.Errorf("HKDF accepted length %d", n)
		}
	}
}

func TestPBKDF2Parameters(t *testing.T) {
	salt16 := []byte("SPAKE2P Key Salt")
	for _, tc := range []struct {
		name       string
		salt       []byte
		iterations int
		ok         bool
	}{
		{"minimum", salt16, 1000, true},
		{"maximum salt", make([]byte, 32), 1000, true},
		{"too few iterations", salt16, 999, false},
		{"too many iterations", salt16, 100001, false},
		{"zero iterations", salt16, 0, false},
		{"short salt", salt16[:15], 1000, false},
		{"long salt", make([]byte, 33), 1000, false},
		{"no salt", nil, 1000, false},
	} {
		got, err := PBKDF2([]byte("pw"), tc.salt, tc.iterations, 80)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err = %v", tc.name, err)
			continue
		}
		if tc.ok {
			want, _ := pbkdf2.Key(sha256.New, "pw", tc.salt, tc.iterations, 80)
			if !bytes.Equal(got, want) {
				t.Errorf("%s: PBKDF2 disagrees with crypto/pbkdf2", tc.name)
			}
		}
	}
	// The iteration upper bound is accepted (and slow enough to test once).
	if testing.Short() {
		return
	}
	if _, err := PBKDF2([]byte("pw"), salt16, PBKDFMaxIterations, 80); err != nil {
		t.Errorf("maximum iterations: %v", err)
	}
}
