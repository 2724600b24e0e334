package crypto

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Sizes of the CASE inputs to the key derivations of §4.14.2.
const (
	// SigmaRandomSize is the size of the initiator and responder randoms
	// carried in Sigma1 and Sigma2.
	SigmaRandomSize = 32
	// ResumptionIDSize is the size of a CASE resumption ID.
	ResumptionIDSize = 16
	// CompressedFabricIDSize is the size of a compressed fabric identifier.
	CompressedFabricIDSize = 8
)

// The 13-octet AEAD nonces of CASE (§4.14.2). Use them as []byte(NonceSigma2).
const (
	NonceSigma2       = "NCASE_Sigma2N" // TBEData2 of Sigma2
	NonceSigma3       = "NCASE_Sigma3N" // TBEData3 of Sigma3
	NonceSigma1Resume = "NCASE_SigmaS1" // initiatorResumeMIC of Sigma1
	NonceSigma2Resume = "NCASE_SigmaS2" // sigma2ResumeMIC of Sigma2_Resume
)

// The Crypto_KDF info strings of the secure channel.
const (
	infoSessionKeys           = "SessionKeys"
	infoSessionResumptionKeys = "SessionResumptionKeys"
	infoSigma2                = "Sigma2"
	infoSigma3                = "Sigma3"
	infoSigma1Resume          = "Sigma1_Resume"
	infoSigma2Resume          = "Sigma2_Resume"
	infoCompressedFabric      = "CompressedFabric"
	infoGroupKey              = "GroupKey v1.0"
	infoGroupKeyHash          = "GroupKeyHash"
)

// SessionKeys are the keys of a secure unicast session, in the order the
// key derivation produces them.
type SessionKeys struct {
	// I2RKey encrypts messages from the session initiator to the responder.
	I2RKey [SymmetricKeySize]byte
	// R2IKey encrypts messages from the responder to the initiator.
	R2IKey [SymmetricKeySize]byte
	// AttestationChallenge binds device attestation to the session.
	AttestationChallenge [SymmetricKeySize]byte
}

func deriveSessionKeys(secret, salt []byte, info string) (SessionKeys, error) {
	var k SessionKeys
	okm, err := HKDF(secret, salt, []byte(info), 3*SymmetricKeySize)
	if err != nil {
		return k, err
	}
	copy(k.I2RKey[:], okm[0:16])
	copy(k.R2IKey[:], okm[16:32])
	copy(k.AttestationChallenge[:], okm[32:48])
	clear(okm)
	return k, nil
}

// DerivePASESessionKeys derives the keys of a PASE session from the SPAKE2+
// shared secret Ke (§4.14.1):
//
//	I2RKey ‖ R2IKey ‖ AttestationChallenge = Crypto_KDF(Ke, [], "SessionKeys", 3 × 128)
func DerivePASESessionKeys(ke []byte) (SessionKeys, error) {
	if len(ke) != SharedKeySize {
		return SessionKeys{}, fmt.Errorf("crypto: pase: invalid Ke length %d, want %d", len(ke), SharedKeySize)
	}
	k, err := deriveSessionKeys(ke, nil, infoSessionKeys)
	if err != nil {
		return k, fmt.Errorf("crypto: pase: %w", err)
	}
	return k, nil
}

// DeriveSigma2Key derives S2K, the key of TBEData2 in Sigma2 (§4.14.2):
//
//	S2K = Crypto_KDF(SharedSecret, IPK ‖ ResponderRandom ‖
//	                 ResponderEphPubKey ‖ Crypto_Hash(Sigma1), "Sigma2", 128)
//
// sharedSecret is the ECDH secret, ipk the operational IPK,
// responderEphPubKey the 65-octet ephemeral public key and sigma1Hash the
// hash of the Sigma1 message as sent.
func DeriveSigma2Key(sharedSecret, ipk, responderRandom, responderEphPubKey, sigma1Hash []byte) ([]byte, error) {
	if err := checkLengths("case", sharedSecret, ipk, sigma1Hash); err != nil {
		return nil, err
	}
	if len(responderRandom) != SigmaRandomSize {
		return nil, fmt.Errorf("crypto: case: invalid responder random length %d", len(responderRandom))
	}
	if len(responderEphPubKey) != PointSize {
		return nil, fmt.Errorf("crypto: case: invalid responder ephemeral key length %d", len(responderEphPubKey))
	}
	salt := concat(ipk, responderRandom, responderEphPubKey, sigma1Hash)
	k, err := HKDF(sharedSecret, salt, []byte(infoSigma2), SymmetricKeySize)
	if err != nil {
		return nil, fmt.Errorf("crypto: case: %w", err)
	}
	return k, nil
}

