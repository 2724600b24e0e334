package device

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/mattercam/mattercam/matter/clusters/rootnode"
	ts "github.com/mattercam/mattercam/matter/clusters/timesynchronization"
	"github.com/mattercam/mattercam/matter/im"
	"github.com/mattercam/mattercam/matter/tlv"
)

// The Time Synchronization client side of the TimeSyncClient feature (Core
// §11.17.5.4), which the Camera device type requires of its root node: the
// node reads UTCTime and Granularity of the Time Synchronization cluster of
// its TrustedTimeSource (a node and endpoint on one of its fabrics,
// §11.17.8.4, set by SetTrustedTimeSource, §11.17.9.2; "Time source
// prioritization", §11.17.13) over a CASE session, and takes that time,
// corrected for the network delay, as its own, with TimeSource
// NodeTimeCluster (§11.17.6.2).
//
// The Time Synchronization server decides when: at its hourly attempt to
// update the node's time while the host clock is not synchronised
// (Config.RequestTrustedTime) and, here, whenever an administrator sets a
// new source (Config.OnTrustedTimeSourceChanged). The client does the read
// on one goroutine, one read at a time, and reports the outcome with
// SetTrustedUTC or TrustedTimeSourceFailed.

// trustedTimeTimeout bounds one read of the trusted time source, the dial
// included.
const trustedTimeTimeout = 10 * time.Second

// timeSample is one reading of a time source's clock.
type timeSample struct {
	// UTC is the source's UTCTime in epoch-us; UTCValid is false when it
	// was null (the source has no time).
	UTC      uint64
	UTCValid bool
	// Granularity is the source's Granularity.
	Granularity ts.Granularity
	// Sent and Received are local readings of the clock (with its
	// monotonic reading) just before the Read request went out and just
	// after its report came in.
	Sent, Received time.Time
}

// readTimeFunc reads the clock of a trusted time source: the network side
// of the client, injected so that tests can stand in for it.
type readTimeFunc func(ctx context.Context, src ts.TrustedTimeSource) (timeSample, error)

// timeSink is the Time Synchronization server as the client sees it.
type timeSink interface {
	SetTrustedUTC(utc time.Time, g ts.Granularity) error
	TrustedTimeSourceFailed()
	TrustedTimeSource() (ts.TrustedTimeSource, bool)
}

// timeClient serves requests to read the trusted time source, one at a
// time, on the goroutine that runs run.
type timeClient struct {
	read    readTimeFunc
	now     func() time.Time
	timeout time.Duration
	log     *slog.Logger
	// sink is set before run starts and not changed after.
	sink timeSink

	wake chan struct{} // capacity 1: a request is pending

	mu sync.Mutex
	// pending is the source to read next, if hasPending; a newer request
	// replaces it.
	pending    ts.TrustedTimeSource
	hasPending bool
	// inflight is the source being read, if reading.
	inflight ts.TrustedTimeSource
	reading  bool
}

func newTimeClient(read readTimeFunc, log *slog.Logger) *timeClient {
	return &timeClient{read: read, now: time.Now, timeout: trustedTimeTimeout, log: log, wake: make(chan struct{}, 1)}
}

// Request asks for a read of src; it never blocks. A request for the source
// being read is answered by that read. Otherwise it waits for the read
// under way, if any; of several waiting requests only the latest is kept.
func (c *timeClient) Request(src ts.TrustedTimeSource) {
	c.mu.Lock()
	if c.reading && c.inflight == src {
		c.mu.Unlock()
		return
	}
	c.pending, c.hasPending = src, true
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// run serves requests until ctx is done; the device runs it on a goroutine
// it waits for in Close.
func (c *timeClient) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.wake:
		}
		c.mu.Lock()
		src, ok := c.pending, c.hasPending
		c.hasPending = false
		c.inflight, c.reading = src, ok
		c.mu.Unlock()
		if ok {
			c.serve(ctx, src)
		}
		c.mu.Lock()
		c.reading = false
		c.mu.Unlock()
	}
}

// serve reads src once and reports the outcome to the sink. A source that
// is no longer the trusted one, before or after the read, is not reported
// on: the administrator replaced or removed it meanwhile.
func (c *timeClient) serve(ctx context.Context, src ts.TrustedTimeSource) {
	if !c.current(src) {
		return
	}
	rctx, cancel := context.WithTimeout(ctx, c.timeout)
	s, err := c.read(rctx, src)
	cancel()
	if ctx.Err() != nil {
		return // the device is closing
	}
	var (
		utc time.Time
		g   ts.Granularity
	)
	if err == nil {
		utc, g, err = trustedTime(s)
	}
	if !c.current(src) {
		return
	}
	log := c.log.With("fabric", src.FabricIndex, "node", fmt.Sprintf("%016X", src.NodeID), "endpoint", src.Endpoint)
	if err == nil {
		// The reading is the time at s.Received; it is recorded now.
		utc = utc.Add(c.now().Sub(s.Received))
		err = c.sink.SetTrustedUTC(utc, g)
	}
	if err != nil {
		log.Warn("reading the trusted time source failed", "err", err)
		c.sink.TrustedTimeSourceFailed()
		return
	}
	log.Info("UTC time read from the trusted time source", "utc", utc.Format(time.RFC3339Nano), "granularity", g,
		"round_trip", s.Received.Sub(s.Sent), "host_offset", utc.Sub(c.now()))
}

