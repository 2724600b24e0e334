package acl

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/mattercam/mattercam/matter/dm"
	"github.com/mattercam/mattercam/matter/storage"
)

// KeyPrefix is the storage key prefix of the stored lists: one record per
// fabric, "acl.<fabric index>".
const KeyPrefix = "acl."

func storageKey(fabricIndex uint8) string { return KeyPrefix + strconv.Itoa(int(fabricIndex)) }

// Config configures a Table.
type Config struct {
	// Limits are the supported sizes; the zero value means DefaultLimits.
	Limits Limits
	// DeviceTypes resolves device type targets; nil makes them match
	// nothing.
	DeviceTypes DeviceTypes
	// OnChange, if set, is called after a fabric's list changed (the ACL
	// attribute, and the AccessControlEntryChanged events the cluster
	// derives). It runs on the changing goroutine once the change is in
	// force and no lock is held; it must not block.
	OnChange func(fabricIndex uint8)
	// Logger receives warnings about stored lists that could not be
	// loaded; nil means slog.Default().
	Logger *slog.Logger
}

// Table is the node's access control list, one list per fabric, kept in a
// storage.Store. It is safe for concurrent use; Check does not wait for
// writes to storage.
type Table struct {
	store *storage.Store
	cfg   Config
	log   *slog.Logger

	writeMu sync.Mutex // serializes changes, including their storage writes

	mu    sync.RWMutex
	lists map[uint8][]Entry // never modified in place: replaced on change
}

// Open loads the lists stored in store. A stored list that does not decode is
// skipped, and an entry that no longer validates is dropped; both are
// logged. Either way access is lost, never gained.
func Open(store *storage.Store, cfg Config) (*Table, error) {
	if cfg.Limits == (Limits{}) {
		cfg.Limits = DefaultLimits
	}
	if err := cfg.Limits.check(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	t := &Table{store: store, cfg: cfg, log: log.With("component", "acl"), lists: make(map[uint8][]Entry)}
	keys, err := store.Keys(KeyPrefix)
	if err != nil {
		return nil, fmt.Errorf("acl: %w", err)
	}
	for _, k := range keys {
		n, err := strconv.ParseUint(strings.TrimPrefix(k, KeyPrefix), 10, 8)
		if err != nil || n == 0 || n == 255 || storageKey(uint8(n)) != k {
			t.log.Warn("ignoring record with a malformed key", "key", k)
			continue
		}
		idx := uint8(n)
		b, err := store.Get(k)
		if err != nil {
			if errors.Is(err, storage.ErrCorrupt) {
				t.log.Error("access control list unreadable; the fabric has no entries", "fabric", idx, "err", err)
				continue
			}
			return nil, fmt.Errorf("acl: %w", err)
		}
		entries, err := decodeList(b, idx)
		if err != nil {
			t.log.Error("access control list malformed; the fabric has no entries", "fabric", idx, "err", err)
			continue
		}
		valid := entries[:0]
		for _, e := range entries {
			if err := Validate(e, cfg.Limits); err != nil {
				t.log.Error("dropping invalid stored entry", "fabric", idx, "err", err)
				continue
			}
			valid = append(valid, e)
		}
		if len(valid) > cfg.Limits.EntriesPerFabric {
			t.log.Error("dropping stored entries beyond the limit", "fabric", idx, "entries", len(valid))
			valid = valid[:cfg.Limits.EntriesPerFabric]
		}
		if len(valid) > 0 {
			t.lists[idx] = slices.Clip(valid)
		}
	}
	return t, nil
}

// Limits returns the sizes the table supports, for the Access Control
// cluster's SubjectsPerAccessControlEntry, TargetsPerAccessControlEntry and
// AccessControlEntriesPerFabric attributes.
func (t *Table) Limits() Limits { return t.cfg.Limits }

// Entries returns a copy of a fabric's list, in order.
func (t *Table) Entries(fabricIndex uint8) []Entry {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return cloneEntries(t.lists[fabricIndex])
}

// AllEntries returns a copy of every fabric's list, by ascending fabric
// index, for a read that is not fabric-filtered.
func (t *Table) AllEntries() []Entry {
	t.mu.RLock()
	defer t.mu.RUnlock()
	idx := make([]uint8, 0, len(t.lists))
	for i := range t.lists {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	var out []Entry
	for _, i := range idx {
		out = append(out, cloneEntries(t.lists[i])...)
	}
	return out
}

// Fabrics returns the fabric indices that have a non-empty list, ascending.
func (t *Table) Fabrics() []uint8 {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]uint8, 0, len(t.lists))
	for i := range t.lists {
		out = append(out, i)
	}
	slices.Sort(out)
	return out
}

// Check reports whether subject may perform an operation needing need on a
// cluster of an endpoint (see the package function Check), using the
// entries of the subject's fabric. It is the Interaction Model engine's
// access checker (im.AccessChecker).
func (t *Table) Check(subject dm.Subject, endpoint uint16, cluster uint32, need dm.Privilege) bool {
	t.mu.RLock()
	entries := t.lists[subject.FabricIndex]
	t.mu.RUnlock()
	// entries is never modified in place, so it can be read unlocked.
	return Check(subject, endpoint, cluster, need, entries, t.cfg.DeviceTypes)
}

