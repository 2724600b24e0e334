// Package dnssd advertises a Matter node with DNS-based service discovery
// (Matter Core Specification §4.3; RFC 6763 over multicast DNS, RFC 6762).
//
// Two services matter to a device:
//
//   - "_matterc._udp" while commissionable (Core §4.3.1): a random 64-bit
//     instance name, subtypes _S<short discriminator>, _L<long
//     discriminator>, _V<vendor>, _T<device type> and _CM, and TXT keys
//     D, VP, CM, DT, DN, RI, PH, PI. See [Commissionable].
//   - "_matter._tcp" once commissioned, one per fabric (Core §4.3.2):
//     instance "<CompressedFabricID>-<NodeID>", subtype _I<CompressedFabricID>.
//     See [Operational].
//
// Both carry the common keys SII, SAI, SAT, T and ICD. The host name is
// the MAC address in uppercase hex ([HostNameFromMAC]).
//
// An [Advertiser] publishes [Service] values. There are two:
//
//   - [Avahi] drives avahi-daemon over D-Bus (org.freedesktop.Avahi), one
//     entry group per service. Groups die with the D-Bus connection, so
//     the connection lives until Close; collisions are renamed through
//     GetAlternativeServiceName, and everything is registered again when
//     avahi-daemon restarts.
//   - [Responder] is an embedded mDNS responder built on miekg/dns. It
//     binds UDP 5353 with SO_REUSEADDR and SO_REUSEPORT, so it shares the
//     port with avahi-daemon or matter.js on the same host, joins
//     224.0.0.251 and ff02::fb on every multicast-capable interface, and
//     implements probing and announcing (§8), conflict renaming (§9),
//     goodbyes (§10.1), cache-flush (§10.2), known-answer and duplicate
//     answer suppression (§7.1, §7.4), QU and legacy unicast replies
//     (§5.4, §6.7), NSEC negative answers (§6.1), the one-second
//     multicast rate limit (§6) and the additional records of RFC 6763 §12.
//     It polls the interfaces and announces address changes.
//
// [New] picks Avahi when it answers on the system bus and the embedded
// responder otherwise.
//
// [Resolve] and [ResolveOperational] go the other way: a one-shot mDNS
// query for one instance's SRV, TXT and A/AAAA records, bounded in time and
// in what it keeps, so that a node can find a peer's operational address
// (Core §4.3.2, operational discovery) without a browsing daemon.
//
// The responder's protocol logic (engine) does no I/O: it turns packets,
// API calls and time into messages, so it is tested with a virtual clock.
// One goroutine owns it; one reader per socket feeds it a bounded queue.
package dnssd
