package timesynchronization

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mattercam/mattercam/matter/clusters/field"
	"github.com/mattercam/mattercam/matter/clusters/internal/serve"
	"github.com/mattercam/mattercam/matter/dm"
	"github.com/mattercam/mattercam/matter/storage"
	"github.com/mattercam/mattercam/matter/tlv"
)

// Epoch is the Matter epoch, 2000-01-01T00:00:00Z: epoch-us values count
// microseconds from it (Core §7.19.2.6).
var Epoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// EpochMicros returns t as epoch-us; times before the epoch give 0.
func EpochMicros(t time.Time) uint64 {
	if t.Before(Epoch) {
		return 0
	}
	return uint64(t.Sub(Epoch) / time.Microsecond)
}

// FromEpochMicros returns the time of an epoch-us value.
func FromEpochMicros(us uint64) time.Time {
	// Split so that values past the range of time.Duration stay exact.
	return Epoch.Add(time.Duration(us/1e6) * time.Second).Add(time.Duration(us%1e6) * time.Microsecond)
}

// Limits.
const (
	// TimeZoneListMaxSize: the second entry carries a scheduled
	// regulatory change (Core §11.17.8.11).
	TimeZoneListMaxSize = 2
	// DefaultDSTOffsetListMaxSize is the default DSTOffsetListMaxSize.
	DefaultDSTOffsetListMaxSize = 10
	maxDSTOffsetListMaxSize     = 64
	// MaxDefaultNTP is the DefaultNTP limit in octets.
	MaxDefaultNTP = 128
	// Offsets of a TimeZoneStruct, in seconds (Core §11.17.6.6.1).
	minZoneOffset = -12 * 3600
	maxZoneOffset = 14 * 3600
)

const storeKey = "timesync"

