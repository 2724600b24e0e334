// Package servetest drives cluster servers the way the Interaction Model
// engine does, for the servers' tests: requests from PASE and CASE
// subjects, invokes with encoded fields, attribute reads and writes, and
// recorders for change notifications and events.
package servetest

import (
	"bytes"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/mattercam/mattercam/matter/dm"
	"github.com/mattercam/mattercam/matter/storage"
	"github.com/mattercam/mattercam/matter/tlv"
)

// Encoder and Decoder are the generated types' codecs.
type (
	Encoder interface {
		EncodeTLV(w *tlv.Writer, tag tlv.Tag)
	}
	Decoder interface {
		DecodeTLV(r *tlv.Reader) error
	}
)

// Challenge is the attestation challenge the requests carry.
var Challenge = [16]byte{0xA1, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7, 0xA8, 0xA9, 0xAA, 0xAB, 0xAC, 0xAD, 0xAE, 0xAF, 0xB0}

// PASE returns a request from a PASE session bound to fabric (0 before
// AddNOC).
func PASE(fabric uint8) *dm.Request {
	return &dm.Request{Subject: dm.Subject{AuthMode: dm.AuthPASE, FabricIndex: fabric}, AttestationChallenge: Challenge}
}

// CASE returns a request from node on fabric over CASE.
func CASE(fabric uint8, node uint64) *dm.Request {
	return &dm.Request{Subject: dm.Subject{AuthMode: dm.AuthCASE, FabricIndex: fabric, NodeID: node}, AttestationChallenge: Challenge}
}

// Filtered returns a copy of req for a fabric-filtered read.
func Filtered(req *dm.Request) *dm.Request {
	r := *req
	r.FabricFiltered = true
	return &r
}

// Encode encodes v with an anonymous tag.
func Encode(t testing.TB, v Encoder) []byte {
	t.Helper()
	var w tlv.Writer
	v.EncodeTLV(&w, tlv.AnonymousTag())
	b, err := w.Bytes()
	if err != nil {
		t.Fatalf("encoding %T: %v", v, err)
	}
	return bytes.Clone(b)
}

// reader returns a Reader positioned on the single element of b.
func reader(t testing.TB, b []byte) *tlv.Reader {
	t.Helper()
	r := tlv.NewReader(b)
	if err := r.Next(); err != nil {
		t.Fatalf("reader on %x: %v", b, err)
	}
	return r
}

// Invoke runs command cmd with fields in (nil: no fields) and returns the
// handler's response and error.
func Invoke(t testing.TB, c dm.Cluster, req *dm.Request, cmd uint32, in Encoder) (dm.CommandResponse, error) {
	t.Helper()
	var r *tlv.Reader
	if in != nil {
		r = reader(t, Encode(t, in))
	}
	return InvokeRaw(t, c, req, cmd, r)
}

// InvokeRaw runs command cmd with r positioned on its fields.
func InvokeRaw(t testing.TB, c dm.Cluster, req *dm.Request, cmd uint32, r *tlv.Reader) (dm.CommandResponse, error) {
	t.Helper()
	if c.Meta().Command(cmd) == nil {
		t.Fatalf("command %#x is not in %s's metadata", cmd, c.Meta().Name)
	}
	var resp dm.CommandResponse
	err := c.Invoke(req, cmd, r, &resp)
	return resp, err
}

// RawFields returns a Reader on the encoded fields b.
func RawFields(t testing.TB, b []byte) *tlv.Reader { return reader(t, b) }

// Call invokes cmd and decodes its response command, which must be
// wantResp, into out. It fails the test on any error.
func Call(t testing.TB, c dm.Cluster, req *dm.Request, cmd uint32, in Encoder, wantResp uint32, out Decoder) {
	t.Helper()
	resp, err := Invoke(t, c, req, cmd, in)
	if err != nil {
		t.Fatalf("%s command %#x: %v", c.Meta().Name, cmd, err)
	}
	Response(t, resp, wantResp, out)
}

// Response decodes a response command into out.
func Response(t testing.TB, resp dm.CommandResponse, wantResp uint32, out Decoder) {
	t.Helper()
	if resp.ID != wantResp || resp.Fields == nil {
		t.Fatalf("response %#x (fields %x), want %#x", resp.ID, resp.Fields, wantResp)
	}
	if err := out.DecodeTLV(reader(t, resp.Fields)); err != nil {
		t.Fatalf("decoding response %#x: %v", resp.ID, err)
	}
}

// Status returns the IM status of a handler error: SUCCESS for nil,
// FAILURE for an error that is not a *dm.StatusError.
func Status(err error) dm.Status {
	if err == nil {
		return dm.StatusSuccess
	}
	var se *dm.StatusError
	if errors.As(err, &se) {
		return se.Status
	}
	return dm.StatusFailure
}

// ClusterStatus returns the cluster-specific status of a handler error, or
// -1 if it has none.
func ClusterStatus(err error) int {
	var se *dm.StatusError
	if errors.As(err, &se) && se.ClusterStatus != nil {
		return int(*se.ClusterStatus)
	}
	return -1
}

// Read reads an attribute and returns its encoding, failing the test on
// an error.
func Read(t testing.TB, c dm.Cluster, req *dm.Request, attr uint32) []byte {
	t.Helper()
	b, err := ReadErr(c, req, attr)
	if err != nil {
		t.Fatalf("%s reading %#x: %v", c.Meta().Name, attr, err)
	}
	return b
}

// ReadErr reads an attribute and returns its encoding or the error.
func ReadErr(c dm.Cluster, req *dm.Request, attr uint32) ([]byte, error) {
	var w tlv.Writer
	if err := c.ReadAttribute(req, attr, &w, tlv.AnonymousTag()); err != nil {
		return nil, err
	}
	b, err := w.Bytes()
	return bytes.Clone(b), err
}

