package im

import (
	"context"
	"errors"
	"io"

	"github.com/mattercam/mattercam/matter/dm"
	"github.com/mattercam/mattercam/matter/tlv"
	"github.com/mattercam/mattercam/matter/transport"
)

// handleRead serves a Read interaction (Core §8.4): the reports go out in
// as many ReportData messages as they need; each but the last carries
// MoreChunkedMessages and waits for the client's StatusResponse, and the
// last carries SuppressResponse (Core §8.4.3.3).
func (s *Server) handleRead(ctx context.Context, e *transport.Exchange, sess SecureSession, payload []byte) error {
	s.count(func(st *Stats) { st.Reads++ })
	var req ReadRequest
	if err := req.Unmarshal(payload); err != nil {
		return abort(dm.StatusInvalidAction, "%v", err)
	}
	if err := s.checkPaths(req.AttributeRequests, req.EventRequests); err != nil {
		return err
	}
	rd := s.newReader(ctx, e, sess, req.FabricFiltered)
	rd.dvf = req.DataVersionFilters[:min(len(req.DataVersionFilters), s.cfg.MaxDataVersionFilters)]
	rd.eventStatuses = true
	b := &reportBuilder{limit: payloadLimit(s.mgr, sess, s.cfg.MaxReportSize)}
	b.emit = func(more bool) error {
		msg, err := b.encode(more, !more)
		if err != nil {
			return err
		}
		if err := e.Send(ctx, uint8(OpReportData), msg); err != nil {
			return err
		}
		s.count(func(st *Stats) { st.ReportsSent++ })
		if more {
			return awaitStatus(ctx, e, s.cfg.ResponseTimeout)
		}
		return nil
	}
	rd.b = b
	from := eventMin(req.EventFilters, rd.node)
	if err := rd.run(req.AttributeRequests, req.EventRequests, from, s.eventsNext()); err != nil {
		return err
	}
	return b.emit(false)
}

// checkPaths applies the request-level rules to the paths of a read or
// subscription: at least one path (Core §8.4.3.1), no more than the
// configured number (PATHS_EXHAUSTED), and only path shapes the spec
// allows: no ListIndex, and a wildcard cluster only with a wildcard or
// global attribute, or a wildcard event (Core §8.9.2.2).
func (s *Server) checkPaths(attrs []AttributePath, events []EventPath) error {
	if len(attrs) == 0 && len(events) == 0 {
		return abort(dm.StatusInvalidAction, "no paths")
	}
	if len(attrs) > s.cfg.MaxAttributePaths || len(events) > s.cfg.MaxEventPaths {
		return abort(dm.StatusPathsExhausted, "%d attribute and %d event paths", len(attrs), len(events))
	}
	for _, p := range attrs {
		if p.List != ListWhole {
			return abort(dm.StatusInvalidAction, "ListIndex in read path %v", p)
		}
		if p.Wildcard&WildCluster != 0 && p.Wildcard&WildAttribute == 0 && !dm.IsGlobalAttributeID(p.Attribute) {
			return abort(dm.StatusInvalidAction, "wildcard cluster with non-global attribute in %v", p)
		}
	}
	for _, p := range events {
		if p.Wildcard&WildCluster != 0 && p.Wildcard&WildEvent == 0 {
			return abort(dm.StatusInvalidAction, "wildcard cluster with concrete event in %v", p)
		}
	}
	return nil
}

func (s *Server) eventsNext() uint64 {
	if s.cfg.Events == nil {
		return 0
	}
	return s.cfg.Events.Next()
}

// eventMin returns the smallest event number wanted: the EventMin of the
// filter for this node, or of one that names no node (Core §10.6.6).
func eventMin(filters []EventFilter, node uint64) uint64 {
	for _, f := range filters {
		if !f.HasNode || node == 0 || f.Node == node {
			return f.EventMin
		}
	}
	return 0
}

// reader produces the attribute and event reports of one read, priming
// report or subscription report into a reportBuilder.
type reader struct {
	s    *Server
	req  dm.Request
	node uint64 // this node's ID on the session, 0 if unknown
	b    *reportBuilder
	// dvf are the DataVersionFilters in force (reads and priming reports).
	dvf []DataVersionFilter
	// dirty, if set, restricts attributes to those that changed
	// (subscription reports after priming).
	dirty func(ep uint16, cluster, attr uint32) bool
	// eventStatuses reports errors of concrete event paths (not repeated
	// in every subscription report).
	eventStatuses bool

	valueW, ibW tlv.Writer
	items       [][]byte
}

