package im

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/mattercam/mattercam/matter/cert"
	"github.com/mattercam/mattercam/matter/crypto"
	"github.com/mattercam/mattercam/matter/dm"
	"github.com/mattercam/mattercam/matter/securechannel"
	"github.com/mattercam/mattercam/matter/session"
	"github.com/mattercam/mattercam/matter/tlv"
	"github.com/mattercam/mattercam/matter/transport"
)

// The end-to-end tests run a device (IM Server over a data model with test
// clusters) and a controller (IM Client) on in-memory networks, with real
// sessions established by package securechannel: CASE on a fabric built
// with package cert, or PASE with a passcode.

const (
	testFabricID = 0x2906_C908_D115_D362
	ctrlNodeID   = 0x0000_0000_0001_B669
	devNodeID    = 0x0000_0000_0000_0002
	otherNodeID  = 0x0000_0000_0000_0777
	testPasscode = 20202021
)

var (
	addrDev  = netip.MustParseAddrPort("[fd00::d]:5540")
	addrCtrl = netip.MustParseAddrPort("[fd00::c]:5540")
	addrCtl2 = netip.MustParseAddrPort("[fd00::e]:5540")
)

var testIPKEpochKey = []byte("test IPK epoch k")

// testPKI is a fabric's root CA.
type testPKI struct {
	key    *ecdsa.PrivateKey
	rcac   *cert.Certificate
	rcacB  []byte
	pub    []byte
	serial byte
}

func newPKI(t testing.TB) *testPKI {
	t.Helper()
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	p := &testPKI{key: key}
	p.pub, _ = crypto.MarshalPublicKey(&key.PublicKey)
	p.serial++
	p.rcac, err = cert.NewRCAC(cert.Params{SerialNumber: []byte{p.serial}, NotBefore: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		ID: 0xCACA_CACA_0000_0001, FabricID: testFabricID}, key)
	if err != nil {
		t.Fatal(err)
	}
	if p.rcacB, err = p.rcac.EncodeTLV(); err != nil {
		t.Fatal(err)
	}
	return p
}

// fabric issues a NOC for node and returns the node's identity.
func (p *testPKI) fabric(t testing.TB, index uint8, node uint64, cats ...session.CAT) securechannel.Fabric {
	t.Helper()
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	p.serial++
	params := cert.Params{SerialNumber: []byte{p.serial}, NotBefore: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), ID: node, FabricID: testFabricID}
	for _, c := range cats {
		params.CATs = append(params.CATs, cert.CAT(c))
	}
	noc, err := cert.NewNOC(params, &key.PublicKey, p.rcac, p.key)
	if err != nil {
		t.Fatal(err)
	}
	nocB, err := noc.EncodeTLV()
	if err != nil {
		t.Fatal(err)
	}
	cfid, err := crypto.CompressedFabricID(p.pub, testFabricID)
	if err != nil {
		t.Fatal(err)
	}
	ipk, err := crypto.DeriveOperationalGroupKey(testIPKEpochKey, cfid)
	if err != nil {
		t.Fatal(err)
	}
	return securechannel.Fabric{Index: index, FabricID: testFabricID, NodeID: node, RootPublicKey: p.pub,
		RCAC: p.rcacB, NOC: nocB, Key: key, IPK: ipk}
}

// node is one side: session table, exchange manager, secure channel.
type node struct {
	table *session.Table
	mgr   *transport.Manager
	sc    *securechannel.Server
}

func newNode(t testing.TB, cfg securechannel.Config, seed uint64, trs ...transport.Transport) *node {
	return newNodeMax(t, cfg, seed, 0, trs...)
}

