package generalcommissioning

import (
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mattercam/mattercam/matter/clusters/internal/servetest"
	"github.com/mattercam/mattercam/matter/dm"
	"github.com/mattercam/mattercam/matter/fabric"
	"github.com/mattercam/mattercam/matter/tlv"
)

const (
	adminNode = 0x0000_0000_0000_C0DE
	node      = 0x0000_0000_0000_0001
)

// env is a server over a real fabric table, recording its callbacks.
type env struct {
	t       *testing.T
	s       *Server
	fabrics *fabric.Table
	changes servetest.Changes

	mu         sync.Mutex
	windowOpen bool
	expired    []Expired
	completed  []uint8
	location   string
}

func newEnv(t *testing.T, mod func(*Config)) *env {
	t.Helper()
	e := &env{t: t}
	var err error
	e.fabrics, err = fabric.Open(servetest.Store(t), fabric.Config{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Fabrics:    e.fabrics,
		WindowOpen: func() bool { e.mu.Lock(); defer e.mu.Unlock(); return e.windowOpen },
		SetLocation: func(code string) error {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.location = code
			return nil
		},
		OnExpired:  func(x Expired) { e.mu.Lock(); e.expired = append(e.expired, x); e.mu.Unlock() },
		OnComplete: func(f uint8) { e.mu.Lock(); e.completed = append(e.completed, f); e.mu.Unlock() },
		Notify:     &e.changes,
	}
	if mod != nil {
		mod(&cfg)
	}
	if e.s, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) arm(req *dm.Request, seconds uint16, breadcrumb uint64) CommissioningError {
	e.t.Helper()
	var out ArmFailSafeResponse
	servetest.Call(e.t, e.s, req, CmdArmFailSafe, &ArmFailSafeRequest{ExpiryLengthSeconds: seconds, Breadcrumb: breadcrumb},
		CmdArmFailSafeResponse, &out)
	return out.ErrorCode
}

func (e *env) complete(req *dm.Request) CommissioningError {
	e.t.Helper()
	var out CommissioningCompleteResponse
	servetest.Call(e.t, e.s, req, CmdCommissioningComplete, nil, CmdCommissioningCompleteResponse, &out)
	return out.ErrorCode
}

func (e *env) expiries() []Expired {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Expired(nil), e.expired...)
}

// stageFabric runs CSR, AddTrustedRoot and AddNOC on the table, as the
// Operational Credentials cluster does within the fail-safe, and tells the
// fail-safe.
func (e *env) stageFabric() uint8 {
	e.t.Helper()
	ca := servetest.NewCA(e.t, 0xFAB, false)
	csr, err := e.fabrics.CSR(false)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.fabrics.AddTrustedRoot(ca.RCAC); err != nil {
		e.t.Fatal(err)
	}
	idx, err := e.fabrics.AddNOC(ca.NOC(e.t, csr, node), nil, servetest.IPK, adminNode, 0xFFF1)
	if err != nil {
		e.t.Fatal(err)
	}
	e.s.FailSafe().NOCAdded(idx)
	return idx
}

func TestReadAttributes(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.FailSafeExpiryLength = 90 * time.Second })
	req := servetest.PASE(0)
	var info BasicCommissioningInfo
	servetest.ReadInto(t, e.s, req, AttrBasicCommissioningInfo, &info)
	if info.FailSafeExpiryLengthSeconds != 90 || info.MaxCumulativeFailsafeSeconds != 900 {
		t.Errorf("BasicCommissioningInfo = %+v, want 90/900", info)
	}
	for _, c := range []struct {
		attr uint32
		want uint64
	}{
		{AttrBreadcrumb, 0},
		{AttrRegulatoryConfig, uint64(RegulatoryLocationTypeIndoorOutdoor)},
		{AttrLocationCapability, uint64(RegulatoryLocationTypeIndoorOutdoor)},
	} {
		if got := servetest.ReadUint(t, e.s, req, c.attr); got != c.want {
			t.Errorf("attribute %#x = %d, want %d", c.attr, got, c.want)
		}
	}
	if el := servetest.ReadElement(t, e.s, req, AttrSupportsConcurrentConnection); !el.Bool {
		t.Error("SupportsConcurrentConnection is false")
	}
	if _, err := servetest.ReadErr(e.s, req, AttrTcAcceptedVersion); servetest.Status(err) != dm.StatusUnsupportedAttribute {
		t.Errorf("reading TCAcceptedVersion: %v, want UNSUPPORTED_ATTRIBUTE", err)
	}
	// The metadata lists only what is served.
	if e.s.Meta().Attribute(AttrTcAcceptedVersion) != nil || e.s.Meta().Command(CmdSetTcAcknowledgements) != nil {
		t.Error("metadata lists the Terms and Conditions elements")
	}
}

