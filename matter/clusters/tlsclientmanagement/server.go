package tlsclientmanagement

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mattercam/mattercam/matter/clusters/field"
	"github.com/mattercam/mattercam/matter/clusters/internal/serve"
	"github.com/mattercam/mattercam/matter/dm"
	"github.com/mattercam/mattercam/matter/storage"
	"github.com/mattercam/mattercam/matter/tlv"
)

// Limits (Core §14.5.6.1).
const (
	// DefaultMaxProvisioned and MinProvisioned: the model's floor for
	// MaxProvisioned (5 to 254).
	DefaultMaxProvisioned = 5
	MinProvisioned        = 5
	// hardLimit bounds MaxProvisioned so a fabric's endpoints (at most
	// 253-octet host names each) stay one small stored record.
	hardLimit = 64
	// MaxID is the largest TLSEndpointID, TLSCAID and TLSCCDID (Core
	// §14.5.4.1, §14.4.4.1-2).
	MaxID = 65534
	// MaxHostname is the model's bound on Hostname in octets.
	MaxHostname = 253
)

// Storage keys: "tlsclient.ep.<fabric>" and the ID counter "tlsclient.ids".
const (
	endpointPrefix = "tlsclient.ep."
	idsKey         = "tlsclient.ids"
)

func endpointKey(fabricIndex uint8) string { return endpointPrefix + strconv.Itoa(int(fabricIndex)) }

// Notifier is told about attribute changes; *dm.Node implements it.
type Notifier = serve.Notifier

// Certificates is what the cluster needs of TLS Certificate Management;
// *tlscertificatemanagement.Server implements it.
type Certificates interface {
	// Hold runs f while no certificate can be added or removed, telling
	// it whether the fabric has root certificate caid and, for a non-null
	// ccdid, client certificate ccdid (client is true for null).
	Hold(fabricIndex uint8, caid uint16, ccdid field.Nullable[uint16], f func(root, client bool) error) error
}

// Config configures a TlsClientManagement server.
type Config struct {
	// Certificates is the TLS Certificate Management cluster. Required.
	Certificates Certificates
	// Store keeps the provisioned endpoints and the ID counter. Required.
	Store *storage.Store
	// Now is the node's UTC time and whether it has one;
	// *timesynchronization.Server's Now fits. Without a time no endpoint
	// can be provisioned (Core §14.5.7.1). Nil means never.
	Now func() (time.Time, bool)
	// MaxProvisioned endpoints per fabric; zero means
	// DefaultMaxProvisioned.
	MaxProvisioned int
	// Notify is told about attribute changes; nil means nobody.
	Notify Notifier
	// Logger; nil means slog.Default().
	Logger *slog.Logger
}

// endpoint is one provisioned TLS endpoint; refs is its ReferenceCount,
// which lives in memory only: users acquire it again after a restart
// (Core §14.5.4.2.6 asks the node to recompute it).
type endpoint struct {
	TLSEndpoint
	refs uint8
}

// Server is the TLS Client Management cluster (Core §14.5) on the root
// endpoint: per-fabric TLS endpoints (host name, port, the root
// certificate that authenticates the server and an optional client
// certificate) for the clusters that open TLS connections, such as Push
// AV Stream Transport, which take a reference with Acquire while they use
// one. Each fabric's endpoints are one stored record, written atomically.
type Server struct {
	serve.Base
	cfg Config
	log *slog.Logger

	mu     sync.Mutex
	eps    map[uint8][]endpoint
	nextID uint16
}

var _ dm.Cluster = (*Server)(nil)

var meta = serve.Subset(&Meta,
	[]uint32{AttrMaxProvisioned, AttrProvisionedEndpoints},
	[]uint32{CmdProvisionEndpoint, CmdFindEndpoint, CmdRemoveEndpoint},
	nil)

