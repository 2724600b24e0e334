package message

import "errors"

// Errors returned by the decoders and by [Seal] and [Open]. They are
// returned wrapped with context; test for them with [errors.Is].
var (
	// ErrTruncated reports input shorter than its fields require.
	ErrTruncated = errors.New("message: truncated")

	// ErrVersion reports a message format version other than 0. The spec
	// requires such messages to be dropped without an acknowledgement
	// (§4.4.1.1).
	ErrVersion = errors.New("message: unsupported message format version")

	// ErrReserved reports a reserved value in a field whose reserved values
	// make the message invalid: DSIZ 3 (§4.4.1.1) or Session Type 2 or 3
	// (§4.4.1.3). Reserved bits, by contrast, are ignored on reception as
	// the spec requires.
	ErrReserved = errors.New("message: reserved field value")

	// ErrInvalid reports a combination of header fields that the reception
	// validity checks of §4.7.2 reject, or that an encoder refuses to
	// produce.
	ErrInvalid = errors.New("message: invalid header")

	// ErrUnsecured reports an attempt to seal or open a message of the
	// Unsecured Session (Session Type 0, Session ID 0), which carries no
	// MIC (§4.4.1.3).
	ErrUnsecured = errors.New("message: unsecured session message")

	// ErrAuth reports a message whose MIC did not verify (§4.8.3).
	ErrAuth = errors.New("message: authentication failed")

	// ErrNoPrivacyKey reports a message with the P flag set when no privacy
	// key was supplied.
	ErrNoPrivacyKey = errors.New("message: privacy flag set but no privacy key")

	// ErrAEAD reports an AEAD whose nonce or tag size is not the 13 and 16
	// octets Matter uses (§3.6).
	ErrAEAD = errors.New("message: AEAD must have a 13-octet nonce and a 16-octet tag")

	// ErrCounterExhausted reports that an outgoing counter has no values
	// left: a secure session counter would overflow, and the session must
	// be discarded and re-established (§4.6.1).
	ErrCounterExhausted = errors.New("message: message counter exhausted")

	// ErrNotSynchronized reports a group reception state under the
	// cache-and-sync policy that has not been synchronized with MCSP yet
	// (§4.18.4).
	ErrNotSynchronized = errors.New("message: peer counter not synchronized")
)
