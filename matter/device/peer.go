package device

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/mattercam/mattercam/matter/crypto"
	"github.com/mattercam/mattercam/matter/dnssd"
	"github.com/mattercam/mattercam/matter/im"
	"github.com/mattercam/mattercam/matter/securechannel"
	"github.com/mattercam/mattercam/matter/session"
	"github.com/mattercam/mattercam/matter/tlv"
	"github.com/mattercam/mattercam/matter/transport"
)

// The operational dialer: server-side code (the WebRTC provider's outbound
// Offer/Answer/ICECandidates/End, for one) acts as a client of another node
// on one of this device's fabrics. It reuses a CASE session with that node
// when one is open, and otherwise opens one (Core §4.14.2) to the node's
// operational address: the last address a session with it came from, or
// what operational discovery finds (Core §4.3.2, "_matter._tcp" instance
// "<CompressedFabricID>-<NodeID>").

// Dialer limits.
const (
	// peerDialTimeout bounds one dial, address resolution and CASE
	// included, for every caller waiting on it.
	peerDialTimeout = 30 * time.Second
	// peerAttemptTimeout bounds the handshake with one candidate address,
	// so that an address that went stale leaves time for the next.
	peerAttemptTimeout = 10 * time.Second
	// peerResolveTimeout bounds the DNS-SD resolution of a peer.
	peerResolveTimeout = 3 * time.Second
	// maxPeerAddrs bounds the candidate addresses tried in one dial.
	maxPeerAddrs = 4
	// maxKnownPeers bounds the remembered peer addresses; the least
	// recently seen goes first.
	maxKnownPeers = 64
	// closeDialedTimeout bounds the CloseSession reports sent to the peers
	// of the sessions this device opened, when it closes.
	closeDialedTimeout = time.Second
	// maxPeerRounds bounds how often Peer dials again because the session
	// a dial produced was closed before the caller could use it.
	maxPeerRounds = 3
)

// ErrClosed reports use of a closed Device.
var ErrClosed = errors.New("device: closed")

// PeerOptions say what a caller needs of the session to a peer.
type PeerOptions struct {
	// LargeMessages asks for a session over TCP: only TCP carries
	// messages above the UDP limit (Core §4.4.4), and commands with the
	// Large Message quality, such as every WebRTC Transport Requestor
	// command, are refused over UDP (INVALID_TRANSPORT_TYPE).
	LargeMessages bool
}

// Peer is a secure CASE session with another node on one of the device's
// fabrics, and the Interaction Model client bound to it. A Peer is cheap:
// ask Device.Peer again for each interaction rather than keeping one, so
// that a session closed meanwhile is replaced. Its methods are those of
// im.Client on this session; the session is held (not evicted) while one
// runs.
type Peer struct {
	d *Device
	s *session.Secure
	c *im.Client
}

// Session returns the session.
func (p *Peer) Session() *session.Secure { return p.s }

// FabricIndex returns the fabric, as this device numbers it.
func (p *Peer) FabricIndex() uint8 { return p.s.FabricIndex() }

// NodeID returns the peer's operational node ID.
func (p *Peer) NodeID() uint64 { return p.s.PeerNodeID() }

// SupportsLargeMessages reports whether the session runs over TCP.
func (p *Peer) SupportsLargeMessages() bool { return p.s.Peer().Network == transport.TCP }

// Read runs a Read interaction (Core §8.4).
func (p *Peer) Read(ctx context.Context, req *im.ReadRequest) (*im.Report, error) {
	defer p.s.Hold()()
	r, err := p.c.Read(ctx, p.s, req)
	return r, p.check(err)
}

// ReadAttribute reads one attribute; see im.Client.ReadAttribute.
func (p *Peer) ReadAttribute(ctx context.Context, path im.AttributePath, fabricFiltered bool, decode func(r *tlv.Reader) error) error {
	defer p.s.Hold()()
	return p.check(p.c.ReadAttribute(ctx, p.s, path, fabricFiltered, decode))
}

// Write runs a Write interaction (Core §8.7).
func (p *Peer) Write(ctx context.Context, writes []im.AttributeData, opts *im.WriteOptions) ([]im.AttributeStatus, error) {
	defer p.s.Hold()()
	st, err := p.c.Write(ctx, p.s, writes, opts)
	return st, p.check(err)
}

// Invoke invokes one command (Core §8.8); see im.Client.Invoke.
func (p *Peer) Invoke(ctx context.Context, path im.CommandPath, fields []byte, decode func(cmd uint32, r *tlv.Reader) error, opts *im.InvokeOptions) error {
	defer p.s.Hold()()
	return p.check(p.c.Invoke(ctx, p.s, path, fields, decode, opts))
}

