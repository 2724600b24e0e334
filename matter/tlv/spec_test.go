package tlv

import (
	"bytes"
	"encoding/binary"
	"math"
	"testing"
)

// specVector is one sample encoding from the Matter Core Specification,
// Appendix A.12 "TLV Encoding Examples".
//
// Source: the three sample tables of A.12 (primitive types, containers and
// tag forms). Matter 1.0 printed the fully-qualified examples with Vendor ID
// 0xFFF1 (65521). Later revisions say they use the test Vendor ID 0xFFF2 and
// are otherwise the same, so the 0xFFF1 bytes are kept here. The bytes
// were checked against two public reproductions of the tables:
// project-chip/rs-matter rs-matter/src/tlv/read.rs (test_matter_spec_examples)
// and, for primitive types, adafruit/circuitmatter tests/test_tlv.py. The
// tag-form rows were also checked against project-chip/connectedhomeip
// src/controller/java/tests/matter/tlv/TlvWriterTest.kt. The float bit
// patterns are checked again in TestSpecFloatBits.
type specVector struct {
	name string
	enc  string  // encoding as printed in the table
	want Element // decoded value
	text string  // Element.String, the table's own notation where it has one
	// canonical is this package's encoding when it differs from enc: A.11.1
	// lets the sender choose a wider integer than needed, and the Writer
	// always chooses the narrowest.
	canonical string
}

