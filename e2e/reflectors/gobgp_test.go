//go:build e2e

package reflectors

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"

	"github.com/nodebgp/router/e2e/e2eutil"
	"github.com/nodebgp/router/e2e/lab"
)

// bgpNeighbor is one neighbor of a node's GoBGP, as `gobgp -j neighbor`
// shows it inside the node's namespace.
type bgpNeighbor struct {
	Addr        netip.Addr
	Established bool
	// RRClient: the node reflects routes to this neighbor.
	RRClient  bool
	ClusterID string
}

// sessionEstablished is GoBGP's PeerState.SessionState ESTABLISHED; the CLI
// marshals the protobuf struct with encoding/json, so states are numbers.
const sessionEstablished = 6

// bgpNeighbors reads node's neighbors through its own gobgp API.
func bgpNeighbors(ctx context.Context, l *lab.Lab, node *lab.Node) ([]bgpNeighbor, error) {
	out, err := e2eutil.Output(ctx, "ip", "netns", "exec", node.Netns, l.Tools.Gobgp, "-j", "neighbor")
	if err != nil {
		return nil, fmt.Errorf("%s: reading BGP neighbors: %w", node.Name, err)
	}
	var peers []struct {
		Conf struct {
			NeighborAddress string `json:"neighbor_address"`
		} `json:"conf"`
		State struct {
			SessionState int `json:"session_state"`
		} `json:"state"`
		RouteReflector struct {
			Client    bool   `json:"route_reflector_client"`
			ClusterID string `json:"route_reflector_cluster_id"`
		} `json:"route_reflector"`
	}
	if err := json.Unmarshal(bytes.TrimSpace([]byte(out)), &peers); err != nil {
		return nil, fmt.Errorf("%s: reading gobgp -j neighbor: %w: %s", node.Name, err, out)
	}
	nbs := make([]bgpNeighbor, 0, len(peers))
	for _, p := range peers {
		a, err := netip.ParseAddr(p.Conf.NeighborAddress)
		if err != nil {
			return nil, fmt.Errorf("%s: gobgp -j neighbor: address %q: %w", node.Name, p.Conf.NeighborAddress, err)
		}
		nbs = append(nbs, bgpNeighbor{
			Addr:        a,
			Established: p.State.SessionState == sessionEstablished,
			RRClient:    p.RouteReflector.Client,
			ClusterID:   p.RouteReflector.ClusterID,
		})
	}
	return nbs, nil
}

// attrOriginatorID and attrClusterList are the type codes of ORIGINATOR_ID
// and CLUSTER_LIST (RFC 4456), which a reflector adds to what it reflects.
const (
	attrOriginatorID = 9
	attrClusterList  = 10
)

// ribPath is one path of a prefix in a node's GoBGP RIB: the neighbor it
// came from and the cluster list it carries.
type ribPath struct {
	Neighbor    string
	Originator  string
	ClusterList []string
}

// ribPaths reads the paths to prefix in node's RIB with
// `gobgp -j global rib <prefix>`: {"<prefix>":[{"attrs":[{"type":10,
// "value":["10.0.0.1"]},...],"neighbor-ip":"10.199.1.11",...}]}.
func ribPaths(ctx context.Context, l *lab.Lab, node *lab.Node, prefix netip.Prefix) ([]ribPath, error) {
	out, err := e2eutil.Output(ctx, "ip", "netns", "exec", node.Netns, l.Tools.Gobgp, "-j", "global", "rib", prefix.String())
	if err != nil {
		return nil, fmt.Errorf("%s: reading the RIB: %w", node.Name, err)
	}
	var rib map[string][]struct {
		Neighbor string `json:"neighbor-ip"`
		Attrs    []struct {
			Type  int             `json:"type"`
			Value json.RawMessage `json:"value"`
		} `json:"attrs"`
	}
	if err := json.Unmarshal(bytes.TrimSpace([]byte(out)), &rib); err != nil {
		return nil, fmt.Errorf("%s: reading gobgp -j global rib %s: %w: %s", node.Name, prefix, err, out)
	}
	var paths []ribPath
	for _, p := range rib[prefix.String()] {
		rp := ribPath{Neighbor: p.Neighbor}
		for _, a := range p.Attrs {
			var err error
			switch a.Type {
			case attrClusterList:
				err = json.Unmarshal(a.Value, &rp.ClusterList)
			case attrOriginatorID:
				err = json.Unmarshal(a.Value, &rp.Originator)
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %s: attribute %d: %w", node.Name, prefix, a.Type, err)
			}
		}
		paths = append(paths, rp)
	}
	return paths, nil
}
