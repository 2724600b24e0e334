package message

import (
	"bytes"
	"errors"
	"testing"
)

func TestHeaderEncode(t *testing.T) {
	tests := []struct {
		name string
		h    Header
		want string
	}{
		{
			name: "unsecured minimal",
			h:    Header{Counter: 0x01020304},
			want: "00 0000 00 04030201",
		},
		{
			name: "unsecured from initiator",
			h:    Header{Counter: 7, HasSource: true, Source: 0x1122334455667788},
			want: "04 0000 00 07000000 8877665544332211",
		},
		{
			name: "unsecured to initiator",
			h:    Header{Counter: 7, Destination: DestinationNode, DestNode: 0x0102030405060708},
			want: "01 0000 00 07000000 0807060504030201",
		},
		{
			name: "secure unicast with privacy",
			h:    Header{SessionID: 0xbeef, Privacy: true, Counter: 1},
			want: "00 efbe 80 01000000",
		},
		{
			name: "group data",
			h: Header{SessionID: 0xdb7d, SessionType: SessionGroup, Counter: 0x12345678,
				HasSource: true, Source: 1, Destination: DestinationGroup, DestGroup: 2},
			want: "06 7ddb 01 78563412 0100000000000000 0200",
		},
		{
			name: "group control to node (MCSP)",
			h: Header{SessionID: 1, SessionType: SessionGroup, Privacy: true, Control: true, Counter: 2,
				HasSource: true, Source: 3, Destination: DestinationNode, DestNode: 4},
			want: "05 0100 c1 02000000 0300000000000000 0400000000000000",
		},
		{
			name: "message extensions",
			h:    Header{SessionID: 5, Counter: 6, Extensions: []byte{0xaa, 0xbb}},
			want: "00 0500 20 06000000 0200 aabb",
		},
		{
			name: "empty message extensions",
			h:    Header{SessionID: 5, Counter: 6, Extensions: []byte{}},
			want: "00 0500 20 06000000 0000",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := unhex(t, tt.want)
			if got := tt.h.Len(); got != len(want) {
				t.Errorf("Len = %d, want %d", got, len(want))
			}
			got, err := tt.h.Append([]byte{0xff})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got[1:], want) || got[0] != 0xff {
				t.Fatalf("Append = %x, want ff%x", got, want)
			}
			var d Header
			n, err := d.Decode(append(want, 0x99))
			if err != nil {
				t.Fatal(err)
			}
			if n != len(want) || !headersEqual(&d, &tt.h) {
				t.Errorf("Decode = %d, %+v; want %d, %+v", n, d, len(want), tt.h)
			}
		})
	}
}

func TestHeaderDecodeErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		err  error
	}{
		{"empty", "", ErrTruncated},
		{"seven octets", "00 0000 00 010203", ErrTruncated},
		{"version 1", "10 0000 00 01000000", ErrVersion},
		{"version 15", "f0 0000 00 01000000", ErrVersion},
		{"DSIZ 3", "03 0000 00 01000000 0000000000000000", ErrReserved},
		{"session type 2", "00 0100 02 01000000", ErrReserved},
		{"session type 3", "00 0100 03 01000000", ErrReserved},
		{"group without source", "02 0100 01 01000000 0200", ErrInvalid},
		{"group without destination", "04 0100 01 01000000 0100000000000000", ErrInvalid},
		{"unicast to group", "02 0100 00 01000000 0200", ErrInvalid},
		{"privacy on unsecured", "00 0000 80 01000000", ErrInvalid},
		{"short source", "04 0000 00 01000000 01020304", ErrTruncated},
		{"short destination node", "01 0000 00 01000000 01020304050607", ErrTruncated},
		{"short destination group", "06 0100 01 01000000 0100000000000000 02", ErrTruncated},
		{"short extensions length", "00 0100 20 01000000 05", ErrTruncated},
		{"short extensions", "00 0100 20 01000000 0500 01020304", ErrTruncated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h Header
			if _, err := h.Decode(unhex(t, tt.in)); !errors.Is(err, tt.err) {
				t.Fatalf("Decode err = %v, want %v", err, tt.err)
			}
		})
	}
}

// TestHeaderReservedBitsIgnored checks that reserved bits are ignored on
// reception (§4.4.1.1, §4.4.1.3) and written as zero.
func TestHeaderReservedBitsIgnored(t *testing.T) {
	in := unhex(t, "08 3412 1c 01000000") // Message Flags bit 3, Security Flags bits 2-4
	var h Header
	n, err := h.Decode(in)
	if err != nil {
		t.Fatal(err)
	}
	if n != 8 || h.SessionID != 0x1234 || h.Counter != 1 || h.SessionType != SessionUnicast || h.Privacy || h.Control {
		t.Fatalf("Decode = %d, %+v", n, h)
	}
	out, err := h.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := unhex(t, "00 3412 00 01000000"); !bytes.Equal(out, want) {
		t.Errorf("re-encoded = %x, want %x", out, want)
	}
}

func TestHeaderValidate(t *testing.T) {
	tests := []struct {
		name string
		h    Header
		err  error
	}{
		{"zero", Header{}, nil},
		{"session type 2", Header{SessionType: 2}, ErrReserved},
		{"DSIZ 3", Header{Destination: 3}, ErrReserved},
		{"group no source", Header{SessionType: SessionGroup, Destination: DestinationGroup}, ErrInvalid},
		{"group no destination", Header{SessionType: SessionGroup, HasSource: true}, ErrInvalid},
		{"unicast to group", Header{SessionID: 1, Destination: DestinationGroup}, ErrInvalid},
		{"unsecured privacy", Header{Privacy: true}, ErrInvalid},
		{"extensions too long", Header{SessionID: 1, Extensions: make([]byte, MaxExtensionsLen+1)}, ErrInvalid},
		{"extensions max", Header{SessionID: 1, Extensions: make([]byte, MaxExtensionsLen)}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.h.Validate()
			if !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
				t.Fatalf("Validate = %v, want %v", err, tt.err)
			}
			if err != nil {
				b, aerr := tt.h.Append([]byte{1})
				if aerr == nil || len(b) != 1 {
					t.Errorf("Append = %x, %v; want the input back and an error", b, aerr)
				}
			}
		})
	}
}

func TestHeaderAppendNoAlloc(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	h := Header{SessionID: 9, SessionType: SessionGroup, Counter: 1, HasSource: true, Source: 2,
		Destination: DestinationNode, DestNode: 3}
	buf := make([]byte, 0, MaxHeaderLen)
	allocs := testing.AllocsPerRun(100, func() {
		b, _ := h.Append(buf[:0])
		var d Header
		_, _ = d.Decode(b)
	})
	if allocs != 0 {
		t.Errorf("Append+Decode allocate %v times", allocs)
	}
}
