package dnssd

import (
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// FuzzHandleQuery feeds arbitrary datagrams to an engine with published
// services. It must never panic, and everything it sends must pack.
func FuzzHandleQuery(f *testing.F) {
	seed := func(m *dns.Msg) {
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint16(mdnsPort), true)
		f.Add(b, uint16(40000), false)
	}
	seed(query(0, q("_matterc._udp.local.", dns.TypePTR)))
	seed(query(7, q("_L3840._sub._matterc._udp.local.", dns.TypePTR), q(testHost, dns.TypeANY)))
	seed(query(0, dns.Question{Name: testFQDN, Qtype: dns.TypeSRV, Qclass: dns.ClassINET | qclassUnicast}))
	ka := query(0, q("_services._dns-sd._udp.local.", dns.TypePTR))
	ka.Truncated = true
	ka.Answer = []dns.RR{&dns.PTR{Hdr: hdr("_services._dns-sd._udp.local.", dns.TypePTR, 4500), Ptr: "_matterc._udp.local."}}
	seed(ka)
	probe := query(0, dns.Question{Name: testFQDN, Qtype: dns.TypeANY, Qclass: dns.ClassINET | qclassUnicast})
	probe.Ns = []dns.RR{&dns.SRV{Hdr: hdr(testFQDN, dns.TypeSRV, 120), Port: 1, Target: "x.local."}}
	seed(probe)
	seed(conflictResponse(&dns.A{Hdr: hdr(testHost, dns.TypeA, 120), A: []byte{192, 0, 2, 99}}))
	f.Add([]byte{}, uint16(mdnsPort), true)
	f.Add([]byte{0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0x0c}, uint16(mdnsPort), true) // pointer loop

	s := testCommissionable(f)
	op, err := Operational([8]byte{1, 2, 3, 4, 5, 6, 7, 8}, 9, OperationalParams{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte, port uint16, multicast bool) {
		e := newTestEngine(t)
		if _, err := e.publish(s, t0); err != nil {
			t.Fatal(err)
		}
		if _, err := e.publish(op, t0); err != nil {
			t.Fatal(err)
		}
		_, now := run(e, t0, t0.Add(10*time.Second))
		dst := testV4
		if multicast {
			dst = mdnsGroup4
		}
		p := inbound{data: data, src: netip.AddrPortFrom(querier4.Addr(), port), dst: dst, ifindex: testIfIndex}
		out := e.handle(p, now)
		more, _ := run(e, now, now.Add(2*time.Second))
		for _, m := range more {
			out = append(out, m.outgoing)
		}
		for _, o := range out {
			if _, err := o.msg.Pack(); err != nil {
				t.Fatalf("unpackable reply %v: %v", o.msg, err)
			}
		}
	})
}
