package crypto_test

import (
	"bytes"
	"fmt"
	"log"

	"github.com/mattercam/mattercam/matter/crypto"
)

// A complete PASE key agreement: the device holds only a verifier, the
// commissioner the passcode; both end up with the same session keys.
func Example_pase() {
	salt := []byte("SPAKE2P Key Salt")
	const passcode, iterations = 20202021, 1000

	// Device, at manufacturing time.
	pv, err := crypto.ComputePasscodeVerifier(passcode, salt, iterations)
	if err != nil {
		log.Fatal(err)
	}

	// Both sides hash the PBKDFParamRequest and PBKDFParamResponse they
	// exchanged into the SPAKE2+ context.
	context := crypto.PASEContext([]byte("<PBKDFParamRequest>"), []byte("<PBKDFParamResponse>"))

	// Commissioner: Pake1.
	w0, w1, err := crypto.ComputeW0W1(passcode, salt, iterations)
	if err != nil {
		log.Fatal(err)
	}
	prover, pA, err := crypto.NewProver(context[:], nil, nil, w0, w1)
	if err != nil {
		log.Fatal(err)
	}

	// Device: Pake2.
	verifier, pB, cB, err := crypto.NewVerifier(context[:], nil, nil, pv, pA)
	if err != nil {
		log.Fatal(err)
	}

	// Commissioner: Pake3.
	cA, commissionerKe, err := prover.Finish(pB, cB)
	if err != nil {
		log.Fatal(err)
	}

	// Device: PakeFinished.
	deviceKe, err := verifier.Finish(cA)
	if err != nil {
		log.Fatal(err)
	}

	commissionerKeys, _ := crypto.DerivePASESessionKeys(commissionerKe)
	deviceKeys, _ := crypto.DerivePASESessionKeys(deviceKe)
	fmt.Println(commissionerKeys == deviceKeys, bytes.Equal(commissionerKe, deviceKe))
	// Output: true true
}

// Sealing a message with the session key and the nonce of §4.8.1.1.
func ExampleNewCCM() {
	aead, err := crypto.NewCCM(make([]byte, crypto.SymmetricKeySize))
	if err != nil {
		log.Fatal(err)
	}
	header := []byte{0x00, 0xb8, 0x0b, 0x00, 0x39, 0x30, 0x00, 0x00}
	var nonce [crypto.AEADNonceSize]byte
	crypto.MessageNonce(&nonce, header[3], 0x3039, 0)

	msg := append(header, "payload"...)
	// Encrypt the payload in place, after the header, authenticating the
	// header as associated data.
	msg = aead.Seal(msg[:len(header)], nonce[:], msg[len(header):], header)
	fmt.Println(len(msg))

	plain, err := aead.Open(nil, nonce[:], msg[len(header):], header)
	fmt.Printf("%s %v\n", plain, err)
	// Output:
	// 31
	// payload <nil>
}
