package bgp

import (
	"errors"
	"fmt"
	"hash/fnv"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// maxPrependCount bounds Policy.PrependCount: more makes a path no router
// would prefer anyway, and some drop long AS paths.
const maxPrependCount = 16

// Policy is what the cluster's operator decides about routes exchanged
// with upstream routers. Node peers are not affected: from them exactly
// their AcceptPrefixes are taken, and to them only our own prefixes go.
type Policy struct {
	// ClusterCIDRs are the cluster's pod networks. No prefix inside them
	// (of any length) is ever taken from an upstream peer: pod routes come
	// only from the nodes that own them.
	ClusterCIDRs []netip.Prefix
	// ServicePrefixes are the cluster's Service routes (host routes of
	// announced Service addresses, service CIDR aggregates): like
	// ClusterCIDRs, nothing inside them is ever taken from an upstream
	// peer, so that one node's Service route, sent back by the ToR, never
	// becomes another node's kernel route.
	ServicePrefixes []netip.Prefix
	// UpstreamPodCIDRs are other nodes' pod CIDRs, exactly, that upstream
	// peers may send: in ToR-only designs (no node-to-node sessions) that is
	// how a node learns the other racks. Only these exact prefixes, never a
	// more-specific or the cluster CIDR itself.
	UpstreamPodCIDRs []netip.Prefix
	// ReflectedPodCIDRs are other nodes' pod CIDRs, exactly, that node peers
	// with AcceptReflected (this node's route reflectors) may send. One set
	// serves every reflector: each would otherwise hold its own copy of the
	// cluster's pod CIDRs.
	ReflectedPodCIDRs []netip.Prefix
	// AcceptUpstreamRoutes takes the other routes upstream peers send (a
	// default route, say); otherwise everything from upstream is rejected.
	AcceptUpstreamRoutes bool
	// Communities ("64512:100") and LargeCommunities ("64512:1:1") are
	// added to our own prefixes sent to upstream peers.
	Communities      []string
	LargeCommunities []string
	// PrependCount prepends our ASN this many more times to the AS path of
	// our prefixes sent to upstream peers (0..16), making them less
	// preferred there.
	PrependCount int
}

// normalize validates pol and returns it in canonical form (prefixes masked,
// lists sorted and deduplicated), so that equal policies compare equal.
// Errors name the field and the entry.
func (pol Policy) normalize() (Policy, error) {
	var errs []error
	out := Policy{AcceptUpstreamRoutes: pol.AcceptUpstreamRoutes, PrependCount: pol.PrependCount}
	out.ClusterCIDRs = normalizePrefixes("ClusterCIDRs", pol.ClusterCIDRs, &errs)
	out.ServicePrefixes = normalizePrefixes("ServicePrefixes", pol.ServicePrefixes, &errs)
	out.UpstreamPodCIDRs = normalizePrefixes("UpstreamPodCIDRs", pol.UpstreamPodCIDRs, &errs)
	out.ReflectedPodCIDRs = normalizePrefixes("ReflectedPodCIDRs", pol.ReflectedPodCIDRs, &errs)
	for i, c := range pol.Communities {
		if _, err := parseCommunity(c, 2, 16); err != nil {
			errs = append(errs, fmt.Errorf("Policy.Communities[%d]: %q: %w", i, c, err))
			continue
		}
		out.Communities = append(out.Communities, c)
	}
	for i, c := range pol.LargeCommunities {
		if _, err := parseCommunity(c, 3, 32); err != nil {
			errs = append(errs, fmt.Errorf("Policy.LargeCommunities[%d]: %q: %w", i, c, err))
			continue
		}
		out.LargeCommunities = append(out.LargeCommunities, c)
	}
	if pol.PrependCount < 0 || pol.PrependCount > maxPrependCount {
		errs = append(errs, fmt.Errorf("Policy.PrependCount: %d is outside 0..%d", pol.PrependCount, maxPrependCount))
		out.PrependCount = 0
	}
	slices.Sort(out.Communities)
	out.Communities = slices.Compact(out.Communities)
	slices.Sort(out.LargeCommunities)
	out.LargeCommunities = slices.Compact(out.LargeCommunities)
	return out, errors.Join(errs...)
}

// normalizePrefixes returns the valid prefixes of Policy.field masked,
// sorted and deduplicated, and adds an error for each invalid one to errs.
func normalizePrefixes(field string, in []netip.Prefix, errs *[]error) []netip.Prefix {
	var out []netip.Prefix
	for i, p := range in {
		if !p.IsValid() {
			*errs = append(*errs, fmt.Errorf("Policy.%s[%d]: %q is not a prefix", field, i, p))
			continue
		}
		out = append(out, netip.PrefixFrom(p.Addr().Unmap(), p.Bits()).Masked())
	}
	slices.SortFunc(out, comparePrefixes)
	return slices.Compact(out)
}

// parseCommunity checks that c is parts colon-separated decimal numbers of
// bits bits each (2 x 16 for a community, 3 x 32 for a large one).
func parseCommunity(c string, parts, bits int) ([]uint64, error) {
	fields := strings.Split(c, ":")
	if len(fields) != parts {
		return nil, fmt.Errorf("want %d numbers separated by colons", parts)
	}
	out := make([]uint64, 0, parts)
	for _, f := range fields {
		n, err := strconv.ParseUint(f, 10, bits)
		if err != nil {
			return nil, fmt.Errorf("%q is not a %d-bit number", f, bits)
		}
		out = append(out, n)
	}
	return out, nil
}

// upstreamExportKey is everything that shapes what we send upstream.
func (pol Policy) upstreamExportKey() string {
	return fmt.Sprintf("c=%v l=%v p=%d", pol.Communities, pol.LargeCommunities, pol.PrependCount)
}

// upstreamExportPolicyName names the export policy to upstream peers after
// its content, so that a change is a new policy swapped in atomically
// (GoBGP cannot edit a statement's actions in place) and applying the same
// Policy again finds it already there.
func (pol Policy) upstreamExportPolicyName() string {
	h := fnv.New32a()
	h.Write([]byte(pol.upstreamExportKey()))
	return fmt.Sprintf("%s%08x", upstreamExportPrefix, h.Sum32())
}
