// Package serve holds what the hand-written cluster servers share: the
// metadata subset a server actually serves, data versions with change
// notification, and the mapping of decoding failures to the Interaction
// Model status codes the specification asks for.
package serve

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"slices"

	"github.com/mattercam/mattercam/matter/clusters/field"
	"github.com/mattercam/mattercam/matter/dm"
	"github.com/mattercam/mattercam/matter/tlv"
)

// Subset returns a copy of m that lists only the attributes, commands and
// events whose IDs are given, and only the response commands the kept
// commands generate. The generated metadata lists everything the model
// defines; a server serves the subset its features call for, and the
// global AttributeList and command lists are derived from what it lists
// (Core §7.13).
func Subset(m *dm.ClusterMeta, attrs, cmds, events []uint32) *dm.ClusterMeta {
	out := &dm.ClusterMeta{ID: m.ID, Name: m.Name, Revision: m.Revision}
	for _, a := range m.Attributes {
		if slices.Contains(attrs, a.ID) {
			out.Attributes = append(out.Attributes, a)
		}
	}
	for _, c := range m.Commands {
		if !slices.Contains(cmds, c.ID) {
			continue
		}
		out.Commands = append(out.Commands, c)
		if c.Response != dm.NoResponse && slices.Contains(m.Generated, c.Response) && !slices.Contains(out.Generated, c.Response) {
			out.Generated = append(out.Generated, c.Response)
		}
	}
	for _, e := range m.Events {
		if slices.Contains(events, e.ID) {
			out.Events = append(out.Events, e)
		}
	}
	return out
}

// Notifier is told about attribute changes; *dm.Node implements it
// (subscriptions observe it).
type Notifier interface {
	Changed(dm.Path)
}

// EventSink records events; *dm.Events implements it.
type EventSink interface {
	Emit(endpoint uint16, cluster, event uint32, priority dm.Priority, fabricIndex uint8, payload []byte) (uint64, error)
}

// Base is embedded by cluster servers: it implements Meta and DataVersion
// and reports changes.
type Base struct {
	dm.Versioned
	meta     *dm.ClusterMeta
	endpoint uint16
	notify   Notifier
}

// Init sets the metadata served, the endpoint and the change notifier
// (nil: none), and starts the data version at a random value as Core
// §7.10.3 asks.
func (b *Base) Init(meta *dm.ClusterMeta, endpoint uint16, notify Notifier) {
	b.meta, b.endpoint, b.notify = meta, endpoint, notify
	var v [4]byte
	_, _ = rand.Read(v[:]) // crypto/rand.Read does not fail (Go 1.24+)
	b.InitVersion(binary.LittleEndian.Uint32(v[:]))
}

// Meta implements dm.Cluster.
func (b *Base) Meta() *dm.ClusterMeta { return b.meta }

// Endpoint returns the endpoint the cluster instance is on.
func (b *Base) Endpoint() uint16 { return b.endpoint }

// Changed bumps the data version and reports the attributes as changed.
// Callers hold no lock that a subscription's read would take.
func (b *Base) Changed(attrs ...uint32) {
	b.Bump()
	if b.notify == nil {
		return
	}
	for _, a := range attrs {
		b.notify.Changed(dm.Path{Endpoint: b.endpoint, Cluster: b.meta.ID, ID: a})
	}
}

// Decoder is what generated request and struct types implement.
type Decoder interface {
	DecodeTLV(r *tlv.Reader) error
}

// Encoder is what generated response, struct and event types implement.
type Encoder interface {
	EncodeTLV(w *tlv.Writer, tag tlv.Tag)
}

// Status returns a *dm.StatusError carrying s.
func Status(s dm.Status) error { return &dm.StatusError{Status: s} }

// DecodeCommand decodes a command's fields into v. A command without a
// fields structure (r nil) decodes as an empty structure, so missing
// mandatory fields are caught. A value outside a constraint of the model
// is CONSTRAINT_ERROR; anything else that does not decode is
// INVALID_COMMAND (Core §8.8.3.2, and the field package's rules).
func DecodeCommand(r *tlv.Reader, v Decoder) error {
	if r == nil {
		r = tlv.NewReader([]byte{0x15, 0x18}) // an empty anonymous structure
		if err := r.Next(); err != nil {
			return Status(dm.StatusFailure)
		}
	}
	if err := v.DecodeTLV(r); err != nil {
		if errors.Is(err, field.ErrConstraint) {
			return &dm.StatusError{Status: dm.StatusConstraintError, Err: err}
		}
		return &dm.StatusError{Status: dm.StatusInvalidCommand, Err: err}
	}
	return nil
}

