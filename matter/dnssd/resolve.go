package dnssd

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// One-shot resolution of a Matter service instance over multicast DNS
// (RFC 6762 §5.1, §5.2; RFC 6763 §4.3): the SRV and TXT records of
// "<instance>.<type>.local." and the A/AAAA records of the SRV target.
// A node uses it to find the operational address of a peer on one of its
// fabrics, instance "<CompressedFabricID>-<NodeID>" of "_matter._tcp"
// (Core §4.3.2, "Operational Discovery").

// DefaultResolveTimeout bounds Resolve when ResolveConfig.Timeout is zero.
const DefaultResolveTimeout = 3 * time.Second

// Bounds on what one resolution keeps of what the network sends.
const (
	maxResolveAddrs   = 16   // addresses kept per host name
	maxResolveHosts   = 8    // host names whose addresses are kept before the SRV is known
	maxResolveTXT     = 64   // TXT strings kept
	maxResolveTXTSize = 1300 // TXT bytes kept (RFC 6763 §6.2: fits one packet)
	maxResolveMessage = 9000 // RFC 6762 §17: the largest mDNS message
	resolveQueueLen   = 32   // datagrams waiting for the resolver loop
)

// resolveIntervals are the waits between the queries of one resolution:
// RFC 6762 §5.2 has a querier wait at least one second before its second
// query and double the interval after that.
var resolveIntervals = []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}

// ErrNotFound reports a service instance nobody answered for within the
// timeout.
var ErrNotFound = errors.New("dnssd: service instance not found")

// ResolveConfig configures Resolve. The zero value queries on every up,
// multicast-capable interface and loopback, IPv4 and IPv6.
type ResolveConfig struct {
	// Interfaces limits the query to these interface names.
	Interfaces []string
	// DisableIPv4 and DisableIPv6 skip one address family.
	DisableIPv4, DisableIPv6 bool
	// Timeout bounds the resolution when ctx has no earlier deadline; zero
	// means DefaultResolveTimeout.
	Timeout time.Duration
	// ListInterfaces replaces the system interface list (tests).
	ListInterfaces func() ([]Interface, error)
}

// Resolved is what multicast DNS returned for one service instance.
type Resolved struct {
	// Instance is the instance label and Type the service type, as asked.
	Instance, Type string
	// Host is the SRV target, Port its port.
	Host string
	Port uint16
	// TXT holds the TXT strings ("key=value"); nil if no TXT record came
	// before the deadline.
	TXT []string
	// Addrs are the host's addresses, preferred first: routable IPv6, then
	// IPv4, then link-local addresses (IPv6 ones carry the zone of the
	// interface they were learnt on).
	Addrs []netip.Addr
}

// AddrPorts returns Addrs with Port.
func (r *Resolved) AddrPorts() []netip.AddrPort {
	out := make([]netip.AddrPort, len(r.Addrs))
	for i, a := range r.Addrs {
		out[i] = netip.AddrPortFrom(a, r.Port)
	}
	return out
}

// Params decodes the common Matter TXT keys SII, SAI, SAT, T and ICD (Core
// §4.3, "Common TXT Key/Value Pairs"). Unknown keys are ignored; a key
// with a malformed or out-of-range value is an error.
func (r *Resolved) Params() (CommonParams, error) {
	var p CommonParams
	for _, kv := range r.TXT {
		k, v, _ := strings.Cut(kv, "=")
		var err error
		switch strings.ToUpper(k) {
		case "SII":
			p.SessionIdleInterval, err = txtMillis(v, MaxSessionInterval)
		case "SAI":
			p.SessionActiveInterval, err = txtMillis(v, MaxSessionInterval)
		case "SAT":
			p.SessionActiveThreshold, err = txtMillis(v, MaxActiveThreshold)
		case "T":
			var n uint64
			n, err = strconv.ParseUint(v, 10, 8)
			p.TCP = TCPSupport(n) &^ 1 // bit 0 is reserved
		case "ICD":
			switch v {
			case "0":
				p.ICD = ICDSIT
			case "1":
				p.ICD = ICDLIT
			default:
				err = errors.New("not 0 or 1")
			}
		}
		if err != nil {
			return CommonParams{}, fmt.Errorf("dnssd: %s TXT %q: %w", r.Instance, kv, err)
		}
	}
	return p, nil
}

