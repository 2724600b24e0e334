package im

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/mattercam/mattercam/matter/dm"
	"github.com/mattercam/mattercam/matter/session"
	"github.com/mattercam/mattercam/matter/tlv"
	"github.com/mattercam/mattercam/matter/transport"
)

// Client defaults.
const (
	DefaultMaxReportChunks   = 1024
	DefaultMaxReportItems    = 1 << 16
	DefaultSubscriptionSlack = 10 * time.Second
)

// Client errors.
var (
	// ErrSubscriptionLost reports a subscription whose publisher sent
	// nothing for MaxInterval plus the slack (Core §8.5.3: the subscriber
	// then considers the subscription terminated).
	ErrSubscriptionLost = errors.New("im: subscription lost: no report within MaxInterval")
	// ErrClosed reports use of a closed Client or Subscription.
	ErrClosed = errors.New("im: closed")
	// ErrTooLarge reports a request that cannot be split to fit a message.
	ErrTooLarge = errors.New("im: request too large for a message")
	// ErrTooManyPaths reports more commands than the peer's
	// MAX_PATHS_PER_INVOKE.
	ErrTooManyPaths = errors.New("im: more commands than the peer accepts")
)

// ClientConfig configures a Client.
type ClientConfig struct {
	// Manager is the exchange layer. Required.
	Manager *transport.Manager
	// RegisterHandler makes the Client the node's handler of unsolicited
	// Interaction Model messages, so that it receives subscription
	// reports. Set it on a node without a Server; with a Server, pass the
	// Client as Config.Client instead.
	RegisterHandler bool
	// ResponseTimeout bounds each wait for the peer's next message; zero
	// means DefaultResponseTimeout.
	ResponseTimeout time.Duration
	// MaxReportChunks and MaxReportItems bound what one report may make
	// the client hold: messages, and attribute plus event reports. Zero
	// means the defaults.
	MaxReportChunks int
	MaxReportItems  int
	// SubscriptionSlack is added to a subscription's MaxInterval before a
	// silent publisher is given up; zero means DefaultSubscriptionSlack.
	SubscriptionSlack time.Duration
	// MaxMessageSize caps the IM payload of a request below what the
	// transport allows, forcing chunked writes earlier; zero means none.
	MaxMessageSize int
	// Logger receives diagnostics; nil means slog.Default.
	Logger *slog.Logger
}

// Client is a minimal Interaction Model client: Read, Write, Invoke and
// Subscribe over an existing secure session. It is safe for concurrent
// use.
type Client struct {
	cfg ClientConfig
	log *slog.Logger
	mgr *transport.Manager

	mu     sync.Mutex
	closed bool
	subs   map[subKey]*Subscription
}

type subKey struct {
	s  transport.Session
	id uint32
}

// NewClient returns a Client.
func NewClient(cfg ClientConfig) (*Client, error) {
	if cfg.Manager == nil {
		return nil, errors.New("im: client needs a Manager")
	}
	if cfg.ResponseTimeout <= 0 {
		cfg.ResponseTimeout = DefaultResponseTimeout
	}
	if cfg.MaxReportChunks <= 0 {
		cfg.MaxReportChunks = DefaultMaxReportChunks
	}
	if cfg.MaxReportItems <= 0 {
		cfg.MaxReportItems = DefaultMaxReportItems
	}
	if cfg.SubscriptionSlack <= 0 {
		cfg.SubscriptionSlack = DefaultSubscriptionSlack
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	c := &Client{cfg: cfg, log: log.With("component", "matter/im-client"), mgr: cfg.Manager, subs: map[subKey]*Subscription{}}
	if cfg.RegisterHandler {
		cfg.Manager.Handle(Protocol, func(ctx context.Context, e *transport.Exchange, first transport.Message) {
			switch Opcode(first.Opcode) {
			case OpReportData:
				c.handleReport(ctx, e, first)
			case OpStatusResponse:
			default:
				_ = sendStatus(ctx, e, dm.StatusInvalidAction)
			}
		})
	}
	return c, nil
}

// Close ends every subscription and, with RegisterHandler, unregisters
// the client.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	subs := c.subs
	c.subs = map[subKey]*Subscription{}
	c.mu.Unlock()
	if c.cfg.RegisterHandler {
		c.mgr.Handle(Protocol, nil)
	}
	for _, s := range subs {
		s.end(ErrClosed)
	}
	return nil
}

