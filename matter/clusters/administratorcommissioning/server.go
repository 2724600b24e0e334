package administratorcommissioning

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/mattercam/mattercam/matter/clusters/field"
	"github.com/mattercam/mattercam/matter/clusters/internal/serve"
	"github.com/mattercam/mattercam/matter/crypto"
	"github.com/mattercam/mattercam/matter/dm"
	"github.com/mattercam/mattercam/matter/fabric"
	"github.com/mattercam/mattercam/matter/tlv"
)

// Bounds of CommissioningTimeout, the Announcement Duration of Core
// §5.4.2.3: at least 3 minutes, at most 15.
const (
	MinCommissioningTimeout = 180 * time.Second
	MaxCommissioningTimeout = 900 * time.Second
)

// MaxDiscriminator is the largest long discriminator (12 bits).
const MaxDiscriminator = 0x0FFF

// WindowParams describe an Enhanced Commissioning Method window (Core
// §5.6.3): the PASE verifier and PBKDF parameters the administrator
// computed, and the discriminator to advertise.
type WindowParams struct {
	Verifier      *crypto.PasscodeVerifier
	Salt          []byte
	Iterations    int
	Discriminator uint16
	Timeout       time.Duration
}

// Window is the node's commissioning mode, implemented by the node: while
// open it accepts PASE with the window's verifier and advertises
// _matterc._udp (Core §4.3.1). The initial window of an uncommissioned
// node is opened by the node itself, not through this cluster. The cluster
// calls OpenEnhanced and Close with its own lock held, so they must not
// call back into it.
type Window interface {
	// OpenEnhanced opens a window with p's parameters. The cluster
	// closes it when p.Timeout elapses.
	OpenEnhanced(p WindowParams) error
	// Close closes any window, the initial one included; it is
	// idempotent.
	Close()
	// IsOpen reports whether any window is open.
	IsOpen() bool
}

// FailSafe is what the cluster needs of the fail-safe context;
// *generalcommissioning.FailSafe implements it.
type FailSafe interface {
	Armed() bool
	Expire() bool
}

// Fabrics gives the vendor ID of the administrator's fabric;
// *fabric.Table implements it.
type Fabrics interface {
	Get(index uint8) (fabric.Descriptor, bool)
}

// Config configures an AdministratorCommissioning server.
type Config struct {
	Window   Window   // required
	FailSafe FailSafe // required
	Fabrics  Fabrics  // required
	// Notify is told about attribute changes; nil means nobody.
	Notify Notifier
	// Logger; nil means slog.Default().
	Logger *slog.Logger
}

// Notifier is told about attribute changes; *dm.Node implements it.
type Notifier = serve.Notifier

// Server is the Administrator Commissioning cluster (Core §11.19) on the
// root endpoint: an administrator opens an Enhanced Commissioning Method
// window for another one, or revokes it. Basic Commissioning is not
// supported.
type Server struct {
	serve.Base
	cfg Config
	log *slog.Logger

	mu          sync.Mutex
	status      CommissioningWindowStatus
	adminFabric field.Nullable[uint8]
	adminVendor field.Nullable[uint16]
	timer       *time.Timer
	gen         uint64
}

var _ dm.Cluster = (*Server)(nil)

var meta = serve.Subset(&Meta,
	[]uint32{AttrWindowStatus, AttrAdminFabricIndex, AttrAdminVendorID},
	[]uint32{CmdOpenCommissioningWindow, CmdRevokeCommissioning}, nil)

// New returns an AdministratorCommissioning server.
func New(cfg Config) (*Server, error) {
	if cfg.Window == nil || cfg.FailSafe == nil || cfg.Fabrics == nil {
		return nil, errors.New("administratorcommissioning: Config.Window, FailSafe and Fabrics are required")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	s := &Server{cfg: cfg, log: log.With("component", "administratorcommissioning")}
	s.Init(meta, 0, cfg.Notify)
	return s, nil
}

// FeatureMap implements dm.Cluster: no Basic Commissioning.
func (s *Server) FeatureMap() uint32 { return 0 }

// Status returns the WindowStatus attribute.
func (s *Server) Status() CommissioningWindowStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status
}