var specVectors = []specVector{
	// Sample encoding of primitive types (all anonymous).
	{name: "boolean false", enc: "08", want: boolean(false), text: "false"},
	{name: "boolean true", enc: "09", want: boolean(true), text: "true"},
	{name: "signed 1-octet 42", enc: "00 2a", want: sint(42), text: "42"},
	{name: "signed 1-octet -17", enc: "00 ef", want: sint(-17), text: "-17"},
	{name: "unsigned 1-octet 42U", enc: "04 2a", want: uint_(42), text: "42U"},
	{name: "signed 2-octet 42", enc: "01 2a 00", want: sint(42), text: "42", canonical: "00 2a"},
	{name: "signed 4-octet -170000", enc: "02 f0 67 fd ff", want: sint(-170000), text: "-170000"},
	{name: "signed 8-octet 40000000000", enc: "03 00 90 2f 50 09 00 00 00", want: sint(40000000000), text: "40000000000"},
	{name: `UTF-8 "Hello!"`, enc: "0c 06 48 65 6c 6c 6f 21", want: utf8Str("Hello!"), text: `"Hello!"`},
	{name: `UTF-8 "Tschüs"`, enc: "0c 07 54 73 63 68 c3 bc 73", want: utf8Str("Tschüs"), text: `"Tschüs"`},
	{name: "octet string 00 01 02 03 04", enc: "10 05 00 01 02 03 04", want: octets(0, 1, 2, 3, 4), text: "h'0001020304'"},
	{name: "null", enc: "14", want: null(), text: "null"},
	{name: "float32 0.0", enc: "0a 00 00 00 00", want: f32(0), text: "0"},
	{name: "float32 1/3", enc: "0a ab aa aa 3e", want: f32(1.0 / 3.0), text: "0.33333334"},
	{name: "float32 17.9", enc: "0a 33 33 8f 41", want: f32(17.9), text: "17.9"},
	{name: "float32 +inf", enc: "0a 00 00 80 7f", want: f32(float32(math.Inf(1))), text: "+Inf"},
	{name: "float32 -inf", enc: "0a 00 00 80 ff", want: f32(float32(math.Inf(-1))), text: "-Inf"},
	{name: "float64 0.0", enc: "0b 00 00 00 00 00 00 00 00", want: f64(0), text: "0"},
	{name: "float64 1/3", enc: "0b 55 55 55 55 55 55 d5 3f", want: f64(1.0 / 3.0), text: "0.3333333333333333"},
	{name: "float64 17.9", enc: "0b 66 66 66 66 66 e6 31 40", want: f64(17.9), text: "17.9"},
	{name: "float64 +inf", enc: "0b 00 00 00 00 00 00 f0 7f", want: f64(math.Inf(1)), text: "+Inf"},
	{name: "float64 -inf", enc: "0b 00 00 00 00 00 00 f0 ff", want: f64(math.Inf(-1)), text: "-Inf"},

	// Sample encoding of containers (outermost container anonymous).
	{name: "empty structure", enc: "15 18", want: structure(), text: "{}"},
	{name: "empty array", enc: "16 18", want: array(), text: "[]"},
	{name: "empty list", enc: "17 18", want: list(), text: "[[]]"},
	{
		name: "structure, two context tags",
		enc:  "15 20 00 2a 20 01 ef 18",
		want: structure(tagged(ContextTag(0), sint(42)), tagged(ContextTag(1), sint(-17))),
		text: "{0 = 42, 1 = -17}",
	},
	{
		name: "array of signed integers",
		enc:  "16 00 00 00 01 00 02 00 03 00 04 18",
		want: array(sint(0), sint(1), sint(2), sint(3), sint(4)),
		text: "[0, 1, 2, 3, 4]",
	},
	{
		name: "list, anonymous and context tags",
		enc:  "17 00 01 20 00 2a 00 02 00 03 20 00 ef 18",
		want: list(sint(1), tagged(ContextTag(0), sint(42)), sint(2), sint(3), tagged(ContextTag(0), sint(-17))),
		text: "[[1, 0 = 42, 2, 3, 0 = -17]]",
	},
	{
		name: "array, mixed element types",
		enc:  "16 00 2a 02 f0 67 fd ff 15 18 0a 33 33 8f 41 0c 06 48 65 6c 6c 6f 21 18",
		want: array(sint(42), sint(-170000), structure(), f32(17.9), utf8Str("Hello!")),
		text: `[42, -170000, {}, 17.9, "Hello!"]`,
	},

	// Sample encoding of different tag types (value 42U).
	{name: "anonymous tag", enc: "04 2a", want: uint_(42), text: "42U"},
	{name: "context tag 1", enc: "24 01 2a", want: tagged(ContextTag(1), uint_(42)), text: "1 = 42U"},
	{name: "common profile tag 1", enc: "44 01 00 2a", want: tagged(CommonProfileTag(1), uint_(42)), text: "Matter::1 = 42U"},
	{
		name: "common profile tag 100000",
		enc:  "64 a0 86 01 00 2a",
		want: tagged(CommonProfileTag(100000), uint_(42)),
		text: "Matter::100000 = 42U",
	},
	{
		name: "fully qualified tag, 2-octet tag number",
		enc:  "c4 f1 ff ed de 01 00 2a",
		want: tagged(FullyQualifiedTag(0xFFF1, 0xDEED, 1), uint_(42)),
		text: "65521::57069:1 = 42U",
	},
	{
		name: "fully qualified tag, 4-octet tag number",
		enc:  "e4 f1 ff ed de ed fe 55 aa 2a",
		want: tagged(FullyQualifiedTag(0xFFF1, 0xDEED, 0xAA55FEED), uint_(42)),
		text: "65521::57069:2857762541 = 42U",
	},
	{
		name: "structure with fully qualified tags",
		enc:  "d5 f1 ff ed de 01 00 c4 f1 ff ed de 55 aa 2a 18",
		want: tagged(FullyQualifiedTag(0xFFF1, 0xDEED, 1),
			structure(tagged(FullyQualifiedTag(0xFFF1, 0xDEED, 0xAA55), uint_(42)))),
		text: "65521::57069:1 = {65521::57069:43605 = 42U}",
	},
}