// current reports whether src is still the trusted time source.
func (c *timeClient) current(src ts.TrustedTimeSource) bool {
	cur, ok := c.sink.TrustedTimeSource()
	return ok && cur == src
}

// trustedTime returns the node's UTC time at s.Received and the granularity
// the node can claim for it. The source's UTCTime was taken somewhere
// between Sent and Received; assuming the request and the report took
// equally long, it is the time at the middle of the round trip, so half the
// round trip is added, and the error of that assumption is at most half the
// round trip. (The reference SDK adds nothing and only lowers the
// granularity; the correction is ours.)
//
// The node claims a granularity (§11.17.6.1: Microseconds ±10 µs,
// Milliseconds ±50 ms, Seconds ±5 s, Minutes beyond) one level below the
// source's, as SetUTCTime would for the drift and delay of a time passed
// on (§11.17.9.1), and no finer than half the round trip allows; never
// below Minutes. A null UTCTime, or a source without a granularity, gives
// no time.
func trustedTime(s timeSample) (time.Time, ts.Granularity, error) {
	if !s.UTCValid {
		return time.Time{}, 0, errors.New("device: trusted time source has no time (UTCTime null)")
	}
	if !s.Granularity.Known() || s.Granularity == ts.GranularityNoTimeGranularity {
		return time.Time{}, 0, fmt.Errorf("device: trusted time source reports granularity %d", s.Granularity)
	}
	rtt := max(s.Received.Sub(s.Sent), 0)
	g := min(s.Granularity-1, granularityWithin(rtt/2))
	g = max(g, ts.GranularityMinutesGranularity)
	return ts.FromEpochMicros(s.UTC).Add(rtt / 2), g, nil
}

// granularityWithin returns the finest granularity whose error bound
// (Core §11.17.6.1) covers an error of e.
func granularityWithin(e time.Duration) ts.Granularity {
	switch {
	case e <= 10*time.Microsecond:
		return ts.GranularityMicrosecondsGranularity
	case e <= 50*time.Millisecond:
		return ts.GranularityMillisecondsGranularity
	case e <= 5*time.Second:
		return ts.GranularitySecondsGranularity
	}
	return ts.GranularityMinutesGranularity
}

// startTimeClient starts the goroutine of the Time Synchronization client
// with the server the root node built; Close stops it. The device's
// Interaction Model client must exist: a request may be served at once.
func (d *Device) startTimeClient(root *rootnode.RootNode) {
	d.timeClient.sink = root.TimeSynchronization
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		d.timeClient.run(d.ctx)
	}()
}

// trustedTimeSourceChanged is Time Synchronization's
// OnTrustedTimeSourceChanged: a new source is read at once, unless the host
// clock keeps the time (the server attempts no update then either).
func (d *Device) trustedTimeSourceChanged(src ts.TrustedTimeSource, ok bool) {
	if !ok || d.cfg.HostTimeSynced != nil && d.cfg.HostTimeSynced() {
		return
	}
	d.timeClient.Request(src)
}

// readTrustedTime reads UTCTime and Granularity of the Time Synchronization
// cluster on the source's endpoint in one Read interaction, over a CASE
// session with the source on its fabric (reused, or dialed).
func (d *Device) readTrustedTime(ctx context.Context, src ts.TrustedTimeSource) (timeSample, error) {
	p, err := d.Peer(ctx, src.FabricIndex, src.NodeID, PeerOptions{})
	if err != nil {
		return timeSample{}, fmt.Errorf("device: trusted time source: %w", err)
	}
	req := &im.ReadRequest{
		AttributeRequests: []im.AttributePath{
			{Endpoint: src.Endpoint, Cluster: ts.ID, Attribute: ts.AttrUTCTime},
			{Endpoint: src.Endpoint, Cluster: ts.ID, Attribute: ts.AttrGranularity},
		},
		FabricFiltered: true,
	}
	sent := time.Now()
	rep, err := p.Read(ctx, req)
	received := time.Now()
	if err != nil {
		return timeSample{}, fmt.Errorf("device: trusted time source: read: %w", err)
	}
	s, err := parseTimeReport(rep, src.Endpoint)
	if err != nil {
		return timeSample{}, fmt.Errorf("device: trusted time source: %w", err)
	}
	s.Sent, s.Received = sent, received
	return s, nil
}

// parseTimeReport takes UTCTime and Granularity from the report of a read
// of both on endpoint ep.
func parseTimeReport(rep *im.Report, ep uint16) (timeSample, error) {
	var s timeSample
	value := func(attr uint32, name string) (*tlv.Reader, error) {
		a := rep.Attribute(ep, ts.ID, attr)
		if a == nil {
			return nil, fmt.Errorf("no %s in the report", name)
		}
		if a.IsStatus {
			return nil, fmt.Errorf("%s: %w", name, a.Status.Status.Err())
		}
		r := tlv.NewReader(a.Data.Data)
		if err := r.Next(); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return r, nil
	}
	r, err := value(ts.AttrUTCTime, "UTCTime")
	if err != nil {
		return s, err
	}
	if !r.IsNull() {
		if s.UTC, err = r.Uint(); err != nil {
			return s, fmt.Errorf("decoding UTCTime: %w", err)
		}
		s.UTCValid = true
	}
	if r, err = value(ts.AttrGranularity, "Granularity"); err != nil {
		return s, err
	}
	g, err := r.Uint8()
	if err != nil {
		return s, fmt.Errorf("decoding Granularity: %w", err)
	}
	s.Granularity = ts.Granularity(g)
	return s, nil
}
