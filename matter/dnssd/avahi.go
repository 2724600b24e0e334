package dnssd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/godbus/dbus/v5"
)

// Avahi's D-Bus API (avahi-daemon 0.8; see avahi's
// org.freedesktop.Avahi.Server.xml and EntryGroup.xml).
const (
	avahiName        = "org.freedesktop.Avahi"
	avahiServer      = "org.freedesktop.Avahi.Server"
	avahiEntryGroup  = "org.freedesktop.Avahi.EntryGroup"
	avahiIfUnspec    = int32(-1) // AVAHI_IF_UNSPEC: every interface
	avahiProtoUnspec = int32(-1) // AVAHI_PROTO_UNSPEC: IPv4 and IPv6
	avahiCollision   = "org.freedesktop.Avahi.CollisionError"

	// Entry group states (0 uncommitted and 1 registering need no action).
	groupEstablished = 2
	groupCollision   = 3
	groupFailure     = 4

	// Server states.
	serverRegistering = 1
	serverRunning     = 2
	serverCollision   = 3
)

// AvahiConfig configures the Avahi backend.
type AvahiConfig struct {
	// BusAddress is the D-Bus address avahi-daemon listens on, e.g.
	// "unix:path=/run/dbus/system_bus_socket". Empty means the system bus
	// (DBUS_SYSTEM_BUS_ADDRESS, else the default socket).
	BusAddress string

	// CallTimeout bounds each D-Bus call. Zero means 5 s.
	CallTimeout time.Duration

	// MaxServices bounds Publish. Zero means 32.
	MaxServices int

	// Logger receives rare diagnostics. Nil means slog.Default.
	Logger *slog.Logger
}

// Avahi publishes services through avahi-daemon's D-Bus API, one entry
// group per service (RFC 6763 records, probing and announcing are
// Avahi's). Entry groups belong to the D-Bus connection and vanish with it,
// so the connection lives until Close. SRV records point at Avahi's own
// host name.
type Avahi struct {
	log     *slog.Logger
	conn    *dbus.Conn
	cancel  context.CancelFunc
	server  dbus.BusObject
	timeout time.Duration
	max     int

	mu         sync.Mutex
	groups     map[Handle]*avahiGroup
	next       Handle
	closed     bool
	republish  bool // the server went through a collision or re-registration
	avahiOwner string

	sigs chan *dbus.Signal
	wg   sync.WaitGroup
}

type avahiGroup struct {
	path dbus.ObjectPath // empty while avahi-daemon is away
	svc  Service
	name string // the instance name in use, after any collision renames
}

var _ Advertiser = (*Avahi)(nil)

// NewAvahi connects to avahi-daemon on the system bus. It fails quickly,
// with an error saying which, when there is no system bus or no Avahi on it.
func NewAvahi(ctx context.Context) (*Avahi, error) { return DialAvahi(ctx, AvahiConfig{}) }

// DialAvahi connects to avahi-daemon as configured. ctx bounds only the
// setup; the connection then lives until Close.
func DialAvahi(ctx context.Context, cfg AvahiConfig) (*Avahi, error) {
	a := &Avahi{
		log:     cfg.Logger,
		timeout: cfg.CallTimeout,
		max:     cfg.MaxServices,
		groups:  make(map[Handle]*avahiGroup),
		sigs:    make(chan *dbus.Signal, 32),
	}
	if a.log == nil {
		a.log = slog.Default()
	}
	a.log = a.log.With("component", "dnssd", "backend", "avahi")
	if a.timeout <= 0 {
		a.timeout = 5 * time.Second
	}
	if a.max <= 0 {
		a.max = defaultMaxSvcs
	}

	// The connection's own context is ours; ctx can only abort the dial.
	connCtx, cancel := context.WithCancel(context.Background())
	stop := context.AfterFunc(ctx, cancel)
	var conn *dbus.Conn
	var err error
	if cfg.BusAddress == "" {
		conn, err = dbus.ConnectSystemBus(dbus.WithContext(connCtx))
	} else {
		conn, err = dbus.Connect(cfg.BusAddress, dbus.WithContext(connCtx))
	}
	if !stop() && err == nil {
		err = ctx.Err()
		conn.Close()
	}
	if err != nil {
		cancel()
		return nil, fmt.Errorf("dnssd: avahi: no D-Bus system bus: %w", err)
	}
	a.conn, a.cancel = conn, cancel
	a.server = conn.Object(avahiName, "/")

	fail := func(err error) (*Avahi, error) {
		conn.Close()
		cancel()
		return nil, err
	}
	var owner string
	if err := conn.BusObject().CallWithContext(ctx, "org.freedesktop.DBus.GetNameOwner", 0, avahiName).Store(&owner); err != nil {
		return fail(fmt.Errorf("dnssd: avahi: avahi-daemon is not on the bus: %w", err))
	}
	a.avahiOwner = owner
	var state int32
	if err := a.server.CallWithContext(ctx, avahiServer+".GetState", 0).Store(&state); err != nil {
		return fail(fmt.Errorf("dnssd: avahi: GetState: %w", err))
	}
	if state != serverRunning {
		a.log.Info("avahi-daemon is not running yet; groups register when it is", "state", state)
	}
	for _, m := range [][]dbus.MatchOption{
		{dbus.WithMatchSender(avahiName), dbus.WithMatchInterface(avahiEntryGroup), dbus.WithMatchMember("StateChanged")},
		{dbus.WithMatchSender(avahiName), dbus.WithMatchInterface(avahiServer), dbus.WithMatchMember("StateChanged")},
		{dbus.WithMatchSender("org.freedesktop.DBus"), dbus.WithMatchInterface("org.freedesktop.DBus"),
			dbus.WithMatchMember("NameOwnerChanged"), dbus.WithMatchOption("arg0", avahiName)},
	} {
		if err := conn.AddMatchSignalContext(ctx, m...); err != nil {
			return fail(fmt.Errorf("dnssd: avahi: subscribing to signals: %w", err))
		}
	}
	conn.Signal(a.sigs)
	a.wg.Add(1)
	go a.watch()
	return a, nil
}