// Report is a complete report: the contents of one ReportData message or
// of a chain of chunks, with lists that were split into list-append chunks
// put back together.
type Report struct {
	SubscriptionID    uint32
	HasSubscriptionID bool
	Attributes        []AttributeReport
	Events            []EventReport
}

// Empty reports whether r carries nothing: a subscription keep-alive.
func (r *Report) Empty() bool { return len(r.Attributes) == 0 && len(r.Events) == 0 }

// Attribute returns the first data report for a concrete path, or nil.
func (r *Report) Attribute(ep uint16, cluster, attr uint32) *AttributeReport {
	for i := range r.Attributes {
		a := &r.Attributes[i]
		if p := a.Path(); p.Endpoint == ep && p.Cluster == cluster && p.Attribute == attr && p.Wildcard == 0 {
			return a
		}
	}
	return nil
}

// assembler collects the chunks of one report (Core §8.4.3.3, §10.6.2
// EnableTagCompression) and puts chunked lists back together.
type assembler struct {
	c      *Client
	rep    Report
	chunks int
	items  int // attribute and event reports received, appends included
	prev   AttributePath
	last   map[dm.Path]int  // path → index of its latest whole value
	lists  map[int][][]byte // index → the list's items, once appended to
}

func (a *assembler) add(m *ReportData) error {
	a.chunks++
	if a.chunks > a.c.cfg.MaxReportChunks {
		return fmt.Errorf("im: report of more than %d chunks", a.c.cfg.MaxReportChunks)
	}
	if m.HasSubscriptionID {
		if a.rep.HasSubscriptionID && a.rep.SubscriptionID != m.SubscriptionID {
			return malformed("subscription ID changed within a report")
		}
		a.rep.SubscriptionID, a.rep.HasSubscriptionID = m.SubscriptionID, true
	}
	// Every report counts, list appends included, so that a peer cannot
	// grow a report without bound through appends.
	a.items += len(m.AttributeReports) + len(m.EventReports)
	if a.items > a.c.cfg.MaxReportItems {
		return fmt.Errorf("im: report of more than %d items", a.c.cfg.MaxReportItems)
	}
	for _, ar := range m.AttributeReports {
		p := ar.Path()
		if p.TagCompression {
			p = a.decompress(p)
		}
		a.prev = p
		if ar.IsStatus {
			ar.Status.Path = p
		} else {
			ar.Data.Path = p
		}
		key := dm.Path{Endpoint: p.Endpoint, Cluster: p.Cluster, ID: p.Attribute}
		if !ar.IsStatus && p.Wildcard == 0 {
			switch p.List {
			case ListAppend:
				if i, ok := a.last[key]; ok {
					if err := a.appendItem(i, ar.Data.Data); err != nil {
						return err
					}
					continue
				}
			case ListWhole:
				if a.last == nil {
					a.last = map[dm.Path]int{}
				}
				a.last[key] = len(a.rep.Attributes)
			}
		}
		a.rep.Attributes = append(a.rep.Attributes, ar)
	}
	a.rep.Events = append(a.rep.Events, m.EventReports...)
	return nil
}

