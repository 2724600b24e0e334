package crypto

import (
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"testing"
)

// specRootPublicKey and specFabricID are the worked example of the
// compressed fabric identifier in Matter Core §4.3.2.2, also used by
// connectedhomeip src/crypto/tests/CHIPCryptoPALTest.cpp
// (TestCompressedFabricIdentifier).
const (
	specRootPublicKey = "04 4a9f42b1ca4840d37292bbc7f6a7e11e22200c976fc900dbc98a7a383a641cb8" +
		"254a2e56d4e295a847943b4e3897c4a773e930277b4d9fbede8a052686bfacfa"
	specFabricID           = 0x2906_c908_d115_d362
	specCompressedFabricID = "87e1b004e235a130"
)

func TestCompressedFabricID(t *testing.T) {
	got, err := CompressedFabricID(unhex(t, specRootPublicKey), specFabricID)
	if err != nil {
		t.Fatal(err)
	}
	if want := unhex(t, specCompressedFabricID); !bytes.Equal(got[:], want) {
		t.Fatalf("CompressedFabricID = %x, want %x", got, want)
	}

	bad := unhex(t, specRootPublicKey)
	bad[64] ^= 1 // off the curve
	for name, key := range map[string][]byte{
		"all zero (CHIP negative case)": make([]byte, 65),
		"off curve":                     bad,
		"compressed":                    append([]byte{0x02}, unhex(t, specRootPublicKey)[1:33]...),
		"raw 64 octets":                 unhex(t, specRootPublicKey)[1:],
	} {
		if _, err := CompressedFabricID(key, specFabricID); err == nil {
			t.Errorf("%s: CompressedFabricID accepted the key", name)
		}
	}
}

func TestOperationalGroupKeyVectors(t *testing.T) {
	cfid := [CompressedFabricIDSize]byte(unhex(t, specCompressedFabricID))
	for _, tc := range []struct {
		name, epochKey, operationalKey string
		sessionID                      uint16
		checkSessionID                 bool
	}{
		// The IPK example of Matter Core §4.15 (operational IPK from the
		// IPK epoch key), as checked by connectedhomeip
		// src/credentials/tests/TestGroupDataProvider.cpp
		// (kIpkEpochKeyFromSpec → kExpectedIpkFromSpec).
		{"spec IPK example", "235bf7e62823d358dca4ba50b1535f4b", "a6f5306baf6d050af23ba4bd6b9dd960", 0, false},
		// connectedhomeip src/crypto/tests/TestGroupOperationalCredentials.cpp
		// (kEpochKeys0 → kGroupKeys0 encryption_key and hash).
		{"CHIP group credentials #0", "00000000000000000000000000000000", "c5f2690187115150c356ad93b385bb0f", 0x479e, true},
		{"CHIP group credentials #1", "101112131415161718191a1b1c1d1e1f", "aed95695f375d2ce78556a41730c3f43", 0xa512, true},
		{"CHIP group credentials #2", "202122232425262728292a2b2c2d2e2f", "35ca346e5e24bbbe889cf4d35c5e820a", 0xd800, true},
		// connectedhomeip src/transport/tests/TestSessionManagerDispatch.cpp:
		// the group messages use epoch key b0…bf on this fabric, and their
		// session ID is the group key hash.
		{"CHIP secure group message", "b0b1b2b3b4b5b6b7b8b9babbbcbdbebf", "ca92d7a0942d1a511a0e26ad074f4c2f", 0xdb7d, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DeriveOperationalGroupKey(unhex(t, tc.epochKey), cfid)
			if err != nil {
				t.Fatal(err)
			}
			if want := unhex(t, tc.operationalKey); !bytes.Equal(got, want) {
				t.Fatalf("DeriveOperationalGroupKey = %x, want %x", got, want)
			}
			if !tc.checkSessionID {
				return
			}
			id, err := DeriveGroupSessionID(got)
			if err != nil {
				t.Fatal(err)
			}
			if id != tc.sessionID {
				t.Fatalf("DeriveGroupSessionID = %#04x, want %#04x", id, tc.sessionID)
			}
		})
	}
	if _, err := DeriveOperationalGroupKey(make([]byte, 32), cfid); err == nil {
		t.Error("DeriveOperationalGroupKey accepted a 32-octet epoch key")
	}
	if _, err := DeriveGroupSessionID(make([]byte, 8)); err == nil {
		t.Error("DeriveGroupSessionID accepted an 8-octet key")
	}
}