// newNodeMax is newNode with a per-session exchange limit (0: the default).
func newNodeMax(t testing.TB, cfg securechannel.Config, seed uint64, maxEx int, trs ...transport.Transport) *node {
	t.Helper()
	n := &node{}
	var err error
	n.table, err = session.NewTable(session.Config{
		NewAEAD: crypto.NewCCM,
		OnRemove: func(s *session.Secure, _ session.RemoveReason) {
			if n.mgr != nil {
				n.mgr.CloseSession(s)
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	n.mgr, err = transport.NewManager(transport.ManagerConfig{Transports: trs, Sessions: n.table, Rand: rand.New(rand.NewPCG(seed, 0x1e)), Logger: testLogger,
		MaxExchanges: 4 * maxEx, MaxExchangesPerSession: maxEx})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Manager, cfg.Sessions = n.mgr, n.table
	if n.sc, err = securechannel.NewServer(cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		n.sc.Close()
		n.mgr.Close()
	})
	return n
}

// envOpts shape a test environment.
type envOpts struct {
	tcp          bool                         // add a stream network (TCP) beside the datagram one
	cond         transport.Conditions         // datagram network conditions
	srv          func(*Config)                // adjusts the server's configuration
	cli          func(*ClientConfig)          // adjusts the client's configuration
	devParams    session.Params               // the device's session parameters
	listLen      int                          // items of BigList
	acl          func(*fakeACL)               // adjusts the ACL
	events       func(*dm.EventsConfig)       // adjusts the event log
	extra        func(*dm.Node, *dm.Endpoint) // adds clusters to endpoint 1
	maxExchanges int                          // the device's per-session exchange limit, 0 for the default
}

// env is a device and a controller with a CASE session over UDP.
type env struct {
	t       testing.TB
	pki     *testPKI
	pki2    *testPKI // a second fabric the device is on
	devFab  securechannel.Fabric
	ctrlFab securechannel.Fabric
	dev     *node
	ctrl    *node
	dm      *dm.Node
	c1, c2  *testCluster // endpoints 1 and 2
	acl     *fakeACL
	events  *dm.Events
	store   *memStore
	srv     *Server
	cli     *Client
	ctrl2   *node           // the second controller, after otherFabric
	cli2    *Client         // its client
	udp     *session.Secure // controller side, CASE over UDP
	udpDev  *session.Secure // device side of udp
	udpNet  *transport.MemNetwork
	tcpNet  *transport.MemNetwork
}

func newEnv(t testing.TB, o envOpts) *env {
	t.Helper()
	ctx := context.Background()
	en := &env{t: t, pki: newPKI(t), pki2: newPKI(t)}
	en.devFab = en.pki.fabric(t, 1, devNodeID)
	en.ctrlFab = en.pki.fabric(t, 1, ctrlNodeID, session.CAT(0x0001_0001))
	devFab2 := en.pki2.fabric(t, 2, devNodeID)

	en.udpNet = transport.NewMemNetwork(transport.MemConfig{Seed: 7, Conditions: o.cond})
	devTr, ctrlTr := listen(t, en.udpNet, addrDev), listen(t, en.udpNet, addrCtrl)
	devTrs, ctrlTrs := []transport.Transport{devTr}, []transport.Transport{ctrlTr}
	if o.tcp {
		en.tcpNet = transport.NewMemNetwork(transport.MemConfig{Seed: 8, Stream: true})
		devTrs = append(devTrs, listen(t, en.tcpNet, addrDev))
		ctrlTrs = append(ctrlTrs, listen(t, en.tcpNet, addrCtrl))
	}
	params := o.devParams
	en.dev = newNodeMax(t, securechannel.Config{Fabrics: securechannel.FabricList{en.devFab, devFab2}, Params: params}, 1, o.maxExchanges, devTrs...)
	en.ctrl = newNode(t, securechannel.Config{Fabrics: securechannel.FabricList{en.ctrlFab}}, 2, ctrlTrs...)

	en.dm = dm.NewNode()
	ep0 := dm.NewEndpoint(0, dm.DeviceType{Type: 0x0016, Revision: 3})
	ep1 := dm.NewEndpoint(1, dm.DeviceType{Type: 0x0142, Revision: 1})
	ep2 := dm.NewEndpoint(2)
	listLen := o.listLen
	if listLen == 0 {
		listLen = 4
	}
	en.c1 = newTestCluster(en.dm, 1, listLen)
	en.c2 = newTestCluster(en.dm, 2, 2)
	ep1.Add(en.c1)
	ep2.Add(en.c2)
	if o.extra != nil {
		o.extra(en.dm, ep1)
	}
	for _, e := range []*dm.Endpoint{ep0, ep1, ep2} {
		if err := en.dm.AddEndpoint(e); err != nil {
			t.Fatal(err)
		}
	}
	en.acl = newACL(dm.PrivilegeAdminister)
	if o.acl != nil {
		o.acl(en.acl)
	}
	en.store = &memStore{}
	ecfg := dm.EventsConfig{Store: en.store, Reserve: 16,
		Now: func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }}
	if o.events != nil {
		o.events(&ecfg)
	}
	var err error
	if en.events, err = dm.NewEvents(ecfg); err != nil {
		t.Fatal(err)
	}
	cliCfg := ClientConfig{Manager: en.ctrl.mgr, RegisterHandler: true}
	if o.cli != nil {
		o.cli(&cliCfg)
	}
	if en.cli, err = NewClient(cliCfg); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Manager: en.dev.mgr, Node: en.dm, Access: en.acl, Events: en.events,
		MaxPathsPerInvoke: int(params.MaxPathsPerInvoke)}
	if o.srv != nil {
		o.srv(&cfg)
	}
	if en.srv, err = NewServer(cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		en.cli.Close()
		en.srv.Close()
	})
	en.udp = en.caseSession(ctx, transport.UDP)
	en.udpDev = en.devSide(en.udp)
	return en
}

