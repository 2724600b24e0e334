package transport

import (
	"math"
	"time"
)

// MRPBackoff returns how long a sender waits for the acknowledgement of a
// reliable message after its transmission number n (0 for the first
// transmission, 1 for the first retransmission, ...) before sending it again
// (Core §4.12.2, "Retransmissions"):
//
//	t = i × MRP_BACKOFF_MARGIN × MRP_BACKOFF_BASE^max(0, n − MRP_BACKOFF_THRESHOLD) × (1 + r × MRP_BACKOFF_JITTER)
//
// where i is the peer's active or idle interval (see MRPParams) and r a
// uniform random number in [0, 1). The first two waits are equal; from the
// third on they grow by MRP_BACKOFF_BASE each time.
func MRPBackoff(i time.Duration, n int, r float64) time.Duration {
	r = min(max(r, 0), 1)
	exp := max(0, n-MRPBackoffThreshold)
	t := float64(i) * MRPBackoffMargin * math.Pow(MRPBackoffBase, float64(exp)) * (1 + r*MRPBackoffJitter)
	if t >= math.MaxInt64 {
		return math.MaxInt64
	}
	return time.Duration(t)
}

// baseInterval picks the interval of the backoff formula: the peer's active
// interval if a message arrived from it within its active threshold,
// otherwise its idle interval (Core §4.12.2, §4.12.8).
func (p MRPParams) baseInterval(lastRx, now time.Time) time.Duration {
	p = p.withDefaults()
	if !lastRx.IsZero() && now.Sub(lastRx) < p.ActiveThreshold {
		return p.ActiveInterval
	}
	return p.IdleInterval
}
