// Package im implements the Matter Interaction Model (protocol ID 0x0001):
// the wire encoding of its messages and information blocks (Core chapter
// 10), a server that answers Read, Subscribe, Write, Invoke and Timed
// requests over the data model of package dm (Core chapter 8), and a
// minimal client.
//
// Section numbers follow the Matter Core Specification 1.3 and later, as in
// the other matter packages: §8.2 common actions and StatusResponse, §8.4
// Read, §8.5 Subscribe, §8.7 Write, §8.8 Invoke, §8.10 status codes, §10.6
// information blocks, §10.7 messages.
//
// # Encoding
//
// Every message and information block is a Go struct with an encoder and a
// strict, bounded decoder; the messages have AppendTo and Unmarshal. Paths
// are TLV lists, other blocks and the messages TLV structures, and every
// message carries InteractionModelRevision (tag 0xFF). Absent path fields
// are wildcards (Wildcard); ListIndex is absent, null (ListAppend) or a
// number (ListItem). Attribute values, command fields and event data stay
// encoded (a TLV element aliasing the message) until a handler reads them.
// The tags are checked against messages that matter.js 0.17.9 encodes with
// its own schemas (testdata/matterjs-im-vectors.json).
//
// # Server
//
// NewServer registers the protocol with a transport.Manager. Requests are
// served only on secure sessions (SecureSession); the subject of every
// action (auth mode, fabric, node ID, CATs) comes from the session, and
// the AccessChecker is consulted before any handler runs. For a concrete
// path the checks come in the order matter.js and the specification apply
// them: View (Operate for commands) on the cluster before existence, so
// that a subject without access learns nothing (UNSUPPORTED_ACCESS);
// then UNSUPPORTED_ENDPOINT, _CLUSTER, _ATTRIBUTE or _COMMAND; then the
// element's own privilege; then, for writes, UNSUPPORTED_WRITE,
// NEEDS_TIMED_INTERACTION, a fabric for fabric-scoped data, and the
// DataVersion (DATA_VERSION_MISMATCH); for commands the Large Message
// quality (INVALID_TRANSPORT_TYPE unless the session runs over TCP), a
// fabric for fabric-scoped commands, and the timed quality. Wildcard paths
// skip silently what the subject may not see. Malformed requests and paths
// the spec does not allow end the transaction with a StatusResponse
// (INVALID_ACTION, PATHS_EXHAUSTED, TIMED_REQUEST_MISMATCH, TIMEOUT).
//
// Reports are streamed: each message is filled up to the session's limit
// (UDP: 1232 octets less headers; TCP: the peer's MAX_TCP_MESSAGE_SIZE)
// and sent with MoreChunkedMessages, and the next is built only after the
// client's StatusResponse. A list attribute too large for one message is
// sent as a replacement holding as many leading items as fit, followed by
// one append (ListIndex null) per remaining item; the client puts it back
// together. A Read's last message carries SuppressResponse; every message
// of a subscription, keep-alives included, waits for a StatusResponse, as
// the SDK's publisher does.
//
// Subscriptions (Core §8.5) are admitted within per-fabric and total
// limits that guarantee each fabric MinSubscriptionsPerFabric; the priming
// report goes out on the request's exchange, then the SubscribeResponse
// with the chosen MaxInterval. Each subscription then has a goroutine that
// reports changed attributes (dm.Node.Observe) no sooner than MinInterval
// after its last report, urgent events likewise, and an empty report when
// MaxInterval passes. Reports go out on new exchanges the server opens on
// the subscriber's session; a report that is not acknowledged with SUCCESS
// ends the subscription, as do CancelSubscription, CancelFabric and
// CancelSession.
//
// # Client
//
// Client reads, writes (chunking large lists as replacement plus appends),
// invokes (single and batched, optionally timed) and subscribes over an
// existing session. Reports of its subscriptions arrive as unsolicited
// messages: register the Client as the protocol handler
// (ClientConfig.RegisterHandler) or, on a node that also serves, pass it
// as Config.Client.
package im
