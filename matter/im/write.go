package im

import (
	"context"
	"errors"

	"github.com/mattercam/mattercam/matter/dm"
	"github.com/mattercam/mattercam/matter/tlv"
	"github.com/mattercam/mattercam/matter/transport"
)

// handleWrite serves a Write interaction (Core §8.7): one WriteRequest, or
// a chain of chunks each answered by a WriteResponse until the one without
// MoreChunkedMessages (Core §8.7.3.3). t says whether a TimedRequest came
// first.
func (s *Server) handleWrite(ctx context.Context, e *transport.Exchange, sess SecureSession, payload []byte, t timing) error {
	s.count(func(st *Stats) { st.Writes++ })
	var req WriteRequest
	if err := req.Unmarshal(payload); err != nil {
		return abort(dm.StatusInvalidAction, "%v", err)
	}
	if err := s.checkTimed(t, req.TimedRequest); err != nil {
		return err
	}
	// A timed write is one message (Core §8.7.2.1: "SHALL NOT be
	// chunked").
	if t.timed && req.MoreChunkedMessages {
		return abort(dm.StatusInvalidAction, "chunked timed write")
	}
	wr := &writer{s: s, req: s.request(ctx, e, subjectOf(sess)), node: localNodeID(sess)}
	wr.req.Timed = t.timed
	// Writes are always fabric-filtered (Core §8.7.3.2): a write of a
	// fabric-scoped list touches only the accessing fabric's entries.
	wr.req.FabricFiltered = true
	limit := payloadLimit(s.mgr, sess, 0)
	for {
		if req.MoreChunkedMessages && req.SuppressResponse {
			return abort(dm.StatusInvalidAction, "chunked write with SuppressResponse")
		}
		resp := WriteResponse{WriteResponses: make([]AttributeStatus, len(req.WriteRequests))}
		// Check that the response will fit before writing anything: every
		// status at its largest, with a cluster status.
		for i := range req.WriteRequests {
			resp.WriteResponses[i] = AttributeStatus{Path: responsePath(req.WriteRequests[i].Path),
				Status: Status{Status: dm.StatusFailure, HasClusterStatus: true, ClusterStatus: 0xFF}}
		}
		if b, err := resp.AppendTo(nil); err != nil || len(b) > limit {
			return abort(dm.StatusResourceExhausted, "write response would not fit a message")
		}
		for i := range req.WriteRequests {
			st, err := wr.one(&req.WriteRequests[i])
			if err != nil {
				return err
			}
			resp.WriteResponses[i].Status = st
		}
		if !req.SuppressResponse {
			b, err := resp.AppendTo(nil)
			if err != nil {
				return err
			}
			if err := e.Send(ctx, uint8(OpWriteResponse), b); err != nil {
				return err
			}
		}
		if !req.MoreChunkedMessages {
			return nil
		}
		m, err := receive(ctx, e, s.cfg.ResponseTimeout)
		if err != nil {
			return err
		}
		if Opcode(m.Opcode) != OpWriteRequest {
			return abort(dm.StatusInvalidAction, "%v in a chunked write", Opcode(m.Opcode))
		}
		if err := req.Unmarshal(m.Payload); err != nil {
			return abort(dm.StatusInvalidAction, "%v", err)
		}
		if req.TimedRequest != t.timed {
			return abort(dm.StatusTimedRequestMismatch, "TimedRequest flag changed within a chunked write")
		}
	}
}

// responsePath is the path a WriteResponse echoes: the request's concrete
// path and list operation.
func responsePath(p AttributePath) AttributePath {
	return AttributePath{Endpoint: p.Endpoint, Cluster: p.Cluster, Attribute: p.Attribute, Wildcard: p.Wildcard,
		Node: p.Node, HasNode: p.HasNode, List: p.List, ListIndex: p.ListIndex}
}

// writer applies the writes of one Write interaction.
type writer struct {
	s    *Server
	req  dm.Request
	node uint64
	// last is the list attribute whose replacement succeeded last in this
	// interaction: appends (ListIndex null) are accepted only to it, so a
	// client cannot append to a list it did not just replace
	// (Core §8.7.3.3); other appends get BUSY.
	last    dm.Path
	hasLast bool
}

