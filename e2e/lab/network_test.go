package lab

import (
	"net/netip"
	"slices"
	"testing"
)

func TestNodeAddressingFollowsTheNodeNumber(t *testing.T) {
	tests := []struct {
		n        int
		name     string
		pod      string
		ip       string
		podCIDR  string
		fabricIf string
	}{
		{1, "lab-node1", "lab-pod1", "10.199.1.11", "10.244.1.0/24", "vnode1"},
		{4, "lab-node4", "lab-pod4", "10.199.1.14", "10.244.4.0/24", "vnode4"},
		{12, "lab-node12", "lab-pod12", "10.199.1.22", "10.244.12.0/24", "vnode12"},
		{MaxNodes, "lab-node200", "lab-pod200", "10.199.1.210", "10.244.200.0/24", "vnode200"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NodeName(tt.n); got != tt.name {
				t.Errorf("NodeName(%d) = %s, want %s", tt.n, got, tt.name)
			}
			if got := PodNetns(tt.n); got != tt.pod {
				t.Errorf("PodNetns(%d) = %s, want %s", tt.n, got, tt.pod)
			}
			if got := NodeIP(tt.n); got != netip.MustParseAddr(tt.ip) {
				t.Errorf("NodeIP(%d) = %s, want %s", tt.n, got, tt.ip)
			}
			if got := NodePodCIDR(tt.n); got != netip.MustParsePrefix(tt.podCIDR) {
				t.Errorf("NodePodCIDR(%d) = %s, want %s", tt.n, got, tt.podCIDR)
			}
			if got := fabricPort(tt.n); got != tt.fabricIf {
				t.Errorf("fabricPort(%d) = %s, want %s", tt.n, got, tt.fabricIf)
			}
			if !FabricPrefix.Contains(NodeIP(tt.n)) || NodeIP(tt.n) == ControlPlaneAddr {
				t.Errorf("NodeIP(%d) = %s is not a free address of %s", tt.n, NodeIP(tt.n), FabricPrefix)
			}
			if !ClusterCIDR.Contains(NodePodCIDR(tt.n).Addr()) {
				t.Errorf("NodePodCIDR(%d) = %s is outside %s", tt.n, NodePodCIDR(tt.n), ClusterCIDR)
			}
		})
	}
}

func TestValidNodeNumberRejectsNumbersOutsideTheFabric(t *testing.T) {
	tests := []struct {
		n    int
		ok   bool
		desc string
	}{
		{0, false, "zero"},
		{-1, false, "negative"},
		{1, true, "first"},
		{MaxNodes, true, "last"},
		{MaxNodes + 1, false, "past the last"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			if err := validNodeNumber(tt.n); (err == nil) != tt.ok {
				t.Errorf("validNodeNumber(%d) = %v, want ok=%v", tt.n, err, tt.ok)
			}
		})
	}
}

func TestParseLabNetnsKeepsOnlyLabNamespacesPodsFirstFabricLast(t *testing.T) {
	tests := []struct {
		name string
		out  string
		want []string
	}{
		{"empty", "", nil},
		{"foreign namespaces are ignored", "cni-1234 (id: 0)\nmytest\n", nil},
		{
			"ordered for teardown",
			"lab-fabric (id: 0)\nlab-node1 (id: 1)\nother-lab-x\nlab-pod1 (id: 3)\nlab-tor (id: 4)\nlab-node2 (id: 2)\nlab-pod2\n",
			[]string{"lab-pod1", "lab-pod2", "lab-node1", "lab-node2", "lab-tor", "lab-fabric"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseLabNetns(tt.out); !slices.Equal(got, tt.want) {
				t.Errorf("parseLabNetns = %q, want %q", got, tt.want)
			}
		})
	}
}
