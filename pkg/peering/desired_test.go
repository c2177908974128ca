package peering

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/nodebgp/router/pkg/bfd"
	"github.com/nodebgp/router/pkg/bgp"
	"github.com/nodebgp/router/pkg/nodeinfo"
)

// The test cluster: four nodes, n1 having the lowest IP.
var (
	n1 = info("n1", "10.199.1.11", "10.244.1.0/24")
	n2 = info("n2", "10.199.1.12", "10.244.2.0/24", "fd00:244:2::/64")
	n3 = info("n3", "10.199.1.13", "10.244.3.0/24")
	n4 = info("n4", "10.199.1.14")
)

var reflector = NodeConfig{RouteReflectorClusterID: addr("10.0.0.1")}

// cluster builds Inputs for self with every node's config; configs default
// to none.
func cluster(self string, configs map[string]NodeConfig) Inputs {
	in := Inputs{ClusterASN: 65000, BGPPort: 179, EnableIBGP: true}
	for _, i := range []NodeView{{Info: n1}, {Info: n2}, {Info: n3}, {Info: n4}} {
		i.Config = configs[i.Info.Name]
		in.Nodes = append(in.Nodes, i)
		if i.Info.Name == self {
			in.Self, in.SelfConfig = i.Info, i.Config
		}
	}
	return in
}

// meshPeer is the session with node n as seen from a node with IP selfIP.
func meshPeer(selfIP string, n NodeView, asn uint32) bgp.Peer {
	return bgp.Peer{Name: n.Info.Name, Address: n.Info.InternalIP, ASN: asn, Port: 179, Kind: bgp.PeerNode,
		AcceptPrefixes: ofFamily(n.Info.PodCIDRs, n.Info.InternalIP.Is4()), Passive: addr(selfIP).Compare(n.Info.InternalIP) > 0}
}

var v1, v2, v3, v4 = NodeView{Info: n1}, NodeView{Info: n2}, NodeView{Info: n3}, NodeView{Info: n4}

func client(p bgp.Peer) bgp.Peer { p.RouteReflectorClient = true; return p }

// viaReflector is a session with a reflector: it passes on the routes of
// every other node, which the policy names once for every reflector
// (bgp.Policy.ReflectedPodCIDRs, see pkg/plan), not the session.
func viaReflector(p bgp.Peer) bgp.Peer {
	p.AcceptPrefixes, p.AcceptReflected = nil, true
	return p
}