// InvokeBatch invokes several commands in one request; see
// im.Client.InvokeBatch.
func (p *Peer) InvokeBatch(ctx context.Context, cmds []im.CommandData, opts *im.InvokeOptions) ([]im.InvokeResult, error) {
	defer p.s.Hold()()
	res, err := p.c.InvokeBatch(ctx, p.s, cmds, opts)
	return res, p.check(err)
}

// Subscribe runs a Subscribe interaction (Core §8.5); see
// im.Client.Subscribe.
func (p *Peer) Subscribe(ctx context.Context, req *im.SubscribeRequest, onReport func(*im.Report)) (*im.Subscription, error) {
	defer p.s.Hold()()
	sub, err := p.c.Subscribe(ctx, p.s, req, onReport)
	return sub, p.check(err)
}

// check notes a session the peer no longer answers on: a message it did not
// acknowledge after every MRP retransmission (Core §4.12.2) means it has
// most likely lost the session (restarted, evicted it). The session is
// not reused by Peer until the peer is heard from on it again, as the
// reference SDK treats a "defunct" session; the next Peer call opens a new
// one.
func (p *Peer) check(err error) error {
	if errors.Is(err, transport.ErrNoAck) {
		p.d.markDefunct(p.s)
	}
	return err
}

// PeerInfo is a node this device has had a CASE session with, and where it
// was last heard from.
type PeerInfo struct {
	FabricIndex uint8
	NodeID      uint64
	// Addr is the peer's operational address (UDP and TCP share the port);
	// its port is 0 when only the IP is known, from a TCP connection the
	// peer opened.
	Addr netip.AddrPort
	// TCP reports that the peer announced it accepts TCP connections.
	TCP  bool
	Seen time.Time
}

// peerKey names a peer: a node on a fabric, as this device numbers its
// fabrics.
type peerKey struct {
	fabric uint8
	node   uint64
}

// dialKey names a dial in progress: callers asking for the same peer and
// the same kind of session share it.
type dialKey struct {
	peerKey
	large bool
}

type dialCall struct {
	done chan struct{}
	s    *session.Secure // set before done is closed
	err  error
}

// peerTable is the dialer's state. Its zero value is ready; it is guarded
// by mu, which is never held while calling into the session table, the
// secure channel or the network.
type peerTable struct {
	mu      sync.Mutex
	closed  bool
	known   map[peerKey]*PeerInfo
	dials   map[dialKey]*dialCall
	opened  map[*session.Secure]bool      // sessions this device opened
	defunct map[*session.Secure]time.Time // sessions the peer stopped answering on, since
}

// Peer returns a CASE session with node nodeID on the device's fabric
// fabricIndex, and an Interaction Model client bound to it:
//
//   - an open CASE session with that node is reused, the most recently
//     active first (with LargeMessages only one over a live TCP
//     connection);
//   - otherwise the device opens one as CASE initiator to the node's
//     operational address: first the address its last session came from,
//     then the addresses DNS-SD returns for its operational instance. The
//     session runs over TCP when LargeMessages is asked or the node
//     announced that it accepts TCP (session parameters, or the T key),
//     over UDP otherwise.
//
// Concurrent callers for the same node share one dial. The dial runs on a
// goroutine of the device, bounded in time and stopped by Close; ctx bounds
// only the caller's wait. Sessions the device opened are closed, with a
// CloseSession report to the peer, when the device closes.
func (d *Device) Peer(ctx context.Context, fabricIndex uint8, nodeID uint64, opts PeerOptions) (*Peer, error) {
	if nodeID == 0 {
		return nil, errors.New("device: peer: node ID 0")
	}
	key := dialKey{peerKey{fabricIndex, nodeID}, opts.LargeMessages}
	for range maxPeerRounds {
		if s := d.openSession(key); s != nil {
			return &Peer{d: d, s: s, c: d.imc}, nil
		}
		d.peers.mu.Lock()
		if d.peers.closed {
			d.peers.mu.Unlock()
			return nil, fmt.Errorf("device: dial node %016X: %w", nodeID, ErrClosed)
		}
		call := d.peers.dials[key]
		if call == nil {
			call = &dialCall{done: make(chan struct{})}
			if d.peers.dials == nil {
				d.peers.dials = make(map[dialKey]*dialCall)
			}
			d.peers.dials[key] = call
			d.wg.Add(1) // under peers.mu, before Close can set closed and Wait
			go d.dial(key, call)
		}
		d.peers.mu.Unlock()
		select {
		case <-call.done:
		case <-ctx.Done():
			return nil, fmt.Errorf("device: dial node %016X: %w", nodeID, ctx.Err())
		}
		if call.err != nil {
			return nil, call.err
		}
		if s := call.s; !s.Closed() {
			return &Peer{d: d, s: s, c: d.imc}, nil
		}
		// Closed already (evicted, or its connection dropped): look again.
	}
	return nil, fmt.Errorf("device: dial node %016X: every new session closed at once", nodeID)
}

