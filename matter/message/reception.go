package message

import "fmt"

// WindowSize is MSG_COUNTER_WINDOW_SIZE: how many counters behind the
// largest one received are tracked individually (§4.6.5, Table "Secure
// Channel Protocol constants").
const WindowSize = 32

// rolloverHorizon is 2^31: with rollover, a counter up to 2^31-1 ahead of
// max_message_counter is new, and one up to 2^31 behind it is old (§4.6.5).
const rolloverHorizon = 1 << 31

// ReceptionKind selects the duplicate-detection rules of a
// [ReceptionState] (§4.6.5).
type ReceptionKind uint8

const (
	// ReceptionUnicast tracks the peer's Secure Session Message Counter of
	// a secure unicast session. Counters do not roll over: anything not
	// above max_message_counter and not a clear bit in the window is a
	// duplicate.
	ReceptionUnicast ReceptionKind = iota

	// ReceptionGroup tracks a peer's Global Group Encrypted Data or Control
	// Message Counter for one operational group key. Counters roll over: a
	// counter up to 2^31-1 ahead (modulo 2^32) is new; one further behind
	// than the window is a duplicate.
	ReceptionGroup

	// ReceptionUnencrypted tracks a peer's Global Unencrypted Message
	// Counter. Counters roll over, and anything that is not a recorded
	// duplicate is new, including counters behind the window: a peer that
	// rebooted starts again at a random value.
	ReceptionUnencrypted
)

func (k ReceptionKind) String() string {
	switch k {
	case ReceptionUnicast:
		return "unicast"
	case ReceptionGroup:
		return "group"
	case ReceptionUnencrypted:
		return "unencrypted"
	}
	return fmt.Sprintf("ReceptionKind(%d)", uint8(k))
}

// Verdict is how a received message counter compares with a
// [ReceptionState].
type Verdict uint8

const (
	// CounterNew is a counter that has not been received: process the
	// message, then Commit the counter.
	CounterNew Verdict = iota
	// CounterDuplicate is max_message_counter itself, or a counter in the
	// window whose bit is set.
	CounterDuplicate
	// CounterBehindWindow is a counter older than the window, which the
	// spec also classes as a duplicate (for unicast, and for group within
	// 2^31 behind). It never occurs for ReceptionUnencrypted.
	CounterBehindWindow
)

func (v Verdict) String() string {
	switch v {
	case CounterNew:
		return "new"
	case CounterDuplicate:
		return "duplicate"
	case CounterBehindWindow:
		return "behind window"
	}
	return fmt.Sprintf("Verdict(%d)", uint8(v))
}

// ReceptionState is the Message Reception State of one peer counter
// (§4.6.5): the largest counter received, max_message_counter, and a
// bitmap of the [WindowSize] counters just below it. Bit k of the bitmap
// records whether counter max_message_counter-(k+1) has been received.
//
// Counter processing of a received message (§4.7.2, §4.6.7) happens after
// the message has been authenticated: call [ReceptionState.Check]; if the
// counter is new, process the message and call [ReceptionState.Commit]; if
// it is a duplicate, acknowledge it when its R flag is set (§4.12.2) and
// drop it.
//
// A ReceptionState is a value and is not safe for concurrent use; its owner
// (the session, or the group peer table) serializes access.
type ReceptionState struct {
	kind      ReceptionKind
	synced    bool
	cacheSync bool // group key policy is cache-and-sync (§4.18.1)
	ones      bool // trust-first fills the window (a new state) rather than clearing it
	max       uint32
	bitmap    uint32
}

// NewUnicastReception returns the reception state of a new secure unicast
// session. The peer's counter starts at a random value in [1, 2^28]
// (§4.6.1.1), so the state starts at max_message_counter 0 with every bit
// set: any counter above 0 is new.
func NewUnicastReception() ReceptionState {
	return ReceptionState{kind: ReceptionUnicast, synced: true, bitmap: ^uint32(0)}
}

// NewGroupReception returns the reception state of a peer's group counter
// before its first message. With trustFirst (the Trust-first policy,
// §4.18.1.1, always used for control messages) the first authenticated
// counter is accepted and synchronizes the state (§4.18.4). Without it
// (Cache-and-sync), [ReceptionState.Check] fails with [ErrNotSynchronized]
// until [ReceptionState.Synchronize] is called from MCSP.
func NewGroupReception(trustFirst bool) ReceptionState {
	return ReceptionState{kind: ReceptionGroup, cacheSync: !trustFirst}
}

