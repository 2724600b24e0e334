package securechannel

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/mattercam/mattercam/matter/crypto"
	"github.com/mattercam/mattercam/matter/session"
	"github.com/mattercam/mattercam/matter/transport"
)

// wireMessage is what every message type has in common.
type wireMessage interface {
	AppendTo([]byte) ([]byte, error)
	Unmarshal([]byte) error
}

// fuzzDecoder checks a decoder on arbitrary input: it must not panic, and
// whatever it accepts must encode to a message that decodes to the same
// value and encodes to the same octets again.
func fuzzDecoder[T any, P interface {
	*T
	wireMessage
}](f *testing.F, seeds ...[]byte) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var m T
		if err := P(&m).Unmarshal(b); err != nil {
			return
		}
		enc, err := P(&m).AppendTo(nil)
		if err != nil {
			t.Fatalf("accepted %x but cannot encode it: %v", b, err)
		}
		var again T
		if err := P(&again).Unmarshal(enc); err != nil {
			t.Fatalf("re-encoding %x does not decode: %v", enc, err)
		}
		if !reflect.DeepEqual(normalize(m), normalize(again)) {
			t.Fatalf("round trip changed the message:\n%+v\n%+v", m, again)
		}
		enc2, _ := P(&again).AppendTo(nil)
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding is not stable: %x, %x", enc, enc2)
		}
	})
}

// normalize makes empty and nil slices compare equal.
func normalize(v any) any {
	switch m := v.(type) {
	case PBKDFParamResponse:
		if len(m.Salt) == 0 {
			m.Salt = nil
		}
		return m
	case TBEData:
		if len(m.ICAC) == 0 {
			m.ICAC = nil
		}
		return m
	}
	return v
}

// fuzzPKI is the PKI of the CASE seeds and of the CASE responder fuzzed, so
// that the seeds' destination IDs match.
var fuzzPKI = sync.OnceValue(func() *casePKI { return newCasePKI(&testing.T{}) })

// seedMessages are valid messages of every kind, from a real exchange.
var seedMessages = sync.OnceValue(func() map[Opcode][][]byte {
	out := map[Opcode][][]byte{}
	tb := &testing.T{}
	add := func(op Opcode, b []byte) { out[op] = append(out[op], append([]byte(nil), b...)) }

	v, _ := crypto.ComputePasscodeVerifier(testPasscode, testSalt, testIterations)
	ini := &paseInitiator{passcode: testPasscode, localID: 1, rand: rand.Reader, params: DefaultParams, sendParams: true}
	resp := &paseResponder{verifier: v, salt: testSalt, iterations: uint32(testIterations), localID: 2, rand: rand.Reader, params: chipToolParams, sendParams: true}
	req, _ := ini.start()
	add(OpPBKDFParamRequest, req)
	r, _ := resp.handlePBKDFParamRequest(req)
	add(OpPBKDFParamResponse, r)
	p1, _ := ini.handlePBKDFParamResponse(r)
	add(OpPake1, p1)
	p2, _ := resp.handlePake1(p1)
	add(OpPake2, p2)
	p3, _, _ := ini.handlePake2(p2)
	add(OpPake3, p3)

	pki := fuzzPKI()
	ci, cr, sigma2 := caseMessagesTB(tb, pki)
	add(OpSigma1, ci.sigma1Raw)
	add(OpSigma2, sigma2)
	sigma3, res, _ := ci.handleSigma2(sigma2)
	add(OpSigma3, sigma3)
	_, _ = cr.handleSigma3(sigma3)

	resume := res.resumption
	ri := &caseInitiator{fabric: &pki.ctrl, peerNodeID: devNodeID, verify: testVerify, localID: 3, rand: rand.Reader, resume: &resume}
	s1, _ := ri.start()
	add(OpSigma1, s1)
	store := NewResumptionStore(0)
	store.Save(resume)
	rr := &caseResponder{fabrics: []Fabric{pki.dev}, resumptions: store, verify: testVerify, localID: 4, rand: rand.Reader, params: DefaultParams, sendParams: true}
	if _, s2r, err := rr.handleSigma1(s1); err == nil {
		add(OpSigma2Resume, s2r)
	}
	for _, sr := range []StatusReport{statusSuccess, statusInvalidParam, BusyStatus(time.Second)} {
		add(OpStatusReport, sr.AppendTo(nil))
	}
	return out
})

