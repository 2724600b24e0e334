package im

import (
	"fmt"
	"strings"

	"github.com/mattercam/mattercam/matter/tlv"
)

// Wildcard marks the fields of a path that are absent from it, each of
// which matches every value (Core §8.9.2 "Paths"). The zero Wildcard is a
// concrete path.
type Wildcard uint8

const (
	WildEndpoint  Wildcard = 1 << iota // no Endpoint: every endpoint
	WildCluster                        // no Cluster: every cluster
	WildAttribute                      // no Attribute (or Event): all of them

	// WildEvent is WildAttribute for event paths.
	WildEvent = WildAttribute
	// WildAll is the wildcard path that names everything.
	WildAll = WildEndpoint | WildCluster | WildAttribute
)

// ListOp says what part of a list attribute a path addresses, from its
// ListIndex field (Core §10.6.2, tag 5).
type ListOp uint8

const (
	// ListWhole: no ListIndex, the whole attribute value.
	ListWhole ListOp = iota
	// ListAppend: ListIndex null, one item appended to the list
	// (Core §8.7.3.3 list writes, and the list chunks of reports).
	ListAppend
	// ListItem: ListIndex n, one item by position. No current revision of
	// the specification uses it; the engine rejects it.
	ListItem
)

// WildcardFlags are the WildcardPathFlags of an attribute path
// (Core §10.6.2, tag 6): parts of the data model a wildcard read skips.
type WildcardFlags uint32

const (
	SkipRootNode                 WildcardFlags = 1 << 0
	SkipGlobalAttributes         WildcardFlags = 1 << 1
	SkipAttributeList            WildcardFlags = 1 << 2
	SkipCommandLists             WildcardFlags = 1 << 4
	SkipCustomElements           WildcardFlags = 1 << 5
	SkipFixedAttributes          WildcardFlags = 1 << 6
	SkipChangesOmittedAttributes WildcardFlags = 1 << 7
	SkipDiagnosticsClusters      WildcardFlags = 1 << 8
)

// AttributePath is an AttributePathIB (Core §10.6.2), a TLV list:
//
//	EnableTagCompression 0 bool, Node 1 node-id, Endpoint 2 endpoint-no,
//	Cluster 3 cluster-id, Attribute 4 attribute-id, ListIndex 5 uint16/null,
//	WildcardPathFlags 6 bitmap32
//
// Fields named in Wildcard are absent.
type AttributePath struct {
	Endpoint  uint16
	Cluster   uint32
	Attribute uint32
	Wildcard  Wildcard

	// Node is the target node, present when HasNode.
	Node    uint64
	HasNode bool

	List      ListOp
	ListIndex uint16 // with ListItem

	// WildcardFlags restrict a wildcard expansion; sent when non-zero.
	WildcardFlags WildcardFlags
	// TagCompression is EnableTagCompression: absent fields take their
	// value from the previous path in the same message. Sent when true.
	TagCompression bool
}

// AttrPath returns the concrete path of an attribute.
func AttrPath(endpoint uint16, cluster, attribute uint32) AttributePath {
	return AttributePath{Endpoint: endpoint, Cluster: cluster, Attribute: attribute}
}

// Concrete reports whether the path names one attribute.
func (p AttributePath) Concrete() bool { return p.Wildcard == 0 }

func (p AttributePath) String() string {
	var b strings.Builder
	b.WriteString(field(p.Wildcard&WildEndpoint != 0, uint64(p.Endpoint), 4))
	b.WriteByte('/')
	b.WriteString(field(p.Wildcard&WildCluster != 0, uint64(p.Cluster), 8))
	b.WriteByte('/')
	b.WriteString(field(p.Wildcard&WildAttribute != 0, uint64(p.Attribute), 8))
	switch p.List {
	case ListAppend:
		b.WriteString("[+]")
	case ListItem:
		fmt.Fprintf(&b, "[%d]", p.ListIndex)
	}
	return b.String()
}

func field(wild bool, v uint64, width int) string {
	if wild {
		return "*"
	}
	return fmt.Sprintf("0x%0*X", width, v)
}