func txtMillis(v string, limit time.Duration) (time.Duration, error) {
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil {
		return 0, err
	}
	d := time.Duration(n) * time.Millisecond
	if d > limit {
		return 0, fmt.Errorf("above %v", limit)
	}
	return d, nil
}

// ResolveOperational resolves the operational service of node nodeID on
// the fabric with the given compressed fabric ID (Core §4.3.2).
func ResolveOperational(ctx context.Context, cfg ResolveConfig, compressedFabricID [8]byte, nodeID uint64) (*Resolved, error) {
	return Resolve(ctx, cfg, OperationalInstanceName(compressedFabricID, nodeID), TypeOperational)
}

// Resolve looks up one service instance with multicast DNS queries on the
// local links and returns its host, port, TXT strings and addresses. It
// returns as soon as it has the SRV record, the TXT record and at least one
// address; at the deadline it returns what it has if that includes the SRV
// record and an address, and an error wrapping ErrNotFound otherwise.
//
// It queries from UDP port 5353 (shared with any responder on the host), so
// that it also hears responders that answer only by multicast, as
// matter.js does; if that port cannot be bound it queries from an
// ephemeral port, which responders answer by unicast (RFC 6762 §6.7). Every
// goroutine it starts has stopped when it returns.
func Resolve(ctx context.Context, cfg ResolveConfig, instance, serviceType string) (*Resolved, error) {
	if err := validateInstance(instance); err != nil {
		return nil, err
	}
	if err := validateType(serviceType); err != nil {
		return nil, err
	}
	if cfg.DisableIPv4 && cfg.DisableIPv6 {
		return nil, errors.New("dnssd: resolve: both address families disabled")
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultResolveTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	list := cfg.ListInterfaces
	if list == nil {
		list = SystemInterfaces
	}
	ifs, err := list()
	if err != nil {
		return nil, fmt.Errorf("dnssd: resolve: list interfaces: %w", err)
	}
	links := queryLinks(ifs, cfg)
	if len(links) == 0 {
		return nil, errors.New("dnssd: resolve: no interface to query on")
	}
	res, err := newResolution(instance, serviceType)
	if err != nil {
		return nil, err
	}
	q, err := openQuerier(links)
	if err != nil {
		return nil, err
	}
	defer q.close()

	q.send(res.query())
	t := time.NewTimer(resolveIntervals[0])
	defer t.Stop()
	for i := 1; ; {
		select {
		case p := <-q.in:
			res.add(p.data, q.zone(p.ifindex))
			if res.complete() {
				return res.result()
			}
		case <-t.C:
			// Ask again for what is still missing.
			q.send(res.query())
			t.Reset(resolveIntervals[min(i, len(resolveIntervals)-1)])
			i++
		case <-ctx.Done():
			if r, err := res.result(); err == nil && len(r.Addrs) > 0 {
				return r, nil // no TXT record, but enough to connect
			}
			return nil, fmt.Errorf("dnssd: resolve %s.%s: %w (%w)", instance, serviceType, ErrNotFound, ctx.Err())
		}
	}
}

// queryLink is an interface a query goes out on.
type queryLink struct {
	index      int
	name       string
	can4, can6 bool
}

// queryLinks picks the interfaces to query on, as the responder picks the
// ones it answers on: up, not point-to-point, multicast-capable (IPv4 also
// on loopback), with an address of the family.
func queryLinks(ifs []Interface, cfg ResolveConfig) []queryLink {
	var out []queryLink
	for _, ifi := range ifs {
		if len(out) >= maxLinks {
			break
		}
		if len(cfg.Interfaces) > 0 && !slices.Contains(cfg.Interfaces, ifi.Name) {
			continue
		}
		if ifi.Flags&net.FlagUp == 0 || ifi.Flags&net.FlagPointToPoint != 0 {
			continue
		}
		mc, lo := ifi.Flags&net.FlagMulticast != 0, ifi.Flags&net.FlagLoopback != 0
		l := queryLink{index: ifi.Index, name: ifi.Name}
		for _, p := range ifi.Prefixes {
			a := p.Addr().Unmap()
			l.can4 = l.can4 || (a.Is4() && !cfg.DisableIPv4 && (mc || lo))
			l.can6 = l.can6 || (a.Is6() && !cfg.DisableIPv6 && mc)
		}
		if l.can4 || l.can6 {
			out = append(out, l)
		}
	}
	return out
}

// datagram is one received message and the interface it came in on.
type datagram struct {
	data    []byte
	ifindex int
}

// querier owns the sockets of one resolution and their reader goroutines.
type querier struct {
	links []queryLink
	conn4 *ipv4.PacketConn
	conn6 *ipv6.PacketConn
	in    chan datagram
	wg    sync.WaitGroup
	id    uint16
}

func openQuerier(links []queryLink) (*querier, error) {
	q := &querier{links: links, in: make(chan datagram, resolveQueueLen)}
	var want4, want6 bool
	for _, l := range links {
		want4, want6 = want4 || l.can4, want6 || l.can6
	}
	// Port 5353 first, so multicast answers reach us; an ephemeral port if
	// it cannot be shared, so responders answer by unicast. The sockets are
	// set up as the responder's are (setup4, setup6).
	listen := func(network, host string) (net.PacketConn, bool, error) {
		lc := net.ListenConfig{Control: reuseControl}
		c, err := lc.ListenPacket(context.Background(), network, net.JoinHostPort(host, strconv.Itoa(mdnsPort)))
		if err == nil {
			return c, true, nil
		}
		c, err = net.ListenPacket(network, net.JoinHostPort(host, "0"))
		return c, false, err
	}
	// Joining the group on port 5353 is best effort per link: where it
	// fails, the query still goes out, answers still arrive if another
	// socket on the host (the responder's) joined the group on that link
	// (Linux delivers to every socket on the port, IP_MULTICAST_ALL), and
	// the other links are unaffected.
	var errs []error
	if want4 {
		c, shared, err := listen("udp4", "0.0.0.0")
		if err == nil {
			q.conn4, err = setup4(c)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("ipv4: %w", err))
		}
		for _, l := range links {
			if q.conn4 != nil && shared && l.can4 {
				if ifi, err := net.InterfaceByIndex(l.index); err == nil {
					_ = q.conn4.JoinGroup(ifi, &net.UDPAddr{IP: mdnsGroup4.AsSlice()}) // best effort, see above
				}
			}
		}
	}
	if want6 {
		c, shared, err := listen("udp6", "::")
		if err == nil {
			q.conn6, err = setup6(c)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("ipv6: %w", err))
		}
		for _, l := range links {
			if q.conn6 != nil && shared && l.can6 {
				if ifi, err := net.InterfaceByIndex(l.index); err == nil {
					_ = q.conn6.JoinGroup(ifi, &net.UDPAddr{IP: mdnsGroup6.AsSlice()}) // best effort, see above
				}
			}
		}
	}
	if q.conn4 == nil && q.conn6 == nil {
		return nil, fmt.Errorf("dnssd: resolve: no socket: %w", errors.Join(errs...))
	}
	var b [2]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	q.id = uint16(b[0])<<8 | uint16(b[1])
	if q.conn4 != nil {
		q.wg.Add(1)
		go q.read(func(buf []byte) (int, int, error) {
			n, cm, _, err := q.conn4.ReadFrom(buf)
			if cm == nil {
				return n, -1, err
			}
			return n, cm.IfIndex, err
		})
	}
	if q.conn6 != nil {
		q.wg.Add(1)
		go q.read(func(buf []byte) (int, int, error) {
			n, cm, _, err := q.conn6.ReadFrom(buf)
			if cm == nil {
				return n, -1, err
			}
			return n, cm.IfIndex, err
		})
	}
	return q, nil
}

