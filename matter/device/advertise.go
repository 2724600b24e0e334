package device

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/mattercam/mattercam/matter/crypto"
	"github.com/mattercam/mattercam/matter/dnssd"
	"github.com/mattercam/mattercam/matter/session"
)

// cameraDeviceType is advertised in the commissionable service (DT, _T).
const cameraDeviceType = 0x0142

// advertisePoll is how often the advertised services are reconciled with
// the node's state. Polling one small comparison keeps every change —
// a window opened by a command or closed by a successful PASE, a fabric
// added, updated or removed — on one path (Core §4.3.1: advertise
// _matterc._udp exactly while a window is open; §4.3.2: one _matter._tcp
// instance per fabric).
const advertisePoll = 250 * time.Millisecond

type published struct {
	key    string
	handle dnssd.Handle
	svc    dnssd.Service
}

// advertise owns the DNS-SD services until ctx ends.
func (d *Device) advertise(ctx context.Context, adv dnssd.Advertiser) {
	defer d.wg.Done()
	defer adv.Close()
	common := dnssd.CommonParams{
		SessionIdleInterval: session.DefaultIdleInterval, SessionActiveInterval: session.DefaultActiveInterval,
		SessionActiveThreshold: session.DefaultActiveThreshold, TCP: dnssd.TCPClient | dnssd.TCPServer,
	}
	// Each window gets its own instance name: re-announcing the same name
	// with other subtypes right after its goodbye confuses caches.
	instance, instanceKey := dnssd.RandomInstanceName(), ""
	var live []published
	t := time.NewTicker(advertisePoll)
	defer t.Stop()
	for {
		want := map[string]dnssd.Service{}
		if open, _ := d.sc.PASEWindowStatus(); open {
			mode := dnssd.CommissioningBasic
			if d.enhanced.Load() {
				mode = dnssd.CommissioningEnhanced
			}
			f := d.cfg.Factory
			key := fmt.Sprintf("c/%d/%d", d.discriminator.Load(), mode)
			if key != instanceKey {
				instance, instanceKey = dnssd.RandomInstanceName(), key
			}
			svc, err := dnssd.Commissionable(dnssd.CommissionableParams{
				Instance: instance, Port: uint16(d.Port()), Discriminator: uint16(d.discriminator.Load()),
				VendorID: f.VendorID, ProductID: f.ProductID, DeviceType: cameraDeviceType,
				DeviceName: f.ProductName, CommissioningMode: mode, Common: common,
			})
			if err == nil {
				// A new window is a new service (new subtypes must be
				// probed and announced), not an update of the old one.
				want[key] = svc
			} else {
				d.log.Error("commissionable service", "err", err)
			}
		}
		for _, fab := range d.fabrics() {
			cfid, err := crypto.CompressedFabricID(fab.RootPublicKey, fab.FabricID)
			if err != nil {
				continue
			}
			svc, err := dnssd.Operational(cfid, fab.NodeID, dnssd.OperationalParams{Port: uint16(d.Port()), Common: common})
			if err == nil {
				want[svc.Instance] = svc
			}
		}
		live = d.reconcile(adv, live, want)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// reconcile withdraws what is no longer wanted and publishes or updates
// what is.
func (d *Device) reconcile(adv dnssd.Advertiser, live []published, want map[string]dnssd.Service) []published {
	live = slices.DeleteFunc(live, func(p published) bool {
		if _, ok := want[p.key]; ok {
			return false
		}
		if err := adv.Withdraw(p.handle); err != nil {
			d.log.Debug("withdraw service", "err", err)
		}
		d.log.Info("withdrew service", "type", p.svc.Type, "instance", p.svc.Instance)
		return true
	})
	for key, svc := range want {
		i := slices.IndexFunc(live, func(p published) bool { return p.key == key })
		if i >= 0 {
			if !sameService(live[i].svc, svc) {
				if err := adv.Update(live[i].handle, svc); err != nil {
					d.log.Warn("update service", "err", err)
				}
				live[i].svc = svc
			}
			continue
		}
		h, err := adv.Publish(svc)
		if err != nil {
			d.log.Warn("publish service", "type", svc.Type, "err", err)
			continue
		}
		live = append(live, published{key: key, handle: h, svc: svc})
		d.log.Info("advertising", "type", svc.Type, "instance", svc.Instance, "subtypes", svc.Subtypes)
	}
	return live
}

func sameService(a, b dnssd.Service) bool {
	return a.Instance == b.Instance && a.Type == b.Type && a.Port == b.Port &&
		slices.Equal(a.Subtypes, b.Subtypes) && slices.Equal(a.TXT, b.TXT)
}
