package field_test

import (
	"errors"
	"testing"

	"github.com/mattercam/mattercam/matter/clusters/field"
	"github.com/mattercam/mattercam/matter/tlv"
)

// reader returns a Reader positioned on the single element body writes.
func reader(t *testing.T, body func(w *tlv.Writer)) *tlv.Reader {
	t.Helper()
	var w tlv.Writer
	body(&w)
	b, err := w.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	r := tlv.NewReader(b)
	if err := r.Next(); err != nil {
		t.Fatal(err)
	}
	return r
}

func anon() tlv.Tag { return tlv.AnonymousTag() }

func TestOptionalNullable(t *testing.T) {
	if _, ok := (field.Optional[int]{}).Get(); ok {
		t.Error("zero Optional is present")
	}
	if v, ok := field.Some(3).Get(); !ok || v != 3 {
		t.Errorf("Some(3).Get() = %v, %v", v, ok)
	}
	if !(field.Nullable[int]{}).IsNull() || !field.Null[int]().IsNull() {
		t.Error("zero Nullable and Null() must be null")
	}
	if v, ok := field.NonNull(4).Get(); !ok || v != 4 || field.NonNull(4).IsNull() {
		t.Errorf("NonNull(4).Get() = %v, %v", v, ok)
	}
}

func TestSeen(t *testing.T) {
	var s field.Seen
	for _, n := range []uint8{0, 63, 64, 200, 254, 255} {
		if s.Has(n) {
			t.Errorf("tag %d seen before Add", n)
		}
		if !s.Add(n) {
			t.Errorf("first Add(%d) reported a duplicate", n)
		}
		if s.Add(n) {
			t.Errorf("second Add(%d) reported new", n)
		}
		if !s.Has(n) {
			t.Errorf("tag %d not seen after Add", n)
		}
	}
	if s.Has(1) || s.Has(65) {
		t.Error("Add marked a neighbouring tag")
	}
}

func TestIntegers(t *testing.T) {
	tests := []struct {
		name    string
		put     func(w *tlv.Writer)
		decode  func(r *tlv.Reader) (int64, error)
		want    int64
		wantErr error
	}{
		{"uint8 max", func(w *tlv.Writer) { w.PutUint(anon(), 255) },
			func(r *tlv.Reader) (int64, error) { v, err := field.Uint[uint8](r); return int64(v), err }, 255, nil},
		{"uint8 overflow", func(w *tlv.Writer) { w.PutUint(anon(), 256) },
			func(r *tlv.Reader) (int64, error) { v, err := field.Uint[uint8](r); return int64(v), err }, 0, tlv.ErrRange},
		{"uint from a signed encoding", func(w *tlv.Writer) { w.PutInt(anon(), 7) },
			func(r *tlv.Reader) (int64, error) { v, err := field.Uint[uint16](r); return int64(v), err }, 7, nil},
		{"uint negative", func(w *tlv.Writer) { w.PutInt(anon(), -1) },
			func(r *tlv.Reader) (int64, error) { v, err := field.Uint[uint16](r); return int64(v), err }, 0, tlv.ErrRange},
		{"uint24 max", func(w *tlv.Writer) { w.PutUint(anon(), 1<<24-1) },
			func(r *tlv.Reader) (int64, error) { v, err := field.UintBits[uint32](r, 24); return int64(v), err }, 1<<24 - 1, nil},
		{"uint24 overflow", func(w *tlv.Writer) { w.PutUint(anon(), 1<<24) },
			func(r *tlv.Reader) (int64, error) { v, err := field.UintBits[uint32](r, 24); return int64(v), err }, 0, tlv.ErrRange},
		{"int8 min", func(w *tlv.Writer) { w.PutInt(anon(), -128) },
			func(r *tlv.Reader) (int64, error) { v, err := field.Int[int8](r); return int64(v), err }, -128, nil},
		{"int8 underflow", func(w *tlv.Writer) { w.PutInt(anon(), -129) },
			func(r *tlv.Reader) (int64, error) { v, err := field.Int[int8](r); return int64(v), err }, 0, tlv.ErrRange},
		{"int24 min", func(w *tlv.Writer) { w.PutInt(anon(), -1<<23) },
			func(r *tlv.Reader) (int64, error) { v, err := field.IntBits[int32](r, 24); return int64(v), err }, -1 << 23, nil},
		{"int24 overflow", func(w *tlv.Writer) { w.PutInt(anon(), 1<<23) },
			func(r *tlv.Reader) (int64, error) { v, err := field.IntBits[int32](r, 24); return int64(v), err }, 0, tlv.ErrRange},
		{"string for an integer", func(w *tlv.Writer) { w.PutString(anon(), "1") },
			func(r *tlv.Reader) (int64, error) { v, err := field.Uint[uint8](r); return int64(v), err }, 0, tlv.ErrType},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.decode(reader(t, tc.put))
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %d, %v; want %d", got, err, tc.want)
			}
		})
	}
}

