package groupkeymanagement

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/mattercam/mattercam/matter/clusters/field"
	"github.com/mattercam/mattercam/matter/clusters/internal/serve"
	"github.com/mattercam/mattercam/matter/crypto"
	"github.com/mattercam/mattercam/matter/dm"
	"github.com/mattercam/mattercam/matter/fabric"
	"github.com/mattercam/mattercam/matter/storage"
	"github.com/mattercam/mattercam/matter/tlv"
)

// Limits (Core §2.11.1.2, "Group Limits").
const (
	// MinGroupKeysPerFabric is the least number of group key sets per
	// fabric, the IPK (key set 0) included.
	MinGroupKeysPerFabric = 3
	// DefaultMaxGroupsPerFabric is 0: the node has no Groups cluster, so
	// no endpoint can be a group member and the group table stays empty.
	DefaultMaxGroupsPerFabric = 0
	// hardLimit bounds both limits, so a record stays small.
	hardLimit = 64
)

// IPKKeySetID is the group key set of the Identity Protection Key, which
// AddNOC installs and which can be neither written nor removed (Core
// §11.2.5.3.2, §11.18.6.8.1).
const IPKKeySetID = 0

// keyPrefix starts the storage key of a fabric's key sets and group key
// map, "groupkeys.<fabric index>".
const keyPrefix = "groupkeys."

func storageKey(fabricIndex uint8) string { return keyPrefix + strconv.Itoa(int(fabricIndex)) }

// Fabrics is what the cluster needs of the fabric table; *fabric.Table
// implements it.
type Fabrics interface {
	Get(index uint8) (fabric.Descriptor, bool)
}

// Config configures a GroupKeyManagement server.
type Config struct {
	// Fabrics gives each fabric's compressed fabric ID (for deriving
	// operational group keys) and IPK. Required.
	Fabrics Fabrics
	// Store keeps the key sets and the group key map. Required.
	Store *storage.Store
	// MaxGroupKeysPerFabric, at least MinGroupKeysPerFabric (the zero
	// value's meaning), and MaxGroupsPerFabric (0: no groups).
	MaxGroupKeysPerFabric int
	MaxGroupsPerFabric    int
	// Notify is told about attribute changes; nil means nobody.
	Notify Notifier
	// Logger; nil means slog.Default().
	Logger *slog.Logger
}

// Notifier is told about attribute changes; *dm.Node implements it.
type Notifier = serve.Notifier

// fabricData is one fabric's group key state. Key sets hold the
// operational group keys derived from the epoch keys, never the epoch keys
// themselves (Core §11.2.5.4.3).
type fabricData struct {
	sets []GroupKeySet // by ascending ID, never ID 0
	maps []GroupKeyMap
}

// Server is the Group Key Management cluster (Core §11.2): the per-fabric
// group key sets, key set 0 being the fabric's IPK, and the group key map.
// The node has no Groups cluster, so the group table is empty.
type Server struct {
	serve.Base
	cfg Config
	log *slog.Logger

	mu   sync.Mutex
	data map[uint8]*fabricData
}

var _ dm.Cluster = (*Server)(nil)

var meta = serve.Subset(&Meta,
	[]uint32{AttrGroupKeyMap, AttrGroupTable, AttrMaxGroupsPerFabric, AttrMaxGroupKeysPerFabric},
	[]uint32{CmdKeySetWrite, CmdKeySetRead, CmdKeySetRemove, CmdKeySetReadAllIndices}, nil)

