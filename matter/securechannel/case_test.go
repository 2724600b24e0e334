package securechannel

import (
	"context"
	"crypto/rand"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mattercam/mattercam/matter/session"
	"github.com/mattercam/mattercam/matter/transport"
)

const (
	testFabricID = 0x2906_C908_D115_D362
	ctrlNodeID   = 0x0000_0000_0001_B669
	devNodeID    = 0x0000_0000_0000_0002
	testCAT      = session.CAT(0x0001_0001)
)

// casePKI is one fabric with a controller and a device on it.
type casePKI struct {
	root      *testCA
	ctrl, dev Fabric
}

func newCasePKI(t testing.TB) *casePKI {
	root := testRoot(t, testFabricID)
	return &casePKI{
		root: root,
		ctrl: root.fabricFor(t, 1, testFabricID, ctrlNodeID, true, testCAT),
		dev:  root.fabricFor(t, 1, testFabricID, devNodeID, false),
	}
}

func (p *casePKI) configs() (dev, ctrl Config) {
	return Config{Fabrics: FabricList{p.dev}},
		Config{Fabrics: FabricList{p.ctrl}}
}

// checkCASESession checks a CASE session pair and runs an encrypted echo
// over it in both directions.
func checkCASESession(ctx context.Context, t *testing.T, dev, ctrl *testNode, s *session.Secure, devFabric, ctrlFabric *Fabric) {
	t.Helper()
	if s.AuthMode() != session.AuthCASE || s.Role() != session.Initiator || s.FabricIndex() != ctrlFabric.Index ||
		s.PeerNodeID() != devFabric.NodeID || s.LocalNodeID() != ctrlFabric.NodeID {
		t.Fatalf("initiator session: auth %v role %v fabric %d nodes %#x→%#x", s.AuthMode(), s.Role(), s.FabricIndex(), s.LocalNodeID(), s.PeerNodeID())
	}
	ds := peerSession(t, dev, s.LocalSessionID())
	if ds.AuthMode() != session.AuthCASE || ds.Role() != session.Responder || ds.FabricIndex() != devFabric.Index ||
		ds.PeerNodeID() != ctrlFabric.NodeID || ds.LocalNodeID() != devFabric.NodeID || ds.PeerSessionID() != s.LocalSessionID() {
		t.Fatalf("responder session: auth %v role %v fabric %d nodes %#x→%#x", ds.AuthMode(), ds.Role(), ds.FabricIndex(), ds.LocalNodeID(), ds.PeerNodeID())
	}
	if ds.PeerCATs() != (session.CATs{testCAT}) {
		t.Fatalf("responder sees CATs %v", ds.PeerCATs())
	}
	if s.Resumption() == nil || ds.Resumption() == nil || s.Resumption().ID != ds.Resumption().ID {
		t.Fatal("resumption records differ")
	}
	echo(ctx, t, ctrl.mgr, s, []byte("controller to device"))
	echo(ctx, t, dev.mgr, ds, []byte("device to controller"))
}

func TestCASEInMemory(t *testing.T) {
	for _, tc := range []struct {
		name string
		mc   transport.MemConfig
	}{
		{"clean", transport.MemConfig{Seed: 21}},
		{"lossy", transport.MemConfig{Seed: 22, Conditions: lossy}},
		{"stream", transport.MemConfig{Seed: 23, Stream: true, Conditions: transport.Conditions{Delay: time.Millisecond}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				pki := newCasePKI(t)
				devCfg, ctrlCfg := pki.configs()
				var announced atomic.Int32
				devCfg.OnEstablished = func(s *session.Secure) {
					if s.AuthMode() == session.AuthCASE && s.PeerNodeID() == ctrlNodeID {
						announced.Add(1)
					}
				}
				dev, ctrl := memPair(t, tc.mc, devCfg, ctrlCfg)
				network := transport.UDP
				if tc.mc.Stream {
					network = transport.TCP
				}
				peer := transport.PeerAddr{Network: network, Addr: addrDevice}
				// The first is a full exchange; the next two resume.
				for i := range 3 {
					s, err := ctrl.srv.EstablishCASE(t.Context(), peer, pki.ctrl, devNodeID)
					if err != nil {
						t.Fatalf("CASE %d: %v", i, err)
					}
					checkCASESession(t.Context(), t, dev, ctrl, s, &pki.dev, &pki.ctrl)
				}
				synctest.Wait()
				if st := dev.srv.Stats(); st.CASEEstablished != 1 || st.CASEResumed != 2 || st.Failed != 0 || announced.Load() != 3 {
					t.Fatalf("device stats %+v, %d sessions announced", st, announced.Load())
				}
				if tc.mc.Conditions.Loss > 0 && dev.mgr.Stats().Retransmitted+ctrl.mgr.Stats().Retransmitted == 0 {
					t.Fatal("nothing was retransmitted on the lossy network")
				}
				synctest.Wait()
				settle(t, dev, ctrl)
				checkClean(t, dev)
				checkClean(t, ctrl)
			})
		})
	}
}