// read feeds received datagrams to the resolver loop until the socket
// closes; datagrams that find the queue full are dropped.
func (q *querier) read(readFrom func([]byte) (n, ifindex int, err error)) {
	defer q.wg.Done()
	buf := make([]byte, maxResolveMessage)
	for {
		n, ifindex, err := readFrom(buf)
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil || ifindex < 0 {
			continue
		}
		select {
		case q.in <- datagram{data: slices.Clone(buf[:n]), ifindex: ifindex}:
		default:
		}
	}
}

func (q *querier) close() {
	if q.conn4 != nil {
		q.conn4.Close()
	}
	if q.conn6 != nil {
		q.conn6.Close()
	}
	q.wg.Wait()
}

// zone names the interface with the given index, for link-local addresses
// learnt on it.
func (q *querier) zone(ifindex int) string {
	for _, l := range q.links {
		if l.index == ifindex {
			return l.name
		}
	}
	return strconv.Itoa(ifindex)
}

// send multicasts m on every link and family. Failures are ignored: the
// other links and the next query may still get through.
func (q *querier) send(m *dns.Msg) {
	m.Id = q.id // RFC 6762 §18.1: ignored by multicast responders, echoed by legacy ones
	b, err := m.Pack()
	if err != nil {
		return
	}
	for _, l := range q.links {
		if l.can4 && q.conn4 != nil {
			_, _ = q.conn4.WriteTo(b, &ipv4.ControlMessage{IfIndex: l.index}, net.UDPAddrFromAddrPort(netip.AddrPortFrom(mdnsGroup4, mdnsPort)))
		}
		if l.can6 && q.conn6 != nil {
			dst := netip.AddrPortFrom(mdnsGroup6.WithZone(strconv.Itoa(l.index)), mdnsPort)
			_, _ = q.conn6.WriteTo(b, &ipv6.ControlMessage{IfIndex: l.index}, net.UDPAddrFromAddrPort(dst))
		}
	}
}

