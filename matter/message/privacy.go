package message

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
)

// Privacy sizes and labels (§4.9).
const (
	// PrivacyKeySize is the size of a privacy key
	// (CRYPTO_SYMMETRIC_KEY_LENGTH_BYTES).
	PrivacyKeySize = 16

	// privacyInfo is the KDF info of the privacy key (§4.9.1).
	privacyInfo = "PrivacyKey"

	// privacyMICOffset is where the part of the MIC that goes into the
	// privacy nonce starts: the nonce takes the last
	// CRYPTO_AEAD_MIC_LENGTH_BYTES-5 = 11 octets (§4.9.2).
	privacyMICOffset = 5
)

// DerivePrivacyKey derives the privacy key of an encryption key (§4.9.1):
//
//	PrivacyKey = Crypto_KDF(InputKey = EncryptionKey, Salt = [],
//	                        Info = "PrivacyKey", Length = 128 bits)
//
// with Crypto_KDF being HKDF-SHA256 (§3.8). For a group, the encryption key
// is the operational group key.
func DerivePrivacyKey(encryptionKey []byte) ([]byte, error) {
	k, err := hkdf.Key(sha256.New, encryptionKey, nil, privacyInfo, PrivacyKeySize)
	if err != nil {
		return nil, fmt.Errorf("message: deriving privacy key: %w", err)
	}
	return k, nil
}

// PrivacyNonce returns the privacy nonce of a message (§4.9.2): the 16-bit
// Session ID in big-endian order followed by the last 11 octets of the
// 16-octet MIC.
func PrivacyNonce(sessionID uint16, mic []byte) (n [NonceSize]byte) {
	binary.BigEndian.PutUint16(n[:], sessionID)
	copy(n[2:], mic[privacyMICOffset:MICSize])
	return n
}

// Privacy obfuscates and deobfuscates message headers with one privacy key
// (§4.9.3, §4.9.4). It is safe for concurrent use.
type Privacy struct {
	block cipher.Block
}

// NewPrivacy returns the Privacy of an encryption key, deriving the
// privacy key with [DerivePrivacyKey].
func NewPrivacy(encryptionKey []byte) (*Privacy, error) {
	k, err := DerivePrivacyKey(encryptionKey)
	if err != nil {
		return nil, err
	}
	return NewPrivacyWithKey(k)
}

// NewPrivacyWithKey returns the Privacy of an already derived privacy key.
func NewPrivacyWithKey(privacyKey []byte) (*Privacy, error) {
	if len(privacyKey) != PrivacyKeySize {
		return nil, fmt.Errorf("message: privacy key is %d octets, want %d", len(privacyKey), PrivacyKeySize)
	}
	b, err := aes.NewCipher(privacyKey)
	if err != nil {
		return nil, fmt.Errorf("message: privacy key: %w", err)
	}
	return &Privacy{block: b}, nil
}

// Obfuscate applies privacy to a sealed message in place (§4.9.3): it
// encrypts the Message Counter, Source Node ID and Destination Node ID
// with Crypto_Privacy_Encrypt under the privacy nonce built from the
// Session ID and the MIC. The message must end with its MIC; the P flag
// is expected to be set already, since it is part of the authenticated
// header. Message Extensions are not obfuscated.
//
// [Seal] calls Obfuscate itself when the header has the P flag.
func (p *Privacy) Obfuscate(msg []byte) error {
	return p.xorHeader(msg)
}

// Deobfuscate reverses [Privacy.Obfuscate] in place (§4.9.4). It cannot
// tell a wrong key from a right one: only the MIC check of [Open] can.
func (p *Privacy) Deobfuscate(msg []byte) error {
	return p.xorHeader(msg)
}

func (p *Privacy) xorHeader(msg []byte) error {
	var h Header
	n, err := h.Decode(msg)
	if err != nil {
		return err
	}
	if h.IsUnsecured() {
		return fmt.Errorf("%w: no privacy on the unsecured session", ErrUnsecured)
	}
	if len(msg)-n < MICSize {
		return fmt.Errorf("%w: no room for a MIC after %d header octets", ErrTruncated, n)
	}
	s := getScratch()
	p.xor(s, msg[privacyOffset:privacyOffset+h.privacyLen()], h.SessionID, msg[len(msg)-MICSize:])
	putScratch(s)
	return nil
}

// xor XORs region with the Crypto_Privacy_Encrypt key stream of the
// privacy nonce of (sessionID, mic).
//
// Crypto_Privacy_Encrypt is AES-CTR with the counter blocks of CCM
// (Core §3.7; NIST SP 800-38C §A.3 with a 13-octet nonce, so q = 2):
// block i is 0x01 ‖ N ‖ i as a 16-bit big-endian integer, and the key stream
// starts at i = 1, exactly as CCM encryption of the same plaintext under
// the same nonce would. The region is at most 20 octets, so two blocks.
func (p *Privacy) xor(s *scratch, region []byte, sessionID uint16, mic []byte) {
	s.block[0] = 0x01 // flags: L' = q-1 = 1
	binary.BigEndian.PutUint16(s.block[1:], sessionID)
	copy(s.block[3:1+NonceSize], mic[privacyMICOffset:MICSize])
	for i := 0; len(region) > 0; i++ {
		binary.BigEndian.PutUint16(s.block[1+NonceSize:], uint16(i+1))
		p.block.Encrypt(s.ks[:], s.block[:])
		k := subtleXOR(region, s.ks[:])
		region = region[k:]
	}
}

// subtleXOR XORs min(len(dst), len(ks)) octets of ks into dst and returns
// that count.
func subtleXOR(dst, ks []byte) int {
	n := min(len(dst), len(ks))
	for i := range n {
		dst[i] ^= ks[i]
	}
	return n
}
