package fabric

import (
	"errors"
	"fmt"
)

// Status is the NodeOperationalCertStatusEnum (§11.18.4.3), the StatusCode of
// an NOCResponse.
type Status uint8

// NodeOperationalCertStatusEnum values; 7 and 8 are not assigned.
const (
	StatusOK                  Status = 0  // no error
	StatusInvalidPublicKey    Status = 1  // the NOC's public key is not the CSR's
	StatusInvalidNodeOpID     Status = 2  // the NOC's node ID is not an operational node ID
	StatusInvalidNOC          Status = 3  // any other validation error in the NOC chain
	StatusMissingCSR          Status = 4  // no CSR this NOC could match
	StatusTableFull           Status = 5  // SupportedFabrics fabrics already
	StatusInvalidAdminSubject Status = 6  // CaseAdminSubject is not a CASE subject
	StatusFabricConflict      Status = 9  // the (root public key, fabric ID) pair is already present
	StatusLabelConflict       Status = 10 // another fabric has the label
	StatusInvalidFabricIndex  Status = 11 // no such fabric
)

func (s Status) String() string {
	switch s {
	case StatusOK:
		return "OK"
	case StatusInvalidPublicKey:
		return "InvalidPublicKey"
	case StatusInvalidNodeOpID:
		return "InvalidNodeOpId"
	case StatusInvalidNOC:
		return "InvalidNOC"
	case StatusMissingCSR:
		return "MissingCsr"
	case StatusTableFull:
		return "TableFull"
	case StatusInvalidAdminSubject:
		return "InvalidAdminSubject"
	case StatusFabricConflict:
		return "FabricConflict"
	case StatusLabelConflict:
		return "LabelConflict"
	case StatusInvalidFabricIndex:
		return "InvalidFabricIndex"
	}
	return fmt.Sprintf("Status(%d)", uint8(s))
}

// Error is a failure that the NOCResponse reports with a status code.
type Error struct {
	Status Status
	// Err is the cause, for logs and the response's DebugText.
	Err error
}

func (e *Error) Error() string {
	if e.Err == nil {
		return "fabric: " + e.Status.String()
	}
	return "fabric: " + e.Status.String() + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is one of the Err* values with e's status, so that
// errors.Is(err, ErrFabricConflict) works on errors carrying a cause.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Err == nil && t.Status == e.Status
}

// Values to compare against with errors.Is.
var (
	ErrInvalidPublicKey    = &Error{Status: StatusInvalidPublicKey}
	ErrInvalidNodeOpID     = &Error{Status: StatusInvalidNodeOpID}
	ErrInvalidNOC          = &Error{Status: StatusInvalidNOC}
	ErrMissingCSR          = &Error{Status: StatusMissingCSR}
	ErrTableFull           = &Error{Status: StatusTableFull}
	ErrInvalidAdminSubject = &Error{Status: StatusInvalidAdminSubject}
	ErrFabricConflict      = &Error{Status: StatusFabricConflict}
	ErrLabelConflict       = &Error{Status: StatusLabelConflict}
	ErrInvalidFabricIndex  = &Error{Status: StatusInvalidFabricIndex}
)

// Errors the cluster answers with an Interaction Model status rather than an
// NOCResponse.
var (
	// ErrConstraint is CONSTRAINT_ERROR: a command out of sequence within
	// the fail-safe (a second AddTrustedRootCertificate, AddNOC or
	// UpdateNOC, CSRRequest after AddNOC, AddNOC after a CSR for UpdateNOC
	// and the reverse, UpdateNOC after AddTrustedRootCertificate), or a
	// field outside its constraints (IPK length, label length, vendor ID).
	ErrConstraint = errors.New("fabric: constraint error")
	// ErrInvalidRoot is INVALID_COMMAND: AddTrustedRootCertificate with a
	// certificate that is not a valid RCAC (§11.18.6.13).
	ErrInvalidRoot = errors.New("fabric: invalid root certificate")
)

// StatusOf returns the NOCResponse status of err: StatusOK for nil, the
// status of an *Error, and false for errors that have none (ErrConstraint,
// ErrInvalidRoot, storage failures), which the cluster answers with an
// Interaction Model status.
func StatusOf(err error) (Status, bool) {
	if err == nil {
		return StatusOK, true
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Status, true
	}
	return 0, false
}

func statusErr(s Status, format string, args ...any) error {
	return &Error{Status: s, Err: fmt.Errorf(format, args...)}
}

func constraintErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrConstraint, fmt.Sprintf(format, args...))
}
