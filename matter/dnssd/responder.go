package dnssd

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// ResponderConfig configures the embedded mDNS responder. The zero value
// works on every multicast-capable interface, IPv4 and IPv6.
type ResponderConfig struct {
	// HostName is the host label, without ".local". Empty derives it from
	// the first interface's MAC address, 12 uppercase hex digits as Matter
	// recommends (see HostNameFromMAC), or a random one when no interface
	// has a MAC.
	HostName string

	// Interfaces limits the responder to these interface names. Empty
	// means every interface that is up and multicast-capable, plus
	// loopback (IPv4 only).
	Interfaces []string

	// DisableIPv4 and DisableIPv6 skip one family: no socket, and no A or
	// AAAA records. Matter requires IPv6; IPv4 is optional.
	DisableIPv4, DisableIPv6 bool

	// PollInterval is how often interfaces and addresses are re-read;
	// changes are announced (RFC 6762 §8.4). Zero means 5 s; negative
	// disables polling.
	PollInterval time.Duration

	// MaxServices bounds Publish. Zero means 32.
	MaxServices int

	// Logger receives rare diagnostics (never one line per packet). Nil
	// means slog.Default.
	Logger *slog.Logger

	// ListInterfaces replaces the system interface list; tests use it to
	// change addresses without touching the host.
	ListInterfaces func() ([]Interface, error)
}

// ResponderStats counts what the responder did with datagrams.
type ResponderStats struct {
	Received, QueueDrops, Sent, SendErrors uint64
}

// Responder is an mDNS responder (RFC 6762) serving DNS-SD (RFC 6763)
// records. It shares UDP port 5353 with other responders on the host
// (avahi-daemon, matter.js) through SO_REUSEADDR and SO_REUSEPORT.
//
// One goroutine owns the protocol state; one reader goroutine per socket
// feeds it through a bounded queue. Close stops all of them.
type Responder struct {
	log   *slog.Logger
	cfg   ResponderConfig
	list  func() ([]Interface, error)
	conn4 *ipv4.PacketConn
	conn6 *ipv6.PacketConn
	eng   *engine

	in       chan inbound
	reqs     chan request
	done     chan struct{}
	loopDone chan struct{}
	once     sync.Once
	wg       sync.WaitGroup

	joined   map[int][2]bool // per ifindex: joined the v4, v6 group
	sendErrs map[string]bool // per ifindex/family: last send failed (log on change only)
	listErr  bool

	received, queueDrops, sent, sendErrors atomic.Uint64
}

var _ Advertiser = (*Responder)(nil)

const inboundQueue = 64

type op uint8

const (
	opPublish op = iota
	opUpdate
	opWithdraw
	opHost
)

type request struct {
	op    op
	h     Handle
	svc   Service
	reply chan result
}

type result struct {
	h    Handle
	err  error
	host string
}

// NewResponder opens the mDNS sockets, probes the host name and starts
// answering. Services are added with Publish.
func NewResponder(cfg ResponderConfig) (*Responder, error) {
	if cfg.DisableIPv4 && cfg.DisableIPv6 {
		return nil, errors.New("dnssd: responder: both address families disabled")
	}
	r := &Responder{
		log:      cfg.Logger,
		cfg:      cfg,
		list:     cfg.ListInterfaces,
		in:       make(chan inbound, inboundQueue),
		reqs:     make(chan request),
		done:     make(chan struct{}),
		loopDone: make(chan struct{}),
		joined:   make(map[int][2]bool),
		sendErrs: make(map[string]bool),
	}
	if r.log == nil {
		r.log = slog.Default()
	}
	r.log = r.log.With("component", "dnssd")
	if r.list == nil {
		r.list = SystemInterfaces
	}
	if r.cfg.PollInterval == 0 {
		r.cfg.PollInterval = 5 * time.Second
	}
	const port = mdnsPort

	ifs, err := r.list()
	if err != nil {
		return nil, fmt.Errorf("dnssd: responder: list interfaces: %w", err)
	}
	host := cfg.HostName
	if host == "" {
		host = defaultHostName(ifs, cfg.Interfaces)
	}
	r.eng, err = newEngine(engineConfig{
		log:         r.log,
		hostLabel:   host,
		v4:          !cfg.DisableIPv4,
		v6:          !cfg.DisableIPv6,
		allow:       cfg.Interfaces,
		maxServices: cfg.MaxServices,
	})
	if err != nil {
		return nil, err
	}

	lc := net.ListenConfig{Control: reuseControl}
	var errs []error
	if !cfg.DisableIPv4 {
		c, err := lc.ListenPacket(context.Background(), "udp4", net.JoinHostPort("0.0.0.0", strconv.Itoa(port)))
		if err == nil {
			r.conn4, err = setup4(c)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("ipv4: %w", err))
		}
	}
	if !cfg.DisableIPv6 {
		c, err := lc.ListenPacket(context.Background(), "udp6", net.JoinHostPort("::", strconv.Itoa(port)))
		if err == nil {
			r.conn6, err = setup6(c)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("ipv6: %w", err))
		}
	}
	if r.conn4 == nil && r.conn6 == nil {
		return nil, fmt.Errorf("dnssd: responder: no socket on port %d: %w", port, errors.Join(errs...))
	}
	if len(errs) > 0 {
		// One family is enough to work; say why the other is missing.
		r.log.Warn("mDNS on one address family only", "err", errors.Join(errs...))
	}
	if r.conn4 == nil {
		r.eng.v4 = false
	}
	if r.conn6 == nil {
		r.eng.v6 = false
	}

	r.applyLinks(ifs, time.Now())
	if r.conn4 != nil {
		r.wg.Add(1)
		go r.read4()
	}
	if r.conn6 != nil {
		r.wg.Add(1)
		go r.read6()
	}
	r.wg.Add(1)
	go r.run()
	r.log.Info("mDNS responder started", "host", r.eng.host, "port", port)
	return r, nil
}

