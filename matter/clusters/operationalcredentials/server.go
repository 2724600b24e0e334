package operationalcredentials

import (
	"errors"
	"fmt"
	"log/slog"
	"unicode/utf8"

	"github.com/mattercam/mattercam/matter/attestation"
	"github.com/mattercam/mattercam/matter/clusters/field"
	"github.com/mattercam/mattercam/matter/clusters/internal/serve"
	"github.com/mattercam/mattercam/matter/dm"
	"github.com/mattercam/mattercam/matter/fabric"
	"github.com/mattercam/mattercam/matter/tlv"
)

// FailSafe is what the cluster needs of the fail-safe context (Core
// §11.10.7.2.1); *generalcommissioning.FailSafe implements it.
type FailSafe interface {
	// ArmedFor reports whether the fail-safe is armed and associated
	// with fabric (0: a PASE session before AddNOC).
	ArmedFor(fabric uint8) bool
	// NOCAdded associates the context with the fabric AddNOC added.
	NOCAdded(fabric uint8)
	// NOCUpdated records the fabric UpdateNOC updated.
	NOCUpdated(fabric uint8)
}

// Config configures an OperationalCredentials server.
type Config struct {
	// Fabrics is the fabric table. Required.
	Fabrics *fabric.Table
	// FailSafe is the node's fail-safe context. Required.
	FailSafe FailSafe
	// Attestation is the device attestation identity: DAC, PAI, CD and the
	// DAC key. Required.
	Attestation *attestation.FactoryData
	// GrantAdmin installs the Access Control entry AddNOC creates from its
	// CaseAdminSubject (Core §11.18.6.8, step 7): Administer over CASE for
	// subject on fabricIndex. req is the AddNOC request, for the
	// AccessControlEntryChanged event. Required.
	GrantAdmin func(req *dm.Request, fabricIndex uint8, subject uint64) error
	// OnLeave runs before RemoveFabric removes a fabric, for the Basic
	// Information Leave event; nil does nothing. Clean-up of the fabric's
	// data follows the fabric table's ChangeRemoved notification.
	OnLeave func(fabricIndex uint8)
	// OnLastFabricRemoved runs after RemoveFabric removed the last fabric:
	// the node becomes commissionable again. It runs on the handler's
	// goroutine before the response is sent.
	OnLastFabricRemoved func()
	// Notify is told about attribute changes; nil means nobody.
	Notify Notifier
	// Logger; nil means slog.Default().
	Logger *slog.Logger
}

// Notifier is told about attribute changes; *dm.Node implements it.
type Notifier = serve.Notifier

// Server is the Operational Credentials cluster (Core §11.18): device
// attestation, the Node Operational CSR procedure, adding, updating,
// labelling and removing fabrics in the fabric table, and Fabric Table
// Vendor ID Verification (Core 1.4.2+ §6.4.10: SetVIDVerificationStatement
// and SignVIDVerificationRequest, §11.18.6.14 to §11.18.6.16).
type Server struct {
	serve.Base
	cfg Config
	log *slog.Logger
}

var _ dm.Cluster = (*Server)(nil)

var meta = serve.Subset(&Meta,
	[]uint32{AttrNOCs, AttrFabrics, AttrSupportedFabrics, AttrCommissionedFabrics, AttrTrustedRootCertificates, AttrCurrentFabricIndex},
	[]uint32{CmdAttestationRequest, CmdCertificateChainRequest, CmdCSRRequest, CmdAddNOC, CmdUpdateNOC,
		CmdUpdateFabricLabel, CmdRemoveFabric, CmdAddTrustedRootCertificate,
		CmdSetVIDVerificationStatement, CmdSignVIDVerificationRequest},
	nil)

