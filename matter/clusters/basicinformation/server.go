package basicinformation

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"unicode/utf8"

	"github.com/mattercam/mattercam/matter/clusters/field"
	"github.com/mattercam/mattercam/matter/clusters/internal/serve"
	"github.com/mattercam/mattercam/matter/dm"
	"github.com/mattercam/mattercam/matter/storage"
	"github.com/mattercam/mattercam/matter/tlv"
)

// Revisions this implementation claims, the values of the Matter 1.6 data
// model that the generated code follows (matter.js 0.17.9,
// Specification.DATA_MODEL_REVISION and SPECIFICATION_VERSION). The session
// parameters (Core §4.12.8) must announce the same.
const (
	DefaultDataModelRevision    uint16 = 21
	DefaultSpecificationVersion uint32 = 0x0106_0000
)

// Storage keys of the persisted attributes; a factory reset (wiping the
// store) resets them.
const (
	keyNodeLabel = "basicinfo.nodelabel"
	keyLocation  = "basicinfo.location"
	keyUniqueID  = "basicinfo.uniqueid"
)

// Limits of the string attributes, in octets (Core §11.1.5).
const (
	MaxNameLen           = 32 // VendorName, ProductName, NodeLabel, SerialNumber, PartNumber, UniqueID
	MaxVersionStringLen  = 64 // HardwareVersionString, SoftwareVersionString
	MaxProductLabelLen   = 64
	MaxProductURLLen     = 256
	LocationLen          = 2
	DefaultLocation      = "XX" // unknown country (Core §11.1.5.7)
	minManufacturingDate = 8
	maxManufacturingDate = 16
)

// Identity is the node's fixed identity, from the factory data and the
// build.
type Identity struct {
	VendorName            string
	VendorID              uint16
	ProductName           string
	ProductID             uint16
	HardwareVersion       uint16
	HardwareVersionString string // default the decimal HardwareVersion
	SoftwareVersion       uint32
	SoftwareVersionString string // default the decimal SoftwareVersion
	// Optional attributes, served when not empty.
	ManufacturingDate string
	PartNumber        string
	ProductURL        string
	ProductLabel      string
	SerialNumber      string
}

// Config configures a BasicInformation server.
type Config struct {
	Identity Identity
	// Store persists NodeLabel, Location and UniqueID. Required.
	Store *storage.Store
	// DataModelRevision and SpecificationVersion; zero means the
	// defaults above.
	DataModelRevision    uint16
	SpecificationVersion uint32
	// MaxPathsPerInvoke is what the IM server accepts; zero means 1.
	MaxPathsPerInvoke uint16
	// ConfigurationVersion is the node's configuration version (Core
	// §11.1.5.24); zero means 1.
	ConfigurationVersion uint32
	// CapabilityMinima; zero CASESessionsPerFabric and
	// SubscriptionsPerFabric mean the minimum, 3.
	CapabilityMinima CapabilityMinima
	// Events records StartUp, ShutDown and Leave; nil records nothing.
	Events EventSink
	// Notify is told about attribute changes; nil means nobody.
	Notify Notifier
}

// Notifier is told about attribute changes; *dm.Node implements it.
type Notifier = serve.Notifier

// EventSink records events; *dm.Events implements it.
type EventSink = serve.EventSink

// Server is the Basic Information cluster (Core §11.1) on the root
// endpoint: the node's identity, the user-set NodeLabel and Location
// (stored), a UniqueID generated once per factory-new life, and the
// StartUp, ShutDown and Leave events.
type Server struct {
	serve.Base
	cfg Config

	mu        sync.Mutex
	nodeLabel string
	location  string
	uniqueID  string
}

var _ dm.Cluster = (*Server)(nil)

