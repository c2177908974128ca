package lab

import (
	"net/netip"
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

func TestDualStackNodesGetAnIPv6AddressAndPodCIDROfTheirNumber(t *testing.T) {
	for n, want := range map[int][2]string{
		1:   {"fd00:199:1::11", "fd00:10:244:1::/64"},
		12:  {"fd00:199:1::22", "fd00:10:244:c::/64"},
		200: {"fd00:199:1::210", "fd00:10:244:c8::/64"},
	} {
		if got := NodeIP6(n).String(); got != want[0] {
			t.Errorf("NodeIP6(%d) = %s, want %s", n, got, want[0])
		}
		if got := NodePodCIDR6(n); got.String() != want[1] || !ClusterCIDR6.Contains(got.Addr()) || !FabricPrefix6.Contains(NodeIP6(n)) {
			t.Errorf("NodePodCIDR6(%d) = %s, want %s inside %s (node IP inside %s)", n, got, want[1], ClusterCIDR6, FabricPrefix6)
		}
	}
}

func TestDualStackNodeObjectsListBothFamiliesIPv4First(t *testing.T) {
	l := newLab(Options{Dir: t.TempDir(), DualStack: true}, "", Tools{})
	node := l.newNode(2)

	obj := nodeObject(node)
	if want := []string{"10.244.2.0/24", "fd00:10:244:2::/64"}; !reflect.DeepEqual(obj.Spec.PodCIDRs, want) || obj.Spec.PodCIDR != want[0] {
		t.Errorf("spec podCIDR %q podCIDRs %q, want %q first of %q", obj.Spec.PodCIDR, obj.Spec.PodCIDRs, want[0], want)
	}
	var internal []string
	for _, a := range nodeStatus(node, time.Now()).Addresses {
		if a.Type == corev1.NodeInternalIP {
			internal = append(internal, a.Address)
		}
	}
	if want := []string{"10.199.1.12", "fd00:199:1::12"}; !reflect.DeepEqual(internal, want) {
		t.Errorf("InternalIPs = %q, want %q", internal, want)
	}
	if got, want := l.Agents.clusterCIDRs(), "10.244.0.0/16,fd00:10:244::/56"; got != want {
		t.Errorf("--cluster-cidr = %s, want %s", got, want)
	}
}

func TestSingleStackNodesStayIPv4Only(t *testing.T) {
	l := newLab(Options{Dir: t.TempDir()}, "", Tools{})
	node := l.newNode(2)
	if node.IP6.IsValid() || node.PodCIDR6.IsValid() {
		t.Errorf("IPv6 facts %s %s on a single-stack lab", node.IP6, node.PodCIDR6)
	}
	if got := nodeObject(node).Spec.PodCIDRs; !reflect.DeepEqual(got, []string{"10.244.2.0/24"}) {
		t.Errorf("podCIDRs = %q, want only the IPv4 one", got)
	}
	if got := l.Agents.clusterCIDRs(); got != "10.244.0.0/16" {
		t.Errorf("--cluster-cidr = %s, want 10.244.0.0/16", got)
	}
}

func TestPodIPv6ComesFromTheCNIResult(t *testing.T) {
	dual := []byte(`{"ips":[{"address":"10.244.1.2/24"},{"address":"fd00:10:244:1::2/64"}]}`)
	if got := podIP6FromResult(dual); got != netip.MustParseAddr("fd00:10:244:1::2") {
		t.Errorf("dual-stack result: IPv6 %s, want fd00:10:244:1::2", got)
	}
	if got := podIP6FromResult([]byte(`{"ips":[{"address":"10.244.1.2/24"}]}`)); got.IsValid() {
		t.Errorf("IPv4-only result: IPv6 %s, want none", got)
	}
}

func TestDualStackRacksGiveNodesAndToRsAnIPv6AddressInTheirRack(t *testing.T) {
	opts := Options{Dir: "/lab", Racks: 2, ToRs: 1, DualStack: true}
	if _, err := opts.withDefaults(); err != nil {
		t.Fatalf("dual-stack racks refused: %v", err)
	}
	l := newLab(opts, "", Tools{})
	node2 := l.newNode(2)
	if want := netip.MustParseAddr("fd00:199:2::12"); node2.IP6 != want || !RackPrefix6(2).Contains(node2.IP6) || !RacksPrefix6.Contains(node2.IP6) {
		t.Errorf("node2 in rack 2: IPv6 %s, want %s inside %s and %s", node2.IP6, want, RackPrefix6(2), RacksPrefix6)
	}
	tor := l.ToRs[0]
	want := []netip.Addr{netip.MustParseAddr("fd00:199:1::254"), netip.MustParseAddr("fd00:199:2::254")}
	if !reflect.DeepEqual(tor.Addrs6, want) {
		t.Errorf("ToR IPv6 addresses %v, want %v", tor.Addrs6, want)
	}
	if single := newToRs(Options{Dir: "/lab", Racks: 2, ToRs: 1})[0]; len(single.Addrs6) != 0 {
		t.Errorf("single-stack ToR has IPv6 addresses %v", single.Addrs6)
	}
}
