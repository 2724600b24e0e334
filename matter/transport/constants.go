package transport

import "time"

// Spec constants used by this package, each with the place in the Matter Core
// Specification that defines it. Section numbers are those of Core 1.3; Core
// 1.0 to 1.2 number the MRP section §4.11 (its constants §4.11.8) with the
// same values.

// DefaultPort is the IANA-registered Matter port: the UDP and TCP port a
// node listens on unless its DNS-SD SRV record names another (Core §4.3
// "Discovery", commissionable and operational node discovery).
const DefaultPort = 5540

// Message sizes (Core §4.4.4 "Message Size Requirements").
const (
	// IPv6MinimumMTU is the smallest link MTU IPv6 guarantees (RFC 8200
	// §5). Matter does not rely on IPv6 fragmentation, so a message sent
	// over UDP must fit an IPv6 packet of this size.
	IPv6MinimumMTU = 1280

	// MaxUDPMessageSize is the largest encoded Matter message, headers,
	// payload and MIC included, carried in one UDP datagram: the IPv6
	// minimum MTU less the 40-byte IPv6 header and the 8-byte UDP header.
	// The same limit applies to IPv4 so that a message never depends on
	// the address family it happens to travel over.
	MaxUDPMessageSize = IPv6MinimumMTU - 40 - 8 // 1232

	// DefaultMaxTCPMessageSize is the default of the MAX_TCP_MESSAGE_SIZE
	// session parameter (session parameters TLV tag 9, added with TCP
	// support in Core 1.3/1.4): the largest message, excluding the 4-byte
	// length prefix, that a node accepts over TCP unless it advertises
	// otherwise.
	// Messages larger than MaxUDPMessageSize ("large messages") can only be
	// sent over TCP (Core §4.4.4).
	DefaultMaxTCPMessageSize = 64000

	// TCPLengthPrefixSize is the size of the little-endian Message Length
	// field that precedes every message on a stream transport (Core §4.4.1
	// "Message Header Field Descriptions", Message Length: present only
	// over TCP).
	TCPLengthPrefixSize = 4
)

// Message Reliability Protocol constants (Core §4.12.8 "Parameters and
// Constants").
const (
	// MRPMaxTransmissions is MRP_MAX_TRANSMISSIONS: the number of times a
	// reliable message is sent, the first transmission included, before
	// the sender gives up on the exchange.
	MRPMaxTransmissions = 5

	// MRPBackoffBase is MRP_BACKOFF_BASE, the base of the exponential
	// backoff.
	MRPBackoffBase = 1.6

	// MRPBackoffJitter is MRP_BACKOFF_JITTER, the scale of the random
	// jitter added to each backoff.
	MRPBackoffJitter = 0.25

	// MRPBackoffMargin is MRP_BACKOFF_MARGIN, the margin by which the
	// backoff exceeds the peer's advertised interval.
	MRPBackoffMargin = 1.1

	// MRPBackoffThreshold is MRP_BACKOFF_THRESHOLD, the number of
	// retransmissions before the backoff turns from linear to exponential.
	MRPBackoffThreshold = 1

	// MRPStandaloneAckTimeout is MRP_STANDALONE_ACK_TIMEOUT: how long a
	// receiver waits for an outbound message on the same exchange to carry
	// a piggybacked acknowledgement before it sends a standalone one.
	MRPStandaloneAckTimeout = 200 * time.Millisecond
)

// Session parameter defaults (Core §4.12.8, the session parameters also
// carried in PASE/CASE and advertised in DNS-SD TXT as SII, SAI and SAT,
// Core §4.3 "Discovery").
// A peer that does not advertise a value is assumed to use these.
const (
	// DefaultSessionIdleInterval is SESSION_IDLE_INTERVAL: the base
	// retransmission interval used while the peer is idle.
	DefaultSessionIdleInterval = 500 * time.Millisecond

	// DefaultSessionActiveInterval is SESSION_ACTIVE_INTERVAL: the base
	// retransmission interval used while the peer is active.
	DefaultSessionActiveInterval = 300 * time.Millisecond

	// DefaultSessionActiveThreshold is SESSION_ACTIVE_THRESHOLD: how long a
	// peer stays active after it last sent something.
	DefaultSessionActiveThreshold = 4000 * time.Millisecond

	// MaxSessionInterval is the largest idle or active interval a peer may
	// advertise (one hour; DNS-SD SII/SAI "SHALL NOT exceed 3600000").
	MaxSessionInterval = time.Hour
)

// OpcodeStandaloneAck is the Secure Channel protocol opcode of the MRP
// Standalone Acknowledgement (0x10; Core §4.12 and the Secure Channel
// opcode table). It carries no payload and is never itself sent reliably.
// The Secure Channel protocol ID is message.ProtocolSecureChannel.
const OpcodeStandaloneAck uint8 = 0x10

// The Busy StatusReport the exchange layer sends over TCP when it refuses
// an unsolicited message for lack of room (Core §4.10.1 "Busy", Appendix D
// "Status Report Messages"): Secure Channel opcode StatusReport, general
// code BUSY, Secure Channel protocol code BUSY, then the minimum wait.
const (
	opcodeStatusReport uint8  = 0x40
	generalCodeBusy    uint16 = 8
	protocolCodeBusy   uint16 = 0x0004
)
