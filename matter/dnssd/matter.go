package dnssd

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// DefaultPort is the Matter operational and commissioning port (Core §4.3).
const DefaultPort = 5540

// Limits from the Matter Core Specification's TXT key definitions
// (§4.3.1 and the common keys of §4.3).
const (
	MaxDiscriminator      = 0x0FFF                   // 12-bit long discriminator
	MaxDeviceName         = 32                       // DN
	MaxRotatingIDHex      = 100                      // RI, hex characters
	MaxPairingInstruction = 128                      // PI
	MaxSessionInterval    = time.Hour                // SII, SAI: at most 3 600 000 ms
	MaxActiveThreshold    = 65535 * time.Millisecond // SAT is 16 bits of ms
)

// CommissioningMode is the CM key (Core §4.3.1).
type CommissioningMode uint8

// Commissioning modes.
const (
	CommissioningDisabled CommissioningMode = 0 // CM=0: not in commissioning mode (extended discovery)
	CommissioningBasic    CommissioningMode = 1 // CM=1: basic commissioning window open
	CommissioningEnhanced CommissioningMode = 2 // CM=2: enhanced commissioning window open
)

// TCPSupport is the T key, a bitmap of TCP roles (Core §4.3, common keys).
// Bit 0 is reserved.
type TCPSupport uint8

// TCP roles.
const (
	TCPClient TCPSupport = 1 << 1 // may connect to a peer that is a TCP server
	TCPServer TCPSupport = 1 << 2 // listens for TCP connections
)

// ICDMode is the ICD key (Core §4.3, common keys). It is published only
// by intermittently connected devices.
type ICDMode uint8

// ICD modes.
const (
	ICDNone ICDMode = iota // key absent: not an ICD
	ICDSIT                 // ICD=0: short idle time
	ICDLIT                 // ICD=1: long idle time
)

// CommonParams are the TXT keys both Matter service kinds share. Zero
// values omit their key, and the peer then uses the spec defaults.
type CommonParams struct {
	SessionIdleInterval    time.Duration // SII, milliseconds on the wire
	SessionActiveInterval  time.Duration // SAI
	SessionActiveThreshold time.Duration // SAT
	TCP                    TCPSupport    // T
	ICD                    ICDMode       // ICD
}

// CommissionableParams describes a commissionable node (Core §4.3.1).
type CommissionableParams struct {
	// Instance is the instance name; empty picks a fresh RandomInstanceName.
	// The spec asks for a new one at boot and whenever commissioning mode
	// is entered.
	Instance string
	// Port is the Matter UDP port; zero means DefaultPort.
	Port uint16

	Discriminator      uint16 // 12-bit long discriminator: D, _L and _S
	VendorID           uint16 // VP and _V; zero omits both
	ProductID          uint16 // second half of VP; zero omits it
	DeviceType         uint32 // DT and _T; zero omits both (Camera is 0x0142)
	DeviceName         string // DN, at most 32 bytes; empty omits it
	CommissioningMode  CommissioningMode
	RotatingID         string // RI, hex; empty omits it
	PairingHint        uint16 // PH; zero omits it
	PairingInstruction string // PI, at most 128 bytes; empty omits it

	Common CommonParams
}

// OperationalParams describes an operational node (Core §4.3.2).
type OperationalParams struct {
	Port   uint16 // zero means DefaultPort
	Common CommonParams
}

// RandomInstanceName returns a commissionable instance name: a random 64-bit
// value as 16 uppercase hex digits (Core §4.3.1).
func RandomInstanceName() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return strings.ToUpper(hex.EncodeToString(b[:]))
}