func (s *Server) newReader(ctx context.Context, e *transport.Exchange, sess SecureSession, fabricFiltered bool) *reader {
	req := s.request(ctx, e, subjectOf(sess))
	req.FabricFiltered = fabricFiltered
	return &reader{s: s, req: req, node: localNodeID(sess)}
}

// run produces the reports of attrs, then the events numbered in
// [from, to) that match events.
func (rd *reader) run(attrs []AttributePath, events []EventPath, from, to uint64) error {
	for _, p := range attrs {
		if err := rd.attrPath(p); err != nil {
			return err
		}
	}
	if len(events) > 0 {
		return rd.events(events, from, to)
	}
	return nil
}

func (rd *reader) check(ep uint16, cluster uint32, need dm.Privilege) bool {
	return rd.s.cfg.Access.Check(rd.req.Subject, ep, cluster, need)
}

// attrPath reports one requested attribute path (Core §8.4.3.2 "Incoming
// Read Request Action"): a concrete path yields its value or an error
// status; a wildcard path yields the values of everything it matches that
// the subject may read, and no errors.
func (rd *reader) attrPath(p AttributePath) error {
	if p.HasNode && rd.node != 0 && p.Node != rd.node {
		if p.Concrete() {
			return rd.attrStatus(AttrPath(p.Endpoint, p.Cluster, p.Attribute), dm.StatusUnsupportedNode)
		}
		return nil
	}
	if p.Concrete() {
		return rd.concreteAttr(p.Endpoint, p.Cluster, p.Attribute)
	}
	return rd.wildcardAttr(p)
}

func (rd *reader) concreteAttr(ep uint16, cluster, attr uint32) error {
	if rd.dirty != nil && !rd.dirty(ep, cluster, attr) {
		return nil
	}
	path := AttrPath(ep, cluster, attr)
	// The View check comes before existence, so that a subject without
	// access cannot learn what the node has (Core §8.4.3.2).
	if !rd.check(ep, cluster, dm.PrivilegeView) {
		return rd.attrStatus(path, dm.StatusUnsupportedAccess)
	}
	e := rd.s.node.Endpoint(ep)
	if e == nil {
		return rd.attrStatus(path, dm.StatusUnsupportedEndpoint)
	}
	c := e.Cluster(cluster)
	if c == nil {
		return rd.attrStatus(path, dm.StatusUnsupportedCluster)
	}
	m := c.Meta().LookupAttribute(attr)
	if m == nil {
		return rd.attrStatus(path, dm.StatusUnsupportedAttribute)
	}
	if m.Read == dm.PrivilegeNone {
		return rd.attrStatus(path, dm.StatusUnsupportedRead)
	}
	if !rd.check(ep, cluster, m.Read) {
		return rd.attrStatus(path, dm.StatusUnsupportedAccess)
	}
	if rd.filtered(ep, cluster, c.DataVersion()) {
		return nil
	}
	return rd.attrData(ep, c, m, true)
}

// Diagnostics clusters skipped by SkipDiagnosticsClusters: General,
// Software, Thread, Wi-Fi and Ethernet Network Diagnostics.
func isDiagnosticsCluster(id uint32) bool { return id >= 0x0033 && id <= 0x0037 }

// isCustom reports a manufacturer-specific ID: one with a non-zero vendor
// prefix in its upper 16 bits (Core §7.19.2 "Manufacturer Extensible
// Identifier").
func isCustom(id uint32) bool { return id>>16 != 0 }

