// Package device assembles a Matter node from the stack's layers: the
// UDP and TCP transports on one port, the session table and exchange
// manager, PASE/CASE, the Interaction Model server, and the root node
// (endpoint 0) with the camera endpoint (1), all persisted under one state
// directory. It is the only place that knows how the layers connect;
// cmd/mattercam only configures it.
package device

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mattercam/mattercam/matter/attestation"
	"github.com/mattercam/mattercam/matter/clusters/administratorcommissioning"
	avsm "github.com/mattercam/mattercam/matter/clusters/cameraavstreammanagement"
	"github.com/mattercam/mattercam/matter/clusters/rootnode"
	"github.com/mattercam/mattercam/matter/clusters/webrtctransportprovider"
	"github.com/mattercam/mattercam/matter/crypto"
	"github.com/mattercam/mattercam/matter/dm"
	"github.com/mattercam/mattercam/matter/dnssd"
	"github.com/mattercam/mattercam/matter/im"
	"github.com/mattercam/mattercam/matter/onboarding"
	"github.com/mattercam/mattercam/matter/securechannel"
	"github.com/mattercam/mattercam/matter/session"
	"github.com/mattercam/mattercam/matter/storage"
	"github.com/mattercam/mattercam/matter/transport"
)

// DefaultPort is the Matter port (UDP and TCP).
const DefaultPort = 5540

// Spec revisions announced in session parameters; they match Basic
// Information and the model the clusters were generated from (Matter 1.6).
const (
	specificationVersion = 0x01060000
	dataModelRevision    = 21
	imRevision           = 12
	maxPathsPerInvoke    = 1
)

// Config configures a Device.
type Config struct {
	// StateDir holds every persistent file. Required.
	StateDir string
	// Port is the UDP and TCP port; 0 means DefaultPort, and a negative
	// value picks a free port (tests).
	Port int
	// Factory is the factory data (identity, attestation, passcode
	// verifier). Required.
	Factory *attestation.FactoryData
	// Interface names the network interface the Network Commissioning
	// cluster describes; "" picks the first non-loopback interface that
	// is up.
	Interface string
	// DisableMDNS turns DNS-SD advertising off (tests that run many
	// nodes on one host, or a controller that is given the address).
	DisableMDNS bool
	// MDNS configures DNS-SD: avahi-daemon when it is reachable on the
	// system bus, else the embedded responder.
	MDNS                  dnssd.Config
	SoftwareVersion       uint32
	SoftwareVersionString string
	// FailSafeExpiry and MaxCumulativeFailsafe are BasicCommissioningInfo
	// (Core §11.10.6.2): the fail-safe a commissioner arms first (0 means
	// 60 s) and the longest it may keep one armed in total (0 means 900 s).
	FailSafeExpiry, MaxCumulativeFailsafe time.Duration
	// HostTimeSynced reports whether the host clock is synchronised, so
	// Time Synchronization can serve it as UTCTime; nil means never.
	HostTimeSynced func() bool
	// Camera, when set, serves Camera AV Stream Management and the WebRTC
	// Transport Provider on the Camera endpoint.
	Camera *CameraConfig
	Logger *slog.Logger
}

// Device is a running Matter node.
type Device struct {
	cfg Config
	log *slog.Logger

	store  *storage.Store
	udp    *transport.UDPTransport
	tcp    *transport.TCPTransport
	table  *session.Table
	mgr    *transport.Manager
	sc     *securechannel.Server
	events *dm.Events
	node   *dm.Node
	root   *rootnode.RootNode
	avsm   *avsm.Server                    // nil without a camera
	webrtc *webrtctransportprovider.Server // nil without a camera
	im     *im.Server
	imc    *im.Client // the device's own requests to peers (see Peer)
	peers  peerTable
	// timeClient reads the trusted time source (timesync.go).
	timeClient *timeClient

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // deferred session closes, advertising, dials, the time client

	enhanced atomic.Bool // the open window is an enhanced one (CM=2)
	// discriminator of the open window: the factory one, or the one an
	// administrator chose for an enhanced window (Core §11.19.8.1).
	discriminator atomic.Uint32

	// rootMu guards root while New builds it: CASE handshakes may ask for
	// fabrics as soon as the transports are up.
	rootMu sync.Mutex
}

