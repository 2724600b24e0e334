package dnssd

import (
	"errors"
	"fmt"
	"strings"

	"github.com/miekg/dns"
)

// Service types Matter uses (Core §4.3.1, §4.3.2).
const (
	// TypeCommissionable is the commissionable node service (Core §4.3.1).
	TypeCommissionable = "_matterc._udp"
	// TypeOperational is the operational node service (Core §4.3.2). The
	// "_tcp" is DNS-SD boilerplate; Matter operational traffic is UDP
	// with MRP, and TCP where the T key says so.
	TypeOperational = "_matter._tcp"
)

// Limits on what a Service may carry. RFC 6763 §6.1 caps each TXT string at
// 255 bytes; §6.2 recommends keeping the whole TXT record small enough to
// fit one packet, which the total bounds.
const (
	MaxTXTEntry    = 255
	MaxTXTTotal    = 1300
	MaxSubtypes    = 16
	maxLabel       = 63
	maxServiceName = 15 // RFC 6763 §7.2: at most 15 characters before the underscore is added
)

// Errors returned by every Advertiser.
var (
	// ErrClosed is returned by an Advertiser after Close.
	ErrClosed = errors.New("dnssd: advertiser closed")
	// ErrUnknownHandle is returned for a handle that was never published or
	// has been withdrawn.
	ErrUnknownHandle = errors.New("dnssd: unknown handle")
	// ErrTooManyServices is returned when Publish would exceed the
	// advertiser's service limit.
	ErrTooManyServices = errors.New("dnssd: too many services")
	// ErrInvalidService wraps every validation failure of a Service.
	ErrInvalidService = errors.New("dnssd: invalid service")
)

// Service is one DNS-SD service instance (RFC 6763 §4.1):
// "<Instance>.<Type>.local." with an SRV record pointing at Port on this
// host, a TXT record, and one PTR per subtype (RFC 6763 §7.1).
type Service struct {
	// Instance is the instance label, at most 63 bytes of UTF-8. Matter
	// uses 16 uppercase hex digits (commissionable) or
	// "<CompressedFabricID>-<NodeID>" (operational).
	Instance string

	// Type is "<_service>.<_proto>", e.g. TypeCommissionable. The domain
	// is always "local." (RFC 6762 §3).
	Type string

	// Subtypes are bare subtype labels such as "_L3840" or "_CM"; the
	// advertiser publishes "<subtype>._sub.<Type>.local." for each.
	Subtypes []string

	// Port is the SRV port.
	Port uint16

	// TXT holds the TXT strings in order, each "key=value" or a bare "key"
	// (RFC 6763 §6.4). Empty means a TXT record with one empty string
	// (RFC 6763 §6.1).
	TXT []string
}

// Handle identifies a published service. The zero Handle is never issued.
type Handle uint64

// Advertiser publishes DNS-SD services. Implementations are safe for
// concurrent use.
type Advertiser interface {
	// Publish validates s and starts advertising it. Name conflicts are
	// resolved by the advertiser (RFC 6762 §9) by renaming the instance;
	// the handle stays valid across renames.
	Publish(s Service) (Handle, error)

	// Update replaces the service behind h. A change of TXT, port or
	// subtypes is announced in place (RFC 6762 §8.4); a change of instance
	// name or type withdraws the old instance and publishes the new one.
	Update(h Handle, s Service) error

	// Withdraw stops advertising h and sends goodbyes (RFC 6762 §10.1).
	Withdraw(h Handle) error

	// Close withdraws everything, releases all resources and waits for
	// every goroutine the advertiser started.
	Close() error
}

// Clone returns a deep copy of s.
func (s Service) Clone() Service {
	c := s
	c.Subtypes = append([]string(nil), s.Subtypes...)
	c.TXT = append([]string(nil), s.TXT...)
	return c
}

// sameShape reports whether a and b name the same instance (so an update
// can be announced in place rather than re-probed).
func sameShape(a, b Service) bool {
	return a.Instance == b.Instance && asciiEqualFold(a.Type, b.Type)
}

// Validate checks s against RFC 6763 and the limits above.
func (s Service) Validate() error {
	if err := validateInstance(s.Instance); err != nil {
		return err
	}
	if err := validateType(s.Type); err != nil {
		return err
	}
	if s.Port == 0 {
		return fmt.Errorf("%w: port 0", ErrInvalidService)
	}
	if len(s.Subtypes) > MaxSubtypes {
		return fmt.Errorf("%w: %d subtypes, limit %d", ErrInvalidService, len(s.Subtypes), MaxSubtypes)
	}
	seen := make(map[string]bool, len(s.Subtypes))
	for _, st := range s.Subtypes {
		if err := validateSubtype(st); err != nil {
			return err
		}
		k := dns.CanonicalName(st)
		if seen[k] {
			return fmt.Errorf("%w: duplicate subtype %q", ErrInvalidService, st)
		}
		seen[k] = true
	}
	return validateTXT(s.TXT)
}

func validateInstance(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty instance name", ErrInvalidService)
	case len(name) > maxLabel:
		return fmt.Errorf("%w: instance name is %d bytes, limit %d (RFC 6763 §4.1.1)", ErrInvalidService, len(name), maxLabel)
	}
	for i := 0; i < len(name); i++ {
		if name[i] < 0x20 || name[i] == 0x7f {
			return fmt.Errorf("%w: control character in instance name", ErrInvalidService)
		}
	}
	return nil
}