func TestDesiredNodePeers(t *testing.T) {
	tests := []struct {
		name         string
		in           Inputs
		want         []bgp.Peer
		wantProblems []string
	}{
		{
			name: "full mesh: every other node, the lower IP dials",
			in:   cluster("n2", nil),
			want: []bgp.Peer{meshPeer("10.199.1.12", v1, 65000), meshPeer("10.199.1.12", v3, 65000), meshPeer("10.199.1.12", v4, 65000)},
		},
		{
			name: "full mesh: the lowest node dials everyone",
			in:   cluster("n1", nil),
			want: []bgp.Peer{meshPeer("10.199.1.11", v2, 65000), meshPeer("10.199.1.11", v3, 65000), meshPeer("10.199.1.11", v4, 65000)},
		},
		{
			name: "full mesh with mixed ASNs peers eBGP with nodes of their own AS",
			in:   cluster("n2", map[string]NodeConfig{"n2": {ASN: 65012}, "n3": {ASN: 65013}}),
			want: []bgp.Peer{meshPeer("10.199.1.12", v1, 65000), meshPeer("10.199.1.12", v3, 65013), meshPeer("10.199.1.12", v4, 65000)},
		},
		{
			name: "full mesh carries the mesh password",
			in:   withMeshPassword(cluster("n4", nil), "s3cret"),
			want: withPassword("s3cret", meshPeer("10.199.1.14", v1, 65000), meshPeer("10.199.1.14", v2, 65000), meshPeer("10.199.1.14", v3, 65000)),
		},
		{
			name: "route reflectors: a client peers only with the two reflectors",
			in:   cluster("n3", map[string]NodeConfig{"n1": reflector, "n2": reflector}),
			want: []bgp.Peer{viaReflector(meshPeer("10.199.1.13", v1, 65000)), viaReflector(meshPeer("10.199.1.13", v2, 65000))},
		},
		{
			name: "route reflectors: a reflector peers with all others as clients, the other reflector too, taking from it only its own pod CIDR",
			in:   cluster("n1", map[string]NodeConfig{"n1": reflector, "n2": reflector}),
			want: []bgp.Peer{client(meshPeer("10.199.1.11", v2, 65000)), client(meshPeer("10.199.1.11", v3, 65000)), client(meshPeer("10.199.1.11", v4, 65000))},
		},
		{
			name: "route reflectors: a client with its own ASN is skipped by the reflector and reported",
			in:   cluster("n1", map[string]NodeConfig{"n1": reflector, "n4": {ASN: 65014}}),
			want: []bgp.Peer{client(meshPeer("10.199.1.11", v2, 65000)), client(meshPeer("10.199.1.11", v3, 65000))},
			wantProblems: []string{`node "n4": annotation nodebgp.io/asn: 65014 differs from the cluster ASN 65000, ` +
				`and route reflection needs iBGP; not peering with it`},
		},
		{
			name: "route reflectors: a client with an own ASN equal to the cluster ASN is fine",
			in:   cluster("n1", map[string]NodeConfig{"n1": reflector, "n4": {ASN: 65000}}),
			want: []bgp.Peer{client(meshPeer("10.199.1.11", v2, 65000)), client(meshPeer("10.199.1.11", v3, 65000)), client(meshPeer("10.199.1.11", v4, 65000))},
		},
		{
			name: "route reflectors: other clients' own ASNs do not concern a client",
			in:   cluster("n3", map[string]NodeConfig{"n1": reflector, "n4": {ASN: 65014}}),
			want: []bgp.Peer{viaReflector(meshPeer("10.199.1.13", v1, 65000))},
		},
		{
			name: "route reflectors: a node with its own ASN peers with no node",
			in:   cluster("n3", map[string]NodeConfig{"n1": reflector, "n3": {ASN: 65013}}),
			wantProblems: []string{`node "n3": annotation nodebgp.io/asn: 65013 differs from the cluster ASN 65000, ` +
				`and route reflection needs iBGP; not peering with other nodes`},
		},
		{
			name: "ToR-only: no node peers at all",
			in:   withoutIBGP(cluster("n2", map[string]NodeConfig{"n1": reflector})),
		},
		{
			name: "self is recognized by its IP even under another name",
			in: func() Inputs {
				in := cluster("n2", nil)
				in.Self.Name = "renamed"
				return in
			}(),
			want: []bgp.Peer{meshPeer("10.199.1.12", v1, 65000), meshPeer("10.199.1.12", v3, 65000), meshPeer("10.199.1.12", v4, 65000)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkDesired(t, tt.in, tt.want, tt.wantProblems)
		})
	}
}

