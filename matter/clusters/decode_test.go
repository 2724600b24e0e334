package clusters_test

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/mattercam/mattercam/matter/clusters/accesscontrol"
	"github.com/mattercam/mattercam/matter/clusters/field"
	"github.com/mattercam/mattercam/matter/clusters/generalcommissioning"
	"github.com/mattercam/mattercam/matter/clusters/internal/clustertest"
	"github.com/mattercam/mattercam/matter/clusters/operationalcredentials"
	"github.com/mattercam/mattercam/matter/clusters/webrtctransportdefinitions"
	"github.com/mattercam/mattercam/matter/clusters/webrtctransportprovider"
	"github.com/mattercam/mattercam/matter/tlv"
)

// structure encodes an anonymous structure whose members body writes.
func structure(t *testing.T, body func(w *tlv.Writer)) []byte {
	t.Helper()
	var w tlv.Writer
	w.StartStructure(tlv.AnonymousTag())
	body(&w)
	w.EndContainer()
	b, err := w.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Clone(b)
}

func ctx(n uint8) tlv.Tag { return tlv.ContextTag(n) }

// TestDecodeStrict covers what the generated decoders accept and refuse,
// on a few representative types; every generated decoder is built from
// the same templates.
func TestDecodeStrict(t *testing.T) {
	iceCandidate := func(w *tlv.Writer) {
		w.StartStructure(tlv.AnonymousTag())
		w.PutString(ctx(0), "candidate:1 1 udp 1 127.0.0.1 9 typ host")
		w.PutNull(ctx(1))
		w.PutNull(ctx(2))
		w.EndContainer()
	}
	tests := []struct {
		name    string
		input   func(w *tlv.Writer)
		into    clustertest.Codec
		wantErr error // nil: must decode to want
		want    clustertest.Codec
	}{
		{
			name: "unknown context and profile tags are skipped",
			input: func(w *tlv.Writer) {
				w.PutUint(ctx(0), 30)
				w.PutString(ctx(7), "from a later revision")
				w.PutUint(tlv.CommonProfileTag(1), 1)
				w.PutUint(ctx(1), 9)
			},
			into: new(generalcommissioning.ArmFailSafeRequest),
			want: &generalcommissioning.ArmFailSafeRequest{ExpiryLengthSeconds: 30, Breadcrumb: 9},
		},
		{
			name:    "missing mandatory field",
			input:   func(w *tlv.Writer) { w.PutUint(ctx(0), 30) },
			into:    new(generalcommissioning.ArmFailSafeRequest),
			wantErr: field.ErrMissing,
		},
		{
			name:    "duplicate field",
			input:   func(w *tlv.Writer) { w.PutUint(ctx(0), 30); w.PutUint(ctx(0), 31); w.PutUint(ctx(1), 0) },
			into:    new(generalcommissioning.ArmFailSafeRequest),
			wantErr: field.ErrDuplicate,
		},
		{
			name:    "wrong element type",
			input:   func(w *tlv.Writer) { w.PutString(ctx(0), "30"); w.PutUint(ctx(1), 0) },
			into:    new(generalcommissioning.ArmFailSafeRequest),
			wantErr: tlv.ErrType,
		},
		{
			name:    "signed encoding of a non-negative value is accepted",
			input:   func(w *tlv.Writer) { w.PutInt(ctx(0), 30); w.PutUint(ctx(1), 0) },
			into:    new(generalcommissioning.ArmFailSafeRequest),
			want:    &generalcommissioning.ArmFailSafeRequest{ExpiryLengthSeconds: 30},
			wantErr: nil,
		},
		{
			name:    "value too large for the type",
			input:   func(w *tlv.Writer) { w.PutUint(ctx(0), 70000); w.PutUint(ctx(1), 0) },
			into:    new(generalcommissioning.ArmFailSafeRequest),
			wantErr: tlv.ErrRange,
		},
		{
			name:    "null for a non-nullable field",
			input:   func(w *tlv.Writer) { w.PutNull(ctx(0)); w.PutString(ctx(1), "v=0") },
			into:    new(webrtctransportprovider.ProvideAnswerRequest),
			wantErr: tlv.ErrType,
		},
		{
			name: "string longer than its constraint",
			input: func(w *tlv.Writer) {
				w.PutUint(ctx(0), 0)
				w.PutString(ctx(1), "XXX") // CountryCode is exactly 2
				w.PutUint(ctx(2), 0)
			},
			into:    new(generalcommissioning.SetRegulatoryConfigRequest),
			wantErr: field.ErrConstraint,
		},
		{
			name: "octet string shorter than its constraint",
			input: func(w *tlv.Writer) {
				w.PutBytes(ctx(0), make([]byte, 31)) // AttestationNonce is 32 bytes
			},
			into:    new(operationalcredentials.AttestationRequest),
			wantErr: field.ErrConstraint,
		},
		{
			name: "list shorter than its constraint",
			input: func(w *tlv.Writer) {
				w.PutUint(ctx(0), 1)
				w.StartArray(ctx(1)) // ICECandidates: min 1
				w.EndContainer()
			},
			into:    new(webrtctransportprovider.ProvideICECandidatesRequest),
			wantErr: field.ErrConstraint,
		},
		{
			name: "list longer than its constraint",
			input: func(w *tlv.Writer) {
				w.StartArray(ctx(0)) // URLs: max 10
				for range 11 {
					w.PutString(tlv.AnonymousTag(), "stun:a")
				}
				w.EndContainer()
			},
			into:    new(webrtctransportdefinitions.ICEServer),
			wantErr: field.ErrConstraint,
		},
		{
			name: "list entry longer than its constraint",
			input: func(w *tlv.Writer) {
				w.StartArray(ctx(0)) // each URL: max 2000
				w.PutString(tlv.AnonymousTag(), string(make([]byte, 2001)))
				w.EndContainer()
			},
			into:    new(webrtctransportdefinitions.ICEServer),
			wantErr: field.ErrConstraint,
		},
		{
			name: "list as a structure",
			input: func(w *tlv.Writer) {
				w.PutUint(ctx(0), 1)
				w.StartStructure(ctx(1))
				w.EndContainer()
			},
			into:    new(webrtctransportprovider.ProvideICECandidatesRequest),
			wantErr: tlv.ErrType,
		},
		{
			name: "list entries decode",
			input: func(w *tlv.Writer) {
				w.PutUint(ctx(0), 1)
				w.StartArray(ctx(1))
				iceCandidate(w)
				iceCandidate(w)
				w.EndContainer()
			},
			into: new(webrtctransportprovider.ProvideICECandidatesRequest),
			want: &webrtctransportprovider.ProvideICECandidatesRequest{
				WebRTCSessionID: 1,
				ICECandidates: []webrtctransportdefinitions.ICECandidate{
					{Candidate: "candidate:1 1 udp 1 127.0.0.1 9 typ host"},
					{Candidate: "candidate:1 1 udp 1 127.0.0.1 9 typ host"},
				},
			},
		},
		{
			name: "number outside its range",
			input: func(w *tlv.Writer) {
				w.StartArray(ctx(0))
				w.EndContainer()
				w.PutUint(ctx(3), 65535) // CAID: 0 to 65534
			},
			into:    new(webrtctransportdefinitions.ICEServer),
			wantErr: field.ErrConstraint,
		},
		{
			name: "number at the end of its range",
			input: func(w *tlv.Writer) {
				w.StartArray(ctx(0))
				w.EndContainer()
				w.PutUint(ctx(3), 65534)
			},
			into: new(webrtctransportdefinitions.ICEServer),
			want: &webrtctransportdefinitions.ICEServer{CAID: field.Some[uint16](65534)},
		},
		{
			name: "fabric-scoped struct with FabricIndex 0 (a client write; the server overrides it)",
			input: func(w *tlv.Writer) {
				w.PutUint(ctx(1), 5)
				w.PutUint(ctx(2), 2)
				w.PutNull(ctx(3))
				w.PutNull(ctx(4))
				w.PutUint(ctx(0xFE), 0)
			},
			into: new(accesscontrol.AccessControlEntry),
			want: &accesscontrol.AccessControlEntry{
				Privilege: accesscontrol.AccessControlEntryPrivilegeAdminister,
				AuthMode:  accesscontrol.AccessControlEntryAuthModeCASE,
			},
		},
		{
			name: "fabric-scoped struct without its FabricIndex (a client write)",
			input: func(w *tlv.Writer) {
				w.PutUint(ctx(1), 5)
				w.PutUint(ctx(2), 2)
				w.PutNull(ctx(3))
				w.PutNull(ctx(4))
			},
			into: new(accesscontrol.AccessControlEntry),
			want: &accesscontrol.AccessControlEntry{
				Privilege: accesscontrol.AccessControlEntryPrivilegeAdminister,
				AuthMode:  accesscontrol.AccessControlEntryAuthModeCASE,
			},
		},
		{
			name: "optional nullable field: absent, null and a value are distinct",
			input: func(w *tlv.Writer) {
				w.PutUint(ctx(0), 3)
				w.PutUint(ctx(1), 1)
				w.PutNull(ctx(2))    // VideoStreamID: null
				w.PutUint(ctx(3), 7) // AudioStreamID: 7
			},
			into: new(webrtctransportprovider.SolicitOfferRequest),
			want: &webrtctransportprovider.SolicitOfferRequest{
				StreamUsage: 3, OriginatingEndpointID: 1,
				VideoStreamID: field.Some(field.Null[uint16]()),
				AudioStreamID: field.Some(field.NonNull[uint16](7)),
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := structure(t, tc.input)
			err := clustertest.Decode(b, tc.into)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("decode %x: %v, want %v", b, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("decode %x: %v", b, err)
			}
			if !reflect.DeepEqual(tc.into, tc.want) {
				t.Fatalf("decoded %+v\nwant %+v", tc.into, tc.want)
			}
		})
	}
}