// ReadAttribute implements dm.Cluster.
func (s *Server) ReadAttribute(_ *dm.Request, attr uint32, w *tlv.Writer, tag tlv.Tag) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch attr {
	case AttrWindowStatus:
		w.PutUint(tag, uint64(s.status))
	case AttrAdminFabricIndex:
		serve.PutNullableUint(w, tag, uint64(s.adminFabric.Value), s.adminFabric.Valid)
	case AttrAdminVendorID:
		serve.PutNullableUint(w, tag, uint64(s.adminVendor.Value), s.adminVendor.Valid)
	default:
		return serve.UnsupportedAttribute()
	}
	return w.Err()
}

// WriteAttribute implements dm.Cluster: nothing is writable.
func (s *Server) WriteAttribute(_ *dm.Request, attr uint32, _ *tlv.Reader, _ bool) error {
	if meta.Attribute(attr) == nil {
		return serve.UnsupportedAttribute()
	}
	return serve.UnsupportedWrite()
}

func clusterStatus(c StatusCode) error {
	return dm.ClusterError(dm.StatusFailure, uint8(c))
}

// Invoke implements dm.Cluster. Both commands need a timed interaction,
// which the IM engine enforces from the metadata.
func (s *Server) Invoke(req *dm.Request, cmd uint32, r *tlv.Reader, _ *dm.CommandResponse) error {
	switch cmd {
	case CmdOpenCommissioningWindow:
		return s.openCommissioningWindow(req, r)
	case CmdRevokeCommissioning:
		var in RevokeCommissioningRequest
		if err := serve.DecodeCommand(r, &in); err != nil {
			return err
		}
		return s.revokeCommissioning()
	}
	return serve.UnsupportedCommand()
}

// openRequest is OpenCommissioningWindow's fields, decoded without the
// model's constraints so that each violation gets the status Core
// §11.19.8.1 gives it.
type openRequest struct {
	timeout       uint64
	verifier      []byte
	discriminator uint64
	iterations    uint64
	salt          []byte
}

func decodeOpen(r *tlv.Reader) (*openRequest, error) {
	invalid := func(err error) (*openRequest, error) {
		return nil, &dm.StatusError{Status: dm.StatusInvalidCommand, Err: err}
	}
	if r == nil {
		return invalid(errors.New("no fields"))
	}
	if err := field.EnterStruct(r); err != nil {
		return invalid(err)
	}
	var in openRequest
	var seen field.Seen
	for {
		tag, ok, err := field.Next(r, &seen)
		if err != nil {
			return invalid(err)
		}
		if !ok {
			break
		}
		switch tag {
		case 0:
			in.timeout, err = r.Uint()
		case 1:
			in.verifier, err = field.Bytes(r, 0, 256)
		case 2:
			in.discriminator, err = r.Uint()
		case 3:
			in.iterations, err = r.Uint()
		case 4:
			in.salt, err = field.Bytes(r, 0, 256)
		}
		if err != nil {
			return invalid(fmt.Errorf("field %d: %w", tag, err))
		}
	}
	if err := r.Exit(); err != nil {
		return invalid(err)
	}
	for tag := range uint8(5) {
		if !seen.Has(tag) {
			return invalid(fmt.Errorf("field %d missing", tag))
		}
	}
	return &in, nil
}

// openCommissioningWindow is OpenCommissioningWindow (Core §11.19.8.1).
func (s *Server) openCommissioningWindow(req *dm.Request, r *tlv.Reader) error {
	in, err := decodeOpen(r)
	if err != nil {
		return err
	}
	if err := s.open(req, in); err != nil {
		return err
	}
	s.Changed(AttrWindowStatus, AttrAdminFabricIndex, AttrAdminVendorID)
	return nil
}