// Commissionable builds the "_matterc._udp" service of a commissionable
// node: subtypes _L<long>, _S<short>, _V<vendor>, _T<device type> and _CM
// (while commissioning mode is on), and TXT keys D, VP, CM, DT, DN, RI, PH,
// PI followed by the common keys.
func Commissionable(p CommissionableParams) (Service, error) {
	if p.Discriminator > MaxDiscriminator {
		return Service{}, fmt.Errorf("%w: discriminator %d exceeds 12 bits", ErrInvalidService, p.Discriminator)
	}
	if p.CommissioningMode > CommissioningEnhanced {
		return Service{}, fmt.Errorf("%w: commissioning mode %d", ErrInvalidService, p.CommissioningMode)
	}
	if len(p.DeviceName) > MaxDeviceName {
		return Service{}, fmt.Errorf("%w: device name is %d bytes, limit %d", ErrInvalidService, len(p.DeviceName), MaxDeviceName)
	}
	if len(p.PairingInstruction) > MaxPairingInstruction {
		return Service{}, fmt.Errorf("%w: pairing instruction is %d bytes, limit %d", ErrInvalidService, len(p.PairingInstruction), MaxPairingInstruction)
	}
	if p.RotatingID != "" {
		if len(p.RotatingID) > MaxRotatingIDHex {
			return Service{}, fmt.Errorf("%w: rotating ID is %d hex characters, limit %d", ErrInvalidService, len(p.RotatingID), MaxRotatingIDHex)
		}
		if _, err := hex.DecodeString(p.RotatingID); err != nil {
			return Service{}, fmt.Errorf("%w: rotating ID is not hex: %v", ErrInvalidService, err)
		}
	}
	common, err := p.Common.txt()
	if err != nil {
		return Service{}, err
	}

	s := Service{Instance: p.Instance, Type: TypeCommissionable, Port: p.Port}
	if s.Instance == "" {
		s.Instance = RandomInstanceName()
	}
	if s.Port == 0 {
		s.Port = DefaultPort
	}
	// The short discriminator is the upper 4 bits of the long one, what a
	// manual pairing code carries (Core §4.3.1: _S<short>).
	s.Subtypes = append(s.Subtypes,
		"_S"+strconv.Itoa(int(p.Discriminator>>8)),
		"_L"+strconv.Itoa(int(p.Discriminator)))
	if p.VendorID != 0 {
		s.Subtypes = append(s.Subtypes, "_V"+strconv.Itoa(int(p.VendorID)))
	}
	if p.DeviceType != 0 {
		s.Subtypes = append(s.Subtypes, "_T"+strconv.FormatUint(uint64(p.DeviceType), 10))
	}
	if p.CommissioningMode != CommissioningDisabled {
		s.Subtypes = append(s.Subtypes, "_CM")
	}

	s.TXT = append(s.TXT, "D="+strconv.Itoa(int(p.Discriminator)))
	if p.VendorID != 0 {
		vp := "VP=" + strconv.Itoa(int(p.VendorID))
		if p.ProductID != 0 {
			vp += "+" + strconv.Itoa(int(p.ProductID))
		}
		s.TXT = append(s.TXT, vp)
	}
	s.TXT = append(s.TXT, "CM="+strconv.Itoa(int(p.CommissioningMode)))
	if p.DeviceType != 0 {
		s.TXT = append(s.TXT, "DT="+strconv.FormatUint(uint64(p.DeviceType), 10))
	}
	if p.DeviceName != "" {
		s.TXT = append(s.TXT, "DN="+p.DeviceName)
	}
	if p.RotatingID != "" {
		s.TXT = append(s.TXT, "RI="+strings.ToUpper(p.RotatingID))
	}
	if p.PairingHint != 0 {
		s.TXT = append(s.TXT, "PH="+strconv.Itoa(int(p.PairingHint)))
	}
	if p.PairingInstruction != "" {
		s.TXT = append(s.TXT, "PI="+p.PairingInstruction)
	}
	s.TXT = append(s.TXT, common...)
	if err := s.Validate(); err != nil {
		return Service{}, err
	}
	return s, nil
}

// OperationalInstanceName returns "<CompressedFabricID>-<NodeID>", both as
// 16 uppercase hex digits (Core §4.3.2).
func OperationalInstanceName(compressedFabricID [8]byte, nodeID uint64) string {
	return fmt.Sprintf("%X-%016X", compressedFabricID[:], nodeID)
}

// Operational builds the "_matter._tcp" service of a commissioned node on
// one fabric: instance "<CFID>-<NodeID>", subtype "_I<CFID>", and the
// common TXT keys (Core §4.3.2). A node publishes one per fabric.
func Operational(compressedFabricID [8]byte, nodeID uint64, p OperationalParams) (Service, error) {
	common, err := p.Common.txt()
	if err != nil {
		return Service{}, err
	}
	s := Service{
		Instance: OperationalInstanceName(compressedFabricID, nodeID),
		Type:     TypeOperational,
		Subtypes: []string{fmt.Sprintf("_I%X", compressedFabricID[:])},
		Port:     p.Port,
		TXT:      common,
	}
	if s.Port == 0 {
		s.Port = DefaultPort
	}
	if err := s.Validate(); err != nil {
		return Service{}, err
	}
	return s, nil
}

func (c CommonParams) txt() ([]string, error) {
	var out []string
	ms := func(key string, d, limit time.Duration) error {
		if d < 0 || d > limit {
			return fmt.Errorf("%w: %s %v out of range 0..%v", ErrInvalidService, key, d, limit)
		}
		if d > 0 {
			out = append(out, key+"="+strconv.FormatInt(d.Milliseconds(), 10))
		}
		return nil
	}
	if err := errors.Join(
		ms("SII", c.SessionIdleInterval, MaxSessionInterval),
		ms("SAI", c.SessionActiveInterval, MaxSessionInterval),
		ms("SAT", c.SessionActiveThreshold, MaxActiveThreshold),
	); err != nil {
		return nil, err
	}
	if c.TCP&^(TCPClient|TCPServer) != 0 {
		return nil, fmt.Errorf("%w: T bitmap %#x has reserved bits", ErrInvalidService, uint8(c.TCP))
	}
	if c.TCP != 0 {
		out = append(out, "T="+strconv.Itoa(int(c.TCP)))
	}
	switch c.ICD {
	case ICDNone:
	case ICDSIT:
		out = append(out, "ICD=0")
	case ICDLIT:
		out = append(out, "ICD=1")
	default:
		return nil, fmt.Errorf("%w: ICD mode %d", ErrInvalidService, c.ICD)
	}
	return out, nil
}

// HostNameFromMAC returns the Matter host name for a link-layer address: the
// 48-bit MAC or 64-bit extended address as 12 or 16 uppercase hex digits
// (Core §4.3, "Host Name Construction"), without ".local".
func HostNameFromMAC(hw net.HardwareAddr) (string, error) {
	if len(hw) != 6 && len(hw) != 8 {
		return "", fmt.Errorf("dnssd: host name needs a 48- or 64-bit link-layer address, got %d bytes", len(hw))
	}
	return strings.ToUpper(hex.EncodeToString(hw)), nil
}
