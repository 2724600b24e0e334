package tlscertificatemanagement

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mattercam/mattercam/matter/cert"
	"github.com/mattercam/mattercam/matter/clusters/field"
	"github.com/mattercam/mattercam/matter/clusters/internal/serve"
	"github.com/mattercam/mattercam/matter/crypto"
	"github.com/mattercam/mattercam/matter/dm"
	"github.com/mattercam/mattercam/matter/storage"
	"github.com/mattercam/mattercam/matter/tlv"
)

// Limits (Core §14.4.5).
const (
	// DefaultMaxRootCertificates and MinRootCertificates: the model's
	// floor for MaxRootCertificates (5 to 254, Core §14.4.5.1).
	DefaultMaxRootCertificates = 5
	MinRootCertificates        = 5
	// DefaultMaxClientCertificates; the model allows 2 to 254 (Core
	// §14.4.5.3), the SDK ships 5.
	DefaultMaxClientCertificates = 5
	MinClientCertificates        = 2
	// MaxID is the largest TLSCAID and TLSCCDID (Core §14.4.4.1,
	// §14.4.4.2); 65535 is not a valid ID.
	MaxID = 65534
	// hardLimit bounds both configured limits: more than this many
	// certificates per fabric would not fit one stored record anyway.
	hardLimit = 32
	// maxRecordSize bounds the encoding of one fabric's root (or client)
	// certificates. It keeps the record within a store value
	// (storage.MaxValueSize) and the Find…Response that lists them all
	// within one TCP message (the 64000-octet MAX_TCP_MESSAGE_SIZE the
	// node advertises, session.DefaultMaxTCPMessageSize), with room for
	// the message and Interaction Model headers. A provisioning
	// that would pass it is RESOURCE_EXHAUSTED: the spec's limit of 10
	// intermediates of 3000 octets each would otherwise let five client
	// certificates outgrow both.
	maxRecordSize = 56000
	// maxIntermediates is the model's bound on IntermediateCertificates.
	maxIntermediates = 10
	// maxCertSize is the model's bound on one DER certificate.
	maxCertSize = 3000
)

// Storage keys: "tlscert.root.<fabric>", "tlscert.client.<fabric>" and
// the ID counters "tlscert.ids".
const (
	rootPrefix   = "tlscert.root."
	clientPrefix = "tlscert.client."
	idsKey       = "tlscert.ids"
)

func rootKey(fabricIndex uint8) string   { return rootPrefix + strconv.Itoa(int(fabricIndex)) }
func clientKey(fabricIndex uint8) string { return clientPrefix + strconv.Itoa(int(fabricIndex)) }

// Notifier is told about attribute changes; *dm.Node implements it.
type Notifier = serve.Notifier

// Config configures a TlsCertificateManagement server.
type Config struct {
	// Store keeps the certificates, the client key pairs and the ID
	// counters. Required.
	Store *storage.Store
	// Now is the node's UTC time and whether it has one (the Time
	// Synchronization cluster's UTCTime, null when it has none);
	// *timesynchronization.Server's Now fits. Without a time, root
	// certificates cannot be provisioned (Core §14.4.6.1) and validity
	// periods are not checked. Nil means never.
	Now func() (time.Time, bool)
	// RootInUse and ClientInUse report whether a TLS Client Management
	// endpoint of the fabric references a root (CAID) or client (CCDID)
	// certificate: such a certificate cannot be removed (Core §14.4.6.7,
	// §14.4.6.15). They are called with the server's lock held and must
	// not call back into this server. Nil means nothing references one.
	RootInUse   func(fabricIndex uint8, caid uint16) bool
	ClientInUse func(fabricIndex uint8, ccdid uint16) bool
	// MaxRootCertificates and MaxClientCertificates per fabric; zero means
	// the defaults.
	MaxRootCertificates   int
	MaxClientCertificates int
	// Notify is told about attribute changes; nil means nobody.
	Notify Notifier
	// Logger; nil means slog.Default().
	Logger *slog.Logger
}

// rootEntry is one provisioned TLSRCAC.
type rootEntry struct {
	id  uint16
	der []byte
	fp  [sha256.Size]byte // SHA-256 of der: the fingerprint LookupRootCertificate takes
}

// clientEntry is one client certificate detail and its key pair. cert is
// nil until ProvisionClientCertificate (Core §14.4.4.4.2: null while the
// CSR procedure has not completed).
type clientEntry struct {
	id    uint16
	key   *ecdsa.PrivateKey
	cert  []byte
	chain [][]byte
	fp    [sha256.Size]byte // of cert, when cert is set
}

func (e rootEntry) entryID() uint16   { return e.id }
func (e clientEntry) entryID() uint16 { return e.id }

// entry is what root and client entries share: an ID (CAID, CCDID) unique
// on the node.
type entry interface{ entryID() uint16 }

// indexOf returns the index of the entry with ID id in l, or -1.
func indexOf[E entry](l []E, id uint16) int {
	return slices.IndexFunc(l, func(e E) bool { return e.entryID() == id })
}

// idUsed reports whether a fabric's list in m holds ID id.
func idUsed[E entry](m map[uint8][]E, id uint16) bool {
	for _, l := range m {
		if indexOf(l, id) >= 0 {
			return true
		}
	}
	return false
}

