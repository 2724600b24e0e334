package descriptor

import (
	"errors"
	"slices"

	"github.com/mattercam/mattercam/matter/clusters/internal/serve"
	"github.com/mattercam/mattercam/matter/dm"
	"github.com/mattercam/mattercam/matter/tlv"
)

// Config configures a Descriptor server.
type Config struct {
	// Endpoint is the endpoint described: its ID, DeviceTypes, Clients
	// and the server clusters attached to it, read each time the
	// attributes are (the Descriptor itself included). Required.
	Endpoint *dm.Endpoint
	// Parts returns the PartsList: the endpoints that are parts of this
	// one (Core §9.5.6.4). The root node lists every other endpoint of the
	// node; nil means none.
	Parts func() []uint16
	// Notify is told when PartsList changes; nil means nobody.
	Notify Notifier
}

// Notifier is told about attribute changes; *dm.Node implements it.
type Notifier = serve.Notifier

// Server is the Descriptor cluster (Core §9.5): what an endpoint is (its
// device types) and what it holds (its server and client clusters, and the
// endpoints that are its parts). TagList and EndpointUniqueID are not
// served.
type Server struct {
	serve.Base
	cfg Config
}

var _ dm.Cluster = (*Server)(nil)

var meta = serve.Subset(&Meta,
	[]uint32{AttrDeviceTypeList, AttrServerList, AttrClientList, AttrPartsList}, nil, nil)

// New returns a Descriptor server.
func New(cfg Config) (*Server, error) {
	if cfg.Endpoint == nil {
		return nil, errors.New("descriptor: Config.Endpoint is required")
	}
	s := &Server{cfg: cfg}
	s.Init(meta, cfg.Endpoint.ID, cfg.Notify)
	return s, nil
}

// FeatureMap implements dm.Cluster: no TagList.
func (s *Server) FeatureMap() uint32 { return 0 }

// PartsChanged reports that the Parts function now returns another list.
func (s *Server) PartsChanged() { s.Changed(AttrPartsList) }

// ReadAttribute implements dm.Cluster.
func (s *Server) ReadAttribute(_ *dm.Request, attr uint32, w *tlv.Writer, tag tlv.Tag) error {
	ep := s.cfg.Endpoint
	switch attr {
	case AttrDeviceTypeList:
		// DeviceTypeList has at least one entry (constraint "min 1").
		w.StartArray(tag)
		for _, d := range ep.DeviceTypes {
			dt := DeviceType{DeviceType: d.Type, Revision: max(d.Revision, 1)}
			dt.EncodeTLV(w, tlv.AnonymousTag())
		}
		w.EndContainer()
	case AttrServerList:
		serve.PutUintList(w, tag, ep.ClusterIDs())
	case AttrClientList:
		ids := slices.Clone(ep.Clients)
		slices.Sort(ids)
		serve.PutUintList(w, tag, slices.Compact(ids))
	case AttrPartsList:
		var parts []uint16
		if s.cfg.Parts != nil {
			parts = slices.DeleteFunc(slices.Clone(s.cfg.Parts()), func(p uint16) bool { return p == ep.ID })
			slices.Sort(parts)
			parts = slices.Compact(parts)
		}
		serve.PutUintList(w, tag, parts)
	default:
		return serve.UnsupportedAttribute()
	}
	return w.Err()
}

// WriteAttribute implements dm.Cluster: nothing is writable.
func (s *Server) WriteAttribute(*dm.Request, uint32, *tlv.Reader, bool) error {
	return serve.UnsupportedWrite()
}

// Invoke implements dm.Cluster: the cluster has no commands.
func (s *Server) Invoke(*dm.Request, uint32, *tlv.Reader, *dm.CommandResponse) error {
	return serve.UnsupportedCommand()
}
