// Package crypto implements the cryptographic primitives of Matter, as
// specified in chapter 3 ("Cryptographic Primitives") of the Matter Core
// Specification, together with the key derivations of the secure channel
// (chapter 4) that are built directly on them.
//
// Matter has no cryptosuite negotiation: version 1.0 of the message format
// fixes one suite, and this package implements exactly that suite.
//
//   - Crypto_Hash (§3.3): SHA-256, see [Hash].
//   - Crypto_HMAC (§3.4): HMAC-SHA256, see [HMAC].
//   - Crypto_Sign / Crypto_Verify (§3.5): ECDSA over P-256 with SHA-256,
//     with signatures in the raw 64-octet r‖s form, see [Sign] and [Verify].
//   - Crypto_ECDH (§3.5): ECDH over P-256, see [ECDH].
//   - Crypto_AEAD_GenerateEncrypt / Crypto_AEAD_DecryptVerify (§3.6):
//     AES-CCM with a 128-bit key, a 13-octet nonce and a 16-octet tag, see
//     [NewCCM].
//   - Crypto_Privacy_Encrypt / Crypto_Privacy_Decrypt (§3.7): AES-CTR with
//     the CCM counter-block layout, see [PrivacyEncrypt].
//   - Crypto_KDF (§3.8): HKDF-SHA256, see [HKDF].
//   - Crypto_PBKDF (§3.9): PBKDF2-HMAC-SHA256, see [PBKDF2].
//   - SPAKE2+ (§3.10): the P256-SHA256-HKDF-HMAC ciphersuite with Matter's
//     key schedule, see [NewProver] and [NewVerifier].
//
// The key derivations used by PASE, CASE, session resumption, operational
// groups and message privacy live alongside, so that the protocol layers
// never handle an info string or a salt layout themselves.
//
// Section numbers follow the Matter Core Specification 1.3. Primitives are
// also named by their specification names (Crypto_KDF and so on), which are
// stable across versions.
//
// Everything is built on the Go standard library (crypto/aes, crypto/ecdsa,
// crypto/ecdh, crypto/hkdf, crypto/hmac, crypto/pbkdf2, crypto/sha256) and on
// filippo.io/nistec for the raw P-256 group arithmetic SPAKE2+ needs. The only
// construction implemented here is the CCM mode itself, which the standard
// library does not provide.
package crypto