// New returns a BasicInformation server, loading the stored attributes and
// generating the UniqueID on first use.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, errors.New("basicinformation: Config.Store is required")
	}
	id := &cfg.Identity
	if id.HardwareVersionString == "" {
		id.HardwareVersionString = fmt.Sprint(id.HardwareVersion)
	}
	if id.SoftwareVersionString == "" {
		id.SoftwareVersionString = fmt.Sprint(id.SoftwareVersion)
	}
	if err := id.check(); err != nil {
		return nil, err
	}
	if cfg.DataModelRevision == 0 {
		cfg.DataModelRevision = DefaultDataModelRevision
	}
	if cfg.SpecificationVersion == 0 {
		cfg.SpecificationVersion = DefaultSpecificationVersion
	}
	cfg.MaxPathsPerInvoke = max(cfg.MaxPathsPerInvoke, 1)
	cfg.ConfigurationVersion = max(cfg.ConfigurationVersion, 1)
	cm := &cfg.CapabilityMinima
	cm.CASESessionsPerFabric = max(cm.CASESessionsPerFabric, 3)
	cm.SubscriptionsPerFabric = max(cm.SubscriptionsPerFabric, 3)

	s := &Server{cfg: cfg, location: DefaultLocation}
	attrs := []uint32{
		AttrDataModelRevision, AttrVendorName, AttrVendorID, AttrProductName, AttrProductID,
		AttrNodeLabel, AttrLocation, AttrHardwareVersion, AttrHardwareVersionString,
		AttrSoftwareVersion, AttrSoftwareVersionString, AttrUniqueID, AttrCapabilityMinima,
		AttrSpecificationVersion, AttrMaxPathsPerInvoke, AttrConfigurationVersion,
	}
	for _, o := range []struct {
		id uint32
		v  string
	}{
		{AttrManufacturingDate, id.ManufacturingDate}, {AttrPartNumber, id.PartNumber},
		{AttrProductURL, id.ProductURL}, {AttrProductLabel, id.ProductLabel},
		{AttrSerialNumber, id.SerialNumber},
	} {
		if o.v != "" {
			attrs = append(attrs, o.id)
		}
	}
	s.Init(serve.Subset(&Meta, attrs, nil, []uint32{EventStartUp, EventShutDown, EventLeave}), 0, cfg.Notify)

	var err error
	if s.nodeLabel, err = s.load(keyNodeLabel, 0, MaxNameLen, ""); err != nil {
		return nil, err
	}
	if s.location, err = s.load(keyLocation, LocationLen, LocationLen, DefaultLocation); err != nil {
		return nil, err
	}
	if s.uniqueID, err = s.load(keyUniqueID, 1, MaxNameLen, ""); err != nil {
		return nil, err
	}
	if s.uniqueID == "" {
		// 16 random octets in hexadecimal: 32 characters, the limit. It
		// is derived from nothing permanent, and a factory reset (which
		// wipes the store) makes a new one (Core §11.1.5.19).
		var b [16]byte
		_, _ = rand.Read(b[:])
		s.uniqueID = hex.EncodeToString(b[:])
		if err := cfg.Store.Put(keyUniqueID, []byte(s.uniqueID)); err != nil {
			return nil, fmt.Errorf("basicinformation: storing UniqueID: %w", err)
		}
	}
	return s, nil
}

func (id *Identity) check() error {
	for _, c := range []struct {
		name     string
		v        string
		min, max int
	}{
		{"VendorName", id.VendorName, 0, MaxNameLen},
		{"ProductName", id.ProductName, 0, MaxNameLen},
		{"HardwareVersionString", id.HardwareVersionString, 1, MaxVersionStringLen},
		{"SoftwareVersionString", id.SoftwareVersionString, 1, MaxVersionStringLen},
		{"PartNumber", id.PartNumber, 0, MaxNameLen},
		{"ProductURL", id.ProductURL, 0, MaxProductURLLen},
		{"ProductLabel", id.ProductLabel, 0, MaxProductLabelLen},
		{"SerialNumber", id.SerialNumber, 0, MaxNameLen},
	} {
		if len(c.v) < c.min || len(c.v) > c.max || !utf8.ValidString(c.v) {
			return fmt.Errorf("basicinformation: %s %q: not %d to %d octets of UTF-8", c.name, c.v, c.min, c.max)
		}
	}
	if d := id.ManufacturingDate; d != "" && (len(d) < minManufacturingDate || len(d) > maxManufacturingDate) {
		return fmt.Errorf("basicinformation: ManufacturingDate %q: not 8 to 16 characters", d)
	}
	return nil
}

// load returns a stored string attribute, or def when none is stored or
// the stored value is unusable (a corrupt record must not keep the node
// from starting).
func (s *Server) load(key string, minLen, maxLen int, def string) (string, error) {
	b, err := s.cfg.Store.Get(key)
	switch {
	case errors.Is(err, storage.ErrNotFound), errors.Is(err, storage.ErrCorrupt):
		return def, nil
	case err != nil:
		return "", fmt.Errorf("basicinformation: %w", err)
	case len(b) < minLen || len(b) > maxLen || !utf8.Valid(b):
		return def, nil
	}
	return string(b), nil
}

// FeatureMap implements dm.Cluster.
func (s *Server) FeatureMap() uint32 { return 0 }

// NodeLabel returns the NodeLabel attribute.
func (s *Server) NodeLabel() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nodeLabel
}

// Location returns the Location attribute.
func (s *Server) Location() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.location
}

// UniqueID returns the UniqueID attribute.
func (s *Server) UniqueID() string { return s.uniqueID }

// SetLocation sets the Location attribute, as a write of it or the
// CountryCode of General Commissioning's SetRegulatoryConfig does (Core
// §11.10.7.4). The code must be two characters.
func (s *Server) SetLocation(code string) error {
	if len(code) != LocationLen || !utf8.ValidString(code) {
		return &dm.StatusError{Status: dm.StatusConstraintError, Err: fmt.Errorf("basicinformation: location %q", code)}
	}
	return s.set(&s.location, keyLocation, code, AttrLocation)
}

