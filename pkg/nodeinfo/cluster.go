package nodeinfo

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"

	"github.com/nodebgp/router/pkg/slimnode"
)

// Cluster parses every node and returns the consistent view, sorted by name.
// Nodes that do not parse are dropped. When two nodes claim overlapping pod
// CIDRs or the same InternalIP, the node that claimed later (newer
// CreationTimestamp; on a tie, the later name) is dropped: the older node's
// routes are the ones already in use, so it keeps them. Every dropped node is
// reported as one problem; the caller logs them and carries on.
func Cluster(nodes []*slimnode.Node) (infos []Info, problems []error) {
	ordered := slices.Clone(nodes)
	slices.SortStableFunc(ordered, claimOrder)

	byName := map[string]bool{}
	claimed := newClaims()
	for _, n := range ordered {
		info, err := FromNode(n)
		if err != nil {
			problems = append(problems, fmt.Errorf("%w; node skipped", err))
			continue
		}
		if byName[info.Name] {
			problems = append(problems, fmt.Errorf("node %q: metadata.name: listed twice; node skipped", info.Name))
			continue
		}
		if err := claimed.conflict(n, info); err != nil {
			problems = append(problems, err)
			continue
		}
		claimed.add(info)
		byName[info.Name] = true
		infos = append(infos, info)
	}
	slices.SortFunc(infos, func(a, b Info) int { return cmp.Compare(a.Name, b.Name) })
	return infos, problems
}

// claimOrder sorts nodes oldest first, then by name; nil nodes go last so
// they are reported without disturbing the order of real ones.
func claimOrder(a, b *slimnode.Node) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return 1
	case b == nil:
		return -1
	}
	if c := a.CreationTimestamp.Time.Compare(b.CreationTimestamp.Time); c != 0 {
		return c
	}
	return cmp.Compare(a.Name, b.Name)
}

// claims indexes the pod CIDRs and InternalIPs of the nodes accepted so far,
// so that each node's conflicts are found without walking every other node:
// a pass over 5,000 nodes must not cost 5,000².
type claims struct {
	ips map[netip.Addr]string // InternalIP -> node
	// cidrs are the accepted pod CIDRs; within holds, for every prefix that
	// contains one of them (itself included), one such claim.
	cidrs, within map[netip.Prefix]claim
}

type claim struct {
	node string
	cidr netip.Prefix
}

func newClaims() *claims {
	return &claims{ips: map[netip.Addr]string{}, cidrs: map[netip.Prefix]claim{}, within: map[netip.Prefix]claim{}}
}

func (c *claims) add(info Info) {
	for _, ip := range info.InternalIPs {
		c.ips[ip] = info.Name
	}
	for _, p := range info.PodCIDRs {
		c.cidrs[p] = claim{info.Name, p}
		for bits := 0; bits <= p.Bits(); bits++ {
			super, _ := p.Addr().Prefix(bits)
			if _, ok := c.within[super]; !ok {
				c.within[super] = claim{info.Name, p}
			}
		}
	}
}

// conflict reports a pod CIDR or InternalIP of info that an accepted node
// claims. Two prefixes overlap when one contains the other: an accepted
// CIDR inside (or equal to) p is in within[p], one containing p is p cut
// to a shorter length. Prefixes of different families never meet.
func (c *claims) conflict(n *slimnode.Node, info Info) error {
	for _, p := range info.PodCIDRs {
		other, ok := c.within[p]
		for bits := 0; !ok && bits < p.Bits(); bits++ {
			super, _ := p.Addr().Prefix(bits)
			other, ok = c.cidrs[super]
		}
		if ok {
			return fmt.Errorf("node %q: %s: %s overlaps %s of node %q; node skipped",
				info.Name, podCIDRField(n), p, other.cidr, other.node)
		}
	}
	for _, ip := range info.InternalIPs {
		if other, ok := c.ips[ip]; ok {
			return fmt.Errorf("node %q: status.addresses: InternalIP %s is also InternalIP of node %q; node skipped",
				info.Name, ip, other)
		}
	}
	return nil
}
