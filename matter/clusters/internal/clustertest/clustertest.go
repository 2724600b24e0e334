// Package clustertest holds the helpers the generated cluster tests and
// the hand-written ones share: encoding a value to bytes, decoding bytes
// the way the Interaction Model hands them to a codec, and the round-trip
// check.
package clustertest

import (
	"bytes"
	"fmt"
	"reflect"
	"testing"

	"github.com/mattercam/mattercam/matter/tlv"
)

// Codec is what every generated struct, command and event implements.
type Codec interface {
	EncodeTLV(w *tlv.Writer, tag tlv.Tag)
	DecodeTLV(r *tlv.Reader) error
}

// Encode returns v encoded with an anonymous tag.
func Encode(v Codec) ([]byte, error) {
	var w tlv.Writer
	v.EncodeTLV(&w, tlv.AnonymousTag())
	b, err := w.Bytes()
	if err != nil {
		return nil, err
	}
	return bytes.Clone(b), nil
}

// Decode decodes b, which must hold one element, into v.
func Decode(b []byte, v Codec) error {
	r := tlv.NewReader(b)
	if err := r.Next(); err != nil {
		return err
	}
	if err := v.DecodeTLV(r); err != nil {
		return err
	}
	if err := r.Next(); err == nil {
		return fmt.Errorf("data after the element")
	}
	return nil
}

// Case is one round trip: In is encoded and decoded into Out, a fresh
// value of the same type.
type Case struct {
	Name    string
	In, Out Codec
}

// RoundTrip checks that every case decodes back to an equal value and
// that encoding the result gives the same bytes again.
func RoundTrip(t *testing.T, cases []Case) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			b, err := Encode(tc.In)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			if err := Decode(b, tc.Out); err != nil {
				t.Fatalf("decode %x: %v", b, err)
			}
			if !reflect.DeepEqual(tc.In, tc.Out) {
				t.Fatalf("round trip differs:\n in: %+v\nout: %+v", tc.In, tc.Out)
			}
			again, err := Encode(tc.Out)
			if err != nil {
				t.Fatalf("re-encode: %v", err)
			}
			if !bytes.Equal(b, again) {
				t.Fatalf("re-encoding differs:\n%x\n%x", b, again)
			}
		})
	}
}
