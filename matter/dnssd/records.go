package dnssd

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"

	"github.com/miekg/dns"
)

// TTLs (RFC 6762 §10): 120 s for records that carry the host name as owner
// or in their rdata (A, AAAA, SRV), 75 minutes for everything else.
const (
	hostTTL   = 120
	otherTTL  = 4500
	legacyTTL = 10 // RFC 6762 §6.7: legacy unicast answers carry at most 10 s
)

// The top bit of the class field: the cache-flush bit in resource records
// (RFC 6762 §10.2) and the unicast-response bit in questions (§5.4).
const (
	classCacheFlush = 1 << 15
	qclassUnicast   = 1 << 15
)

// record is one of our resource records. Records are kept with class IN;
// the cache-flush bit is applied when a message is built.
type record struct {
	rr     dns.RR
	unique bool   // a record set this host owns exclusively (RFC 6762 §2)
	owner  Handle // 0 for the host's address records
}

func (r record) name() string  { return r.rr.Header().Name }
func (r record) rtype() uint16 { return r.rr.Header().Rrtype }
func (r record) ttl() uint32   { return r.rr.Header().Ttl }

func hdr(name string, t uint16, ttl uint32) dns.RR_Header {
	return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: ttl}
}

// serviceRecords builds the records of one service (RFC 6763 §4, §7.1, §9):
// the type PTR, one PTR per subtype, the enumeration PTR, SRV, TXT and an
// NSEC naming the types the instance has (RFC 6762 §6.1).
func serviceRecords(h Handle, n names, s Service, host string) ([]record, error) {
	txt, err := txtRR(n.instance, otherTTL, s.TXT)
	if err != nil {
		return nil, err
	}
	recs := make([]record, 0, 5+len(n.subtypes))
	recs = append(recs, record{rr: &dns.PTR{Hdr: hdr(n.typ, dns.TypePTR, otherTTL), Ptr: n.instance}, owner: h})
	for _, sub := range n.subtypes {
		recs = append(recs, record{rr: &dns.PTR{Hdr: hdr(sub, dns.TypePTR, otherTTL), Ptr: n.instance}, owner: h})
	}
	recs = append(recs,
		record{rr: &dns.PTR{Hdr: hdr(enumName, dns.TypePTR, otherTTL), Ptr: n.typ}, owner: h},
		record{rr: &dns.SRV{Hdr: hdr(n.instance, dns.TypeSRV, hostTTL), Port: s.Port, Target: host}, unique: true, owner: h},
		record{rr: txt, unique: true, owner: h},
		record{rr: nsecRR(n.instance, hostTTL, dns.TypeTXT, dns.TypeSRV), unique: true, owner: h},
	)
	return recs, nil
}

// hostRecords builds the address records valid on one link (RFC 6762 §6.2)
// and the NSEC that says which address families exist.
func hostRecords(host string, addrs []netip.Addr) []record {
	recs := make([]record, 0, len(addrs)+1)
	var types []uint16
	for _, a := range addrs {
		if a.Is4() {
			recs = append(recs, record{rr: &dns.A{Hdr: hdr(host, dns.TypeA, hostTTL), A: a.AsSlice()}, unique: true})
			types = appendOnce(types, dns.TypeA)
		} else {
			recs = append(recs, record{rr: &dns.AAAA{Hdr: hdr(host, dns.TypeAAAA, hostTTL), AAAA: a.WithZone("").AsSlice()}, unique: true})
			types = appendOnce(types, dns.TypeAAAA)
		}
	}
	if len(types) > 0 {
		recs = append(recs, record{rr: nsecRR(host, hostTTL, types...), unique: true})
	}
	return recs
}

func appendOnce(s []uint16, v uint16) []uint16 {
	if slices.Contains(s, v) {
		return s
	}
	return append(s, v)
}

// nsecRR builds the restricted NSEC form of RFC 6762 §6.1: the next domain
// is the owner itself and the bitmap lists the types that exist.
func nsecRR(name string, ttl uint32, types ...uint16) dns.RR {
	bm := slices.Clone(types)
	slices.Sort(bm)
	return &dns.NSEC{Hdr: hdr(name, dns.TypeNSEC, ttl), NextDomain: name, TypeBitMap: bm}
}