// Server is the TLS Certificate Management cluster (Core §14.4) on the
// root endpoint: per-fabric TLS root certificates (TLSRCACs) and client
// certificates with node-generated P-256 key pairs, for the clusters that
// make TLS connections (TLS Client Management endpoints reference them).
//
// Each fabric's roots and each fabric's client certificates are one
// stored record, written atomically; IDs are unique across the node and
// allocated from persisted counters so a removed ID is not reused soon.
type Server struct {
	serve.Base
	cfg Config
	log *slog.Logger

	mu        sync.Mutex
	roots     map[uint8][]rootEntry
	clients   map[uint8][]clientEntry
	nextCAID  uint16
	nextCCDID uint16
}

var _ dm.Cluster = (*Server)(nil)

var meta = serve.Subset(&Meta,
	[]uint32{AttrMaxRootCertificates, AttrProvisionedRootCertificates, AttrMaxClientCertificates, AttrProvisionedClientCertificates},
	[]uint32{CmdProvisionRootCertificate, CmdFindRootCertificate, CmdLookupRootCertificate, CmdRemoveRootCertificate,
		CmdClientCSR, CmdProvisionClientCertificate, CmdFindClientCertificate, CmdLookupClientCertificate,
		CmdRemoveClientCertificate},
	nil)

// New returns a TlsCertificateManagement server, loading the stored
// certificates. Unusable stored records are logged and dropped.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, errors.New("tlscert: Config.Store is required")
	}
	if cfg.MaxRootCertificates == 0 {
		cfg.MaxRootCertificates = DefaultMaxRootCertificates
	}
	if cfg.MaxClientCertificates == 0 {
		cfg.MaxClientCertificates = DefaultMaxClientCertificates
	}
	if cfg.MaxRootCertificates < MinRootCertificates || cfg.MaxRootCertificates > hardLimit ||
		cfg.MaxClientCertificates < MinClientCertificates || cfg.MaxClientCertificates > hardLimit {
		return nil, fmt.Errorf("tlscert: limits %d root, %d client certificates out of range", cfg.MaxRootCertificates, cfg.MaxClientCertificates)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	s := &Server{cfg: cfg, log: log.With("component", "tlscert"),
		roots: make(map[uint8][]rootEntry), clients: make(map[uint8][]clientEntry)}
	if err := s.load(); err != nil {
		return nil, err
	}
	s.Init(meta, 0, cfg.Notify)
	return s, nil
}

// FeatureMap implements dm.Cluster: the cluster has no features.
func (s *Server) FeatureMap() uint32 { return 0 }

// now returns the node's UTC time, if it has one.
func (s *Server) now() (time.Time, bool) {
	if s.cfg.Now == nil {
		return time.Time{}, false
	}
	return s.cfg.Now()
}

// ReadAttribute implements dm.Cluster. Over a transport that does not
// carry large messages the certificates themselves are left out (Core
// §14.4.5.2, §14.4.5.4, §14.4.4.3.2, §14.4.4.4.2-3): the lists then carry
// the IDs, a NULL ClientCertificate and an empty IntermediateCertificates.
func (s *Server) ReadAttribute(req *dm.Request, attr uint32, w *tlv.Writer, tag tlv.Tag) error {
	switch attr {
	case AttrMaxRootCertificates:
		w.PutUint(tag, uint64(s.cfg.MaxRootCertificates))
	case AttrMaxClientCertificates:
		w.PutUint(tag, uint64(s.cfg.MaxClientCertificates))
	case AttrProvisionedRootCertificates:
		s.mu.Lock()
		w.StartArray(tag)
		for _, fi := range s.fabricsLocked(req) {
			for _, e := range s.roots[fi] {
				v := TLSCert{CAID: e.id, FabricIndex: fi}
				if req.LargeMessage {
					v.Certificate = field.Some(e.der)
				}
				v.EncodeTLV(w, tlv.AnonymousTag())
			}
		}
		w.EndContainer()
		s.mu.Unlock()
	case AttrProvisionedClientCertificates:
		s.mu.Lock()
		w.StartArray(tag)
		for _, fi := range s.fabricsLocked(req) {
			for _, e := range s.clients[fi] {
				v := e.detail(fi)
				if !req.LargeMessage {
					// Only a NULL certificate and an empty chain may
					// go over a small-message transport.
					if v.ClientCertificate.Value.Valid {
						v.ClientCertificate = field.Optional[field.Nullable[[]byte]]{}
					}
					if len(v.IntermediateCertificates.Value) > 0 {
						v.IntermediateCertificates = field.Optional[[][]byte]{}
					}
				}
				v.EncodeTLV(w, tlv.AnonymousTag())
			}
		}
		w.EndContainer()
		s.mu.Unlock()
	default:
		return serve.UnsupportedAttribute()
	}
	return w.Err()
}

// fabricsLocked returns the fabrics whose entries a read returns, in
// order: the accessing fabric alone for a fabric-filtered read, every
// fabric otherwise (as Access Control and Group Key Management do: the
// model marks no field of these structs fabric-sensitive). The caller
// holds mu.
func (s *Server) fabricsLocked(req *dm.Request) []uint8 {
	if req.FabricFiltered {
		if req.Subject.FabricIndex == 0 {
			return nil
		}
		return []uint8{req.Subject.FabricIndex}
	}
	return s.allFabricsLocked()
}

// allFabricsLocked returns the fabrics holding certificates, in order.
func (s *Server) allFabricsLocked() []uint8 {
	idx := make([]uint8, 0, len(s.roots)+len(s.clients))
	for i := range s.roots {
		idx = append(idx, i)
	}
	for i := range s.clients {
		if !slices.Contains(idx, i) {
			idx = append(idx, i)
		}
	}
	slices.Sort(idx)
	return idx
}

