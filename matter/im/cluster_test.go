package im

import (
	"bytes"
	"fmt"
	"slices"
	"sync"

	"github.com/mattercam/mattercam/matter/dm"
	"github.com/mattercam/mattercam/matter/tlv"
)

// A test cluster with one attribute, command and event of every kind the
// engine treats differently.
const (
	clusterTest = 0x0F01

	attrCounter    = 0x0000 // uint32, View/Operate
	attrBigList    = 0x0001 // list of 40-octet strings, View/Operate
	attrFabricList = 0x0002 // fabric-scoped list of {1: value, 0xFE: fabric}
	attrTimed      = 0x0003 // uint32, needs a timed write
	attrReadOnly   = 0x0004 // uint32, not writable
	attrAdmin      = 0x0005 // uint32, Administer to read and write
	attrWriteOnly  = 0x0006 // uint32, not readable
	attrFails      = 0x0007 // reads fail with FAILURE, writes with CONSTRAINT_ERROR
	attrHuge       = 0x0008 // a 2000-octet string: only fits a TCP message
	attrQuiet      = 0x0009 // uint32 with the ChangesOmitted quality

	cmdPing        = 0x00 // {0: u32} → PingResponse {0: u32+1}
	cmdPingResp    = 0x01
	cmdNoResponse  = 0x02
	cmdTimed       = 0x03 // needs a timed invoke
	cmdLarge       = 0x04 // Large Message quality, fabric-scoped
	cmdAdmin       = 0x05 // Administer
	cmdFail        = 0x06 // fails with FAILURE + cluster status 7
	cmdBigResponse = 0x07 // answers with a 600-octet string
	cmdFabric      = 0x08 // fabric-scoped

	evInfo     = 0x00
	evFabric   = 0x01 // fabric-sensitive
	evCritical = 0x02
)

var testMeta = &dm.ClusterMeta{
	ID:       clusterTest,
	Name:     "Test",
	Revision: 3,
	Attributes: []dm.AttributeMeta{
		{ID: attrCounter, Name: "Counter", Read: dm.PrivilegeView, Write: dm.PrivilegeOperate},
		{ID: attrBigList, Name: "BigList", Read: dm.PrivilegeView, Write: dm.PrivilegeOperate, List: true},
		{ID: attrFabricList, Name: "FabricList", Read: dm.PrivilegeView, Write: dm.PrivilegeOperate, List: true, Quality: dm.QualityFabricScoped},
		{ID: attrTimed, Name: "Timed", Read: dm.PrivilegeView, Write: dm.PrivilegeOperate, Quality: dm.QualityTimed},
		{ID: attrReadOnly, Name: "ReadOnly", Read: dm.PrivilegeView},
		{ID: attrAdmin, Name: "Admin", Read: dm.PrivilegeAdminister, Write: dm.PrivilegeAdminister},
		{ID: attrWriteOnly, Name: "WriteOnly", Write: dm.PrivilegeOperate},
		{ID: attrFails, Name: "Fails", Read: dm.PrivilegeView, Write: dm.PrivilegeOperate},
		{ID: attrHuge, Name: "Huge", Read: dm.PrivilegeView},
		{ID: attrQuiet, Name: "Quiet", Read: dm.PrivilegeView, Write: dm.PrivilegeOperate, Quality: dm.QualityChangesOmitted},
	},
	Commands: []dm.CommandMeta{
		{ID: cmdPing, Name: "Ping", Invoke: dm.PrivilegeOperate, Response: cmdPingResp},
		{ID: cmdNoResponse, Name: "NoResponse", Invoke: dm.PrivilegeOperate, Response: dm.NoResponse},
		{ID: cmdTimed, Name: "Timed", Invoke: dm.PrivilegeOperate, Response: dm.NoResponse, Quality: dm.QualityTimed},
		{ID: cmdLarge, Name: "Large", Invoke: dm.PrivilegeOperate, Response: dm.NoResponse, Quality: dm.QualityLargeMessage | dm.QualityFabricScoped},
		{ID: cmdAdmin, Name: "Admin", Invoke: dm.PrivilegeAdminister, Response: dm.NoResponse},
		{ID: cmdFail, Name: "Fail", Invoke: dm.PrivilegeOperate, Response: dm.NoResponse},
		{ID: cmdBigResponse, Name: "Big", Invoke: dm.PrivilegeOperate, Response: cmdPingResp},
		{ID: cmdFabric, Name: "Fabric", Invoke: dm.PrivilegeOperate, Response: dm.NoResponse, Quality: dm.QualityFabricScoped},
	},
	Generated: []uint32{cmdPingResp},
	Events: []dm.EventMeta{
		{ID: evInfo, Name: "Info", Read: dm.PrivilegeView, Priority: dm.PriorityInfo},
		{ID: evFabric, Name: "Fabric", Read: dm.PrivilegeView, Priority: dm.PriorityInfo, Quality: dm.QualityFabricSensitive},
		{ID: evCritical, Name: "Critical", Read: dm.PrivilegeView, Priority: dm.PriorityCritical},
	},
}

