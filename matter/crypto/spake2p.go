package crypto

import (
	"crypto/ecdh"
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"

	"filippo.io/nistec"
)

// SPAKE2+ (§3.10) with the P256-SHA256-HKDF-HMAC ciphersuite.
//
// Matter adopted SPAKE2+ from draft-bar-cfrg-spake2plus-01/-02 and kept that
// draft's key schedule when the draft later became RFC 9383:
//
//	Matter (§3.10):                      RFC 9383 §3.4:
//	Ka ‖ Ke   = Hash(TT)                 K_main = Hash(TT)
//	KcA ‖ KcB = KDF(Ka, [],              K_confirmP ‖ K_confirmV =
//	      "ConfirmationKeys", 256 bits)      KDF(nil, K_main, "ConfirmationKeys")
//	cA = HMAC(KcA, pB)                   K_shared = KDF(nil, K_main, "SharedKey")
//	cB = HMAC(KcB, pA)                   confirmP = MAC(K_confirmP, shareV) …
//	shared secret: Ke (16 octets)        shared secret: K_shared (32 octets)
//
// The group operations, the constants M and N and the transcript TT are the
// same in both. The exported API implements Matter's schedule; the RFC 9383
// schedule exists internally so that RFC 9383 Appendix C can check the group
// arithmetic and the transcript.

// Sizes of the SPAKE2+ values exchanged by PASE.
const (
	// PointSize is CRYPTO_PUBLIC_KEY_SIZE_BYTES: an uncompressed SEC 1
	// P-256 point, the encoding of pA, pB and L.
	PointSize = 65
	// PasscodeVerifierSize is the size of a serialized PasscodeVerifier,
	// w0 ‖ L.
	PasscodeVerifierSize = GroupSize + PointSize
	// ConfirmationSize is the size of the key confirmation values cA and
	// cB (CRYPTO_HASH_LEN_BYTES).
	ConfirmationSize = HashSize
	// SharedKeySize is the size of Ke, the secret PASE derives its session
	// keys from.
	SharedKeySize = HashSize / 2

	// spake2pWSize is CRYPTO_W_SIZE_BYTES: each half of the PBKDF output
	// is reduced mod n from CRYPTO_GROUP_SIZE_BYTES + 8 octets, which keeps
	// the bias below 2^-64 (RFC 9383 §3.2).
	spake2pWSize = GroupSize + 8
)

// ErrConfirmationFailed is returned when the peer's SPAKE2+ key confirmation
// value does not match: the peer does not know the passcode, or the exchange
// was tampered with.
var ErrConfirmationFailed = errors.New("crypto: spake2p: key confirmation failed")

// The SPAKE2+ constants for P-256 (RFC 9383 §4, reused by §3.10), generated
// from the seeds "1.2.840.10045.3.1.7 point generation seed (M)" and "(N)".
var (
	spake2pM, spake2pMBytes = mustDecodePoint("02886e2f97ace46e55ba9dd7242579f2993b64e16ef3dcab95afd497333d8fa12f")
	spake2pN, spake2pNBytes = mustDecodePoint("03d8bbd6c639c62937b04d997f38c3770719c629d7014d49a24b4f98baa1292b49")
)

// mustDecodePoint decodes a compile-time constant point and returns it with
// its uncompressed encoding, which is how M and N appear in TT.
func mustDecodePoint(s string) (*nistec.P256Point, []byte) {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic("crypto: bad SPAKE2+ constant: " + err.Error())
	}
	p, err := nistec.NewP256Point().SetBytes(b)
	if err != nil {
		panic("crypto: bad SPAKE2+ constant: " + err.Error())
	}
	return p, p.Bytes()
}

// ValidPasscode reports whether passcode may be used as a setup passcode
// (§5.1.7.1): it must lie in 00000001 to 99999998 and must not be one of
// the trivial values 00000000, 11111111, …, 99999999, 12345678, 87654321.
func ValidPasscode(passcode uint32) bool {
	switch passcode {
	case 11111111, 22222222, 33333333, 44444444, 55555555,
		66666666, 77777777, 88888888, 12345678, 87654321:
		return false
	}
	return passcode >= 1 && passcode <= 99999998
}