func setup4(c net.PacketConn) (*ipv4.PacketConn, error) {
	p := ipv4.NewPacketConn(c)
	err := errors.Join(
		p.SetControlMessage(ipv4.FlagInterface|ipv4.FlagDst, true),
		p.SetMulticastTTL(255), // RFC 6762 §11
		p.SetTTL(255),
		p.SetMulticastLoopback(true), // other responders on this host must hear us
	)
	if err != nil {
		c.Close()
		return nil, err
	}
	return p, nil
}

func setup6(c net.PacketConn) (*ipv6.PacketConn, error) {
	p := ipv6.NewPacketConn(c)
	err := errors.Join(
		p.SetControlMessage(ipv6.FlagInterface|ipv6.FlagDst, true),
		p.SetMulticastHopLimit(255),
		p.SetHopLimit(255),
		p.SetMulticastLoopback(true),
	)
	if err != nil {
		c.Close()
		return nil, err
	}
	return p, nil
}

// defaultHostName picks the MAC of the lowest-index usable interface, else a
// random 48-bit value.
func defaultHostName(ifs []Interface, allow []string) string {
	ifs = slices.Clone(ifs)
	slices.SortFunc(ifs, func(a, b Interface) int { return a.Index - b.Index })
	for _, ifi := range ifs {
		if len(allow) > 0 && !slices.Contains(allow, ifi.Name) {
			continue
		}
		if ifi.Flags&net.FlagLoopback != 0 || allZero(ifi.HardwareAddr) {
			continue
		}
		if h, err := HostNameFromMAC(ifi.HardwareAddr); err == nil {
			return h
		}
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	return strings.ToUpper(hex.EncodeToString(b[:]))
}

func allZero(b []byte) bool {
	for _, v := range b {
		if v != 0 {
			return false
		}
	}
	return true
}

// SystemInterfaces lists the host's interfaces with their addresses.
func SystemInterfaces() ([]Interface, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	out := make([]Interface, 0, len(ifs))
	for _, ifi := range ifs {
		addrs, err := ifi.Addrs()
		if err != nil {
			continue // the interface vanished meanwhile
		}
		it := Interface{Index: ifi.Index, Name: ifi.Name, MTU: ifi.MTU, Flags: ifi.Flags, HardwareAddr: ifi.HardwareAddr}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip, ok := netip.AddrFromSlice(ipn.IP)
			if !ok {
				continue
			}
			ones, _ := ipn.Mask.Size()
			it.Prefixes = append(it.Prefixes, netip.PrefixFrom(ip.Unmap(), ones))
		}
		out = append(out, it)
	}
	return out, nil
}

// --- API -----------------------------------------------------------------

// Publish implements Advertiser. The service is probed (about 750 ms) and
// then announced; it answers queries from then on.
func (r *Responder) Publish(s Service) (Handle, error) {
	res, err := r.do(request{op: opPublish, svc: s.Clone()})
	if err != nil {
		return 0, err
	}
	return res.h, res.err
}