func TestDualStackNodesPeerOncePerSharedFamily(t *testing.T) {
	// d1 has the lower IPv4 address but the higher IPv6 one: each family
	// decides its own dialler.
	d1 := dualInfo("d1", "10.199.1.21", "fd00:199:1::32", "10.244.21.0/24", "fd00:10:244:21::/64")
	d2 := dualInfo("d2", "10.199.1.22", "fd00:199:1::31", "10.244.22.0/24", "fd00:10:244:22::/64")
	in := Inputs{ClusterASN: 65000, BGPPort: 179, EnableIBGP: true, Self: d2,
		Nodes: []NodeView{{Info: d1}, {Info: d2}, {Info: n3}}}
	session := func(n nodeinfo.Info, address string, passive bool, accept ...string) bgp.Peer {
		return bgp.Peer{Name: n.Name, Address: addr(address), ASN: 65000, Port: 179, Kind: bgp.PeerNode,
			Passive: passive, AcceptPrefixes: prefixes(accept...)}
	}
	t.Run("a dual-stack pair has an IPv4 and an IPv6 session, each with its family's pod CIDRs; a v4-only node one", func(t *testing.T) {
		checkDesired(t, in, []bgp.Peer{
			session(n3, "10.199.1.13", true, "10.244.3.0/24"),
			session(d1, "10.199.1.21", true, "10.244.21.0/24"),
			session(d1, "fd00:199:1::32", false, "fd00:10:244:21::/64"),
		}, nil)
	})
	t.Run("behind a dual-stack reflector each session takes the reflected pod CIDRs", func(t *testing.T) {
		rr := in
		rr.Nodes = []NodeView{{Info: d1, Config: reflector}, {Info: d2}}
		checkDesired(t, rr, []bgp.Peer{
			viaReflector(session(d1, "10.199.1.21", true)),
			viaReflector(session(d1, "fd00:199:1::32", false)),
		}, nil)
	})
}

func TestDesiredUpstreamPeers(t *testing.T) {
	tor1, tor2 := addr("10.199.2.1"), addr("10.199.2.2")
	secret := SecretRef{Namespace: "kube-system", Name: "tor", Key: "10.199.2.1"}
	passwords := func(r SecretRef) (string, error) {
		if r == secret {
			return "md5pw", nil
		}
		return "", fmt.Errorf("secret %s/%s not found", r.Namespace, r.Name)
	}
	global := []UpstreamPeer{{Address: tor1, ASN: 65100, Port: 179}, {Address: tor2, ASN: 65100, Port: 179}}
	tests := []struct {
		name         string
		in           Inputs
		want         []bgp.Peer
		wantProblems []string
	}{
		{
			name: "global peers are upstream peers that dial",
			in:   upstream(global, nil, nil),
			want: []bgp.Peer{
				{Address: tor1, ASN: 65100, Port: 179, Kind: bgp.PeerUpstream},
				{Address: tor2, ASN: 65100, Port: 179, Kind: bgp.PeerUpstream},
			},
		},
		{
			name: "the node's annotation wins over a global peer of the same address",
			in: upstream(global, []UpstreamPeer{{Address: tor2, ASN: 65102, Port: 1179, MultihopTTL: 2,
				HoldTime: 9 * time.Second, KeepaliveTime: 3 * time.Second, LocalAddress: addr("10.199.1.12"), MaxPrefixes: 10, MaxPrefixesSet: true}}, nil),
			want: []bgp.Peer{
				{Address: tor1, ASN: 65100, Port: 179, Kind: bgp.PeerUpstream},
				{Address: tor2, ASN: 65102, Port: 1179, Kind: bgp.PeerUpstream, MultihopTTL: 2,
					HoldTime: 9 * time.Second, KeepaliveTime: 3 * time.Second, LocalAddress: addr("10.199.1.12"), MaxPrefixes: 10},
			},
		},
		{
			name: "the default prefix limit applies to every upstream peer whose entry names none; an explicit 0 lifts it",
			in: withDefaultMaxPrefixes(upstream(global, []UpstreamPeer{
				{Address: tor2, ASN: 65102, Port: 179, MaxPrefixesSet: true},
				{Address: addr("10.199.9.9"), ASN: 65109, Port: 179},
			}, nil), 1000),
			want: []bgp.Peer{
				{Address: tor1, ASN: 65100, Port: 179, Kind: bgp.PeerUpstream, MaxPrefixes: 1000},
				{Address: tor2, ASN: 65102, Port: 179, Kind: bgp.PeerUpstream},
				{Address: addr("10.199.9.9"), ASN: 65109, Port: 179, Kind: bgp.PeerUpstream, MaxPrefixes: 1000},
			},
		},
		{
			name: "a password is read from its Secret",
			in:   upstream(nil, []UpstreamPeer{{Address: tor1, ASN: 65100, Port: 179, PasswordSecret: secret}}, passwords),
			want: []bgp.Peer{{Address: tor1, ASN: 65100, Port: 179, Kind: bgp.PeerUpstream, Password: "md5pw"}},
		},
		{
			name: "a peer whose password cannot be read is skipped and the others kept",
			in: upstream(global, []UpstreamPeer{{Address: tor2, ASN: 65100, Port: 179,
				PasswordSecret: SecretRef{Namespace: "kube-system", Name: "missing", Key: "10.199.2.2"}}}, passwords),
			want: []bgp.Peer{{Address: tor1, ASN: 65100, Port: 179, Kind: bgp.PeerUpstream}},
			wantProblems: []string{`node "n2": upstream peer 10.199.2.2: password from Secret kube-system/missing key "10.199.2.2": ` +
				`secret kube-system/missing not found; peer skipped`},
		},
		{
			name: "a password without a Secret reader skips the peer",
			in:   upstream(nil, []UpstreamPeer{{Address: tor1, ASN: 65100, Port: 179, PasswordSecret: secret}}, nil),
			wantProblems: []string{`node "n2": upstream peer 10.199.2.1: password from Secret kube-system/tor key "10.199.2.1": ` +
				`no way to read Secrets; peer skipped`},
		},
		{
			name:         "an upstream peer at the node's own address is skipped",
			in:           upstream([]UpstreamPeer{{Address: n2.InternalIP, ASN: 65100, Port: 179}}, nil, nil),
			wantProblems: []string{`node "n2": upstream peer 10.199.1.12: is this node's own address; peer skipped`},
		},
		{
			name: "an upstream peer that is another node is skipped; the node session stays",
			in: func() Inputs {
				in := cluster("n2", nil)
				in.GlobalPeers = []UpstreamPeer{{Address: n1.InternalIP, ASN: 65100, Port: 179}}
				return in
			}(),
			want:         []bgp.Peer{meshPeer("10.199.1.12", v1, 65000), meshPeer("10.199.1.12", v3, 65000), meshPeer("10.199.1.12", v4, 65000)},
			wantProblems: []string{`node "n2": upstream peer 10.199.1.11: is node "n1" of the cluster; upstream peer skipped`},
		},
		{
			name: "node and upstream peers come sorted by address",
			in: func() Inputs {
				in := cluster("n3", map[string]NodeConfig{"n1": reflector})
				in.GlobalPeers = []UpstreamPeer{{Address: addr("10.199.1.1"), ASN: 65100, Port: 179}, {Address: addr("fd00::1"), ASN: 65100, Port: 179}}
				return in
			}(),
			want: []bgp.Peer{
				{Address: addr("10.199.1.1"), ASN: 65100, Port: 179, Kind: bgp.PeerUpstream},
				viaReflector(meshPeer("10.199.1.13", v1, 65000)),
				{Address: addr("fd00::1"), ASN: 65100, Port: 179, Kind: bgp.PeerUpstream},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkDesired(t, tt.in, tt.want, tt.wantProblems)
		})
	}
}

