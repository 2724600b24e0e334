package administratorcommissioning

import (
	"bytes"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mattercam/mattercam/matter/clusters/internal/servetest"
	"github.com/mattercam/mattercam/matter/crypto"
	"github.com/mattercam/mattercam/matter/dm"
	"github.com/mattercam/mattercam/matter/fabric"
	"github.com/mattercam/mattercam/matter/tlv"
)

type window struct {
	mu     sync.Mutex
	open   bool
	params []WindowParams
	closes int
}

func (w *window) OpenEnhanced(p WindowParams) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.open = true
	w.params = append(w.params, p)
	return nil
}
func (w *window) Close() { w.mu.Lock(); w.open = false; w.closes++; w.mu.Unlock() }
func (w *window) IsOpen() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.open
}

type failSafe struct {
	armed    bool
	expiries int
}

func (f *failSafe) Armed() bool { return f.armed }
func (f *failSafe) Expire() bool {
	was := f.armed
	if was {
		f.expiries++
	}
	f.armed = false
	return was
}

type fabrics map[uint8]fabric.Descriptor

func (f fabrics) Get(i uint8) (fabric.Descriptor, bool) { d, ok := f[i]; return d, ok }

type env struct {
	s       *Server
	win     *window
	fs      *failSafe
	changes servetest.Changes
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{win: &window{}, fs: &failSafe{}}
	var err error
	e.s, err = New(Config{Window: e.win, FailSafe: e.fs, Fabrics: fabrics{1: {Index: 1, VendorID: 0xFFF2}}, Notify: &e.changes})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

var salt = bytes.Repeat([]byte{0x53}, 16)

func verifier(t *testing.T) []byte {
	t.Helper()
	v, err := crypto.ComputePasscodeVerifier(20202021, salt, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return v.Bytes()
}

func validRequest(t *testing.T) OpenCommissioningWindowRequest {
	return OpenCommissioningWindowRequest{CommissioningTimeout: 180, PakePasscodeVerifier: verifier(t),
		Discriminator: 0xABC, Iterations: 1000, Salt: salt}
}

// open invokes OpenCommissioningWindow with fields encoded without the
// generated constraints, so out-of-range values reach the server.
func open(t *testing.T, s *Server, req *dm.Request, in OpenCommissioningWindowRequest) error {
	t.Helper()
	b := servetest.Value(t, func(w *tlv.Writer, tag tlv.Tag) {
		w.StartStructure(tag)
		w.PutUint(tlv.ContextTag(0), uint64(in.CommissioningTimeout))
		w.PutBytes(tlv.ContextTag(1), in.PakePasscodeVerifier)
		w.PutUint(tlv.ContextTag(2), uint64(in.Discriminator))
		w.PutUint(tlv.ContextTag(3), uint64(in.Iterations))
		w.PutBytes(tlv.ContextTag(4), in.Salt)
		w.EndContainer()
	})
	_, err := servetest.InvokeRaw(t, s, req, CmdOpenCommissioningWindow, servetest.RawFields(t, b))
	return err
}

func TestOpenCommissioningWindow(t *testing.T) {
	req := servetest.CASE(1, 0xA)
	for _, tc := range []struct {
		name    string
		mutate  func(*OpenCommissioningWindowRequest)
		open    bool // a window is already open
		armed   bool
		status  dm.Status
		cluster int
	}{
		{name: "ok", status: dm.StatusSuccess, cluster: -1},
		{name: "window open", open: true, status: dm.StatusFailure, cluster: int(StatusCodeBusy)},
		{name: "fail-safe armed", armed: true, status: dm.StatusFailure, cluster: int(StatusCodeBusy)},
		{name: "bad verifier", mutate: func(r *OpenCommissioningWindowRequest) { r.PakePasscodeVerifier = r.PakePasscodeVerifier[:96] },
			status: dm.StatusFailure, cluster: int(StatusCodePakeParameterError)},
		{name: "verifier not a point", mutate: func(r *OpenCommissioningWindowRequest) { r.PakePasscodeVerifier[40] ^= 0xFF },
			status: dm.StatusFailure, cluster: int(StatusCodePakeParameterError)},
		{name: "iterations", mutate: func(r *OpenCommissioningWindowRequest) { r.Iterations = 999 },
			status: dm.StatusFailure, cluster: int(StatusCodePakeParameterError)},
		{name: "salt", mutate: func(r *OpenCommissioningWindowRequest) { r.Salt = r.Salt[:15] },
			status: dm.StatusFailure, cluster: int(StatusCodePakeParameterError)},
		{name: "timeout short", mutate: func(r *OpenCommissioningWindowRequest) { r.CommissioningTimeout = 179 },
			status: dm.StatusInvalidCommand, cluster: -1},
		{name: "timeout long", mutate: func(r *OpenCommissioningWindowRequest) { r.CommissioningTimeout = 901 },
			status: dm.StatusInvalidCommand, cluster: -1},
		{name: "discriminator", mutate: func(r *OpenCommissioningWindowRequest) { r.Discriminator = 0x1000 },
			status: dm.StatusInvalidCommand, cluster: -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.win.open, e.fs.armed = tc.open, tc.armed
			in := validRequest(t)
			if tc.mutate != nil {
				tc.mutate(&in)
			}
			err := open(t, e.s, req, in)
			if servetest.Status(err) != tc.status || servetest.ClusterStatus(err) != tc.cluster {
				t.Fatalf("%v, want %v / cluster %d", err, tc.status, tc.cluster)
			}
			if err != nil {
				if len(e.win.params) != 0 || e.s.Status() != CommissioningWindowStatusWindowNotOpen {
					t.Error("a refused command opened a window")
				}
				return
			}
			p := e.win.params[0]
			if p.Discriminator != 0xABC || p.Iterations != 1000 || !bytes.Equal(p.Salt, salt) || p.Timeout != 180*time.Second ||
				!bytes.Equal(p.Verifier.Bytes(), in.PakePasscodeVerifier) {
				t.Errorf("window params %+v", p)
			}
			if e.s.Status() != CommissioningWindowStatusEnhancedWindowOpen ||
				servetest.ReadUint(t, e.s, req, AttrAdminFabricIndex) != 1 || servetest.ReadUint(t, e.s, req, AttrAdminVendorID) != 0xFFF2 {
				t.Error("attributes not set")
			}
			if !e.changes.Has(ID, AttrWindowStatus) {
				t.Error("change not reported")
			}
			e.s.CloseWindow()
		})
	}
}

func TestWindowTimesOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		if err := open(t, e.s, servetest.CASE(1, 0xA), validRequest(t)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(179 * time.Second)
		synctest.Wait()
		if !e.win.IsOpen() {
			t.Fatal("closed early")
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if e.win.IsOpen() || e.s.Status() != CommissioningWindowStatusWindowNotOpen {
			t.Error("window still open after its timeout")
		}
		if el := servetest.ReadElement(t, e.s, servetest.PASE(0), AttrAdminFabricIndex); el.Type != tlv.TypeNull {
			t.Errorf("AdminFabricIndex %v after timeout, want null", el)
		}
	})
}

