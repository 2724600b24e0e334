// Command dialdevice is a test-only Matter device for test/e2e/dial_test.go:
// matter/device in-process, which, once a controller has commissioned it and
// opened a CASE session, acts as a client of that controller through
// Device.Peer. It prints one JSON object per line on stdout:
//
//	{"event":"up","port":N}
//	{"event":"peer","fabric":F,"node":"…","addr":"…"}      the controller, from its CASE session
//	{"event":"read",…}                                      BasicInformation read from the controller
//	{"event":"invoke",…}                                    WebRTC Requestor Offer and End on the controller
//	{"event":"discover",…}                                  with -discover: a dial found by DNS-SD alone
//	{"event":"closed"}                                      after stdin closed and Device.Close returned
//
// and {"event":…,"error":"…"} for a step that failed. It exits when stdin
// closes or on SIGTERM.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/mattercam/mattercam/matter/attestation"
	"github.com/mattercam/mattercam/matter/clusters/basicinformation"
	"github.com/mattercam/mattercam/matter/clusters/webrtctransportdefinitions"
	"github.com/mattercam/mattercam/matter/clusters/webrtctransportrequestor"
	"github.com/mattercam/mattercam/matter/device"
	"github.com/mattercam/mattercam/matter/dm"
	"github.com/mattercam/mattercam/matter/im"
	"github.com/mattercam/mattercam/matter/tlv"
	"github.com/mattercam/mattercam/matter/transport"
)

func main() {
	state := flag.String("state-dir", "", "state `dir`")
	port := flag.Int("port", 0, "Matter UDP/TCP `port`")
	sessionID := flag.Uint("webrtc-session", 42, "WebRTC session `id` the controller registered")
	endpoint := flag.Uint("requestor-endpoint", 1, "the controller's WebRTC Transport Requestor `endpoint`")
	discover := flag.Bool("discover", false, "also dial the controller found by DNS-SD alone, with no address remembered")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if err := run(log, *state, *port, uint16(*sessionID), uint16(*endpoint), *discover); err != nil {
		log.Error("dialdevice", "err", err)
		os.Exit(1)
	}
}

func emit(v map[string]any) {
	b, _ := json.Marshal(v)
	fmt.Println(string(b))
}

func fail(event string, err error) { emit(map[string]any{"event": event, "error": err.Error()}) }

func run(log *slog.Logger, state string, port int, sessionID, endpoint uint16, discover bool) error {
	fd, err := attestation.Development()
	if err != nil {
		return err
	}
	d, err := device.New(device.Config{StateDir: state, Port: port, Factory: fd, DisableMDNS: true, Logger: log})
	if err != nil {
		return err
	}
	closed := false
	defer func() {
		if !closed {
			d.Close()
		}
	}()
	emit(map[string]any{"event": "up", "port": d.Port()})

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		stop()
	}()
	if err := steps(ctx, d, sessionID, endpoint, discover); err != nil {
		log.Error("steps", "err", err)
	}
	<-ctx.Done()
	closed = true
	if err := d.Close(); err != nil {
		return err
	}
	emit(map[string]any{"event": "closed"})
	return nil
}

