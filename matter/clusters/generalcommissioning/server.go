package generalcommissioning

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/mattercam/mattercam/matter/clusters/field"
	"github.com/mattercam/mattercam/matter/clusters/internal/serve"
	"github.com/mattercam/mattercam/matter/dm"
	"github.com/mattercam/mattercam/matter/fabric"
	"github.com/mattercam/mattercam/matter/tlv"
)

// Defaults of BasicCommissioningInfo (Core §11.10.5.4): a minute is ample
// for commissioning on an IP network, and MaxCumulativeFailsafeSeconds
// follows the recommended 900 s (the Announcement Duration, Core §5.4.2.3).
const (
	DefaultFailSafeExpiryLength  = 60 * time.Second
	DefaultMaxCumulativeFailsafe = 900 * time.Second
)

// Staging is the fabric table's fail-safe staging; *fabric.Table
// implements it. CommissioningComplete commits it, expiry reverts it
// (Core §11.10.7.2.2 steps 5 to 8).
type Staging interface {
	Commit() error
	Revert() fabric.Reverted
}

// Expired describes a fail-safe context that expired, for the clean-up
// that the cluster leaves to the node (Core §11.10.7.2.2).
type Expired struct {
	// Context is the context that expired.
	Context Context
	// Reverted is what the fabric table undid: the fabric AddNOC added
	// (now removed, together with its fabric-scoped data, through the
	// table's ChangeRemoved notification) and the fabric whose UpdateNOC
	// was undone.
	Reverted fabric.Reverted
}

// Config configures a GeneralCommissioning server.
type Config struct {
	// Fabrics is the fabric table's staging. Required.
	Fabrics Staging
	// FailSafeExpiryLength and MaxCumulativeFailsafe are
	// BasicCommissioningInfo, whole seconds; zero means the defaults.
	FailSafeExpiryLength  time.Duration
	MaxCumulativeFailsafe time.Duration
	// LocationCapability is RegulatoryLocationType capability; a node
	// without radios is IndoorOutdoor (Core §11.10.6.4), the zero value's
	// meaning here.
	LocationCapability *RegulatoryLocationType
	// NoConcurrentConnection clears SupportsConcurrentConnection: the node
	// cannot keep the commissioning channel open while it joins the
	// operational network. An IP node can.
	NoConcurrentConnection bool
	// WindowOpen reports whether a commissioning window is open, the
	// initial one included; while one is, a CASE session may not arm the
	// fail-safe (Core §11.10.7.2). Nil means never.
	WindowOpen func() bool
	// SetLocation stores SetRegulatoryConfig's CountryCode as Basic
	// Information's Location (Core §11.10.7.4); nil ignores it.
	SetLocation func(code string) error
	// OnExpired runs after the fail-safe expired and the fabric table was
	// reverted: the node closes the PASE sessions and the CASE sessions of
	// the fabrics in Reverted (§11.10.7.2.2 steps 1 to 3) and reverts the
	// network configuration (step 4). It may run on the goroutine of an
	// ArmFailSafe handler whose response is not sent yet, so sessions are
	// best closed once that exchange is done.
	OnExpired func(Expired)
	// OnComplete runs after CommissioningComplete committed the context of
	// fabric: the node closes the commissioning window, revokes the PASE
	// grant and clears the PASE sessions (§11.10.7.6 steps 2 to 4).
	OnComplete func(fabricIndex uint8)
	// Notify is told about attribute changes; nil means nobody.
	Notify Notifier
	// Logger; nil means slog.Default().
	Logger *slog.Logger
}

// Notifier is told about attribute changes; *dm.Node implements it.
type Notifier = serve.Notifier

// Server is the General Commissioning cluster (Core §11.10) and the owner
// of the node's fail-safe context. Terms and Conditions and Network
// Recovery are not supported.
type Server struct {
	serve.Base
	cfg Config
	log *slog.Logger
	fs  *FailSafe
	loc RegulatoryLocationType

	mu         sync.Mutex
	breadcrumb uint64
	regulatory RegulatoryLocationType
}

var _ dm.Cluster = (*Server)(nil)

var meta = serve.Subset(&Meta,
	[]uint32{AttrBreadcrumb, AttrBasicCommissioningInfo, AttrRegulatoryConfig, AttrLocationCapability, AttrSupportsConcurrentConnection},
	[]uint32{CmdArmFailSafe, CmdSetRegulatoryConfig, CmdCommissioningComplete}, nil)