func (rd *reader) wildcardAttr(p AttributePath) error {
	flags := p.WildcardFlags
	var eps []uint16
	if p.Wildcard&WildEndpoint != 0 {
		eps = rd.s.node.EndpointIDs()
	} else {
		eps = []uint16{p.Endpoint}
	}
	for _, ep := range eps {
		if ep == 0 && flags&SkipRootNode != 0 && p.Wildcard&WildEndpoint != 0 {
			continue
		}
		e := rd.s.node.Endpoint(ep)
		if e == nil {
			continue
		}
		var clusters []uint32
		if p.Wildcard&WildCluster != 0 {
			clusters = e.ClusterIDs()
		} else {
			clusters = []uint32{p.Cluster}
		}
		for _, cid := range clusters {
			c := e.Cluster(cid)
			if c == nil {
				continue
			}
			if p.Wildcard&WildCluster != 0 &&
				(flags&SkipDiagnosticsClusters != 0 && isDiagnosticsCluster(cid) || flags&SkipCustomElements != 0 && isCustom(cid)) {
				continue
			}
			if !rd.check(ep, cid, dm.PrivilegeView) {
				continue
			}
			if rd.filtered(ep, cid, c.DataVersion()) {
				continue
			}
			meta := c.Meta()
			var attrs []uint32
			if p.Wildcard&WildAttribute != 0 {
				attrs = meta.AttributeIDs()
			} else {
				attrs = []uint32{p.Attribute}
			}
			for _, id := range attrs {
				m := meta.LookupAttribute(id)
				if m == nil || m.Read == dm.PrivilegeNone || skipAttr(p, flags, m) {
					continue
				}
				if rd.dirty != nil && !rd.dirty(ep, cid, id) {
					continue
				}
				if !rd.check(ep, cid, m.Read) {
					continue
				}
				if err := rd.attrData(ep, c, m, false); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// skipAttr applies the WildcardPathFlags to an attribute of a wildcard
// expansion.
func skipAttr(p AttributePath, flags WildcardFlags, m *dm.AttributeMeta) bool {
	if flags == 0 || p.Wildcard&WildAttribute == 0 {
		return false
	}
	switch {
	case flags&SkipGlobalAttributes != 0 && dm.IsGlobalAttributeID(m.ID),
		flags&SkipAttributeList != 0 && m.ID == dm.AttrAttributeList,
		flags&SkipCommandLists != 0 && (m.ID == dm.AttrAcceptedCommandList || m.ID == dm.AttrGeneratedCommandList),
		flags&SkipCustomElements != 0 && isCustom(m.ID),
		flags&SkipFixedAttributes != 0 && m.Quality&dm.QualityFixed != 0,
		flags&SkipChangesOmittedAttributes != 0 && m.Quality&dm.QualityChangesOmitted != 0:
		return true
	}
	return false
}

// filtered reports whether a DataVersionFilter says the client already has
// this version of the cluster (Core §8.4.3.2).
func (rd *reader) filtered(ep uint16, cluster, version uint32) bool {
	for _, f := range rd.dvf {
		if f.Path.Endpoint == ep && f.Path.Cluster == cluster {
			return f.DataVersion == version
		}
	}
	return false
}

// readValue encodes attribute m of c, with an anonymous tag, into
// rd.valueW: global attributes from the metadata unless the cluster lists
// them itself, everything else from the handler.
func (rd *reader) readValue(ep uint16, c dm.Cluster, m *dm.AttributeMeta) ([]byte, error) {
	rd.valueW.Reset()
	req := rd.req
	req.Endpoint = ep
	var err error
	if dm.GlobalAttribute(m.ID) != nil && c.Meta().Attribute(m.ID) == nil {
		err = dm.ReadGlobalAttribute(c, m.ID, &rd.valueW, anon)
	} else {
		err = c.ReadAttribute(&req, m.ID, &rd.valueW, anon)
	}
	if err != nil {
		return nil, err
	}
	v, err := rd.valueW.Bytes()
	if err != nil {
		return nil, err
	}
	if err := oneElement(v); err != nil {
		return nil, err
	}
	return v, nil
}

// attrData reports the value of one attribute. A handler error becomes a
// status, except that a wildcard expansion silently skips the statuses
// that mean "not for you" (Core §8.4.3.2). A list too large for one message
// is chunked; any other value too large is reported as RESOURCE_EXHAUSTED.
func (rd *reader) attrData(ep uint16, c dm.Cluster, m *dm.AttributeMeta, concrete bool) error {
	path := AttrPath(ep, c.Meta().ID, m.ID)
	// The version is taken before the value: a change in between leaves
	// the client with an older version than its value, so it reads again,
	// never the reverse.
	version := c.DataVersion()
	value, err := rd.readValue(ep, c, m)
	if err != nil {
		st := StatusOf(err)
		switch st.Status {
		case dm.StatusUnsupportedAccess, dm.StatusUnsupportedRead, dm.StatusUnsupportedAttribute:
			if !concrete {
				return nil
			}
		}
		if st.Status == dm.StatusSuccess {
			st.Status = dm.StatusFailure
		}
		rd.s.log.Debug("attribute read failed", "path", path, "err", err)
		return rd.attrStatusIB(path, st)
	}
	ib, err := rd.encodeAttrData(path, version, value)
	if err != nil {
		return rd.attrStatus(path, dm.StatusFailure)
	}
	err = rd.b.addAttr(ib)
	if errors.Is(err, errTooLarge) {
		if m.List {
			return rd.chunkList(path, version, value)
		}
		rd.s.log.Debug("attribute value larger than a message", "path", path, "size", len(value))
		return rd.attrStatus(path, dm.StatusResourceExhausted)
	}
	return err
}

// encodeAttrData encodes an AttributeReportIB holding an AttributeDataIB
// into rd.ibW.
func (rd *reader) encodeAttrData(path AttributePath, version uint32, value []byte) ([]byte, error) {
	w := &rd.ibW
	w.Reset()
	w.StartStructure(anon)
	w.StartStructure(ctx(1))
	w.PutUint(ctx(0), uint64(version))
	path.encode(w, ctx(1))
	w.PutRaw(ctx(2), value)
	w.EndContainer()
	w.EndContainer()
	return w.Bytes()
}

// attrStatus reports an AttributeStatusIB.
func (rd *reader) attrStatus(path AttributePath, status dm.Status) error {
	return rd.attrStatusIB(path, Status{Status: status})
}

func (rd *reader) attrStatusIB(path AttributePath, st Status) error {
	a := AttributeReport{IsStatus: true, Status: AttributeStatus{Path: path, Status: st}}
	w := &rd.ibW
	w.Reset()
	a.encode(w, anon)
	ib, err := w.Bytes()
	if err != nil {
		return err
	}
	return rd.b.addAttr(ib)
}

// TLV encodings of an empty anonymous array and an anonymous null.
var (
	emptyArray = []byte{0x16, 0x18}
	tlvNull    = []byte{0x14}
)

// chunkList reports a list attribute too large for one message as the spec
// asks (Core §8.4.3.3, "list chunking"): a first AttributeDataIB that
// replaces the list with as many leading items as fit in the current
// message (possibly none), then one AttributeDataIB per remaining item with
// ListIndex null, appending it. The client reassembles the list. Every
// piece is checked to fit a message before anything is added.
func (rd *reader) chunkList(path AttributePath, version uint32, value []byte) error {
	r := tlv.NewReader(value)
	if err := r.Next(); err != nil || r.Type() != tlv.TypeArray {
		return rd.attrStatus(path, dm.StatusFailure)
	}
	if err := r.Enter(); err != nil {
		return rd.attrStatus(path, dm.StatusFailure)
	}
	rd.items = rd.items[:0]
	for {
		err := r.Next()
		if err == io.EOF {
			break
		}
		var it []byte
		if err == nil {
			it, err = r.Raw()
		}
		if err != nil {
			return rd.attrStatus(path, dm.StatusFailure)
		}
		rd.items = append(rd.items, it)
	}
	appendPath := path
	appendPath.List = ListAppend
	ib, err := rd.encodeAttrData(appendPath, version, tlvNull)
	if err != nil {
		return rd.attrStatus(path, dm.StatusFailure)
	}
	appendBase := len(ib) - len(tlvNull)
	for _, it := range rd.items {
		if appendBase+len(it) > rd.b.capacity() {
			rd.s.log.Debug("list item larger than a message", "path", path, "size", len(it))
			return rd.attrStatus(path, dm.StatusResourceExhausted)
		}
	}
	ib, err = rd.encodeAttrData(path, version, emptyArray)
	if err != nil {
		return rd.attrStatus(path, dm.StatusFailure)
	}
	if err := rd.b.makeRoom(len(ib)); err != nil {
		return err
	}
	size, k := len(ib), 0
	for k < len(rd.items) && size+len(rd.items[k]) <= rd.b.free() {
		size += len(rd.items[k])
		k++
	}
	w := &rd.ibW
	w.Reset()
	w.StartStructure(anon)
	w.StartStructure(ctx(1))
	w.PutUint(ctx(0), uint64(version))
	path.encode(w, ctx(1))
	w.StartArray(ctx(2))
	for _, it := range rd.items[:k] {
		w.PutRaw(anon, it)
	}
	w.EndContainer()
	w.EndContainer()
	w.EndContainer()
	first, err := w.Bytes()
	if err != nil {
		return err
	}
	if err := rd.b.addAttr(first); err != nil {
		return err
	}
	for _, it := range rd.items[k:] {
		ib, err := rd.encodeAttrData(appendPath, version, it)
		if err != nil {
			return err
		}
		if err := rd.b.addAttr(ib); err != nil {
			return err
		}
	}
	return nil
}

// events reports the statuses of concrete event paths that cannot be read
// (reads and priming reports only), then every event numbered in
// [from, to) that matches a path and that the subject may see.
func (rd *reader) events(paths []EventPath, from, to uint64) error {
	if rd.eventStatuses {
		for _, p := range paths {
			if p.Wildcard != 0 {
				continue
			}
			if st := rd.eventPathStatus(p); st != dm.StatusSuccess {
				if err := rd.eventStatus(EvPath(p.Endpoint, p.Cluster, p.Event), st); err != nil {
					return err
				}
			}
		}
	}
	log := rd.s.cfg.Events
	if log == nil || from >= to {
		return nil
	}
	var err error
	log.Read(from, to, func(ev *dm.Event) bool {
		if !matchEvent(paths, ev, rd.node) || !rd.eventAllowed(ev) {
			return true
		}
		rep := EventReport{
			Path:     EvPath(ev.Path.Endpoint, ev.Path.Cluster, ev.Path.ID),
			Number:   ev.Number,
			Priority: ev.Priority,
			Data:     ev.Payload,
		}
		rep.TimestampKind, rep.Timestamp = SystemTime, ev.Millis
		if ev.Epoch {
			rep.TimestampKind = EpochTimestamp
		}
		w := &rd.ibW
		w.Reset()
		rep.encode(w, anon)
		var ib []byte
		if ib, err = w.Bytes(); err != nil {
			return false
		}
		err = rd.b.addEvent(ib)
		if errors.Is(err, errTooLarge) {
			rd.s.log.Debug("event larger than a message dropped", "event", ev.Number, "size", len(ib))
			err = nil
		}
		return err == nil
	})
	return err
}

// eventPathStatus checks a concrete event path as a concrete attribute
// path is checked (Core §8.4.3.2).
func (rd *reader) eventPathStatus(p EventPath) dm.Status {
	if p.HasNode && rd.node != 0 && p.Node != rd.node {
		return dm.StatusUnsupportedNode
	}
	if !rd.check(p.Endpoint, p.Cluster, dm.PrivilegeView) {
		return dm.StatusUnsupportedAccess
	}
	e := rd.s.node.Endpoint(p.Endpoint)
	if e == nil {
		return dm.StatusUnsupportedEndpoint
	}
	c := e.Cluster(p.Cluster)
	if c == nil {
		return dm.StatusUnsupportedCluster
	}
	m := c.Meta().Event(p.Event)
	if m == nil {
		return dm.StatusUnsupportedEvent
	}
	if !rd.check(p.Endpoint, p.Cluster, max(m.Read, dm.PrivilegeView)) {
		return dm.StatusUnsupportedAccess
	}
	return dm.StatusSuccess
}

func (rd *reader) eventStatus(path EventPath, st dm.Status) error {
	rep := EventReport{Path: path, IsStatus: true, Status: Status{Status: st}}
	w := &rd.ibW
	w.Reset()
	rep.encode(w, anon)
	ib, err := w.Bytes()
	if err != nil {
		return err
	}
	return rd.b.addEvent(ib)
}

// matchEvent reports whether an event matches one of the paths.
func matchEvent(paths []EventPath, ev *dm.Event, node uint64) bool {
	for _, p := range paths {
		if eventPathMatches(p, ev, node) {
			return true
		}
	}
	return false
}

func eventPathMatches(p EventPath, ev *dm.Event, node uint64) bool {
	return (!p.HasNode || node == 0 || p.Node == node) &&
		(p.Wildcard&WildEndpoint != 0 || p.Endpoint == ev.Path.Endpoint) &&
		(p.Wildcard&WildCluster != 0 || p.Cluster == ev.Path.Cluster) &&
		(p.Wildcard&WildEvent != 0 || p.Event == ev.Path.ID)
}

// eventAllowed reports whether the subject may see an event: it needs the
// event's read privilege on the cluster, which must still exist, and a
// fabric-sensitive event goes only to its own fabric (Core §7.14.3,
// §8.4.3.2).
func (rd *reader) eventAllowed(ev *dm.Event) bool {
	if ev.FabricIndex != 0 && ev.FabricIndex != rd.req.Subject.FabricIndex {
		return false
	}
	e := rd.s.node.Endpoint(ev.Path.Endpoint)
	if e == nil {
		return false
	}
	c := e.Cluster(ev.Path.Cluster)
	if c == nil {
		return false
	}
	need := dm.PrivilegeView
	if m := c.Meta().Event(ev.Path.ID); m != nil {
		need = max(m.Read, dm.PrivilegeView)
	}
	return rd.check(ev.Path.Endpoint, ev.Path.Cluster, need)
}

// oneElement checks that b holds exactly one TLV element.
func oneElement(b []byte) error {
	r := tlv.NewReader(b)
	if err := r.Next(); err != nil {
		if err == io.EOF {
			return errors.New("im: handler wrote no value")
		}
		return err
	}
	if err := r.Skip(); err != nil {
		return err
	}
	if err := r.Next(); err != io.EOF {
		if err == nil {
			return errors.New("im: handler wrote more than one value")
		}
		return err
	}
	return nil
}
