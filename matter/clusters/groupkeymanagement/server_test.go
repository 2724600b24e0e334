package groupkeymanagement

import (
	"bytes"
	"slices"
	"testing"

	"github.com/mattercam/mattercam/matter/clusters/field"
	"github.com/mattercam/mattercam/matter/clusters/internal/servetest"
	"github.com/mattercam/mattercam/matter/crypto"
	"github.com/mattercam/mattercam/matter/dm"
	"github.com/mattercam/mattercam/matter/fabric"
	"github.com/mattercam/mattercam/matter/storage"
)

// fabrics is a fabric table of two fabrics.
type fabrics map[uint8]fabric.Descriptor

func (f fabrics) Get(i uint8) (fabric.Descriptor, bool) { d, ok := f[i]; return d, ok }

var testFabrics = fabrics{
	1: {Index: 1, CompressedFabricID: [8]byte{1, 2, 3, 4, 5, 6, 7, 8}, IPKEpochKey: servetest.IPK},
	2: {Index: 2, CompressedFabricID: [8]byte{8, 7, 6, 5, 4, 3, 2, 1}, IPKEpochKey: servetest.IPK},
}

func newServer(t *testing.T, store *storage.Store, maxGroups int) *Server {
	t.Helper()
	s, err := New(Config{Fabrics: testFabrics, Store: store, MaxGroupsPerFabric: maxGroups})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var epoch0 = []byte("epoch key zero!!")

func keySet(id uint16) GroupKeySet {
	return GroupKeySet{GroupKeySetID: id, GroupKeySecurityPolicy: GroupKeySecurityPolicyTrustFirst,
		EpochKey0: field.NonNull(epoch0), EpochStartTime0: field.NonNull[uint64](1000)}
}

func write(t *testing.T, s *Server, fabric uint8, set GroupKeySet) error {
	t.Helper()
	_, err := servetest.Invoke(t, s, servetest.CASE(fabric, 1), CmdKeySetWrite, &KeySetWriteRequest{GroupKeySet: set})
	return err
}

func TestKeySetWriteValidation(t *testing.T) {
	key := field.NonNull([]byte("another epoch ky"))
	for _, tc := range []struct {
		name   string
		mutate func(*GroupKeySet)
		want   dm.Status
	}{
		{"valid", func(*GroupKeySet) {}, dm.StatusSuccess},
		{"three epochs", func(k *GroupKeySet) {
			k.EpochKey1, k.EpochStartTime1 = key, field.NonNull[uint64](2000)
			k.EpochKey2, k.EpochStartTime2 = key, field.NonNull[uint64](3000)
		}, dm.StatusSuccess},
		{"IPK set", func(k *GroupKeySet) { k.GroupKeySetID = 0 }, dm.StatusInvalidCommand},
		{"no epoch key 0", func(k *GroupKeySet) { k.EpochKey0 = field.Null[[]byte]() }, dm.StatusInvalidCommand},
		{"start time 0", func(k *GroupKeySet) { k.EpochStartTime0 = field.NonNull[uint64](0) }, dm.StatusInvalidCommand},
		{"key 1 without time", func(k *GroupKeySet) { k.EpochKey1 = key }, dm.StatusInvalidCommand},
		{"key 2 without key 1", func(k *GroupKeySet) { k.EpochKey2, k.EpochStartTime2 = key, field.NonNull[uint64](3000) }, dm.StatusInvalidCommand},
		{"times not increasing", func(k *GroupKeySet) { k.EpochKey1, k.EpochStartTime1 = key, field.NonNull[uint64](1000) }, dm.StatusInvalidCommand},
		{"cache and sync", func(k *GroupKeySet) { k.GroupKeySecurityPolicy = GroupKeySecurityPolicyCacheAndSync }, dm.StatusInvalidCommand},
		{"short key", func(k *GroupKeySet) { k.EpochKey0 = field.NonNull(epoch0[:15]) }, dm.StatusConstraintError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t, servetest.Store(t), 0)
			set := keySet(5)
			tc.mutate(&set)
			if got := servetest.Status(write(t, s, 1, set)); got != tc.want {
				t.Fatalf("KeySetWrite: %v, want %v", got, tc.want)
			}
			want := []uint16{0}
			if tc.want == dm.StatusSuccess {
				want = append(want, 5)
			}
			var ids KeySetReadAllIndicesResponse
			servetest.Call(t, s, servetest.CASE(1, 1), CmdKeySetReadAllIndices, nil, CmdKeySetReadAllIndicesResponse, &ids)
			if !slices.Equal(ids.GroupKeySetIDs, want) {
				t.Errorf("key sets %v, want %v", ids.GroupKeySetIDs, want)
			}
		})
	}
}