// ComputeW0W1 computes the prover's (commissioner's) secrets from the
// passcode and the PBKDF parameters announced by the device (§3.10,
// Crypto_PAKEValues_Initiator):
//
//	w0s ‖ w1s = Crypto_PBKDF(passcode, salt, iterations, 2 × 40 octets)
//	w0 = w0s mod p,  w1 = w1s mod p
//
// where the passcode is encoded as 4 octets little-endian and p is the
// order of P-256. w0 and w1 are 32 octets, big-endian.
func ComputeW0W1(passcode uint32, salt []byte, iterations int) (w0, w1 []byte, err error) {
	var w0a, w1a [GroupSize]byte
	if err := computeW0W1(&w0a, &w1a, passcode, salt, iterations); err != nil {
		return nil, nil, err
	}
	return w0a[:], w1a[:], nil
}

func computeW0W1(w0, w1 *[GroupSize]byte, passcode uint32, salt []byte, iterations int) error {
	if !ValidPasscode(passcode) {
		return errors.New("crypto: spake2p: invalid passcode")
	}
	var pw [4]byte
	binary.LittleEndian.PutUint32(pw[:], passcode)
	ws, err := PBKDF2(pw[:], salt, iterations, 2*spake2pWSize)
	if err != nil {
		return fmt.Errorf("crypto: spake2p: %w", err)
	}
	reduceScalar(w0, ws[:spake2pWSize])
	reduceScalar(w1, ws[spake2pWSize:])
	clear(ws)
	return nil
}

// PasscodeVerifier is what a device stores instead of its passcode: w0 and
// L = w1·P (§3.10, Crypto_PAKEValues_Responder). It is serialized as
// w0 ‖ L, 97 octets, as in factory data and in the PAKEPasscodeVerifier
// field of OpenCommissioningWindow.
type PasscodeVerifier struct {
	W0 [GroupSize]byte // big-endian scalar, below the group order
	L  [PointSize]byte // uncompressed SEC 1 point
}

// ComputePasscodeVerifier computes the verifier a device stores for a
// passcode and its PBKDF parameters.
func ComputePasscodeVerifier(passcode uint32, salt []byte, iterations int) (*PasscodeVerifier, error) {
	var w1 [GroupSize]byte
	v := new(PasscodeVerifier)
	if err := computeW0W1(&v.W0, &w1, passcode, salt, iterations); err != nil {
		return nil, err
	}
	defer clear(w1[:])
	if scalarIsZero(&w1) == 1 {
		return nil, errors.New("crypto: spake2p: w1 is zero")
	}
	l, err := nistec.NewP256Point().ScalarBaseMult(w1[:])
	if err != nil {
		return nil, fmt.Errorf("crypto: spake2p: %w", err)
	}
	copy(v.L[:], l.Bytes())
	return v, nil
}

// ParsePasscodeVerifier parses a serialized verifier, w0 ‖ L. It rejects
// a w0 that is not reduced and an L that is not a valid uncompressed point.
func ParsePasscodeVerifier(b []byte) (*PasscodeVerifier, error) {
	if len(b) != PasscodeVerifierSize {
		return nil, fmt.Errorf("crypto: spake2p: invalid verifier length %d, want %d", len(b), PasscodeVerifierSize)
	}
	v := new(PasscodeVerifier)
	copy(v.W0[:], b[:GroupSize])
	copy(v.L[:], b[GroupSize:])
	if err := v.check(); err != nil {
		return nil, err
	}
	return v, nil
}

func (v *PasscodeVerifier) check() error {
	if scalarIsCanonical(&v.W0) != 1 {
		return errors.New("crypto: spake2p: verifier w0 is not reduced")
	}
	if _, err := parsePoint(v.L[:]); err != nil {
		return fmt.Errorf("crypto: spake2p: verifier L: %w", err)
	}
	return nil
}

