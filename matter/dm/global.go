package dm

import (
	"slices"

	"github.com/mattercam/mattercam/matter/tlv"
)

// The global attributes every cluster serves (Core §7.13 "Global
// Elements"), derived from ClusterMeta rather than implemented by each
// cluster. They are readable with View privilege and never writable.
// EventList (0xFFFA) was removed from the specification and is not served.
var globalAttributes = [...]AttributeMeta{
	{ID: AttrGeneratedCommandList, Name: "GeneratedCommandList", Read: PrivilegeView, List: true, Quality: QualityFixed},
	{ID: AttrAcceptedCommandList, Name: "AcceptedCommandList", Read: PrivilegeView, List: true, Quality: QualityFixed},
	{ID: AttrAttributeList, Name: "AttributeList", Read: PrivilegeView, List: true, Quality: QualityFixed},
	{ID: AttrFeatureMap, Name: "FeatureMap", Read: PrivilegeView, Quality: QualityFixed},
	{ID: AttrClusterRevision, Name: "ClusterRevision", Read: PrivilegeView, Quality: QualityFixed},
}

// GlobalAttributes returns the metadata of the global attributes the data
// model serves for every cluster, in ascending ID order.
func GlobalAttributes() []AttributeMeta { return slices.Clone(globalAttributes[:]) }

// GlobalAttribute returns the metadata of global attribute id, or nil if
// id is not one the data model serves.
func GlobalAttribute(id uint32) *AttributeMeta {
	for i := range globalAttributes {
		if globalAttributes[i].ID == id {
			return &globalAttributes[i]
		}
	}
	return nil
}

// IsGlobalAttributeID reports whether id lies in the range the
// specification reserves for global attributes (0xF000-0xFFFE, Core §7.18.2
// "Attribute ID"): such an ID names the same attribute in every cluster, so
// it may be combined with a wildcard cluster in a path (Core §8.9.2.2).
func IsGlobalAttributeID(id uint32) bool { return id >= 0xF000 && id <= 0xFFFE }

// LookupAttribute returns the metadata of attribute id of the cluster,
// global attributes included, or nil if the cluster has no such attribute.
func (m *ClusterMeta) LookupAttribute(id uint32) *AttributeMeta {
	if a := m.Attribute(id); a != nil {
		return a
	}
	return GlobalAttribute(id)
}

// AttributeIDs returns the content of the AttributeList global attribute:
// the cluster's attributes and the global attributes, in ascending order
// (Core §7.13.2).
func (m *ClusterMeta) AttributeIDs() []uint32 {
	ids := make([]uint32, 0, len(m.Attributes)+len(globalAttributes))
	for _, a := range m.Attributes {
		ids = append(ids, a.ID)
	}
	for _, a := range globalAttributes {
		ids = append(ids, a.ID)
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// ReadGlobalAttribute encodes the value of global attribute id of cluster c
// with the given tag. It returns a *StatusError with
// StatusUnsupportedAttribute if id is not a global attribute the data model
// serves; the engine then asks the cluster itself.
func ReadGlobalAttribute(c Cluster, id uint32, w *tlv.Writer, tag tlv.Tag) error {
	m := c.Meta()
	switch id {
	case AttrGeneratedCommandList:
		ids := slices.Clone(m.Generated)
		slices.Sort(ids)
		putUintArray(w, tag, slices.Compact(ids))
	case AttrAcceptedCommandList:
		ids := make([]uint32, 0, len(m.Commands))
		for _, cmd := range m.Commands {
			ids = append(ids, cmd.ID)
		}
		slices.Sort(ids)
		putUintArray(w, tag, slices.Compact(ids))
	case AttrAttributeList:
		putUintArray(w, tag, m.AttributeIDs())
	case AttrFeatureMap:
		w.PutUint(tag, uint64(c.FeatureMap()))
	case AttrClusterRevision:
		w.PutUint(tag, uint64(m.Revision))
	default:
		return &StatusError{Status: StatusUnsupportedAttribute}
	}
	return w.Err()
}

func putUintArray(w *tlv.Writer, tag tlv.Tag, ids []uint32) {
	w.StartArray(tag)
	for _, id := range ids {
		w.PutUint(tlv.AnonymousTag(), uint64(id))
	}
	w.EndContainer()
}
