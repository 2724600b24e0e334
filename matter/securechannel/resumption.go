package securechannel

import (
	"container/list"
	"sync"

	"github.com/mattercam/mattercam/matter/crypto"
	"github.com/mattercam/mattercam/matter/session"
)

// ResumptionRecord is what a node keeps of a CASE session so that either
// side can resume it with Sigma1 and Sigma2_Resume, skipping the
// certificate exchange (§4.14.2.2, "Session Resumption"). Its shared secret
// is as sensitive as a session key.
type ResumptionRecord struct {
	// ID is the resumption ID the next resumption must present: the one
	// the responder sent in TBEData2 or Sigma2_Resume.
	ID [crypto.ResumptionIDSize]byte
	// SharedSecret is the ECDH secret of the original CASE session.
	SharedSecret []byte
	// FabricIndex and FabricID name this node's fabric; a record whose
	// fabric has gone or changed is not used.
	FabricIndex uint8
	FabricID    uint64
	// PeerNodeID and PeerCATs are the peer's identity, as its NOC said in
	// the original session.
	PeerNodeID uint64
	PeerCATs   session.CATs
}

type peerKey struct {
	fabric uint8
	node   uint64
}

// DefaultResumptionCapacity is the number of resumption records a store
// keeps by default: enough for the minimum CASE sessions of the default
// number of fabrics (session.DefaultMaxSessions).
const DefaultResumptionCapacity = session.DefaultMaxSessions

// ResumptionStore keeps resumption records in memory, at most one per peer
// (fabric and node ID) and at most a fixed number in all, dropping the least
// recently used. A node uses one store for both roles: as initiator it looks
// records up by peer, as responder by resumption ID. It is safe for
// concurrent use.
type ResumptionStore struct {
	mu     sync.Mutex
	cap    int
	lru    *list.List // of *ResumptionRecord, most recent first
	byID   map[[crypto.ResumptionIDSize]byte]*list.Element
	byPeer map[peerKey]*list.Element
}

// NewResumptionStore returns a store holding at most capacity records;
// capacity <= 0 means DefaultResumptionCapacity.
func NewResumptionStore(capacity int) *ResumptionStore {
	if capacity <= 0 {
		capacity = DefaultResumptionCapacity
	}
	return &ResumptionStore{
		cap:    capacity,
		lru:    list.New(),
		byID:   make(map[[crypto.ResumptionIDSize]byte]*list.Element, capacity),
		byPeer: make(map[peerKey]*list.Element, capacity),
	}
}

// Save stores r, replacing any record for the same peer (a resumption ID
// is good for one resumption) and, when the store is full, the least
// recently used record.
func (s *ResumptionStore) Save(r ResumptionRecord) {
	r.SharedSecret = append([]byte(nil), r.SharedSecret...)
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.byPeer[peerKey{r.FabricIndex, r.PeerNodeID}]; e != nil {
		s.removeLocked(e)
	}
	if e := s.byID[r.ID]; e != nil {
		s.removeLocked(e)
	}
	for s.lru.Len() >= s.cap {
		s.removeLocked(s.lru.Back())
	}
	e := s.lru.PushFront(&r)
	s.byID[r.ID] = e
	s.byPeer[peerKey{r.FabricIndex, r.PeerNodeID}] = e
}

// ByID returns the record with resumption ID id.
func (s *ResumptionStore) ByID(id [crypto.ResumptionIDSize]byte) (ResumptionRecord, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.getLocked(s.byID[id])
}

// ByPeer returns the record for a peer node on a fabric.
func (s *ResumptionStore) ByPeer(fabricIndex uint8, nodeID uint64) (ResumptionRecord, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.getLocked(s.byPeer[peerKey{fabricIndex, nodeID}])
}

func (s *ResumptionStore) getLocked(e *list.Element) (ResumptionRecord, bool) {
	if e == nil {
		return ResumptionRecord{}, false
	}
	s.lru.MoveToFront(e)
	r := *e.Value.(*ResumptionRecord)
	r.SharedSecret = append([]byte(nil), r.SharedSecret...)
	return r, true
}

// Remove drops the record with resumption ID id.
func (s *ResumptionStore) Remove(id [crypto.ResumptionIDSize]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.byID[id]; e != nil {
		s.removeLocked(e)
	}
}

// RemoveFabric drops every record of a fabric, as removing the fabric
// requires.
func (s *ResumptionStore) RemoveFabric(fabricIndex uint8) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for e := s.lru.Front(); e != nil; {
		next := e.Next()
		if e.Value.(*ResumptionRecord).FabricIndex == fabricIndex {
			s.removeLocked(e)
		}
		e = next
	}
}

// Len returns the number of records.
func (s *ResumptionStore) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lru.Len()
}

func (s *ResumptionStore) removeLocked(e *list.Element) {
	r := s.lru.Remove(e).(*ResumptionRecord)
	if s.byID[r.ID] == e {
		delete(s.byID, r.ID)
	}
	if k := (peerKey{r.FabricIndex, r.PeerNodeID}); s.byPeer[k] == e {
		delete(s.byPeer, k)
	}
	clear(r.SharedSecret)
}
