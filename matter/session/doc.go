// Package session keeps the session contexts of a Matter node: the
// Unsecured Session contexts used while PASE and CASE run, and the secure
// unicast sessions they establish. It sits between the message layer
// (package message), whose keys, counters and reception states it owns,
// and the exchange layer (package transport), which looks sessions up by
// the Session ID of each received message and seals each outgoing message
// with [Secure.Seal].
//
// Section numbers refer to the Matter Core Specification, version 1.3:
//
//   - §4.6    Message Counters: each secure session has its own send
//     counter and reception state; the Unsecured Session uses the node's
//     global unencrypted counter.
//   - §4.7    Message Processing: [Secure.Seal] and [Secure.Open] perform
//     the send and receive steps, including SessionTimestamp and
//     ActiveTimestamp.
//   - §4.11.1 Session Establishment Out of Resources: [Table] evicts the
//     least recently used session to make room for a new one.
//   - §4.12.8 Session parameters: [Params].
//   - §4.13   Unicast communication: the secure and unsecured session
//     contexts, [Secure] and [Unsecured], and local Session ID allocation.
//   - §4.14.2.8 Minimal number of CASE sessions: the table keeps at least
//     [MinCASESessionsPerFabric] sessions per fabric.
//
// A message that arrives for a Session ID a handshake has reserved but not
// yet installed (the peer, done with its side of PASE or CASE, already uses
// the session) is held and handed back to the exchange layer once the
// session exists ([Table.Open], transport.HoldingSessionTable), so that a
// request sent over TCP right after the handshake is not lost.
//
// Everything is bounded: the number of secure sessions, of unsecured
// contexts, of Session IDs reserved by handshakes in progress and of the
// messages held for them. Time comes from an injectable clock, so tests can
// run under testing/synctest.
package session