// New returns a TlsClientManagement server, loading the stored endpoints.
// Unusable stored records are logged and dropped.
func New(cfg Config) (*Server, error) {
	if cfg.Certificates == nil || cfg.Store == nil {
		return nil, errors.New("tlsclient: Config.Certificates and Config.Store are required")
	}
	if cfg.MaxProvisioned == 0 {
		cfg.MaxProvisioned = DefaultMaxProvisioned
	}
	if cfg.MaxProvisioned < MinProvisioned || cfg.MaxProvisioned > hardLimit {
		return nil, fmt.Errorf("tlsclient: MaxProvisioned %d out of range", cfg.MaxProvisioned)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	s := &Server{cfg: cfg, log: log.With("component", "tlsclient"), eps: make(map[uint8][]endpoint)}
	if err := s.load(); err != nil {
		return nil, err
	}
	s.Init(meta, 0, cfg.Notify)
	return s, nil
}

// FeatureMap implements dm.Cluster: no features (METADATA is provisional).
func (s *Server) FeatureMap() uint32 { return 0 }

// ReadAttribute implements dm.Cluster.
func (s *Server) ReadAttribute(req *dm.Request, attr uint32, w *tlv.Writer, tag tlv.Tag) error {
	switch attr {
	case AttrMaxProvisioned:
		w.PutUint(tag, uint64(s.cfg.MaxProvisioned))
	case AttrProvisionedEndpoints:
		s.mu.Lock()
		w.StartArray(tag)
		for _, fi := range s.fabricsLocked(req) {
			for _, e := range s.eps[fi] {
				v := e.value(fi)
				v.EncodeTLV(w, tlv.AnonymousTag())
			}
		}
		w.EndContainer()
		s.mu.Unlock()
	default:
		return serve.UnsupportedAttribute()
	}
	return w.Err()
}

// value returns e as the fabric's TLSEndpointStruct.
func (e *endpoint) value(fabricIndex uint8) TLSEndpoint {
	v := e.TLSEndpoint
	v.ReferenceCount, v.FabricIndex = e.refs, fabricIndex
	return v
}

// fabricsLocked returns the fabrics whose entries a read returns: the
// accessing fabric alone for a fabric-filtered read, every fabric
// otherwise (the model marks no field of TLSEndpointStruct
// fabric-sensitive). The caller holds mu.
func (s *Server) fabricsLocked(req *dm.Request) []uint8 {
	if req.FabricFiltered {
		if req.Subject.FabricIndex == 0 {
			return nil
		}
		return []uint8{req.Subject.FabricIndex}
	}
	idx := make([]uint8, 0, len(s.eps))
	for i := range s.eps {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	return idx
}

// WriteAttribute implements dm.Cluster: nothing is writable.
func (s *Server) WriteAttribute(_ *dm.Request, attr uint32, _ *tlv.Reader, _ bool) error {
	if meta.Attribute(attr) == nil {
		return serve.UnsupportedAttribute()
	}
	return serve.UnsupportedWrite()
}

// Invoke implements dm.Cluster. Every command is fabric-scoped; the engine
// has already refused them over a transport without large messages
// (quality L, Core §14.5).
func (s *Server) Invoke(req *dm.Request, cmd uint32, r *tlv.Reader, resp *dm.CommandResponse) error {
	fi := req.Subject.FabricIndex
	if fi == 0 {
		return serve.Status(dm.StatusUnsupportedAccess)
	}
	switch cmd {
	case CmdProvisionEndpoint:
		var in ProvisionEndpointRequest
		if err := serve.DecodeCommand(r, &in); err != nil {
			return err
		}
		id, err := s.provision(fi, &in)
		if err != nil {
			return err
		}
		return serve.Respond(resp, CmdProvisionEndpointResponse, &ProvisionEndpointResponse{EndpointID: id})
	case CmdFindEndpoint:
		var in FindEndpointRequest
		if err := serve.DecodeCommand(r, &in); err != nil {
			return err
		}
		v, err := s.find(fi, in.EndpointID)
		if err != nil {
			return err
		}
		return serve.Respond(resp, CmdFindEndpointResponse, &FindEndpointResponse{Endpoint: v})
	case CmdRemoveEndpoint:
		var in RemoveEndpointRequest
		if err := serve.DecodeCommand(r, &in); err != nil {
			return err
		}
		return s.remove(fi, in.EndpointID)
	}
	return serve.UnsupportedCommand()
}

// provision is ProvisionEndpoint (Core §14.5.7.1), its checks in the
// order the spec lists them. The certificates are checked and the
// endpoint stored while TLS Certificate Management holds its lists, so a
// certificate cannot go away in between.
func (s *Server) provision(fi uint8, in *ProvisionEndpointRequest) (uint16, error) {
	for _, id := range []field.Nullable[uint16]{in.CCDID, in.EndpointID} {
		if id.Valid && id.Value > MaxID {
			return 0, dm.Errorf(dm.StatusConstraintError, "tlsclient: ID %d out of range", id.Value)
		}
	}
	if !validHostname(in.Hostname) {
		return 0, dm.Errorf(dm.StatusConstraintError, "tlsclient: provision endpoint: %q is not a host name", in.Hostname)
	}
	if _, ok := s.now(); !ok {
		return 0, &dm.StatusError{Status: dm.StatusFailure, ClusterStatus: ptr(uint8(StatusCodeInvalidTime)),
			Err: errors.New("tlsclient: provision endpoint: the node has no UTC time")}
	}
	var id uint16
	changed := false
	err := s.cfg.Certificates.Hold(fi, in.CAID, in.CCDID, func(root, client bool) error {
		if !root {
			return &dm.StatusError{Status: dm.StatusFailure, ClusterStatus: ptr(uint8(StatusCodeRootCertificateNotFound)),
				Err: fmt.Errorf("tlsclient: provision endpoint: no CAID %d", in.CAID)}
		}
		if !client {
			return &dm.StatusError{Status: dm.StatusFailure, ClusterStatus: ptr(uint8(StatusCodeClientCertificateNotFound)),
				Err: fmt.Errorf("tlsclient: provision endpoint: no CCDID %d", in.CCDID.Value)}
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		cur := s.eps[fi]
		next := slices.Clone(cur)
		e := endpoint{TLSEndpoint: TLSEndpoint{Hostname: in.Hostname, Port: in.Port, CAID: in.CAID, CCDID: in.CCDID}}
		i := -1
		if want, ok := in.EndpointID.Get(); ok {
			if i = slices.IndexFunc(cur, func(e endpoint) bool { return e.EndpointID == want }); i < 0 {
				return dm.Errorf(dm.StatusNotFound, "tlsclient: provision endpoint: no endpoint %d", want)
			}
			e.EndpointID, e.refs = want, cur[i].refs
		} else if len(cur) >= s.cfg.MaxProvisioned {
			return dm.Errorf(dm.StatusResourceExhausted, "tlsclient: provision endpoint: %d endpoints", len(cur))
		}
		// One entry per host name and port on a fabric: the spec checks
		// it for a new endpoint; an update may not create the duplicate
		// either.
		for j, o := range cur {
			if j != i && o.Port == in.Port && bytes.Equal(o.Hostname, in.Hostname) {
				return &dm.StatusError{Status: dm.StatusFailure, ClusterStatus: ptr(uint8(StatusCodeEndpointAlreadyInstalled)),
					Err: fmt.Errorf("tlsclient: provision endpoint: %s:%d is endpoint %d", in.Hostname, in.Port, o.EndpointID)}
			}
		}
		if i >= 0 {
			next[i] = e
		} else {
			var err error
			if e.EndpointID, err = s.allocLocked(); err != nil {
				return err
			}
			next = append(next, e)
		}
		if err := s.storeLocked(fi, next); err != nil {
			return fmt.Errorf("tlsclient: provision endpoint: %w", err)
		}
		id, changed = e.EndpointID, true
		return nil
	})
	if changed {
		s.Changed(AttrProvisionedEndpoints)
	}
	return id, err
}

// find is FindEndpoint (Core §14.5.7.3).
func (s *Server) find(fi uint8, id uint16) (TLSEndpoint, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.eps[fi] {
		if e.EndpointID == id {
			return e.value(fi), nil
		}
	}
	return TLSEndpoint{}, serve.Status(dm.StatusNotFound)
}

// remove is RemoveEndpoint (Core §14.5.7.5): an endpoint in use
// (ReferenceCount above 0) stays.
func (s *Server) remove(fi uint8, id uint16) error {
	s.mu.Lock()
	cur := s.eps[fi]
	i := slices.IndexFunc(cur, func(e endpoint) bool { return e.EndpointID == id })
	if i < 0 {
		s.mu.Unlock()
		return serve.Status(dm.StatusNotFound)
	}
	if cur[i].refs > 0 {
		s.mu.Unlock()
		return dm.Errorf(dm.StatusInvalidInState, "tlsclient: remove endpoint: endpoint %d has %d users", id, cur[i].refs)
	}
	err := s.storeLocked(fi, slices.Delete(slices.Clone(cur), i, i+1))
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("tlsclient: remove endpoint: %w", err)
	}
	s.Changed(AttrProvisionedEndpoints)
	return nil
}

// Acquire returns a fabric's endpoint and counts one more user of it: a
// cluster about to connect to it (Push AV Stream Transport, say). While
// it has users, RemoveEndpoint fails with INVALID_IN_STATE and its
// certificates cannot be removed. Each Acquire needs one Release.
func (s *Server) Acquire(fabricIndex uint8, id uint16) (TLSEndpoint, error) {
	s.mu.Lock()
	l := s.eps[fabricIndex]
	i := slices.IndexFunc(l, func(e endpoint) bool { return e.EndpointID == id })
	if i < 0 {
		s.mu.Unlock()
		return TLSEndpoint{}, fmt.Errorf("tlsclient: acquire: no endpoint %d on fabric %d", id, fabricIndex)
	}
	if l[i].refs == 255 {
		s.mu.Unlock()
		return TLSEndpoint{}, fmt.Errorf("tlsclient: acquire: endpoint %d has 255 users", id)
	}
	l[i].refs++
	v := l[i].value(fabricIndex)
	s.mu.Unlock()
	s.Changed(AttrProvisionedEndpoints)
	return v, nil
}

// Release ends one use of an endpoint taken with Acquire.
func (s *Server) Release(fabricIndex uint8, id uint16) {
	s.mu.Lock()
	l := s.eps[fabricIndex]
	i := slices.IndexFunc(l, func(e endpoint) bool { return e.EndpointID == id })
	ok := i >= 0 && l[i].refs > 0
	if ok {
		l[i].refs--
	}
	s.mu.Unlock()
	if ok {
		s.Changed(AttrProvisionedEndpoints)
	}
}

// UsesRoot reports whether an endpoint of the fabric references root
// certificate caid: TLS Certificate Management then refuses to remove it
// (Core §14.4.6.7). It takes only this server's lock.
func (s *Server) UsesRoot(fabricIndex uint8, caid uint16) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.ContainsFunc(s.eps[fabricIndex], func(e endpoint) bool { return e.CAID == caid })
}

// UsesClient reports whether an endpoint of the fabric references client
// certificate ccdid (Core §14.4.6.15).
func (s *Server) UsesClient(fabricIndex uint8, ccdid uint16) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.ContainsFunc(s.eps[fabricIndex], func(e endpoint) bool { return e.CCDID.Valid && e.CCDID.Value == ccdid })
}

