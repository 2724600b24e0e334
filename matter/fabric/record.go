package fabric

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/mattercam/mattercam/matter/cert"
	"github.com/mattercam/mattercam/matter/crypto"
	"github.com/mattercam/mattercam/matter/securechannel"
	"github.com/mattercam/mattercam/matter/tlv"
)

// record is one fabric: what is stored, and what is derived from it.
type record struct {
	index    uint8
	rcac     []byte // Matter TLV
	icac     []byte // Matter TLV; nil when the NOC is issued by the root
	noc      []byte // Matter TLV
	key      *ecdsa.PrivateKey
	vendorID uint16
	label    string
	ipkEpoch []byte // the IPK epoch key AddNOC delivered
	// vvs is the VID verification statement and vvsc the VID
	// verification signer certificate SetVIDVerificationStatement set
	// (§11.18.6.14); nil when absent. A fabric with an ICAC has no VVSC
	// (§11.18.4.4).
	vvs, vvsc []byte

	// Derived.
	rootPub  []byte // 65 octets
	fabricID uint64
	nodeID   uint64
	cats     []cert.CAT
	cfid     [crypto.CompressedFabricIDSize]byte
	ipk      []byte // operational IPK
}

// chain is a decoded certificate chain.
type chain struct {
	rcac, icac, noc *cert.Certificate
}

// decodeChain decodes the certificates of a chain; an empty icac means none.
func decodeChain(rcac, icac, noc []byte) (chain, error) {
	var c chain
	var err error
	if c.rcac, err = cert.DecodeTLV(rcac); err != nil {
		return c, fmt.Errorf("RCAC: %w", err)
	}
	if len(icac) > 0 {
		if c.icac, err = cert.DecodeTLV(icac); err != nil {
			return c, fmt.Errorf("ICAC: %w", err)
		}
	}
	if c.noc, err = cert.DecodeTLV(noc); err != nil {
		return c, fmt.Errorf("NOC: %w", err)
	}
	return c, nil
}

// newRecord builds a fabric from a chain that cert.Verify accepted (id is its
// result) and the rest of what AddNOC stores.
func newRecord(index uint8, rcac, icac, noc []byte, id *cert.Identity, key *ecdsa.PrivateKey,
	vendorID uint16, label string, ipkEpoch []byte) (*record, error) {
	rootPub, err := crypto.MarshalPublicKey(id.RootPublicKey)
	if err != nil {
		return nil, err
	}
	cfid, err := crypto.CompressedFabricID(rootPub, id.FabricID)
	if err != nil {
		return nil, err
	}
	ipk, err := crypto.DeriveOperationalGroupKey(ipkEpoch, cfid)
	if err != nil {
		return nil, err
	}
	if len(icac) == 0 {
		icac = nil
	}
	return &record{
		index:    index,
		rcac:     slices.Clone(rcac),
		icac:     slices.Clone(icac),
		noc:      slices.Clone(noc),
		key:      key,
		vendorID: vendorID,
		label:    label,
		ipkEpoch: slices.Clone(ipkEpoch),
		rootPub:  rootPub,
		fabricID: id.FabricID,
		nodeID:   id.NodeID,
		cats:     slices.Clone(id.CATs),
		cfid:     cfid,
		ipk:      ipk,
	}, nil
}

// sameKey reports whether the NOC's public key is key's.
func sameKey(noc *cert.Certificate, key *ecdsa.PrivateKey) bool {
	a, err1 := crypto.MarshalPublicKey(noc.PublicKey)
	b, err2 := crypto.MarshalPublicKey(&key.PublicKey)
	return err1 == nil && err2 == nil && bytes.Equal(a, b)
}

// secure returns the fabric as CASE sees it.
func (r *record) secure() securechannel.Fabric {
	return securechannel.Fabric{
		Index:         r.index,
		FabricID:      r.fabricID,
		NodeID:        r.nodeID,
		RootPublicKey: r.rootPub,
		RCAC:          r.rcac,
		ICAC:          r.icac,
		NOC:           r.noc,
		Key:           r.key,
		IPK:           r.ipk,
	}
}

// The stored form of a fabric, in Matter TLV:
//
//	{
//	  0 = format version (1),
//	  1 = fabric index,
//	  2 = RCAC, 3 = ICAC (absent if none), 4 = NOC,
//	  5 = operational private key (32-octet big-endian scalar),
//	  6 = vendor ID, 7 = label, 8 = IPK epoch key,
//	  9 = VID verification statement (absent if none),
//	  10 = VVSC (absent if none),
//	}
//
// Fields 9 and 10 came with VID verification (Core 1.4.2). They are
// optional, so a record without them is still version 1, and a reader that
// predates them skips them as unknown tags and loses nothing else.
const recordVersion = 1

// errRecord reports a stored fabric that does not decode or verify.
var errRecord = errors.New("fabric: malformed stored fabric")

func (r *record) encode() ([]byte, error) {
	key, err := r.key.Bytes()
	if err != nil {
		return nil, err
	}
	w := tlv.NewWriter(nil)
	w.StartStructure(tlv.AnonymousTag())
	w.PutUint(tlv.ContextTag(0), recordVersion)
	w.PutUint(tlv.ContextTag(1), uint64(r.index))
	w.PutBytes(tlv.ContextTag(2), r.rcac)
	if len(r.icac) > 0 {
		w.PutBytes(tlv.ContextTag(3), r.icac)
	}
	w.PutBytes(tlv.ContextTag(4), r.noc)
	w.PutBytes(tlv.ContextTag(5), key)
	w.PutUint(tlv.ContextTag(6), uint64(r.vendorID))
	w.PutString(tlv.ContextTag(7), r.label)
	w.PutBytes(tlv.ContextTag(8), r.ipkEpoch)
	if len(r.vvs) > 0 {
		w.PutBytes(tlv.ContextTag(9), r.vvs)
	}
	if len(r.vvsc) > 0 {
		w.PutBytes(tlv.ContextTag(10), r.vvsc)
	}
	w.EndContainer()
	return w.Bytes()
}