func TestCASERealSockets(t *testing.T) {
	pki := newCasePKI(t)
	devCfg, ctrlCfg := pki.configs()
	dev, ctrl, udp, tcp, dial := realSockets(t, devCfg, ctrlCfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := dial(ctx); err != nil {
		t.Fatal(err)
	}
	for _, peer := range []transport.PeerAddr{udp, tcp} {
		t.Run(peer.Network.String(), func(t *testing.T) {
			ctrl.srv.Resumptions().RemoveFabric(pki.ctrl.Index) // a full exchange each time
			s, err := ctrl.srv.EstablishCASE(ctx, peer, pki.ctrl, devNodeID)
			if err != nil {
				t.Fatal(err)
			}
			checkCASESession(ctx, t, dev, ctrl, s, &pki.dev, &pki.ctrl)
			s, err = ctrl.srv.EstablishCASE(ctx, peer, pki.ctrl, devNodeID) // resumed
			if err != nil {
				t.Fatal(err)
			}
			checkCASESession(ctx, t, dev, ctrl, s, &pki.dev, &pki.ctrl)
		})
	}
	waitStats(t, dev.srv, func(st Stats) bool { return st.CASEEstablished == 2 && st.CASEResumed == 2 })
	checkClean(t, dev)
	checkClean(t, ctrl)
}

// TestCASEFabricSelection puts the device on three fabrics: Sigma1's
// destination ID selects the one the controller is on.
func TestCASEFabricSelection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		roots := []*testCA{testRoot(t, 0xA), testRoot(t, 0xB), testRoot(t, 0xC)}
		var devFabrics FabricList
		for i, r := range roots {
			devFabrics = append(devFabrics, r.fabricFor(t, uint8(i+1), uint64(0xA+i), devNodeID+uint64(i), false))
		}
		ctrlFabric := roots[1].fabricFor(t, 7, 0xB, ctrlNodeID, false, testCAT)
		dev, ctrl := memPair(t, transport.MemConfig{Seed: 24},
			Config{Fabrics: devFabrics}, Config{})
		s, err := ctrl.srv.EstablishCASE(t.Context(), udpPeer(addrDevice), ctrlFabric, devFabrics[1].NodeID)
		if err != nil {
			t.Fatal(err)
		}
		checkCASESession(t.Context(), t, dev, ctrl, s, &devFabrics[1], &ctrlFabric)
	})
}

