package crypto

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"fmt"
)

// HashSize is CRYPTO_HASH_LEN_BYTES, the output size of Crypto_Hash.
const HashSize = sha256.Size

// Hash is Crypto_Hash (§3.3): SHA-256.
func Hash(message []byte) [HashSize]byte {
	return sha256.Sum256(message)
}

// HMAC is Crypto_HMAC (§3.4): HMAC-SHA256 (RFC 2104).
func HMAC(key, message []byte) [HashSize]byte {
	m := hmac.New(sha256.New, key)
	m.Write(message)
	var out [HashSize]byte
	m.Sum(out[:0])
	return out
}

// HKDF is Crypto_KDF(inputKey, salt, info, len) (§3.8): HKDF-SHA256
// (RFC 5869) extract-then-expand, producing length octets. A nil or empty
// salt means the all-zero salt of RFC 5869 §2.2, which is what the
// specification's "[]" denotes.
func HKDF(secret, salt, info []byte, length int) ([]byte, error) {
	if length <= 0 || length > 255*HashSize {
		return nil, fmt.Errorf("crypto: hkdf: invalid output length %d", length)
	}
	out, err := hkdf.Key(sha256.New, secret, salt, string(info), length)
	if err != nil {
		return nil, fmt.Errorf("crypto: hkdf: %w", err)
	}
	return out, nil
}

// Limits on the PBKDF parameters a Matter node may use or accept
// (CRYPTO_PBKDF_ITERATIONS_MIN/MAX of §3.9 and the salt length of the
// PBKDFParamResponse, §4.14.1).
const (
	PBKDFMinIterations = 1000
	PBKDFMaxIterations = 100000
	PBKDFMinSaltSize   = 16
	PBKDFMaxSaltSize   = 32
)

// PBKDF2 is Crypto_PBKDF(input, salt, iterations, len) (§3.9):
// PBKDF2-HMAC-SHA256 (RFC 8018 §5.2), producing length octets. It enforces
// Matter's parameter limits: 1000 to 100000 iterations and a salt of 16 to
// 32 octets.
func PBKDF2(input, salt []byte, iterations, length int) ([]byte, error) {
	if err := checkPBKDFParams(salt, iterations); err != nil {
		return nil, err
	}
	out, err := pbkdf2.Key(sha256.New, string(input), salt, iterations, length)
	if err != nil {
		return nil, fmt.Errorf("crypto: pbkdf2: %w", err)
	}
	return out, nil
}

func checkPBKDFParams(salt []byte, iterations int) error {
	if iterations < PBKDFMinIterations || iterations > PBKDFMaxIterations {
		return fmt.Errorf("crypto: pbkdf2: iteration count %d outside [%d, %d]",
			iterations, PBKDFMinIterations, PBKDFMaxIterations)
	}
	if len(salt) < PBKDFMinSaltSize || len(salt) > PBKDFMaxSaltSize {
		return fmt.Errorf("crypto: pbkdf2: salt length %d outside [%d, %d]",
			len(salt), PBKDFMinSaltSize, PBKDFMaxSaltSize)
	}
	return nil
}
