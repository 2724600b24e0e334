package generaldiagnostics

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/mattercam/mattercam/matter/clusters/field"
	"github.com/mattercam/mattercam/matter/clusters/internal/serve"
	"github.com/mattercam/mattercam/matter/dm"
	"github.com/mattercam/mattercam/matter/storage"
	"github.com/mattercam/mattercam/matter/tlv"
)

// Limits of the NetworkInterfaces attribute (Core §11.12.5.6).
const (
	MaxInterfaces     = 8
	maxInterfaceName  = 32
	maxIPv4PerIf      = 4
	maxIPv6PerIf      = 8
	enableKeySize     = 16
	keyRebootCount    = "diag.rebootcount"
	rebootCountLength = 2
)

// Config configures a GeneralDiagnostics server.
type Config struct {
	// Store keeps RebootCount. Required.
	Store *storage.Store
	// BootReason is why the node last booted, as the platform knows it.
	BootReason BootReason
	// Interfaces lists the node's network interfaces; nil means
	// HostInterfaces.
	Interfaces func() []NetworkInterface
	// UTC is the node's UTC time, if it has one (the Time Synchronization
	// cluster's); nil means none. TimeSnapshot reports it.
	UTC func() (time.Time, bool)
	// Load reports the DeviceLoadStatus for an accessing fabric (0 for
	// none); nil reports zeros.
	Load func(fabricIndex uint8) DeviceLoad
	// Now is the clock; nil means time.Now. UpTime and SystemTimeMs count
	// from New.
	Now func() time.Time
	// Events records BootReason; nil records nothing.
	Events EventSink
	// Notify is told about attribute changes; nil means nobody.
	Notify Notifier
	// Logger; nil means slog.Default().
	Logger *slog.Logger
}

// Notifier is told about attribute changes; *dm.Node implements it.
type Notifier = serve.Notifier

// EventSink records events; *dm.Events implements it.
type EventSink = serve.EventSink

// Server is the General Diagnostics cluster (Core §11.12): network
// interfaces, reboot count, up time, boot reason and device load. The node
// has no test event triggers (TestEventTriggersEnabled is false, every
// TestEventTrigger fails) and no Data Model Test feature.
type Server struct {
	serve.Base
	cfg         Config
	log         *slog.Logger
	start       time.Time
	rebootCount uint16
}

var _ dm.Cluster = (*Server)(nil)

var meta = serve.Subset(&Meta,
	[]uint32{AttrNetworkInterfaces, AttrRebootCount, AttrUpTime, AttrBootReason, AttrTestEventTriggersEnabled, AttrDeviceLoadStatus},
	[]uint32{CmdTestEventTrigger, CmdTimeSnapshot},
	[]uint32{EventBootReason})

// New returns a GeneralDiagnostics server. It counts a reboot: RebootCount
// is read, incremented and stored (Core §11.12.6.2).
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, errors.New("generaldiagnostics: Config.Store is required")
	}
	if !cfg.BootReason.Known() {
		return nil, fmt.Errorf("generaldiagnostics: boot reason %d", cfg.BootReason)
	}
	if cfg.Interfaces == nil {
		cfg.Interfaces = HostInterfaces
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	s := &Server{cfg: cfg, log: log.With("component", "generaldiagnostics"), start: cfg.Now()}
	b, err := cfg.Store.Get(keyRebootCount)
	switch {
	case err == nil && len(b) == rebootCountLength:
		s.rebootCount = binary.BigEndian.Uint16(b)
	case err == nil, errors.Is(err, storage.ErrNotFound), errors.Is(err, storage.ErrCorrupt):
	default:
		return nil, fmt.Errorf("generaldiagnostics: %w", err)
	}
	if s.rebootCount < 0xFFFF { // best effort: stop at the maximum
		s.rebootCount++
	}
	if err := cfg.Store.Put(keyRebootCount, binary.BigEndian.AppendUint16(nil, s.rebootCount)); err != nil {
		return nil, fmt.Errorf("generaldiagnostics: storing RebootCount: %w", err)
	}
	s.Init(meta, 0, cfg.Notify)
	return s, nil
}

// FeatureMap implements dm.Cluster.
func (s *Server) FeatureMap() uint32 { return 0 }

// Boot records the BootReason event (Core §11.12.8.4); the node calls it
// once at start-up, after Basic Information's StartUp.
func (s *Server) Boot() error {
	return serve.Emit(s.cfg.Events, 0, ID, EventBootReason, dm.PriorityCritical, 0,
		&BootReasonEvent{BootReason: s.cfg.BootReason})
}

// InterfacesChanged reports that the network interfaces changed.
func (s *Server) InterfacesChanged() { s.Changed(AttrNetworkInterfaces) }