// NewUnencryptedReception returns the reception state of a peer's Global
// Unencrypted Message Counter before its first message. The first counter
// is new and initializes the state with every bit set, so that only
// counters above it are new within the window (§4.6.5).
func NewUnencryptedReception() ReceptionState {
	return ReceptionState{kind: ReceptionUnencrypted, ones: true}
}

// Kind returns the rules s applies.
func (s *ReceptionState) Kind() ReceptionKind { return s.kind }

// Synchronized reports whether s has a max_message_counter.
func (s *ReceptionState) Synchronized() bool { return s.synced }

// Max returns max_message_counter and whether s is synchronized.
func (s *ReceptionState) Max() (uint32, bool) { return s.max, s.synced }

// Synchronize sets max_message_counter to counter and clears the bitmap,
// as for a trusted first message or a completed MCSP exchange (§4.18.4).
func (s *ReceptionState) Synchronize(counter uint32) {
	s.synced, s.max, s.bitmap = true, counter, 0
}

// Classify returns the verdict for a received counter without changing s.
// An unsynchronized state classifies every counter as new.
func (s *ReceptionState) Classify(counter uint32) Verdict {
	if !s.synced {
		return CounterNew
	}
	back := s.max - counter // distance behind max, modulo 2^32
	switch {
	case back == 0:
		return CounterDuplicate
	case s.ahead(counter):
		return CounterNew
	case back <= WindowSize:
		if s.bitmap&(1<<(back-1)) != 0 {
			return CounterDuplicate
		}
		return CounterNew
	case s.kind == ReceptionUnencrypted:
		return CounterNew // a rebooted peer: the window rolls back
	}
	return CounterBehindWindow
}

// ahead reports whether counter is past max_message_counter under s's
// rollover rule. It does not consider counter == max.
func (s *ReceptionState) ahead(counter uint32) bool {
	if s.kind == ReceptionUnicast {
		return counter > s.max
	}
	return counter-s.max < rolloverHorizon
}

// Check reports whether a received counter is a duplicate, per the rules of
// §4.6.5: max_message_counter itself, a window bit that is set, and (except
// for unencrypted messages) any counter behind the window. Duplicates of
// reliable messages are still acknowledged (§4.12.2) and then dropped; use
// [ReceptionState.Classify] to tell the behind-window case apart if a
// stricter policy is wanted. Check does not change s.
//
// The error is non-nil only for a cache-and-sync group state that has not
// been synchronized: the message must wait for MCSP (§4.18.4).
func (s *ReceptionState) Check(counter uint32) (duplicate bool, err error) {
	if !s.synced && s.cacheSync {
		return false, ErrNotSynchronized
	}
	return s.Classify(counter) != CounterNew, nil
}

// Commit records a received counter once its message has been authenticated
// and accepted. A counter past max_message_counter becomes the new maximum
// and shifts the window; one inside the window sets its bit. On an
// unsynchronized state the counter is trusted and synchronizes it. Commit
// of a duplicate or behind-window counter changes nothing.
func (s *ReceptionState) Commit(counter uint32) {
	if !s.synced {
		s.synced, s.max = true, counter
		if s.ones {
			s.bitmap = ^uint32(0)
		} else {
			s.bitmap = 0 // §4.18.4: clear the bitmap
		}
		return
	}
	back := s.max - counter
	switch {
	case back == 0:
		return
	case s.ahead(counter):
		s.advance(counter - s.max)
		s.max = counter
	case back <= WindowSize:
		s.bitmap |= 1 << (back - 1)
	case s.kind == ReceptionUnencrypted:
		// The peer started over: its older counters are now ahead of the
		// window and none below the new maximum has been seen.
		s.max, s.bitmap = counter, 0
	}
}

// advance shifts the window for a new maximum d counters ahead: the old
// maximum moves to bit d-1 and bit k to bit k+d.
func (s *ReceptionState) advance(d uint32) {
	if d > WindowSize {
		s.bitmap = 0
		return
	}
	s.bitmap = s.bitmap<<d | 1<<(d-1)
}
