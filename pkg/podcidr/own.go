// Package podcidr decides which pod CIDRs this node owns, and waits until the
// controller manager has allocated them.
package podcidr

import (
	"fmt"
	"net/netip"

	"github.com/nodebgp/router/pkg/nodeinfo"
	"github.com/nodebgp/router/pkg/slimnode"
)

// Own returns this node's pod CIDRs from its Node object, masked, in API
// order. A dual-stack list is accepted; more than one CIDR of a family is
// not, because the bridge gets one gateway per family. With at most one per
// family, the CIDRs cannot overlap each other. An unallocated node yields no
// CIDRs and no error.
func Own(n *slimnode.Node) ([]netip.Prefix, error) {
	cidrs, err := nodeinfo.PodCIDRs(n)
	if err != nil {
		return nil, err
	}
	for i, p := range cidrs {
		for _, q := range cidrs[:i] {
			if p.Addr().Is4() == q.Addr().Is4() {
				return nil, fmt.Errorf("node %q: spec.podCIDRs[%d]: %s is a second %s pod CIDR after %s",
					n.Name, i, p, family(p), q)
			}
		}
	}
	return cidrs, nil
}

func family(p netip.Prefix) string {
	if p.Addr().Is4() {
		return "IPv4"
	}
	return "IPv6"
}