// Set replaces a fabric's list, as a write of the whole ACL attribute by that
// fabric does. Every entry gets fabricIndex. The list is validated first
// (Validate, and at most EntriesPerFabric entries, else RESOURCE_EXHAUSTED)
// and nothing changes if it fails; otherwise it is stored and in force when
// Set returns. An empty list removes the fabric's record.
func (t *Table) Set(fabricIndex uint8, entries []Entry) error {
	list := cloneEntries(entries)
	for i := range list {
		list[i].FabricIndex = fabricIndex
	}
	if len(list) > t.cfg.Limits.EntriesPerFabric {
		return dm.Errorf(dm.StatusResourceExhausted, "acl: %d entries, at most %d per fabric", len(list), t.cfg.Limits.EntriesPerFabric)
	}
	for _, e := range list {
		if err := Validate(e, t.cfg.Limits); err != nil {
			return err
		}
	}
	return t.replace(fabricIndex, list)
}

// Add appends an entry to its fabric's list (e.FabricIndex), as a list item
// append to the ACL attribute does. A full list is RESOURCE_EXHAUSTED
// (§9.10.6.3).
func (t *Table) Add(e Entry) error {
	e = e.Clone()
	if err := Validate(e, t.cfg.Limits); err != nil {
		return err
	}
	t.writeMu.Lock()
	cur := t.current(e.FabricIndex)
	if len(cur) >= t.cfg.Limits.EntriesPerFabric {
		t.writeMu.Unlock()
		return dm.Errorf(dm.StatusResourceExhausted, "acl: fabric %d already has %d entries", e.FabricIndex, len(cur))
	}
	changed, err := t.replaceLocked(e.FabricIndex, append(slices.Clip(cur), e))
	t.writeMu.Unlock()
	t.notify(e.FabricIndex, changed)
	return err
}

// GrantAdmin adds the entry AddNOC creates from its CaseAdminSubject
// (§11.18.6.8, step 7): Administer over CASE for subject on the whole node,
// on the new fabric. subject must be an operational node ID or a CAT subject
// (ValidCASESubject), which AddNOC checks first to answer InvalidAdminSubject.
func (t *Table) GrantAdmin(fabricIndex uint8, subject uint64) error {
	return t.Add(Entry{
		FabricIndex: fabricIndex,
		Privilege:   dm.PrivilegeAdminister,
		AuthMode:    dm.AuthCASE,
		Subjects:    []uint64{subject},
	})
}

// RemoveFabric deletes a fabric's list, as removing the fabric (RemoveFabric,
// or a fail-safe expiry that undoes AddNOC) must.
func (t *Table) RemoveFabric(fabricIndex uint8) error {
	return t.replace(fabricIndex, nil)
}

// RetainFabrics deletes the lists of every fabric for which keep reports
// false. The node calls it at start-up with the fabric table's indices, so
// that no list outlives its fabric: a restart during commissioning drops the
// uncommitted fabric (the fail-safe rule of §11.10.7.2) after its
// administrator entry was already stored.
func (t *Table) RetainFabrics(keep func(fabricIndex uint8) bool) error {
	var errs []error
	for _, idx := range t.Fabrics() {
		if keep(idx) {
			continue
		}
		if err := t.RemoveFabric(idx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// current returns a fabric's list; the caller holds writeMu.
func (t *Table) current(fabricIndex uint8) []Entry {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.lists[fabricIndex]
}

func (t *Table) replace(fabricIndex uint8, list []Entry) error {
	t.writeMu.Lock()
	changed, err := t.replaceLocked(fabricIndex, list)
	t.writeMu.Unlock()
	t.notify(fabricIndex, changed)
	return err
}

func (t *Table) notify(fabricIndex uint8, changed bool) {
	if changed && t.cfg.OnChange != nil {
		t.cfg.OnChange(fabricIndex)
	}
}

// replaceLocked stores list as the fabric's list, then puts it in force,
// and reports whether anything changed. If storing fails nothing changes.
// The caller holds writeMu.
func (t *Table) replaceLocked(fabricIndex uint8, list []Entry) (bool, error) {
	if fabricIndex == 0 || fabricIndex == 255 {
		return false, dm.Errorf(dm.StatusConstraintError, "acl: fabric index %d", fabricIndex)
	}
	old := t.current(fabricIndex)
	if len(old) == 0 && len(list) == 0 {
		return false, nil
	}
	key := storageKey(fabricIndex)
	if len(list) == 0 {
		if err := t.store.Delete(key); err != nil {
			return false, fmt.Errorf("acl: fabric %d: %w", fabricIndex, err)
		}
	} else {
		b, err := encodeList(list)
		if err != nil {
			return false, fmt.Errorf("acl: fabric %d: %w", fabricIndex, err)
		}
		if err := t.store.Put(key, b); err != nil {
			return false, fmt.Errorf("acl: fabric %d: %w", fabricIndex, err)
		}
	}
	t.mu.Lock()
	if len(list) == 0 {
		delete(t.lists, fabricIndex)
	} else {
		t.lists[fabricIndex] = list
	}
	t.mu.Unlock()
	return true, nil
}

func cloneEntries(in []Entry) []Entry {
	if len(in) == 0 {
		return nil
	}
	out := make([]Entry, len(in))
	for i, e := range in {
		out[i] = e.Clone()
	}
	return out
}