// AttributePathIB tags.
const (
	tagAPTagCompression = 0
	tagAPNode           = 1
	tagAPEndpoint       = 2
	tagAPCluster        = 3
	tagAPAttribute      = 4
	tagAPListIndex      = 5
	tagAPWildcardFlags  = 6
)

func (p *AttributePath) encode(w *tlv.Writer, tag tlv.Tag) {
	w.StartList(tag)
	if p.TagCompression {
		putBool(w, tagAPTagCompression, true)
	}
	if p.HasNode {
		w.PutUint(ctx(tagAPNode), p.Node)
	}
	if p.Wildcard&WildEndpoint == 0 {
		w.PutUint(ctx(tagAPEndpoint), uint64(p.Endpoint))
	}
	if p.Wildcard&WildCluster == 0 {
		w.PutUint(ctx(tagAPCluster), uint64(p.Cluster))
	}
	if p.Wildcard&WildAttribute == 0 {
		w.PutUint(ctx(tagAPAttribute), uint64(p.Attribute))
	}
	switch p.List {
	case ListAppend:
		w.PutNull(ctx(tagAPListIndex))
	case ListItem:
		w.PutUint(ctx(tagAPListIndex), uint64(p.ListIndex))
	}
	if p.WildcardFlags != 0 {
		w.PutUint(ctx(tagAPWildcardFlags), uint64(p.WildcardFlags))
	}
	w.EndContainer()
}

func decodeAttributePath(r *tlv.Reader) (AttributePath, error) {
	const what = "AttributePathIB"
	p := AttributePath{Wildcard: WildAll}
	if err := enter(r, tlv.TypeList, what); err != nil {
		return p, err
	}
	var fs fieldSet
	for {
		tag, done, err := fs.next(r, what)
		if err != nil {
			return p, err
		}
		if done {
			break
		}
		switch tag {
		case tagAPTagCompression:
			p.TagCompression, err = readBool(r, what+": EnableTagCompression")
		case tagAPNode:
			p.Node, err = readU64(r, what+": Node")
			p.HasNode = true
		case tagAPEndpoint:
			p.Endpoint, err = readU16(r, what+": Endpoint")
			p.Wildcard &^= WildEndpoint
		case tagAPCluster:
			p.Cluster, err = readU32(r, what+": Cluster")
			p.Wildcard &^= WildCluster
		case tagAPAttribute:
			p.Attribute, err = readU32(r, what+": Attribute")
			p.Wildcard &^= WildAttribute
		case tagAPListIndex:
			if r.IsNull() {
				p.List = ListAppend
			} else {
				p.ListIndex, err = readU16(r, what+": ListIndex")
				p.List = ListItem
			}
		case tagAPWildcardFlags:
			var v uint32
			v, err = readU32(r, what+": WildcardPathFlags")
			p.WildcardFlags = WildcardFlags(v)
		}
		if err != nil {
			return p, err
		}
	}
	return p, exit(r, what)
}

// EventPath is an EventPathIB (Core §10.6.8), a TLV list:
//
//	Node 0 node-id, Endpoint 1 endpoint-no, Cluster 2 cluster-id,
//	Event 3 event-id, IsUrgent 4 bool
type EventPath struct {
	Endpoint uint16
	Cluster  uint32
	Event    uint32
	Wildcard Wildcard

	Node    uint64
	HasNode bool
	// Urgent asks a subscription to report matching events without
	// waiting for the next report (Core §8.5.2); sent when true.
	Urgent bool
}

// EvPath returns the concrete path of an event.
func EvPath(endpoint uint16, cluster, event uint32) EventPath {
	return EventPath{Endpoint: endpoint, Cluster: cluster, Event: event}
}

func (p EventPath) String() string {
	return field(p.Wildcard&WildEndpoint != 0, uint64(p.Endpoint), 4) + "/" +
		field(p.Wildcard&WildCluster != 0, uint64(p.Cluster), 8) + "/" +
		field(p.Wildcard&WildEvent != 0, uint64(p.Event), 8)
}

// EventPathIB tags.
const (
	tagEPNode     = 0
	tagEPEndpoint = 1
	tagEPCluster  = 2
	tagEPEvent    = 3
	tagEPUrgent   = 4
)

