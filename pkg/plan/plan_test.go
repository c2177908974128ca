package plan

import (
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/nodebgp/router/pkg/bgp"
	"github.com/nodebgp/router/pkg/nodeinfo"
	"github.com/nodebgp/router/pkg/peering"
	"github.com/nodebgp/router/pkg/routes"
	"github.com/nodebgp/router/pkg/slimnode"
)

// threeNodes is a cluster of n1 (this node), n2 and n3 on one subnet.
func threeNodes(selfAnnotations ...string) []*slimnode.Node {
	return []*slimnode.Node{
		node("n1", []string{"10.199.1.11"}, []string{"10.244.1.0/24"}, selfAnnotations...),
		node("n2", []string{"10.199.1.12"}, []string{"10.244.2.0/24"}),
		node("n3", []string{"10.199.1.13"}, []string{"10.244.3.0/24"}),
	}
}

func baseInputs() Inputs {
	return Inputs{
		Settings: Settings{
			NodeName: "n1", ClusterASN: 64512, BGPPort: 179, EnableIBGP: true,
			CNIBridge: "nodebgp0", ClusterCIDRs: prefixes("10.244.0.0/16"), Masquerade: true,
		},
		Self:     Self{IP: addr("10.199.1.11"), PodCIDRs: prefixes("10.244.1.0/24")},
		Nodes:    threeNodes(),
		Identity: Identity{ASN: 64512},
		LinkMTU:  1450,
	}
}

func peerAddrs(peers []bgp.Peer) []string {
	var out []string
	for _, p := range peers {
		out = append(out, p.Address.String())
	}
	return out
}

func TestBuildDerivesEveryPartOfThePassFromOneInput(t *testing.T) {
	p := Build(baseInputs())
	if got, want := peerAddrs(p.Peers), []string{"10.199.1.12", "10.199.1.13"}; !reflect.DeepEqual(got, want) {
		t.Errorf("peers = %v, want the other nodes %v", got, want)
	}
	if want := (Identity{ASN: 64512}); p.Identity != want {
		t.Errorf("identity = %v, want %v", p.Identity, want)
	}
	if want := []bgp.Path{{Prefix: netip.MustParsePrefix("10.244.1.0/24"), NextHop: addr("10.199.1.11")}}; !reflect.DeepEqual(p.Advertised, want) {
		t.Errorf("advertised = %v, want %v", p.Advertised, want)
	}
	if p.Conflist.MTU != 1450 || p.Bridge.MTU != 1450 {
		t.Errorf("conflist MTU %d, bridge MTU %d: both must be the link's 1450", p.Conflist.MTU, p.Bridge.MTU)
	}
	if want := prefixes("10.244.1.1/24"); !reflect.DeepEqual(p.Bridge.Gateways, want) {
		t.Errorf("bridge gateways = %v, want %v", p.Bridge.Gateways, want)
	}
	if p.Forwarding != (Forwarding{IPv4: true}) {
		t.Errorf("forwarding = %+v, want IPv4 only", p.Forwarding)
	}
	if !p.Firewall.Masquerade || !reflect.DeepEqual(p.Firewall.ClusterCIDRs, prefixes("10.244.0.0/16")) {
		t.Errorf("firewall rules = %+v, want masquerade outside 10.244.0.0/16", p.Firewall)
	}
	if len(p.Problems.Own)+len(p.Problems.Nodes) != 0 || p.Problems.OwnNode != "" || p.Problems.MTU != nil {
		t.Errorf("problems = %+v, want none", p.Problems)
	}
}

func TestBuildIsDeterministic(t *testing.T) {
	in := baseInputs()
	in.Nodes = append(in.Nodes, node("n0", []string{"10.199.1.10"}, []string{"10.244.0.0/24"}))
	first := Build(in)
	// The cache lists nodes in no fixed order.
	in.Nodes[0], in.Nodes[3] = in.Nodes[3], in.Nodes[0]
	if second := Build(in); !reflect.DeepEqual(first, second) {
		t.Fatalf("same nodes in another order planned differently:\n%+v\n%+v", first, second)
	}
}