// decompress fills the fields a tag-compressed path omits from the
// previous path of the report (Core §10.6.2 EnableTagCompression).
func (a *assembler) decompress(p AttributePath) AttributePath {
	if !p.HasNode && a.prev.HasNode {
		p.Node, p.HasNode = a.prev.Node, true
	}
	if p.Wildcard&WildEndpoint != 0 && a.prev.Wildcard&WildEndpoint == 0 {
		p.Endpoint, p.Wildcard = a.prev.Endpoint, p.Wildcard&^WildEndpoint
	}
	if p.Wildcard&WildCluster != 0 && a.prev.Wildcard&WildCluster == 0 {
		p.Cluster, p.Wildcard = a.prev.Cluster, p.Wildcard&^WildCluster
	}
	if p.Wildcard&WildAttribute != 0 && a.prev.Wildcard&WildAttribute == 0 {
		p.Attribute, p.Wildcard = a.prev.Attribute, p.Wildcard&^WildAttribute
	}
	p.TagCompression = false
	return p
}

// appendItem appends one list item to the list value at index i.
func (a *assembler) appendItem(i int, item []byte) error {
	if a.lists == nil {
		a.lists = map[int][][]byte{}
	}
	items, ok := a.lists[i]
	if !ok {
		r := tlv.NewReader(a.rep.Attributes[i].Data.Data)
		if err := r.Next(); err != nil || r.Type() != tlv.TypeArray {
			return malformed("list append to a value that is not a list")
		}
		if err := decodeArray(r, "list", func(r *tlv.Reader) error {
			raw, err := readRaw(r, "list item")
			items = append(items, raw)
			return err
		}); err != nil {
			return err
		}
	}
	a.lists[i] = append(items, item)
	return nil
}

// finish re-encodes the lists that were appended to.
func (a *assembler) finish() (*Report, error) {
	for i, items := range a.lists {
		var w tlv.Writer
		w.StartArray(anon)
		for _, it := range items {
			w.PutRaw(anon, it)
		}
		w.EndContainer()
		b, err := w.Bytes()
		if err != nil {
			return nil, malformed("reassembled list: %v", err)
		}
		a.rep.Attributes[i].Data.Data = b
	}
	rep := a.rep
	return &rep, nil
}

func (c *Client) receive(ctx context.Context, e *transport.Exchange) (transport.Message, error) {
	return receive(ctx, e, c.cfg.ResponseTimeout)
}

// statusOrUnexpected turns an unexpected message into an error: a
// StatusResponse into its *dm.StatusError, anything else into an error
// after answering it with INVALID_ACTION.
func statusOrUnexpected(ctx context.Context, e *transport.Exchange, m transport.Message, want Opcode) error {
	if Opcode(m.Opcode) == OpStatusResponse {
		var sr StatusResponse
		if err := sr.Unmarshal(m.Payload); err != nil {
			return err
		}
		if sr.Status == dm.StatusSuccess {
			return fmt.Errorf("%w: SUCCESS StatusResponse instead of %v", errUnexpected, want)
		}
		return &dm.StatusError{Status: sr.Status}
	}
	_ = sendStatus(ctx, e, dm.StatusInvalidAction)
	return fmt.Errorf("%w: %v instead of %v", errUnexpected, Opcode(m.Opcode), want)
}

