package dm

import "fmt"

// Status is an Interaction Model status code (Matter Core §8.10). Cluster
// handlers return them as errors (*StatusError); the IM engine puts them on
// the wire.
type Status uint8

// Interaction Model status codes (Core §8.10.1).
const (
	StatusSuccess                   Status = 0x00
	StatusFailure                   Status = 0x01
	StatusInvalidSubscription       Status = 0x7D
	StatusUnsupportedAccess         Status = 0x7E
	StatusUnsupportedEndpoint       Status = 0x7F
	StatusInvalidAction             Status = 0x80
	StatusUnsupportedCommand        Status = 0x81
	StatusInvalidCommand            Status = 0x85
	StatusUnsupportedAttribute      Status = 0x86
	StatusConstraintError           Status = 0x87
	StatusUnsupportedWrite          Status = 0x88
	StatusResourceExhausted         Status = 0x89
	StatusNotFound                  Status = 0x8B
	StatusUnreportableAttribute     Status = 0x8C
	StatusInvalidDataType           Status = 0x8D
	StatusUnsupportedRead           Status = 0x8F
	StatusDataVersionMismatch       Status = 0x92
	StatusTimeout                   Status = 0x94
	StatusUnsupportedNode           Status = 0x9B
	StatusBusy                      Status = 0x9C
	StatusAccessRestricted          Status = 0x9D
	StatusUnsupportedCluster        Status = 0xC3
	StatusNoUpstreamSubscription    Status = 0xC5
	StatusNeedsTimedInteraction     Status = 0xC6
	StatusUnsupportedEvent          Status = 0xC7
	StatusPathsExhausted            Status = 0xC8
	StatusTimedRequestMismatch      Status = 0xC9
	StatusFailsafeRequired          Status = 0xCA
	StatusInvalidInState            Status = 0xCB
	StatusNoCommandResponse         Status = 0xCC
	StatusTermsAndConditionsChanged Status = 0xCD
	StatusMaintenanceRequired       Status = 0xCE
	StatusDynamicConstraintError    Status = 0xCF
	StatusAlreadyExists             Status = 0xD0
	StatusInvalidTransportType      Status = 0xD1
)

var statusNames = map[Status]string{
	StatusSuccess: "SUCCESS", StatusFailure: "FAILURE", StatusInvalidSubscription: "INVALID_SUBSCRIPTION",
	StatusUnsupportedAccess: "UNSUPPORTED_ACCESS", StatusUnsupportedEndpoint: "UNSUPPORTED_ENDPOINT",
	StatusInvalidAction: "INVALID_ACTION", StatusUnsupportedCommand: "UNSUPPORTED_COMMAND",
	StatusInvalidCommand: "INVALID_COMMAND", StatusUnsupportedAttribute: "UNSUPPORTED_ATTRIBUTE",
	StatusConstraintError: "CONSTRAINT_ERROR", StatusUnsupportedWrite: "UNSUPPORTED_WRITE",
	StatusResourceExhausted: "RESOURCE_EXHAUSTED", StatusNotFound: "NOT_FOUND",
	StatusUnreportableAttribute: "UNREPORTABLE_ATTRIBUTE", StatusInvalidDataType: "INVALID_DATA_TYPE",
	StatusUnsupportedRead: "UNSUPPORTED_READ", StatusDataVersionMismatch: "DATA_VERSION_MISMATCH",
	StatusTimeout: "TIMEOUT", StatusUnsupportedNode: "UNSUPPORTED_NODE", StatusBusy: "BUSY",
	StatusAccessRestricted: "ACCESS_RESTRICTED", StatusUnsupportedCluster: "UNSUPPORTED_CLUSTER",
	StatusNoUpstreamSubscription: "NO_UPSTREAM_SUBSCRIPTION", StatusNeedsTimedInteraction: "NEEDS_TIMED_INTERACTION",
	StatusUnsupportedEvent: "UNSUPPORTED_EVENT", StatusPathsExhausted: "PATHS_EXHAUSTED",
	StatusTimedRequestMismatch: "TIMED_REQUEST_MISMATCH", StatusFailsafeRequired: "FAILSAFE_REQUIRED",
	StatusInvalidInState: "INVALID_IN_STATE", StatusNoCommandResponse: "NO_COMMAND_RESPONSE",
	StatusTermsAndConditionsChanged: "TERMS_AND_CONDITIONS_CHANGED", StatusMaintenanceRequired: "MAINTENANCE_REQUIRED",
	StatusDynamicConstraintError: "DYNAMIC_CONSTRAINT_ERROR", StatusAlreadyExists: "ALREADY_EXISTS",
	StatusInvalidTransportType: "INVALID_TRANSPORT_TYPE",
}

func (s Status) String() string {
	if n, ok := statusNames[s]; ok {
		return n
	}
	return fmt.Sprintf("STATUS_0x%02X", uint8(s))
}

// StatusError carries an IM status, and for cluster-specific failures a
// cluster status (Core §8.10.2), from a handler to the engine.
type StatusError struct {
	Status        Status
	ClusterStatus *uint8
	Err           error // optional cause, for logs only; never sent
}

func (e *StatusError) Error() string {
	s := e.Status.String()
	if e.ClusterStatus != nil {
		s += fmt.Sprintf(" (cluster status %d)", *e.ClusterStatus)
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *StatusError) Unwrap() error { return e.Err }

// Errorf returns a StatusError with a cause for the logs.
func Errorf(s Status, format string, args ...any) *StatusError {
	return &StatusError{Status: s, Err: fmt.Errorf(format, args...)}
}

// ClusterError returns a StatusError with a cluster-specific status.
func ClusterError(s Status, clusterStatus uint8) *StatusError {
	return &StatusError{Status: s, ClusterStatus: &clusterStatus}
}
