package dnssd

import (
	"net"
	"testing"

	"github.com/miekg/dns"
)

// FuzzResolutionAdd feeds arbitrary datagrams to a resolution, as a hostile
// or broken responder on the link could. It must never panic, what it keeps
// must stay within its bounds, and whatever it resolves must be usable.
func FuzzResolutionAdd(f *testing.F) {
	inst := OperationalInstanceName([8]byte{1, 2, 3, 4, 5, 6, 7, 8}, 9)
	fqdn := inst + "._matter._tcp.local."
	seed := func(rrs ...dns.RR) {
		m := new(dns.Msg)
		m.Response = true
		m.Answer = rrs[:1]
		m.Extra = rrs[1:]
		m.Compress = true
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, "eth0")
	}
	seed(&dns.SRV{Hdr: hdr(fqdn, dns.TypeSRV, 120), Port: 5540, Target: "host.local."},
		&dns.TXT{Hdr: hdr(fqdn, dns.TypeTXT, 4500), Txt: []string{"SII=500", "SAI=300", "T=6", "ICD=0"}},
		&dns.AAAA{Hdr: hdr("host.local.", dns.TypeAAAA, 120), AAAA: net.ParseIP("fe80::1")},
		&dns.A{Hdr: hdr("host.local.", dns.TypeA, 120), A: net.ParseIP("192.0.2.1")})
	seed(&dns.TXT{Hdr: hdr(fqdn, dns.TypeTXT, 4500), Txt: []string{"SII=99999999999", "T=", "=", ""}})
	seed(&dns.SRV{Hdr: hdr(fqdn, dns.TypeSRV, 0), Port: 1, Target: "."})
	f.Add([]byte{}, "")
	f.Add([]byte{0, 0, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0xc0, 0x0c}, "lo") // pointer loop

	f.Fuzz(func(t *testing.T, data []byte, zone string) {
		r := mustResolution(t, inst, TypeOperational)
		r.add(data, zone)
		r.add(data, zone) // twice: duplicates are not kept twice
		if len(r.addrs) > maxResolveHosts {
			t.Fatalf("%d hosts kept", len(r.addrs))
		}
		for h, as := range r.addrs {
			if len(as) > maxResolveAddrs {
				t.Fatalf("%d addresses kept for %s", len(as), h)
			}
			for _, a := range as {
				if !a.IsValid() || a.IsUnspecified() || a.IsMulticast() {
					t.Fatalf("address %v kept", a)
				}
			}
		}
		size := 0
		for _, s := range r.txt {
			size += len(s)
		}
		if len(r.txt) > maxResolveTXT || size > maxResolveTXTSize {
			t.Fatalf("%d TXT strings, %d bytes", len(r.txt), size)
		}
		res, err := r.result()
		if err != nil {
			return
		}
		if res.Port == 0 || res.Host == "" {
			t.Fatalf("resolved %+v", res)
		}
		_, _ = res.Params()
		_ = res.AddrPorts()
		_ = r.query()
	})
}