// resolution collects the records of one instance from any number of
// received messages. It does no I/O, so it is fuzzed directly.
type resolution struct {
	instance, serviceType string
	fqdn                  string // "<instance>.<type>.local."

	host    string // SRV target, canonical
	port    uint16
	hasSRV  bool
	txt     []string
	hasTXT  bool
	addrs   map[string][]netip.Addr // canonical host name → addresses
	hostsIn []string                // order the hosts were first seen in
}

func newResolution(instance, serviceType string) (*resolution, error) {
	// The name as the responder builds the one it publishes, so that the
	// names compare equal whatever the instance label holds.
	n, err := serviceNames(Service{Instance: instance, Type: serviceType})
	if err != nil {
		return nil, err
	}
	return &resolution{
		instance:    instance,
		serviceType: serviceType,
		fqdn:        dns.CanonicalName(n.instance),
		addrs:       make(map[string][]netip.Addr),
	}, nil
}

// query is the next question set: SRV and TXT of the instance until both are
// known, then A and AAAA of the host until it has an address. Questions ask
// for multicast answers (the QU bit clear, RFC 6762 §5.4), which every
// responder sends.
func (r *resolution) query() *dns.Msg {
	m := new(dns.Msg)
	if !r.hasSRV || !r.hasTXT {
		m.Question = append(m.Question,
			dns.Question{Name: r.fqdn, Qtype: dns.TypeSRV, Qclass: dns.ClassINET},
			dns.Question{Name: r.fqdn, Qtype: dns.TypeTXT, Qclass: dns.ClassINET})
	}
	if r.hasSRV && len(r.addrs[r.host]) == 0 {
		m.Question = append(m.Question,
			dns.Question{Name: r.host, Qtype: dns.TypeAAAA, Qclass: dns.ClassINET},
			dns.Question{Name: r.host, Qtype: dns.TypeA, Qclass: dns.ClassINET})
	}
	// A legacy-unicast answer (ephemeral port) may be larger than 512
	// bytes if the querier says it can take it (RFC 6762 §6.7).
	m.SetEdns0(maxResolveMessage, false)
	return m
}

