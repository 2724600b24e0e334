package crypto

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
)

// MessageNonce sets dst to the AEAD nonce of a secured message (§4.8.1.1):
//
//	Security Flags (1 octet) ‖ Message Counter (4 octets, little-endian) ‖
//	Source Node ID (8 octets, little-endian)
//
// For unicast sessions the source node ID is that of the sender as recorded
// in the session (zero for PASE), whether or not it is carried in the header.
func MessageNonce(dst *[AEADNonceSize]byte, securityFlags uint8, counter uint32, sourceNodeID uint64) {
	dst[0] = securityFlags
	binary.LittleEndian.PutUint32(dst[1:5], counter)
	binary.LittleEndian.PutUint64(dst[5:13], sourceNodeID)
}

// PrivacyNonce sets dst to the nonce of message privacy processing (§4.9.3):
//
//	Session ID (2 octets, big-endian) ‖ MIC[5..15] (the last 11 octets of
//	the message's 16-octet AEAD tag)
//
// It returns an error if mic is not AEADTagSize octets long.
func PrivacyNonce(dst *[AEADNonceSize]byte, sessionID uint16, mic []byte) error {
	if len(mic) != AEADTagSize {
		return fmt.Errorf("crypto: privacy: invalid MIC length %d, want %d", len(mic), AEADTagSize)
	}
	binary.BigEndian.PutUint16(dst[0:2], sessionID)
	copy(dst[2:], mic[AEADTagSize-11:])
	return nil
}

// privacyKeyInfo is the Crypto_KDF info of the privacy key (§4.9).
const privacyKeyInfo = "PrivacyKey"

// DerivePrivacyKey derives the 16-octet privacy key that goes with a message
// encryption key, be it a session key or an operational group key (§4.9):
//
//	PrivacyKey = Crypto_KDF(EncryptionKey, [], "PrivacyKey", 128)
func DerivePrivacyKey(encryptionKey []byte) ([]byte, error) {
	if len(encryptionKey) != SymmetricKeySize {
		return nil, fmt.Errorf("crypto: privacy: invalid encryption key length %d", len(encryptionKey))
	}
	return HKDF(encryptionKey, nil, []byte(privacyKeyInfo), SymmetricKeySize)
}

// maxPrivacyLength is the longest input of the privacy cipher: the counter
// occupies the two octets after the nonce and starts at 1.
const maxPrivacyLength = (1<<16 - 1) * aes.BlockSize

// PrivacyEncrypt is Crypto_Privacy_Encrypt (§3.7): AES-128-CTR under the
// privacy key, with counter blocks laid out as for CCM with a 13-octet nonce
// (RFC 3610 §2.3): flags 0x01 ‖ nonce ‖ 16-bit counter starting at 1. That is
// the key stream CCM would use to encrypt a payload under the same nonce.
//
// It XORs src with the key stream into dst, which must be at least as long
// as src and may alias src exactly. Privacy encryption adds no integrity: the
// obfuscated header fields are already authenticated by the message MIC.
func PrivacyEncrypt(privacyKey []byte, nonce *[AEADNonceSize]byte, dst, src []byte) error {
	if len(privacyKey) != SymmetricKeySize {
		return fmt.Errorf("crypto: privacy: invalid key length %d", len(privacyKey))
	}
	if len(dst) < len(src) {
		return errors.New("crypto: privacy: output smaller than input")
	}
	if len(src) > maxPrivacyLength {
		return errors.New("crypto: privacy: input too long")
	}
	dst = dst[:len(src)]
	if inexactOverlap(dst, src) {
		return errors.New("crypto: privacy: invalid buffer overlap")
	}
	block, err := aes.NewCipher(privacyKey)
	if err != nil {
		return fmt.Errorf("crypto: privacy: %w", err)
	}
	var iv [aes.BlockSize]byte
	iv[0] = 2 - 1 // L - 1, with L = 15 - 13
	copy(iv[1:], nonce[:])
	iv[aes.BlockSize-1] = 1
	cipher.NewCTR(block, iv[:]).XORKeyStream(dst, src)
	return nil
}

// PrivacyDecrypt is Crypto_Privacy_Decrypt (§3.7). CTR mode is its own
// inverse, so it is the same operation as PrivacyEncrypt.
func PrivacyDecrypt(privacyKey []byte, nonce *[AEADNonceSize]byte, dst, src []byte) error {
	return PrivacyEncrypt(privacyKey, nonce, dst, src)
}
