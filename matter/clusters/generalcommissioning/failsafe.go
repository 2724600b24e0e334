package generalcommissioning

import (
	"sync"
	"time"
)

// Context is a snapshot of the fail-safe context (Core §11.10.7.2.1).
type Context struct {
	Armed bool
	// Fabric is the fabric associated with the context: the accessing
	// fabric of the ArmFailSafe that armed it (0 over PASE before AddNOC),
	// replaced by the fabric AddNOC adds.
	Fabric uint8
	// Added and Updated are the fabrics AddNOC added and UpdateNOC
	// updated within the context, 0 if none.
	Added, Updated uint8
	// Deadline is when the timer expires; Limit is when it must expire at
	// the latest, MaxCumulativeFailsafeSeconds after it was first armed.
	Deadline, Limit time.Time
}

// FailSafe is the node's fail-safe context and timer (Core §11.10.7.2.1):
// at most one exists at a time, associated with one fabric. The General
// Commissioning cluster arms, re-arms and disarms it; the Operational
// Credentials, Network Commissioning and Administrator Commissioning
// clusters consult it. On expiry its owner runs the clean-up of
// §11.10.7.2.2. It is safe for concurrent use.
type FailSafe struct {
	maxCumulative time.Duration
	onExpire      func(Context) // runs without mu held

	mu       sync.Mutex
	ctx      Context
	timer    *time.Timer
	gen      uint64 // bumped whenever a pending timer must not act
	cleaning bool   // an expired context's clean-up is running
}

// newFailSafe returns a disarmed fail-safe whose expiry runs onExpire.
func newFailSafe(maxCumulative time.Duration, onExpire func(Context)) *FailSafe {
	return &FailSafe{maxCumulative: maxCumulative, onExpire: onExpire}
}

// Context returns a snapshot of the context.
func (f *FailSafe) Context() Context {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ctx
}

// Armed reports whether the timer is armed.
func (f *FailSafe) Armed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ctx.Armed
}

// ArmedFor reports whether the timer is armed and associated with fabric,
// the accessing fabric of a command that needs the fail-safe (0 over PASE
// before AddNOC).
func (f *FailSafe) ArmedFor(fabric uint8) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ctx.Armed && f.ctx.Fabric == fabric
}

// NOCAdded records that AddNOC added fabric: the context is now associated
// with it (Core §11.10.7.6: CommissioningComplete must come from the fabric
// AddNOC joined).
func (f *FailSafe) NOCAdded(fabric uint8) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ctx.Armed {
		f.ctx.Fabric, f.ctx.Added = fabric, fabric
	}
}

// NOCUpdated records that UpdateNOC replaced the NOC of fabric.
func (f *FailSafe) NOCUpdated(fabric uint8) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ctx.Armed {
		f.ctx.Updated = fabric
	}
}

// Expire expires an armed timer at once, running the clean-up, and reports
// whether it was armed. RevokeCommissioning uses it, and the node may when
// the PASE session of a commissioning goes away.
func (f *FailSafe) Expire() bool {
	f.mu.Lock()
	if !f.ctx.Armed {
		f.mu.Unlock()
		return false
	}
	f.expireLocked()
	return true
}

// expireLocked disarms the timer and runs the clean-up; it is called with
// mu held and returns with it released. Until the clean-up has run the
// timer cannot be armed again, so a new context never sees the remains of
// the old one being undone.
func (f *FailSafe) expireLocked() {
	ctx := f.disarmLocked()
	f.cleaning = true
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.cleaning = false
		f.mu.Unlock()
	}()
	f.onExpire(ctx)
}

// arm arms a disarmed timer for d on behalf of fabric. It fails while the
// clean-up of an expired context is still running.
func (f *FailSafe) arm(fabric uint8, d time.Duration) bool {
	now := time.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cleaning || f.ctx.Armed {
		return false
	}
	f.ctx = Context{Armed: true, Fabric: fabric, Limit: now.Add(f.maxCumulative)}
	f.startLocked(now, d)
	return true
}

// rearm re-arms the timer for d, never past the cumulative limit, if it is
// armed for fabric.
func (f *FailSafe) rearm(fabric uint8, d time.Duration) bool {
	now := time.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.ctx.Armed || f.ctx.Fabric != fabric {
		return false
	}
	f.startLocked(now, d)
	return true
}

func (f *FailSafe) startLocked(now time.Time, d time.Duration) {
	deadline := now.Add(d)
	if deadline.After(f.ctx.Limit) {
		deadline = f.ctx.Limit
	}
	f.ctx.Deadline = deadline
	if f.timer != nil {
		f.timer.Stop()
	}
	f.gen++
	gen := f.gen
	f.timer = time.AfterFunc(deadline.Sub(now), func() { f.fire(gen) })
}

// fire runs when the timer of generation gen goes off.
func (f *FailSafe) fire(gen uint64) {
	f.mu.Lock()
	if gen != f.gen || !f.ctx.Armed {
		f.mu.Unlock()
		return
	}
	f.expireLocked()
}

// expireFor expires the timer at once if it is armed for fabric
// (ArmFailSafe with ExpiryLengthSeconds 0) and reports whether it was.
func (f *FailSafe) expireFor(fabric uint8) bool {
	f.mu.Lock()
	if !f.ctx.Armed || f.ctx.Fabric != fabric {
		f.mu.Unlock()
		return false
	}
	f.expireLocked()
	return true
}

// complete ends the context without clean-up on behalf of fabric
// (CommissioningComplete) and returns it. ok is false, and nothing changes,
// if the timer is not armed (armed false) or is armed for another fabric.
func (f *FailSafe) complete(fabric uint8) (ctx Context, armed, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.ctx.Armed {
		return Context{}, false, false
	}
	if f.ctx.Fabric != fabric {
		return f.ctx, true, false
	}
	return f.disarmLocked(), true, true
}

// disarmLocked stops the timer and clears the context; the caller holds
// mu.
func (f *FailSafe) disarmLocked() Context {
	ctx := f.ctx
	if f.timer != nil {
		f.timer.Stop()
		f.timer = nil
	}
	f.gen++
	f.ctx = Context{}
	return ctx
}