// derivedVectors are not in the A.12 tables. They were built by hand from the
// tag control field (A.7.2: 100 and 101 are the 2- and 4-octet implicit
// profile forms) and from the tag encoding of A.8.2, using the same
// numbers as the common-profile examples.
var derivedVectors = []specVector{
	{name: "implicit profile tag 1", enc: "84 01 00 2a", want: tagged(ImplicitProfileTag(1), uint_(42)), text: "Implicit::1 = 42U"},
	{
		name: "implicit profile tag 100000",
		enc:  "a4 a0 86 01 00 2a",
		want: tagged(ImplicitProfileTag(100000), uint_(42)),
		text: "Implicit::100000 = 42U",
	},
	{
		name: "structure of every scalar type",
		enc: "15 20 01 ff 24 02 ff 28 03 29 04 2a 00 00 00 80 3f 2b 05 00 00 00 00 00 00 00 40" +
			" 2c 06 02 68 69 30 07 01 ff 34 08 18",
		want: structure(
			tagged(ContextTag(1), sint(-1)),
			tagged(ContextTag(2), uint_(255)),
			tagged(ContextTag(3), boolean(false)),
			tagged(ContextTag(4), boolean(true)),
			tagged(ContextTag(0), f32(1)),
			tagged(ContextTag(5), f64(2)),
			tagged(ContextTag(6), utf8Str("hi")),
			tagged(ContextTag(7), octets(0xff)),
			tagged(ContextTag(8), null()),
		),
		text: `{1 = -1, 2 = 255U, 3 = false, 4 = true, 0 = 1, 5 = 2, 6 = "hi", 7 = h'ff', 8 = null}`,
	},
}

func allVectors() []specVector {
	return append(append([]specVector(nil), specVectors...), derivedVectors...)
}

func TestSpecDecode(t *testing.T) {
	for _, v := range allVectors() {
		t.Run(v.name, func(t *testing.T) {
			got, err := Decode(fromHex(t, v.enc))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !got.Equal(v.want) {
				t.Fatalf("Decode = %v, want %v", got, v.want)
			}
			if s := got.String(); s != v.text {
				t.Errorf("String = %s, want %s", s, v.text)
			}
		})
	}
}

func TestSpecEncode(t *testing.T) {
	for _, v := range allVectors() {
		t.Run(v.name, func(t *testing.T) {
			want := v.enc
			if v.canonical != "" {
				want = v.canonical
			}
			got, err := v.want.Encode()
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if !bytes.Equal(got, fromHex(t, want)) {
				t.Fatalf("Encode = % x, want %s", got, want)
			}
		})
	}
}

// TestSpecWriter writes a few of the A.12 examples through the streaming
// Writer calls that protocol code uses, rather than through PutElement.
func TestSpecWriter(t *testing.T) {
	tests := []struct {
		name  string
		write func(w *Writer)
		want  string
	}{
		{"structure, two context tags", func(w *Writer) {
			w.StartStructure(AnonymousTag())
			w.PutInt(ContextTag(0), 42)
			w.PutInt(ContextTag(1), -17)
			w.EndContainer()
		}, "15 20 00 2a 20 01 ef 18"},
		{"list, anonymous and context tags", func(w *Writer) {
			w.StartList(AnonymousTag())
			w.PutInt(AnonymousTag(), 1)
			w.PutInt(ContextTag(0), 42)
			w.PutInt(AnonymousTag(), 2)
			w.PutInt(AnonymousTag(), 3)
			w.PutInt(ContextTag(0), -17)
			w.EndContainer()
		}, "17 00 01 20 00 2a 00 02 00 03 20 00 ef 18"},
		{"array, mixed element types", func(w *Writer) {
			w.StartArray(AnonymousTag())
			w.PutInt(AnonymousTag(), 42)
			w.PutInt(AnonymousTag(), -170000)
			w.StartStructure(AnonymousTag())
			w.EndContainer()
			w.PutFloat32(AnonymousTag(), 17.9)
			w.PutString(AnonymousTag(), "Hello!")
			w.EndContainer()
		}, "16 00 2a 02 f0 67 fd ff 15 18 0a 33 33 8f 41 0c 06 48 65 6c 6c 6f 21 18"},
		{"signed 8-octet", func(w *Writer) { w.PutInt(AnonymousTag(), 40000000000) }, "03 00 90 2f 50 09 00 00 00"},
		{"octet string", func(w *Writer) { w.PutBytes(AnonymousTag(), []byte{0, 1, 2, 3, 4}) }, "10 05 00 01 02 03 04"},
		{"UTF-8", func(w *Writer) { w.PutString(AnonymousTag(), "Tschüs") }, "0c 07 54 73 63 68 c3 bc 73"},
		{"null", func(w *Writer) { w.PutNull(AnonymousTag()) }, "14"},
		{"bool", func(w *Writer) { w.PutBool(AnonymousTag(), true) }, "09"},
		{"float64 17.9", func(w *Writer) { w.PutFloat64(AnonymousTag(), 17.9) }, "0b 66 66 66 66 66 e6 31 40"},
		{"context tag 1", func(w *Writer) { w.PutUint(ContextTag(1), 42) }, "24 01 2a"},
		{"common profile tag 100000", func(w *Writer) { w.PutUint(CommonProfileTag(100000), 42) }, "64 a0 86 01 00 2a"},
		{"fully qualified, 4-octet tag", func(w *Writer) {
			w.PutUint(FullyQualifiedTag(0xFFF1, 0xDEED, 0xAA55FEED), 42)
		}, "e4 f1 ff ed de ed fe 55 aa 2a"},
		{"structure with fully qualified tags", func(w *Writer) {
			w.StartStructure(FullyQualifiedTag(0xFFF1, 0xDEED, 1))
			w.PutUint(FullyQualifiedTag(0xFFF1, 0xDEED, 0xAA55), 42)
			w.EndContainer()
		}, "d5 f1 ff ed de 01 00 c4 f1 ff ed de 55 aa 2a 18"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var w Writer
			tc.write(&w)
			got, err := w.Bytes()
			if err != nil {
				t.Fatalf("Bytes: %v", err)
			}
			if !bytes.Equal(got, fromHex(t, tc.want)) {
				t.Fatalf("got % x, want %s", got, tc.want)
			}
		})
	}
}

