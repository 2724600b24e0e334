package session

import (
	"bytes"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/mattercam/mattercam/matter/message"
	"github.com/mattercam/mattercam/matter/transport"
)

// TestSecureExchange seals on one end of a session and opens through the
// other end's table, for CASE and PASE sessions, with and without privacy.
func TestSecureExchange(t *testing.T) {
	tests := []struct {
		name    string
		mk      func(role Role, peer uint16) SecureConfig
		privacy bool
	}{
		{"CASE", func(r Role, p uint16) SecureConfig {
			if r == Initiator {
				return caseConfig(r, 1, 0x1111, 0x2222, p)
			}
			return caseConfig(r, 1, 0x2222, 0x1111, p)
		}, false},
		{"CASE privacy", func(r Role, p uint16) SecureConfig {
			c := caseConfig(r, 1, 0x1111, 0x2222, p)
			if r == Responder {
				c.LocalNodeID, c.PeerNodeID = 0x2222, 0x1111
			}
			c.Privacy = true
			return c
		}, true},
		{"PASE", paseConfig, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ta, tb := newTestTable(t, Config{}), newTestTable(t, Config{})
			sa, sb := pair(t, ta, tb, tt.mk)
			from := udp("[2001:db8::a]:5540")
			for i, dir := range []struct {
				src, dst     *Secure
				dstTab       *Table
				initiatorMsg bool
			}{{sa, sb, tb, true}, {sb, sa, ta, false}, {sa, sb, tb, true}} {
				ph := message.ProtocolHeader{Initiator: dir.initiatorMsg, Reliable: true, Opcode: 1, ExchangeID: uint16(i), ProtocolID: message.ProtocolInteractionModel}
				msg, ctr, err := dir.src.SealMessage(nil, &ph, []byte("hello"))
				if err != nil {
					t.Fatal(err)
				}
				if got := msg[3]&0x80 != 0; got != tt.privacy {
					t.Errorf("P flag = %v, want %v", got, tt.privacy)
				}
				replay := bytes.Clone(msg)
				in, err := dir.dstTab.Open(transport.Packet{From: from, Data: msg})
				if err != nil {
					t.Fatalf("message %d: %v", i, err)
				}
				if in.Session != dir.dst || in.Duplicate || string(in.Payload) != "hello" ||
					in.Header.Counter != ctr || in.Protocol.ExchangeID != uint16(i) {
					t.Fatalf("message %d: Inbound = %+v", i, in)
				}
				if dir.dst.Peer() != from {
					t.Errorf("peer address not updated: %v", dir.dst.Peer())
				}
				in, err = dir.dstTab.Open(transport.Packet{From: from, Data: replay})
				if err != nil {
					t.Fatal(err)
				}
				if !in.Duplicate {
					t.Errorf("message %d replayed: not marked duplicate", i)
				}
			}
		})
	}
}

func TestSecureOpenErrors(t *testing.T) {
	ta, tb := newTestTable(t, Config{}), newTestTable(t, Config{})
	sa, sb := pair(t, ta, tb, paseConfig)
	ph := message.ProtocolHeader{ExchangeID: 1}
	good, _, err := sa.SealMessage(nil, &ph, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	tampered := bytes.Clone(good)
	tampered[len(tampered)-1] ^= 1
	wrongID := bytes.Clone(good)
	wrongID[1] ^= 0x40 // another Session ID
	group := message.Header{SessionID: 5, SessionType: message.SessionGroup, HasSource: true, Source: 1, Destination: message.DestinationGroup, DestGroup: 2}
	groupMsg, _ := message.AppendMessage(nil, &group, &ph, nil)
	tests := []struct {
		name string
		data []byte
		err  error
	}{
		{"tampered", tampered, message.ErrAuth},
		{"unknown session", wrongID, ErrNoSession},
		{"group", append(groupMsg, make([]byte, 16)...), ErrUnsupported},
		{"garbage", []byte{0xff}, message.ErrTruncated},
		{"unsecured without node IDs", []byte{0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0}, message.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tb.Open(transport.Packet{From: udp("[::1]:1"), Data: tt.data})
			if !errors.Is(err, tt.err) {
				t.Fatalf("Open err = %v, want %v", err, tt.err)
			}
		})
	}
	// A message for sb opened by another session of the same table.
	other := establish(t, tb, paseConfig(Responder, 77))
	var in transport.Inbound
	if err := other.OpenMessage(bytes.Clone(good), &in); err == nil {
		t.Error("a session opened a message for another session")
	}
	_ = sb
}