// New starts a node. When it has no fabric it opens the initial
// commissioning window with the factory passcode verifier.
func New(cfg Config) (d *Device, err error) {
	if cfg.Factory == nil || cfg.StateDir == "" {
		return nil, errors.New("device: factory data and state directory are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	d = &Device{cfg: cfg, log: cfg.Logger.With("component", "matter")}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	defer func() {
		if err != nil {
			d.Close()
		}
	}()
	if d.store, err = storage.Open(cfg.StateDir); err != nil {
		return nil, fmt.Errorf("device: %w", err)
	}
	port := cfg.Port
	switch {
	case port == 0:
		port = DefaultPort
	case port < 0:
		port = transport.AnyPort
	}
	if d.udp, err = transport.ListenUDP(transport.UDPConfig{Port: port}); err != nil {
		return nil, fmt.Errorf("device: %w", err)
	}
	if d.tcp, err = transport.ListenTCP(transport.TCPConfig{Port: d.udp.Port()}); err != nil {
		return nil, fmt.Errorf("device: %w", err)
	}
	if d.table, err = session.NewTable(session.Config{
		NewAEAD: crypto.NewCCM,
		OnRemove: func(s *session.Secure, _ session.RemoveReason) {
			if d.mgr != nil {
				d.mgr.CloseSession(s)
			}
			if d.im != nil {
				d.im.CancelSession(s)
			}
			d.sessionRemoved(s)
		},
	}); err != nil {
		return nil, fmt.Errorf("device: %w", err)
	}
	if d.mgr, err = transport.NewManager(transport.ManagerConfig{
		Transports: []transport.Transport{d.udp, d.tcp}, Sessions: d.table, Logger: d.log,
	}); err != nil {
		return nil, fmt.Errorf("device: %w", err)
	}
	params := session.Params{
		IdleInterval: session.DefaultIdleInterval, ActiveInterval: session.DefaultActiveInterval,
		ActiveThreshold: session.DefaultActiveThreshold, DataModelRevision: dataModelRevision,
		InteractionModelRevision: imRevision, SpecificationVersion: specificationVersion,
		MaxPathsPerInvoke: maxPathsPerInvoke, SupportedTransports: session.TransportTCPServer | session.TransportTCPClient,
		MaxTCPMessageSize: transport.DefaultMaxTCPMessageSize,
	}
	if d.sc, err = securechannel.NewServer(securechannel.Config{
		Manager: d.mgr, Sessions: d.table, Fabrics: fabricsFunc(d.fabrics), Params: params, Logger: d.log,
		OnEstablished: d.sessionEstablished,
	}); err != nil {
		return nil, fmt.Errorf("device: %w", err)
	}
	if d.events, err = dm.NewEvents(dm.EventsConfig{Store: eventStore{d.store}}); err != nil {
		return nil, fmt.Errorf("device: %w", err)
	}
	d.node = dm.NewNode()
	iface := cfg.Interface
	if iface == "" {
		iface = defaultInterface()
	}
	d.timeClient = newTimeClient(d.readTrustedTime, d.log.With("component", "timesync-client"))
	root, err := rootnode.New(rootnode.Config{
		Node: d.node, Events: d.events, Store: d.store, Factory: cfg.Factory,
		Window: &window{d: d}, Interface: iface, MaxPathsPerInvoke: maxPathsPerInvoke,
		SoftwareVersion: cfg.SoftwareVersion, SoftwareVersionString: cfg.SoftwareVersionString,
		FailSafeExpiryLength: cfg.FailSafeExpiry, MaxCumulativeFailsafe: cfg.MaxCumulativeFailsafe,
		HostTimeSynced: cfg.HostTimeSynced, Logger: d.log,
		RequestTrustedTime: d.timeClient.Request, TrustedTimeSourceChanged: d.trustedTimeSourceChanged,
		Callbacks: rootnode.Callbacks{
			ClosePASE: func() {
				d.closeLater(func(s *session.Secure) bool { return s.AuthMode() == session.AuthPASE }, nil)
			},
			CloseFabricSessions: func(idx uint8) { d.closeFabric(idx, nil) },
			FabricRemoved:       d.fabricRemoved,
			Commissionable: func() {
				if err := d.openInitialWindow(); err != nil {
					d.log.Error("reopen commissioning window", "err", err)
				}
			},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("device: %w", err)
	}
	d.rootMu.Lock()
	d.root = root
	d.rootMu.Unlock()
	if cfg.Camera != nil {
		if err := d.addCamera(cfg.Camera, root); err != nil {
			return nil, err
		}
	}
	// The client receives the reports of subscriptions the device makes
	// through Peer; the server hands them over.
	if d.imc, err = im.NewClient(im.ClientConfig{Manager: d.mgr, Logger: d.log}); err != nil {
		return nil, fmt.Errorf("device: %w", err)
	}
	if d.im, err = im.NewServer(im.Config{
		Manager: d.mgr, Node: d.node, Access: root, Events: d.events, MaxPathsPerInvoke: maxPathsPerInvoke,
		Client: d.imc,
	}); err != nil {
		return nil, fmt.Errorf("device: %w", err)
	}
	d.startTimeClient(root)
	if err := root.Start(); err != nil {
		return nil, fmt.Errorf("device: %w", err)
	}
	if !root.Commissioned() {
		if err := d.openInitialWindow(); err != nil {
			return nil, err
		}
	}
	if !cfg.DisableMDNS {
		mcfg := cfg.MDNS
		if mcfg.Logger == nil {
			mcfg.Logger = d.log
		}
		actx, cancel := context.WithTimeout(d.ctx, 5*time.Second)
		adv, err := dnssd.New(actx, mcfg)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("device: dns-sd: %w", err)
		}
		d.wg.Add(1)
		go d.advertise(d.ctx, adv)
	}
	d.log.Info("matter node up", "port", d.udp.Port(), "commissioned", root.Commissioned(),
		"fabrics", root.Fabrics().CommissionedFabrics())
	return d, nil
}

func (d *Device) fabrics() []securechannel.Fabric {
	d.rootMu.Lock()
	r := d.root
	d.rootMu.Unlock()
	if r == nil {
		return nil
	}
	return r.Fabrics().Fabrics()
}

// fabricsFunc adapts a function to securechannel.Fabrics.
type fabricsFunc func() []securechannel.Fabric

func (f fabricsFunc) Fabrics() []securechannel.Fabric { return f() }

// openInitialWindow opens the commissioning window of an uncommissioned
// node with the factory verifier (Core §5.4.2.3).
func (d *Device) openInitialWindow() error {
	v, err := d.cfg.Factory.PasscodeVerifier()
	if err != nil {
		return fmt.Errorf("device: %w", err)
	}
	if err := d.sc.OpenPASEWindow(securechannel.PASEWindow{Verifier: v, Salt: d.cfg.Factory.Salt, Iterations: d.cfg.Factory.Iterations}); err != nil {
		return fmt.Errorf("device: open commissioning window: %w", err)
	}
	d.enhanced.Store(false)
	d.discriminator.Store(uint32(d.cfg.Factory.Discriminator))
	d.log.Info("commissioning window open", "discriminator", d.cfg.Factory.Discriminator)
	return nil
}

// window is the Administrator Commissioning cluster's view of the
// commissioning mode.
type window struct{ d *Device }

func (w *window) OpenEnhanced(p administratorcommissioning.WindowParams) error {
	if err := w.d.sc.OpenPASEWindow(securechannel.PASEWindow{Verifier: p.Verifier, Salt: p.Salt, Iterations: p.Iterations}); err != nil {
		return err
	}
	w.d.enhanced.Store(true)
	w.d.discriminator.Store(uint32(p.Discriminator))
	return nil
}

func (w *window) Close() { w.d.sc.ClosePASEWindow() }

func (w *window) IsOpen() bool {
	open, _ := w.d.sc.PASEWindowStatus()
	return open
}

// closeLater closes the matching sessions once the exchange that asked
// for it has answered (the root node's callbacks run inside a handler,
// before its response is sent on the very session being closed), then
// runs then, if not nil. The sessions are chosen now, not when they are
// closed: a session established meanwhile (a second commissioner's PASE
// right after the first one's CommissioningComplete) is not one the
// caller meant.
func (d *Device) closeLater(match func(*session.Secure) bool, then func()) {
	var doomed []*session.Secure
	for _, s := range d.table.Sessions() {
		if match(s) {
			doomed = append(doomed, s)
		}
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		select {
		case <-d.ctx.Done():
			return
		case <-time.After(500 * time.Millisecond):
		}
		for _, s := range doomed {
			s.Close()
		}
		if then != nil {
			then()
		}
	}()
}

func (d *Device) closeFabric(idx uint8, then func()) {
	d.closeLater(func(s *session.Secure) bool { return s.FabricIndex() == idx }, then)
}

// fabricRemoved is the root node's FabricRemoved: the fabric's
// subscriptions and WebRTC sessions end, its sessions close, and then
// what is known of its peers is forgotten. Not before: a closing session
// records its peer's address (sessionRemoved), which would bring the
// removed fabric's peers back.
func (d *Device) fabricRemoved(idx uint8) {
	d.im.CancelFabric(idx)
	if d.webrtc != nil {
		d.webrtc.RemoveFabric(idx)
	}
	d.closeFabric(idx, func() { d.forgetFabric(idx) })
}

// Onboarding returns the onboarding payload of the factory data.
func (d *Device) Onboarding() onboarding.Payload {
	f := d.cfg.Factory
	return onboarding.Payload{VendorID: f.VendorID, ProductID: f.ProductID, DiscoveryCapabilities: onboarding.OnNetwork,
		Discriminator: f.Discriminator, Passcode: f.Passcode}
}

// Commissioned reports whether the node has a fabric.
func (d *Device) Commissioned() bool { return d.root.Commissioned() }

// Port is the UDP and TCP port the node listens on.
func (d *Device) Port() int { return d.udp.Port() }

// Camera is endpoint 1; the camera clusters are added to it.
func (d *Device) Camera() *dm.Endpoint { return d.root.Camera }

// Close stops the node and waits for its goroutines.
func (d *Device) Close() error {
	d.cancel()
	d.closeCamera()
	d.stopPeers()
	d.wg.Wait()
	d.closeDialed()
	var errs []error
	if d.root != nil {
		errs = append(errs, d.root.Close())
	}
	if d.imc != nil {
		errs = append(errs, d.imc.Close())
	}
	if d.im != nil {
		errs = append(errs, d.im.Close())
	}
	if d.sc != nil {
		errs = append(errs, d.sc.Close())
	}
	if d.mgr != nil {
		errs = append(errs, d.mgr.Close())
	}
	// The manager does not close its transports.
	if d.udp != nil {
		errs = append(errs, d.udp.Close())
	}
	if d.tcp != nil {
		errs = append(errs, d.tcp.Close())
	}
	if d.store != nil {
		errs = append(errs, d.store.Close())
	}
	return errors.Join(errs...)
}

// defaultInterface names the first up, non-loopback interface, or "lo".
func defaultInterface() string {
	ifs, err := net.Interfaces()
	if err == nil {
		for _, i := range ifs {
			if i.Flags&net.FlagUp != 0 && i.Flags&net.FlagLoopback == 0 {
				return i.Name
			}
		}
	}
	return "lo"
}

// eventStore keeps the event-number bound in the state directory.
type eventStore struct{ s *storage.Store }

func (e eventStore) LoadEventNumber() (uint64, bool, error) {
	b, err := e.s.Get("event.number")
	if errors.Is(err, storage.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	if len(b) != 8 {
		return 0, false, fmt.Errorf("device: event number record of %d bytes", len(b))
	}
	return binary.LittleEndian.Uint64(b), true, nil
}

func (e eventStore) StoreEventNumber(v uint64) error {
	return e.s.Put("event.number", binary.LittleEndian.AppendUint64(nil, v))
}
