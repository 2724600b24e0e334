package powersource

import (
	"fmt"
	"slices"
	"sync"
	"unicode/utf8"

	"github.com/mattercam/mattercam/matter/clusters/internal/serve"
	"github.com/mattercam/mattercam/matter/dm"
	"github.com/mattercam/mattercam/matter/tlv"
)

// MaxDescription is the Description limit in octets (Core §11.7.7.3).
const MaxDescription = 60

// Config configures a wired PowerSource server.
type Config struct {
	// Endpoint is where the cluster instance sits.
	Endpoint uint16
	// Description is the fixed user-facing description; "" means "Mains".
	Description string
	// CurrentType is the WiredCurrentType; the zero value is AC.
	CurrentType WiredCurrentType
	// Order is the source's priority among the node's sources (0 is the
	// highest, Core §11.7.7.2).
	Order uint8
	// EndpointList lists the endpoints the source powers (Core
	// §11.7.7.32); for the node's only source, all of them.
	EndpointList []uint16
	// Notify is told about attribute changes; nil means nobody.
	Notify Notifier
}

// Notifier is told about attribute changes; *dm.Node implements it.
type Notifier = serve.Notifier

// Server is a Power Source cluster (Core §11.7) with the Wired feature:
// a mains-powered node's one source, always active.
type Server struct {
	serve.Base
	cfg Config

	mu     sync.Mutex
	status PowerSourceStatus
}

var _ dm.Cluster = (*Server)(nil)

var meta = serve.Subset(&Meta,
	[]uint32{AttrStatus, AttrOrder, AttrDescription, AttrWiredCurrentType, AttrEndpointList}, nil, nil)

// New returns a wired PowerSource server whose status is Active.
func New(cfg Config) (*Server, error) {
	if cfg.Description == "" {
		cfg.Description = "Mains"
	}
	if len(cfg.Description) > MaxDescription || !utf8.ValidString(cfg.Description) {
		return nil, fmt.Errorf("powersource: description %q: more than %d octets or not UTF-8", cfg.Description, MaxDescription)
	}
	if !cfg.CurrentType.Known() {
		return nil, fmt.Errorf("powersource: current type %d", cfg.CurrentType)
	}
	cfg.EndpointList = slices.Clone(cfg.EndpointList)
	s := &Server{cfg: cfg, status: PowerSourceStatusActive}
	s.Init(meta, cfg.Endpoint, cfg.Notify)
	return s, nil
}

// FeatureMap implements dm.Cluster: Wired.
func (s *Server) FeatureMap() uint32 { return FeatureWired }

// SetStatus changes the Status attribute, for a board that can tell.
func (s *Server) SetStatus(st PowerSourceStatus) {
	s.mu.Lock()
	changed := s.status != st
	s.status = st
	s.mu.Unlock()
	if changed {
		s.Changed(AttrStatus)
	}
}

// ReadAttribute implements dm.Cluster.
func (s *Server) ReadAttribute(_ *dm.Request, attr uint32, w *tlv.Writer, tag tlv.Tag) error {
	switch attr {
	case AttrStatus:
		s.mu.Lock()
		st := s.status
		s.mu.Unlock()
		w.PutUint(tag, uint64(st))
	case AttrOrder:
		w.PutUint(tag, uint64(s.cfg.Order))
	case AttrDescription:
		w.PutString(tag, s.cfg.Description)
	case AttrWiredCurrentType:
		w.PutUint(tag, uint64(s.cfg.CurrentType))
	case AttrEndpointList:
		serve.PutUintList(w, tag, s.cfg.EndpointList)
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

// Invoke implements dm.Cluster: the cluster has no commands.
func (s *Server) Invoke(*dm.Request, uint32, *tlv.Reader, *dm.CommandResponse) error {
	return serve.UnsupportedCommand()
}
