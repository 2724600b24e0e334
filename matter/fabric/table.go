package fabric

import (
	"crypto/ecdsa"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mattercam/mattercam/matter/cert"
	"github.com/mattercam/mattercam/matter/crypto"
	"github.com/mattercam/mattercam/matter/securechannel"
	"github.com/mattercam/mattercam/matter/storage"
)

// Limits.
const (
	// MinSupportedFabrics is the least SupportedFabrics a node may report
	// (§11.18.5.3, constraint "5 to 254").
	MinSupportedFabrics = 5
	// DefaultSupportedFabrics is the SupportedFabrics of a Table whose
	// Config leaves it zero.
	DefaultSupportedFabrics = MinSupportedFabrics
	// MaxFabricIndex is the largest fabric index; 0 is reserved and 255
	// would leave nullable fabric-idx fields no null value (§11.18.6.8).
	MaxFabricIndex = 254
	// MaxLabelLen is the longest fabric label, in octets (§11.18.4.5).
	MaxLabelLen = 32
)

// Storage keys.
const (
	// KeyPrefix starts the key of every record of the table.
	KeyPrefix = "fabric."
	metaKey   = KeyPrefix + "meta"
)

func recordKey(index uint8) string { return KeyPrefix + strconv.Itoa(int(index)) }

// Attrs is a set of Operational Credentials attributes.
type Attrs uint8

// The attributes the fabric table backs (§11.18.5).
const (
	AttrNOCs Attrs = 1 << iota
	AttrFabrics
	AttrCommissionedFabrics
	AttrTrustedRootCertificates
)

// ChangeKind says what happened to a fabric.
type ChangeKind uint8

// Kinds of change.
const (
	// ChangeAdded: AddNOC added the fabric (not yet committed).
	ChangeAdded ChangeKind = iota + 1
	// ChangeUpdated: UpdateNOC replaced its NOC and key, or a revert
	// restored them.
	ChangeUpdated
	// ChangeLabel: its label changed.
	ChangeLabel
	// ChangeRemoved: RemoveFabric removed it, or a revert undid the AddNOC
	// that added it. Every piece of fabric-scoped data must go with it.
	ChangeRemoved
	// ChangeRoots: only the trusted root list changed (a root staged or
	// dropped); Index is 0.
	ChangeRoots
	// ChangeCommitted: CommissioningComplete stored the staged change of
	// the fabric. No attribute changes.
	ChangeCommitted
	// ChangeVIDVerification: SetVIDVerificationStatement changed its
	// vendor ID, VID verification statement (Fabrics) or VVSC (NOCs).
	ChangeVIDVerification
)

// Change is a change notification.
type Change struct {
	Kind  ChangeKind
	Index uint8
	// Attrs are the attributes whose value changed.
	Attrs Attrs
}

const allAttrs = AttrNOCs | AttrFabrics | AttrCommissionedFabrics | AttrTrustedRootCertificates

// Config configures a Table.
type Config struct {
	// SupportedFabrics is the number of fabrics the node supports, 5 to
	// 254; 0 means DefaultSupportedFabrics.
	SupportedFabrics int
	// Now gives the time certificate validity periods are checked at
	// (AddTrustedRootCertificate, AddNOC, UpdateNOC). nil skips the check,
	// as a node without a trusted notion of time may (§6.4.5).
	Now func() time.Time
	// OnChange, if set, is called after every change, on the changing
	// goroutine with no lock held. It may read the Table; it must not
	// block.
	OnChange func(Change)
	// Logger receives warnings about stored fabrics that could not be
	// loaded; nil means slog.Default().
	Logger *slog.Logger
}

// Descriptor is what the Operational Credentials cluster shows of a fabric:
// a FabricDescriptorStruct (§11.18.4.5) and a NOCStruct (§11.18.4.4), and the
// IPK epoch key for the Group Key Management cluster's key set 0. Slices are
// copies.
type Descriptor struct {
	Index         uint8
	RootPublicKey []byte
	VendorID      uint16
	FabricID      uint64
	NodeID        uint64
	Label         string
	// RCAC, ICAC and NOC are in Matter TLV form; ICAC is nil when the NOC
	// is issued by the root.
	RCAC, ICAC, NOC    []byte
	CATs               []uint32
	CompressedFabricID [crypto.CompressedFabricIDSize]byte
	IPKEpochKey        []byte
	// VIDVerificationStatement (85 octets) and VVSC are what
	// SetVIDVerificationStatement set (§11.18.6.14); nil when absent.
	VIDVerificationStatement, VVSC []byte
	// Pending is set for a fabric AddNOC added and CommissioningComplete
	// has not yet committed; Updating for one whose NOC an UpdateNOC
	// replaced in the same way (the fields show the new NOC).
	Pending, Updating bool
}