// hkdfRef is an independent spelling of Crypto_KDF for the layout tests.
func hkdfRef(t *testing.T, secret, salt []byte, info string, n int) []byte {
	t.Helper()
	out, err := hkdf.Key(sha256.New, secret, salt, info, n)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sessionKeysBytes(k SessionKeys) []byte {
	return bytes.Join([][]byte{k.I2RKey[:], k.R2IKey[:], k.AttestationChallenge[:]}, nil)
}

// Neither the specification nor the SDK publishes vectors for the session
// key derivations, so these tests pin the salt layout and info string of
// each formula against a direct HKDF computation.
func TestSessionKeyLayouts(t *testing.T) {
	fill := func(n int, b byte) []byte { return bytes.Repeat([]byte{b}, n) }
	ke := fill(16, 0x11)
	secret := fill(32, 0x22)
	ipk := fill(16, 0x33)
	random := fill(32, 0x44)
	eph := append([]byte{0x04}, fill(64, 0x55)...)
	h1, h2 := fill(32, 0x66), fill(32, 0x77)
	resumptionID := fill(16, 0x88)

	t.Run("PASE", func(t *testing.T) {
		k, err := DerivePASESessionKeys(ke)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := sessionKeysBytes(k), hkdfRef(t, ke, nil, "SessionKeys", 48); !bytes.Equal(got, want) {
			t.Fatalf("got %x, want %x", got, want)
		}
	})
	t.Run("Sigma2", func(t *testing.T) {
		got, err := DeriveSigma2Key(secret, ipk, random, eph, h1)
		if err != nil {
			t.Fatal(err)
		}
		salt := bytes.Join([][]byte{ipk, random, eph, h1}, nil)
		if want := hkdfRef(t, secret, salt, "Sigma2", 16); !bytes.Equal(got, want) {
			t.Fatalf("got %x, want %x", got, want)
		}
	})
	t.Run("Sigma3", func(t *testing.T) {
		got, err := DeriveSigma3Key(secret, ipk, h2)
		if err != nil {
			t.Fatal(err)
		}
		if want := hkdfRef(t, secret, append(bytes.Clone(ipk), h2...), "Sigma3", 16); !bytes.Equal(got, want) {
			t.Fatalf("got %x, want %x", got, want)
		}
	})
	t.Run("CASE session", func(t *testing.T) {
		k, err := DeriveCASESessionKeys(secret, ipk, h2)
		if err != nil {
			t.Fatal(err)
		}
		want := hkdfRef(t, secret, append(bytes.Clone(ipk), h2...), "SessionKeys", 48)
		if got := sessionKeysBytes(k); !bytes.Equal(got, want) {
			t.Fatalf("got %x, want %x", got, want)
		}
	})
	salt := append(bytes.Clone(random), resumptionID...)
	t.Run("Sigma1_Resume", func(t *testing.T) {
		got, err := DeriveSigma1ResumeKey(secret, random, resumptionID)
		if err != nil {
			t.Fatal(err)
		}
		if want := hkdfRef(t, secret, salt, "Sigma1_Resume", 16); !bytes.Equal(got, want) {
			t.Fatalf("got %x, want %x", got, want)
		}
	})
	t.Run("Sigma2_Resume", func(t *testing.T) {
		got, err := DeriveSigma2ResumeKey(secret, random, resumptionID)
		if err != nil {
			t.Fatal(err)
		}
		if want := hkdfRef(t, secret, salt, "Sigma2_Resume", 16); !bytes.Equal(got, want) {
			t.Fatalf("got %x, want %x", got, want)
		}
	})
	t.Run("resumed session", func(t *testing.T) {
		k, err := DeriveCASEResumptionSessionKeys(secret, random, resumptionID)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := sessionKeysBytes(k), hkdfRef(t, secret, salt, "SessionResumptionKeys", 48); !bytes.Equal(got, want) {
			t.Fatalf("got %x, want %x", got, want)
		}
	})
	t.Run("nonces", func(t *testing.T) {
		for _, n := range []string{NonceSigma2, NonceSigma3, NonceSigma1Resume, NonceSigma2Resume} {
			if len(n) != AEADNonceSize {
				t.Errorf("nonce %q is %d octets", n, len(n))
			}
		}
	})

	t.Run("rejects bad lengths", func(t *testing.T) {
		short := fill(31, 0)
		checks := map[string]func() error{
			"PASE Ke":         func() error { _, err := DerivePASESessionKeys(secret); return err },
			"S2K secret":      func() error { _, err := DeriveSigma2Key(short, ipk, random, eph, h1); return err },
			"S2K IPK":         func() error { _, err := DeriveSigma2Key(secret, secret, random, eph, h1); return err },
			"S2K random":      func() error { _, err := DeriveSigma2Key(secret, ipk, short, eph, h1); return err },
			"S2K eph key":     func() error { _, err := DeriveSigma2Key(secret, ipk, random, eph[1:], h1); return err },
			"S2K hash":        func() error { _, err := DeriveSigma2Key(secret, ipk, random, eph, short); return err },
			"S3K hash":        func() error { _, err := DeriveSigma3Key(secret, ipk, short); return err },
			"CASE keys IPK":   func() error { _, err := DeriveCASESessionKeys(secret, nil, h2); return err },
			"S1RK random":     func() error { _, err := DeriveSigma1ResumeKey(secret, short, resumptionID); return err },
			"S2RK ID":         func() error { _, err := DeriveSigma2ResumeKey(secret, random, random); return err },
			"resumed secret":  func() error { _, err := DeriveCASEResumptionSessionKeys(short, random, resumptionID); return err },
			"resumed ID size": func() error { _, err := DeriveCASEResumptionSessionKeys(secret, random, nil); return err },
		}
		for name, f := range checks {
			if f() == nil {
				t.Errorf("%s: accepted", name)
			}
		}
	})
}
