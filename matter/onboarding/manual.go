package onboarding

import (
	"fmt"
	"strconv"
	"strings"
)

// Manual pairing code lengths (§5.1.4.1): without and with the Vendor and
// Product IDs, check digit included.
const (
	ManualCodeLength     = 11
	LongManualCodeLength = 21
)

// ManualCode returns the manual pairing code of p (§5.1.4.1): 11 digits,
// or 21 when the commissioning flow is not FlowStandard, for then the
// commissioner needs the Vendor and Product IDs (§5.1.4.1.2). The layout,
// most significant digit first:
//
//	1 digit   VID_PID_PRESENT << 2 | discriminator bits 11-10 (bit 3, the version, is 0)
//	5 digits  discriminator bits 9-8 << 14 | passcode bits 13-0
//	4 digits  passcode bits 26-14
//	5 digits  Vendor ID    } only when VID_PID_PRESENT
//	5 digits  Product ID   }
//	1 digit   Verhoeff check digit over the digits before it
//
// Only the upper 4 bits of the discriminator are carried, so a payload with
// a short discriminator has a manual code.
func (p Payload) ManualCode() (string, error) {
	if err := p.validate(); err != nil {
		return "", err
	}
	long := p.CommissioningFlow != FlowStandard
	d := uint32(p.Discriminator)
	first := d >> 10 & 0x3
	if long {
		first |= 1 << 2
	}
	s := fmt.Sprintf("%d%05d%04d", first, (d>>8&0x3)<<14|p.Passcode&0x3FFF, p.Passcode>>14)
	if long {
		s += fmt.Sprintf("%05d%05d", p.VendorID, p.ProductID)
	}
	return s + string(verhoeffCheck(s)), nil
}

// ParseManualCode parses a manual pairing code of 11 or 21 digits
// (§5.1.4.1). Hyphens and spaces between digits are ignored, so
// "3497-011-2332" is accepted. The result has ShortDiscriminator set and
// the 4 known discriminator bits in bits 11-8 of Discriminator. A 21-digit
// code says that the flow is not the standard one without saying which,
// and is reported as FlowCustom. Discovery capabilities are not carried.
func ParseManualCode(s string) (Payload, error) {
	var p Payload
	if len(s) > 2*LongManualCodeLength {
		return p, fmt.Errorf("%w: manual pairing code of %d characters", ErrMalformed, len(s))
	}
	digits := make([]byte, 0, LongManualCodeLength)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits = append(digits, c)
		case (c == '-' || c == ' ') && len(digits) > 0 && i < len(s)-1:
		default:
			return p, fmt.Errorf("%w: character %q in manual pairing code", ErrMalformed, c)
		}
	}
	ds := string(digits)
	if len(ds) != ManualCodeLength && len(ds) != LongManualCodeLength {
		return p, fmt.Errorf("%w: %d digits, want %d or %d", ErrMalformed, len(ds), ManualCodeLength, LongManualCodeLength)
	}
	if !verhoeffValid(ds) {
		return p, fmt.Errorf("%w: check digit does not match", ErrMalformed)
	}
	first := ds[0] - '0'
	if first >= 8 {
		return p, fmt.Errorf("%w: version bit set (first digit %d)", ErrUnsupported, first)
	}
	long := first&(1<<2) != 0
	if long != (len(ds) == LongManualCodeLength) {
		return p, fmt.Errorf("%w: VID_PID_PRESENT is %v in a code of %d digits", ErrMalformed, long, len(ds))
	}
	chunk2 := atoi(ds[1:6])
	if chunk2 > 0xFFFF {
		return p, fmt.Errorf("%w: digits 2-6 (%d) exceed 16 bits", ErrMalformed, chunk2)
	}
	p.Discriminator = uint16(first&0x3)<<10 | uint16(chunk2>>14)<<8
	p.ShortDiscriminator = true
	p.Passcode = chunk2&0x3FFF | atoi(ds[6:10])<<14
	if long {
		vid, pid := atoi(ds[10:15]), atoi(ds[15:20])
		if vid > 0xFFFF || pid > 0xFFFF {
			return Payload{}, fmt.Errorf("%w: Vendor ID %d or Product ID %d exceeds 16 bits", ErrMalformed, vid, pid)
		}
		p.VendorID, p.ProductID = uint16(vid), uint16(pid)
		p.CommissioningFlow = FlowCustom
	}
	if err := p.validate(); err != nil {
		return Payload{}, err
	}
	return p, nil
}

// atoi converts at most 9 ASCII digits, already checked, to a number.
func atoi(s string) uint32 {
	v, _ := strconv.ParseUint(s, 10, 32)
	return uint32(v)
}

// FormatManualCode groups the digits of an 11-digit manual pairing code
// 4-3-4 for display ("3497-011-2332"), as commissioners commonly show it.
// Anything else, a 21-digit code included, is returned unchanged.
func FormatManualCode(code string) string {
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return code
		}
	}
	if len(code) != ManualCodeLength {
		return code
	}
	return strings.Join([]string{code[:4], code[4:7], code[7:]}, "-")
}
