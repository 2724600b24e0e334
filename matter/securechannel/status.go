package securechannel

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/mattercam/mattercam/matter/message"
	"github.com/mattercam/mattercam/matter/transport"
)

// Opcode is a message type of the Secure Channel protocol (§4.10, "Secure
// Channel Protocol Messages" table).
type Opcode uint8

// Secure Channel opcodes.
const (
	OpMsgCounterSyncReq  Opcode = 0x00 // message counter synchronization (§4.6)
	OpMsgCounterSyncRsp  Opcode = 0x01
	OpStandaloneAck      Opcode = 0x10 // MRP (§4.12); handled by package transport
	OpPBKDFParamRequest  Opcode = 0x20 // PASE (§4.14.1)
	OpPBKDFParamResponse Opcode = 0x21
	OpPake1              Opcode = 0x22
	OpPake2              Opcode = 0x23
	OpPake3              Opcode = 0x24
	OpSigma1             Opcode = 0x30 // CASE (§4.14.2)
	OpSigma2             Opcode = 0x31
	OpSigma3             Opcode = 0x32
	OpSigma2Resume       Opcode = 0x33
	OpStatusReport       Opcode = 0x40 // §4.10.1 and Appendix D
	OpICDCheckIn         Opcode = 0x50 // ICD Check-In message
)

var opcodeNames = map[Opcode]string{
	OpMsgCounterSyncReq:  "MsgCounterSyncReq",
	OpMsgCounterSyncRsp:  "MsgCounterSyncRsp",
	OpStandaloneAck:      "StandaloneAck",
	OpPBKDFParamRequest:  "PBKDFParamRequest",
	OpPBKDFParamResponse: "PBKDFParamResponse",
	OpPake1:              "Pake1",
	OpPake2:              "Pake2",
	OpPake3:              "Pake3",
	OpSigma1:             "Sigma1",
	OpSigma2:             "Sigma2",
	OpSigma3:             "Sigma3",
	OpSigma2Resume:       "Sigma2_Resume",
	OpStatusReport:       "StatusReport",
	OpICDCheckIn:         "ICD_CheckIn",
}

func (o Opcode) String() string {
	if s, ok := opcodeNames[o]; ok {
		return s
	}
	return fmt.Sprintf("Opcode(%#02x)", uint8(o))
}

// GeneralCode is the protocol-independent status of a StatusReport
// (Appendix D, "General Status Codes").
type GeneralCode uint16

// General status codes.
const (
	GeneralSuccess           GeneralCode = 0
	GeneralFailure           GeneralCode = 1
	GeneralBadPrecondition   GeneralCode = 2
	GeneralOutOfRange        GeneralCode = 3
	GeneralBadRequest        GeneralCode = 4
	GeneralUnsupported       GeneralCode = 5
	GeneralUnexpected        GeneralCode = 6
	GeneralResourceExhausted GeneralCode = 7
	GeneralBusy              GeneralCode = 8
	GeneralTimeout           GeneralCode = 9
	GeneralContinue          GeneralCode = 10
	GeneralAborted           GeneralCode = 11
	GeneralInvalidArgument   GeneralCode = 12
	GeneralNotFound          GeneralCode = 13
	GeneralAlreadyExists     GeneralCode = 14
	GeneralPermissionDenied  GeneralCode = 15
	GeneralDataLoss          GeneralCode = 16
	GeneralMessageTooLarge   GeneralCode = 17 // added in Core 1.3
)

var generalNames = [...]string{
	"SUCCESS", "FAILURE", "BAD_PRECONDITION", "OUT_OF_RANGE", "BAD_REQUEST",
	"UNSUPPORTED", "UNEXPECTED", "RESOURCE_EXHAUSTED", "BUSY", "TIMEOUT",
	"CONTINUE", "ABORTED", "INVALID_ARGUMENT", "NOT_FOUND", "ALREADY_EXISTS",
	"PERMISSION_DENIED", "DATA_LOSS", "MESSAGE_TOO_LARGE",
}

func (c GeneralCode) String() string {
	if int(c) < len(generalNames) {
		return generalNames[c]
	}
	return fmt.Sprintf("GeneralCode(%d)", uint16(c))
}

// ProtocolCode is the Secure Channel protocol-specific status of a
// StatusReport whose protocol is the Secure Channel (§4.10.1, "Secure
// Channel Protocol Codes").
type ProtocolCode uint16