// ReadElement reads an attribute and decodes it into a tree.
func ReadElement(t testing.TB, c dm.Cluster, req *dm.Request, attr uint32) tlv.Element {
	t.Helper()
	e, err := tlv.Decode(Read(t, c, req, attr))
	if err != nil {
		t.Fatalf("decoding attribute %#x: %v", attr, err)
	}
	return e
}

// ReadInto reads an attribute and decodes it into out.
func ReadInto(t testing.TB, c dm.Cluster, req *dm.Request, attr uint32, out Decoder) {
	t.Helper()
	if err := out.DecodeTLV(reader(t, Read(t, c, req, attr))); err != nil {
		t.Fatalf("decoding attribute %#x: %v", attr, err)
	}
}

// ReadUint reads an unsigned integer attribute.
func ReadUint(t testing.TB, c dm.Cluster, req *dm.Request, attr uint32) uint64 {
	t.Helper()
	e := ReadElement(t, c, req, attr)
	if e.Type != tlv.TypeUint {
		t.Fatalf("attribute %#x is a %v, not an unsigned integer", attr, e.Type)
	}
	return e.Uint
}

// ReadList reads a list attribute and decodes each entry with newEntry.
func ReadList[T any, P interface {
	*T
	Decoder
}](t testing.TB, c dm.Cluster, req *dm.Request, attr uint32) []T {
	t.Helper()
	r := reader(t, Read(t, c, req, attr))
	if r.Type() != tlv.TypeArray {
		t.Fatalf("attribute %#x is a %v, not a list", attr, r.Type())
	}
	if err := r.Enter(); err != nil {
		t.Fatal(err)
	}
	var out []T
	for r.Next() == nil {
		var v T
		if err := P(&v).DecodeTLV(r); err != nil {
			t.Fatalf("attribute %#x entry %d: %v", attr, len(out), err)
		}
		out = append(out, v)
	}
	return out
}

// UintList reads a list of unsigned integers.
func UintList(t testing.TB, c dm.Cluster, req *dm.Request, attr uint32) []uint64 {
	t.Helper()
	e := ReadElement(t, c, req, attr)
	if e.Type != tlv.TypeArray {
		t.Fatalf("attribute %#x is a %v, not a list", attr, e.Type)
	}
	var out []uint64
	for _, m := range e.Members {
		out = append(out, m.Uint)
	}
	return out
}

// Write writes an attribute: the whole value, or one list item.
func Write(t testing.TB, c dm.Cluster, req *dm.Request, attr uint32, value []byte, item bool) error {
	t.Helper()
	return c.WriteAttribute(req, attr, reader(t, value), item)
}

// List encodes vs as a TLV list of structs.
func List[T any, P interface {
	*T
	Encoder
}](t testing.TB, vs []T) []byte {
	t.Helper()
	var w tlv.Writer
	w.StartArray(tlv.AnonymousTag())
	for i := range vs {
		P(&vs[i]).EncodeTLV(&w, tlv.AnonymousTag())
	}
	w.EndContainer()
	b, err := w.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Clone(b)
}

// Value encodes one element with put.
func Value(t testing.TB, put func(w *tlv.Writer, tag tlv.Tag)) []byte {
	t.Helper()
	var w tlv.Writer
	put(&w, tlv.AnonymousTag())
	b, err := w.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Clone(b)
}

// Changes records attribute change notifications; it implements the
// servers' Notifier.
type Changes struct {
	mu    sync.Mutex
	paths []dm.Path
}

// Changed implements the Notifier.
func (c *Changes) Changed(p dm.Path) {
	c.mu.Lock()
	c.paths = append(c.paths, p)
	c.mu.Unlock()
}

// Has reports whether attribute attr of cluster was reported changed.
func (c *Changes) Has(cluster, attr uint32) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.ContainsFunc(c.paths, func(p dm.Path) bool { return p.Cluster == cluster && p.ID == attr })
}

// Reset forgets what was recorded.
func (c *Changes) Reset() {
	c.mu.Lock()
	c.paths = nil
	c.mu.Unlock()
}

// Event is one recorded event.
type Event struct {
	Endpoint    uint16
	Cluster, ID uint32
	Priority    dm.Priority
	FabricIndex uint8
	Payload     []byte
}

// Events records events; it implements the servers' EventSink.
type Events struct {
	mu   sync.Mutex
	list []Event
}

// Emit implements the EventSink.
func (e *Events) Emit(endpoint uint16, cluster, event uint32, p dm.Priority, fabricIndex uint8, payload []byte) (uint64, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.list = append(e.list, Event{endpoint, cluster, event, p, fabricIndex, bytes.Clone(payload)})
	return uint64(len(e.list) - 1), nil
}

// Take returns the events recorded since the last Take.
func (e *Events) Take() []Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	l := e.list
	e.list = nil
	return l
}

// Decode decodes an event payload into out.
func Decode(t testing.TB, payload []byte, out Decoder) {
	t.Helper()
	if err := out.DecodeTLV(reader(t, payload)); err != nil {
		t.Fatalf("decoding %x: %v", payload, err)
	}
}

// Store opens a store in a fresh temporary directory, closed at the end
// of the test.
func Store(t testing.TB) *storage.Store {
	t.Helper()
	return OpenStore(t, t.TempDir())
}

// OpenStore opens the store in dir, closed at the end of the test.
func OpenStore(t testing.TB, dir string) *storage.Store {
	t.Helper()
	s, err := storage.Open(dir)
	if err != nil {
		t.Fatalf("opening store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
