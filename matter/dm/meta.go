// Package dm is the Matter data model (Core chapter 7): nodes, endpoints
// and clusters, the metadata every cluster carries (generated from the
// Matter model, see matter/clusters), the handler interface cluster
// behaviour implements, and the status codes handlers return. The
// Interaction Model engine (matter/im) enforces access control and speaks
// the wire protocol; handlers only see decoded requests and a Context.
package dm

// Privilege is an access privilege (Core §9.6.2).
type Privilege uint8

// Privileges in increasing order; a higher one grants the lower ones
// (ProxyView aside, which View does not include, Core §9.6.2).
const (
	PrivilegeNone       Privilege = 0
	PrivilegeView       Privilege = 1
	PrivilegeProxyView  Privilege = 2
	PrivilegeOperate    Privilege = 3
	PrivilegeManage     Privilege = 4
	PrivilegeAdminister Privilege = 5
)

// Quality flags of an attribute, command or event (Core §7.7, the
// "Quality" column of the cluster specifications).
type Quality uint16

const (
	QualityNullable         Quality = 1 << iota // X
	QualityNonVolatile                          // N
	QualityFixed                                // F
	QualityChangesOmitted                       // C: not reported on change
	QualityScene                                // S (scenes)
	QualityReportable                           // P
	QualityAtomic                               // T
	QualityQuieterReporting                     // Q
	QualityLargeMessage                         // L: commands that need a large-message transport (TCP)
	QualityFabricScoped                         // F on access: fabric-scoped list or command
	QualityFabricSensitive                      // S on access: fabric-sensitive data
	QualityTimed                                // T on access: needs a timed interaction
)

// AttributeMeta describes one attribute.
type AttributeMeta struct {
	ID      uint32
	Name    string
	Read    Privilege // PrivilegeNone: not readable
	Write   Privilege // PrivilegeNone: not writable
	List    bool
	Quality Quality
	// Conformance is the model's conformance expression ("M", "O", a
	// feature code such as "TC", or an expression): which servers must
	// have the attribute. Generated metadata lists every attribute the
	// model defines; a cluster serves the subset its features call for.
	Conformance string
}

// CommandMeta describes one command the server accepts.
type CommandMeta struct {
	ID       uint32
	Name     string
	Invoke   Privilege
	Response uint32 // ID of the response command, or NoResponse
	Quality  Quality
	// Conformance is the model's conformance expression (see AttributeMeta).
	Conformance string
}

// NoResponse marks a command answered with a status only.
const NoResponse = ^uint32(0)

// Priority is an event priority (Core §7.14.2.1).
type Priority uint8

const (
	PriorityDebug    Priority = 0
	PriorityInfo     Priority = 1
	PriorityCritical Priority = 2
)

// EventMeta describes one event.
type EventMeta struct {
	ID       uint32
	Name     string
	Read     Privilege
	Priority Priority
	Quality  Quality
	// Conformance is the model's conformance expression (see AttributeMeta).
	Conformance string
}

// ClusterMeta is a cluster's static description. Generated code provides
// one per cluster; the global attributes (AttributeList,
// AcceptedCommandList, GeneratedCommandList, FeatureMap, ClusterRevision)
// are derived from it by the data model, not listed in Attributes.
type ClusterMeta struct {
	ID         uint32
	Name       string
	Revision   uint16
	Attributes []AttributeMeta
	Commands   []CommandMeta // accepted (client → server)
	Generated  []uint32      // response commands the server generates
	Events     []EventMeta
}

// Global attribute IDs (Core §7.13).
const (
	AttrGeneratedCommandList uint32 = 0xFFF8
	AttrAcceptedCommandList  uint32 = 0xFFF9
	AttrEventList            uint32 = 0xFFFA // removed in Matter 1.4; not served
	AttrAttributeList        uint32 = 0xFFFB
	AttrFeatureMap           uint32 = 0xFFFC
	AttrClusterRevision      uint32 = 0xFFFD
)

// Attribute returns the metadata of attribute id, or nil.
func (m *ClusterMeta) Attribute(id uint32) *AttributeMeta {
	for i := range m.Attributes {
		if m.Attributes[i].ID == id {
			return &m.Attributes[i]
		}
	}
	return nil
}

// Command returns the metadata of accepted command id, or nil.
func (m *ClusterMeta) Command(id uint32) *CommandMeta {
	for i := range m.Commands {
		if m.Commands[i].ID == id {
			return &m.Commands[i]
		}
	}
	return nil
}

// Event returns the metadata of event id, or nil.
func (m *ClusterMeta) Event(id uint32) *EventMeta {
	for i := range m.Events {
		if m.Events[i].ID == id {
			return &m.Events[i]
		}
	}
	return nil
}
