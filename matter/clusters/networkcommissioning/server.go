package networkcommissioning

import (
	"errors"
	"fmt"
	"net"

	"github.com/mattercam/mattercam/matter/clusters/internal/serve"
	"github.com/mattercam/mattercam/matter/dm"
	"github.com/mattercam/mattercam/matter/tlv"
)

// MaxNetworkIDLen bounds a NetworkID, for Ethernet the interface name
// (Core §11.9.5.3).
const MaxNetworkIDLen = 32

// Config configures an Ethernet NetworkCommissioning server.
type Config struct {
	// Endpoint is where the cluster instance sits (0 for the node's only
	// interface).
	Endpoint uint16
	// Interface is the host interface, e.g. "eth0"; its name is the
	// NetworkID. Required.
	Interface string
	// Connected reports whether the interface's medium is connected; nil
	// asks the host (the interface is up and running).
	Connected func() bool
	// Notify is told about attribute changes; nil means nobody.
	Notify Notifier
}

// Notifier is told about attribute changes; *dm.Node implements it.
type Notifier = serve.Notifier

// Server is a Network Commissioning cluster (Core §11.9) with the
// Ethernet feature: the one wired interface, which is configured by the
// host and cannot be added, removed or disabled through the cluster. An
// IP node commissioned on its operational network needs no network
// configuration, so fail-safe expiry has nothing to revert here.
type Server struct {
	serve.Base
	cfg Config
}

var _ dm.Cluster = (*Server)(nil)

var meta = serve.Subset(&Meta,
	[]uint32{AttrMaxNetworks, AttrNetworks, AttrInterfaceEnabled, AttrLastNetworkingStatus, AttrLastNetworkID, AttrLastConnectErrorValue},
	nil, nil)

// New returns an Ethernet NetworkCommissioning server.
func New(cfg Config) (*Server, error) {
	if cfg.Interface == "" || len(cfg.Interface) > MaxNetworkIDLen {
		return nil, fmt.Errorf("networkcommissioning: interface name %q: 1 to %d octets required", cfg.Interface, MaxNetworkIDLen)
	}
	if cfg.Connected == nil {
		name := cfg.Interface
		cfg.Connected = func() bool { return HostLinkUp(name) }
	}
	s := &Server{cfg: cfg}
	s.Init(meta, cfg.Endpoint, cfg.Notify)
	return s, nil
}

// HostLinkUp reports whether the host interface name is up and running.
func HostLinkUp(name string) bool {
	ifi, err := net.InterfaceByName(name)
	return err == nil && ifi.Flags&net.FlagUp != 0 && ifi.Flags&net.FlagRunning != 0
}

// FeatureMap implements dm.Cluster: Ethernet.
func (s *Server) FeatureMap() uint32 { return FeatureEthernetNetworkInterface }

// LinkChanged reports that the interface's medium was connected or lost.
func (s *Server) LinkChanged() { s.Changed(AttrNetworks) }

// ReadAttribute implements dm.Cluster.
func (s *Server) ReadAttribute(_ *dm.Request, attr uint32, w *tlv.Writer, tag tlv.Tag) error {
	switch attr {
	case AttrMaxNetworks:
		w.PutUint(tag, 1)
	case AttrNetworks:
		// Exactly one entry, populated by the server (Core §11.9.6.2).
		w.StartArray(tag)
		n := NetworkInfo{NetworkID: []byte(s.cfg.Interface), Connected: s.cfg.Connected()}
		n.EncodeTLV(w, tlv.AnonymousTag())
		w.EndContainer()
	case AttrInterfaceEnabled:
		w.PutBool(tag, true)
	case AttrLastNetworkingStatus, AttrLastNetworkID, AttrLastConnectErrorValue:
		// No network configuration command exists for Ethernet, so
		// none has run.
		w.PutNull(tag)
	default:
		return serve.UnsupportedAttribute()
	}
	return w.Err()
}

// WriteAttribute implements dm.Cluster: InterfaceEnabled accepts only
// true; disabling the wired interface is not supported (Core §11.9.6.5).
func (s *Server) WriteAttribute(_ *dm.Request, attr uint32, r *tlv.Reader, _ bool) error {
	switch attr {
	case AttrInterfaceEnabled:
		v, err := r.Bool()
		if err != nil {
			return serve.ValueError(err)
		}
		if !v {
			return &dm.StatusError{Status: dm.StatusInvalidAction, Err: errors.New("networkcommissioning: the Ethernet interface cannot be disabled")}
		}
		return nil
	case AttrMaxNetworks, AttrNetworks, AttrLastNetworkingStatus, AttrLastNetworkID, AttrLastConnectErrorValue:
		return serve.UnsupportedWrite()
	}
	return serve.UnsupportedAttribute()
}

// Invoke implements dm.Cluster: the Ethernet feature has no commands.
func (s *Server) Invoke(*dm.Request, uint32, *tlv.Reader, *dm.CommandResponse) error {
	return serve.UnsupportedCommand()
}