func TestMTU(t *testing.T) {
	tests := []struct {
		name     string
		flag     int
		link     int
		linkErr  error
		want     int
		wantProb bool
	}{
		{"--mtu wins over the link", 1400, 9000, nil, 1400, false},
		{"the link's MTU without --mtu", 0, 9000, nil, 9000, false},
		{"1500 when the link cannot be read, with a problem", 0, 0, errors.New("no link carries 10.199.1.11"), 1500, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := baseInputs()
			in.Settings.MTU, in.LinkMTU, in.LinkMTUErr = tt.flag, tt.link, tt.linkErr
			p := Build(in)
			if p.Conflist.MTU != tt.want || p.Bridge.MTU != tt.want {
				t.Errorf("MTU conflist %d bridge %d, want %d", p.Conflist.MTU, p.Bridge.MTU, tt.want)
			}
			if (p.Problems.MTU != nil) != tt.wantProb {
				t.Errorf("MTU problem = %v, want one: %v", p.Problems.MTU, tt.wantProb)
			}
		})
	}
}

func TestClusterCIDRsFallBackToEveryNodesPodCIDRs(t *testing.T) {
	in := baseInputs()
	in.Settings.ClusterCIDRs, in.Settings.Masquerade = nil, false
	p := Build(in)
	if want := prefixes("10.244.1.0/24", "10.244.2.0/24", "10.244.3.0/24"); !reflect.DeepEqual(p.Policy.ClusterCIDRs, want) {
		t.Errorf("policy cluster CIDRs = %v, want every node's pod CIDR %v (hijack protection without --cluster-cidr)", p.Policy.ClusterCIDRs, want)
	}
}

func TestToROnlyAcceptsOtherNodesPodCIDRsFromUpstream(t *testing.T) {
	in := baseInputs()
	in.Settings.EnableIBGP = false
	p := Build(in)
	if len(p.Peers) != 0 {
		t.Errorf("peers = %v, want none: no iBGP and no upstream", peerAddrs(p.Peers))
	}
	if want := prefixes("10.244.2.0/24", "10.244.3.0/24"); !reflect.DeepEqual(p.Policy.UpstreamPodCIDRs, want) {
		t.Errorf("upstream pod CIDRs = %v, want the others' %v", p.Policy.UpstreamPodCIDRs, want)
	}
	in.Settings.EnableIBGP = true
	if p := Build(in); p.Policy.UpstreamPodCIDRs != nil {
		t.Errorf("with iBGP, upstream pod CIDRs = %v, want none", p.Policy.UpstreamPodCIDRs)
	}
}

func TestAReflectorClientTakesEveryOtherNodesPodCIDRFromEachReflector(t *testing.T) {
	rr := []string{peering.AnnotationRouteReflectorCluster, "10.0.0.1"}
	tests := []struct {
		name      string
		nodes     []*slimnode.Node
		wantPeers []string
		want      []netip.Prefix
	}{
		{"a client of two reflectors: one list for both", []*slimnode.Node{
			node("n1", []string{"10.199.1.11"}, []string{"10.244.1.0/24"}),
			node("n2", []string{"10.199.1.12"}, []string{"10.244.2.0/24"}, rr...),
			node("n3", []string{"10.199.1.13"}, []string{"10.244.3.0/24"}, rr...),
			node("n4", []string{"10.199.1.14"}, []string{"10.244.4.0/24"}),
		}, []string{"10.199.1.12", "10.199.1.13"}, prefixes("10.244.2.0/24", "10.244.3.0/24", "10.244.4.0/24")},
		{"a reflector takes from each node its own pod CIDRs only", []*slimnode.Node{
			node("n1", []string{"10.199.1.11"}, []string{"10.244.1.0/24"}, rr...),
			node("n2", []string{"10.199.1.12"}, []string{"10.244.2.0/24"}, rr...),
			node("n4", []string{"10.199.1.14"}, []string{"10.244.4.0/24"}),
		}, []string{"10.199.1.12", "10.199.1.14"}, nil},
		{"a full mesh has no reflected pod CIDRs", threeNodes(), []string{"10.199.1.12", "10.199.1.13"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := baseInputs()
			in.Nodes = tt.nodes
			p := Build(in)
			if got := peerAddrs(p.Peers); !reflect.DeepEqual(got, tt.wantPeers) {
				t.Fatalf("peers = %v, want %v", got, tt.wantPeers)
			}
			if !reflect.DeepEqual(p.Policy.ReflectedPodCIDRs, tt.want) {
				t.Errorf("reflected pod CIDRs = %v, want %v", p.Policy.ReflectedPodCIDRs, tt.want)
			}
		})
	}
}

