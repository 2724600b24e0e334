// Package rootnode assembles the root node endpoint (endpoint 0) of the
// camera and the Descriptor of its Camera endpoint (endpoint 1): the
// clusters every Matter node carries (Core §9.x, §11.x) and those the
// Camera device type requires of its root node (Time Synchronization with
// TZ, NTPC and TSC; TLS Certificate Management and TLS Client Management;
// a wired Power Source), wired to the fabric table, the access control
// list, the attestation data and the node's callbacks.
//
// # Composition
//
//	EP0 device types: Root Node 0x0016 rev 4, Power Source 0x0011 rev 1
//	    servers: Descriptor, Access Control, Basic Information, General
//	             Commissioning, Network Commissioning (Ethernet), General
//	             Diagnostics, Time Synchronization, Administrator
//	             Commissioning, Operational Credentials, Group Key
//	             Management, TLS Certificate Management, TLS Client
//	             Management, Power Source
//	    clients: Time Synchronization; PartsList [1]
//	EP1 device type: Camera 0x0142 rev 1; clients: WebRTC Transport
//	    Requestor 0x0554. The camera clusters (Camera AV Stream
//	    Management, WebRTC Transport Provider, …) are added to it by the
//	    caller; the Descriptor lists whatever the endpoint holds when read.
//
// The two TLS clusters (Core §14.4, §14.5; the Camera's TLSCertificatesCond
// and TLSClientCond) take the node's UTC time from Time Synchronization:
// without one, certificates and endpoints cannot be provisioned. TLS
// Client Management endpoints reference certificates through TLS
// Certificate Management's Hold, and a referenced certificate cannot be
// removed; the clusters that open TLS connections (Push AV Stream
// Transport) get both servers from RootNode.
//
// # What the node provides
//
// New opens the fabric table and the access control list in the given
// store (and exposes them: CASE needs Fabrics, the Interaction Model
// needs Check). The node supplies the commissioning window (PASE and
// DNS-SD advertisement) and Callbacks for what the data model cannot do
// itself: closing sessions, and becoming commissionable again.
package rootnode

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/mattercam/mattercam/matter/acl"
	"github.com/mattercam/mattercam/matter/attestation"
	"github.com/mattercam/mattercam/matter/clusters/accesscontrol"
	"github.com/mattercam/mattercam/matter/clusters/administratorcommissioning"
	"github.com/mattercam/mattercam/matter/clusters/basicinformation"
	"github.com/mattercam/mattercam/matter/clusters/descriptor"
	"github.com/mattercam/mattercam/matter/clusters/generalcommissioning"
	"github.com/mattercam/mattercam/matter/clusters/generaldiagnostics"
	"github.com/mattercam/mattercam/matter/clusters/groupkeymanagement"
	"github.com/mattercam/mattercam/matter/clusters/internal/serve"
	"github.com/mattercam/mattercam/matter/clusters/networkcommissioning"
	"github.com/mattercam/mattercam/matter/clusters/operationalcredentials"
	"github.com/mattercam/mattercam/matter/clusters/powersource"
	"github.com/mattercam/mattercam/matter/clusters/timesynchronization"
	"github.com/mattercam/mattercam/matter/clusters/tlscertificatemanagement"
	"github.com/mattercam/mattercam/matter/clusters/tlsclientmanagement"
	"github.com/mattercam/mattercam/matter/dm"
	"github.com/mattercam/mattercam/matter/fabric"
	"github.com/mattercam/mattercam/matter/storage"
)

// Endpoints and device types (Matter 1.6 data model, Device Library).
const (
	RootEndpoint   uint16 = 0
	CameraEndpoint uint16 = 1

	DeviceTypeRootNode    uint32 = 0x0016
	DeviceTypePowerSource uint32 = 0x0011
	DeviceTypeCamera      uint32 = 0x0142

	RootNodeRevision    uint16 = 4
	PowerSourceRevision uint16 = 1
	CameraRevision      uint16 = 1

	// ClusterWebRTCTransportRequestor is the client cluster a Camera
	// declares: it invokes Offer, Answer, ICECandidates and End on the
	// controller's requestor.
	ClusterWebRTCTransportRequestor uint32 = 0x0554
)