// Staged describes the fail-safe staging, for the General Commissioning and
// Operational Credentials clusters.
type Staged struct {
	// CSR is set once CSRRequest generated a pending key; ForUpdate is its
	// IsForUpdateNOC.
	CSR, ForUpdate bool
	// Root is set once AddTrustedRootCertificate succeeded.
	Root bool
	// NOCDone is set once AddNOC or UpdateNOC succeeded.
	NOCDone bool
	// Added and Updated are the fabric index AddNOC added or UpdateNOC
	// updated, 0 if none.
	Added, Updated uint8
}

// Reverted is what Revert undid.
type Reverted struct {
	// Added is the fabric AddNOC had added and that is now removed; the
	// caller removes its fabric-scoped data and sessions (§11.10.7.2.2
	// steps 3 and 6). 0 if none.
	Added uint8
	// Updated is the fabric whose NOC, ICAC and key were restored; the
	// caller closes its CASE sessions (step 3). 0 if none.
	Updated uint8
}

// staging is the uncommitted state of the current fail-safe context.
type staging struct {
	key       *ecdsa.PrivateKey // pending operational key (CSRRequest)
	forUpdate bool
	root      []byte // pending RCAC (AddTrustedRootCertificate), TLV
	rootCert  *cert.Certificate
	rootSeen  bool // AddTrustedRootCertificate succeeded in this context
	nocDone   bool // AddNOC or UpdateNOC succeeded in this context
	added     *record
	updated   *record // replaces committed[updated.index]
}

// Table is the fabric table. It is safe for concurrent use, and implements
// securechannel.Fabrics.
type Table struct {
	store *storage.Store
	cfg   Config
	log   *slog.Logger

	mu        sync.Mutex
	committed map[uint8]*record
	lastIndex uint8
	stage     staging

	// snapshot is what Fabrics returns, rebuilt after each change so that
	// CASE never waits for a storage write.
	snapshot atomic.Pointer[[]securechannel.Fabric]
}

var _ securechannel.Fabrics = (*Table)(nil)

