package securechannel

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/mattercam/mattercam/matter/session"
	"github.com/mattercam/mattercam/matter/transport"
)

// Defaults and limits.
const (
	// DefaultHandshakeTimeout bounds one PASE or CASE exchange from its
	// first message to its last. Core §5.5 ("Commissioning Flows") has the
	// commissionee give up on a PASE that has not completed within 60 s;
	// the same bound is used for CASE.
	DefaultHandshakeTimeout = 60 * time.Second
	// DefaultMaxHandshakes bounds the handshakes a Server answers at once;
	// more get a Busy StatusReport. It matches the session table's
	// default bound on pending Session ID reservations.
	DefaultMaxHandshakes = session.DefaultMaxPending
	// DefaultBusyWait is the minimum wait a Busy StatusReport asks for.
	DefaultBusyWait = time.Second
	// DefaultBusyRetries is how many times a Client retries a handshake
	// the peer answered with Busy, after the wait it asked for.
	DefaultBusyRetries = 2
	// DefaultMaxFailedPASEAttempts is the number of failed PASE attempts
	// after which a commissioning window closes (§13.3: a node SHALL exit
	// commissioning mode after 20 failed commissioning attempts).
	DefaultMaxFailedPASEAttempts = 20
)

// DefaultParams are the session parameters sent when Config.Params is
// zero: the MRP defaults of §4.12.8, stated explicitly.
var DefaultParams = session.Params{
	IdleInterval:    session.DefaultIdleInterval,
	ActiveInterval:  session.DefaultActiveInterval,
	ActiveThreshold: session.DefaultActiveThreshold,
}

// Config configures a Server or a Client.
type Config struct {
	// Manager is the exchange layer the handshakes run on; required.
	Manager *transport.Manager
	// Sessions is the session table: handshakes reserve Session IDs in it,
	// run on its Unsecured Session contexts and establish their sessions
	// in it; required. It must be the table Manager opens packets with.
	Sessions *session.Table

	// Fabrics are this node's operational identities. A Server answers
	// Sigma1 for these fabrics; nil means none.
	Fabrics Fabrics
	// VerifyChain validates a peer's operational certificates; nil means
	// CertChainVerifier(CertificateTime).
	VerifyChain ChainVerifier
	// CertificateTime is the time the default VerifyChain checks validity
	// periods at; nil skips those checks (see CertChainVerifier).
	CertificateTime func() time.Time
	// Resumptions keeps CASE resumption records for both roles; nil means
	// a new store of DefaultResumptionCapacity.
	Resumptions *ResumptionStore

	// Params are this node's session parameters, sent in PBKDFParamRequest
	// and PBKDFParamResponse, Sigma1, Sigma2 and Sigma2_Resume. Zero means
	// DefaultParams.
	Params session.Params

	// HandshakeTimeout bounds one handshake; zero means
	// DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// MaxHandshakes bounds the handshakes a Server answers at once; zero
	// means DefaultMaxHandshakes.
	MaxHandshakes int
	// BusyWait is the minimum wait sent in Busy StatusReports; zero means
	// DefaultBusyWait. At most 65535 ms.
	BusyWait time.Duration
	// BusyRetries is how many times a Client retries after a Busy
	// StatusReport; zero means DefaultBusyRetries, negative none.
	BusyRetries int

	// OnEstablished, if set, is called with every session a Server
	// establishes as responder, after the final StatusReport. It must not
	// block for long.
	OnEstablished func(*session.Secure)

	// Rand is the source of randoms and Session-independent nonces; nil
	// means crypto/rand.Reader.
	Rand io.Reader
	// Logger receives diagnostics, at Debug level per failed handshake.
	// Nil means slog.Default.
	Logger *slog.Logger
}

// normalize checks cfg and fills in defaults.
func (cfg Config) normalize() (Config, error) {
	if cfg.Manager == nil {
		return cfg, errors.New("securechannel: Config.Manager is required")
	}
	if cfg.Sessions == nil {
		return cfg, errors.New("securechannel: Config.Sessions is required")
	}
	if cfg.Params == (session.Params{}) {
		cfg.Params = DefaultParams
	}
	if err := cfg.Params.Validate(); err != nil {
		return cfg, fmt.Errorf("securechannel: Config.Params: %w", err)
	}
	if cfg.HandshakeTimeout == 0 {
		cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if cfg.MaxHandshakes == 0 {
		cfg.MaxHandshakes = DefaultMaxHandshakes
	}
	if cfg.BusyWait == 0 {
		cfg.BusyWait = DefaultBusyWait
	}
	if cfg.BusyRetries == 0 {
		cfg.BusyRetries = DefaultBusyRetries
	}
	switch {
	case cfg.HandshakeTimeout < 0:
		return cfg, errors.New("securechannel: negative HandshakeTimeout")
	case cfg.MaxHandshakes < 0:
		return cfg, errors.New("securechannel: negative MaxHandshakes")
	case cfg.BusyWait < 0 || cfg.BusyWait > 0xFFFF*time.Millisecond:
		return cfg, fmt.Errorf("securechannel: BusyWait %v outside (0, 65535 ms]", cfg.BusyWait)
	}
	if cfg.VerifyChain == nil {
		cfg.VerifyChain = CertChainVerifier(cfg.CertificateTime)
	}
	if cfg.Resumptions == nil {
		cfg.Resumptions = NewResumptionStore(0)
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.Logger = cfg.Logger.With("component", "matter/securechannel")
	return cfg, nil
}
