package whep

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/pion/rtp/codecs"
	pion "github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
	"github.com/pion/webrtc/v4/pkg/media/samplebuilder"
)

// Viewer is a receive-only WHEP client on pion: the independent peer the
// tests watch mattercam with, and a way to pull the stream into other Go
// programs. Frames come out reassembled and in order.
type Viewer struct {
	pc       *pion.PeerConnection
	resource string
	token    string
	client   *http.Client

	mu        sync.Mutex // orders track readers starting against Close
	closed    bool
	wg        sync.WaitGroup
	connected chan struct{}
	once      sync.Once
}

// ViewerOptions configures Subscribe.
type ViewerOptions struct {
	Token string
	// OnVideo receives each H.264 access unit in Annex B form (four-byte
	// start codes) with its RTP timestamp. It runs on the track's
	// goroutine; the slice is the callee's to keep.
	OnVideo func(au []byte, rtpTime uint32)
	// OnAudio receives each Opus packet with its RTP timestamp.
	OnAudio func(pkt []byte, rtpTime uint32)
	// Audio adds an audio transceiver to the offer (default video only).
	Audio bool
	// VideoCodec replaces the offered video codec; tests use it to offer
	// what the camera cannot send.
	VideoCodec *pion.RTPCodecCapability
}

// Subscribe offers to a WHEP endpoint and starts receiving.
func Subscribe(ctx context.Context, endpoint string, o ViewerOptions) (*Viewer, error) {
	m := &pion.MediaEngine{}
	vc := pion.RTPCodecCapability{
		MimeType: pion.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine:  "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
		RTCPFeedback: []pion.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}},
	}
	if o.VideoCodec != nil {
		vc = *o.VideoCodec
	}
	if err := m.RegisterCodec(pion.RTPCodecParameters{RTPCodecCapability: vc, PayloadType: 102}, pion.RTPCodecTypeVideo); err != nil {
		return nil, fmt.Errorf("whep viewer: %w", err)
	}
	if err := m.RegisterCodec(pion.RTPCodecParameters{
		RTPCodecCapability: pion.RTPCodecCapability{MimeType: pion.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"},
		PayloadType:        111,
	}, pion.RTPCodecTypeAudio); err != nil {
		return nil, fmt.Errorf("whep viewer: %w", err)
	}
	var se pion.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	se.SetICETimeouts(2*time.Second, 5*time.Second, 0)
	api := pion.NewAPI(pion.WithMediaEngine(m), pion.WithSettingEngine(se))
	pc, err := api.NewPeerConnection(pion.Configuration{})
	if err != nil {
		return nil, fmt.Errorf("whep viewer: %w", err)
	}
	v := &Viewer{pc: pc, token: o.Token, client: &http.Client{Timeout: 10 * time.Second}, connected: make(chan struct{})}
	fail := func(err error) (*Viewer, error) {
		_ = pc.Close() // the error being returned is the one that matters
		return nil, err
	}
	if _, err := pc.AddTransceiverFromKind(pion.RTPCodecTypeVideo, pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionRecvonly}); err != nil {
		return fail(fmt.Errorf("whep viewer: %w", err))
	}
	if o.Audio {
		if _, err := pc.AddTransceiverFromKind(pion.RTPCodecTypeAudio, pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionRecvonly}); err != nil {
			return fail(fmt.Errorf("whep viewer: %w", err))
		}
	}
	pc.OnConnectionStateChange(func(s pion.PeerConnectionState) {
		if s == pion.PeerConnectionStateConnected {
			v.once.Do(func() { close(v.connected) })
		}
	})
	pc.OnTrack(func(t *pion.TrackRemote, _ *pion.RTPReceiver) {
		v.mu.Lock()
		defer v.mu.Unlock()
		if v.closed {
			return
		}
		v.wg.Add(1)
		go func() {
			defer v.wg.Done()
			if t.Kind() == pion.RTPCodecTypeVideo {
				readVideo(t, o.OnVideo)
			} else {
				readAudio(t, o.OnAudio)
			}
		}()
	})
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return fail(fmt.Errorf("whep viewer: %w", err))
	}
	gathered := pion.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return fail(fmt.Errorf("whep viewer: %w", err))
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return fail(ctx.Err())
	}
	resp, body, err := v.do(ctx, http.MethodPost, endpoint, typeSDP, pc.LocalDescription().SDP)
	if err != nil {
		return fail(err)
	}
	if resp.StatusCode != http.StatusCreated {
		return fail(&StatusError{Code: resp.StatusCode, Body: string(body)})
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		return fail(fmt.Errorf("whep viewer: location: %w", err))
	}
	base, _ := url.Parse(endpoint) // parsed by the POST already
	v.resource = base.ResolveReference(loc).String()
	if err := pc.SetRemoteDescription(pion.SessionDescription{Type: pion.SDPTypeAnswer, SDP: string(body)}); err != nil {
		return fail(fmt.Errorf("whep viewer: answer: %w", err))
	}
	return v, nil
}

// StatusError is a non-success answer from the endpoint.
type StatusError struct {
	Code int
	Body string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("whep: HTTP %d: %s", e.Code, bytes.TrimSpace([]byte(e.Body)))
}

func (v *Viewer) do(ctx context.Context, method, u, ctype, body string) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewBufferString(body))
	if err != nil {
		return nil, nil, fmt.Errorf("whep viewer: %w", err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if v.token != "" {
		req.Header.Set("Authorization", "Bearer "+v.token)
	}
	resp, err := v.client.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("whep viewer: %s: %w", method, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxBodyLen))
	if err != nil {
		return nil, nil, fmt.Errorf("whep viewer: %s: %w", method, err)
	}
	return resp, b, nil
}

// Connected is closed when ICE and DTLS are up.
func (v *Viewer) Connected() <-chan struct{} { return v.connected }

// Resource is the session's WHEP resource URL.
func (v *Viewer) Resource() string { return v.resource }

// Close deletes the resource (best effort) and stops receiving.
func (v *Viewer) Close(ctx context.Context) error {
	var derr error
	if v.resource != "" {
		resp, _, err := v.do(ctx, http.MethodDelete, v.resource, "", "")
		switch {
		case err != nil:
			derr = err
		case resp.StatusCode != http.StatusOK:
			derr = fmt.Errorf("whep viewer: DELETE: HTTP %d", resp.StatusCode)
		}
	}
	v.mu.Lock()
	v.closed = true
	v.mu.Unlock()
	err := v.pc.Close()
	v.wg.Wait()
	return errors.Join(derr, err)
}

func readVideo(t *pion.TrackRemote, fn func([]byte, uint32)) {
	// The sample builder reorders by sequence number (NACK
	// retransmissions arrive late) and drops frames with holes.
	sb := samplebuilder.New(512, &codecs.H264Packet{}, 90000)
	for {
		pkt, _, err := t.ReadRTP()
		if err != nil {
			return
		}
		sb.Push(pkt)
		for s := sb.Pop(); s != nil; s = sb.Pop() {
			emit(s, fn)
		}
	}
}

func emit(s *media.Sample, fn func([]byte, uint32)) {
	if fn != nil && len(s.Data) > 0 {
		fn(s.Data, s.PacketTimestamp)
	}
}

func readAudio(t *pion.TrackRemote, fn func([]byte, uint32)) {
	for {
		pkt, _, err := t.ReadRTP()
		if err != nil {
			return
		}
		if fn != nil {
			fn(bytes.Clone(pkt.Payload), pkt.Timestamp)
		}
	}
}
