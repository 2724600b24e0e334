package crypto

import (
	"encoding/binary"
	"math/bits"
)

// GroupSize is CRYPTO_GROUP_SIZE_BYTES, the size of a P-256 scalar.
const GroupSize = 32

// p256Order is the order n of the P-256 base point (SEC 2 §2.4.2), as
// little-endian 64-bit limbs.
var p256Order = [4]uint64{
	0xf3b9cac2fc632551,
	0xbce6faada7179e84,
	0xffffffffffffffff,
	0xffffffff00000000,
}

// reduceScalar sets out to the 32-octet big-endian encoding of in mod n,
// where in is a big-endian integer of any length. It runs in time that
// depends only on len(in), not on its value: the SPAKE2+ inputs w0s and w1s
// are derived from the passcode. math/big offers no such guarantee, and
// nistec only reduces values below 2^256.
//
// The reduction is a plain shift-and-subtract long division, one bit at a
// time, which is ample for the 320-bit values Matter reduces (§3.10).
func reduceScalar(out *[GroupSize]byte, in []byte) {
	var r [4]uint64 // invariant: r < n
	for _, octet := range in {
		for i := 7; i >= 0; i-- {
			// r = 2r + bit, with the bit shifted out of r kept in top.
			top := r[3] >> 63
			r[3] = r[3]<<1 | r[2]>>63
			r[2] = r[2]<<1 | r[1]>>63
			r[1] = r[1]<<1 | r[0]>>63
			r[0] = r[0]<<1 | uint64(octet>>i)&1

			// 2r + bit < 2n, so one conditional subtraction restores the
			// invariant. Subtract when the value overflowed 256 bits or
			// when r - n does not borrow.
			var t [4]uint64
			var borrow uint64
			t[0], borrow = bits.Sub64(r[0], p256Order[0], 0)
			t[1], borrow = bits.Sub64(r[1], p256Order[1], borrow)
			t[2], borrow = bits.Sub64(r[2], p256Order[2], borrow)
			t[3], borrow = bits.Sub64(r[3], p256Order[3], borrow)
			mask := -(top | (borrow ^ 1))
			for j := range r {
				r[j] = r[j]&^mask | t[j]&mask
			}
		}
	}
	for j := range r {
		binary.BigEndian.PutUint64(out[GroupSize-8*(j+1):], r[j])
	}
}

// scalarIsCanonical returns 1 if the 32-octet big-endian s is below n and
// 0 otherwise, in constant time.
func scalarIsCanonical(s *[GroupSize]byte) int {
	var borrow uint64
	for j := range p256Order {
		limb := binary.BigEndian.Uint64(s[GroupSize-8*(j+1):])
		_, borrow = bits.Sub64(limb, p256Order[j], borrow)
	}
	return int(borrow)
}

// scalarIsZero returns 1 if s is zero and 0 otherwise, in constant time.
func scalarIsZero(s *[GroupSize]byte) int {
	var acc byte
	for _, b := range s {
		acc |= b
	}
	return int((uint32(acc) - 1) >> 31)
}
