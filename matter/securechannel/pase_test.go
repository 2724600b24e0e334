package securechannel

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mattercam/mattercam/matter/crypto"
	"github.com/mattercam/mattercam/matter/session"
	"github.com/mattercam/mattercam/matter/transport"
)

// checkPASESession checks a PASE session pair and runs an encrypted echo
// over it in both directions.
func checkPASESession(ctx context.Context, t *testing.T, dev, ctrl *testNode, s *session.Secure) {
	t.Helper()
	if s.AuthMode() != session.AuthPASE || s.Role() != session.Initiator || s.FabricIndex() != 0 || s.PeerNodeID() != 0 {
		t.Fatalf("initiator session: auth %v role %v fabric %d peer node %#x", s.AuthMode(), s.Role(), s.FabricIndex(), s.PeerNodeID())
	}
	ds := peerSession(t, dev, s.LocalSessionID())
	if ds.AuthMode() != session.AuthPASE || ds.Role() != session.Responder || ds.PeerSessionID() != s.LocalSessionID() || ds.LocalSessionID() != s.PeerSessionID() {
		t.Fatalf("responder session: auth %v role %v ids %#04x/%#04x", ds.AuthMode(), ds.Role(), ds.LocalSessionID(), ds.PeerSessionID())
	}
	if ds.AttestationChallenge() != s.AttestationChallenge() {
		t.Fatal("attestation challenges differ")
	}
	echo(ctx, t, ctrl.mgr, s, []byte("commissioner to device"))
	echo(ctx, t, dev.mgr, ds, []byte("device to commissioner"))
}

