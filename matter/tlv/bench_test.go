package tlv

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"
)

// sigma1 has the shape of the CASE Sigma1 message ("sigma-1-struct", Matter
// Core spec chapter 4). It is an anonymous structure of context-tagged octet
// strings and integers with a nested session-parameter structure. It serves
// as a realistic workload for the allocation tests and benchmarks.
type sigma1 struct {
	initiatorRandom [32]byte
	sessionID       uint16
	destinationID   [32]byte
	ephPubKey       [65]byte
	idleInterval    uint32
	activeInterval  uint32
	activeThreshold uint16
	dataModelRev    uint16
	imRev           uint16
	specVersion     uint32
	maxPaths        uint16
}

func (s *sigma1) encode(w *Writer) {
	w.StartStructure(AnonymousTag())
	w.PutBytes(ContextTag(1), s.initiatorRandom[:])
	w.PutUint(ContextTag(2), uint64(s.sessionID))
	w.PutBytes(ContextTag(3), s.destinationID[:])
	w.PutBytes(ContextTag(4), s.ephPubKey[:])
	w.StartStructure(ContextTag(5))
	w.PutUint(ContextTag(1), uint64(s.idleInterval))
	w.PutUint(ContextTag(2), uint64(s.activeInterval))
	w.PutUint(ContextTag(3), uint64(s.activeThreshold))
	w.PutUint(ContextTag(4), uint64(s.dataModelRev))
	w.PutUint(ContextTag(5), uint64(s.imRev))
	w.PutUint(ContextTag(6), uint64(s.specVersion))
	w.PutUint(ContextTag(7), uint64(s.maxPaths))
	w.EndContainer()
	w.EndContainer()
}

var errSigma1 = errors.New("malformed sigma1")

// copyFixed copies an octet string member into a fixed-size field.
func copyFixed(r *Reader, dst []byte) error {
	b, err := r.Bytes()
	if err != nil {
		return err
	}
	if len(b) != len(dst) {
		return errSigma1
	}
	copy(dst, b)
	return nil
}

func (s *sigma1) decode(b []byte) error {
	r := NewReader(b)
	if err := r.Next(); err != nil {
		return err
	}
	if r.Type() != TypeStructure {
		return errSigma1
	}
	if err := r.Enter(); err != nil {
		return err
	}
	for {
		err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		switch r.Tag() {
		case ContextTag(1):
			err = copyFixed(r, s.initiatorRandom[:])
		case ContextTag(2):
			s.sessionID, err = r.Uint16()
		case ContextTag(3):
			err = copyFixed(r, s.destinationID[:])
		case ContextTag(4):
			err = copyFixed(r, s.ephPubKey[:])
		case ContextTag(5):
			err = s.decodeParams(r)
		}
		if err != nil {
			return err
		}
	}
	if err := r.Exit(); err != nil {
		return err
	}
	if err := r.Next(); err != io.EOF {
		return errSigma1
	}
	return nil
}

func (s *sigma1) decodeParams(r *Reader) error {
	if err := r.Enter(); err != nil {
		return err
	}
	for {
		err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		switch r.Tag() {
		case ContextTag(1):
			s.idleInterval, err = r.Uint32()
		case ContextTag(2):
			s.activeInterval, err = r.Uint32()
		case ContextTag(3):
			s.activeThreshold, err = r.Uint16()
		case ContextTag(4):
			s.dataModelRev, err = r.Uint16()
		case ContextTag(5):
			s.imRev, err = r.Uint16()
		case ContextTag(6):
			s.specVersion, err = r.Uint32()
		case ContextTag(7):
			s.maxPaths, err = r.Uint16()
		}
		if err != nil {
			return err
		}
	}
	return r.Exit()
}

func testSigma1() *sigma1 {
	s := &sigma1{
		sessionID:       0x1234,
		idleInterval:    500,
		activeInterval:  300,
		activeThreshold: 4000,
		dataModelRev:    17,
		imRev:           11,
		specVersion:     0x01030000,
		maxPaths:        1,
	}
	for i := range s.initiatorRandom {
		s.initiatorRandom[i] = byte(i)
	}
	for i := range s.destinationID {
		s.destinationID[i] = byte(0x80 + i)
	}
	s.ephPubKey[0] = 0x04
	for i := 1; i < len(s.ephPubKey); i++ {
		s.ephPubKey[i] = byte(i * 3)
	}
	return s
}