// New returns a GeneralCommissioning server with a disarmed fail-safe.
func New(cfg Config) (*Server, error) {
	if cfg.Fabrics == nil {
		return nil, errors.New("generalcommissioning: Config.Fabrics is required")
	}
	if cfg.FailSafeExpiryLength == 0 {
		cfg.FailSafeExpiryLength = DefaultFailSafeExpiryLength
	}
	if cfg.MaxCumulativeFailsafe == 0 {
		cfg.MaxCumulativeFailsafe = DefaultMaxCumulativeFailsafe
	}
	// MaxCumulativeFailsafeSeconds >= FailSafeExpiryLengthSeconds, both
	// uint16 seconds (Core §11.10.5.4.2).
	if cfg.FailSafeExpiryLength < time.Second || cfg.MaxCumulativeFailsafe < cfg.FailSafeExpiryLength ||
		cfg.MaxCumulativeFailsafe > 0xFFFF*time.Second {
		return nil, fmt.Errorf("generalcommissioning: fail-safe lengths %v, %v out of range", cfg.FailSafeExpiryLength, cfg.MaxCumulativeFailsafe)
	}
	loc := RegulatoryLocationTypeIndoorOutdoor
	if cfg.LocationCapability != nil {
		loc = *cfg.LocationCapability
		if !loc.Known() {
			return nil, fmt.Errorf("generalcommissioning: location capability %v", loc)
		}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	s := &Server{cfg: cfg, log: log.With("component", "generalcommissioning"), loc: loc, regulatory: loc}
	s.fs = newFailSafe(cfg.MaxCumulativeFailsafe, s.expired)
	s.Init(meta, 0, cfg.Notify)
	return s, nil
}

// FailSafe returns the node's fail-safe context.
func (s *Server) FailSafe() *FailSafe { return s.fs }

// Breadcrumb returns the Breadcrumb attribute.
func (s *Server) Breadcrumb() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.breadcrumb
}

func (s *Server) setBreadcrumb(v uint64) {
	s.mu.Lock()
	changed := s.breadcrumb != v
	s.breadcrumb = v
	s.mu.Unlock()
	if changed {
		s.Changed(AttrBreadcrumb)
	}
}

// expired is the clean-up on expiry (Core §11.10.7.2.2): the fabric
// table's share (steps 5 to 8), the breadcrumb (step 9), then the node's.
func (s *Server) expired(ctx Context) {
	rev := s.cfg.Fabrics.Revert()
	s.setBreadcrumb(0)
	s.log.Info("fail-safe expired", "fabric", ctx.Fabric, "removed", rev.Added, "restored", rev.Updated)
	if s.cfg.OnExpired != nil {
		s.cfg.OnExpired(Expired{Context: ctx, Reverted: rev})
	}
}

// FeatureMap implements dm.Cluster.
func (s *Server) FeatureMap() uint32 { return 0 }

// ReadAttribute implements dm.Cluster.
func (s *Server) ReadAttribute(_ *dm.Request, attr uint32, w *tlv.Writer, tag tlv.Tag) error {
	switch attr {
	case AttrBreadcrumb:
		w.PutUint(tag, s.Breadcrumb())
	case AttrBasicCommissioningInfo:
		info := BasicCommissioningInfo{
			FailSafeExpiryLengthSeconds:  uint16(s.cfg.FailSafeExpiryLength / time.Second),
			MaxCumulativeFailsafeSeconds: uint16(s.cfg.MaxCumulativeFailsafe / time.Second),
		}
		info.EncodeTLV(w, tag)
	case AttrRegulatoryConfig:
		s.mu.Lock()
		v := s.regulatory
		s.mu.Unlock()
		w.PutUint(tag, uint64(v))
	case AttrLocationCapability:
		w.PutUint(tag, uint64(s.loc))
	case AttrSupportsConcurrentConnection:
		w.PutBool(tag, !s.cfg.NoConcurrentConnection)
	default:
		return serve.UnsupportedAttribute()
	}
	return w.Err()
}

// WriteAttribute implements dm.Cluster: only Breadcrumb is writable.
func (s *Server) WriteAttribute(_ *dm.Request, attr uint32, r *tlv.Reader, _ bool) error {
	switch attr {
	case AttrBreadcrumb:
		v, err := field.Uint[uint64](r)
		if err != nil {
			return serve.ValueError(err)
		}
		s.setBreadcrumb(v)
		return nil
	case AttrBasicCommissioningInfo, AttrRegulatoryConfig, AttrLocationCapability, AttrSupportsConcurrentConnection:
		return serve.UnsupportedWrite()
	}
	return serve.UnsupportedAttribute()
}

// Invoke implements dm.Cluster.
func (s *Server) Invoke(req *dm.Request, cmd uint32, r *tlv.Reader, resp *dm.CommandResponse) error {
	switch cmd {
	case CmdArmFailSafe:
		var in ArmFailSafeRequest
		if err := serve.DecodeCommand(r, &in); err != nil {
			return err
		}
		return serve.Respond(resp, CmdArmFailSafeResponse, s.armFailSafe(req, &in))
	case CmdSetRegulatoryConfig:
		var in SetRegulatoryConfigRequest
		if err := serve.DecodeCommand(r, &in); err != nil {
			return err
		}
		out, err := s.setRegulatoryConfig(&in)
		if err != nil {
			return err
		}
		return serve.Respond(resp, CmdSetRegulatoryConfigResponse, out)
	case CmdCommissioningComplete:
		var in CommissioningCompleteRequest
		if err := serve.DecodeCommand(r, &in); err != nil {
			return err
		}
		out, err := s.commissioningComplete(req)
		if err != nil {
			return err
		}
		return serve.Respond(resp, CmdCommissioningCompleteResponse, out)
	}
	return serve.UnsupportedCommand()
}

