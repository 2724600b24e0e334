package dnssd

import (
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// mDNS constants (RFC 6762 §3, §5).
const mdnsPort = 5353

var (
	mdnsGroup4 = netip.MustParseAddr("224.0.0.251")
	mdnsGroup6 = netip.MustParseAddr("ff02::fb")
)

// Timing (RFC 6762 §8.1, §8.3, §6).
const (
	probeInterval    = 250 * time.Millisecond
	probeCount       = 3
	announceCount    = 3 // "at least two", one second apart, then doubling
	announceInterval = time.Second
	tieBreakDelay    = time.Second     // §8.2: the loser waits one second
	conflictBackoff  = 5 * time.Second // §8.1: after 15 conflicts in 10 s
	conflictWindow   = 10 * time.Second
	conflictBurst    = 15
	rateLimit        = time.Second            // §6: one multicast per record per second
	defenseRateLimit = 250 * time.Millisecond // §6: except when defending a probe
	sharedDelayMin   = 20 * time.Millisecond  // §6: shared answers wait 20-120 ms
	sharedDelayMax   = 120 * time.Millisecond
	tcDelayMin       = 400 * time.Millisecond // §7.2: truncated queries wait 400-500 ms
	tcDelayMax       = 500 * time.Millisecond
	retiredFor       = 3 * time.Second // how long replaced records still count as ours
)

// Bounds on state the network can grow.
const (
	maxLinks       = 64
	maxPending     = 32 // delayed multicast answers per link
	maxRetired     = 256
	maxLastSent    = 1024
	maxQuestions   = 64  // questions looked at per query
	maxRecordsIn   = 256 // received records looked at per message
	defaultMaxSvcs = 32
)

type family uint8

const (
	fam4 family = 4
	fam6 family = 6
)

type phase uint8

const (
	phaseProbing phase = iota
	phaseAnnouncing
	phaseDone
)

// linkState tracks one name owner (the host or one service) on one link.
type linkState struct {
	phase phase
	count int       // probes or announcements sent in this phase
	next  time.Time // when the next one is due
}

// link is one interface the responder works on.
type link struct {
	index      int
	name       string
	mtu        int
	can4, can6 bool
	prefixes   []netip.Prefix
	addrs      []netip.Addr
	hostRecs   []record
	states     map[Handle]*linkState // hostOwner for the host
	lastSent   map[family]map[string]time.Time
	pending    []*pending
}

const hostOwner Handle = 0

// pending is a multicast answer waiting for its delay (RFC 6762 §6, §7.2).
type pending struct {
	fam     family
	at      time.Time
	src     netip.Addr
	answers []record
	defense bool
}

// entry is one published service.
type entry struct {
	h         Handle
	svc       Service
	n         names
	recs      []record
	conflicts []time.Time
}

type retired struct {
	rr    dns.RR
	until time.Time
}

// outgoing is one message to send: to an mDNS group on ifindex, or unicast.
type outgoing struct {
	ifindex int
	dst     netip.AddrPort
	msg     *dns.Msg
}

// inbound is one received datagram.
type inbound struct {
	data    []byte
	src     netip.AddrPort
	dst     netip.Addr
	ifindex int
}

// Interface describes one network interface as the responder sees it.
type Interface struct {
	Index        int
	Name         string
	MTU          int
	Flags        net.Flags
	HardwareAddr net.HardwareAddr
	Prefixes     []netip.Prefix // the interface's addresses with their prefix lengths
}

// engine is the responder's protocol logic with no I/O: it consumes
// packets, API calls and the passage of time and produces messages. One
// goroutine owns it.
type engine struct {
	log         *slog.Logger
	rand        *rand.Rand
	v4, v6      bool
	allow       map[string]bool // interface names; nil allows all
	maxServices int

	hostBase    string // label the host name started from
	hostLabel   string // current label, after any renames
	host        string // FQDN
	hostRenames int
	hostConfl   []time.Time

	entries map[Handle]*entry
	nextH   Handle
	links   map[int]*link
	retired []retired
}

type engineConfig struct {
	log         *slog.Logger
	rand        *rand.Rand
	hostLabel   string
	v4, v6      bool
	allow       []string
	maxServices int
}

func newEngine(c engineConfig) (*engine, error) {
	label, err := labelPresentation(c.hostLabel)
	if err != nil || c.hostLabel == "" || strings.ContainsAny(c.hostLabel, ". \\") {
		return nil, fmt.Errorf("dnssd: host name %q must be one plain label", c.hostLabel)
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.rand == nil {
		c.rand = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	e := &engine{
		log:         c.log,
		rand:        c.rand,
		v4:          c.v4,
		v6:          c.v6,
		maxServices: c.maxServices,
		hostBase:    label,
		hostLabel:   label,
		host:        label + "." + localDomain,
		entries:     make(map[Handle]*entry),
		links:       make(map[int]*link),
	}
	if e.maxServices <= 0 {
		e.maxServices = defaultMaxSvcs
	}
	if len(c.allow) > 0 {
		e.allow = make(map[string]bool, len(c.allow))
		for _, n := range c.allow {
			e.allow[n] = true
		}
	}
	return e, nil
}

func (e *engine) jitter(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(e.rand.Int64N(int64(hi-lo)+1))
}

// --- API -----------------------------------------------------------------

func (e *engine) publish(s Service, now time.Time) (Handle, error) {
	if err := s.Validate(); err != nil {
		return 0, err
	}
	if len(e.entries) >= e.maxServices {
		return 0, fmt.Errorf("%w: limit %d", ErrTooManyServices, e.maxServices)
	}
	if e.instanceTaken(s, 0) {
		return 0, fmt.Errorf("%w: %q.%s is already published", ErrInvalidService, s.Instance, s.Type)
	}
	e.nextH++
	en := &entry{h: e.nextH, svc: s.Clone()}
	if err := e.build(en); err != nil {
		return 0, err
	}
	e.entries[en.h] = en
	for _, l := range e.sortedLinks() {
		l.states[en.h] = &linkState{next: now.Add(e.jitter(0, probeInterval))}
	}
	return en.h, nil
}

// instanceTaken reports whether another of our entries already uses the
// instance name of s.
func (e *engine) instanceTaken(s Service, except Handle) bool {
	for h, en := range e.entries {
		if h != except && asciiEqualFold(en.svc.Instance, s.Instance) && asciiEqualFold(en.svc.Type, s.Type) {
			return true
		}
	}
	return false
}

func (e *engine) build(en *entry) error {
	n, err := serviceNames(en.svc)
	if err != nil {
		return err
	}
	recs, err := serviceRecords(en.h, n, en.svc, e.host)
	if err != nil {
		return err
	}
	en.n, en.recs = n, recs
	return nil
}

func (e *engine) update(h Handle, s Service, now time.Time) ([]outgoing, error) {
	en, ok := e.entries[h]
	if !ok {
		return nil, ErrUnknownHandle
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if e.instanceTaken(s, h) {
		return nil, fmt.Errorf("%w: %q.%s is already published", ErrInvalidService, s.Instance, s.Type)
	}
	if !sameShape(en.svc, s) {
		// A new name must be probed (RFC 6762 §8.1): say goodbye to the
		// old one and start over under the same handle. The enumeration
		// PTR stays while the type does.
		gone := en.instanceRecords()
		if !asciiEqualFold(en.svc.Type, s.Type) && !e.typeShared(en) {
			gone = append(gone, en.enumRecord()...)
		}
		for _, r := range gone {
			e.retire(r.rr, now)
		}
		out := e.goodbye(en, gone, now)
		en.svc = s.Clone()
		en.conflicts = nil
		if err := e.build(en); err != nil {
			return out, err
		}
		for _, l := range e.sortedLinks() {
			l.states[h] = &linkState{next: now.Add(e.jitter(0, probeInterval))}
		}
		return out, nil
	}
	// Same name, new data: goodbye for records that disappear (subtype
	// PTRs), then announce the new set with cache-flush (RFC 6762 §8.4).
	old := en.recs
	en.svc = s.Clone()
	if err := e.build(en); err != nil {
		return nil, err
	}
	var gone []record
	for _, r := range old {
		if !slices.ContainsFunc(en.recs, func(n record) bool { return sameRR(n.rr, r.rr) }) {
			gone = append(gone, r)
			e.retire(r.rr, now)
		}
	}
	out := e.goodbye(en, gone, now)
	for _, l := range e.sortedLinks() {
		if st := l.states[h]; st != nil && st.phase != phaseProbing {
			*st = linkState{phase: phaseAnnouncing, next: now}
		}
	}
	return out, nil
}

func (e *engine) withdraw(h Handle, now time.Time) ([]outgoing, error) {
	en, ok := e.entries[h]
	if !ok {
		return nil, ErrUnknownHandle
	}
	out := e.goodbye(en, nil, now)
	delete(e.entries, h)
	for _, l := range e.links {
		delete(l.states, h)
		l.dropPendingOwner(h)
	}
	return out, nil
}

// closeAll says goodbye to everything, the host's addresses included
// (RFC 6762 §10.1), and forgets all services.
func (e *engine) closeAll(now time.Time) []outgoing {
	var out []outgoing
	for _, h := range e.sortedHandles() {
		o, _ := e.withdraw(h, now)
		out = append(out, o...)
	}
	for _, l := range e.sortedLinks() {
		if st := l.states[hostOwner]; st == nil || st.phase == phaseProbing {
			continue
		}
		out = append(out, e.multicastAll(l, goodbyeRecords(l.hostRecs), nil)...)
		l.states[hostOwner].phase = phaseProbing
	}
	return out
}

// goodbye builds TTL-0 messages (RFC 6762 §10.1) for recs of en, or for
// all of en's records when recs is nil, on every link where en was
// announced. The enumeration PTR is kept while another service of the same
// type remains.
func (e *engine) goodbye(en *entry, recs []record, now time.Time) []outgoing {
	if recs == nil {
		recs = en.instanceRecords()
		if !e.typeShared(en) {
			recs = append(recs, en.enumRecord()...)
		}
		for _, r := range recs {
			e.retire(r.rr, now)
		}
	}
	if len(recs) == 0 {
		return nil
	}
	var out []outgoing
	for _, l := range e.sortedLinks() {
		if !l.ready(en.h) {
			continue
		}
		out = append(out, e.multicastAll(l, goodbyeRecords(recs), nil)...)
		l.dropPendingRecords(recs)
	}
	return out
}

// instanceRecords returns en's records that name its instance: the type
// and subtype PTRs, SRV and TXT (no NSEC, no enumeration PTR).
func (en *entry) instanceRecords() []record {
	var out []record
	for _, r := range en.recs {
		if r.rtype() != dns.TypeNSEC && !equalName(r.name(), enumName) {
			out = append(out, r)
		}
	}
	return out
}

func (en *entry) enumRecord() []record {
	for _, r := range en.recs {
		if equalName(r.name(), enumName) {
			return []record{r}
		}
	}
	return nil
}

func (e *engine) typeShared(en *entry) bool {
	for h, o := range e.entries {
		if h != en.h && asciiEqualFold(o.svc.Type, en.svc.Type) {
			return true
		}
	}
	return false
}

func goodbyeRecords(recs []record) []record {
	out := make([]record, 0, len(recs))
	for _, r := range recs {
		if r.rtype() == dns.TypeNSEC {
			continue
		}
		c := r
		c.rr = dns.Copy(r.rr)
		c.rr.Header().Ttl = 0
		c.unique = false // a goodbye flushes nothing else (§10.1)
		out = append(out, c)
	}
	return out
}

func (e *engine) retire(rr dns.RR, now time.Time) {
	e.pruneRetired(now)
	if len(e.retired) >= maxRetired {
		e.retired = e.retired[1:]
	}
	e.retired = append(e.retired, retired{rr: dns.Copy(rr), until: now.Add(retiredFor)})
}

func (e *engine) pruneRetired(now time.Time) {
	i := 0
	for i < len(e.retired) && now.After(e.retired[i].until) {
		i++
	}
	e.retired = e.retired[i:]
}

// --- links ---------------------------------------------------------------

// setLinks applies a fresh view of the interfaces. It returns the indexes of
// links that appeared and disappeared, so the caller can join and leave the
// multicast groups, and any messages the change calls for.
func (e *engine) setLinks(ifs []Interface, now time.Time) (added, removed []int, out []outgoing) {
	seen := make(map[int]bool, len(ifs))
	for _, ifi := range ifs {
		if len(seen) >= maxLinks {
			break
		}
		l := e.makeLink(ifi)
		if l == nil {
			continue
		}
		seen[l.index] = true
		old, ok := e.links[l.index]
		if !ok {
			l.states = make(map[Handle]*linkState, len(e.entries)+1)
			l.states[hostOwner] = &linkState{next: now.Add(e.jitter(0, probeInterval))}
			for h := range e.entries {
				l.states[h] = &linkState{next: now.Add(e.jitter(0, probeInterval))}
			}
			e.links[l.index] = l
			added = append(added, l.index)
			continue
		}
		if slices.Equal(old.addrs, l.addrs) {
			old.can4, old.can6, old.mtu, old.prefixes = l.can4, l.can6, l.mtu, l.prefixes
			continue
		}
		// Addresses changed: goodbye for the ones that left, then
		// announce the new set with cache-flush (RFC 6762 §8.4, §10.2).
		var gone []record
		for _, r := range old.hostRecs {
			if r.rtype() != dns.TypeNSEC && !slices.ContainsFunc(l.hostRecs, func(n record) bool { return sameRR(n.rr, r.rr) }) {
				gone = append(gone, r)
				e.retire(r.rr, now)
			}
		}
		old.can4, old.can6, old.mtu, old.prefixes = l.can4, l.can6, l.mtu, l.prefixes
		old.addrs, old.hostRecs = l.addrs, l.hostRecs
		if st := old.states[hostOwner]; st.phase != phaseProbing {
			if len(gone) > 0 {
				out = append(out, e.multicastAll(old, goodbyeRecords(gone), nil)...)
			}
			*st = linkState{phase: phaseAnnouncing, next: now}
		}
	}
	for _, idx := range slices.Sorted(maps.Keys(e.links)) {
		if !seen[idx] {
			delete(e.links, idx)
			removed = append(removed, idx)
		}
	}
	return added, removed, out
}

func (e *engine) makeLink(ifi Interface) *link {
	if e.allow != nil && !e.allow[ifi.Name] {
		return nil
	}
	if ifi.Flags&net.FlagUp == 0 || ifi.Flags&net.FlagPointToPoint != 0 {
		return nil
	}
	mc := ifi.Flags&net.FlagMulticast != 0
	lo := ifi.Flags&net.FlagLoopback != 0
	if !mc && !lo {
		return nil
	}
	l := &link{index: ifi.Index, name: ifi.Name, mtu: ifi.MTU, lastSent: make(map[family]map[string]time.Time)}
	var has4, has6 bool
	for _, p := range ifi.Prefixes {
		a := p.Addr().Unmap()
		if !a.IsValid() || a.IsUnspecified() || a.IsMulticast() {
			continue
		}
		if a.Is4() && !e.v4 || a.Is6() && !e.v6 {
			continue
		}
		p = netip.PrefixFrom(a, p.Bits())
		if slices.Contains(l.addrs, a) {
			continue
		}
		l.prefixes = append(l.prefixes, p)
		l.addrs = append(l.addrs, a)
		has4 = has4 || a.Is4()
		has6 = has6 || a.Is6()
	}
	slices.SortFunc(l.addrs, netip.Addr.Compare)
	// IPv4 multicast works on loopback; IPv6 needs a multicast-capable
	// device (Linux has no ff00::/8 route on lo).
	l.can4 = has4 && (mc || lo)
	l.can6 = has6 && mc
	if !l.can4 && !l.can6 {
		return nil
	}
	l.hostRecs = hostRecords(e.host, l.addrs)
	return l
}

func (e *engine) sortedLinks() []*link {
	out := make([]*link, 0, len(e.links))
	for _, idx := range slices.Sorted(maps.Keys(e.links)) {
		out = append(out, e.links[idx])
	}
	return out
}

func (e *engine) sortedHandles() []Handle { return slices.Sorted(maps.Keys(e.entries)) }

func (l *link) families() []family {
	var f []family
	if l.can4 {
		f = append(f, fam4)
	}
	if l.can6 {
		f = append(f, fam6)
	}
	return f
}

func (l *link) maxMessage() int {
	m := l.mtu
	if m <= 0 {
		m = 1500
	}
	m -= 48             // IPv6 and UDP headers; IPv4 has room to spare
	return min(m, 9000) // RFC 6762 §17
}

// onLink reports whether a is on this link (RFC 6762 §11).
func (l *link) onLink(a netip.Addr) bool {
	a = a.Unmap()
	if a.IsLoopback() || a.Is6() && a.IsLinkLocalUnicast() {
		return true
	}
	for _, p := range l.prefixes {
		if p.Contains(a.WithZone("")) {
			return true
		}
	}
	return false
}

func (l *link) dropPendingOwner(h Handle) {
	for _, p := range l.pending {
		p.answers = slices.DeleteFunc(p.answers, func(r record) bool { return r.owner == h })
	}
}

func (l *link) dropPendingRecords(recs []record) {
	for _, p := range l.pending {
		p.answers = slices.DeleteFunc(p.answers, func(r record) bool {
			return slices.ContainsFunc(recs, func(g record) bool { return sameRR(g.rr, r.rr) })
		})
	}
}

// --- what we own ---------------------------------------------------------

// ready reports whether owner h may answer on l (its probing is over).
func (l *link) ready(h Handle) bool {
	st := l.states[h]
	return st != nil && st.phase != phaseProbing
}

// answerable returns the records l may answer with, host records first.
func (e *engine) answerable(l *link) []record {
	var out []record
	if l.ready(hostOwner) {
		out = append(out, l.hostRecs...)
	}
	enumSeen := make(map[string]bool)
	for _, h := range e.sortedHandles() {
		if !l.ready(h) {
			continue
		}
		for _, r := range e.entries[h].recs {
			if equalName(r.name(), enumName) {
				k := dns.CanonicalName(r.rr.(*dns.PTR).Ptr)
				if enumSeen[k] {
					continue
				}
				enumSeen[k] = true
			}
			out = append(out, r)
		}
	}
	return out
}

// isOurs reports whether rr is one of our records on any link, in any
// phase, or one we replaced within the last few seconds (so a looped-back
// copy of our own older announcement is no conflict).
func (e *engine) isOurs(rr dns.RR, now time.Time) bool {
	for _, l := range e.links {
		for _, r := range l.hostRecs {
			if sameRR(r.rr, rr) {
				return true
			}
		}
	}
	for _, en := range e.entries {
		for _, r := range en.recs {
			if sameRR(r.rr, rr) {
				return true
			}
		}
	}
	for _, r := range e.retired {
		if now.Before(r.until) && sameRR(r.rr, rr) {
			return true
		}
	}
	return false
}

// uniqueOwner returns the owner of a unique name: the host or an entry.
func (e *engine) uniqueOwner(name string) (Handle, bool) {
	if equalName(name, e.host) {
		return hostOwner, true
	}
	for h, en := range e.entries {
		if equalName(name, en.n.instance) {
			return h, true
		}
	}
	return 0, false
}

// proposed returns the unique records owner h claims on l.
func (e *engine) proposed(l *link, h Handle) []record {
	src := l.hostRecs
	if h != hostOwner {
		src = e.entries[h].recs
	}
	var out []record
	for _, r := range src {
		if r.unique && r.rtype() != dns.TypeNSEC {
			out = append(out, r)
		}
	}
	return out
}

func (e *engine) ownerName(h Handle) string {
	if h == hostOwner {
		return e.host
	}
	return e.entries[h].n.instance
}

// --- timers --------------------------------------------------------------

// next returns when tick must run next; the zero time means nothing is due.
func (e *engine) next() time.Time {
	var t time.Time
	earlier := func(c time.Time) {
		if t.IsZero() || c.Before(t) {
			t = c
		}
	}
	for _, l := range e.links {
		for _, st := range l.states {
			if st.phase != phaseDone {
				earlier(st.next)
			}
		}
		for _, p := range l.pending {
			earlier(p.at)
		}
	}
	return t
}

// tick sends every probe, announcement and delayed answer that is due.
func (e *engine) tick(now time.Time) []outgoing {
	var out []outgoing
	for _, l := range e.sortedLinks() {
		owners := slices.Sorted(maps.Keys(l.states))
		for _, h := range owners {
			st := l.states[h]
			if st.phase == phaseDone || now.Before(st.next) {
				continue
			}
			out = append(out, e.step(l, h, st, now)...)
		}
		out = append(out, e.flush(l, now)...)
	}
	return out
}

func (e *engine) step(l *link, h Handle, st *linkState, now time.Time) []outgoing {
	switch st.phase {
	case phaseProbing:
		if st.count < probeCount {
			st.count++
			st.next = now.Add(probeInterval)
			return e.probe(l, h)
		}
		if hs := l.states[hostOwner]; h != hostOwner && hs.phase == phaseProbing {
			// Announce together with the host's addresses, so the
			// first announcement already resolves (RFC 6763 §12).
			st.next = hs.next
			return nil
		}
		*st = linkState{phase: phaseAnnouncing, next: now}
		fallthrough
	case phaseAnnouncing:
		st.count++
		if st.count >= announceCount {
			st.phase = phaseDone
		} else {
			st.next = now.Add(announceInterval << (st.count - 1))
		}
		return e.announce(l, h, now)
	}
	return nil
}

// probe builds a probe (RFC 6762 §8.1): a QU query of type ANY for the
// name with our proposed records in the authority section.
func (e *engine) probe(l *link, h Handle) []outgoing {
	recs := e.proposed(l, h)
	if len(recs) == 0 {
		return nil
	}
	m := new(dns.Msg)
	m.Question = []dns.Question{{Name: e.ownerName(h), Qtype: dns.TypeANY, Qclass: dns.ClassINET | qclassUnicast}}
	for _, r := range recs {
		m.Ns = append(m.Ns, wire(r, r.ttl(), false))
	}
	var out []outgoing
	for _, f := range l.families() {
		out = append(out, outgoing{ifindex: l.index, dst: group(f), msg: m})
	}
	return out
}

// announce builds an unsolicited response (RFC 6762 §8.3) with every
// record of owner h on l, cache-flush set on unique ones.
func (e *engine) announce(l *link, h Handle, now time.Time) []outgoing {
	var answers []record
	if h == hostOwner {
		for _, r := range l.hostRecs {
			if r.rtype() != dns.TypeNSEC {
				answers = append(answers, r)
			}
		}
	} else {
		for _, r := range e.entries[h].recs {
			if r.rtype() != dns.TypeNSEC {
				answers = append(answers, r)
			}
		}
	}
	out := e.multicastAll(l, answers, e.additional(l, answers))
	for _, f := range l.families() {
		l.markSent(f, answers, now)
	}
	return out
}

// multicastAll sends answers and extra to the group on every family of l.
func (e *engine) multicastAll(l *link, answers, extra []record) []outgoing {
	if len(answers) == 0 {
		return nil
	}
	var out []outgoing
	for _, f := range l.families() {
		for _, m := range buildResponse(answers, extra, l.maxMessage()) {
			out = append(out, outgoing{ifindex: l.index, dst: group(f), msg: m})
		}
	}
	return out
}

func group(f family) netip.AddrPort {
	if f == fam4 {
		return netip.AddrPortFrom(mdnsGroup4, mdnsPort)
	}
	return netip.AddrPortFrom(mdnsGroup6, mdnsPort)
}

func (l *link) markSent(f family, recs []record, now time.Time) {
	m := l.lastSent[f]
	if m == nil {
		m = make(map[string]time.Time)
		l.lastSent[f] = m
	}
	if len(m)+len(recs) > maxLastSent {
		for k, t := range m {
			if now.Sub(t) > rateLimit {
				delete(m, k)
			}
		}
		if len(m)+len(recs) > maxLastSent {
			clear(m)
		}
	}
	for _, r := range recs {
		m[rrKey(r.rr)] = now
	}
}

func (l *link) sentWithin(f family, r record, now time.Time, d time.Duration) bool {
	t, ok := l.lastSent[f][rrKey(r.rr)]
	return ok && now.Sub(t) < d
}

// --- messages ------------------------------------------------------------

// buildResponse builds mDNS responses (RFC 6762 §18: ID 0, QR and AA set,
// no questions) that fit max bytes, splitting the answers if needed and
// dropping additional records first.
func buildResponse(answers, extra []record, max int) []*dns.Msg {
	newMsg := func() *dns.Msg {
		m := new(dns.Msg)
		m.Response = true
		m.Authoritative = true
		m.Compress = true
		return m
	}
	m := newMsg()
	for _, r := range answers {
		m.Answer = append(m.Answer, wire(r, r.ttl(), true))
	}
	for _, r := range extra {
		m.Extra = append(m.Extra, wire(r, r.ttl(), true))
	}
	if m.Len() <= max {
		return []*dns.Msg{m}
	}
	m.Extra = nil
	if m.Len() <= max {
		return []*dns.Msg{m}
	}
	var out []*dns.Msg
	cur := newMsg()
	for _, rr := range m.Answer {
		cur.Answer = append(cur.Answer, rr)
		if cur.Len() > max && len(cur.Answer) > 1 {
			cur.Answer = cur.Answer[:len(cur.Answer)-1]
			out = append(out, cur)
			cur = newMsg()
			cur.Answer = append(cur.Answer, rr)
		}
	}
	return append(out, cur)
}

// additional returns the additional records RFC 6763 §12 asks for: SRV,
// TXT and addresses for a service PTR; addresses for an SRV; the other
// address family for an address record; NSECs alongside (RFC 6762 §6.1).
func (e *engine) additional(l *link, answers []record) []record {
	avail := e.answerable(l)
	var out []record
	add := func(name string, types ...uint16) {
		for _, r := range avail {
			if equalName(r.name(), name) && slices.Contains(types, r.rtype()) &&
				!slices.ContainsFunc(answers, func(a record) bool { return sameRR(a.rr, r.rr) }) &&
				!slices.ContainsFunc(out, func(a record) bool { return sameRR(a.rr, r.rr) }) {
				out = append(out, r)
			}
		}
	}
	for _, a := range answers {
		switch rr := a.rr.(type) {
		case *dns.PTR:
			if equalName(rr.Hdr.Name, enumName) {
				continue
			}
			add(rr.Ptr, dns.TypeSRV, dns.TypeTXT, dns.TypeNSEC)
			for _, r := range avail {
				if srv, ok := r.rr.(*dns.SRV); ok && equalName(srv.Hdr.Name, rr.Ptr) {
					add(srv.Target, dns.TypeA, dns.TypeAAAA, dns.TypeNSEC)
				}
			}
		case *dns.SRV:
			add(rr.Target, dns.TypeA, dns.TypeAAAA, dns.TypeNSEC)
		case *dns.A, *dns.AAAA:
			add(a.name(), dns.TypeA, dns.TypeAAAA, dns.TypeNSEC)
		}
	}
	return out
}

// --- receiving -----------------------------------------------------------

// handle processes one datagram. It never panics on malformed input.
func (e *engine) handle(p inbound, now time.Time) []outgoing {
	l := e.links[p.ifindex]
	if l == nil {
		return nil
	}
	m := new(dns.Msg)
	if err := m.Unpack(p.data); err != nil {
		return nil
	}
	// RFC 6762 §18.3, §18.11: only standard queries with rcode 0.
	if m.Opcode != dns.OpcodeQuery || m.Rcode != dns.RcodeSuccess {
		return nil
	}
	unicastDst := p.dst.IsValid() && !p.dst.IsMulticast()
	if unicastDst && !l.onLink(p.src.Addr()) {
		return nil // §11: unicast from off-link sources is ignored
	}
	// Bound the work one datagram can cause.
	m.Question = m.Question[:min(len(m.Question), maxQuestions)]
	m.Answer = m.Answer[:min(len(m.Answer), maxRecordsIn)]
	m.Ns = m.Ns[:min(len(m.Ns), maxRecordsIn)]
	m.Extra = m.Extra[:min(len(m.Extra), maxRecordsIn)]
	for _, s := range [][]dns.RR{m.Answer, m.Ns, m.Extra} {
		for _, rr := range s {
			stripFlush(rr)
		}
	}
	f := fam6
	if p.src.Addr().Unmap().Is4() {
		f = fam4
	}
	var out []outgoing
	if m.Response {
		// §6: responses not from port 5353 are ignored.
		if p.src.Port() == mdnsPort {
			out = e.handleResponse(l, m, now)
		}
	} else {
		out = e.handleQuery(l, f, m, p, unicastDst, now)
	}
	return append(out, e.flush(l, now)...)
}

func (e *engine) handleResponse(l *link, m *dns.Msg, now time.Time) []outgoing {
	var out []outgoing
	conflicted := make(map[Handle]bool)
	for _, s := range [][]dns.RR{m.Answer, m.Ns, m.Extra} {
		for _, rr := range s {
			h := rr.Header()
			if h.Ttl == 0 {
				continue // a goodbye claims nothing
			}
			// §7.4 duplicate answer suppression: someone else already
			// multicast this answer with at least half our TTL.
			for _, p := range l.pending {
				p.answers = slices.DeleteFunc(p.answers, func(r record) bool {
					return sameRR(r.rr, rr) && h.Ttl >= r.ttl()/2
				})
			}
			owner, ok := e.uniqueOwner(h.Name)
			if !ok || conflicted[owner] || e.isOurs(rr, now) {
				continue
			}
			conflicted[owner] = true
		}
	}
	for _, h := range slices.Sorted(maps.Keys(conflicted)) {
		out = append(out, e.conflict(h, now)...)
	}
	return out
}

// conflict handles another host's record under one of our unique names
// (RFC 6762 §9): pick a new name and probe it.
func (e *engine) conflict(h Handle, now time.Time) []outgoing {
	var out []outgoing
	delay := e.jitter(0, probeInterval)
	if h == hostOwner {
		e.hostConfl = recentConflicts(e.hostConfl, now)
		if len(e.hostConfl) >= conflictBurst {
			delay = conflictBackoff
		}
		for _, l := range e.sortedLinks() {
			if l.ready(hostOwner) {
				out = append(out, e.multicastAll(l, goodbyeRecords(l.hostRecs), nil)...)
			}
		}
		e.hostRenames++
		e.hostLabel = e.hostBase + "-" + strconv.Itoa(e.hostRenames+1)
		e.host = e.hostLabel + "." + localDomain
		e.log.Warn("host name conflict, renamed", "host", e.host)
		// Every SRV names the host: rebuild, and probe everything again.
		for _, en := range e.entries {
			if err := e.build(en); err != nil {
				e.log.Error("rebuild after host rename", "err", err)
			}
		}
		for _, l := range e.links {
			l.hostRecs = hostRecords(e.host, l.addrs)
			for _, st := range l.states {
				*st = linkState{next: now.Add(delay)}
			}
			l.pending = nil
		}
		return out
	}
	en := e.entries[h]
	en.conflicts = recentConflicts(en.conflicts, now)
	if len(en.conflicts) >= conflictBurst {
		delay = conflictBackoff
	}
	// The type stays advertised under the new name, so the enumeration
	// PTR gets no goodbye.
	gone := en.instanceRecords()
	for _, r := range gone {
		e.retire(r.rr, now)
	}
	out = append(out, e.goodbye(en, gone, now)...)
	old := en.svc.Instance
	for {
		en.svc.Instance = alternativeName(en.svc.Instance)
		if !e.instanceTaken(en.svc, h) {
			break
		}
	}
	if err := e.build(en); err != nil {
		e.log.Error("rename after conflict", "err", err)
	}
	e.log.Warn("service name conflict, renamed", "from", old, "to", en.svc.Instance, "type", en.svc.Type)
	for _, l := range e.links {
		if st := l.states[h]; st != nil {
			*st = linkState{next: now.Add(delay)}
		}
		l.dropPendingOwner(h)
	}
	return out
}

func recentConflicts(ts []time.Time, now time.Time) []time.Time {
	ts = slices.DeleteFunc(ts, func(t time.Time) bool { return now.Sub(t) > conflictWindow })
	if len(ts) >= conflictBurst {
		ts = ts[1:]
	}
	return append(ts, now)
}

// alternativeName turns "Name" into "Name (2)" and "Name (2)" into
// "Name (3)" (RFC 6762 §9, RFC 6763 Appendix D), staying within one label.
func alternativeName(s string) string {
	n := 2
	base := s
	if i := strings.LastIndex(s, " ("); i >= 0 && strings.HasSuffix(s, ")") {
		if v, err := strconv.Atoi(s[i+2 : len(s)-1]); err == nil && v >= 2 {
			base, n = s[:i], v+1
		}
	}
	suffix := " (" + strconv.Itoa(n) + ")"
	if len(base)+len(suffix) > maxLabel {
		base = base[:maxLabel-len(suffix)]
	}
	return base + suffix
}

func (e *engine) handleQuery(l *link, f family, m *dns.Msg, p inbound, unicastDst bool, now time.Time) []outgoing {
	known := m.Answer
	if len(m.Question) == 0 {
		// §7.2: continuation packet of known answers after a TC query.
		for _, pd := range l.pending {
			if pd.src == p.src.Addr() {
				pd.answers = dropKnown(pd.answers, known)
			}
		}
		return nil
	}
	if len(m.Ns) > 0 {
		e.tieBreak(l, m.Ns, now)
	}
	legacy := p.src.Port() != mdnsPort
	avail := e.answerable(l)
	var mc, uc []record
	defense := false
	for _, q := range m.Question {
		cls := q.Qclass &^ qclassUnicast
		if cls != dns.ClassINET && cls != dns.ClassANY {
			continue
		}
		ans := dropKnown(matchQuestion(avail, q), known)
		if len(m.Ns) > 0 && slices.ContainsFunc(ans, func(r record) bool { return r.unique }) {
			defense = true
		}
		qu := q.Qclass&qclassUnicast != 0 || unicastDst
		for _, a := range ans {
			switch {
			case legacy:
				uc = appendRecord(uc, a)
			case qu && l.sentWithin(f, a, now, time.Duration(a.ttl())*time.Second/4):
				// §5.4: unicast only if the record was multicast recently.
				uc = appendRecord(uc, a)
			default:
				mc = appendRecord(mc, a)
			}
		}
	}
	var out []outgoing
	if len(uc) > 0 {
		extra := dropKnown(e.additional(l, uc), known)
		if legacy {
			out = append(out, legacyReply(m, uc, extra, p.src))
		} else {
			for _, r := range buildResponse(uc, extra, l.maxMessage()) {
				r.Id = m.Id
				out = append(out, outgoing{ifindex: l.index, dst: p.src, msg: r})
			}
		}
	}
	if len(mc) > 0 && len(l.pending) < maxPending {
		pd := &pending{fam: f, at: now, src: p.src.Addr(), answers: mc, defense: defense}
		switch {
		case m.Truncated:
			pd.at = now.Add(e.jitter(tcDelayMin, tcDelayMax))
		case slices.ContainsFunc(mc, func(r record) bool { return !r.unique }):
			pd.at = now.Add(e.jitter(sharedDelayMin, sharedDelayMax))
		}
		l.pending = append(l.pending, pd)
	}
	return out
}

func appendRecord(s []record, r record) []record {
	if slices.ContainsFunc(s, func(o record) bool { return sameRR(o.rr, r.rr) }) {
		return s
	}
	return append(s, r)
}

// matchQuestion returns the records answering q on l, or the NSEC that
// denies the type when the name is ours and has no such record (§6.1).
func matchQuestion(avail []record, q dns.Question) []record {
	var out []record
	var nsec *record
	for i, r := range avail {
		if !equalName(r.name(), q.Name) {
			continue
		}
		if r.rtype() == dns.TypeNSEC {
			nsec = &avail[i]
			continue
		}
		if q.Qtype == dns.TypeANY || q.Qtype == r.rtype() {
			out = append(out, r)
		}
	}
	if len(out) == 0 && nsec != nil && q.Qtype != dns.TypeANY {
		out = append(out, *nsec)
	}
	return out
}

// dropKnown implements known-answer suppression (RFC 6762 §7.1): a record
// the querier already holds with at least half its TTL left is not sent.
func dropKnown(recs []record, known []dns.RR) []record {
	if len(known) == 0 {
		return recs
	}
	return slices.DeleteFunc(slices.Clone(recs), func(r record) bool {
		return slices.ContainsFunc(known, func(k dns.RR) bool {
			return k.Header().Ttl >= r.ttl()/2 && sameRR(k, r.rr)
		})
	})
}

// legacyReply answers a query from a port other than 5353 (RFC 6762 §6.7):
// unicast, same ID, the question repeated, TTLs of at most 10 s, no
// cache-flush bits, and the classic 512-byte limit unless EDNS0 says more.
func legacyReply(q *dns.Msg, answers, extra []record, dst netip.AddrPort) outgoing {
	m := new(dns.Msg)
	m.Id = q.Id
	m.Response = true
	m.Authoritative = true
	m.Compress = true
	m.Question = slices.Clone(q.Question)
	for i := range m.Question {
		m.Question[i].Qclass &^= qclassUnicast
	}
	for _, r := range answers {
		m.Answer = append(m.Answer, wire(r, min(r.ttl(), legacyTTL), false))
	}
	for _, r := range extra {
		m.Extra = append(m.Extra, wire(r, min(r.ttl(), legacyTTL), false))
	}
	size := dns.MinMsgSize
	if o := q.IsEdns0(); o != nil && int(o.UDPSize()) > size {
		size = min(int(o.UDPSize()), 9000)
	}
	m.Truncate(size)
	m.Compress = true
	return outgoing{dst: dst, msg: m}
}

// tieBreak handles a probe from another host for a name we are probing
// (RFC 6762 §8.2): if their data sorts later, we wait a second and probe
// again.
func (e *engine) tieBreak(l *link, auth []dns.RR, now time.Time) {
	byName := make(map[string][]dns.RR)
	for _, rr := range auth {
		k := dns.CanonicalName(rr.Header().Name)
		byName[k] = append(byName[k], rr)
	}
	for _, k := range slices.Sorted(maps.Keys(byName)) {
		theirs := byName[k]
		h, ok := e.uniqueOwner(k)
		if !ok {
			continue
		}
		st := l.states[h]
		if st == nil || st.phase != phaseProbing || st.count == 0 {
			continue
		}
		if !slices.ContainsFunc(theirs, func(rr dns.RR) bool { return !e.isOurs(rr, now) }) {
			continue // our own probe, looped back
		}
		var ours []dns.RR
		for _, r := range e.proposed(l, h) {
			ours = append(ours, r.rr)
		}
		if compareProbeSets(ours, theirs) < 0 {
			*st = linkState{next: now.Add(tieBreakDelay)}
		}
	}
}

// flush sends the delayed multicast answers on l that are due, merged per
// family, minus anything multicast within the last second (RFC 6762 §6).
func (e *engine) flush(l *link, now time.Time) []outgoing {
	var out []outgoing
	for _, f := range []family{fam4, fam6} {
		var answers []record
		defense := false
		keep := l.pending[:0]
		for _, p := range l.pending {
			if p.fam != f || now.Before(p.at) {
				keep = append(keep, p)
				continue
			}
			defense = defense || p.defense
			for _, a := range p.answers {
				answers = appendRecord(answers, a)
			}
		}
		clear(l.pending[len(keep):])
		l.pending = keep
		limit := rateLimit
		if defense {
			limit = defenseRateLimit
		}
		answers = slices.DeleteFunc(answers, func(r record) bool { return l.sentWithin(f, r, now, limit) })
		if len(answers) == 0 || (f == fam4 && !l.can4) || (f == fam6 && !l.can6) {
			continue
		}
		extra := e.additional(l, answers)
		for _, m := range buildResponse(answers, extra, l.maxMessage()) {
			out = append(out, outgoing{ifindex: l.index, dst: group(f), msg: m})
		}
		l.markSent(f, answers, now)
	}
	return out
}