// FabricRemoved drops a removed fabric's endpoints (Core §11.18.6.12).
func (s *Server) FabricRemoved(fabricIndex uint8) {
	s.mu.Lock()
	_, had := s.eps[fabricIndex]
	delete(s.eps, fabricIndex)
	s.mu.Unlock()
	if err := s.cfg.Store.Delete(endpointKey(fabricIndex)); err != nil && !errors.Is(err, storage.ErrNotFound) {
		s.log.Error("removing a fabric's TLS endpoints", "fabric", fabricIndex, "err", err)
	}
	if had {
		s.Changed(AttrProvisionedEndpoints)
	}
}

// RetainFabrics drops the endpoints of fabrics for which keep is false;
// the node calls it at start-up with the fabric table's Has.
func (s *Server) RetainFabrics(keep func(fabricIndex uint8) bool) {
	s.mu.Lock()
	var drop []uint8
	for fi := range s.eps {
		if !keep(fi) {
			drop = append(drop, fi)
		}
	}
	s.mu.Unlock()
	for _, fi := range drop {
		s.FabricRemoved(fi)
	}
}

func (s *Server) now() (time.Time, bool) {
	if s.cfg.Now == nil {
		return time.Time{}, false
	}
	return s.cfg.Now()
}

func ptr[T any](v T) *T { return &v }