// armFailSafe is ArmFailSafe (Core §11.10.7.2).
func (s *Server) armFailSafe(req *dm.Request, in *ArmFailSafeRequest) *ArmFailSafeResponse {
	busy := func(why string) *ArmFailSafeResponse {
		return &ArmFailSafeResponse{ErrorCode: CommissioningErrorBusyWithOtherAdmin, DebugText: why}
	}
	subj := req.Subject
	fs := s.fs
	// A CASE session may not take the fail-safe while a commissioning
	// window is open and nobody holds it: it is left to the commissioner
	// that will come over PASE.
	if !fs.Armed() && subj.AuthMode == dm.AuthCASE && s.cfg.WindowOpen != nil && s.cfg.WindowOpen() {
		return busy("commissioning window open")
	}
	d := time.Duration(in.ExpiryLengthSeconds) * time.Second
	switch {
	case d == 0:
		// Expire a context this fabric holds at once (its clean-up resets
		// the breadcrumb); no context, no effect; another fabric's context
		// is busy.
		if fs.expireFor(subj.FabricIndex) {
			return &ArmFailSafeResponse{ErrorCode: CommissioningErrorOK}
		}
		if fs.Armed() {
			return busy("fail-safe held by another fabric")
		}
	case fs.rearm(subj.FabricIndex, d):
	case !fs.arm(subj.FabricIndex, d):
		return busy("fail-safe held by another fabric")
	}
	s.setBreadcrumb(in.Breadcrumb)
	return &ArmFailSafeResponse{ErrorCode: CommissioningErrorOK}
}

// setRegulatoryConfig is SetRegulatoryConfig (Core §11.10.7.4).
func (s *Server) setRegulatoryConfig(in *SetRegulatoryConfigRequest) (*SetRegulatoryConfigResponse, error) {
	if !in.NewRegulatoryConfig.Known() {
		return nil, serve.Status(dm.StatusConstraintError)
	}
	if len(in.CountryCode) != 2 {
		return nil, serve.Status(dm.StatusConstraintError)
	}
	// The country code sets Location even when the configuration is
	// refused.
	if s.cfg.SetLocation != nil {
		if err := s.cfg.SetLocation(in.CountryCode); err != nil {
			return nil, err
		}
	}
	if s.loc != RegulatoryLocationTypeIndoorOutdoor && in.NewRegulatoryConfig != s.loc {
		return &SetRegulatoryConfigResponse{ErrorCode: CommissioningErrorValueOutsideRange,
			DebugText: "location capability is " + s.loc.String()}, nil
	}
	s.mu.Lock()
	changed := s.regulatory != in.NewRegulatoryConfig
	s.regulatory = in.NewRegulatoryConfig
	s.mu.Unlock()
	if changed {
		s.Changed(AttrRegulatoryConfig)
	}
	s.setBreadcrumb(in.Breadcrumb)
	return &SetRegulatoryConfigResponse{ErrorCode: CommissioningErrorOK}, nil
}

// commissioningComplete is CommissioningComplete (Core §11.10.7.6).
func (s *Server) commissioningComplete(req *dm.Request) (*CommissioningCompleteResponse, error) {
	subj := req.Subject
	fail := func(code CommissioningError, why string) (*CommissioningCompleteResponse, error) {
		return &CommissioningCompleteResponse{ErrorCode: code, DebugText: why}, nil
	}
	if !s.fs.Armed() {
		return fail(CommissioningErrorNoFailSafe, "fail-safe not armed")
	}
	// Only over CASE, from the fabric of the context (after AddNOC, the
	// fabric it added).
	if subj.AuthMode != dm.AuthCASE {
		return fail(CommissioningErrorInvalidAuthentication, "not a CASE session")
	}
	ctx, armed, ok := s.fs.complete(subj.FabricIndex)
	switch {
	case !armed:
		return fail(CommissioningErrorNoFailSafe, "fail-safe not armed")
	case !ok:
		return fail(CommissioningErrorInvalidAuthentication, "fail-safe held by another fabric")
	}
	if err := s.cfg.Fabrics.Commit(); err != nil {
		// The context is gone; undo what it staged as an expiry would.
		s.log.Error("committing the fail-safe context failed", "fabric", ctx.Fabric, "err", err)
		s.expired(ctx)
		return nil, &dm.StatusError{Status: dm.StatusFailure, Err: err}
	}
	s.setBreadcrumb(0)
	s.log.Info("commissioning complete", "fabric", ctx.Fabric)
	if s.cfg.OnComplete != nil {
		s.cfg.OnComplete(ctx.Fabric)
	}
	return &CommissioningCompleteResponse{ErrorCode: CommissioningErrorOK}, nil
}
