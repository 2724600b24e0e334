package tlv

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
)

// FuzzReader decodes arbitrary input along every read path and checks that
// the paths agree, that every error wraps a sentinel, and that anything Decode
// accepts survives re-encoding: decode, encode, decode again gives an equal
// tree, and encoding that tree gives the same canonical bytes.
func FuzzReader(f *testing.F) {
	for _, v := range allVectors() {
		f.Add(fromHex(f, v.enc))
	}
	f.Add(sigma1Fixture(f))
	for _, s := range []string{
		"",
		"18",
		"15 04 2a 18",                            // anonymous member of a structure
		"16 24 01 2a 18",                         // tagged member of an array
		"0c 02 c3 28",                            // invalid UTF-8
		"0f ff ff ff ff ff ff ff ff",             // huge length
		"15 38 01",                               // tagged end-of-container
		"15 18 18",                               // extra end-of-container
		"1f",                                     // reserved type
		strings.Repeat("17 ", 40),                // deep nesting
		"15 37 01 17 17 17 18 18 18 18 09",       // trailing element
		"e4 f1 ff ed de 01 00 00 00 2a",          // non-canonical tag width
		"15 25 01 01 00 2d 02 01 00 61 18",       // non-canonical widths
		"0a 01 00 80 7f",                         // float32 signalling NaN
		"17 56 34 12 05 07 00 0d 01 00 7a 18 18", // list with a profile-tagged array
	} {
		b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		errWalk := walkAll(t, NewReader(data))
		errSkip := walkSkipping(NewReader(data))
		errPart := walkPartially(NewReader(data))
		for _, err := range []error{errWalk, errSkip, errPart} {
			if err != nil && sentinelOf(err) == nil {
				t.Fatalf("error wraps no sentinel: %v", err)
			}
		}
		// Every path reaches the same first bad element, so they must fail
		// (or succeed) identically.
		if errString(errSkip) != errString(errWalk) || errString(errPart) != errString(errWalk) {
			t.Fatalf("read paths disagree:\nwalk:    %v\nskip:    %v\npartial: %v", errWalk, errSkip, errPart)
		}

		// A small MaxDepth exercises the limit on every path.
		small := NewReader(data)
		small.MaxDepth = 1 + len(data)%4
		if err := walkAll(t, small); err != nil && sentinelOf(err) == nil {
			t.Fatalf("error wraps no sentinel: %v", err)
		}

		tree, err := Decode(data)
		if err != nil {
			if sentinelOf(err) == nil {
				t.Fatalf("Decode error wraps no sentinel: %v", err)
			}
			return
		}
		if errWalk != nil {
			t.Fatalf("Decode accepted input that the Reader rejects: %v", errWalk)
		}

		// The top-level element's Raw is the whole input.
		r := NewReader(data)
		if err := r.Next(); err != nil {
			t.Fatal(err)
		}
		if raw, err := r.Raw(); err != nil || !bytes.Equal(raw, data) {
			t.Fatalf("Raw = % x, %v; want the input", raw, err)
		}

		enc, err := tree.Encode()
		if err != nil {
			t.Fatalf("Encode of decoded tree %v: %v", tree, err)
		}
		if len(enc) > len(data) {
			t.Fatalf("canonical encoding (%d octets) longer than the input (%d)", len(enc), len(data))
		}
		tree2, err := Decode(enc)
		if err != nil {
			t.Fatalf("Decode of re-encoding % x: %v", enc, err)
		}
		if !tree2.Equal(tree) {
			t.Fatalf("round trip changed the tree:\n%v\n%v", tree, tree2)
		}
		enc2, err := tree2.Encode()
		if err != nil || !bytes.Equal(enc2, enc) {
			t.Fatalf("canonical encoding is not stable: % x then % x (%v)", enc, enc2, err)
		}
		_ = tree.String()

		// PutRaw accepts what Decode accepts and keeps the value. It is
		// written at top level so the nesting depth stays the same.
		var w Writer
		w.PutRaw(ContextTag(7), data)
		retagged, err := w.Bytes()
		if err != nil {
			t.Fatalf("PutRaw of a decodable element: %v", err)
		}
		got, err := Decode(retagged)
		if err != nil {
			t.Fatalf("Decode after PutRaw: %v", err)
		}
		want := tree
		want.Tag = ContextTag(7)
		if !got.Equal(want) {
			t.Fatalf("PutRaw changed the element: %v, want %v", got, want)
		}
	})
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
