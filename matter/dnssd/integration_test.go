package dnssd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

var (
	testCFID = [8]byte{0x87, 0xE1, 0xB0, 0x04, 0xE2, 0x35, 0xA1, 0x30}
	lanPeer4 = netip.MustParseAddr("192.0.2.2")
	devAddr4 = netip.MustParseAddr("192.0.2.1")
	devULA   = netip.MustParseAddr("fd00::1")
)

func testLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func commissionableFor(t *testing.T, instance string, discriminator uint16) Service {
	t.Helper()
	s, err := Commissionable(CommissionableParams{
		Instance: instance, Discriminator: discriminator, VendorID: 65521, ProductID: 32768,
		DeviceType: 0x0142, CommissioningMode: CommissioningBasic, DeviceName: "Camera",
		Common: CommonParams{SessionIdleInterval: 500 * time.Millisecond, SessionActiveInterval: 300 * time.Millisecond, TCP: TCPServer},
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// noGoroutines fails if a goroutine is still running code of the given
// type after Close (every goroutine has an owner and a stop path).
func noGoroutines(t *testing.T, marker string) {
	t.Helper()
	var buf []byte
	for i := 0; i < 50; i++ {
		buf = make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		if !strings.Contains(string(buf), marker) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("goroutines of %s still running after Close:\n%s", marker, buf)
}

func answerOf[T dns.RR](m *dns.Msg, name string) T {
	var zero T
	for _, rr := range append(slices.Clone(m.Answer), m.Extra...) {
		if v, ok := rr.(T); ok && equalName(rr.Header().Name, name) {
			return v
		}
	}
	return zero
}

func hasPTR(name, target string) func(*dns.Msg) bool {
	return func(m *dns.Msg) bool {
		for _, rr := range m.Answer {
			if p, ok := rr.(*dns.PTR); ok && equalName(p.Hdr.Name, name) && equalName(p.Ptr, target) && p.Hdr.Ttl > 0 {
				return true
			}
		}
		return false
	}
}

// TestInNetnsResponderWire checks the embedded responder on the wire from
// another namespace with miekg/dns: legacy unicast and full mDNS queries
// over IPv4 and IPv6, subtype browsing, additional records, per-link
// addresses, goodbyes, and re-announcement when an address is added.
func TestInNetnsResponderWire(t *testing.T) {
	lab := needLab(t)
	r, err := NewResponder(ResponderConfig{PollInterval: 200 * time.Millisecond, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	wantHost, _ := HostNameFromMAC(lab.devMAC)
	host := r.Host()
	if host != wantHost+".local." {
		t.Fatalf("host %q, want %q (dev0's MAC)", host, wantHost+".local.")
	}
	s := commissionableFor(t, "0123456789ABCDEF", 3840)
	fqdn := s.Instance + "._matterc._udp.local."
	op, err := Operational(testCFID, 0x8FC7772401CD0696, OperationalParams{Common: CommonParams{TCP: TCPServer | TCPClient}})
	if err != nil {
		t.Fatal(err)
	}
	opFQDN := op.Instance + "._matter._tcp.local."
	hs, err := r.Publish(s)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Publish(op); err != nil {
		t.Fatal(err)
	}

	var legacy, q4, q6 *mdnsPeer
	if err := lab.inPeer(func() (err error) {
		if legacy, err = newPeer("lan0", false, 0); err != nil {
			return err
		}
		if q4, err = newPeer("lan0", false, mdnsPort); err != nil {
			return err
		}
		q6, err = newPeer("lan0", true, mdnsPort)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer legacy.Close()
	defer q4.Close()
	defer q6.Close()

	t.Run("legacy unicast subtype browse over IPv4", func(t *testing.T) {
		m := query(0x1234, q("_L3840._sub._matterc._udp.local.", dns.TypePTR))
		resp, err := legacy.exchange(m, 8*time.Second, hasPTR("_L3840._sub._matterc._udp.local.", fqdn))
		if err != nil {
			t.Fatal(err)
		}
		if resp.src.Addr() != devAddr4 || resp.src.Port() != mdnsPort {
			t.Errorf("reply from %v, want %v:5353", resp.src, devAddr4)
		}
		if resp.msg.Id != 0x1234 || len(resp.msg.Question) != 1 || resp.msg.Question[0] != m.Question[0] {
			t.Errorf("reply id %#x question %v: RFC 6762 §6.7 wants both echoed", resp.msg.Id, resp.msg.Question)
		}
		for _, rr := range append(resp.msg.Answer, resp.msg.Extra...) {
			if rr.Header().Ttl > 10 || rr.Header().Class != dns.ClassINET {
				t.Errorf("legacy record %v: TTL > 10 or cache-flush set", rr)
			}
		}
		srv := answerOf[*dns.SRV](resp.msg, fqdn)
		if srv == nil || srv.Port != 5540 || !equalName(srv.Target, host) {
			t.Errorf("SRV %v, want port 5540 target %s", srv, host)
		}
		txt := answerOf[*dns.TXT](resp.msg, fqdn)
		if txt == nil {
			t.Fatal("no TXT in the additional section")
		}
		for _, kv := range []string{"D=3840", "VP=65521+32768", "CM=1", "DT=322", "DN=Camera", "SII=500", "SAI=300", "T=4"} {
			if !slices.Contains(txtStrings(txt), kv) {
				t.Errorf("TXT %q lacks %s", txtStrings(txt), kv)
			}
		}
		var a4 []string
		var a6 []netip.Addr
		for _, rr := range resp.msg.Extra {
			switch v := rr.(type) {
			case *dns.A:
				a4 = append(a4, v.A.String())
			case *dns.AAAA:
				a, _ := netip.AddrFromSlice(v.AAAA)
				a6 = append(a6, a)
			}
		}
		// Only dev0's addresses: nothing from lo leaks onto the link.
		if !slices.Equal(a4, []string{"192.0.2.1"}) {
			t.Errorf("A records %v, want only 192.0.2.1", a4)
		}
		if !slices.Contains(a6, devULA) || !slices.Contains(a6, lab.devLL) || slices.Contains(a6, netip.IPv6Loopback()) {
			t.Errorf("AAAA records %v, want %v and %v, not ::1", a6, devULA, lab.devLL)
		}
	})

	t.Run("mDNS query over IPv6 for the operational service", func(t *testing.T) {
		resp, err := q6.exchange(query(0, q("_matter._tcp.local.", dns.TypePTR)), 8*time.Second, hasPTR("_matter._tcp.local.", opFQDN))
		if err != nil {
			t.Fatal(err)
		}
		if resp.msg.Id != 0 || !resp.msg.Authoritative || len(resp.msg.Question) != 0 {
			t.Errorf("mDNS response header id=%d aa=%v q=%d (RFC 6762 §18)", resp.msg.Id, resp.msg.Authoritative, len(resp.msg.Question))
		}
		srv := answerOf[*dns.SRV](resp.msg, opFQDN)
		if srv == nil || srv.Hdr.Class != dns.ClassINET|classCacheFlush || srv.Hdr.Ttl != 120 {
			t.Errorf("SRV %v: want cache-flush and TTL 120", srv)
		}
		txt := answerOf[*dns.TXT](resp.msg, opFQDN)
		if txt == nil || !slices.Equal(txtStrings(txt), []string{"T=6"}) {
			t.Errorf("TXT %v, want T=6", txt)
		}
		if answerOf[*dns.AAAA](resp.msg, host) == nil {
			t.Errorf("no AAAA for %s in %v", host, resp.msg)
		}
	})

	t.Run("compressed fabric subtype over IPv4 mDNS", func(t *testing.T) {
		name := fmt.Sprintf("_I%X._sub._matter._tcp.local.", testCFID[:])
		if _, err := q4.exchange(query(0, q(name, dns.TypePTR)), 8*time.Second, hasPTR(name, opFQDN)); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("AAAA over IPv6", func(t *testing.T) {
		resp, err := q6.exchange(query(0, q(host, dns.TypeAAAA)), 5*time.Second, func(m *dns.Msg) bool {
			return answerOf[*dns.AAAA](m, host) != nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if answerOf[*dns.A](resp.msg, host) == nil {
			t.Errorf("the A record should come along as additional: %v", resp.msg)
		}
	})

	t.Run("added address is announced, removed one says goodbye", func(t *testing.T) {
		want := net.ParseIP("192.0.2.5")
		if err := sh("ip", "addr", "add", "192.0.2.5/24", "dev", "dev0"); err != nil {
			t.Fatal(err)
		}
		got := q4.recv(4*time.Second, func(m *dns.Msg) bool {
			a := answerOf[*dns.A](m, host)
			return m.Response && a != nil && slices.ContainsFunc(m.Answer, func(rr dns.RR) bool {
				v, ok := rr.(*dns.A)
				return ok && v.A.Equal(want) && v.Hdr.Ttl > 0 && v.Hdr.Class&classCacheFlush != 0
			})
		})
		if len(got) == 0 {
			t.Fatal("no announcement of 192.0.2.5 with cache-flush")
		}
		if err := sh("ip", "addr", "del", "192.0.2.5/24", "dev", "dev0"); err != nil {
			t.Fatal(err)
		}
		got = q4.recv(4*time.Second, func(m *dns.Msg) bool {
			return m.Response && slices.ContainsFunc(m.Answer, func(rr dns.RR) bool {
				v, ok := rr.(*dns.A)
				return ok && v.A.Equal(want) && v.Hdr.Ttl == 0
			})
		})
		if len(got) == 0 {
			t.Fatal("no goodbye for 192.0.2.5")
		}
	})

	t.Run("withdraw sends goodbyes", func(t *testing.T) {
		if err := r.Withdraw(hs); err != nil {
			t.Fatal(err)
		}
		got := q4.recv(2*time.Second, func(m *dns.Msg) bool {
			srv := answerOf[*dns.SRV](m, fqdn)
			return m.Response && srv != nil && srv.Hdr.Ttl == 0
		})
		if len(got) == 0 {
			t.Fatal("no goodbye (TTL 0 SRV) after Withdraw")
		}
		if _, err := legacy.exchange(query(1, q(fqdn, dns.TypeSRV)), time.Second, func(*dns.Msg) bool { return true }); err == nil {
			t.Fatal("withdrawn service still answers")
		}
		if err := r.Withdraw(hs); !errors.Is(err, ErrUnknownHandle) {
			t.Fatalf("second Withdraw: %v", err)
		}
	})

	t.Run("close says goodbye to the host", func(t *testing.T) {
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		got := q4.recv(2*time.Second, func(m *dns.Msg) bool {
			a := answerOf[*dns.A](m, host)
			return m.Response && a != nil && a.Hdr.Ttl == 0
		})
		if len(got) == 0 {
			t.Fatal("no goodbye for the host's A record on Close")
		}
		if _, err := r.Publish(s); !errors.Is(err, ErrClosed) {
			t.Fatalf("Publish after Close: %v", err)
		}
		noGoroutines(t, "dnssd.(*Responder)")
	})
}

// TestInNetnsResponderAvahiPeer resolves the embedded responder's services
// with avahi-browse and avahi-resolve: Avahi runs in the peer namespace and
// sees us only over the veth link.
func TestInNetnsResponderAvahiPeer(t *testing.T) {
	lab := needLab(t)
	r, err := NewResponder(ResponderConfig{Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	host := strings.TrimSuffix(r.Host(), ".") // "<MAC>.local"
	s := commissionableFor(t, "00000000000000A1", 3840)
	op, err := Operational(testCFID, 0x42, OperationalParams{Common: CommonParams{TCP: TCPServer}})
	if err != nil {
		t.Fatal(err)
	}
	hs, err := r.Publish(s)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Publish(op); err != nil {
		t.Fatal(err)
	}

	find := func(typ, instance string) func() ([]browsed, error) {
		return func() ([]browsed, error) {
			var hits []browsed
			for _, b := range lab.browse(t, typ) {
				if b.instance == instance {
					hits = append(hits, b)
				}
			}
			if len(hits) == 0 {
				return nil, fmt.Errorf("avahi-browse -rpt %s does not list %q", typ, instance)
			}
			return hits, nil
		}
	}

	t.Run("subtype browse resolves with TXT", func(t *testing.T) {
		eventually(t, 15*time.Second, "browse _L3840", func() error {
			hits, err := find("_L3840._sub._matterc._udp", s.Instance)()
			if err != nil {
				return err
			}
			var v4, v6 bool
			for _, b := range hits {
				if b.iface != "lan0" || b.port != 5540 || b.host != host {
					return fmt.Errorf("resolved %+v, want lan0, port 5540, host %s", b, host)
				}
				for _, kv := range []string{"D=3840", "VP=65521+32768", "CM=1", "DT=322", "DN=Camera", "T=4"} {
					if !slices.Contains(b.txt, kv) {
						return fmt.Errorf("TXT %q lacks %s", b.txt, kv)
					}
				}
				// Avahi picks one address per resolved line, of either
				// family; it must be one of dev0's.
				switch b.addr {
				case "192.0.2.1", devULA.String(), lab.devLL.String():
				default:
					return fmt.Errorf("resolved to %s, not one of dev0's addresses", b.addr)
				}
				v4 = v4 || b.proto == "IPv4"
				v6 = v6 || b.proto == "IPv6"
			}
			if !v4 || !v6 {
				return fmt.Errorf("found over IPv4 %v, IPv6 %v; want both: %+v", v4, v6, hits)
			}
			return nil
		})
	})

	t.Run("short discriminator, vendor, device type and commissioning mode subtypes", func(t *testing.T) {
		for _, sub := range []string{"_S15", "_V65521", "_T322", "_CM"} {
			eventually(t, 10*time.Second, "browse "+sub, func() error {
				_, err := find(sub+"._sub._matterc._udp", s.Instance)()
				return err
			})
		}
	})

	t.Run("operational service and _I subtype", func(t *testing.T) {
		eventually(t, 10*time.Second, "browse _matter._tcp", func() error {
			_, err := find("_matter._tcp", op.Instance)()
			return err
		})
		eventually(t, 10*time.Second, "browse _I", func() error {
			_, err := find(fmt.Sprintf("_I%X._sub._matter._tcp", testCFID[:]), op.Instance)()
			return err
		})
	})

	t.Run("avahi-resolve finds the host", func(t *testing.T) {
		for _, c := range []struct{ flag, want string }{{"-4", "192.0.2.1"}, {"-6", ""}} {
			eventually(t, 10*time.Second, "avahi-resolve "+c.flag, func() error {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				out, err := lab.avahiCmd(ctx, "avahi-resolve", c.flag, "-n", host)
				if err != nil {
					return fmt.Errorf("%v: %s", err, out)
				}
				f := strings.Fields(out)
				if len(f) != 2 || !strings.EqualFold(f[0], host) {
					return fmt.Errorf("output %q", out)
				}
				if c.want != "" && f[1] != c.want {
					return fmt.Errorf("resolved %s, want %s", f[1], c.want)
				}
				if c.want == "" && f[1] != devULA.String() && f[1] != lab.devLL.String() {
					return fmt.Errorf("resolved %s, want one of dev0's IPv6 addresses", f[1])
				}
				return nil
			})
		}
	})

	t.Run("withdrawn service disappears from Avahi's cache", func(t *testing.T) {
		if err := r.Withdraw(hs); err != nil {
			t.Fatal(err)
		}
		eventually(t, 8*time.Second, "goodbye reaching avahi", func() error {
			if hits, err := find("_matterc._udp", s.Instance)(); err == nil {
				return fmt.Errorf("still listed: %+v", hits)
			}
			return nil
		})
	})
}

// TestInNetnsResponderConflictWithAvahi lets avahi-daemon own an instance
// name first; the responder's probe meets Avahi's answer and renames
// (RFC 6762 §8.1, §9).
func TestInNetnsResponderConflictWithAvahi(t *testing.T) {
	lab := needLab(t)
	pub, err := startProc(lab.avahiTool(context.Background(), "avahi-publish", "-s", "Conflicted", "_matterc._udp", "1234", "D=1"))
	if err != nil {
		t.Fatal(err)
	}
	defer pub.stop()
	eventually(t, 10*time.Second, "avahi-publish", func() error {
		for _, b := range lab.browse(t, "_matterc._udp") {
			if b.instance == "Conflicted" && b.port == 1234 {
				return nil
			}
		}
		return errors.New("avahi's service is not up")
	})

	r, err := NewResponder(ResponderConfig{Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	s := commissionableFor(t, "Conflicted", 3840)
	if _, err := r.Publish(s); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "renamed service", func() error {
		var avahis, ours bool
		for _, b := range lab.browse(t, "_matterc._udp") {
			switch {
			case b.instance == "Conflicted" && b.port == 1234:
				avahis = true
			case b.instance == "Conflicted (2)" && b.port == 5540:
				ours = true
			case b.instance == "Conflicted" && b.port == 5540:
				return errors.New("the responder took a name Avahi owns")
			}
		}
		if !avahis || !ours {
			return fmt.Errorf("avahi's %v, ours renamed %v", avahis, ours)
		}
		return nil
	})
}

// TestInNetnsAvahiBackend publishes through a private avahi-daemon over
// D-Bus and checks the result both in Avahi (avahi-browse) and on the wire
// (miekg/dns from the device namespace).
func TestInNetnsAvahiBackend(t *testing.T) {
	lab := needLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	a, err := DialAvahi(ctx, AvahiConfig{BusAddress: lab.bus, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	s := commissionableFor(t, "BACKEND000000001", 1234)
	fqdn := s.Instance + "._matterc._udp.local."
	h, err := a.Publish(s)
	if err != nil {
		t.Fatal(err)
	}
	listed := func(typ, instance string) (browsed, bool) {
		for _, b := range lab.browse(t, typ) {
			if b.instance == instance {
				return b, true
			}
		}
		return browsed{}, false
	}
	eventually(t, 10*time.Second, "avahi-browse _L1234", func() error {
		b, ok := listed("_L1234._sub._matterc._udp", s.Instance)
		if !ok {
			return errors.New("not listed")
		}
		if b.port != 5540 || b.host != "peerhost.local" || !slices.Contains(b.txt, "D=1234") {
			return fmt.Errorf("resolved %+v", b)
		}
		return nil
	})

	wire, err := newPeer("dev0", false, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer wire.Close()
	txtOnWire := func() ([]string, error) {
		resp, err := wire.exchange(query(7, q(fqdn, dns.TypeTXT)), 3*time.Second, func(m *dns.Msg) bool {
			return answerOf[*dns.TXT](m, fqdn) != nil
		})
		if err != nil {
			return nil, err
		}
		return txtStrings(answerOf[*dns.TXT](resp.msg, fqdn)), nil
	}

	t.Run("on the wire", func(t *testing.T) {
		resp, err := wire.exchange(query(9, q("_L1234._sub._matterc._udp.local.", dns.TypePTR)), 8*time.Second,
			hasPTR("_L1234._sub._matterc._udp.local.", fqdn))
		if err != nil {
			t.Fatal(err)
		}
		if resp.src.Addr() != lanPeer4 {
			t.Errorf("answered by %v, want avahi on %v", resp.src, lanPeer4)
		}
		txt, err := txtOnWire()
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(txt, "D=1234") || !slices.Contains(txt, "CM=1") {
			t.Fatalf("TXT on the wire %q", txt)
		}
	})

	t.Run("TXT update", func(t *testing.T) {
		u := s.Clone()
		for i, kv := range u.TXT {
			if kv == "CM=1" {
				u.TXT[i] = "CM=0"
			}
		}
		if err := a.Update(h, u); err != nil {
			t.Fatal(err)
		}
		eventually(t, 5*time.Second, "updated TXT on the wire", func() error {
			txt, err := txtOnWire()
			if err != nil {
				return err
			}
			if !slices.Contains(txt, "CM=0") {
				return fmt.Errorf("TXT %q", txt)
			}
			return nil
		})
	})

	t.Run("local collision takes avahi's alternative name", func(t *testing.T) {
		h2, err := a.Publish(s)
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, "renamed second service", func() error {
			if _, ok := listed("_matterc._udp", s.Instance+" #2"); !ok {
				return errors.New("no " + s.Instance + " #2")
			}
			return nil
		})
		if err := a.Withdraw(h2); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("new instance name", func(t *testing.T) {
		u := s.Clone()
		u.Instance = "BACKEND000000002"
		if err := a.Update(h, u); err != nil {
			t.Fatal(err)
		}
		s = u
		fqdn = s.Instance + "._matterc._udp.local."
		eventually(t, 10*time.Second, "renamed via Update", func() error {
			if _, ok := listed("_matterc._udp", "BACKEND000000002"); !ok {
				return errors.New("new name not listed")
			}
			if _, ok := listed("_matterc._udp", "BACKEND000000001"); ok {
				return errors.New("old name still listed")
			}
			return nil
		})
	})

	t.Run("avahi-daemon restart re-registers", func(t *testing.T) {
		lab.stopAvahi()
		if err := lab.startAvahi(); err != nil {
			t.Fatal(err)
		}
		eventually(t, 15*time.Second, "service back after restart", func() error {
			if _, ok := listed("_L1234._sub._matterc._udp", s.Instance); !ok {
				return errors.New("not listed after restart")
			}
			return nil
		})
	})

	t.Run("withdraw", func(t *testing.T) {
		if err := a.Withdraw(h); err != nil {
			t.Fatal(err)
		}
		eventually(t, 8*time.Second, "withdrawn", func() error {
			if _, ok := listed("_matterc._udp", s.Instance); ok {
				return errors.New("still listed")
			}
			return nil
		})
		if _, err := wire.exchange(query(3, q(fqdn, dns.TypeSRV)), time.Second, func(*dns.Msg) bool { return true }); err == nil {
			t.Fatal("withdrawn service still answered on the wire")
		}
	})

	t.Run("close", func(t *testing.T) {
		if err := a.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Publish(s); !errors.Is(err, ErrClosed) {
			t.Fatalf("Publish after Close: %v", err)
		}
		noGoroutines(t, "dnssd.(*Avahi)")
	})
}

// TestInNetnsNew checks backend selection and that NewAvahi fails fast
// with a clear error.
func TestInNetnsNew(t *testing.T) {
	lab := needLab(t)
	ctx := context.Background()

	t.Run("picks Avahi when reachable", func(t *testing.T) {
		adv, err := New(ctx, Config{Avahi: AvahiConfig{BusAddress: lab.bus}, Logger: testLogger()})
		if err != nil {
			t.Fatal(err)
		}
		defer adv.Close()
		if _, ok := adv.(*Avahi); !ok {
			t.Fatalf("got %T, want *Avahi", adv)
		}
	})

	t.Run("NewAvahi uses the system bus address", func(t *testing.T) {
		t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", lab.bus)
		a, err := NewAvahi(ctx)
		if err != nil {
			t.Fatal(err)
		}
		a.Close()
	})

	t.Run("falls back to the embedded responder", func(t *testing.T) {
		adv, err := New(ctx, Config{Avahi: AvahiConfig{BusAddress: "unix:path=/nonexistent/bus"}, Logger: testLogger()})
		if err != nil {
			t.Fatal(err)
		}
		defer adv.Close()
		if _, ok := adv.(*Responder); !ok {
			t.Fatalf("got %T, want *Responder", adv)
		}
	})

	t.Run("no bus", func(t *testing.T) {
		start := time.Now()
		_, err := DialAvahi(ctx, AvahiConfig{BusAddress: "unix:path=/nonexistent/bus"})
		if err == nil || !strings.Contains(err.Error(), "no D-Bus system bus") {
			t.Fatalf("err = %v", err)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("took %v to fail", d)
		}
	})

	t.Run("bus without avahi", func(t *testing.T) {
		sock := filepath.Join(lab.dir, "bus2")
		conf := filepath.Join(lab.dir, "bus2.conf")
		if err := os.WriteFile(conf, []byte(busConfig(sock)), 0o644); err != nil {
			t.Fatal(err)
		}
		bus, err := startProc(exec.Command("dbus-daemon", "--config-file="+conf, "--nofork", "--nopidfile"))
		if err != nil {
			t.Fatal(err)
		}
		defer bus.stop()
		if err := waitBus("unix:path=" + sock); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, err = DialAvahi(ctx, AvahiConfig{BusAddress: "unix:path=" + sock})
		if err == nil || !strings.Contains(err.Error(), "avahi-daemon is not on the bus") {
			t.Fatalf("err = %v", err)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("took %v to fail", d)
		}
	})
}