// TestSpecFloatBits checks the float rows of the A.12 primitive table against
// Go's own IEEE 754 conversion, independently of the encoder.
func TestSpecFloatBits(t *testing.T) {
	le := binary.LittleEndian
	f32s := []struct {
		v    float32
		want string
	}{
		{0, "00 00 00 00"},
		{1.0 / 3.0, "ab aa aa 3e"},
		{17.9, "33 33 8f 41"},
		{float32(math.Inf(1)), "00 00 80 7f"},
		{float32(math.Inf(-1)), "00 00 80 ff"},
	}
	for _, c := range f32s {
		if got := le.AppendUint32(nil, math.Float32bits(c.v)); !bytes.Equal(got, fromHex(t, c.want)) {
			t.Errorf("float32 %v = % x, want %s", c.v, got, c.want)
		}
	}
	f64s := []struct {
		v    float64
		want string
	}{
		{0, "00 00 00 00 00 00 00 00"},
		{1.0 / 3.0, "55 55 55 55 55 55 d5 3f"},
		{17.9, "66 66 66 66 66 e6 31 40"},
		{math.Inf(1), "00 00 00 00 00 00 f0 7f"},
		{math.Inf(-1), "00 00 00 00 00 00 f0 ff"},
	}
	for _, c := range f64s {
		if got := le.AppendUint64(nil, math.Float64bits(c.v)); !bytes.Equal(got, fromHex(t, c.want)) {
			t.Errorf("float64 %v = % x, want %s", c.v, got, c.want)
		}
	}
}

// TestSpecTruncated cuts every vector at every offset. A strict prefix of a
// single element is never a complete encoding, so each one must fail with
// ErrTruncated on every read path and never panic.
func TestSpecTruncated(t *testing.T) {
	encs := [][]byte{sigma1Fixture(t)}
	for _, v := range allVectors() {
		encs = append(encs, fromHex(t, v.enc))
	}
	for _, enc := range encs {
		for n := range len(enc) {
			in := enc[:n]
			if _, err := Decode(in); sentinelOf(err) != ErrTruncated {
				t.Errorf("Decode(% x): %v, want ErrTruncated", in, err)
			}
			if n == 0 {
				continue // an empty stream is a valid, empty Reader input
			}
			if err := walkAll(t, NewReader(in)); sentinelOf(err) != ErrTruncated {
				t.Errorf("walk(% x): %v, want ErrTruncated", in, err)
			}
			if err := walkSkipping(NewReader(in)); sentinelOf(err) != ErrTruncated {
				t.Errorf("skip(% x): %v, want ErrTruncated", in, err)
			}
		}
	}
}