// validateType accepts "_name._udp" and "_name._tcp" (RFC 6763 §7).
func validateType(t string) error {
	name, proto, ok := strings.Cut(t, ".")
	if !ok || (!strings.EqualFold(proto, "_udp") && !strings.EqualFold(proto, "_tcp")) {
		return fmt.Errorf("%w: service type %q is not _name._udp or _name._tcp", ErrInvalidService, t)
	}
	if len(name) < 2 || name[0] != '_' || len(name)-1 > maxServiceName {
		return fmt.Errorf("%w: service name %q must be '_' and 1-%d characters (RFC 6763 §7.2)", ErrInvalidService, name, maxServiceName)
	}
	for _, c := range name[1:] {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return fmt.Errorf("%w: service name %q has %q (RFC 6335 §5.1)", ErrInvalidService, name, c)
		}
	}
	return nil
}

// validateSubtype accepts one label of printable ASCII without '.' or '\',
// which covers every Matter subtype and keeps the name unescaped.
func validateSubtype(st string) error {
	if st == "" || len(st) > maxLabel {
		return fmt.Errorf("%w: subtype %q must be 1-%d bytes", ErrInvalidService, st, maxLabel)
	}
	for i := 0; i < len(st); i++ {
		c := st[i]
		if c <= 0x20 || c >= 0x7f || c == '.' || c == '\\' {
			return fmt.Errorf("%w: subtype %q: only one label of printable ASCII", ErrInvalidService, st)
		}
	}
	return nil
}

// validateTXT applies RFC 6763 §6: each string 1-255 bytes, a non-empty key
// of printable ASCII other than '=', no key twice (keys compare
// case-insensitively, §6.4).
func validateTXT(txt []string) error {
	total := 0
	seen := make(map[string]bool, len(txt))
	for _, e := range txt {
		if e == "" || len(e) > MaxTXTEntry {
			return fmt.Errorf("%w: TXT string of %d bytes, must be 1-%d (RFC 6763 §6.1)", ErrInvalidService, len(e), MaxTXTEntry)
		}
		key, _, _ := strings.Cut(e, "=")
		if key == "" {
			return fmt.Errorf("%w: TXT string %q has an empty key (RFC 6763 §6.4)", ErrInvalidService, e)
		}
		for i := 0; i < len(key); i++ {
			if key[i] < 0x20 || key[i] > 0x7e {
				return fmt.Errorf("%w: TXT key %q is not printable ASCII (RFC 6763 §6.4)", ErrInvalidService, key)
			}
		}
		k := dns.CanonicalName(key)
		if seen[k] {
			return fmt.Errorf("%w: TXT key %q appears twice (RFC 6763 §6.4)", ErrInvalidService, key)
		}
		seen[k] = true
		total += 1 + len(e)
	}
	if total > MaxTXTTotal {
		return fmt.Errorf("%w: TXT record is %d bytes, limit %d (RFC 6763 §6.2)", ErrInvalidService, total, MaxTXTTotal)
	}
	return nil
}

// labelPresentation turns raw label bytes into miekg/dns presentation form
// (with its escapes for '.', ' ', '\\' and so on) by round-tripping through
// the wire format, so names we build compare equal to names we parse.
func labelPresentation(label string) (string, error) {
	wire := make([]byte, 0, len(label)+2)
	wire = append(wire, byte(len(label)))
	wire = append(wire, label...)
	wire = append(wire, 0)
	s, _, err := dns.UnpackDomainName(wire, 0)
	if err != nil {
		return "", fmt.Errorf("%w: label %q: %v", ErrInvalidService, label, err)
	}
	return strings.TrimSuffix(s, "."), nil
}

// names holds the fully qualified names of one service.
type names struct {
	instance string   // "<Instance>.<Type>.local."
	typ      string   // "<Type>.local."
	subtypes []string // "<sub>._sub.<Type>.local."
}

const (
	localDomain = "local."
	// enumName is the service type enumeration name (RFC 6763 §9).
	enumName = "_services._dns-sd._udp.local."
)

func serviceNames(s Service) (names, error) {
	inst, err := labelPresentation(s.Instance)
	if err != nil {
		return names{}, err
	}
	n := names{typ: s.Type + "." + localDomain}
	n.instance = inst + "." + n.typ
	for _, st := range s.Subtypes {
		n.subtypes = append(n.subtypes, st+"._sub."+n.typ)
	}
	return n, nil
}

// equalName compares two presentation-form domain names the way DNS does:
// ASCII case-insensitively (RFC 1035 §2.3.3, RFC 6762 §16).
func equalName(a, b string) bool { return asciiEqualFold(dns.Fqdn(a), dns.Fqdn(b)) }

// asciiEqualFold is strings.EqualFold restricted to ASCII letters, which is
// all DNS folds; "É" and "é" are different labels.
func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		ca, cb := a[i], b[i]
		if ca >= 'A' && ca <= 'Z' {
			ca += 'a' - 'A'
		}
		if cb >= 'A' && cb <= 'Z' {
			cb += 'a' - 'A'
		}
		if ca != cb {
			return false
		}
	}
	return true
}
