package tlv

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
)

// TestWriterIntegerWidths checks the boundaries of the narrowest-width rule
// for integers (A.11.1 leaves the width to the sender; this Writer always picks
// the smallest).
func TestWriterIntegerWidths(t *testing.T) {
	ints := []struct {
		v    int64
		want string
	}{
		{0, "00 00"},
		{-1, "00 ff"},
		{math.MaxInt8, "00 7f"},
		{math.MinInt8, "00 80"},
		{math.MaxInt8 + 1, "01 80 00"},
		{math.MinInt8 - 1, "01 7f ff"},
		{math.MaxInt16, "01 ff 7f"},
		{math.MinInt16, "01 00 80"},
		{math.MaxInt16 + 1, "02 00 80 00 00"},
		{math.MinInt16 - 1, "02 ff 7f ff ff"},
		{math.MaxInt32, "02 ff ff ff 7f"},
		{math.MinInt32, "02 00 00 00 80"},
		{math.MaxInt32 + 1, "03 00 00 00 80 00 00 00 00"},
		{math.MinInt32 - 1, "03 ff ff ff 7f ff ff ff ff"},
		{math.MaxInt64, "03 ff ff ff ff ff ff ff 7f"},
		{math.MinInt64, "03 00 00 00 00 00 00 00 80"},
	}
	for _, tc := range ints {
		var w Writer
		w.PutInt(AnonymousTag(), tc.v)
		if got, _ := w.Bytes(); !bytes.Equal(got, fromHex(t, tc.want)) {
			t.Errorf("PutInt(%d) = % x, want %s", tc.v, got, tc.want)
		}
	}
	uints := []struct {
		v    uint64
		want string
	}{
		{0, "04 00"},
		{math.MaxUint8, "04 ff"},
		{math.MaxUint8 + 1, "05 00 01"},
		{math.MaxUint16, "05 ff ff"},
		{math.MaxUint16 + 1, "06 00 00 01 00"},
		{math.MaxUint32, "06 ff ff ff ff"},
		{math.MaxUint32 + 1, "07 00 00 00 00 01 00 00 00"},
		{math.MaxUint64, "07 ff ff ff ff ff ff ff ff"},
	}
	for _, tc := range uints {
		var w Writer
		w.PutUint(AnonymousTag(), tc.v)
		if got, _ := w.Bytes(); !bytes.Equal(got, fromHex(t, tc.want)) {
			t.Errorf("PutUint(%d) = % x, want %s", tc.v, got, tc.want)
		}
	}
}

// TestWriterLengthWidths checks the narrowest-width rule for string length
// fields (A.9).
func TestWriterLengthWidths(t *testing.T) {
	tests := []struct {
		n      int
		header string
	}{
		{0, "10 00"},
		{255, "10 ff"},
		{256, "11 00 01"},
		{65535, "11 ff ff"},
		{65536, "12 00 00 01 00"},
	}
	for _, tc := range tests {
		var w Writer
		w.PutBytes(AnonymousTag(), make([]byte, tc.n))
		got, err := w.Bytes()
		h := fromHex(t, tc.header)
		if err != nil || !bytes.HasPrefix(got, h) || len(got) != len(h)+tc.n {
			t.Errorf("PutBytes(%d octets) header % x (len %d), %v; want %s", tc.n, got[:min(len(got), 5)], len(got), err, tc.header)
		}
		w.Reset()
		w.PutString(AnonymousTag(), strings.Repeat("a", tc.n))
		got, _ = w.Bytes()
		h[0] -= etBytes - etUTF8
		if !bytes.HasPrefix(got, h) || len(got) != len(h)+tc.n {
			t.Errorf("PutString(%d octets) header % x, want % x", tc.n, got[:min(len(got), 5)], h)
		}
	}
	// Lengths of 4 GiB and more cannot be tested by writing them.
	for _, tc := range []struct {
		n    uint64
		code byte
	}{{math.MaxUint32, 2}, {math.MaxUint32 + 1, 3}, {math.MaxUint64, 3}} {
		if got := lengthCode(tc.n); got != tc.code {
			t.Errorf("lengthCode(%d) = %d, want %d", tc.n, got, tc.code)
		}
	}
}