func TestCASEFailures(t *testing.T) {
	pki := newCasePKI(t)
	otherRoot := testRoot(t, testFabricID)
	// A controller whose NOC another root issued, but which claims the
	// fabric's root key, IPK and ID, so that its destination ID matches.
	forged := otherRoot.fabricFor(t, 1, testFabricID, ctrlNodeID, false)
	forged.RootPublicKey, forged.RCAC, forged.IPK = pki.ctrl.RootPublicKey, pki.ctrl.RCAC, pki.ctrl.IPK
	// The same for the device.
	forgedDev := otherRoot.fabricFor(t, 1, testFabricID, devNodeID, false)
	forgedDev.RootPublicKey, forgedDev.RCAC, forgedDev.IPK = pki.dev.RootPublicKey, pki.dev.RCAC, pki.dev.IPK
	wrongIPK := pki.ctrl
	wrongIPK.IPK = []byte("another IPK 16 B")

	for _, tc := range []struct {
		name      string
		devFabric Fabric
		ctrl      Fabric
		peerNode  uint64
		want      error
	}{
		{"unknown destination (IPK)", pki.dev, wrongIPK, devNodeID, ErrNoSharedTrustRoots},
		{"unknown destination (node)", pki.dev, pki.ctrl, devNodeID + 1, ErrNoSharedTrustRoots},
		{"initiator NOC from another root", pki.dev, forged, devNodeID, ErrInvalidParameter},
		{"responder NOC from another root", forgedDev, pki.ctrl, devNodeID, ErrAuthentication},
		{"initiator NOC expired", pki.dev, pki.ctrl, devNodeID, ErrInvalidParameter},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				devCfg := Config{Fabrics: FabricList{tc.devFabric}}
				if tc.name == "initiator NOC expired" {
					devCfg.CertificateTime = func() time.Time { return certNotAfter.Add(time.Hour) }
				}
				dev, ctrl := memPair(t, transport.MemConfig{Seed: 25}, devCfg, Config{})
				_, err := ctrl.srv.EstablishCASE(t.Context(), udpPeer(addrDevice), tc.ctrl, tc.peerNode)
				mustErrIs(t, err, tc.want)
				synctest.Wait()
				if dev.table.Len() != 0 || ctrl.table.Len() != 0 {
					t.Fatal("a session was established")
				}
				synctest.Wait()
				if dev.srv.Stats().Failed != 1 {
					t.Fatalf("device stats %+v", dev.srv.Stats())
				}
				checkClean(t, dev)
				checkClean(t, ctrl)
			})
		})
	}
}

// caseMessages runs the state machines of both sides without a network up
// to Sigma2, and returns them with Sigma1 and Sigma2.
func caseMessages(t *testing.T, pki *casePKI) (*caseInitiator, *caseResponder, []byte) {
	t.Helper()
	ini := &caseInitiator{fabric: &pki.ctrl, peerNodeID: devNodeID, verify: testVerify, localID: 1, rand: rand.Reader}
	resp := &caseResponder{fabrics: []Fabric{pki.dev}, verify: testVerify, localID: 2, rand: rand.Reader}
	sigma1, err := ini.start()
	if err != nil {
		t.Fatal(err)
	}
	op, sigma2, err := resp.handleSigma1(sigma1)
	if err != nil || op != OpSigma2 {
		t.Fatalf("Sigma1: %v %v", op, err)
	}
	return ini, resp, sigma2
}