// readReport receives the ReportData chunks of one report on e, first
// given or received. Every chunk is acknowledged with a StatusResponse
// unless it suppresses the response; before the last acknowledgement,
// final is called with the complete report.
func (c *Client) readReport(ctx context.Context, e *transport.Exchange, first *transport.Message, final func(*Report) error) (*Report, error) {
	a := &assembler{c: c}
	for {
		var m transport.Message
		if first != nil {
			m, first = *first, nil
		} else {
			var err error
			if m, err = c.receive(ctx, e); err != nil {
				return nil, err
			}
		}
		if Opcode(m.Opcode) != OpReportData {
			return nil, statusOrUnexpected(ctx, e, m, OpReportData)
		}
		var rd ReportData
		if err := rd.Unmarshal(m.Payload); err != nil {
			_ = sendStatus(ctx, e, dm.StatusInvalidAction)
			return nil, err
		}
		if err := a.add(&rd); err != nil {
			_ = sendStatus(ctx, e, dm.StatusResourceExhausted)
			return nil, err
		}
		if rd.MoreChunkedMessages {
			if err := sendStatus(ctx, e, dm.StatusSuccess); err != nil {
				return nil, err
			}
			continue
		}
		rep, err := a.finish()
		if err != nil {
			_ = sendStatus(ctx, e, dm.StatusInvalidAction)
			return nil, err
		}
		status := dm.StatusSuccess
		if final != nil {
			if err := final(rep); err != nil {
				status = StatusOf(err).Status
				if status == dm.StatusSuccess {
					status = dm.StatusFailure
				}
				if !rd.SuppressResponse {
					_ = sendStatus(ctx, e, status)
				}
				return nil, err
			}
		}
		if !rd.SuppressResponse {
			if err := sendStatus(ctx, e, status); err != nil {
				return nil, err
			}
		}
		return rep, nil
	}
}

// Read runs a Read interaction (Core §8.4) and returns the complete report.
func (c *Client) Read(ctx context.Context, s transport.Session, req *ReadRequest) (*Report, error) {
	payload, err := req.AppendTo(nil)
	if err != nil {
		return nil, err
	}
	e, err := c.mgr.NewExchange(s, Protocol)
	if err != nil {
		return nil, err
	}
	defer e.Close()
	if err := e.Send(ctx, uint8(OpReadRequest), payload); err != nil {
		return nil, err
	}
	return c.readReport(ctx, e, nil, nil)
}

// ReadAttribute reads one attribute and calls decode with a Reader on its
// value. An error status comes back as a *dm.StatusError.
func (c *Client) ReadAttribute(ctx context.Context, s transport.Session, path AttributePath, fabricFiltered bool, decode func(r *tlv.Reader) error) error {
	rep, err := c.Read(ctx, s, &ReadRequest{AttributeRequests: []AttributePath{path}, FabricFiltered: fabricFiltered})
	if err != nil {
		return err
	}
	// The first report is the answer: a concrete path yields exactly one,
	// the assembler having put a chunked list back together.
	if len(rep.Attributes) == 0 {
		return fmt.Errorf("im: no report for %v", path)
	}
	a := rep.Attributes[0]
	if a.IsStatus {
		return a.Status.Status.Err()
	}
	r := tlv.NewReader(a.Data.Data)
	if err := r.Next(); err != nil {
		return err
	}
	return decode(r)
}

// WriteOptions modify a Write.
type WriteOptions struct {
	// Timed, if positive, makes the write timed (Core §8.7.2.1): a
	// TimedRequest with this timeout precedes it. A timed write cannot
	// be chunked.
	Timed time.Duration
	// SuppressResponse asks the server not to answer; Write then returns
	// no statuses. It cannot be combined with chunking.
	SuppressResponse bool
}

// writeOverhead bounds what a WriteRequestMessage adds to its
// AttributeDataIBs: structure (2), SuppressResponse (2), TimedRequest (2),
// the array (3), MoreChunkedMessages (2), InteractionModelRevision (3).
const writeOverhead = 2 + 2 + 2 + 3 + 2 + 3

