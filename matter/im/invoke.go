package im

import (
	"context"
	"errors"

	"github.com/mattercam/mattercam/matter/dm"
	"github.com/mattercam/mattercam/matter/tlv"
	"github.com/mattercam/mattercam/matter/transport"
)

// invokeOverhead bounds what an InvokeResponseMessage adds to its
// InvokeResponseIBs: the structure (2), SuppressResponse (2), the array
// (3), MoreChunkedMessages (2) and InteractionModelRevision (3).
const invokeOverhead = 2 + 2 + 3 + 2 + 3

// handleInvoke serves an Invoke interaction (Core §8.8): every command of
// the request is checked and run in order, and the responses go out in one
// InvokeResponse or, when they do not fit, in chunks with
// MoreChunkedMessages, each acknowledged by the client's StatusResponse
// (Core §8.8.3.3).
func (s *Server) handleInvoke(ctx context.Context, e *transport.Exchange, sess SecureSession, payload []byte, t timing) error {
	s.count(func(st *Stats) { st.Invokes++ })
	var req InvokeRequest
	if err := req.Unmarshal(payload); err != nil {
		return abort(dm.StatusInvalidAction, "%v", err)
	}
	if err := s.checkTimed(t, req.TimedRequest); err != nil {
		return err
	}
	if err := s.checkInvokePaths(req.InvokeRequests); err != nil {
		return err
	}
	base := s.request(ctx, e, subjectOf(sess))
	base.Timed = t.timed
	limit := payloadLimit(s.mgr, sess, s.cfg.MaxReportSize)
	b := invokeBuilder{capacity: limit - invokeOverhead}
	b.emit = func(more bool) error {
		if req.SuppressResponse {
			return nil
		}
		msg, err := b.encode(more)
		if err != nil {
			return err
		}
		if err := e.Send(ctx, uint8(OpInvokeResponse), msg); err != nil {
			return err
		}
		if more {
			return awaitStatus(ctx, e, s.cfg.ResponseTimeout)
		}
		return nil
	}
	var w tlv.Writer
	for i := range req.InvokeRequests {
		res := s.invokeOne(base, &req.InvokeRequests[i])
		w.Reset()
		res.encode(&w, anon)
		ib, err := w.Bytes()
		if err == nil && len(ib) > b.capacity {
			s.log.Debug("command response larger than a message", "path", res.Path, "size", len(ib))
			err = errTooLarge
		}
		if err != nil {
			res = InvokeResult{IsStatus: true, Path: req.InvokeRequests[i].Path, Ref: res.Ref, HasRef: res.HasRef,
				Status: Status{Status: dm.StatusResourceExhausted}}
			w.Reset()
			res.encode(&w, anon)
			if ib, err = w.Bytes(); err != nil {
				return err
			}
		}
		if err := b.add(ib); err != nil {
			return err
		}
	}
	return b.emit(false)
}

// checkInvokePaths applies the request-level rules of Core §8.8.3.1: at
// least one command and at most MaxPathsPerInvoke; in a batch, every
// command has a CommandRef, and refs and paths are unique; a unicast invoke
// names its endpoint. Violations are INVALID_ACTION.
func (s *Server) checkInvokePaths(cmds []CommandData) error {
	n := len(cmds)
	if n == 0 {
		return abort(dm.StatusInvalidAction, "no commands")
	}
	if n > s.cfg.MaxPathsPerInvoke {
		return abort(dm.StatusInvalidAction, "%d commands, MaxPathsPerInvoke %d", n, s.cfg.MaxPathsPerInvoke)
	}
	for i := range cmds {
		c := &cmds[i]
		if c.Path.WildEndpoint {
			return abort(dm.StatusInvalidAction, "wildcard endpoint in unicast invoke")
		}
		if n == 1 {
			continue
		}
		if !c.HasRef {
			return abort(dm.StatusInvalidAction, "batched command without CommandRef")
		}
		for j := range i {
			if cmds[j].Ref == c.Ref {
				return abort(dm.StatusInvalidAction, "duplicate CommandRef %d", c.Ref)
			}
			if cmds[j].Path == c.Path {
				return abort(dm.StatusInvalidAction, "duplicate command path %v", c.Path)
			}
		}
	}
	return nil
}