func TestKeySetLifecycle(t *testing.T) {
	dir := t.TempDir()
	store := servetest.OpenStore(t, dir)
	s := newServer(t, store, 4)
	req := servetest.CASE(1, 1)
	for _, id := range []uint16{7, 3} {
		if err := write(t, s, 1, keySet(id)); err != nil {
			t.Fatalf("KeySetWrite %d: %v", id, err)
		}
	}
	// Key set 0 counts: three per fabric in all.
	if err := write(t, s, 1, keySet(9)); servetest.Status(err) != dm.StatusResourceExhausted {
		t.Errorf("fourth key set: %v, want RESOURCE_EXHAUSTED", err)
	}
	if err := write(t, s, 1, keySet(7)); err != nil {
		t.Errorf("replacing a key set: %v", err)
	}
	// Fabric 2 has its own sets.
	if err := write(t, s, 2, keySet(7)); err != nil {
		t.Errorf("fabric 2: %v", err)
	}

	var read KeySetReadResponse
	servetest.Call(t, s, req, CmdKeySetRead, &KeySetReadRequest{GroupKeySetID: 3}, CmdKeySetReadResponse, &read)
	got := read.GroupKeySet
	if got.GroupKeySetID != 3 || got.EpochKey0.Valid || !got.EpochStartTime0.Valid || got.EpochStartTime0.Value != 1000 {
		t.Errorf("KeySetRead: %+v (keys must read as null)", got)
	}
	servetest.Call(t, s, req, CmdKeySetRead, &KeySetReadRequest{GroupKeySetID: 0}, CmdKeySetReadResponse, &read)
	if read.GroupKeySet.GroupKeySetID != 0 || read.GroupKeySet.EpochKey0.Valid {
		t.Errorf("IPK key set %+v", read.GroupKeySet)
	}
	if _, err := servetest.Invoke(t, s, req, CmdKeySetRead, &KeySetReadRequest{GroupKeySetID: 4}); servetest.Status(err) != dm.StatusNotFound {
		t.Errorf("reading a missing set: %v, want NOT_FOUND", err)
	}

	// The epoch keys are not stored, only the operational keys.
	b, err := store.Get(storageKey(1))
	if err != nil {
		t.Fatal(err)
	}
	opKey, _ := crypto.DeriveOperationalGroupKey(epoch0, testFabrics[1].CompressedFabricID)
	if bytes.Contains(b, epoch0) || !bytes.Contains(b, opKey) {
		t.Error("stored record holds the epoch key, or not the operational key")
	}

	// The map: group 0x0101 → key set 3.
	m := servetest.List(t, []GroupKeyMap{{GroupID: 0x0101, GroupKeySetID: 3}, {GroupID: 0x0102, GroupKeySetID: 7}})
	if err := servetest.Write(t, s, req, AttrGroupKeyMap, m, false); err != nil {
		t.Fatalf("writing GroupKeyMap: %v", err)
	}
	dup := servetest.List(t, []GroupKeyMap{{GroupID: 0x0101, GroupKeySetID: 3}, {GroupID: 0x0101, GroupKeySetID: 7}})
	if err := servetest.Write(t, s, req, AttrGroupKeyMap, dup, false); servetest.Status(err) != dm.StatusConstraintError {
		t.Errorf("duplicate group: %v, want CONSTRAINT_ERROR", err)
	}
	zero := servetest.List(t, []GroupKeyMap{{GroupID: 0x0101, GroupKeySetID: 0}})
	if err := servetest.Write(t, s, req, AttrGroupKeyMap, zero, false); servetest.Status(err) != dm.StatusConstraintError {
		t.Errorf("mapping the IPK: %v, want CONSTRAINT_ERROR", err)
	}
	many := servetest.List(t, []GroupKeyMap{{GroupID: 1, GroupKeySetID: 3}, {GroupID: 2, GroupKeySetID: 3}, {GroupID: 3, GroupKeySetID: 3},
		{GroupID: 4, GroupKeySetID: 3}, {GroupID: 5, GroupKeySetID: 3}})
	if err := servetest.Write(t, s, req, AttrGroupKeyMap, many, false); servetest.Status(err) != dm.StatusResourceExhausted {
		t.Errorf("five groups: %v, want RESOURCE_EXHAUSTED", err)
	}
	maps := servetest.ReadList[GroupKeyMap](t, s, servetest.Filtered(req), AttrGroupKeyMap)
	if len(maps) != 2 || maps[0].FabricIndex != 1 {
		t.Errorf("GroupKeyMap %+v", maps)
	}

	// Removing a key set removes its mappings; the IPK's cannot go.
	if _, err := servetest.Invoke(t, s, req, CmdKeySetRemove, &KeySetRemoveRequest{GroupKeySetID: 0}); servetest.Status(err) != dm.StatusInvalidCommand {
		t.Errorf("removing the IPK: %v, want INVALID_COMMAND", err)
	}
	if _, err := servetest.Invoke(t, s, req, CmdKeySetRemove, &KeySetRemoveRequest{GroupKeySetID: 3}); err != nil {
		t.Fatalf("KeySetRemove: %v", err)
	}
	if _, err := servetest.Invoke(t, s, req, CmdKeySetRemove, &KeySetRemoveRequest{GroupKeySetID: 3}); servetest.Status(err) != dm.StatusNotFound {
		t.Errorf("removing again: %v, want NOT_FOUND", err)
	}

	// A restart reads everything back.
	store.Close()
	s = newServer(t, servetest.OpenStore(t, dir), 4)
	maps = servetest.ReadList[GroupKeyMap](t, s, servetest.Filtered(req), AttrGroupKeyMap)
	if len(maps) != 1 || maps[0].GroupID != 0x0102 {
		t.Errorf("after restart GroupKeyMap %+v", maps)
	}
	if all := servetest.ReadList[GroupKeyMap](t, s, req, AttrGroupKeyMap); len(all) != 1 {
		t.Errorf("unfiltered GroupKeyMap %+v", all)
	}
	var ids KeySetReadAllIndicesResponse
	servetest.Call(t, s, servetest.CASE(2, 1), CmdKeySetReadAllIndices, nil, CmdKeySetReadAllIndicesResponse, &ids)
	if !slices.Equal(ids.GroupKeySetIDs, []uint16{0, 7}) {
		t.Errorf("fabric 2 key sets %v", ids.GroupKeySetIDs)
	}
	s.RetainFabrics(func(f uint8) bool { return f == 2 })
	servetest.Call(t, s, req, CmdKeySetReadAllIndices, nil, CmdKeySetReadAllIndicesResponse, &ids)
	if !slices.Equal(ids.GroupKeySetIDs, []uint16{0}) {
		t.Errorf("fabric 1 key sets after its removal %v", ids.GroupKeySetIDs)
	}
}

