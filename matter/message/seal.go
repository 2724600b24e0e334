package message

import (
	"crypto/cipher"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
)

// AEAD sizes of the Matter cryptosuite (§3.6, §4.8.1).
const (
	// MICSize is CRYPTO_AEAD_MIC_LENGTH_BYTES: the Message Integrity Check
	// that ends every secured message (§4.4.2.1).
	MICSize = 16
	// NonceSize is CRYPTO_AEAD_NONCE_LENGTH_BYTES.
	NonceSize = 13
	// MaxPayloadLen is the longest Message Payload (protocol header and
	// application payload) AES-CCM can protect with a 13-octet nonce: its
	// length field is 2 octets (§3.6, NIST SP 800-38C with q = 2).
	MaxPayloadLen = 0xFFFF
)

// Nonce returns the AEAD nonce of a secured message (§4.8.1.1, Table
// "Nonce"): the Security Flags octet, the Message Counter and the Nonce
// Source Node ID, the integers in little-endian order.
//
// The Nonce Source Node ID is the Source Node ID of the message for a group
// session; for a secure unicast session it is the sender's operational node
// ID under CASE and the Unspecified Node ID (0) under PASE (§4.8.1.1).
func Nonce(securityFlags byte, counter uint32, source uint64) (n [NonceSize]byte) {
	putNonce(&n, securityFlags, counter, source)
	return n
}

func putNonce(n *[NonceSize]byte, securityFlags byte, counter uint32, source uint64) {
	n[0] = securityFlags
	binary.LittleEndian.PutUint32(n[1:], counter)
	binary.LittleEndian.PutUint64(n[5:], source)
}

