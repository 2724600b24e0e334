// Package whep serves mattercam's local preview: a WHEP endpoint
// (WebRTC-HTTP Egress Protocol, draft-ietf-wish-whep, using the resource
// model of WHIP, RFC 9725) and a page that plays it in a browser.
//
//	POST   /whep        application/sdp offer → 201, SDP answer, Location
//	PATCH  /whep/{id}   application/trickle-ice-sdpfrag (RFC 8840) → 204
//	DELETE /whep/{id}   → 200, idempotent
//	OPTIONS on both     → 204 with CORS headers
//	GET    /            the preview page
package whep

import (
	"context"
	"crypto/subtle"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"time"

	pion "github.com/pion/webrtc/v4"

	"github.com/mattercam/mattercam/webrtc"
)

// MaxBodyLen bounds every request body; larger ones get 413.
const MaxBodyLen = 64 << 10

const (
	typeSDP     = "application/sdp"
	typeSDPFrag = "application/trickle-ice-sdpfrag"
	basePath    = "/whep"
)

//go:embed static
var static embed.FS

// Config tunes the endpoint.
type Config struct {
	// Token, when set, must be presented as "Authorization: Bearer
	// <token>" on POST, PATCH and DELETE (RFC 9725 §4.5).
	Token string
	// AllowOrigin is the CORS origin allowed to call the endpoint.
	// Default "*": the endpoint is meant for a loopback preview.
	AllowOrigin string
	// AnswerTimeout bounds how long POST waits for ICE gathering.
	// Default 5 s.
	AnswerTimeout time.Duration
	Logger        *slog.Logger
}

// Handler is the WHEP endpoint and preview page.
type Handler struct {
	srv *webrtc.Server
	cfg Config
	log *slog.Logger
	mux *http.ServeMux
}

