package timesynchronization

import (
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mattercam/mattercam/matter/clusters/field"
	"github.com/mattercam/mattercam/matter/clusters/internal/servetest"
	"github.com/mattercam/mattercam/matter/dm"
	"github.com/mattercam/mattercam/matter/storage"
	"github.com/mattercam/mattercam/matter/tlv"
)

// clock is a settable clock.
type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type env struct {
	s      *Server
	clk    *clock
	synced bool
	events servetest.Events
	ntp    []string
}

func newEnv(t *testing.T, store *storage.Store) *env {
	t.Helper()
	e := &env{clk: &clock{now: t0}}
	var err error
	e.s, err = New(Config{Store: store, Now: e.clk.Now, HostSynced: func() bool { return e.synced },
		OnDefaultNTP: func(s string) { e.ntp = append(e.ntp, s) }, Events: &e.events})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) eventIDs() []uint32 {
	var ids []uint32
	for _, ev := range e.events.Take() {
		ids = append(ids, ev.ID)
	}
	return ids
}

func TestEpoch(t *testing.T) {
	// 2000-01-01 is 946684800 s after the Unix epoch.
	if got := EpochMicros(time.Unix(946684800+1, 5000)); got != 1_000_005 {
		t.Errorf("EpochMicros = %d", got)
	}
	if got := FromEpochMicros(1_000_005); !got.Equal(time.Unix(946684801, 5000)) {
		t.Errorf("FromEpochMicros = %v", got)
	}
	if EpochMicros(time.Unix(0, 0)) != 0 {
		t.Error("a time before the epoch is not 0")
	}
}

func TestUTCTime(t *testing.T) {
	e := newEnv(t, servetest.Store(t))
	req := servetest.CASE(1, 1)
	if el := servetest.ReadElement(t, e.s, req, AttrUTCTime); el.Type != tlv.TypeNull {
		t.Errorf("UTCTime %v without a time source, want null", el)
	}
	if g := servetest.ReadUint(t, e.s, req, AttrGranularity); g != uint64(GranularityNoTimeGranularity) {
		t.Errorf("Granularity %d", g)
	}

	// The host clock once it is synchronised.
	e.synced = true
	if got := servetest.ReadUint(t, e.s, req, AttrUTCTime); got != EpochMicros(t0) {
		t.Errorf("UTCTime %d, want %d", got, EpochMicros(t0))
	}
	if got := servetest.ReadUint(t, e.s, req, AttrTimeSource); got != uint64(TimeSourceNonMatterNTP) {
		t.Errorf("TimeSource %d", got)
	}
	// SetUTCTime with no better granularity is refused then.
	set := SetUTCTimeRequest{UTCTime: EpochMicros(t0.Add(time.Hour)), Granularity: GranularitySecondsGranularity}
	if _, err := servetest.Invoke(t, e.s, req, CmdSetUTCTime, &set); servetest.ClusterStatus(err) != int(StatusCodeTimeNotAccepted) {
		t.Errorf("SetUTCTime over a synced clock: %v, want TimeNotAccepted", err)
	}

	// Without the host's sync, an administrator's time is carried forward.
	e.synced = false
	if _, err := servetest.Invoke(t, e.s, req, CmdSetUTCTime, &set); err != nil {
		t.Fatalf("SetUTCTime: %v", err)
	}
	e.clk.now = t0.Add(10 * time.Second)
	want := EpochMicros(t0.Add(time.Hour + 10*time.Second))
	if got := servetest.ReadUint(t, e.s, req, AttrUTCTime); got != want {
		t.Errorf("UTCTime %d, want %d", got, want)
	}
	if g := servetest.ReadUint(t, e.s, req, AttrGranularity); g != uint64(GranularityMinutesGranularity) {
		t.Errorf("Granularity %d, want one level below the sender's", g)
	}
	if src := servetest.ReadUint(t, e.s, req, AttrTimeSource); src != uint64(TimeSourceAdmin) {
		t.Errorf("TimeSource %d", src)
	}
	if now, ok := e.s.Now(); !ok || EpochMicros(now) != want {
		t.Errorf("Now() = %v, %v", now, ok)
	}
	bad := SetUTCTimeRequest{UTCTime: 1, Granularity: 9}
	if _, err := servetest.Invoke(t, e.s, req, CmdSetUTCTime, &bad); servetest.Status(err) != dm.StatusConstraintError {
		t.Errorf("unknown granularity: %v", err)
	}
}

