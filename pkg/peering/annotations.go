package peering

import (
	"errors"
	"net/netip"
	"strconv"
	"strings"

	"github.com/nodebgp/router/pkg/slimnode"
)

// AnnotationPrefix starts every Node annotation nodebgp reads.
const AnnotationPrefix = "nodebgp.io/"

// The Node annotations this package reads.
const (
	AnnotationASN                   = AnnotationPrefix + "asn"
	AnnotationPeers                 = "nodebgp.io/peers"
	AnnotationRouteReflectorCluster = "nodebgp.io/route-reflector-cluster-id"
	AnnotationCommunities           = "nodebgp.io/communities"
	AnnotationLargeCommunities      = "nodebgp.io/large-communities"
	AnnotationASPathPrepend         = "nodebgp.io/as-path-prepend"
)

// maxPrepend bounds nodebgp.io/as-path-prepend: longer paths only make
// routers drop or distrust the route.
const maxPrepend = 10

// NodeConfig is a node's BGP settings from its annotations.
type NodeConfig struct {
	// ASN is the node's own AS number; 0 = the cluster ASN.
	ASN uint32
	// Peers are the node's own upstream routers.
	Peers []UpstreamPeer
	// RouteReflectorClusterID makes the node a route reflector with this
	// cluster ID (always IPv4); zero = not a reflector.
	RouteReflectorClusterID netip.Addr
	// Communities ("65000:100", "no-export") and LargeCommunities
	// ("65000:1:2") to tag the node's routes with, normalized.
	Communities, LargeCommunities []string
	// PrependCount is how many extra times to prepend the node's ASN.
	PrependCount int
}

// LocalASN is the ASN the node's speaker runs with.
func (c NodeConfig) LocalASN(clusterASN uint32) uint32 {
	if c.ASN != 0 {
		return c.ASN
	}
	return clusterASN
}

// ParseNodeConfig reads the nodebgp.io/ annotations of node. A bad value does
// not stop the others: it is left at its default in the result and reported
// as an *AnnotationError naming node, annotation and field.
func ParseNodeConfig(node *slimnode.Node) (NodeConfig, []error) {
	if node == nil {
		return NodeConfig{}, []error{errors.New("nil node")}
	}
	var cfg NodeConfig
	var problems []error
	report := func(annotation string, errs fieldErrors) {
		for _, e := range errs {
			problems = append(problems, &AnnotationError{Node: node.Name, Annotation: annotation, Field: e.field, Err: e.err})
		}
	}
	ann := node.Annotations

	if s, ok := ann[AnnotationASN]; ok {
		if asn, valid := parseASN(strings.TrimSpace(s)); valid {
			cfg.ASN = asn
		} else {
			report(AnnotationASN, one("%q is not a valid ASN", s))
		}
	}
	peers, errs := parsePeers(ann[AnnotationPeers])
	cfg.Peers = peers
	report(AnnotationPeers, errs)
	if s, ok := ann[AnnotationRouteReflectorCluster]; ok {
		id, errs := parseClusterID(s)
		cfg.RouteReflectorClusterID = id
		report(AnnotationRouteReflectorCluster, errs)
	}
	cfg.Communities, errs = parseList(ann[AnnotationCommunities], normalizeCommunity,
		"is not a community (asn:value, each 0..65535, or no-export, no-advertise)")
	report(AnnotationCommunities, errs)
	cfg.LargeCommunities, errs = parseList(ann[AnnotationLargeCommunities], normalizeLargeCommunity,
		"is not a large community (a:b:c, each 0..4294967295)")
	report(AnnotationLargeCommunities, errs)
	if s, ok := ann[AnnotationASPathPrepend]; ok {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 0 || n > maxPrepend {
			report(AnnotationASPathPrepend, one("%q is not a count 0..10", s))
		} else {
			cfg.PrependCount = n
		}
	}
	return cfg, problems
}

// one is a single problem about a whole annotation value.
func one(format string, args ...any) fieldErrors {
	var fe fieldErrors
	fe.add("", format, args...)
	return fe
}

// parseClusterID reads a route reflector cluster ID: an IPv4 address, or a
// 32-bit number rendered as one. 0.0.0.0 is refused: GoBGP would read it as
// "unset" and use the router ID instead.
func parseClusterID(s string) (netip.Addr, fieldErrors) {
	s = strings.TrimSpace(s)
	id, err := netip.ParseAddr(s)
	if err != nil {
		v, nerr := strconv.ParseUint(s, 10, 32)
		if nerr != nil {
			return netip.Addr{}, one("%q is not a cluster ID (an IPv4 address or a 32-bit number)", s)
		}
		id = netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	}
	if !id.Is4() || id.IsUnspecified() {
		return netip.Addr{}, one("%q is not a cluster ID (an IPv4 address or a 32-bit number, not 0)", s)
	}
	return id, nil
}
