package dnssd_test

import (
	"context"
	"log"
	"time"

	"github.com/mattercam/mattercam/matter/dnssd"
)

// A camera advertises itself as commissionable, through avahi-daemon when
// the image runs it and through the embedded responder otherwise.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	adv, err := dnssd.New(ctx, dnssd.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer adv.Close()

	svc, err := dnssd.Commissionable(dnssd.CommissionableParams{
		Discriminator:     3840,
		VendorID:          0xFFF1,
		ProductID:         0x8000,
		DeviceType:        0x0142, // Camera
		CommissioningMode: dnssd.CommissioningBasic,
		Common:            dnssd.CommonParams{TCP: dnssd.TCPServer | dnssd.TCPClient},
	})
	if err != nil {
		log.Fatal(err)
	}
	h, err := adv.Publish(svc)
	if err != nil {
		log.Fatal(err)
	}

	// After commissioning: withdraw it and advertise the operational node.
	if err := adv.Withdraw(h); err != nil {
		log.Fatal(err)
	}
	var cfid [8]byte // from crypto.CompressedFabricID(rootPublicKey, fabricID)
	op, err := dnssd.Operational(cfid, 0x0000000000000001, dnssd.OperationalParams{})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := adv.Publish(op); err != nil {
		log.Fatal(err)
	}
}