// Write runs a Write interaction (Core §8.7) and returns one status per
// AttributeDataIB sent. Writes that do not fit one message are chunked
// (Core §8.7.3.3): a list too large for a message is sent as a replacement
// by an empty list followed by one append (ListIndex null) per item.
func (c *Client) Write(ctx context.Context, s transport.Session, writes []AttributeData, opts *WriteOptions) ([]AttributeStatus, error) {
	if opts == nil {
		opts = &WriteOptions{}
	}
	capacity := payloadLimit(c.mgr, s, c.cfg.MaxMessageSize) - writeOverhead
	var msgs []*WriteRequest
	cur := &WriteRequest{}
	size := 0
	var w tlv.Writer
	add := func(d AttributeData) error {
		w.Reset()
		d.encode(&w, anon)
		ib, err := w.Bytes()
		if err != nil {
			return err
		}
		if len(ib) > capacity {
			return ErrTooLarge
		}
		if size+len(ib) > capacity && len(cur.WriteRequests) > 0 {
			msgs = append(msgs, cur)
			cur, size = &WriteRequest{}, 0
		}
		cur.WriteRequests = append(cur.WriteRequests, d)
		size += len(ib)
		return nil
	}
	for _, d := range writes {
		err := add(d)
		if !errors.Is(err, ErrTooLarge) {
			if err != nil {
				return nil, err
			}
			continue
		}
		items, ok := listItems(d.Data)
		if !ok {
			return nil, fmt.Errorf("%w: %v", ErrTooLarge, d.Path)
		}
		head := d
		head.Data = emptyArray
		if err := add(head); err != nil {
			return nil, err
		}
		for _, it := range items {
			ap := d.Path
			ap.List = ListAppend
			if err := add(AttributeData{Path: ap, Data: it}); err != nil {
				return nil, fmt.Errorf("list item of %v: %w", d.Path, err)
			}
		}
	}
	msgs = append(msgs, cur)
	if len(msgs) > 1 && (opts.Timed > 0 || opts.SuppressResponse) {
		return nil, fmt.Errorf("%w: a timed or response-suppressed write cannot be chunked", ErrTooLarge)
	}
	for i, m := range msgs {
		m.TimedRequest = opts.Timed > 0
		m.SuppressResponse = opts.SuppressResponse
		m.MoreChunkedMessages = i < len(msgs)-1
	}
	return c.WriteMessages(ctx, s, msgs, opts.Timed)
}

// listItems splits the encoding of an array into its items.
func listItems(b []byte) ([][]byte, bool) {
	r := tlv.NewReader(b)
	if err := r.Next(); err != nil || r.Type() != tlv.TypeArray {
		return nil, false
	}
	var items [][]byte
	err := decodeArray(r, "list", func(r *tlv.Reader) error {
		raw, err := readRaw(r, "item")
		items = append(items, raw)
		return err
	})
	return items, err == nil
}

// WriteMessages sends a prepared chain of WriteRequests on one exchange,
// as they are, preceded by a TimedRequest if timed is positive, and
// returns the statuses of every WriteResponse. It exists for tools and
// tests that need exact control of the chunks; Write builds them.
func (c *Client) WriteMessages(ctx context.Context, s transport.Session, msgs []*WriteRequest, timed time.Duration) ([]AttributeStatus, error) {
	e, err := c.mgr.NewExchange(s, Protocol)
	if err != nil {
		return nil, err
	}
	defer e.Close()
	if err := c.timedRequest(ctx, e, timed); err != nil {
		return nil, err
	}
	var out []AttributeStatus
	for _, m := range msgs {
		b, err := m.AppendTo(nil)
		if err != nil {
			return nil, err
		}
		if err := e.Send(ctx, uint8(OpWriteRequest), b); err != nil {
			return nil, err
		}
		if m.SuppressResponse {
			continue
		}
		r, err := c.receive(ctx, e)
		if err != nil {
			return nil, err
		}
		if Opcode(r.Opcode) != OpWriteResponse {
			return out, statusOrUnexpected(ctx, e, r, OpWriteResponse)
		}
		var wr WriteResponse
		if err := wr.Unmarshal(r.Payload); err != nil {
			return out, err
		}
		out = append(out, wr.WriteResponses...)
		if len(out) > c.cfg.MaxReportItems {
			return out, fmt.Errorf("im: more than %d write statuses", c.cfg.MaxReportItems)
		}
	}
	return out, nil
}