// TestDesiredIsDeterministic proves that the order in which nodes are listed
// does not change the peer set or the problems.
func TestDesiredIsDeterministic(t *testing.T) {
	in := cluster("n1", map[string]NodeConfig{"n1": reflector, "n3": {ASN: 65013}, "n4": {ASN: 65014}})
	want, wantProblems := Desired(in)
	in.Nodes = slices.Clone(in.Nodes)
	slices.Reverse(in.Nodes)
	got, gotProblems := Desired(in)
	if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(errorStrings(gotProblems), errorStrings(wantProblems)) {
		t.Errorf("Desired with nodes reversed =\n %+v %v\nwant\n %+v %v", got, gotProblems, want, wantProblems)
	}
	if len(wantProblems) != 2 {
		t.Errorf("problems = %v, want one per client with its own ASN", wantProblems)
	}
}

func TestDesiredProblemNamesTheNodeForEvents(t *testing.T) {
	_, problems := Desired(cluster("n1", map[string]NodeConfig{"n1": reflector, "n4": {ASN: 65014}}))
	var ae *AnnotationError
	if len(problems) != 1 || !errors.As(problems[0], &ae) || ae.Node != "n4" || ae.Annotation != AnnotationASN {
		t.Errorf("problems = %v, want one *AnnotationError about node n4's %s", problems, AnnotationASN)
	}
}