// decodeRecord parses a stored fabric and checks it as thoroughly as AddNOC
// did: chain validation (without validity periods: a stored fabric does not
// expire while the node is offline), the key matching the NOC, the sizes.
func decodeRecord(b []byte) (*record, error) {
	r := tlv.NewReader(b)
	if err := r.Next(); err != nil {
		return nil, fmt.Errorf("%w: %w", errRecord, err)
	}
	if r.Type() != tlv.TypeStructure {
		return nil, fmt.Errorf("%w: not a structure", errRecord)
	}
	if err := r.Enter(); err != nil {
		return nil, fmt.Errorf("%w: %w", errRecord, err)
	}
	var (
		version, index, vendorID uint64
		rcac, icac, noc, key     []byte
		ipkEpoch, vvs, vvsc      []byte
		label                    string
		seen                     uint16
	)
	for {
		err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errRecord, err)
		}
		tag := r.Tag()
		if tag.Kind() != tlv.TagContext || tag.Number() > 10 {
			continue
		}
		seen |= 1 << tag.Number()
		switch tag.Number() {
		case 0:
			version, err = r.Uint()
		case 1:
			index, err = r.Uint()
		case 2:
			rcac, err = r.Bytes()
		case 3:
			icac, err = r.Bytes()
		case 4:
			noc, err = r.Bytes()
		case 5:
			key, err = r.Bytes()
		case 6:
			vendorID, err = r.Uint()
		case 7:
			label, err = r.String()
		case 8:
			ipkEpoch, err = r.Bytes()
		case 9:
			vvs, err = r.Bytes()
		case 10:
			vvsc, err = r.Bytes()
		}
		if err != nil {
			return nil, fmt.Errorf("%w: field %d: %w", errRecord, tag.Number(), err)
		}
	}
	if err := r.Exit(); err != nil {
		return nil, fmt.Errorf("%w: %w", errRecord, err)
	}
	if err := r.Next(); err != io.EOF {
		return nil, fmt.Errorf("%w: trailing data", errRecord)
	}
	const required = 1<<0 | 1<<1 | 1<<2 | 1<<4 | 1<<5 | 1<<6 | 1<<7 | 1<<8
	switch {
	case seen&required != required:
		return nil, fmt.Errorf("%w: missing fields", errRecord)
	case version != recordVersion:
		return nil, fmt.Errorf("%w: version %d", errRecord, version)
	case index == 0 || index > MaxFabricIndex:
		return nil, fmt.Errorf("%w: fabric index %d", errRecord, index)
	case vendorID > 0xFFFF:
		return nil, fmt.Errorf("%w: vendor ID %d", errRecord, vendorID)
	case len(label) > MaxLabelLen:
		return nil, fmt.Errorf("%w: label of %d octets", errRecord, len(label))
	case len(ipkEpoch) != crypto.SymmetricKeySize:
		return nil, fmt.Errorf("%w: IPK epoch key of %d octets", errRecord, len(ipkEpoch))
	case seen&(1<<9) != 0 && len(vvs) != VIDVerificationStatementSize:
		return nil, fmt.Errorf("%w: VID verification statement of %d octets", errRecord, len(vvs))
	case seen&(1<<10) != 0 && (len(vvsc) == 0 || len(vvsc) > MaxVVSCLen):
		return nil, fmt.Errorf("%w: VVSC of %d octets", errRecord, len(vvsc))
	case len(vvsc) > 0 && len(icac) > 0:
		return nil, fmt.Errorf("%w: both an ICAC and a VVSC", errRecord)
	}
	priv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), key)
	if err != nil {
		return nil, fmt.Errorf("%w: operational key: %w", errRecord, err)
	}
	c, err := decodeChain(rcac, icac, noc)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errRecord, err)
	}
	id, err := cert.Verify(c.rcac, c.icac, c.noc, cert.VerifyOptions{})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errRecord, err)
	}
	if !sameKey(c.noc, priv) {
		return nil, fmt.Errorf("%w: operational key does not match the NOC", errRecord)
	}
	rec, err := newRecord(uint8(index), rcac, icac, noc, id, priv, uint16(vendorID), label, ipkEpoch)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errRecord, err)
	}
	rec.vvs, rec.vvsc = slices.Clone(vvs), slices.Clone(vvsc)
	return rec, nil
}

// The stored counter of fabric indices: { 1 = last allocated index }.
func encodeMeta(lastIndex uint8) ([]byte, error) {
	w := tlv.NewWriter(nil)
	w.StartStructure(tlv.AnonymousTag())
	w.PutUint(tlv.ContextTag(1), uint64(lastIndex))
	w.EndContainer()
	return w.Bytes()
}

func decodeMeta(b []byte) (uint8, error) {
	r := tlv.NewReader(b)
	if err := r.Next(); err != nil {
		return 0, err
	}
	if err := r.Enter(); err != nil {
		return 0, err
	}
	var last uint8
	found := false
	for {
		err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, err
		}
		if r.Tag() == tlv.ContextTag(1) {
			if last, err = r.Uint8(); err != nil {
				return 0, err
			}
			found = true
		}
	}
	if err := r.Exit(); err != nil {
		return 0, err
	}
	if !found || last > MaxFabricIndex {
		return 0, fmt.Errorf("fabric: malformed index counter")
	}
	return last, nil
}