func (p *EventPath) encode(w *tlv.Writer, tag tlv.Tag) {
	w.StartList(tag)
	if p.HasNode {
		w.PutUint(ctx(tagEPNode), p.Node)
	}
	if p.Wildcard&WildEndpoint == 0 {
		w.PutUint(ctx(tagEPEndpoint), uint64(p.Endpoint))
	}
	if p.Wildcard&WildCluster == 0 {
		w.PutUint(ctx(tagEPCluster), uint64(p.Cluster))
	}
	if p.Wildcard&WildEvent == 0 {
		w.PutUint(ctx(tagEPEvent), uint64(p.Event))
	}
	if p.Urgent {
		putBool(w, tagEPUrgent, true)
	}
	w.EndContainer()
}

func decodeEventPath(r *tlv.Reader) (EventPath, error) {
	const what = "EventPathIB"
	p := EventPath{Wildcard: WildAll}
	if err := enter(r, tlv.TypeList, what); err != nil {
		return p, err
	}
	var fs fieldSet
	for {
		tag, done, err := fs.next(r, what)
		if err != nil {
			return p, err
		}
		if done {
			break
		}
		switch tag {
		case tagEPNode:
			p.Node, err = readU64(r, what+": Node")
			p.HasNode = true
		case tagEPEndpoint:
			p.Endpoint, err = readU16(r, what+": Endpoint")
			p.Wildcard &^= WildEndpoint
		case tagEPCluster:
			p.Cluster, err = readU32(r, what+": Cluster")
			p.Wildcard &^= WildCluster
		case tagEPEvent:
			p.Event, err = readU32(r, what+": Event")
			p.Wildcard &^= WildEvent
		case tagEPUrgent:
			p.Urgent, err = readBool(r, what+": IsUrgent")
		}
		if err != nil {
			return p, err
		}
	}
	return p, exit(r, what)
}

// ClusterPath is a ClusterPathIB (Core §10.6.7), a TLV list: Node 0,
// Endpoint 1, Cluster 2. Endpoint and Cluster are mandatory.
type ClusterPath struct {
	Node     uint64
	HasNode  bool
	Endpoint uint16
	Cluster  uint32
}

const (
	tagCPNode     = 0
	tagCPEndpoint = 1
	tagCPCluster  = 2
)

func (p *ClusterPath) encode(w *tlv.Writer, tag tlv.Tag) {
	w.StartList(tag)
	if p.HasNode {
		w.PutUint(ctx(tagCPNode), p.Node)
	}
	w.PutUint(ctx(tagCPEndpoint), uint64(p.Endpoint))
	w.PutUint(ctx(tagCPCluster), uint64(p.Cluster))
	w.EndContainer()
}

func decodeClusterPath(r *tlv.Reader) (ClusterPath, error) {
	const what = "ClusterPathIB"
	var p ClusterPath
	if err := enter(r, tlv.TypeList, what); err != nil {
		return p, err
	}
	var fs fieldSet
	for {
		tag, done, err := fs.next(r, what)
		if err != nil {
			return p, err
		}
		if done {
			break
		}
		switch tag {
		case tagCPNode:
			p.Node, err = readU64(r, what+": Node")
			p.HasNode = true
		case tagCPEndpoint:
			p.Endpoint, err = readU16(r, what+": Endpoint")
		case tagCPCluster:
			p.Cluster, err = readU32(r, what+": Cluster")
		}
		if err != nil {
			return p, err
		}
	}
	if err := require(&fs, what, tagCPEndpoint, tagCPCluster); err != nil {
		return p, err
	}
	return p, exit(r, what)
}

// CommandPath is a CommandPathIB (Core §10.6.11), a TLV list: Endpoint 0,
// Cluster 1, Command 2. Cluster and Command are mandatory; the endpoint may
// be a wildcard, which only group invokes use.
type CommandPath struct {
	Endpoint     uint16
	Cluster      uint32
	Command      uint32
	WildEndpoint bool
}

// CmdPath returns the concrete path of a command.
func CmdPath(endpoint uint16, cluster, command uint32) CommandPath {
	return CommandPath{Endpoint: endpoint, Cluster: cluster, Command: command}
}

func (p CommandPath) String() string {
	return field(p.WildEndpoint, uint64(p.Endpoint), 4) + "/" +
		field(false, uint64(p.Cluster), 8) + "/" + field(false, uint64(p.Command), 8)
}

