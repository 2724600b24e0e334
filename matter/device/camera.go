package device

import (
	"context"
	"fmt"

	avsm "github.com/mattercam/mattercam/matter/clusters/cameraavstreammanagement"
	"github.com/mattercam/mattercam/matter/clusters/rootnode"
	"github.com/mattercam/mattercam/matter/clusters/webrtctransportprovider"
	"github.com/mattercam/mattercam/matter/clusters/webrtctransportrequestor"
	"github.com/mattercam/mattercam/matter/im"
)

// CameraConfig is what the media side gives the camera clusters on
// endpoint 1: the capture capabilities and encoders behind Camera AV
// Stream Management (0x0551) and the WebRTC media behind the WebRTC
// Transport Provider (0x0553). The matter tree never sees capture or
// webrtc themselves (DESIGN §2 dependency rules); cmd/mattercam adapts
// them to these interfaces.
type CameraConfig struct {
	Capabilities avsm.Capabilities
	Encoders     avsm.Encoders
	Media        webrtctransportprovider.Media
	// MaxSessions is the WebRTC session limit (0: 5, never below 3).
	MaxSessions int
	// CurrentFrameRate reports the sensor's frame rate; nil reads 0.
	CurrentFrameRate func() uint16
}

// addCamera builds the camera clusters and adds them to the Camera
// endpoint. It runs before the Interaction Model serves the node.
func (d *Device) addCamera(cfg *CameraConfig, root *rootnode.RootNode) error {
	var err error
	d.avsm, err = avsm.New(avsm.Config{
		Capabilities: cfg.Capabilities, Encoders: cfg.Encoders, Store: d.store, Endpoint: rootnode.CameraEndpoint,
		Notify: d.node, Logger: d.log, CurrentFrameRate: cfg.CurrentFrameRate,
		// Privacy has one owner, AV Stream Management; the provider ends
		// the sessions the new state forbids (spec digest §5.6).
		OnPrivacyChanged: func() {
			if p := d.webrtc; p != nil {
				p.PrivacyChanged()
			}
		},
	})
	if err != nil {
		return fmt.Errorf("device: camera: %w", err)
	}
	ts := root.TimeSynchronization
	d.webrtc, err = webrtctransportprovider.New(webrtctransportprovider.Config{
		Endpoint: rootnode.CameraEndpoint, Media: cfg.Media, Streams: d.avsm, Requestor: requestor{d},
		UTCKnown:    func() bool { _, ok := ts.Now(); return ok },
		MaxSessions: cfg.MaxSessions, Notify: d.node, Logger: d.log,
	})
	if err != nil {
		d.avsm.Close()
		return fmt.Errorf("device: camera: %w", err)
	}
	root.Camera.Add(d.avsm)
	root.Camera.Add(d.webrtc)
	return nil
}

// AVStreams returns Camera AV Stream Management (nil without a camera),
// for the board's hard privacy switch (SetHardPrivacy).
func (d *Device) AVStreams() *avsm.Server { return d.avsm }

// WebRTC returns the WebRTC Transport Provider (nil without a camera).
func (d *Device) WebRTC() *webrtctransportprovider.Server { return d.webrtc }

// closeCamera stops the camera clusters: the provider first (it releases
// stream references and closes media), then the encoders.
func (d *Device) closeCamera() {
	if d.webrtc != nil {
		d.webrtc.Close()
	}
	if d.avsm != nil {
		d.avsm.Close()
	}
}

// requestor invokes the WebRTC Transport Requestor commands (0x0554) on
// the controller for the provider, over a CASE session with it that can
// carry large messages (TCP): the one the controller opened when there is
// one, else a new one (spec digest §4.1 step 6).
type requestor struct{ d *Device }

func (r requestor) Invoke(ctx context.Context, peer webrtctransportprovider.Peer, command uint32, fields []byte) error {
	p, err := r.d.Peer(ctx, peer.FabricIndex, peer.NodeID, PeerOptions{LargeMessages: true})
	if err != nil {
		return fmt.Errorf("device: requestor: %w", err)
	}
	path := im.CommandPath{Endpoint: peer.Endpoint, Cluster: webrtctransportrequestor.ID, Command: command}
	if err := p.Invoke(ctx, path, fields, nil, nil); err != nil {
		return fmt.Errorf("device: requestor: command 0x%02X: %w", command, err)
	}
	return nil
}