// Config configures a TimeSynchronization server.
type Config struct {
	// Store keeps TrustedTimeSource, DefaultNTP, TimeZone and DSTOffset.
	// Required.
	Store *storage.Store
	// Now is the host clock; nil means time.Now.
	Now func() time.Time
	// HostSynced reports whether the host clock is synchronised (NTP on
	// the host, e.g. systemd-timesyncd). While it is, UTCTime is the host
	// clock with millisecond granularity and TimeSource NonMatterNTP. Nil
	// means never: only SetUTCTime gives the node time.
	HostSynced func() bool
	// OnDefaultNTP is told the DefaultNTP server ("" for none) when an
	// administrator sets it, so the host's NTP client can use it; nil
	// ignores it.
	OnDefaultNTP func(server string)
	// DSTOffsetListMaxSize; zero means DefaultDSTOffsetListMaxSize.
	DSTOffsetListMaxSize int
	// RequestTrustedTime is where the Time Sync Client side plugs in: when
	// the node attempts to update its time (hourly while the host clock
	// is not synchronised, see Start) and a trusted time source is set, it
	// is called with that source. It must not block: it starts a read of
	// the source's UTCTime and Granularity (Core §11.17.13) and reports
	// the outcome with SetTrustedUTC or TrustedTimeSourceFailed. Nil means
	// there is no client: the source is never read.
	RequestTrustedTime func(TrustedTimeSource)
	// OnTrustedTimeSourceChanged is told the TrustedTimeSource after
	// every change of it (ok false when it became null): by
	// SetTrustedTimeSource (Core §11.17.9.2) or by the removal of its
	// fabric. The Time Sync Client side uses it to read a new source at
	// once rather than at the next hourly attempt. It runs on the
	// goroutine of the change, often an Interaction Model handler, and
	// must not block. Nil ignores changes.
	OnTrustedTimeSourceChanged func(src TrustedTimeSource, ok bool)
	// Events records the cluster's events; nil records nothing.
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

// Server is the Time Synchronization cluster (Core §11.17) on the root
// endpoint, with the TimeZone, NTPClient and TimeSyncClient features
// (FeatureMap 0x0B), which a Camera requires of its root node.
//
// UTCTime comes from the host clock while the host says it is
// synchronised, else from the last accepted SetUTCTime or trusted time
// source reading (SetTrustedUTC) carried forward on the monotonic clock,
// else it is null. The node keeps the trusted time source, default NTP
// server, time zone and DST offsets administrators set; it has no time
// zone database.
//
// The commands generate their events themselves. The time-driven ones come
// from a goroutine that Start starts and Close stops (see Start): DSTStatus
// when a DST offset starts or stops applying, DSTTableEmpty when the last
// DST entry ends, TimeZoneStatus when a scheduled time zone takes effect,
// and, at the node's hourly time update attempt, TimeFailure,
// MissingTrustedTimeSource and DSTTableEmpty at most once an hour each
// (Core §11.17.10). Reading the trusted time source is left to a client
// that plugs in through Config.RequestTrustedTime (and
// OnTrustedTimeSourceChanged, to read a new source at once), SetTrustedUTC
// and TrustedTimeSourceFailed.
type Server struct {
	serve.Base
	cfg Config
	log *slog.Logger

	mu sync.Mutex
	// Time set by SetUTCTime or SetTrustedUTC: adminUTC at adminAt (a
	// reading of cfg.Now carrying the monotonic clock), from adminSrc.
	adminUTC, adminAt time.Time
	adminGran         Granularity
	adminSrc          TimeSource
	trusted           field.Nullable[TrustedTimeSource]
	defaultNTP        field.Nullable[string]
	zones             []TimeZone
	dst               []DSTOffset
	// What the node last announced or reported: whether a DST offset
	// applies (DSTStatus), and the local time offset and whether local
	// time is defined (LocalTime changes).
	dstActive bool
	local     localState
	// lastEvent[id] is when event id was last generated, for the hourly
	// limits of §11.17.10.1, .4 and .5; zero if never.
	lastEvent [EventMissingTrustedTimeSource + 1]time.Time

	// The goroutine of Start: wake asks it to re-plan after a change.
	wake    chan struct{}
	runMu   sync.Mutex
	stop    chan struct{}
	done    chan struct{}
	stopped bool
}

// localState is what LocalTime depends on besides UTC.
type localState struct {
	offset time.Duration
	ok     bool
}

var _ dm.Cluster = (*Server)(nil)

var meta = serve.Subset(&Meta,
	[]uint32{AttrUTCTime, AttrGranularity, AttrTimeSource, AttrTrustedTimeSource, AttrDefaultNTP, AttrTimeZone,
		AttrDSTOffset, AttrLocalTime, AttrTimeZoneDatabase, AttrTimeZoneListMaxSize, AttrDSTOffsetListMaxSize,
		AttrSupportsDnsResolve},
	[]uint32{CmdSetUTCTime, CmdSetTrustedTimeSource, CmdSetTimeZone, CmdSetDSTOffset, CmdSetDefaultNTP},
	[]uint32{EventDSTTableEmpty, EventDSTStatus, EventTimeZoneStatus, EventTimeFailure, EventMissingTrustedTimeSource})

// New returns a TimeSynchronization server, loading the stored settings.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, errors.New("timesynchronization: Config.Store is required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.DSTOffsetListMaxSize == 0 {
		cfg.DSTOffsetListMaxSize = DefaultDSTOffsetListMaxSize
	}
	if cfg.DSTOffsetListMaxSize < 1 || cfg.DSTOffsetListMaxSize > maxDSTOffsetListMaxSize {
		return nil, fmt.Errorf("timesynchronization: DSTOffsetListMaxSize %d", cfg.DSTOffsetListMaxSize)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	s := &Server{cfg: cfg, log: log.With("component", "timesynchronization"), wake: make(chan struct{}, 1)}
	// Without a time zone set, UTC (Core §11.17.8.6).
	s.zones = []TimeZone{{Offset: 0, ValidAt: 0}}
	if err := s.load(); err != nil {
		s.log.Error("stored time settings unusable; using defaults", "err", err)
	}
	// The state before this start is not known; take the present one as
	// announced, so that a restart generates no DSTStatus of its own.
	now, g, _ := s.utc()
	s.dstActive, s.local = s.stateLocked(now, g)
	s.Init(meta, 0, cfg.Notify)
	return s, nil
}

// FeatureMap implements dm.Cluster: TZ, NTPC and TSC.
func (s *Server) FeatureMap() uint32 {
	return FeatureTimeZone | FeatureNTPClient | FeatureTimeSyncClient
}

// Now returns the node's UTC time and whether it has any (the UTCTime
// attribute is null when it has not).
func (s *Server) Now() (time.Time, bool) {
	t, g, _ := s.utc()
	return t, g != GranularityNoTimeGranularity
}