// add takes the records of one received message that concern the instance.
// Anything malformed, or not a successful response, is ignored; what is kept
// is bounded whatever the input. zone is the interface the message came in
// on, given to link-local IPv6 addresses.
func (r *resolution) add(data []byte, zone string) {
	if len(data) > maxResolveMessage {
		return
	}
	m := new(dns.Msg)
	if m.Unpack(data) != nil || !m.Response || m.Opcode != dns.OpcodeQuery || m.Rcode != dns.RcodeSuccess {
		return
	}
	rrs := append(m.Answer[:min(len(m.Answer), maxRecordsIn):min(len(m.Answer), maxRecordsIn)], m.Extra[:min(len(m.Extra), maxRecordsIn)]...)
	// SRV and TXT first: they say which host's addresses matter.
	for _, rr := range rrs {
		h := rr.Header()
		if h.Class&^classCacheFlush != dns.ClassINET || h.Ttl == 0 || dns.CanonicalName(h.Name) != r.fqdn {
			continue // another class, a goodbye, or another name
		}
		switch v := rr.(type) {
		case *dns.SRV:
			if v.Port == 0 || v.Target == "" || v.Target == "." {
				continue
			}
			r.host, r.port, r.hasSRV = dns.CanonicalName(v.Target), v.Port, true
		case *dns.TXT:
			r.txt, r.hasTXT = boundedTXT(txtStrings(v)), true
		}
	}
	for _, rr := range rrs {
		h := rr.Header()
		if h.Class&^classCacheFlush != dns.ClassINET || h.Ttl == 0 {
			continue
		}
		var a netip.Addr
		switch v := rr.(type) {
		case *dns.A:
			a, _ = netip.AddrFromSlice(v.A.To4())
		case *dns.AAAA:
			a, _ = netip.AddrFromSlice(v.AAAA.To16())
			if a.Is4In6() {
				continue
			}
		default:
			continue
		}
		if !a.IsValid() || a.IsUnspecified() || a.IsMulticast() {
			continue
		}
		if a.Is6() && a.IsLinkLocalUnicast() && zone != "" {
			a = a.WithZone(zone)
		}
		r.addAddr(dns.CanonicalName(h.Name), a)
	}
}

// addAddr records an address of a host, within the bounds: at most
// maxResolveHosts hosts, the SRV target among them. The target gets in
// even when the other hosts fill the bound, in place of the host seen
// first; a responder that keeps changing its SRV target therefore cannot
// grow the map past the bound either.
func (r *resolution) addAddr(host string, a netip.Addr) {
	list, known := r.addrs[host]
	if !known {
		if len(r.hostsIn) >= maxResolveHosts {
			if host != r.host {
				return
			}
			delete(r.addrs, r.hostsIn[0]) // not r.host: that one is not known
			r.hostsIn = slices.Delete(r.hostsIn, 0, 1)
		}
		r.hostsIn = append(r.hostsIn, host)
	}
	if len(list) >= maxResolveAddrs || slices.Contains(list, a) {
		return
	}
	r.addrs[host] = append(list, a)
}

// boundedTXT copies the TXT strings, within the count and size bounds.
func boundedTXT(in []string) []string {
	out := []string{}
	size := 0
	for _, s := range in {
		if len(out) >= maxResolveTXT || size+len(s) > maxResolveTXTSize {
			break
		}
		if s == "" {
			continue
		}
		out = append(out, s)
		size += len(s)
	}
	return out
}

func (r *resolution) complete() bool {
	return r.hasSRV && r.hasTXT && len(r.addrs[r.host]) > 0
}

// result returns what is known; an error unless the SRV record is.
func (r *resolution) result() (*Resolved, error) {
	if !r.hasSRV {
		return nil, fmt.Errorf("dnssd: resolve %s.%s: %w", r.instance, r.serviceType, ErrNotFound)
	}
	addrs := slices.Clone(r.addrs[r.host])
	slices.SortStableFunc(addrs, func(a, b netip.Addr) int { return cmp.Compare(addrRank(a), addrRank(b)) })
	return &Resolved{
		Instance: r.instance, Type: r.serviceType,
		Host: r.host, Port: r.port,
		TXT:   slices.Clone(r.txt),
		Addrs: addrs,
	}, nil
}

// addrRank orders addresses for connecting: routable IPv6 (Matter's
// preferred family), IPv4, then link-local IPv6 and IPv4.
func addrRank(a netip.Addr) int {
	switch {
	case a.Is6() && !a.IsLinkLocalUnicast():
		return 0
	case a.Is4() && !a.IsLinkLocalUnicast():
		return 1
	case a.Is6():
		return 2
	default:
		return 3
	}
}
