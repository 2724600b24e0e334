package acl

import (
	"encoding/binary"
	"testing"

	"github.com/mattercam/mattercam/matter/dm"
)

// FuzzDecodeList feeds arbitrary stored lists to the decoder: it must not
// panic, must stay within its bounds, and what it accepts must re-encode to
// something that decodes to the same entries.
func FuzzDecodeList(f *testing.F) {
	for _, l := range [][]Entry{nil, exampleACL[:1], exampleACL} {
		b, err := encodeList(l)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0x15, 0x24, 0x00, 0x01, 0x36, 0x01, 0x15, 0x18, 0x18, 0x18})
	f.Fuzz(func(t *testing.T, b []byte) {
		entries, err := decodeList(b, 1)
		if err != nil {
			return
		}
		if len(entries) > hardLimit {
			t.Fatalf("%d entries decoded", len(entries))
		}
		for _, e := range entries {
			if len(e.Subjects) > hardLimit || len(e.Targets) > hardLimit || e.FabricIndex != 1 {
				t.Fatalf("entry out of bounds: %+v", e)
			}
			Validate(e, DefaultLimits) // must not panic
		}
		again, err := encodeList(entries)
		if err != nil {
			t.Fatal(err)
		}
		back, err := decodeList(again, 1)
		if err != nil || !entriesEqual(back, entries) {
			t.Fatalf("round trip: %v\n%+v\n%+v", err, entries, back)
		}
	})
}

// FuzzCheck evaluates arbitrary subjects, with CATs, against the example
// list plus one arbitrary entry, and checks the properties the algorithm
// must have whatever the input.
func FuzzCheck(f *testing.F) {
	f.Add(uint8(2), uint8(1), uint64(0x9999), uint32(0xAB12_0003), uint16(1), uint32(clusterWebRTC), uint8(3),
		uint8(3), uint8(2), uint64(CATSubject(0xAB12_0002)), uint32(6))
	f.Add(uint8(3), uint8(1), uint64(0x0101), uint32(0), uint16(1), uint32(6), uint8(3),
		uint8(4), uint8(3), uint64(0x0101), uint32(0))
	f.Fuzz(func(t *testing.T, mode, fabric uint8, node uint64, cat uint32, ep uint16, cluster uint32, need uint8,
		ePriv, eMode uint8, eSubject uint64, eCluster uint32) {
		s := dm.Subject{AuthMode: dm.AuthMode(mode), FabricIndex: fabric, NodeID: node, CATs: [3]uint32{cat, cat ^ 0x0001_0000, 0}}
		p := dm.Path{Endpoint: ep, Cluster: cluster}
		extra := Entry{FabricIndex: fabric, Privilege: dm.Privilege(ePriv), AuthMode: dm.AuthMode(eMode),
			Subjects: []uint64{eSubject}, Targets: []Target{ClusterTarget(eCluster)}}
		entries := append(append([]Entry(nil), exampleACL...), extra)
		valid := Validate(extra, DefaultLimits) == nil
		if !valid {
			entries = exampleACL
		}
		got := Check(s, p.Endpoint, p.Cluster, dm.Privilege(need), entries, cameraOnEndpoint1)

		switch {
		case dm.Privilege(need) < dm.PrivilegeView || dm.Privilege(need) > dm.PrivilegeAdminister:
			if got {
				t.Fatal("granted an invalid privilege")
			}
		case s.AuthMode == dm.AuthPASE:
			if !got {
				t.Fatal("PASE denied")
			}
		case s.AuthMode != dm.AuthCASE && s.AuthMode != dm.AuthGroup || s.FabricIndex == 0:
			if got {
				t.Fatal("granted without CASE or group on a fabric")
			}
		}
		// Monotonic: whatever grants need grants View.
		if got && !Check(s, p.Endpoint, p.Cluster, dm.PrivilegeView, entries, cameraOnEndpoint1) {
			t.Fatal("granted more than View but not View")
		}
		// Removing every entry of the subject's fabric removes access,
		// except for PASE.
		var others []Entry
		for _, e := range entries {
			if e.FabricIndex != s.FabricIndex {
				others = append(others, e)
			}
		}
		if s.AuthMode != dm.AuthPASE && Check(s, p.Endpoint, p.Cluster, dm.Privilege(need), others, cameraOnEndpoint1) {
			t.Fatal("granted by another fabric's entries")
		}
	})
}

// FuzzSubject checks the subject helpers on arbitrary 64-bit subjects.
func FuzzSubject(f *testing.F) {
	for _, s := range []uint64{0, 1, 0xFFFF, MaxOperationalNodeID, CATSubject(0xAB12_0003), CATSubject(0xAB12_0000), 0xFFFF_FFFF_FFFF_0001} {
		f.Add(binary.BigEndian.AppendUint64(nil, s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < 8 {
			return
		}
		s := binary.BigEndian.Uint64(b)
		cat, isCAT := SubjectCAT(s)
		if isCAT && CATSubject(cat) != s {
			t.Fatalf("CAT round trip %#x → %#x", s, CATSubject(cat))
		}
		if isCAT && IsOperationalNodeID(s) {
			t.Fatalf("%#x is both a CAT and an operational node ID", s)
		}
		if ValidCASESubject(s) != (IsOperationalNodeID(s) || isCAT && cat&0xFFFF != 0) {
			t.Fatalf("ValidCASESubject(%#x) inconsistent", s)
		}
		if ValidGroupSubject(s) && (s == 0 || s > 0xFFFF) {
			t.Fatalf("ValidGroupSubject(%#x)", s)
		}
		// A session whose only CAT is the one named grants the entry.
		if isCAT && cat&0xFFFF != 0 {
			e := []Entry{{FabricIndex: 1, Privilege: dm.PrivilegeView, AuthMode: dm.AuthCASE, Subjects: []uint64{s}}}
			if !Check(dm.Subject{AuthMode: dm.AuthCASE, FabricIndex: 1, NodeID: 1, CATs: [3]uint32{cat}}, 0, 0, dm.PrivilegeView, e, nil) {
				t.Fatalf("CAT %#x does not match its own subject", cat)
			}
		}
	})
}