func listen(t testing.TB, n *transport.MemNetwork, a netip.AddrPort) *transport.MemTransport {
	t.Helper()
	tr, err := n.Listen(a)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

// caseSession establishes a CASE session from the controller over network.
func (en *env) caseSession(ctx context.Context, network transport.Network) *session.Secure {
	en.t.Helper()
	s, err := en.ctrl.sc.EstablishCASE(ctx, transport.PeerAddr{Network: network, Addr: addrDev}, en.ctrlFab, devNodeID)
	if err != nil {
		en.t.Fatalf("CASE over %v: %v", network, err)
	}
	// With resumption the initiator's last message is its StatusReport, and
	// the device installs the session only when it has processed it: wait
	// for that, or a request sent at once over TCP (no retransmission)
	// races the installation and is dropped.
	en.devSide(s)
	return s
}

// otherFabric returns a CASE session to the device from a second
// controller, otherNodeID on fabric 2 (fabric index 2 on the device).
func (en *env) otherFabric(ctx context.Context) *session.Secure {
	en.t.Helper()
	fab := en.pki2.fabric(en.t, 1, otherNodeID)
	n := newNode(en.t, securechannel.Config{Fabrics: securechannel.FabricList{fab}}, 3, listen(en.t, en.udpNet, addrCtl2))
	cli, err := NewClient(ClientConfig{Manager: n.mgr, RegisterHandler: true})
	if err != nil {
		en.t.Fatal(err)
	}
	en.t.Cleanup(func() { cli.Close() })
	en.cli2 = cli
	en.ctrl2 = n
	s, err := n.sc.EstablishCASE(ctx, transport.PeerAddr{Network: transport.UDP, Addr: addrDev}, fab, devNodeID)
	if err != nil {
		en.t.Fatal(err)
	}
	en.devSide(s)
	return s
}

// paseSession opens a commissioning window and runs PASE.
func (en *env) paseSession(ctx context.Context) *session.Secure {
	en.t.Helper()
	salt := []byte("SPAKE2P Key Salt")
	v, err := crypto.ComputePasscodeVerifier(testPasscode, salt, 1000)
	if err != nil {
		en.t.Fatal(err)
	}
	if err := en.dev.sc.OpenPASEWindow(securechannel.PASEWindow{Verifier: v, Salt: salt, Iterations: 1000}); err != nil {
		en.t.Fatal(err)
	}
	s, err := en.ctrl.sc.EstablishPASE(ctx, transport.PeerAddr{Network: transport.UDP, Addr: addrDev}, testPasscode)
	if err != nil {
		en.t.Fatalf("PASE: %v", err)
	}
	en.devSide(s)
	return s
}

// devSide returns the device's end of a session the controller holds.
func (en *env) devSide(s *session.Secure) *session.Secure {
	en.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, d := range en.dev.table.Sessions() {
			if d.PeerSessionID() == s.LocalSessionID() {
				return d
			}
		}
		if time.Now().After(deadline) {
			en.t.Fatalf("no device session for %#04x", s.LocalSessionID())
		}
		time.Sleep(time.Millisecond)
	}
}