func TestNewRejectsBadLengths(t *testing.T) {
	fabrics, err := fabric.Open(servetest.Store(t), fabric.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ expiry, max time.Duration }{
		{120 * time.Second, 60 * time.Second},
		{60 * time.Second, 70000 * time.Second},
		{time.Millisecond, time.Second},
	} {
		if _, err := New(Config{Fabrics: fabrics, FailSafeExpiryLength: c.expiry, MaxCumulativeFailsafe: c.max}); err == nil {
			t.Errorf("New accepted expiry %v, max %v", c.expiry, c.max)
		}
	}
	if _, err := New(Config{}); err == nil {
		t.Error("New accepted a config without fabrics")
	}
}

func TestArmFailSafe(t *testing.T) {
	pase := servetest.PASE(0)
	case1 := servetest.CASE(1, adminNode)
	case2 := servetest.CASE(2, adminNode)
	type step struct {
		req        *dm.Request
		seconds    uint16
		want       CommissioningError
		wantArmed  bool
		wantFabric uint8
	}
	for _, tc := range []struct {
		name       string
		windowOpen bool
		steps      []step
		expiries   int
		breadcrumb uint64
	}{
		{name: "PASE arms", steps: []step{{pase, 60, CommissioningErrorOK, true, 0}}, breadcrumb: 1},
		{name: "CASE arms without window", steps: []step{{case1, 60, CommissioningErrorOK, true, 1}}, breadcrumb: 1},
		{name: "CASE busy while window open", windowOpen: true,
			steps: []step{{case1, 60, CommissioningErrorBusyWithOtherAdmin, false, 0}}},
		{name: "PASE arms while window open", windowOpen: true,
			steps: []step{{pase, 60, CommissioningErrorOK, true, 0}}, breadcrumb: 1},
		{name: "other fabric busy", steps: []step{
			{case1, 60, CommissioningErrorOK, true, 1},
			{case2, 60, CommissioningErrorBusyWithOtherAdmin, true, 1},
		}, breadcrumb: 1},
		{name: "PASE busy while CASE holds it", steps: []step{
			{case1, 60, CommissioningErrorOK, true, 1},
			{pase, 60, CommissioningErrorBusyWithOtherAdmin, true, 1},
		}, breadcrumb: 1},
		{name: "rearm by holder", steps: []step{
			{case1, 60, CommissioningErrorOK, true, 1},
			{case1, 120, CommissioningErrorOK, true, 1},
		}, breadcrumb: 2},
		{name: "zero without fail-safe", steps: []step{{case1, 0, CommissioningErrorOK, false, 0}}, breadcrumb: 1},
		{name: "zero by holder expires", steps: []step{
			{pase, 60, CommissioningErrorOK, true, 0},
			{pase, 0, CommissioningErrorOK, false, 0},
		}, expiries: 1},
		{name: "zero by other fabric busy", steps: []step{
			{case1, 60, CommissioningErrorOK, true, 1},
			{case2, 0, CommissioningErrorBusyWithOtherAdmin, true, 1},
		}, breadcrumb: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			e.windowOpen = tc.windowOpen
			for i, st := range tc.steps {
				if got := e.arm(st.req, st.seconds, uint64(i+1)); got != st.want {
					t.Fatalf("step %d: ErrorCode %v, want %v", i, got, st.want)
				}
				ctx := e.s.FailSafe().Context()
				if ctx.Armed != st.wantArmed || ctx.Armed && ctx.Fabric != st.wantFabric {
					t.Fatalf("step %d: context %+v, want armed %v for fabric %d", i, ctx, st.wantArmed, st.wantFabric)
				}
			}
			if n := len(e.expiries()); n != tc.expiries {
				t.Errorf("%d expiries, want %d", n, tc.expiries)
			}
			if got := e.s.Breadcrumb(); got != tc.breadcrumb {
				t.Errorf("Breadcrumb = %d, want %d", got, tc.breadcrumb)
			}
			e.s.FailSafe().Expire() // stop timers
		})
	}
}