// open checks the request and opens the window.
func (s *Server) open(req *dm.Request, in *openRequest) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cfg.Window.IsOpen() || s.cfg.FailSafe.Armed() {
		return clusterStatus(StatusCodeBusy)
	}
	// Format and validity errors of the PAKE parameters have their own
	// status; any other parameter error is INVALID_COMMAND.
	v, verr := crypto.ParsePasscodeVerifier(in.verifier)
	if verr != nil || in.iterations < crypto.PBKDFMinIterations || in.iterations > crypto.PBKDFMaxIterations ||
		len(in.salt) < crypto.PBKDFMinSaltSize || len(in.salt) > crypto.PBKDFMaxSaltSize {
		return clusterStatus(StatusCodePakeParameterError)
	}
	timeout := time.Duration(in.timeout) * time.Second
	if in.timeout > uint64(MaxCommissioningTimeout/time.Second) || timeout < MinCommissioningTimeout || in.discriminator > MaxDiscriminator {
		return serve.Status(dm.StatusInvalidCommand)
	}
	p := WindowParams{Verifier: v, Salt: in.salt, Iterations: int(in.iterations),
		Discriminator: uint16(in.discriminator), Timeout: timeout}
	if err := s.cfg.Window.OpenEnhanced(p); err != nil {
		return &dm.StatusError{Status: dm.StatusFailure, Err: err}
	}
	admin := req.Subject.FabricIndex
	s.status = CommissioningWindowStatusEnhancedWindowOpen
	s.adminFabric, s.adminVendor = field.Null[uint8](), field.Null[uint16]()
	if d, ok := s.cfg.Fabrics.Get(admin); ok {
		s.adminFabric, s.adminVendor = field.NonNull(admin), field.NonNull(d.VendorID)
	}
	s.gen++
	gen := s.gen
	if s.timer != nil {
		s.timer.Stop()
	}
	s.timer = time.AfterFunc(timeout, func() { s.close(&gen) })
	s.log.Info("commissioning window opened", "fabric", admin, "timeout", timeout, "discriminator", p.Discriminator)
	return nil
}

// revokeCommissioning is RevokeCommissioning (Core §11.19.8.3): an armed
// fail-safe expires, and the window closes.
func (s *Server) revokeCommissioning() error {
	if !s.cfg.Window.IsOpen() {
		return clusterStatus(StatusCodeWindowNotOpen)
	}
	s.cfg.FailSafe.Expire()
	s.CloseWindow()
	return nil
}

// CloseWindow closes any commissioning window and resets the attributes.
// The node calls it when commissioning completes (Core §11.10.7.6 step 2).
func (s *Server) CloseWindow() { s.close(nil) }

// close closes the window; with gen set, only if it is still the window
// of that generation (its timer went off).
func (s *Server) close(gen *uint64) {
	s.mu.Lock()
	if gen != nil && *gen != s.gen {
		s.mu.Unlock()
		return
	}
	if gen != nil {
		s.log.Info("commissioning window timed out")
	}
	s.cfg.Window.Close()
	s.gen++
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	changed := s.status != CommissioningWindowStatusWindowNotOpen || s.adminFabric.Valid || s.adminVendor.Valid
	s.status = CommissioningWindowStatusWindowNotOpen
	s.adminFabric, s.adminVendor = field.Null[uint8](), field.Null[uint16]()
	s.mu.Unlock()
	if changed {
		s.Changed(AttrWindowStatus, AttrAdminFabricIndex, AttrAdminVendorID)
	}
}

// FabricRemoved clears AdminFabricIndex when the fabric of the
// administrator that opened the window is removed; AdminVendorId stays
// (Core §11.19.7.2, §11.19.7.3).
func (s *Server) FabricRemoved(fabricIndex uint8) {
	s.mu.Lock()
	hit := s.adminFabric.Valid && s.adminFabric.Value == fabricIndex
	if hit {
		s.adminFabric = field.Null[uint8]()
	}
	s.mu.Unlock()
	if hit {
		s.Changed(AttrAdminFabricIndex)
	}
}
