package field

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"

	"github.com/mattercam/mattercam/matter/tlv"
)

// NoLimit as a maximum means the model sets none.
const NoLimit = -1

// Seen records which context tags of one structure have been read, to
// reject duplicates (the tlv Reader leaves that to schema-aware decoders)
// and find missing mandatory fields.
type Seen [4]uint64

// Add marks tag n and reports whether it was new.
func (s *Seen) Add(n uint8) bool {
	word, bit := n/64, uint64(1)<<(n%64)
	if s[word]&bit != 0 {
		return false
	}
	s[word] |= bit
	return true
}

// Has reports whether tag n was read.
func (s *Seen) Has(n uint8) bool { return s[n/64]&(uint64(1)<<(n%64)) != 0 }

// EnterStruct enters the structure at r's current element. Any other
// element type is an error: Matter structs are always TLV structures.
func EnterStruct(r *tlv.Reader) error {
	if t := r.Type(); t != tlv.TypeStructure {
		return fmt.Errorf("%w: %v, want structure", tlv.ErrType, t)
	}
	return r.Enter()
}

// Next moves to the next context-tagged member of the entered structure
// and returns its tag number; ok is false at the end of the structure.
// Members with other tag forms are skipped: structures defined by the
// model use context tags only, and a later revision may add anything.
// A tag seen before is ErrDuplicate.
func Next(r *tlv.Reader, seen *Seen) (tag uint8, ok bool, err error) {
	for {
		if err := r.Next(); err != nil {
			if errors.Is(err, io.EOF) {
				return 0, false, nil
			}
			return 0, false, err
		}
		t := r.Tag()
		if t.Kind() != tlv.TagContext {
			continue
		}
		n := uint8(t.Number())
		if !seen.Add(n) {
			return 0, false, fmt.Errorf("tag %d: %w", n, ErrDuplicate)
		}
		return n, true, nil
	}
}

// Uint decodes an unsigned integer into T, which must hold the value.
// Enums and bitmaps decode through it as well (T is their named type).
func Uint[T ~uint8 | ~uint16 | ~uint32 | ~uint64](r *tlv.Reader) (T, error) {
	x, err := r.Uint()
	if err != nil {
		return 0, err
	}
	if uint64(T(x)) != x {
		return 0, fmt.Errorf("%w: %d does not fit %T", tlv.ErrRange, x, T(0))
	}
	return T(x), nil
}

// UintBits is Uint for the model's odd widths (uint24, uint40…): the value
// must fit in bits bits.
func UintBits[T ~uint32 | ~uint64](r *tlv.Reader, bits uint) (T, error) {
	x, err := Uint[T](r)
	if err == nil && uint64(x)>>bits != 0 {
		return 0, fmt.Errorf("%w: %d does not fit %d bits", tlv.ErrRange, x, bits)
	}
	return x, err
}

// Int decodes a signed integer into T, which must hold the value.
func Int[T ~int8 | ~int16 | ~int32 | ~int64](r *tlv.Reader) (T, error) {
	x, err := r.Int()
	if err != nil {
		return 0, err
	}
	if int64(T(x)) != x {
		return 0, fmt.Errorf("%w: %d does not fit %T", tlv.ErrRange, x, T(0))
	}
	return T(x), nil
}

// IntBits is Int for the model's odd widths (int24, int40…).
func IntBits[T ~int32 | ~int64](r *tlv.Reader, bits uint) (T, error) {
	x, err := Int[T](r)
	if err == nil && (int64(x) < -1<<(bits-1) || int64(x) >= 1<<(bits-1)) {
		return 0, fmt.Errorf("%w: %d does not fit %d bits", tlv.ErrRange, x, bits)
	}
	return x, err
}

// Float32 decodes a single-precision float; a double is the wrong type.
func Float32(r *tlv.Reader) (float32, error) {
	if t := r.Type(); t != tlv.TypeFloat32 {
		return 0, fmt.Errorf("%w: %v, want float32", tlv.ErrType, t)
	}
	f, err := r.Float()
	return float32(f), err
}

// Float64 decodes a double. A single-precision encoding widens exactly.
func Float64(r *tlv.Reader) (float64, error) { return r.Float() }

// String decodes a UTF-8 string of min to max bytes (max NoLimit: no
// upper bound). The model's string lengths count bytes, not characters.
func String(r *tlv.Reader, min, max int) (string, error) {
	b, err := r.StringBytes()
	if err != nil {
		return "", err
	}
	if err := Len(len(b), min, max); err != nil {
		return "", err
	}
	return string(b), nil
}

// Bytes decodes an octet string of min to max bytes. The result is a
// copy, so it outlives the message buffer; an empty string decodes to nil.
func Bytes(r *tlv.Reader, min, max int) ([]byte, error) {
	b, err := r.Bytes()
	if err != nil {
		return nil, err
	}
	if err := Len(len(b), min, max); err != nil {
		return nil, err
	}
	if len(b) == 0 {
		return nil, nil
	}
	return bytes.Clone(b), nil
}

// List decodes a list (a TLV array) of min to max entries, each with
// elem. An empty list decodes to nil. The count is checked as entries
// arrive, so an oversized list is refused before it is decoded whole.
func List[T any](r *tlv.Reader, min, max int, elem func(r *tlv.Reader) (T, error)) ([]T, error) {
	if t := r.Type(); t != tlv.TypeArray {
		return nil, fmt.Errorf("%w: %v, want array", tlv.ErrType, t)
	}
	if err := r.Enter(); err != nil {
		return nil, err
	}
	var out []T
	for {
		if err := r.Next(); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, err
		}
		if max != NoLimit && len(out) == max {
			return nil, fmt.Errorf("%w: more than %d entries", ErrConstraint, max)
		}
		v, err := elem(r)
		if err != nil {
			return nil, fmt.Errorf("[%d]: %w", len(out), err)
		}
		out = append(out, v)
	}
	if err := r.Exit(); err != nil {
		return nil, err
	}
	if len(out) < min {
		return nil, fmt.Errorf("%w: %d entries, at least %d required", ErrConstraint, len(out), min)
	}
	return out, nil
}

// Len checks a length against the model's bounds.
func Len(n, min, max int) error {
	if n < min {
		return fmt.Errorf("%w: length %d, at least %d required", ErrConstraint, n, min)
	}
	if max != NoLimit && n > max {
		return fmt.Errorf("%w: length %d, at most %d allowed", ErrConstraint, n, max)
	}
	return nil
}

// Range checks a number against the model's bounds (inclusive).
func Range[T cmp.Ordered](v, min, max T) error {
	if v < min || v > max {
		return fmt.Errorf("%w: %v outside %v to %v", ErrConstraint, v, min, max)
	}
	return nil
}
