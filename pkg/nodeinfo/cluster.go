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

	// Every node is parsed before any is checked: the check needs the pod
	// CIDR lengths in use (see claims). Accepted nodes are then moved to the
	// front of the same list, so a pass holds one Info per node, not two.
	parsed := make([]Info, len(ordered))
	var parseErrs map[int]error
	lengths := prefixLengths{}
	for i, n := range ordered {
		info, err := FromNode(n)
		if err != nil {
			if parseErrs == nil {
				parseErrs = map[int]error{}
			}
			parseErrs[i] = err
			continue
		}
		parsed[i] = info
		lengths.addAll(info.PodCIDRs)
	}

	byName := make(map[string]struct{}, len(ordered))
	claimed := newClaims(len(ordered), lengths)
	infos = parsed[:0]
	for i, n := range ordered {
		if err, ok := parseErrs[i]; ok {
			problems = append(problems, fmt.Errorf("%w; node skipped", err))
			continue
		}
		info := parsed[i]
		if _, ok := byName[info.Name]; ok {
			problems = append(problems, fmt.Errorf("node %q: metadata.name: listed twice; node skipped", info.Name))
			continue
		}
		if err := claimed.conflict(n, info, infos); err != nil {
			problems = append(problems, err)
			continue
		}
		claimed.add(info, len(infos))
		byName[info.Name] = struct{}{}
		infos = append(infos, info)
	}
	clear(parsed[len(infos):]) // what the list holds beyond the accepted is garbage
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

// prefixLengths are the pod CIDR lengths that occur in the cluster, per
// family: usually one (every node gets a /24, or a /24 and a /64).
type prefixLengths struct{ v4, v6 []int }

func (l *prefixLengths) addAll(cidrs []netip.Prefix) {
	for _, p := range cidrs {
		of := &l.v6
		if p.Addr().Is4() {
			of = &l.v4
		}
		if !slices.Contains(*of, p.Bits()) {
			*of = append(*of, p.Bits())
		}
	}
}

func (l *prefixLengths) of(p netip.Prefix) []int {
	if p.Addr().Is4() {
		return l.v4
	}
	return l.v6
}

// claims indexes the pod CIDRs and InternalIPs of the nodes accepted so far,
// so that each node's conflicts are found without walking every other node:
// a pass over 5,000 nodes must not cost 5,000². Two prefixes overlap when
// one contains the other. An accepted prefix containing p is p cut to one of
// the lengths in use; an accepted prefix inside p is found in within, which
// holds every accepted prefix cut to each shorter length in use: nothing at
// all in a cluster whose pod CIDRs are all one length per family.
//
// The keys and values hold no pointers and refer to accepted nodes by their
// place in the accepted list: the index is built on every full node pass,
// and at 5,000 nodes it was the largest thing a pass held.
type claims struct {
	lengths       prefixLengths
	ips           map[[16]byte]int32 // InternalIP (IPv4 as IPv4-mapped) -> accepted node
	cidrs, within map[prefixKey]claim
}

// prefixKey is a netip.Prefix without the pointer netip.Addr carries to
// mark its family and zone: is4 keeps the family, and pod CIDRs have no
// zone.
type prefixKey struct {
	addr [16]byte
	bits uint8
	is4  bool
}

func keyOf(p netip.Prefix) prefixKey {
	return prefixKey{addr: p.Addr().As16(), bits: uint8(p.Bits()), is4: p.Addr().Is4()}
}

// claim is an accepted node's pod CIDR: the node's place in the accepted
// list and the CIDR's in its PodCIDRs.
type claim struct {
	node int32
	cidr int32
}

func newClaims(nodes int, lengths prefixLengths) *claims {
	return &claims{
		lengths: lengths,
		ips:     make(map[[16]byte]int32, nodes),
		cidrs:   make(map[prefixKey]claim, nodes),
		within:  map[prefixKey]claim{},
	}
}

// add indexes the claims of info, accepted as accepted[at].
func (c *claims) add(info Info, at int) {
	for _, ip := range info.InternalIPs {
		c.ips[ip.As16()] = int32(at)
	}
	for i, p := range info.PodCIDRs {
		cl := claim{node: int32(at), cidr: int32(i)}
		c.cidrs[keyOf(p)] = cl
		for _, bits := range c.lengths.of(p) {
			if bits >= p.Bits() {
				continue
			}
			super, _ := p.Addr().Prefix(bits)
			if _, ok := c.within[keyOf(super)]; !ok {
				c.within[keyOf(super)] = cl
			}
		}
	}
}

// conflict reports a pod CIDR or InternalIP of info that a node of accepted
// claims.
func (c *claims) conflict(n *slimnode.Node, info Info, accepted []Info) error {
	for _, p := range info.PodCIDRs {
		other, ok := c.within[keyOf(p)]
		if !ok {
			other, ok = c.cidrs[keyOf(p)]
		}
		for _, bits := range c.lengths.of(p) {
			if ok {
				break
			}
			if bits < p.Bits() {
				super, _ := p.Addr().Prefix(bits)
				other, ok = c.cidrs[keyOf(super)]
			}
		}
		if ok {
			owner := accepted[other.node]
			return fmt.Errorf("node %q: %s: %s overlaps %s of node %q; node skipped",
				info.Name, podCIDRField(n), p, owner.PodCIDRs[other.cidr], owner.Name)
		}
	}
	for _, ip := range info.InternalIPs {
		if other, ok := c.ips[ip.As16()]; ok {
			return fmt.Errorf("node %q: status.addresses: InternalIP %s is also InternalIP of node %q; node skipped",
				info.Name, ip, accepted[other].Name)
		}
	}
	return nil
}
