package transport

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/mattercam/mattercam/matter/message"
)

// Test sessions: plaintext messages with a Session ID and a counter, and
// real duplicate detection with message.ReceptionState. Enough to drive the
// exchange layer without keys.

type fakeSession struct {
	peer   PeerAddr
	peerID uint16 // the Session ID the peer knows this session by
	params MRPParams

	mu      sync.Mutex
	counter uint32
	fail    error // SealMessage fails with it when set
}

func (s *fakeSession) Peer() PeerAddr     { return s.peer }
func (s *fakeSession) PeerMRP() MRPParams { return s.params }

func (s *fakeSession) SealMessage(dst []byte, ph *message.ProtocolHeader, payload []byte) ([]byte, uint32, error) {
	s.mu.Lock()
	if s.fail != nil {
		s.mu.Unlock()
		return dst, 0, s.fail
	}
	s.counter++
	c := s.counter
	s.mu.Unlock()
	h := message.Header{SessionID: s.peerID, Counter: c}
	out, err := message.AppendMessage(dst, &h, ph, payload)
	return out, c, err
}

type fakeTable struct {
	mu       sync.Mutex
	sessions map[uint16]*fakeSession
	recv     map[uint16]*message.ReceptionState

	behindWindow int // counters older than the reception window
}

func (t *fakeTable) add(localID uint16, s *fakeSession) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.sessions == nil {
		t.sessions = map[uint16]*fakeSession{}
		t.recv = map[uint16]*message.ReceptionState{}
	}
	t.sessions[localID] = s
	rs := message.NewUnicastReception()
	t.recv[localID] = &rs
}

func (t *fakeTable) Open(p Packet) (Inbound, error) {
	in, err := decodePlain(p.Data)
	if err != nil {
		return in, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.sessions[in.Header.SessionID]
	if s == nil {
		return in, fmt.Errorf("no session %d", in.Header.SessionID)
	}
	rs := t.recv[in.Header.SessionID]
	if rs.Classify(in.Header.Counter) == message.CounterBehindWindow {
		t.behindWindow++
	}
	dup, err := rs.Check(in.Header.Counter)
	if err != nil {
		return in, err
	}
	if !dup {
		rs.Commit(in.Header.Counter)
	}
	in.Session, in.Duplicate = s, dup
	return in, nil
}

func decodePlain(b []byte) (Inbound, error) {
	var in Inbound
	n, err := in.Header.Decode(b)
	if err != nil {
		return in, err
	}
	k, err := in.Protocol.Decode(b[n:])
	if err != nil {
		return in, err
	}
	in.Payload = b[n+k:]
	return in, nil
}

// sniffer wraps a transport and records every message sent through it.
type sniffer struct {
	Transport
	mu   sync.Mutex
	sent []sentMsg
}

type sentMsg struct {
	at time.Time
	in Inbound // decoded, Session unset
}

func (s *sniffer) Send(ctx context.Context, to netip.AddrPort, msg []byte) error {
	in, err := decodePlain(msg)
	if err == nil {
		s.mu.Lock()
		s.sent = append(s.sent, sentMsg{at: time.Now(), in: in})
		s.mu.Unlock()
	}
	return s.Transport.Send(ctx, to, msg)
}

func (s *sniffer) log() []sentMsg {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sentMsg(nil), s.sent...)
}

// standaloneAcks returns the standalone acknowledgements sent, in order.
func (s *sniffer) standaloneAcks() []sentMsg {
	var out []sentMsg
	for _, m := range s.log() {
		if isStandaloneAck(&m.in.Protocol) {
			out = append(out, m)
		}
	}
	return out
}

// transmissions returns the times a message with this counter was sent.
func (s *sniffer) transmissions(counter uint32) []time.Time {
	var out []time.Time
	for _, m := range s.log() {
		if m.in.Header.Counter == counter {
			out = append(out, m.at)
		}
	}
	return out
}

func isStandaloneAck(ph *message.ProtocolHeader) bool {
	return ph.ProtocolID == message.ProtocolSecureChannel && ph.Opcode == OpcodeStandaloneAck
}

// node is one side of a test pair.
type node struct {
	tr    *sniffer
	m     *Manager
	table *fakeTable
	s     *fakeSession // its session with the other node
}

const protoEcho message.ProtocolID = 0x0004 // PROTOCOL_ID_FOR_TESTING

var (
	addrA = netip.MustParseAddrPort("[fd00::a]:5540")
	addrB = netip.MustParseAddrPort("[fd00::b]:5540")
)

type pairConfig struct {
	mem     MemConfig
	manager ManagerConfig // Transports, Sessions and Rand are set per node
	// managerB, if set, replaces manager for node B.
	managerB *ManagerConfig
	params   MRPParams // both peers advertise these
}

// newPair builds two nodes on one MemNetwork with a session between them:
// A's session 1 is B's session 2.
func newPair(t testing.TB, pc pairConfig) (*MemNetwork, *node, *node) {
	t.Helper()
	mn := NewMemNetwork(pc.mem)
	mk := func(addr, peer netip.AddrPort, localID, peerID uint16, seed uint64, cfg ManagerConfig) *node {
		mt, err := mn.Listen(addr)
		if err != nil {
			t.Fatal(err)
		}
		n := &node{tr: &sniffer{Transport: mt}, table: &fakeTable{}}
		n.s = &fakeSession{peer: PeerAddr{mt.Network(), peer}, peerID: peerID, params: pc.params}
		n.table.add(localID, n.s)
		cfg.Transports = []Transport{n.tr}
		cfg.Sessions = n.table
		cfg.Rand = rand.New(rand.NewPCG(pc.mem.Seed, seed))
		n.m, err = NewManager(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			n.m.Close()
			mt.Close()
		})
		return n
	}
	cfgB := pc.manager
	if pc.managerB != nil {
		cfgB = *pc.managerB
	}
	a := mk(addrA, addrB, 1, 2, 1, pc.manager)
	b := mk(addrB, addrA, 2, 1, 2, cfgB)
	return mn, a, b
}

// echo makes b answer every echo request with the same payload.
func echo(b *node) {
	b.m.Handle(protoEcho, func(ctx context.Context, e *Exchange, first Message) {
		e.Send(ctx, first.Opcode+1, first.Payload)
	})
}

// roundTrip sends one request on a new exchange and waits for the response.
func roundTrip(ctx context.Context, a *node, payload []byte) (Message, error) {
	e, err := a.m.NewExchange(a.s, protoEcho)
	if err != nil {
		return Message{}, err
	}
	defer e.Close()
	if err := e.Send(ctx, 1, payload); err != nil {
		return Message{}, fmt.Errorf("request: %w", err)
	}
	resp, err := e.Receive(ctx)
	if err != nil {
		return Message{}, fmt.Errorf("response: %w", err)
	}
	return resp, nil
}

var errTest = errors.New("test error")