// detail returns e as the fabric's TLSClientCertificateDetailStruct, with
// its certificate and chain (a NULL certificate and an empty chain before
// ProvisionClientCertificate, Core §14.4.6.8).
func (e *clientEntry) detail(fabricIndex uint8) TLSClientCertificateDetail {
	v := TLSClientCertificateDetail{CCDID: e.id, FabricIndex: fabricIndex,
		ClientCertificate: field.Some(field.Null[[]byte]()), IntermediateCertificates: field.Some(e.chain)}
	if e.cert != nil {
		v.ClientCertificate = field.Some(field.NonNull(e.cert))
	}
	return v
}

// WriteAttribute implements dm.Cluster: nothing is writable; the commands
// change the lists.
func (s *Server) WriteAttribute(_ *dm.Request, attr uint32, _ *tlv.Reader, _ bool) error {
	if meta.Attribute(attr) == nil {
		return serve.UnsupportedAttribute()
	}
	return serve.UnsupportedWrite()
}

// Invoke implements dm.Cluster. Every command is fabric-scoped and acts on
// the accessing fabric's certificates; the engine has already refused them
// over a transport without large messages (quality L, Core §14.4).
func (s *Server) Invoke(req *dm.Request, cmd uint32, r *tlv.Reader, resp *dm.CommandResponse) error {
	fi := req.Subject.FabricIndex
	if fi == 0 {
		return serve.Status(dm.StatusUnsupportedAccess)
	}
	switch cmd {
	case CmdProvisionRootCertificate:
		var in ProvisionRootCertificateRequest
		if err := serve.DecodeCommand(r, &in); err != nil {
			return err
		}
		id, err := s.provisionRoot(fi, &in)
		if err != nil {
			return err
		}
		return serve.Respond(resp, CmdProvisionRootCertificateResponse, &ProvisionRootCertificateResponse{CAID: id})
	case CmdFindRootCertificate:
		var in FindRootCertificateRequest
		if err := serve.DecodeCommand(r, &in); err != nil {
			return err
		}
		out, err := s.findRoots(fi, in.CAID)
		if err != nil {
			return err
		}
		return serve.Respond(resp, CmdFindRootCertificateResponse, out)
	case CmdLookupRootCertificate:
		var in LookupRootCertificateRequest
		if err := serve.DecodeCommand(r, &in); err != nil {
			return err
		}
		id, err := s.lookupRoot(fi, in.Fingerprint)
		if err != nil {
			return err
		}
		return serve.Respond(resp, CmdLookupRootCertificateResponse, &LookupRootCertificateResponse{CAID: id})
	case CmdRemoveRootCertificate:
		var in RemoveRootCertificateRequest
		if err := serve.DecodeCommand(r, &in); err != nil {
			return err
		}
		return s.removeRoot(fi, in.CAID)
	case CmdClientCSR:
		var in ClientCSRRequest
		if err := serve.DecodeCommand(r, &in); err != nil {
			return err
		}
		out, err := s.clientCSR(fi, &in)
		if err != nil {
			return err
		}
		return serve.Respond(resp, CmdClientCSRResponse, out)
	case CmdProvisionClientCertificate:
		var in ProvisionClientCertificateRequest
		if err := serve.DecodeCommand(r, &in); err != nil {
			return err
		}
		return s.provisionClient(fi, &in)
	case CmdFindClientCertificate:
		var in FindClientCertificateRequest
		if err := serve.DecodeCommand(r, &in); err != nil {
			return err
		}
		out, err := s.findClients(fi, in.CCDID)
		if err != nil {
			return err
		}
		return serve.Respond(resp, CmdFindClientCertificateResponse, out)
	case CmdLookupClientCertificate:
		var in LookupClientCertificateRequest
		if err := serve.DecodeCommand(r, &in); err != nil {
			return err
		}
		id, err := s.lookupClient(fi, in.Fingerprint)
		if err != nil {
			return err
		}
		return serve.Respond(resp, CmdLookupClientCertificateResponse, &LookupClientCertificateResponse{CCDID: id})
	case CmdRemoveClientCertificate:
		var in RemoveClientCertificateRequest
		if err := serve.DecodeCommand(r, &in); err != nil {
			return err
		}
		return s.removeClient(fi, in.CCDID)
	}
	return serve.UnsupportedCommand()
}

// checkID enforces the TLSCAID/TLSCCDID range on nullable request fields,
// whose generated decoders do not (the range comes with the datatype).
func checkID(id field.Nullable[uint16]) error {
	if id.Valid && id.Value > MaxID {
		return dm.Errorf(dm.StatusConstraintError, "tlscert: ID %d out of range", id.Value)
	}
	return nil
}

// parseCert parses a DER certificate: a "TLS certificate" the node cannot
// parse, or one outside its validity period when the node knows the time,
// is invalid (DYNAMIC_CONSTRAINT_ERROR, Core §14.4.6.1, §14.4.6.10).
func parseCert(der []byte, now time.Time, haveTime bool) (*x509.Certificate, error) {
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, &dm.StatusError{Status: dm.StatusDynamicConstraintError, Err: fmt.Errorf("tlscert: certificate: %w", err)}
	}
	if haveTime && (now.Before(c.NotBefore) || now.After(c.NotAfter)) {
		return nil, dm.Errorf(dm.StatusDynamicConstraintError, "tlscert: certificate valid %v to %v, not at %v", c.NotBefore, c.NotAfter, now)
	}
	return c, nil
}

