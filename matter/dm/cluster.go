package dm

import (
	"context"

	"github.com/mattercam/mattercam/matter/tlv"
)

// AuthMode is how the accessing subject authenticated (Core §6.6.2.1).
type AuthMode uint8

const (
	AuthPASE  AuthMode = 1
	AuthCASE  AuthMode = 2
	AuthGroup AuthMode = 3
)

// Subject is who is asking: the identity the session established.
type Subject struct {
	AuthMode AuthMode
	// FabricIndex is the accessing fabric; 0 on a PASE session before
	// AddNOC has associated one.
	FabricIndex uint8
	// NodeID is the peer's operational node ID (CASE), the group ID
	// (group) or the passcode ID 0 (PASE).
	NodeID uint64
	// CATs are the peer's CASE Authenticated Tags (up to 3; 0 = unused).
	CATs [3]uint32
}

// Request is what every handler receives (DESIGN.md §3 "identity
// everywhere").
type Request struct {
	Ctx     context.Context
	Subject Subject
	// Timed is set when the action arrived inside a timed interaction.
	Timed bool
	// LargeMessage is set when the session's transport carries large
	// messages (TCP); commands with QualityLargeMessage need it.
	LargeMessage bool
	// FabricFiltered is set for fabric-filtered reads: fabric-scoped
	// lists return only the accessing fabric's entries.
	FabricFiltered bool
	// Endpoint the request addresses.
	Endpoint uint16
	// AttestationChallenge is the attestation challenge of the secure
	// session the request arrived on (Core §4.14.1.3 for PASE, §4.14.2.4
	// for CASE): AttestationRequest and CSRRequest sign over it
	// (Core §11.18.4.7, §11.18.4.9). Zero when there is none.
	AttestationChallenge [16]byte
	// Session is the secure session the request arrived on, for the
	// handlers that act on it: AddNOC binds a PASE session to the fabric
	// it adds (Core §11.18.6.8). *session.Secure implements it. Nil when
	// there is none (tests, group messages).
	Session interface {
		SetFabricIndex(fabric uint8) error
	}
}

// CommandResponse is filled by Invoke for commands that answer with a
// response command rather than a status.
type CommandResponse struct {
	ID uint32
	// Fields is the response's fields structure, TLV-encoded with an
	// anonymous tag; the engine re-tags it as CommandFields.
	Fields []byte
}

// Cluster is a server cluster instance on one endpoint. Handlers never see
// a request the subject may not make: the IM engine checks access (Core
// §9.6) and the action's shape against Meta first. Errors that are not
// *StatusError become FAILURE.
type Cluster interface {
	Meta() *ClusterMeta
	FeatureMap() uint32
	// DataVersion changes whenever any attribute value changes
	// (Core §7.10.3); see Versioned for a ready implementation.
	DataVersion() uint32
	// ReadAttribute writes the attribute's value with the given tag.
	ReadAttribute(req *Request, attr uint32, w *tlv.Writer, tag tlv.Tag) error
	// WriteAttribute decodes the value at r's current element and stores
	// it. List writes arrive as the whole list (replace) or, for list
	// item appends, with item true and r on one list entry (Core §8.7.3).
	WriteAttribute(req *Request, attr uint32, r *tlv.Reader, item bool) error
	// Invoke runs a command whose fields structure is at r's current
	// element (nil when the request carried no fields). For commands
	// that answer with a response command it fills resp.
	Invoke(req *Request, cmd uint32, r *tlv.Reader, resp *CommandResponse) error
}

// DeviceType is one entry of a Descriptor's DeviceTypeList.
type DeviceType struct {
	Type     uint32
	Revision uint16
}