// TestWriterTagForms checks the shortest tag form rule (A.8.1 requires it for
// fully-qualified tags; this Writer applies it to common and implicit profile
// tags too).
func TestWriterTagForms(t *testing.T) {
	tests := []struct {
		tag  Tag
		want string
	}{
		{AnonymousTag(), "14"},
		{Tag{}, "14"},
		{ContextTag(0), "34 00"},
		{ContextTag(255), "34 ff"},
		{CommonProfileTag(0xffff), "54 ff ff"},
		{CommonProfileTag(0x10000), "74 00 00 01 00"},
		{ImplicitProfileTag(0), "94 00 00"},
		{ImplicitProfileTag(0xffff), "94 ff ff"},
		{ImplicitProfileTag(0x10000), "b4 00 00 01 00"},
		{ImplicitProfileTag(math.MaxUint32), "b4 ff ff ff ff"},
		{FullyQualifiedTag(0xFFF2, 0x0001, 0xffff), "d4 f2 ff 01 00 ff ff"},
		{FullyQualifiedTag(0xFFF2, 0x0001, 0x10000), "f4 f2 ff 01 00 00 00 01 00"},
	}
	for _, tc := range tests {
		var w Writer
		w.PutNull(tc.tag)
		got, err := w.Bytes()
		if err != nil || !bytes.Equal(got, fromHex(t, tc.want)) {
			t.Errorf("PutNull(%v) = % x, %v; want %s", tc.tag, got, err, tc.want)
			continue
		}
		e, err := Decode(got)
		if err != nil || e.Tag != tc.tag {
			t.Errorf("Decode(% x) tag = %v, %v; want %v", got, e.Tag, err, tc.tag)
		}
	}
}

func TestWriterErrors(t *testing.T) {
	deep := func(w *Writer) {
		for range maxDepthLimit + 1 {
			w.StartList(AnonymousTag())
		}
	}
	tests := []struct {
		name  string
		write func(w *Writer)
		want  error
	}{
		{"anonymous member of structure", func(w *Writer) {
			w.StartStructure(AnonymousTag())
			w.PutUint(AnonymousTag(), 1)
		}, ErrInvalid},
		{"anonymous container in structure", func(w *Writer) {
			w.StartStructure(AnonymousTag())
			w.StartArray(AnonymousTag())
		}, ErrInvalid},
		{"context-tagged member of array", func(w *Writer) {
			w.StartArray(AnonymousTag())
			w.PutBool(ContextTag(1), true)
		}, ErrInvalid},
		{"profile-tagged member of array", func(w *Writer) {
			w.StartArray(AnonymousTag())
			w.PutNull(FullyQualifiedTag(1, 2, 3))
		}, ErrInvalid},
		{"invalid UTF-8", func(w *Writer) { w.PutString(AnonymousTag(), "a\xffb") }, ErrInvalid},
		{"invalid UTF-8 in element", func(w *Writer) {
			w.PutElement(Element{Type: TypeString, Bytes: []byte{0xc0, 0xaf}})
		}, ErrInvalid},
		{"EndContainer at top level", func(w *Writer) { w.EndContainer() }, ErrInvalid},
		{"one EndContainer too many", func(w *Writer) {
			w.StartList(AnonymousTag())
			w.EndContainer()
			w.EndContainer()
		}, ErrInvalid},
		{"container left open", func(w *Writer) { w.StartStructure(AnonymousTag()) }, ErrInvalid},
		{"nesting beyond 64", deep, ErrDepth},
		{"element without type", func(w *Writer) { w.PutElement(Element{}) }, ErrInvalid},
		{"PutRaw of nothing", func(w *Writer) { w.PutRaw(AnonymousTag(), nil) }, ErrTruncated},
		{"PutRaw of two elements", func(w *Writer) { w.PutRaw(AnonymousTag(), []byte{0x08, 0x09}) }, ErrInvalid},
		{"PutRaw of truncated container", func(w *Writer) { w.PutRaw(AnonymousTag(), []byte{0x15, 0x24, 0x01, 0x2a}) }, ErrTruncated},
		{"PutRaw of end-of-container", func(w *Writer) { w.PutRaw(AnonymousTag(), []byte{0x18}) }, ErrInvalid},
		{"PutRaw of bad UTF-8", func(w *Writer) { w.PutRaw(AnonymousTag(), []byte{0x0c, 0x01, 0xff}) }, ErrInvalid},
		{"PutRaw too deep", func(w *Writer) {
			for range maxDepthLimit {
				w.StartList(AnonymousTag())
			}
			w.PutRaw(AnonymousTag(), []byte{0x17, 0x18})
		}, ErrDepth},
		{"PutRaw with tag not allowed", func(w *Writer) {
			w.StartArray(AnonymousTag())
			w.PutRaw(ContextTag(1), []byte{0x04, 0x01})
		}, ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var w Writer
			tc.write(&w)
			got, err := w.Bytes()
			if !errors.Is(err, tc.want) {
				t.Fatalf("Bytes = % x, %v; want %v", got, err, tc.want)
			}
			if got != nil {
				t.Fatalf("Bytes returned % x with an error", got)
			}
		})
	}
}

