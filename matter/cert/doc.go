// Package cert implements Matter certificates: the operational certificate
// chain (RCAC, ICAC, NOC) in its Matter TLV encoding and its X.509 DER form,
// chain validation, issuance, and the PKCS #10 requests a node sends for its
// NOC. It follows chapter 6 of the Matter Core Specification; section
// numbers are those of version 1.3.
//
// # Two encodings of one certificate
//
// A Matter certificate (§6.5) is an X.509 v3 certificate with everything
// Matter does not use removed, re-encoded in Matter TLV to save space. The
// signature is still the X.509 signature: it covers the DER TBSCertificate,
// not the TLV (§6.5.2). Checking it therefore means rebuilding, octet for
// octet, the DER the issuer signed. [Certificate] holds the fields of either
// form; [DecodeTLV] and [Certificate.EncodeTLV] convert from and to TLV,
// [FromX509] and [Certificate.X509DER] from and to DER, and
// [Certificate.TBSDER] gives the signed part.
//
// Everything in the DER that depends on an encoding choice of the issuer is
// either fixed by Matter or recorded in the TLV:
//
//   - Distinguished names keep their attribute order, and X.520 string
//     attributes record whether they were a UTF8String or a PrintableString
//     ([Attribute.Printable], TLV tag | 0x80). domainComponent is always an
//     IA5String. The Matter-specific attributes (§6.1.1) are UTF8Strings of
//     fixed-width uppercase hexadecimal: 16 digits for node, fabric, RCAC,
//     ICAC, firmware signing and vendor verification signer IDs, 8 for a
//     CASE Authenticated Tag, 4 for the Vendor and Product IDs of
//     attestation certificates.
//   - Times are whole seconds since 2000-01-01 UTC. They become UTCTime up
//     to 2049 and GeneralizedTime from 2050 (RFC 5280 §4.1.2.5); the value
//     0 is 99991231235959Z.
//   - Extensions keep their order. Basic constraints, key usage and
//     extended key usage are critical and the key identifiers are not
//     (§6.5.11); any other extension travels as its complete DER
//     ([Certificate.FutureExtensions]). Bit strings and integers take their
//     DER minimal forms.
//
// [FromX509] accepts only certificates that survive the round trip: it
// re-encodes what it parsed and fails unless the result is the input.
// [DecodeTLV] accepts any integer and length widths Appendix A allows, and
// [Certificate.EncodeTLV] writes the shortest, so canonical input
// re-encodes unchanged.
//
// The attestation certificates (DAC, PAI, PAA, §6.2) stay in X.509 form in
// Matter. [FromX509] parses them too, within the same limits, so that a node
// can read the Vendor and Product IDs of its own DAC ([DN.VendorID],
// [DN.ProductID]); they have no TLV encoding.
//
// # Chain validation
//
// [Verify] validates an RCAC → (ICAC) → NOC chain by the rules of §6.4.5
// and returns the NOC's node ID, fabric ID, CASE Authenticated Tags and the
// root public key. [VerifyRCAC] checks a root on its own. A zero
// [VerifyOptions.Now] skips the validity periods, for nodes with no trusted
// time. Failures wrap [ErrSignature], [ErrChain], [ErrUsage], [ErrIdentity],
// [ErrExpired] or [ErrNotYetValid].
//
// # Issuing
//
// [NewRCAC], [NewICAC] and [NewNOC] issue operational certificates with the
// subject and extensions each role needs; [Issue] signs an arbitrary
// template. Signing with an *ecdsa.PrivateKey is deterministic (RFC 6979),
// so tests and provisioning tools get reproducible certificates.
// [CreateCSR] and [ParseCSR] handle the node's certification request.
//
// # Not-before at the epoch
//
// The specification gives the Matter time 0 its "no well-defined expiration"
// meaning only for not-after (§6.5.5). This package, like connectedhomeip,
// maps 0 to 99991231235959Z in not-before as well, so that certificates
// issued by that SDK with a zero not-before verify. The consequence is that
// an X.509 certificate whose notBefore is exactly 2000-01-01 00:00:00 UTC has
// no Matter form, and [FromX509] rejects it.
package cert
