package tlv

import (
	"bytes"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
)

// TestDecodeErrors feeds malformed encodings through every read path: Decode,
// a full walk, a walk that only skips, and a walk that exits containers early.
// All must fail with the same error, because each path reaches the same bad
// element in document order.
func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name string
		enc  string
		want error
	}{
		{"reserved element type 0x19", "19", ErrInvalid},
		{"reserved element type 0x1f with tag", "3f 01", ErrInvalid},
		{"reserved element type inside structure", "15 3a 01 18", ErrInvalid},
		{"end-of-container at top level", "18", ErrInvalid},
		{"end-of-container with context tag", "15 38 01", ErrInvalid},
		{"end-of-container with fully qualified tag", "16 f8", ErrInvalid},
		{"extra end-of-container", "15 18 18", ErrInvalid},
		{"anonymous member of structure", "15 04 2a 18", ErrInvalid},
		{"anonymous container in structure", "15 16 18 18", ErrInvalid},
		{"context-tagged member of array", "16 24 01 2a 18", ErrInvalid},
		{"common-profile member of array", "16 44 01 00 2a 18", ErrInvalid},
		{"tagged member of nested array", "17 16 35 01 18 18 18", ErrInvalid},
		{"invalid UTF-8", "0c 02 c3 28", ErrInvalid},
		{"UTF-8 surrogate half", "0c 03 ed a0 80", ErrInvalid},
		{"overlong UTF-8", "0c 02 c0 af", ErrInvalid},
		{"invalid UTF-8 deep inside a container", "15 35 01 36 02 0c 01 ff 18 18 18", ErrInvalid},
		{"data after top-level element", "04 2a 04 2a", ErrInvalid},
		{"empty input", "", ErrTruncated},
		{"truncated context tag", "24", ErrTruncated},
		{"truncated fully qualified tag", "e4 f1 ff ed", ErrTruncated},
		{"truncated 8-octet integer", "03 00 90", ErrTruncated},
		{"truncated float64", "0b 00 00", ErrTruncated},
		{"truncated length field", "0d 05", ErrTruncated},
		{"length past end, 1 octet", "0c 07 48 65", ErrTruncated},
		{"length past end, 2 octets", "11 00 01 00", ErrTruncated},
		{"length 2^32-1, 4 octets", "12 ff ff ff ff 00", ErrTruncated},
		{"length 2^63, 8 octets", "13 00 00 00 00 00 00 00 80 00", ErrTruncated},
		{"length 2^64-1, 8 octets", "0f ff ff ff ff ff ff ff ff", ErrTruncated},
		{"length past end inside container", "15 30 01 ff 00 18", ErrTruncated},
		{"missing end-of-container", "15 24 01 2a", ErrTruncated},
		{"missing nested end-of-container", "16 16 18", ErrTruncated},
		{"17 nested containers", strings.Repeat("16 ", 17) + strings.Repeat("18 ", 17), ErrDepth},
		{"depth bomb", strings.Repeat("17 ", 10000), ErrDepth},
		{"depth bomb in a skipped member", "15 37 01 " + strings.Repeat("17 ", 5000), ErrDepth},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := fromHex(t, tc.enc)
			_, err := Decode(in)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Decode: %v, want %v", err, tc.want)
			}
			if len(in) == 0 || tc.name == "data after top-level element" {
				return // valid as a Reader stream
			}
			errWalk := walkAll(t, NewReader(in))
			errSkip := walkSkipping(NewReader(in))
			errPart := walkPartially(NewReader(in))
			for name, e := range map[string]error{"walk": errWalk, "skip": errSkip, "partial": errPart} {
				if !errors.Is(e, tc.want) {
					t.Errorf("%s: %v, want %v", name, e, tc.want)
				} else if e.Error() != errWalk.Error() {
					t.Errorf("%s: %q, walk: %q", name, e, errWalk)
				}
			}
		})
	}
}

