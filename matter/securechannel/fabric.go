package securechannel

import (
	"crypto/ecdsa"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/mattercam/mattercam/matter/crypto"
	"github.com/mattercam/mattercam/matter/session"
)

// Fabric is this node's operational identity on one fabric, as CASE needs
// it. The fabric table (another package) builds it from what AddNOC stored.
type Fabric struct {
	// Index is the local fabric index, 1 to 254.
	Index uint8
	// FabricID and NodeID are this node's fabric and node ID, as in its
	// NOC.
	FabricID uint64
	NodeID   uint64
	// RootPublicKey is the 65-octet public key of the fabric's root CA.
	RootPublicKey []byte
	// RCAC, ICAC and NOC are the fabric's root certificate, the optional
	// intermediate (nil or empty if none) and this node's operational
	// certificate, in Matter TLV form. The peer's chain is validated under
	// RCAC.
	RCAC, ICAC, NOC []byte
	// Key is the operational private key, the subject key of NOC.
	Key *ecdsa.PrivateKey
	// IPK is the operational Identity Protection Key: the operational
	// group key of the fabric's IPK epoch key (crypto.DeriveOperationalGroupKey),
	// 16 octets.
	IPK []byte
}

// Validate checks that f has everything CASE uses.
func (f *Fabric) Validate() error {
	switch {
	case f.Index == 0 || f.Index == 255:
		return fmt.Errorf("securechannel: fabric index %d outside [1, 254]", f.Index)
	case len(f.RootPublicKey) != crypto.PointSize:
		return fmt.Errorf("securechannel: fabric %d: root public key is %d octets", f.Index, len(f.RootPublicKey))
	case len(f.IPK) != crypto.SymmetricKeySize:
		return fmt.Errorf("securechannel: fabric %d: IPK is %d octets", f.Index, len(f.IPK))
	case f.Key == nil:
		return fmt.Errorf("securechannel: fabric %d: no operational key", f.Index)
	case len(f.NOC) == 0 || len(f.NOC) > MaxCertSize || len(f.ICAC) > MaxCertSize || len(f.RCAC) == 0:
		return fmt.Errorf("securechannel: fabric %d: missing or oversized certificates", f.Index)
	case f.NodeID == 0:
		return fmt.Errorf("securechannel: fabric %d: node ID 0", f.Index)
	}
	return nil
}

// Fabrics lists the fabrics a node is on. The CASE responder consults it for
// every Sigma1, so it sees fabrics added and removed in the meantime.
type Fabrics interface {
	Fabrics() []Fabric
}

// FabricList is a fixed list of fabrics.
type FabricList []Fabric

// Fabrics implements Fabrics.
func (l FabricList) Fabrics() []Fabric { return l }

// DestinationID computes Sigma1's destination identifier (§4.14.2.3,
// "Destination Identifier"):
//
//	destinationMessage = initiatorRandom ‖ rootPublicKey ‖
//	                     fabricID (8 octets LE) ‖ nodeID (8 octets LE)
//	destinationId      = Crypto_HMAC(IPK, destinationMessage)
//
// where nodeID is the node being addressed and IPK the operational IPK.
func DestinationID(ipk, initiatorRandom, rootPublicKey []byte, fabricID, nodeID uint64) ([DestinationIDSize]byte, error) {
	if len(ipk) != crypto.SymmetricKeySize || len(initiatorRandom) != RandomSize || len(rootPublicKey) != crypto.PointSize {
		return [DestinationIDSize]byte{}, errors.New("securechannel: destination ID: bad input sizes")
	}
	var msg [RandomSize + crypto.PointSize + 16]byte
	n := copy(msg[:], initiatorRandom)
	n += copy(msg[n:], rootPublicKey)
	binary.LittleEndian.PutUint64(msg[n:], fabricID)
	binary.LittleEndian.PutUint64(msg[n+8:], nodeID)
	return crypto.HMAC(ipk, msg[:]), nil
}

// PeerIdentity is what a validated operational certificate chain says about
// its subject.
type PeerIdentity struct {
	NodeID   uint64
	FabricID uint64
	CATs     session.CATs
	// PublicKey is the NOC's subject key, which signs TBSData2 or
	// TBSData3.
	PublicKey *ecdsa.PublicKey
}

// ChainVerifier validates a peer's NOC, with its optional ICAC, under the
// trusted root certificate rcac of one of this node's fabrics.
type ChainVerifier func(rcac, icac, noc []byte) (PeerIdentity, error)
