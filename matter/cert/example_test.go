package cert_test

import (
	"fmt"
	"log"
	"time"

	"github.com/mattercam/mattercam/matter/cert"
	"github.com/mattercam/mattercam/matter/crypto"
)

// A commissioner issues a root and a NOC for a node's CSR; the node's peer
// later receives the NOC in TLV form and validates it against the root.
func Example() {
	rootKey, err := crypto.GenerateKey()
	if err != nil {
		log.Fatal(err)
	}
	nodeKey, err := crypto.GenerateKey()
	if err != nil {
		log.Fatal(err)
	}
	validity := cert.Params{
		NotBefore: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:  time.Date(2035, 1, 1, 0, 0, 0, 0, time.UTC),
	}

	// The node asks for a NOC.
	csr, err := cert.CreateCSR(nodeKey)
	if err != nil {
		log.Fatal(err)
	}

	// The commissioner takes the key from the CSR and issues the chain.
	p := validity
	p.SerialNumber, p.ID, p.FabricID = []byte{1}, 0xCACACACA00000001, 0x2906C908D115D362
	rcac, err := cert.NewRCAC(p, rootKey)
	if err != nil {
		log.Fatal(err)
	}
	nodePub, err := cert.ParseCSR(csr)
	if err != nil {
		log.Fatal(err)
	}
	p = validity
	p.SerialNumber, p.ID, p.FabricID = []byte{2}, 0x0000_0000_0000_0042, 0x2906C908D115D362
	p.CATs = []cert.CAT{0xABCD_0001}
	noc, err := cert.NewNOC(p, nodePub, rcac, rootKey)
	if err != nil {
		log.Fatal(err)
	}
	nocTLV, err := noc.EncodeTLV()
	if err != nil {
		log.Fatal(err)
	}

	// A peer holding the root validates the NOC it received.
	received, err := cert.DecodeTLV(nocTLV)
	if err != nil {
		log.Fatal(err)
	}
	id, err := cert.Verify(rcac, nil, received, cert.VerifyOptions{
		Now: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC),
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("node %016X on fabric %016X, CATs %v\n", id.NodeID, id.FabricID, id.CATs)
	// Output: node 0000000000000042 on fabric 2906C908D115D362, CATs [ABCD0001]
}
