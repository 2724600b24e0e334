// Package message implements the Matter message layer: the message and
// protocol headers, message security (AES-CCM with the message header as
// additional data), message privacy (header obfuscation), and the message
// counters that give every message a unique nonce and let a receiver detect
// duplicates and replays.
//
// Section numbers refer to the Matter Core Specification, version 1.3, whose
// chapter 4 ("Secure Channel") is laid out as follows. Core 1.0 to 1.2 number
// the counter, processing, security and privacy sections one lower (§4.5 to
// §4.8); the section names are stable.
//
//   - §4.4   Message Frame Format: [Header], [ProtocolHeader].
//   - §4.6   Message Counters: [SessionCounter], [GlobalCounter],
//     [PersistentCounter], [ReceptionState].
//   - §4.7   Message Processing: the order of operations in [Seal] and [Open].
//   - §4.8   Message Security: [Seal], [Open], [Nonce].
//   - §4.9   Message Privacy: [Privacy].
//
// # Wire layout
//
//	message header (AAD)                          payload (encrypted)        footer
//	┌───────┬─────────┬───────┬─────────┬─────┬─────┬─────┐┌─────────────────┬─────────┐┌─────┐
//	│ flags │ session │ sec   │ counter │ src │ dst │ MX  ││ protocol header │ app     ││ MIC │
//	│ 1     │ 2       │ 1     │ 4       │ 0/8 │0/2/8│ 2+n ││ 6..             │ payload ││ 16  │
//	└───────┴─────────┴───────┴─────────┴─────┴─────┴─────┘└─────────────────┴─────────┘└─────┘
//	                          └── obfuscated when P ──┘
//
// All multi-byte integers are little-endian (§4.4), except the session ID
// inside the privacy nonce (§4.9.2).
//
// # Buffers
//
// Nothing in this package allocates on the success path. Encoders append to a
// caller's slice; [Seal] encrypts in place and appends the MIC; [Open]
// decrypts in place and returns a sub-slice of its input. Decoded
// [Header.Extensions] and [ProtocolHeader.SecuredExtensions] alias the
// decoded buffer.
//
// # Cryptography
//
// The AEAD is supplied by the caller as a [crypto/cipher.AEAD] with a
// 13-octet nonce and a 16-octet tag (AES-CCM-128, Core §3.6; see
// matter/crypto.NewCCM). The privacy key is derived with HKDF-SHA256 from the
// standard library and privacy obfuscation is AES-CTR with the CCM counter
// block layout, implemented here on [crypto/aes].
package message