func (a *Avahi) call(obj dbus.BusObject, method string, args ...any) *dbus.Call {
	ctx, cancel := context.WithTimeout(context.Background(), a.timeout)
	defer cancel()
	return obj.CallWithContext(ctx, method, 0, args...)
}

// Publish implements Advertiser.
func (a *Avahi) Publish(s Service) (Handle, error) {
	if err := s.Validate(); err != nil {
		return 0, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return 0, ErrClosed
	}
	if len(a.groups) >= a.max {
		return 0, fmt.Errorf("%w: limit %d", ErrTooManyServices, a.max)
	}
	g := &avahiGroup{svc: s.Clone(), name: s.Instance}
	if err := a.register(g); err != nil {
		return 0, err
	}
	a.next++
	a.groups[a.next] = g
	return a.next, nil
}

// Update implements Advertiser. A TXT-only change uses UpdateServiceTxt;
// anything else re-fills the entry group.
func (a *Avahi) Update(h Handle, s Service) error {
	if err := s.Validate(); err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return ErrClosed
	}
	g, ok := a.groups[h]
	if !ok {
		return ErrUnknownHandle
	}
	old := g.svc
	g.svc = s.Clone()
	if !sameShape(old, s) {
		g.name = s.Instance
	}
	if g.path == "" {
		return nil // avahi-daemon is away; published when it returns
	}
	if sameShape(old, s) && old.Port == s.Port && slices.Equal(old.Subtypes, s.Subtypes) {
		err := a.call(a.conn.Object(avahiName, g.path), avahiEntryGroup+".UpdateServiceTxt",
			avahiIfUnspec, avahiProtoUnspec, uint32(0), g.name, s.Type, "", txtBytes(s.TXT)).Err
		if err != nil {
			return fmt.Errorf("dnssd: avahi: UpdateServiceTxt: %w", err)
		}
		return nil
	}
	return a.refill(g)
}

// Withdraw implements Advertiser. Freeing the group makes Avahi send the
// goodbyes.
func (a *Avahi) Withdraw(h Handle) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return ErrClosed
	}
	g, ok := a.groups[h]
	if !ok {
		return ErrUnknownHandle
	}
	delete(a.groups, h)
	return a.free(g)
}

// Close frees every group, closes the D-Bus connection and waits for the
// signal goroutine.
func (a *Avahi) Close() error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil
	}
	a.closed = true
	var errs []error
	for _, h := range slices.Sorted(maps.Keys(a.groups)) {
		errs = append(errs, a.free(a.groups[h]))
	}
	clear(a.groups)
	a.mu.Unlock()
	errs = append(errs, a.conn.Close())
	a.cancel()
	a.wg.Wait()
	return errors.Join(errs...)
}

func (a *Avahi) free(g *avahiGroup) error {
	if g.path == "" {
		return nil
	}
	err := a.call(a.conn.Object(avahiName, g.path), avahiEntryGroup+".Free").Err
	g.path = ""
	if err != nil {
		return fmt.Errorf("dnssd: avahi: Free: %w", err)
	}
	return nil
}

// register creates an entry group for g and commits it.
func (a *Avahi) register(g *avahiGroup) error {
	var path dbus.ObjectPath
	if err := a.call(a.server, avahiServer+".EntryGroupNew").Store(&path); err != nil {
		return fmt.Errorf("dnssd: avahi: EntryGroupNew: %w", err)
	}
	g.path = path
	if err := a.fill(g); err != nil {
		_ = a.free(g)
		return err
	}
	return nil
}

// refill resets g's group and adds the service again.
func (a *Avahi) refill(g *avahiGroup) error {
	if err := a.call(a.conn.Object(avahiName, g.path), avahiEntryGroup+".Reset").Err; err != nil {
		return fmt.Errorf("dnssd: avahi: Reset: %w", err)
	}
	return a.fill(g)
}

