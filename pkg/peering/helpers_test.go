package peering

import (
	"net/netip"

	"github.com/nodebgp/router/pkg/nodeinfo"
	"github.com/nodebgp/router/pkg/slimnode"
)

// annotated is a Node named name with the given annotations (key, value, …).
func annotated(name string, kv ...string) *slimnode.Node {
	n := &slimnode.Node{ObjectMeta: slimnode.ObjectMeta{Name: name, Annotations: map[string]string{}}}
	for i := 0; i+1 < len(kv); i += 2 {
		n.Annotations[kv[i]] = kv[i+1]
	}
	return n
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func prefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(ss))
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

// info is a node with InternalIP ip and pod CIDRs.
func info(name, ip string, cidrs ...string) nodeinfo.Info {
	return nodeinfo.Info{Name: name, InternalIP: addr(ip), InternalIPs: []netip.Addr{addr(ip)}, PodCIDRs: prefixes(cidrs...)}
}

// dualInfo is a dual-stack node: an IPv4 and an IPv6 InternalIP.
func dualInfo(name, ip4, ip6 string, cidrs ...string) nodeinfo.Info {
	return nodeinfo.Info{Name: name, InternalIP: addr(ip4), InternalIPs: []netip.Addr{addr(ip4), addr(ip6)}, PodCIDRs: prefixes(cidrs...)}
}

func errorStrings(errs []error) []string {
	var out []string
	for _, e := range errs {
		out = append(out, e.Error())
	}
	return out
}
