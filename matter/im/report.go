package im

import (
	"errors"

	"github.com/mattercam/mattercam/matter/tlv"
)

// reportOverhead bounds what a ReportDataMessage adds to the reports it
// carries: the structure (2 octets), SubscriptionId (at most 6), the two
// arrays' headers and ends (6), MoreChunkedMessages and SuppressResponse (4)
// and InteractionModelRevision (3).
const reportOverhead = 2 + 6 + 6 + 4 + 3

// reportBuilder packs encoded AttributeReportIBs and EventReportIBs into
// ReportData messages of at most limit octets, and hands each full message
// to emit with MoreChunkedMessages set (Core §8.4.3.3 "Chunked Reports"),
// so that the report streams out while it is produced: only one message is
// held at a time.
type reportBuilder struct {
	limit  int
	subID  uint32
	hasSub bool
	// emit sends the current message; more says more chunks follow.
	emit func(more bool) error

	attrs, events []byte // concatenated IBs
	attrEnds      []int  // end offset of each IB in attrs
	eventEnds     []int
	msg           tlv.Writer
	sent          int  // messages emitted
	added         bool // anything added since the start
}

var errTooLarge = errors.New("im: report element larger than a message")

// capacity is the room for IBs in an empty message.
func (b *reportBuilder) capacity() int { return b.limit - reportOverhead }

// free is the room left in the current message.
func (b *reportBuilder) free() int { return b.capacity() - len(b.attrs) - len(b.events) }

func (b *reportBuilder) empty() bool { return len(b.attrEnds) == 0 && len(b.eventEnds) == 0 }

// makeRoom emits the current message if ib does not fit in it.
func (b *reportBuilder) makeRoom(n int) error {
	if n > b.capacity() {
		return errTooLarge
	}
	if n > b.free() && !b.empty() {
		if err := b.emit(true); err != nil {
			return err
		}
		b.reset()
	}
	return nil
}

func (b *reportBuilder) addAttr(ib []byte) error {
	if err := b.makeRoom(len(ib)); err != nil {
		return err
	}
	b.attrs = append(b.attrs, ib...)
	b.attrEnds = append(b.attrEnds, len(b.attrs))
	b.added = true
	return nil
}

func (b *reportBuilder) addEvent(ib []byte) error {
	if err := b.makeRoom(len(ib)); err != nil {
		return err
	}
	b.events = append(b.events, ib...)
	b.eventEnds = append(b.eventEnds, len(b.events))
	b.added = true
	return nil
}

// reset empties the current message after it was emitted.
func (b *reportBuilder) reset() {
	b.attrs, b.events = b.attrs[:0], b.events[:0]
	b.attrEnds, b.eventEnds = b.attrEnds[:0], b.eventEnds[:0]
	b.sent++
}

// encode returns the current message. The slice is valid until the next
// call.
func (b *reportBuilder) encode(more, suppress bool) ([]byte, error) {
	w := &b.msg
	w.Reset()
	w.StartStructure(anon)
	if b.hasSub {
		w.PutUint(ctx(0), uint64(b.subID))
	}
	putIBs(w, 1, b.attrs, b.attrEnds)
	putIBs(w, 2, b.events, b.eventEnds)
	if more {
		putBool(w, 3, true)
	}
	if suppress {
		putBool(w, 4, true)
	}
	endMessage(w)
	return w.Bytes()
}

// putIBs writes an array of pre-encoded, anonymous-tagged elements.
func putIBs(w *tlv.Writer, tag uint8, buf []byte, ends []int) {
	if len(ends) == 0 {
		return
	}
	w.StartArray(ctx(tag))
	start := 0
	for _, end := range ends {
		w.PutRaw(anon, buf[start:end])
		start = end
	}
	w.EndContainer()
}
