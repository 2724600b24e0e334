package dm

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
)

// Path names one attribute, event or command instance.
type Path struct {
	Endpoint uint16
	Cluster  uint32
	ID       uint32
}

// Endpoint is one endpoint of the node.
type Endpoint struct {
	ID          uint16
	DeviceTypes []DeviceType
	// Clients are the client clusters the endpoint declares (Descriptor
	// ClientList).
	Clients  []uint32
	clusters map[uint32]Cluster
	order    []uint32
}

// NewEndpoint returns an endpoint with no clusters.
func NewEndpoint(id uint16, types ...DeviceType) *Endpoint {
	return &Endpoint{ID: id, DeviceTypes: types, clusters: map[uint32]Cluster{}}
}

// Add attaches a server cluster.
func (e *Endpoint) Add(c Cluster) {
	id := c.Meta().ID
	if _, ok := e.clusters[id]; !ok {
		e.order = append(e.order, id)
		slices.Sort(e.order)
	}
	e.clusters[id] = c
}

// Cluster returns the server cluster with the given ID, or nil.
func (e *Endpoint) Cluster(id uint32) Cluster { return e.clusters[id] }

// ClusterIDs returns the server cluster IDs in ascending order.
func (e *Endpoint) ClusterIDs() []uint32 { return slices.Clone(e.order) }

// Node is the device's data model: its endpoints, and the hooks through
// which clusters report changes (for subscriptions) and events.
type Node struct {
	mu        sync.RWMutex
	endpoints map[uint16]*Endpoint
	order     []uint16

	obsMu     sync.Mutex
	observers []func(Path)
}

// NewNode returns an empty node.
func NewNode() *Node { return &Node{endpoints: map[uint16]*Endpoint{}} }

// AddEndpoint adds an endpoint; IDs must be unique.
func (n *Node) AddEndpoint(e *Endpoint) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.endpoints[e.ID]; ok {
		return fmt.Errorf("dm: endpoint %d already exists", e.ID)
	}
	n.endpoints[e.ID] = e
	n.order = append(n.order, e.ID)
	slices.Sort(n.order)
	return nil
}

// Endpoint returns the endpoint with the given ID, or nil.
func (n *Node) Endpoint(id uint16) *Endpoint {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.endpoints[id]
}

// EndpointIDs returns the endpoint IDs in ascending order.
func (n *Node) EndpointIDs() []uint16 {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return slices.Clone(n.order)
}

// Observe registers f to be called after any attribute changes. f must
// not block; it runs on the changing goroutine.
func (n *Node) Observe(f func(Path)) {
	n.obsMu.Lock()
	n.observers = append(n.observers, f)
	n.obsMu.Unlock()
}

// Changed tells observers (subscriptions) that an attribute changed.
// Clusters call it after bumping their data version.
func (n *Node) Changed(p Path) {
	n.obsMu.Lock()
	obs := slices.Clone(n.observers)
	n.obsMu.Unlock()
	for _, f := range obs {
		f(p)
	}
}

// Versioned is a DataVersion that clusters embed: Bump on every change.
// It starts at a random value as Core §7.10.3 asks, so a restarted device
// does not reuse versions a client cached.
type Versioned struct{ v atomic.Uint32 }

// InitVersion sets the starting version (callers pass a random value).
func (v *Versioned) InitVersion(start uint32) { v.v.Store(start) }

// DataVersion implements Cluster.
func (v *Versioned) DataVersion() uint32 { return v.v.Load() }

// Bump advances the data version.
func (v *Versioned) Bump() { v.v.Add(1) }