// ReadAttribute implements dm.Cluster.
func (s *Server) ReadAttribute(req *dm.Request, attr uint32, w *tlv.Writer, tag tlv.Tag) error {
	switch attr {
	case AttrNetworkInterfaces:
		ifs := s.cfg.Interfaces()
		serve.PutList(w, tag, ifs[:min(len(ifs), MaxInterfaces)])
	case AttrRebootCount:
		w.PutUint(tag, uint64(s.rebootCount))
	case AttrUpTime:
		w.PutUint(tag, uint64(max(s.cfg.Now().Sub(s.start), 0)/time.Second))
	case AttrBootReason:
		w.PutUint(tag, uint64(s.cfg.BootReason))
	case AttrTestEventTriggersEnabled:
		w.PutBool(tag, false)
	case AttrDeviceLoadStatus:
		var l DeviceLoad
		if s.cfg.Load != nil {
			l = s.cfg.Load(req.Subject.FabricIndex)
		}
		l.EncodeTLV(w, tag)
	default:
		return serve.UnsupportedAttribute()
	}
	return w.Err()
}

// WriteAttribute implements dm.Cluster: nothing is writable.
func (s *Server) WriteAttribute(_ *dm.Request, attr uint32, _ *tlv.Reader, _ bool) error {
	if meta.Attribute(attr) == nil {
		return serve.UnsupportedAttribute()
	}
	return serve.UnsupportedWrite()
}

// Invoke implements dm.Cluster.
func (s *Server) Invoke(_ *dm.Request, cmd uint32, r *tlv.Reader, resp *dm.CommandResponse) error {
	switch cmd {
	case CmdTestEventTrigger:
		var in TestEventTriggerRequest
		if err := serve.DecodeCommand(r, &in); err != nil {
			return err
		}
		// No enable key is configured, so no key matches: all zeroes is
		// reserved and any other key is wrong (Core §11.12.7.1.1).
		return dm.Errorf(dm.StatusConstraintError, "generaldiagnostics: test event triggers are not enabled")
	case CmdTimeSnapshot:
		out := TimeSnapshotResponse{SystemTimeMs: uint64(max(s.cfg.Now().Sub(s.start), 0) / time.Millisecond)}
		if s.cfg.UTC != nil {
			if t, ok := s.cfg.UTC(); ok && t.UnixMilli() >= 0 {
				out.PosixTimeMs = field.NonNull(uint64(t.UnixMilli()))
			}
		}
		return serve.Respond(resp, CmdTimeSnapshotResponse, &out)
	}
	return serve.UnsupportedCommand()
}

// HostInterfaces lists the host's network interfaces with a 6- or 8-octet
// hardware address (loopback and tunnels have none), at most
// MaxInterfaces, with their addresses.
func HostInterfaces() []NetworkInterface {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil
	}
	var out []NetworkInterface
	for _, ifi := range ifs {
		if len(out) == MaxInterfaces {
			break
		}
		if n := len(ifi.HardwareAddr); n != 6 && n != 8 || len(ifi.Name) > maxInterfaceName {
			continue
		}
		addrs, _ := ifi.Addrs()
		out = append(out, describe(ifi, addrs))
	}
	return out
}

// describe builds the NetworkInterface struct of a host interface.
func describe(ifi net.Interface, addrs []net.Addr) NetworkInterface {
	n := NetworkInterface{
		Name:            ifi.Name,
		IsOperational:   ifi.Flags&net.FlagUp != 0 && ifi.Flags&net.FlagRunning != 0,
		HardwareAddress: slices.Clone([]byte(ifi.HardwareAddr)),
		Type:            interfaceType(ifi.Name),
	}
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		if v4 := ipn.IP.To4(); v4 != nil {
			if len(n.IPv4Addresses) < maxIPv4PerIf {
				n.IPv4Addresses = append(n.IPv4Addresses, slices.Clone([]byte(v4)))
			}
		} else if v6 := ipn.IP.To16(); v6 != nil && len(n.IPv6Addresses) < maxIPv6PerIf {
			n.IPv6Addresses = append(n.IPv6Addresses, slices.Clone([]byte(v6)))
		}
	}
	return n
}

// interfaceType guesses the type from the Linux naming conventions.
func interfaceType(name string) InterfaceType {
	switch {
	case strings.HasPrefix(name, "eth"), strings.HasPrefix(name, "en"):
		return InterfaceTypeEthernet
	case strings.HasPrefix(name, "wl"):
		return InterfaceTypeWiFi
	case strings.HasPrefix(name, "wwan"):
		return InterfaceTypeCellular
	}
	return InterfaceTypeUnspecified
}
