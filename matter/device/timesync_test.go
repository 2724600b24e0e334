package device

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mattercam/mattercam/matter/attestation"
	"github.com/mattercam/mattercam/matter/clusters/field"
	ts "github.com/mattercam/mattercam/matter/clusters/timesynchronization"
	"github.com/mattercam/mattercam/matter/dm"
	"github.com/mattercam/mattercam/matter/im"
	"github.com/mattercam/mattercam/matter/tlv"
)

// The client against a real time source (matter.js) is in
// test/e2e/timesync_test.go. These tests cover the time it computes, the
// decoding of the report, and its scheduling with a stand-in reader.

func TestTrustedTime(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	utc := ts.EpochMicros(t0)
	for _, tc := range []struct {
		name     string
		g        ts.Granularity
		rtt      time.Duration
		wantG    ts.Granularity
		wantDiff time.Duration // added to the source's time
	}{
		{"milliseconds source, fast network", ts.GranularityMillisecondsGranularity, 4 * time.Millisecond, ts.GranularitySecondsGranularity, 2 * time.Millisecond},
		{"microseconds source, fast network", ts.GranularityMicrosecondsGranularity, 2 * time.Millisecond, ts.GranularityMillisecondsGranularity, time.Millisecond},
		{"microseconds source, slow network", ts.GranularityMicrosecondsGranularity, 200 * time.Millisecond, ts.GranularitySecondsGranularity, 100 * time.Millisecond},
		{"microseconds source, instant", ts.GranularityMicrosecondsGranularity, 0, ts.GranularityMillisecondsGranularity, 0},
		{"seconds source", ts.GranularitySecondsGranularity, time.Millisecond, ts.GranularityMinutesGranularity, 500 * time.Microsecond},
		{"minutes source", ts.GranularityMinutesGranularity, time.Millisecond, ts.GranularityMinutesGranularity, 500 * time.Microsecond},
		{"round trip beyond seconds", ts.GranularityMicrosecondsGranularity, 12 * time.Second, ts.GranularityMinutesGranularity, 6 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sent := time.Now()
			got, g, err := trustedTime(timeSample{UTC: utc, UTCValid: true, Granularity: tc.g, Sent: sent, Received: sent.Add(tc.rtt)})
			if err != nil {
				t.Fatal(err)
			}
			if want := t0.Add(tc.wantDiff); !got.Equal(want) {
				t.Errorf("time %v, want %v", got, want)
			}
			if g != tc.wantG {
				t.Errorf("granularity %v, want %v", g, tc.wantG)
			}
		})
	}
	// A clock that went backwards between the readings is no delay.
	now := time.Now()
	if got, _, err := trustedTime(timeSample{UTC: utc, UTCValid: true, Granularity: ts.GranularityMillisecondsGranularity, Sent: now, Received: now.Add(-time.Second)}); err != nil || !got.Equal(t0) {
		t.Errorf("negative round trip: %v, %v", got, err)
	}
	for _, s := range []timeSample{
		{UTCValid: false, Granularity: ts.GranularityMillisecondsGranularity},
		{UTC: utc, UTCValid: true, Granularity: ts.GranularityNoTimeGranularity},
		{UTC: utc, UTCValid: true, Granularity: 9},
	} {
		if _, _, err := trustedTime(s); err == nil {
			t.Errorf("%+v accepted", s)
		}
	}
}

// attrData is a data report of one attribute of cluster 0x0038 on ep.
func attrData(t *testing.T, ep uint16, attr uint32, put func(w *tlv.Writer)) im.AttributeReport {
	t.Helper()
	var w tlv.Writer
	put(&w)
	b, err := w.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return im.AttributeReport{Data: im.AttributeData{Path: im.AttributePath{Endpoint: ep, Cluster: ts.ID, Attribute: attr}, Data: b}}
}