// provisionRoot is ProvisionRootCertificate (Core §14.4.6.1).
func (s *Server) provisionRoot(fi uint8, in *ProvisionRootCertificateRequest) (uint16, error) {
	if err := checkID(in.CAID); err != nil {
		return 0, err
	}
	now, ok := s.now()
	if !ok {
		return 0, dm.Errorf(dm.StatusInvalidInState, "tlscert: provision root: the node has no UTC time")
	}
	if _, err := parseCert(in.Certificate, now, true); err != nil {
		return 0, err
	}
	fp := sha256.Sum256(in.Certificate)

	s.mu.Lock()
	cur := s.roots[fi]
	if slices.ContainsFunc(cur, func(e rootEntry) bool { return e.fp == fp }) {
		s.mu.Unlock()
		return 0, dm.Errorf(dm.StatusAlreadyExists, "tlscert: provision root: certificate already provisioned")
	}
	next := slices.Clone(cur)
	e := rootEntry{der: in.Certificate, fp: fp}
	if id, ok := in.CAID.Get(); ok {
		i := indexOf(next, id)
		if i < 0 {
			s.mu.Unlock()
			return 0, dm.Errorf(dm.StatusNotFound, "tlscert: provision root: no CAID %d", id)
		}
		e.id = id
		next[i] = e
	} else {
		if len(cur) >= s.cfg.MaxRootCertificates {
			s.mu.Unlock()
			return 0, dm.Errorf(dm.StatusResourceExhausted, "tlscert: provision root: %d root certificates", len(cur))
		}
		id, err := s.allocLocked(&s.nextCAID, func(id uint16) bool { return idUsed(s.roots, id) })
		if err != nil {
			s.mu.Unlock()
			return 0, err
		}
		e.id = id
		next = append(next, e)
	}
	err := s.storeRootsLocked(fi, next)
	s.mu.Unlock()
	if err != nil {
		return 0, fmt.Errorf("tlscert: provision root: %w", err)
	}
	s.Changed(AttrProvisionedRootCertificates)
	return e.id, nil
}

// findRoots is FindRootCertificate (Core §14.4.6.3): one of the fabric's
// roots, or all of them for a null CAID; NOT_FOUND when there are none.
func (s *Server) findRoots(fi uint8, id field.Nullable[uint16]) (*FindRootCertificateResponse, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := &FindRootCertificateResponse{}
	for _, e := range s.roots[fi] {
		if !id.Valid || e.id == id.Value {
			out.CertificateDetails = append(out.CertificateDetails, TLSCert{CAID: e.id, Certificate: field.Some(e.der), FabricIndex: fi})
		}
	}
	if len(out.CertificateDetails) == 0 {
		return nil, serve.Status(dm.StatusNotFound)
	}
	return out, nil
}

// lookupRoot is LookupRootCertificate (Core §14.4.6.5): the fabric's root
// whose SHA-256 fingerprint is given.
func (s *Server) lookupRoot(fi uint8, fp []byte) (uint16, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.roots[fi] {
		if bytes.Equal(e.fp[:], fp) {
			return e.id, nil
		}
	}
	return 0, serve.Status(dm.StatusNotFound)
}

// removeRoot is RemoveRootCertificate (Core §14.4.6.7). The in-use check
// and the removal happen under one lock, so no TLS endpoint can start to
// reference the root in between (see Hold).
func (s *Server) removeRoot(fi uint8, id uint16) error {
	s.mu.Lock()
	cur := s.roots[fi]
	i := indexOf(cur, id)
	if i < 0 {
		s.mu.Unlock()
		return serve.Status(dm.StatusNotFound)
	}
	if s.cfg.RootInUse != nil && s.cfg.RootInUse(fi, id) {
		s.mu.Unlock()
		return dm.Errorf(dm.StatusInvalidInState, "tlscert: remove root: CAID %d is used by a TLS endpoint", id)
	}
	err := s.storeRootsLocked(fi, slices.Delete(slices.Clone(cur), i, i+1))
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("tlscert: remove root: %w", err)
	}
	s.Changed(AttrProvisionedRootCertificates)
	return nil
}

// clientCSR is ClientCSR (Core §14.4.6.8): a new key pair and CCDID for a
// null CCDID, else the existing key pair of the fabric's CCDID; a PKCS #10
// request signed by that key and the key's signature of the nonce.
func (s *Server) clientCSR(fi uint8, in *ClientCSRRequest) (*ClientCSRResponse, error) {
	s.mu.Lock()
	cur := s.clients[fi]
	var e clientEntry
	created := false
	if id, ok := in.CCDID.Get(); ok {
		i := indexOf(cur, id)
		if i < 0 {
			s.mu.Unlock()
			return nil, dm.Errorf(dm.StatusNotFound, "tlscert: client CSR: no CCDID %d", id)
		}
		e = cur[i]
	} else {
		if len(cur) >= s.cfg.MaxClientCertificates {
			s.mu.Unlock()
			return nil, dm.Errorf(dm.StatusResourceExhausted, "tlscert: client CSR: %d client certificates", len(cur))
		}
		key, err := crypto.GenerateKey()
		if err != nil {
			s.mu.Unlock()
			return nil, fmt.Errorf("tlscert: client CSR: %w", err)
		}
		// A collision with another TLS key pair is refused (Core
		// §14.4.6.8); operational keys live in the fabric table, and a
		// P-256 collision is not a practical event either way.
		if s.keyUsedLocked(&key.PublicKey) {
			s.mu.Unlock()
			return nil, dm.Errorf(dm.StatusDynamicConstraintError, "tlscert: client CSR: key collision")
		}
		id, err := s.allocLocked(&s.nextCCDID, func(id uint16) bool { return idUsed(s.clients, id) })
		if err != nil {
			s.mu.Unlock()
			return nil, err
		}
		e = clientEntry{id: id, key: key}
		if err := s.storeClientsLocked(fi, append(slices.Clone(cur), e)); err != nil {
			s.mu.Unlock()
			return nil, fmt.Errorf("tlscert: client CSR: %w", err)
		}
		created = true
	}
	s.mu.Unlock()
	if created {
		s.Changed(AttrProvisionedClientCertificates)
	}
	csr, err := cert.CreateCSR(e.key)
	if err != nil {
		return nil, fmt.Errorf("tlscert: client CSR: %w", err)
	}
	sig, err := crypto.Sign(e.key, in.Nonce)
	if err != nil {
		return nil, fmt.Errorf("tlscert: client CSR: nonce signature: %w", err)
	}
	return &ClientCSRResponse{CCDID: e.id, CSR: csr, NonceSignature: sig}, nil
}

