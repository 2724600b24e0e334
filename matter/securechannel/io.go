package securechannel

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/mattercam/mattercam/matter/message"
	"github.com/mattercam/mattercam/matter/transport"
)

// conn is what a handshake driver needs of an exchange. *transport.Exchange
// implements it; tests script it.
type conn interface {
	Send(ctx context.Context, opcode uint8, payload []byte) error
	Receive(ctx context.Context) (transport.Message, error)
}

// send sends one Secure Channel message. On MRP it returns once the peer
// has acknowledged it.
func send(ctx context.Context, c conn, op Opcode, payload []byte) error {
	if err := c.Send(ctx, uint8(op), payload); err != nil {
		return fmt.Errorf("sending %v: %w", op, err)
	}
	return nil
}

// recv waits for the peer's next message, which must be one of want. A
// StatusReport in its place ends the handshake: it is returned as a
// *StatusError. Anything else is ErrUnexpected.
func recv(ctx context.Context, c conn, want ...Opcode) (Opcode, []byte, error) {
	msg, err := c.Receive(ctx)
	if err != nil {
		return 0, nil, fmt.Errorf("waiting for %v: %w", want[0], err)
	}
	if msg.ProtocolID != message.ProtocolSecureChannel || msg.VendorID != 0 {
		return 0, nil, fmt.Errorf("%w: protocol %#04x:%v while waiting for %v", ErrUnexpected, msg.VendorID, msg.ProtocolID, want[0])
	}
	op := Opcode(msg.Opcode)
	if slices.Contains(want, op) {
		return op, msg.Payload, nil
	}
	if op == OpStatusReport {
		var sr StatusReport
		if err := sr.Unmarshal(msg.Payload); err != nil {
			return 0, nil, err
		}
		return 0, nil, &StatusError{Report: sr}
	}
	return 0, nil, fmt.Errorf("%w: %v while waiting for %v", ErrUnexpected, op, want[0])
}

// recvStatus waits for the StatusReport that ends a handshake; anything
// but SESSION_ESTABLISHMENT_SUCCESS is an error.
func recvStatus(ctx context.Context, c conn) error {
	_, payload, err := recv(ctx, c, OpStatusReport)
	if err != nil {
		return err
	}
	var sr StatusReport
	if err := sr.Unmarshal(payload); err != nil {
		return err
	}
	if !sr.Success() {
		return &StatusError{Report: sr}
	}
	return nil
}

// sendStatus sends a StatusReport.
func sendStatus(ctx context.Context, c conn, sr StatusReport) error {
	return send(ctx, c, OpStatusReport, sr.AppendTo(nil))
}

// abortTimeout bounds how long a failing handshake waits for the peer to
// acknowledge the StatusReport that tells it so.
const abortTimeout = 5 * time.Second

// reportFor chooses the StatusReport that tells the peer a handshake failed
// with err (§4.10.1: "the receiver of a message that fails ... SHALL send a
// StatusReport"), or none when the peer already knows: it sent a
// StatusReport itself, or the exchange is gone.
func reportFor(err error) (StatusReport, bool) {
	var se *StatusError
	switch {
	case err == nil, errors.As(err, &se),
		errors.Is(err, transport.ErrClosed), errors.Is(err, transport.ErrNoAck),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return StatusReport{}, false
	case errors.Is(err, ErrNoFabric):
		return statusNoSharedRoot, true
	}
	return statusInvalidParam, true
}

// abort tells the peer the handshake failed with err, if it needs telling,
// and returns err. The report is sent even if ctx has just ended, within
// abortTimeout.
func abort(ctx context.Context, c conn, err error) error {
	if sr, ok := reportFor(err); ok {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
		_ = sendStatus(actx, c, sr)
		cancel()
	}
	return err
}
