package accesscontrol

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/mattercam/mattercam/matter/acl"
	"github.com/mattercam/mattercam/matter/clusters/field"
	"github.com/mattercam/mattercam/matter/clusters/internal/serve"
	"github.com/mattercam/mattercam/matter/dm"
	"github.com/mattercam/mattercam/matter/storage"
	"github.com/mattercam/mattercam/matter/tlv"
)

// Extension limits (Core §9.10.6.4, §9.10.5.8): one extension per fabric,
// of at most 128 octets.
const (
	ExtensionsPerFabric = 1
	MaxExtensionData    = 128
)

// extKeyPrefix starts the storage key of a fabric's extension,
// "aclext.<fabric index>".
const extKeyPrefix = "aclext."

func extKey(fabricIndex uint8) string { return extKeyPrefix + strconv.Itoa(int(fabricIndex)) }

// Config configures an AccessControl server.
type Config struct {
	// ACL is the node's access control list. Required.
	ACL *acl.Table
	// Store keeps the Extension entries. Required.
	Store *storage.Store
	// Events records AccessControlEntryChanged and
	// AccessControlExtensionChanged; nil records nothing.
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

// Server is the Access Control cluster (Core §9.10) on the root endpoint:
// the fabric-scoped ACL list backed by an acl.Table, the Extension list
// (feature EXTS), the limits, and the change events. The Managed Device
// and Auxiliary features are not supported.
type Server struct {
	serve.Base
	cfg Config
	log *slog.Logger

	extMu sync.Mutex
	ext   map[uint8][]byte
}

var _ dm.Cluster = (*Server)(nil)

var meta = serve.Subset(&Meta,
	[]uint32{AttrACL, AttrExtension, AttrSubjectsPerAccessControlEntry, AttrTargetsPerAccessControlEntry, AttrAccessControlEntriesPerFabric},
	nil,
	[]uint32{EventAccessControlEntryChanged, EventAccessControlExtensionChanged})

// New returns an AccessControl server, loading the stored extensions.
func New(cfg Config) (*Server, error) {
	if cfg.ACL == nil || cfg.Store == nil {
		return nil, errors.New("accesscontrol: Config.ACL and Config.Store are required")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	s := &Server{cfg: cfg, log: log.With("component", "accesscontrol"), ext: make(map[uint8][]byte)}
	keys, err := cfg.Store.Keys(extKeyPrefix)
	if err != nil {
		return nil, fmt.Errorf("accesscontrol: %w", err)
	}
	for _, k := range keys {
		n, err := strconv.ParseUint(strings.TrimPrefix(k, extKeyPrefix), 10, 8)
		if err != nil || n == 0 || n == 255 {
			continue
		}
		b, err := cfg.Store.Get(k)
		if err != nil || validExtension(b) != nil {
			s.log.Warn("dropping unusable stored extension", "fabric", n, "err", err)
			continue
		}
		s.ext[uint8(n)] = b
	}
	s.Init(meta, 0, cfg.Notify)
	return s, nil
}

// FeatureMap implements dm.Cluster: Extension.
func (s *Server) FeatureMap() uint32 { return FeatureExtension }

// ACLChanged reports that the ACL table changed; the node wires the
// table's Config.OnChange to it.
func (s *Server) ACLChanged(uint8) { s.Changed(AttrACL) }

// FabricRemoved drops the extension of a removed fabric. (The table drops
// the fabric's entries itself, acl.Table.RemoveFabric.)
func (s *Server) FabricRemoved(fabricIndex uint8) {
	s.extMu.Lock()
	_, had := s.ext[fabricIndex]
	if had {
		if err := s.cfg.Store.Delete(extKey(fabricIndex)); err != nil && !errors.Is(err, storage.ErrNotFound) {
			s.log.Error("removing a fabric's extension", "fabric", fabricIndex, "err", err)
		}
		delete(s.ext, fabricIndex)
	}
	s.extMu.Unlock()
	if had {
		s.Changed(AttrExtension)
	}
}

// RetainFabrics drops the extensions of fabrics for which keep is false;
// the node calls it at start-up with the fabric table's Has.
func (s *Server) RetainFabrics(keep func(fabricIndex uint8) bool) {
	s.extMu.Lock()
	var drop []uint8
	for i := range s.ext {
		if !keep(i) {
			drop = append(drop, i)
		}
	}
	s.extMu.Unlock()
	for _, i := range drop {
		s.FabricRemoved(i)
	}
}

// GrantAdmin installs the administrator entry of AddNOC (Core §11.18.6.8)
// on the new fabric and records its AccessControlEntryChanged event, made
// by the subject of req.
func (s *Server) GrantAdmin(req *dm.Request, fabricIndex uint8, subject uint64) error {
	if err := s.cfg.ACL.GrantAdmin(fabricIndex, subject); err != nil {
		return err
	}
	entries := s.cfg.ACL.Entries(fabricIndex)
	if len(entries) > 0 {
		s.entryEvent(req.Subject, fabricIndex, ChangeTypeAdded, entries[len(entries)-1])
	}
	return nil
}

// ReadAttribute implements dm.Cluster.
func (s *Server) ReadAttribute(req *dm.Request, attr uint32, w *tlv.Writer, tag tlv.Tag) error {
	accessing := req.Subject.FabricIndex
	lim := s.cfg.ACL.Limits()
	switch attr {
	case AttrACL:
		var entries []acl.Entry
		if req.FabricFiltered {
			entries = s.cfg.ACL.Entries(accessing)
		} else {
			entries = s.cfg.ACL.AllEntries()
		}
		w.StartArray(tag)
		for _, e := range entries {
			v := fromEntry(e)
			// Other fabrics' entries show only their fabric index.
			v.EncodeTLVFor(w, tlv.AnonymousTag(), accessing)
		}
		w.EndContainer()
	case AttrExtension:
		s.extMu.Lock()
		idx := make([]uint8, 0, len(s.ext))
		for i := range s.ext {
			if !req.FabricFiltered || i == accessing {
				idx = append(idx, i)
			}
		}
		slices.Sort(idx)
		w.StartArray(tag)
		for _, i := range idx {
			v := AccessControlExtension{Data: s.ext[i], FabricIndex: i}
			v.EncodeTLVFor(w, tlv.AnonymousTag(), accessing)
		}
		w.EndContainer()
		s.extMu.Unlock()
	case AttrSubjectsPerAccessControlEntry:
		w.PutUint(tag, uint64(lim.SubjectsPerEntry))
	case AttrTargetsPerAccessControlEntry:
		w.PutUint(tag, uint64(lim.TargetsPerEntry))
	case AttrAccessControlEntriesPerFabric:
		w.PutUint(tag, uint64(lim.EntriesPerFabric))
	default:
		return serve.UnsupportedAttribute()
	}
	return w.Err()
}

// WriteAttribute implements dm.Cluster: the ACL and Extension lists of the
// accessing fabric, replaced whole or appended to.
func (s *Server) WriteAttribute(req *dm.Request, attr uint32, r *tlv.Reader, item bool) error {
	fabricIndex := req.Subject.FabricIndex
	if (attr == AttrACL || attr == AttrExtension) && fabricIndex == 0 {
		// Fabric-scoped data needs an accessing fabric (Core §7.13.5).
		return serve.Status(dm.StatusUnsupportedAccess)
	}
	switch attr {
	case AttrACL:
		if item {
			return s.appendEntry(req, r)
		}
		return s.writeACL(req, r)
	case AttrExtension:
		return s.writeExtension(req, r, item)
	case AttrSubjectsPerAccessControlEntry, AttrTargetsPerAccessControlEntry, AttrAccessControlEntriesPerFabric:
		return serve.UnsupportedWrite()
	}
	return serve.UnsupportedAttribute()
}

// Invoke implements dm.Cluster: the cluster has no commands without MNGD.
func (s *Server) Invoke(*dm.Request, uint32, *tlv.Reader, *dm.CommandResponse) error {
	return serve.UnsupportedCommand()
}

// writeACL replaces the accessing fabric's entries. Changes are reported
// position by position: an entry that differs is Changed, extra new ones
// Added, extra old ones Removed (Core §9.10.9.1).
func (s *Server) writeACL(req *dm.Request, r *tlv.Reader) error {
	fabricIndex := req.Subject.FabricIndex
	lim := s.cfg.ACL.Limits()
	var entries []acl.Entry
	err := serve.EachItem(r, func(r *tlv.Reader) error {
		if len(entries) == lim.EntriesPerFabric {
			return dm.Errorf(dm.StatusResourceExhausted, "accesscontrol: more than %d entries", lim.EntriesPerFabric)
		}
		e, err := decodeEntry(r, fabricIndex)
		if err != nil {
			return err
		}
		entries = append(entries, e)
		return nil
	})
	if err != nil {
		return err
	}
	old := s.cfg.ACL.Entries(fabricIndex)
	if err := s.cfg.ACL.Set(fabricIndex, entries); err != nil {
		return err
	}
	cur := s.cfg.ACL.Entries(fabricIndex)
	for i := range max(len(old), len(cur)) {
		switch {
		case i < len(old) && i < len(cur):
			if !old[i].Equal(cur[i]) {
				s.entryEvent(req.Subject, fabricIndex, ChangeTypeChanged, cur[i])
			}
		case i < len(cur):
			s.entryEvent(req.Subject, fabricIndex, ChangeTypeAdded, cur[i])
		default:
			s.entryEvent(req.Subject, fabricIndex, ChangeTypeRemoved, old[i])
		}
	}
	return nil
}

// appendEntry appends one entry to the accessing fabric's list.
func (s *Server) appendEntry(req *dm.Request, r *tlv.Reader) error {
	fabricIndex := req.Subject.FabricIndex
	e, err := decodeEntry(r, fabricIndex)
	if err != nil {
		return err
	}
	if err := s.cfg.ACL.Add(e); err != nil {
		return err
	}
	s.entryEvent(req.Subject, fabricIndex, ChangeTypeAdded, e)
	return nil
}

// writeExtension replaces or appends to the accessing fabric's extension
// list, which holds at most one entry.
func (s *Server) writeExtension(req *dm.Request, r *tlv.Reader, item bool) error {
	fabricIndex := req.Subject.FabricIndex
	var list [][]byte
	decode := func(r *tlv.Reader) error {
		var v AccessControlExtension
		if err := serve.DecodeValue(r, &v); err != nil {
			return err
		}
		if err := validExtension(v.Data); err != nil {
			return err
		}
		list = append(list, v.Data)
		return nil
	}
	var err error
	if item {
		err = decode(r)
	} else {
		err = serve.EachItem(r, func(r *tlv.Reader) error {
			if len(list) == ExtensionsPerFabric {
				return dm.Errorf(dm.StatusResourceExhausted, "accesscontrol: more than %d extension", ExtensionsPerFabric)
			}
			return decode(r)
		})
	}
	if err != nil {
		return err
	}

	s.extMu.Lock()
	old, had := s.ext[fabricIndex]
	var change ChangeType
	var latest []byte
	switch {
	case item && had:
		s.extMu.Unlock()
		return dm.Errorf(dm.StatusResourceExhausted, "accesscontrol: fabric %d already has an extension", fabricIndex)
	case len(list) == 0 && !had:
		s.extMu.Unlock()
		return nil
	case len(list) == 0:
		err = s.cfg.Store.Delete(extKey(fabricIndex))
		change, latest = ChangeTypeRemoved, old
		if err == nil {
			delete(s.ext, fabricIndex)
		}
	default:
		err = s.cfg.Store.Put(extKey(fabricIndex), list[0])
		change, latest = ChangeTypeAdded, list[0]
		if had {
			change = ChangeTypeChanged
		}
		if err == nil {
			s.ext[fabricIndex] = list[0]
		}
	}
	s.extMu.Unlock()
	if err != nil {
		return &dm.StatusError{Status: dm.StatusFailure, Err: fmt.Errorf("accesscontrol: storing extension: %w", err)}
	}
	s.Changed(AttrExtension)
	ev := AccessControlExtensionChangedEvent{ChangeType: change, FabricIndex: fabricIndex,
		LatestValue: field.NonNull(AccessControlExtension{Data: latest, FabricIndex: fabricIndex})}
	setAdmin(req.Subject, &ev.AdminNodeID, &ev.AdminPasscodeID)
	s.emit(EventAccessControlExtensionChanged, fabricIndex, &ev)
	return nil
}

// validExtension checks an extension's data (Core §9.10.5.8): at most 128
// octets holding one anonymous TLV list whose elements carry
// fully-qualified profile-specific tags.
func validExtension(b []byte) error {
	bad := func(why string) error {
		return dm.Errorf(dm.StatusConstraintError, "accesscontrol: extension data: %s", why)
	}
	if len(b) > MaxExtensionData {
		return bad(fmt.Sprintf("%d octets", len(b)))
	}
	r := tlv.NewReader(b)
	if err := r.Next(); err != nil || r.Type() != tlv.TypeList || !r.Tag().IsAnonymous() {
		return bad("not an anonymous list")
	}
	if err := r.Enter(); err != nil {
		return bad(err.Error())
	}
	for {
		err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return bad(err.Error())
		}
		if r.Tag().Kind() != tlv.TagFullyQualified {
			return bad("element without a fully-qualified tag")
		}
		if err := r.Skip(); err != nil {
			return bad(err.Error())
		}
	}
	if err := r.Exit(); err != nil {
		return bad(err.Error())
	}
	if err := r.Next(); err != io.EOF {
		return bad("data after the list")
	}
	return nil
}

// decodeEntry decodes a written AccessControlEntryStruct for the accessing
// fabric; a FabricIndex in the value is ignored (Core §7.13.5, fabric-scoped
// writes). Validation against §9.10.5.7 is the table's.
func decodeEntry(r *tlv.Reader, fabricIndex uint8) (acl.Entry, error) {
	var v AccessControlEntry
	if err := serve.DecodeValue(r, &v); err != nil {
		return acl.Entry{}, err
	}
	// "Every AccessControlEntryStruct in the ACL attribute shall NOT
	// include the AuxiliaryType field" (Core §9.10.6.3).
	if v.AuxiliaryType.Present {
		return acl.Entry{}, dm.Errorf(dm.StatusConstraintError, "accesscontrol: AuxiliaryType in an ACL entry")
	}
	e := acl.Entry{
		FabricIndex: fabricIndex,
		Privilege:   dm.Privilege(v.Privilege),
		AuthMode:    dm.AuthMode(v.AuthMode),
		Subjects:    v.Subjects.Value,
	}
	for _, t := range v.Targets.Value {
		var at acl.Target
		at.Cluster, at.HasCluster = t.Cluster.Get()
		at.Endpoint, at.HasEndpoint = t.Endpoint.Get()
		at.DeviceType, at.HasDeviceType = t.DeviceType.Get()
		e.Targets = append(e.Targets, at)
	}
	return e, nil
}

// fromEntry is the AccessControlEntryStruct of an entry; no subjects or no
// targets are null.
func fromEntry(e acl.Entry) AccessControlEntry {
	v := AccessControlEntry{
		Privilege:   AccessControlEntryPrivilege(e.Privilege),
		AuthMode:    AccessControlEntryAuthMode(e.AuthMode),
		FabricIndex: e.FabricIndex,
	}
	if len(e.Subjects) > 0 {
		v.Subjects = field.NonNull(slices.Clone(e.Subjects))
	}
	if len(e.Targets) > 0 {
		ts := make([]AccessControlTarget, len(e.Targets))
		for i, t := range e.Targets {
			if t.HasCluster {
				ts[i].Cluster = field.NonNull(t.Cluster)
			}
			if t.HasEndpoint {
				ts[i].Endpoint = field.NonNull(t.Endpoint)
			}
			if t.HasDeviceType {
				ts[i].DeviceType = field.NonNull(t.DeviceType)
			}
		}
		v.Targets = field.NonNull(ts)
	}
	return v
}

// setAdmin fills the AdminNodeID / AdminPasscodeID pair of a change event:
// the node ID over CASE, passcode ID 0 over PASE (Core §9.10.9.1.1).
func setAdmin(subj dm.Subject, node *field.Nullable[uint64], passcode *field.Nullable[uint16]) {
	if subj.AuthMode == dm.AuthPASE {
		*passcode = field.NonNull[uint16](0)
		return
	}
	*node = field.NonNull(subj.NodeID)
}

func (s *Server) entryEvent(subj dm.Subject, fabricIndex uint8, change ChangeType, e acl.Entry) {
	ev := AccessControlEntryChangedEvent{ChangeType: change, FabricIndex: fabricIndex,
		LatestValue: field.NonNull(fromEntry(e))}
	setAdmin(subj, &ev.AdminNodeID, &ev.AdminPasscodeID)
	s.emit(EventAccessControlEntryChanged, fabricIndex, &ev)
}

func (s *Server) emit(event uint32, fabricIndex uint8, v serve.Encoder) {
	if err := serve.Emit(s.cfg.Events, 0, ID, event, dm.PriorityInfo, fabricIndex, v); err != nil {
		s.log.Warn("recording an event failed", "event", event, "err", err)
	}
}
