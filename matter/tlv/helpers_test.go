package tlv

import (
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"
)

// fromHex decodes a hex string that may contain spaces, as the spec prints
// encodings.
func fromHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// Element constructors keep the test tables readable.

func sint(v int64) Element     { return Element{Type: TypeInt, Int: v} }
func uint_(v uint64) Element   { return Element{Type: TypeUint, Uint: v} }
func boolean(v bool) Element   { return Element{Type: TypeBool, Bool: v} }
func f32(v float32) Element    { return Element{Type: TypeFloat32, Float: float64(v)} }
func f64(v float64) Element    { return Element{Type: TypeFloat64, Float: v} }
func utf8Str(s string) Element { return Element{Type: TypeString, Bytes: []byte(s)} }
func octets(b ...byte) Element { return Element{Type: TypeBytes, Bytes: b} }
func null() Element            { return Element{Type: TypeNull} }

func structure(ms ...Element) Element { return Element{Type: TypeStructure, Members: ms} }
func array(ms ...Element) Element     { return Element{Type: TypeArray, Members: ms} }
func list(ms ...Element) Element      { return Element{Type: TypeList, Members: ms} }

func tagged(t Tag, e Element) Element {
	e.Tag = t
	return e
}

// sentinels are the errors every failure must wrap.
var sentinels = []error{ErrTruncated, ErrInvalid, ErrDepth, ErrType, ErrRange}

func sentinelOf(err error) error {
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return s
		}
	}
	return nil
}

// walkAll reads every element at the current level and below, calling every
// accessor. It checks that each accessor agrees with Type, and returns the
// first decoding error. It runs inside the fuzz target, so it calls t.Helper
// only on failure: Helper walks the stack and would dominate each run.
func walkAll(t testing.TB, r *Reader) error {
	for {
		err := r.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		checkAccessors(t, r)
		if r.Type().IsContainer() {
			if err := r.Enter(); err != nil {
				return err
			}
			if err := walkAll(t, r); err != nil {
				return err
			}
			if err := r.Exit(); err != nil {
				return err
			}
		}
	}
}

// checkAccessors calls each accessor on the current element and checks that
// the ones matching its type succeed and the others fail with ErrType.
func checkAccessors(t testing.TB, r *Reader) {
	typ := r.Type()
	expectType := func(name string, ok bool, err error) {
		if ok && err != nil && !errors.Is(err, ErrRange) {
			t.Helper()
			t.Fatalf("%s on %v: %v", name, typ, err)
		}
		if !ok && !errors.Is(err, ErrType) {
			t.Helper()
			t.Fatalf("%s on %v: got %v, want ErrType", name, typ, err)
		}
	}
	isInt := typ == TypeInt || typ == TypeUint
	_, err := r.Int()
	expectType("Int", isInt, err)
	_, err = r.Uint()
	expectType("Uint", isInt, err)
	_, err = r.Int8()
	expectType("Int8", isInt, err)
	_, err = r.Int16()
	expectType("Int16", isInt, err)
	_, err = r.Int32()
	expectType("Int32", isInt, err)
	_, err = r.Uint8()
	expectType("Uint8", isInt, err)
	_, err = r.Uint16()
	expectType("Uint16", isInt, err)
	_, err = r.Uint32()
	expectType("Uint32", isInt, err)
	_, err = r.Bool()
	expectType("Bool", typ == TypeBool, err)
	_, err = r.Float()
	expectType("Float", typ == TypeFloat32 || typ == TypeFloat64, err)
	_, err = r.Bytes()
	expectType("Bytes", typ == TypeBytes, err)
	_, err = r.StringBytes()
	expectType("StringBytes", typ == TypeString, err)
	_, err = r.String()
	expectType("String", typ == TypeString, err)
	if r.IsNull() != (typ == TypeNull) {
		t.Helper()
		t.Fatalf("IsNull = %v on %v", r.IsNull(), typ)
	}
	if !typ.IsContainer() {
		raw, err := r.Raw()
		if err != nil || len(raw) == 0 {
			t.Helper()
			t.Fatalf("Raw on %v: %x, %v", typ, raw, err)
		}
	}
}

// walkSkipping reads the top-level elements with Next and Skip only, so that
// every container is checked by skipping.
func walkSkipping(r *Reader) error {
	for {
		err := r.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := r.Skip(); err != nil {
			return err
		}
	}
}

// walkPartially enters every container but reads only its first member
// before calling Exit, so that the rest is checked by Exit.
func walkPartially(r *Reader) error {
	for {
		err := r.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if !r.Type().IsContainer() {
			continue
		}
		if err := r.Enter(); err != nil {
			return err
		}
		if err := r.Next(); err != nil && err != io.EOF {
			return err
		}
		if err := r.Exit(); err != nil {
			return err
		}
	}
}