// Update implements Advertiser.
func (r *Responder) Update(h Handle, s Service) error {
	res, err := r.do(request{op: opUpdate, h: h, svc: s.Clone()})
	if err != nil {
		return err
	}
	return res.err
}

// Withdraw implements Advertiser.
func (r *Responder) Withdraw(h Handle) error {
	res, err := r.do(request{op: opWithdraw, h: h})
	if err != nil {
		return err
	}
	return res.err
}

// Host returns the current host name, e.g. "02FC00000001.local.", which
// changes if another host already uses it (RFC 6762 §9). It returns "" after
// Close.
func (r *Responder) Host() string {
	res, err := r.do(request{op: opHost})
	if err != nil {
		return ""
	}
	return res.host
}

// Stats returns counters since start.
func (r *Responder) Stats() ResponderStats {
	return ResponderStats{
		Received:   r.received.Load(),
		QueueDrops: r.queueDrops.Load(),
		Sent:       r.sent.Load(),
		SendErrors: r.sendErrors.Load(),
	}
}

// Close sends goodbyes for everything (RFC 6762 §10.1), closes the sockets
// and waits for every goroutine.
func (r *Responder) Close() error {
	r.once.Do(func() {
		close(r.done)
		<-r.loopDone
		if r.conn4 != nil {
			r.conn4.Close()
		}
		if r.conn6 != nil {
			r.conn6.Close()
		}
		r.wg.Wait()
	})
	return nil
}

func (r *Responder) do(req request) (result, error) {
	req.reply = make(chan result, 1)
	select {
	case r.reqs <- req:
	case <-r.done:
		return result{}, ErrClosed
	}
	select {
	case res := <-req.reply:
		return res, nil
	case <-r.loopDone:
		return result{}, ErrClosed
	}
}

// --- goroutines ----------------------------------------------------------

func (r *Responder) run() {
	defer r.wg.Done()
	defer close(r.loopDone)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var pollC <-chan time.Time
	if r.cfg.PollInterval > 0 {
		t := time.NewTicker(r.cfg.PollInterval)
		defer t.Stop()
		pollC = t.C
	}
	for {
		if next := r.eng.next(); next.IsZero() {
			timer.Stop()
		} else {
			timer.Reset(max(time.Until(next), 0))
		}
		select {
		case <-r.done:
			r.send(r.eng.closeAll(time.Now()))
			return
		case p := <-r.in:
			r.send(r.eng.handle(p, time.Now()))
		case req := <-r.reqs:
			req.reply <- r.serve(req)
		case <-timer.C:
			r.send(r.eng.tick(time.Now()))
		case <-pollC:
			ifs, err := r.list()
			if err != nil {
				if !r.listErr {
					r.log.Warn("listing interfaces failed", "err", err)
				}
				r.listErr = true
				continue
			}
			r.listErr = false
			r.applyLinks(ifs, time.Now())
		}
	}
}

func (r *Responder) serve(req request) result {
	now := time.Now()
	switch req.op {
	case opPublish:
		h, err := r.eng.publish(req.svc, now)
		return result{h: h, err: err}
	case opUpdate:
		out, err := r.eng.update(req.h, req.svc, now)
		r.send(out)
		return result{err: err}
	case opWithdraw:
		out, err := r.eng.withdraw(req.h, now)
		r.send(out)
		return result{err: err}
	case opHost:
		return result{host: r.eng.host}
	}
	return result{err: errors.New("dnssd: unknown request")}
}

// applyLinks feeds an interface list to the engine and keeps the group
// memberships in step. It runs before the loop starts and then only on the
// loop goroutine.
func (r *Responder) applyLinks(ifs []Interface, now time.Time) {
	_, removed, out := r.eng.setLinks(ifs, now)
	for _, idx := range removed {
		r.membership(idx, false, false)
		delete(r.joined, idx)
	}
	for _, l := range r.eng.sortedLinks() {
		r.membership(l.index, l.can4, l.can6)
	}
	r.send(out)
}