func TestWriterStickyAndReset(t *testing.T) {
	var w Writer
	w.StartArray(AnonymousTag())
	w.PutUint(ContextTag(1), 1) // not allowed in an array
	first := w.Err()
	if !errors.Is(first, ErrInvalid) {
		t.Fatalf("Err = %v, want ErrInvalid", first)
	}
	n := w.Len()
	w.PutUint(AnonymousTag(), 2)
	w.PutString(AnonymousTag(), "x")
	w.PutRaw(AnonymousTag(), []byte{0x08})
	w.PutElement(uint_(3))
	w.EndContainer()
	w.EndContainer()
	if w.Err() != first || w.Len() != n {
		t.Fatalf("calls after an error changed the Writer: err %v len %d (was %d)", w.Err(), w.Len(), n)
	}
	w.Reset()
	if w.Err() != nil || w.Len() != 0 {
		t.Fatalf("after Reset: err %v len %d", w.Err(), w.Len())
	}
	w.PutBool(AnonymousTag(), false)
	if got, err := w.Bytes(); err != nil || !bytes.Equal(got, []byte{0x08}) {
		t.Fatalf("after Reset: % x, %v", got, err)
	}
}

func TestWriterPrefix(t *testing.T) {
	w := NewWriter([]byte{0xaa, 0xbb})
	w.PutUint(AnonymousTag(), 1)
	got, err := w.Bytes()
	if err != nil || !bytes.Equal(got, []byte{0xaa, 0xbb, 0x04, 0x01}) {
		t.Fatalf("Bytes = % x, %v", got, err)
	}
	if w.Len() != 4 {
		t.Fatalf("Len = %d, want 4", w.Len())
	}
}

// TestWriterFloatBits checks that floats are written bit for bit, including
// NaN payloads and negative zero.
func TestWriterFloatBits(t *testing.T) {
	var w Writer
	w.PutFloat32(AnonymousTag(), math.Float32frombits(0x7f800001)) // signalling NaN
	w.PutFloat64(AnonymousTag(), math.Copysign(0, -1))
	got, _ := w.Bytes()
	if want := fromHex(t, "0a 01 00 80 7f 0b 00 00 00 00 00 00 00 80"); !bytes.Equal(got, want) {
		t.Fatalf("got % x, want % x", got, want)
	}
}