func TestParseTimeReport(t *testing.T) {
	anon := tlv.AnonymousTag()
	utc := func(v uint64) func(w *tlv.Writer) { return func(w *tlv.Writer) { w.PutUint(anon, v) } }
	null := func(w *tlv.Writer) { w.PutNull(anon) }
	gran := func(g ts.Granularity) func(w *tlv.Writer) { return func(w *tlv.Writer) { w.PutUint(anon, uint64(g)) } }

	rep := &im.Report{Attributes: []im.AttributeReport{
		attrData(t, 2, ts.AttrGranularity, gran(ts.GranularityMillisecondsGranularity)),
		attrData(t, 2, ts.AttrUTCTime, utc(123456789)),
	}}
	s, err := parseTimeReport(rep, 2)
	if err != nil || !s.UTCValid || s.UTC != 123456789 || s.Granularity != ts.GranularityMillisecondsGranularity {
		t.Fatalf("parse: %+v, %v", s, err)
	}
	rep = &im.Report{Attributes: []im.AttributeReport{
		attrData(t, 0, ts.AttrUTCTime, null),
		attrData(t, 0, ts.AttrGranularity, gran(ts.GranularityNoTimeGranularity)),
	}}
	if s, err := parseTimeReport(rep, 0); err != nil || s.UTCValid {
		t.Fatalf("null UTCTime: %+v, %v", s, err)
	}

	denied := im.AttributeReport{IsStatus: true, Status: im.AttributeStatus{
		Path:   im.AttributePath{Endpoint: 0, Cluster: ts.ID, Attribute: ts.AttrUTCTime},
		Status: im.Status{Status: dm.StatusUnsupportedAccess},
	}}
	for name, tc := range map[string]struct {
		rep  *im.Report
		want dm.Status // 0: any error
	}{
		"access denied":      {&im.Report{Attributes: []im.AttributeReport{denied}}, dm.StatusUnsupportedAccess},
		"empty report":       {&im.Report{}, 0},
		"other endpoint":     {&im.Report{Attributes: []im.AttributeReport{attrData(t, 1, ts.AttrUTCTime, utc(1)), attrData(t, 1, ts.AttrGranularity, gran(3))}}, 0},
		"no granularity":     {&im.Report{Attributes: []im.AttributeReport{attrData(t, 0, ts.AttrUTCTime, utc(1))}}, 0},
		"UTCTime a string":   {&im.Report{Attributes: []im.AttributeReport{attrData(t, 0, ts.AttrUTCTime, func(w *tlv.Writer) { w.PutString(anon, "now") }), attrData(t, 0, ts.AttrGranularity, gran(3))}}, 0},
		"granularity 300":    {&im.Report{Attributes: []im.AttributeReport{attrData(t, 0, ts.AttrUTCTime, utc(1)), attrData(t, 0, ts.AttrGranularity, utc(300))}}, 0},
		"truncated UTCTime":  {&im.Report{Attributes: []im.AttributeReport{{Data: im.AttributeData{Path: im.AttributePath{Cluster: ts.ID, Attribute: ts.AttrUTCTime}, Data: []byte{0x07}}}}}, 0},
		"granularity denied": {&im.Report{Attributes: []im.AttributeReport{attrData(t, 0, ts.AttrUTCTime, utc(1)), {IsStatus: true, Status: im.AttributeStatus{Path: im.AttributePath{Cluster: ts.ID, Attribute: ts.AttrGranularity}, Status: im.Status{Status: dm.StatusUnsupportedAttribute}}}}}, dm.StatusUnsupportedAttribute},
	} {
		_, err := parseTimeReport(tc.rep, 0)
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		var se *dm.StatusError
		if tc.want != 0 && (!errors.As(err, &se) || se.Status != tc.want) {
			t.Errorf("%s: %v, want status %v", name, err, tc.want)
		}
	}
}

// fakeSink stands in for the Time Synchronization server.
type fakeSink struct {
	mu     sync.Mutex
	src    ts.TrustedTimeSource
	has    bool
	set    []time.Time
	gran   []ts.Granularity
	failed int
	setErr error
}

func (f *fakeSink) SetTrustedUTC(utc time.Time, g ts.Granularity) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.setErr != nil {
		return f.setErr
	}
	f.set, f.gran = append(f.set, utc), append(f.gran, g)
	return nil
}

func (f *fakeSink) TrustedTimeSourceFailed() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failed++
}

func (f *fakeSink) TrustedTimeSource() (ts.TrustedTimeSource, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.src, f.has
}

func (f *fakeSink) setSource(src ts.TrustedTimeSource, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.src, f.has = src, ok
}

func (f *fakeSink) outcome() (set []time.Time, failed int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.set...), f.failed
}

