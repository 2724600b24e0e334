package tlsclientmanagement

import (
	"bytes"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mattercam/mattercam/matter/clusters/field"
	"github.com/mattercam/mattercam/matter/clusters/internal/servetest"
	"github.com/mattercam/mattercam/matter/clusters/tlscertificatemanagement"
	"github.com/mattercam/mattercam/matter/crypto"
	"github.com/mattercam/mattercam/matter/dm"
	"github.com/mattercam/mattercam/matter/storage"
)

// certs is a fake certificate table: fabric 1 has roots 0 and 1 and
// client certificate 5; fabric 2 has root 2.
type certs struct {
	mu      sync.Mutex
	roots   map[[2]uint16]bool
	clients map[[2]uint16]bool
	held    int
}

func newCerts() *certs {
	return &certs{roots: map[[2]uint16]bool{{1, 0}: true, {1, 1}: true, {2, 2}: true}, clients: map[[2]uint16]bool{{1, 5}: true}}
}

func (c *certs) Hold(fi uint8, caid uint16, ccdid field.Nullable[uint16], f func(root, client bool) error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.held++
	client := true
	if id, ok := ccdid.Get(); ok {
		client = c.clients[[2]uint16{uint16(fi), id}]
	}
	return f(c.roots[[2]uint16{uint16(fi), caid}], client)
}

type env struct {
	s       *Server
	certs   *certs
	changes *servetest.Changes

	mu      sync.Mutex
	hasTime bool
}

func newEnv(t *testing.T, store *storage.Store) *env {
	t.Helper()
	e := &env{certs: newCerts(), changes: &servetest.Changes{}, hasTime: true}
	s, err := New(Config{Certificates: e.certs, Store: store, Notify: e.changes,
		Now: func() (time.Time, bool) {
			e.mu.Lock()
			defer e.mu.Unlock()
			return time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), e.hasTime
		}})
	if err != nil {
		t.Fatal(err)
	}
	e.s = s
	return e
}

func large(fabric uint8) *dm.Request {
	r := servetest.CASE(fabric, 1)
	r.LargeMessage = true
	return r
}

func req(host string, port uint16, caid uint16, ccdid, id field.Nullable[uint16]) *ProvisionEndpointRequest {
	return &ProvisionEndpointRequest{Hostname: []byte(host), Port: port, CAID: caid, CCDID: ccdid, EndpointID: id}
}

func provision(t testing.TB, s *Server, fabric uint8, in *ProvisionEndpointRequest) (uint16, error) {
	t.Helper()
	resp, err := servetest.Invoke(t, s, large(fabric), CmdProvisionEndpoint, in)
	if err != nil {
		return 0, err
	}
	var out ProvisionEndpointResponse
	servetest.Response(t, resp, CmdProvisionEndpointResponse, &out)
	return out.EndpointID, nil
}

func mustProvision(t testing.TB, s *Server, fabric uint8, in *ProvisionEndpointRequest) uint16 {
	t.Helper()
	id, err := provision(t, s, fabric, in)
	if err != nil {
		t.Fatalf("ProvisionEndpoint %s:%d: %v", in.Hostname, in.Port, err)
	}
	return id
}

func readEndpoints(t testing.TB, s *Server, r *dm.Request) []TLSEndpoint {
	t.Helper()
	return servetest.ReadList[TLSEndpoint](t, s, r, AttrProvisionedEndpoints)
}

var null = field.Null[uint16]()