func TestRevokeCommissioning(t *testing.T) {
	e := newEnv(t)
	req := servetest.CASE(1, 0xA)
	if _, err := servetest.Invoke(t, e.s, req, CmdRevokeCommissioning, nil); servetest.ClusterStatus(err) != int(StatusCodeWindowNotOpen) {
		t.Errorf("revoking without a window: %v", err)
	}
	if err := open(t, e.s, req, validRequest(t)); err != nil {
		t.Fatal(err)
	}
	e.fs.armed = true // a commissioner got in
	if _, err := servetest.Invoke(t, e.s, req, CmdRevokeCommissioning, nil); err != nil {
		t.Fatalf("RevokeCommissioning: %v", err)
	}
	if e.win.IsOpen() || e.fs.expiries != 1 || e.s.Status() != CommissioningWindowStatusWindowNotOpen {
		t.Errorf("after revoke: open %v, expiries %d, status %v", e.win.IsOpen(), e.fs.expiries, e.s.Status())
	}
}

func TestFabricRemovedClearsAdminFabric(t *testing.T) {
	e := newEnv(t)
	req := servetest.CASE(1, 0xA)
	if err := open(t, e.s, req, validRequest(t)); err != nil {
		t.Fatal(err)
	}
	e.s.FabricRemoved(1)
	if el := servetest.ReadElement(t, e.s, req, AttrAdminFabricIndex); el.Type != tlv.TypeNull {
		t.Error("AdminFabricIndex not null after its fabric left")
	}
	if got := servetest.ReadUint(t, e.s, req, AttrAdminVendorID); got != 0xFFF2 {
		t.Errorf("AdminVendorId = %#x: it must not change", got)
	}
	if e.s.Meta().Command(CmdOpenCommissioningWindow).Quality&dm.QualityTimed == 0 {
		t.Error("OpenCommissioningWindow is not timed in the metadata")
	}
	e.s.CloseWindow()
}