func steps(ctx context.Context, d *device.Device, sessionID, endpoint uint16, discover bool) error {
	// The controller's node ID comes from the CASE session it opened
	// during commissioning (Core §5.5 step 18).
	var ctrl device.PeerInfo
	for {
		if ps := d.KnownPeers(); len(ps) > 0 {
			ctrl = ps[0]
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	emit(map[string]any{"event": "peer", "fabric": ctrl.FabricIndex, "node": fmt.Sprintf("%016X", ctrl.NodeID), "addr": ctrl.Addr.String(), "tcp": ctrl.TCP})

	// A read over whatever session is open: the controller's own. The
	// controller grants this node View after commissioning; until then
	// the read is refused, so retry.
	var values map[string]any
	var p *device.Peer
	err := retry(ctx, 20*time.Second, func() (err error) {
		if p, err = d.Peer(ctx, ctrl.FabricIndex, ctrl.NodeID, device.PeerOptions{}); err != nil {
			return err
		}
		values, err = readBasic(ctx, p)
		return err
	})
	if err != nil {
		fail("read", err)
		return err
	}
	emit(map[string]any{"event": "read", "values": values, "network": p.Session().Peer().Network.String(), "session": p.Session().LocalSessionID(),
		"role": p.Session().Role().String()})

	// Large messages need TCP: the device dials the controller. Four
	// callers at once share one dial.
	type result struct {
		p   *device.Peer
		err error
	}
	res := make(chan result, 4)
	for range 4 {
		go func() {
			p, err := d.Peer(ctx, ctrl.FabricIndex, ctrl.NodeID, device.PeerOptions{LargeMessages: true})
			res <- result{p, err}
		}()
	}
	sessions := map[uint16]bool{}
	for range 4 {
		r := <-res
		if r.err != nil {
			fail("invoke", r.err)
			return r.err
		}
		p = r.p
		sessions[p.Session().LocalSessionID()] = true
	}
	path := im.CmdPath(endpoint, webrtctransportrequestor.ID, webrtctransportrequestor.CmdOffer)
	offer := &webrtctransportrequestor.OfferRequest{WebRTCSessionID: sessionID, SDP: "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=mattercam dial test\r\nt=0 0\r\n"}
	// The controller registers the WebRTC session after commissioning;
	// until then it answers NOT_FOUND (controller.md §3: tolerate it).
	offers := 0
	err = retry(ctx, 20*time.Second, func() error {
		offers++
		return p.Invoke(ctx, path, encode(offer), nil, nil)
	})
	if err != nil {
		fail("invoke", err)
		return err
	}
	end := &webrtctransportrequestor.EndRequest{WebRTCSessionID: sessionID, Reason: webrtctransportdefinitions.WebRTCEndReasonUserHangup}
	if err := p.Invoke(ctx, im.CmdPath(endpoint, webrtctransportrequestor.ID, webrtctransportrequestor.CmdEnd), encode(end), nil, nil); err != nil {
		fail("invoke", err)
		return err
	}
	emit(map[string]any{"event": "invoke", "network": p.Session().Peer().Network.String(), "session": p.Session().LocalSessionID(),
		"role": p.Session().Role().String(), "sessions": len(sessions), "offers": offers, "peer": p.Session().Peer().Addr.String()})

	if !discover {
		return nil
	}
	// Operational discovery: with every session to the controller closed
	// and its address forgotten, only DNS-SD can find it.
	d.ResetPeer(ctx, ctrl.FabricIndex, ctrl.NodeID)
	p, err = d.Peer(ctx, ctrl.FabricIndex, ctrl.NodeID, device.PeerOptions{LargeMessages: true})
	if err == nil {
		values, err = readBasic(ctx, p)
	}
	if err != nil {
		fail("discover", err)
		return err
	}
	emit(map[string]any{"event": "discover", "values": values, "network": p.Session().Peer().Network.String(), "peer": p.Session().Peer().Addr.String()})
	return nil
}

// retry calls f until it succeeds, the error is not one that may go away
// (UNSUPPORTED_ACCESS before the ACL entry, NOT_FOUND before the WebRTC
// session is registered, a session the peer no longer acknowledges on,
// which the next Peer call replaces), or within passes.
func retry(ctx context.Context, within time.Duration, f func() error) error {
	deadline := time.Now().Add(within)
	for {
		err := f()
		var se *dm.StatusError
		transient := errors.Is(err, transport.ErrNoAck) ||
			(errors.As(err, &se) && (se.Status == dm.StatusUnsupportedAccess || se.Status == dm.StatusNotFound))
		if err == nil || !transient || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func readBasic(ctx context.Context, p *device.Peer) (map[string]any, error) {
	values := map[string]any{}
	for _, a := range []struct {
		name string
		id   uint32
		str  bool
	}{
		{"vendorId", basicinformation.AttrVendorID, false},
		{"productId", basicinformation.AttrProductID, false},
		{"productName", basicinformation.AttrProductName, true},
	} {
		err := p.ReadAttribute(ctx, im.AttrPath(0, basicinformation.ID, a.id), true, func(r *tlv.Reader) error {
			var err error
			if a.str {
				values[a.name], err = r.String()
			} else {
				values[a.name], err = r.Uint()
			}
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", a.name, err)
		}
	}
	return values, nil
}

func encode(v interface {
	EncodeTLV(w *tlv.Writer, tag tlv.Tag)
}) []byte {
	var w tlv.Writer
	v.EncodeTLV(&w, tlv.AnonymousTag())
	b, err := w.Bytes()
	if err != nil {
		panic(err) // a fixed, valid structure: cannot happen
	}
	return b
}
