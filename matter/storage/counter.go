package storage

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/mattercam/mattercam/matter/message"
)

// CounterPrefix is the key prefix under which Counters stores message
// counters.
const CounterPrefix = "counter."

// Counters adapts a Store to message.CounterStore: the reserved upper bounds
// of the persisted message counters (Core §4.6.1) live under
// CounterPrefix+key as 4-octet big-endian values.
type Counters struct {
	Store *Store
}

var _ message.CounterStore = Counters{}

// LoadCounter implements message.CounterStore. A record that exists but is
// damaged is an error, not "absent": silently restarting a counter could
// reuse values a peer has already seen.
func (c Counters) LoadCounter(key string) (uint32, bool, error) {
	b, err := c.Store.Get(CounterPrefix + key)
	if errors.Is(err, ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	if len(b) != 4 {
		return 0, false, fmt.Errorf("storage: counter %q is %d octets: %w", key, len(b), ErrCorrupt)
	}
	return binary.BigEndian.Uint32(b), true, nil
}

// StoreCounter implements message.CounterStore; it returns once the value is
// durable.
func (c Counters) StoreCounter(key string, value uint32) error {
	return c.Store.Put(CounterPrefix+key, binary.BigEndian.AppendUint32(nil, value))
}
