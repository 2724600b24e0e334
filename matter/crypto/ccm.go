package crypto

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"errors"
	"fmt"
	"math"
	"sync"
	"unsafe"
)

// Sizes of the AEAD of §3.6 (CRYPTO_SYMMETRIC_KEY_LENGTH_BYTES,
// CRYPTO_AEAD_NONCE_LENGTH_BYTES and CRYPTO_AEAD_MIC_LENGTH_BYTES).
const (
	SymmetricKeySize = 16
	AEADNonceSize    = 13
	AEADTagSize      = 16
)

const ccmBlockSize = aes.BlockSize

var errOpen = errors.New("crypto: ccm: message authentication failed")

// NewCCM returns AES-CCM with a 16-octet key, a 13-octet nonce (so a 2-octet
// length field, L = 2) and a 16-octet tag (M = 16): the Crypto_AEAD of §3.6,
// specified by NIST SP 800-38C and RFC 3610.
//
// Seal and Open append to dst and do not allocate when dst has the capacity
// for the result. To encrypt or decrypt in place, pass plaintext[:0] or
// ciphertext[:0] as dst; any other overlap is an error. Like the AEADs of
// crypto/cipher, Seal panics if the nonce has the wrong length or the
// plaintext is longer than 65535 octets, both of which are caller bugs. Open
// never panics: every malformed input is reported as an authentication
// failure.
//
// The returned AEAD is safe for concurrent use.
func NewCCM(key []byte) (cipher.AEAD, error) {
	if len(key) != SymmetricKeySize {
		return nil, fmt.Errorf("crypto: ccm: invalid key length %d, want %d", len(key), SymmetricKeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("crypto: ccm: %w", err)
	}
	return newCCM(block, AEADNonceSize, AEADTagSize)
}

// ccm implements CCM over a 128-bit block cipher. Matter only uses the
// (L = 2, M = 16) instance; the other parameters exist so that the published
// RFC 3610 and SP 800-38C vectors, which use other tag and nonce sizes, can
// exercise the same code.
type ccm struct {
	block     cipher.Block
	nonceSize int // 15 - L
	tagSize   int // M
}

func newCCM(block cipher.Block, nonceSize, tagSize int) (*ccm, error) {
	if block.BlockSize() != ccmBlockSize {
		return nil, errors.New("crypto: ccm: block cipher must have a 128-bit block")
	}
	// SP 800-38C §A.1: the nonce is 7 to 13 octets (L = 8 down to 2) and
	// the tag is an even number of octets from 4 to 16.
	if nonceSize < 7 || nonceSize > 13 {
		return nil, fmt.Errorf("crypto: ccm: invalid nonce size %d", nonceSize)
	}
	if tagSize < 4 || tagSize > 16 || tagSize%2 != 0 {
		return nil, fmt.Errorf("crypto: ccm: invalid tag size %d", tagSize)
	}
	return &ccm{block: block, nonceSize: nonceSize, tagSize: tagSize}, nil
}

func (c *ccm) NonceSize() int { return c.nonceSize }
func (c *ccm) Overhead() int  { return c.tagSize }

// maxLength returns the longest payload the L-octet length field of B0 can
// describe (RFC 3610 §2.1: l(m) < 2^(8L)).
func (c *ccm) maxLength() uint64 {
	l := 15 - c.nonceSize
	if l >= 8 {
		return math.MaxInt64
	}
	return min(uint64(1)<<(8*l)-1, math.MaxInt64)
}

// ccmScratch holds the per-call block buffers. They live in a pool rather
// than on the stack because passing them to the cipher.Block interface would
// move them to the heap on every call.
type ccmScratch struct {
	mac [ccmBlockSize]byte // CBC-MAC chaining value X_i
	ctr [ccmBlockSize]byte // counter block A_i
	ks  [ccmBlockSize]byte // key stream block S_i
	hdr [ccmBlockSize]byte // associated data length encoding
}

var ccmScratchPool = sync.Pool{New: func() any { return new(ccmScratch) }}

func (c *ccm) Seal(dst, nonce, plaintext, additionalData []byte) []byte {
	if len(nonce) != c.nonceSize {
		panic("crypto: ccm: incorrect nonce length given to CCM")
	}
	if uint64(len(plaintext)) > c.maxLength() {
		panic("crypto: ccm: message too large for CCM")
	}
	ret, out := sliceForAppend(dst, len(plaintext)+c.tagSize)
	if inexactOverlap(out, plaintext) {
		panic("crypto: ccm: invalid buffer overlap")
	}

	s := ccmScratchPool.Get().(*ccmScratch)
	defer putScratch(s)

	// The tag is computed over the plaintext before it is (possibly)
	// overwritten in place by the ciphertext.
	c.cbcMAC(s, nonce, plaintext, additionalData)
	c.xorKeyStream(s, nonce, out[:len(plaintext)], plaintext)
	c.encryptTag(s, nonce, out[len(plaintext):], s.mac[:c.tagSize])
	return ret
}

func (c *ccm) Open(dst, nonce, ciphertext, additionalData []byte) ([]byte, error) {
	if len(nonce) != c.nonceSize || len(ciphertext) < c.tagSize {
		return nil, errOpen
	}
	n := len(ciphertext) - c.tagSize
	if uint64(n) > c.maxLength() {
		return nil, errOpen
	}
	ret, out := sliceForAppend(dst, n)
	if inexactOverlap(out, ciphertext) {
		return nil, errors.New("crypto: ccm: invalid buffer overlap")
	}

	s := ccmScratchPool.Get().(*ccmScratch)
	defer putScratch(s)

	// RFC 3610 §2.5: decrypt, recompute the CBC-MAC over the recovered
	// plaintext, and compare the encrypted tags in constant time. The
	// received tag lies beyond out, so decrypting in place cannot clobber it.
	c.xorKeyStream(s, nonce, out, ciphertext[:n])
	c.cbcMAC(s, nonce, out, additionalData)
	want := s.hdr[:c.tagSize]
	c.encryptTag(s, nonce, want, s.mac[:c.tagSize])
	if subtle.ConstantTimeCompare(want, ciphertext[n:]) != 1 {
		clear(out)
		return nil, errOpen
	}
	return ret, nil
}

func putScratch(s *ccmScratch) {
	*s = ccmScratch{}
	ccmScratchPool.Put(s)
}

// cbcMAC leaves the CBC-MAC T of (nonce, aad, msg) in s.mac, following the
// formatting function of SP 800-38C §A.2 (RFC 3610 §2.2).
func (c *ccm) cbcMAC(s *ccmScratch, nonce, msg, aad []byte) {
	l := 15 - len(nonce)

	// B0 = flags ‖ N ‖ Q, with flags = Adata ‖ (M-2)/2 ‖ L-1.
	flags := byte((c.tagSize-2)/2)<<3 | byte(l-1)
	if len(aad) > 0 {
		flags |= 0x40
	}
	s.mac[0] = flags
	copy(s.mac[1:], nonce)
	putUintBE(s.mac[1+len(nonce):], uint64(len(msg)))
	c.block.Encrypt(s.mac[:], s.mac[:])

	if len(aad) > 0 {
		// The associated data is prefixed with its length (SP 800-38C
		// §A.2.2) and the pair is zero-padded to a block boundary.
		var hdr []byte
		switch a := uint64(len(aad)); {
		case a < 1<<16-1<<8:
			hdr = s.hdr[:2]
			putUintBE(hdr, a)
		case a <= math.MaxUint32:
			hdr = s.hdr[:6]
			hdr[0], hdr[1] = 0xff, 0xfe
			putUintBE(hdr[2:], a)
		default:
			hdr = s.hdr[:10]
			hdr[0], hdr[1] = 0xff, 0xff
			putUintBE(hdr[2:], a)
		}
		pos := c.absorb(s, 0, hdr)
		pos = c.absorb(s, pos, aad)
		c.pad(s, pos)
	}
	c.pad(s, c.absorb(s, 0, msg))
}

// absorb XORs data into the CBC-MAC state starting at offset pos of the
// current block, encrypting each block as it fills, and returns the offset
// into the (unfinished) current block.
func (c *ccm) absorb(s *ccmScratch, pos int, data []byte) int {
	for len(data) > 0 {
		n := subtle.XORBytes(s.mac[pos:], s.mac[pos:], data)
		data = data[n:]
		pos += n
		if pos == ccmBlockSize {
			c.block.Encrypt(s.mac[:], s.mac[:])
			pos = 0
		}
	}
	return pos
}

// pad finishes a partially filled block. Zero padding is implicit: XORing
// zeros leaves the state unchanged.
func (c *ccm) pad(s *ccmScratch, pos int) {
	if pos != 0 {
		c.block.Encrypt(s.mac[:], s.mac[:])
	}
}

// setCounter formats the counter block A_i = flags ‖ N ‖ i, flags = L-1.
func (c *ccm) setCounter(s *ccmScratch, nonce []byte, i uint64) {
	s.ctr[0] = byte(15 - len(nonce) - 1)
	copy(s.ctr[1:], nonce)
	putUintBE(s.ctr[1+len(nonce):], i)
}

// xorKeyStream XORs src with the key stream S_1, S_2, … into dst.
func (c *ccm) xorKeyStream(s *ccmScratch, nonce, dst, src []byte) {
	for i := uint64(1); len(src) > 0; i++ {
		c.setCounter(s, nonce, i)
		c.block.Encrypt(s.ks[:], s.ctr[:])
		n := subtle.XORBytes(dst, src, s.ks[:])
		dst, src = dst[n:], src[n:]
	}
}

// encryptTag sets dst = tag XOR first len(tag) octets of S_0.
func (c *ccm) encryptTag(s *ccmScratch, nonce, dst, tag []byte) {
	c.setCounter(s, nonce, 0)
	c.block.Encrypt(s.ks[:], s.ctr[:])
	subtle.XORBytes(dst, tag, s.ks[:len(tag)])
}

// putUintBE writes v big-endian into all of b, most significant octets
// first; octets beyond the eighth from the end are zero.
func putUintBE(b []byte, v uint64) {
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = byte(v)
		v >>= 8
	}
}

// sliceForAppend extends in by n octets, reusing its capacity when possible,
// and returns the whole slice and the n new octets.
func sliceForAppend(in []byte, n int) (head, tail []byte) {
	if total := len(in) + n; cap(in) >= total {
		head = in[:total]
	} else {
		head = make([]byte, total)
		copy(head, in)
	}
	tail = head[len(in):]
	return head, tail
}

// inexactOverlap reports whether x and y share memory without starting at
// the same address. Exact aliasing is how callers ask for in-place operation;
// any other overlap would make the output overwrite input still to be read.
func inexactOverlap(x, y []byte) bool {
	if len(x) == 0 || len(y) == 0 || &x[0] == &y[0] {
		return false
	}
	xStart, xEnd := uintptr(unsafe.Pointer(&x[0])), uintptr(unsafe.Pointer(&x[len(x)-1]))
	yStart, yEnd := uintptr(unsafe.Pointer(&y[0])), uintptr(unsafe.Pointer(&y[len(y)-1]))
	return xStart <= yEnd && yStart <= xEnd
}
