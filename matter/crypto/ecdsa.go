package crypto

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
)

// SignatureSize is CRYPTO_SIGNATURE_SIZE_BYTES: a P-256 ECDSA signature in
// Matter's raw form, r ‖ s, each a 32-octet big-endian integer (§3.5).
const SignatureSize = 2 * GroupSize

// GenerateKey generates a P-256 key pair (Crypto_GenerateKeypair, §3.5).
func GenerateKey() (*ecdsa.PrivateKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("crypto: ecdsa: %w", err)
	}
	return k, nil
}

// Sign is Crypto_Sign (§3.5): ECDSA over P-256 of SHA-256(message),
// returned as the 64-octet r ‖ s.
func Sign(priv *ecdsa.PrivateKey, message []byte) ([]byte, error) {
	if priv == nil || priv.Curve != elliptic.P256() {
		return nil, errors.New("crypto: ecdsa: key is not a P-256 key")
	}
	digest := sha256.Sum256(message)
	der, err := ecdsa.SignASN1(rand.Reader, priv, digest[:])
	if err != nil {
		return nil, fmt.Errorf("crypto: ecdsa: %w", err)
	}
	return SignatureFromASN1(der)
}

// Verify is Crypto_Verify (§3.5): it reports whether sig is a valid raw
// r ‖ s signature of message under pub. Malformed signatures and keys are
// simply invalid.
func Verify(pub *ecdsa.PublicKey, message, sig []byte) bool {
	if pub == nil || pub.Curve != elliptic.P256() || len(sig) != SignatureSize {
		return false
	}
	der, err := SignatureToASN1(sig)
	if err != nil {
		return false
	}
	digest := sha256.Sum256(message)
	return ecdsa.VerifyASN1(pub, digest[:], der)
}

// ecdsaSignature is Ecdsa-Sig-Value (RFC 3279 §2.2.3, RFC 5480 §2.2), the
// encoding used by X.509 certificates and CSRs.
type ecdsaSignature struct {
	R, S *big.Int
}

// SignatureToASN1 converts a raw r ‖ s signature into the DER encoding of
// Ecdsa-Sig-Value. r and s must be in [1, n-1].
func SignatureToASN1(sig []byte) ([]byte, error) {
	if len(sig) != SignatureSize {
		return nil, fmt.Errorf("crypto: ecdsa: invalid raw signature length %d", len(sig))
	}
	r := new(big.Int).SetBytes(sig[:GroupSize])
	s := new(big.Int).SetBytes(sig[GroupSize:])
	if !inScalarRange(r) || !inScalarRange(s) {
		return nil, errors.New("crypto: ecdsa: signature value out of range")
	}
	der, err := asn1.Marshal(ecdsaSignature{r, s})
	if err != nil {
		return nil, fmt.Errorf("crypto: ecdsa: %w", err)
	}
	return der, nil
}

// SignatureFromASN1 converts a DER Ecdsa-Sig-Value into the raw r ‖ s form.
// It accepts only the canonical DER encoding, with no trailing data, of
// values in [1, n-1].
func SignatureFromASN1(der []byte) ([]byte, error) {
	var sig ecdsaSignature
	rest, err := asn1.Unmarshal(der, &sig)
	if err != nil {
		return nil, fmt.Errorf("crypto: ecdsa: malformed signature: %w", err)
	}
	if len(rest) != 0 {
		return nil, errors.New("crypto: ecdsa: trailing data after signature")
	}
	if !inScalarRange(sig.R) || !inScalarRange(sig.S) {
		return nil, errors.New("crypto: ecdsa: signature value out of range")
	}
	// encoding/asn1 tolerates some departures from DER, such as extra
	// elements in the SEQUENCE. Accept only the canonical encoding.
	if canonical, err := asn1.Marshal(sig); err != nil || !bytes.Equal(canonical, der) {
		return nil, errors.New("crypto: ecdsa: signature is not DER")
	}
	out := make([]byte, SignatureSize)
	sig.R.FillBytes(out[:GroupSize])
	sig.S.FillBytes(out[GroupSize:])
	return out, nil
}

// inScalarRange reports whether 1 <= v < n. Signature values are public,
// so math/big is fine here.
func inScalarRange(v *big.Int) bool {
	return v.Sign() > 0 && v.Cmp(elliptic.P256().Params().N) < 0
}

// MarshalPublicKey returns the 65-octet uncompressed SEC 1 encoding of a
// P-256 public key, the form Matter uses everywhere a public key appears
// (CRYPTO_PUBLIC_KEY_SIZE_BYTES).
func MarshalPublicKey(pub *ecdsa.PublicKey) ([]byte, error) {
	if pub == nil || pub.Curve != elliptic.P256() {
		return nil, errors.New("crypto: ecdsa: key is not a P-256 key")
	}
	b, err := pub.Bytes()
	if err != nil {
		return nil, fmt.Errorf("crypto: ecdsa: %w", err)
	}
	return b, nil
}

// ParsePublicKey parses a 65-octet uncompressed SEC 1 P-256 public key,
// rejecting points that are not on the curve.
func ParsePublicKey(b []byte) (*ecdsa.PublicKey, error) {
	if len(b) != PointSize {
		return nil, fmt.Errorf("crypto: ecdsa: invalid public key length %d, want %d", len(b), PointSize)
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), b)
	if err != nil {
		return nil, fmt.Errorf("crypto: ecdsa: %w", err)
	}
	return pub, nil
}

// ECDH is Crypto_ECDH (§3.5): the shared secret of an ephemeral P-256
// key and the peer's 65-octet uncompressed public key, which is the
// 32-octet x-coordinate of the shared point (SEC 1 §3.3.1). Generate the
// ephemeral key with ecdh.P256().GenerateKey.
func ECDH(priv *ecdh.PrivateKey, peerPublicKey []byte) ([]byte, error) {
	if priv == nil || priv.Curve() != ecdh.P256() {
		return nil, errors.New("crypto: ecdh: key is not a P-256 key")
	}
	pub, err := ecdh.P256().NewPublicKey(peerPublicKey)
	if err != nil {
		return nil, fmt.Errorf("crypto: ecdh: invalid peer public key: %w", err)
	}
	secret, err := priv.ECDH(pub)
	if err != nil {
		return nil, fmt.Errorf("crypto: ecdh: %w", err)
	}
	return secret, nil
}