// New returns an OperationalCredentials server.
func New(cfg Config) (*Server, error) {
	switch {
	case cfg.Fabrics == nil:
		return nil, errors.New("operationalcredentials: Config.Fabrics is required")
	case cfg.FailSafe == nil:
		return nil, errors.New("operationalcredentials: Config.FailSafe is required")
	case cfg.Attestation == nil || cfg.Attestation.DACKey == nil:
		return nil, errors.New("operationalcredentials: Config.Attestation with a DAC key is required")
	case cfg.GrantAdmin == nil:
		return nil, errors.New("operationalcredentials: Config.GrantAdmin is required")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	s := &Server{cfg: cfg, log: log.With("component", "operationalcredentials")}
	s.Init(meta, 0, cfg.Notify)
	return s, nil
}

// FabricChanged reports a change of the fabric table; the node wires the
// table's Config.OnChange to it.
func (s *Server) FabricChanged(c fabric.Change) {
	var attrs []uint32
	for _, m := range []struct {
		a  fabric.Attrs
		id uint32
	}{
		{fabric.AttrNOCs, AttrNOCs},
		{fabric.AttrFabrics, AttrFabrics},
		{fabric.AttrCommissionedFabrics, AttrCommissionedFabrics},
		{fabric.AttrTrustedRootCertificates, AttrTrustedRootCertificates},
	} {
		if c.Attrs&m.a != 0 {
			attrs = append(attrs, m.id)
		}
	}
	if len(attrs) > 0 {
		s.Changed(attrs...)
	}
}

// FeatureMap implements dm.Cluster.
func (s *Server) FeatureMap() uint32 { return 0 }

// ReadAttribute implements dm.Cluster.
func (s *Server) ReadAttribute(req *dm.Request, attr uint32, w *tlv.Writer, tag tlv.Tag) error {
	fabrics := s.cfg.Fabrics
	accessing := req.Subject.FabricIndex
	switch attr {
	case AttrNOCs:
		// Fabric-scoped; the certificates are fabric-sensitive, so other
		// fabrics' entries show only their fabric index (Core §7.13.5).
		w.StartArray(tag)
		for _, d := range fabrics.List() {
			if req.FabricFiltered && d.Index != accessing {
				continue
			}
			if d.Index != accessing {
				w.StartStructure(tlv.AnonymousTag())
				w.PutUint(tlv.ContextTag(254), uint64(d.Index))
				w.EndContainer()
				continue
			}
			n := NOC{NOC: d.NOC, FabricIndex: d.Index}
			if len(d.ICAC) > 0 {
				n.ICAC = field.NonNull(d.ICAC)
			}
			// Omitted, not empty, when there is none (§11.18.4.4).
			if len(d.VVSC) > 0 {
				n.Vvsc = field.Some(d.VVSC)
			}
			n.EncodeTLV(w, tlv.AnonymousTag())
		}
		w.EndContainer()
	case AttrFabrics:
		w.StartArray(tag)
		for _, d := range fabrics.List() {
			if req.FabricFiltered && d.Index != accessing {
				continue
			}
			fd := FabricDescriptor{RootPublicKey: d.RootPublicKey, VendorID: d.VendorID, FabricID: d.FabricID,
				NodeID: d.NodeID, Label: d.Label, FabricIndex: d.Index}
			// Present only while one is installed (§11.18.4.5 field 6).
			if len(d.VIDVerificationStatement) > 0 {
				fd.VIDVerificationStatement = field.Some(d.VIDVerificationStatement)
			}
			fd.EncodeTLV(w, tlv.AnonymousTag())
		}
		w.EndContainer()
	case AttrSupportedFabrics:
		w.PutUint(tag, uint64(fabrics.SupportedFabrics()))
	case AttrCommissionedFabrics:
		w.PutUint(tag, uint64(fabrics.CommissionedFabrics()))
	case AttrTrustedRootCertificates:
		w.StartArray(tag)
		for _, c := range fabrics.TrustedRootCertificates() {
			w.PutBytes(tlv.AnonymousTag(), c)
		}
		w.EndContainer()
	case AttrCurrentFabricIndex:
		w.PutUint(tag, uint64(accessing))
	default:
		return serve.UnsupportedAttribute()
	}
	return w.Err()
}

// WriteAttribute implements dm.Cluster: nothing is writable.
func (s *Server) WriteAttribute(_ *dm.Request, attr uint32, _ *tlv.Reader, _ bool) error {
	if meta.Attribute(attr) == nil {
		return serve.UnsupportedAttribute()
	}
	return serve.UnsupportedWrite()
}

// Invoke implements dm.Cluster.
func (s *Server) Invoke(req *dm.Request, cmd uint32, r *tlv.Reader, resp *dm.CommandResponse) error {
	switch cmd {
	case CmdAttestationRequest:
		var in AttestationRequest
		if err := decodeStrict(r, &in); err != nil {
			return err
		}
		out, err := s.attestationRequest(req, &in)
		if err != nil {
			return err
		}
		return serve.Respond(resp, CmdAttestationResponse, out)
	case CmdCertificateChainRequest:
		var in CertificateChainRequest
		if err := decodeStrict(r, &in); err != nil {
			return err
		}
		out, err := s.certificateChainRequest(&in)
		if err != nil {
			return err
		}
		return serve.Respond(resp, CmdCertificateChainResponse, out)
	case CmdCSRRequest:
		var in CSRRequest
		if err := decodeStrict(r, &in); err != nil {
			return err
		}
		out, err := s.csrRequest(req, &in)
		if err != nil {
			return err
		}
		return serve.Respond(resp, CmdCSRResponse, out)
	case CmdAddTrustedRootCertificate:
		var in AddTrustedRootCertificateRequest
		if err := serve.DecodeCommand(r, &in); err != nil {
			return err
		}
		return s.addTrustedRootCertificate(req, &in)
	case CmdAddNOC:
		var in AddNOCRequest
		if err := serve.DecodeCommand(r, &in); err != nil {
			return err
		}
		out, err := s.addNOC(req, &in)
		if err != nil {
			return err
		}
		return serve.Respond(resp, CmdNOCResponse, out)
	case CmdUpdateNOC:
		var in UpdateNOCRequest
		if err := serve.DecodeCommand(r, &in); err != nil {
			return err
		}
		out, err := s.updateNOC(req, &in)
		if err != nil {
			return err
		}
		return serve.Respond(resp, CmdNOCResponse, out)
	case CmdUpdateFabricLabel:
		var in UpdateFabricLabelRequest
		if err := serve.DecodeCommand(r, &in); err != nil {
			return err
		}
		out, err := s.updateFabricLabel(req, &in)
		if err != nil {
			return err
		}
		return serve.Respond(resp, CmdNOCResponse, out)
	case CmdRemoveFabric:
		var in RemoveFabricRequest
		if err := serve.DecodeCommand(r, &in); err != nil {
			return err
		}
		out, err := s.removeFabric(&in)
		if err != nil {
			return err
		}
		return serve.Respond(resp, CmdNOCResponse, out)
	case CmdSetVIDVerificationStatement:
		var in SetVIDVerificationStatementRequest
		if err := serve.DecodeCommand(r, &in); err != nil {
			return err
		}
		return s.setVIDVerificationStatement(req, &in)
	case CmdSignVIDVerificationRequest:
		var in SignVIDVerificationRequest
		if err := serve.DecodeCommand(r, &in); err != nil {
			return err
		}
		out, err := s.signVIDVerificationRequest(req, &in)
		if err != nil {
			return err
		}
		return serve.Respond(resp, CmdSignVIDVerificationResponse, out)
	}
	return serve.UnsupportedCommand()
}

// decodeStrict decodes the fields of the attestation commands, for which a
// malformed nonce or an unknown certificate type is INVALID_COMMAND rather
// than CONSTRAINT_ERROR (Core §11.18.6.1, §11.18.6.3, §11.18.6.5).
func decodeStrict(r *tlv.Reader, v serve.Decoder) error {
	if err := serve.DecodeCommand(r, v); err != nil {
		var se *dm.StatusError
		if errors.As(err, &se) && se.Status == dm.StatusConstraintError {
			se.Status = dm.StatusInvalidCommand
		}
		return err
	}
	return nil
}

// challenge returns the attestation challenge of the request's session.
func challenge(req *dm.Request) ([]byte, error) {
	if req.AttestationChallenge == ([16]byte{}) {
		return nil, dm.Errorf(dm.StatusFailure, "operationalcredentials: the session's attestation challenge is unknown")
	}
	c := req.AttestationChallenge
	return c[:], nil
}

// attestationRequest is AttestationRequest (Core §11.18.6.1): the
// attestation_elements (CD, the nonce, a timestamp of 0 as the node has no
// trusted time at commissioning) signed with the DAC key over the elements
// and the session's attestation challenge (Core §11.18.4.7).
func (s *Server) attestationRequest(req *dm.Request, in *AttestationRequest) (*AttestationResponse, error) {
	if len(in.AttestationNonce) != attestation.NonceSize {
		return nil, serve.Status(dm.StatusInvalidCommand)
	}
	ch, err := challenge(req)
	if err != nil {
		return nil, err
	}
	fd := s.cfg.Attestation
	elements, err := attestation.AttestationElements(fd.CD, in.AttestationNonce, 0, nil)
	if err != nil {
		return nil, &dm.StatusError{Status: dm.StatusFailure, Err: err}
	}
	sig, err := fd.SignAttestation(elements, ch)
	if err != nil {
		return nil, &dm.StatusError{Status: dm.StatusFailure, Err: err}
	}
	return &AttestationResponse{AttestationElements: elements, AttestationSignature: sig}, nil
}

// certificateChainRequest is CertificateChainRequest (Core §11.18.6.3).
func (s *Server) certificateChainRequest(in *CertificateChainRequest) (*CertificateChainResponse, error) {
	switch in.CertificateType {
	case CertificateChainTypeDacCertificate:
		return &CertificateChainResponse{Certificate: s.cfg.Attestation.DAC}, nil
	case CertificateChainTypePaiCertificate:
		return &CertificateChainResponse{Certificate: s.cfg.Attestation.PAI}, nil
	}
	return nil, serve.Status(dm.StatusInvalidCommand)
}

// csrRequest is CSRRequest (Core §11.18.6.5): a new operational key pair
// in the fabric table's staging, and the NOCSR elements holding its CSR,
// signed with the DAC key over the elements and the session's attestation
// challenge (Core §11.18.4.9).
func (s *Server) csrRequest(req *dm.Request, in *CSRRequest) (*CSRResponse, error) {
	if len(in.CSRNonce) != attestation.NonceSize {
		return nil, serve.Status(dm.StatusInvalidCommand)
	}
	forUpdate := in.IsForUpdateNOC.Present && in.IsForUpdateNOC.Value
	// UpdateNOC is never possible over PASE, so neither is a CSR for it.
	if forUpdate && req.Subject.AuthMode == dm.AuthPASE {
		return nil, serve.Status(dm.StatusInvalidCommand)
	}
	if !s.cfg.FailSafe.ArmedFor(req.Subject.FabricIndex) {
		return nil, serve.Status(dm.StatusFailsafeRequired)
	}
	ch, err := challenge(req)
	if err != nil {
		return nil, err
	}
	csr, err := s.cfg.Fabrics.CSR(forUpdate)
	if err != nil {
		return nil, tableError(err)
	}
	elements, err := attestation.NOCSRElements(csr, in.CSRNonce)
	if err != nil {
		return nil, &dm.StatusError{Status: dm.StatusFailure, Err: err}
	}
	sig, err := s.cfg.Attestation.SignNOCSR(elements, ch)
	if err != nil {
		return nil, &dm.StatusError{Status: dm.StatusFailure, Err: err}
	}
	return &CSRResponse{NocsrElements: elements, AttestationSignature: sig}, nil
}

// addTrustedRootCertificate is AddTrustedRootCertificate (Core
// §11.18.6.13).
func (s *Server) addTrustedRootCertificate(req *dm.Request, in *AddTrustedRootCertificateRequest) error {
	if !s.cfg.FailSafe.ArmedFor(req.Subject.FabricIndex) {
		return serve.Status(dm.StatusFailsafeRequired)
	}
	if err := s.cfg.Fabrics.AddTrustedRoot(in.RootCaCertificate); err != nil {
		return tableError(err)
	}
	return nil
}

// addNOC is AddNOC (Core §11.18.6.8).
func (s *Server) addNOC(req *dm.Request, in *AddNOCRequest) (*NOCResponse, error) {
	subj := req.Subject
	if !s.cfg.FailSafe.ArmedFor(subj.FabricIndex) {
		return nil, serve.Status(dm.StatusFailsafeRequired)
	}
	// An empty ICACValue means no ICAC: matter.js sends it so.
	icac := in.ICACValue.Value
	idx, err := s.cfg.Fabrics.AddNOC(in.NOCValue, icac, in.IPKValue, in.CASEAdminSubject, in.AdminVendorID)
	if err != nil {
		return s.nocResult(err)
	}
	if err := s.cfg.GrantAdmin(req, idx, in.CASEAdminSubject); err != nil {
		// Without its administrator the fabric is unusable: take it out
		// again rather than leave it to the fail-safe.
		if rerr := s.cfg.Fabrics.Remove(idx); rerr != nil {
			s.log.Error("removing a fabric whose admin entry failed", "fabric", idx, "err", rerr)
		}
		return nil, &dm.StatusError{Status: dm.StatusFailure, Err: fmt.Errorf("operationalcredentials: admin entry: %w", err)}
	}
	s.cfg.FailSafe.NOCAdded(idx)
	// The commissioner's PASE session now belongs to the new fabric.
	if subj.AuthMode == dm.AuthPASE && req.Session != nil {
		if err := req.Session.SetFabricIndex(idx); err != nil {
			s.log.Warn("binding the PASE session to the new fabric", "fabric", idx, "err", err)
		}
	}
	s.log.Info("fabric added", "fabric", idx, "vendor", in.AdminVendorID)
	return &NOCResponse{StatusCode: NodeOperationalCertStatusOK, FabricIndex: field.Some(idx)}, nil
}

// updateNOC is UpdateNOC (Core §11.18.6.9), on the accessing fabric.
func (s *Server) updateNOC(req *dm.Request, in *UpdateNOCRequest) (*NOCResponse, error) {
	idx := req.Subject.FabricIndex
	if idx == 0 {
		return nil, serve.Status(dm.StatusUnsupportedAccess)
	}
	if !s.cfg.FailSafe.ArmedFor(idx) {
		return nil, serve.Status(dm.StatusFailsafeRequired)
	}
	if err := s.cfg.Fabrics.UpdateNOC(idx, in.NOCValue, in.ICACValue.Value); err != nil {
		return s.nocResult(err)
	}
	s.cfg.FailSafe.NOCUpdated(idx)
	s.log.Info("fabric NOC updated", "fabric", idx)
	return &NOCResponse{StatusCode: NodeOperationalCertStatusOK, FabricIndex: field.Some(idx)}, nil
}

// updateFabricLabel is UpdateFabricLabel (Core §11.18.6.11), on the
// accessing fabric.
func (s *Server) updateFabricLabel(req *dm.Request, in *UpdateFabricLabelRequest) (*NOCResponse, error) {
	idx := req.Subject.FabricIndex
	if idx == 0 {
		return nil, serve.Status(dm.StatusUnsupportedAccess)
	}
	if err := s.cfg.Fabrics.UpdateLabel(idx, in.Label); err != nil {
		return s.nocResult(err)
	}
	return &NOCResponse{StatusCode: NodeOperationalCertStatusOK, FabricIndex: field.Some(idx)}, nil
}

// removeFabric is RemoveFabric (Core §11.18.6.12). The fabric's other
// fabric-scoped data goes with the fabric table's ChangeRemoved
// notification; the sessions of the fabric, the accessing one included,
// are closed by the node after the response is sent.
func (s *Server) removeFabric(in *RemoveFabricRequest) (*NOCResponse, error) {
	idx := in.FabricIndex
	if !s.cfg.Fabrics.Has(idx) {
		return &NOCResponse{StatusCode: NodeOperationalCertStatusInvalidFabricIndex,
			DebugText: field.Some(fmt.Sprintf("no fabric %d", idx))}, nil
	}
	if s.cfg.OnLeave != nil {
		s.cfg.OnLeave(idx)
	}
	if err := s.cfg.Fabrics.Remove(idx); err != nil {
		return s.nocResult(err)
	}
	s.log.Info("fabric removed", "fabric", idx)
	if s.cfg.Fabrics.CommissionedFabrics() == 0 && s.cfg.OnLastFabricRemoved != nil {
		s.cfg.OnLastFabricRemoved()
	}
	return &NOCResponse{StatusCode: NodeOperationalCertStatusOK, FabricIndex: field.Some(idx)}, nil
}

// setVIDVerificationStatement is SetVIDVerificationStatement (Core
// §11.18.6.14) on the accessing fabric. It needs no fail-safe; inside one,
// on a fabric AddNOC or UpdateNOC staged, the change is staged with it and
// reverted if the fail-safe expires (fabric.Table.SetVIDVerification).
//
// Statuses: INVALID_COMMAND when no field is present; CONSTRAINT_ERROR for
// a VendorID that is not a valid AdminVendorID (as AddNOC's, 0x0001 to
// 0xFFF4), a statement neither 0 nor 85 octets, a VVSC over 400 octets (the
// decoder catches lengths beyond the field's maximum); INVALID_COMMAND for
// a VVSC, even an empty one, on a fabric with an ICAC. Checks come before
// any change, so a refused command changes nothing.
func (s *Server) setVIDVerificationStatement(req *dm.Request, in *SetVIDVerificationStatementRequest) error {
	idx := req.Subject.FabricIndex
	if idx == 0 {
		// Fabric-scoped: the IM refuses it without an accessing fabric
		// already; this guards direct callers.
		return serve.Status(dm.StatusUnsupportedAccess)
	}
	if !in.VendorID.Present && !in.VIDVerificationStatement.Present && !in.Vvsc.Present {
		return serve.Status(dm.StatusInvalidCommand)
	}
	u := fabric.VIDVerificationUpdate{
		VendorID: in.VendorID.Value, SetVendorID: in.VendorID.Present,
		Statement: in.VIDVerificationStatement.Value, SetStatement: in.VIDVerificationStatement.Present,
		VVSC: in.Vvsc.Value, SetVVSC: in.Vvsc.Present,
	}
	err := s.cfg.Fabrics.SetVIDVerification(idx, u)
	switch {
	case err == nil:
	case errors.Is(err, fabric.ErrInvalidFabricIndex):
		// The accessing fabric went away (RemoveFabric on another
		// exchange) while this command was in flight.
		return &dm.StatusError{Status: dm.StatusUnsupportedAccess, Err: err}
	default:
		return tableError(err)
	}
	s.log.Info("VID verification data set", "fabric", idx, "vendor", in.VendorID.Present,
		"statement", in.VIDVerificationStatement.Present, "vvsc", in.Vvsc.Present)
	return nil
}

// signVIDVerificationRequest is SignVIDVerificationRequest (Core
// §11.18.6.15), answered by SignVIDVerificationResponse (§11.18.6.16): the
// operational key of fabric FabricIndex, which need not be the accessing
// fabric, signs vendor_id_verification_tbs, which binds the client's
// challenge, the current session's attestation challenge, the fabric index
// and the fabric's root public key, fabric ID, vendor ID and VID
// verification statement (fabric.Table.SignVIDVerification has the
// layout). The verifier checks it with the NOC's public key (§6.4.10,
// step 10): the node proves it holds that fabric's identity.
//
// Statuses: CONSTRAINT_ERROR for a FabricIndex outside 1 to 254 or a
// ClientChallenge not 32 octets (the decoder), and for a FabricIndex with
// no entry in the Fabrics attribute; FAILURE when the session has no
// attestation challenge.
func (s *Server) signVIDVerificationRequest(req *dm.Request, in *SignVIDVerificationRequest) (*SignVIDVerificationResponse, error) {
	ch, err := challenge(req)
	if err != nil {
		return nil, err
	}
	sig, err := s.cfg.Fabrics.SignVIDVerification(in.FabricIndex, in.ClientChallenge, ch)
	switch {
	case err == nil:
	case errors.Is(err, fabric.ErrInvalidFabricIndex):
		return nil, &dm.StatusError{Status: dm.StatusConstraintError, Err: err}
	default:
		return nil, tableError(err)
	}
	return &SignVIDVerificationResponse{FabricIndex: in.FabricIndex, FabricBindingVersion: fabric.FabricBindingVersion, Signature: sig}, nil
}

// nocResult maps a fabric table failure: one with a
// NodeOperationalCertStatusEnum becomes an NOCResponse, the others an
// Interaction Model status.
func (s *Server) nocResult(err error) (*NOCResponse, error) {
	st, ok := fabric.StatusOf(err)
	if !ok {
		return nil, tableError(err)
	}
	s.log.Debug("NOC command refused", "status", st, "err", err)
	return &NOCResponse{StatusCode: NodeOperationalCertStatus(st), DebugText: field.Some(debugText(err))}, nil
}

// tableError maps a fabric table failure without an NOCResponse status:
// out of sequence or out of constraints is CONSTRAINT_ERROR, a bad root or
// a VVSC beside an ICAC INVALID_COMMAND, anything else (storage) FAILURE.
func tableError(err error) error {
	switch {
	case errors.Is(err, fabric.ErrConstraint):
		return &dm.StatusError{Status: dm.StatusConstraintError, Err: err}
	case errors.Is(err, fabric.ErrInvalidRoot), errors.Is(err, fabric.ErrVVSCWithICAC):
		return &dm.StatusError{Status: dm.StatusInvalidCommand, Err: err}
	}
	return &dm.StatusError{Status: dm.StatusFailure, Err: err}
}

// maxDebugText is the DebugText limit of NOCResponse (Core §11.18.6.10.3).
const maxDebugText = 128

// debugText returns err's message cut to maxDebugText octets of UTF-8.
func debugText(err error) string {
	s := err.Error()
	if len(s) <= maxDebugText {
		return s
	}
	s = s[:maxDebugText]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}
