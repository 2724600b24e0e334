package tlv

import (
	"errors"
	"fmt"
)

// Errors returned by this package wrap one of these sentinels, so callers can
// classify a failure with errors.Is while the message keeps the detail (what was
// wrong and at which input offset).
var (
	// ErrTruncated reports input that ends inside an element or inside an open
	// container, including a string whose length field runs past the end.
	ErrTruncated = errors.New("truncated TLV")

	// ErrInvalid reports an encoding that Appendix A forbids, or a Writer call
	// that would produce one: a reserved element type, an end-of-container
	// with a tag or outside a container, a tag not allowed where it appears,
	// invalid UTF-8, data after the top-level element, or unbalanced
	// containers.
	ErrInvalid = errors.New("invalid TLV")

	// ErrDepth reports containers nested deeper than the configured limit.
	ErrDepth = errors.New("TLV nesting too deep")

	// ErrType reports an accessor called on an element of another type, or with
	// no current element.
	ErrType = errors.New("wrong TLV element type")

	// ErrRange reports a value that does not fit the requested Go type.
	ErrRange = errors.New("TLV value out of range")
)

// Errors for API misuse are allocated once so that the failure paths of hot
// accessors stay allocation-free.
var (
	errNoElement    = fmt.Errorf("tlv: no current element: %w", ErrType)
	errNotContainer = fmt.Errorf("tlv: current element is not a container: %w", ErrType)
	errNotEntered   = fmt.Errorf("tlv: Exit called outside a container: %w", ErrInvalid)
)