func TestMetadata(t *testing.T) {
	e := newEnv(t, servetest.Store(t))
	m := e.s.Meta()
	if len(m.Commands) != 3 || len(m.Attributes) != 2 || len(m.Generated) != 2 {
		t.Fatalf("served metadata: %d commands, %d attributes, %d generated", len(m.Commands), len(m.Attributes), len(m.Generated))
	}
	for _, c := range m.Commands {
		if c.Quality&dm.QualityLargeMessage == 0 || c.Quality&dm.QualityFabricScoped == 0 {
			t.Errorf("command %s: quality %#x lacks L or fabric scoping", c.Name, c.Quality)
		}
	}
	if got := servetest.ReadUint(t, e.s, servetest.CASE(1, 1), AttrMaxProvisioned); got != DefaultMaxProvisioned {
		t.Errorf("MaxProvisioned = %d", got)
	}
	if err := servetest.Write(t, e.s, servetest.CASE(1, 1), AttrMaxProvisioned, []byte{0x04, 9}, false); servetest.Status(err) != dm.StatusUnsupportedWrite {
		t.Errorf("writing MaxProvisioned: %v", err)
	}
	if _, err := servetest.Invoke(t, e.s, servetest.PASE(0), CmdFindEndpoint, &FindEndpointRequest{}); servetest.Status(err) != dm.StatusUnsupportedAccess {
		t.Errorf("FindEndpoint without a fabric: %v", err)
	}
	for _, c := range []Config{
		{Store: servetest.Store(t)},
		{Certificates: newCerts()},
		{Certificates: newCerts(), Store: servetest.Store(t), MaxProvisioned: 4},
		{Certificates: newCerts(), Store: servetest.Store(t), MaxProvisioned: hardLimit + 1},
	} {
		if _, err := New(c); err == nil {
			t.Errorf("New(%+v) accepted", c)
		}
	}
}