// Bytes returns the serialized verifier, w0 ‖ L.
func (v *PasscodeVerifier) Bytes() []byte {
	b := make([]byte, 0, PasscodeVerifierSize)
	b = append(b, v.W0[:]...)
	return append(b, v.L[:]...)
}

// pakeContextPrefix is the prefix of the PASE SPAKE2+ context; the "CHIP"
// predates the Matter name and is part of the protocol.
const pakeContextPrefix = "CHIP PAKE V1 Commissioning"

// PASEContext returns the SPAKE2+ Context of a PASE exchange (§3.10.3):
//
//	Context = Crypto_Hash("CHIP PAKE V1 Commissioning" ‖
//	                      PBKDFParamRequest ‖ PBKDFParamResponse)
//
// where the two messages are the TLV payloads as sent on the wire.
func PASEContext(pbkdfParamRequest, pbkdfParamResponse []byte) [HashSize]byte {
	h := make([]byte, 0, len(pakeContextPrefix)+len(pbkdfParamRequest)+len(pbkdfParamResponse))
	h = append(h, pakeContextPrefix...)
	h = append(h, pbkdfParamRequest...)
	h = append(h, pbkdfParamResponse...)
	return Hash(h)
}

// Prover is the SPAKE2+ prover: in PASE, the commissioner, which knows the
// passcode. A Prover is used for one exchange and is not safe for concurrent
// use.
type Prover struct {
	sched      spake2pSchedule
	context    []byte
	idProver   []byte
	idVerifier []byte
	w0, w1, x  [GroupSize]byte
	shareP     [PointSize]byte
	done       bool
}

// NewProver starts a SPAKE2+ exchange as the prover and returns the
// prover's share pA = x·P + w0·M (§3.10, Crypto_pA), to be sent in Pake1.
//
// context is the transcript context (for PASE, the value of PASEContext);
// idProver and idVerifier are the identities, empty in PASE. w0 and w1 are
// 32-octet reduced scalars as returned by ComputeW0W1.
func NewProver(context, idProver, idVerifier, w0, w1 []byte) (*Prover, []byte, error) {
	x, err := randomScalar()
	if err != nil {
		return nil, nil, err
	}
	defer clear(x)
	return newProver(scheduleMatter, context, idProver, idVerifier, w0, w1, x)
}

func newProver(sched spake2pSchedule, context, idProver, idVerifier, w0, w1, x []byte) (*Prover, []byte, error) {
	p := &Prover{
		sched:      sched,
		context:    clone(context),
		idProver:   clone(idProver),
		idVerifier: clone(idVerifier),
	}
	if err := loadScalar(&p.w0, w0, "w0"); err != nil {
		return nil, nil, err
	}
	if err := loadScalar(&p.w1, w1, "w1"); err != nil {
		return nil, nil, err
	}
	if err := loadScalar(&p.x, x, "x"); err != nil {
		return nil, nil, err
	}

	// pA = x·P + w0·M
	xP, err := nistec.NewP256Point().ScalarBaseMult(p.x[:])
	if err != nil {
		return nil, nil, fmt.Errorf("crypto: spake2p: %w", err)
	}
	w0M, err := nistec.NewP256Point().ScalarMult(spake2pM, p.w0[:])
	if err != nil {
		return nil, nil, fmt.Errorf("crypto: spake2p: %w", err)
	}
	shareP := xP.Add(xP, w0M)
	if shareP.IsInfinity() == 1 {
		return nil, nil, errors.New("crypto: spake2p: pA is the identity")
	}
	copy(p.shareP[:], shareP.Bytes())
	return p, clone(p.shareP[:]), nil
}