// caseMessagesTB is caseMessages for seed generation.
func caseMessagesTB(tb testing.TB, pki *casePKI) (*caseInitiator, *caseResponder, []byte) {
	ini := &caseInitiator{fabric: &pki.ctrl, peerNodeID: devNodeID, verify: testVerify, localID: 1, rand: rand.Reader, params: chipToolParams, sendParams: true}
	resp := &caseResponder{fabrics: []Fabric{pki.dev}, verify: testVerify, localID: 2, rand: rand.Reader, params: DefaultParams, sendParams: true}
	sigma1, _ := ini.start()
	_, sigma2, _ := resp.handleSigma1(sigma1)
	return ini, resp, sigma2
}

func seeds(op Opcode, extra ...string) [][]byte {
	out := append([][]byte(nil), seedMessages()[op]...)
	for _, e := range extra {
		out = append(out, unhex(e))
	}
	return out
}

func FuzzPBKDFParamRequest(f *testing.F) {
	fuzzDecoder[PBKDFParamRequest](f, seeds(OpPBKDFParamRequest, "1518", "15300120"+
		"0000000000000000000000000000000000000000000000000000000000000000"+"2502ffff24030028041818")...)
}

func FuzzPBKDFParamResponse(f *testing.F) {
	fuzzDecoder[PBKDFParamResponse](f, seeds(OpPBKDFParamResponse)...)
}

func FuzzPake1(f *testing.F) { fuzzDecoder[Pake1](f, seeds(OpPake1)...) }
func FuzzPake2(f *testing.F) { fuzzDecoder[Pake2](f, seeds(OpPake2)...) }
func FuzzPake3(f *testing.F) { fuzzDecoder[Pake3](f, seeds(OpPake3)...) }

func FuzzSigma1(f *testing.F)       { fuzzDecoder[Sigma1](f, seeds(OpSigma1)...) }
func FuzzSigma2(f *testing.F)       { fuzzDecoder[Sigma2](f, seeds(OpSigma2)...) }
func FuzzSigma3(f *testing.F)       { fuzzDecoder[Sigma3](f, seeds(OpSigma3)...) }
func FuzzSigma2Resume(f *testing.F) { fuzzDecoder[Sigma2Resume](f, seeds(OpSigma2Resume)...) }

func FuzzTBEData(f *testing.F) {
	fab := fuzzPKI().ctrl
	tbe, _ := signedTBEData(&fab, make([]byte, 65), make([]byte, 65))
	b, _ := tbe.AppendTo(nil)
	tbe.HasResumptionID = true
	b2, _ := tbe.AppendTo(nil)
	fuzzDecoder[TBEData](f, b, b2)
}

func FuzzStatusReport(f *testing.F) {
	for _, s := range seeds(OpStatusReport) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var sr StatusReport
		if err := sr.Unmarshal(b); err != nil {
			if len(b) >= StatusReportMinSize {
				t.Fatalf("rejected %x: %v", b, err)
			}
			return
		}
		if enc := sr.AppendTo(nil); !bytes.Equal(enc, b) {
			t.Fatalf("re-encoded %x as %x", b, enc)
		}
		_ = sr.String()
		se := &StatusError{Report: sr}
		_ = se.Error()
		_ = se.MinimumWait()
	})
}

// Responder fuzzing: the fuzzer's input is a script of messages, each
// [opcode][uint16 length][payload], fed to the responder's real handler
// (Server.respond) over a scripted conn after a first message that
// starts the handshake. Whatever the script, the responder must not panic,
// must leave no reservation and no session behind unless the handshake
// succeeded, and must answer a failure with a StatusReport.

func script(msgs ...sentMsg) []byte {
	var b []byte
	for _, m := range msgs {
		b = append(b, byte(m.op))
		b = binary.LittleEndian.AppendUint16(b, uint16(len(m.payload)))
		b = append(b, m.payload...)
	}
	return b
}

