package securechannel

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/mattercam/mattercam/matter/session"
	"github.com/mattercam/mattercam/matter/tlv"
)

// tlvStruct encodes an anonymous structure whose members body writes.
func tlvStruct(body func(w *tlv.Writer)) []byte {
	w := tlv.NewWriter(nil)
	w.StartStructure(tlv.AnonymousTag())
	body(w)
	w.EndContainer()
	b, err := w.Bytes()
	if err != nil {
		panic(err)
	}
	return append([]byte(nil), b...)
}

func ctx(n uint8) tlv.Tag { return tlv.ContextTag(n) }

var allParams = session.Params{
	IdleInterval: 1234 * time.Millisecond, ActiveInterval: 250 * time.Millisecond, ActiveThreshold: 5 * time.Second,
	DataModelRevision: 18, InteractionModelRevision: 11, SpecificationVersion: 0x01040000,
	MaxPathsPerInvoke: 4, SupportedTransports: session.TransportTCPClient | session.TransportTCPServer, MaxTCPMessageSize: 100000,
}

func TestMessageRoundTrips(t *testing.T) {
	r32 := [32]byte{1, 2, 3}
	var pk [65]byte
	pk[0] = 4
	for _, m := range []wireMessage{
		&PBKDFParamRequest{InitiatorRandom: r32, InitiatorSessionID: 0xFFFF},
		&PBKDFParamRequest{InitiatorRandom: r32, InitiatorSessionID: 1, HasPBKDFParameters: true, HasParams: true, Params: allParams},
		&PBKDFParamResponse{InitiatorRandom: r32, ResponderRandom: r32, ResponderSessionID: 7},
		&PBKDFParamResponse{InitiatorRandom: r32, ResponderRandom: r32, ResponderSessionID: 7, HasPBKDFParameters: true,
			Iterations: 100000, Salt: bytes.Repeat([]byte{9}, 32), HasParams: true, Params: session.Params{IdleInterval: time.Hour}},
		&Pake1{PA: pk},
		&Pake2{PB: pk, CB: r32},
		&Pake3{CA: r32},
		&Sigma1{InitiatorRandom: r32, InitiatorSessionID: 2, DestinationID: r32, InitiatorEphPubKey: pk},
		&Sigma1{InitiatorRandom: r32, InitiatorSessionID: 2, DestinationID: r32, InitiatorEphPubKey: pk, HasParams: true, Params: allParams,
			HasResumption: true, ResumptionID: [16]byte{5}, InitiatorResumeMIC: [16]byte{6}},
		&Sigma2{ResponderRandom: r32, ResponderSessionID: 3, ResponderEphPubKey: pk, Encrypted2: bytes.Repeat([]byte{7}, 17)},
		&Sigma2{ResponderRandom: r32, ResponderSessionID: 3, ResponderEphPubKey: pk, Encrypted2: bytes.Repeat([]byte{7}, MaxEncryptedSize), HasParams: true, Params: allParams},
		&Sigma3{Encrypted3: bytes.Repeat([]byte{8}, 100)},
		&Sigma2Resume{ResumptionID: [16]byte{1}, Sigma2ResumeMIC: [16]byte{2}, ResponderSessionID: 9},
		&Sigma2Resume{ResumptionID: [16]byte{1}, Sigma2ResumeMIC: [16]byte{2}, ResponderSessionID: 9, HasParams: true, Params: allParams},
		&TBEData{NOC: []byte("noc"), Signature: [64]byte{1}},
		&TBEData{NOC: []byte("noc"), ICAC: []byte("icac"), Signature: [64]byte{1}, HasResumptionID: true, ResumptionID: [16]byte{3}},
	} {
		b, err := m.AppendTo(nil)
		if err != nil {
			t.Fatalf("%T: %v", m, err)
		}
		got := reflect.New(reflect.TypeOf(m).Elem()).Interface().(wireMessage)
		if err := got.Unmarshal(b); err != nil {
			t.Fatalf("%T %x: %v", m, b, err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Fatalf("%T round trip:\n got %+v\nwant %+v", m, got, m)
		}
	}
}

func TestMessageRejections(t *testing.T) {
	random := make([]byte, 32)
	pk := make([]byte, 65)
	// A valid PBKDFParamRequest, with each field optionally replaced.
	req := func(edit func(w *tlv.Writer, tag uint8) bool) []byte {
		return tlvStruct(func(w *tlv.Writer) {
			for tag := uint8(1); tag <= 4; tag++ {
				if edit != nil && edit(w, tag) {
					continue
				}
				switch tag {
				case 1:
					w.PutBytes(ctx(1), random)
				case 2:
					w.PutUint(ctx(2), 0x1234)
				case 3:
					w.PutUint(ctx(3), 0)
				case 4:
					w.PutBool(ctx(4), false)
				}
			}
		})
	}
	sigma1 := func(extra func(w *tlv.Writer)) []byte {
		return tlvStruct(func(w *tlv.Writer) {
			w.PutBytes(ctx(1), random)
			w.PutUint(ctx(2), 1)
			w.PutBytes(ctx(3), random)
			w.PutBytes(ctx(4), pk)
			if extra != nil {
				extra(w)
			}
		})
	}
	pbkdfResp := func(iter uint64, salt []byte) []byte {
		return tlvStruct(func(w *tlv.Writer) {
			w.PutBytes(ctx(1), random)
			w.PutBytes(ctx(2), random)
			w.PutUint(ctx(3), 1)
			w.StartStructure(ctx(4))
			w.PutUint(ctx(1), iter)
			if salt != nil {
				w.PutBytes(ctx(2), salt)
			}
			w.EndContainer()
		})
	}
	withParams := func(p func(w *tlv.Writer)) []byte {
		return req(func(w *tlv.Writer, tag uint8) bool {
			if tag == 4 {
				w.PutBool(ctx(4), false)
				p(w)
				return true
			}
			return false
		})
	}
	for _, tc := range []struct {
		name string
		m    wireMessage
		b    []byte
		ok   bool
	}{
		{"valid request", &PBKDFParamRequest{}, req(nil), true},
		{"empty", &PBKDFParamRequest{}, nil, false},
		{"empty structure", &PBKDFParamRequest{}, tlvStruct(func(*tlv.Writer) {}), false},
		{"short random", &PBKDFParamRequest{}, req(func(w *tlv.Writer, tag uint8) bool {
			if tag == 1 {
				w.PutBytes(ctx(1), random[:31])
			}
			return tag == 1
		}), false},
		{"session ID over 16 bits", &PBKDFParamRequest{}, req(func(w *tlv.Writer, tag uint8) bool {
			if tag == 2 {
				w.PutUint(ctx(2), 0x10000)
			}
			return tag == 2
		}), false},
		{"missing hasPBKDFParameters", &PBKDFParamRequest{}, req(func(w *tlv.Writer, tag uint8) bool { return tag == 4 }), false},
		{"random as string", &PBKDFParamRequest{}, req(func(w *tlv.Writer, tag uint8) bool {
			if tag == 1 {
				w.PutString(ctx(1), string(bytes.Repeat([]byte{'a'}, 32)))
			}
			return tag == 1
		}), false},
		{"repeated field", &PBKDFParamRequest{}, req(func(w *tlv.Writer, tag uint8) bool {
			if tag == 3 {
				w.PutUint(ctx(3), 0)
				w.PutUint(ctx(3), 0)
			}
			return tag == 3
		}), false},
		{"future field", &PBKDFParamRequest{}, req(func(w *tlv.Writer, tag uint8) bool {
			if tag == 4 {
				w.PutBool(ctx(4), false)
				w.PutUint(ctx(9), 42)
				w.PutUint(tlv.CommonProfileTag(1), 42)
			}
			return tag == 4
		}), true},
		{"trailing data", &PBKDFParamRequest{}, append(req(nil), 0x18), false},
		{"second structure", &PBKDFParamRequest{}, append(req(nil), req(nil)...), false},
		{"tagged outer structure", &PBKDFParamRequest{}, func() []byte {
			b := req(nil)
			return append([]byte{0x35, 0x01}, b[1:]...)
		}(), false},
		{"array", &PBKDFParamRequest{}, []byte{0x16, 0x18}, false},
		{"unterminated", &PBKDFParamRequest{}, req(nil)[:10], false},
		{"params not a structure", &PBKDFParamRequest{}, withParams(func(w *tlv.Writer) { w.PutUint(ctx(5), 1) }), false},
		{"idle interval over an hour", &PBKDFParamRequest{}, withParams(func(w *tlv.Writer) {
			w.StartStructure(ctx(5))
			w.PutUint(ctx(1), 3600001)
			w.EndContainer()
		}), false},
		{"threshold over 16 bits", &PBKDFParamRequest{}, withParams(func(w *tlv.Writer) {
			w.StartStructure(ctx(5))
			w.PutUint(ctx(3), 0x10000)
			w.EndContainer()
		}), false},
		{"repeated parameter", &PBKDFParamRequest{}, withParams(func(w *tlv.Writer) {
			w.StartStructure(ctx(5))
			w.PutUint(ctx(1), 1)
			w.PutUint(ctx(1), 1)
			w.EndContainer()
		}), false},
		{"future parameter", &PBKDFParamRequest{}, withParams(func(w *tlv.Writer) {
			w.StartStructure(ctx(5))
			w.PutUint(ctx(1), 1)
			w.PutUint(ctx(100), 1)
			w.EndContainer()
		}), true},
		{"nested too deep", &PBKDFParamRequest{}, withParams(func(w *tlv.Writer) {
			w.StartStructure(ctx(5))
			w.StartStructure(ctx(20))
			w.StartStructure(ctx(21))
			w.EndContainer()
			w.EndContainer()
			w.EndContainer()
		}), false},

		{"valid response", &PBKDFParamResponse{}, pbkdfResp(1000, random[:16]), true},
		{"too few iterations", &PBKDFParamResponse{}, pbkdfResp(999, random[:16]), false},
		{"too many iterations", &PBKDFParamResponse{}, pbkdfResp(100001, random[:16]), false},
		{"short salt", &PBKDFParamResponse{}, pbkdfResp(1000, random[:15]), false},
		{"long salt", &PBKDFParamResponse{}, pbkdfResp(1000, append(random, 1)), false},
		{"no salt", &PBKDFParamResponse{}, pbkdfResp(1000, nil), false},

		{"valid Sigma1", &Sigma1{}, sigma1(nil), true},
		{"Sigma1 with resumption", &Sigma1{}, sigma1(func(w *tlv.Writer) {
			w.PutBytes(ctx(6), random[:16])
			w.PutBytes(ctx(7), random[:16])
		}), true},
		{"resumption ID without MIC", &Sigma1{}, sigma1(func(w *tlv.Writer) { w.PutBytes(ctx(6), random[:16]) }), false},
		{"MIC without resumption ID", &Sigma1{}, sigma1(func(w *tlv.Writer) { w.PutBytes(ctx(7), random[:16]) }), false},
		{"long resumption ID", &Sigma1{}, sigma1(func(w *tlv.Writer) {
			w.PutBytes(ctx(6), random[:17])
			w.PutBytes(ctx(7), random[:16])
		}), false},
		{"short MIC", &Sigma1{}, sigma1(func(w *tlv.Writer) {
			w.PutBytes(ctx(6), random[:16])
			w.PutBytes(ctx(7), random[:15])
		}), false},
		{"short public key", &Sigma1{}, tlvStruct(func(w *tlv.Writer) {
			w.PutBytes(ctx(1), random)
			w.PutUint(ctx(2), 1)
			w.PutBytes(ctx(3), random)
			w.PutBytes(ctx(4), pk[:64])
		}), false},

		{"encrypted2 only a MIC", &Sigma2{}, tlvStruct(func(w *tlv.Writer) {
			w.PutBytes(ctx(1), random)
			w.PutUint(ctx(2), 1)
			w.PutBytes(ctx(3), pk)
			w.PutBytes(ctx(4), random[:16])
		}), false},
		{"encrypted3 too long", &Sigma3{}, tlvStruct(func(w *tlv.Writer) {
			w.PutBytes(ctx(1), make([]byte, MaxEncryptedSize+1))
		}), false},
		{"NOC too long", &TBEData{}, tlvStruct(func(w *tlv.Writer) {
			w.PutBytes(ctx(1), make([]byte, MaxCertSize+1))
			w.PutBytes(ctx(3), make([]byte, 64))
		}), false},
		{"empty ICAC is none", &TBEData{}, tlvStruct(func(w *tlv.Writer) {
			w.PutBytes(ctx(1), []byte{1})
			w.PutBytes(ctx(2), nil)
			w.PutBytes(ctx(3), make([]byte, 64))
		}), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.m.Unmarshal(tc.b)
			if tc.ok && err != nil {
				t.Fatalf("rejected: %v", err)
			}
			if !tc.ok && !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v, want ErrMalformed", err)
			}
		})
	}
}

