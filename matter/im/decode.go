package im

import (
	"errors"
	"fmt"
	"io"

	"github.com/mattercam/mattercam/matter/tlv"
)

// Helpers shared by the IB and message decoders. Every decoder takes a
// Reader positioned on the element to decode (after Next), checks its
// container type, and leaves the Reader after the element, so that the
// caller's Next moves to the sibling.

// fieldSet tracks the context tags seen in one structure or list, so that a
// duplicate field is rejected. Unknown context tags are skipped, as
// Core §10.2.2 asks ("any context-specific tag not listed in a given schema
// SHALL be reserved for future use and SHALL be silently ignored").
type fieldSet struct{ seen [4]uint64 }

// next moves r to the next member and returns its context tag number; done
// is true at the end of the container. Anonymous and profile tags are
// malformed in the IM schemas.
func (f *fieldSet) next(r *tlv.Reader, what string) (tag uint8, done bool, err error) {
	if err := r.Next(); err != nil {
		if err == io.EOF {
			return 0, true, nil
		}
		return 0, false, wrapTLV(what, err)
	}
	t := r.Tag()
	if t.Kind() != tlv.TagContext {
		return 0, false, malformed("%s: member with %v tag", what, t)
	}
	n := uint8(t.Number())
	if f.seen[n/64]&(1<<(n%64)) != 0 {
		return 0, false, malformed("%s: duplicate field %d", what, n)
	}
	f.seen[n/64] |= 1 << (n % 64)
	return n, false, nil
}

func (f *fieldSet) has(n uint8) bool { return f.seen[n/64]&(1<<(n%64)) != 0 }

// enter checks that the current element is a container of type want and
// enters it.
func enter(r *tlv.Reader, want tlv.Type, what string) error {
	if r.Type() != want {
		return malformed("%s: %v, want %v", what, r.Type(), want)
	}
	if err := r.Enter(); err != nil {
		return wrapTLV(what, err)
	}
	return nil
}

// exit leaves the container entered last.
func exit(r *tlv.Reader, what string) error {
	if err := r.Exit(); err != nil {
		return wrapTLV(what, err)
	}
	return nil
}

// wrapTLV turns a TLV decoding error into ErrMalformed, keeping the detail.
func wrapTLV(what string, err error) error {
	if errors.Is(err, ErrMalformed) {
		return err
	}
	return fmt.Errorf("%w: %s: %w", ErrMalformed, what, err)
}

func readBool(r *tlv.Reader, what string) (bool, error) {
	v, err := r.Bool()
	if err != nil {
		return false, wrapTLV(what, err)
	}
	return v, nil
}

func readU8(r *tlv.Reader, what string) (uint8, error) {
	v, err := r.Uint8()
	if err != nil {
		return 0, wrapTLV(what, err)
	}
	return v, nil
}

func readU16(r *tlv.Reader, what string) (uint16, error) {
	v, err := r.Uint16()
	if err != nil {
		return 0, wrapTLV(what, err)
	}
	return v, nil
}

func readU32(r *tlv.Reader, what string) (uint32, error) {
	v, err := r.Uint32()
	if err != nil {
		return 0, wrapTLV(what, err)
	}
	return v, nil
}

func readU64(r *tlv.Reader, what string) (uint64, error) {
	v, err := r.Uint()
	if err != nil {
		return 0, wrapTLV(what, err)
	}
	return v, nil
}

// readRaw returns the complete encoding of the current element, aliasing
// the input.
func readRaw(r *tlv.Reader, what string) ([]byte, error) {
	v, err := r.Raw()
	if err != nil {
		return nil, wrapTLV(what, err)
	}
	return v, nil
}

// decodeArray decodes the array at r's current element, calling item for
// each member, at most MaxDecodedItems.
func decodeArray(r *tlv.Reader, what string, item func(r *tlv.Reader) error) error {
	if err := enter(r, tlv.TypeArray, what); err != nil {
		return err
	}
	for n := 0; ; n++ {
		if err := r.Next(); err != nil {
			if err == io.EOF {
				break
			}
			return wrapTLV(what, err)
		}
		if n >= MaxDecodedItems {
			return malformed("%s: more than %d entries", what, MaxDecodedItems)
		}
		if err := item(r); err != nil {
			return err
		}
	}
	return exit(r, what)
}

// decodeMessage decodes the top-level structure of a message, calling field
// for each member (the InteractionModelRevision tag excepted, which is
// checked and skipped), rejects trailing data, and returns the fields seen.
func decodeMessage(b []byte, what string, field func(r *tlv.Reader, tag uint8) error) (fieldSet, error) {
	var fs fieldSet
	r := tlv.NewReader(b)
	if err := r.Next(); err != nil {
		if err == io.EOF {
			return fs, malformed("%s: empty", what)
		}
		return fs, wrapTLV(what, err)
	}
	if !r.Tag().IsAnonymous() {
		return fs, malformed("%s: top-level element has %v tag", what, r.Tag())
	}
	if err := enter(r, tlv.TypeStructure, what); err != nil {
		return fs, err
	}
	for {
		tag, done, err := fs.next(r, what)
		if err != nil {
			return fs, err
		}
		if done {
			break
		}
		if tag == tagIMRevision {
			if _, err := readU8(r, what+": InteractionModelRevision"); err != nil {
				return fs, err
			}
			continue
		}
		if err := field(r, tag); err != nil {
			return fs, err
		}
	}
	if err := exit(r, what); err != nil {
		return fs, err
	}
	if err := r.Next(); err != io.EOF {
		if err == nil {
			return fs, malformed("%s: data after the message", what)
		}
		return fs, wrapTLV(what, err)
	}
	return fs, nil
}

// require reports the first mandatory field of a schema that is missing.
func require(fs *fieldSet, what string, tags ...uint8) error {
	for _, t := range tags {
		if !fs.has(t) {
			return malformed("%s: missing field %d", what, t)
		}
	}
	return nil
}

// endMessage writes the InteractionModelRevision and closes the message
// structure (Core §10.2.2.2: every action carries it).
func endMessage(w *tlv.Writer) {
	w.PutUint(tlv.ContextTag(tagIMRevision), InteractionModelRevision)
	w.EndContainer()
}

func ctx(n uint8) tlv.Tag { return tlv.ContextTag(n) }

var anon = tlv.AnonymousTag()

func putBool(w *tlv.Writer, tag uint8, v bool) { w.PutBool(ctx(tag), v) }
