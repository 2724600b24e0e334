// Package transport carries whole Matter messages between nodes and
// implements the layers of the Matter Core Specification that sit between
// the message codec and the protocols above it:
//
//   - raw transports that move one encoded message at a time with a peer
//     address: UDP over IPv6 and IPv4 on one port, TCP with a 4-byte
//     little-endian length prefix, and an in-memory network with
//     configurable loss, delay, reordering and duplication for tests;
//   - the exchange layer (Core §4.11 "Message Exchanges"), which groups
//     messages into request/response conversations and dispatches
//     unsolicited messages to protocol handlers;
//   - the Message Reliability Protocol (Core §4.12, "MRP"), which adds
//     acknowledgements, retransmission with exponential backoff and
//     duplicate suppression on unreliable transports. MRP is not used on
//     TCP, which is itself reliable.
//
// Section numbers follow the Matter Core Specification 1.3, as in
// matter/message; Core 1.0 to 1.2 number the exchange and MRP sections one
// lower (§4.10, §4.11). Every spec constant lives in constants.go with its
// citation.
//
// Every table and queue that the network can grow is bounded: inbound
// queues, TCP connections, message sizes, exchanges per session and in
// total, and the backlog of requests waiting for a free exchange slot.
// Nothing is dropped silently on TCP, where no retransmission would bring
// it back: a request over every limit is answered Busy, and a message for a
// session that a handshake is still installing is held by the session
// table and redelivered (HoldingSessionTable). Every goroutine started here
// is owned by a transport or manager and stops when its Close returns.
package transport