// Finish completes the exchange with the verifier's share pB and key
// confirmation cB (received in Pake2). It checks cB, and returns the
// prover's key confirmation cA, to be sent in Pake3, and the shared secret
// Ke from which PASE derives its session keys (DerivePASESessionKeys).
//
// An invalid pB is reported as an error; a wrong cB as ErrConfirmationFailed.
// Either way the Prover is spent and must not be reused.
func (p *Prover) Finish(pB, cB []byte) (cA, ke []byte, err error) {
	if p.done {
		return nil, nil, errors.New("crypto: spake2p: prover already finished")
	}
	p.done = true
	defer p.wipe()

	z, v, err := proverPoints(&p.w0, &p.w1, &p.x, pB)
	if err != nil {
		return nil, nil, err
	}
	tt := appendTranscript(nil, p.context, p.idProver, p.idVerifier, p.shareP[:], pB, z, v, p.w0[:])
	keys, err := p.sched.derive(tt)
	if err != nil {
		return nil, nil, err
	}
	defer keys.wipe()

	want := HMAC(keys.confirmV, p.shareP[:])
	if subtle.ConstantTimeCompare(want[:], cB) != 1 {
		return nil, nil, ErrConfirmationFailed
	}
	confirmP := HMAC(keys.confirmP, pB)
	return confirmP[:], clone(keys.shared), nil
}

func (p *Prover) wipe() {
	clear(p.w0[:])
	clear(p.w1[:])
	clear(p.x[:])
}

// Verifier is the SPAKE2+ verifier: in PASE, the commissionee, which holds
// a PasscodeVerifier. A Verifier is used for one exchange and is not safe
// for concurrent use.
type Verifier struct {
	confirmP [ConfirmationSize]byte // expected cA
	shared   []byte
	done     bool
}

// NewVerifier answers the prover's share pA (received in Pake1). It returns
// the verifier's share pB = y·P + w0·N (§3.10, Crypto_pB) and its key
// confirmation cB, both sent in Pake2. The Verifier then checks the prover's
// confirmation with Finish.
//
// context, idProver and idVerifier are as for NewProver. pA must be a
// 65-octet uncompressed point on P-256; anything else is an error.
func NewVerifier(context, idProver, idVerifier []byte, pv *PasscodeVerifier, pA []byte) (v *Verifier, pB, cB []byte, err error) {
	y, err := randomScalar()
	if err != nil {
		return nil, nil, nil, err
	}
	defer clear(y)
	return newVerifier(scheduleMatter, context, idProver, idVerifier, pv, pA, y)
}

func newVerifier(sched spake2pSchedule, context, idProver, idVerifier []byte, pv *PasscodeVerifier, pA, yIn []byte) (*Verifier, []byte, []byte, error) {
	if pv == nil {
		return nil, nil, nil, errors.New("crypto: spake2p: nil passcode verifier")
	}
	if err := pv.check(); err != nil {
		return nil, nil, nil, err
	}
	var y [GroupSize]byte
	if err := loadScalar(&y, yIn, "y"); err != nil {
		return nil, nil, nil, err
	}
	defer clear(y[:])
	pB, z, vv, err := verifierPoints(&pv.W0, &y, pv.L[:], pA)
	if err != nil {
		return nil, nil, nil, err
	}
	tt := appendTranscript(nil, context, idProver, idVerifier, pA, pB, z, vv, pv.W0[:])
	keys, err := sched.derive(tt)
	if err != nil {
		return nil, nil, nil, err
	}
	defer keys.wipe()

	v := &Verifier{
		confirmP: HMAC(keys.confirmP, pB),
		shared:   clone(keys.shared),
	}
	cB := HMAC(keys.confirmV, pA)
	return v, pB, cB[:], nil
}

// Finish checks the prover's key confirmation cA (received in Pake3) and
// returns the shared secret Ke. A wrong cA yields ErrConfirmationFailed.
// Either way the Verifier is spent and must not be reused.
func (v *Verifier) Finish(cA []byte) (ke []byte, err error) {
	if v.done {
		return nil, errors.New("crypto: spake2p: verifier already finished")
	}
	v.done = true
	ok := subtle.ConstantTimeCompare(v.confirmP[:], cA)
	ke, v.shared = v.shared, nil
	clear(v.confirmP[:])
	if ok != 1 {
		clear(ke)
		return nil, ErrConfirmationFailed
	}
	return ke, nil
}