func TestDecodeNotAStructure(t *testing.T) {
	var w tlv.Writer
	w.StartArray(tlv.AnonymousTag())
	w.EndContainer()
	b, _ := w.Bytes()
	err := clustertest.Decode(b, new(generalcommissioning.CommissioningCompleteRequest))
	if !errors.Is(err, tlv.ErrType) {
		t.Fatalf("array decoded as a command: %v", err)
	}
}

// Decoded octet strings are copies: a message buffer is reused once the
// handler returns, the decoded value may live on.
func TestDecodedBytesDoNotAlias(t *testing.T) {
	b := structure(t, func(w *tlv.Writer) { w.PutBytes(ctx(0), octets(32, 1)) })
	var req operationalcredentials.AttestationRequest
	if err := clustertest.Decode(b, &req); err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = 0
	}
	if !bytes.Equal(req.AttestationNonce, octets(32, 1)) {
		t.Fatal("decoded octet string changed with the input buffer")
	}
}

// A reader on another fabric sees a fabric-scoped entry without its
// fabric-sensitive fields; the owning fabric sees all of it.
func TestEncodeTLVFor(t *testing.T) {
	entry := &accesscontrol.AccessControlEntry{
		Privilege:   accesscontrol.AccessControlEntryPrivilegeAdminister,
		AuthMode:    accesscontrol.AccessControlEntryAuthModeCASE,
		Subjects:    field.NonNull([]uint64{1}),
		FabricIndex: 2,
	}
	tests := []struct {
		fabric   uint8
		wantTags []uint32
	}{
		{fabric: 2, wantTags: []uint32{1, 2, 3, 4, 0xFE}},
		{fabric: 1, wantTags: []uint32{0xFE}},
	}
	for _, tc := range tests {
		var w tlv.Writer
		entry.EncodeTLVFor(&w, tlv.AnonymousTag(), tc.fabric)
		b, err := w.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		e, err := tlv.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		var tags []uint32
		for _, m := range e.Members {
			tags = append(tags, m.Tag.Number())
		}
		if !reflect.DeepEqual(tags, tc.wantTags) {
			t.Errorf("fabric %d reads tags %v, want %v (%s)", tc.fabric, tags, tc.wantTags, e)
		}
	}
}
