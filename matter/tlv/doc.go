// Package tlv implements Matter TLV, the tag-length-value encoding defined in
// Appendix A of the Matter Core Specification. Every other Matter layer sits on
// it: operational certificates, the PASE and CASE secure-channel messages, and
// the Interaction Model.
//
// # Encoding
//
// A [Writer] appends elements to a byte slice. Scalars are written with Put
// methods and containers are bracketed by StartStructure, StartArray or
// StartList and EndContainer:
//
//	var w tlv.Writer
//	w.StartStructure(tlv.AnonymousTag())
//	w.PutBytes(tlv.ContextTag(1), random)
//	w.PutUint(tlv.ContextTag(2), uint64(sessionID))
//	w.EndContainer()
//	msg, err := w.Bytes()
//
// The Put methods do not return errors. The first misuse (an anonymous member in
// a structure, a tagged member in an array, invalid UTF-8, an EndContainer with
// nothing open, nesting deeper than 64) is recorded, later calls do nothing, and
// the error comes back from [Writer.Err] or [Writer.Bytes]. Once the buffer has
// grown, writing an element does not allocate.
//
// The output is canonical. Appendix A lets a sender choose the width of
// integers (A.11.1), length fields (A.9) and implicit or common profile tag
// numbers (A.8.2, A.8.3). The Writer always picks the smallest width that holds
// the value, so equal values always encode to the same bytes. Floating-point
// precision is chosen by the caller ([Writer.PutFloat32], [Writer.PutFloat64]).
// Members are written in the order the caller gives. Where a signature or hash
// needs a fixed order (A.2.4) the caller must write them in that order;
// [Tag.Compare] implements the A.2.4 ordering.
//
// # Decoding
//
// A [Reader] is a pull parser over a byte slice. [Reader.Next] moves to the next
// element at the current nesting level and returns io.EOF at the end of the
// enclosing container, or at the end of the input when at top level.
// [Reader.Enter] descends into the current container and [Reader.Exit] skips
// whatever is left of it and returns to the parent:
//
//	r := tlv.NewReader(msg)
//	if err := r.Next(); err != nil { ... }
//	if err := r.Enter(); err != nil { ... } // fails unless the element is a container
//	for {
//		err := r.Next()
//		if err == io.EOF {
//			break
//		}
//		if err != nil { ... }
//		switch r.Tag() {
//		case tlv.ContextTag(1):
//			random, err = r.Bytes()
//		case tlv.ContextTag(2):
//			sessionID, err = r.Uint16()
//		}
//	}
//	err = r.Exit()
//
// Value accessors check the element type and range: [Reader.Uint] accepts a
// signed encoding of a non-negative value and [Reader.Int] accepts an unsigned
// encoding that fits in int64. Appendix A leaves the width to the sender, so a
// reader must not depend on it. [Reader.Bytes], [Reader.StringBytes] and
// [Reader.Raw] return slices of the input without copying. Raw returns the
// complete encoding of the current element, tag included, for signatures over
// an encoded sub-structure or for copying an element into a Writer with
// [Writer.PutRaw].
//
// The Reader is strict and bounded, since its input usually comes from the
// network. It rejects reserved element types (0x19-0x1F), an end-of-container
// that carries a tag or appears outside a container (A.10), anonymous members
// of structures and tagged members of arrays (A.5.1, A.5.2), invalid UTF-8
// (A.11.2), lengths that run past the end of the input, and containers nested
// deeper than [Reader.MaxDepth] ([DefaultMaxDepth] if unset). A malformed
// element is found when the Reader reaches it, whether by Next, Skip, Exit or
// Raw, so skipping over data never lets a malformed encoding through. The
// first such error is sticky. Errors wrap one of [ErrTruncated], [ErrInvalid],
// [ErrDepth], [ErrType] or [ErrRange].
//
// The Reader allows more than Appendix A in two places. Several elements may
// follow one another at top level, and a top-level element may carry any tag, so
// a Reader can parse an element taken from inside a larger encoding (for example
// the result of Raw). Within a structure, duplicate tags are not detected: a
// schema-aware decoder sees every member in order and is the right place to
// reject them.
//
// # Tree form
//
// [Decode] parses a complete encoding into an [Element] tree. An encoding is
// complete when it holds exactly one top-level element and no trailing data.
// [Element.String] prints the tree in the notation of the A.12 examples, for
// example {1 = 42U, 2 = "Hello!"}. [Element.Encode] and [Writer.PutElement]
// encode a tree. The tree form is for tests and diagnostics. Protocol code should
// use the streaming Reader and Writer, which do not allocate.
package tlv
