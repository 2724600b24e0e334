package securechannel_test

import (
	"context"
	"fmt"
	"log"
	"net/netip"

	"github.com/mattercam/mattercam/matter/crypto"
	"github.com/mattercam/mattercam/matter/securechannel"
	"github.com/mattercam/mattercam/matter/session"
	"github.com/mattercam/mattercam/matter/transport"
)

// node wires a session table, an exchange manager and a secure-channel
// server over one transport.
func node(tr transport.Transport) (*securechannel.Server, func()) {
	var mgr *transport.Manager
	table, err := session.NewTable(session.Config{
		NewAEAD:  crypto.NewCCM,
		OnRemove: func(s *session.Secure, _ session.RemoveReason) { mgr.CloseSession(s) },
	})
	if err != nil {
		log.Fatal(err)
	}
	mgr, err = transport.NewManager(transport.ManagerConfig{Transports: []transport.Transport{tr}, Sessions: table})
	if err != nil {
		log.Fatal(err)
	}
	srv, err := securechannel.NewServer(securechannel.Config{Manager: mgr, Sessions: table})
	if err != nil {
		log.Fatal(err)
	}
	return srv, func() { srv.Close(); mgr.Close(); tr.Close() }
}

// A device opens a commissioning window; a commissioner establishes a PASE
// session with the setup passcode.
func Example() {
	network := transport.NewMemNetwork(transport.MemConfig{})
	deviceAddr := netip.MustParseAddrPort("[fd00::1]:5540")
	td, _ := network.Listen(deviceAddr)
	tc, _ := network.Listen(netip.MustParseAddrPort("[fd00::2]:5540"))
	device, closeDevice := node(td)
	defer closeDevice()
	commissioner, closeCommissioner := node(tc)
	defer closeCommissioner()

	// The device stores only the verifier of its passcode.
	salt := []byte("SPAKE2P Key Salt")
	verifier, err := crypto.ComputePasscodeVerifier(20202021, salt, 1000)
	if err != nil {
		log.Fatal(err)
	}
	if err := device.OpenPASEWindow(securechannel.PASEWindow{Verifier: verifier, Salt: salt, Iterations: 1000}); err != nil {
		log.Fatal(err)
	}

	s, err := commissioner.EstablishPASE(context.Background(),
		transport.PeerAddr{Network: transport.UDP, Addr: deviceAddr}, 20202021)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(s.AuthMode(), s.Role(), "session, fabric", s.FabricIndex())
	// Output: PASE initiator session, fabric 0
}