func (s *Server) set(dst *string, key, v string, attr uint32) error {
	s.mu.Lock()
	if *dst == v {
		s.mu.Unlock()
		return nil
	}
	if err := s.cfg.Store.Put(key, []byte(v)); err != nil {
		s.mu.Unlock()
		return fmt.Errorf("basicinformation: storing %s: %w", key, err)
	}
	*dst = v
	s.mu.Unlock()
	s.Changed(attr)
	return nil
}

// ReadAttribute implements dm.Cluster.
func (s *Server) ReadAttribute(_ *dm.Request, attr uint32, w *tlv.Writer, tag tlv.Tag) error {
	id := &s.cfg.Identity
	if s.Meta().Attribute(attr) == nil {
		return serve.UnsupportedAttribute()
	}
	switch attr {
	case AttrDataModelRevision:
		w.PutUint(tag, uint64(s.cfg.DataModelRevision))
	case AttrVendorName:
		w.PutString(tag, id.VendorName)
	case AttrVendorID:
		w.PutUint(tag, uint64(id.VendorID))
	case AttrProductName:
		w.PutString(tag, id.ProductName)
	case AttrProductID:
		w.PutUint(tag, uint64(id.ProductID))
	case AttrNodeLabel:
		w.PutString(tag, s.NodeLabel())
	case AttrLocation:
		w.PutString(tag, s.Location())
	case AttrHardwareVersion:
		w.PutUint(tag, uint64(id.HardwareVersion))
	case AttrHardwareVersionString:
		w.PutString(tag, id.HardwareVersionString)
	case AttrSoftwareVersion:
		w.PutUint(tag, uint64(id.SoftwareVersion))
	case AttrSoftwareVersionString:
		w.PutString(tag, id.SoftwareVersionString)
	case AttrManufacturingDate:
		w.PutString(tag, id.ManufacturingDate)
	case AttrPartNumber:
		w.PutString(tag, id.PartNumber)
	case AttrProductURL:
		w.PutString(tag, id.ProductURL)
	case AttrProductLabel:
		w.PutString(tag, id.ProductLabel)
	case AttrSerialNumber:
		w.PutString(tag, id.SerialNumber)
	case AttrUniqueID:
		w.PutString(tag, s.uniqueID)
	case AttrCapabilityMinima:
		s.cfg.CapabilityMinima.EncodeTLV(w, tag)
	case AttrSpecificationVersion:
		w.PutUint(tag, uint64(s.cfg.SpecificationVersion))
	case AttrMaxPathsPerInvoke:
		w.PutUint(tag, uint64(s.cfg.MaxPathsPerInvoke))
	case AttrConfigurationVersion:
		w.PutUint(tag, uint64(s.cfg.ConfigurationVersion))
	default:
		return serve.UnsupportedAttribute()
	}
	return w.Err()
}

// WriteAttribute implements dm.Cluster: NodeLabel (at most 32 octets) and
// Location (two characters) are writable and stored.
func (s *Server) WriteAttribute(_ *dm.Request, attr uint32, r *tlv.Reader, _ bool) error {
	switch attr {
	case AttrNodeLabel:
		v, err := field.String(r, 0, MaxNameLen)
		if err != nil {
			return serve.ValueError(err)
		}
		return s.set(&s.nodeLabel, keyNodeLabel, v, AttrNodeLabel)
	case AttrLocation:
		v, err := field.String(r, LocationLen, LocationLen)
		if err != nil {
			return serve.ValueError(err)
		}
		return s.SetLocation(v)
	}
	if s.Meta().Attribute(attr) == nil {
		return serve.UnsupportedAttribute()
	}
	return serve.UnsupportedWrite()
}

// Invoke implements dm.Cluster: the cluster has no commands.
func (s *Server) Invoke(*dm.Request, uint32, *tlv.Reader, *dm.CommandResponse) error {
	return serve.UnsupportedCommand()
}

// StartUp records the StartUp event (Core §11.1.6.1). The node calls it
// once after boot, before anything else records an event.
func (s *Server) StartUp() error {
	return serve.Emit(s.cfg.Events, 0, ID, EventStartUp, dm.PriorityCritical, 0,
		&StartUpEvent{SoftwareVersion: s.cfg.Identity.SoftwareVersion})
}

// ShutDown records the ShutDown event (Core §11.1.6.2) before an orderly
// shutdown.
func (s *Server) ShutDown() error {
	return serve.Emit(s.cfg.Events, 0, ID, EventShutDown, dm.PriorityCritical, 0, &ShutDownEvent{})
}

// Leave records the Leave event (Core §11.1.6.3) for a fabric the node is
// about to leave. It is fabric-sensitive: only that fabric sees it.
func (s *Server) Leave(fabricIndex uint8) error {
	return serve.Emit(s.cfg.Events, 0, ID, EventLeave, dm.PriorityInfo, fabricIndex,
		&LeaveEvent{FabricIndex: fabricIndex})
}