// timedRequest sends a TimedRequest and waits for its SUCCESS
// (Core §8.7.2.1, §8.8.2.1), if d is positive.
func (c *Client) timedRequest(ctx context.Context, e *transport.Exchange, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	ms := min(d.Milliseconds(), 0xFFFF)
	b, err := (&TimedRequest{Timeout: uint16(max(ms, 1))}).AppendTo(nil)
	if err != nil {
		return err
	}
	if err := e.Send(ctx, uint8(OpTimedRequest), b); err != nil {
		return err
	}
	m, err := c.receive(ctx, e)
	if err != nil {
		return err
	}
	if Opcode(m.Opcode) != OpStatusResponse {
		return statusOrUnexpected(ctx, e, m, OpStatusResponse)
	}
	var sr StatusResponse
	if err := sr.Unmarshal(m.Payload); err != nil {
		return err
	}
	if sr.Status != dm.StatusSuccess {
		return &dm.StatusError{Status: sr.Status}
	}
	return nil
}

// InvokeOptions modify an Invoke.
type InvokeOptions struct {
	// Timed, if positive, makes the invoke timed (Core §8.8.2.1).
	Timed time.Duration
	// SuppressResponse asks the server not to answer.
	SuppressResponse bool
}

// Invoke invokes one command (Core §8.8). fields is the command's fields
// structure as one TLV element (any tag), nil for none. If the server
// answers with a response command, decode is called with its command ID
// and a Reader on its fields (nil if it has none); decode may be nil. An
// error status comes back as a *dm.StatusError.
func (c *Client) Invoke(ctx context.Context, s transport.Session, path CommandPath, fields []byte, decode func(cmd uint32, r *tlv.Reader) error, opts *InvokeOptions) error {
	res, err := c.InvokeBatch(ctx, s, []CommandData{{Path: path, Fields: fields}}, opts)
	if err != nil || len(res) == 0 {
		return err
	}
	r := res[0]
	if r.IsStatus {
		return r.Status.Err()
	}
	if decode == nil {
		return nil
	}
	var rd *tlv.Reader
	if r.Fields != nil {
		rd = tlv.NewReader(r.Fields)
		if err := rd.Next(); err != nil {
			return err
		}
	}
	return decode(r.Path.Command, rd)
}