// provisionClient is ProvisionClientCertificate (Core §14.4.6.10): the
// certificate for a CCDID's key pair, with its intermediates. The checks
// run in the order the spec lists them.
func (s *Server) provisionClient(fi uint8, in *ProvisionClientCertificateRequest) error {
	fp := sha256.Sum256(in.ClientCertificate)
	now, haveTime := s.now()
	s.mu.Lock()
	cur := s.clients[fi]
	if len(cur) == 0 {
		s.mu.Unlock()
		return serve.Status(dm.StatusNotFound)
	}
	if slices.ContainsFunc(cur, func(e clientEntry) bool { return e.cert != nil && e.fp == fp }) {
		s.mu.Unlock()
		return dm.Errorf(dm.StatusAlreadyExists, "tlscert: provision client: certificate already provisioned")
	}
	i := indexOf(cur, in.CCDID)
	if i < 0 {
		s.mu.Unlock()
		return dm.Errorf(dm.StatusNotFound, "tlscert: provision client: no CCDID %d", in.CCDID)
	}
	e := cur[i]
	c, err := parseCert(in.ClientCertificate, now, haveTime)
	for _, der := range in.IntermediateCertificates {
		if err == nil {
			_, err = parseCert(der, now, haveTime)
		}
	}
	if err == nil {
		if pub, ok := c.PublicKey.(*ecdsa.PublicKey); !ok || !pub.Equal(&e.key.PublicKey) {
			err = dm.Errorf(dm.StatusDynamicConstraintError, "tlscert: provision client: certificate is not for CCDID %d's key", in.CCDID)
		}
	}
	if err == nil {
		next := slices.Clone(cur)
		next[i] = clientEntry{id: e.id, key: e.key, cert: in.ClientCertificate, chain: in.IntermediateCertificates, fp: fp}
		if err = s.storeClientsLocked(fi, next); err != nil {
			err = fmt.Errorf("tlscert: provision client: %w", err)
		}
	}
	s.mu.Unlock()
	if err != nil {
		return err
	}
	s.Changed(AttrProvisionedClientCertificates)
	return nil
}

// findClients is FindClientCertificate (Core §14.4.6.11).
func (s *Server) findClients(fi uint8, id field.Nullable[uint16]) (*FindClientCertificateResponse, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := &FindClientCertificateResponse{}
	for _, e := range s.clients[fi] {
		if !id.Valid || e.id == id.Value {
			out.CertificateDetails = append(out.CertificateDetails, e.detail(fi))
		}
	}
	if len(out.CertificateDetails) == 0 {
		return nil, serve.Status(dm.StatusNotFound)
	}
	return out, nil
}

// lookupClient is LookupClientCertificate (Core §14.4.6.13): the fabric's
// provisioned client certificate with the given SHA-256 fingerprint.
func (s *Server) lookupClient(fi uint8, fp []byte) (uint16, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.clients[fi] {
		if e.cert != nil && bytes.Equal(e.fp[:], fp) {
			return e.id, nil
		}
	}
	return 0, serve.Status(dm.StatusNotFound)
}

// removeClient is RemoveClientCertificate (Core §14.4.6.15): the entry
// and its key pair go.
func (s *Server) removeClient(fi uint8, id uint16) error {
	s.mu.Lock()
	cur := s.clients[fi]
	i := indexOf(cur, id)
	if i < 0 {
		s.mu.Unlock()
		return serve.Status(dm.StatusNotFound)
	}
	if s.cfg.ClientInUse != nil && s.cfg.ClientInUse(fi, id) {
		s.mu.Unlock()
		return dm.Errorf(dm.StatusInvalidInState, "tlscert: remove client: CCDID %d is used by a TLS endpoint", id)
	}
	err := s.storeClientsLocked(fi, slices.Delete(slices.Clone(cur), i, i+1))
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("tlscert: remove client: %w", err)
	}
	s.Changed(AttrProvisionedClientCertificates)
	return nil
}

// Hold runs f with the certificate lists locked, telling it whether the
// fabric has root certificate caid and, when ccdid is not null, client
// certificate ccdid (client is true for a null ccdid). TLS Client
// Management stores an endpoint inside f, so a certificate the endpoint
// references cannot be removed between the check and the store (Core
// §14.5.7.1 against §14.4.6.7). Lock order: this server's lock is taken
// before anything f locks; f must not call back into this server.
func (s *Server) Hold(fabricIndex uint8, caid uint16, ccdid field.Nullable[uint16], f func(root, client bool) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	root := indexOf(s.roots[fabricIndex], caid) >= 0
	client := true
	if id, ok := ccdid.Get(); ok {
		client = indexOf(s.clients[fabricIndex], id) >= 0
	}
	return f(root, client)
}

