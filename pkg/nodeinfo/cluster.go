package nodeinfo

import (
	"cmp"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
)

// Cluster parses every node and returns the consistent view, sorted by name.
// Nodes that do not parse are dropped. When two nodes claim overlapping pod
// CIDRs or the same InternalIP, the node that claimed later (newer
// CreationTimestamp; on a tie, the later name) is dropped: the older node's
// routes are the ones already in use, so it keeps them. Every dropped node is
// reported as one problem; the caller logs them and carries on.
func Cluster(nodes []*corev1.Node) (infos []Info, problems []error) {
	ordered := slices.Clone(nodes)
	slices.SortStableFunc(ordered, claimOrder)

	byName := map[string]bool{}
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
		if err := conflict(n, info, infos); err != nil {
			problems = append(problems, err)
			continue
		}
		byName[info.Name] = true
		infos = append(infos, info)
	}
	slices.SortFunc(infos, func(a, b Info) int { return cmp.Compare(a.Name, b.Name) })
	return infos, problems
}

// claimOrder sorts nodes oldest first, then by name; nil nodes go last so
// they are reported without disturbing the order of real ones.
func claimOrder(a, b *corev1.Node) int {
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

// conflict reports the first pod CIDR or InternalIP of info that an already
// accepted node claims.
func conflict(n *corev1.Node, info Info, accepted []Info) error {
	for _, p := range info.PodCIDRs {
		for _, other := range accepted {
			for _, q := range other.PodCIDRs {
				// Overlaps is false across families, so only same-family
				// claims can collide.
				if p.Overlaps(q) {
					return fmt.Errorf("node %q: %s: %s overlaps %s of node %q; node skipped",
						info.Name, podCIDRField(n), p, q, other.Name)
				}
			}
		}
	}
	for _, ip := range info.InternalIPs {
		for _, other := range accepted {
			if slices.Contains(other.InternalIPs, ip) {
				return fmt.Errorf("node %q: status.addresses: InternalIP %s is also InternalIP of node %q; node skipped",
					info.Name, ip, other.Name)
			}
		}
	}
	return nil
}