func TestArmFailSafeMalformed(t *testing.T) {
	e := newEnv(t, nil)
	_, err := servetest.Invoke(t, e.s, servetest.PASE(0), CmdArmFailSafe, nil)
	if servetest.Status(err) != dm.StatusInvalidCommand {
		t.Errorf("ArmFailSafe without fields: %v, want INVALID_COMMAND", err)
	}
	if e.s.FailSafe().Armed() {
		t.Error("armed by a malformed command")
	}
}

func TestCommissioningComplete(t *testing.T) {
	pase := servetest.PASE(0)
	for _, tc := range []struct {
		name    string
		armBy   *dm.Request // nil: not armed
		added   bool        // stage a fabric, moving the context to it
		by      *dm.Request
		want    CommissioningError
		commits bool
	}{
		{name: "no fail-safe", by: servetest.CASE(1, adminNode), want: CommissioningErrorNoFailSafe},
		{name: "over PASE", armBy: pase, added: true, by: servetest.PASE(1), want: CommissioningErrorInvalidAuthentication},
		{name: "other fabric", armBy: pase, added: true, by: servetest.CASE(2, adminNode), want: CommissioningErrorInvalidAuthentication},
		{name: "fabric of the context before AddNOC", armBy: servetest.CASE(1, adminNode), by: servetest.CASE(1, adminNode),
			want: CommissioningErrorOK, commits: true},
		{name: "added fabric", armBy: pase, added: true, by: servetest.CASE(1, adminNode), want: CommissioningErrorOK, commits: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			if tc.armBy != nil {
				if got := e.arm(tc.armBy, 60, 7); got != CommissioningErrorOK {
					t.Fatalf("ArmFailSafe: %v", got)
				}
			}
			if tc.added {
				if idx := e.stageFabric(); idx != 1 {
					t.Fatalf("staged fabric %d, want 1", idx)
				}
			}
			if got := e.complete(tc.by); got != tc.want {
				t.Fatalf("CommissioningComplete: %v, want %v", got, tc.want)
			}
			armed := e.s.FailSafe().Armed()
			if tc.commits {
				if armed {
					t.Error("fail-safe still armed")
				}
				if e.s.Breadcrumb() != 0 {
					t.Errorf("Breadcrumb = %d after completion", e.s.Breadcrumb())
				}
				if len(e.completed) != 1 || e.completed[0] != tc.by.Subject.FabricIndex {
					t.Errorf("OnComplete calls %v", e.completed)
				}
				if tc.added {
					d, ok := e.fabrics.Get(1)
					if !ok || d.Pending {
						t.Errorf("fabric 1 not committed: %+v %v", d, ok)
					}
				}
			} else {
				if armed != (tc.armBy != nil) {
					t.Errorf("armed = %v after a refused completion", armed)
				}
				if len(e.completed) != 0 {
					t.Errorf("OnComplete called: %v", e.completed)
				}
			}
			e.s.FailSafe().Expire()
		})
	}
}