func TestPutRaw(t *testing.T) {
	// Copy a member out of one structure into another under a new tag, with
	// its non-canonical inner widths kept as they were.
	src := fromHex(t, "15 36 01 05 07 00 0d 01 00 7a 18 18")
	r := NewReader(src)
	if err := r.Next(); err != nil {
		t.Fatal(err)
	}
	if err := r.Enter(); err != nil {
		t.Fatal(err)
	}
	if err := r.Next(); err != nil {
		t.Fatal(err)
	}
	raw, err := r.Raw()
	if err != nil {
		t.Fatal(err)
	}
	var w Writer
	w.StartList(AnonymousTag())
	w.PutRaw(CommonProfileTag(0x1234), raw)
	w.PutRaw(AnonymousTag(), raw)
	w.EndContainer()
	got, err := w.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	want := fromHex(t, "17 56 34 12 05 07 00 0d 01 00 7a 18 16 05 07 00 0d 01 00 7a 18 18")
	if !bytes.Equal(got, want) {
		t.Fatalf("got % x, want % x", got, want)
	}
}

func TestTagCompare(t *testing.T) {
	// Sorted by the canonical ordering of A.2.4 (implicit profile last).
	sorted := []Tag{
		AnonymousTag(),
		ContextTag(0),
		ContextTag(1),
		ContextTag(255),
		CommonProfileTag(0),
		CommonProfileTag(70000),
		FullyQualifiedTag(0, 1, 0),
		FullyQualifiedTag(0xFFF1, 0, 5),
		FullyQualifiedTag(0xFFF1, 0xDEED, 1),
		FullyQualifiedTag(0xFFF1, 0xDEED, 2),
		FullyQualifiedTag(0xFFF2, 0, 0),
		ImplicitProfileTag(0),
		ImplicitProfileTag(1),
	}
	for i, a := range sorted {
		for j, b := range sorted {
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got := a.Compare(b); got != want {
				t.Errorf("%v.Compare(%v) = %d, want %d", a, b, got, want)
			}
		}
	}
	if CommonProfileTag(7).Compare(FullyQualifiedTag(0, 0, 7)) != 0 {
		t.Error("common-profile tag 7 and fully-qualified 0:0:7 should compare equal")
	}
	if CommonProfileTag(7) == FullyQualifiedTag(0, 0, 7) {
		t.Error("tags in different forms must not be ==")
	}
}

func TestTagAccessors(t *testing.T) {
	tests := []struct {
		tag             Tag
		kind            TagKind
		vendor, profile uint16
		num             uint32
		str             string
		anonymous       bool
	}{
		{AnonymousTag(), TagAnonymous, 0, 0, 0, "anonymous", true},
		{ContextTag(9), TagContext, 0, 0, 9, "context 9", false},
		{CommonProfileTag(70000), TagCommonProfile, 0, 0, 70000, "common-profile 70000", false},
		{ImplicitProfileTag(3), TagImplicitProfile, 0, 0, 3, "implicit-profile 3", false},
		{FullyQualifiedTag(0xFFF1, 0xDEED, 1), TagFullyQualified, 0xFFF1, 0xDEED, 1, "fully-qualified 0xFFF1:0xDEED:1", false},
	}
	for _, tc := range tests {
		if tc.tag.Kind() != tc.kind || tc.tag.VendorID() != tc.vendor || tc.tag.Profile() != tc.profile ||
			tc.tag.Number() != tc.num || tc.tag.String() != tc.str || tc.tag.IsAnonymous() != tc.anonymous {
			t.Errorf("%v: kind %v vendor %#x profile %#x num %d anonymous %v",
				tc.tag, tc.tag.Kind(), tc.tag.VendorID(), tc.tag.Profile(), tc.tag.Number(), tc.tag.IsAnonymous())
		}
	}
	if TagKind(99).String() != "invalid" || Type(99).String() != "invalid" || Type(0).String() != "none" {
		t.Error("out-of-range names")
	}
}