func TestPASEInMemory(t *testing.T) {
	for _, tc := range []struct {
		name string
		mc   transport.MemConfig
	}{
		{"clean", transport.MemConfig{Seed: 1}},
		{"lossy", transport.MemConfig{Seed: 2, Conditions: lossy}},
		{"stream", transport.MemConfig{Seed: 3, Stream: true, Conditions: transport.Conditions{Delay: time.Millisecond}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				dev, ctrl := memPair(t, tc.mc, Config{}, Config{})
				if err := dev.srv.OpenPASEWindow(testWindow(t)); err != nil {
					t.Fatal(err)
				}
				network := transport.UDP
				if tc.mc.Stream {
					network = transport.TCP
				}
				for i := range 3 {
					s, err := ctrl.srv.EstablishPASE(t.Context(), transport.PeerAddr{Network: network, Addr: addrDevice}, testPasscode)
					if err != nil {
						t.Fatalf("PASE %d: %v", i, err)
					}
					checkPASESession(t.Context(), t, dev, ctrl, s)
				}
				synctest.Wait()
				if st := dev.srv.Stats(); st.PASEEstablished != 3 || st.Failed != 0 {
					t.Fatalf("device stats %+v", st)
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

// realSockets returns a device and a controller over real loopback UDP and
// TCP sockets, and the device's address on each.
func realSockets(t *testing.T, devCfg, ctrlCfg Config) (dev, ctrl *testNode, udp, tcp transport.PeerAddr, dial func(context.Context) error) {
	t.Helper()
	loop := netip.MustParseAddr("127.0.0.1")
	listen := func() (*transport.UDPTransport, *transport.TCPTransport) {
		u, err := transport.ListenUDP(transport.UDPConfig{Port: transport.AnyPort, IPv4: loop, DisableIPv6: true})
		if err != nil {
			t.Fatal(err)
		}
		tc, err := transport.ListenTCP(transport.TCPConfig{Port: transport.AnyPort, IPv4: loop, DisableIPv6: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { u.Close(); tc.Close() })
		return u, tc
	}
	ud, td := listen()
	uc, tcc := listen()
	dev = newTestNode(t, devCfg, 11, ud, td)
	ctrl = newTestNode(t, ctrlCfg, 12, uc, tcc)
	udp = transport.PeerAddr{Network: transport.UDP, Addr: netip.AddrPortFrom(loop, uint16(ud.Port()))}
	tcp = transport.PeerAddr{Network: transport.TCP, Addr: netip.AddrPortFrom(loop, uint16(td.Port()))}
	return dev, ctrl, udp, tcp, func(ctx context.Context) error { return tcc.Dial(ctx, tcp.Addr) }
}

func TestPASERealSockets(t *testing.T) {
	dev, ctrl, udp, tcp, dial := realSockets(t, Config{}, Config{})
	if err := dev.srv.OpenPASEWindow(testWindow(t)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := dial(ctx); err != nil {
		t.Fatal(err)
	}
	for _, peer := range []transport.PeerAddr{udp, tcp} {
		t.Run(peer.Network.String(), func(t *testing.T) {
			s, err := ctrl.srv.EstablishPASE(ctx, peer, testPasscode)
			if err != nil {
				t.Fatal(err)
			}
			checkPASESession(ctx, t, dev, ctrl, s)
			if ctrl.mgr.SupportsLargeMessages(s) != (peer.Network == transport.TCP) {
				t.Fatal("session is not on the expected transport")
			}
		})
	}
	checkClean(t, dev)
	checkClean(t, ctrl)
}

func TestPASEWrongPasscode(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var hook []int
		dev, ctrl := memPair(t, transport.MemConfig{Seed: 4}, Config{}, Config{})
		w := testWindow(t)
		w.OnFailure = func(n int, closed bool) { hook = append(hook, n) }
		if err := dev.srv.OpenPASEWindow(w); err != nil {
			t.Fatal(err)
		}
		_, err := ctrl.srv.EstablishPASE(t.Context(), udpPeer(addrDevice), testPasscode+1)
		// The commissioner notices first: cB does not verify.
		mustErrIs(t, err, ErrAuthentication)
		mustErrIs(t, err, crypto.ErrConfirmationFailed)
		synctest.Wait()
		if open, failures := dev.srv.PASEWindowStatus(); !open || failures != 1 || len(hook) != 1 {
			t.Fatalf("window open %v, %d failures, hook %v", open, failures, hook)
		}
		if dev.table.Len() != 0 || ctrl.table.Len() != 0 {
			t.Fatal("a session was established")
		}
		checkClean(t, dev)
		checkClean(t, ctrl)

		// The right passcode still works, and does not add a failure.
		s, err := ctrl.srv.EstablishPASE(t.Context(), udpPeer(addrDevice), testPasscode)
		if err != nil {
			t.Fatal(err)
		}
		checkPASESession(t.Context(), t, dev, ctrl, s)
		if _, failures := dev.srv.PASEWindowStatus(); failures != 1 {
			t.Fatalf("%d failures", failures)
		}
	})
}

// rawPASE runs PASE by hand over an exchange, sending a forged Pake3 (the
// commissioner skips its own check of cB), and returns what the device
// answered.
func rawPASE(t *testing.T, ctrl *testNode, peer transport.PeerAddr, passcode uint32, forge bool) error {
	ctx := t.Context()
	hs, err := ctrl.srv.open(peer)
	if err != nil {
		t.Fatal(err)
	}
	defer hs.close()
	h := &paseInitiator{passcode: passcode, localID: hs.res.ID(), rand: ctrl.srv.cfg.Rand}
	req, err := h.start()
	if err != nil {
		t.Fatal(err)
	}
	if err := send(ctx, hs.e, OpPBKDFParamRequest, req); err != nil {
		return err
	}
	_, resp, err := recv(ctx, hs.e, OpPBKDFParamResponse)
	if err != nil {
		return err
	}
	p1, err := h.handlePBKDFParamResponse(resp)
	if err != nil {
		t.Fatal(err)
	}
	if err := send(ctx, hs.e, OpPake1, p1); err != nil {
		return err
	}
	_, p2, err := recv(ctx, hs.e, OpPake2)
	if err != nil {
		return err
	}
	p3, _, err := h.handlePake2(p2)
	if forge {
		var m Pake3
		copy(m.CA[:], "not the confirmation you want!!!")
		p3, err = m.AppendTo(nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := send(ctx, hs.e, OpPake3, p3); err != nil {
		return err
	}
	return recvStatus(ctx, hs.e)
}

func TestPASEForgedConfirmation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dev, ctrl := memPair(t, transport.MemConfig{Seed: 5}, Config{}, Config{})
		if err := dev.srv.OpenPASEWindow(testWindow(t)); err != nil {
			t.Fatal(err)
		}
		err := rawPASE(t, ctrl, udpPeer(addrDevice), testPasscode+7, true)
		// The device notices and says so: FAILURE, Secure Channel,
		// INVALID_PARAMETER.
		var se *StatusError
		if !errors.As(err, &se) || se.Report.GeneralCode != GeneralFailure || !se.Report.IsSecureChannel() || se.Report.ProtocolCode != CodeInvalidParameter {
			t.Fatalf("device answered %v", err)
		}
		mustErrIs(t, err, ErrInvalidParameter)
		synctest.Wait()
		if _, failures := dev.srv.PASEWindowStatus(); failures != 1 {
			t.Fatalf("%d failures", failures)
		}
		if dev.table.Len() != 0 {
			t.Fatal("device established a session")
		}
		checkClean(t, dev)
		checkClean(t, ctrl)
	})
}

func TestPASEWindowClosesAfterFailures(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dev, ctrl := memPair(t, transport.MemConfig{Seed: 6}, Config{}, Config{})
		var calls []int
		var closedAt int
		w := testWindow(t)
		w.OnFailure = func(n int, closed bool) {
			calls = append(calls, n)
			if closed {
				closedAt = n
			}
		}
		if err := dev.srv.OpenPASEWindow(w); err != nil {
			t.Fatal(err)
		}
		for i := range DefaultMaxFailedPASEAttempts {
			_, err := ctrl.srv.EstablishPASE(t.Context(), udpPeer(addrDevice), 30000000+uint32(i))
			mustErrIs(t, err, ErrAuthentication)
			synctest.Wait()
		}
		if len(calls) != DefaultMaxFailedPASEAttempts || closedAt != DefaultMaxFailedPASEAttempts {
			t.Fatalf("hook calls %v, closed at %d", calls, closedAt)
		}
		if open, _ := dev.srv.PASEWindowStatus(); open {
			t.Fatal("window still open")
		}
		// Even the right passcode is refused now.
		_, err := ctrl.srv.EstablishPASE(t.Context(), udpPeer(addrDevice), testPasscode)
		mustErrIs(t, err, ErrInvalidParameter)
		synctest.Wait()
		checkClean(t, dev)
		checkClean(t, ctrl)
	})
}

func TestPASEBusy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dev, ctrl := memPair(t, transport.MemConfig{Seed: 7},
			Config{HandshakeTimeout: 5 * time.Second, BusyWait: 2 * time.Second}, Config{BusyRetries: -1})
		if err := dev.srv.OpenPASEWindow(testWindow(t)); err != nil {
			t.Fatal(err)
		}
		// A commissioner starts PASE and goes silent after the response.
		hs, err := ctrl.srv.open(udpPeer(addrDevice))
		if err != nil {
			t.Fatal(err)
		}
		h := &paseInitiator{passcode: testPasscode, localID: hs.res.ID(), rand: ctrl.srv.cfg.Rand}
		req, _ := h.start()
		if err := send(t.Context(), hs.e, OpPBKDFParamRequest, req); err != nil {
			t.Fatal(err)
		}
		if _, _, err := recv(t.Context(), hs.e, OpPBKDFParamResponse); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, err = ctrl.srv.EstablishPASE(t.Context(), udpPeer(addrDevice), testPasscode)
		var se *StatusError
		if !errors.As(err, &se) || !errors.Is(err, ErrBusy) || se.MinimumWait() != 2*time.Second {
			t.Fatalf("second PASE: %v", err)
		}
		// A client that retries gets through once the stalled handshake
		// times out on the device.
		retrying, err := NewClient(Config{Manager: ctrl.mgr, Sessions: ctrl.table, BusyRetries: 5})
		if err != nil {
			t.Fatal(err)
		}
		s, err := retrying.EstablishPASE(t.Context(), udpPeer(addrDevice), testPasscode)
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d < 5*time.Second || d > 10*time.Second {
			t.Fatalf("retried PASE done after %v", d)
		}
		checkPASESession(t.Context(), t, dev, ctrl, s)
		hs.close()
		synctest.Wait()
		if st := dev.srv.Stats(); st.Busy < 2 || st.PASEEstablished != 1 {
			t.Fatalf("device stats %+v", st)
		}
		synctest.Wait()
		checkClean(t, dev)
		checkClean(t, ctrl)
	})
}

func TestPASENoWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dev, ctrl := memPair(t, transport.MemConfig{Seed: 8}, Config{}, Config{})
		_, err := ctrl.srv.EstablishPASE(t.Context(), udpPeer(addrDevice), testPasscode)
		mustErrIs(t, err, ErrInvalidParameter)
		synctest.Wait()
		checkClean(t, dev)
		checkClean(t, ctrl)
	})
}

// TestPASEKnownParameters covers a commissioner that has the PBKDF
// parameters from the onboarding payload: the device must not repeat
// them.
func TestPASEKnownParameters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dev, ctrl := memPair(t, transport.MemConfig{Seed: 9}, Config{}, Config{})
		if err := dev.srv.OpenPASEWindow(testWindow(t)); err != nil {
			t.Fatal(err)
		}
		s, err := ctrl.srv.retryBusy(t.Context(), func(ctx context.Context) (*session.Secure, error) {
			return ctrl.srv.pase(ctx, udpPeer(addrDevice), &paseInitiator{
				passcode: testPasscode, knownSalt: testSalt, knownIterations: uint32(testIterations),
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		checkPASESession(t.Context(), t, dev, ctrl, s)
	})
}