// TestReservedElementTypes checks every reserved element type under every tag
// control (A.7.1).
func TestReservedElementTypes(t *testing.T) {
	for et := etReserved; et <= etMask; et++ {
		for tc := range byte(8) {
			in := append([]byte{tc<<5 | et}, make([]byte, 8)...)
			if _, err := Decode(in); !errors.Is(err, ErrInvalid) {
				t.Errorf("control octet %#02x: %v, want ErrInvalid", in[0], err)
			}
		}
	}
}

func TestMaxDepth(t *testing.T) {
	nested := func(n int) []byte {
		return append(bytes.Repeat([]byte{0x16}, n), bytes.Repeat([]byte{0x18}, n)...)
	}
	if _, err := Decode(nested(DefaultMaxDepth)); err != nil {
		t.Fatalf("%d nested arrays: %v", DefaultMaxDepth, err)
	}
	if _, err := Decode(nested(DefaultMaxDepth + 1)); !errors.Is(err, ErrDepth) {
		t.Fatalf("%d nested arrays: %v, want ErrDepth", DefaultMaxDepth+1, err)
	}
	tests := []struct {
		maxDepth, nesting int
		ok                bool
	}{
		{1, 1, true},
		{1, 2, false},
		{3, 3, true},
		{3, 4, false},
		{64, 64, true},
		{64, 65, false},
		{1000, 64, true}, // clamped to 64
		{1000, 65, false},
		{-1, DefaultMaxDepth, true},
		{-1, DefaultMaxDepth + 1, false},
	}
	for _, tc := range tests {
		for name, walk := range map[string]func(*Reader) error{
			"walk":    func(r *Reader) error { return walkAll(t, r) },
			"skip":    walkSkipping,
			"partial": walkPartially,
		} {
			r := NewReader(nested(tc.nesting))
			r.MaxDepth = tc.maxDepth
			err := walk(r)
			if tc.ok && err != nil {
				t.Errorf("%s MaxDepth=%d nesting=%d: %v", name, tc.maxDepth, tc.nesting, err)
			}
			if !tc.ok && !errors.Is(err, ErrDepth) {
				t.Errorf("%s MaxDepth=%d nesting=%d: %v, want ErrDepth", name, tc.maxDepth, tc.nesting, err)
			}
		}
	}
}

