package nodeinfo

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"testing"

	"github.com/nodebgp/router/pkg/slimnode"
)

func TestCluster(t *testing.T) {
	tests := []struct {
		name         string
		nodes        []*slimnode.Node
		wantNames    []string
		wantProblems []string
	}{
		{
			name: "valid nodes are all kept, sorted by name",
			nodes: []*slimnode.Node{
				node("n3", internalIP("10.199.1.13"), podCIDRs("10.244.3.0/24")),
				node("n1", internalIP("10.199.1.11"), podCIDRs("10.244.1.0/24")),
				node("n2", internalIP("10.199.1.12")),
			},
			wantNames: []string{"n1", "n2", "n3"},
		},
		{
			name:         "no nodes gives an empty view",
			nodes:        nil,
			wantNames:    nil,
			wantProblems: nil,
		},
		{
			name: "a node that does not parse is skipped and reported",
			nodes: []*slimnode.Node{
				node("n1", internalIP("10.199.1.11"), podCIDRs("10.244.1.0/24")),
				node("n2", internalIP("10.199.1.12"), podCIDRs("10.244.2.0/24", "10.0.0.300/24")),
			},
			wantNames:    []string{"n1"},
			wantProblems: []string{`node "n2": spec.podCIDRs[1]: "10.0.0.300/24" is not a CIDR; node skipped`},
		},
		{
			name: "newer node whose CIDR lies inside an older node's CIDR is skipped",
			nodes: []*slimnode.Node{
				node("n4", createdAt(2), internalIP("10.199.1.14"), podCIDRs("10.244.2.0/24")),
				node("n2", createdAt(1), internalIP("10.199.1.12"), podCIDRs("10.244.2.0/23")),
			},
			wantNames:    []string{"n2"},
			wantProblems: []string{`node "n4": spec.podCIDRs: 10.244.2.0/24 overlaps 10.244.2.0/23 of node "n2"; node skipped`},
		},
		{
			name: "newer node whose CIDR contains an older node's CIDR is skipped",
			nodes: []*slimnode.Node{
				node("n2", createdAt(1), internalIP("10.199.1.12"), podCIDRs("10.244.2.0/24")),
				node("n4", createdAt(2), internalIP("10.199.1.14"), podCIDRs("10.244.2.0/23")),
			},
			wantNames:    []string{"n2"},
			wantProblems: []string{`node "n4": spec.podCIDRs: 10.244.2.0/23 overlaps 10.244.2.0/24 of node "n2"; node skipped`},
		},
		{
			name: "older node keeps its CIDR even when its name sorts later",
			nodes: []*slimnode.Node{
				node("a", createdAt(5), internalIP("10.199.1.11"), podCIDRs("10.244.1.0/24")),
				node("z", createdAt(1), internalIP("10.199.1.12"), podCIDRs("10.244.1.0/24")),
			},
			wantNames:    []string{"z"},
			wantProblems: []string{`node "a": spec.podCIDRs: 10.244.1.0/24 overlaps 10.244.1.0/24 of node "z"; node skipped`},
		},
		{
			name: "equal creation times fall back to name order",
			nodes: []*slimnode.Node{
				node("n3", createdAt(1), internalIP("10.199.1.13"), podCIDRs("10.244.1.0/24")),
				node("n1", createdAt(1), internalIP("10.199.1.11"), podCIDRs("10.244.1.0/24")),
			},
			wantNames:    []string{"n1"},
			wantProblems: []string{`node "n3": spec.podCIDRs: 10.244.1.0/24 overlaps 10.244.1.0/24 of node "n1"; node skipped`},
		},
		{
			name: "overlap in the IPv6 CIDR of dual-stack nodes is caught",
			nodes: []*slimnode.Node{
				node("n1", createdAt(1), internalIP("10.199.1.11"), podCIDRs("10.244.1.0/24", "fd00:244::/56")),
				node("n2", createdAt(2), internalIP("10.199.1.12"), podCIDRs("10.244.2.0/24", "fd00:244:0:1::/64")),
			},
			wantNames:    []string{"n1"},
			wantProblems: []string{`node "n2": spec.podCIDRs: fd00:244:0:1::/64 overlaps fd00:244::/56 of node "n1"; node skipped`},
		},
		{
			name: "CIDRs of different families never overlap",
			nodes: []*slimnode.Node{
				node("n1", internalIP("10.199.1.11"), podCIDRs("0.0.0.0/0")),
				node("n2", internalIP("10.199.1.12"), podCIDRs("::/0")),
			},
			wantNames: []string{"n1", "n2"},
		},
		{
			name: "overlap through the legacy field names spec.podCIDR",
			nodes: []*slimnode.Node{
				node("n1", createdAt(1), internalIP("10.199.1.11"), podCIDRs("10.244.1.0/24")),
				node("n2", createdAt(2), internalIP("10.199.1.12"), legacyPodCIDR("10.244.1.128/25")),
			},
			wantNames:    []string{"n1"},
			wantProblems: []string{`node "n2": spec.podCIDR: 10.244.1.128/25 overlaps 10.244.1.0/24 of node "n1"; node skipped`},
		},
		{
			name: "a skipped node's claims block nobody",
			nodes: []*slimnode.Node{
				node("n1", createdAt(1), internalIP("10.199.1.11"), podCIDRs("10.1.0.0/24")),
				node("n2", createdAt(2), internalIP("10.199.1.12"), podCIDRs("10.1.0.0/16")),
				node("n3", createdAt(3), internalIP("10.199.1.13"), podCIDRs("10.1.1.0/24")),
			},
			wantNames:    []string{"n1", "n3"},
			wantProblems: []string{`node "n2": spec.podCIDRs: 10.1.0.0/16 overlaps 10.1.0.0/24 of node "n1"; node skipped`},
		},
		{
			name: "newer node with a duplicate InternalIP is skipped",
			nodes: []*slimnode.Node{
				node("n1", createdAt(1), internalIP("10.199.1.11"), podCIDRs("10.244.1.0/24")),
				node("n2", createdAt(2), internalIP("fd00::12", "10.199.1.11"), podCIDRs("10.244.2.0/24")),
			},
			wantNames:    []string{"n1"},
			wantProblems: []string{`node "n2": status.addresses: InternalIP 10.199.1.11 is also InternalIP of node "n1"; node skipped`},
		},
		{
			name: "nodes without pod CIDRs never conflict over CIDRs",
			nodes: []*slimnode.Node{
				node("n1", internalIP("10.199.1.11")),
				node("n2", internalIP("10.199.1.12")),
			},
			wantNames: []string{"n1", "n2"},
		},
		{
			name: "nil node is reported, the rest are kept",
			nodes: []*slimnode.Node{
				nil,
				node("n1", internalIP("10.199.1.11")),
			},
			wantNames:    []string{"n1"},
			wantProblems: []string{"nil node; node skipped"},
		},
		{
			name: "a node listed twice is kept once",
			nodes: []*slimnode.Node{
				node("n1", internalIP("10.199.1.11"), podCIDRs("10.244.1.0/24")),
				node("n1", internalIP("10.199.1.11"), podCIDRs("10.244.1.0/24")),
			},
			wantNames:    []string{"n1"},
			wantProblems: []string{`node "n1": metadata.name: listed twice; node skipped`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			infos, problems := Cluster(tt.nodes)
			var names []string
			for _, i := range infos {
				names = append(names, i.Name)
			}
			var msgs []string
			for _, p := range problems {
				msgs = append(msgs, p.Error())
			}
			if !reflect.DeepEqual(names, tt.wantNames) {
				t.Errorf("Cluster kept %q, want %q", names, tt.wantNames)
			}
			if !reflect.DeepEqual(msgs, tt.wantProblems) {
				t.Errorf("Cluster problems =\n %q\nwant\n %q", msgs, tt.wantProblems)
			}
		})
	}
}