// fakeReader is a reader whose reads the test answers one by one.
type fakeReader struct {
	mu      sync.Mutex
	active  int // reads under way
	most    int // the most reads ever under way at once
	calls   []ts.TrustedTimeSource
	answers chan func() (timeSample, error)
}

func newFakeReader() *fakeReader {
	return &fakeReader{answers: make(chan func() (timeSample, error))}
}

func (f *fakeReader) read(ctx context.Context, src ts.TrustedTimeSource) (timeSample, error) {
	f.mu.Lock()
	f.active++
	f.most = max(f.most, f.active)
	f.calls = append(f.calls, src)
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.active--
		f.mu.Unlock()
	}()
	select {
	case answer := <-f.answers:
		return answer()
	case <-ctx.Done():
		return timeSample{}, ctx.Err()
	}
}

func (f *fakeReader) seen() ([]ts.TrustedTimeSource, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]ts.TrustedTimeSource(nil), f.calls...), f.most
}

// startClient runs a client with r and sink in the bubble until the test
// ends.
func startClient(t *testing.T, r *fakeReader, sink *fakeSink) (*timeClient, context.CancelFunc) {
	c := newTimeClient(r.read, slog.New(slog.NewTextHandler(io.Discard, nil)))
	c.sink = sink
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return c, cancel
}

// answer is a read that took rtt and returned the source's time utc.
func answer(utc time.Time, g ts.Granularity, rtt time.Duration) func() (timeSample, error) {
	return func() (timeSample, error) {
		now := time.Now()
		return timeSample{UTC: ts.EpochMicros(utc), UTCValid: true, Granularity: g, Sent: now.Add(-rtt), Received: now}, nil
	}
}

func TestTimeClientReadsAndCorrects(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, sink := newFakeReader(), &fakeSink{}
		src := ts.TrustedTimeSource{FabricIndex: 1, NodeID: 0x55}
		sink.setSource(src, true)
		c, _ := startClient(t, r, sink)
		c.Request(src)
		source := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		// The report came in 5 ms before the answer is processed, 40 ms
		// after the request went out: the node's time is the source's
		// plus half the round trip plus the 5 ms since.
		r.answers <- func() (timeSample, error) {
			now := time.Now()
			return timeSample{UTC: ts.EpochMicros(source), UTCValid: true, Granularity: ts.GranularityMillisecondsGranularity,
				Sent: now.Add(-45 * time.Millisecond), Received: now.Add(-5 * time.Millisecond)}, nil
		}
		synctest.Wait()
		set, failed := sink.outcome()
		if len(set) != 1 || failed != 0 || !set[0].Equal(source.Add(25*time.Millisecond)) {
			t.Fatalf("SetTrustedUTC %v, failures %d", set, failed)
		}
		if sink.gran[0] != ts.GranularitySecondsGranularity {
			t.Errorf("granularity %v", sink.gran[0])
		}

		// A source without time, an error, a refused time: failures.
		for _, a := range []func() (timeSample, error){
			func() (timeSample, error) { return timeSample{Granularity: ts.GranularityNoTimeGranularity}, nil },
			func() (timeSample, error) { return timeSample{}, errors.New("unreachable") },
		} {
			c.Request(src)
			r.answers <- a
			synctest.Wait()
		}
		sink.mu.Lock()
		sink.setErr = errors.New("refused")
		sink.mu.Unlock()
		c.Request(src)
		r.answers <- answer(source, ts.GranularityMillisecondsGranularity, 0)
		synctest.Wait()
		if set, failed := sink.outcome(); len(set) != 1 || failed != 3 {
			t.Fatalf("after three failures: set %v, failures %d", set, failed)
		}
	})
}

