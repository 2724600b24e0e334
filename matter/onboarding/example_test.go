package onboarding_test

import (
	"fmt"

	"github.com/mattercam/mattercam/matter/onboarding"
)

func ExamplePayload_QR() {
	p := onboarding.Payload{
		VendorID:              0xFFF1,
		ProductID:             0x8001,
		DiscoveryCapabilities: onboarding.OnNetwork,
		Discriminator:         3840,
		Passcode:              20202021,
	}
	qr, err := p.QR()
	if err != nil {
		panic(err)
	}
	code, err := p.ManualCode()
	if err != nil {
		panic(err)
	}
	fmt.Println(qr)
	fmt.Println(onboarding.FormatManualCode(code))
	// Output:
	// MT:-24J0AFN00KA0648G00
	// 3497-011-2332
}

func ExampleParseManualCode() {
	p, err := onboarding.ParseManualCode("3497-011-2332")
	if err != nil {
		panic(err)
	}
	fmt.Println(p.Passcode, p.ShortDiscriminatorValue())
	// Output: 20202021 15
}