// fill adds the service and its subtypes to g's (empty) group and commits.
// A local name collision picks Avahi's alternative name and tries again.
func (a *Avahi) fill(g *avahiGroup) error {
	obj := a.conn.Object(avahiName, g.path)
	s := g.svc
	const maxRenames = 16
	for i := 0; ; i++ {
		err := a.call(obj, avahiEntryGroup+".AddService",
			avahiIfUnspec, avahiProtoUnspec, uint32(0), g.name, s.Type, "", "", s.Port, txtBytes(s.TXT)).Err
		if err == nil {
			break
		}
		var derr dbus.Error
		if i < maxRenames && errors.As(err, &derr) && derr.Name == avahiCollision {
			if g.name, err = a.alternative(g.name); err != nil {
				return err
			}
			continue
		}
		return fmt.Errorf("dnssd: avahi: AddService %q: %w", g.name, err)
	}
	for _, st := range s.Subtypes {
		err := a.call(obj, avahiEntryGroup+".AddServiceSubtype",
			avahiIfUnspec, avahiProtoUnspec, uint32(0), g.name, s.Type, "", st+"._sub."+s.Type).Err
		if err != nil {
			return fmt.Errorf("dnssd: avahi: AddServiceSubtype %s: %w", st, err)
		}
	}
	if err := a.call(obj, avahiEntryGroup+".Commit").Err; err != nil {
		return fmt.Errorf("dnssd: avahi: Commit: %w", err)
	}
	return nil
}

func (a *Avahi) alternative(name string) (string, error) {
	var alt string
	if err := a.call(a.server, avahiServer+".GetAlternativeServiceName", name).Store(&alt); err != nil {
		return "", fmt.Errorf("dnssd: avahi: GetAlternativeServiceName: %w", err)
	}
	return alt, nil
}

func txtBytes(txt []string) [][]byte {
	out := make([][]byte, len(txt))
	for i, t := range txt {
		out[i] = []byte(t)
	}
	return out
}

// watch handles Avahi's signals until the connection closes.
func (a *Avahi) watch() {
	defer a.wg.Done()
	for sig := range a.sigs {
		switch sig.Name {
		case avahiEntryGroup + ".StateChanged":
			if len(sig.Body) < 1 {
				continue
			}
			state, ok := sig.Body[0].(int32)
			if !ok {
				continue
			}
			msg, _ := bodyString(sig.Body, 1)
			a.groupState(sig.Path, state, msg)
		case avahiServer + ".StateChanged":
			if len(sig.Body) < 1 {
				continue
			}
			if state, ok := sig.Body[0].(int32); ok {
				a.serverState(state)
			}
		case "org.freedesktop.DBus.NameOwnerChanged":
			name, ok1 := bodyString(sig.Body, 0)
			owner, ok2 := bodyString(sig.Body, 2)
			if ok1 && ok2 && name == avahiName {
				a.ownerChanged(owner)
			}
		}
	}
}

func bodyString(body []any, i int) (string, bool) {
	if i >= len(body) {
		return "", false
	}
	s, ok := body[i].(string)
	return s, ok
}

func (a *Avahi) groupState(path dbus.ObjectPath, state int32, msg string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return
	}
	var g *avahiGroup
	for _, c := range a.groups {
		if c.path == path {
			g = c
		}
	}
	if g == nil {
		return
	}
	switch state {
	case groupCollision:
		// Another host holds the name (RFC 6762 §9): take Avahi's
		// alternative and register again.
		alt, err := a.alternative(g.name)
		if err != nil {
			a.log.Error("service name collision", "name", g.name, "err", err)
			return
		}
		a.log.Warn("service name collision, renamed", "from", g.name, "to", alt)
		g.name = alt
		if err := a.refill(g); err != nil {
			a.log.Error("re-registering after collision", "name", g.name, "err", err)
		}
	case groupFailure:
		a.log.Error("avahi entry group failed", "name", g.name, "err", msg)
	case groupEstablished:
		a.log.Debug("service established", "name", g.name, "type", g.svc.Type)
	}
}

func (a *Avahi) serverState(state int32) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return
	}
	switch state {
	case serverRegistering, serverCollision:
		// The host name is changing; SRV targets must follow it.
		a.republish = true
	case serverRunning:
		if !a.republish {
			return
		}
		a.republish = false
		for _, h := range slices.Sorted(maps.Keys(a.groups)) {
			g := a.groups[h]
			if g.path == "" {
				continue
			}
			if err := a.refill(g); err != nil {
				a.log.Error("re-registering after host name change", "name", g.name, "err", err)
			}
		}
	}
}

// ownerChanged follows avahi-daemon leaving and (re)appearing on the bus:
// its groups died with it, so every service is registered again.
func (a *Avahi) ownerChanged(owner string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed || owner == a.avahiOwner {
		return
	}
	a.avahiOwner = owner
	for _, h := range slices.Sorted(maps.Keys(a.groups)) {
		g := a.groups[h]
		g.path = ""
		if owner == "" {
			continue
		}
		g.name = g.svc.Instance
		if err := a.register(g); err != nil {
			a.log.Error("re-registering after avahi-daemon restart", "name", g.name, "err", err)
		}
	}
	if owner == "" {
		a.log.Warn("avahi-daemon left the bus; services return with it")
	} else {
		a.log.Info("avahi-daemon is back; services registered again", "services", len(a.groups))
	}
}