// TestDesiredDoesNotAliasPodCIDRs proves that the caller may change a peer's
// AcceptPrefixes without touching the node view it came from.
func TestDesiredDoesNotAliasPodCIDRs(t *testing.T) {
	in := cluster("n2", nil)
	peers, _ := Desired(in)
	peers[0].AcceptPrefixes[0] = prefixes("192.0.2.0/24")[0]
	if in.Nodes[0].Info.PodCIDRs[0] != prefixes("10.244.1.0/24")[0] {
		t.Errorf("changing a peer's AcceptPrefixes changed node n1's PodCIDRs to %v", in.Nodes[0].Info.PodCIDRs)
	}
}

func checkDesired(t *testing.T, in Inputs, want []bgp.Peer, wantProblems []string) {
	t.Helper()
	got, problems := Desired(in)
	if len(got) == 0 && len(want) == 0 {
		got, want = nil, nil
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Desired peers =\n %+v\nwant\n %+v", got, want)
	}
	if gotP := errorStrings(problems); !reflect.DeepEqual(gotP, wantProblems) {
		t.Errorf("Desired problems =\n %q\nwant\n %q", gotP, wantProblems)
	}
}

// upstream is node n2 in a ToR-only design with these upstream peers.
func upstream(global, own []UpstreamPeer, passwords func(SecretRef) (string, error)) Inputs {
	in := withoutIBGP(cluster("n2", map[string]NodeConfig{"n2": {Peers: own}}))
	in.GlobalPeers = global
	in.Passwords = passwords
	return in
}

func withDefaultMaxPrefixes(in Inputs, n uint32) Inputs { in.DefaultMaxPrefixes = n; return in }

func withoutIBGP(in Inputs) Inputs { in.EnableIBGP = false; return in }

func withMeshPassword(in Inputs, pw string) Inputs { in.MeshPassword = pw; return in }

func withPassword(pw string, peers ...bgp.Peer) []bgp.Peer {
	for i := range peers {
		peers[i].Password = pw
	}
	return peers
}

// BFD and the mesh timers reach the sessions they are for: --bfd and
// --mesh-* the node sessions, an upstream peer's own BFD setting (its
// missing timers from the --bfd-* flags) its session only.
func TestDesiredBFDAndMeshTimers(t *testing.T) {
	flags := bfd.Timers{MinTx: 300 * time.Millisecond, MinRx: 300 * time.Millisecond, Multiplier: 3}
	in := cluster("n1", nil)
	in.Nodes = in.Nodes[:2]
	in.MeshBFD = flags
	in.BFDDefaults = flags
	in.MeshHoldTime, in.MeshKeepaliveTime = 9*time.Second, 3*time.Second
	in.GlobalPeers = []UpstreamPeer{
		{Address: addr("10.199.1.254"), ASN: 65100, Port: 179, BFD: PeerBFD{Enabled: true, Timers: bfd.Timers{Multiplier: 5}}},
		{Address: addr("10.199.1.253"), ASN: 65100, Port: 179},
	}
	mesh := meshPeer("10.199.1.11", v2, 65000)
	mesh.BFD, mesh.HoldTime, mesh.KeepaliveTime = flags, 9*time.Second, 3*time.Second
	checkDesired(t, in, []bgp.Peer{
		mesh,
		{Address: addr("10.199.1.253"), ASN: 65100, Port: 179, Kind: bgp.PeerUpstream},
		{Address: addr("10.199.1.254"), ASN: 65100, Port: 179, Kind: bgp.PeerUpstream,
			BFD: bfd.Timers{MinTx: 300 * time.Millisecond, MinRx: 300 * time.Millisecond, Multiplier: 5}},
	}, nil)
}
