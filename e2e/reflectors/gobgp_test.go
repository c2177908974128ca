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