// DecodeValue decodes an attribute value written by a client into v: a
// value outside a constraint is CONSTRAINT_ERROR, any other failure
// INVALID_DATA_TYPE (Core §8.7.3.2).
func DecodeValue(r *tlv.Reader, v Decoder) error {
	if err := v.DecodeTLV(r); err != nil {
		return ValueError(err)
	}
	return nil
}

// ValueError maps a decoding failure of a written value to its status.
func ValueError(err error) error {
	if errors.Is(err, field.ErrConstraint) || errors.Is(err, tlv.ErrRange) {
		return &dm.StatusError{Status: dm.StatusConstraintError, Err: err}
	}
	return &dm.StatusError{Status: dm.StatusInvalidDataType, Err: err}
}

// Respond fills resp with response command id carrying v.
func Respond(resp *dm.CommandResponse, id uint32, v Encoder) error {
	b, err := Marshal(v)
	if err != nil {
		return err
	}
	resp.ID, resp.Fields = id, b
	return nil
}

// Marshal encodes v with an anonymous tag into a new slice.
func Marshal(v Encoder) ([]byte, error) {
	var w tlv.Writer
	v.EncodeTLV(&w, tlv.AnonymousTag())
	b, err := w.Bytes()
	if err != nil {
		return nil, err
	}
	return bytes.Clone(b), nil
}

// Emit records event id of a cluster with payload v; a nil sink records
// nothing. The error is for logs: an event that cannot be recorded does
// not fail the action that caused it.
func Emit(sink EventSink, endpoint uint16, cluster, event uint32, p dm.Priority, fabricIndex uint8, v Encoder) error {
	if sink == nil {
		return nil
	}
	b, err := Marshal(v)
	if err != nil {
		return err
	}
	_, err = sink.Emit(endpoint, cluster, event, p, fabricIndex, b)
	return err
}

// EachItem calls f for each element of the list (TLV array) at r, as a
// write of a whole list attribute delivers it. A value that is not a list
// is INVALID_DATA_TYPE.
func EachItem(r *tlv.Reader, f func(r *tlv.Reader) error) error {
	if r.Type() != tlv.TypeArray {
		return Status(dm.StatusInvalidDataType)
	}
	if err := r.Enter(); err != nil {
		return ValueError(err)
	}
	for {
		err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return ValueError(err)
		}
		if err := f(r); err != nil {
			return err
		}
	}
	if err := r.Exit(); err != nil {
		return ValueError(err)
	}
	return nil
}

// PutUintList writes a list of unsigned integers.
func PutUintList[T ~uint8 | ~uint16 | ~uint32 | ~uint64](w *tlv.Writer, tag tlv.Tag, vs []T) {
	w.StartArray(tag)
	for _, v := range vs {
		w.PutUint(tlv.AnonymousTag(), uint64(v))
	}
	w.EndContainer()
}

// PutList writes a list of structs.
func PutList[T any, P interface {
	*T
	Encoder
}](w *tlv.Writer, tag tlv.Tag, vs []T) {
	w.StartArray(tag)
	for i := range vs {
		P(&vs[i]).EncodeTLV(w, tlv.AnonymousTag())
	}
	w.EndContainer()
}

// PutNullableUint writes v, or null when !valid.
func PutNullableUint(w *tlv.Writer, tag tlv.Tag, v uint64, valid bool) {
	if !valid {
		w.PutNull(tag)
		return
	}
	w.PutUint(tag, v)
}

// UnsupportedAttribute is the error for an attribute the server does not
// serve.
func UnsupportedAttribute() error { return Status(dm.StatusUnsupportedAttribute) }

// UnsupportedWrite is the error for a write of an attribute that is not
// writable.
func UnsupportedWrite() error { return Status(dm.StatusUnsupportedWrite) }

// UnsupportedCommand is the error for a command the server does not
// accept.
func UnsupportedCommand() error { return Status(dm.StatusUnsupportedCommand) }
