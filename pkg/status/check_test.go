package status

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/nodebgp/router/pkg/bgp"
	"github.com/nodebgp/router/pkg/peering"
	"github.com/nodebgp/router/pkg/slimnode"
)

func checkNode(i int, annotations ...string) *slimnode.Node {
	n := &slimnode.Node{ObjectMeta: slimnode.ObjectMeta{Name: fmt.Sprintf("n%d", i), Annotations: map[string]string{}}}
	n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: fmt.Sprintf("10.199.1.1%d", i)}}
	n.Spec.PodCIDR = fmt.Sprintf("10.244.%d.0/24", i)
	n.Spec.PodCIDRs = []string{n.Spec.PodCIDR}
	for j := 0; j+1 < len(annotations); j += 2 {
		n.Annotations[annotations[j]] = annotations[j+1]
	}
	return n
}

// reportOf is node i's status as its agent would write it, with sessions
// to the nodes numbered in peers, all established.
func reportOf(i int, role string, peers ...int) Object {
	in := Inputs{
		Node: fmt.Sprintf("n%d", i), ASN: 64512, Role: role, RoutesSynced: true, KernelRoutes: 2,
		Advertised: []bgp.Path{{Prefix: netip.MustParsePrefix(fmt.Sprintf("10.244.%d.0/24", i))}},
	}
	for _, p := range peers {
		addr := netip.MustParseAddr(fmt.Sprintf("10.199.1.1%d", p))
		in.Peers = append(in.Peers, bgp.Peer{Name: fmt.Sprintf("n%d", p), Address: addr, ASN: 64512, Kind: bgp.PeerNode})
		in.Sessions = append(in.Sessions, bgp.PeerStatus{Address: addr, State: bgp.StateEstablished})
	}
	return Build(in)
}

func TestCheck(t *testing.T) {
	mesh := []*slimnode.Node{checkNode(1), checkNode(2), checkNode(3)}
	healthyMesh := []Object{reportOf(1, "mesh", 2, 3), reportOf(2, "mesh", 1, 3), reportOf(3, "mesh", 1, 2)}
	rr := peering.AnnotationRouteReflectorCluster
	rrNodes := []*slimnode.Node{checkNode(1, rr, "10.0.0.1"), checkNode(2), checkNode(3)}
	healthyRR := []Object{reportOf(1, "reflector", 2, 3), reportOf(2, "client", 1), reportOf(3, "client", 1)}
	with := func(objs []Object, i int, f func(*Object)) []Object {
		out := make([]Object, len(objs))
		for j, o := range objs {
			out[j] = o
			out[j].Status.Sessions = append([]Session(nil), o.Status.Sessions...)
		}
		f(&out[i])
		return out
	}
	tests := []struct {
		name    string
		nodes   []*slimnode.Node
		objects []Object
		want    []string // one substring per problem, in order
	}{
		{"healthy full mesh", mesh, healthyMesh, nil},
		{"healthy route reflector design", rrNodes, healthyRR, nil},
		{"a session down", mesh, with(healthyMesh, 0, func(o *Object) {
			o.Status.Sessions[1].State, o.Status.Sessions[1].LastError = "active", "Peer Down: hold timer expired"
		}), []string{"n1: session with 10.199.1.13 (n3, node) is active: Peer Down: hold timer expired"}},
		{"a node without its object", mesh, healthyMesh[:2], []string{"n3: no BGPNodeState"}},
		{"a session missing", mesh, with(healthyMesh, 1, func(o *Object) { o.Status.Sessions = o.Status.Sessions[:1] }),
			[]string{"n2: missing sessions the design (full mesh) implies: 10.199.1.13 (n3)"}},
		{"two clients peering directly", rrNodes, with(healthyRR, 1, func(o *Object) {
			o.Status.Sessions = append(o.Status.Sessions, Session{Peer: "10.199.1.13", Name: "n3", Kind: "node", State: "established"})
		}), []string{"n2: unexpected session with 10.199.1.13 (n3): the design (route reflectors) implies none"}},
		{"pod CIDR not advertised", mesh, with(healthyMesh, 2, func(o *Object) { o.Status.AdvertisedPodCIDRs = []string{} }),
			[]string{"n3: advertises [], its pod CIDRs are [10.244.3.0/24]"}},
		{"kernel routes missing", mesh, with(healthyMesh, 0, func(o *Object) { o.Status.KernelRoutes = 1 }),
			[]string{"n1: 1 kernel routes, fewer than the other nodes' 2 pod CIDRs"}},
		{"an object without a Node", mesh[:2], healthyMesh, []string{"n1: unexpected session with 10.199.1.13 (n3)", "n2: unexpected session with 10.199.1.13 (n3)", "n3: a BGPNodeState without a valid Node"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Check(tt.nodes, tt.objects)
			var lines []string
			for _, p := range got {
				lines = append(lines, p.String())
			}
			if len(got) != len(tt.want) {
				t.Fatalf("problems:\n%s\nwant %d: %q", strings.Join(lines, "\n"), len(tt.want), tt.want)
			}
			for i, w := range tt.want {
				if !strings.Contains(lines[i], w) {
					t.Errorf("problem %d = %q, want it to contain %q", i, lines[i], w)
				}
			}
		})
	}
}