func TestTimeClientOneReadAtATime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, sink := newFakeReader(), &fakeSink{}
		a := ts.TrustedTimeSource{FabricIndex: 1, NodeID: 0xA}
		b := ts.TrustedTimeSource{FabricIndex: 1, NodeID: 0xB}
		cc := ts.TrustedTimeSource{FabricIndex: 2, NodeID: 0xC}
		sink.setSource(a, true)
		c, _ := startClient(t, r, sink)
		source := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

		c.Request(a)
		synctest.Wait() // a's read is under way
		c.Request(a)    // answered by the read under way
		c.Request(b)
		c.Request(cc) // replaces b
		sink.setSource(cc, true)
		synctest.Wait()
		if calls, _ := r.seen(); len(calls) != 1 {
			t.Fatalf("reads started while one is under way: %v", calls)
		}
		// a's answer comes after a stopped being the source: dropped.
		r.answers <- answer(source, ts.GranularityMillisecondsGranularity, 0)
		synctest.Wait()
		if set, failed := sink.outcome(); len(set) != 0 || failed != 0 {
			t.Fatalf("outcome of a replaced source reported: %v, %d", set, failed)
		}
		// Then cc, once, and nothing more.
		r.answers <- answer(source, ts.GranularityMillisecondsGranularity, 0)
		synctest.Wait()
		calls, most := r.seen()
		if len(calls) != 2 || calls[1] != cc || most != 1 {
			t.Fatalf("reads %v, at most %d at once", calls, most)
		}
		if set, _ := sink.outcome(); len(set) != 1 {
			t.Fatalf("SetTrustedUTC %v", set)
		}

		// A request for a source that is no longer the trusted one is not
		// read at all.
		sink.setSource(ts.TrustedTimeSource{}, false)
		c.Request(cc)
		synctest.Wait()
		if calls, _ := r.seen(); len(calls) != 2 {
			t.Fatalf("read of a removed source: %v", calls)
		}
	})
}

func TestTimeClientTimeoutAndStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, sink := newFakeReader(), &fakeSink{}
		src := ts.TrustedTimeSource{FabricIndex: 1, NodeID: 0x55}
		sink.setSource(src, true)
		c, cancel := startClient(t, r, sink)

		// A read that never answers is given up after trustedTimeTimeout.
		start := time.Now()
		c.Request(src)
		time.Sleep(trustedTimeTimeout - time.Millisecond)
		synctest.Wait()
		if _, failed := sink.outcome(); failed != 0 {
			t.Fatal("gave up early")
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if _, failed := sink.outcome(); failed != 1 || time.Since(start) != trustedTimeTimeout {
			t.Fatalf("failures %d after %v", failed, time.Since(start))
		}

		// Stopping during a read ends it without an outcome; the
		// goroutine returns (synctest fails the test if it does not).
		c.Request(src)
		synctest.Wait()
		cancel()
		synctest.Wait()
		if _, failed := sink.outcome(); failed != 1 {
			t.Fatalf("outcome reported while stopping: %d failures", failed)
		}
		c.Request(src) // after the stop: queued, never read, never blocks
		c.Request(src)
	})
}

// The device wires the client to Time Synchronization: setting a trusted
// time source makes the device read it at once, through Peer. This device
// has no fabric, so the read fails, and the failure reaches the server.
func TestDeviceReadsNewTrustedTimeSource(t *testing.T) {
	fd, err := attestation.Development()
	if err != nil {
		t.Fatal(err)
	}
	var logs syncLog
	d, err := New(Config{StateDir: t.TempDir(), Port: -1, Factory: fd, DisableMDNS: true,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	srv := d.root.TimeSynchronization
	in := ts.SetTrustedTimeSourceRequest{TrustedTimeSource: field.NonNull(ts.FabricScopedTrustedTimeSource{NodeID: 0x55, Endpoint: 0})}
	var w tlv.Writer
	in.EncodeTLV(&w, tlv.AnonymousTag())
	b, err := w.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	r := tlv.NewReader(b)
	if err := r.Next(); err != nil {
		t.Fatal(err)
	}
	req := &dm.Request{Ctx: context.Background(), Subject: dm.Subject{FabricIndex: 1, AuthMode: dm.AuthCASE}}
	if err := srv.Invoke(req, ts.CmdSetTrustedTimeSource, r, &dm.CommandResponse{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), "reading the trusted time source failed") {
		if time.Now().After(deadline) {
			t.Fatalf("no failed read logged:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "no fabric 1") {
		t.Errorf("failure without its cause:\n%s", logs.String())
	}
	if _, ok := srv.Now(); ok {
		t.Error("the node has a time after a failed read")
	}
}

// syncLog is a log buffer written by the device's goroutines.
type syncLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncLog) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncLog) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