// Callbacks are what the node does for the data model. Each runs on the
// goroutine of the change that calls for it, often an Interaction Model
// handler whose response has not been sent yet: close sessions once the
// current exchange is done, not inside the callback. Nil callbacks are
// skipped.
type Callbacks struct {
	// ClosePASE clears every PASE session and with it the commissioner's
	// implicit Administer grant: after CommissioningComplete (Core
	// §11.10.7.6 steps 3 and 4) and on fail-safe expiry (§11.10.7.2.2
	// steps 1 and 2).
	ClosePASE func()
	// CloseFabricSessions closes the CASE sessions of a fabric: one whose
	// UpdateNOC a fail-safe expiry undid (§11.10.7.2.2 step 3).
	CloseFabricSessions func(fabricIndex uint8)
	// FabricRemoved runs after a fabric left the table (RemoveFabric, or a
	// fail-safe expiry undoing AddNOC), once its ACL entries, group keys,
	// extension, trusted time source, TLS certificates and TLS endpoints
	// are gone: the node closes its sessions, ends its subscriptions and
	// forgets its CASE resumption records (§11.18.6.12).
	FabricRemoved func(fabricIndex uint8)
	// Commissionable runs after RemoveFabric removed the last fabric: the
	// node opens its initial commissioning window again.
	Commissionable func()
	// DefaultNTP passes the administrator's NTP server ("" for none) to
	// the host's NTP client.
	DefaultNTP func(server string)
}

// Config configures the root node.
type Config struct {
	// Node is the data model; New adds endpoints 0 and 1 to it. Required.
	Node *dm.Node
	// Events is the event log; nil records no events.
	Events *dm.Events
	// Store is the node's persistent state: fabrics, ACLs and the
	// clusters' stored attributes. Required.
	Store *storage.Store
	// Factory is the factory data: identity and attestation. Required.
	Factory *attestation.FactoryData
	// Window is the node's commissioning mode. Required.
	Window administratorcommissioning.Window
	// Callbacks are the node's actions.
	Callbacks Callbacks

	// SoftwareVersion and SoftwareVersionString identify the firmware.
	SoftwareVersion       uint32
	SoftwareVersionString string
	// ConfigurationVersion is Basic Information's ConfigurationVersion
	// (Core §11.1.5.24): raise it when the node's endpoints or clusters
	// change; 0 means 1.
	ConfigurationVersion uint32
	// SupportedFabrics: 0 means fabric.DefaultSupportedFabrics.
	SupportedFabrics int
	// ACLLimits: the zero value means acl.DefaultLimits.
	ACLLimits acl.Limits
	// MaxPathsPerInvoke is what the IM server accepts; 0 means 1.
	MaxPathsPerInvoke uint16
	// CapabilityMinima for Basic Information; zero fields mean minimums.
	CapabilityMinima basicinformation.CapabilityMinima
	// FailSafeExpiryLength and MaxCumulativeFailsafe: zero means the
	// General Commissioning defaults.
	FailSafeExpiryLength, MaxCumulativeFailsafe time.Duration
	// Interface is the Ethernet interface, e.g. "eth0". Required.
	Interface string
	// BootReason is why the node booted.
	BootReason generaldiagnostics.BootReason
	// HostTimeSynced reports whether the host clock is synchronised (NTP
	// on the host); nil means never.
	HostTimeSynced func() bool
	// RequestTrustedTime and TrustedTimeSourceChanged are the Time
	// Synchronization client side (the TSC feature, Core §11.17.5.4): they
	// become timesynchronization.Config.RequestTrustedTime and
	// OnTrustedTimeSourceChanged; nil means no client.
	RequestTrustedTime       func(timesynchronization.TrustedTimeSource)
	TrustedTimeSourceChanged func(src timesynchronization.TrustedTimeSource, ok bool)
	// CertificateTime, if set, checks certificate validity periods at the
	// node's UTC time when it has one (Core §6.4.5 lets a node without a
	// trusted time skip the check).
	CertificateTime bool
	// DeviceLoad reports the IM load for General Diagnostics; nil reports
	// zeros.
	DeviceLoad func(fabricIndex uint8) generaldiagnostics.DeviceLoad
	// Logger; nil means slog.Default().
	Logger *slog.Logger
}