// invokeOne checks and runs one command (Core §8.8.3.2 "Incoming Invoke
// Request Action") and returns its response or status.
func (s *Server) invokeOne(base dm.Request, cd *CommandData) InvokeResult {
	p := cd.Path
	res := InvokeResult{IsStatus: true, Path: p, Ref: cd.Ref, HasRef: cd.HasRef}
	fail := func(st dm.Status) InvokeResult {
		res.Status = Status{Status: st}
		return res
	}
	access := s.cfg.Access
	subj := base.Subject
	// Operate is what every command needs at least; checking it before
	// existence keeps a subject without access from probing the node.
	if !access.Check(subj, p.Endpoint, p.Cluster, dm.PrivilegeOperate) {
		return fail(dm.StatusUnsupportedAccess)
	}
	e := s.node.Endpoint(p.Endpoint)
	if e == nil {
		return fail(dm.StatusUnsupportedEndpoint)
	}
	c := e.Cluster(p.Cluster)
	if c == nil {
		return fail(dm.StatusUnsupportedCluster)
	}
	m := c.Meta().Command(p.Command)
	if m == nil {
		return fail(dm.StatusUnsupportedCommand)
	}
	if !access.Check(subj, p.Endpoint, p.Cluster, max(m.Invoke, dm.PrivilegeOperate)) {
		return fail(dm.StatusUnsupportedAccess)
	}
	// Large Message quality: only over a transport that carries large
	// messages (Core §7.7 quality L, §4.4.4); matter.js answers
	// INVALID_TRANSPORT_TYPE on UDP.
	if m.Quality&dm.QualityLargeMessage != 0 && !base.LargeMessage {
		return fail(dm.StatusInvalidTransportType)
	}
	if m.Quality&dm.QualityFabricScoped != 0 && subj.FabricIndex == 0 {
		return fail(dm.StatusUnsupportedAccess)
	}
	if m.Quality&dm.QualityTimed != 0 && !base.Timed {
		return fail(dm.StatusNeedsTimedInteraction)
	}
	var r *tlv.Reader
	if cd.Fields != nil {
		r = tlv.NewReader(cd.Fields)
		if err := r.Next(); err != nil || r.Type() != tlv.TypeStructure {
			return fail(dm.StatusInvalidCommand)
		}
	}
	req := base
	req.Endpoint = p.Endpoint
	var resp dm.CommandResponse
	err := c.Invoke(&req, p.Command, r, &resp)
	if err != nil {
		s.log.Debug("command failed", "path", p, "err", err)
		res.Status = invokeStatus(err)
		return res
	}
	if resp.Fields == nil {
		res.Status = Success
		return res
	}
	if oneElement(resp.Fields) != nil {
		s.log.Debug("command handler returned malformed response fields", "path", p)
		return fail(dm.StatusFailure)
	}
	return InvokeResult{Path: CmdPath(p.Endpoint, p.Cluster, resp.ID), Fields: resp.Fields, Ref: cd.Ref, HasRef: cd.HasRef}
}

// invokeStatus maps a command handler's error: a TLV decoding error means
// the fields did not decode (INVALID_COMMAND, Core §8.8.3.2).
func invokeStatus(err error) Status {
	var se *dm.StatusError
	if !errors.As(err, &se) && isTLVError(err) {
		return Status{Status: dm.StatusInvalidCommand}
	}
	return StatusOf(err)
}

// invokeBuilder packs InvokeResponseIBs into InvokeResponse messages.
type invokeBuilder struct {
	capacity int
	emit     func(more bool) error
	buf      []byte
	ends     []int
	msg      tlv.Writer
}

func (b *invokeBuilder) add(ib []byte) error {
	if len(b.buf)+len(ib) > b.capacity && len(b.ends) > 0 {
		if err := b.emit(true); err != nil {
			return err
		}
		b.buf, b.ends = b.buf[:0], b.ends[:0]
	}
	b.buf = append(b.buf, ib...)
	b.ends = append(b.ends, len(b.buf))
	return nil
}

func (b *invokeBuilder) encode(more bool) ([]byte, error) {
	w := &b.msg
	w.Reset()
	w.StartStructure(anon)
	putBool(w, 0, false)
	w.StartArray(ctx(1))
	start := 0
	for _, end := range b.ends {
		w.PutRaw(anon, b.buf[start:end])
		start = end
	}
	w.EndContainer()
	if more {
		putBool(w, 2, true)
	}
	endMessage(w)
	return w.Bytes()
}
