package im

import (
	"errors"
	"fmt"

	"github.com/mattercam/mattercam/matter/message"
)

// Protocol is the Interaction Model protocol ID (Core §10.2.1: Vendor ID
// 0x0000, PROTOCOL_ID_INTERACTION_MODEL).
const Protocol = message.ProtocolInteractionModel

// Opcode is an Interaction Model message type (Core §10.2.1 "IM Protocol
// Messages").
type Opcode uint8

// Interaction Model opcodes (Core §10.2.1, table "Protocol Opcode").
const (
	OpStatusResponse    Opcode = 0x01
	OpReadRequest       Opcode = 0x02
	OpSubscribeRequest  Opcode = 0x03
	OpSubscribeResponse Opcode = 0x04
	OpReportData        Opcode = 0x05
	OpWriteRequest      Opcode = 0x06
	OpWriteResponse     Opcode = 0x07
	OpInvokeRequest     Opcode = 0x08
	OpInvokeResponse    Opcode = 0x09
	OpTimedRequest      Opcode = 0x0A
)

var opcodeNames = [...]string{
	OpStatusResponse: "StatusResponse", OpReadRequest: "ReadRequest",
	OpSubscribeRequest: "SubscribeRequest", OpSubscribeResponse: "SubscribeResponse",
	OpReportData: "ReportData", OpWriteRequest: "WriteRequest", OpWriteResponse: "WriteResponse",
	OpInvokeRequest: "InvokeRequest", OpInvokeResponse: "InvokeResponse", OpTimedRequest: "TimedRequest",
}

func (o Opcode) String() string {
	if int(o) < len(opcodeNames) && opcodeNames[o] != "" {
		return opcodeNames[o]
	}
	return fmt.Sprintf("Opcode(0x%02X)", uint8(o))
}

// InteractionModelRevision is the revision this implementation sends in
// every message (context tag 0xFF, Core §10.2.2.2): 12, that of Matter 1.4
// and later, as matter.js 0.17 (Matter 1.6) sends.
const InteractionModelRevision = 12

// tagIMRevision is the context tag of InteractionModelRevision in every
// message (Core §10.2.2.2).
const tagIMRevision = 0xFF

// Decoder bounds. Every array in a message is bounded by the message
// itself; these caps keep what one message can make the decoder allocate
// well below that, independent of the transport's message size.
const (
	// MaxDecodedItems bounds the entries of one array in a message: paths,
	// filters, reports, writes, commands.
	MaxDecodedItems = 1024
)

// ErrMalformed reports a message or information block that does not
// decode: wrong TLV types, missing mandatory fields, duplicate fields,
// out-of-range values, or more entries than MaxDecodedItems. The server
// answers such a request with INVALID_ACTION (Core §8.2.3).
var ErrMalformed = errors.New("im: malformed message")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}