// proverPoints computes the prover's Z = x·(pB − w0·N) and V = w1·(pB − w0·N)
// (§3.10, Crypto_PAKEValues_Initiator / Crypto_P2), rejecting a pB that is
// not a valid uncompressed point or that unblinds to the identity.
func proverPoints(w0, w1, x *[GroupSize]byte, pB []byte) (z, v []byte, err error) {
	shareV, err := parsePoint(pB)
	if err != nil {
		return nil, nil, fmt.Errorf("crypto: spake2p: invalid pB: %w", err)
	}
	w0N, err := nistec.NewP256Point().ScalarMult(spake2pN, w0[:])
	if err != nil {
		return nil, nil, fmt.Errorf("crypto: spake2p: %w", err)
	}
	unblinded := shareV.Add(shareV, w0N.Negate(w0N))
	if unblinded.IsInfinity() == 1 {
		return nil, nil, errors.New("crypto: spake2p: invalid pB: pB − w0·N is the identity")
	}
	zp, err := nistec.NewP256Point().ScalarMult(unblinded, x[:])
	if err != nil {
		return nil, nil, fmt.Errorf("crypto: spake2p: %w", err)
	}
	vp, err := nistec.NewP256Point().ScalarMult(unblinded, w1[:])
	if err != nil {
		return nil, nil, fmt.Errorf("crypto: spake2p: %w", err)
	}
	return zp.Bytes(), vp.Bytes(), nil
}

// verifierPoints computes the verifier's share pB = y·P + w0·N, and
// Z = y·(pA − w0·M) and V = y·L (§3.10, Crypto_pB / Crypto_P2), rejecting
// a pA that is not a valid uncompressed point or that unblinds to the
// identity.
func verifierPoints(w0, y *[GroupSize]byte, l, pA []byte) (pB, z, v []byte, err error) {
	lp, err := parsePoint(l)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("crypto: spake2p: verifier L: %w", err)
	}
	shareP, err := parsePoint(pA)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("crypto: spake2p: invalid pA: %w", err)
	}

	yP, err := nistec.NewP256Point().ScalarBaseMult(y[:])
	if err != nil {
		return nil, nil, nil, fmt.Errorf("crypto: spake2p: %w", err)
	}
	w0N, err := nistec.NewP256Point().ScalarMult(spake2pN, w0[:])
	if err != nil {
		return nil, nil, nil, fmt.Errorf("crypto: spake2p: %w", err)
	}
	shareV := yP.Add(yP, w0N)
	if shareV.IsInfinity() == 1 {
		return nil, nil, nil, errors.New("crypto: spake2p: pB is the identity")
	}

	w0M, err := nistec.NewP256Point().ScalarMult(spake2pM, w0[:])
	if err != nil {
		return nil, nil, nil, fmt.Errorf("crypto: spake2p: %w", err)
	}
	unblinded := shareP.Add(shareP, w0M.Negate(w0M))
	if unblinded.IsInfinity() == 1 {
		return nil, nil, nil, errors.New("crypto: spake2p: invalid pA: pA − w0·M is the identity")
	}
	zp, err := nistec.NewP256Point().ScalarMult(unblinded, y[:])
	if err != nil {
		return nil, nil, nil, fmt.Errorf("crypto: spake2p: %w", err)
	}
	vp, err := nistec.NewP256Point().ScalarMult(lp, y[:])
	if err != nil {
		return nil, nil, nil, fmt.Errorf("crypto: spake2p: %w", err)
	}
	return shareV.Bytes(), zp.Bytes(), vp.Bytes(), nil
}

// spake2pSchedule selects how the keys are derived from the transcript.
type spake2pSchedule int

const (
	// scheduleMatter is the schedule of §3.10 (Crypto_P2), inherited from
	// draft-bar-cfrg-spake2plus-01/-02.
	scheduleMatter spake2pSchedule = iota
	// scheduleRFC9383 is the schedule of RFC 9383 §3.4.
	scheduleRFC9383
)

