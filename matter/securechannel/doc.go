// Package securechannel implements the Secure Channel protocol of Matter
// (protocol ID 0x0000): the StatusReport message, and the two session
// establishment protocols that turn the Unsecured Session into a secure
// unicast session.
//
//   - PASE, Passcode-Authenticated Session Establishment (§4.14.1): a
//     commissioner that knows the setup passcode and a device that holds the
//     passcode's SPAKE2+ verifier agree on session keys in five messages,
//     PBKDFParamRequest, PBKDFParamResponse, Pake1, Pake2 and Pake3, followed
//     by the responder's StatusReport.
//   - CASE, Certificate Authenticated Session Establishment (§4.14.2): two
//     nodes of a fabric authenticate each other with their operational
//     certificates in a SIGMA exchange, Sigma1, Sigma2 and Sigma3, followed by
//     the responder's StatusReport; or resume an earlier session with Sigma1,
//     Sigma2_Resume and the initiator's StatusReport (§4.14.2.2).
//
// Section numbers follow the Matter Core Specification 1.3, as in the other
// matter packages: §4.10 is the Secure Channel protocol (opcodes, StatusReport,
// CloseSession, Busy), §4.12.8 the session parameters, §4.14 session
// establishment. Each message type is one Go struct with AppendTo and
// Unmarshal, laid out as the spec's TLV schema; every field's tag is a named
// constant next to it.
//
// # Structure
//
// The handshakes are written in the style of crypto/tls: each side of each
// protocol is a state machine with explicit states and one method per
// received message (paseResponder, paseInitiator, caseResponder,
// caseInitiator). The state machines do no I/O and commit nothing until a
// message has been fully checked, so a rejected message leaves them as they
// were. A thin driver runs them over a transport.Exchange.
//
// [Server] registers the Secure Channel protocol with a transport.Manager and
// answers PBKDFParamRequest and Sigma1, which start a handshake on an
// Unsecured Session. The same Server starts handshakes as initiator with
// [Server.EstablishPASE] and [Server.EstablishCASE]; [Client] does the same
// for a node that does not serve (tools, tests).
//
// # Limits
//
// Everything a peer can make this package hold is bounded: the handshakes in
// progress ([Config.MaxHandshakes], over which a peer gets a Busy
// StatusReport with a minimum wait), the time one may take
// ([Config.HandshakeTimeout], 60 s by default, §5.5), the size of every field
// of every message, the failed PASE attempts of a commissioning window (20,
// §13.3, after which the window closes), and the resumption records kept
// ([ResumptionStore], least recently used first out). Decoders never panic, and
// what they allocate is bounded by their input.
package securechannel
