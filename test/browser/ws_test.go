package browser_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// wsConn is the client end of a WebSocket (RFC 6455) with just what the
// DevTools protocol needs: whole text messages, masked as a client's must
// be, pings answered, no extensions. It sends no Origin header, which is
// what lets Chromium accept it without --remote-allow-origins.
type wsConn struct {
	conn net.Conn
	br   *bufio.Reader
	wmu  sync.Mutex // frames from concurrent writers must not interleave
}

const (
	wsContinuation = 0x0
	wsText         = 0x1
	wsBinary       = 0x2
	wsClose        = 0x8
	wsPing         = 0x9
	wsPong         = 0xA

	// wsMaxMessage bounds a message we will buffer; CDP replies here are
	// a few kilobytes, so anything near this is a bug, not data.
	wsMaxMessage = 64 << 20
)

// wsGUID is the fixed key suffix of the opening handshake (RFC 6455 §1.3).
const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

func dialWS(ctx context.Context, rawURL string) (*wsConn, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("websocket: %w", err)
	}
	if u.Scheme != "ws" {
		return nil, fmt.Errorf("websocket: %s: only ws:// is supported", rawURL)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, fmt.Errorf("websocket: %w", err)
	}
	ws, err := handshake(ctx, conn, u)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("websocket: %s: %w", rawURL, err)
	}
	return ws, nil
}

func handshake(ctx context.Context, conn net.Conn, u *url.URL) (*wsConn, error) {
	if dl, ok := ctx.Deadline(); ok {
		if err := conn.SetDeadline(dl); err != nil {
			return nil, err
		}
	}
	var nonce [16]byte
	rand.Read(nonce[:])
	key := base64.StdEncoding.EncodeToString(nonce[:])
	req := &http.Request{
		Method: http.MethodGet,
		URL:    u,
		Host:   u.Host,
		Header: http.Header{
			"Upgrade":               {"websocket"},
			"Connection":            {"Upgrade"},
			"Sec-WebSocket-Key":     {key},
			"Sec-WebSocket-Version": {"13"},
		},
	}
	if err := req.Write(conn); err != nil {
		return nil, err
	}
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, req)
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(io.LimitReader(res.Body, 512))
		return nil, fmt.Errorf("handshake: %s: %s", res.Status, body)
	}
	sum := sha1.Sum([]byte(key + wsGUID))
	if got, want := res.Header.Get("Sec-WebSocket-Accept"), base64.StdEncoding.EncodeToString(sum[:]); got != want {
		return nil, fmt.Errorf("handshake: Sec-WebSocket-Accept %q, want %q", got, want)
	}
	// The handshake deadline must not outlive it: the connection idles
	// between test steps.
	if err := conn.SetDeadline(time.Time{}); err != nil {
		return nil, err
	}
	return &wsConn{conn: conn, br: br}, nil
}

// writeFrame sends one final frame, masked with a fresh key.
func (w *wsConn) writeFrame(op byte, payload []byte) error {
	frame := make([]byte, 0, 14+len(payload))
	frame = append(frame, 0x80|op)
	switch n := len(payload); {
	case n < 126:
		frame = append(frame, 0x80|byte(n))
	case n <= 0xffff:
		frame = append(frame, 0x80|126)
		frame = binary.BigEndian.AppendUint16(frame, uint16(n))
	default:
		frame = append(frame, 0x80|127)
		frame = binary.BigEndian.AppendUint64(frame, uint64(n))
	}
	var mask [4]byte
	rand.Read(mask[:])
	frame = append(frame, mask[:]...)
	start := len(frame)
	frame = append(frame, payload...)
	for i := range payload {
		frame[start+i] ^= mask[i%4]
	}
	w.wmu.Lock()
	defer w.wmu.Unlock()
	if _, err := w.conn.Write(frame); err != nil {
		return fmt.Errorf("websocket: write: %w", err)
	}
	return nil
}

func (w *wsConn) writeText(msg []byte) error { return w.writeFrame(wsText, msg) }

// readMessage returns the next data message, reassembling fragments and
// answering control frames met on the way. A close frame ends the stream
// with io.EOF.
func (w *wsConn) readMessage() ([]byte, error) {
	var msg []byte
	for {
		var hdr [2]byte
		if _, err := io.ReadFull(w.br, hdr[:]); err != nil {
			return nil, fmt.Errorf("websocket: read: %w", err)
		}
		fin, op := hdr[0]&0x80 != 0, hdr[0]&0x0f
		n := uint64(hdr[1] & 0x7f)
		switch n {
		case 126:
			var ext [2]byte
			if _, err := io.ReadFull(w.br, ext[:]); err != nil {
				return nil, fmt.Errorf("websocket: read: %w", err)
			}
			n = uint64(binary.BigEndian.Uint16(ext[:]))
		case 127:
			var ext [8]byte
			if _, err := io.ReadFull(w.br, ext[:]); err != nil {
				return nil, fmt.Errorf("websocket: read: %w", err)
			}
			n = binary.BigEndian.Uint64(ext[:])
		}
		if n > uint64(wsMaxMessage-len(msg)) {
			return nil, fmt.Errorf("websocket: message exceeds %d bytes", wsMaxMessage)
		}
		// Servers do not mask (§5.1), but unmasking costs nothing.
		var mask []byte
		if hdr[1]&0x80 != 0 {
			mask = make([]byte, 4)
			if _, err := io.ReadFull(w.br, mask); err != nil {
				return nil, fmt.Errorf("websocket: read: %w", err)
			}
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(w.br, payload); err != nil {
			return nil, fmt.Errorf("websocket: read: %w", err)
		}
		if mask != nil {
			for i := range payload {
				payload[i] ^= mask[i%4]
			}
		}
		switch op {
		case wsClose:
			return nil, io.EOF
		case wsPing:
			if err := w.writeFrame(wsPong, payload); err != nil {
				return nil, err
			}
		case wsPong:
		case wsText, wsBinary, wsContinuation:
			msg = append(msg, payload...)
			if fin {
				return msg, nil
			}
		default:
			return nil, fmt.Errorf("websocket: unknown opcode %#x", op)
		}
	}
}

// Close sends a normal-closure frame and drops the connection without
// waiting for the peer's echo: we only close at the end, when nothing more
// will be read, and the peer may already be gone, so the frame is best
// effort.
func (w *wsConn) Close() error {
	_ = w.writeFrame(wsClose, binary.BigEndian.AppendUint16(nil, 1000))
	return w.conn.Close()
}