// New returns a GroupKeyManagement server, loading the stored state.
func New(cfg Config) (*Server, error) {
	if cfg.Fabrics == nil || cfg.Store == nil {
		return nil, errors.New("groupkeymanagement: Config.Fabrics and Config.Store are required")
	}
	if cfg.MaxGroupKeysPerFabric == 0 {
		cfg.MaxGroupKeysPerFabric = MinGroupKeysPerFabric
	}
	if cfg.MaxGroupKeysPerFabric < MinGroupKeysPerFabric || cfg.MaxGroupKeysPerFabric > hardLimit ||
		cfg.MaxGroupsPerFabric < 0 || cfg.MaxGroupsPerFabric > hardLimit {
		return nil, fmt.Errorf("groupkeymanagement: limits %d key sets, %d groups out of range", cfg.MaxGroupKeysPerFabric, cfg.MaxGroupsPerFabric)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	s := &Server{cfg: cfg, log: log.With("component", "groupkeymanagement"), data: make(map[uint8]*fabricData)}
	keys, err := cfg.Store.Keys(keyPrefix)
	if err != nil {
		return nil, fmt.Errorf("groupkeymanagement: %w", err)
	}
	for _, k := range keys {
		n, err := strconv.ParseUint(strings.TrimPrefix(k, keyPrefix), 10, 8)
		if err != nil || n == 0 || n == 255 || storageKey(uint8(n)) != k {
			continue
		}
		b, err := cfg.Store.Get(k)
		var d *fabricData
		if err == nil {
			d, err = decodeRecord(b, cfg.MaxGroupKeysPerFabric, cfg.MaxGroupsPerFabric)
		}
		if err != nil {
			s.log.Error("dropping unusable stored group keys", "fabric", n, "err", err)
			continue
		}
		s.data[uint8(n)] = d
	}
	s.Init(meta, 0, cfg.Notify)
	return s, nil
}

// FeatureMap implements dm.Cluster.
func (s *Server) FeatureMap() uint32 { return 0 }

// FabricRemoved drops a removed fabric's key sets and map.
func (s *Server) FabricRemoved(fabricIndex uint8) {
	s.mu.Lock()
	_, had := s.data[fabricIndex]
	delete(s.data, fabricIndex)
	s.mu.Unlock()
	if err := s.cfg.Store.Delete(storageKey(fabricIndex)); err != nil && !errors.Is(err, storage.ErrNotFound) {
		s.log.Error("removing a fabric's group keys", "fabric", fabricIndex, "err", err)
	}
	if had {
		s.Changed(AttrGroupKeyMap)
	}
}

// RetainFabrics drops the state of fabrics for which keep is false; the
// node calls it at start-up with the fabric table's Has.
func (s *Server) RetainFabrics(keep func(fabricIndex uint8) bool) {
	s.mu.Lock()
	var drop []uint8
	for i := range s.data {
		if !keep(i) {
			drop = append(drop, i)
		}
	}
	s.mu.Unlock()
	for _, i := range drop {
		s.FabricRemoved(i)
	}
}

// FabricChanged reports that fabrics were added or removed: key set 0 and
// the group key map follow the fabric table.
func (s *Server) FabricChanged() { s.Changed(AttrGroupKeyMap) }

// ReadAttribute implements dm.Cluster.
func (s *Server) ReadAttribute(req *dm.Request, attr uint32, w *tlv.Writer, tag tlv.Tag) error {
	switch attr {
	case AttrGroupKeyMap:
		s.mu.Lock()
		idx := make([]uint8, 0, len(s.data))
		for i := range s.data {
			if !req.FabricFiltered || i == req.Subject.FabricIndex {
				idx = append(idx, i)
			}
		}
		slices.Sort(idx)
		w.StartArray(tag)
		for _, i := range idx {
			for _, m := range s.data[i].maps {
				m.FabricIndex = i
				m.EncodeTLV(w, tlv.AnonymousTag())
			}
		}
		w.EndContainer()
		s.mu.Unlock()
	case AttrGroupTable:
		w.StartArray(tag)
		w.EndContainer()
	case AttrMaxGroupsPerFabric:
		w.PutUint(tag, uint64(s.cfg.MaxGroupsPerFabric))
	case AttrMaxGroupKeysPerFabric:
		w.PutUint(tag, uint64(s.cfg.MaxGroupKeysPerFabric))
	default:
		return serve.UnsupportedAttribute()
	}
	return w.Err()
}

// WriteAttribute implements dm.Cluster: the accessing fabric's group key
// map, replaced whole or appended to.
func (s *Server) WriteAttribute(req *dm.Request, attr uint32, r *tlv.Reader, item bool) error {
	switch attr {
	case AttrGroupKeyMap:
	case AttrGroupTable, AttrMaxGroupsPerFabric, AttrMaxGroupKeysPerFabric:
		return serve.UnsupportedWrite()
	default:
		return serve.UnsupportedAttribute()
	}
	fabricIndex := req.Subject.FabricIndex
	if fabricIndex == 0 {
		return serve.Status(dm.StatusUnsupportedAccess)
	}
	var add []GroupKeyMap
	decode := func(r *tlv.Reader) error {
		var m GroupKeyMap
		if err := serve.DecodeValue(r, &m); err != nil {
			return err
		}
		// Group ID 0 is the null group (Core §4.17.1).
		if m.GroupID == 0 {
			return dm.Errorf(dm.StatusConstraintError, "groupkeymanagement: group ID 0")
		}
		m.FabricIndex = 0
		add = append(add, m)
		return nil
	}
	if item {
		if err := decode(r); err != nil {
			return err
		}
	} else if err := serve.EachItem(r, func(r *tlv.Reader) error {
		if len(add) == s.cfg.MaxGroupsPerFabric {
			return dm.Errorf(dm.StatusResourceExhausted, "groupkeymanagement: more than %d groups", s.cfg.MaxGroupsPerFabric)
		}
		return decode(r)
	}); err != nil {
		return err
	}

	if err := s.writeMap(fabricIndex, add, item); err != nil {
		return err
	}
	s.Changed(AttrGroupKeyMap)
	return nil
}

// writeMap replaces (or, for item, appends to) a fabric's group key map.
func (s *Server) writeMap(fabricIndex uint8, add []GroupKeyMap, item bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := &fabricData{}
	if cur := s.data[fabricIndex]; cur != nil {
		next.sets = cur.sets
		if item {
			next.maps = slices.Clone(cur.maps)
		}
	}
	for _, m := range add {
		if len(next.maps) >= s.cfg.MaxGroupsPerFabric {
			return dm.Errorf(dm.StatusResourceExhausted, "groupkeymanagement: more than %d groups", s.cfg.MaxGroupsPerFabric)
		}
		// Each group appears once per fabric (Core §11.2.5.3.1).
		if slices.ContainsFunc(next.maps, func(o GroupKeyMap) bool { return o.GroupID == m.GroupID }) {
			return dm.Errorf(dm.StatusConstraintError, "groupkeymanagement: group %#04x mapped twice", m.GroupID)
		}
		next.maps = append(next.maps, m)
	}
	return s.storeLocked(fabricIndex, next)
}

// Invoke implements dm.Cluster. Every command is fabric-scoped: it acts
// on the accessing fabric's key sets.
func (s *Server) Invoke(req *dm.Request, cmd uint32, r *tlv.Reader, resp *dm.CommandResponse) error {
	fabricIndex := req.Subject.FabricIndex
	if fabricIndex == 0 {
		return serve.Status(dm.StatusUnsupportedAccess)
	}
	switch cmd {
	case CmdKeySetWrite:
		var in KeySetWriteRequest
		if err := serve.DecodeCommand(r, &in); err != nil {
			return err
		}
		return s.keySetWrite(fabricIndex, &in.GroupKeySet)
	case CmdKeySetRead:
		var in KeySetReadRequest
		if err := serve.DecodeCommand(r, &in); err != nil {
			return err
		}
		set, err := s.keySetRead(fabricIndex, in.GroupKeySetID)
		if err != nil {
			return err
		}
		return serve.Respond(resp, CmdKeySetReadResponse, &KeySetReadResponse{GroupKeySet: set})
	case CmdKeySetRemove:
		var in KeySetRemoveRequest
		if err := serve.DecodeCommand(r, &in); err != nil {
			return err
		}
		return s.keySetRemove(fabricIndex, in.GroupKeySetID)
	case CmdKeySetReadAllIndices:
		var in KeySetReadAllIndicesRequest
		if err := serve.DecodeCommand(r, &in); err != nil {
			return err
		}
		return serve.Respond(resp, CmdKeySetReadAllIndicesResponse,
			&KeySetReadAllIndicesResponse{GroupKeySetIDs: s.keySetIDs(fabricIndex)})
	}
	return serve.UnsupportedCommand()
}

// keySetWrite is KeySetWrite (Core §11.2.7.1).
func (s *Server) keySetWrite(fabricIndex uint8, in *GroupKeySet) error {
	invalid := func(why string) error {
		return dm.Errorf(dm.StatusInvalidCommand, "groupkeymanagement: KeySetWrite: %s", why)
	}
	switch {
	case in.GroupKeySetID == IPKKeySetID:
		return invalid("key set 0 is the IPK")
	case in.GroupKeySecurityPolicy == GroupKeySecurityPolicyCacheAndSync:
		return invalid("CacheAndSync is not supported")
	case !in.GroupKeySecurityPolicy.Known():
		return serve.Status(dm.StatusConstraintError)
	case in.GroupKeyMulticastPolicy.Present && !in.GroupKeyMulticastPolicy.Value.Known():
		return serve.Status(dm.StatusConstraintError)
	case !in.EpochKey0.Valid || !in.EpochStartTime0.Valid || in.EpochStartTime0.Value == 0:
		return invalid("epoch key 0 and a non-zero start time are required")
	case in.EpochKey1.Valid != in.EpochStartTime1.Valid, in.EpochKey2.Valid != in.EpochStartTime2.Valid:
		return invalid("an epoch key without its start time, or the reverse")
	case in.EpochKey2.Valid && !in.EpochKey1.Valid:
		return invalid("epoch key 2 without epoch key 1")
	case in.EpochKey1.Valid && in.EpochStartTime1.Value <= in.EpochStartTime0.Value,
		in.EpochKey2.Valid && in.EpochStartTime2.Value <= in.EpochStartTime1.Value:
		return invalid("epoch start times not increasing")
	}
	d, ok := s.cfg.Fabrics.Get(fabricIndex)
	if !ok {
		return serve.Status(dm.StatusUnsupportedAccess)
	}
	set := GroupKeySet{
		GroupKeySetID:           in.GroupKeySetID,
		GroupKeySecurityPolicy:  in.GroupKeySecurityPolicy,
		EpochStartTime0:         in.EpochStartTime0,
		EpochStartTime1:         in.EpochStartTime1,
		EpochStartTime2:         in.EpochStartTime2,
		GroupKeyMulticastPolicy: in.GroupKeyMulticastPolicy,
	}
	for _, k := range []struct {
		in  field.Nullable[[]byte]
		out *field.Nullable[[]byte]
	}{{in.EpochKey0, &set.EpochKey0}, {in.EpochKey1, &set.EpochKey1}, {in.EpochKey2, &set.EpochKey2}} {
		if !k.in.Valid {
			continue
		}
		if len(k.in.Value) != crypto.SymmetricKeySize {
			return serve.Status(dm.StatusConstraintError)
		}
		op, err := crypto.DeriveOperationalGroupKey(k.in.Value, d.CompressedFabricID)
		if err != nil {
			return &dm.StatusError{Status: dm.StatusFailure, Err: err}
		}
		*k.out = field.NonNull(op)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	next := &fabricData{}
	if cur := s.data[fabricIndex]; cur != nil {
		next.maps = cur.maps
		next.sets = slices.Clone(cur.sets)
	}
	i, found := slices.BinarySearchFunc(next.sets, set.GroupKeySetID, func(a GroupKeySet, id uint16) int {
		return int(a.GroupKeySetID) - int(id)
	})
	if found {
		next.sets[i] = set
	} else {
		// Key set 0 (the IPK) counts towards the limit.
		if len(next.sets)+1 >= s.cfg.MaxGroupKeysPerFabric {
			return dm.Errorf(dm.StatusResourceExhausted, "groupkeymanagement: %d key sets", s.cfg.MaxGroupKeysPerFabric)
		}
		next.sets = slices.Insert(next.sets, i, set)
	}
	return s.storeLocked(fabricIndex, next)
}

// keySetRead is KeySetRead (Core §11.2.7.2): the key set with its keys
// replaced by null.
func (s *Server) keySetRead(fabricIndex uint8, id uint16) (GroupKeySet, error) {
	if id == IPKKeySetID {
		if _, ok := s.cfg.Fabrics.Get(fabricIndex); !ok {
			return GroupKeySet{}, serve.Status(dm.StatusNotFound)
		}
		return GroupKeySet{GroupKeySetID: IPKKeySetID, GroupKeySecurityPolicy: GroupKeySecurityPolicyTrustFirst,
			EpochStartTime0: field.NonNull[uint64](0)}, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if d := s.data[fabricIndex]; d != nil {
		for _, set := range d.sets {
			if set.GroupKeySetID == id {
				set.EpochKey0, set.EpochKey1, set.EpochKey2 = field.Null[[]byte](), field.Null[[]byte](), field.Null[[]byte]()
				return set, nil
			}
		}
	}
	return GroupKeySet{}, serve.Status(dm.StatusNotFound)
}

// keySetRemove is KeySetRemove (Core §11.2.7.4). The group key map entries
// that used the key set go with it.
func (s *Server) keySetRemove(fabricIndex uint8, id uint16) error {
	if id == IPKKeySetID {
		return dm.Errorf(dm.StatusInvalidCommand, "groupkeymanagement: the IPK key set cannot be removed")
	}
	s.mu.Lock()
	cur := s.data[fabricIndex]
	if cur == nil || !slices.ContainsFunc(cur.sets, func(k GroupKeySet) bool { return k.GroupKeySetID == id }) {
		s.mu.Unlock()
		return serve.Status(dm.StatusNotFound)
	}
	next := &fabricData{
		sets: slices.DeleteFunc(slices.Clone(cur.sets), func(k GroupKeySet) bool { return k.GroupKeySetID == id }),
		maps: slices.DeleteFunc(slices.Clone(cur.maps), func(m GroupKeyMap) bool { return m.GroupKeySetID == id }),
	}
	mapChanged := len(next.maps) != len(cur.maps)
	err := s.storeLocked(fabricIndex, next)
	s.mu.Unlock()
	if err == nil && mapChanged {
		s.Changed(AttrGroupKeyMap)
	}
	return err
}

// keySetIDs is KeySetReadAllIndices (Core §11.2.7.5): the IPK's set and
// the stored ones.
func (s *Server) keySetIDs(fabricIndex uint8) []uint16 {
	ids := []uint16{IPKKeySetID}
	s.mu.Lock()
	defer s.mu.Unlock()
	if d := s.data[fabricIndex]; d != nil {
		for _, set := range d.sets {
			ids = append(ids, set.GroupKeySetID)
		}
	}
	return ids
}

// storeLocked stores a fabric's state and puts it in force. The caller
// holds mu.
func (s *Server) storeLocked(fabricIndex uint8, d *fabricData) error {
	key := storageKey(fabricIndex)
	var err error
	if len(d.sets) == 0 && len(d.maps) == 0 {
		err = s.cfg.Store.Delete(key)
		if errors.Is(err, storage.ErrNotFound) {
			err = nil
		}
	} else {
		var b []byte
		if b, err = encodeRecord(d); err == nil {
			err = s.cfg.Store.Put(key, b)
		}
	}
	if err != nil {
		return &dm.StatusError{Status: dm.StatusFailure, Err: fmt.Errorf("groupkeymanagement: fabric %d: %w", fabricIndex, err)}
	}
	if len(d.sets) == 0 && len(d.maps) == 0 {
		delete(s.data, fabricIndex)
	} else {
		s.data[fabricIndex] = d
	}
	return nil
}

// The stored form of a fabric's state:
//
//	{ 0 = format version (1), 1 = [GroupKeySetStruct…], 2 = [GroupKeyMapStruct…] }
//
// with the key sets holding operational group keys.
const recordVersion = 1

func encodeRecord(d *fabricData) ([]byte, error) {
	var w tlv.Writer
	w.StartStructure(tlv.AnonymousTag())
	w.PutUint(tlv.ContextTag(0), recordVersion)
	w.StartArray(tlv.ContextTag(1))
	for i := range d.sets {
		d.sets[i].EncodeTLV(&w, tlv.AnonymousTag())
	}
	w.EndContainer()
	w.StartArray(tlv.ContextTag(2))
	for i := range d.maps {
		d.maps[i].EncodeTLV(&w, tlv.AnonymousTag())
	}
	w.EndContainer()
	w.EndContainer()
	b, err := w.Bytes()
	return slices.Clone(b), err
}

func decodeRecord(b []byte, maxSets, maxMaps int) (*fabricData, error) {
	r := tlv.NewReader(b)
	if err := r.Next(); err != nil {
		return nil, err
	}
	if err := field.EnterStruct(r); err != nil {
		return nil, err
	}
	d := &fabricData{}
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
			d.sets, err = field.List(r, 0, maxSets, func(r *tlv.Reader) (k GroupKeySet, err error) {
				err = k.DecodeTLV(r)
				return
			})
		case 2:
			d.maps, err = field.List(r, 0, maxMaps, func(r *tlv.Reader) (m GroupKeyMap, err error) {
				err = m.DecodeTLV(r)
				return
			})
		}
		if err != nil {
			return nil, err
		}
	}
	if !seen.Has(0) {
		return nil, errors.New("no record version")
	}
	slices.SortFunc(d.sets, func(a, b GroupKeySet) int { return int(a.GroupKeySetID) - int(b.GroupKeySetID) })
	return d, nil
}