func sigma1Fixture(t testing.TB) []byte {
	t.Helper()
	var w Writer
	testSigma1().encode(&w)
	b, err := w.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSigma1RoundTrip(t *testing.T) {
	enc := sigma1Fixture(t)
	var got sigma1
	if err := got.decode(enc); err != nil {
		t.Fatalf("decode: %v", err)
	}
	if got != *testSigma1() {
		t.Fatalf("decode = %+v, want %+v", got, *testSigma1())
	}
	// The session ID needs 2 octets, so the canonical encoding uses the
	// 2-octet unsigned form.
	tree, err := Decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := tree.Members[1].String(), "2 = 4660U"; got != want {
		t.Errorf("member 2 = %s, want %s", got, want)
	}
	if !bytes.HasPrefix(enc, []byte{0x15, 0x30, 0x01, 0x20}) {
		t.Errorf("encoding starts % x, want 15 30 01 20 (struct, ctx 1 octets len 32)", enc[:4])
	}
}

// TestWriterZeroAlloc checks the Writer's contract: once the buffer has grown,
// writing elements does not allocate.
func TestWriterZeroAlloc(t *testing.T) {
	s := testSigma1()
	w := NewWriter(make([]byte, 0, 512))
	allocs := testing.AllocsPerRun(100, func() {
		w.Reset()
		s.encode(w)
		w.PutString(ContextTag(9), "text")
		w.PutInt(ContextTag(10), -1<<40)
		w.PutFloat64(ContextTag(11), 1.5)
		w.PutNull(CommonProfileTag(1 << 20))
		w.StartList(FullyQualifiedTag(1, 2, 3))
		w.PutBool(ImplicitProfileTag(7), true)
		w.EndContainer()
		if _, err := w.Bytes(); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("Writer allocated %v times per run, want 0", allocs)
	}
}

// TestReaderZeroAlloc checks that a streaming decode, including Raw and
// skipping, does not allocate.
func TestReaderZeroAlloc(t *testing.T) {
	enc := sigma1Fixture(t)
	var s sigma1
	allocs := testing.AllocsPerRun(100, func() {
		if err := s.decode(enc); err != nil {
			t.Fatal(err)
		}
		r := NewReader(enc)
		if err := r.Next(); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Raw(); err != nil {
			t.Fatal(err)
		}
		if err := r.Next(); err != io.EOF {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("Reader allocated %v times per run, want 0", allocs)
	}
}

func BenchmarkEncodeSigma1(b *testing.B) {
	s := testSigma1()
	w := NewWriter(make([]byte, 0, 512))
	b.ReportAllocs()
	for b.Loop() {
		w.Reset()
		s.encode(w)
		if _, err := w.Bytes(); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(w.Len()))
}

func BenchmarkDecodeSigma1(b *testing.B) {
	enc := sigma1Fixture(b)
	var s sigma1
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	for b.Loop() {
		if err := s.decode(enc); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSkipSigma1 measures checking a whole encoding without decoding
// values, as Exit and Raw do.
func BenchmarkSkipSigma1(b *testing.B) {
	enc := sigma1Fixture(b)
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	for b.Loop() {
		r := NewReader(enc)
		if err := r.Next(); err != nil {
			b.Fatal(err)
		}
		if err := r.Skip(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeTree is the allocating tree form, for comparison.
func BenchmarkDecodeTree(b *testing.B) {
	enc := sigma1Fixture(b)
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(enc); err != nil {
			b.Fatal(err)
		}
	}
}

func ExampleWriter() {
	var w Writer
	w.StartStructure(AnonymousTag())
	w.PutBytes(ContextTag(1), []byte{0xde, 0xad})
	w.PutUint(ContextTag(2), 0x1234)
	w.StartArray(ContextTag(3))
	w.PutInt(AnonymousTag(), -1)
	w.PutString(AnonymousTag(), "ok")
	w.EndContainer()
	w.EndContainer()
	b, err := w.Bytes()
	if err != nil {
		panic(err)
	}
	fmt.Printf("% x\n", b)
	// Output: 15 30 01 02 de ad 25 02 34 12 36 03 00 ff 0c 02 6f 6b 18 18
}

func ExampleReader() {
	b := []byte{0x15, 0x30, 0x01, 0x02, 0xde, 0xad, 0x25, 0x02, 0x34, 0x12, 0x18}
	r := NewReader(b)
	if err := r.Next(); err != nil {
		panic(err)
	}
	if err := r.Enter(); err != nil {
		panic(err)
	}
	for {
		err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			panic(err)
		}
		switch r.Tag() {
		case ContextTag(1):
			v, err := r.Bytes()
			fmt.Printf("random % x %v\n", v, err)
		case ContextTag(2):
			v, err := r.Uint16()
			fmt.Printf("session %#x %v\n", v, err)
		}
	}
	fmt.Println(r.Exit())
	// Output:
	// random de ad <nil>
	// session 0x1234 <nil>
	// <nil>
}

func ExampleDecode() {
	e, err := Decode([]byte{0x17, 0x00, 0x01, 0x20, 0x00, 0x2a, 0x00, 0x02, 0x00, 0x03, 0x20, 0x00, 0xef, 0x18})
	if err != nil {
		panic(err)
	}
	fmt.Println(e)
	// Output: [[1, 0 = 42, 2, 3, 0 = -17]]
}
