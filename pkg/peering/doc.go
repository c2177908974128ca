// Package peering decides which BGP peers this node has: it parses the
// agent's peer flags and the nodebgp.io/ Node annotations into typed
// configuration, and derives the peer set (node mesh or route reflectors,
// plus upstream routers) from it and the cluster's nodes. It is pure logic:
// the caller lists nodes, reads Secrets and hands the result to bgp.Speaker.Apply.
package peering
