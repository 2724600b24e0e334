package session

import (
	"fmt"
	"time"

	"github.com/mattercam/mattercam/matter/transport"
)

// Session parameter TLV tags: the context tags of the session-parameter
// structure that PBKDFParamRequest/Response and Sigma1/Sigma2 carry
// (§4.12.8, "Session Parameters").
const (
	TagSessionIdleInterval      = 1 // uint32, milliseconds
	TagSessionActiveInterval    = 2 // uint32, milliseconds
	TagSessionActiveThreshold   = 3 // uint16, milliseconds
	TagDataModelRevision        = 4 // uint16
	TagInteractionModelRevision = 5 // uint16
	TagSpecificationVersion     = 6 // uint32
	TagMaxPathsPerInvoke        = 7 // uint16
	TagSupportedTransports      = 8 // bitmap16
	TagMaxTCPMessageSize        = 9 // uint32
)

// Session parameter defaults, used for any parameter the peer does not
// send (§4.12.8).
const (
	DefaultIdleInterval      = 500 * time.Millisecond  // SESSION_IDLE_INTERVAL
	DefaultActiveInterval    = 300 * time.Millisecond  // SESSION_ACTIVE_INTERVAL
	DefaultActiveThreshold   = 4000 * time.Millisecond // SESSION_ACTIVE_THRESHOLD
	DefaultMaxPathsPerInvoke = 1
	DefaultMaxTCPMessageSize = 64000

	// MaxInterval bounds SESSION_IDLE_INTERVAL and SESSION_ACTIVE_INTERVAL:
	// one hour, as for the SII and SAI DNS-SD keys (§4.3.1.3).
	MaxInterval = time.Hour
	// MaxActiveThreshold is the largest SESSION_ACTIVE_THRESHOLD its 16-bit
	// field can carry.
	MaxActiveThreshold = 0xFFFF * time.Millisecond
)

// Transports is the SUPPORTED_TRANSPORTS bitmap: transports a node
// supports in addition to MRP over UDP. Bit 0 is reserved.
type Transports uint16

const (
	// TransportTCPClient means the node can connect to a TCP server.
	TransportTCPClient Transports = 1 << 1
	// TransportTCPServer means the node listens for TCP connections.
	TransportTCPServer Transports = 1 << 2
)

// Params are the session parameters a node announces during session
// establishment (§4.12.8). A zero field means the parameter was absent;
// [Params.Effective] fills in the defaults.
type Params struct {
	// IdleInterval is SESSION_IDLE_INTERVAL: the base MRP retransmission
	// interval towards the node while it is idle.
	IdleInterval time.Duration
	// ActiveInterval is SESSION_ACTIVE_INTERVAL: the same while it is
	// active.
	ActiveInterval time.Duration
	// ActiveThreshold is SESSION_ACTIVE_THRESHOLD: how long the node stays
	// active after network activity.
	ActiveThreshold time.Duration

	// DataModelRevision, InteractionModelRevision and SpecificationVersion
	// describe the revision of the spec the node implements; 0 means not
	// announced (a node older than Core 1.3).
	DataModelRevision        uint16
	InteractionModelRevision uint16
	SpecificationVersion     uint32

	// MaxPathsPerInvoke is MAX_PATHS_PER_INVOKE: how many paths one Invoke
	// request to the node may carry.
	MaxPathsPerInvoke uint16
	// SupportedTransports is SUPPORTED_TRANSPORTS.
	SupportedTransports Transports
	// MaxTCPMessageSize is MAX_TCP_MESSAGE_SIZE: the largest message the
	// node accepts over TCP, excluding the length prefix.
	MaxTCPMessageSize uint32
}

// Effective returns p with every absent MRP, invoke and TCP parameter
// replaced by its default. The revision fields are left as they are.
func (p Params) Effective() Params {
	if p.IdleInterval == 0 {
		p.IdleInterval = DefaultIdleInterval
	}
	if p.ActiveInterval == 0 {
		p.ActiveInterval = DefaultActiveInterval
	}
	if p.ActiveThreshold == 0 {
		p.ActiveThreshold = DefaultActiveThreshold
	}
	if p.MaxPathsPerInvoke == 0 {
		p.MaxPathsPerInvoke = DefaultMaxPathsPerInvoke
	}
	if p.MaxTCPMessageSize == 0 {
		p.MaxTCPMessageSize = DefaultMaxTCPMessageSize
	}
	return p
}

// MRP returns the MRP parameters of p, as the exchange layer uses them.
func (p Params) MRP() transport.MRPParams {
	return transport.MRPParams{
		IdleInterval:    p.IdleInterval,
		ActiveInterval:  p.ActiveInterval,
		ActiveThreshold: p.ActiveThreshold,
	}
}

// Validate checks that p can be encoded and is within the spec's limits.
func (p Params) Validate() error {
	switch {
	case p.IdleInterval < 0 || p.IdleInterval > MaxInterval:
		return fmt.Errorf("session: SESSION_IDLE_INTERVAL %v outside [0, %v]", p.IdleInterval, MaxInterval)
	case p.ActiveInterval < 0 || p.ActiveInterval > MaxInterval:
		return fmt.Errorf("session: SESSION_ACTIVE_INTERVAL %v outside [0, %v]", p.ActiveInterval, MaxInterval)
	case p.ActiveThreshold < 0 || p.ActiveThreshold > MaxActiveThreshold:
		return fmt.Errorf("session: SESSION_ACTIVE_THRESHOLD %v outside [0, %v]", p.ActiveThreshold, MaxActiveThreshold)
	}
	return nil
}