// validHostname reports whether h is a host name (RFC 1123 letters,
// digits and hyphens in dot-separated labels of 1 to 63 octets, an
// optional final dot) or an IP address literal: what a TLS client can
// resolve and put in SNI. The model bounds only its length (4 to 253).
func validHostname(h []byte) bool {
	if len(h) == 0 || len(h) > MaxHostname {
		return false
	}
	if _, err := netip.ParseAddr(string(h)); err == nil {
		return !strings.Contains(string(h), "%") // no IPv6 zone
	}
	name := strings.TrimSuffix(string(h), ".")
	if name == "" {
		return false
	}
	for _, label := range strings.Split(name, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// allocLocked returns the next free TLSEndpointID: IDs start at 0,
// increase by one, wrap past MaxID and skip IDs in use anywhere on the
// node (Core §14.5.4.1). The counter is stored first, so a crash skips an
// ID rather than reusing one. The caller holds mu.
func (s *Server) allocLocked() (uint16, error) {
	used := func(id uint16) bool {
		for _, l := range s.eps {
			if slices.ContainsFunc(l, func(e endpoint) bool { return e.EndpointID == id }) {
				return true
			}
		}
		return false
	}
	id := s.nextID
	for range MaxID + 1 {
		if !used(id) {
			break
		}
		id = nextID(id)
	}
	if used(id) {
		return 0, serve.Status(dm.StatusResourceExhausted)
	}
	old := s.nextID
	s.nextID = nextID(id)
	var w tlv.Writer
	w.StartStructure(tlv.AnonymousTag())
	w.PutUint(tlv.ContextTag(0), uint64(s.nextID))
	w.EndContainer()
	b, err := w.Bytes()
	if err == nil {
		err = s.cfg.Store.Put(idsKey, b)
	}
	if err != nil {
		s.nextID = old
		return 0, &dm.StatusError{Status: dm.StatusFailure, Err: fmt.Errorf("%s: %w", idsKey, err)}
	}
	return id, nil
}

func nextID(id uint16) uint16 {
	if id >= MaxID {
		return 0
	}
	return id + 1
}

// storeLocked stores a fabric's endpoints and puts them in force. The
// caller holds mu.
func (s *Server) storeLocked(fi uint8, l []endpoint) error {
	var err error
	if len(l) == 0 {
		if err = s.cfg.Store.Delete(endpointKey(fi)); errors.Is(err, storage.ErrNotFound) {
			err = nil
		}
	} else {
		err = s.cfg.Store.Put(endpointKey(fi), encodeRecord(l))
	}
	if err != nil {
		return &dm.StatusError{Status: dm.StatusFailure, Err: fmt.Errorf("fabric %d: %w", fi, err)}
	}
	if len(l) == 0 {
		delete(s.eps, fi)
	} else {
		s.eps[fi] = l
	}
	return nil
}

// load reads the stored records; an unusable one is logged and dropped.
func (s *Server) load() error {
	if b, err := s.cfg.Store.Get(idsKey); err == nil {
		if s.nextID, err = decodeIDs(b); err != nil {
			s.log.Error("stored TLS endpoint ID counter unusable; starting at 0", "err", err)
		}
	} else if !errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("tlsclient: load: %w", err)
	}
	keys, err := s.cfg.Store.Keys(endpointPrefix)
	if err != nil {
		return fmt.Errorf("tlsclient: load: %w", err)
	}
	slices.Sort(keys)
	for _, k := range keys {
		suffix := strings.TrimPrefix(k, endpointPrefix)
		n, err := strconv.ParseUint(suffix, 10, 8)
		if err != nil || n == 0 || n == 255 || strconv.Itoa(int(n)) != suffix {
			continue
		}
		b, err := s.cfg.Store.Get(k)
		var l []endpoint
		if err == nil {
			l, err = decodeRecord(b)
		}
		if err == nil && slices.ContainsFunc(l, func(e endpoint) bool {
			for _, o := range s.eps {
				if slices.ContainsFunc(o, func(x endpoint) bool { return x.EndpointID == e.EndpointID }) {
					return true
				}
			}
			return false
		}) {
			err = errors.New("endpoint ID held by another fabric")
		}
		if err != nil {
			s.log.Error("dropping unusable stored TLS endpoints", "key", k, "err", err)
			continue
		}
		s.eps[uint8(n)] = l
	}
	return nil
}

// The stored records:
//
//	endpoints: { 0 = version (1), 1 = [TLSEndpointStruct…] }, the
//	           ReferenceCount stored as 0 and the fabric index the key's
//	ids:       { 0 = next TLSEndpointID }
const recordVersion = 1

func encodeRecord(l []endpoint) []byte {
	var w tlv.Writer
	w.StartStructure(tlv.AnonymousTag())
	w.PutUint(tlv.ContextTag(0), recordVersion)
	w.StartArray(tlv.ContextTag(1))
	for _, e := range l {
		v := e.TLSEndpoint
		v.ReferenceCount, v.FabricIndex = 0, 0
		v.EncodeTLV(&w, tlv.AnonymousTag())
	}
	w.EndContainer()
	w.EndContainer()
	b, _ := w.Bytes() // a well-formed structure; the writer cannot fail
	return bytes.Clone(b)
}

// decodeRecord decodes and checks a stored endpoints record.
func decodeRecord(b []byte) ([]endpoint, error) {
	r := tlv.NewReader(b)
	if err := r.Next(); err != nil {
		return nil, err
	}
	if err := field.EnterStruct(r); err != nil {
		return nil, err
	}
	var l []endpoint
	var seen field.Seen
	for {
		tag, ok, err := field.Next(r, &seen)
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		switch tag {
		case 0:
			v, err := r.Uint()
			if err != nil {
				return nil, err
			}
			if v != recordVersion {
				return nil, fmt.Errorf("record version %d", v)
			}
		case 1:
			l, err = field.List(r, 1, hardLimit, func(r *tlv.Reader) (endpoint, error) {
				var v TLSEndpoint
				if err := v.DecodeTLV(r); err != nil {
					return endpoint{}, err
				}
				if !validHostname(v.Hostname) || v.CCDID.Valid && v.CCDID.Value > MaxID {
					return endpoint{}, fmt.Errorf("endpoint %d: bad host name or CCDID", v.EndpointID)
				}
				v.ReferenceCount, v.FabricIndex = 0, 0
				return endpoint{TLSEndpoint: v}, nil
			})
			if err != nil {
				return nil, err
			}
		}
	}
	if err := r.Exit(); err != nil {
		return nil, err
	}
	if !seen.Has(0) || !seen.Has(1) {
		return nil, errors.New("record without version or list")
	}
	for i, e := range l {
		if slices.ContainsFunc(l[:i], func(o endpoint) bool {
			return o.EndpointID == e.EndpointID || o.Port == e.Port && bytes.Equal(o.Hostname, e.Hostname)
		}) {
			return nil, fmt.Errorf("endpoint %d or its host and port twice", e.EndpointID)
		}
	}
	return l, nil
}

func decodeIDs(b []byte) (uint16, error) {
	r := tlv.NewReader(b)
	if err := r.Next(); err != nil {
		return 0, err
	}
	if err := field.EnterStruct(r); err != nil {
		return 0, err
	}
	var seen field.Seen
	var id uint16
	for {
		tag, ok, err := field.Next(r, &seen)
		if err != nil {
			return 0, err
		}
		if !ok {
			break
		}
		if tag != 0 {
			continue
		}
		if id, err = field.Uint[uint16](r); err == nil {
			err = field.Range[uint16](id, 0, MaxID)
		}
		if err != nil {
			return 0, err
		}
	}
	if err := r.Exit(); err != nil {
		return 0, err
	}
	return id, nil
}
