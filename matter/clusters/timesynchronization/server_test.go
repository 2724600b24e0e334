package timesynchronization

import (
	"slices"
	"testing"
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