// New returns a handler serving sessions from srv.
func New(srv *webrtc.Server, cfg Config) *Handler {
	if cfg.AllowOrigin == "" {
		cfg.AllowOrigin = "*"
	}
	if cfg.AnswerTimeout <= 0 {
		cfg.AnswerTimeout = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	h := &Handler{srv: srv, cfg: cfg, log: cfg.Logger.With("component", "whep"), mux: http.NewServeMux()}
	page, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	h.mux.Handle("GET /", http.FileServerFS(page))
	h.mux.HandleFunc("POST "+basePath, h.post)
	h.mux.HandleFunc("OPTIONS "+basePath, h.options)
	h.mux.HandleFunc("PATCH "+basePath+"/{id}", h.patch)
	h.mux.HandleFunc("DELETE "+basePath+"/{id}", h.delete)
	h.mux.HandleFunc("OPTIONS "+basePath+"/{id}", h.options)
	return h
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Access-Control-Allow-Origin", h.cfg.AllowOrigin)
	hd.Set("Access-Control-Expose-Headers", "Location, ETag, Accept-Patch, Link")
	h.mux.ServeHTTP(w, r)
}

func (h *Handler) options(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Access-Control-Allow-Methods", "POST, PATCH, DELETE, OPTIONS")
	hd.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, If-Match")
	hd.Set("Access-Control-Max-Age", "86400")
	if r.PathValue("id") == "" {
		hd.Set("Accept-Post", typeSDP)
	} else {
		hd.Set("Accept-Patch", typeSDPFrag)
	}
	w.WriteHeader(http.StatusNoContent)
}

// authorized checks the bearer token in constant time.
func (h *Handler) authorized(w http.ResponseWriter, r *http.Request) bool {
	if h.cfg.Token == "" {
		return true
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if ok && subtle.ConstantTimeCompare([]byte(tok), []byte(h.cfg.Token)) == 1 {
		return true
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="mattercam"`)
	http.Error(w, "missing or wrong bearer token", http.StatusUnauthorized)
	return false
}

// readBody reads a bounded body of the given media type, answering 415 or
// 413 itself.
func readBody(w http.ResponseWriter, r *http.Request, want string) ([]byte, bool) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != want {
		http.Error(w, "content type must be "+want, http.StatusUnsupportedMediaType)
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyLen))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			http.Error(w, fmt.Sprintf("body exceeds %d bytes", MaxBodyLen), http.StatusRequestEntityTooLarge)
			return nil, false
		}
		http.Error(w, "reading body: "+err.Error(), http.StatusBadRequest)
		return nil, false
	}
	return body, true
}

func (h *Handler) post(w http.ResponseWriter, r *http.Request) {
	if !h.authorized(w, r) {
		return
	}
	body, ok := readBody(w, r, typeSDP)
	if !ok {
		return
	}
	sess, err := h.srv.NewSession(string(body), webrtc.SessionOptions{})
	switch {
	case errors.Is(err, webrtc.ErrBadOffer):
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	case errors.Is(err, webrtc.ErrUnsupportedCodec):
		http.Error(w, err.Error(), http.StatusNotAcceptable)
		return
	case errors.Is(err, webrtc.ErrSessionLimit), errors.Is(err, webrtc.ErrServerClosed):
		w.Header().Set("Retry-After", "5")
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	case err != nil:
		h.log.Error("new session", "err", err)
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.AnswerTimeout)
	defer cancel()
	answer, err := sess.Answer(ctx)
	if err != nil {
		sess.Close()
		h.log.Error("answer", "err", err)
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", typeSDP)
	hd.Set("Location", basePath+"/"+sess.ID())
	hd.Set("ETag", `"`+sess.ID()+`"`)
	hd.Set("Accept-Patch", typeSDPFrag)
	w.WriteHeader(http.StatusCreated)
	if _, err := io.WriteString(w, answer); err != nil {
		h.log.Debug("write answer", "err", err)
	}
}

func (h *Handler) patch(w http.ResponseWriter, r *http.Request) {
	if !h.authorized(w, r) {
		return
	}
	sess := h.srv.Session(r.PathValue("id"))
	if sess == nil {
		http.Error(w, "no such session", http.StatusNotFound)
		return
	}
	body, ok := readBody(w, r, typeSDPFrag)
	if !ok {
		return
	}
	frag, err := parseSDPFrag(string(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if frag.ufrag != "" && frag.ufrag != sess.RemoteICEUfrag() {
		// A new ufrag is an ICE restart (RFC 8840 §4.4), which this
		// endpoint does not offer (RFC 9725 §4.3.2: 422).
		http.Error(w, "ICE restart is not supported", http.StatusUnprocessableEntity)
		return
	}
	for _, c := range frag.candidates {
		if err := sess.AddICECandidate(c); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) delete(w http.ResponseWriter, r *http.Request) {
	if !h.authorized(w, r) {
		return
	}
	// Idempotent: deleting a session that is already gone succeeds too.
	if sess := h.srv.Session(r.PathValue("id")); sess != nil {
		sess.Close()
	}
	w.WriteHeader(http.StatusOK)
}

// sdpFrag is the part of an RFC 8840 SDP fragment we act on.
type sdpFrag struct {
	ufrag      string
	candidates []pion.ICECandidateInit
}

// maxFragCandidates bounds one PATCH; the session bounds the total.
const maxFragCandidates = 32

// parseSDPFrag reads ICE lines of a trickle-ice-sdpfrag body (RFC 8840
// §9): session-level ufrag, then per media section a=mid and its
// a=candidate lines; a=end-of-candidates becomes an empty candidate.
func parseSDPFrag(body string) (sdpFrag, error) {
	var (
		f   sdpFrag
		mid *string
		idx = -1
		end bool
	)
	for line := range strings.Lines(body) {
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "":
		case strings.HasPrefix(line, "m="):
			idx++
			mid = nil
		case strings.HasPrefix(line, "a=mid:"):
			v := strings.TrimPrefix(line, "a=mid:")
			mid = &v
		case strings.HasPrefix(line, "a=ice-ufrag:"):
			f.ufrag = strings.TrimPrefix(line, "a=ice-ufrag:")
		case strings.HasPrefix(line, "a=candidate:"):
			if len(f.candidates) >= maxFragCandidates {
				return f, fmt.Errorf("more than %d candidates in one fragment", maxFragCandidates)
			}
			c := pion.ICECandidateInit{Candidate: strings.TrimPrefix(line, "a=")}
			if mid != nil {
				c.SDPMid = mid
			} else {
				i := uint16(max(idx, 0))
				c.SDPMLineIndex = &i
			}
			f.candidates = append(f.candidates, c)
		case line == "a=end-of-candidates":
			end = true
		case strings.HasPrefix(line, "a="), strings.HasPrefix(line, "c="), strings.HasPrefix(line, "b="):
			// ice-pwd, ice-options, group and the like: nothing to do.
		default:
			return f, fmt.Errorf("sdpfrag: unexpected line %q", truncate(line, 40))
		}
	}
	if end {
		f.candidates = append(f.candidates, pion.ICECandidateInit{})
	}
	return f, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
