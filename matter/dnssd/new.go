package dnssd

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// Backend selects how New advertises.
type Backend uint8

// Backends.
const (
	// BackendAuto uses avahi-daemon when it is reachable on the system
	// bus and the embedded responder otherwise.
	BackendAuto Backend = iota
	// BackendAvahi uses avahi-daemon or fails.
	BackendAvahi
	// BackendEmbedded uses the embedded responder.
	BackendEmbedded
)

// Config configures New. The zero value picks a backend automatically.
type Config struct {
	Backend   Backend
	Avahi     AvahiConfig
	Responder ResponderConfig
	// AvahiProbeTimeout bounds the attempt to reach Avahi in BackendAuto.
	// Zero means 2 s.
	AvahiProbeTimeout time.Duration
	// Logger is passed to the backend unless its own config sets one.
	Logger *slog.Logger
}

// New returns an Advertiser: Avahi when it is reachable (a device image
// that runs avahi-daemon should share it rather than run a second
// responder), else the embedded responder.
func New(ctx context.Context, cfg Config) (Advertiser, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	if cfg.Avahi.Logger == nil {
		cfg.Avahi.Logger = log
	}
	if cfg.Responder.Logger == nil {
		cfg.Responder.Logger = log
	}
	switch cfg.Backend {
	case BackendAvahi:
		return DialAvahi(ctx, cfg.Avahi)
	case BackendEmbedded:
		return NewResponder(cfg.Responder)
	case BackendAuto:
	default:
		return nil, fmt.Errorf("dnssd: unknown backend %d", cfg.Backend)
	}
	timeout := cfg.AvahiProbeTimeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	actx, cancel := context.WithTimeout(ctx, timeout)
	a, err := DialAvahi(actx, cfg.Avahi)
	cancel()
	if err == nil {
		log.Info("DNS-SD through avahi-daemon", "component", "dnssd")
		return a, nil
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	log.Info("avahi-daemon not reachable, using the embedded mDNS responder", "component", "dnssd", "reason", err)
	return NewResponder(cfg.Responder)
}