// raw is a hand-driven IM exchange from the controller, for requests the
// Client would not send.
type raw struct {
	t  testing.TB
	ex *transport.Exchange
}

func (en *env) raw(s transport.Session) *raw {
	en.t.Helper()
	ex, err := en.ctrl.mgr.NewExchange(s, Protocol)
	if err != nil {
		en.t.Fatal(err)
	}
	en.t.Cleanup(func() { ex.Close() })
	return &raw{t: en.t, ex: ex}
}

type wireMessage interface {
	AppendTo([]byte) ([]byte, error)
	Unmarshal([]byte) error
}

func (r *raw) send(op Opcode, m wireMessage) {
	r.t.Helper()
	b, err := m.AppendTo(nil)
	if err != nil {
		r.t.Fatal(err)
	}
	r.sendBytes(op, b)
}

func (r *raw) sendBytes(op Opcode, b []byte) {
	r.t.Helper()
	if err := r.ex.Send(context.Background(), uint8(op), b); err != nil {
		r.t.Fatalf("send %v: %v", op, err)
	}
}

// recv receives the next message, which must have opcode op, into m.
func (r *raw) recv(op Opcode, m wireMessage) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	msg, err := r.ex.Receive(ctx)
	if err != nil {
		r.t.Fatalf("receive %v: %v", op, err)
	}
	if Opcode(msg.Opcode) != op {
		var sr StatusResponse
		_ = sr.Unmarshal(msg.Payload)
		r.t.Fatalf("received %v (%v), want %v", Opcode(msg.Opcode), sr.Status, op)
	}
	if err := m.Unmarshal(msg.Payload); err != nil {
		r.t.Fatalf("decode %v: %v", op, err)
	}
}

// status receives a StatusResponse and checks its status.
func (r *raw) status(want dm.Status) {
	r.t.Helper()
	var sr StatusResponse
	r.recv(OpStatusResponse, &sr)
	if sr.Status != want {
		r.t.Fatalf("StatusResponse %v, want %v", sr.Status, want)
	}
}

// statusOf returns the IM status of an error from the client.
func statusOf(err error) dm.Status {
	var se *dm.StatusError
	if errors.As(err, &se) {
		return se.Status
	}
	if err == nil {
		return dm.StatusSuccess
	}
	return 0xFF
}

// u32 encodes a uint32 value with an anonymous tag.
func u32(v uint32) []byte {
	var w tlv.Writer
	w.PutUint(tlv.AnonymousTag(), uint64(v))
	b, _ := w.Bytes()
	return b
}

// decodeU32 decodes an attribute's data as a uint32.
func decodeU32(t testing.TB, data []byte) uint32 {
	t.Helper()
	r := tlv.NewReader(data)
	if err := r.Next(); err != nil {
		t.Fatal(err)
	}
	v, err := r.Uint32()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// pingFields encodes the fields of a Ping command.
func pingFields(v uint32) []byte {
	var w tlv.Writer
	w.StartStructure(tlv.AnonymousTag())
	w.PutUint(tlv.ContextTag(0), uint64(v))
	w.EndContainer()
	b, _ := w.Bytes()
	return b
}

// subtest runs one case of a table inside a synctest bubble, where t.Run
// is not allowed; the log names the case a failure belongs to.
func subtest(t *testing.T, name string, f func(t *testing.T)) {
	t.Helper()
	t.Logf("case %q", name)
	f(t)
}

var testLogger *slog.Logger

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
