package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

func TestEveryNodeHasItsOwnAddressAndPodCIDRInsideThePlan(t *testing.T) {
	tests := []struct {
		k          int
		wantIP     string
		wantCIDR   string
		reflector  bool
		wantImages int
	}{
		{k: 1, wantIP: "10.210.1.1", wantCIDR: "10.128.1.0/24", reflector: true, wantImages: 50},
		{k: 3, wantIP: "10.210.1.3", wantCIDR: "10.128.3.0/24", wantImages: 50},
		{k: 255, wantIP: "10.210.1.255", wantCIDR: "10.128.255.0/24", wantImages: 50},
		{k: 256, wantIP: "10.210.2.0", wantCIDR: "10.129.0.0/24", wantImages: 50},
		{k: 5000, wantIP: "10.210.20.136", wantCIDR: "10.147.136.0/24", wantImages: 50},
		{k: maxNodes, wantIP: "10.210.128.255", wantCIDR: "10.255.255.0/24", wantImages: 50},
	}
	for _, tt := range tests {
		if got := nodeIP(tt.k).String(); got != tt.wantIP {
			t.Errorf("nodeIP(%d) = %s, want %s", tt.k, got, tt.wantIP)
		}
		if got := podCIDR(tt.k).String(); got != tt.wantCIDR {
			t.Errorf("podCIDR(%d) = %s, want %s", tt.k, got, tt.wantCIDR)
		}
		if !nodeSubnet.Contains(nodeIP(tt.k)) || nodeIP(tt.k) == apiAddr.Addr() || !clusterCIDR.Contains(podCIDR(tt.k).Addr()) {
			t.Errorf("node %d: %s or %s outside the plan", tt.k, nodeIP(tt.k), podCIDR(tt.k))
		}
		n := kubeletNode(tt.k, time.Unix(1_700_000_000, 0))
		if n.Name != nodeName(tt.k) || n.Spec.PodCIDR != tt.wantCIDR || len(n.Status.Images) != tt.wantImages ||
			n.Status.Addresses[0].Type != corev1.NodeInternalIP || n.Status.Addresses[0].Address != tt.wantIP {
			t.Errorf("node %d: %s %s %d images %v", tt.k, n.Name, n.Spec.PodCIDR, len(n.Status.Images), n.Status.Addresses)
		}
		if _, ok := n.Annotations["nodebgp.io/route-reflector-cluster-id"]; ok != tt.reflector {
			t.Errorf("node %d: reflector annotation %v, want %v", tt.k, ok, tt.reflector)
		}
	}
	// Distinct over the whole range the benchmark allows.
	ips, cidrs := map[string]bool{}, map[string]bool{}
	for k := 1; k <= maxNodes; k++ {
		ips[nodeIP(k).String()], cidrs[podCIDR(k).String()] = true, true
	}
	if len(ips) != maxNodes || len(cidrs) != maxNodes {
		t.Fatalf("%d addresses and %d pod CIDRs for %d nodes", len(ips), len(cidrs), maxNodes)
	}
}

func TestAKubeletNodeWeighsWhatARealOneDoes(t *testing.T) {
	data, err := json.Marshal(kubeletNode(42, time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	// Real kubelet Nodes with 50 images are 10-20 KiB as JSON (without
	// the managed fields the API server adds).
	if kib := len(data) / 1024; kib < 10 || kib > 20 {
		t.Fatalf("a kubelet Node is %d KiB as JSON, want 10-20", kib)
	}
}

func TestChurnAlternatesHeartbeatsAndForeignAnnotations(t *testing.T) {
	tests := []struct {
		seq     int
		wantSub string
		want    string
	}{
		{seq: 0, wantSub: "status", want: `"type":"Ready"`},
		{seq: 1, wantSub: "", want: `"example.com/last-seen":"1"`},
		{seq: 2, wantSub: "status", want: `"lastHeartbeatTime":"2023-11-14T22:13:20Z"`},
	}
	for _, tt := range tests {
		body, sub := churnPatch(7, tt.seq, time.Unix(1_700_000_000, 0))
		if sub != tt.wantSub || !strings.Contains(string(body), tt.want) || strings.Contains(string(body), "nodebgp.io") {
			t.Errorf("churnPatch(seq %d) = %s on %q, want %q on %q and no nodebgp.io key", tt.seq, body, sub, tt.want, tt.wantSub)
		}
		if !json.Valid(body) {
			t.Errorf("churnPatch(seq %d) is not JSON: %s", tt.seq, body)
		}
	}
}

func TestParseAgents(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr string
	}{
		{in: "main=/tmp/a,branch=/tmp/b", want: []string{"main=/tmp/a", "branch=/tmp/b"}},
		{in: "main=/tmp/a, main=/tmp/b", wantErr: `name "main" twice`},
		{in: "/tmp/a", wantErr: `item "/tmp/a" is not name=path`},
		{in: "main=", wantErr: "is not name=path"},
		{in: "gc50=/tmp/a+GOGC=50+GODEBUG=gctrace=1,gc100=/tmp/a", want: []string{"gc50=/tmp/a GOGC=50 GODEBUG=gctrace=1", "gc100=/tmp/a"}},
		{in: "main=/tmp/a+GOGC", wantErr: `"GOGC" in item "main=/tmp/a+GOGC" is not KEY=VALUE`},
		{in: "main=+GOGC=50", wantErr: "is not name=path"},
	}
	for _, tt := range tests {
		got, err := parseAgents(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseAgents(%q) err = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		var s []string
		for _, a := range got {
			s = append(s, strings.Join(append([]string{a.name + "=" + a.path}, a.env...), " "))
		}
		if strings.Join(s, ",") != strings.Join(tt.want, ",") {
			t.Errorf("parseAgents(%q) = %v, want %v", tt.in, s, tt.want)
		}
	}
}

func TestMetricValueReadsAnUnlabelledMetric(t *testing.T) {
	text := "# HELP go_memstats_alloc_bytes_total x\n# TYPE go_memstats_alloc_bytes_total counter\ngo_memstats_alloc_bytes_total 1.2345e+07\nnodebgp_bgp_peers{state=\"up\"} 2\n"
	tests := []struct {
		name    string
		want    float64
		wantErr string
	}{
		{name: "go_memstats_alloc_bytes_total", want: 12345000},
		{name: "nodebgp_bgp_peers", wantErr: "not found"},
		{name: "absent", wantErr: "not found"},
	}
	for _, tt := range tests {
		got, err := metricValue(strings.NewReader(text), tt.name)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("metricValue(%s) err = %v, want %q", tt.name, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("metricValue(%s) = %v, %v; want %v", tt.name, got, err, tt.want)
		}
	}
}