func TestFloats(t *testing.T) {
	if _, err := field.Float32(reader(t, func(w *tlv.Writer) { w.PutFloat64(anon(), 1.5) })); !errors.Is(err, tlv.ErrType) {
		t.Errorf("double accepted as single: %v", err)
	}
	if v, err := field.Float32(reader(t, func(w *tlv.Writer) { w.PutFloat32(anon(), 1.5) })); err != nil || v != 1.5 {
		t.Errorf("single: %v, %v", v, err)
	}
	if v, err := field.Float64(reader(t, func(w *tlv.Writer) { w.PutFloat32(anon(), 1.5) })); err != nil || v != 1.5 {
		t.Errorf("single widened to double: %v, %v", v, err)
	}
}

func TestLengths(t *testing.T) {
	tests := []struct {
		name     string
		s        string
		min, max int
		wantErr  bool
	}{
		{"within", "abc", 1, 3, false},
		{"too long", "abcd", 0, 3, true},
		{"too short", "a", 2, field.NoLimit, true},
		{"no limit", string(make([]byte, 5000)), 0, field.NoLimit, false},
		{"bytes, not characters", "ééé", 0, 3, true}, // 6 bytes
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := field.String(reader(t, func(w *tlv.Writer) { w.PutString(anon(), tc.s) }), tc.min, tc.max)
			if tc.wantErr {
				if !errors.Is(err, field.ErrConstraint) {
					t.Fatalf("err %v, want a constraint error", err)
				}
			} else if err != nil || s != tc.s {
				t.Fatalf("got %q, %v", s, err)
			}
			b, err := field.Bytes(reader(t, func(w *tlv.Writer) { w.PutBytes(anon(), []byte(tc.s)) }), tc.min, tc.max)
			if tc.wantErr != errors.Is(err, field.ErrConstraint) || (!tc.wantErr && string(b) != tc.s) {
				t.Fatalf("bytes: got %q, %v", b, err)
			}
		})
	}
	if b, err := field.Bytes(reader(t, func(w *tlv.Writer) { w.PutBytes(anon(), nil) }), 0, field.NoLimit); err != nil || b != nil {
		t.Errorf("empty octet string: %v, %v; want nil", b, err)
	}
}

func TestList(t *testing.T) {
	list := func(n int) func(w *tlv.Writer) {
		return func(w *tlv.Writer) {
			w.StartArray(anon())
			for i := range n {
				w.PutUint(anon(), uint64(i))
			}
			w.EndContainer()
		}
	}
	elem := func(r *tlv.Reader) (uint8, error) { return field.Uint[uint8](r) }
	tests := []struct {
		name     string
		input    func(w *tlv.Writer)
		min, max int
		wantLen  int
		wantErr  error
	}{
		{"empty is nil", list(0), 0, field.NoLimit, 0, nil},
		{"at max", list(3), 0, 3, 3, nil},
		{"over max", list(4), 0, 3, 0, field.ErrConstraint},
		{"under min", list(1), 2, field.NoLimit, 0, field.ErrConstraint},
		{"bad entry", func(w *tlv.Writer) {
			w.StartArray(anon())
			w.PutUint(anon(), 300)
			w.EndContainer()
		}, 0, field.NoLimit, 0, tlv.ErrRange},
		{"structure is not a list", func(w *tlv.Writer) {
			w.StartStructure(anon())
			w.EndContainer()
		}, 0, field.NoLimit, 0, tlv.ErrType},
		{"a TLV list is not a Matter list", func(w *tlv.Writer) {
			w.StartList(anon())
			w.EndContainer()
		}, 0, field.NoLimit, 0, tlv.ErrType},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := field.List(reader(t, tc.input), tc.min, tc.max, elem)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil || len(got) != tc.wantLen || (tc.wantLen == 0 && got != nil) {
				t.Fatalf("got %v, %v", got, err)
			}
			for i, v := range got {
				if int(v) != i {
					t.Fatalf("entry %d is %d", i, v)
				}
			}
		})
	}
}

func TestRange(t *testing.T) {
	if err := field.Range[uint8](1, 1, 254); err != nil {
		t.Error(err)
	}
	if err := field.Range[uint8](255, 1, 254); !errors.Is(err, field.ErrConstraint) {
		t.Errorf("255 in 1..254: %v", err)
	}
	if err := field.Range[int16](-3, -2, 2); !errors.Is(err, field.ErrConstraint) {
		t.Errorf("-3 in -2..2: %v", err)
	}
}

func TestNext(t *testing.T) {
	r := reader(t, func(w *tlv.Writer) {
		w.StartStructure(anon())
		w.PutUint(tlv.ContextTag(1), 1)
		w.PutUint(tlv.CommonProfileTag(9), 9) // skipped
		w.PutUint(tlv.ContextTag(2), 2)
		w.PutUint(tlv.ContextTag(1), 3) // duplicate
		w.EndContainer()
	})
	if err := field.EnterStruct(r); err != nil {
		t.Fatal(err)
	}
	var seen field.Seen
	for _, want := range []uint8{1, 2} {
		tag, ok, err := field.Next(r, &seen)
		if err != nil || !ok || tag != want {
			t.Fatalf("Next = %d %v %v, want %d", tag, ok, err, want)
		}
	}
	if _, _, err := field.Next(r, &seen); !errors.Is(err, field.ErrDuplicate) {
		t.Fatalf("duplicate: %v", err)
	}
}
