package plan

import (
	"slices"

	"github.com/nodebgp/router/pkg/peering"
)

// Role is the node's place in the cluster's BGP design, as an operator
// reads it in the node's BGPNodeState.
type Role string

const (
	// RoleMesh: every node peers with every other (no reflectors).
	RoleMesh Role = "mesh"
	// RoleReflector: this node reflects routes for the other nodes.
	RoleReflector Role = "reflector"
	// RoleClient: the cluster has reflectors and this node is their client.
	RoleClient Role = "client"
	// RoleToROnly: no node-to-node sessions; nodes peer only upstream.
	RoleToROnly Role = "tor-only"
)

// role derives the node's role the way pkg/peering picks its node peers.
func role(enableIBGP bool, id Identity, views []peering.NodeView) Role {
	switch {
	case !enableIBGP:
		return RoleToROnly
	case id.ClusterID.IsValid():
		return RoleReflector
	case slices.ContainsFunc(views, func(v peering.NodeView) bool { return v.Config.RouteReflectorClusterID.IsValid() }):
		return RoleClient
	default:
		return RoleMesh
	}
}
