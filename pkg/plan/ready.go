package plan

import (
	"fmt"
	"time"

	"github.com/nodebgp/router/pkg/bgp"
)

// NetworkInputs is what says whether this node can route pod traffic yet.
type NetworkInputs struct {
	// ConflistWritten: the CNI config exists already (written by this agent,
	// or by the one before a restart, whose pods still run).
	ConflistWritten bool
	// RoutesSynced: the kernel has had the learned routes once.
	RoutesSynced bool
	// Configured is the number of peers the speaker has; Peers is its view
	// of them.
	Configured int
	Peers      []bgp.PeerStatus
	// Waited is how long the speaker has run; Timeout bounds the wait for
	// sessions (0: do not wait for them).
	Waited, Timeout time.Duration
	// EverEstablished: a session of this speaker was Established once.
	EverEstablished bool
}

// NetworkReady tells whether this node may take pods, which the CNI config
// decides: the kubelet reports the node Ready, and the scheduler sends pods
// to it, once the config exists. A pod placed on a node that cannot route
// yet is unreachable from the rest of the cluster, so the config waits for
// the first kernel route sync and for every BGP session to be Established.
//
// The wait for sessions is bounded: a Node object of a node that is gone
// (powered off, not yet deleted), or a ToR that is down, must not keep a new
// node out of service forever; after Timeout the node comes up with the
// sessions it has and says which it lacks. A node without peers (a one-node
// cluster) waits for nothing. A config that exists stays: after an agent
// restart its pods run and must keep their network.
func NetworkReady(in NetworkInputs) (ready bool, why string) {
	if in.ConflistWritten {
		return true, ""
	}
	if !in.RoutesSynced {
		return false, "waiting for the first kernel route sync"
	}
	up := Established(in.Peers)
	switch {
	case up >= in.Configured:
		return true, ""
	case in.Waited >= in.Timeout:
		return true, fmt.Sprintf("%d of %d BGP sessions established after %s (--network-ready-timeout); taking pods with those", up, in.Configured, in.Timeout)
	default:
		return false, fmt.Sprintf("waiting for BGP sessions: %d of %d established, at most %s more", up, in.Configured, (in.Timeout - in.Waited).Round(time.Second))
	}
}

// SessionsLost tells when a node has lost every BGP session: it still
// forwards with the routes it has, but learns nothing and is reached through
// nothing new. Nil while at least one session is up or no peer is
// configured, and while a starting speaker's sessions are still coming up
// (none was up yet and the wait has not run out): an agent restart is not
// an outage.
func SessionsLost(in NetworkInputs) error {
	if in.Configured == 0 || Established(in.Peers) > 0 {
		return nil
	}
	if !in.EverEstablished && in.Waited < in.Timeout {
		return nil
	}
	return fmt.Errorf("none of %d BGP sessions is established: this node keeps its kernel routes but learns no change", in.Configured)
}

// Established counts the sessions that are up.
func Established(peers []bgp.PeerStatus) int {
	n := 0
	for _, p := range peers {
		if p.State == bgp.StateEstablished {
			n++
		}
	}
	return n
}