// spake2pKeys are the outputs of the key schedule.
type spake2pKeys struct {
	main     [HashSize]byte // Hash(TT): Ka ‖ Ke, or K_main
	confirmP []byte         // KcA, or K_confirmP
	confirmV []byte         // KcB, or K_confirmV
	shared   []byte         // Ke, or K_shared
}

func (k *spake2pKeys) wipe() {
	clear(k.main[:])
	clear(k.confirmP)
	clear(k.confirmV)
	clear(k.shared)
}

func (s spake2pSchedule) derive(tt []byte) (spake2pKeys, error) {
	k := spake2pKeys{main: Hash(tt)}
	clear(tt)
	switch s {
	case scheduleMatter:
		// Ka ‖ Ke = Crypto_Hash(TT)
		// KcA ‖ KcB = Crypto_KDF(Ka, [], "ConfirmationKeys", CRYPTO_HASH_LEN_BITS)
		half := HashSize / 2
		kc, err := HKDF(k.main[:half], nil, []byte("ConfirmationKeys"), HashSize)
		if err != nil {
			return k, fmt.Errorf("crypto: spake2p: %w", err)
		}
		k.confirmP, k.confirmV = kc[:half], kc[half:]
		k.shared = clone(k.main[half:])
	case scheduleRFC9383:
		kc, err := HKDF(k.main[:], nil, []byte("ConfirmationKeys"), 2*HashSize)
		if err != nil {
			return k, fmt.Errorf("crypto: spake2p: %w", err)
		}
		k.confirmP, k.confirmV = kc[:HashSize], kc[HashSize:]
		if k.shared, err = HKDF(k.main[:], nil, []byte("SharedKey"), HashSize); err != nil {
			return k, fmt.Errorf("crypto: spake2p: %w", err)
		}
	default:
		return k, errors.New("crypto: spake2p: unknown key schedule")
	}
	return k, nil
}

// appendTranscript appends the transcript TT (§3.10.3, RFC 9383 §3.3) to b:
// every field prefixed with its length as 8 octets little-endian.
func appendTranscript(b, context, idProver, idVerifier, shareP, shareV, z, v, w0 []byte) []byte {
	fields := [...][]byte{context, idProver, idVerifier, spake2pMBytes, spake2pNBytes, shareP, shareV, z, v, w0}
	n := 0
	for _, f := range fields {
		n += 8 + len(f)
	}
	b = growCap(b, n)
	for _, f := range fields {
		b = binary.LittleEndian.AppendUint64(b, uint64(len(f)))
		b = append(b, f...)
	}
	return b
}

// parsePoint decodes a P-256 point that must be in the 65-octet
// uncompressed form (§3.10 fixes it for pA, pB and L). nistec rejects
// coordinates that are not reduced and points that are not on the curve;
// the identity has no uncompressed encoding.
func parsePoint(b []byte) (*nistec.P256Point, error) {
	if len(b) != PointSize || b[0] != 0x04 {
		return nil, errors.New("not an uncompressed P-256 point")
	}
	return nistec.NewP256Point().SetBytes(b)
}

// loadScalar copies a 32-octet scalar into dst, rejecting values that are
// not reduced mod n (or zero, for the ephemeral scalars that must not be).
func loadScalar(dst *[GroupSize]byte, s []byte, name string) error {
	if len(s) != GroupSize {
		return fmt.Errorf("crypto: spake2p: %s must be %d octets, got %d", name, GroupSize, len(s))
	}
	copy(dst[:], s)
	if scalarIsCanonical(dst) != 1 {
		clear(dst[:])
		return fmt.Errorf("crypto: spake2p: %s is not reduced mod the group order", name)
	}
	return nil
}

// randomScalar returns a uniformly random scalar in [1, n-1], drawn by
// crypto/ecdh's key generation (rejection sampling per FIPS 186-5).
func randomScalar() ([]byte, error) {
	k, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("crypto: spake2p: %w", err)
	}
	return k.Bytes(), nil
}

func clone(b []byte) []byte {
	return append([]byte(nil), b...)
}

func growCap(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b
	}
	nb := make([]byte, len(b), len(b)+n)
	copy(nb, b)
	return nb
}