type fabricEntry struct {
	fabric uint8
	value  uint32
}

// testCluster implements testMeta with in-memory values.
type testCluster struct {
	dm.Versioned
	node *dm.Node
	ep   uint16

	mu         sync.Mutex
	values     map[uint32]uint32 // scalar attributes
	bigList    [][]byte
	fabricList []fabricEntry
	huge       []byte
	invoked    []uint32 // command IDs, in order
	lastTimed  bool
	lastLarge  bool
}

func newTestCluster(node *dm.Node, ep uint16, listLen int) *testCluster {
	c := &testCluster{node: node, ep: ep, values: map[uint32]uint32{}}
	c.InitVersion(0x1000 * uint32(ep+1))
	for i := range listLen {
		c.bigList = append(c.bigList, bytes.Repeat([]byte{byte(i)}, 40))
	}
	c.fabricList = []fabricEntry{{1, 100}, {2, 200}, {1, 101}}
	c.huge = bytes.Repeat([]byte{0xAB}, 2000)
	return c
}

func (c *testCluster) Meta() *dm.ClusterMeta { return testMeta }
func (c *testCluster) FeatureMap() uint32    { return 0x5 }

// set changes a scalar attribute as the device itself would.
func (c *testCluster) set(attr, v uint32) {
	c.mu.Lock()
	c.values[attr] = v
	c.mu.Unlock()
	c.changed(attr)
}

func (c *testCluster) changed(attr uint32) {
	c.Bump()
	c.node.Changed(dm.Path{Endpoint: c.ep, Cluster: clusterTest, ID: attr})
}

func (c *testCluster) get(attr uint32) uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.values[attr]
}

func (c *testCluster) ReadAttribute(req *dm.Request, attr uint32, w *tlv.Writer, tag tlv.Tag) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch attr {
	case attrCounter, attrTimed, attrReadOnly, attrAdmin, attrQuiet:
		w.PutUint(tag, uint64(c.values[attr]))
	case attrBigList:
		w.StartArray(tag)
		for _, it := range c.bigList {
			w.PutBytes(tlv.AnonymousTag(), it)
		}
		w.EndContainer()
	case attrFabricList:
		w.StartArray(tag)
		for _, e := range c.fabricList {
			if req.FabricFiltered && e.fabric != req.Subject.FabricIndex {
				continue
			}
			w.StartStructure(tlv.AnonymousTag())
			w.PutUint(tlv.ContextTag(1), uint64(e.value))
			w.PutUint(tlv.ContextTag(0xFE), uint64(e.fabric))
			w.EndContainer()
		}
		w.EndContainer()
	case attrFails:
		return dm.Errorf(dm.StatusFailure, "broken sensor")
	case attrHuge:
		w.PutBytes(tag, c.huge)
	default:
		return &dm.StatusError{Status: dm.StatusUnsupportedAttribute}
	}
	return nil
}

func (c *testCluster) WriteAttribute(req *dm.Request, attr uint32, r *tlv.Reader, item bool) error {
	c.mu.Lock()
	switch attr {
	case attrCounter, attrTimed, attrAdmin, attrWriteOnly, attrQuiet:
		v, err := r.Uint32()
		if err != nil {
			c.mu.Unlock()
			return err
		}
		c.values[attr] = v
	case attrBigList:
		if item {
			b, err := r.Bytes()
			if err != nil {
				c.mu.Unlock()
				return err
			}
			c.bigList = append(c.bigList, slices.Clone(b))
			break
		}
		list, err := decodeByteList(r)
		if err != nil {
			c.mu.Unlock()
			return err
		}
		c.bigList = list
	case attrFabricList:
		// Only the accessing fabric's entries are replaced.
		var keep []fabricEntry
		if !item {
			for _, e := range c.fabricList {
				if e.fabric != req.Subject.FabricIndex {
					keep = append(keep, e)
				}
			}
		} else {
			keep = c.fabricList
		}
		add := func(r *tlv.Reader) error {
			if err := r.Enter(); err != nil {
				return err
			}
			var v uint32
			for r.Next() == nil {
				if r.Tag() == tlv.ContextTag(1) {
					var err error
					if v, err = r.Uint32(); err != nil {
						return err
					}
				}
			}
			keep = append(keep, fabricEntry{req.Subject.FabricIndex, v})
			return r.Exit()
		}
		if item {
			if err := add(r); err != nil {
				c.mu.Unlock()
				return err
			}
		} else {
			if err := r.Enter(); err != nil {
				c.mu.Unlock()
				return err
			}
			for r.Next() == nil {
				if err := add(r); err != nil {
					c.mu.Unlock()
					return err
				}
			}
			_ = r.Exit()
		}
		c.fabricList = keep
	case attrFails:
		c.mu.Unlock()
		return dm.ClusterError(dm.StatusConstraintError, 9)
	default:
		c.mu.Unlock()
		return &dm.StatusError{Status: dm.StatusUnsupportedWrite}
	}
	c.mu.Unlock()
	c.changed(attr)
	return nil
}