func TestGroupTableAndLimits(t *testing.T) {
	s := newServer(t, servetest.Store(t), 0)
	req := servetest.CASE(1, 1)
	if el := servetest.ReadElement(t, s, req, AttrGroupTable); len(el.Members) != 0 {
		t.Error("GroupTable not empty")
	}
	if got := servetest.ReadUint(t, s, req, AttrMaxGroupKeysPerFabric); got != MinGroupKeysPerFabric {
		t.Errorf("MaxGroupKeysPerFabric = %d", got)
	}
	if got := servetest.ReadUint(t, s, req, AttrMaxGroupsPerFabric); got != 0 {
		t.Errorf("MaxGroupsPerFabric = %d", got)
	}
	one := servetest.List(t, []GroupKeyMap{{GroupID: 1, GroupKeySetID: 1}})
	if err := servetest.Write(t, s, req, AttrGroupKeyMap, one, false); servetest.Status(err) != dm.StatusResourceExhausted {
		t.Errorf("mapping a group without group support: %v, want RESOURCE_EXHAUSTED", err)
	}
	if _, err := servetest.Invoke(t, s, servetest.PASE(0), CmdKeySetReadAllIndices, nil); servetest.Status(err) != dm.StatusUnsupportedAccess {
		t.Errorf("without a fabric: %v, want UNSUPPORTED_ACCESS", err)
	}
	if _, err := New(Config{Fabrics: testFabrics, Store: servetest.Store(t), MaxGroupKeysPerFabric: 2}); err == nil {
		t.Error("New accepted 2 key sets per fabric")
	}
}
