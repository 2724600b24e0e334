package attestation_test

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/mattercam/mattercam/matter/attestation"
	"github.com/mattercam/mattercam/matter/onboarding"
)

// At start-up the firmware reads its factory data file, and uses the
// development identity when there is none.
func Example_startup() {
	fd, err := attestation.Load("/nonexistent/factory.json")
	if errors.Is(err, fs.ErrNotExist) {
		fd, err = attestation.Development()
	}
	if err != nil {
		panic(err)
	}
	p := onboarding.Payload{
		VendorID:              fd.VendorID,
		ProductID:             fd.ProductID,
		DiscoveryCapabilities: onboarding.OnNetwork,
		Discriminator:         fd.Discriminator,
		Passcode:              fd.Passcode,
	}
	qr, _ := p.QR()
	code, _ := p.ManualCode()
	fmt.Println(qr, code)
	// Output: MT:Y.K90AFN00KA0648G00 34970112332
}

// A "factory" command: flags into Options, Generate, WriteFile.
func Example_factoryCommand() {
	out := filepath.Join(os.TempDir(), "example-factory.json")
	defer os.Remove(out)
	args := []string{"-o", out, "-seed", "example", "-passcode", "34567890", "-store-passcode"}

	var o attestation.Options
	set := flag.NewFlagSet("mattercam factory", flag.ContinueOnError)
	path := set.String("o", "factory.json", "write the factory data to `file`")
	o.Flags(set)
	if err := set.Parse(args); err != nil {
		panic(err)
	}
	fd, err := attestation.Generate(o)
	if err != nil {
		panic(err)
	}
	if err := fd.WriteFile(*path); err != nil {
		panic(err)
	}
	back, err := attestation.Load(*path)
	if err != nil {
		panic(err)
	}
	fmt.Printf("0x%04X 0x%04X %d\n", back.VendorID, back.ProductID, back.Passcode)
	// Output: 0xFFF1 0x8000 34567890
}