func TestMeshPassword(t *testing.T) {
	ref := peering.SecretRef{Namespace: "kube-system", Name: "mesh", Key: "password"}
	unreadable := func(peering.SecretRef) (string, error) { return "", errors.New("Secret kube-system/mesh: not found") }
	readable := func(peering.SecretRef) (string, error) { return "s3cret", nil }
	tests := []struct {
		name          string
		lookup        func(peering.SecretRef) (string, error)
		last          MeshPassword
		wantNodePeers bool
		wantPassword  string
		wantProblem   bool
	}{
		{"read: node peers carry it", readable, MeshPassword{}, true, "s3cret", false},
		{"never read: node peers wait instead of coming up unsigned", unreadable, MeshPassword{}, false, "", true},
		{"lost after a read: node peers keep the last value", unreadable, MeshPassword{Value: "old-s3cret", Read: true}, true, "old-s3cret", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := baseInputs()
			in.Settings.MeshPasswordSecret = ref
			in.Password, in.Mesh = tt.lookup, tt.last
			p := Build(in)
			if got := len(p.Peers) > 0; got != tt.wantNodePeers {
				t.Fatalf("node peers %v, want present: %v", peerAddrs(p.Peers), tt.wantNodePeers)
			}
			for _, peer := range p.Peers {
				if peer.Password != tt.wantPassword {
					t.Errorf("peer %s password %q, want %q", peer.Address, peer.Password, tt.wantPassword)
				}
			}
			if tt.last.Read && errorsContain(p.Problems.Own, tt.last.Value) {
				t.Errorf("problems %v show the password", p.Problems.Own)
			}
			if got := errorsContain(p.Problems.Own, "--mesh-password-secret"); got != tt.wantProblem {
				t.Errorf("problems %v, want a --mesh-password-secret problem: %v", p.Problems.Own, tt.wantProblem)
			}
			if tt.wantPassword != "" && p.Mesh != (MeshPassword{Value: tt.wantPassword, Read: true}) {
				t.Errorf("mesh carried on = %+v, want %q", p.Mesh, tt.wantPassword)
			}
		})
	}
}

func TestOwnNodeProblems(t *testing.T) {
	tests := []struct {
		name  string
		nodes []*slimnode.Node
		want  string
	}{
		{"own node unchanged", threeNodes(), ""},
		{"own node gone", threeNodes()[1:], "own Node object not found"},
		{"own node re-created with another pod CIDR", append(threeNodes()[1:],
			node("n1", []string{"10.199.1.11"}, []string{"10.244.9.0/24"})), "spec.podCIDRs changed"},
		{"own node without an InternalIP", append(threeNodes()[1:],
			node("n1", nil, []string{"10.244.1.0/24"})), "skipped for bad data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := baseInputs()
			in.Nodes = tt.nodes
			p := Build(in)
			if tt.want == "" && p.Problems.OwnNode != "" || tt.want != "" && !strings.Contains(p.Problems.OwnNode, tt.want) {
				t.Errorf("own node problem %q, want %q", p.Problems.OwnNode, tt.want)
			}
			if tt.want != "" && !reflect.DeepEqual(p.Advertised, Build(baseInputs()).Advertised) {
				t.Errorf("advertised %v: the pod CIDRs of the start must stay", p.Advertised)
			}
		})
	}
}