// utc returns the UTC time, its granularity and source.
func (s *Server) utc() (time.Time, Granularity, TimeSource) {
	now := s.cfg.Now()
	if s.cfg.HostSynced != nil && s.cfg.HostSynced() {
		return now.UTC(), GranularityMillisecondsGranularity, TimeSourceNonMatterNTP
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.adminGran == GranularityNoTimeGranularity {
		return time.Time{}, GranularityNoTimeGranularity, TimeSourceNone
	}
	return s.adminUTC.Add(now.Sub(s.adminAt)).UTC(), s.adminGran, s.adminSrc
}

// localOffsetLocked returns the offset of local time from UTC at t, and whether
// local time is defined: LocalTime is null without a DST entry (Core
// §11.17.8.8). The caller holds mu.
func (s *Server) localOffsetLocked(t time.Time) (time.Duration, bool) {
	us := EpochMicros(t)
	var zone int32
	for _, z := range s.zones {
		if z.ValidAt <= us {
			zone = z.Offset
		}
	}
	if len(s.dst) == 0 {
		return 0, false
	}
	var dst int32
	for _, d := range s.dst {
		if d.ValidStarting <= us && (!d.ValidUntil.Valid || us < d.ValidUntil.Value) {
			dst = d.Offset
		}
	}
	return time.Duration(zone+dst) * time.Second, true
}

// ReadAttribute implements dm.Cluster.
func (s *Server) ReadAttribute(_ *dm.Request, attr uint32, w *tlv.Writer, tag tlv.Tag) error {
	switch attr {
	case AttrUTCTime, AttrGranularity, AttrTimeSource, AttrLocalTime:
		t, g, src := s.utc()
		switch attr {
		case AttrUTCTime:
			serve.PutNullableUint(w, tag, EpochMicros(t), g != GranularityNoTimeGranularity)
		case AttrGranularity:
			w.PutUint(tag, uint64(g))
		case AttrTimeSource:
			w.PutUint(tag, uint64(src))
		case AttrLocalTime:
			s.mu.Lock()
			off, ok := s.localOffsetLocked(t)
			s.mu.Unlock()
			serve.PutNullableUint(w, tag, EpochMicros(t.Add(off)), ok && g != GranularityNoTimeGranularity)
		}
		return w.Err()
	case AttrTimeZoneDatabase:
		w.PutUint(tag, uint64(TimeZoneDatabaseNone))
		return w.Err()
	case AttrTimeZoneListMaxSize:
		w.PutUint(tag, TimeZoneListMaxSize)
		return w.Err()
	case AttrDSTOffsetListMaxSize:
		w.PutUint(tag, uint64(s.cfg.DSTOffsetListMaxSize))
		return w.Err()
	case AttrSupportsDnsResolve:
		w.PutBool(tag, true)
		return w.Err()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch attr {
	case AttrTrustedTimeSource:
		if v, ok := s.trusted.Get(); ok {
			v.EncodeTLV(w, tag)
		} else {
			w.PutNull(tag)
		}
	case AttrDefaultNTP:
		if v, ok := s.defaultNTP.Get(); ok {
			w.PutString(tag, v)
		} else {
			w.PutNull(tag)
		}
	case AttrTimeZone:
		serve.PutList(w, tag, s.zones)
	case AttrDSTOffset:
		serve.PutList(w, tag, s.dst)
	default:
		return serve.UnsupportedAttribute()
	}
	return w.Err()
}

// WriteAttribute implements dm.Cluster: nothing is writable; the commands
// set the attributes.
func (s *Server) WriteAttribute(_ *dm.Request, attr uint32, _ *tlv.Reader, _ bool) error {
	if meta.Attribute(attr) == nil {
		return serve.UnsupportedAttribute()
	}
	return serve.UnsupportedWrite()
}

// Invoke implements dm.Cluster.
func (s *Server) Invoke(req *dm.Request, cmd uint32, r *tlv.Reader, resp *dm.CommandResponse) error {
	switch cmd {
	case CmdSetUTCTime:
		var in SetUTCTimeRequest
		if err := serve.DecodeCommand(r, &in); err != nil {
			return err
		}
		return s.setUTCTime(&in)
	case CmdSetTrustedTimeSource:
		var in SetTrustedTimeSourceRequest
		if err := serve.DecodeCommand(r, &in); err != nil {
			return err
		}
		return s.setTrustedTimeSource(req, &in)
	case CmdSetTimeZone:
		zones, err := decodeList[TimeZone](r, TimeZoneListMaxSize)
		if err != nil {
			return err
		}
		out, err := s.setTimeZone(zones)
		if err != nil {
			return err
		}
		return serve.Respond(resp, CmdSetTimeZoneResponse, out)
	case CmdSetDSTOffset:
		dst, err := decodeList[DSTOffset](r, s.cfg.DSTOffsetListMaxSize)
		if err != nil {
			return err
		}
		return s.setDSTOffset(dst)
	case CmdSetDefaultNTP:
		var in SetDefaultNTPRequest
		if err := serve.DecodeCommand(r, &in); err != nil {
			return err
		}
		return s.setDefaultNTP(&in)
	}
	return serve.UnsupportedCommand()
}

// setUTCTime is SetUTCTime (Core §11.17.9.1). A time is accepted when the
// node has none, or when it is finer than the node's; the node then claims
// one granularity level less than the sender.
func (s *Server) setUTCTime(in *SetUTCTimeRequest) error {
	if !in.Granularity.Known() || in.TimeSource.Present && !in.TimeSource.Value.Known() {
		return serve.Status(dm.StatusConstraintError)
	}
	_, cur, _ := s.utc()
	if cur != GranularityNoTimeGranularity && in.Granularity <= cur {
		return dm.ClusterError(dm.StatusFailure, uint8(StatusCodeTimeNotAccepted))
	}
	g := max(in.Granularity-1, GranularityMinutesGranularity)
	now := s.cfg.Now()
	s.mu.Lock()
	s.adminUTC, s.adminAt, s.adminGran, s.adminSrc = FromEpochMicros(in.UTCTime), now, g, TimeSourceAdmin
	s.mu.Unlock()
	s.log.Info("UTC time set by an administrator", "utc", FromEpochMicros(in.UTCTime), "granularity", g)
	s.Changed(AttrUTCTime, AttrGranularity, AttrTimeSource, AttrLocalTime)
	// With a time, or a different one, DST and time zone boundaries may
	// have been crossed.
	s.timeChanged()
	return nil
}

// SetTrustedUTC records a time read from the trusted time source: its
// UTCTime attribute, with the granularity the node claims for it (the
// reader should claim less than the source's, for the network delay, as
// SetUTCTime does). It is how the Time Sync Client side plugs in after
// Config.RequestTrustedTime (Core §11.17.13); TimeSource becomes
// NodeTimeCluster. The host clock, while synchronised, still takes
// precedence. A time before the Matter epoch or without a granularity is
// refused.
func (s *Server) SetTrustedUTC(utc time.Time, g Granularity) error {
	if !g.Known() || g == GranularityNoTimeGranularity {
		return fmt.Errorf("timesynchronization: trusted time with granularity %d", g)
	}
	if utc.Before(Epoch) {
		return fmt.Errorf("timesynchronization: trusted time %s before the epoch", utc.Format(time.RFC3339))
	}
	now := s.cfg.Now()
	s.mu.Lock()
	s.adminUTC, s.adminAt, s.adminGran, s.adminSrc = utc, now, g, TimeSourceNodeTimeCluster
	s.mu.Unlock()
	s.log.Debug("UTC time read from the trusted time source", "utc", utc, "granularity", g)
	s.Changed(AttrUTCTime, AttrGranularity, AttrTimeSource, AttrLocalTime)
	s.timeChanged()
	return nil
}

// TrustedTimeSourceFailed reports that the node could not update its time
// from the trusted time source (the peer could not be reached, or had no
// time): MissingTrustedTimeSource (§11.17.10.5), and TimeFailure if the
// node has no time from any source (§11.17.10.4), each at most once an
// hour.
func (s *Server) TrustedTimeSourceFailed() {
	now := s.cfg.Now()
	s.emitLimited(now, EventMissingTrustedTimeSource, &MissingTrustedTimeSourceEvent{})
	if _, g, _ := s.utc(); g == GranularityNoTimeGranularity {
		s.emitLimited(now, EventTimeFailure, &TimeFailureEvent{})
	}
}

// TrustedTimeSource returns the trusted time source, if one is set, for
// the Time Sync Client side.
func (s *Server) TrustedTimeSource() (TrustedTimeSource, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.trusted.Get()
}

// setTrustedTimeSource is SetTrustedTimeSource (Core §11.17.9.2).
func (s *Server) setTrustedTimeSource(req *dm.Request, in *SetTrustedTimeSourceRequest) error {
	fabricIndex := req.Subject.FabricIndex
	if fabricIndex == 0 {
		return serve.Status(dm.StatusUnsupportedAccess)
	}
	s.mu.Lock()
	old := s.trusted
	if v, ok := in.TrustedTimeSource.Get(); ok {
		s.trusted = field.NonNull(TrustedTimeSource{FabricIndex: fabricIndex, NodeID: v.NodeID, Endpoint: v.Endpoint})
	} else {
		s.trusted = field.Null[TrustedTimeSource]()
	}
	err := s.storeLocked()
	if err != nil {
		s.trusted = old
	}
	s.mu.Unlock()
	if err != nil {
		return err
	}
	s.Changed(AttrTrustedTimeSource)
	if !in.TrustedTimeSource.Valid {
		s.emit(EventMissingTrustedTimeSource, &MissingTrustedTimeSourceEvent{})
	}
	s.trustedChanged()
	s.kick()
	return nil
}

// trustedChanged tells Config.OnTrustedTimeSourceChanged the present
// TrustedTimeSource; it is called without mu held.
func (s *Server) trustedChanged() {
	if f := s.cfg.OnTrustedTimeSourceChanged; f != nil {
		f(s.TrustedTimeSource())
	}
}

// FabricRemoved clears a trusted time source of a removed fabric (Core
// §11.17.10.5).
func (s *Server) FabricRemoved(fabricIndex uint8) {
	s.mu.Lock()
	hit := s.trusted.Valid && s.trusted.Value.FabricIndex == fabricIndex
	if hit {
		s.trusted = field.Null[TrustedTimeSource]()
		if err := s.storeLocked(); err != nil {
			s.log.Error("storing time settings", "err", err)
		}
	}
	s.mu.Unlock()
	if hit {
		s.Changed(AttrTrustedTimeSource)
		s.emit(EventMissingTrustedTimeSource, &MissingTrustedTimeSourceEvent{})
		s.trustedChanged()
		s.kick()
	}
}

// RetainFabrics clears a trusted time source whose fabric keep rejects;
// the node calls it at start-up with the fabric table's Has.
func (s *Server) RetainFabrics(keep func(fabricIndex uint8) bool) {
	s.mu.Lock()
	idx, ok := s.trusted.Value.FabricIndex, s.trusted.Valid
	s.mu.Unlock()
	if ok && !keep(idx) {
		s.FabricRemoved(idx)
	}
}

// decodeList decodes a command whose only field (tag 0) is a list of at
// least one and at most limit entries: more is RESOURCE_EXHAUSTED (Core
// §11.17.9.3, §11.17.9.5), a malformed entry CONSTRAINT_ERROR or
// INVALID_COMMAND.
func decodeList[T any, P interface {
	*T
	serve.Decoder
}](r *tlv.Reader, limit int) ([]T, error) {
	invalid := func(err error) ([]T, error) {
		if errors.Is(err, field.ErrConstraint) {
			return nil, &dm.StatusError{Status: dm.StatusConstraintError, Err: err}
		}
		return nil, &dm.StatusError{Status: dm.StatusInvalidCommand, Err: err}
	}
	if r == nil {
		return invalid(errors.New("no fields"))
	}
	if err := field.EnterStruct(r); err != nil {
		return invalid(err)
	}
	var out []T
	var seen field.Seen
	for {
		tag, ok, err := field.Next(r, &seen)
		if err != nil {
			return invalid(err)
		}
		if !ok {
			break
		}
		if tag != 0 {
			continue
		}
		err = serve.EachItem(r, func(r *tlv.Reader) error {
			if len(out) == limit {
				return dm.Errorf(dm.StatusResourceExhausted, "timesynchronization: more than %d entries", limit)
			}
			var v T
			if err := P(&v).DecodeTLV(r); err != nil {
				return err
			}
			out = append(out, v)
			return nil
		})
		if err != nil {
			var se *dm.StatusError
			if errors.As(err, &se) {
				if se.Status == dm.StatusInvalidDataType {
					se.Status = dm.StatusInvalidCommand
				}
				return nil, se
			}
			return invalid(err)
		}
	}
	if err := r.Exit(); err != nil {
		return invalid(err)
	}
	if !seen.Has(0) {
		return invalid(field.Missing("list"))
	}
	return out, nil
}

// setTimeZone is SetTimeZone (Core §11.17.9.3). The node has no time zone
// database, so the DST offsets are cleared and the administrator must set
// them.
func (s *Server) setTimeZone(zones []TimeZone) (*SetTimeZoneResponse, error) {
	// The first entry is valid from 0, a second one from a later time
	// (Core §11.17.8.6).
	if len(zones) == 0 || zones[0].ValidAt != 0 || len(zones) > 1 && zones[1].ValidAt == 0 {
		return nil, serve.Status(dm.StatusConstraintError)
	}
	for _, z := range zones {
		if z.Offset < minZoneOffset || z.Offset > maxZoneOffset {
			return nil, serve.Status(dm.StatusConstraintError)
		}
	}
	s.mu.Lock()
	oldZones, oldDST := s.zones, s.dst
	s.zones, s.dst = slices.Clone(zones), nil
	err := s.storeLocked()
	if err != nil {
		s.zones, s.dst = oldZones, oldDST
	}
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	s.Changed(AttrTimeZone, AttrDSTOffset, AttrLocalTime)
	s.emit(EventTimeZoneStatus, &TimeZoneStatusEvent{Offset: zones[0].Offset, Name: zones[0].Name})
	s.emit(EventDSTTableEmpty, &DSTTableEmptyEvent{})
	// "A DSTStatus event shall be generated if the node was previously
	// applying a DST offset": advance compares with what it announced.
	s.timeChanged()
	return &SetTimeZoneResponse{DSTOffsetRequired: true}, nil
}

// dstActiveLocked reports whether a non-zero DST offset applies at now.
func (s *Server) dstActiveLocked(now time.Time, g Granularity) (int32, bool) {
	if g == GranularityNoTimeGranularity {
		return 0, false
	}
	us := EpochMicros(now)
	for _, d := range s.dst {
		if d.ValidStarting <= us && (!d.ValidUntil.Valid || us < d.ValidUntil.Value) {
			return d.Offset, d.Offset != 0
		}
	}
	return 0, false
}

// stateLocked returns whether a DST offset applies at now and what
// LocalTime depends on.
func (s *Server) stateLocked(now time.Time, g Granularity) (bool, localState) {
	_, dst := s.dstActiveLocked(now, g)
	off, ok := s.localOffsetLocked(now)
	return dst, localState{offset: off, ok: ok && g != GranularityNoTimeGranularity}
}

// setDSTOffset is SetDSTOffset (Core §11.17.9.5).
func (s *Server) setDSTOffset(dst []DSTOffset) error {
	// Sorted by ValidStarting, no overlap, only the last entry open-ended,
	// and ValidUntil after ValidStarting (Core §11.17.8.7, §11.17.6.7.3).
	for i, d := range dst {
		if d.ValidUntil.Valid && d.ValidUntil.Value <= d.ValidStarting {
			return serve.Status(dm.StatusConstraintError)
		}
		if i == 0 {
			continue
		}
		prev := dst[i-1]
		if !prev.ValidUntil.Valid || d.ValidStarting < prev.ValidUntil.Value {
			return serve.Status(dm.StatusConstraintError)
		}
	}
	s.mu.Lock()
	old := s.dst
	s.dst = slices.Clone(dst)
	err := s.storeLocked()
	if err != nil {
		s.dst = old
	}
	s.mu.Unlock()
	if err != nil {
		return err
	}
	s.Changed(AttrDSTOffset, AttrLocalTime)
	if len(dst) == 0 {
		s.emit(EventDSTTableEmpty, &DSTTableEmptyEvent{})
	}
	// "If the DSTOffset attribute change causes a corresponding change to
	// the DST state, a DSTStatus event shall be generated": advance
	// compares the new state with the one last announced.
	s.timeChanged()
	return nil
}

// setDefaultNTP is SetDefaultNTP (Core §11.17.9.6): a domain name or an
// IPv6 address without a port, or null.
func (s *Server) setDefaultNTP(in *SetDefaultNTPRequest) error {
	if v, ok := in.DefaultNTP.Get(); ok && !validNTPServer(v) {
		return dm.Errorf(dm.StatusInvalidCommand, "timesynchronization: NTP server %q", v)
	}
	s.mu.Lock()
	old := s.defaultNTP
	s.defaultNTP = in.DefaultNTP
	err := s.storeLocked()
	if err != nil {
		s.defaultNTP = old
	}
	s.mu.Unlock()
	if err != nil {
		return err
	}
	s.Changed(AttrDefaultNTP)
	if s.cfg.OnDefaultNTP != nil {
		s.cfg.OnDefaultNTP(in.DefaultNTP.Value)
	}
	return nil
}

// validNTPServer reports whether v is an IPv6 address in text form (RFC
// 5952, no port, no zone) or a domain name (RFC 1123 host name syntax).
func validNTPServer(v string) bool {
	if v == "" || len(v) > MaxDefaultNTP {
		return false
	}
	if a, err := netip.ParseAddr(v); err == nil {
		return a.Is6() && !a.Is4In6() && a.Zone() == ""
	}
	if strings.ContainsAny(v, ":[]") {
		return false
	}
	name := strings.TrimSuffix(v, ".")
	if name == "" || len(name) > 253 {
		return false
	}
	allDigits := true
	for _, label := range strings.Split(name, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			switch {
			case c >= '0' && c <= '9':
			case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '-':
				allDigits = false
			default:
				return false
			}
		}
	}
	// A dotted quad is an IPv4 address, which the attribute excludes.
	return !allDigits
}

// emit generates an event and notes when, for the hourly limits; it is
// called without mu held.
func (s *Server) emit(event uint32, v serve.Encoder) {
	now := s.cfg.Now()
	s.mu.Lock()
	s.lastEvent[event] = now
	s.mu.Unlock()
	s.record(event, v)
}

// emitLimited generates an event unless the node generated it less than
// eventInterval before now. The check and the note are one step, so that
// the goroutine and a TrustedTimeSourceFailed racing it emit one event.
func (s *Server) emitLimited(now time.Time, event uint32, v serve.Encoder) {
	s.mu.Lock()
	last := s.lastEvent[event]
	due := last.IsZero() || now.Sub(last) >= eventInterval
	if due {
		s.lastEvent[event] = now
	}
	s.mu.Unlock()
	if due {
		s.record(event, v)
	}
}

// record hands an event to the event log.
func (s *Server) record(event uint32, v serve.Encoder) {
	if err := serve.Emit(s.cfg.Events, 0, ID, event, dm.PriorityInfo, 0, v); err != nil {
		s.log.Warn("recording an event failed", "event", event, "err", err)
	}
}

// Timing of the time-driven events.
const (
	// eventInterval: TimeFailure, MissingTrustedTimeSource and the
	// DSTTableEmpty of a time update are generated only if the node has
	// not generated one "in the last hour", and "SHOULD NOT be generated
	// more often than once per hour" (Core §11.17.10.1, .4, .5).
	eventInterval = time.Hour
	// updateInterval is how often the node attempts to update its time
	// while the host clock is not synchronised; the hourly events above
	// are generated by these attempts.
	updateInterval = time.Hour
	// firstUpdateDelay: the first attempt after Start waits this long, so
	// that the host's NTP client, which usually synchronises within
	// seconds of boot, has the chance to; otherwise every boot would
	// report a TimeFailure.
	firstUpdateDelay = time.Minute
	// recheckInterval bounds the goroutine's sleep. Its timers run on the
	// monotonic clock, and HostSynced has no notification: a step of the
	// host's wall clock, or the host gaining or losing synchronisation,
	// is noticed within this time, and a boundary is never missed by
	// more.
	recheckInterval = time.Minute
)

// Start starts the goroutine that generates the time-driven events and
// keeps the time zone and DST lists current; Close stops it. The node calls
// Start once it is up. Without it, the commands still generate their own
// events.
//
// The goroutine wakes at every time zone and DST boundary, when a command
// or SetTrustedUTC changed something, and at least every recheckInterval:
//   - a second TimeZone entry whose ValidAt has passed replaces the first,
//     with ValidAt 0 (§11.17.8.6), and TimeZoneStatus reports it if the
//     offset or name changed (§11.17.10.3);
//   - DSTOffset entries that have ended are removed (§11.17.8.7); if that
//     empties the list the node "stops applying the current DSTOffset and
//     there are no entries in the list with a larger ValidStarting time":
//     DSTTableEmpty (§11.17.10.1);
//   - DSTStatus reports a DST offset starting or stopping to apply
//     (§11.17.10.2), including when the node gains or loses its time.
//
// Every updateInterval (the first time firstUpdateDelay after Start), if
// the host clock is not synchronised, the node attempts to update its
// time: it asks Config.RequestTrustedTime to read the trusted time source
// if one is set, and generates, each at most once an hour,
// MissingTrustedTimeSource if none is set (§11.17.10.5), DSTTableEmpty if
// the DSTOffset list is empty (§11.17.10.1), and TimeFailure if the node
// has no time and no read of the trusted source is under way
// (§11.17.10.4; a failed read reports it through TrustedTimeSourceFailed).
// While the host clock is synchronised the host keeps the time and the
// node attempts nothing.
func (s *Server) Start() {
	s.runMu.Lock()
	defer s.runMu.Unlock()
	if s.stop != nil || s.stopped {
		return
	}
	s.stop, s.done = make(chan struct{}), make(chan struct{})
	go s.run(s.stop, s.done)
}

// Close stops the goroutine Start started and waits for it to return. It
// may be called without Start, and more than once; Start after Close does
// nothing.
func (s *Server) Close() {
	s.runMu.Lock()
	stop, done := s.stop, s.done
	if !s.stopped && stop != nil {
		close(stop)
	}
	s.stopped = true
	s.runMu.Unlock()
	if done != nil {
		<-done
	}
}

// kick asks the goroutine to re-plan after a change; it never blocks.
func (s *Server) kick() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// timeChanged applies what a change of the time or of the lists implies
// now, on the caller's goroutine so that a command's events come before
// its response, and has the goroutine re-plan.
func (s *Server) timeChanged() {
	s.advance()
	s.kick()
}

// run is the goroutine of Start.
func (s *Server) run(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	nextUpdate := s.cfg.Now().Add(firstUpdateDelay)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-stop:
			return
		case <-s.wake:
		case <-timer.C:
		}
		if now := s.cfg.Now(); !now.Before(nextUpdate) {
			s.attemptUpdate(now)
			nextUpdate = now.Add(updateInterval)
		}
		wait := min(recheckInterval, nextUpdate.Sub(s.cfg.Now()))
		if next, now, ok := s.advance(); ok {
			wait = min(wait, next.Sub(now))
		}
		// Go 1.23+ timers: Reset discards a value the timer may have
		// sent while the loop was woken by s.wake.
		timer.Reset(max(wait, 0))
	}
}