func TestClusterLeavesInputOrderAlone(t *testing.T) {
	nodes := []*slimnode.Node{
		node("n2", createdAt(2), internalIP("10.199.1.12")),
		node("n1", createdAt(1), internalIP("10.199.1.11")),
	}
	Cluster(nodes)
	if nodes[0].Name != "n2" || nodes[1].Name != "n1" {
		t.Errorf("Cluster reordered its input: %s, %s", nodes[0].Name, nodes[1].Name)
	}
}

// TestClusterKeepsExactlyTheNodesAPairwiseCheckKeeps compares the indexed
// conflict check with the plain one it replaced (every accepted node's
// CIDRs with netip.Prefix.Overlaps) on random clusters whose CIDRs of many
// lengths collide often, in both families.
func TestClusterKeepsExactlyTheNodesAPairwiseCheckKeeps(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	randomCIDR := func() string {
		if rng.IntN(4) == 0 {
			return fmt.Sprintf("fd00:%x::/%d", rng.IntN(4), 30+rng.IntN(6))
		}
		return fmt.Sprintf("10.%d.%d.0/%d", rng.IntN(3), rng.IntN(4)*64, 14+rng.IntN(12))
	}
	for round := range 300 {
		var nodes []*slimnode.Node
		for i := range 2 + rng.IntN(12) {
			cidrs := []string{randomCIDR()}
			if rng.IntN(3) == 0 {
				cidrs = append(cidrs, randomCIDR())
			}
			ip := fmt.Sprintf("10.199.1.%d", 1+rng.IntN(20))
			nodes = append(nodes, node(fmt.Sprintf("n%02d", i), internalIP(ip), podCIDRs(cidrs...)))
		}
		infos, _ := Cluster(nodes)
		var got []string
		for _, in := range infos {
			got = append(got, in.Name)
		}
		if want := pairwiseKept(t, nodes); !reflect.DeepEqual(got, want) {
			t.Fatalf("round %d: kept %v, the pairwise check keeps %v", round, got, want)
		}
	}
}

// pairwiseKept is the reference: in claim order, a node is kept unless a
// kept node shares an InternalIP or has an overlapping pod CIDR.
func pairwiseKept(t *testing.T, nodes []*slimnode.Node) []string {
	t.Helper()
	ordered := slices.Clone(nodes)
	slices.SortStableFunc(ordered, claimOrder)
	var kept []Info
	for _, n := range ordered {
		info, err := FromNode(n)
		if err != nil {
			continue
		}
		clash := slices.ContainsFunc(kept, func(k Info) bool {
			for _, p := range info.PodCIDRs {
				for _, q := range k.PodCIDRs {
					if p.Overlaps(q) {
						return true
					}
				}
			}
			return slices.ContainsFunc(info.InternalIPs, func(ip netip.Addr) bool { return slices.Contains(k.InternalIPs, ip) })
		})
		if !clash {
			kept = append(kept, info)
		}
	}
	var names []string
	for _, k := range kept {
		names = append(names, k.Name)
	}
	slices.Sort(names)
	return names
}