func TestProvisionEndpoint(t *testing.T) {
	long := strings.Repeat("a", 63) + "." + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 61) // 253
	for _, tc := range []struct {
		name          string
		setup         func(t *testing.T, e *env) // after fabric 1 provisioned cam.example.com:443 (ID 0)
		fabric        uint8
		in            *ProvisionEndpointRequest
		want          dm.Status
		clusterStatus int
		wantID        uint16
	}{
		{name: "new", fabric: 1, in: req("push.example.com", 443, 0, null, null), wantID: 1},
		{name: "with a client certificate", fabric: 1, in: req("push.example.com", 8443, 1, field.NonNull[uint16](5), null), wantID: 1},
		{name: "IPv4 literal", fabric: 1, in: req("192.0.2.7", 443, 0, null, null), wantID: 1},
		{name: "IPv6 literal", fabric: 1, in: req("2001:db8::7", 443, 0, null, null), wantID: 1},
		{name: "253 octets", fabric: 1, in: req(long, 443, 0, null, null), wantID: 1},
		{name: "same host, other port", fabric: 1, in: req("cam.example.com", 444, 0, null, null), wantID: 1},
		{name: "same host and port on another fabric", fabric: 2, in: req("cam.example.com", 443, 2, null, null), wantID: 1},
		{name: "update", fabric: 1, in: req("cam2.example.com", 443, 1, field.NonNull[uint16](5), field.NonNull[uint16](0)), wantID: 0},
		{name: "update keeping host and port", fabric: 1, in: req("cam.example.com", 443, 1, null, field.NonNull[uint16](0)), wantID: 0},
		{name: "no time", setup: func(_ *testing.T, e *env) { e.mu.Lock(); e.hasTime = false; e.mu.Unlock() },
			fabric: 1, in: req("push.example.com", 443, 0, null, null), want: dm.StatusFailure, clusterStatus: int(StatusCodeInvalidTime)},
		{name: "unknown CAID", fabric: 1, in: req("push.example.com", 443, 9, null, null),
			want: dm.StatusFailure, clusterStatus: int(StatusCodeRootCertificateNotFound)},
		{name: "another fabric's CAID", fabric: 1, in: req("push.example.com", 443, 2, null, null),
			want: dm.StatusFailure, clusterStatus: int(StatusCodeRootCertificateNotFound)},
		{name: "unknown CCDID", fabric: 1, in: req("push.example.com", 443, 0, field.NonNull[uint16](6), null),
			want: dm.StatusFailure, clusterStatus: int(StatusCodeClientCertificateNotFound)},
		{name: "another fabric's CCDID", fabric: 2, in: req("push.example.com", 443, 2, field.NonNull[uint16](5), null),
			want: dm.StatusFailure, clusterStatus: int(StatusCodeClientCertificateNotFound)},
		{name: "already installed", fabric: 1, in: req("cam.example.com", 443, 1, null, null),
			want: dm.StatusFailure, clusterStatus: int(StatusCodeEndpointAlreadyInstalled)},
		{name: "update onto another endpoint's host and port", setup: func(t *testing.T, e *env) {
			mustProvision(t, e.s, 1, req("other.example.com", 443, 0, null, null))
		}, fabric: 1, in: req("cam.example.com", 443, 0, null, field.NonNull[uint16](1)),
			want: dm.StatusFailure, clusterStatus: int(StatusCodeEndpointAlreadyInstalled)},
		{name: "update of an unknown endpoint", fabric: 1, in: req("x.example.com", 443, 0, null, field.NonNull[uint16](7)), want: dm.StatusNotFound},
		{name: "update of another fabric's endpoint", fabric: 2, in: req("x.example.com", 443, 2, null, field.NonNull[uint16](0)), want: dm.StatusNotFound},
		{name: "over the limit", setup: func(t *testing.T, e *env) {
			for i := range DefaultMaxProvisioned - 1 {
				mustProvision(t, e.s, 1, req("cam.example.com", uint16(1000+i), 0, null, null))
			}
		}, fabric: 1, in: req("push.example.com", 443, 0, null, null), want: dm.StatusResourceExhausted},
		{name: "update at the limit", setup: func(t *testing.T, e *env) {
			for i := range DefaultMaxProvisioned - 1 {
				mustProvision(t, e.s, 1, req("cam.example.com", uint16(1000+i), 0, null, null))
			}
		}, fabric: 1, in: req("push.example.com", 443, 0, null, field.NonNull[uint16](0)), wantID: 0},
		{name: "host name with a space", fabric: 1, in: req("cam example.com", 443, 0, null, null), want: dm.StatusConstraintError},
		{name: "label over 63", fabric: 1, in: req(strings.Repeat("a", 64)+".com", 443, 0, null, null), want: dm.StatusConstraintError},
		{name: "leading hyphen", fabric: 1, in: req("-cam.example.com", 443, 0, null, null), want: dm.StatusConstraintError},
		{name: "empty label", fabric: 1, in: req("cam..example.com", 443, 0, null, null), want: dm.StatusConstraintError},
		{name: "IPv6 zone", fabric: 1, in: req("fe80::1%eth0", 443, 0, null, null), want: dm.StatusConstraintError},
		{name: "3 octets", fabric: 1, in: req("a.b", 443, 0, null, null), want: dm.StatusConstraintError},
		{name: "254 octets", fabric: 1, in: req(long+"e", 443, 0, null, null), want: dm.StatusConstraintError},
		{name: "port 0", fabric: 1, in: req("push.example.com", 0, 0, null, null), want: dm.StatusConstraintError},
		{name: "CCDID 65535", fabric: 1, in: req("push.example.com", 443, 0, field.NonNull[uint16](65535), null), want: dm.StatusConstraintError},
		{name: "EndpointID 65535", fabric: 1, in: req("push.example.com", 443, 0, null, field.NonNull[uint16](65535)), want: dm.StatusConstraintError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, servetest.Store(t))
			if id := mustProvision(t, e.s, 1, req("cam.example.com", 443, 1, null, null)); id != 0 {
				t.Fatalf("first EndpointID %d", id)
			}
			if tc.setup != nil {
				tc.setup(t, e)
			}
			before := readEndpoints(t, e.s, large(1))
			e.changes.Reset()
			id, err := provision(t, e.s, tc.fabric, tc.in)
			if got := servetest.Status(err); got != tc.want {
				t.Fatalf("ProvisionEndpoint: %v (%v), want %v", got, err, tc.want)
			}
			if tc.want != dm.StatusSuccess {
				if cs := servetest.ClusterStatus(err); cs != tc.clusterStatus && tc.clusterStatus != 0 {
					t.Errorf("cluster status %d, want %d", cs, tc.clusterStatus)
				}
				if got := readEndpoints(t, e.s, large(1)); !slices.EqualFunc(got, before, sameEndpoint) || e.changes.Has(ID, AttrProvisionedEndpoints) {
					t.Error("a failed provisioning changed the list")
				}
				return
			}
			if id != tc.wantID {
				t.Errorf("EndpointID %d, want %d", id, tc.wantID)
			}
			var found FindEndpointResponse
			servetest.Call(t, e.s, large(tc.fabric), CmdFindEndpoint, &FindEndpointRequest{EndpointID: id}, CmdFindEndpointResponse, &found)
			want := TLSEndpoint{EndpointID: id, Hostname: tc.in.Hostname, Port: tc.in.Port, CAID: tc.in.CAID, CCDID: tc.in.CCDID, FabricIndex: tc.fabric}
			if !sameEndpoint(found.Endpoint, want) {
				t.Errorf("FindEndpoint: %+v, want %+v", found.Endpoint, want)
			}
			if !e.changes.Has(ID, AttrProvisionedEndpoints) {
				t.Error("no change reported")
			}
		})
	}
}