// openSession returns the open CASE session with the peer that suits key,
// or nil, and refreshes what is known of the peer's address from it.
func (d *Device) openSession(key dialKey) *session.Secure {
	var best *session.Secure
	for _, s := range d.table.Sessions() {
		if s.Closed() || s.AuthMode() != session.AuthCASE || s.PeerNodeID() != key.node || s.FabricIndex() != key.fabric {
			continue
		}
		peer := s.Peer()
		if peer.Network == transport.TCP && !d.tcp.HasConn(peer.Addr) {
			continue // its connection is gone: nothing can be sent on it
		}
		if key.large && peer.Network != transport.TCP {
			continue
		}
		if d.isDefunct(s) {
			continue
		}
		if best == nil || s.LastActivity().After(best.LastActivity()) {
			best = s
		}
	}
	if best != nil {
		d.notePeer(best)
		d.log.Debug("reusing session", "fabric", key.fabric, "node", fmt.Sprintf("%016X", key.node), "peer", best.Peer(), "session", best.LocalSessionID())
	}
	return best
}

// dial opens a session for key and hands it to every caller waiting.
func (d *Device) dial(key dialKey, call *dialCall) {
	defer d.wg.Done()
	ctx, cancel := context.WithTimeout(d.ctx, peerDialTimeout)
	defer cancel()
	s, err := d.dialPeer(ctx, key)
	if err != nil {
		err = fmt.Errorf("device: dial node %016X on fabric %d: %w", key.node, key.fabric, err)
		d.log.Info("dial failed", "fabric", key.fabric, "node", fmt.Sprintf("%016X", key.node), "err", err)
	}
	d.peers.mu.Lock()
	call.s, call.err = s, err
	delete(d.peers.dials, key)
	d.peers.mu.Unlock()
	close(call.done)
}

// candidate is an address to try, and whether the peer is known to accept
// TCP there.
type candidate struct {
	addr     netip.AddrPort
	tcpKnown bool
	tcp      bool
	source   string
}

func (d *Device) dialPeer(ctx context.Context, key dialKey) (*session.Secure, error) {
	var fabric *securechannel.Fabric
	for _, f := range d.fabrics() {
		if f.Index == key.fabric {
			fabric = &f
			break
		}
	}
	if fabric == nil {
		return nil, fmt.Errorf("no fabric %d", key.fabric)
	}
	var errs []error
	tried := map[netip.AddrPort]bool{}
	try := func(c candidate) (*session.Secure, bool) {
		if tried[c.addr] || len(tried) >= maxPeerAddrs {
			return nil, false
		}
		tried[c.addr] = true
		s, err := d.handshake(ctx, key, fabric, c)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %v: %w", c.source, c.addr, err))
			return nil, false
		}
		return s, true
	}
	// The address the last session with the peer came from: the cheapest
	// guess, and the only one for a peer that does not advertise.
	d.peers.mu.Lock()
	var last *PeerInfo
	if k := d.peers.known[key.peerKey]; k != nil {
		cp := *k
		last = &cp
	}
	d.peers.mu.Unlock()
	if last != nil && last.Addr.Port() != 0 {
		if s, ok := try(candidate{addr: last.Addr, tcpKnown: last.TCP, tcp: last.TCP, source: "last address"}); ok {
			return s, nil
		}
	}
	if ctx.Err() != nil {
		return nil, errors.Join(append(errs, ctx.Err())...)
	}
	// Operational discovery (Core §4.3.2).
	cfid, err := crypto.CompressedFabricID(fabric.RootPublicKey, fabric.FabricID)
	if err != nil {
		return nil, errors.Join(append(errs, fmt.Errorf("compressed fabric ID: %w", err))...)
	}
	rc := dnssd.ResolveConfig{
		Interfaces:  d.cfg.MDNS.Responder.Interfaces,
		DisableIPv4: d.cfg.MDNS.Responder.DisableIPv4,
		DisableIPv6: d.cfg.MDNS.Responder.DisableIPv6,
		Timeout:     peerResolveTimeout,
	}
	res, err := dnssd.ResolveOperational(ctx, rc, cfid, key.node)
	if err != nil {
		return nil, errors.Join(append(errs, err)...)
	}
	params, perr := res.Params()
	tcpKnown := perr == nil && res.TXT != nil
	for _, a := range res.AddrPorts() {
		if s, ok := try(candidate{addr: a, tcpKnown: tcpKnown, tcp: params.TCP&dnssd.TCPServer != 0, source: "DNS-SD"}); ok {
			return s, nil
		}
	}
	if len(errs) == 0 {
		errs = append(errs, fmt.Errorf("%s resolved to no address", res.Instance))
	}
	return nil, errors.Join(errs...)
}