func TestTimeZoneAndDST(t *testing.T) {
	dir := t.TempDir()
	store := servetest.OpenStore(t, dir)
	e := newEnv(t, store)
	e.synced = true
	req := servetest.CASE(1, 1)
	if el := servetest.ReadElement(t, e.s, req, AttrLocalTime); el.Type != tlv.TypeNull {
		t.Error("LocalTime without DST offsets is not null")
	}

	setZone := func(zones []TimeZone) (*SetTimeZoneResponse, error) {
		b := servetest.Value(t, func(w *tlv.Writer, tag tlv.Tag) {
			w.StartStructure(tag)
			w.StartArray(tlv.ContextTag(0))
			for i := range zones {
				zones[i].EncodeTLV(w, tlv.AnonymousTag())
			}
			w.EndContainer()
			w.EndContainer()
		})
		resp, err := servetest.InvokeRaw(t, e.s, req, CmdSetTimeZone, servetest.RawFields(t, b))
		if err != nil {
			return nil, err
		}
		var out SetTimeZoneResponse
		servetest.Response(t, resp, CmdSetTimeZoneResponse, &out)
		return &out, nil
	}
	for _, tc := range []struct {
		name  string
		zones []TimeZone
		want  dm.Status
	}{
		{"empty", nil, dm.StatusConstraintError},
		{"three", []TimeZone{{}, {ValidAt: 5}, {ValidAt: 6}}, dm.StatusResourceExhausted},
		{"first not at 0", []TimeZone{{Offset: 3600, ValidAt: 5}}, dm.StatusConstraintError},
		{"second at 0", []TimeZone{{}, {}}, dm.StatusConstraintError},
		{"offset out of range", []TimeZone{{Offset: 15 * 3600}}, dm.StatusConstraintError},
	} {
		if _, err := setZone(tc.zones); servetest.Status(err) != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	out, err := setZone([]TimeZone{{Offset: 3600, Name: field.Some("Europe/Berlin")}})
	if err != nil || !out.DSTOffsetRequired {
		t.Fatalf("SetTimeZone: %+v, %v", out, err)
	}
	if ids := e.eventIDs(); !slices.Equal(ids, []uint32{EventTimeZoneStatus, EventDSTTableEmpty}) {
		t.Errorf("events %v", ids)
	}

	now := EpochMicros(t0)
	dst := func(list []DSTOffset) error {
		b := servetest.Value(t, func(w *tlv.Writer, tag tlv.Tag) {
			w.StartStructure(tag)
			w.StartArray(tlv.ContextTag(0))
			for i := range list {
				list[i].EncodeTLV(w, tlv.AnonymousTag())
			}
			w.EndContainer()
			w.EndContainer()
		})
		_, err := servetest.InvokeRaw(t, e.s, req, CmdSetDSTOffset, servetest.RawFields(t, b))
		return err
	}
	for _, tc := range []struct {
		name string
		list []DSTOffset
		want dm.Status
	}{
		{"until before start", []DSTOffset{{Offset: 3600, ValidStarting: 10, ValidUntil: field.NonNull[uint64](5)}}, dm.StatusConstraintError},
		{"open-ended not last", []DSTOffset{{ValidStarting: 1}, {ValidStarting: 2}}, dm.StatusConstraintError},
		{"overlap", []DSTOffset{{ValidStarting: 1, ValidUntil: field.NonNull[uint64](10)}, {ValidStarting: 5}}, dm.StatusConstraintError},
		{"too many", slices.Repeat([]DSTOffset{{ValidStarting: 1, ValidUntil: field.NonNull[uint64](2)}}, DefaultDSTOffsetListMaxSize+1),
			dm.StatusResourceExhausted},
	} {
		if err := dst(tc.list); servetest.Status(err) != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	// Summer time now, standard time later.
	if err := dst([]DSTOffset{
		{Offset: 3600, ValidStarting: now - 1e6, ValidUntil: field.NonNull(now + 1e9)},
		{Offset: 0, ValidStarting: now + 1e9},
	}); err != nil {
		t.Fatalf("SetDSTOffset: %v", err)
	}
	if ids := e.eventIDs(); !slices.Equal(ids, []uint32{EventDSTStatus}) {
		t.Errorf("events %v, want DSTStatus", ids)
	}
	if got := servetest.ReadUint(t, e.s, req, AttrLocalTime); got != now+2*3600*1e6 {
		t.Errorf("LocalTime %d, want UTC + 2 h", got)
	}

	// Stored across a restart.
	store.Close()
	e = newEnv(t, servetest.OpenStore(t, dir))
	zones := servetest.ReadList[TimeZone](t, e.s, req, AttrTimeZone)
	if len(zones) != 1 || zones[0].Offset != 3600 || zones[0].Name.Value != "Europe/Berlin" {
		t.Errorf("zones after restart %+v", zones)
	}
	if d := servetest.ReadList[DSTOffset](t, e.s, req, AttrDSTOffset); len(d) != 2 {
		t.Errorf("DST offsets after restart %+v", d)
	}
}

func TestTrustedTimeSourceAndNTP(t *testing.T) {
	e := newEnv(t, servetest.Store(t))
	req := servetest.CASE(2, 1)
	in := SetTrustedTimeSourceRequest{TrustedTimeSource: field.NonNull(FabricScopedTrustedTimeSource{NodeID: 0x55, Endpoint: 0})}
	if _, err := servetest.Invoke(t, e.s, req, CmdSetTrustedTimeSource, &in); err != nil {
		t.Fatal(err)
	}
	var got TrustedTimeSource
	servetest.ReadInto(t, e.s, req, AttrTrustedTimeSource, &got)
	if got != (TrustedTimeSource{FabricIndex: 2, NodeID: 0x55}) {
		t.Errorf("TrustedTimeSource %+v", got)
	}
	e.s.RetainFabrics(func(f uint8) bool { return f != 2 })
	if el := servetest.ReadElement(t, e.s, req, AttrTrustedTimeSource); el.Type != tlv.TypeNull {
		t.Error("trusted source of a removed fabric kept")
	}
	if ids := e.eventIDs(); !slices.Equal(ids, []uint32{EventMissingTrustedTimeSource}) {
		t.Errorf("events %v", ids)
	}

	for _, tc := range []struct {
		server string
		want   dm.Status
	}{
		{"pool.ntp.org", dm.StatusSuccess},
		{"fd00::1", dm.StatusSuccess},
		{"192.168.1.1", dm.StatusInvalidCommand},
		{"[fd00::1]:123", dm.StatusInvalidCommand},
		{"bad host!", dm.StatusInvalidCommand},
		{"-x.example", dm.StatusInvalidCommand},
	} {
		_, err := servetest.Invoke(t, e.s, req, CmdSetDefaultNTP, &SetDefaultNTPRequest{DefaultNTP: field.NonNull(tc.server)})
		if servetest.Status(err) != tc.want {
			t.Errorf("%q: %v, want %v", tc.server, err, tc.want)
		}
	}
	if el := servetest.ReadElement(t, e.s, req, AttrDefaultNTP); string(el.Bytes) != "fd00::1" {
		t.Errorf("DefaultNTP %q", el.Bytes)
	}
	if _, err := servetest.Invoke(t, e.s, req, CmdSetDefaultNTP, &SetDefaultNTPRequest{}); err != nil {
		t.Errorf("clearing: %v", err)
	}
	if !slices.Equal(e.ntp, []string{"pool.ntp.org", "fd00::1", ""}) {
		t.Errorf("host told %q", e.ntp)
	}
	if e.s.FeatureMap() != 0x0B {
		t.Errorf("FeatureMap %#x", e.s.FeatureMap())
	}
}

// Time-driven events (Core §11.17.10), run in a synctest bubble whose
// clock starts at 2000-01-01T00:00:00Z, the Matter epoch.

// liveEnv is a server on the bubble's clock with its goroutine started.
type liveEnv struct {
	t       *testing.T
	s       *Server
	store   *storage.Store
	synced  atomic.Bool
	events  servetest.Events
	changes servetest.Changes

	mu        sync.Mutex
	requested []TrustedTimeSource
}

func newLiveEnv(t *testing.T, store *storage.Store, synced, client bool) *liveEnv {
	t.Helper()
	e := &liveEnv{t: t, store: store}
	e.synced.Store(synced)
	cfg := Config{Store: store, HostSynced: e.synced.Load, Events: &e.events, Notify: &e.changes}
	if client {
		cfg.RequestTrustedTime = func(src TrustedTimeSource) {
			e.mu.Lock()
			e.requested = append(e.requested, src)
			e.mu.Unlock()
		}
	}
	var err error
	if e.s, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	e.s.Start()
	t.Cleanup(e.s.Close)
	return e
}

// after lets d pass on the bubble's clock and returns the IDs of the
// events generated meanwhile.
func (e *liveEnv) after(d time.Duration) []uint32 {
	e.t.Helper()
	time.Sleep(d)
	synctest.Wait()
	var ids []uint32
	for _, ev := range e.events.Take() {
		ids = append(ids, ev.ID)
	}
	return ids
}

func (e *liveEnv) invokeList(cmd uint32, put func(w *tlv.Writer)) error {
	e.t.Helper()
	b := servetest.Value(e.t, func(w *tlv.Writer, tag tlv.Tag) {
		w.StartStructure(tag)
		w.StartArray(tlv.ContextTag(0))
		put(w)
		w.EndContainer()
		w.EndContainer()
	})
	_, err := servetest.InvokeRaw(e.t, e.s, servetest.CASE(1, 1), cmd, servetest.RawFields(e.t, b))
	return err
}

func (e *liveEnv) setDST(list ...DSTOffset) {
	e.t.Helper()
	if err := e.invokeList(CmdSetDSTOffset, func(w *tlv.Writer) {
		for i := range list {
			list[i].EncodeTLV(w, tlv.AnonymousTag())
		}
	}); err != nil {
		e.t.Fatalf("SetDSTOffset: %v", err)
	}
}

func (e *liveEnv) setZones(zones ...TimeZone) {
	e.t.Helper()
	if err := e.invokeList(CmdSetTimeZone, func(w *tlv.Writer) {
		for i := range zones {
			zones[i].EncodeTLV(w, tlv.AnonymousTag())
		}
	}); err != nil {
		e.t.Fatalf("SetTimeZone: %v", err)
	}
}

// hours returns the epoch-us value h hours after the epoch.
func hours(h float64) uint64 { return uint64(h * 3600e6) }

func TestDSTBoundaries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newLiveEnv(t, servetest.Store(t), true, false)
		// Summer time from 1 h to 2 h, again from 5 h, open-ended.
		e.setDST(
			DSTOffset{Offset: 3600, ValidStarting: hours(1), ValidUntil: field.NonNull(hours(2))},
			DSTOffset{Offset: 3600, ValidStarting: hours(5)},
		)
		if ids := e.after(0); len(ids) != 0 {
			t.Fatalf("events when setting a future DST: %v", ids)
		}
		if ids := e.after(time.Hour - time.Second); len(ids) != 0 {
			t.Fatalf("events before the first boundary: %v", ids)
		}
		e.changes.Reset()
		ev := e.after(time.Second)
		if !slices.Equal(ev, []uint32{EventDSTStatus}) {
			t.Fatalf("at the start of DST: %v, want DSTStatus", ev)
		}
		if !e.changes.Has(ID, AttrLocalTime) {
			t.Error("LocalTime not reported changed at the DST start")
		}
		if got := servetest.ReadUint(t, e.s, servetest.CASE(1, 1), AttrLocalTime); got != hours(2) {
			t.Errorf("LocalTime %d at 1 h, want 2 h", got)
		}
		// At 2 h the first entry ends and is dropped; the second is ahead,
		// so the table is not empty.
		events := func(d time.Duration) []servetest.Event {
			time.Sleep(d)
			synctest.Wait()
			return e.events.Take()
		}
		got := events(time.Hour)
		if len(got) != 1 || got[0].ID != EventDSTStatus {
			t.Fatalf("at the end of the first DST entry: %+v", got)
		}
		var st DSTStatusEvent
		servetest.Decode(t, got[0].Payload, &st)
		if st.DSTOffsetActive {
			t.Error("DSTStatus at the end of DST says active")
		}
		if d := servetest.ReadList[DSTOffset](t, e.s, servetest.CASE(1, 1), AttrDSTOffset); len(d) != 1 || d[0].ValidStarting != hours(5) {
			t.Errorf("DSTOffset after the first entry ended: %+v", d)
		}
		got = events(3 * time.Hour)
		servetest.Decode(t, got[0].Payload, &st)
		if len(got) != 1 || got[0].ID != EventDSTStatus || !st.DSTOffsetActive {
			t.Fatalf("at 5 h: %+v", got)
		}
		// Nothing more happens: the host keeps the time.
		if ids := e.after(10 * time.Hour); len(ids) != 0 {
			t.Errorf("later events: %v", ids)
		}
	})
}

func TestDSTTableRunsOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		store := servetest.OpenStore(t, dir)
		e := newLiveEnv(t, store, true, false)
		e.setDST(DSTOffset{Offset: 3600, ValidStarting: 0, ValidUntil: field.NonNull(hours(3))})
		if ids := e.after(0); !slices.Equal(ids, []uint32{EventDSTStatus}) {
			t.Fatalf("setting an active DST: %v", ids)
		}
		if ids := e.after(3 * time.Hour); !slices.Equal(ids, []uint32{EventDSTTableEmpty, EventDSTStatus}) {
			t.Fatalf("when the last entry ends: %v, want DSTTableEmpty and DSTStatus", ids)
		}
		if el := servetest.ReadElement(t, e.s, servetest.CASE(1, 1), AttrLocalTime); el.Type != tlv.TypeNull {
			t.Error("LocalTime without DST entries is not null")
		}
		// The emptied list was stored.
		e.s.Close()
		store.Close()
		e2 := newLiveEnv(t, servetest.OpenStore(t, dir), true, false)
		if d := servetest.ReadList[DSTOffset](t, e2.s, servetest.CASE(1, 1), AttrDSTOffset); len(d) != 0 {
			t.Errorf("DSTOffset after restart %+v", d)
		}
		if ids := e2.after(time.Hour); len(ids) != 0 {
			t.Errorf("events after restart with the host synchronised: %v", ids)
		}
	})
}

