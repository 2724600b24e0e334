package tlv

import (
	"bytes"
	"math"
	"testing"
)

func TestElementEqual(t *testing.T) {
	nan32 := math.Float32frombits(0x7fc00001)
	tests := []struct {
		name string
		a, b Element
		want bool
	}{
		{"same uint", uint_(1), uint_(1), true},
		{"different uint", uint_(1), uint_(2), false},
		{"int vs uint", sint(1), uint_(1), false},
		{"different tag", tagged(ContextTag(1), null()), tagged(ContextTag(2), null()), false},
		{"unused fields ignored", Element{Type: TypeNull, Int: 5}, null(), true},
		{"NaN equals the same NaN", f32(nan32), f32(nan32), true},
		{"NaN payloads differ", f64(math.Float64frombits(0x7ff8000000000002)), f64(math.NaN()), false},
		{"negative zero is not zero", f64(math.Copysign(0, -1)), f64(0), false},
		{"float32 compared at its precision", f32(0.1), Element{Type: TypeFloat32, Float: float64(float32(0.1))}, true},
		{"bytes", octets(1, 2), octets(1, 2), true},
		{"nil and empty bytes", octets(), Element{Type: TypeBytes, Bytes: []byte{}}, true},
		{"nil and empty members", structure(), Element{Type: TypeStructure, Members: []Element{}}, true},
		{"member count", array(sint(1)), array(sint(1), sint(2)), false},
		{"nested member", list(array(sint(1))), list(array(sint(2))), false},
		{"array vs list", array(), list(), false},
	}
	for _, tc := range tests {
		if got := tc.a.Equal(tc.b); got != tc.want {
			t.Errorf("%s: Equal = %v, want %v", tc.name, got, tc.want)
		}
		if got := tc.b.Equal(tc.a); got != tc.want {
			t.Errorf("%s: reversed Equal = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestElementString(t *testing.T) {
	tests := []struct {
		e    Element
		want string
	}{
		{Element{}, "<invalid>"},
		{tagged(ImplicitProfileTag(5), octets()), "Implicit::5 = h''"},
		{utf8Str("a\"b\n"), `"a\"b\n"`},
		{f32(float32(math.NaN())), "NaN"},
		{tagged(FullyQualifiedTag(1, 2, 3), list(tagged(CommonProfileTag(4), boolean(true)))), "1::2:3 = [[Matter::4 = true]]"},
	}
	for _, tc := range tests {
		if got := tc.e.String(); got != tc.want {
			t.Errorf("String = %s, want %s", got, tc.want)
		}
	}
}

// TestElementRoundTrip builds trees in code, encodes them and decodes them.
func TestElementRoundTrip(t *testing.T) {
	big := make([]byte, 70000)
	for i := range big {
		big[i] = byte(i)
	}
	trees := []Element{
		structure(
			tagged(ContextTag(1), octets(big...)),
			tagged(ContextTag(2), array(structure(tagged(ContextTag(0), list())), null())),
			tagged(CommonProfileTag(1<<31), sint(math.MinInt64)),
			tagged(FullyQualifiedTag(0xFFF1, 0xDEED, 1<<20), uint_(math.MaxUint64)),
			tagged(ImplicitProfileTag(65535), f64(math.Inf(-1))),
			tagged(ContextTag(3), f32(math.Float32frombits(0x7fa00000))),
		),
		list(tagged(ContextTag(1), uint_(1)), tagged(ContextTag(1), uint_(2)), sint(3)),
	}
	for i, tree := range trees {
		enc, err := tree.Encode()
		if err != nil {
			t.Fatalf("tree %d: Encode: %v", i, err)
		}
		got, err := Decode(enc)
		if err != nil {
			t.Fatalf("tree %d: Decode: %v", i, err)
		}
		if !got.Equal(tree) {
			t.Fatalf("tree %d: Decode(Encode) = %v, want %v", i, got, tree)
		}
		again, err := got.Encode()
		if err != nil || !bytes.Equal(again, enc) {
			t.Fatalf("tree %d: second encoding differs: %v", i, err)
		}
	}
}
