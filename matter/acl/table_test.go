package acl

import (
	"bytes"
	"log/slog"
	"slices"
	"sync"
	"testing"

	"github.com/mattercam/mattercam/matter/dm"
	"github.com/mattercam/mattercam/matter/storage"
)

func openStore(t *testing.T, dir string) *storage.Store {
	t.Helper()
	s, err := storage.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil)) }

func openTable(t *testing.T, st *storage.Store, cfg Config) *Table {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	tb, err := Open(st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

func entriesEqual(a, b []Entry) bool { return slices.EqualFunc(a, b, Entry.Equal) }

func TestTableGrantAdminAndReload(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	var changed []uint8
	tb := openTable(t, st, Config{OnChange: func(f uint8) { changed = append(changed, f) }})

	admin := caseSubject(1, 0x1111)
	acl := dm.Path{Endpoint: 0, Cluster: clusterAccessControl}
	if tb.Check(admin, acl.Endpoint, acl.Cluster, dm.PrivilegeView) {
		t.Fatal("granted before any entry")
	}
	if err := tb.GrantAdmin(1, 0x1111); err != nil {
		t.Fatal(err)
	}
	if !tb.Check(admin, acl.Endpoint, acl.Cluster, dm.PrivilegeAdminister) {
		t.Fatal("administrator not granted Administer")
	}
	if tb.Check(caseSubject(2, 0x1111), acl.Endpoint, acl.Cluster, dm.PrivilegeView) {
		t.Fatal("granted on another fabric")
	}
	if err := tb.GrantAdmin(2, CATSubject(0xFFFD_0001)); err != nil {
		t.Fatal(err)
	}
	if !tb.Check(caseSubject(2, 0x42, 0xFFFD_0002), acl.Endpoint, acl.Cluster, dm.PrivilegeAdminister) {
		t.Fatal("CAT administrator not granted")
	}
	if !slices.Equal(changed, []uint8{1, 2}) {
		t.Fatalf("OnChange calls %v", changed)
	}
	want := []Entry{
		{FabricIndex: 1, Privilege: dm.PrivilegeAdminister, AuthMode: dm.AuthCASE, Subjects: []uint64{0x1111}},
		{FabricIndex: 2, Privilege: dm.PrivilegeAdminister, AuthMode: dm.AuthCASE, Subjects: []uint64{CATSubject(0xFFFD_0001)}},
	}
	if got := tb.AllEntries(); !entriesEqual(got, want) {
		t.Fatalf("AllEntries = %+v", got)
	}

	// The lists survive a restart.
	st.Close()
	st = openStore(t, dir)
	tb = openTable(t, st, Config{})
	if got := tb.AllEntries(); !entriesEqual(got, want) {
		t.Fatalf("after reload AllEntries = %+v", got)
	}
	if !tb.Check(admin, acl.Endpoint, acl.Cluster, dm.PrivilegeAdminister) {
		t.Fatal("administrator lost on reload")
	}
	if !slices.Equal(tb.Fabrics(), []uint8{1, 2}) {
		t.Fatalf("Fabrics = %v", tb.Fabrics())
	}
}

func TestTableInvalidAdminSubject(t *testing.T) {
	tb := openTable(t, openStore(t, t.TempDir()), Config{})
	for _, s := range []uint64{0, MaxOperationalNodeID + 1, CATSubject(0x1234_0000)} {
		if got := statusOf(tb.GrantAdmin(1, s)); got != dm.StatusConstraintError {
			t.Errorf("GrantAdmin(%#x) = %v", s, got)
		}
	}
	if len(tb.AllEntries()) != 0 {
		t.Fatal("an invalid grant was stored")
	}
}

func TestTableLimits(t *testing.T) {
	dir := t.TempDir()
	tb := openTable(t, openStore(t, dir), Config{})
	if tb.Limits() != DefaultLimits {
		t.Fatalf("Limits = %+v", tb.Limits())
	}
	view := func(node uint64) Entry {
		return Entry{FabricIndex: 1, Privilege: dm.PrivilegeView, AuthMode: dm.AuthCASE, Subjects: []uint64{node}}
	}
	for i := range MinEntriesPerFabric {
		if err := tb.Add(view(uint64(i + 1))); err != nil {
			t.Fatal(err)
		}
	}
	if got := statusOf(tb.Add(view(99))); got != dm.StatusResourceExhausted {
		t.Fatalf("Add beyond EntriesPerFabric = %v", got)
	}
	// Other fabrics have their own budget.
	e := view(99)
	e.FabricIndex = 2
	if err := tb.Add(e); err != nil {
		t.Fatalf("Add on fabric 2 = %v", err)
	}
	five := []Entry{view(1), view(2), view(3), view(4), view(5)}
	if got := statusOf(tb.Set(3, five)); got != dm.StatusResourceExhausted {
		t.Fatalf("Set of 5 entries = %v", got)
	}
	if len(tb.Entries(3)) != 0 {
		t.Fatal("a rejected Set changed the list")
	}

	if _, err := Open(openStore(t, t.TempDir()), Config{Limits: Limits{SubjectsPerEntry: 1, TargetsPerEntry: 3, EntriesPerFabric: 4}}); err == nil {
		t.Fatal("limits below the minimums accepted")
	}
}

func TestTableSet(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	tb := openTable(t, st, Config{})
	if err := tb.GrantAdmin(1, 0x1111); err != nil {
		t.Fatal(err)
	}
	before := tb.Entries(1)

	// An invalid entry anywhere in the list rejects the whole write.
	bad := []Entry{
		{Privilege: dm.PrivilegeAdminister, AuthMode: dm.AuthCASE, Subjects: []uint64{0x1111}},
		{Privilege: dm.PrivilegeAdminister, AuthMode: dm.AuthGroup, Subjects: []uint64{1}},
	}
	if got := statusOf(tb.Set(1, bad)); got != dm.StatusConstraintError {
		t.Fatalf("Set with a group Administer entry = %v", got)
	}
	if !entriesEqual(tb.Entries(1), before) {
		t.Fatal("a rejected Set changed the list")
	}

	// The fabric index comes from the accessing fabric, whatever the
	// entries say.
	good := []Entry{
		{FabricIndex: 7, Privilege: dm.PrivilegeAdminister, AuthMode: dm.AuthCASE, Subjects: []uint64{0x1111}},
		{Privilege: dm.PrivilegeOperate, AuthMode: dm.AuthGroup, Subjects: []uint64{0x0101}, Targets: []Target{EndpointClusterTarget(1, 6)}},
	}
	if err := tb.Set(1, good); err != nil {
		t.Fatal(err)
	}
	got := tb.Entries(1)
	if len(got) != 2 || got[0].FabricIndex != 1 || got[1].FabricIndex != 1 {
		t.Fatalf("Entries = %+v", got)
	}
	if len(tb.Entries(7)) != 0 {
		t.Fatal("an entry landed on the fabric it named")
	}
	// The caller's slices are not retained, and results are copies.
	good[1].Subjects[0] = 0x0202
	got[1].Targets[0].Endpoint = 9
	if e := tb.Entries(1)[1]; e.Subjects[0] != 0x0101 || e.Targets[0].Endpoint != 1 {
		t.Fatalf("the table aliases caller memory: %+v", e)
	}
	if !tb.Check(groupSubject(1, 0x0101), 1, 6, dm.PrivilegeOperate) {
		t.Fatal("group entry not in force")
	}

	// Replacing with an empty list removes the record.
	if err := tb.Set(1, nil); err != nil {
		t.Fatal(err)
	}
	if keys, _ := st.Keys(KeyPrefix); len(keys) != 0 {
		t.Fatalf("records left: %q", keys)
	}
}

func TestTableRemoveAndRetainFabrics(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	tb := openTable(t, st, Config{})
	for _, f := range []uint8{1, 2, 3, 254} {
		if err := tb.GrantAdmin(f, uint64(f)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tb.RemoveFabric(2); err != nil {
		t.Fatal(err)
	}
	if err := tb.RemoveFabric(2); err != nil {
		t.Fatalf("removing a removed fabric: %v", err)
	}
	if tb.Check(caseSubject(2, 2), 0, 0, dm.PrivilegeView) {
		t.Fatal("removed fabric still granted")
	}
	// At start-up the fabric table has fabrics 1 and 254 only: fabric 3's
	// AddNOC was never committed.
	committed := map[uint8]bool{1: true, 254: true}
	if err := tb.RetainFabrics(func(f uint8) bool { return committed[f] }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(tb.Fabrics(), []uint8{1, 254}) {
		t.Fatalf("Fabrics = %v", tb.Fabrics())
	}
	st.Close()
	tb = openTable(t, openStore(t, dir), Config{})
	if !slices.Equal(tb.Fabrics(), []uint8{1, 254}) {
		t.Fatalf("after reload Fabrics = %v", tb.Fabrics())
	}
}

func TestTableFailsClosedOnDamagedRecords(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	tb := openTable(t, st, Config{})
	if err := tb.GrantAdmin(1, 0x1111); err != nil {
		t.Fatal(err)
	}
	if err := tb.GrantAdmin(2, 0x2222); err != nil {
		t.Fatal(err)
	}
	// Fabric 2's record becomes garbage; fabric 3's holds an entry that
	// does not validate (Administer for a group) next to a valid one.
	if err := st.Put(storageKey(2), []byte{0x15, 0x18}); err != nil {
		t.Fatal(err)
	}
	b, err := encodeList([]Entry{
		{Privilege: dm.PrivilegeAdminister, AuthMode: dm.AuthGroup, Subjects: []uint64{1}},
		{Privilege: dm.PrivilegeView, AuthMode: dm.AuthCASE, Subjects: []uint64{0x3333}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Put(storageKey(3), b); err != nil {
		t.Fatal(err)
	}
	st.Put("acl.x", b) // not a fabric index: ignored
	st.Put("acl.0", b)
	st.Put("acl.01", b)

	var logs bytes.Buffer
	tb = openTable(t, st, Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if !tb.Check(caseSubject(1, 0x1111), 0, 0, dm.PrivilegeAdminister) {
		t.Fatal("intact fabric lost its entries")
	}
	if tb.Check(caseSubject(2, 0x2222), 0, 0, dm.PrivilegeView) {
		t.Fatal("damaged list granted access")
	}
	if tb.Check(groupSubject(3, 1), 0, 0, dm.PrivilegeView) {
		t.Fatal("invalid stored entry granted access")
	}
	if !tb.Check(caseSubject(3, 0x3333), 0, 0, dm.PrivilegeView) {
		t.Fatal("valid entry next to an invalid one dropped")
	}
	if !bytes.Contains(logs.Bytes(), []byte("component=acl")) {
		t.Fatalf("no log of the damage: %s", logs.String())
	}
}

func TestTableStorageFailureChangesNothing(t *testing.T) {
	st := openStore(t, t.TempDir())
	tb := openTable(t, st, Config{})
	if err := tb.GrantAdmin(1, 0x1111); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if err := tb.GrantAdmin(1, 0x2222); err == nil {
		t.Fatal("GrantAdmin succeeded with a closed store")
	}
	if err := tb.RemoveFabric(1); err == nil {
		t.Fatal("RemoveFabric succeeded with a closed store")
	}
	if got := tb.Entries(1); len(got) != 1 || got[0].Subjects[0] != 0x1111 {
		t.Fatalf("Entries = %+v", got)
	}
}

func TestTableConcurrentCheck(t *testing.T) {
	tb := openTable(t, openStore(t, t.TempDir()), Config{})
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
					tb.Check(caseSubject(1, 0x1111), 0, 0, dm.PrivilegeView)
					tb.AllEntries()
				}
			}
		}()
	}
	for i := range 20 {
		if err := tb.Set(1, []Entry{{Privilege: dm.PrivilegeView, AuthMode: dm.AuthCASE, Subjects: []uint64{uint64(i + 1)}}}); err != nil {
			t.Error(err)
		}
	}
	close(stop)
	wg.Wait()
}
