// Package bfd is single-hop Bidirectional Forwarding Detection in
// asynchronous mode (RFC 5880, RFC 5881), written for the agent's BGP
// sessions: one session per peer address, sub-second detection of a dead
// path or peer.
//
// The package has three layers:
//   - packet.go: the BFD Control packet, encoded and decoded by hand (24
//     bytes; no authentication, which nodebgp does not offer);
//   - session.go: one session's state machine (RFC 5880 §6.8) as a pure
//     value driven by received packets and an explicit clock, so that its
//     tests need no sockets and no sleeping;
//   - manager.go: the sockets (UDP 3784, TTL 255 both ways, RFC 5881) and
//     one goroutine per session that sends and times out; Manager.Set makes
//     the sessions those of the desired peers.
//
// A session tells its owner about every state change; what a change means to
// BGP (RFC 5882) is the agent's decision, not this package's.
package bfd
