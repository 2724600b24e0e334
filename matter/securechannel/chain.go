package securechannel

import (
	"fmt"
	"time"

	"github.com/mattercam/mattercam/matter/cert"
	"github.com/mattercam/mattercam/matter/session"
)

// CertChainVerifier returns the ChainVerifier of package matter/cert: the
// certificates are decoded from Matter TLV and validated as an operational
// chain (§6.4.5) under rcac, the root this node trusts for the fabric.
//
// now gives the time validity periods are checked at: the node's notion of
// time, which may be its Last Known Good UTC Time when it has no clock it
// trusts. nil skips the check, as a node without any notion of time may
// (§6.4.5).
func CertChainVerifier(now func() time.Time) ChainVerifier {
	return func(rcac, icac, noc []byte) (PeerIdentity, error) {
		root, err := cert.DecodeTLV(rcac)
		if err != nil {
			return PeerIdentity{}, fmt.Errorf("RCAC: %w", err)
		}
		var inter *cert.Certificate
		if len(icac) > 0 {
			if inter, err = cert.DecodeTLV(icac); err != nil {
				return PeerIdentity{}, fmt.Errorf("ICAC: %w", err)
			}
		}
		leaf, err := cert.DecodeTLV(noc)
		if err != nil {
			return PeerIdentity{}, fmt.Errorf("NOC: %w", err)
		}
		var opts cert.VerifyOptions
		if now != nil {
			opts.Now = now()
		}
		id, err := cert.Verify(root, inter, leaf, opts)
		if err != nil {
			return PeerIdentity{}, err
		}
		if len(id.CATs) > session.MaxCATs {
			return PeerIdentity{}, fmt.Errorf("NOC has %d CATs", len(id.CATs))
		}
		p := PeerIdentity{NodeID: id.NodeID, FabricID: id.FabricID, PublicKey: leaf.PublicKey}
		for i, c := range id.CATs {
			p.CATs[i] = session.CAT(c)
		}
		return p, nil
	}
}