func TestTheSpeakerIsKeptWhileTheOwnNodeIsMissing(t *testing.T) {
	in := baseInputs()
	in.Identity = Identity{ASN: 65101}
	in.Nodes = threeNodes()[1:]
	p := Build(in)
	if p.Identity != in.Identity {
		t.Errorf("own Node missing: plan identity %v, want the running %v", p.Identity, in.Identity)
	}
	if got, want := peerAddrs(p.Peers), []string{"10.199.1.12", "10.199.1.13"}; !reflect.DeepEqual(got, want) {
		t.Errorf("peers = %v, want %v: the peer set must not collapse", got, want)
	}
}

func TestAnOwnAnnotationChangesTheIdentity(t *testing.T) {
	in := baseInputs()
	in.Nodes = threeNodes(peering.AnnotationASN, "65101")
	if p := Build(in); p.Identity != (Identity{ASN: 65101}) {
		t.Errorf("identity = %v, want AS 65101 from the annotation", p.Identity)
	}
	in.Nodes = threeNodes(peering.AnnotationASN, "not-an-asn")
	p := Build(in)
	if p.Identity != in.Identity {
		t.Errorf("a bad ASN annotation: identity %v, want the running %v", p.Identity, in.Identity)
	}
	if !errorsContain(p.Problems.Own, peering.AnnotationASN) {
		t.Errorf("own problems %v, want one naming %s", p.Problems.Own, peering.AnnotationASN)
	}
}

func TestOtherNodesBadDataIsTheirProblemNotOurs(t *testing.T) {
	in := baseInputs()
	in.Nodes = append(threeNodes(), node("nx", []string{"10.199.1.14"}, []string{"10.244.1.0/25"}),
		node("n4", []string{"10.199.1.15"}, []string{"10.244.4.0/24"}, peering.AnnotationASN, "x"))
	p := Build(in)
	if !errorsContain(p.Problems.Nodes, `node "nx"`) {
		t.Errorf("node problems %v, want the later overlapping claim of node nx", p.Problems.Nodes)
	}
	if len(p.Problems.Own) != 0 {
		t.Errorf("own problems %v, want none: other nodes' annotations are their agents' to report", p.Problems.Own)
	}
	if got, want := peerAddrs(p.Peers), []string{"10.199.1.12", "10.199.1.13", "10.199.1.15"}; !reflect.DeepEqual(got, want) {
		t.Errorf("peers = %v, want %v: the rest keeps working", got, want)
	}
}