// DeriveSigma3Key derives S3K, the key of TBEData3 in Sigma3 (§4.14.2):
//
//	S3K = Crypto_KDF(SharedSecret, IPK ‖ Crypto_Hash(Sigma1 ‖ Sigma2), "Sigma3", 128)
func DeriveSigma3Key(sharedSecret, ipk, transcriptHash []byte) ([]byte, error) {
	if err := checkLengths("case", sharedSecret, ipk, transcriptHash); err != nil {
		return nil, err
	}
	k, err := HKDF(sharedSecret, concat(ipk, transcriptHash), []byte(infoSigma3), SymmetricKeySize)
	if err != nil {
		return nil, fmt.Errorf("crypto: case: %w", err)
	}
	return k, nil
}

// DeriveCASESessionKeys derives the keys of a CASE session (§4.14.2):
//
//	I2RKey ‖ R2IKey ‖ AttestationChallenge = Crypto_KDF(SharedSecret,
//	    IPK ‖ Crypto_Hash(Sigma1 ‖ Sigma2 ‖ Sigma3), "SessionKeys", 3 × 128)
func DeriveCASESessionKeys(sharedSecret, ipk, transcriptHash []byte) (SessionKeys, error) {
	if err := checkLengths("case", sharedSecret, ipk, transcriptHash); err != nil {
		return SessionKeys{}, err
	}
	k, err := deriveSessionKeys(sharedSecret, concat(ipk, transcriptHash), infoSessionKeys)
	if err != nil {
		return k, fmt.Errorf("crypto: case: %w", err)
	}
	return k, nil
}

// DeriveSigma1ResumeKey derives S1RK, the key whose empty-plaintext AEAD
// tag under NonceSigma1Resume is the initiatorResumeMIC of Sigma1
// (§4.14.2, session resumption):
//
//	S1RK = Crypto_KDF(SharedSecret, InitiatorRandom ‖ ResumptionID, "Sigma1_Resume", 128)
//
// resumptionID is the ID of the session being resumed, as sent in Sigma1.
func DeriveSigma1ResumeKey(sharedSecret, initiatorRandom, resumptionID []byte) ([]byte, error) {
	return deriveResumeKey(sharedSecret, initiatorRandom, resumptionID, infoSigma1Resume)
}

// DeriveSigma2ResumeKey derives S2RK, the key whose empty-plaintext AEAD
// tag under NonceSigma2Resume is the sigma2ResumeMIC of Sigma2_Resume:
//
//	S2RK = Crypto_KDF(SharedSecret, InitiatorRandom ‖ ResumptionID, "Sigma2_Resume", 128)
//
// resumptionID is the new ID the responder sends in Sigma2_Resume.
func DeriveSigma2ResumeKey(sharedSecret, initiatorRandom, resumptionID []byte) ([]byte, error) {
	return deriveResumeKey(sharedSecret, initiatorRandom, resumptionID, infoSigma2Resume)
}

func deriveResumeKey(sharedSecret, initiatorRandom, resumptionID []byte, info string) ([]byte, error) {
	if err := checkResumptionInputs(sharedSecret, initiatorRandom, resumptionID); err != nil {
		return nil, err
	}
	k, err := HKDF(sharedSecret, concat(initiatorRandom, resumptionID), []byte(info), SymmetricKeySize)
	if err != nil {
		return nil, fmt.Errorf("crypto: case: %w", err)
	}
	return k, nil
}

// DeriveCASEResumptionSessionKeys derives the keys of a resumed CASE
// session (§4.14.2, session resumption):
//
//	I2RKey ‖ R2IKey ‖ AttestationChallenge = Crypto_KDF(SharedSecret,
//	    InitiatorRandom ‖ ResumptionID, "SessionResumptionKeys", 3 × 128)
//
// sharedSecret is the one saved from the original session; resumptionID is
// the one sent in Sigma1.
func DeriveCASEResumptionSessionKeys(sharedSecret, initiatorRandom, resumptionID []byte) (SessionKeys, error) {
	if err := checkResumptionInputs(sharedSecret, initiatorRandom, resumptionID); err != nil {
		return SessionKeys{}, err
	}
	k, err := deriveSessionKeys(sharedSecret, concat(initiatorRandom, resumptionID), infoSessionResumptionKeys)
	if err != nil {
		return k, fmt.Errorf("crypto: case: %w", err)
	}
	return k, nil
}

