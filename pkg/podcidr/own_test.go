package podcidr

import (
	"net/netip"
	"reflect"
	"testing"

	"github.com/nodebgp/router/pkg/slimnode"
)

func nodeWith(name string, cidrs ...string) *slimnode.Node {
	return &slimnode.Node{ObjectMeta: slimnode.ObjectMeta{Name: name}, Spec: slimnode.NodeSpec{PodCIDRs: cidrs}}
}

func prefixes(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

func TestOwn(t *testing.T) {
	tests := []struct {
		name    string
		node    *slimnode.Node
		want    []netip.Prefix
		wantErr string
	}{
		{name: "single IPv4 CIDR is owned", node: nodeWith("n1", "10.244.1.0/24"), want: prefixes("10.244.1.0/24")},
		{name: "single IPv6 CIDR is owned", node: nodeWith("n1", "fd00:244:1::/64"), want: prefixes("fd00:244:1::/64")},
		{
			name: "dual-stack list is owned in API order",
			node: nodeWith("n1", "fd00:244:1::/64", "10.244.1.0/24"),
			want: prefixes("fd00:244:1::/64", "10.244.1.0/24"),
		},
		{name: "host bits are masked off", node: nodeWith("n1", "10.244.1.9/24"), want: prefixes("10.244.1.0/24")},
		{
			name: "legacy spec.podCIDR is owned",
			node: &slimnode.Node{ObjectMeta: slimnode.ObjectMeta{Name: "n1"}, Spec: slimnode.NodeSpec{PodCIDR: "10.244.1.0/24"}},
			want: prefixes("10.244.1.0/24"),
		},
		{name: "unallocated node owns nothing and is no error", node: nodeWith("n1"), want: nil},
		{
			name:    "two IPv4 CIDRs are rejected naming the field",
			node:    nodeWith("n1", "10.244.2.0/24", "10.244.3.0/24"),
			wantErr: `node "n1": spec.podCIDRs[1]: 10.244.3.0/24 is a second IPv4 pod CIDR after 10.244.2.0/24`,
		},
		{
			name:    "two IPv6 CIDRs around an IPv4 one are rejected",
			node:    nodeWith("n1", "fd00:1::/64", "10.244.2.0/24", "fd00:2::/64"),
			wantErr: `node "n1": spec.podCIDRs[2]: fd00:2::/64 is a second IPv6 pod CIDR after fd00:1::/64`,
		},
		{
			name:    "the same CIDR twice is rejected",
			node:    nodeWith("n1", "10.244.2.0/24", "10.244.2.0/24"),
			wantErr: `node "n1": spec.podCIDRs[1]: 10.244.2.0/24 is a second IPv4 pod CIDR after 10.244.2.0/24`,
		},
		{
			name:    "unparsable CIDR is rejected naming the field",
			node:    nodeWith("n1", "10.244.2.0/24", "10.0.0.300/24"),
			wantErr: `node "n1": spec.podCIDRs[1]: "10.0.0.300/24" is not a CIDR`,
		},
		{name: "nil node is an error", node: nil, wantErr: "nil node"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Own(tt.node)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("Own = %v, %v; want error %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Own: unexpected error: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Own = %v, want %v", got, tt.want)
			}
		})
	}
}