func sameEndpoint(a, b TLSEndpoint) bool {
	return a.EndpointID == b.EndpointID && bytes.Equal(a.Hostname, b.Hostname) && a.Port == b.Port && a.CAID == b.CAID &&
		a.CCDID == b.CCDID && a.ReferenceCount == b.ReferenceCount && a.FabricIndex == b.FabricIndex
}

func TestFindRemoveAndReferences(t *testing.T) {
	e := newEnv(t, servetest.Store(t))
	r1 := large(1)
	_, err := servetest.Invoke(t, e.s, r1, CmdFindEndpoint, &FindEndpointRequest{EndpointID: 0})
	if servetest.Status(err) != dm.StatusNotFound {
		t.Errorf("Find on an empty list: %v", err)
	}
	if _, err := servetest.Invoke(t, e.s, r1, CmdRemoveEndpoint, &RemoveEndpointRequest{EndpointID: 0}); servetest.Status(err) != dm.StatusNotFound {
		t.Errorf("Remove on an empty list: %v", err)
	}
	a := mustProvision(t, e.s, 1, req("a.example.com", 443, 0, field.NonNull[uint16](5), null))
	b := mustProvision(t, e.s, 2, req("b.example.com", 443, 2, null, null))

	if !e.s.UsesRoot(1, 0) || e.s.UsesRoot(1, 1) || e.s.UsesRoot(2, 0) || !e.s.UsesClient(1, 5) || e.s.UsesClient(2, 5) {
		t.Error("UsesRoot/UsesClient do not follow the endpoints")
	}
	if got := readEndpoints(t, e.s, servetest.Filtered(servetest.CASE(1, 1))); len(got) != 1 || got[0].EndpointID != a || got[0].FabricIndex != 1 {
		t.Errorf("fabric-filtered read: %+v", got)
	}
	if got := readEndpoints(t, e.s, servetest.CASE(1, 1)); len(got) != 2 || got[1].EndpointID != b || got[1].FabricIndex != 2 {
		t.Errorf("unfiltered read: %+v", got)
	}
	if _, err := servetest.Invoke(t, e.s, r1, CmdFindEndpoint, &FindEndpointRequest{EndpointID: b}); servetest.Status(err) != dm.StatusNotFound {
		t.Errorf("Find another fabric's: %v", err)
	}
	if _, err := servetest.Invoke(t, e.s, r1, CmdRemoveEndpoint, &RemoveEndpointRequest{EndpointID: b}); servetest.Status(err) != dm.StatusNotFound {
		t.Errorf("Remove another fabric's: %v", err)
	}

	// A user holds the endpoint: ReferenceCount shows it, and removal
	// waits for the release.
	e.changes.Reset()
	if _, err := e.s.Acquire(1, a); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Acquire(1, b); err == nil {
		t.Error("Acquire of another fabric's endpoint")
	}
	var found FindEndpointResponse
	servetest.Call(t, e.s, r1, CmdFindEndpoint, &FindEndpointRequest{EndpointID: a}, CmdFindEndpointResponse, &found)
	if found.Endpoint.ReferenceCount != 1 || !e.changes.Has(ID, AttrProvisionedEndpoints) {
		t.Errorf("ReferenceCount %d after Acquire", found.Endpoint.ReferenceCount)
	}
	// An update keeps the count.
	mustProvision(t, e.s, 1, req("a2.example.com", 443, 0, null, field.NonNull(a)))
	if _, err := servetest.Invoke(t, e.s, r1, CmdRemoveEndpoint, &RemoveEndpointRequest{EndpointID: a}); servetest.Status(err) != dm.StatusInvalidInState {
		t.Errorf("Remove while in use: %v, want INVALID_IN_STATE", err)
	}
	e.s.Release(1, a)
	e.s.Release(1, a) // one too many: ignored
	e.changes.Reset()
	if _, err := servetest.Invoke(t, e.s, r1, CmdRemoveEndpoint, &RemoveEndpointRequest{EndpointID: a}); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if !e.changes.Has(ID, AttrProvisionedEndpoints) || e.s.UsesRoot(1, 0) {
		t.Error("Remove did not take effect")
	}
	// IDs go on from the last one rather than reusing a removed one.
	if id := mustProvision(t, e.s, 1, req("c.example.com", 443, 0, null, null)); id != b+1 {
		t.Errorf("next EndpointID %d, want %d", id, b+1)
	}
}