// scratch holds the per-call buffers of Seal, Open and Privacy. They live in
// a pool rather than on the stack because they are passed to interface
// methods (cipher.AEAD, cipher.Block), which makes stack buffers escape.
type scratch struct {
	nonce [NonceSize]byte
	block [16]byte
	ks    [16]byte
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

func getScratch() *scratch  { return scratchPool.Get().(*scratch) }
func putScratch(s *scratch) { scratchPool.Put(s) }

// AppendMessage appends to dst the plaintext encoding of a message: the
// header h, the protocol header ph and the application payload. The result
// is a complete Unsecured Session message, or the input to [Seal].
func AppendMessage(dst []byte, h *Header, ph *ProtocolHeader, payload []byte) ([]byte, error) {
	dst, err := h.Append(dst)
	if err != nil {
		return dst, err
	}
	dst, err = ph.Append(dst)
	if err != nil {
		return dst, err
	}
	return append(dst, payload...), nil
}

// Seal protects a message in place (§4.8.2, then §4.9.3). msg holds the
// encoded message header followed by the plaintext Message Payload (see
// [AppendMessage]); Seal encrypts the payload with aead, using the header as
// additional data, appends the MIC and, when the header has the P flag,
// obfuscates the header with priv. It returns msg extended by [MICSize]
// octets, reallocated only if cap(msg) lacks room for the MIC.
//
// nonceSource is the Nonce Source Node ID for a unicast message (the
// sender's operational node ID under CASE, 0 under PASE); a group message
// uses its own Source Node ID and ignores it.
//
// Counter processing is the caller's: the header must already carry a fresh
// counter (§4.7.1). aead must be safe for concurrent use if Seal may run
// concurrently with the same aead.
func Seal(msg []byte, aead cipher.AEAD, nonceSource uint64, priv *Privacy) ([]byte, error) {
	if aead.NonceSize() != NonceSize || aead.Overhead() != MICSize {
		return msg, ErrAEAD
	}
	var h Header
	n, err := h.Decode(msg)
	if err != nil {
		return msg, fmt.Errorf("message: seal: %w", err)
	}
	if h.IsUnsecured() {
		return msg, fmt.Errorf("message: seal: %w", ErrUnsecured)
	}
	if h.Privacy && priv == nil {
		return msg, fmt.Errorf("message: seal: %w", ErrNoPrivacyKey)
	}
	if l := len(msg) - n; l > MaxPayloadLen {
		return msg, fmt.Errorf("message: seal: %w: %d-octet payload exceeds %d", ErrInvalid, l, MaxPayloadLen)
	}
	if h.SessionType == SessionGroup {
		nonceSource = h.Source
	}
	msg = slices.Grow(msg, MICSize)
	s := getScratch()
	defer putScratch(s)
	putNonce(&s.nonce, h.SecurityFlags(), h.Counter, nonceSource)
	out := aead.Seal(msg[n:n], s.nonce[:], msg[n:], msg[:n])
	msg = msg[:n+len(out)]
	if h.Privacy {
		priv.xor(s, msg[privacyOffset:privacyOffset+h.privacyLen()], h.SessionID, msg[len(msg)-MICSize:])
	}
	return msg, nil
}

// Open authenticates and decrypts a secured message in place (§4.9.4, then
// §4.8.3). It decodes the header into h, deobfuscating it first with priv
// when the P flag is set, and returns the plaintext Message Payload, which
// aliases msg: the protocol header followed by the application payload.
//
// nonceSource is the Nonce Source Node ID for a unicast message (the peer's
// operational node ID under CASE, 0 under PASE); a group message uses its
// own Source Node ID.
//
// Open writes to msg even when it fails, so a receiver that tries several
// keys in turn (group messages, §4.17.3.6) must give each attempt a fresh
// copy. Counter processing is the caller's and comes after Open (§4.7.2):
// see [ReceptionState].
func Open(msg []byte, h *Header, aead cipher.AEAD, nonceSource uint64, priv *Privacy) ([]byte, error) {
	if aead.NonceSize() != NonceSize || aead.Overhead() != MICSize {
		return nil, ErrAEAD
	}
	n, err := h.Decode(msg)
	if err != nil {
		return nil, fmt.Errorf("message: open: %w", err)
	}
	if h.IsUnsecured() {
		return nil, fmt.Errorf("message: open: %w", ErrUnsecured)
	}
	if len(msg)-n < MICSize {
		return nil, fmt.Errorf("message: open: %w: %d octets after the header, need at least a %d-octet MIC", ErrTruncated, len(msg)-n, MICSize)
	}
	s := getScratch()
	defer putScratch(s)
	if h.Privacy {
		if priv == nil {
			return nil, fmt.Errorf("message: open: %w", ErrNoPrivacyKey)
		}
		priv.xor(s, msg[privacyOffset:privacyOffset+h.privacyLen()], h.SessionID, msg[len(msg)-MICSize:])
		h.decodePrivate(msg)
	}
	if h.SessionType == SessionGroup {
		nonceSource = h.Source
	}
	putNonce(&s.nonce, h.SecurityFlags(), h.Counter, nonceSource)
	pt, err := aead.Open(msg[n:n], s.nonce[:], msg[n:], msg[:n])
	if err != nil {
		return nil, fmt.Errorf("message: open: session %#04x counter %d: %w", h.SessionID, h.Counter, ErrAuth)
	}
	return pt, nil
}

// decodePrivate re-reads the fields privacy obfuscates, after msg has been
// deobfuscated. The layout is the one Decode already validated.
func (h *Header) decodePrivate(msg []byte) {
	h.Counter = binary.LittleEndian.Uint32(msg[4:])
	o := MinHeaderLen
	if h.HasSource {
		h.Source = binary.LittleEndian.Uint64(msg[o:])
		o += 8
	}
	switch h.Destination {
	case DestinationNode:
		h.DestNode = binary.LittleEndian.Uint64(msg[o:])
	case DestinationGroup:
		h.DestGroup = binary.LittleEndian.Uint16(msg[o:])
	}
}

// Message is a decoded message of the Unsecured Session: both headers and
// the application payload, which aliases the decoded buffer.
type Message struct {
	Header   Header
	Protocol ProtocolHeader
	Payload  []byte
}

// DecodeUnsecured decodes a message of the Unsecured Session, which has no
// encryption, privacy or MIC (§4.4.1.3). It fails with [ErrInvalid] for a
// message of any other session; those go through [Open].
func (m *Message) DecodeUnsecured(b []byte) error {
	n, err := m.Header.Decode(b)
	if err != nil {
		return err
	}
	if !m.Header.IsUnsecured() {
		return fmt.Errorf("%w: session %#04x (%v) is not the unsecured session", ErrInvalid, m.Header.SessionID, m.Header.SessionType)
	}
	k, err := m.Protocol.Decode(b[n:])
	if err != nil {
		return err
	}
	m.Payload = b[n+k:]
	return nil
}