func TestReaderNavigation(t *testing.T) {
	// {1 = [1U, {}, [[2 = null]]], 2 = "x", 3 = true}
	enc := fromHex(t, "15 36 01 04 01 15 18 17 34 02 18 18 2c 02 01 78 29 03 18")
	r := NewReader(enc)
	if r.Type() != 0 || r.Tag() != AnonymousTag() || r.IsNull() {
		t.Fatal("Reader has a current element before Next")
	}
	mustNext := func(wantTag Tag, wantType Type) {
		t.Helper()
		if err := r.Next(); err != nil {
			t.Fatalf("Next: %v", err)
		}
		if r.Tag() != wantTag || r.Type() != wantType {
			t.Fatalf("at %v %v, want %v %v", r.Tag(), r.Type(), wantTag, wantType)
		}
	}
	mustEOF := func() {
		t.Helper()
		for range 2 { // io.EOF repeats until Exit
			if err := r.Next(); err != io.EOF {
				t.Fatalf("Next: %v, want io.EOF", err)
			}
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	mustNext(AnonymousTag(), TypeStructure)
	must(r.Enter())
	if r.Depth() != 1 {
		t.Fatalf("Depth = %d, want 1", r.Depth())
	}
	mustNext(ContextTag(1), TypeArray)
	raw, err := r.Raw()
	must(err)
	if want := fromHex(t, "36 01 04 01 15 18 17 34 02 18 18"); !bytes.Equal(raw, want) {
		t.Fatalf("Raw = % x, want % x", raw, want)
	}
	if cap(raw) != len(raw) {
		t.Fatalf("Raw capacity %d exceeds length %d", cap(raw), len(raw))
	}
	must(r.Enter())
	mustNext(AnonymousTag(), TypeUint)
	mustNext(AnonymousTag(), TypeStructure) // not entered: Next skips it
	mustNext(AnonymousTag(), TypeList)
	must(r.Enter())
	mustNext(ContextTag(2), TypeNull)
	if !r.IsNull() {
		t.Fatal("IsNull = false")
	}
	mustEOF()
	must(r.Exit())
	mustEOF()
	must(r.Exit())
	mustNext(ContextTag(2), TypeString)
	s, err := r.String()
	if err != nil || s != "x" {
		t.Fatalf("String = %q, %v", s, err)
	}
	must(r.Exit()) // skips 3 = true
	if r.Depth() != 0 {
		t.Fatalf("Depth = %d, want 0", r.Depth())
	}
	mustEOF()

	// Exit with members left, one of them a container never entered.
	r = NewReader(enc)
	must(r.Next())
	must(r.Enter())
	mustNext(ContextTag(1), TypeArray)
	must(r.Exit())
	mustEOF()

	// Skip leaves the Reader between elements.
	r = NewReader(enc)
	must(r.Next())
	must(r.Enter())
	mustNext(ContextTag(1), TypeArray)
	must(r.Skip())
	if r.Type() != 0 {
		t.Fatalf("Type after Skip = %v", r.Type())
	}
	mustNext(ContextTag(2), TypeString)
}

func TestReaderMisuse(t *testing.T) {
	r := NewReader(fromHex(t, "04 2a"))
	if err := r.Enter(); !errors.Is(err, ErrType) {
		t.Errorf("Enter before Next: %v", err)
	}
	if err := r.Skip(); !errors.Is(err, ErrType) {
		t.Errorf("Skip before Next: %v", err)
	}
	if _, err := r.Raw(); !errors.Is(err, ErrType) {
		t.Errorf("Raw before Next: %v", err)
	}
	if _, err := r.Uint(); !errors.Is(err, ErrType) {
		t.Errorf("Uint before Next: %v", err)
	}
	if err := r.Exit(); !errors.Is(err, ErrInvalid) {
		t.Errorf("Exit at top level: %v", err)
	}
	if err := r.Next(); err != nil {
		t.Fatal(err)
	}
	if err := r.Enter(); !errors.Is(err, ErrType) {
		t.Errorf("Enter on integer: %v", err)
	}
	// Misuse is not sticky: the Reader still works.
	if v, err := r.Uint8(); v != 42 || err != nil {
		t.Errorf("Uint8 = %d, %v", v, err)
	}
	if err := r.Next(); err != io.EOF {
		t.Errorf("Next: %v, want io.EOF", err)
	}
}

func TestReaderStickyError(t *testing.T) {
	r := NewReader(fromHex(t, "16 04 01 1f 04 02 18"))
	if err := r.Next(); err != nil {
		t.Fatal(err)
	}
	if err := r.Enter(); err != nil {
		t.Fatal(err)
	}
	if err := r.Next(); err != nil {
		t.Fatal(err)
	}
	first := r.Next()
	if !errors.Is(first, ErrInvalid) {
		t.Fatalf("Next: %v, want ErrInvalid", first)
	}
	for name, err := range map[string]error{"Next": r.Next(), "Exit": r.Exit(), "Enter": r.Enter(), "Skip": r.Skip()} {
		if err != first {
			t.Errorf("%s after error: %v, want %v", name, err, first)
		}
	}
	if r.Type() != 0 {
		t.Errorf("Type after error = %v, want none", r.Type())
	}
}

// TestReaderIntegers covers Appendix A.11.1: the width is the sender's choice,
// so Int and Uint accept either signedness when the value fits, and the sized
// accessors check range.
func TestReaderIntegers(t *testing.T) {
	type result struct {
		v   int64
		err error
	}
	tests := []struct {
		enc  string
		i64  result
		u64  result
		i8   result
		u8   result
		i16  result
		u16  result
		i32  result
		u32  result
		note string
	}{
		{"00 2a", result{42, nil}, result{42, nil}, result{42, nil}, result{42, nil}, result{42, nil}, result{42, nil}, result{42, nil}, result{42, nil}, "small signed"},
		{"04 ff", result{255, nil}, result{255, nil}, result{0, ErrRange}, result{255, nil}, result{255, nil}, result{255, nil}, result{255, nil}, result{255, nil}, "uint8 max"},
		{"00 80", result{-128, nil}, result{0, ErrRange}, result{-128, nil}, result{0, ErrRange}, result{-128, nil}, result{0, ErrRange}, result{-128, nil}, result{0, ErrRange}, "int8 min"},
		{"07 2a 00 00 00 00 00 00 00", result{42, nil}, result{42, nil}, result{42, nil}, result{42, nil}, result{42, nil}, result{42, nil}, result{42, nil}, result{42, nil}, "wide unsigned"},
		{"05 00 01", result{256, nil}, result{256, nil}, result{0, ErrRange}, result{0, ErrRange}, result{256, nil}, result{256, nil}, result{256, nil}, result{256, nil}, "uint16"},
		{"01 00 80", result{-32768, nil}, result{0, ErrRange}, result{0, ErrRange}, result{0, ErrRange}, result{-32768, nil}, result{0, ErrRange}, result{-32768, nil}, result{0, ErrRange}, "int16 min"},
		{"06 00 00 01 00", result{65536, nil}, result{65536, nil}, result{0, ErrRange}, result{0, ErrRange}, result{0, ErrRange}, result{0, ErrRange}, result{65536, nil}, result{65536, nil}, "uint32"},
		{"06 ff ff ff ff", result{math.MaxUint32, nil}, result{math.MaxUint32, nil}, result{0, ErrRange}, result{0, ErrRange}, result{0, ErrRange}, result{0, ErrRange}, result{0, ErrRange}, result{math.MaxUint32, nil}, "uint32 max"},
		{"02 00 00 00 80", result{math.MinInt32, nil}, result{0, ErrRange}, result{0, ErrRange}, result{0, ErrRange}, result{0, ErrRange}, result{0, ErrRange}, result{math.MinInt32, nil}, result{0, ErrRange}, "int32 min"},
		{"03 ff ff ff ff ff ff ff 7f", result{math.MaxInt64, nil}, result{math.MaxInt64, nil}, result{0, ErrRange}, result{0, ErrRange}, result{0, ErrRange}, result{0, ErrRange}, result{0, ErrRange}, result{0, ErrRange}, "int64 max"},
		{"07 00 00 00 00 00 00 00 80", result{0, ErrRange}, result{math.MinInt64, nil}, result{0, ErrRange}, result{0, ErrRange}, result{0, ErrRange}, result{0, ErrRange}, result{0, ErrRange}, result{0, ErrRange}, "2^63 unsigned"},
		{"03 ff ff ff ff ff ff ff ff", result{-1, nil}, result{0, ErrRange}, result{-1, nil}, result{0, ErrRange}, result{-1, nil}, result{0, ErrRange}, result{-1, nil}, result{0, ErrRange}, "wide -1"},
	}
	for _, tc := range tests {
		t.Run(tc.note, func(t *testing.T) {
			r := NewReader(fromHex(t, tc.enc))
			if err := r.Next(); err != nil {
				t.Fatal(err)
			}
			check := func(name string, got int64, err error, want result) {
				t.Helper()
				if !errors.Is(err, want.err) || (want.err == nil && err != nil) {
					t.Errorf("%s error = %v, want %v", name, err, want.err)
					return
				}
				if err == nil && got != want.v {
					t.Errorf("%s = %d, want %d", name, got, want.v)
				}
			}
			i64, err := r.Int()
			check("Int", i64, err, tc.i64)
			u64, err := r.Uint()
			check("Uint", int64(u64), err, tc.u64)
			i8, err := r.Int8()
			check("Int8", int64(i8), err, tc.i8)
			u8, err := r.Uint8()
			check("Uint8", int64(u8), err, tc.u8)
			i16, err := r.Int16()
			check("Int16", int64(i16), err, tc.i16)
			u16, err := r.Uint16()
			check("Uint16", int64(u16), err, tc.u16)
			i32, err := r.Int32()
			check("Int32", int64(i32), err, tc.i32)
			u32, err := r.Uint32()
			check("Uint32", int64(u32), err, tc.u32)
		})
	}
}

func TestReaderTypeErrors(t *testing.T) {
	for _, v := range allVectors() {
		t.Run(v.name, func(t *testing.T) {
			r := NewReader(fromHex(t, v.enc))
			if err := r.Next(); err != nil {
				t.Fatal(err)
			}
			checkAccessors(t, r)
		})
	}
}

func TestReaderValues(t *testing.T) {
	r := NewReader(fromHex(t, "16 0a 33 33 8f 41 0b 66 66 66 66 66 e6 31 40 10 02 01 02 0c 02 68 69 09 18"))
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(r.Next())
	must(r.Enter())
	must(r.Next())
	if f, err := r.Float(); err != nil || f != float64(float32(17.9)) {
		t.Errorf("Float32 = %v, %v", f, err)
	}
	must(r.Next())
	if f, err := r.Float(); err != nil || f != 17.9 {
		t.Errorf("Float64 = %v, %v", f, err)
	}
	must(r.Next())
	b, err := r.Bytes()
	if err != nil || !bytes.Equal(b, []byte{1, 2}) || cap(b) != 2 {
		t.Errorf("Bytes = % x (cap %d), %v", b, cap(b), err)
	}
	must(r.Next())
	sb, err := r.StringBytes()
	if err != nil || string(sb) != "hi" {
		t.Errorf("StringBytes = %q, %v", sb, err)
	}
	must(r.Next())
	if v, err := r.Bool(); err != nil || !v {
		t.Errorf("Bool = %v, %v", v, err)
	}
	must(r.Exit())
}

// TestReaderStream checks the one place the Reader allows more than Appendix
// A.1: several top-level elements, with any tag.
func TestReaderStream(t *testing.T) {
	r := NewReader(fromHex(t, "24 01 2a 15 18 49 01 00"))
	var tags []Tag
	for {
		err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		tags = append(tags, r.Tag())
	}
	want := []Tag{ContextTag(1), AnonymousTag(), CommonProfileTag(1)}
	if len(tags) != len(want) {
		t.Fatalf("tags = %v, want %v", tags, want)
	}
	for i := range want {
		if tags[i] != want[i] {
			t.Fatalf("tags = %v, want %v", tags, want)
		}
	}
	if err := NewReader(nil).Next(); err != io.EOF {
		t.Fatalf("empty input: %v, want io.EOF", err)
	}
}

// TestNonCanonicalInput checks that the Reader accepts every width a sender
// may choose (A.8.1, A.8.2, A.9, A.11.1) and that re-encoding gives the
// canonical form.
func TestNonCanonicalInput(t *testing.T) {
	tests := []struct{ name, in, canonical string }{
		{"wide unsigned", "07 2a 00 00 00 00 00 00 00", "04 2a"},
		{"wide signed negative", "02 ef ff ff ff", "00 ef"},
		{"wide string length", "0d 02 00 68 69", "0c 02 68 69"},
		{"8-octet octet string length", "13 01 00 00 00 00 00 00 00 ff", "10 01 ff"},
		{"4-octet common profile tag", "64 01 00 00 00 2a", "44 01 00 2a"},
		{"4-octet implicit profile tag", "a4 01 00 00 00 2a", "84 01 00 2a"},
		{"8-octet fully qualified tag", "e4 f1 ff ed de 01 00 00 00 2a", "c4 f1 ff ed de 01 00 2a"},
		{"nested", "15 25 01 01 00 2d 02 01 00 61 18", "15 24 01 01 2c 02 01 61 18"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := Decode(fromHex(t, tc.in))
			if err != nil {
				t.Fatal(err)
			}
			got, err := e.Encode()
			if err != nil {
				t.Fatal(err)
			}
			if want := fromHex(t, tc.canonical); !bytes.Equal(got, want) {
				t.Fatalf("re-encoded % x, want % x", got, want)
			}
		})
	}
}