func checkResumptionInputs(sharedSecret, initiatorRandom, resumptionID []byte) error {
	if len(sharedSecret) != GroupSize {
		return fmt.Errorf("crypto: case: invalid shared secret length %d", len(sharedSecret))
	}
	if len(initiatorRandom) != SigmaRandomSize {
		return fmt.Errorf("crypto: case: invalid initiator random length %d", len(initiatorRandom))
	}
	if len(resumptionID) != ResumptionIDSize {
		return fmt.Errorf("crypto: case: invalid resumption ID length %d", len(resumptionID))
	}
	return nil
}

// checkLengths validates the (shared secret, IPK, hash) triple common to the
// CASE derivations.
func checkLengths(layer string, sharedSecret, ipk, hash []byte) error {
	switch {
	case len(sharedSecret) != GroupSize:
		return fmt.Errorf("crypto: %s: invalid shared secret length %d", layer, len(sharedSecret))
	case len(ipk) != SymmetricKeySize:
		return fmt.Errorf("crypto: %s: invalid IPK length %d", layer, len(ipk))
	case len(hash) != HashSize:
		return fmt.Errorf("crypto: %s: invalid transcript hash length %d", layer, len(hash))
	}
	return nil
}

// CompressedFabricID computes the compressed fabric identifier (§4.3.2.2)
// that names a fabric in operational discovery:
//
//	CompressedFabricIdentifier = Crypto_KDF(RootPublicKey without its 0x04
//	    prefix (64 octets), FabricID as 8 octets big-endian, "CompressedFabric", 64)
//
// rootPublicKey is the 65-octet uncompressed public key of the fabric's root
// CA.
func CompressedFabricID(rootPublicKey []byte, fabricID uint64) ([CompressedFabricIDSize]byte, error) {
	var id [CompressedFabricIDSize]byte
	if _, err := ParsePublicKey(rootPublicKey); err != nil {
		return id, fmt.Errorf("crypto: compressed fabric ID: root public key: %w", err)
	}
	var salt [8]byte
	binary.BigEndian.PutUint64(salt[:], fabricID)
	out, err := HKDF(rootPublicKey[1:], salt[:], []byte(infoCompressedFabric), CompressedFabricIDSize)
	if err != nil {
		return id, fmt.Errorf("crypto: compressed fabric ID: %w", err)
	}
	copy(id[:], out)
	return id, nil
}

// DeriveOperationalGroupKey derives the operational key of an epoch key
// (§4.15, group key derivation):
//
//	OperationalGroupKey = Crypto_KDF(EpochKey, CompressedFabricIdentifier, "GroupKey v1.0", 128)
//
// The same derivation turns the IPK epoch key delivered by AddNOC into the
// operational IPK used by CASE.
func DeriveOperationalGroupKey(epochKey []byte, compressedFabricID [CompressedFabricIDSize]byte) ([]byte, error) {
	if len(epochKey) != SymmetricKeySize {
		return nil, fmt.Errorf("crypto: group key: invalid epoch key length %d", len(epochKey))
	}
	k, err := HKDF(epochKey, compressedFabricID[:], []byte(infoGroupKey), SymmetricKeySize)
	if err != nil {
		return nil, fmt.Errorf("crypto: group key: %w", err)
	}
	return k, nil
}

// DeriveGroupSessionID derives the group session ID of an operational group
// key (§4.15, group key hash):
//
//	GroupKeyHash = Crypto_KDF(OperationalGroupKey, [], "GroupKeyHash", 16)
//
// read as a big-endian 16-bit integer.
func DeriveGroupSessionID(operationalGroupKey []byte) (uint16, error) {
	if len(operationalGroupKey) != SymmetricKeySize {
		return 0, errors.New("crypto: group key: invalid operational key length")
	}
	h, err := HKDF(operationalGroupKey, nil, []byte(infoGroupKeyHash), 2)
	if err != nil {
		return 0, fmt.Errorf("crypto: group key: %w", err)
	}
	return binary.BigEndian.Uint16(h), nil
}

func concat(parts ...[]byte) []byte {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	out := make([]byte, 0, n)
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}