// InvokeBatch invokes several commands in one InvokeRequest (Core §8.8.2
// "batch invoke"), numbering them with CommandRefs when there is more than
// one, and returns one result per command, in the order of cmds. A command
// the server did not answer gets NO_COMMAND_RESPONSE. The batch must not
// exceed the peer's MAX_PATHS_PER_INVOKE.
func (c *Client) InvokeBatch(ctx context.Context, s transport.Session, cmds []CommandData, opts *InvokeOptions) ([]InvokeResult, error) {
	if opts == nil {
		opts = &InvokeOptions{}
	}
	if len(cmds) == 0 {
		return nil, errors.New("im: no commands")
	}
	maxPaths := session.DefaultMaxPathsPerInvoke
	if p, ok := s.(interface{ PeerParams() session.Params }); ok {
		maxPaths = int(p.PeerParams().MaxPathsPerInvoke)
	}
	if len(cmds) > max(maxPaths, 1) {
		return nil, fmt.Errorf("%w: %d commands, limit %d", ErrTooManyPaths, len(cmds), maxPaths)
	}
	cmds = append([]CommandData(nil), cmds...)
	if len(cmds) > 1 {
		for i := range cmds {
			if !cmds[i].HasRef {
				cmds[i].Ref, cmds[i].HasRef = uint16(i), true
			}
		}
	}
	req := InvokeRequest{SuppressResponse: opts.SuppressResponse, TimedRequest: opts.Timed > 0, InvokeRequests: cmds}
	b, err := req.AppendTo(nil)
	if err != nil {
		return nil, err
	}
	if len(b) > payloadLimit(c.mgr, s, c.cfg.MaxMessageSize) {
		return nil, ErrTooLarge
	}
	e, err := c.mgr.NewExchange(s, Protocol)
	if err != nil {
		return nil, err
	}
	defer e.Close()
	if err := c.timedRequest(ctx, e, opts.Timed); err != nil {
		return nil, err
	}
	if err := e.Send(ctx, uint8(OpInvokeRequest), b); err != nil {
		return nil, err
	}
	if opts.SuppressResponse {
		return nil, nil
	}
	out := make([]InvokeResult, len(cmds))
	got := make([]bool, len(cmds))
	for chunks := 0; ; chunks++ {
		if chunks >= c.cfg.MaxReportChunks {
			return nil, fmt.Errorf("im: invoke response of more than %d chunks", c.cfg.MaxReportChunks)
		}
		m, err := c.receive(ctx, e)
		if err != nil {
			return nil, err
		}
		if Opcode(m.Opcode) != OpInvokeResponse {
			return nil, statusOrUnexpected(ctx, e, m, OpInvokeResponse)
		}
		var ir InvokeResponse
		if err := ir.Unmarshal(m.Payload); err != nil {
			_ = sendStatus(ctx, e, dm.StatusInvalidAction)
			return nil, err
		}
		for _, r := range ir.InvokeResponses {
			i := 0
			if len(cmds) > 1 {
				if !r.HasRef {
					return nil, malformed("batched invoke response without CommandRef")
				}
				i = -1
				for j := range cmds {
					if cmds[j].Ref == r.Ref {
						i = j
						break
					}
				}
				if i < 0 {
					return nil, malformed("invoke response for unknown CommandRef %d", r.Ref)
				}
			}
			out[i], got[i] = r, true
		}
		if !ir.MoreChunkedMessages {
			break
		}
		if err := sendStatus(ctx, e, dm.StatusSuccess); err != nil {
			return nil, err
		}
	}
	for i := range out {
		if !got[i] {
			out[i] = InvokeResult{IsStatus: true, Path: cmds[i].Path, Ref: cmds[i].Ref, HasRef: cmds[i].HasRef,
				Status: Status{Status: dm.StatusNoCommandResponse}}
		}
	}
	return out, nil
}

// Subscription is a subscription this client holds.
type Subscription struct {
	c           *Client
	sess        transport.Session
	id          uint32
	onReport    func(*Report)
	maxInterval time.Duration

	deliver sync.Mutex // serialises onReport

	mu    sync.Mutex
	timer *time.Timer
	done  chan struct{}
	err   error
	ended bool
	nRep  int
}

// ID returns the subscription ID the publisher chose.
func (s *Subscription) ID() uint32 { return s.id }

// MaxInterval returns the MaxInterval the publisher granted.
func (s *Subscription) MaxInterval() time.Duration { return s.maxInterval }

// Done is closed when the subscription ends.
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Err returns why the subscription ended, nil while it is alive.
func (s *Subscription) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Reports returns how many reports, keep-alives and the priming report
// included, the subscription has received.
func (s *Subscription) Reports() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nRep
}

// Close ends the subscription on this side: its next report is answered
// with INVALID_SUBSCRIPTION, which ends it on the publisher (Core §8.5.3).
func (s *Subscription) Close() { s.end(ErrClosed) }

func (s *Subscription) end(err error) {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return
	}
	s.ended, s.err = true, err
	if s.timer != nil {
		s.timer.Stop()
	}
	close(s.done)
	s.mu.Unlock()
	s.c.mu.Lock()
	if s.c.subs[subKey{s.sess, s.id}] == s {
		delete(s.c.subs, subKey{s.sess, s.id})
	}
	s.c.mu.Unlock()
}

// alive records a report and re-arms the liveness timer.
func (s *Subscription) alive() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nRep++
	s.armLocked()
}

// armLocked (re)starts the liveness timer once MaxInterval is known.
func (s *Subscription) armLocked() {
	if s.ended || s.maxInterval == 0 {
		return
	}
	d := s.maxInterval + s.c.cfg.SubscriptionSlack
	if s.timer == nil {
		s.timer = time.AfterFunc(d, func() { s.end(ErrSubscriptionLost) })
	} else {
		s.timer.Reset(d)
	}
}