// Secure Channel protocol codes.
const (
	// CodeSessionEstablishmentSuccess ends a successful PASE or CASE.
	CodeSessionEstablishmentSuccess ProtocolCode = 0x0000
	// CodeNoSharedTrustRoots: no fabric matches Sigma1's destination ID.
	CodeNoSharedTrustRoots ProtocolCode = 0x0001
	// CodeInvalidParameter: generic failure of session establishment.
	CodeInvalidParameter ProtocolCode = 0x0002
	// CodeCloseSession: the sender closes the session the report is sent
	// on (§4.10.1, "CloseSession").
	CodeCloseSession ProtocolCode = 0x0003
	// CodeBusy: the sender cannot take the request now; ProtocolData holds
	// the minimum wait in milliseconds (§4.10.1, "Busy").
	CodeBusy ProtocolCode = 0x0004
	// CodeSessionNotFound is defined by the reference SDK for a message
	// that names an unknown session; this package does not send it.
	CodeSessionNotFound ProtocolCode = 0x0005
	// CodeGeneralFailure is the placeholder used when there is no
	// protocol-specific code.
	CodeGeneralFailure ProtocolCode = 0xFFFF
)

func (c ProtocolCode) String() string {
	switch c {
	case CodeSessionEstablishmentSuccess:
		return "SESSION_ESTABLISHMENT_SUCCESS"
	case CodeNoSharedTrustRoots:
		return "NO_SHARED_TRUST_ROOTS"
	case CodeInvalidParameter:
		return "INVALID_PARAMETER"
	case CodeCloseSession:
		return "CLOSE_SESSION"
	case CodeBusy:
		return "BUSY"
	case CodeSessionNotFound:
		return "SESSION_NOT_FOUND"
	case CodeGeneralFailure:
		return "GENERAL_FAILURE"
	}
	return fmt.Sprintf("ProtocolCode(%#04x)", uint16(c))
}

// StatusReportMinSize is the size of a StatusReport without protocol data:
// GeneralCode (2) ‖ ProtocolId (4) ‖ ProtocolCode (2).
const StatusReportMinSize = 8

// MaxStatusDataSize bounds the protocol data this package accepts in a
// StatusReport; the message size bounds it anyway.
const MaxStatusDataSize = transport.DefaultMaxTCPMessageSize

// StatusReport is the StatusReport message (Appendix D, "Status Report
// Messages"; §4.10.1 for its use in the Secure Channel). All fields are
// little-endian:
//
//	GeneralCode (uint16) ‖ ProtocolId (uint32: Vendor ID in the upper 16
//	bits, protocol in the lower) ‖ ProtocolCode (uint16) ‖ ProtocolData (rest)
type StatusReport struct {
	GeneralCode GeneralCode
	// ProtocolVendorID and ProtocolID name the protocol of ProtocolCode;
	// the Secure Channel is vendor 0, protocol 0.
	ProtocolVendorID uint16
	ProtocolID       message.ProtocolID
	ProtocolCode     ProtocolCode
	// ProtocolData is the rest of the message. Decoded reports alias the
	// input.
	ProtocolData []byte
}

// NewStatus returns a Secure Channel StatusReport.
func NewStatus(general GeneralCode, code ProtocolCode) StatusReport {
	return StatusReport{GeneralCode: general, ProtocolID: message.ProtocolSecureChannel, ProtocolCode: code}
}

// BusyStatus returns the Busy StatusReport (§4.10.1, "Busy"): BUSY, Secure
// Channel, BUSY, and the minimum time the initiator must wait before
// retrying, in milliseconds as a uint16.
func BusyStatus(minWait time.Duration) StatusReport {
	ms := min(max(minWait.Milliseconds(), 0), 0xFFFF)
	s := NewStatus(GeneralBusy, CodeBusy)
	s.ProtocolData = binary.LittleEndian.AppendUint16(nil, uint16(ms))
	return s
}

// Frequently sent reports.
var (
	statusSuccess      = NewStatus(GeneralSuccess, CodeSessionEstablishmentSuccess)
	statusInvalidParam = NewStatus(GeneralFailure, CodeInvalidParameter)
	statusNoSharedRoot = NewStatus(GeneralFailure, CodeNoSharedTrustRoots)
	statusCloseSession = NewStatus(GeneralSuccess, CodeCloseSession)
)

// IsSecureChannel reports whether the report's protocol code is a Secure
// Channel code.
func (s StatusReport) IsSecureChannel() bool {
	return s.ProtocolVendorID == 0 && s.ProtocolID == message.ProtocolSecureChannel
}

// Success reports whether s is the SESSION_ESTABLISHMENT_SUCCESS that ends a
// handshake.
func (s StatusReport) Success() bool {
	return s.GeneralCode == GeneralSuccess && s.IsSecureChannel() && s.ProtocolCode == CodeSessionEstablishmentSuccess
}

// MinimumWait returns the minimum wait of a Busy report, and whether s is
// one.
func (s StatusReport) MinimumWait() (time.Duration, bool) {
	if s.GeneralCode != GeneralBusy || !s.IsSecureChannel() || s.ProtocolCode != CodeBusy || len(s.ProtocolData) < 2 {
		return 0, false
	}
	return time.Duration(binary.LittleEndian.Uint16(s.ProtocolData)) * time.Millisecond, true
}