// RootNode is endpoint 0 with its clusters, and the Camera endpoint.
type RootNode struct {
	cfg Config
	log *slog.Logger

	fabrics *fabric.Table
	acl     *acl.Table

	Root, Camera *dm.Endpoint

	Descriptor                 *descriptor.Server
	CameraDescriptor           *descriptor.Server
	AccessControl              *accesscontrol.Server
	BasicInformation           *basicinformation.Server
	GeneralCommissioning       *generalcommissioning.Server
	NetworkCommissioning       *networkcommissioning.Server
	GeneralDiagnostics         *generaldiagnostics.Server
	TimeSynchronization        *timesynchronization.Server
	AdministratorCommissioning *administratorcommissioning.Server
	OperationalCredentials     *operationalcredentials.Server
	GroupKeyManagement         *groupkeymanagement.Server
	TLSCertificateManagement   *tlscertificatemanagement.Server
	TLSClientManagement        *tlsclientmanagement.Server
	PowerSource                *powersource.Server
}

// New opens the fabric table and the ACL in cfg.Store, builds the root
// node's clusters and adds endpoints 0 and 1 to cfg.Node. It does not
// record the start-up events; call Start once the node is ready.
func New(cfg Config) (*RootNode, error) {
	switch {
	case cfg.Node == nil:
		return nil, errors.New("rootnode: Config.Node is required")
	case cfg.Store == nil:
		return nil, errors.New("rootnode: Config.Store is required")
	case cfg.Factory == nil:
		return nil, errors.New("rootnode: Config.Factory is required")
	case cfg.Window == nil:
		return nil, errors.New("rootnode: Config.Window is required")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	n := &RootNode{cfg: cfg, log: log.With("component", "rootnode")}
	var events serve.EventSink // a nil *dm.Events must stay a nil interface
	if cfg.Events != nil {
		events = cfg.Events
	}
	node := cfg.Node
	var err error

	// Time first: the fabric table may check certificates against it.
	n.TimeSynchronization, err = timesynchronization.New(timesynchronization.Config{
		Store: cfg.Store, HostSynced: cfg.HostTimeSynced, OnDefaultNTP: cfg.Callbacks.DefaultNTP,
		RequestTrustedTime: cfg.RequestTrustedTime, OnTrustedTimeSourceChanged: cfg.TrustedTimeSourceChanged,
		Events: events, Notify: node, Logger: log,
	})
	if err != nil {
		return nil, err
	}
	fcfg := fabric.Config{SupportedFabrics: cfg.SupportedFabrics, OnChange: n.fabricChanged, Logger: log}
	if cfg.CertificateTime {
		ts := n.TimeSynchronization
		fcfg.Now = func() time.Time {
			if t, ok := ts.Now(); ok {
				return t
			}
			return time.Time{}
		}
	}
	if n.fabrics, err = fabric.Open(cfg.Store, fcfg); err != nil {
		return nil, err
	}
	if n.acl, err = acl.Open(cfg.Store, acl.Config{
		Limits: cfg.ACLLimits, DeviceTypes: n.hasDeviceType, OnChange: n.aclChanged, Logger: log,
	}); err != nil {
		return nil, err
	}
	// No list may outlive its fabric: a restart during commissioning
	// forgets the uncommitted fabric after its admin entry was stored.
	if err := n.acl.RetainFabrics(n.fabrics.Has); err != nil {
		n.log.Error("dropping the ACLs of unknown fabrics", "err", err)
	}

	n.Root = dm.NewEndpoint(RootEndpoint,
		dm.DeviceType{Type: DeviceTypeRootNode, Revision: RootNodeRevision},
		dm.DeviceType{Type: DeviceTypePowerSource, Revision: PowerSourceRevision})
	n.Root.Clients = []uint32{timesynchronization.ID}
	n.Camera = dm.NewEndpoint(CameraEndpoint, dm.DeviceType{Type: DeviceTypeCamera, Revision: CameraRevision})
	n.Camera.Clients = []uint32{ClusterWebRTCTransportRequestor}

	if n.Descriptor, err = descriptor.New(descriptor.Config{Endpoint: n.Root, Parts: n.parts, Notify: node}); err != nil {
		return nil, err
	}
	if n.CameraDescriptor, err = descriptor.New(descriptor.Config{Endpoint: n.Camera, Notify: node}); err != nil {
		return nil, err
	}
	if n.AccessControl, err = accesscontrol.New(accesscontrol.Config{
		ACL: n.acl, Store: cfg.Store, Events: events, Notify: node, Logger: log,
	}); err != nil {
		return nil, err
	}
	f := cfg.Factory
	if n.BasicInformation, err = basicinformation.New(basicinformation.Config{
		Identity: basicinformation.Identity{
			VendorName: f.VendorName, VendorID: f.VendorID, ProductName: f.ProductName, ProductID: f.ProductID,
			HardwareVersion: f.HardwareVersion, HardwareVersionString: f.HardwareVersionString,
			SoftwareVersion: cfg.SoftwareVersion, SoftwareVersionString: cfg.SoftwareVersionString,
			ManufacturingDate: f.ManufacturingDate, SerialNumber: f.SerialNumber,
		},
		Store: cfg.Store, MaxPathsPerInvoke: cfg.MaxPathsPerInvoke, CapabilityMinima: cfg.CapabilityMinima,
		ConfigurationVersion: cfg.ConfigurationVersion, Events: events, Notify: node,
	}); err != nil {
		return nil, err
	}
	if n.GeneralCommissioning, err = generalcommissioning.New(generalcommissioning.Config{
		Fabrics:               n.fabrics,
		FailSafeExpiryLength:  cfg.FailSafeExpiryLength,
		MaxCumulativeFailsafe: cfg.MaxCumulativeFailsafe,
		WindowOpen:            cfg.Window.IsOpen,
		SetLocation:           n.BasicInformation.SetLocation,
		OnExpired:             n.failSafeExpired,
		OnComplete:            n.commissioningComplete,
		Notify:                node,
		Logger:                log,
	}); err != nil {
		return nil, err
	}
	fs := n.GeneralCommissioning.FailSafe()
	if n.NetworkCommissioning, err = networkcommissioning.New(networkcommissioning.Config{
		Interface: cfg.Interface, Notify: node,
	}); err != nil {
		return nil, err
	}
	if n.GeneralDiagnostics, err = generaldiagnostics.New(generaldiagnostics.Config{
		Store: cfg.Store, BootReason: cfg.BootReason, UTC: n.TimeSynchronization.Now, Load: cfg.DeviceLoad,
		Events: events, Notify: node, Logger: log,
	}); err != nil {
		return nil, err
	}
	if n.AdministratorCommissioning, err = administratorcommissioning.New(administratorcommissioning.Config{
		Window: cfg.Window, FailSafe: fs, Fabrics: n.fabrics, Notify: node, Logger: log,
	}); err != nil {
		return nil, err
	}
	if n.OperationalCredentials, err = operationalcredentials.New(operationalcredentials.Config{
		Fabrics: n.fabrics, FailSafe: fs, Attestation: f, GrantAdmin: n.AccessControl.GrantAdmin,
		OnLeave: n.leave, OnLastFabricRemoved: cfg.Callbacks.Commissionable, Notify: node, Logger: log,
	}); err != nil {
		return nil, err
	}
	if n.GroupKeyManagement, err = groupkeymanagement.New(groupkeymanagement.Config{
		Fabrics: n.fabrics, Store: cfg.Store, Notify: node, Logger: log,
	}); err != nil {
		return nil, err
	}
	// TLS Client Management's endpoints reference TLS Certificate
	// Management's certificates: the certificate server asks the endpoint
	// server (built next) whether a certificate is in use.
	if n.TLSCertificateManagement, err = tlscertificatemanagement.New(tlscertificatemanagement.Config{
		Store: cfg.Store, Now: n.TimeSynchronization.Now,
		RootInUse: func(fabricIndex uint8, caid uint16) bool {
			return n.TLSClientManagement != nil && n.TLSClientManagement.UsesRoot(fabricIndex, caid)
		},
		ClientInUse: func(fabricIndex uint8, ccdid uint16) bool {
			return n.TLSClientManagement != nil && n.TLSClientManagement.UsesClient(fabricIndex, ccdid)
		},
		Notify: node, Logger: log,
	}); err != nil {
		return nil, err
	}
	if n.TLSClientManagement, err = tlsclientmanagement.New(tlsclientmanagement.Config{
		Certificates: n.TLSCertificateManagement, Store: cfg.Store, Now: n.TimeSynchronization.Now,
		Notify: node, Logger: log,
	}); err != nil {
		return nil, err
	}
	if n.PowerSource, err = powersource.New(powersource.Config{
		Endpoint: RootEndpoint, EndpointList: []uint16{RootEndpoint, CameraEndpoint}, Notify: node,
	}); err != nil {
		return nil, err
	}
	// Fabric-scoped data of fabrics the table no longer has goes too.
	n.AccessControl.RetainFabrics(n.fabrics.Has)
	n.GroupKeyManagement.RetainFabrics(n.fabrics.Has)
	n.TimeSynchronization.RetainFabrics(n.fabrics.Has)
	n.TLSClientManagement.RetainFabrics(n.fabrics.Has)
	n.TLSCertificateManagement.RetainFabrics(n.fabrics.Has)

	for _, c := range []dm.Cluster{
		n.Descriptor, n.AccessControl, n.BasicInformation, n.GeneralCommissioning, n.NetworkCommissioning,
		n.GeneralDiagnostics, n.TimeSynchronization, n.AdministratorCommissioning, n.OperationalCredentials,
		n.GroupKeyManagement, n.TLSCertificateManagement, n.TLSClientManagement, n.PowerSource,
	} {
		n.Root.Add(c)
	}
	n.Camera.Add(n.CameraDescriptor)
	if err := node.AddEndpoint(n.Root); err != nil {
		return nil, fmt.Errorf("rootnode: %w", err)
	}
	if err := node.AddEndpoint(n.Camera); err != nil {
		return nil, fmt.Errorf("rootnode: %w", err)
	}
	return n, nil
}

// Start records the start-up events: Basic Information StartUp, then
// General Diagnostics BootReason (Core §11.1.6.1, §11.12.8.4), and starts
// the time-driven work of Time Synchronization (DST and time zone
// boundaries, the hourly time events of Core §11.17.8). Close stops it.
func (n *RootNode) Start() error {
	err := errors.Join(n.BasicInformation.StartUp(), n.GeneralDiagnostics.Boot())
	n.TimeSynchronization.Start()
	return err
}

// Close stops what Start started. The node closes it before the store and
// the event log it writes to.
func (n *RootNode) Close() error {
	n.TimeSynchronization.Close()
	return nil
}

// Fabrics returns the fabric table (securechannel.Fabrics for CASE).
func (n *RootNode) Fabrics() *fabric.Table { return n.fabrics }

// ACL returns the access control list.
func (n *RootNode) ACL() *acl.Table { return n.acl }

// FailSafe returns the node's fail-safe context, for the node to expire it
// when the commissioning PASE session goes away, if it so chooses.
func (n *RootNode) FailSafe() *generalcommissioning.FailSafe {
	return n.GeneralCommissioning.FailSafe()
}

// Check implements the Interaction Model's access checker with the ACL
// (Core §6.6.6).
func (n *RootNode) Check(subject dm.Subject, endpoint uint16, cluster uint32, need dm.Privilege) bool {
	return n.acl.Check(subject, endpoint, cluster, need)
}

// Commissioned reports whether the node has a committed fabric; without one
// it opens its initial commissioning window.
func (n *RootNode) Commissioned() bool {
	for _, d := range n.fabrics.List() {
		if !d.Pending {
			return true
		}
	}
	return false
}

// parts is the root node's PartsList: every other endpoint (Core §9.5.6.4,
// the root node lists the whole node).
func (n *RootNode) parts() []uint16 {
	return slices.DeleteFunc(n.cfg.Node.EndpointIDs(), func(e uint16) bool { return e == RootEndpoint })
}

// hasDeviceType resolves ACL device type targets.
func (n *RootNode) hasDeviceType(endpoint uint16, deviceType uint32) bool {
	e := n.cfg.Node.Endpoint(endpoint)
	if e == nil {
		return false
	}
	return slices.ContainsFunc(e.DeviceTypes, func(d dm.DeviceType) bool { return d.Type == deviceType })
}

// fabricChanged is the fabric table's OnChange.
func (n *RootNode) fabricChanged(c fabric.Change) {
	if n.OperationalCredentials != nil {
		n.OperationalCredentials.FabricChanged(c)
	}
	switch c.Kind {
	case fabric.ChangeAdded:
		if n.GroupKeyManagement != nil {
			n.GroupKeyManagement.FabricChanged()
		}
	case fabric.ChangeRemoved:
		n.removeFabricData(c.Index)
	}
}

// removeFabricData removes everything fabric-scoped of a removed fabric
// (Core §11.18.6.12: "delete all associated fabric-scoped data").
func (n *RootNode) removeFabricData(idx uint8) {
	if err := n.acl.RemoveFabric(idx); err != nil {
		n.log.Error("removing a fabric's ACL", "fabric", idx, "err", err)
	}
	n.AccessControl.FabricRemoved(idx)
	n.GroupKeyManagement.FabricRemoved(idx)
	n.TimeSynchronization.FabricRemoved(idx)
	n.TLSClientManagement.FabricRemoved(idx)
	n.TLSCertificateManagement.FabricRemoved(idx)
	n.AdministratorCommissioning.FabricRemoved(idx)
	if f := n.cfg.Callbacks.FabricRemoved; f != nil {
		f(idx)
	}
}

// aclChanged is the ACL table's OnChange.
func (n *RootNode) aclChanged(idx uint8) {
	if n.AccessControl != nil {
		n.AccessControl.ACLChanged(idx)
	}
}

// leave records the Leave event before RemoveFabric removes a fabric.
func (n *RootNode) leave(idx uint8) {
	if err := n.BasicInformation.Leave(idx); err != nil {
		n.log.Warn("recording the Leave event", "fabric", idx, "err", err)
	}
}

// failSafeExpired is the node's share of the fail-safe clean-up (Core
// §11.10.7.2.2): PASE sessions go (steps 1, 2), and so do the CASE
// sessions of a fabric whose UpdateNOC was undone (step 3); a fabric
// AddNOC had added was removed by the table's Revert, and its data with it
// (removeFabricData). An Ethernet node has no network configuration to
// revert (step 4).
func (n *RootNode) failSafeExpired(e generalcommissioning.Expired) {
	if f := n.cfg.Callbacks.ClosePASE; f != nil {
		f()
	}
	if idx := e.Reverted.Updated; idx != 0 {
		if f := n.cfg.Callbacks.CloseFabricSessions; f != nil {
			f(idx)
		}
	}
}

// commissioningComplete finishes a successful CommissioningComplete (Core
// §11.10.7.6): the commissioning window closes (step 2) and the PASE
// sessions with their grant go (steps 3, 4).
func (n *RootNode) commissioningComplete(uint8) {
	n.AdministratorCommissioning.CloseWindow()
	if f := n.cfg.Callbacks.ClosePASE; f != nil {
		f()
	}
}
