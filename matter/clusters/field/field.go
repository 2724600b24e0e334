// Package field holds what the generated cluster packages share at run
// time: optional and nullable values, the errors decoders return, and the
// decoding helpers their DecodeTLV methods call. Hand-written cluster code
// uses the value types and errors; the helpers are for generated code.
//
// # Optional and nullable
//
// A struct field whose conformance is anything but plain mandatory ("M")
// is an Optional: absent from the encoding unless Present. A field or
// value with the nullable quality (X) is a Nullable: null unless Valid.
// A field that is both is an Optional[Nullable[T]], which tells the three
// states apart (absent, null, a value):
//
//	req.VideoStreamID = field.Some(field.NonNull[uint16](3)) // 3
//	req.VideoStreamID = field.Some(field.Null[uint16]())     // null
//	req.VideoStreamID = field.Optional[field.Nullable[uint16]]{} // absent
//
// # Errors
//
// Decoders return errors that wrap one of the sentinels below or one of
// the tlv package's. The Interaction Model maps ErrConstraint to
// CONSTRAINT_ERROR and every other decoding failure to INVALID_COMMAND
// (commands) or INVALID_DATA_TYPE / CONSTRAINT_ERROR (writes).
package field

import (
	"errors"
	"fmt"
)

// Optional is a value that may be absent from an encoding.
type Optional[T any] struct {
	Value   T
	Present bool
}

// Some returns a present Optional holding v.
func Some[T any](v T) Optional[T] { return Optional[T]{Value: v, Present: true} }

// Get returns the value and whether it is present.
func (o Optional[T]) Get() (T, bool) { return o.Value, o.Present }

// Nullable is a value that may be null. The zero Nullable is null, which
// is what most nullable Matter values start as ("unknown", "none yet").
type Nullable[T any] struct {
	Value T
	Valid bool // false: null
}

// NonNull returns a Nullable holding v.
func NonNull[T any](v T) Nullable[T] { return Nullable[T]{Value: v, Valid: true} }

// Null returns a null Nullable.
func Null[T any]() Nullable[T] { return Nullable[T]{} }

// IsNull reports whether n is null.
func (n Nullable[T]) IsNull() bool { return !n.Valid }

// Get returns the value and whether it is non-null.
func (n Nullable[T]) Get() (T, bool) { return n.Value, n.Valid }

// Sentinels wrapped by decoding errors.
var (
	// ErrConstraint reports a value outside the model's constraint: a
	// string, octet string or list longer or shorter than allowed, or a
	// number out of its range. The spec answers it with CONSTRAINT_ERROR.
	ErrConstraint = errors.New("constraint error")

	// ErrMissing reports that a mandatory field is absent.
	ErrMissing = errors.New("missing mandatory field")

	// ErrDuplicate reports a field that appears twice in one structure.
	ErrDuplicate = errors.New("duplicate field")
)

// Wrap prefixes err with the path of the value it concerns, such as
// "ArmFailSafeRequest.Breadcrumb", so nested failures read as a path.
func Wrap(err error, path string) error {
	return fmt.Errorf("%s: %w", path, err)
}

// Missing returns the error for an absent mandatory field.
func Missing(path string) error {
	return fmt.Errorf("%s: %w", path, ErrMissing)
}
