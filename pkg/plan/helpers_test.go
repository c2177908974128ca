package plan

import (
	"net/netip"
	"strings"

	"github.com/nodebgp/router/pkg/slimnode"
	corev1 "k8s.io/api/core/v1"
)

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func prefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(ss))
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

// node is a Node as kubelet and the controller manager leave it: InternalIPs
// and pod CIDRs, plus annotations (key, value, …).
func node(name string, ips []string, cidrs []string, kv ...string) *slimnode.Node {
	n := &slimnode.Node{ObjectMeta: slimnode.ObjectMeta{Name: name, Annotations: map[string]string{}}}
	for _, ip := range ips {
		n.Status.Addresses = append(n.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: ip})
	}
	n.Spec.PodCIDRs = cidrs
	if len(cidrs) > 0 {
		n.Spec.PodCIDR = cidrs[0]
	}
	for i := 0; i+1 < len(kv); i += 2 {
		n.Annotations[kv[i]] = kv[i+1]
	}
	return n
}

func errorsContain(errs []error, want string) bool {
	for _, e := range errs {
		if strings.Contains(e.Error(), want) {
			return true
		}
	}
	return false
}