// RootCertificate returns the DER root certificate caid of a fabric, for
// the clusters that open TLS connections.
func (s *Server) RootCertificate(fabricIndex uint8, caid uint16) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.roots[fabricIndex] {
		if e.id == caid {
			return e.der, true
		}
	}
	return nil, false
}

// ClientCertificate returns the key pair, DER certificate and chain of a
// fabric's provisioned client certificate ccdid, for TLS client
// authentication; ok is false while the certificate is not provisioned.
func (s *Server) ClientCertificate(fabricIndex uint8, ccdid uint16) (key *ecdsa.PrivateKey, certificate []byte, chain [][]byte, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.clients[fabricIndex] {
		if e.id == ccdid && e.cert != nil {
			return e.key, e.cert, e.chain, true
		}
	}
	return nil, nil, nil, false
}

// FabricRemoved drops a removed fabric's certificates and key pairs (Core
// §11.18.6.12: all fabric-scoped data goes with the fabric).
func (s *Server) FabricRemoved(fabricIndex uint8) {
	s.mu.Lock()
	_, hadRoots := s.roots[fabricIndex]
	_, hadClients := s.clients[fabricIndex]
	delete(s.roots, fabricIndex)
	delete(s.clients, fabricIndex)
	s.mu.Unlock()
	for _, k := range []string{rootKey(fabricIndex), clientKey(fabricIndex)} {
		if err := s.cfg.Store.Delete(k); err != nil && !errors.Is(err, storage.ErrNotFound) {
			s.log.Error("removing a fabric's TLS certificates", "fabric", fabricIndex, "err", err)
		}
	}
	if hadRoots {
		s.Changed(AttrProvisionedRootCertificates)
	}
	if hadClients {
		s.Changed(AttrProvisionedClientCertificates)
	}
}

// RetainFabrics drops the certificates of fabrics for which keep is
// false; the node calls it at start-up with the fabric table's Has.
func (s *Server) RetainFabrics(keep func(fabricIndex uint8) bool) {
	s.mu.Lock()
	var drop []uint8
	for _, fi := range s.allFabricsLocked() {
		if !keep(fi) {
			drop = append(drop, fi)
		}
	}
	s.mu.Unlock()
	for _, fi := range drop {
		s.FabricRemoved(fi)
	}
}

// allocLocked returns the next free ID from counter and advances it, so
// IDs start at 0, increase by one and wrap past MaxID, skipping IDs in
// use (Core §14.4.4.1-2). The counter is stored before the ID is used: a
// crash in between skips an ID, never reuses one. The caller holds mu.
func (s *Server) allocLocked(counter *uint16, used func(uint16) bool) (uint16, error) {
	id := *counter
	for range MaxID + 1 {
		if !used(id) {
			break
		}
		id = nextID(id)
	}
	if used(id) {
		return 0, serve.Status(dm.StatusResourceExhausted)
	}
	old := *counter
	*counter = nextID(id)
	if err := s.storeIDsLocked(); err != nil {
		*counter = old
		return 0, err
	}
	return id, nil
}

func nextID(id uint16) uint16 {
	if id >= MaxID {
		return 0
	}
	return id + 1
}

func (s *Server) keyUsedLocked(pub *ecdsa.PublicKey) bool {
	for _, l := range s.clients {
		if slices.ContainsFunc(l, func(e clientEntry) bool { return e.key.PublicKey.Equal(pub) }) {
			return true
		}
	}
	return false
}

// storeRootsLocked stores a fabric's roots and puts them in force; a
// record over maxRecordSize is RESOURCE_EXHAUSTED. The caller holds mu.
func (s *Server) storeRootsLocked(fi uint8, l []rootEntry) error {
	return storeLocked(s, s.roots, rootKey(fi), fi, l, encodeRoots)
}

// storeClientsLocked is storeRootsLocked for client certificates.
func (s *Server) storeClientsLocked(fi uint8, l []clientEntry) error {
	return storeLocked(s, s.clients, clientKey(fi), fi, l, encodeClients)
}

// storeLocked stores list l of fabric fi under key, encoded by encode
// (the key is deleted for an empty list), and then puts it in force in m.
// The caller holds mu.
func storeLocked[E entry](s *Server, m map[uint8][]E, key string, fi uint8, l []E, encode func([]E) ([]byte, error)) error {
	var b []byte
	if len(l) > 0 {
		var err error
		if b, err = encode(l); err != nil {
			return &dm.StatusError{Status: dm.StatusFailure, Err: err}
		}
	}
	if err := s.put(key, b); err != nil {
		return err
	}
	if len(l) == 0 {
		delete(m, fi)
	} else {
		m[fi] = l
	}
	return nil
}

// put stores b under key, or deletes key for nil b.
func (s *Server) put(key string, b []byte) error {
	if len(b) > maxRecordSize {
		return dm.Errorf(dm.StatusResourceExhausted, "%s: %d octets, at most %d", key, len(b), maxRecordSize)
	}
	var err error
	if b == nil {
		if err = s.cfg.Store.Delete(key); errors.Is(err, storage.ErrNotFound) {
			err = nil
		}
	} else {
		err = s.cfg.Store.Put(key, b)
	}
	if err != nil {
		return &dm.StatusError{Status: dm.StatusFailure, Err: fmt.Errorf("%s: %w", key, err)}
	}
	return nil
}

