package nodeinfo

import (
	"testing"

	"github.com/nodebgp/router/pkg/slimnode"
)

// FuzzFromNode proves that no address or CIDR string can make FromNode or
// Cluster panic, and that whatever FromNode accepts is canonical.
func FuzzFromNode(f *testing.F) {
	f.Add("10.244.1.0/24", "fd00::/64", "", "10.199.1.11", "fd00::11")
	f.Add("10.0.0.300/24", "", "10.244.1.0/24", "::ffff:10.0.0.1", "")
	f.Add("", "", "10.244.1.7/24", "fe80::1%eth0", "0.0.0.0")
	f.Add("::ffff:10.0.0.0/104", "10.0.0.0/33", "/", "1.2.3.4/24", "::")
	f.Fuzz(func(t *testing.T, cidr0, cidr1, legacy, ip0, ip1 string) {
		n := node("fuzz", internalIP(ip0, ip1), legacyPodCIDR(legacy))
		if cidr0 != "" || cidr1 != "" {
			n.Spec.PodCIDRs = []string{cidr0, cidr1}
		}
		info, err := FromNode(n)
		if err == nil {
			checkCanonical(t, info)
		}
		other := node("other", internalIP("10.199.1.11"), podCIDRs("10.244.0.0/16", "fd00::/48"))
		infos, problems := Cluster([]*slimnode.Node{n, other, nil})
		if len(infos)+len(problems) != 3 {
			t.Fatalf("Cluster accounted for %d kept + %d problems, want 3 nodes", len(infos), len(problems))
		}
	})
}

func checkCanonical(t *testing.T, info Info) {
	t.Helper()
	if len(info.InternalIPs) == 0 || info.InternalIP != info.InternalIPs[0] {
		t.Fatalf("InternalIP %v is not the first of %v", info.InternalIP, info.InternalIPs)
	}
	seenV6 := false
	for _, ip := range info.InternalIPs {
		if !ip.IsValid() || ip.Zone() != "" || ip.Is4In6() {
			t.Fatalf("InternalIPs holds non-canonical %v", ip)
		}
		if ip.Is6() {
			seenV6 = true
		} else if seenV6 {
			t.Fatalf("InternalIPs %v lists IPv4 after IPv6", info.InternalIPs)
		}
	}
	for _, p := range info.PodCIDRs {
		if !p.IsValid() || p != p.Masked() {
			t.Fatalf("PodCIDRs holds non-canonical %v", p)
		}
	}
}