// txtRR builds a TXT record from raw strings. It assembles the wire form
// and lets miekg/dns parse it, so the strings carry exactly the escapes a
// TXT record received from the network would have.
func txtRR(name string, ttl uint32, entries []string) (dns.RR, error) {
	var rdata []byte
	for _, e := range entries {
		if len(e) > MaxTXTEntry {
			return nil, fmt.Errorf("%w: TXT string of %d bytes", ErrInvalidService, len(e))
		}
		rdata = append(rdata, byte(len(e)))
		rdata = append(rdata, e...)
	}
	if len(rdata) == 0 {
		rdata = []byte{0} // RFC 6763 §6.1: one empty string, never an empty rdata
	}
	if len(rdata) > 0xffff {
		return nil, fmt.Errorf("%w: TXT record too long", ErrInvalidService)
	}
	buf := make([]byte, 0, len(name)+12+len(rdata))
	buf, err := appendName(buf, name)
	if err != nil {
		return nil, err
	}
	buf = binary.BigEndian.AppendUint16(buf, dns.TypeTXT)
	buf = binary.BigEndian.AppendUint16(buf, dns.ClassINET)
	buf = binary.BigEndian.AppendUint32(buf, ttl)
	buf = binary.BigEndian.AppendUint16(buf, uint16(len(rdata)))
	buf = append(buf, rdata...)
	rr, _, err := dns.UnpackRR(buf, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: TXT record: %v", ErrInvalidService, err)
	}
	return rr, nil
}

func appendName(buf []byte, name string) ([]byte, error) {
	tmp := make([]byte, 256)
	n, err := dns.PackDomainName(name, tmp, 0, nil, false)
	if err != nil {
		return nil, fmt.Errorf("%w: name %q: %v", ErrInvalidService, name, err)
	}
	return append(buf, tmp[:n]...), nil
}

// txtStrings returns the raw strings of a TXT record, undoing miekg/dns'
// presentation escapes.
func txtStrings(rr *dns.TXT) []string {
	buf := make([]byte, dns.Len(rr)+16)
	end, err := dns.PackRR(rr, buf, 0, nil, false)
	if err != nil {
		return nil
	}
	rdata := rdataOf(buf[:end])
	var out []string
	for len(rdata) > 0 {
		l := int(rdata[0])
		if 1+l > len(rdata) {
			return out
		}
		out = append(out, string(rdata[1:1+l]))
		rdata = rdata[1+l:]
	}
	return out
}

// rdataOf returns the rdata of one uncompressed packed record.
func rdataOf(packed []byte) []byte {
	_, off, err := dns.UnpackDomainName(packed, 0)
	if err != nil || off+10 > len(packed) {
		return nil
	}
	l := int(binary.BigEndian.Uint16(packed[off+8:]))
	if off+10+l > len(packed) {
		return nil
	}
	return packed[off+10 : off+10+l]
}

// rdataBytes packs rr without compression and returns its rdata, for the
// lexicographic comparison of simultaneous probes (RFC 6762 §8.2).
func rdataBytes(rr dns.RR) []byte {
	buf := make([]byte, dns.Len(rr)+16)
	end, err := dns.PackRR(rr, buf, 0, nil, false)
	if err != nil {
		return nil
	}
	return rdataOf(buf[:end])
}

// compareProbeSets orders two sets of proposed records the way RFC 6762
// §8.2 breaks simultaneous-probe ties: sort each set by class, type and
// rdata, then compare pairwise; a longer set with an equal prefix is later.
func compareProbeSets(a, b []dns.RR) int {
	key := func(rr dns.RR) []byte {
		h := rr.Header()
		k := binary.BigEndian.AppendUint16(nil, h.Class&^classCacheFlush)
		k = binary.BigEndian.AppendUint16(k, h.Rrtype)
		return append(k, rdataBytes(rr)...)
	}
	ka := make([][]byte, len(a))
	for i, rr := range a {
		ka[i] = key(rr)
	}
	kb := make([][]byte, len(b))
	for i, rr := range b {
		kb[i] = key(rr)
	}
	slices.SortFunc(ka, bytes.Compare)
	slices.SortFunc(kb, bytes.Compare)
	for i := 0; i < len(ka) && i < len(kb); i++ {
		if c := bytes.Compare(ka[i], kb[i]); c != 0 {
			return c
		}
	}
	switch {
	case len(ka) < len(kb):
		return -1
	case len(ka) > len(kb):
		return 1
	}
	return 0
}

// sameRR reports whether a and b are the same record ignoring TTL. Both
// must have the cache-flush bit cleared (see stripFlush).
func sameRR(a, b dns.RR) bool { return dns.IsDuplicate(a, b) }

// stripFlush clears the cache-flush bit of a received record and reports
// whether it was set.
func stripFlush(rr dns.RR) bool {
	h := rr.Header()
	f := h.Class&classCacheFlush != 0
	h.Class &^= classCacheFlush
	return f
}

// wire returns a copy of r ready for a message: TTL as given and, when
// flush is set and r is unique, the cache-flush bit (RFC 6762 §10.2).
func wire(r record, ttl uint32, flush bool) dns.RR {
	c := dns.Copy(r.rr)
	h := c.Header()
	h.Ttl = ttl
	if flush && r.unique {
		h.Class |= classCacheFlush
	}
	return c
}

// rrKey identifies a record independent of TTL, for rate limiting and
// deduplication within a message.
func rrKey(rr dns.RR) string {
	h := *rr.Header()
	h.Ttl = 0
	h.Class &^= classCacheFlush
	h.Name = dns.CanonicalName(h.Name)
	s := rr.String()
	return h.String() + s[len(rr.Header().String()):]
}