// TestStateMachineOrder checks that every handler refuses to run out of
// order.
func TestStateMachineOrder(t *testing.T) {
	sm := seedMessages()
	pr := &paseResponder{}
	if _, err := pr.handlePake1(sm[OpPake1][0]); !errors.Is(err, ErrUnexpected) {
		t.Fatalf("Pake1 first: %v", err)
	}
	if _, err := pr.handlePake3(sm[OpPake3][0]); !errors.Is(err, ErrUnexpected) {
		t.Fatalf("Pake3 first: %v", err)
	}
	pi := &paseInitiator{}
	if _, _, err := pi.handlePake2(sm[OpPake2][0]); !errors.Is(err, ErrUnexpected) {
		t.Fatalf("Pake2 first: %v", err)
	}
	cr := &caseResponder{}
	if _, err := cr.handleSigma3(sm[OpSigma3][0]); !errors.Is(err, ErrUnexpected) {
		t.Fatalf("Sigma3 first: %v", err)
	}
	if _, err := cr.resumedResult(); !errors.Is(err, ErrUnexpected) {
		t.Fatalf("resumption result first: %v", err)
	}
	ci := &caseInitiator{}
	if _, _, err := ci.handleSigma2(sm[OpSigma2][0]); !errors.Is(err, ErrUnexpected) {
		t.Fatalf("Sigma2 first: %v", err)
	}
	if _, err := ci.handleSigma2Resume(sm[OpSigma2Resume][0]); !errors.Is(err, ErrUnexpected) {
		t.Fatalf("Sigma2_Resume first: %v", err)
	}
}

// TestPeerParamsApplied checks that each side's session parameters reach
// the other's session.
func TestPeerParamsApplied(t *testing.T) {
	devParams := session.Params{IdleInterval: 800 * time.Millisecond, ActiveInterval: 400 * time.Millisecond, MaxPathsPerInvoke: 9}
	ctrlParams := chipToolParams
	dev, ctrl := memPair(t, transportMem(31), Config{Params: devParams}, Config{Params: ctrlParams})
	if err := dev.srv.OpenPASEWindow(testWindow(t)); err != nil {
		t.Fatal(err)
	}
	s, err := ctrl.srv.EstablishPASE(t.Context(), udpPeer(addrDevice), testPasscode)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.PeerParams(); got != devParams.Effective() {
		t.Fatalf("controller sees %+v", got)
	}
	if got := peerSession(t, dev, s.LocalSessionID()).PeerParams(); got != ctrlParams.Effective() {
		t.Fatalf("device sees %+v", got)
	}
}