// handshake runs CASE with the peer at one address.
func (d *Device) handshake(ctx context.Context, key dialKey, fabric *securechannel.Fabric, c candidate) (*session.Secure, error) {
	ctx, cancel := context.WithTimeout(ctx, peerAttemptTimeout)
	defer cancel()
	useTCP := key.large || (c.tcpKnown && c.tcp)
	if key.large && c.tcpKnown && !c.tcp {
		return nil, errors.New("peer does not accept TCP connections, which large messages need")
	}
	peer := transport.PeerAddr{Network: transport.UDP, Addr: c.addr}
	if useTCP {
		peer.Network = transport.TCP
		if err := d.tcp.Dial(ctx, c.addr); err != nil {
			return nil, err
		}
	}
	s, err := d.sc.EstablishCASE(ctx, peer, *fabric, key.node)
	if err != nil {
		if useTCP {
			d.closeConnIfUnused(c.addr)
		}
		return nil, err
	}
	// Recorded on the dial goroutine, which Close waits for before it
	// closes the sessions the device opened: none is missed.
	d.peers.mu.Lock()
	if d.peers.opened == nil {
		d.peers.opened = make(map[*session.Secure]bool)
	}
	d.peers.opened[s] = true
	d.peers.mu.Unlock()
	d.notePeer(s)
	d.log.Info("opened session", "fabric", key.fabric, "node", fmt.Sprintf("%016X", key.node), "peer", peer,
		"address_from", c.source, "session", s.LocalSessionID())
	return s, nil
}

// closeConnIfUnused closes a TCP connection this device dialed when no
// session runs over it.
func (d *Device) closeConnIfUnused(addr netip.AddrPort) {
	peer := transport.PeerAddr{Network: transport.TCP, Addr: addr}
	for _, s := range d.table.Sessions() {
		if s.Peer() == peer {
			return
		}
	}
	d.tcp.CloseConn(addr)
}

// notePeer remembers where a CASE session's peer was last heard from: its
// UDP address, or the address of a TCP connection this device opened (the
// peer's listening port). A TCP connection the peer opened comes from an
// ephemeral port; it gives the IP only, unless the port is known already
// (it does not show that the peer accepts connections either: a TCP client
// need not be a TCP server). Whether the peer accepts TCP comes from its
// session parameters (SUPPORTED_TRANSPORTS, Core §4.12.8).
func (d *Device) notePeer(s *session.Secure) {
	if s.AuthMode() != session.AuthCASE {
		return
	}
	key := peerKey{s.FabricIndex(), s.PeerNodeID()}
	peer := s.Peer()
	if !peer.IsValid() || key.fabric == 0 || key.node == 0 {
		return
	}
	addr := netip.AddrPortFrom(peer.Addr.Addr().Unmap(), peer.Addr.Port())
	tcp := s.PeerParams().SupportedTransports&session.TransportTCPServer != 0
	d.peers.mu.Lock()
	defer d.peers.mu.Unlock()
	if d.peers.closed {
		return
	}
	if peer.Network == transport.TCP && !d.peers.opened[s] {
		port := uint16(0)
		if k := d.peers.known[key]; k != nil && k.Addr.Addr() == addr.Addr() {
			port = k.Addr.Port()
		}
		addr = netip.AddrPortFrom(addr.Addr(), port)
	}
	if d.peers.known == nil {
		d.peers.known = make(map[peerKey]*PeerInfo)
	}
	k := d.peers.known[key]
	if k == nil {
		if len(d.peers.known) >= maxKnownPeers {
			var oldest peerKey
			var at time.Time
			for pk, p := range d.peers.known {
				if at.IsZero() || p.Seen.Before(at) {
					oldest, at = pk, p.Seen
				}
			}
			delete(d.peers.known, oldest)
		}
		k = &PeerInfo{FabricIndex: key.fabric, NodeID: key.node}
		d.peers.known[key] = k
	}
	if addr.Port() != 0 || k.Addr.Addr() != addr.Addr() {
		k.Addr = addr
	}
	k.TCP = k.TCP || tcp
	k.Seen = time.Now()
}