// Open loads the fabric table from store. A stored fabric that does not
// load is skipped and logged; its index is not reused before the counter
// wraps.
func Open(store *storage.Store, cfg Config) (*Table, error) {
	if cfg.SupportedFabrics == 0 {
		cfg.SupportedFabrics = DefaultSupportedFabrics
	}
	if cfg.SupportedFabrics < MinSupportedFabrics || cfg.SupportedFabrics > MaxFabricIndex {
		return nil, fmt.Errorf("fabric: SupportedFabrics %d outside [%d, %d]", cfg.SupportedFabrics, MinSupportedFabrics, MaxFabricIndex)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	t := &Table{store: store, cfg: cfg, log: log.With("component", "fabric"), committed: make(map[uint8]*record)}

	keys, err := store.Keys(KeyPrefix)
	if err != nil {
		return nil, fmt.Errorf("fabric: %w", err)
	}
	haveMeta := false
	for _, k := range keys {
		if k == metaKey {
			b, err := store.Get(k)
			if err == nil {
				t.lastIndex, err = decodeMeta(b)
			}
			if err != nil {
				// Fall back to the highest index loaded below.
				t.log.Error("fabric index counter unreadable", "err", err)
				continue
			}
			haveMeta = true
			continue
		}
		n, err := strconv.ParseUint(strings.TrimPrefix(k, KeyPrefix), 10, 8)
		if err != nil || n == 0 || n > MaxFabricIndex || recordKey(uint8(n)) != k {
			t.log.Warn("ignoring record with a malformed key", "key", k)
			continue
		}
		b, err := store.Get(k)
		if err != nil && !errors.Is(err, storage.ErrCorrupt) {
			return nil, fmt.Errorf("fabric: %w", err)
		}
		var rec *record
		if err == nil {
			rec, err = decodeRecord(b)
		}
		if err == nil && rec.index != uint8(n) {
			err = fmt.Errorf("%w: record of fabric %d stored as fabric %d", errRecord, rec.index, n)
		}
		if err != nil {
			t.log.Error("stored fabric unusable; skipping it", "fabric", n, "err", err)
			continue
		}
		t.committed[rec.index] = rec
	}
	if !haveMeta {
		for i := range t.committed {
			t.lastIndex = max(t.lastIndex, i)
		}
	}
	t.publish()
	return t, nil
}

// SupportedFabrics returns the SupportedFabrics attribute.
func (t *Table) SupportedFabrics() int { return t.cfg.SupportedFabrics }

// Fabrics implements securechannel.Fabrics: the committed fabrics, with a
// staged UpdateNOC in force, and a fabric staged by AddNOC, which CASE must
// reach before CommissioningComplete. The result is shared and must not be
// modified.
func (t *Table) Fabrics() []securechannel.Fabric { return *t.snapshot.Load() }

// publish rebuilds the snapshot Fabrics returns. The caller holds mu, or is
// Open.
func (t *Table) publish() {
	recs := t.visible()
	out := make([]securechannel.Fabric, len(recs))
	for i, r := range recs {
		out[i] = r.secure()
	}
	t.snapshot.Store(&out)
}

// visible returns the fabrics in force, by ascending index: the committed
// ones with a staged update applied, and the staged addition. The caller
// holds mu.
func (t *Table) visible() []*record {
	out := make([]*record, 0, len(t.committed)+1)
	for _, r := range t.committed {
		if u := t.stage.updated; u != nil && u.index == r.index {
			r = u
		}
		out = append(out, r)
	}
	if t.stage.added != nil {
		out = append(out, t.stage.added)
	}
	slices.SortFunc(out, func(a, b *record) int { return int(a.index) - int(b.index) })
	return out
}

// lookup returns the fabric in force with the given index. The caller holds
// mu.
func (t *Table) lookup(index uint8) *record {
	if a := t.stage.added; a != nil && a.index == index {
		return a
	}
	if u := t.stage.updated; u != nil && u.index == index {
		return u
	}
	return t.committed[index]
}

func (t *Table) describe(r *record) Descriptor {
	d := Descriptor{
		Index:                    r.index,
		RootPublicKey:            slices.Clone(r.rootPub),
		VendorID:                 r.vendorID,
		FabricID:                 r.fabricID,
		NodeID:                   r.nodeID,
		Label:                    r.label,
		RCAC:                     slices.Clone(r.rcac),
		ICAC:                     slices.Clone(r.icac),
		NOC:                      slices.Clone(r.noc),
		CompressedFabricID:       r.cfid,
		IPKEpochKey:              slices.Clone(r.ipkEpoch),
		VIDVerificationStatement: slices.Clone(r.vvs),
		VVSC:                     slices.Clone(r.vvsc),
		Pending:                  t.stage.added == r,
		Updating:                 t.stage.updated == r,
	}
	for _, c := range r.cats {
		d.CATs = append(d.CATs, uint32(c))
	}
	return d
}

// List returns the fabrics in force, by ascending index: the Fabrics and NOCs
// attributes (§11.18.5.1, §11.18.5.2). A fabric AddNOC added is included at
// once, as §11.18.6.8 requires.
func (t *Table) List() []Descriptor {
	t.mu.Lock()
	defer t.mu.Unlock()
	recs := t.visible()
	out := make([]Descriptor, len(recs))
	for i, r := range recs {
		out[i] = t.describe(r)
	}
	return out
}

// Get returns the fabric in force with the given index.
func (t *Table) Get(index uint8) (Descriptor, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.lookup(index)
	if r == nil {
		return Descriptor{}, false
	}
	return t.describe(r), true
}

// Has reports whether a fabric with the given index is in force.
func (t *Table) Has(index uint8) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lookup(index) != nil
}

// CommissionedFabrics returns the CommissionedFabrics attribute: the number
// of entries of the NOCs and Fabrics attributes (§11.18.5.4).
func (t *Table) CommissionedFabrics() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(t.committed)
	if t.stage.added != nil {
		n++
	}
	return n
}

// TrustedRootCertificates returns the TrustedRootCertificates attribute
// (§11.18.5.5): the RCAC of each fabric in force, by fabric index, then a
// root staged by AddTrustedRootCertificate that no fabric uses yet, unless
// an identical certificate is already listed.
func (t *Table) TrustedRootCertificates() [][]byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.trustedRoots()
}

func (t *Table) trustedRoots() [][]byte {
	var out [][]byte
	for _, r := range t.visible() {
		out = append(out, slices.Clone(r.rcac))
	}
	if t.stage.root != nil && !t.rootListed(t.stage.root) {
		out = append(out, slices.Clone(t.stage.root))
	}
	return out
}

// rootListed reports whether a fabric in force has exactly this RCAC. The
// caller holds mu.
func (t *Table) rootListed(rcac []byte) bool {
	for _, r := range t.visible() {
		if slices.Equal(r.rcac, rcac) {
			return true
		}
	}
	return false
}

// Staged returns the state of the fail-safe staging.
func (t *Table) Staged() Staged {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := Staged{
		CSR:       t.stage.key != nil,
		ForUpdate: t.stage.key != nil && t.stage.forUpdate,
		Root:      t.stage.rootSeen,
		NOCDone:   t.stage.nocDone,
	}
	if t.stage.added != nil {
		s.Added = t.stage.added.index
	}
	if t.stage.updated != nil {
		s.Updated = t.stage.updated.index
	}
	return s
}

// notify delivers changes; the caller does not hold mu.
func (t *Table) notify(changes ...Change) {
	if t.cfg.OnChange == nil {
		return
	}
	for _, c := range changes {
		t.cfg.OnChange(c)
	}
}