func TestPersistence(t *testing.T) {
	dir := t.TempDir()
	store := servetest.OpenStore(t, dir)
	e := newEnv(t, store)
	a := mustProvision(t, e.s, 1, req("a.example.com", 443, 0, field.NonNull[uint16](5), null))
	mustProvision(t, e.s, 2, req("b.example.com", 8443, 2, null, null))
	gone := mustProvision(t, e.s, 1, req("gone.example.com", 443, 1, null, null))
	if _, err := servetest.Invoke(t, e.s, large(1), CmdRemoveEndpoint, &RemoveEndpointRequest{EndpointID: gone}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Acquire(1, a); err != nil {
		t.Fatal(err)
	}
	want := readEndpoints(t, e.s, large(1))
	want[0].ReferenceCount = 0 // users acquire again after a restart
	store.Close()

	e = newEnv(t, servetest.OpenStore(t, dir))
	if got := readEndpoints(t, e.s, large(1)); !slices.EqualFunc(got, want, sameEndpoint) {
		t.Errorf("after a restart: %+v, want %+v", got, want)
	}
	if id := mustProvision(t, e.s, 1, req("new.example.com", 443, 0, null, null)); id != gone+1 {
		t.Errorf("EndpointID after a restart %d, want %d", id, gone+1)
	}
}

func TestFabricRemovalAndBadRecords(t *testing.T) {
	dir := t.TempDir()
	store := servetest.OpenStore(t, dir)
	e := newEnv(t, store)
	mustProvision(t, e.s, 1, req("a.example.com", 443, 0, null, null))
	mustProvision(t, e.s, 2, req("b.example.com", 443, 2, null, null))
	e.changes.Reset()
	e.s.RetainFabrics(func(fi uint8) bool { return fi == 1 })
	if !e.changes.Has(ID, AttrProvisionedEndpoints) {
		t.Error("no change reported")
	}
	if got := readEndpoints(t, e.s, large(1)); len(got) != 1 || got[0].FabricIndex != 1 {
		t.Errorf("after RetainFabrics: %+v", got)
	}
	if _, err := store.Get(endpointKey(2)); err == nil {
		t.Error("fabric 2's endpoints still stored")
	}
	if err := store.Put(endpointKey(3), []byte("garbage")); err != nil {
		t.Fatal(err)
	}
	if err := store.Put(idsKey, []byte{0x15, 0x25, 0x00, 0xFF, 0xFF, 0x18}); err != nil { // 65535
		t.Fatal(err)
	}
	store.Close()
	e = newEnv(t, servetest.OpenStore(t, dir))
	if got := readEndpoints(t, e.s, large(1)); len(got) != 1 || got[0].FabricIndex != 1 {
		t.Errorf("after loading a bad record: %+v", got)
	}
	// An unusable counter starts again at 0 and skips the IDs in use.
	if id := mustProvision(t, e.s, 1, req("c.example.com", 443, 0, null, null)); id != 1 {
		t.Errorf("EndpointID %d, want 1", id)
	}
}

// TestWithCertificateServer wires the cluster to a real TLS Certificate
// Management server, as the root node does: a certificate an endpoint
// references cannot be removed, and one removed cannot be referenced.
func TestWithCertificateServer(t *testing.T) {
	store := servetest.Store(t)
	now := func() (time.Time, bool) { return time.Now(), true }
	var eps *Server
	cs, err := tlscertificatemanagement.New(tlscertificatemanagement.Config{Store: store, Now: now,
		RootInUse:   func(fi uint8, id uint16) bool { return eps.UsesRoot(fi, id) },
		ClientInUse: func(fi uint8, id uint16) bool { return eps.UsesClient(fi, id) }})
	if err != nil {
		t.Fatal(err)
	}
	if eps, err = New(Config{Certificates: cs, Store: store, Now: now}); err != nil {
		t.Fatal(err)
	}
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "root"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := servetest.Invoke(t, cs, large(1), tlscertificatemanagement.CmdProvisionRootCertificate,
		&tlscertificatemanagement.ProvisionRootCertificateRequest{Certificate: der, CAID: null})
	if err != nil {
		t.Fatal(err)
	}
	var root tlscertificatemanagement.ProvisionRootCertificateResponse
	servetest.Response(t, resp, tlscertificatemanagement.CmdProvisionRootCertificateResponse, &root)

	id := mustProvision(t, eps, 1, req("push.example.com", 443, root.CAID, null, null))
	remove := &tlscertificatemanagement.RemoveRootCertificateRequest{CAID: root.CAID}
	if _, err := servetest.Invoke(t, cs, large(1), tlscertificatemanagement.CmdRemoveRootCertificate, remove); servetest.Status(err) != dm.StatusInvalidInState {
		t.Errorf("removing a referenced root: %v, want INVALID_IN_STATE", err)
	}
	if _, err := servetest.Invoke(t, eps, large(1), CmdRemoveEndpoint, &RemoveEndpointRequest{EndpointID: id}); err != nil {
		t.Fatal(err)
	}
	if _, err := servetest.Invoke(t, cs, large(1), tlscertificatemanagement.CmdRemoveRootCertificate, remove); err != nil {
		t.Errorf("removing the root once unreferenced: %v", err)
	}
	_, err = provision(t, eps, 1, req("push.example.com", 443, root.CAID, null, null))
	if servetest.ClusterStatus(err) != int(StatusCodeRootCertificateNotFound) {
		t.Errorf("referencing a removed root: %v", err)
	}

	// Racing provisioning and removal never leaves an endpoint whose root
	// is gone.
	for range 20 {
		resp, err := servetest.Invoke(t, cs, large(1), tlscertificatemanagement.CmdProvisionRootCertificate,
			&tlscertificatemanagement.ProvisionRootCertificateRequest{Certificate: der, CAID: null})
		if err != nil {
			t.Fatal(err)
		}
		servetest.Response(t, resp, tlscertificatemanagement.CmdProvisionRootCertificateResponse, &root)
		var wg sync.WaitGroup
		var epErr, rmErr error
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, epErr = provision(t, eps, 1, req("race.example.com", 443, root.CAID, null, null))
		}()
		go func() {
			defer wg.Done()
			_, rmErr = servetest.Invoke(t, cs, large(1), tlscertificatemanagement.CmdRemoveRootCertificate,
				&tlscertificatemanagement.RemoveRootCertificateRequest{CAID: root.CAID})
		}()
		wg.Wait()
		if (epErr == nil) == (rmErr == nil) {
			t.Fatalf("both or neither succeeded: provision %v, remove %v", epErr, rmErr)
		}
		if epErr == nil {
			eps.FabricRemoved(1)
			cs.FabricRemoved(1)
		}
	}
}