func (s *Server) storeIDsLocked() error {
	var w tlv.Writer
	w.StartStructure(tlv.AnonymousTag())
	w.PutUint(tlv.ContextTag(0), uint64(s.nextCAID))
	w.PutUint(tlv.ContextTag(1), uint64(s.nextCCDID))
	w.EndContainer()
	b, err := w.Bytes()
	if err != nil {
		return &dm.StatusError{Status: dm.StatusFailure, Err: err}
	}
	return s.put(idsKey, bytes.Clone(b))
}

// load reads the stored records. A record that does not decode, or whose
// IDs another fabric already holds, is dropped with a log entry: the rest
// of the node's TLS state stays usable.
func (s *Server) load() error {
	if b, err := s.cfg.Store.Get(idsKey); err == nil {
		if s.nextCAID, s.nextCCDID, err = decodeIDs(b); err != nil {
			s.log.Error("stored TLS ID counters unusable; starting at 0", "err", err)
		}
	} else if !errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("tlscert: load: %w", err)
	}
	for _, kind := range []struct {
		prefix string
		load   func(fi uint8, b []byte) error
	}{
		{rootPrefix, func(fi uint8, b []byte) error {
			l, err := decodeRoots(b)
			if err == nil && slices.ContainsFunc(l, func(e rootEntry) bool { return idUsed(s.roots, e.id) }) {
				err = errors.New("CAID held by another fabric")
			}
			if err == nil {
				s.roots[fi] = l
			}
			return err
		}},
		{clientPrefix, func(fi uint8, b []byte) error {
			l, err := decodeClients(b)
			if err == nil && slices.ContainsFunc(l, func(e clientEntry) bool { return idUsed(s.clients, e.id) }) {
				err = errors.New("CCDID held by another fabric")
			}
			if err == nil {
				s.clients[fi] = l
			}
			return err
		}},
	} {
		keys, err := s.cfg.Store.Keys(kind.prefix)
		if err != nil {
			return fmt.Errorf("tlscert: load: %w", err)
		}
		slices.Sort(keys)
		for _, k := range keys {
			n, err := strconv.ParseUint(strings.TrimPrefix(k, kind.prefix), 10, 8)
			if err != nil || n == 0 || n == 255 || strconv.Itoa(int(n)) != strings.TrimPrefix(k, kind.prefix) {
				continue
			}
			b, err := s.cfg.Store.Get(k)
			if err == nil {
				err = kind.load(uint8(n), b)
			}
			if err != nil {
				s.log.Error("dropping unusable stored TLS certificates", "key", k, "err", err)
			}
		}
	}
	return nil
}

// The stored records:
//
//	roots:   { 0 = version (1), 1 = [TLSCertStruct{CAID, Certificate}…] }
//	clients: { 0 = version (1), 1 = [{ 0 = CCDID, 1 = private key (32
//	           octets), 2 = certificate or null, 3 = [intermediate…] }…] }
//	ids:     { 0 = next CAID, 1 = next CCDID }
//
// The fabric index is the key's; fingerprints are recomputed on load.
const recordVersion = 1

func encodeRoots(l []rootEntry) ([]byte, error) {
	var w tlv.Writer
	w.StartStructure(tlv.AnonymousTag())
	w.PutUint(tlv.ContextTag(0), recordVersion)
	w.StartArray(tlv.ContextTag(1))
	for _, e := range l {
		v := TLSCert{CAID: e.id, Certificate: field.Some(e.der)}
		v.EncodeTLV(&w, tlv.AnonymousTag())
	}
	w.EndContainer()
	w.EndContainer()
	b, err := w.Bytes()
	return bytes.Clone(b), err
}

func encodeClients(l []clientEntry) ([]byte, error) {
	var w tlv.Writer
	w.StartStructure(tlv.AnonymousTag())
	w.PutUint(tlv.ContextTag(0), recordVersion)
	w.StartArray(tlv.ContextTag(1))
	for _, e := range l {
		key, err := e.key.Bytes()
		if err != nil {
			return nil, fmt.Errorf("CCDID %d key: %w", e.id, err)
		}
		w.StartStructure(tlv.AnonymousTag())
		w.PutUint(tlv.ContextTag(0), uint64(e.id))
		w.PutBytes(tlv.ContextTag(1), key)
		if e.cert != nil {
			w.PutBytes(tlv.ContextTag(2), e.cert)
		} else {
			w.PutNull(tlv.ContextTag(2))
		}
		w.StartArray(tlv.ContextTag(3))
		for _, c := range e.chain {
			w.PutBytes(tlv.AnonymousTag(), c)
		}
		w.EndContainer()
		w.EndContainer()
	}
	w.EndContainer()
	w.EndContainer()
	b, err := w.Bytes()
	return bytes.Clone(b), err
}

// decodeRecord enters a stored record, checks its version and calls list
// with the reader on its list (tag 1).
func decodeRecord(b []byte, list func(r *tlv.Reader) error) error {
	r := tlv.NewReader(b)
	if err := r.Next(); err != nil {
		return err
	}
	if err := field.EnterStruct(r); err != nil {
		return err
	}
	var seen field.Seen
	for {
		tag, ok, err := field.Next(r, &seen)
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		switch tag {
		case 0:
			v, err := r.Uint()
			if err != nil {
				return err
			}
			if v != recordVersion {
				return fmt.Errorf("record version %d", v)
			}
		case 1:
			if err := list(r); err != nil {
				return err
			}
		}
	}
	if err := r.Exit(); err != nil {
		return err
	}
	if !seen.Has(0) || !seen.Has(1) {
		return errors.New("record without version or list")
	}
	return nil
}