func (r *Responder) membership(idx int, want4, want6 bool) {
	have := r.joined[idx]
	if have[0] == want4 && have[1] == want6 {
		return
	}
	ifi, err := net.InterfaceByIndex(idx)
	if err != nil {
		// Gone: the kernel dropped its memberships with it.
		delete(r.joined, idx)
		return
	}
	if r.conn4 != nil && have[0] != want4 {
		g := &net.UDPAddr{IP: mdnsGroup4.AsSlice()}
		if want4 {
			err = r.conn4.JoinGroup(ifi, g)
		} else {
			err = r.conn4.LeaveGroup(ifi, g)
		}
		if err != nil && want4 {
			r.log.Warn("joining 224.0.0.251 failed", "iface", ifi.Name, "err", err)
			want4 = false
		}
	}
	if r.conn6 != nil && have[1] != want6 {
		g := &net.UDPAddr{IP: mdnsGroup6.AsSlice()}
		if want6 {
			err = r.conn6.JoinGroup(ifi, g)
		} else {
			err = r.conn6.LeaveGroup(ifi, g)
		}
		if err != nil && want6 {
			r.log.Warn("joining ff02::fb failed", "iface", ifi.Name, "err", err)
			want6 = false
		}
	}
	r.joined[idx] = [2]bool{want4, want6}
}

func (r *Responder) read4() {
	defer r.wg.Done()
	buf := make([]byte, 9000) // RFC 6762 §17: the largest mDNS message
	for {
		n, cm, src, err := r.conn4.ReadFrom(buf)
		if err != nil {
			if r.readFailed(err) {
				return
			}
			continue
		}
		if cm == nil {
			continue // no interface index: cannot tell which link it came from
		}
		ua, ok := src.(*net.UDPAddr)
		if !ok {
			continue
		}
		dst, _ := netip.AddrFromSlice(cm.Dst)
		r.enqueue(inbound{data: slices.Clone(buf[:n]), src: ua.AddrPort(), dst: dst.Unmap(), ifindex: cm.IfIndex})
	}
}

func (r *Responder) read6() {
	defer r.wg.Done()
	buf := make([]byte, 9000)
	for {
		n, cm, src, err := r.conn6.ReadFrom(buf)
		if err != nil {
			if r.readFailed(err) {
				return
			}
			continue
		}
		if cm == nil {
			continue
		}
		ua, ok := src.(*net.UDPAddr)
		if !ok {
			continue
		}
		dst, _ := netip.AddrFromSlice(cm.Dst)
		r.enqueue(inbound{data: slices.Clone(buf[:n]), src: ua.AddrPort(), dst: dst, ifindex: cm.IfIndex})
	}
}

// readFailed reports whether the reader should stop; other errors pause it
// briefly so a persistent one cannot spin.
func (r *Responder) readFailed(err error) bool {
	if errors.Is(err, net.ErrClosed) {
		return true
	}
	select {
	case <-r.done:
		return true
	case <-time.After(10 * time.Millisecond):
		return false
	}
}

func (r *Responder) enqueue(p inbound) {
	r.received.Add(1)
	select {
	case r.in <- p:
	default:
		r.queueDrops.Add(1) // as a busy NIC would
	}
}

func (r *Responder) send(outs []outgoing) {
	for _, o := range outs {
		b, err := o.msg.Pack()
		if err != nil {
			r.sendErrors.Add(1)
			r.log.Error("packing mDNS message", "err", err)
			continue
		}
		dst := o.dst
		var werr error
		is4 := dst.Addr().Unmap().Is4()
		switch {
		case is4 && r.conn4 != nil:
			var cm *ipv4.ControlMessage
			if o.ifindex > 0 {
				cm = &ipv4.ControlMessage{IfIndex: o.ifindex}
			}
			_, werr = r.conn4.WriteTo(b, cm, net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst.Addr().Unmap(), dst.Port())))
		case !is4 && r.conn6 != nil:
			var cm *ipv6.ControlMessage
			if o.ifindex > 0 {
				cm = &ipv6.ControlMessage{IfIndex: o.ifindex}
				if dst.Addr().IsMulticast() {
					dst = netip.AddrPortFrom(dst.Addr().WithZone(strconv.Itoa(o.ifindex)), dst.Port())
				}
			}
			_, werr = r.conn6.WriteTo(b, cm, net.UDPAddrFromAddrPort(dst))
		default:
			continue
		}
		key := strconv.Itoa(o.ifindex) + "/" + strconv.FormatBool(is4)
		if werr != nil {
			r.sendErrors.Add(1)
			if !r.sendErrs[key] {
				r.log.Warn("mDNS send failed", "ifindex", o.ifindex, "dst", dst, "err", werr)
			}
			r.sendErrs[key] = true
			continue
		}
		delete(r.sendErrs, key)
		r.sent.Add(1)
	}
}
