package accesscontrol

import (
	"bytes"
	"slices"
	"testing"

	"github.com/mattercam/mattercam/matter/acl"
	"github.com/mattercam/mattercam/matter/clusters/field"
	"github.com/mattercam/mattercam/matter/clusters/internal/servetest"
	"github.com/mattercam/mattercam/matter/dm"
	"github.com/mattercam/mattercam/matter/storage"
	"github.com/mattercam/mattercam/matter/tlv"
)

const (
	admin1 = 0x0000_0000_0000_0A01
	admin2 = 0x0000_0000_0000_0A02
)

type env struct {
	s       *Server
	table   *acl.Table
	store   *storage.Store
	events  servetest.Events
	changes servetest.Changes
}

func newEnv(t *testing.T, store *storage.Store) *env {
	t.Helper()
	e := &env{store: store}
	var err error
	e.table, err = acl.Open(store, acl.Config{OnChange: func(f uint8) {
		if e.s != nil {
			e.s.ACLChanged(f)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if e.s, err = New(Config{ACL: e.table, Store: store, Events: &e.events, Notify: &e.changes}); err != nil {
		t.Fatal(err)
	}
	return e
}

func adminEntry(subject uint64) AccessControlEntry {
	return AccessControlEntry{Privilege: AccessControlEntryPrivilegeAdminister, AuthMode: AccessControlEntryAuthModeCASE,
		Subjects: field.NonNull([]uint64{subject})}
}

func operateEntry(endpoint uint16, cluster uint32) AccessControlEntry {
	return AccessControlEntry{Privilege: AccessControlEntryPrivilegeOperate, AuthMode: AccessControlEntryAuthModeCASE,
		Targets: field.NonNull([]AccessControlTarget{{Endpoint: field.NonNull(endpoint), Cluster: field.NonNull(cluster)}})}
}

func (e *env) entryEvents(t *testing.T) []AccessControlEntryChangedEvent {
	t.Helper()
	var out []AccessControlEntryChangedEvent
	for _, ev := range e.events.Take() {
		if ev.Cluster != ID || ev.ID != EventAccessControlEntryChanged {
			continue
		}
		var p AccessControlEntryChangedEvent
		servetest.Decode(t, ev.Payload, &p)
		if ev.FabricIndex != p.FabricIndex {
			t.Errorf("event fabric %d, payload fabric %d", ev.FabricIndex, p.FabricIndex)
		}
		out = append(out, p)
	}
	return out
}

func TestGrantAdminAndRead(t *testing.T) {
	e := newEnv(t, servetest.Store(t))
	if err := e.s.GrantAdmin(servetest.PASE(1), 1, admin1); err != nil {
		t.Fatal(err)
	}
	if err := e.s.GrantAdmin(servetest.PASE(2), 2, admin2); err != nil {
		t.Fatal(err)
	}
	evs := e.entryEvents(t)
	if len(evs) != 2 || evs[0].ChangeType != ChangeTypeAdded || !evs[0].AdminPasscodeID.Valid || evs[0].AdminNodeID.Valid {
		t.Fatalf("events %+v", evs)
	}
	if !e.changes.Has(ID, AttrACL) {
		t.Error("ACL change not reported")
	}
	req := servetest.CASE(1, admin1)
	// Filtered: only fabric 1's entry, in full.
	got := servetest.ReadList[AccessControlEntry](t, e.s, servetest.Filtered(req), AttrACL)
	want := adminEntry(admin1)
	want.FabricIndex = 1
	if len(got) != 1 || got[0].Privilege != want.Privilege || !slices.Equal(got[0].Subjects.Value, want.Subjects.Value) || got[0].FabricIndex != 1 {
		t.Errorf("filtered ACL %+v", got)
	}
	if got[0].Targets.Valid {
		t.Error("no targets should read as null")
	}
	// Unfiltered: fabric 2's entry shows only its fabric index.
	el := servetest.ReadElement(t, e.s, req, AttrACL)
	if len(el.Members) != 2 {
		t.Fatalf("unfiltered ACL has %d entries", len(el.Members))
	}
	if m := el.Members[1].Members; len(m) != 1 || m[0].Tag != tlv.ContextTag(254) || m[0].Uint != 2 {
		t.Errorf("other fabric's entry %+v", m)
	}
	lim := acl.DefaultLimits
	for attr, want := range map[uint32]int{
		AttrSubjectsPerAccessControlEntry: lim.SubjectsPerEntry,
		AttrTargetsPerAccessControlEntry:  lim.TargetsPerEntry,
		AttrAccessControlEntriesPerFabric: lim.EntriesPerFabric,
	} {
		if got := servetest.ReadUint(t, e.s, req, attr); got != uint64(want) {
			t.Errorf("attribute %#x = %d, want %d", attr, got, want)
		}
	}
}

func TestWriteACL(t *testing.T) {
	req := servetest.CASE(1, admin1)
	for _, tc := range []struct {
		name    string
		list    []AccessControlEntry
		status  dm.Status
		entries int
		changes []ChangeType
	}{
		{name: "replace, keeping the admin", list: []AccessControlEntry{adminEntry(admin1), operateEntry(1, 0x0553)},
			entries: 2, changes: []ChangeType{ChangeTypeAdded}},
		{name: "change the admin", list: []AccessControlEntry{adminEntry(admin2)},
			entries: 1, changes: []ChangeType{ChangeTypeChanged}},
		{name: "empty list", list: nil, entries: 0, changes: []ChangeType{ChangeTypeRemoved}},
		{name: "too many entries", list: slices.Repeat([]AccessControlEntry{adminEntry(admin1)}, acl.DefaultLimits.EntriesPerFabric+1),
			status: dm.StatusResourceExhausted, entries: 1},
		{name: "too many subjects", list: []AccessControlEntry{{Privilege: AccessControlEntryPrivilegeView, AuthMode: AccessControlEntryAuthModeCASE,
			Subjects: field.NonNull([]uint64{1, 2, 3, 4, 5})}}, status: dm.StatusResourceExhausted, entries: 1},
		{name: "PASE entry", list: []AccessControlEntry{{Privilege: AccessControlEntryPrivilegeView, AuthMode: AccessControlEntryAuthModePASE}},
			status: dm.StatusConstraintError, entries: 1},
		{name: "group administer", list: []AccessControlEntry{{Privilege: AccessControlEntryPrivilegeAdminister, AuthMode: AccessControlEntryAuthModeGroup}},
			status: dm.StatusConstraintError, entries: 1},
		{name: "unknown privilege", list: []AccessControlEntry{{Privilege: 9, AuthMode: AccessControlEntryAuthModeCASE}},
			status: dm.StatusConstraintError, entries: 1},
		{name: "auxiliary type", list: []AccessControlEntry{{Privilege: AccessControlEntryPrivilegeView, AuthMode: AccessControlEntryAuthModeCASE,
			AuxiliaryType: field.Some(AccessControlAuxiliaryTypeSystem)}}, status: dm.StatusConstraintError, entries: 1},
		{name: "empty target", list: []AccessControlEntry{{Privilege: AccessControlEntryPrivilegeView, AuthMode: AccessControlEntryAuthModeCASE,
			Targets: field.NonNull([]AccessControlTarget{{}})}}, status: dm.StatusConstraintError, entries: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, servetest.Store(t))
			if err := e.s.GrantAdmin(servetest.PASE(1), 1, admin1); err != nil {
				t.Fatal(err)
			}
			e.events.Take()
			// A FabricIndex in the written value is ignored.
			list := slices.Clone(tc.list)
			for i := range list {
				list[i].FabricIndex = 9
			}
			err := servetest.Write(t, e.s, req, AttrACL, servetest.List(t, list), false)
			if got := servetest.Status(err); got != tc.status {
				t.Fatalf("write: %v, want %v", err, tc.status)
			}
			if n := len(e.table.Entries(1)); n != tc.entries {
				t.Errorf("%d entries, want %d", n, tc.entries)
			}
			if len(e.table.Entries(9)) != 0 {
				t.Error("entries written to the fabric named in the value")
			}
			var changes []ChangeType
			for _, ev := range e.entryEvents(t) {
				changes = append(changes, ev.ChangeType)
				if !ev.AdminNodeID.Valid || ev.AdminNodeID.Value != admin1 || ev.AdminPasscodeID.Valid || ev.FabricIndex != 1 {
					t.Errorf("event %+v", ev)
				}
			}
			if !slices.Equal(changes, tc.changes) {
				t.Errorf("events %v, want %v", changes, tc.changes)
			}
		})
	}
}

func TestWriteACLAppendAndAccess(t *testing.T) {
	e := newEnv(t, servetest.Store(t))
	req := servetest.CASE(1, admin1)
	if err := e.s.GrantAdmin(servetest.PASE(1), 1, admin1); err != nil {
		t.Fatal(err)
	}
	item := servetest.Encode(t, ptr(operateEntry(1, 0x0553)))
	if err := servetest.Write(t, e.s, req, AttrACL, item, true); err != nil {
		t.Fatalf("append: %v", err)
	}
	if !e.table.Check(dm.Subject{AuthMode: dm.AuthCASE, FabricIndex: 1, NodeID: 77}, 1, 0x0553, dm.PrivilegeOperate) {
		t.Error("appended entry not in force")
	}
	if err := servetest.Write(t, e.s, servetest.PASE(0), AttrACL, item, true); servetest.Status(err) != dm.StatusUnsupportedAccess {
		t.Errorf("write without a fabric: %v, want UNSUPPORTED_ACCESS", err)
	}
	notList := servetest.Value(t, func(w *tlv.Writer, tag tlv.Tag) { w.PutUint(tag, 1) })
	if err := servetest.Write(t, e.s, req, AttrACL, notList, false); servetest.Status(err) != dm.StatusInvalidDataType {
		t.Errorf("write of an integer: %v, want INVALID_DATA_TYPE", err)
	}
	if err := servetest.Write(t, e.s, req, AttrSubjectsPerAccessControlEntry, notList, false); servetest.Status(err) != dm.StatusUnsupportedWrite {
		t.Errorf("write of a limit: %v, want UNSUPPORTED_WRITE", err)
	}
}

func ptr[T any](v T) *T { return &v }

// extension returns valid extension data: an anonymous list of one element
// with a fully-qualified tag.
func extension(t *testing.T, n byte) []byte {
	return servetest.Value(t, func(w *tlv.Writer, tag tlv.Tag) {
		w.StartList(tag)
		w.PutBytes(tlv.FullyQualifiedTag(0xFFF1, 1, 1), bytes.Repeat([]byte{n}, 8))
		w.EndContainer()
	})
}

func TestExtension(t *testing.T) {
	dir := t.TempDir()
	store := servetest.OpenStore(t, dir)
	e := newEnv(t, store)
	req := servetest.CASE(1, admin1)
	write := func(list []AccessControlExtension) error {
		return servetest.Write(t, e.s, req, AttrExtension, servetest.List(t, list), false)
	}
	if err := write([]AccessControlExtension{{Data: extension(t, 1)}}); err != nil {
		t.Fatalf("write: %v", err)
	}
	if err := write([]AccessControlExtension{{Data: extension(t, 2)}}); err != nil {
		t.Fatalf("rewrite: %v", err)
	}
	for _, tc := range []struct {
		name string
		list []AccessControlExtension
		want dm.Status
	}{
		{"two entries", []AccessControlExtension{{Data: extension(t, 1)}, {Data: extension(t, 2)}}, dm.StatusResourceExhausted},
		{"not a list", []AccessControlExtension{{Data: []byte{0x15, 0x18}}}, dm.StatusConstraintError},
		{"context tag", []AccessControlExtension{{Data: []byte{0x17, 0x24, 0x01, 0x05, 0x18}}}, dm.StatusConstraintError},
		{"too long", []AccessControlExtension{{Data: append([]byte{0x17}, append(bytes.Repeat([]byte{0}, 128), 0x18)...)}}, dm.StatusConstraintError},
	} {
		if err := write(tc.list); servetest.Status(err) != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	var kinds []ChangeType
	for _, ev := range e.events.Take() {
		if ev.ID == EventAccessControlExtensionChanged {
			var p AccessControlExtensionChangedEvent
			servetest.Decode(t, ev.Payload, &p)
			kinds = append(kinds, p.ChangeType)
		}
	}
	if !slices.Equal(kinds, []ChangeType{ChangeTypeAdded, ChangeTypeChanged}) {
		t.Errorf("extension events %v", kinds)
	}
	if err := servetest.Write(t, e.s, req, AttrExtension, servetest.Encode(t, &AccessControlExtension{Data: extension(t, 3)}), true); servetest.Status(err) != dm.StatusResourceExhausted {
		t.Errorf("append to a full list: %v, want RESOURCE_EXHAUSTED", err)
	}

	// Stored: a restart reads it back; other fabrics see only the index.
	store.Close()
	e = newEnv(t, servetest.OpenStore(t, dir))
	exts := servetest.ReadList[AccessControlExtension](t, e.s, servetest.Filtered(req), AttrExtension)
	if len(exts) != 1 || !bytes.Equal(exts[0].Data, extension(t, 2)) || exts[0].FabricIndex != 1 {
		t.Errorf("after restart %+v", exts)
	}
	if el := servetest.ReadElement(t, e.s, servetest.CASE(2, admin2), AttrExtension); len(el.Members) != 1 || len(el.Members[0].Members) != 1 {
		t.Errorf("another fabric's view %+v", el)
	}
	e.s.FabricRemoved(1)
	if el := servetest.ReadElement(t, e.s, req, AttrExtension); len(el.Members) != 0 {
		t.Error("extension survived its fabric")
	}
}
