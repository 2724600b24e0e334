package cert

import (
	"fmt"
	"math"
	"time"
)

// MatterEpoch is the origin of Matter time values, 2000-01-01 00:00:00 UTC.
// The not-before and not-after fields of a Matter certificate count seconds
// from it as a 32-bit unsigned integer (§6.5.5).
var MatterEpoch = time.Date(2000, time.January, 1, 0, 0, 0, 0, time.UTC)

// noExpiry is the X.509 GeneralizedTime that RFC 5280 §4.1.2.5 reserves for
// "no well-defined expiration date". The Matter encoding of it is 0 (§6.5.5).
const noExpiry = "99991231235959Z"

// maxMatterTime is the last instant a 32-bit Matter time can express,
// 2136-02-07 06:28:15 UTC.
var maxMatterTime = MatterEpoch.Add(math.MaxUint32 * time.Second)

// toMatterTime converts t to Matter epoch seconds. The zero time.Time is 0,
// the "no well-defined expiration" value; so is the epoch itself, which the
// format cannot tell apart from it. Fractions of a second are dropped, as
// X.509 times have no finer resolution.
func toMatterTime(t time.Time) (uint32, error) {
	if t.IsZero() {
		return 0, nil
	}
	t = t.Truncate(time.Second)
	if t.Before(MatterEpoch) || t.After(maxMatterTime) {
		return 0, fmt.Errorf("time %s is outside the range of Matter certificate times", t.UTC().Format(time.RFC3339))
	}
	return uint32(t.Unix() - MatterEpoch.Unix()), nil
}

// fromMatterTime converts Matter epoch seconds to a time. 0 becomes the zero
// time.Time.
func fromMatterTime(v uint32) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.Unix(MatterEpoch.Unix()+int64(v), 0).UTC()
}

// appendX509Time appends the DER Time (RFC 5280 §4.1.2.5) that corresponds
// to the Matter time v: UTCTime for years through 2049, GeneralizedTime from
// 2050, and 99991231235959Z for 0.
//
// The specification gives 0 its special meaning for not-after (§6.5.5). It is
// mapped the same way for not-before, as connectedhomeip does, so that a
// certificate carrying 0 there converts to the DER its issuer signed; see the
// package documentation.
func appendX509Time(w *derWriter, v uint32) {
	if v == 0 {
		w.add(tagGeneralizedTime, []byte(noExpiry))
		return
	}
	t := fromMatterTime(v)
	if t.Year() < 2050 {
		w.add(tagUTCTime, []byte(t.Format("060102150405Z")))
		return
	}
	w.add(tagGeneralizedTime, []byte(t.Format("20060102150405Z")))
}

// parseX509Time parses a DER UTCTime or GeneralizedTime in the only forms
// RFC 5280 §4.1.2.5 allows (seconds present, no fraction, "Z") and returns
// the Matter time. Times that Matter cannot represent are an error. Whether
// the choice between the two types followed the 2050 rule is left to the
// caller's re-encoding check.
func parseX509Time(tag byte, s []byte) (uint32, error) {
	orig := s
	var year int
	switch {
	case tag == tagUTCTime && len(s) == 13:
		yy, ok := digits(s[0:2])
		if !ok {
			return 0, fmt.Errorf("malformed UTCTime %q", s)
		}
		year = 2000 + yy
		if yy >= 50 {
			year = 1900 + yy
		}
		s = s[2:]
	case tag == tagGeneralizedTime && len(s) == 15:
		if string(s) == noExpiry {
			return 0, nil
		}
		y, ok := digits(s[0:4])
		if !ok {
			return 0, fmt.Errorf("malformed GeneralizedTime %q", s)
		}
		year = y
		s = s[4:]
	default:
		return 0, fmt.Errorf("malformed time (tag 0x%02x, %d octets)", tag, len(s))
	}
	// s is now MMDDHHMMSSZ.
	if s[10] != 'Z' {
		return 0, fmt.Errorf("time %q is not in UTC", orig)
	}
	var f [5]int
	for i := range f {
		v, ok := digits(s[2*i : 2*i+2])
		if !ok {
			return 0, fmt.Errorf("malformed time %q", orig)
		}
		f[i] = v
	}
	t := time.Date(year, time.Month(f[0]), f[1], f[2], f[3], f[4], 0, time.UTC)
	if t.Year() != year || int(t.Month()) != f[0] || t.Day() != f[1] ||
		t.Hour() != f[2] || t.Minute() != f[3] || t.Second() != f[4] {
		return 0, fmt.Errorf("invalid calendar time %q", orig)
	}
	if !t.After(MatterEpoch) || t.After(maxMatterTime) {
		return 0, fmt.Errorf("time %s cannot be expressed as a Matter certificate time", t.Format(time.RFC3339))
	}
	return uint32(t.Unix() - MatterEpoch.Unix()), nil
}

// digits parses a string of ASCII decimal digits.
func digits(b []byte) (int, bool) {
	v := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}