// decodeRoots decodes and checks a stored roots record.
func decodeRoots(b []byte) ([]rootEntry, error) {
	var l []rootEntry
	err := decodeRecord(b, func(r *tlv.Reader) error {
		var err error
		l, err = field.List(r, 1, hardLimit, func(r *tlv.Reader) (rootEntry, error) {
			var v TLSCert
			if err := v.DecodeTLV(r); err != nil {
				return rootEntry{}, err
			}
			if !v.Certificate.Present {
				return rootEntry{}, fmt.Errorf("CAID %d without a certificate", v.CAID)
			}
			if _, err := x509.ParseCertificate(v.Certificate.Value); err != nil {
				return rootEntry{}, fmt.Errorf("CAID %d: %w", v.CAID, err)
			}
			return rootEntry{id: v.CAID, der: v.Certificate.Value, fp: sha256.Sum256(v.Certificate.Value)}, nil
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	for i, e := range l {
		if slices.ContainsFunc(l[:i], func(o rootEntry) bool { return o.id == e.id || o.fp == e.fp }) {
			return nil, fmt.Errorf("CAID %d or its certificate twice", e.id)
		}
	}
	return l, nil
}

// decodeClients decodes and checks a stored client certificates record:
// every key is a P-256 private key and every certificate is for its key.
func decodeClients(b []byte) ([]clientEntry, error) {
	var l []clientEntry
	err := decodeRecord(b, func(r *tlv.Reader) error {
		var err error
		l, err = field.List(r, 1, hardLimit, decodeClientEntry)
		return err
	})
	if err != nil {
		return nil, err
	}
	for i, e := range l {
		if slices.ContainsFunc(l[:i], func(o clientEntry) bool {
			return o.id == e.id || o.key.Equal(e.key) || o.cert != nil && e.cert != nil && o.fp == e.fp
		}) {
			return nil, fmt.Errorf("CCDID %d, its key or its certificate twice", e.id)
		}
	}
	return l, nil
}

func decodeClientEntry(r *tlv.Reader) (clientEntry, error) {
	var e clientEntry
	if err := field.EnterStruct(r); err != nil {
		return e, err
	}
	var seen field.Seen
	var key []byte
	for {
		tag, ok, err := field.Next(r, &seen)
		if err != nil {
			return e, err
		}
		if !ok {
			break
		}
		switch tag {
		case 0:
			e.id, err = field.Uint[uint16](r)
			if err == nil {
				err = field.Range[uint16](e.id, 0, MaxID)
			}
		case 1:
			key, err = field.Bytes(r, 32, 32)
		case 2:
			if !r.IsNull() {
				e.cert, err = field.Bytes(r, 1, maxCertSize)
			}
		case 3:
			e.chain, err = field.List(r, 0, maxIntermediates, func(r *tlv.Reader) ([]byte, error) {
				return field.Bytes(r, 1, maxCertSize)
			})
		}
		if err != nil {
			return e, err
		}
	}
	if err := r.Exit(); err != nil {
		return e, err
	}
	if !seen.Has(0) || !seen.Has(1) || !seen.Has(2) || !seen.Has(3) {
		return e, errors.New("client certificate entry with a field missing")
	}
	var err error
	if e.key, err = ecdsa.ParseRawPrivateKey(elliptic.P256(), key); err != nil {
		return e, fmt.Errorf("CCDID %d key: %w", e.id, err)
	}
	if e.cert == nil {
		if len(e.chain) > 0 {
			return e, fmt.Errorf("CCDID %d: intermediates without a certificate", e.id)
		}
		return e, nil
	}
	c, err := x509.ParseCertificate(e.cert)
	if err != nil {
		return e, fmt.Errorf("CCDID %d: %w", e.id, err)
	}
	if pub, ok := c.PublicKey.(*ecdsa.PublicKey); !ok || !pub.Equal(&e.key.PublicKey) {
		return e, fmt.Errorf("CCDID %d: certificate is not for the key", e.id)
	}
	for _, der := range e.chain {
		if _, err := x509.ParseCertificate(der); err != nil {
			return e, fmt.Errorf("CCDID %d intermediate: %w", e.id, err)
		}
	}
	e.fp = sha256.Sum256(e.cert)
	return e, nil
}

func decodeIDs(b []byte) (caid, ccdid uint16, err error) {
	r := tlv.NewReader(b)
	if err := r.Next(); err != nil {
		return 0, 0, err
	}
	if err := field.EnterStruct(r); err != nil {
		return 0, 0, err
	}
	var seen field.Seen
	for {
		tag, ok, err := field.Next(r, &seen)
		if err != nil {
			return 0, 0, err
		}
		if !ok {
			break
		}
		if tag > 1 {
			continue
		}
		var v uint16
		if v, err = field.Uint[uint16](r); err == nil {
			err = field.Range[uint16](v, 0, MaxID)
		}
		if err != nil {
			return 0, 0, err
		}
		switch tag {
		case 0:
			caid = v
		case 1:
			ccdid = v
		}
	}
	if err := r.Exit(); err != nil {
		return 0, 0, err
	}
	return caid, ccdid, nil
}
