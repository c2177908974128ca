package nodeinfo

import (
	"net/netip"
	"reflect"
	"testing"

	"github.com/nodebgp/router/pkg/slimnode"
	corev1 "k8s.io/api/core/v1"
)

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, 0, len(ss))
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

func prefixes(ss ...string) []netip.Prefix {
	if len(ss) == 0 {
		return nil
	}
	out := make([]netip.Prefix, 0, len(ss))
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

func TestFromNode(t *testing.T) {
	tests := []struct {
		name string
		node *slimnode.Node
		want Info
	}{
		{
			name: "single-stack node yields its InternalIP and pod CIDR",
			node: node("n1", internalIP("10.199.1.11"), podCIDRs("10.244.1.0/24")),
			want: Info{Name: "n1", InternalIP: netip.MustParseAddr("10.199.1.11"),
				InternalIPs: addrs("10.199.1.11"), PodCIDRs: prefixes("10.244.1.0/24")},
		},
		{
			name: "IPv4 InternalIP is preferred even when IPv6 is listed first",
			node: node("n1", internalIP("fd00:199::11", "10.199.1.11"), podCIDRs("fd00:244:1::/64", "10.244.1.0/24")),
			want: Info{Name: "n1", InternalIP: netip.MustParseAddr("10.199.1.11"),
				InternalIPs: addrs("10.199.1.11", "fd00:199::11"), PodCIDRs: prefixes("fd00:244:1::/64", "10.244.1.0/24")},
		},
		{
			name: "IPv6-only node uses its IPv6 InternalIP",
			node: node("n1", internalIP("fd00:199::11"), podCIDRs("fd00:244:1::/64")),
			want: Info{Name: "n1", InternalIP: netip.MustParseAddr("fd00:199::11"),
				InternalIPs: addrs("fd00:199::11"), PodCIDRs: prefixes("fd00:244:1::/64")},
		},
		{
			name: "several IPv4 InternalIPs keep API order",
			node: node("n1", internalIP("10.199.1.11", "10.0.0.5")),
			want: Info{Name: "n1", InternalIP: netip.MustParseAddr("10.199.1.11"), InternalIPs: addrs("10.199.1.11", "10.0.0.5")},
		},
		{
			name: "ExternalIP and Hostname addresses are ignored",
			node: node("n1", addr(corev1.NodeExternalIP, "203.0.113.7"), addr(corev1.NodeHostName, "n1"), internalIP("10.199.1.11")),
			want: Info{Name: "n1", InternalIP: netip.MustParseAddr("10.199.1.11"), InternalIPs: addrs("10.199.1.11")},
		},
		{
			name: "an InternalIP listed twice is kept once",
			node: node("n1", internalIP("10.199.1.11", "10.199.1.11")),
			want: Info{Name: "n1", InternalIP: netip.MustParseAddr("10.199.1.11"), InternalIPs: addrs("10.199.1.11")},
		},
		{
			name: "IPv4-mapped IPv6 InternalIP counts as IPv4",
			node: node("n1", internalIP("fd00:199::11", "::ffff:10.199.1.11")),
			want: Info{Name: "n1", InternalIP: netip.MustParseAddr("10.199.1.11"), InternalIPs: addrs("10.199.1.11", "fd00:199::11")},
		},
		{
			name: "node without pod CIDRs yet is valid with none",
			node: node("n1", internalIP("10.199.1.11")),
			want: Info{Name: "n1", InternalIP: netip.MustParseAddr("10.199.1.11"), InternalIPs: addrs("10.199.1.11")},
		},
		{
			name: "legacy spec.podCIDR is used when spec.podCIDRs is empty",
			node: node("n1", internalIP("10.199.1.11"), legacyPodCIDR("10.244.1.0/24")),
			want: Info{Name: "n1", InternalIP: netip.MustParseAddr("10.199.1.11"), InternalIPs: addrs("10.199.1.11"), PodCIDRs: prefixes("10.244.1.0/24")},
		},
		{
			name: "spec.podCIDRs wins over spec.podCIDR",
			node: node("n1", internalIP("10.199.1.11"), legacyPodCIDR("10.9.9.0/24"), podCIDRs("10.244.1.0/24")),
			want: Info{Name: "n1", InternalIP: netip.MustParseAddr("10.199.1.11"), InternalIPs: addrs("10.199.1.11"), PodCIDRs: prefixes("10.244.1.0/24")},
		},
		{
			name: "pod CIDR with host bits set is masked",
			node: node("n1", internalIP("10.199.1.11"), podCIDRs("10.244.1.7/24", "fd00:244:1::9/64")),
			want: Info{Name: "n1", InternalIP: netip.MustParseAddr("10.199.1.11"), InternalIPs: addrs("10.199.1.11"), PodCIDRs: prefixes("10.244.1.0/24", "fd00:244:1::/64")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FromNode(tt.node)
			if err != nil {
				t.Fatalf("FromNode: unexpected error: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("FromNode =\n %+v\nwant\n %+v", got, tt.want)
			}
		})
	}
}

func TestFromNodeErrors(t *testing.T) {
	tests := []struct {
		name    string
		node    *slimnode.Node
		wantErr string
	}{
		{name: "nil node is an error, not a panic", node: nil, wantErr: "nil node"},
		{name: "node without a name is rejected", node: node("", internalIP("10.199.1.11")), wantErr: `node "": metadata.name: empty`},
		{name: "node without addresses has no InternalIP", node: node("n2"), wantErr: `node "n2": status.addresses: no InternalIP`},
		{
			name:    "node with only an ExternalIP has no InternalIP",
			node:    node("n2", addr(corev1.NodeExternalIP, "203.0.113.7")),
			wantErr: `node "n2": status.addresses: no InternalIP`,
		},
		{
			name:    "unparsable InternalIP names its index",
			node:    node("n2", addr(corev1.NodeHostName, "n2"), internalIP("10.199.1.300")),
			wantErr: `node "n2": status.addresses[1]: "10.199.1.300" is not a usable IP address`,
		},
		{
			name:    "InternalIP with an IPv6 zone is rejected",
			node:    node("n2", internalIP("fe80::1%eth0")),
			wantErr: `node "n2": status.addresses[0]: "fe80::1%eth0" is not a usable IP address`,
		},
		{
			name:    "unspecified InternalIP is rejected",
			node:    node("n2", internalIP("0.0.0.0")),
			wantErr: `node "n2": status.addresses[0]: "0.0.0.0" is not a usable IP address`,
		},
		{
			name:    "bad entry in spec.podCIDRs names its index",
			node:    node("n2", internalIP("10.199.1.12"), podCIDRs("10.244.2.0/24", "10.0.0.300/24")),
			wantErr: `node "n2": spec.podCIDRs[1]: "10.0.0.300/24" is not a CIDR`,
		},
		{
			name:    "address without a prefix length is not a CIDR",
			node:    node("n2", internalIP("10.199.1.12"), podCIDRs("10.244.2.0")),
			wantErr: `node "n2": spec.podCIDRs[0]: "10.244.2.0" is not a CIDR`,
		},
		{
			name:    "bad legacy spec.podCIDR names that field",
			node:    node("n2", internalIP("10.199.1.12"), legacyPodCIDR("bogus")),
			wantErr: `node "n2": spec.podCIDR: "bogus" is not a CIDR`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FromNode(tt.node)
			if err == nil {
				t.Fatalf("FromNode = %+v, want error %q", got, tt.wantErr)
			}
			if err.Error() != tt.wantErr {
				t.Errorf("FromNode error = %q, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestPodCIDRsIgnoresAddresses(t *testing.T) {
	// Pod CIDRs are readable before kubelet has reported any address.
	got, err := PodCIDRs(node("n1", podCIDRs("10.244.1.0/24")))
	if err != nil {
		t.Fatalf("PodCIDRs: %v", err)
	}
	if want := prefixes("10.244.1.0/24"); !reflect.DeepEqual(got, want) {
		t.Errorf("PodCIDRs = %v, want %v", got, want)
	}
	if _, err := PodCIDRs(nil); err == nil {
		t.Error("PodCIDRs(nil) returned no error")
	}
}