// attemptUpdate is the node's periodic attempt to update its time (see
// Start).
func (s *Server) attemptUpdate(now time.Time) {
	if s.cfg.HostSynced != nil && s.cfg.HostSynced() {
		return
	}
	s.mu.Lock()
	src, haveSource := s.trusted.Get()
	dstEmpty := len(s.dst) == 0
	s.mu.Unlock()
	reading := false
	switch {
	case !haveSource:
		s.emitLimited(now, EventMissingTrustedTimeSource, &MissingTrustedTimeSourceEvent{})
	case s.cfg.RequestTrustedTime != nil:
		s.cfg.RequestTrustedTime(src)
		reading = true
	}
	if dstEmpty {
		s.emitLimited(now, EventDSTTableEmpty, &DSTTableEmptyEvent{})
	}
	if _, g, _ := s.utc(); g == GranularityNoTimeGranularity && !reading {
		s.emitLimited(now, EventTimeFailure, &TimeFailureEvent{})
	}
}

// advance applies the time zone and DST boundaries the present time has
// passed and generates their events (see Start). It returns the next
// boundary and the present time, both UTC, with ok false when the node
// has no time or no boundary is ahead.
func (s *Server) advance() (next, now time.Time, ok bool) {
	now, g, _ := s.utc()
	var (
		attrs  []uint32
		events []pendingEvent
		store  bool
	)
	s.mu.Lock()
	if g != GranularityNoTimeGranularity {
		us := EpochMicros(now)
		if len(s.zones) == 2 && s.zones[1].ValidAt <= us {
			old, cur := s.zones[0], s.zones[1]
			cur.ValidAt = 0
			s.zones = []TimeZone{cur}
			attrs, store = append(attrs, AttrTimeZone), true
			if cur.Offset != old.Offset || cur.Name != old.Name {
				events = append(events, pendingEvent{EventTimeZoneStatus, &TimeZoneStatusEvent{Offset: cur.Offset, Name: cur.Name}})
			}
		}
		ended := func(d DSTOffset) bool { return d.ValidUntil.Valid && d.ValidUntil.Value <= us }
		if slices.ContainsFunc(s.dst, ended) {
			s.dst = slices.DeleteFunc(slices.Clone(s.dst), ended)
			attrs, store = append(attrs, AttrDSTOffset), true
			if len(s.dst) == 0 {
				events = append(events, pendingEvent{EventDSTTableEmpty, &DSTTableEmptyEvent{}})
			}
		}
	}
	dst, local := s.stateLocked(now, g)
	if dst != s.dstActive {
		s.dstActive = dst
		events = append(events, pendingEvent{EventDSTStatus, &DSTStatusEvent{DSTOffsetActive: dst}})
	}
	if local != s.local {
		s.local = local
		attrs = append(attrs, AttrLocalTime)
	}
	if store {
		// The change stands even if it cannot be stored: it is what time
		// did. After a restart the same boundary is applied again.
		if err := s.storeLocked(); err != nil {
			s.log.Error("storing time settings after a boundary", "err", err)
		}
	}
	if g != GranularityNoTimeGranularity {
		next, ok = s.nextBoundaryLocked(EpochMicros(now))
	}
	s.mu.Unlock()
	if len(attrs) > 0 {
		s.Changed(attrs...)
	}
	for _, e := range events {
		s.emit(e.id, e.payload)
	}
	return next, now, ok
}