// one applies one AttributeDataIB (Core §8.7.3.2 "Incoming Write Request
// Action") and returns its status. Paths the spec does not allow in a
// unicast write (wildcards, ListIndex values) fail the whole request with
// INVALID_ACTION.
func (wr *writer) one(d *AttributeData) (Status, error) {
	p := d.Path
	if p.Wildcard != 0 {
		return Status{}, abort(dm.StatusInvalidAction, "wildcard write path %v", p)
	}
	if p.List == ListItem {
		return Status{}, abort(dm.StatusInvalidAction, "ListIndex %d in write path", p.ListIndex)
	}
	st := func(s dm.Status) (Status, error) { return Status{Status: s}, nil }
	if p.HasNode && wr.node != 0 && p.Node != wr.node {
		return st(dm.StatusUnsupportedNode)
	}
	access := wr.s.cfg.Access
	subj := wr.req.Subject
	if !access.Check(subj, p.Endpoint, p.Cluster, dm.PrivilegeView) {
		return st(dm.StatusUnsupportedAccess)
	}
	e := wr.s.node.Endpoint(p.Endpoint)
	if e == nil {
		return st(dm.StatusUnsupportedEndpoint)
	}
	c := e.Cluster(p.Cluster)
	if c == nil {
		return st(dm.StatusUnsupportedCluster)
	}
	m := c.Meta().LookupAttribute(p.Attribute)
	if m == nil {
		return st(dm.StatusUnsupportedAttribute)
	}
	if m.Write == dm.PrivilegeNone {
		return st(dm.StatusUnsupportedWrite)
	}
	if !access.Check(subj, p.Endpoint, p.Cluster, m.Write) {
		return st(dm.StatusUnsupportedAccess)
	}
	if m.Quality&dm.QualityTimed != 0 && !wr.req.Timed {
		return st(dm.StatusNeedsTimedInteraction)
	}
	if m.Quality&dm.QualityFabricScoped != 0 && subj.FabricIndex == 0 {
		return st(dm.StatusUnsupportedAccess)
	}
	if d.HasDataVersion && d.DataVersion != c.DataVersion() {
		return st(dm.StatusDataVersionMismatch)
	}
	key := dm.Path{Endpoint: p.Endpoint, Cluster: p.Cluster, ID: p.Attribute}
	item := p.List == ListAppend
	if item {
		if !m.List {
			return st(dm.StatusInvalidAction)
		}
		if !wr.hasLast || wr.last != key {
			return st(dm.StatusBusy)
		}
	}
	r := tlv.NewReader(d.Data)
	if err := r.Next(); err != nil {
		return st(dm.StatusInvalidDataType)
	}
	req := wr.req
	req.Endpoint = p.Endpoint
	err := c.WriteAttribute(&req, p.Attribute, r, item)
	status := writeStatus(err)
	if !item && m.List {
		wr.last, wr.hasLast = key, status.Status == dm.StatusSuccess
	}
	if err != nil {
		wr.s.log.Debug("attribute write failed", "path", p, "err", err)
	}
	return status, nil
}

// writeStatus maps a write handler's error: a TLV decoding error means the
// value had the wrong type or shape (INVALID_DATA_TYPE), or was out of range
// (CONSTRAINT_ERROR).
func writeStatus(err error) Status {
	var se *dm.StatusError
	switch {
	case err == nil || errors.As(err, &se):
		return StatusOf(err)
	case errors.Is(err, tlv.ErrRange):
		return Status{Status: dm.StatusConstraintError}
	case isTLVError(err):
		return Status{Status: dm.StatusInvalidDataType}
	}
	return StatusOf(err)
}

func isTLVError(err error) bool {
	return errors.Is(err, tlv.ErrType) || errors.Is(err, tlv.ErrRange) || errors.Is(err, tlv.ErrInvalid) ||
		errors.Is(err, tlv.ErrTruncated) || errors.Is(err, tlv.ErrDepth)
}
