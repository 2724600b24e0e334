package message

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"sync"
)

// testCCM is a minimal AES-CCM (NIST SP 800-38C, RFC 3610) with a 13-octet
// nonce and a 16-octet tag, so that this package can be tested against
// published Matter vectors before matter/crypto provides NewCCM. It keeps
// its block buffers in the struct, under a mutex, so that it does not
// allocate and the benchmarks measure this package rather than the AEAD.
type testCCM struct {
	mu sync.Mutex
	b  cipher.Block
	x  [16]byte // CBC-MAC state
	a  [16]byte // counter block
	s  [16]byte // key stream block
}

func newTestCCM(key []byte) (*testCCM, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return &testCCM{b: b}, nil
}

func mustCCM(key []byte) *testCCM {
	c, err := newTestCCM(key)
	if err != nil {
		panic(err)
	}
	return c
}

func (c *testCCM) NonceSize() int { return NonceSize }
func (c *testCCM) Overhead() int  { return MICSize }

var errTestCCMAuth = errors.New("testccm: message authentication failed")

func (c *testCCM) Seal(dst, nonce, plaintext, aad []byte) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mac(nonce, aad, plaintext)
	ret, out := sliceForAppend(dst, len(plaintext)+MICSize)
	c.ctr(nonce, out[:len(plaintext)], plaintext)
	c.counter(nonce, 0)
	c.b.Encrypt(c.s[:], c.a[:])
	for i := range MICSize {
		out[len(plaintext)+i] = c.x[i] ^ c.s[i]
	}
	return ret
}

func (c *testCCM) Open(dst, nonce, ciphertext, aad []byte) ([]byte, error) {
	if len(ciphertext) < MICSize {
		return nil, errTestCCMAuth
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(ciphertext) - MICSize
	var tag [MICSize]byte
	copy(tag[:], ciphertext[n:])
	ret, out := sliceForAppend(dst, n)
	c.ctr(nonce, out, ciphertext[:n])
	c.mac(nonce, aad, out)
	c.counter(nonce, 0)
	c.b.Encrypt(c.s[:], c.a[:])
	for i := range MICSize {
		c.x[i] ^= c.s[i]
	}
	if subtle.ConstantTimeCompare(c.x[:], tag[:]) != 1 {
		clear(out)
		return nil, errTestCCMAuth
	}
	return ret, nil
}

// counter sets c.a to the counter block A_i = 0x01 ‖ N ‖ [i]16.
func (c *testCCM) counter(nonce []byte, i uint16) {
	c.a[0] = 1 // q - 1 with q = 15 - 13 = 2
	copy(c.a[1:14], nonce)
	binary.BigEndian.PutUint16(c.a[14:], i)
}

// ctr XORs src with the key stream S_1, S_2, ... into dst.
func (c *testCCM) ctr(nonce, dst, src []byte) {
	for i := 0; len(src) > 0; i++ {
		c.counter(nonce, uint16(i+1))
		c.b.Encrypt(c.s[:], c.a[:])
		n := min(len(src), 16)
		for j := range n {
			dst[j] = src[j] ^ c.s[j]
		}
		dst, src = dst[n:], src[n:]
	}
}

// mac leaves the CBC-MAC of B_0, the encoded AAD and the plaintext in c.x.
func (c *testCCM) mac(nonce, aad, pt []byte) {
	flags := byte((MICSize-2)/2)<<3 | 1
	if len(aad) > 0 {
		flags |= 0x40
	}
	c.x[0] = flags
	copy(c.x[1:14], nonce)
	binary.BigEndian.PutUint16(c.x[14:], uint16(len(pt)))
	c.b.Encrypt(c.x[:], c.x[:])
	if len(aad) > 0 {
		var prefix [6]byte
		p := prefix[:2]
		if len(aad) < 0xFF00 {
			binary.BigEndian.PutUint16(p, uint16(len(aad)))
		} else {
			p = prefix[:6]
			p[0], p[1] = 0xFF, 0xFE
			binary.BigEndian.PutUint32(p[2:], uint32(len(aad)))
		}
		c.absorb(p, aad)
	}
	c.absorb(nil, pt)
}

// absorb runs the CBC-MAC over prefix ‖ data, zero-padded to a block.
func (c *testCCM) absorb(prefix, data []byte) {
	if len(prefix)+len(data) == 0 {
		return
	}
	k := 0
	for _, v := range prefix {
		c.x[k] ^= v
		k++
	}
	for _, v := range data {
		if k == 16 {
			c.b.Encrypt(c.x[:], c.x[:])
			k = 0
		}
		c.x[k] ^= v
		k++
	}
	c.b.Encrypt(c.x[:], c.x[:])
}

func sliceForAppend(in []byte, n int) (head, tail []byte) {
	if total := len(in) + n; cap(in) >= total {
		head = in[:total]
	} else {
		head = make([]byte, total)
		copy(head, in)
	}
	return head, head[len(in):]
}