func TestScheduledTimeZone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		store := servetest.OpenStore(t, dir)
		e := newLiveEnv(t, store, true, false)
		e.setZones(TimeZone{Offset: 3600, Name: field.Some("CET")}, TimeZone{Offset: 7200, Name: field.Some("EET"), ValidAt: hours(2)})
		e.events.Take()
		e.changes.Reset()
		if ids := e.after(2*time.Hour - time.Second); len(ids) != 0 {
			t.Fatalf("events before the new zone: %v", ids)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		got := e.events.Take()
		if len(got) != 1 || got[0].ID != EventTimeZoneStatus {
			t.Fatalf("when the new zone applies: %+v", got)
		}
		var tz TimeZoneStatusEvent
		servetest.Decode(t, got[0].Payload, &tz)
		if tz.Offset != 7200 || tz.Name != field.Some("EET") {
			t.Errorf("TimeZoneStatus %+v", tz)
		}
		if !e.changes.Has(ID, AttrTimeZone) {
			t.Error("TimeZone not reported changed")
		}
		want := []TimeZone{{Offset: 7200, Name: field.Some("EET"), ValidAt: 0}}
		if z := servetest.ReadList[TimeZone](t, e.s, servetest.CASE(1, 1), AttrTimeZone); !slices.Equal(z, want) {
			t.Errorf("TimeZone %+v, want %+v", z, want)
		}
		e.s.Close()
		store.Close()
		e2 := newLiveEnv(t, servetest.OpenStore(t, dir), true, false)
		if z := servetest.ReadList[TimeZone](t, e2.s, servetest.CASE(1, 1), AttrTimeZone); !slices.Equal(z, want) {
			t.Errorf("TimeZone after restart %+v", z)
		}

		// The same offset and name under a new schedule: no event.
		e2.setZones(TimeZone{Offset: 7200, Name: field.Some("EET")}, TimeZone{Offset: 7200, Name: field.Some("EET"), ValidAt: hours(5)})
		e2.events.Take()
		if ids := e2.after(4 * time.Hour); len(ids) != 0 {
			t.Errorf("events for an unchanged zone: %v", ids)
		}
	})
}

func TestHourlyTimeUpdateEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newLiveEnv(t, servetest.Store(t), false, false)
		if ids := e.after(firstUpdateDelay - time.Second); len(ids) != 0 {
			t.Fatalf("events before the first update attempt: %v", ids)
		}
		// No time, no trusted source, no DST list: all three.
		if ids := e.after(time.Second); !slices.Equal(ids, []uint32{EventMissingTrustedTimeSource, EventDSTTableEmpty, EventTimeFailure}) {
			t.Fatalf("first attempt: %v", ids)
		}
		// Once an hour, not more.
		if ids := e.after(time.Hour - time.Second); len(ids) != 0 {
			t.Fatalf("within the hour: %v", ids)
		}
		if ids := e.after(time.Second); !slices.Equal(ids, []uint32{EventMissingTrustedTimeSource, EventDSTTableEmpty, EventTimeFailure}) {
			t.Fatalf("second attempt: %v", ids)
		}

		// A MissingTrustedTimeSource from a command counts for the hour.
		time.Sleep(30 * time.Minute)
		in := SetTrustedTimeSourceRequest{TrustedTimeSource: field.Null[FabricScopedTrustedTimeSource]()}
		if _, err := servetest.Invoke(t, e.s, servetest.CASE(1, 1), CmdSetTrustedTimeSource, &in); err != nil {
			t.Fatal(err)
		}
		if ids := e.after(0); !slices.Equal(ids, []uint32{EventMissingTrustedTimeSource}) {
			t.Fatalf("SetTrustedTimeSource(null): %v", ids)
		}
		if ids := e.after(30 * time.Minute); !slices.Equal(ids, []uint32{EventDSTTableEmpty, EventTimeFailure}) {
			t.Fatalf("attempt 30 min after a MissingTrustedTimeSource: %v", ids)
		}

		// With a time from an administrator, no more TimeFailure.
		set := SetUTCTimeRequest{UTCTime: hours(100), Granularity: GranularitySecondsGranularity}
		if _, err := servetest.Invoke(t, e.s, servetest.CASE(1, 1), CmdSetUTCTime, &set); err != nil {
			t.Fatal(err)
		}
		if ids := e.after(time.Hour); !slices.Equal(ids, []uint32{EventMissingTrustedTimeSource, EventDSTTableEmpty}) {
			t.Fatalf("attempt with an administrator's time: %v", ids)
		}
		// With a DST list, no more DSTTableEmpty.
		e.setDST(DSTOffset{Offset: 0, ValidStarting: 0})
		if ids := e.after(time.Hour); !slices.Equal(ids, []uint32{EventMissingTrustedTimeSource}) {
			t.Fatalf("attempt with a DST list: %v", ids)
		}
		// While the host keeps the time the node attempts nothing.
		e.synced.Store(true)
		if ids := e.after(5 * time.Hour); len(ids) != 0 {
			t.Fatalf("attempts with a synchronised host: %v", ids)
		}
	})
}