const (
	tagCmdEndpoint = 0
	tagCmdCluster  = 1
	tagCmdCommand  = 2
)

func (p *CommandPath) encode(w *tlv.Writer, tag tlv.Tag) {
	w.StartList(tag)
	if !p.WildEndpoint {
		w.PutUint(ctx(tagCmdEndpoint), uint64(p.Endpoint))
	}
	w.PutUint(ctx(tagCmdCluster), uint64(p.Cluster))
	w.PutUint(ctx(tagCmdCommand), uint64(p.Command))
	w.EndContainer()
}

func decodeCommandPath(r *tlv.Reader) (CommandPath, error) {
	const what = "CommandPathIB"
	p := CommandPath{WildEndpoint: true}
	if err := enter(r, tlv.TypeList, what); err != nil {
		return p, err
	}
	var fs fieldSet
	for {
		tag, done, err := fs.next(r, what)
		if err != nil {
			return p, err
		}
		if done {
			break
		}
		switch tag {
		case tagCmdEndpoint:
			p.Endpoint, err = readU16(r, what+": Endpoint")
			p.WildEndpoint = false
		case tagCmdCluster:
			p.Cluster, err = readU32(r, what+": Cluster")
		case tagCmdCommand:
			p.Command, err = readU32(r, what+": Command")
		}
		if err != nil {
			return p, err
		}
	}
	if err := require(&fs, what, tagCmdCluster, tagCmdCommand); err != nil {
		return p, err
	}
	return p, exit(r, what)
}

// DataVersionFilter is a DataVersionFilterIB (Core §10.6.3), a structure:
// Path 0 ClusterPathIB, DataVersion 1 uint32. A read skips the attributes
// of a cluster whose data version still equals DataVersion (Core §8.4.3.2).
type DataVersionFilter struct {
	Path        ClusterPath
	DataVersion uint32
}

func (f *DataVersionFilter) encode(w *tlv.Writer, tag tlv.Tag) {
	w.StartStructure(tag)
	f.Path.encode(w, ctx(0))
	w.PutUint(ctx(1), uint64(f.DataVersion))
	w.EndContainer()
}

func decodeDataVersionFilter(r *tlv.Reader) (DataVersionFilter, error) {
	const what = "DataVersionFilterIB"
	var f DataVersionFilter
	if err := enter(r, tlv.TypeStructure, what); err != nil {
		return f, err
	}
	var fs fieldSet
	for {
		tag, done, err := fs.next(r, what)
		if err != nil {
			return f, err
		}
		if done {
			break
		}
		switch tag {
		case 0:
			f.Path, err = decodeClusterPath(r)
		case 1:
			f.DataVersion, err = readU32(r, what+": DataVersion")
		}
		if err != nil {
			return f, err
		}
	}
	if err := require(&fs, what, 0, 1); err != nil {
		return f, err
	}
	return f, exit(r, what)
}

// EventFilter is an EventFilterIB (Core §10.6.6), a structure: Node 0,
// EventMin 1 uint64. Only events numbered EventMin or higher are reported.
type EventFilter struct {
	Node     uint64
	HasNode  bool
	EventMin uint64
}

func (f *EventFilter) encode(w *tlv.Writer, tag tlv.Tag) {
	w.StartStructure(tag)
	if f.HasNode {
		w.PutUint(ctx(0), f.Node)
	}
	w.PutUint(ctx(1), f.EventMin)
	w.EndContainer()
}

func decodeEventFilter(r *tlv.Reader) (EventFilter, error) {
	const what = "EventFilterIB"
	var f EventFilter
	if err := enter(r, tlv.TypeStructure, what); err != nil {
		return f, err
	}
	var fs fieldSet
	for {
		tag, done, err := fs.next(r, what)
		if err != nil {
			return f, err
		}
		if done {
			break
		}
		switch tag {
		case 0:
			f.Node, err = readU64(r, what+": Node")
			f.HasNode = true
		case 1:
			f.EventMin, err = readU64(r, what+": EventMin")
		}
		if err != nil {
			return f, err
		}
	}
	if err := require(&fs, what, 1); err != nil {
		return f, err
	}
	return f, exit(r, what)
}