func decodeByteList(r *tlv.Reader) ([][]byte, error) {
	if err := r.Enter(); err != nil {
		return nil, err
	}
	var out [][]byte
	for {
		if err := r.Next(); err != nil {
			break
		}
		b, err := r.Bytes()
		if err != nil {
			return nil, err
		}
		out = append(out, slices.Clone(b))
	}
	return out, r.Exit()
}

func (c *testCluster) Invoke(req *dm.Request, cmd uint32, r *tlv.Reader, resp *dm.CommandResponse) error {
	c.mu.Lock()
	c.invoked = append(c.invoked, cmd)
	c.lastTimed, c.lastLarge = req.Timed, req.LargeMessage
	c.mu.Unlock()
	switch cmd {
	case cmdPing:
		if r == nil {
			return dm.Errorf(dm.StatusInvalidCommand, "no fields")
		}
		if err := r.Enter(); err != nil {
			return err
		}
		var v uint32
		found := false
		for r.Next() == nil {
			if r.Tag() == tlv.ContextTag(0) {
				var err error
				if v, err = r.Uint32(); err != nil {
					return err // a TLV error: the engine makes it INVALID_COMMAND
				}
				found = true
			}
		}
		if !found {
			return dm.Errorf(dm.StatusInvalidCommand, "missing field 0")
		}
		var w tlv.Writer
		w.StartStructure(tlv.AnonymousTag())
		w.PutUint(tlv.ContextTag(0), uint64(v)+1)
		w.EndContainer()
		resp.ID = cmdPingResp
		resp.Fields, _ = w.Bytes()
	case cmdNoResponse, cmdTimed, cmdLarge, cmdAdmin, cmdFabric:
	case cmdFail:
		return dm.ClusterError(dm.StatusFailure, 7)
	case cmdBigResponse:
		var w tlv.Writer
		w.StartStructure(tlv.AnonymousTag())
		w.PutBytes(tlv.ContextTag(1), bytes.Repeat([]byte{7}, 600))
		w.EndContainer()
		resp.ID = cmdPingResp
		resp.Fields, _ = w.Bytes()
	default:
		return fmt.Errorf("no such command %d", cmd)
	}
	return nil
}

// fakeACL grants each subject node a privilege, with per-cluster
// overrides.
type fakeACL struct {
	mu       sync.Mutex
	def      dm.Privilege
	byNode   map[uint64]dm.Privilege
	byTarget map[aclKey]dm.Privilege
	checks   int
}

type aclKey struct {
	node     uint64
	endpoint uint16
	cluster  uint32
}

func newACL(def dm.Privilege) *fakeACL {
	return &fakeACL{def: def, byNode: map[uint64]dm.Privilege{}, byTarget: map[aclKey]dm.Privilege{}}
}

func (a *fakeACL) Check(s dm.Subject, ep uint16, cluster uint32, need dm.Privilege) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.checks++
	p, ok := a.byTarget[aclKey{s.NodeID, ep, cluster}]
	if !ok {
		if p, ok = a.byNode[s.NodeID]; !ok {
			p = a.def
		}
	}
	return p >= need
}

func (a *fakeACL) set(node uint64, ep uint16, cluster uint32, p dm.Privilege) {
	a.mu.Lock()
	a.byTarget[aclKey{node, ep, cluster}] = p
	a.mu.Unlock()
}

// memStore is an in-memory EventNumberStore.
type memStore struct {
	mu     sync.Mutex
	v      uint64
	ok     bool
	writes int
}

func (s *memStore) LoadEventNumber() (uint64, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.v, s.ok, nil
}

func (s *memStore) StoreEventNumber(v uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.v, s.ok = v, true
	s.writes++
	return nil
}