func TestSecureClosed(t *testing.T) {
	ta, tb := newTestTable(t, Config{}), newTestTable(t, Config{})
	sa, sb := pair(t, ta, tb, paseConfig)
	ph := message.ProtocolHeader{}
	msg, _, err := sa.SealMessage(nil, &ph, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !sb.Close() || sb.Close() {
		t.Fatal("Close should succeed once")
	}
	if !sb.Closed() || tb.Get(sb.LocalSessionID()) != nil {
		t.Fatal("closed session still in the table")
	}
	var in transport.Inbound
	if err := sb.OpenMessage(msg, &in); !errors.Is(err, ErrClosed) {
		t.Errorf("OpenMessage on a closed session: %v", err)
	}
	if _, _, err := sb.SealMessage(nil, &ph, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("SealMessage on a closed session: %v", err)
	}
}

func TestSecureCounterExhausted(t *testing.T) {
	tab := newTestTable(t, Config{})
	s := establish(t, tab, paseConfig(Initiator, 9))
	s.counter = message.NewSessionCounterAt(math.MaxUint32)
	ph := message.ProtocolHeader{}
	if _, ctr, err := s.SealMessage(nil, &ph, nil); err != nil || ctr != math.MaxUint32 {
		t.Fatalf("last counter: %d, %v", ctr, err)
	}
	if _, _, err := s.SealMessage(nil, &ph, nil); !errors.Is(err, message.ErrCounterExhausted) {
		t.Fatalf("SealMessage after exhaustion: %v", err)
	}
	s.mu.Lock()
	marked := s.evict
	s.mu.Unlock()
	if !marked {
		t.Error("exhausted session not marked for eviction")
	}
}

func TestSecureSealNoAlloc(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	ta, tb := newTestTable(t, Config{}), newTestTable(t, Config{})
	sa, sb := pair(t, ta, tb, paseConfig)
	sa.SetPrivacy(true)
	ph := message.ProtocolHeader{Initiator: true, ExchangeID: 3, ProtocolID: message.ProtocolInteractionModel}
	payload := make([]byte, 512)
	buf := make([]byte, 0, 1024)
	allocs := testing.AllocsPerRun(100, func() {
		msg, _, err := sa.SealMessage(buf[:0], &ph, payload)
		if err != nil {
			t.Fatal(err)
		}
		var in transport.Inbound
		if err := sb.OpenMessage(msg, &in); err != nil || in.Duplicate {
			t.Fatal(err, in.Duplicate)
		}
	})
	if allocs != 0 {
		t.Errorf("SealMessage+OpenMessage allocate %v times", allocs)
	}
}

func TestSecureAccessors(t *testing.T) {
	clk := newFakeClock()
	tab := newTestTable(t, Config{Now: clk.Now})
	cfg := caseConfig(Responder, 3, 0xaaaa, 0xbbbb, 42)
	cfg.PeerCATs = CATs{0x0001_0001, 0xabcd_0002}
	cfg.Resumption = &Resumption{ID: [16]byte{1}}
	cfg.PeerParams = Params{IdleInterval: 5 * time.Second, SupportedTransports: TransportTCPClient}
	s := establish(t, tab, cfg)
	if s.PeerSessionID() != 42 || s.Role() != Responder || s.AuthMode() != AuthCASE ||
		s.FabricIndex() != 3 || s.LocalNodeID() != 0xaaaa || s.PeerNodeID() != 0xbbbb ||
		s.PeerCATs() != cfg.PeerCATs || s.Resumption() != cfg.Resumption ||
		s.AttestationChallenge() != [16]byte(keyAC) || s.Peer() != cfg.Peer {
		t.Fatalf("accessors disagree with the configuration")
	}
	p := s.PeerParams()
	if p.IdleInterval != 5*time.Second || p.ActiveInterval != DefaultActiveInterval || p.MaxTCPMessageSize != DefaultMaxTCPMessageSize {
		t.Errorf("PeerParams = %+v", p)
	}
	if m := s.PeerMRP(); m.IdleInterval != 5*time.Second || m.ActiveThreshold != DefaultActiveThreshold {
		t.Errorf("PeerMRP = %+v", m)
	}
	if err := s.SetPeerParams(Params{IdleInterval: 2 * time.Hour}); err == nil {
		t.Error("SetPeerParams accepted a 2 h idle interval")
	}
	if err := s.SetFabricIndex(4); err == nil {
		t.Error("SetFabricIndex rebound a CASE session")
	}
	if s.PeerActive() {
		t.Error("peer active before any message")
	}
	s.mu.Lock()
	s.lastReceived = clk.Now()
	s.mu.Unlock()
	clk.Advance(DefaultActiveThreshold - time.Millisecond)
	if !s.PeerActive() {
		t.Error("peer not active within the threshold")
	}
	clk.Advance(time.Millisecond)
	if s.PeerActive() {
		t.Error("peer still active after the threshold")
	}
	if c := CAT(0xabcd_0002); c.Identifier() != 0xabcd || c.Version() != 2 || !c.Valid() || CAT(0x0001_0000).Valid() {
		t.Error("CAT accessors")
	}

	pase := establish(t, tab, paseConfig(Responder, 43))
	if err := pase.SetFabricIndex(2); err != nil || pase.FabricIndex() != 2 {
		t.Fatalf("SetFabricIndex on PASE: %v", err)
	}
	if err := pase.SetFabricIndex(5); err == nil {
		t.Error("SetFabricIndex rebound a PASE session twice")
	}
}

func TestEstablishValidation(t *testing.T) {
	base := caseConfig(Initiator, 1, 1, 2, 10)
	tests := []struct {
		name string
		mod  func(*SecureConfig)
	}{
		{"no auth mode", func(c *SecureConfig) { c.AuthMode = 0 }},
		{"group auth mode", func(c *SecureConfig) { c.AuthMode = AuthGroup }},
		{"CASE without fabric", func(c *SecureConfig) { c.FabricIndex = 0 }},
		{"CASE without peer node", func(c *SecureConfig) { c.PeerNodeID = 0 }},
		{"PASE with node IDs", func(c *SecureConfig) { c.AuthMode = AuthPASE }},
		{"bad role", func(c *SecureConfig) { c.Role = 7 }},
		{"peer session 0", func(c *SecureConfig) { c.PeerSessionID = 0 }},
		{"short key", func(c *SecureConfig) { c.Keys.I2R = c.Keys.I2R[:15] }},
		{"no attestation challenge", func(c *SecureConfig) { c.Keys.AttestationChallenge = nil }},
		{"bad params", func(c *SecureConfig) { c.PeerParams.ActiveThreshold = 70 * time.Second }},
	}
	tab := newTestTable(t, Config{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base
			tt.mod(&cfg)
			r, err := tab.Reserve()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := r.Establish(cfg); err == nil {
				t.Fatal("Establish accepted an invalid configuration")
			}
			if _, err := r.Establish(base); !errors.Is(err, ErrReservation) {
				t.Fatalf("reservation still usable after a failed Establish: %v", err)
			}
		})
	}
	if tab.Len() != 0 {
		t.Errorf("%d sessions after failed establishments", tab.Len())
	}
	tab.mu.Lock()
	pending := len(tab.reserved)
	tab.mu.Unlock()
	if pending != 0 {
		t.Errorf("%d reservations leaked", pending)
	}
}

