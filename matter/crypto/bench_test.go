package crypto

import (
	"crypto/rand"
	"testing"
)

func benchSPAKE2PInputs(b *testing.B) (w0, w1 []byte, pv *PasscodeVerifier) {
	b.Helper()
	w0, w1 = unhex(b, draft01W0), unhex(b, draft01W1)
	pv = &PasscodeVerifier{W0: [GroupSize]byte(w0), L: [PointSize]byte(unhex(b, draft01L))}
	return w0, w1, pv
}

// BenchmarkSPAKE2PExchange is a whole PASE SPAKE2+ exchange: both roles,
// from the first share to both confirmations (PBKDF excluded).
func BenchmarkSPAKE2PExchange(b *testing.B) {
	w0, w1, pv := benchSPAKE2PInputs(b)
	context := make([]byte, HashSize)
	for b.Loop() {
		prover, pA, err := NewProver(context, nil, nil, w0, w1)
		if err != nil {
			b.Fatal(err)
		}
		verifier, pB, cB, err := NewVerifier(context, nil, nil, pv, pA)
		if err != nil {
			b.Fatal(err)
		}
		cA, _, err := prover.Finish(pB, cB)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := verifier.Finish(cA); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSPAKE2PProver is the commissioner's share of the exchange.
func BenchmarkSPAKE2PProver(b *testing.B) {
	w0, w1, pv := benchSPAKE2PInputs(b)
	context := make([]byte, HashSize)
	for b.Loop() {
		prover, pA, err := NewProver(context, nil, nil, w0, w1)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		_, pB, cB, err := NewVerifier(context, nil, nil, pv, pA)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, _, err := prover.Finish(pB, cB); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSPAKE2PVerifier is the device's share of the exchange.
func BenchmarkSPAKE2PVerifier(b *testing.B) {
	w0, w1, pv := benchSPAKE2PInputs(b)
	context := make([]byte, HashSize)
	for b.Loop() {
		b.StopTimer()
		prover, pA, err := NewProver(context, nil, nil, w0, w1)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		verifier, pB, cB, err := NewVerifier(context, nil, nil, pv, pA)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		cA, _, err := prover.Finish(pB, cB)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := verifier.Finish(cA); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkComputePasscodeVerifier is the PBKDF2 cost at the minimum
// iteration count, paid once per commissioning window.
func BenchmarkComputePasscodeVerifier(b *testing.B) {
	salt := []byte(specSalt)
	for b.Loop() {
		if _, err := ComputePasscodeVerifier(specPasscode, salt, PBKDFMinIterations); err != nil {
			b.Fatal(err)
		}
	}
}

func benchCCM(b *testing.B, open bool) {
	aead, err := NewCCM(make([]byte, SymmetricKeySize))
	if err != nil {
		b.Fatal(err)
	}
	nonce := make([]byte, AEADNonceSize)
	aad := make([]byte, 8) // a minimal message header
	pt := make([]byte, 1024)
	sealed := aead.Seal(nil, nonce, pt, aad)
	buf := make([]byte, 0, len(sealed))
	b.SetBytes(int64(len(pt)))
	b.ReportAllocs()
	if open {
		for b.Loop() {
			if _, err := aead.Open(buf, nonce, sealed, aad); err != nil {
				b.Fatal(err)
			}
		}
		return
	}
	for b.Loop() {
		aead.Seal(buf, nonce, pt, aad)
	}
}

func BenchmarkCCMSeal1K(b *testing.B) { benchCCM(b, false) }
func BenchmarkCCMOpen1K(b *testing.B) { benchCCM(b, true) }

func BenchmarkSign(b *testing.B) {
	priv, err := GenerateKey()
	if err != nil {
		b.Fatal(err)
	}
	msg := make([]byte, 256)
	rand.Read(msg)
	for b.Loop() {
		if _, err := Sign(priv, msg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	priv, err := GenerateKey()
	if err != nil {
		b.Fatal(err)
	}
	msg := make([]byte, 256)
	rand.Read(msg)
	sig, err := Sign(priv, msg)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if !Verify(&priv.PublicKey, msg, sig) {
			b.Fatal("verification failed")
		}
	}
}