func TestTrustedTimeSourceClientHooks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newLiveEnv(t, servetest.Store(t), false, true)
		e.setDST(DSTOffset{Offset: 0, ValidStarting: 0})
		in := SetTrustedTimeSourceRequest{TrustedTimeSource: field.NonNull(FabricScopedTrustedTimeSource{NodeID: 0x55, Endpoint: 0})}
		if _, err := servetest.Invoke(t, e.s, servetest.CASE(3, 1), CmdSetTrustedTimeSource, &in); err != nil {
			t.Fatal(err)
		}
		e.events.Take()
		if src, ok := e.s.TrustedTimeSource(); !ok || src != (TrustedTimeSource{FabricIndex: 3, NodeID: 0x55}) {
			t.Fatalf("TrustedTimeSource() = %+v, %v", src, ok)
		}
		// The attempt asks the client and waits for its outcome.
		if ids := e.after(firstUpdateDelay); len(ids) != 0 {
			t.Fatalf("events while the client reads: %v", ids)
		}
		e.mu.Lock()
		req := slices.Clone(e.requested)
		e.mu.Unlock()
		if len(req) != 1 || req[0] != (TrustedTimeSource{FabricIndex: 3, NodeID: 0x55}) {
			t.Fatalf("RequestTrustedTime calls %+v", req)
		}
		// The read failed: MissingTrustedTimeSource and TimeFailure, once
		// an hour however often it fails.
		e.s.TrustedTimeSourceFailed()
		e.s.TrustedTimeSourceFailed()
		if ids := e.after(0); !slices.Equal(ids, []uint32{EventMissingTrustedTimeSource, EventTimeFailure}) {
			t.Fatalf("failed reads: %v", ids)
		}

		// A reading: the node has time from the trusted source.
		utc := Epoch.Add(200 * time.Hour)
		if err := e.s.SetTrustedUTC(utc, GranularitySecondsGranularity); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Second)
		req2 := servetest.CASE(1, 1)
		if got := servetest.ReadUint(t, e.s, req2, AttrUTCTime); got != EpochMicros(utc.Add(10*time.Second)) {
			t.Errorf("UTCTime %d, want %d", got, EpochMicros(utc.Add(10*time.Second)))
		}
		if got := servetest.ReadUint(t, e.s, req2, AttrTimeSource); got != uint64(TimeSourceNodeTimeCluster) {
			t.Errorf("TimeSource %d", got)
		}
		if got := servetest.ReadUint(t, e.s, req2, AttrGranularity); got != uint64(GranularitySecondsGranularity) {
			t.Errorf("Granularity %d", got)
		}
		// The next attempt asks the client again; its failure, more than an
		// hour after the last, is a missing source but no TimeFailure now
		// that the node has a time.
		if ids := e.after(time.Hour); len(ids) != 0 {
			t.Fatalf("second attempt: %v", ids)
		}
		e.mu.Lock()
		n := len(e.requested)
		e.mu.Unlock()
		if n != 2 {
			t.Fatalf("%d reads requested, want 2", n)
		}
		e.s.TrustedTimeSourceFailed()
		if ids := e.after(0); !slices.Equal(ids, []uint32{EventMissingTrustedTimeSource}) {
			t.Fatalf("failed read with a time: %v", ids)
		}
		for _, tc := range []struct {
			utc time.Time
			g   Granularity
		}{
			{utc, GranularityNoTimeGranularity},
			{utc, 9},
			{Epoch.Add(-time.Second), GranularitySecondsGranularity},
		} {
			if err := e.s.SetTrustedUTC(tc.utc, tc.g); err == nil {
				t.Errorf("SetTrustedUTC(%v, %d) accepted", tc.utc, tc.g)
			}
		}
	})
}

func TestDSTStatusFollowsTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newLiveEnv(t, servetest.Store(t), false, false)
		// A DST offset that applies now, but the node has no time yet.
		e.setDST(DSTOffset{Offset: 3600, ValidStarting: 0})
		if ids := e.after(0); len(ids) != 0 {
			t.Fatalf("DST set without a time: %v", ids)
		}
		// With a time it starts applying, before SetUTCTime returns.
		set := SetUTCTimeRequest{UTCTime: hours(1), Granularity: GranularitySecondsGranularity}
		if _, err := servetest.Invoke(t, e.s, servetest.CASE(1, 1), CmdSetUTCTime, &set); err != nil {
			t.Fatal(err)
		}
		if ids := e.events.Take(); len(ids) != 1 || ids[0].ID != EventDSTStatus {
			t.Fatalf("after SetUTCTime: %+v", ids)
		}
		// Let the goroutine SetUTCTime woke settle first, so that it does
		// not re-plan in the middle of SetTimeZone.
		synctest.Wait()
		// SetTimeZone clears the DST list: DSTStatus says it stopped.
		e.setZones(TimeZone{Offset: 3600})
		if ids := e.after(0); !slices.Equal(ids, []uint32{EventTimeZoneStatus, EventDSTTableEmpty, EventDSTStatus}) {
			t.Fatalf("SetTimeZone while DST applies: %v", ids)
		}
	})
}

func TestStartClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, err := New(Config{Store: servetest.Store(t)})
		if err != nil {
			t.Fatal(err)
		}
		s.Close() // before Start
		s.Start() // after Close: nothing
		s.Close()

		s2, err := New(Config{Store: servetest.Store(t)})
		if err != nil {
			t.Fatal(err)
		}
		s2.Start()
		s2.Start()
		time.Sleep(3 * time.Hour)
		s2.Close()
		s2.Close()
		// synctest.Test fails if a goroutine of the bubble is left.
	})
}

// OnTrustedTimeSourceChanged hears of every change of TrustedTimeSource:
// set, replaced, cleared by the command, and cleared by the removal of
// its fabric (Core §11.17.9.2, §11.17.10.5).
func TestTrustedTimeSourceChanged(t *testing.T) {
	type change struct {
		src TrustedTimeSource
		ok  bool
	}
	var got []change
	s, err := New(Config{Store: servetest.Store(t), OnTrustedTimeSourceChanged: func(src TrustedTimeSource, ok bool) {
		got = append(got, change{src, ok})
	}})
	if err != nil {
		t.Fatal(err)
	}
	set := func(fabric uint8, src field.Nullable[FabricScopedTrustedTimeSource]) {
		t.Helper()
		in := SetTrustedTimeSourceRequest{TrustedTimeSource: src}
		if _, err := servetest.Invoke(t, s, servetest.CASE(fabric, 1), CmdSetTrustedTimeSource, &in); err != nil {
			t.Fatal(err)
		}
	}
	set(2, field.NonNull(FabricScopedTrustedTimeSource{NodeID: 0x55, Endpoint: 0}))
	set(3, field.NonNull(FabricScopedTrustedTimeSource{NodeID: 0x66, Endpoint: 1}))
	set(3, field.Null[FabricScopedTrustedTimeSource]())
	set(2, field.NonNull(FabricScopedTrustedTimeSource{NodeID: 0x55, Endpoint: 0}))
	s.FabricRemoved(3) // not the source's fabric: no change
	s.FabricRemoved(2)
	want := []change{
		{TrustedTimeSource{FabricIndex: 2, NodeID: 0x55}, true},
		{TrustedTimeSource{FabricIndex: 3, NodeID: 0x66, Endpoint: 1}, true},
		{TrustedTimeSource{}, false},
		{TrustedTimeSource{FabricIndex: 2, NodeID: 0x55}, true},
		{TrustedTimeSource{}, false},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("changes %+v, want %+v", got, want)
	}
}
