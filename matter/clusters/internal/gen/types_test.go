package main

import (
	"encoding/json"
	"testing"
)

func num(s string) *json.Number {
	n := json.Number(s)
	return &n
}

func TestNumBounds(t *testing.T) {
	tests := []struct {
		name      string
		class     string
		bits      uint
		b         Bounds
		lo, hi    string
		check     bool
		wantError bool
	}{
		{"no constraint", "uint", 16, Bounds{}, "0", "65535", false, false},
		{"fabric index", "uint", 8, Bounds{Min: num("1"), Max: num("254")}, "1", "254", true, false},
		{"min only", "uint", 16, Bounds{Min: num("1")}, "1", "65535", true, false},
		{"beyond the type is clamped", "uint", 8, Bounds{Max: num("1000")}, "0", "255", false, false},
		{"signed", "int", 16, Bounds{Min: num("-2700"), Max: num("2700")}, "-2700", "2700", true, false},
		{"24-bit", "uint", 24, Bounds{}, "0", "16777215", false, false},
		{"empty", "uint", 8, Bounds{Min: num("5"), Max: num("4")}, "", "", false, true},
		{"not an integer", "uint", 8, Bounds{Max: num("2.5")}, "", "", false, true},
	}
	for _, tc := range tests {
		lo, hi, check, err := numBounds(tc.class, tc.bits, tc.b)
		if tc.wantError {
			if err == nil {
				t.Errorf("%s: no error", tc.name)
			}
			continue
		}
		if err != nil || lo.String() != tc.lo || hi.String() != tc.hi || check != tc.check {
			t.Errorf("%s: %v %v %v %v, want %s %s %v", tc.name, lo, hi, check, err, tc.lo, tc.hi, tc.check)
		}
	}
}

func TestLenBounds(t *testing.T) {
	tests := []struct {
		b       Bounds
		lo, hi  int
		wantErr bool
	}{
		{Bounds{}, 0, -1, false},
		{Bounds{Max: num("32")}, 0, 32, false},
		{Bounds{Min: num("2"), Max: num("2")}, 2, 2, false},
		{Bounds{Min: num("3"), Max: num("2")}, 0, 0, true},
		{Bounds{Min: num("-1")}, 0, 0, true},
	}
	for _, tc := range tests {
		lo, hi, err := lenBounds(tc.b)
		if (err != nil) != tc.wantErr || (!tc.wantErr && (lo != tc.lo || hi != tc.hi)) {
			t.Errorf("lenBounds(%+v) = %d %d %v, want %d %d error %v", tc.b, lo, hi, err, tc.lo, tc.hi, tc.wantErr)
		}
	}
}

func TestComment(t *testing.T) {
	got := comment("a b\nc\n\nnext paragraph")
	want := "// a b c\n//\n// next paragraph"
	if got != want {
		t.Errorf("comment = %q, want %q", got, want)
	}
}