// TestCASETamperedSigma2 flips one bit at every octet of encrypted2 (and of
// the rest of Sigma2): the initiator rejects each, unchanged, and still
// accepts the genuine message.
func TestCASETamperedSigma2(t *testing.T) {
	pki := newCasePKI(t)
	ini, resp, sigma2 := caseMessages(t, pki)
	var m Sigma2
	if err := m.Unmarshal(sigma2); err != nil {
		t.Fatal(err)
	}
	for i := range m.Encrypted2 {
		for _, bit := range []byte{0x01, 0x80} {
			bad := m
			bad.Encrypted2 = append([]byte(nil), m.Encrypted2...)
			bad.Encrypted2[i] ^= bit
			msg, err := bad.AppendTo(nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := ini.handleSigma2(msg); !errors.Is(err, ErrAuthentication) {
				t.Fatalf("encrypted2 octet %d bit %#x: %v", i, bit, err)
			}
		}
	}
	// Outside encrypted2 a change may survive Sigma2 (the responder
	// session ID and the encoding are not covered by S2K), but then the
	// transcripts differ and the responder rejects Sigma3.
	for i := range sigma2 {
		bad := append([]byte(nil), sigma2...)
		bad[i] ^= 0x04
		fork := *ini
		sigma3, _, err := fork.handleSigma2(bad)
		if err != nil {
			continue
		}
		if _, err := resp.handleSigma3(sigma3); !errors.Is(err, ErrAuthentication) {
			t.Fatalf("Sigma2 octet %d flipped: accepted by both sides (%v)", i, err)
		}
	}
	if ini.state != caseAwaitSigma2 {
		t.Fatalf("state %v after rejected messages", ini.state)
	}
	if _, _, err := ini.handleSigma2(sigma2); err != nil {
		t.Fatal(err)
	}
}

// TestCASETamperedSigma3 does the same to Sigma3 at the responder.
func TestCASETamperedSigma3(t *testing.T) {
	pki := newCasePKI(t)
	ini, resp, sigma2 := caseMessages(t, pki)
	sigma3, want, err := ini.handleSigma2(sigma2)
	if err != nil {
		t.Fatal(err)
	}
	var m Sigma3
	if err := m.Unmarshal(sigma3); err != nil {
		t.Fatal(err)
	}
	for i := range m.Encrypted3 {
		for _, bit := range []byte{0x01, 0x80} {
			bad := Sigma3{Encrypted3: append([]byte(nil), m.Encrypted3...)}
			bad.Encrypted3[i] ^= bit
			msg, err := bad.AppendTo(nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := resp.handleSigma3(msg); !errors.Is(err, ErrAuthentication) {
				t.Fatalf("encrypted3 octet %d bit %#x: %v", i, bit, err)
			}
		}
	}
	for i := range sigma3 {
		bad := append([]byte(nil), sigma3...)
		bad[i] ^= 0x04
		if _, err := resp.handleSigma3(bad); err == nil {
			t.Fatalf("Sigma3 octet %d flipped: accepted", i)
		}
	}
	got, err := resp.handleSigma3(sigma3)
	if err != nil {
		t.Fatal(err)
	}
	if got.keys != want.keys || got.peer.NodeID != ctrlNodeID || got.peer.CATs != (session.CATs{testCAT}) {
		t.Fatalf("responder result %+v", got.peer)
	}
}

func TestCASEResumptionFallback(t *testing.T) {
	for _, tc := range []struct {
		name   string
		spoil  func(dev, ctrl *testNode, pki *casePKI)
		resume bool
	}{
		{"resumed", func(dev, ctrl *testNode, pki *casePKI) {}, true},
		{"responder forgot", func(dev, ctrl *testNode, pki *casePKI) {
			dev.srv.Resumptions().RemoveFabric(pki.dev.Index)
		}, false},
		{"wrong secret", func(dev, ctrl *testNode, pki *casePKI) {
			r, _ := ctrl.srv.Resumptions().ByPeer(pki.ctrl.Index, devNodeID)
			r.SharedSecret[0] ^= 1
			ctrl.srv.Resumptions().Save(r)
		}, false},
		{"fabric gone", func(dev, ctrl *testNode, pki *casePKI) {
			// The device's fabric 1 was removed and re-added as fabric
			// 2 with the same root: the old record must not be used.
			pki.dev.Index = 2
			dev.srv.cfg.Fabrics.(*fabricSet).set(pki.dev)
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				pki := newCasePKI(t)
				devCfg, ctrlCfg := pki.configs()
				devCfg.Fabrics = &fabricSet{list: FabricList{pki.dev}}
				dev, ctrl := memPair(t, transport.MemConfig{Seed: 26}, devCfg, ctrlCfg)
				first, err := ctrl.srv.EstablishCASE(t.Context(), udpPeer(addrDevice), pki.ctrl, devNodeID)
				if err != nil {
					t.Fatal(err)
				}
				tc.spoil(dev, ctrl, pki)
				s, err := ctrl.srv.EstablishCASE(t.Context(), udpPeer(addrDevice), pki.ctrl, devNodeID)
				if err != nil {
					t.Fatal(err)
				}
				checkCASESession(t.Context(), t, dev, ctrl, s, &pki.dev, &pki.ctrl)
				synctest.Wait()
				st := dev.srv.Stats()
				if tc.resume != (st.CASEResumed == 1) || st.CASEEstablished+st.CASEResumed != 2 {
					t.Fatalf("device stats %+v", st)
				}
				if s.Resumption().ID == first.Resumption().ID {
					t.Fatal("resumption ID reused")
				}
				// Both sides now hold the new ID, for the next time.
				r, ok := ctrl.srv.Resumptions().ByPeer(pki.ctrl.Index, devNodeID)
				if !ok || r.ID != s.Resumption().ID {
					t.Fatal("initiator's record not updated")
				}
				if _, ok := dev.srv.Resumptions().ByID(s.Resumption().ID); !ok {
					t.Fatal("responder's record not updated")
				}
				if _, ok := dev.srv.Resumptions().ByID(first.Resumption().ID); ok {
					t.Fatal("responder kept the used resumption ID")
				}
			})
		})
	}
}