func parseScript(b []byte) []transport.Message {
	var out []transport.Message
	for len(b) >= 3 && len(out) < 8 {
		op, n := Opcode(b[0]), int(binary.LittleEndian.Uint16(b[1:]))
		b = b[3:]
		n = min(n, len(b))
		out = append(out, scMsg(op, b[:n]))
		b = b[n:]
	}
	return out
}

// fuzzResponder runs one scripted handshake on srv.
func fuzzResponder(t *testing.T, srv *Server, table *session.Table, in []byte) {
	msgs := parseScript(in)
	if len(msgs) == 0 {
		return
	}
	first := msgs[0]
	c := &scripted{in: msgs[1:]}
	before := table.Len()
	err := srv.respond(context.Background(), c, nil, udpPeer(addrCtrl), Opcode(first.Opcode), first.Payload)
	if err != nil {
		if table.Len() != before {
			t.Fatalf("failed handshake (%v) left a session", err)
		}
		if _, ok := reportFor(err); ok && (len(c.sent) == 0 || c.sent[len(c.sent)-1].op != OpStatusReport) {
			t.Fatalf("failure %v not reported to the peer", err)
		}
	}
	// No reservation may leak: they are all free again.
	_, _, _, maxPending := table.Limits()
	var rs []*session.Reservation
	for range maxPending {
		r, err := table.Reserve()
		if err != nil {
			t.Fatalf("reservation leaked after %v", err)
		}
		rs = append(rs, r)
	}
	for _, r := range rs {
		r.Release()
	}
	for _, s := range table.Sessions() {
		table.Remove(s, session.ReasonClosed)
	}
}

func fuzzServer(t testing.TB, cfg Config) (*Server, *session.Table) {
	table, err := session.NewTable(session.Config{NewAEAD: crypto.NewCCM})
	if err != nil {
		t.Fatal(err)
	}
	mgr, err := transport.NewManager(transport.ManagerConfig{Sessions: table})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Manager, cfg.Sessions = mgr, table
	srv, err := newServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return srv, table
}

func FuzzPASEResponder(f *testing.F) {
	sm := seedMessages()
	req, p1, p3 := sm[OpPBKDFParamRequest][0], sm[OpPake1][0], sm[OpPake3][0]
	f.Add(script(sentMsg{OpPBKDFParamRequest, req}))
	f.Add(script(sentMsg{OpPBKDFParamRequest, req}, sentMsg{OpPake1, p1}))
	f.Add(script(sentMsg{OpPBKDFParamRequest, req}, sentMsg{OpPake1, p1}, sentMsg{OpPake3, p3}))
	f.Add(script(sentMsg{OpPBKDFParamRequest, req}, sentMsg{OpStatusReport, statusInvalidParam.AppendTo(nil)}))
	f.Add(script(sentMsg{OpPBKDFParamRequest, req}, sentMsg{OpPake3, p3}, sentMsg{OpPake1, p1}))
	tb := &testing.T{}
	srv, table := fuzzServer(tb, Config{})
	w := testWindow(tb)
	w.MaxFailedAttempts = 1 << 30
	if err := srv.OpenPASEWindow(w); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in []byte) { fuzzResponder(t, srv, table, in) })
}

func FuzzCASEResponder(f *testing.F) {
	sm := seedMessages()
	sigma3 := sm[OpSigma3][0]
	for _, s1 := range sm[OpSigma1] {
		f.Add(script(sentMsg{OpSigma1, s1}))
		f.Add(script(sentMsg{OpSigma1, s1}, sentMsg{OpSigma3, sigma3}))
		f.Add(script(sentMsg{OpSigma1, s1}, sentMsg{OpStatusReport, statusSuccess.AppendTo(nil)}))
	}
	tb := &testing.T{}
	pki := fuzzPKI()
	srv, table := fuzzServer(tb, Config{Fabrics: FabricList{pki.dev}})
	f.Fuzz(func(t *testing.T, in []byte) { fuzzResponder(t, srv, table, in) })
}