// AppendTo appends the encoded report to dst.
func (s StatusReport) AppendTo(dst []byte) []byte {
	dst = binary.LittleEndian.AppendUint16(dst, uint16(s.GeneralCode))
	dst = binary.LittleEndian.AppendUint32(dst, uint32(s.ProtocolVendorID)<<16|uint32(s.ProtocolID))
	dst = binary.LittleEndian.AppendUint16(dst, uint16(s.ProtocolCode))
	return append(dst, s.ProtocolData...)
}

// Unmarshal decodes a report. ProtocolData aliases b.
func (s *StatusReport) Unmarshal(b []byte) error {
	if len(b) < StatusReportMinSize {
		return fmt.Errorf("%w: status report of %d octets, want at least %d", ErrMalformed, len(b), StatusReportMinSize)
	}
	if len(b)-StatusReportMinSize > MaxStatusDataSize {
		return fmt.Errorf("%w: status report data of %d octets", ErrMalformed, len(b)-StatusReportMinSize)
	}
	pid := binary.LittleEndian.Uint32(b[2:])
	*s = StatusReport{
		GeneralCode:      GeneralCode(binary.LittleEndian.Uint16(b)),
		ProtocolVendorID: uint16(pid >> 16),
		ProtocolID:       message.ProtocolID(pid),
		ProtocolCode:     ProtocolCode(binary.LittleEndian.Uint16(b[6:])),
	}
	if len(b) > StatusReportMinSize {
		s.ProtocolData = b[StatusReportMinSize:]
	}
	return nil
}

func (s StatusReport) String() string {
	code := fmt.Sprintf("%#04x", uint16(s.ProtocolCode))
	if s.IsSecureChannel() {
		code = s.ProtocolCode.String()
	}
	str := fmt.Sprintf("%v, protocol %#04x:%#04x, %s", s.GeneralCode, s.ProtocolVendorID, uint16(s.ProtocolID), code)
	if d, ok := s.MinimumWait(); ok {
		str += fmt.Sprintf(", minimum wait %v", d)
	} else if len(s.ProtocolData) > 0 {
		str += fmt.Sprintf(", %d octets of data", len(s.ProtocolData))
	}
	return str
}

// Errors. Errors returned by this package wrap them; test with errors.Is.
var (
	// ErrMalformed reports a message that does not decode, or whose fields
	// have the wrong size or are out of range.
	ErrMalformed = errors.New("securechannel: malformed message")
	// ErrUnexpected reports a message that is not the one the handshake
	// expects next.
	ErrUnexpected = errors.New("securechannel: unexpected message")
	// ErrAuthentication reports a failed check of the peer: a wrong
	// SPAKE2+ confirmation (wrong passcode), a MIC or signature that does
	// not verify, or a certificate chain that does not validate.
	ErrAuthentication = errors.New("securechannel: peer authentication failed")
	// ErrNoWindow reports a PBKDFParamRequest while no commissioning window
	// is open, or a window closed during the handshake.
	ErrNoWindow = errors.New("securechannel: no commissioning window open")
	// ErrNoFabric reports a CASE request for a fabric this node is not on.
	ErrNoFabric = errors.New("securechannel: no matching fabric")
	// ErrClosed reports use of a closed Server.
	ErrClosed = errors.New("securechannel: closed")

	// The peer answered with a StatusReport; the error is a *StatusError
	// that matches one of these.

	// ErrBusy: the peer is busy; StatusError.MinimumWait says for how
	// long.
	ErrBusy = errors.New("securechannel: peer busy")
	// ErrNoSharedTrustRoots: the peer has no fabric that matches the
	// destination identifier.
	ErrNoSharedTrustRoots = errors.New("securechannel: no shared trust roots")
	// ErrInvalidParameter: the peer rejected the handshake (for PASE,
	// typically a wrong passcode).
	ErrInvalidParameter = errors.New("securechannel: peer rejected the handshake")
	// ErrPeerFailure: any other failure status.
	ErrPeerFailure = errors.New("securechannel: peer reported failure")
)

// StatusError is a StatusReport received from the peer in place of the
// expected message.
type StatusError struct {
	Report StatusReport
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("securechannel: peer sent status report (%v)", e.Report)
}

// Is matches ErrBusy, ErrNoSharedTrustRoots, ErrInvalidParameter and
// ErrPeerFailure.
func (e *StatusError) Is(target error) bool {
	r := e.Report
	switch target {
	case ErrBusy:
		return r.GeneralCode == GeneralBusy || (r.IsSecureChannel() && r.ProtocolCode == CodeBusy)
	case ErrNoSharedTrustRoots:
		return r.IsSecureChannel() && r.ProtocolCode == CodeNoSharedTrustRoots
	case ErrInvalidParameter:
		return r.IsSecureChannel() && r.ProtocolCode == CodeInvalidParameter
	case ErrPeerFailure:
		return !r.Success()
	}
	return false
}

// MinimumWait returns the wait a Busy report asks for, or 0.
func (e *StatusError) MinimumWait() time.Duration {
	d, _ := e.Report.MinimumWait()
	return d
}