func TestCASEBusy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pki := newCasePKI(t)
		devCfg, ctrlCfg := pki.configs()
		devCfg.MaxHandshakes, devCfg.BusyWait = 1, 1500*time.Millisecond
		ctrlCfg.BusyRetries = -1
		dev, ctrl := memPair(t, transport.MemConfig{Seed: 27}, devCfg, ctrlCfg)
		// A controller sends Sigma1, gets Sigma2, and goes silent.
		hs, err := ctrl.srv.open(udpPeer(addrDevice))
		if err != nil {
			t.Fatal(err)
		}
		h := &caseInitiator{fabric: &pki.ctrl, peerNodeID: devNodeID, verify: testVerify, localID: hs.res.ID(), rand: rand.Reader}
		sigma1, _ := h.start()
		if err := send(t.Context(), hs.e, OpSigma1, sigma1); err != nil {
			t.Fatal(err)
		}
		if _, _, err := recv(t.Context(), hs.e, OpSigma2); err != nil {
			t.Fatal(err)
		}
		_, err = ctrl.srv.EstablishCASE(t.Context(), udpPeer(addrDevice), pki.ctrl, devNodeID)
		var se *StatusError
		if !errors.As(err, &se) || !errors.Is(err, ErrBusy) || se.MinimumWait() != 1500*time.Millisecond {
			t.Fatalf("second CASE: %v", err)
		}
		hs.close()
		// After the handshake timeout the device is free again.
		time.Sleep(DefaultHandshakeTimeout + time.Second)
		s, err := ctrl.srv.EstablishCASE(t.Context(), udpPeer(addrDevice), pki.ctrl, devNodeID)
		if err != nil {
			t.Fatal(err)
		}
		checkCASESession(t.Context(), t, dev, ctrl, s, &pki.dev, &pki.ctrl)
		synctest.Wait()
		settle(t, dev, ctrl)
		checkClean(t, dev)
		checkClean(t, ctrl)
	})
}

// TestCloseSession: the CloseSession StatusReport removes the session on
// both sides.
func TestCloseSession(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pki := newCasePKI(t)
		devCfg, ctrlCfg := pki.configs()
		dev, ctrl := memPair(t, transport.MemConfig{Seed: 28}, devCfg, ctrlCfg)
		s, err := ctrl.srv.EstablishCASE(t.Context(), udpPeer(addrDevice), pki.ctrl, devNodeID)
		if err != nil {
			t.Fatal(err)
		}
		ds := peerSession(t, dev, s.LocalSessionID())
		if err := ctrl.srv.CloseSession(t.Context(), s); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if !s.Closed() || !ds.Closed() || dev.table.Len() != 0 || ctrl.table.Len() != 0 {
			t.Fatalf("sessions left: device %d, controller %d", dev.table.Len(), ctrl.table.Len())
		}
	})
}

// fabricSet is a Fabrics that tests change between handshakes.
type fabricSet struct {
	mu   sync.Mutex
	list FabricList
}

func (f *fabricSet) Fabrics() []Fabric {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Fabric(nil), f.list...)
}

func (f *fabricSet) set(l ...Fabric) {
	f.mu.Lock()
	f.list = l
	f.mu.Unlock()
}
