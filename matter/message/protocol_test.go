package message

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

func TestProtocolHeaderEncode(t *testing.T) {
	tests := []struct {
		name string
		p    ProtocolHeader
		want string
	}{
		{
			name: "zero",
			want: "00 00 0000 0000",
		},
		{
			name: "vector header",
			p:    ProtocolHeader{Initiator: true, Reliable: true, Opcode: 0x64, ExchangeID: 0x0eee, ProtocolID: 0x7d20},
			want: "05 64 ee0e 207d",
		},
		{
			name: "standalone ack",
			p:    ProtocolHeader{Ack: true, Opcode: 0x10, ExchangeID: 0x1234, ProtocolID: ProtocolSecureChannel, AckCounter: 0xa0b0c0d0},
			want: "02 10 3412 0000 d0c0b0a0",
		},
		{
			name: "vendor protocol",
			p:    ProtocolHeader{Initiator: true, Opcode: 1, ExchangeID: 2, VendorID: 0xfff1, ProtocolID: 0x0003},
			want: "11 01 0200 f1ff 0300",
		},
		{
			name: "everything",
			p: ProtocolHeader{Initiator: true, Ack: true, Reliable: true, Opcode: 2, ExchangeID: 3, VendorID: 4,
				ProtocolID: ProtocolInteractionModel, AckCounter: 5, SecuredExtensions: []byte{9, 8, 7}},
			want: "1f 02 0300 0400 0100 05000000 0300 090807",
		},
		{
			name: "empty secured extensions",
			p:    ProtocolHeader{ProtocolID: ProtocolBDX, SecuredExtensions: []byte{}},
			want: "08 00 0000 0200 0000",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := unhex(t, tt.want)
			if got := tt.p.Len(); got != len(want) {
				t.Errorf("Len = %d, want %d", got, len(want))
			}
			got, err := tt.p.Append(nil)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("Append = %x, want %x", got, want)
			}
			var d ProtocolHeader
			n, err := d.Decode(append(want, 0xee, 0xff))
			if err != nil {
				t.Fatal(err)
			}
			if n != len(want) || !reflect.DeepEqual(d, tt.p) {
				t.Errorf("Decode = %d, %+v; want %d, %+v", n, d, len(want), tt.p)
			}
		})
	}
}

func TestProtocolHeaderDecodeErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{"empty", ""},
		{"five octets", "00 00 0000 00"},
		{"vendor without protocol", "10 00 0000 f1ff"},
		{"ack without counter", "02 10 0000 0000 010203"},
		{"secured extensions without length", "08 00 0000 0000 01"},
		{"short secured extensions", "08 00 0000 0000 0300 0102"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p ProtocolHeader
			if _, err := p.Decode(unhex(t, tt.in)); !errors.Is(err, ErrTruncated) {
				t.Fatalf("Decode err = %v, want ErrTruncated", err)
			}
		})
	}
}

func TestProtocolHeaderReservedBitsIgnored(t *testing.T) {
	var p ProtocolHeader
	n, err := p.Decode(unhex(t, "e1 05 0100 0100"))
	if err != nil {
		t.Fatal(err)
	}
	if n != 6 || !p.Initiator || p.Ack || p.Reliable || p.ProtocolID != ProtocolInteractionModel {
		t.Fatalf("Decode = %d, %+v", n, p)
	}
	if f := p.ExchangeFlags(); f != 0x01 {
		t.Errorf("ExchangeFlags = %#x, want 0x01", f)
	}
}

func TestProtocolIDString(t *testing.T) {
	for id, want := range map[ProtocolID]string{
		ProtocolSecureChannel:             "SecureChannel",
		ProtocolInteractionModel:          "InteractionModel",
		ProtocolBDX:                       "BDX",
		ProtocolUserDirectedCommissioning: "UserDirectedCommissioning",
		0x0042:                            "ProtocolID(0x0042)",
	} {
		if got := id.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", uint16(id), got, want)
		}
	}
}