// markDefunct records that the peer of s stopped acknowledging on it.
func (d *Device) markDefunct(s *session.Secure) {
	d.log.Info("peer not answering on session", "session", s.LocalSessionID(), "node", fmt.Sprintf("%016X", s.PeerNodeID()))
	d.peers.mu.Lock()
	defer d.peers.mu.Unlock()
	if d.peers.defunct == nil {
		d.peers.defunct = make(map[*session.Secure]time.Time)
	}
	d.peers.defunct[s] = time.Now()
}

// isDefunct reports whether s was marked defunct and nothing has been
// received on it since.
func (d *Device) isDefunct(s *session.Secure) bool {
	d.peers.mu.Lock()
	defer d.peers.mu.Unlock()
	at, ok := d.peers.defunct[s]
	if ok && s.LastReceived().After(at) {
		delete(d.peers.defunct, s) // the peer spoke on it again
		return false
	}
	return ok
}

// sessionEstablished is the secure channel's OnEstablished hook: a peer
// opened a session with this device.
func (d *Device) sessionEstablished(s *session.Secure) { d.notePeer(s) }

// sessionRemoved is called when a session leaves the table: its last
// address is remembered, and it is no longer one to close with the device.
func (d *Device) sessionRemoved(s *session.Secure) {
	d.notePeer(s)
	d.peers.mu.Lock()
	delete(d.peers.opened, s)
	delete(d.peers.defunct, s)
	d.peers.mu.Unlock()
}

// forgetFabric drops what is known of the peers on a removed fabric.
func (d *Device) forgetFabric(idx uint8) {
	d.peers.mu.Lock()
	defer d.peers.mu.Unlock()
	for k := range d.peers.known {
		if k.fabric == idx {
			delete(d.peers.known, k)
		}
	}
}

// ResetPeer closes every session with a peer, telling it with a
// CloseSession report (Core §4.10.1), and forgets its address: the next
// Peer call dials afresh and finds the peer by operational discovery. It is
// for a peer known to have moved, or whose sessions are suspected stale.
func (d *Device) ResetPeer(ctx context.Context, fabricIndex uint8, nodeID uint64) {
	for _, s := range d.table.Sessions() {
		if !s.Closed() && s.AuthMode() == session.AuthCASE && s.FabricIndex() == fabricIndex && s.PeerNodeID() == nodeID {
			if err := d.sc.CloseSession(ctx, s); err != nil {
				d.log.Debug("close session", "session", s.LocalSessionID(), "err", err)
			}
		}
	}
	d.peers.mu.Lock()
	delete(d.peers.known, peerKey{fabricIndex, nodeID})
	d.peers.mu.Unlock()
}

// KnownPeers returns the nodes this device has had CASE sessions with and
// where each was last heard from, most recently seen first.
func (d *Device) KnownPeers() []PeerInfo {
	d.peers.mu.Lock()
	out := make([]PeerInfo, 0, len(d.peers.known))
	for _, p := range d.peers.known {
		out = append(out, *p)
	}
	d.peers.mu.Unlock()
	slices.SortFunc(out, func(a, b PeerInfo) int { return b.Seen.Compare(a.Seen) })
	return out
}

// stopPeers makes Peer fail from now on, so that no dial goroutine starts
// once Close waits for them.
func (d *Device) stopPeers() {
	d.peers.mu.Lock()
	d.peers.closed = true
	d.peers.mu.Unlock()
}

// closeDialed closes the sessions the device opened, telling each peer with
// a CloseSession report (Core §4.10.1). It runs after every dial goroutine
// has stopped, before the exchange layer closes.
func (d *Device) closeDialed() {
	d.peers.mu.Lock()
	opened := make([]*session.Secure, 0, len(d.peers.opened))
	for s := range d.peers.opened {
		opened = append(opened, s)
	}
	d.peers.mu.Unlock()
	if len(opened) == 0 || d.sc == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), closeDialedTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, s := range opened {
		if s.Closed() {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := d.sc.CloseSession(ctx, s); err != nil {
				d.log.Debug("close session", "session", s.LocalSessionID(), "err", err)
			}
		}()
	}
	wg.Wait()
}
