package fabric_test

import (
	"errors"
	"fmt"
	"log"
	"os"

	"github.com/mattercam/mattercam/matter/acl"
	"github.com/mattercam/mattercam/matter/cert"
	"github.com/mattercam/mattercam/matter/crypto"
	"github.com/mattercam/mattercam/matter/dm"
	"github.com/mattercam/mattercam/matter/fabric"
	"github.com/mattercam/mattercam/matter/storage"
)

// The commissioning flow as the General Commissioning and Operational
// Credentials clusters drive it, with the commissioner's certificate
// authority played by matter/cert.
func Example() {
	dir, _ := os.MkdirTemp("", "fabric-example")
	defer os.RemoveAll(dir)
	store, err := storage.Open(dir)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	fabrics, err := fabric.Open(store, fabric.Config{})
	if err != nil {
		log.Fatal(err)
	}
	acls, err := acl.Open(store, acl.Config{})
	if err != nil {
		log.Fatal(err)
	}
	// At start-up: no ACL list outlives its fabric.
	acls.RetainFabrics(fabrics.Has)

	// The commissioner's root CA.
	rootKey, _ := crypto.GenerateKey()
	rcac, _ := cert.NewRCAC(cert.Params{SerialNumber: []byte{1}, ID: 1}, rootKey)
	rcacTLV, _ := rcac.EncodeTLV()

	// ArmFailSafe, then CSRRequest.
	csr, err := fabrics.CSR(false)
	if err != nil {
		log.Fatal(err)
	}
	// The commissioner issues a NOC for the key in the CSR.
	pub, _ := cert.ParseCSR(csr)
	noc, _ := cert.NewNOC(cert.Params{SerialNumber: []byte{2}, ID: 0x1122, FabricID: 0xFAB}, pub, rcac, rootKey)
	nocTLV, _ := noc.EncodeTLV()

	// AddTrustedRootCertificate, then AddNOC with an empty ICAC.
	if err := fabrics.AddTrustedRoot(rcacTLV); err != nil {
		log.Fatal(err)
	}
	const commissioner = 0x0001
	index, err := fabrics.AddNOC(nocTLV, []byte{}, []byte("0123456789abcdef"), commissioner, 0xFFF1)
	if status, ok := fabric.StatusOf(err); ok && status != fabric.StatusOK {
		fmt.Println("NOCResponse", status)
		return
	}
	if err := acls.GrantAdmin(index, commissioner); err != nil {
		fabrics.Remove(index) // AddNOC adds the entry atomically, or nothing
		log.Fatal(err)
	}
	fmt.Println("NOCResponse OK, fabric", index, "CASE sees", len(fabrics.Fabrics()), "fabric")

	// CASE, then CommissioningComplete.
	if err := fabrics.Commit(); err != nil {
		log.Fatal(err)
	}
	admin := dm.Subject{AuthMode: dm.AuthCASE, FabricIndex: index, NodeID: commissioner}
	fmt.Println("admin may write the ACL:", acls.Check(admin, 0, 0x001F, dm.PrivilegeAdminister))

	// The same fabric again is a conflict (UpdateNOC was due).
	csr, _ = fabrics.CSR(false)
	pub, _ = cert.ParseCSR(csr)
	noc, _ = cert.NewNOC(cert.Params{SerialNumber: []byte{3}, ID: 0x3344, FabricID: 0xFAB}, pub, rcac, rootKey)
	nocTLV, _ = noc.EncodeTLV()
	fabrics.AddTrustedRoot(rcacTLV)
	_, err = fabrics.AddNOC(nocTLV, nil, []byte("0123456789abcdef"), commissioner, 0xFFF1)
	fmt.Println(errors.Is(err, fabric.ErrFabricConflict), err)
	fabrics.Revert() // the fail-safe expires

	// Output:
	// NOCResponse OK, fabric 1 CASE sees 1 fabric
	// admin may write the ACL: true
	// true fabric: FabricConflict: fabric 0x0000000000000fab of this root is fabric 1
}