type pendingEvent struct {
	id      uint32
	payload serve.Encoder
}

// nextBoundaryLocked returns the first time zone or DST boundary after us.
func (s *Server) nextBoundaryLocked(us uint64) (time.Time, bool) {
	var next uint64
	consider := func(t uint64) {
		if t > us && (next == 0 || t < next) {
			next = t
		}
	}
	if len(s.zones) == 2 {
		consider(s.zones[1].ValidAt)
	}
	for _, d := range s.dst {
		consider(d.ValidStarting)
		if d.ValidUntil.Valid {
			consider(d.ValidUntil.Value)
		}
	}
	if next == 0 {
		return time.Time{}, false
	}
	return FromEpochMicros(next), true
}

// The stored settings:
//
//	{ 1 = TrustedTimeSourceStruct (absent: null), 2 = DefaultNTP (absent:
//	  null), 3 = [TimeZoneStruct], 4 = [DSTOffsetStruct] }

func (s *Server) storeLocked() error {
	var w tlv.Writer
	w.StartStructure(tlv.AnonymousTag())
	if v, ok := s.trusted.Get(); ok {
		v.EncodeTLV(&w, tlv.ContextTag(1))
	}
	if v, ok := s.defaultNTP.Get(); ok {
		w.PutString(tlv.ContextTag(2), v)
	}
	serve.PutList(&w, tlv.ContextTag(3), s.zones)
	serve.PutList(&w, tlv.ContextTag(4), s.dst)
	w.EndContainer()
	b, err := w.Bytes()
	if err == nil {
		err = s.cfg.Store.Put(storeKey, b)
	}
	if err != nil {
		return &dm.StatusError{Status: dm.StatusFailure, Err: fmt.Errorf("timesynchronization: storing settings: %w", err)}
	}
	return nil
}

