package dnssd

import (
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

const (
	testHost     = "AABBCCDDEEFF.local."
	testIfIndex  = 2
	testInstance = "0123456789ABCDEF"
	testFQDN     = testInstance + "._matterc._udp.local."
)

var (
	t0       = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	testV4   = netip.MustParseAddr("192.0.2.10")
	querier4 = netip.AddrPortFrom(netip.MustParseAddr("192.0.2.20"), mdnsPort)
)

func testIface(prefixes ...string) Interface {
	ifi := Interface{Index: testIfIndex, Name: "eth0", MTU: 1500, Flags: net.FlagUp | net.FlagMulticast,
		HardwareAddr: net.HardwareAddr{0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}}
	for _, p := range prefixes {
		ifi.Prefixes = append(ifi.Prefixes, netip.MustParsePrefix(p))
	}
	return ifi
}

func testCommissionable(t testing.TB) Service {
	t.Helper()
	s, err := Commissionable(CommissionableParams{
		Instance: testInstance, Discriminator: 3840, VendorID: 65521, ProductID: 32768,
		DeviceType: 0x0142, CommissioningMode: CommissioningBasic,
		Common: CommonParams{SessionIdleInterval: 500 * time.Millisecond, TCP: TCPServer},
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// newTestEngine returns an engine on one link with 192.0.2.10/24 and
// fe80::1/64, deterministic randomness, and nothing published.
func newTestEngine(t testing.TB, prefixes ...string) *engine {
	t.Helper()
	if len(prefixes) == 0 {
		prefixes = []string{"192.0.2.10/24", "fe80::1/64"}
	}
	e, err := newEngine(engineConfig{rand: rand.New(rand.NewPCG(1, 2)), hostLabel: "AABBCCDDEEFF", v4: true, v6: true})
	if err != nil {
		t.Fatal(err)
	}
	added, _, _ := e.setLinks([]Interface{testIface(prefixes...)}, t0)
	if !slices.Equal(added, []int{testIfIndex}) {
		t.Fatalf("added links %v", added)
	}
	return e
}

type sent struct {
	at time.Time
	outgoing
}

// run advances the virtual clock through every due event until until,
// returning what was sent and the final time.
func run(e *engine, from, until time.Time) ([]sent, time.Time) {
	var out []sent
	now := from
	for range 1000 {
		n := e.next()
		if n.IsZero() || n.After(until) {
			break
		}
		if n.After(now) {
			now = n
		}
		for _, o := range e.tick(now) {
			out = append(out, sent{now, o})
		}
	}
	return out, until
}

// settle publishes s (if given) and runs until probing and announcing
// are over.
func settle(t testing.TB, e *engine, s *Service) (Handle, time.Time) {
	t.Helper()
	var h Handle
	if s != nil {
		var err error
		if h, err = e.publish(*s, t0); err != nil {
			t.Fatal(err)
		}
	}
	_, now := run(e, t0, t0.Add(10*time.Second))
	if n := e.next(); !n.IsZero() {
		t.Fatalf("engine still busy at %v", n)
	}
	return h, now
}

func query(id uint16, qs ...dns.Question) *dns.Msg {
	m := new(dns.Msg)
	m.Id = id
	m.Question = qs
	return m
}

func q(name string, t uint16) dns.Question {
	return dns.Question{Name: name, Qtype: t, Qclass: dns.ClassINET}
}

func pkt(t testing.TB, m *dns.Msg, src netip.AddrPort, dst netip.Addr) inbound {
	t.Helper()
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return inbound{data: b, src: src, dst: dst, ifindex: testIfIndex}
}

// ask sends m from querier4 to the IPv4 group and returns everything sent
// within the next second.
func ask(t testing.TB, e *engine, now time.Time, m *dns.Msg) []sent {
	t.Helper()
	var out []sent
	for _, o := range e.handle(pkt(t, m, querier4, mdnsGroup4), now) {
		out = append(out, sent{now, o})
	}
	more, _ := run(e, now, now.Add(time.Second))
	return append(out, more...)
}

func rrsOf[T dns.RR](rrs []dns.RR) []T {
	var out []T
	for _, rr := range rrs {
		if v, ok := rr.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

func types(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		out = append(out, dns.TypeToString[rr.Header().Rrtype])
	}
	return out
}

func TestProbeThenAnnounce(t *testing.T) {
	e := newTestEngine(t)
	s := testCommissionable(t)
	if _, err := e.publish(s, t0); err != nil {
		t.Fatal(err)
	}
	out, _ := run(e, t0, t0.Add(10*time.Second))

	type ev struct {
		at    time.Duration
		kind  string
		name  string
		group netip.Addr
	}
	var probes, announces []ev
	for _, o := range out {
		m := o.msg
		if !m.Response {
			if len(m.Question) != 1 || m.Question[0].Qtype != dns.TypeANY || m.Question[0].Qclass != dns.ClassINET|qclassUnicast {
				t.Fatalf("probe question %v: want QU ANY (RFC 6762 §8.1)", m.Question)
			}
			if len(m.Ns) == 0 {
				t.Fatalf("probe without authority records: %v", m)
			}
			probes = append(probes, ev{o.at.Sub(t0), "probe", m.Question[0].Name, o.dst.Addr()})
			continue
		}
		announces = append(announces, ev{o.at.Sub(t0), "announce", m.Answer[0].Header().Name, o.dst.Addr()})
	}
	// Host and service each: 3 probes per family 250 ms apart, then 3
	// announcements per family at +0, +1 s, +3 s.
	countFor := func(evs []ev, name string) []time.Duration {
		var ts []time.Duration
		for _, e := range evs {
			if equalName(e.name, name) && e.group == mdnsGroup4 {
				ts = append(ts, e.at)
			}
		}
		return ts
	}
	for _, name := range []string{testHost, testFQDN} {
		pt := countFor(probes, name)
		if len(pt) != 3 || pt[1]-pt[0] != probeInterval || pt[2]-pt[1] != probeInterval || pt[0] > probeInterval {
			t.Errorf("%s probe times %v, want 3 at 250 ms spacing starting within 250 ms", name, pt)
		}
	}
	hostAnn := countFor(announces, testHost)
	if len(hostAnn) != 3 || hostAnn[1]-hostAnn[0] != time.Second || hostAnn[2]-hostAnn[1] != 2*time.Second {
		t.Errorf("host announcements at %v, want 3 at +0, +1 s, +3 s", hostAnn)
	}
	if len(probes) != 12 {
		t.Errorf("%d probes, want 12 (2 names x 3 x 2 families)", len(probes))
	}

	// The service announcement: PTRs shared, SRV and TXT cache-flush,
	// TTLs per RFC 6762 §10, host addresses as additional records.
	// The last one: the first may go out before the host finished probing,
	// when there are no addresses to add yet.
	var ann *dns.Msg
	for _, o := range out {
		if o.msg.Response && o.dst.Addr() == mdnsGroup4 && strings.Contains(o.msg.Answer[0].String(), "_matterc") {
			ann = o.msg
		}
	}
	if ann == nil {
		t.Fatal("no service announcement")
	}
	if ann.Id != 0 || !ann.Authoritative || len(ann.Question) != 0 {
		t.Errorf("announcement header: id=%d aa=%v questions=%d (RFC 6762 §18)", ann.Id, ann.Authoritative, len(ann.Question))
	}
	wantAns := map[string]struct {
		ttl   uint32
		flush bool
	}{"PTR": {4500, false}, "SRV": {120, true}, "TXT": {4500, true}}
	for _, rr := range ann.Answer {
		h := rr.Header()
		w, ok := wantAns[dns.TypeToString[h.Rrtype]]
		if !ok {
			t.Errorf("unexpected answer %v", rr)
			continue
		}
		if h.Ttl != w.ttl || (h.Class&classCacheFlush != 0) != w.flush {
			t.Errorf("%v: ttl %d flush %v, want %d %v", rr, h.Ttl, h.Class&classCacheFlush != 0, w.ttl, w.flush)
		}
	}
	ptrs := rrsOf[*dns.PTR](ann.Answer)
	var ptrNames []string
	for _, p := range ptrs {
		ptrNames = append(ptrNames, p.Hdr.Name+">"+p.Ptr)
	}
	for _, want := range []string{
		"_matterc._udp.local.>" + testFQDN,
		"_L3840._sub._matterc._udp.local.>" + testFQDN,
		"_S15._sub._matterc._udp.local.>" + testFQDN,
		"_V65521._sub._matterc._udp.local.>" + testFQDN,
		"_T322._sub._matterc._udp.local.>" + testFQDN,
		"_CM._sub._matterc._udp.local.>" + testFQDN,
		"_services._dns-sd._udp.local.>_matterc._udp.local.",
	} {
		if !slices.Contains(ptrNames, want) {
			t.Errorf("announcement lacks PTR %s; has %v", want, ptrNames)
		}
	}
	extra := types(ann.Extra)
	for _, want := range []string{"A", "AAAA", "NSEC"} {
		if !slices.Contains(extra, want) {
			t.Errorf("announcement additional %v lacks %s", extra, want)
		}
	}
}

func TestAnswers(t *testing.T) {
	s := testCommissionable(t)
	tests := []struct {
		name     string
		q        dns.Question
		answers  []string // "TYPE name" of the answer section
		extra    []string // types that must be in the additional section
		noExtra  []string // types that must not be
		delayed  bool     // shared answers wait 20-120 ms (RFC 6762 §6)
		silent   bool
		prefixes []string
		v6       bool // ask over IPv6
	}{
		{name: "service type PTR", q: q("_matterc._udp.local.", dns.TypePTR),
			answers: []string{"PTR _matterc._udp.local."}, extra: []string{"SRV", "TXT", "A", "AAAA", "NSEC"}, delayed: true},
		{name: "long discriminator subtype", q: q("_L3840._sub._matterc._udp.local.", dns.TypePTR),
			answers: []string{"PTR _L3840._sub._matterc._udp.local."}, extra: []string{"SRV", "TXT", "A", "AAAA"}, delayed: true},
		{name: "subtype names compare case-insensitively", q: q("_l3840._SUB._matterc._udp.LOCAL.", dns.TypePTR),
			answers: []string{"PTR _L3840._sub._matterc._udp.local."}, delayed: true},
		{name: "commissioning mode subtype", q: q("_CM._sub._matterc._udp.local.", dns.TypePTR),
			answers: []string{"PTR _CM._sub._matterc._udp.local."}, delayed: true},
		{name: "other discriminator", q: q("_L1._sub._matterc._udp.local.", dns.TypePTR), silent: true},
		{name: "service enumeration", q: q("_services._dns-sd._udp.local.", dns.TypePTR),
			answers: []string{"PTR _services._dns-sd._udp.local."}, noExtra: []string{"SRV"}, delayed: true},
		{name: "SRV", q: q(testFQDN, dns.TypeSRV),
			answers: []string{"SRV " + testFQDN}, extra: []string{"A", "AAAA"}, noExtra: []string{"TXT"}},
		{name: "TXT", q: q(testFQDN, dns.TypeTXT), answers: []string{"TXT " + testFQDN}},
		{name: "ANY for the instance", q: q(testFQDN, dns.TypeANY), answers: []string{"SRV " + testFQDN, "TXT " + testFQDN}},
		{name: "A", q: q(testHost, dns.TypeA), answers: []string{"A " + testHost}, extra: []string{"AAAA"}},
		{name: "AAAA", q: q(testHost, dns.TypeAAAA), answers: []string{"AAAA " + testHost}, extra: []string{"A"}},
		{name: "AAAA on an IPv4-only link is denied by NSEC", q: q(testHost, dns.TypeAAAA),
			answers: []string{"NSEC " + testHost}, prefixes: []string{"192.0.2.10/24"}},
		{name: "A on an IPv6-only link is denied by NSEC", q: q(testHost, dns.TypeA),
			answers: []string{"NSEC " + testHost}, prefixes: []string{"fe80::1/64", "fd00::1/64"}, v6: true},
		{name: "unknown name", q: q("other.local.", dns.TypeA), silent: true},
		{name: "unknown type on a shared name", q: q("_matterc._udp.local.", dns.TypeTXT), silent: true},
		{name: "class CHAOS", q: dns.Question{Name: testHost, Qtype: dns.TypeA, Qclass: dns.ClassCHAOS}, silent: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEngine(t, tt.prefixes...)
			_, now := settle(t, e, &s)
			now = now.Add(10 * time.Second) // beyond the rate limit of the announcements
			var out []sent
			if tt.v6 {
				src := netip.AddrPortFrom(netip.MustParseAddr("fe80::20"), mdnsPort)
				for _, o := range e.handle(pkt(t, query(0, tt.q), src, mdnsGroup6), now) {
					out = append(out, sent{now, o})
				}
				more, _ := run(e, now, now.Add(time.Second))
				out = append(out, more...)
			} else {
				out = ask(t, e, now, query(0, tt.q))
			}
			if tt.silent {
				if len(out) != 0 {
					t.Fatalf("answered %v", out[0].msg)
				}
				return
			}
			if len(out) != 1 {
				t.Fatalf("%d messages, want 1: %v", len(out), out)
			}
			o := out[0]
			if !o.dst.Addr().IsMulticast() {
				t.Fatalf("sent to %v, want the group", o.dst)
			}
			delay := o.at.Sub(now)
			if tt.delayed && (delay < sharedDelayMin || delay > sharedDelayMax) {
				t.Errorf("shared answer after %v, want 20-120 ms", delay)
			}
			if !tt.delayed && delay != 0 {
				t.Errorf("unique answer after %v, want at once", delay)
			}
			var got []string
			for _, rr := range o.msg.Answer {
				got = append(got, dns.TypeToString[rr.Header().Rrtype]+" "+rr.Header().Name)
			}
			if !slices.Equal(got, tt.answers) {
				t.Errorf("answers %v, want %v", got, tt.answers)
			}
			extra := types(o.msg.Extra)
			for _, w := range tt.extra {
				if !slices.Contains(extra, w) {
					t.Errorf("additional %v lacks %s", extra, w)
				}
			}
			for _, w := range tt.noExtra {
				if slices.Contains(extra, w) {
					t.Errorf("additional %v has %s", extra, w)
				}
			}
		})
	}
}

func TestAddressRecordsPerLink(t *testing.T) {
	// Two links: each answer carries only the addresses of the link the
	// query came in on (RFC 6762 §6.2).
	e := newTestEngine(t)
	other := Interface{Index: 3, Name: "wlan0", MTU: 1500, Flags: net.FlagUp | net.FlagMulticast,
		Prefixes: []netip.Prefix{netip.MustParsePrefix("198.51.100.7/24")}}
	e.setLinks([]Interface{testIface("192.0.2.10/24", "fe80::1/64"), other}, t0)
	_, now := settle(t, e, nil)
	now = now.Add(10 * time.Second)

	p := pkt(t, query(0, q(testHost, dns.TypeA)), netip.AddrPortFrom(netip.MustParseAddr("198.51.100.1"), mdnsPort), mdnsGroup4)
	p.ifindex = 3
	out := e.handle(p, now)
	if len(out) != 1 || out[0].ifindex != 3 {
		t.Fatalf("out = %v", out)
	}
	as := rrsOf[*dns.A](out[0].msg.Answer)
	if len(as) != 1 || !as[0].A.Equal(net.ParseIP("198.51.100.7")) {
		t.Fatalf("A records %v, want only 198.51.100.7", as)
	}
	if got := types(out[0].msg.Extra); slices.Contains(got, "AAAA") {
		t.Fatalf("wlan0 has no IPv6, but additional has %v", got)
	}
}

func TestKnownAnswerSuppression(t *testing.T) {
	s := testCommissionable(t)
	ptr := func(ttl uint32) dns.RR {
		return &dns.PTR{Hdr: hdr("_matterc._udp.local.", dns.TypePTR, ttl), Ptr: testFQDN}
	}
	tests := []struct {
		name    string
		known   []dns.RR
		answers int
	}{
		{"no known answers", nil, 1},
		{"known with full TTL", []dns.RR{ptr(4500)}, 0},
		{"known with exactly half", []dns.RR{ptr(2250)}, 0},
		{"known with less than half", []dns.RR{ptr(2249)}, 1},
		{"known name case differs", []dns.RR{&dns.PTR{Hdr: hdr("_MATTERC._udp.local.", dns.TypePTR, 4500), Ptr: strings.ToLower(testFQDN)}}, 0},
		{"other instance known", []dns.RR{&dns.PTR{Hdr: hdr("_matterc._udp.local.", dns.TypePTR, 4500), Ptr: "X._matterc._udp.local."}}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEngine(t)
			_, now := settle(t, e, &s)
			m := query(0, q("_matterc._udp.local.", dns.TypePTR))
			m.Answer = tt.known
			out := ask(t, e, now.Add(10*time.Second), m)
			n := 0
			for _, o := range out {
				n += len(rrsOf[*dns.PTR](o.msg.Answer))
			}
			if n != tt.answers {
				t.Fatalf("%d PTR answers, want %d", n, tt.answers)
			}
		})
	}
}

func TestTruncatedQueryWaitsForKnownAnswers(t *testing.T) {
	// RFC 6762 §7.2: after a TC query the responder waits 400-500 ms for
	// the rest of the known answers, then applies them.
	s := testCommissionable(t)
	e := newTestEngine(t)
	_, now := settle(t, e, &s)
	now = now.Add(10 * time.Second)
	m := query(0, q("_matterc._udp.local.", dns.TypePTR))
	m.Truncated = true
	if out := e.handle(pkt(t, m, querier4, mdnsGroup4), now); len(out) != 0 {
		t.Fatalf("answered a TC query at once: %v", out)
	}
	if d := e.next().Sub(now); d < tcDelayMin || d > tcDelayMax {
		t.Fatalf("answer scheduled after %v, want 400-500 ms", d)
	}
	cont := new(dns.Msg)
	cont.Answer = []dns.RR{&dns.PTR{Hdr: hdr("_matterc._udp.local.", dns.TypePTR, 4500), Ptr: testFQDN}}
	e.handle(pkt(t, cont, querier4, mdnsGroup4), now.Add(100*time.Millisecond))
	if out, _ := run(e, now, now.Add(time.Second)); len(out) != 0 {
		t.Fatalf("answered although the continuation held the answer: %v", out[0].msg)
	}
}

func TestDuplicateAnswerSuppression(t *testing.T) {
	// RFC 6762 §7.4: a pending shared answer that another responder
	// multicasts first is not sent again.
	s := testCommissionable(t)
	e := newTestEngine(t)
	_, now := settle(t, e, &s)
	now = now.Add(10 * time.Second)
	e.handle(pkt(t, query(0, q("_matterc._udp.local.", dns.TypePTR)), querier4, mdnsGroup4), now)
	resp := new(dns.Msg)
	resp.Response = true
	resp.Answer = []dns.RR{&dns.PTR{Hdr: hdr("_matterc._udp.local.", dns.TypePTR, 4500), Ptr: testFQDN}}
	e.handle(pkt(t, resp, netip.AddrPortFrom(netip.MustParseAddr("192.0.2.30"), mdnsPort), mdnsGroup4), now.Add(time.Millisecond))
	if out, _ := run(e, now, now.Add(time.Second)); len(out) != 0 {
		t.Fatalf("sent a duplicate answer: %v", out[0].msg)
	}
}

func TestRateLimit(t *testing.T) {
	// RFC 6762 §6: a record is multicast at most once per second per link.
	s := testCommissionable(t)
	e := newTestEngine(t)
	_, now := settle(t, e, &s)
	now = now.Add(10 * time.Second)
	m := query(0, q(testFQDN, dns.TypeSRV))
	if out := ask(t, e, now, m); len(out) != 1 {
		t.Fatalf("first query: %d messages", len(out))
	}
	if out := ask(t, e, now.Add(500*time.Millisecond), m); len(out) != 0 {
		t.Fatalf("second query within 1 s answered: %v", out[0].msg)
	}
	if out := ask(t, e, now.Add(1100*time.Millisecond), m); len(out) != 1 {
		t.Fatalf("query after 1 s: %d messages", len(out))
	}
}

func TestLegacyUnicast(t *testing.T) {
	// RFC 6762 §6.7: a query from a port other than 5353 gets a unicast
	// reply with its ID, its question, TTL <= 10 s and no cache-flush bit.
	s := testCommissionable(t)
	e := newTestEngine(t)
	_, now := settle(t, e, &s)
	src := netip.AddrPortFrom(netip.MustParseAddr("192.0.2.20"), 40000)
	m := query(0xBEEF, q("_L3840._sub._matterc._udp.local.", dns.TypePTR))
	out := e.handle(pkt(t, m, src, mdnsGroup4), now.Add(time.Millisecond))
	if len(out) != 1 {
		t.Fatalf("%d messages, want 1", len(out))
	}
	r := out[0]
	if r.dst != src {
		t.Fatalf("sent to %v, want %v", r.dst, src)
	}
	if r.msg.Id != 0xBEEF || len(r.msg.Question) != 1 || r.msg.Question[0] != m.Question[0] {
		t.Fatalf("id %#x question %v", r.msg.Id, r.msg.Question)
	}
	if len(r.msg.Answer) != 1 || len(r.msg.Extra) == 0 {
		t.Fatalf("answer %v extra %v", r.msg.Answer, r.msg.Extra)
	}
	for _, rr := range append(r.msg.Answer, r.msg.Extra...) {
		if rr.Header().Ttl > legacyTTL || rr.Header().Class != dns.ClassINET {
			t.Errorf("%v: TTL %d class %#x, want <= 10 and plain IN", rr, rr.Header().Ttl, rr.Header().Class)
		}
	}
	// Nothing goes to the group for a legacy query.
	if more, _ := run(e, now, now.Add(time.Second)); len(more) != 0 {
		t.Fatalf("also multicast: %v", more[0].msg)
	}
}

func TestQUResponse(t *testing.T) {
	// RFC 6762 §5.4: QU gets a unicast reply when the record was multicast
	// within a quarter of its TTL, else a multicast one.
	s := testCommissionable(t)
	e := newTestEngine(t)
	_, now := settle(t, e, &s) // the last announcement was 7 s before now
	qu := query(0, dns.Question{Name: testFQDN, Qtype: dns.TypeSRV, Qclass: dns.ClassINET | qclassUnicast})
	out := ask(t, e, now, qu)
	if len(out) != 1 || out[0].dst != querier4 {
		t.Fatalf("recently announced: got %v, want unicast to %v", out, querier4)
	}
	out = ask(t, e, now.Add(31*time.Second), qu) // SRV TTL 120 s: a quarter is 30 s
	if len(out) != 1 || out[0].dst.Addr() != mdnsGroup4 {
		t.Fatalf("not recently multicast: got %v, want multicast", out)
	}
}

func TestUnicastFromOffLinkIgnored(t *testing.T) {
	// RFC 6762 §11: unicast queries from off-link sources are ignored.
	s := testCommissionable(t)
	e := newTestEngine(t)
	_, now := settle(t, e, &s)
	off := netip.AddrPortFrom(netip.MustParseAddr("203.0.113.5"), 40000)
	if out := e.handle(pkt(t, query(1, q(testFQDN, dns.TypeSRV)), off, testV4), now); len(out) != 0 {
		t.Fatalf("answered an off-link unicast query: %v", out[0].msg)
	}
	on := netip.AddrPortFrom(netip.MustParseAddr("192.0.2.99"), 40000)
	if out := e.handle(pkt(t, query(1, q(testFQDN, dns.TypeSRV)), on, testV4), now); len(out) != 1 {
		t.Fatalf("on-link unicast query: %d messages, want 1", len(out))
	}
}

func TestIgnoredMessages(t *testing.T) {
	s := testCommissionable(t)
	e := newTestEngine(t)
	_, now := settle(t, e, &s)
	now = now.Add(10 * time.Second)
	srv := q(testFQDN, dns.TypeSRV)
	tests := []struct {
		name string
		mod  func(m *dns.Msg)
		p    func(p *inbound)
	}{
		{"opcode not query", func(m *dns.Msg) { m.Opcode = dns.OpcodeUpdate }, nil},
		{"rcode set", func(m *dns.Msg) { m.Rcode = dns.RcodeServerFailure }, nil},
		{"unknown link", nil, func(p *inbound) { p.ifindex = 99 }},
		{"truncated datagram", nil, func(p *inbound) { p.data = p.data[:len(p.data)-3] }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := query(0, srv)
			if tt.mod != nil {
				tt.mod(m)
			}
			p := pkt(t, m, querier4, mdnsGroup4)
			if tt.p != nil {
				tt.p(&p)
			}
			if out := e.handle(p, now); len(out) != 0 {
				t.Fatalf("answered: %v", out[0].msg)
			}
		})
	}
}

func goodbyeTTLs(t *testing.T, out []outgoing) map[string]int {
	t.Helper()
	got := map[string]int{}
	for _, o := range out {
		for _, rr := range o.msg.Answer {
			if rr.Header().Ttl != 0 {
				t.Errorf("goodbye record with TTL %d: %v", rr.Header().Ttl, rr)
			}
			if o.dst.Addr() == mdnsGroup4 {
				got[dns.TypeToString[rr.Header().Rrtype]]++
			}
		}
	}
	return got
}

func TestGoodbyes(t *testing.T) {
	s := testCommissionable(t)
	op, err := Operational([8]byte{1}, 2, OperationalParams{})
	if err != nil {
		t.Fatal(err)
	}
	e := newTestEngine(t)
	h, _ := settle(t, e, &s)
	h2, err := e.publish(op, t0)
	if err != nil {
		t.Fatal(err)
	}
	_, now := run(e, t0, t0.Add(10*time.Second))

	out, err := e.withdraw(h, now)
	if err != nil {
		t.Fatal(err)
	}
	// 1 type PTR + 5 subtype PTRs + enumeration PTR, SRV, TXT.
	if got := goodbyeTTLs(t, out); got["PTR"] != 7 || got["SRV"] != 1 || got["TXT"] != 1 || got["A"] != 0 {
		t.Fatalf("withdraw goodbyes %v", got)
	}
	if _, err := e.withdraw(h, now); err != ErrUnknownHandle {
		t.Fatalf("second withdraw: %v", err)
	}
	// The withdrawn service no longer answers.
	if out := ask(t, e, now.Add(2*time.Second), query(0, q(testFQDN, dns.TypeSRV))); len(out) != 0 {
		t.Fatalf("withdrawn service answered: %v", out[0].msg)
	}
	// Close: the remaining service and the host addresses.
	got := goodbyeTTLs(t, e.closeAll(now.Add(3*time.Second)))
	if got["PTR"] != 3 || got["SRV"] != 1 || got["TXT"] != 1 || got["A"] != 1 || got["AAAA"] != 1 {
		t.Fatalf("close goodbyes %v", got)
	}
	_ = h2
}

func TestGoodbyeKeepsSharedEnumeration(t *testing.T) {
	// Two services of one type: withdrawing one keeps the enumeration PTR.
	a := testCommissionable(t)
	b := a.Clone()
	b.Instance = "FEDCBA9876543210"
	e := newTestEngine(t)
	h, _ := settle(t, e, &a)
	if _, err := e.publish(b, t0); err != nil {
		t.Fatal(err)
	}
	_, now := run(e, t0, t0.Add(10*time.Second))
	out, _ := e.withdraw(h, now)
	for _, o := range out {
		for _, rr := range o.msg.Answer {
			if equalName(rr.Header().Name, enumName) {
				t.Fatalf("goodbye for the enumeration PTR while %s remains", b.Instance)
			}
		}
	}
}

func conflictResponse(rrs ...dns.RR) *dns.Msg {
	m := new(dns.Msg)
	m.Response = true
	m.Authoritative = true
	m.Answer = rrs
	return m
}

func TestConflictRenamesService(t *testing.T) {
	s := testCommissionable(t)
	peer := netip.AddrPortFrom(netip.MustParseAddr("192.0.2.30"), mdnsPort)
	tests := []struct {
		name    string
		rr      dns.RR
		renamed bool
	}{
		{"different SRV port", &dns.SRV{Hdr: hdr(testFQDN, dns.TypeSRV, 120), Port: 1, Target: "other.local."}, true},
		{"TXT differs", &dns.TXT{Hdr: hdr(testFQDN, dns.TypeTXT, 4500), Txt: []string{"x=1"}}, true},
		{"identical SRV is ours", &dns.SRV{Hdr: hdr(testFQDN, dns.TypeSRV, 120), Port: 5540, Target: testHost}, false},
		{"goodbye claims nothing", &dns.SRV{Hdr: hdr(testFQDN, dns.TypeSRV, 0), Port: 1, Target: "other.local."}, false},
		{"shared PTR is no conflict", &dns.PTR{Hdr: hdr("_matterc._udp.local.", dns.TypePTR, 4500), Ptr: "Y._matterc._udp.local."}, false},
	}
	for _, tt := range tests {
		for _, during := range []string{"probing", "established"} {
			t.Run(tt.name+"/"+during, func(t *testing.T) {
				e := newTestEngine(t)
				var (
					h   Handle
					now time.Time
				)
				if during == "probing" {
					var err error
					if h, err = e.publish(s, t0); err != nil {
						t.Fatal(err)
					}
					_, now = run(e, t0, t0.Add(300*time.Millisecond))
				} else {
					h, now = settle(t, e, &s)
				}
				e.handle(pkt(t, conflictResponse(tt.rr), peer, mdnsGroup4), now)
				got := e.entries[h].svc.Instance
				want := testInstance
				if tt.renamed {
					want = testInstance + " (2)"
				}
				if got != want {
					t.Fatalf("instance %q, want %q", got, want)
				}
				if !tt.renamed {
					return
				}
				if st := e.links[testIfIndex].states[h]; st.phase != phaseProbing || st.count != 0 {
					t.Fatalf("after conflict: phase %d count %d, want a fresh probe", st.phase, st.count)
				}
				// The new name is probed and then answers.
				_, now = run(e, now, now.Add(10*time.Second))
				out := ask(t, e, now.Add(10*time.Second), query(0, q(testInstance+`\ \(2\)._matterc._udp.local.`, dns.TypeSRV)))
				if len(out) != 1 {
					t.Fatalf("renamed service does not answer: %v", out)
				}
			})
		}
	}
}

func TestConflictRenamesHost(t *testing.T) {
	s := testCommissionable(t)
	e := newTestEngine(t)
	h, now := settle(t, e, &s)
	peer := netip.AddrPortFrom(netip.MustParseAddr("192.0.2.30"), mdnsPort)
	// Our own address under our name from elsewhere is no conflict.
	e.handle(pkt(t, conflictResponse(&dns.A{Hdr: hdr(testHost, dns.TypeA, 120), A: testV4.AsSlice()}), peer, mdnsGroup4), now)
	if e.host != testHost {
		t.Fatalf("renamed on our own record: %s", e.host)
	}
	out := e.handle(pkt(t, conflictResponse(&dns.A{Hdr: hdr(testHost, dns.TypeA, 120), A: net.IPv4(192, 0, 2, 30)}), peer, mdnsGroup4), now)
	if e.host != "AABBCCDDEEFF-2.local." {
		t.Fatalf("host %s, want AABBCCDDEEFF-2.local.", e.host)
	}
	if got := goodbyeTTLs(t, out); got["A"] != 1 {
		t.Fatalf("no goodbye for the old host name: %v", got)
	}
	_, now = run(e, now, now.Add(10*time.Second))
	var rrs []dns.RR
	for _, r := range e.entries[h].recs {
		rrs = append(rrs, r.rr)
	}
	srv := rrsOf[*dns.SRV](rrs)
	if len(srv) != 1 || srv[0].Target != "AABBCCDDEEFF-2.local." {
		t.Fatalf("SRV %v does not follow the new host name", srv)
	}
	if out := ask(t, e, now.Add(10*time.Second), query(0, q("AABBCCDDEEFF-2.local.", dns.TypeA))); len(out) != 1 {
		t.Fatalf("new host name does not answer")
	}
}

func TestProbeTieBreak(t *testing.T) {
	// RFC 6762 §8.2: simultaneous probes; the lexicographically later data
	// wins, the loser waits one second and probes again.
	s := testCommissionable(t)
	peer := netip.AddrPortFrom(netip.MustParseAddr("192.0.2.30"), mdnsPort)
	tests := []struct {
		name  string
		port  uint16
		loses bool
	}{
		{"their port is higher", 9999, true},
		{"their port is lower", 1, false},
		{"their data is ours (looped back)", 5540, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEngine(t)
			h, err := e.publish(s, t0)
			if err != nil {
				t.Fatal(err)
			}
			_, now := run(e, t0, t0.Add(300*time.Millisecond)) // one probe out
			probe := query(0, dns.Question{Name: testFQDN, Qtype: dns.TypeANY, Qclass: dns.ClassINET | qclassUnicast})
			probe.Ns = []dns.RR{&dns.SRV{Hdr: hdr(testFQDN, dns.TypeSRV, 120), Port: tt.port, Target: testHost}}
			// Same TXT as ours, so the SRV decides: class, type, then rdata
			// (priority, weight, port, target).
			probe.Ns = append(probe.Ns, e.entries[h].recs[len(e.entries[h].recs)-2].rr)
			e.handle(pkt(t, probe, peer, mdnsGroup4), now)
			st := e.links[testIfIndex].states[h]
			if lost := st.count == 0 && st.next.Equal(now.Add(tieBreakDelay)); lost != tt.loses {
				t.Fatalf("count %d next %v: lost=%v, want %v", st.count, st.next.Sub(now), lost, tt.loses)
			}
		})
	}
}

func TestUpdate(t *testing.T) {
	s := testCommissionable(t)
	t.Run("TXT only is announced without probing", func(t *testing.T) {
		e := newTestEngine(t)
		h, now := settle(t, e, &s)
		u := s.Clone()
		u.TXT = slices.DeleteFunc(u.TXT, func(x string) bool { return strings.HasPrefix(x, "CM=") })
		u.TXT = append(u.TXT, "CM=0")
		u.Subtypes = slices.DeleteFunc(u.Subtypes, func(x string) bool { return x == "_CM" })
		out, err := e.update(h, u, now)
		if err != nil {
			t.Fatal(err)
		}
		if got := goodbyeTTLs(t, out); got["PTR"] != 1 {
			t.Fatalf("goodbye for the dropped _CM subtype: %v", got)
		}
		later, _ := run(e, now, now.Add(5*time.Second))
		var txt *dns.TXT
		for _, o := range later {
			if !o.msg.Response {
				t.Fatalf("probed for an in-place update: %v", o.msg)
			}
			if ts := rrsOf[*dns.TXT](o.msg.Answer); len(ts) == 1 && txt == nil {
				txt = ts[0]
			}
		}
		if txt == nil || !slices.Contains(txtStrings(txt), "CM=0") || txt.Hdr.Class != dns.ClassINET|classCacheFlush {
			t.Fatalf("announced TXT %v, want CM=0 with cache-flush", txt)
		}
	})
	t.Run("new instance name is probed", func(t *testing.T) {
		e := newTestEngine(t)
		h, now := settle(t, e, &s)
		u := s.Clone()
		u.Instance = "1111111111111111"
		out, err := e.update(h, u, now)
		if err != nil {
			t.Fatal(err)
		}
		// Type and subtype PTRs, SRV, TXT; not the enumeration PTR,
		// since _matterc._udp stays advertised.
		if got := goodbyeTTLs(t, out); got["SRV"] != 1 || got["TXT"] != 1 || got["PTR"] != 6 {
			t.Fatalf("old instance goodbyes %v", got)
		}
		if st := e.links[testIfIndex].states[h]; st.phase != phaseProbing {
			t.Fatalf("phase %d, want probing", st.phase)
		}
	})
	t.Run("unknown handle", func(t *testing.T) {
		e := newTestEngine(t)
		if _, err := e.update(42, s, t0); err != ErrUnknownHandle {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("duplicate instance", func(t *testing.T) {
		e := newTestEngine(t)
		if _, err := e.publish(s, t0); err != nil {
			t.Fatal(err)
		}
		if _, err := e.publish(s, t0); err == nil {
			t.Fatal("published the same instance twice")
		}
	})
}

func TestAddressChangeIsAnnounced(t *testing.T) {
	s := testCommissionable(t)
	e := newTestEngine(t)
	_, now := settle(t, e, &s)
	_, _, out := e.setLinks([]Interface{testIface("192.0.2.11/24", "fe80::1/64")}, now)
	if got := goodbyeTTLs(t, out); got["A"] != 1 {
		t.Fatalf("goodbye for the old address: %v", got)
	}
	later, _ := run(e, now, now.Add(time.Second))
	var a *dns.A
	for _, o := range later {
		if as := rrsOf[*dns.A](o.msg.Answer); len(as) > 0 {
			a = as[0]
			break
		}
	}
	if a == nil || !a.A.Equal(net.ParseIP("192.0.2.11")) || a.Hdr.Class&classCacheFlush == 0 {
		t.Fatalf("announced %v, want 192.0.2.11 with cache-flush", a)
	}
	// A link going away is dropped; one coming back is probed again.
	_, removed, _ := e.setLinks(nil, now)
	if !slices.Equal(removed, []int{testIfIndex}) || len(e.links) != 0 {
		t.Fatalf("removed %v links %v", removed, e.links)
	}
}

func TestLinkSelection(t *testing.T) {
	lo := Interface{Index: 1, Name: "lo", MTU: 65536, Flags: net.FlagUp | net.FlagLoopback,
		Prefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8"), netip.MustParsePrefix("::1/128")}}
	down := testIface("192.0.2.10/24")
	down.Flags = net.FlagMulticast
	p2p := testIface("192.0.2.10/24")
	p2p.Flags |= net.FlagPointToPoint
	noaddr := testIface()
	tests := []struct {
		name       string
		ifi        Interface
		allow      []string
		ok         bool
		can4, can6 bool
	}{
		{"loopback: IPv4 only", lo, nil, true, true, false},
		{"down", down, nil, false, false, false},
		{"point-to-point", p2p, nil, false, false, false},
		{"no address", noaddr, nil, false, false, false},
		{"not in the allow list", testIface("192.0.2.10/24"), []string{"wlan0"}, false, false, false},
		{"in the allow list", testIface("192.0.2.10/24", "fe80::1/64"), []string{"eth0"}, true, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := newEngine(engineConfig{hostLabel: "H", v4: true, v6: true, allow: tt.allow})
			if err != nil {
				t.Fatal(err)
			}
			l := e.makeLink(tt.ifi)
			if (l != nil) != tt.ok {
				t.Fatalf("link %v, want ok=%v", l, tt.ok)
			}
			if l != nil && (l.can4 != tt.can4 || l.can6 != tt.can6) {
				t.Fatalf("can4 %v can6 %v", l.can4, l.can6)
			}
		})
	}
}

func TestAlternativeName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Camera", "Camera (2)"},
		{"Camera (2)", "Camera (3)"},
		{"Camera (9)", "Camera (10)"},
		{"Camera (1)", "Camera (1) (2)"},
		{"Camera (x)", "Camera (x) (2)"},
		{strings.Repeat("a", 63), strings.Repeat("a", 59) + " (2)"},
	}
	for _, tt := range tests {
		if got := alternativeName(tt.in); got != tt.want {
			t.Errorf("alternativeName(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if len(alternativeName(tt.in)) > maxLabel {
			t.Errorf("alternativeName(%q) exceeds one label", tt.in)
		}
	}
}

func TestTXTEncoding(t *testing.T) {
	tests := []struct {
		name    string
		entries []string
		wire    []byte // rdata
	}{
		{"empty is one empty string", nil, []byte{0}},
		{"plain", []string{"D=3840", "CM=1"}, append(append([]byte{6}, "D=3840"...), append([]byte{4}, "CM=1"...)...)},
		{"escapes survive", []string{`DN=a "b" \c d;e`}, append([]byte{15}, `DN=a "b" \c d;e`...)},
		{"utf-8 value", []string{"DN=Kamera ä"}, append([]byte{12}, "DN=Kamera ä"...)},
		{"255 bytes", []string{"k=" + strings.Repeat("v", 253)}, append([]byte{255}, "k="+strings.Repeat("v", 253)...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rr, err := txtRR(testFQDN, 4500, tt.entries)
			if err != nil {
				t.Fatal(err)
			}
			if got := rdataBytes(rr); string(got) != string(tt.wire) {
				t.Fatalf("rdata %q, want %q", got, tt.wire)
			}
			want := tt.entries
			if want == nil {
				want = []string{""}
			}
			if got := txtStrings(rr.(*dns.TXT)); !slices.Equal(got, want) {
				t.Fatalf("strings %q, want %q", got, want)
			}
			// What we build equals what we would parse from the wire.
			m := new(dns.Msg)
			m.Answer = []dns.RR{rr}
			b, err := m.Pack()
			if err != nil {
				t.Fatal(err)
			}
			var back dns.Msg
			if err := back.Unpack(b); err != nil {
				t.Fatal(err)
			}
			if !sameRR(back.Answer[0], rr) {
				t.Fatalf("round trip %v != %v", back.Answer[0], rr)
			}
		})
	}
	if _, err := txtRR(testFQDN, 4500, []string{strings.Repeat("v", 256)}); err == nil {
		t.Fatal("256-byte TXT string accepted")
	}
}

func TestInstanceNameEscaping(t *testing.T) {
	// An instance label with spaces and dots must match on the wire.
	s := testCommissionable(t)
	s.Instance = "My Cam. (Hall)"
	e := newTestEngine(t)
	_, now := settle(t, e, &s)
	out := ask(t, e, now.Add(10*time.Second), query(0, q(`My\ Cam\.\ \(Hall\)._matterc._udp.local.`, dns.TypeSRV)))
	if len(out) != 1 {
		t.Fatalf("escaped instance name not answered: %v", out)
	}
}

func TestCompareProbeSets(t *testing.T) {
	a := &dns.A{Hdr: hdr("h.local.", dns.TypeA, 120), A: net.IPv4(10, 0, 0, 1)}
	b := &dns.A{Hdr: hdr("h.local.", dns.TypeA, 120), A: net.IPv4(10, 0, 0, 2)}
	aaaa := &dns.AAAA{Hdr: hdr("h.local.", dns.TypeAAAA, 120), AAAA: net.ParseIP("fe80::1")}
	tests := []struct {
		name string
		x, y []dns.RR
		want int
	}{
		{"equal", []dns.RR{a}, []dns.RR{a}, 0},
		{"rdata", []dns.RR{a}, []dns.RR{b}, -1},
		{"type before rdata (A=1 < AAAA=28)", []dns.RR{aaaa}, []dns.RR{b}, 1},
		{"order does not matter", []dns.RR{b, a}, []dns.RR{a, b}, 0},
		{"longer set with equal prefix is later", []dns.RR{a, aaaa}, []dns.RR{a}, 1},
	}
	for _, tt := range tests {
		if got := compareProbeSets(tt.x, tt.y); got != tt.want {
			t.Errorf("%s: got %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestBoundedPending(t *testing.T) {
	// A flood of queries for shared records cannot grow the pending list.
	s := testCommissionable(t)
	e := newTestEngine(t)
	_, now := settle(t, e, &s)
	for i := range 1000 {
		src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), mdnsPort)
		e.handle(pkt(t, query(0, q("_matterc._udp.local.", dns.TypePTR)), src, mdnsGroup4), now)
	}
	if n := len(e.links[testIfIndex].pending); n > maxPending {
		t.Fatalf("%d pending answers, limit %d", n, maxPending)
	}
}

func TestTooManyServices(t *testing.T) {
	e, err := newEngine(engineConfig{hostLabel: "H", v4: true, maxServices: 2})
	if err != nil {
		t.Fatal(err)
	}
	s := testCommissionable(t)
	for i := range 3 {
		s.Instance = strings.Repeat(string(rune('A'+i)), 4)
		_, err := e.publish(s, t0)
		if (err != nil) != (i == 2) {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
}