func TestEachPodCIDRIsAdvertisedViaTheNodeIPOfItsFamily(t *testing.T) {
	tests := []struct {
		name string
		self Self
		want []bgp.Path
	}{
		{"IPv4 only", Self{IP: addr("10.199.1.11"), PodCIDRs: prefixes("10.244.1.0/24")},
			[]bgp.Path{{Prefix: netip.MustParsePrefix("10.244.1.0/24"), NextHop: addr("10.199.1.11")}}},
		{"dual-stack", Self{IP: addr("10.199.1.11"), IP6: addr("fd00:199:1::11"), PodCIDRs: prefixes("10.244.1.0/24", "fd00:10:244:1::/64")},
			[]bgp.Path{
				{Prefix: netip.MustParsePrefix("10.244.1.0/24"), NextHop: addr("10.199.1.11")},
				{Prefix: netip.MustParsePrefix("fd00:10:244:1::/64"), NextHop: addr("fd00:199:1::11")},
			}},
		{"an IPv6 pod CIDR on a node without IPv6 keeps the node IP (refused by the speaker)",
			Self{IP: addr("10.199.1.11"), PodCIDRs: prefixes("fd00:10:244:1::/64")},
			[]bgp.Path{{Prefix: netip.MustParsePrefix("fd00:10:244:1::/64"), NextHop: addr("10.199.1.11")}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := advertisements(tt.self.PodCIDRs, tt.self.IPs()); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("advertisements = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestTheIPv6NodeIPIsSetOnlyOnDualStackNodes(t *testing.T) {
	tests := []struct {
		name string
		info nodeinfo.Info
		want netip.Addr
	}{
		{"IPv4 only", nodeinfo.Info{InternalIP: addr("10.199.1.11"), InternalIPs: []netip.Addr{addr("10.199.1.11")}}, netip.Addr{}},
		{"dual-stack", nodeinfo.Info{InternalIP: addr("10.199.1.11"), InternalIPs: []netip.Addr{addr("10.199.1.11"), addr("fd00:199:1::11")}}, addr("fd00:199:1::11")},
		{"IPv6 only: its one address is the node IP", nodeinfo.Info{InternalIP: addr("fd00:199:1::11"), InternalIPs: []netip.Addr{addr("fd00:199:1::11")}}, netip.Addr{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := SelfFrom(tt.info, nil)
			if s.IP6 != tt.want {
				t.Fatalf("IP6 = %v, want %v", s.IP6, tt.want)
			}
			if s.IP6.IsValid() && !reflect.DeepEqual(s.IPs(), []netip.Addr{s.IP, s.IP6}) {
				t.Fatalf("IPs = %v, want both families, IPv4 first", s.IPs())
			}
		})
	}
}

func TestKernelRoutes(t *testing.T) {
	self := Self{IP: addr("10.199.1.11"), IP6: addr("fd00:199:1::11"), PodCIDRs: prefixes("10.244.1.0/24", "fd00:10:244:1::/64")}
	path := func(p, nh string) bgp.Path { return bgp.Path{Prefix: netip.MustParsePrefix(p), NextHop: addr(nh)} }
	paths := []bgp.Path{
		path("10.244.2.0/24", "10.199.1.12"),
		path("10.244.1.0/24", "10.199.1.12"),   // our own pod CIDR, announced by someone else
		path("10.244.1.128/25", "10.199.1.12"), // a more-specific of it
		path("10.244.0.0/16", "10.199.1.12"),   // a covering prefix
		path("192.0.2.0/24", "10.199.1.11"),    // via ourselves
		path("fd00:10:244:3::/64", "fd00:199:1::11"),
		path("fd00:10:244:2::/64", "fd00:199:1::12"),
	}
	want := []routes.Route{
		{Prefix: netip.MustParsePrefix("10.244.2.0/24"), Gateway: addr("10.199.1.12")},
		{Prefix: netip.MustParsePrefix("fd00:10:244:2::/64"), Gateway: addr("fd00:199:1::12")},
	}
	if got := KernelRoutes(paths, self); !reflect.DeepEqual(got, want) {
		t.Fatalf("KernelRoutes = %v, want %v: never our own pod CIDRs, never via ourselves", got, want)
	}
}

func TestKernelChangesAgreeWithKernelRoutes(t *testing.T) {
	self := Self{IP: addr("10.199.1.11"), IP6: addr("fd00:199:1::11"), PodCIDRs: prefixes("10.244.1.0/24", "fd00:10:244:1::/64")}
	change := func(p string, nhs ...string) bgp.BestChange {
		c := bgp.BestChange{Prefix: netip.MustParsePrefix(p)}
		for _, nh := range nhs {
			c.NextHops = append(c.NextHops, addr(nh))
		}
		return c
	}
	changes := []bgp.BestChange{
		change("10.244.2.0/24", "10.199.1.12", "10.199.1.13"),
		change("10.244.1.0/24", "10.199.1.12"),   // our own pod CIDR
		change("10.244.1.128/25", "10.199.1.12"), // a more-specific of it
		change("10.244.0.0/16", "10.199.1.12"),   // a covering prefix
		change("192.0.2.0/24", "10.199.1.11"),    // via ourselves: no route
		change("198.51.100.0/24"),                // withdrawn
		change("fd00:10:244:3::/64", "fd00:199:1::11"),
	}
	gw := func(s ...string) []netip.Addr {
		out := []netip.Addr{}
		for _, a := range s {
			out = append(out, addr(a))
		}
		return out
	}
	want := []routes.Change{
		{Prefix: netip.MustParsePrefix("10.244.2.0/24"), Gateways: gw("10.199.1.12", "10.199.1.13")},
		{Prefix: netip.MustParsePrefix("192.0.2.0/24"), Gateways: gw()},
		{Prefix: netip.MustParsePrefix("198.51.100.0/24")}, // withdrawn: no next hops to share
		{Prefix: netip.MustParsePrefix("fd00:10:244:3::/64"), Gateways: gw()},
	}
	got := KernelChanges(nil, changes, self)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("KernelChanges = %v, want %v: never our own pod CIDRs, never via ourselves", got, want)
	}
	// The same rule as KernelRoutes: the routes the changes leave are the
	// ones KernelRoutes makes of the same paths.
	var paths []bgp.Path
	for _, c := range changes {
		for _, nh := range c.NextHops {
			paths = append(paths, bgp.Path{Prefix: c.Prefix, NextHop: nh})
		}
	}
	var fromChanges []routes.Route
	for _, c := range got {
		for _, g := range c.Gateways {
			fromChanges = append(fromChanges, routes.Route{Prefix: c.Prefix, Gateway: g})
		}
	}
	if full := KernelRoutes(paths, self); !reflect.DeepEqual(fromChanges, full) {
		t.Fatalf("routes from KernelChanges %v, from KernelRoutes %v: the two must agree", fromChanges, full)
	}
}

func TestAdvertisedNow(t *testing.T) {
	want := []bgp.Path{{Prefix: netip.MustParsePrefix("10.244.1.0/24"), NextHop: addr("10.199.1.11")}}
	if got := AdvertisedNow(want, false, nil); got != nil {
		t.Errorf("data plane not ready, nothing announced yet: got %v, want nothing", got)
	}
	if got := AdvertisedNow(nil, false, want); !reflect.DeepEqual(got, want) {
		t.Errorf("data plane failing after an announcement: got %v, want it kept", got)
	}
	if got := AdvertisedNow(want, true, nil); !reflect.DeepEqual(got, want) {
		t.Errorf("data plane ready: got %v, want %v", got, want)
	}
}

func TestAClusterCIDRThatDoesNotHoldTheNodesPodCIDRsIsASettingProblem(t *testing.T) {
	tests := []struct {
		name    string
		cluster []netip.Prefix
		want    string
	}{
		{"holds every pod CIDR", prefixes("10.244.0.0/16"), ""},
		{"unset (masquerade off)", nil, ""},
		{"another range", prefixes("10.99.0.0/16"), `--cluster-cidr 10.99.0.0/16 does not contain the pod CIDRs of the cluster (node "n1": 10.244.1.0/24, node "n2": 10.244.2.0/24, node "n3": 10.244.3.0/24)`},
		{"too narrow", prefixes("10.244.1.0/24", "10.244.2.0/24"), `(node "n3": 10.244.3.0/24)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := baseInputs()
			in.Settings.ClusterCIDRs = tt.cluster
			p := Build(in)
			switch {
			case tt.want == "" && len(p.Problems.Settings) != 0:
				t.Fatalf("setting problems %v, want none", p.Problems.Settings)
			case tt.want != "" && !errorsContain(p.Problems.Settings, tt.want):
				t.Fatalf("setting problems %v, want one containing %q", p.Problems.Settings, tt.want)
			}
		})
	}
}
