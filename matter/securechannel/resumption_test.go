package securechannel

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/mattercam/mattercam/matter/transport"
)

func rec(id byte, fabric uint8, node uint64) ResumptionRecord {
	return ResumptionRecord{ID: [16]byte{id}, SharedSecret: []byte{id, id}, FabricIndex: fabric, FabricID: uint64(fabric), PeerNodeID: node}
}

func TestResumptionStore(t *testing.T) {
	s := NewResumptionStore(3)
	s.Save(rec(1, 1, 10))
	s.Save(rec(2, 1, 11))
	s.Save(rec(3, 2, 10))
	if s.Len() != 3 {
		t.Fatalf("%d records", s.Len())
	}
	// One record per peer: a new session with node 10 on fabric 1
	// replaces its record.
	s.Save(rec(4, 1, 10))
	if _, ok := s.ByID([16]byte{1}); ok {
		t.Fatal("replaced record still found by ID")
	}
	if r, ok := s.ByPeer(1, 10); !ok || r.ID != [16]byte{4} {
		t.Fatalf("by peer: %v %v", r.ID, ok)
	}
	// Records returned are copies.
	r, _ := s.ByID([16]byte{4})
	r.SharedSecret[0] = 99
	if r2, _ := s.ByID([16]byte{4}); r2.SharedSecret[0] != 4 {
		t.Fatal("caller changed the stored secret")
	}
	// Full: the least recently used goes. Touch 2 and 4; 3 is oldest.
	s.ByID([16]byte{2})
	s.ByPeer(1, 10)
	s.Save(rec(5, 3, 12))
	if _, ok := s.ByID([16]byte{3}); ok || s.Len() != 3 {
		t.Fatalf("LRU record kept; %d records", s.Len())
	}
	s.RemoveFabric(1)
	if s.Len() != 1 {
		t.Fatalf("%d records after removing fabric 1", s.Len())
	}
	if _, ok := s.ByPeer(3, 12); !ok {
		t.Fatal("other fabric's record removed")
	}
	s.Remove([16]byte{5})
	if s.Len() != 0 {
		t.Fatal("record not removed")
	}
	if d := NewResumptionStore(0); d.cap != DefaultResumptionCapacity {
		t.Fatalf("default capacity %d", d.cap)
	}
}

// TestServerClose: closing a server aborts the handshakes it is answering,
// unregisters it, and gives back their Session IDs.
func TestServerClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dev, ctrl := memPair(t, transport.MemConfig{Seed: 41}, Config{}, Config{BusyRetries: -1, HandshakeTimeout: 3 * time.Second})
		if err := dev.srv.OpenPASEWindow(testWindow(t)); err != nil {
			t.Fatal(err)
		}
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
		done := make(chan struct{})
		go func() {
			dev.srv.Close()
			close(done)
		}()
		<-done // returns once the stalled handshake has been aborted
		hs.close()
		if open, _ := dev.srv.PASEWindowStatus(); open {
			t.Fatal("window open after Close")
		}
		if err := dev.srv.OpenPASEWindow(testWindow(t)); err == nil {
			t.Fatal("window opened on a closed server")
		}
		// Nobody answers the Secure Channel any more.
		if _, err := ctrl.srv.EstablishPASE(t.Context(), udpPeer(addrDevice), testPasscode); err == nil {
			t.Fatal("PASE with a closed server")
		}
		// The device's table made contexts for those unanswered
		// requests; housekeeping drops them.
		synctest.Wait()
		settle(t, dev, ctrl)
		checkClean(t, dev)
		checkClean(t, ctrl)
	})
}
