package dm

import (
	"slices"
	"testing"

	"github.com/mattercam/mattercam/matter/tlv"
)

type metaOnly struct {
	Versioned
	m *ClusterMeta
}

func (c *metaOnly) Meta() *ClusterMeta { return c.m }
func (c *metaOnly) FeatureMap() uint32 { return 0x12 }
func (c *metaOnly) ReadAttribute(*Request, uint32, *tlv.Writer, tlv.Tag) error {
	return &StatusError{Status: StatusUnsupportedAttribute}
}
func (c *metaOnly) WriteAttribute(*Request, uint32, *tlv.Reader, bool) error { return nil }
func (c *metaOnly) Invoke(*Request, uint32, *tlv.Reader, *CommandResponse) error {
	return nil
}

func TestGlobalAttributes(t *testing.T) {
	m := &ClusterMeta{ID: 6, Revision: 6,
		Attributes: []AttributeMeta{{ID: 0x4000, Read: PrivilegeView}, {ID: 0, Read: PrivilegeView}},
		Commands:   []CommandMeta{{ID: 2}, {ID: 0}, {ID: 0x40}},
		Generated:  []uint32{5, 1, 5},
	}
	c := &metaOnly{m: m}
	if got := m.AttributeIDs(); !slices.Equal(got, []uint32{0, 0x4000, 0xFFF8, 0xFFF9, 0xFFFB, 0xFFFC, 0xFFFD}) {
		t.Fatalf("AttributeList %x", got)
	}
	for _, tc := range []struct {
		id   uint32
		want string
	}{
		{AttrGeneratedCommandList, "[1U, 5U]"},
		{AttrAcceptedCommandList, "[0U, 2U, 64U]"},
		{AttrAttributeList, "[0U, 16384U, 65528U, 65529U, 65531U, 65532U, 65533U]"},
		{AttrFeatureMap, "18U"},
		{AttrClusterRevision, "6U"},
	} {
		var w tlv.Writer
		if err := ReadGlobalAttribute(c, tc.id, &w, tlv.AnonymousTag()); err != nil {
			t.Fatal(err)
		}
		b, _ := w.Bytes()
		e, err := tlv.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if e.String() != tc.want {
			t.Errorf("%#x: %s, want %s", tc.id, e, tc.want)
		}
	}
	var w tlv.Writer
	if err := ReadGlobalAttribute(c, AttrEventList, &w, tlv.AnonymousTag()); err == nil {
		t.Fatal("EventList is served")
	}
	if a := m.LookupAttribute(AttrFeatureMap); a == nil || a.Read != PrivilegeView || a.Write != PrivilegeNone {
		t.Fatalf("FeatureMap meta %+v", a)
	}
	if m.LookupAttribute(0x4000) == nil || m.LookupAttribute(7) != nil {
		t.Fatal("LookupAttribute")
	}
	if !IsGlobalAttributeID(0xFFFD) || IsGlobalAttributeID(0x4000) || IsGlobalAttributeID(0xFFFF) {
		t.Fatal("IsGlobalAttributeID")
	}
}