func (s *Subscription) report(r *Report) {
	s.deliver.Lock()
	defer s.deliver.Unlock()
	s.alive()
	if s.onReport != nil {
		s.onReport(r)
	}
}

// Subscribe runs a Subscribe interaction (Core §8.5). onReport is called
// with every report, one at a time: first the priming report, before
// Subscribe returns, then every later report, keep-alives (empty reports)
// included. It must not block for long: the publisher waits for the
// acknowledgement of each report.
func (c *Client) Subscribe(ctx context.Context, s transport.Session, req *SubscribeRequest, onReport func(*Report)) (*Subscription, error) {
	payload, err := req.AppendTo(nil)
	if err != nil {
		return nil, err
	}
	e, err := c.mgr.NewExchange(s, Protocol)
	if err != nil {
		return nil, err
	}
	defer e.Close()
	if err := e.Send(ctx, uint8(OpSubscribeRequest), payload); err != nil {
		return nil, err
	}
	sub := &Subscription{c: c, sess: s, onReport: onReport, done: make(chan struct{})}
	registered := false
	_, err = c.readReport(ctx, e, nil, func(r *Report) error {
		if !r.HasSubscriptionID {
			return malformed("priming report without SubscriptionId")
		}
		sub.id = r.SubscriptionID
		// Registered before the last chunk is acknowledged: the publisher
		// may report as soon as it has sent its SubscribeResponse.
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return ErrClosed
		}
		c.subs[subKey{s, sub.id}] = sub
		c.mu.Unlock()
		registered = true
		sub.report(r)
		return nil
	})
	if err != nil {
		if registered {
			sub.end(err)
		}
		return nil, err
	}
	m, err := c.receive(ctx, e)
	if err == nil && Opcode(m.Opcode) != OpSubscribeResponse {
		err = statusOrUnexpected(ctx, e, m, OpSubscribeResponse)
	}
	var sr SubscribeResponse
	if err == nil {
		err = sr.Unmarshal(m.Payload)
	}
	if err == nil && sr.SubscriptionID != sub.id {
		err = malformed("SubscribeResponse for subscription %d, priming was %d", sr.SubscriptionID, sub.id)
	}
	if err != nil {
		sub.end(err)
		return nil, err
	}
	sub.mu.Lock()
	sub.maxInterval = time.Duration(sr.MaxInterval) * time.Second
	sub.armLocked()
	sub.mu.Unlock()
	return sub, nil
}

// handleReport receives a report the publisher sent on an exchange of its
// own (Core §8.5.3): it must be for a subscription this client holds on the
// same session; anything else is answered with INVALID_SUBSCRIPTION, which
// ends it on the publisher.
func (c *Client) handleReport(ctx context.Context, e *transport.Exchange, first transport.Message) {
	var rd ReportData
	if err := rd.Unmarshal(first.Payload); err != nil || !rd.HasSubscriptionID {
		_ = sendStatus(ctx, e, dm.StatusInvalidAction)
		return
	}
	c.mu.Lock()
	sub := c.subs[subKey{e.Session(), rd.SubscriptionID}]
	c.mu.Unlock()
	if sub == nil {
		if !rd.SuppressResponse || rd.MoreChunkedMessages {
			_ = sendStatus(ctx, e, dm.StatusInvalidSubscription)
		}
		return
	}
	_, err := c.readReport(ctx, e, &first, func(r *Report) error {
		if r.SubscriptionID != sub.id {
			return &dm.StatusError{Status: dm.StatusInvalidSubscription}
		}
		select {
		case <-sub.done:
			return &dm.StatusError{Status: dm.StatusInvalidSubscription}
		default:
		}
		sub.report(r)
		return nil
	})
	if err != nil {
		c.log.Debug("subscription report failed", "id", sub.id, "err", err)
	}
}