func TestParams(t *testing.T) {
	e := Params{}.Effective()
	want := Params{IdleInterval: DefaultIdleInterval, ActiveInterval: DefaultActiveInterval, ActiveThreshold: DefaultActiveThreshold,
		MaxPathsPerInvoke: DefaultMaxPathsPerInvoke, MaxTCPMessageSize: DefaultMaxTCPMessageSize}
	if e != want {
		t.Errorf("Effective = %+v, want %+v", e, want)
	}
	set := Params{IdleInterval: 1, ActiveInterval: 2, ActiveThreshold: 3, DataModelRevision: 17, MaxPathsPerInvoke: 10, MaxTCPMessageSize: 100}
	if set.Effective() != set {
		t.Errorf("Effective changed explicit values: %+v", set.Effective())
	}
	for _, tt := range []struct {
		p  Params
		ok bool
	}{
		{Params{}, true},
		{Params{IdleInterval: MaxInterval, ActiveInterval: MaxInterval, ActiveThreshold: MaxActiveThreshold}, true},
		{Params{IdleInterval: MaxInterval + 1}, false},
		{Params{ActiveInterval: -1}, false},
		{Params{ActiveThreshold: MaxActiveThreshold + time.Millisecond}, false},
	} {
		if err := tt.p.Validate(); (err == nil) != tt.ok {
			t.Errorf("Validate(%+v) = %v", tt.p, err)
		}
	}
}