func (s *Server) load() error {
	b, err := s.cfg.Store.Get(storeKey)
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	r := tlv.NewReader(b)
	if err := r.Next(); err != nil {
		return err
	}
	if err := field.EnterStruct(r); err != nil {
		return err
	}
	var trusted field.Nullable[TrustedTimeSource]
	var ntp field.Nullable[string]
	var zones []TimeZone
	var dst []DSTOffset
	var seen field.Seen
	for {
		tag, ok, err := field.Next(r, &seen)
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		switch tag {
		case 1:
			trusted.Valid = true
			err = trusted.Value.DecodeTLV(r)
		case 2:
			ntp.Valid = true
			ntp.Value, err = field.String(r, 1, MaxDefaultNTP)
		case 3:
			zones, err = field.List(r, 1, TimeZoneListMaxSize, func(r *tlv.Reader) (z TimeZone, err error) {
				err = z.DecodeTLV(r)
				return
			})
		case 4:
			dst, err = field.List(r, 0, s.cfg.DSTOffsetListMaxSize, func(r *tlv.Reader) (d DSTOffset, err error) {
				err = d.DecodeTLV(r)
				return
			})
		}
		if err != nil {
			return err
		}
	}
	s.trusted, s.defaultNTP, s.dst = trusted, ntp, dst
	if len(zones) > 0 {
		s.zones = zones
	}
	return nil
}