func TestSetRegulatoryConfig(t *testing.T) {
	indoor := RegulatoryLocationTypeIndoor
	for _, tc := range []struct {
		name       string
		capability *RegulatoryLocationType
		in         SetRegulatoryConfigRequest
		status     dm.Status
		code       CommissioningError
		config     RegulatoryLocationType
		location   string
	}{
		{name: "indoor/outdoor takes anything", in: SetRegulatoryConfigRequest{NewRegulatoryConfig: RegulatoryLocationTypeOutdoor, CountryCode: "DE", Breadcrumb: 5},
			code: CommissioningErrorOK, config: RegulatoryLocationTypeOutdoor, location: "DE"},
		{name: "indoor-only refuses outdoor", capability: &indoor,
			in:   SetRegulatoryConfigRequest{NewRegulatoryConfig: RegulatoryLocationTypeOutdoor, CountryCode: "FR", Breadcrumb: 5},
			code: CommissioningErrorValueOutsideRange, config: RegulatoryLocationTypeIndoor, location: "FR"},
		{name: "unknown value", in: SetRegulatoryConfigRequest{NewRegulatoryConfig: 9, CountryCode: "DE"},
			status: dm.StatusConstraintError, config: RegulatoryLocationTypeIndoorOutdoor},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(c *Config) { c.LocationCapability = tc.capability })
			resp, err := servetest.Invoke(t, e.s, servetest.PASE(0), CmdSetRegulatoryConfig, &tc.in)
			if servetest.Status(err) != tc.status {
				t.Fatalf("status %v, want %v", err, tc.status)
			}
			if err == nil {
				var out SetRegulatoryConfigResponse
				servetest.Response(t, resp, CmdSetRegulatoryConfigResponse, &out)
				if out.ErrorCode != tc.code {
					t.Errorf("ErrorCode %v, want %v", out.ErrorCode, tc.code)
				}
				wantCrumb := uint64(0)
				if tc.code == CommissioningErrorOK {
					wantCrumb = tc.in.Breadcrumb
				}
				if e.s.Breadcrumb() != wantCrumb {
					t.Errorf("Breadcrumb = %d, want %d", e.s.Breadcrumb(), wantCrumb)
				}
			}
			if got := servetest.ReadUint(t, e.s, servetest.PASE(0), AttrRegulatoryConfig); got != uint64(tc.config) {
				t.Errorf("RegulatoryConfig = %d, want %d", got, tc.config)
			}
			if e.location != tc.location {
				t.Errorf("location %q, want %q", e.location, tc.location)
			}
		})
	}
}

func TestBreadcrumbWrite(t *testing.T) {
	e := newEnv(t, nil)
	req := servetest.CASE(1, adminNode)
	v := servetest.Value(t, func(w *tlv.Writer, tag tlv.Tag) { w.PutUint(tag, 42) })
	if err := servetest.Write(t, e.s, req, AttrBreadcrumb, v, false); err != nil {
		t.Fatal(err)
	}
	if got := servetest.ReadUint(t, e.s, req, AttrBreadcrumb); got != 42 {
		t.Errorf("Breadcrumb = %d", got)
	}
	if !e.changes.Has(ID, AttrBreadcrumb) {
		t.Error("no change reported")
	}
	str := servetest.Value(t, func(w *tlv.Writer, tag tlv.Tag) { w.PutString(tag, "x") })
	if err := servetest.Write(t, e.s, req, AttrBreadcrumb, str, false); servetest.Status(err) != dm.StatusInvalidDataType {
		t.Errorf("writing a string: %v, want INVALID_DATA_TYPE", err)
	}
	if err := servetest.Write(t, e.s, req, AttrRegulatoryConfig, v, false); servetest.Status(err) != dm.StatusUnsupportedWrite {
		t.Errorf("writing RegulatoryConfig: %v, want UNSUPPORTED_WRITE", err)
	}
}

// TestFailSafeExpiryRevertsAddNOC arms the fail-safe over PASE, stages a
// fabric as AddNOC does, and lets the timer run out: the fabric is gone,
// the breadcrumb is reset and the node is told what was undone.
func TestFailSafeExpiryRevertsAddNOC(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, nil)
		if got := e.arm(servetest.PASE(0), 60, 3); got != CommissioningErrorOK {
			t.Fatalf("ArmFailSafe: %v", got)
		}
		idx := e.stageFabric()
		if n := e.fabrics.CommissionedFabrics(); n != 1 {
			t.Fatalf("CommissionedFabrics = %d after AddNOC", n)
		}

		time.Sleep(59 * time.Second)
		synctest.Wait()
		if !e.s.FailSafe().Armed() || len(e.expiries()) != 0 {
			t.Fatal("expired before its time")
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()

		ex := e.expiries()
		if len(ex) != 1 {
			t.Fatalf("%d expiries, want 1", len(ex))
		}
		if ex[0].Reverted.Added != idx || ex[0].Context.Fabric != idx || ex[0].Context.Added != idx {
			t.Errorf("expiry %+v, want fabric %d removed", ex[0], idx)
		}
		if e.s.FailSafe().Armed() {
			t.Error("still armed")
		}
		if n := e.fabrics.CommissionedFabrics(); n != 0 {
			t.Errorf("CommissionedFabrics = %d after expiry", n)
		}
		if len(e.fabrics.TrustedRootCertificates()) != 0 {
			t.Error("the staged root survived the expiry")
		}
		if e.s.Breadcrumb() != 0 {
			t.Errorf("Breadcrumb = %d after expiry", e.s.Breadcrumb())
		}
		// A new commissioning can start.
		if got := e.arm(servetest.PASE(0), 60, 1); got != CommissioningErrorOK {
			t.Errorf("re-arming after expiry: %v", got)
		}
		e.s.FailSafe().Expire()
	})
}

