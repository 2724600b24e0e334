package dnssd

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"
)

var testResolveCFID = [8]byte{0x87, 0xE1, 0xB0, 0x04, 0xE2, 0x35, 0xA1, 0x30}

const testResolveNode = 0x8FC7772401CD0696

func testOperational(t testing.TB, port uint16) Service {
	t.Helper()
	s, err := Operational(testResolveCFID, testResolveNode, OperationalParams{Port: port, Common: CommonParams{
		SessionIdleInterval: 500 * time.Millisecond, SessionActiveInterval: 300 * time.Millisecond,
		SessionActiveThreshold: 4 * time.Second, TCP: TCPClient | TCPServer,
	}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustResolution(t testing.TB, instance, serviceType string) *resolution {
	t.Helper()
	r, err := newResolution(instance, serviceType)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestResolutionAgainstEngine resolves an operational instance published by
// the package's own responder engine, without sockets: the resolution's
// queries go to the engine, the engine's answers back to the resolution.
func TestResolutionAgainstEngine(t *testing.T) {
	e := newTestEngine(t, "192.0.2.10/24", "fd00::10/64", "fe80::1/64")
	svc := testOperational(t, 5541)
	_, now := settle(t, e, &svc)
	// Another node's service, which must not be mixed in.
	other, err := Operational(testResolveCFID, 0x42, OperationalParams{Port: 9})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.publish(other, now); err != nil {
		t.Fatal(err)
	}
	_, now = run(e, now, now.Add(10*time.Second))

	res := mustResolution(t, svc.Instance, TypeOperational)
	for range 3 {
		if res.complete() {
			break
		}
		m := res.query()
		if len(m.Question) == 0 {
			t.Fatal("incomplete resolution asks nothing")
		}
		for _, o := range ask(t, e, now, m) {
			b, err := o.msg.Pack()
			if err != nil {
				t.Fatal(err)
			}
			res.add(b, "eth0")
		}
		now = now.Add(2 * time.Second) // past the per-record rate limit
	}
	if !res.complete() {
		t.Fatalf("not resolved: %+v", res)
	}
	r, err := res.result()
	if err != nil {
		t.Fatal(err)
	}
	if !equalName(r.Host, testHost) || r.Port != 5541 {
		t.Fatalf("host %q port %d", r.Host, r.Port)
	}
	want := []netip.Addr{netip.MustParseAddr("fd00::10"), netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("fe80::1%eth0")}
	if !slices.Equal(r.Addrs, want) {
		t.Fatalf("addresses %v, want %v (routable IPv6, IPv4, link-local with zone)", r.Addrs, want)
	}
	p, err := r.Params()
	if err != nil {
		t.Fatal(err)
	}
	if p.TCP != TCPClient|TCPServer || p.SessionIdleInterval != 500*time.Millisecond || p.SessionActiveThreshold != 4*time.Second {
		t.Fatalf("params %+v from TXT %q", p, r.TXT)
	}
	if got := r.AddrPorts(); got[0] != netip.AddrPortFrom(want[0], 5541) {
		t.Fatalf("AddrPorts %v", got)
	}
}

// TestResolutionFiltering: goodbyes, other names, other classes, queries
// and malformed messages are ignored; addresses of the SRV target learnt
// before the SRV count.
func TestResolutionFiltering(t *testing.T) {
	inst := OperationalInstanceName(testResolveCFID, testResolveNode)
	fqdn := inst + "._matter._tcp.local."
	pack := func(m *dns.Msg) []byte {
		b, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	resp := func(rrs ...dns.RR) []byte {
		m := new(dns.Msg)
		m.Response = true
		m.Answer = rrs
		return pack(m)
	}
	res := mustResolution(t, inst, TypeOperational)
	// Address first, in its own message.
	res.add(resp(&dns.AAAA{Hdr: hdr("host.local.", dns.TypeAAAA, 120), AAAA: net.ParseIP("fe80::5")}), "eth1")
	// A query carrying the records as known answers is not a response.
	q := new(dns.Msg)
	q.Question = []dns.Question{{Name: fqdn, Qtype: dns.TypeSRV, Qclass: dns.ClassINET}}
	q.Answer = []dns.RR{&dns.SRV{Hdr: hdr(fqdn, dns.TypeSRV, 120), Port: 1, Target: "evil.local."}}
	res.add(pack(q), "eth1")
	// A goodbye, another instance, another class.
	res.add(resp(
		&dns.SRV{Hdr: hdr(fqdn, dns.TypeSRV, 0), Port: 2, Target: "gone.local."},
		&dns.SRV{Hdr: hdr("X-1._matter._tcp.local.", dns.TypeSRV, 120), Port: 3, Target: "other.local."},
		&dns.SRV{Hdr: dns.RR_Header{Name: fqdn, Rrtype: dns.TypeSRV, Class: dns.ClassCHAOS, Ttl: 120}, Port: 4, Target: "chaos.local."},
	), "eth1")
	res.add([]byte{0x00, 0x01, 0x80}, "eth1")
	if res.hasSRV {
		t.Fatalf("SRV taken from a query, a goodbye or another name: %+v", res)
	}
	// The real SRV, with the cache-flush bit, in upper case.
	res.add(resp(&dns.SRV{Hdr: dns.RR_Header{Name: dns.Fqdn(fqdn), Rrtype: dns.TypeSRV, Class: dns.ClassINET | 1<<15, Ttl: 120}, Port: 5540, Target: "HOST.local."}), "eth1")
	if !res.hasSRV || res.port != 5540 || res.complete() {
		t.Fatalf("after SRV: %+v", res)
	}
	r, err := res.result()
	if err != nil || len(r.Addrs) != 1 || r.Addrs[0] != netip.MustParseAddr("fe80::5%eth1") {
		t.Fatalf("result %+v %v", r, err)
	}
	// What is still missing is what the next query asks.
	var asked []uint16
	for _, q := range res.query().Question {
		asked = append(asked, q.Qtype)
	}
	if !slices.Equal(asked, []uint16{dns.TypeSRV, dns.TypeTXT}) {
		t.Fatalf("next query asks %v", asked)
	}
	res.add(resp(&dns.TXT{Hdr: hdr(fqdn, dns.TypeTXT, 4500), Txt: []string{"SII=5000", "T=4", "X=1"}}), "eth1")
	if !res.complete() {
		t.Fatalf("not complete: %+v", res)
	}
	r, _ = res.result()
	if p, err := r.Params(); err != nil || p.TCP != TCPServer || p.SessionIdleInterval != 5*time.Second {
		t.Fatalf("params %+v %v", p, err)
	}
	for _, bad := range []string{"SII=x", "SAT=70000", "ICD=2", "T=300", "SAI=3600001"} {
		if _, err := (&Resolved{TXT: []string{bad}}).Params(); err == nil {
			t.Errorf("TXT %q accepted", bad)
		}
	}
}

// TestResolutionBounds: a flood of addresses, hosts and TXT strings is
// capped.
func TestResolutionBounds(t *testing.T) {
	inst := OperationalInstanceName(testResolveCFID, testResolveNode)
	fqdn := inst + "._matter._tcp.local."
	res := mustResolution(t, inst, TypeOperational)
	m := new(dns.Msg)
	m.Response = true
	m.Answer = append(m.Answer, &dns.SRV{Hdr: hdr(fqdn, dns.TypeSRV, 120), Port: 5540, Target: "h0.local."})
	var txt []string
	for i := range 60 {
		txt = append(txt, fmt.Sprintf("K%d=%032d", i, i))
	}
	m.Answer = append(m.Answer, &dns.TXT{Hdr: hdr(fqdn, dns.TypeTXT, 120), Txt: txt})
	for h := range 15 {
		for i := range 20 {
			m.Extra = append(m.Extra, &dns.A{Hdr: hdr(fmt.Sprintf("h%d.local.", h), dns.TypeA, 120), A: net.IPv4(10, 0, byte(h), byte(i))})
		}
	}
	m.Compress = true
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > maxResolveMessage {
		t.Fatalf("test message of %d bytes", len(b))
	}
	res.add(b, "eth0")
	if len(res.addrs["h0.local."]) != maxResolveAddrs || len(res.addrs) > maxResolveHosts {
		t.Fatalf("%d addresses for the target, %d hosts", len(res.addrs["h0.local."]), len(res.addrs))
	}
	size := 0
	for _, s := range res.txt {
		size += len(s)
	}
	if len(res.txt) > maxResolveTXT || size > maxResolveTXTSize {
		t.Fatalf("%d TXT strings, %d bytes", len(res.txt), size)
	}

	// A responder that changes its SRV target with every message, each
	// time with the new target's address, cannot grow the hosts past the
	// bound; the latest target's address is kept.
	for h := range 3 * maxResolveHosts {
		target := fmt.Sprintf("t%d.local.", h)
		m := new(dns.Msg)
		m.Response = true
		m.Answer = []dns.RR{&dns.SRV{Hdr: hdr(fqdn, dns.TypeSRV, 120), Port: 5540, Target: target}}
		m.Extra = []dns.RR{&dns.A{Hdr: hdr(target, dns.TypeA, 120), A: net.IPv4(10, 1, 0, byte(h))}}
		b, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		res.add(b, "eth0")
		if len(res.addrs) > maxResolveHosts || len(res.hostsIn) != len(res.addrs) {
			t.Fatalf("after SRV target %d: %d hosts (%d in order)", h, len(res.addrs), len(res.hostsIn))
		}
		if r, err := res.result(); err != nil || r.Host != target || len(r.Addrs) != 1 || r.Addrs[0] != netip.AddrFrom4([4]byte{10, 1, 0, byte(h)}) {
			t.Fatalf("after SRV target %d: %+v, %v", h, r, err)
		}
	}
}

// TestResolutionTXTRaw: TXT strings come back as the bytes the responder
// sent, not in miekg/dns' presentation form with its escapes.
func TestResolutionTXTRaw(t *testing.T) {
	inst := OperationalInstanceName(testResolveCFID, testResolveNode)
	fqdn := inst + "._matter._tcp.local."
	raw := []string{"SII=5000", `X=a "b" \c;d`, "Y=\xff\x00"}
	txt, err := txtRR(fqdn, 4500, raw)
	if err != nil {
		t.Fatal(err)
	}
	m := new(dns.Msg)
	m.Response = true
	m.Answer = []dns.RR{txt}
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	res := mustResolution(t, inst, TypeOperational)
	res.add(b, "eth0")
	if !res.hasTXT || !slices.Equal(res.txt, raw) {
		t.Fatalf("TXT %q, want %q", res.txt, raw)
	}
}

// TestResolveWithResponder resolves, over real sockets on the loopback
// interface, an operational service the embedded responder publishes.
func TestResolveWithResponder(t *testing.T) {
	lo, err := loopbackName()
	if err != nil {
		t.Skip(err)
	}
	r, err := NewResponder(ResponderConfig{Interfaces: []string{lo}, DisableIPv6: true, HostName: "RESOLVETEST" + fmt.Sprint(rand.IntN(1e6)), Logger: testLogger()})
	if err != nil {
		t.Skipf("no mDNS responder here: %v", err)
	}
	defer r.Close()
	// A node ID of its own, so that a parallel run cannot answer.
	node := rand.Uint64()
	svc, err := Operational(testResolveCFID, node, OperationalParams{Port: 5599, Common: CommonParams{TCP: TCPServer}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Publish(svc); err != nil {
		t.Fatal(err)
	}
	cfg := ResolveConfig{Interfaces: []string{lo}, DisableIPv6: true, Timeout: 8 * time.Second}
	res, err := ResolveOperational(context.Background(), cfg, testResolveCFID, node)
	if err != nil {
		t.Fatal(err)
	}
	if res.Port != 5599 || !slices.Contains(res.Addrs, netip.MustParseAddr("127.0.0.1")) || !equalName(res.Host, r.Host()) {
		t.Fatalf("resolved %+v", res)
	}
	if p, err := res.Params(); err != nil || p.TCP != TCPServer {
		t.Fatalf("params %+v %v", p, err)
	}
	// Nobody answers for another node: ErrNotFound at the deadline.
	start := time.Now()
	_, err = ResolveOperational(context.Background(), ResolveConfig{Interfaces: []string{lo}, DisableIPv6: true, Timeout: 1500 * time.Millisecond}, testResolveCFID, node+1)
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown node: %v", err)
	}
	if d := time.Since(start); d < 1500*time.Millisecond || d > 3*time.Second {
		t.Fatalf("gave up after %v", d)
	}
	noGoroutines(t, "dnssd.(*querier)")
}

func loopbackName() (string, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return "", err
	}
	for _, i := range ifs {
		if i.Flags&net.FlagLoopback != 0 && i.Flags&net.FlagUp != 0 {
			return i.Name, nil
		}
	}
	return "", errors.New("no loopback interface")
}

func TestResolveArguments(t *testing.T) {
	ctx := context.Background()
	if _, err := Resolve(ctx, ResolveConfig{}, "", TypeOperational); err == nil {
		t.Error("empty instance accepted")
	}
	if _, err := Resolve(ctx, ResolveConfig{}, "x", "matter"); err == nil {
		t.Error("bad service type accepted")
	}
	if _, err := Resolve(ctx, ResolveConfig{DisableIPv4: true, DisableIPv6: true}, "x", TypeOperational); err == nil {
		t.Error("no family accepted")
	}
	none := func() ([]Interface, error) { return nil, nil }
	if _, err := Resolve(ctx, ResolveConfig{ListInterfaces: none}, "x", TypeOperational); err == nil {
		t.Error("no interface accepted")
	}
}
