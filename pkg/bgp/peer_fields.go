package bgp

// peerEffect is what a change of one Peer field does to GoBGP's neighbor and
// its session. Larger is stronger: a change of several fields takes the
// strongest.
type peerEffect int

const (
	// effectNone: nothing to change in GoBGP. No field has it today; it is
	// the decision for a field that is only ours (a label, say).
	effectNone peerEffect = iota
	// effectPolicy: the field shapes our policy objects, not the
	// neighbor. Apply's policy step changes those and soft-resets the
	// peer's routes (refilter); the session stays.
	effectPolicy
	// effectAdmin: the neighbor's administrative state. Going down is
	// DisablePeer on the running neighbor; coming up re-creates it (see
	// the AdminDown entry of peerFields).
	effectAdmin
	// effectUpdate: GoBGP's UpdatePeer applies it. Whether the session
	// survives is GoBGP's decision, see peerFields.
	effectUpdate
	// effectRecreate: UpdatePeer ignores the field, so the neighbor is
	// deleted and added again (a session reset with a Hard Reset Cease).
	effectRecreate
)

func (e peerEffect) String() string {
	switch e {
	case effectNone:
		return "none"
	case effectPolicy:
		return "policy"
	case effectAdmin:
		return "admin"
	case effectUpdate:
		return "update"
	case effectRecreate:
		return "recreate"
	}
	return "unknown"
}

// peerField is one field of Peer: what a change does, and whether GoBGP's
// neighbor cur already has the value of want (both resolved, cur read back
// with peerFromAPI).
type peerField struct {
	name   string
	effect peerEffect
	same   func(cur, want Peer) bool
}

// peerFields decides, for every field of Peer, what a change of it does. A
// test fails when Peer gains a field this table does not list, so a new
// field cannot silently reset sessions (or silently never reach GoBGP).
//
// Checked against GoBGP v3.37.0, server.go updateNeighbor (3521-3645):
// UpdatePeer compares the new neighbor with the running one and, when
// NeighborConfig, Transport.Config, GracefulRestart.Config or an AFI/SAFI's
// Config/MpGracefulRestart differ (oc/util.go:224 NeedsResendOpenMessage),
// deletes and re-adds the neighbor itself: the session is reset with a Cease
// "other configuration change" (with RFC 8538 negotiated, not a Hard Reset,
// so the peer keeps our routes as stale until we are back), or "peer
// de-configured" (a Hard Reset) for a changed peer AS. Timers, prefix limits
// and eBGP multihop it changes in place on the running session. Anything
// else of the neighbor (the route-reflector settings) it ignores.
var peerFields = []peerField{
	// The key: neighbors are matched by address, so another address is
	// another neighbor (diffPeers removes one and adds the other).
	{"Address", effectRecreate, func(cur, want Peer) bool { return cur.Address == want.Address }},
	// Description, PeerAsn and AuthPassword are NeighborConfig: GoBGP
	// resets the session (a new MD5 key needs new sockets anyway).
	{"Name", effectUpdate, func(cur, want Peer) bool { return cur.Name == want.Name }},
	{"ASN", effectUpdate, func(cur, want Peer) bool { return cur.ASN == want.ASN }},
	{"Password", effectUpdate, func(cur, want Peer) bool { return cur.Password == want.Password }},
	// RemotePort, PassiveMode and LocalAddress are Transport.Config: GoBGP
	// resets the session.
	{"Port", effectUpdate, func(cur, want Peer) bool { return cur.Port == want.Port }},
	{"Passive", effectUpdate, func(cur, want Peer) bool { return cur.Passive == want.Passive }},
	// A local address left to the kernel (no listen address of the peer's
	// family) is whatever the kernel picked: any will do.
	{"LocalAddress", effectUpdate, func(cur, want Peer) bool {
		return !want.LocalAddress.IsValid() || cur.LocalAddress == want.LocalAddress
	}},
	// Timers.Config: in place (used from the next OPEN on).
	{"HoldTime", effectUpdate, func(cur, want Peer) bool { return cur.HoldTime == want.HoldTime }},
	{"KeepaliveTime", effectUpdate, func(cur, want Peer) bool { return cur.KeepaliveTime == want.KeepaliveTime }},
	{"ConnectRetry", effectUpdate, func(cur, want Peer) bool { return cur.ConnectRetry == want.ConnectRetry }},
	// EbgpMultihop.Config: in place, the TTL set on the live socket.
	{"MultihopTTL", effectUpdate, func(cur, want Peer) bool { return cur.MultihopTTL == want.MultihopTTL }},
	// AFI/SAFI PrefixLimit: in place (updatePrefixLimitConfig); a peer
	// GoBGP shut down over the limit is enabled again after the update
	// (reenableAfterPrefixLimit).
	{"MaxPrefixes", effectUpdate, func(cur, want Peer) bool { return cur.MaxPrefixes == want.MaxPrefixes }},
	// RouteReflector: updateNeighbor never looks at it, so an update would
	// be silently dropped.
	{"RouteReflectorClient", effectRecreate, func(cur, want Peer) bool {
		return cur.RouteReflectorClient == want.RouteReflectorClient
	}},
	// Kind, AcceptPrefixes and AcceptReflected decide which of our neighbor
	// and prefix sets the peer is in (desiredPolicyState); GoBGP's neighbor
	// has none of them, so cur (read back) never has them either.
	{"Kind", effectPolicy, nil},
	{"AcceptPrefixes", effectPolicy, nil},
	{"AcceptReflected", effectPolicy, nil},
	// AdminDown (BFD said the path failed): DisablePeer on an established
	// session sends a Cease Administrative Shutdown, which GoBGP turns into
	// a Hard Reset when RFC 8538 was negotiated (fsm.go:1673); GoBGP then
	// neither dials nor accepts the peer. Whether GoBGP drops the peer's
	// routes or keeps them as stale depends on a race (fsm.go:1886), so the
	// neighbor is then deleted, which drops them, and added again held down
	// (Speaker.holdDown). Lifting it with EnablePeer would
	// wait out GoBGP's idle hold first — 5 s after any drop (holdtimeIdle,
	// fsm.go:464), IdleHoldTimeAfterReset after a ResetPeer — so the
	// neighbor is deleted (nothing is sent: it is not established) and
	// added again, whose fresh FSM has no idle hold and dials within
	// GoBGP's 1-2 s first connect delay.
	{"AdminDown", effectAdmin, func(cur, want Peer) bool { return cur.AdminDown == want.AdminDown }},
	// BFD is the agent's (pkg/bfd): GoBGP has no BFD and never sees it.
	{"BFD", effectNone, nil},
}

// peerChange is the strongest effect of the fields in which GoBGP's
// neighbor cur differs from want (both resolved), and the names of those
// fields. Policy fields are not compared here: GoBGP's neighbor does not
// carry them, the policy step diffs them.
func peerChange(cur, want Peer) (peerEffect, []string) {
	effect := effectNone
	var changed []string
	for _, f := range peerFields {
		if f.same == nil || f.same(cur, want) {
			continue
		}
		effect = max(effect, f.effect)
		changed = append(changed, f.name)
	}
	return effect, changed
}