// TestFailSafeRearmAndCumulativeLimit: re-arming moves the deadline, but
// never past MaxCumulativeFailsafeSeconds after the first arming.
func TestFailSafeRearmAndCumulativeLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, func(c *Config) { c.MaxCumulativeFailsafe = 300 * time.Second })
		start := time.Now()
		req := servetest.PASE(0)
		e.arm(req, 100, 1)
		time.Sleep(90 * time.Second)
		if got := e.arm(req, 100, 2); got != CommissioningErrorOK {
			t.Fatalf("re-arm: %v", got)
		}
		time.Sleep(90 * time.Second) // 180 s: past the first deadline
		synctest.Wait()
		if !e.s.FailSafe().Armed() {
			t.Fatal("re-arming did not move the deadline")
		}
		// matter.js re-arms with 310 s before CASE (controller.md §1
		// step 7); the limit caps it at 300 s from the first arming.
		if got := e.arm(req, 310, 3); got != CommissioningErrorOK {
			t.Fatalf("re-arm 310: %v", got)
		}
		if d := e.s.FailSafe().Context().Deadline; !d.Equal(start.Add(300 * time.Second)) {
			t.Errorf("deadline %v after start, want 300s", d.Sub(start))
		}
		time.Sleep(119 * time.Second)
		synctest.Wait()
		if !e.s.FailSafe().Armed() {
			t.Fatal("expired before the cumulative limit")
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if e.s.FailSafe().Armed() || len(e.expiries()) != 1 {
			t.Fatalf("not expired at the cumulative limit (%d expiries)", len(e.expiries()))
		}
	})
}

// TestCommissioningCompleteStopsTimer: after CommissioningComplete the
// timer no longer fires, and the fabric stays.
func TestCommissioningCompleteStopsTimer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, nil)
		e.arm(servetest.PASE(0), 60, 1)
		idx := e.stageFabric()
		time.Sleep(30 * time.Second)
		if got := e.complete(servetest.CASE(idx, adminNode)); got != CommissioningErrorOK {
			t.Fatalf("CommissioningComplete: %v", got)
		}
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		if n := len(e.expiries()); n != 0 {
			t.Fatalf("%d expiries after completion", n)
		}
		if d, ok := e.fabrics.Get(idx); !ok || d.Pending {
			t.Errorf("fabric %d: %+v, %v", idx, d, ok)
		}
	})
}

// failingStaging is a fabric table whose commit fails.
type failingStaging struct{ reverts int }

func (f *failingStaging) Commit() error { return errors.New("disk full") }
func (f *failingStaging) Revert() fabric.Reverted {
	f.reverts++
	return fabric.Reverted{Added: 1}
}

func TestCommissioningCompleteCommitFails(t *testing.T) {
	st := &failingStaging{}
	e := newEnv(t, func(c *Config) { c.Fabrics = st })
	e.arm(servetest.CASE(1, adminNode), 60, 1)
	_, err := servetest.Invoke(t, e.s, servetest.CASE(1, adminNode), CmdCommissioningComplete, nil)
	if servetest.Status(err) != dm.StatusFailure {
		t.Fatalf("CommissioningComplete with a failing commit: %v, want FAILURE", err)
	}
	if st.reverts != 1 || len(e.expiries()) != 1 || e.s.FailSafe().Armed() {
		t.Errorf("reverts %d, expiries %d, armed %v: the context was not undone", st.reverts, len(e.expiries()), e.s.FailSafe().Armed())
	}
	if len(e.completed) != 0 {
		t.Error("OnComplete called")
	}
}
