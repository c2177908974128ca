package peering

import (
	"github.com/nodebgp/router/pkg/bfd"

	"errors"
	"reflect"
	"testing"
	"time"
)

func TestParseNodeConfig(t *testing.T) {
	tests := []struct {
		name        string
		annotations []string
		want        NodeConfig
	}{
		{name: "a node without annotations has the defaults", want: NodeConfig{}},
		{
			name:        "own ASN is read",
			annotations: []string{AnnotationASN, "65010"},
			want:        NodeConfig{ASN: 65010},
		},
		{
			name:        "the largest 4-byte ASN is valid",
			annotations: []string{AnnotationASN, "4294967295"},
			want:        NodeConfig{ASN: 4294967295},
		},
		{
			name: "a fully specified peer is read into types",
			annotations: []string{AnnotationPeers, `[{"address":"10.199.2.1","asn":65000,"port":1179,"multihopTTL":2,` +
				`"holdTime":"90s","keepaliveTime":"30s","connectRetryTime":"2s","passwordSecret":"kube-system/tor-secret","passwordKey":"password",` +
				`"localAddress":"10.199.2.11","maxPrefixes":100}]`},
			want: NodeConfig{Peers: []UpstreamPeer{{
				Address: addr("10.199.2.1"), ASN: 65000, Port: 1179, MultihopTTL: 2,
				HoldTime: 90 * time.Second, KeepaliveTime: 30 * time.Second, ConnectRetryTime: 2 * time.Second,
				PasswordSecret: SecretRef{Namespace: "kube-system", Name: "tor-secret", Key: "password"},
				LocalAddress:   addr("10.199.2.11"), MaxPrefixes: 100, MaxPrefixesSet: true,
			}}},
		},
		{
			name:        `"bfd": true turns BFD on with the flags' timers`,
			annotations: []string{AnnotationPeers, `[{"address":"10.199.2.1","asn":65000,"bfd":true}]`},
			want:        NodeConfig{Peers: []UpstreamPeer{{Address: addr("10.199.2.1"), ASN: 65000, Port: 179, BFD: PeerBFD{Enabled: true}}}},
		},
		{
			name:        "BFD timers of a peer, some left to the flags",
			annotations: []string{AnnotationPeers, `[{"address":"10.199.2.1","asn":65000,"bfd":{"minTx":"100ms","multiplier":5}}]`},
			want: NodeConfig{Peers: []UpstreamPeer{{Address: addr("10.199.2.1"), ASN: 65000, Port: 179,
				BFD: PeerBFD{Enabled: true, Timers: bfd.Timers{MinTx: 100 * time.Millisecond, Multiplier: 5}}}}},
		},
		{
			name:        "a minimal peer gets port 179 and no password",
			annotations: []string{AnnotationPeers, `[{"address":"10.199.2.1","asn":65000}]`},
			want:        NodeConfig{Peers: []UpstreamPeer{{Address: addr("10.199.2.1"), ASN: 65000, Port: 179}}},
		},
		{
			name:        "the password key defaults to the peer address",
			annotations: []string{AnnotationPeers, `[{"address":"10.199.2.1","asn":65000,"passwordSecret":"kube-system/tor"}]`},
			want: NodeConfig{Peers: []UpstreamPeer{{Address: addr("10.199.2.1"), ASN: 65000, Port: 179,
				PasswordSecret: SecretRef{Namespace: "kube-system", Name: "tor", Key: "10.199.2.1"}}}},
		},
		{
			name:        "an IPv6 peer's default password key has dashes for colons",
			annotations: []string{AnnotationPeers, `[{"address":"fd00:199::1","asn":65000,"passwordSecret":"kube-system/tor"}]`},
			want: NodeConfig{Peers: []UpstreamPeer{{Address: addr("fd00:199::1"), ASN: 65000, Port: 179,
				PasswordSecret: SecretRef{Namespace: "kube-system", Name: "tor", Key: "fd00-199--1"}}}},
		},
		{
			name:        "an IPv4-mapped peer address is plain IPv4",
			annotations: []string{AnnotationPeers, `[{"address":"::ffff:10.199.2.1","asn":65000}]`},
			want:        NodeConfig{Peers: []UpstreamPeer{{Address: addr("10.199.2.1"), ASN: 65000, Port: 179}}},
		},
		{
			name:        "an empty peers list is no peers",
			annotations: []string{AnnotationPeers, ` [] `},
			want:        NodeConfig{},
		},
		{
			name:        "hold time 0 means the default 90s, which allows a keepalive of 30s",
			annotations: []string{AnnotationPeers, `[{"address":"10.199.2.1","asn":65000,"holdTime":"0s","keepaliveTime":"30s"}]`},
			want:        NodeConfig{Peers: []UpstreamPeer{{Address: addr("10.199.2.1"), ASN: 65000, Port: 179, KeepaliveTime: 30 * time.Second}}},
		},
		{
			name:        "cluster ID as an IPv4 address",
			annotations: []string{AnnotationRouteReflectorCluster, "10.0.0.1"},
			want:        NodeConfig{RouteReflectorClusterID: addr("10.0.0.1")},
		},
		{
			name:        "cluster ID as a number is rendered as IPv4",
			annotations: []string{AnnotationRouteReflectorCluster, "16909060"},
			want:        NodeConfig{RouteReflectorClusterID: addr("1.2.3.4")},
		},
		{
			name:        "communities are normalized and deduplicated in order",
			annotations: []string{AnnotationCommunities, " 65000:0100, NO-EXPORT,65000:100,no-advertise"},
			want:        NodeConfig{Communities: []string{"65000:100", "no-export", "no-advertise"}},
		},
		{
			name:        "large communities take 32-bit parts",
			annotations: []string{AnnotationLargeCommunities, "4294967295:1:2,65000:0:007"},
			want:        NodeConfig{LargeCommunities: []string{"4294967295:1:2", "65000:0:7"}},
		},
		{
			name:        "AS path prepend count is read",
			annotations: []string{AnnotationASPathPrepend, "3"},
			want:        NodeConfig{PrependCount: 3},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, problems := ParseNodeConfig(annotated("n2", tt.annotations...))
			if len(problems) > 0 {
				t.Fatalf("ParseNodeConfig problems: %v", problems)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseNodeConfig =\n %+v\nwant\n %+v", got, tt.want)
			}
		})
	}
}

func TestParseNodeConfigProblems(t *testing.T) {
	good := UpstreamPeer{Address: addr("10.199.2.2"), ASN: 65000, Port: 179}
	tests := []struct {
		name         string
		annotations  []string
		want         NodeConfig
		wantProblems []string
	}{
		{
			name:         "ASN 0 is refused and the cluster ASN stays",
			annotations:  []string{AnnotationASN, "0"},
			wantProblems: []string{`node "n2": annotation nodebgp.io/asn: "0" is not a valid ASN`},
		},
		{
			name:         "AS_TRANS is not a valid ASN",
			annotations:  []string{AnnotationASN, "23456"},
			wantProblems: []string{`node "n2": annotation nodebgp.io/asn: "23456" is not a valid ASN`},
		},
		{
			name:         "an ASN beyond 32 bits is refused",
			annotations:  []string{AnnotationASN, "4294967296"},
			wantProblems: []string{`node "n2": annotation nodebgp.io/asn: "4294967296" is not a valid ASN`},
		},
		{
			name:         "a bad peer is skipped, naming its index and field, and the good one is kept",
			annotations:  []string{AnnotationPeers, `[{"address":"10.199.2.2","asn":65000},{"address":"10.199.2.1","asn":0}]`},
			want:         NodeConfig{Peers: []UpstreamPeer{good}},
			wantProblems: []string{`node "n2": annotation nodebgp.io/peers[1].asn: 0 is not a valid ASN`},
		},
		{
			name: "bad BFD settings are reported by field",
			annotations: []string{AnnotationPeers, `[{"address":"10.199.2.2","asn":65000},` +
				`{"address":"10.199.2.3","asn":65000,"bfd":{"minTx":"10ms","minRx":"x","multiplier":1}},` +
				`{"address":"10.199.2.4","asn":65000,"bfd":"yes"},{"address":"10.199.2.5","asn":65000,"bfd":{"tx":"1s"}}]`},
			want: NodeConfig{Peers: []UpstreamPeer{good}},
			wantProblems: []string{
				`node "n2": annotation nodebgp.io/peers[1].bfd.minTx: 10ms is not a whole number of milliseconds in 50ms..1m0s`,
				`node "n2": annotation nodebgp.io/peers[1].bfd.minRx: "x" is not a duration ("300ms")`,
				`node "n2": annotation nodebgp.io/peers[1].bfd.multiplier: 1 is not a multiplier (2..255)`,
				`node "n2": annotation nodebgp.io/peers[2].bfd: "yes" is not true, false or an object of timers`,
				`node "n2": annotation nodebgp.io/peers[3].bfd: unknown field "tx"`,
			},
		},
		{
			name:        "every bad field of a peer is reported",
			annotations: []string{AnnotationPeers, `[{"port":0,"multihopTTL":256,"maxPrefixes":-1}]`},
			wantProblems: []string{
				`node "n2": annotation nodebgp.io/peers[0].address: required`,
				`node "n2": annotation nodebgp.io/peers[0].asn: required`,
				`node "n2": annotation nodebgp.io/peers[0].port: 0 is not a port (1..65535)`,
				`node "n2": annotation nodebgp.io/peers[0].multihopTTL: 256 is not a TTL (0..255)`,
				`node "n2": annotation nodebgp.io/peers[0].maxPrefixes: -1 is not a prefix count (0..4294967295)`,
			},
		},
		{
			name:         "a quoted ASN is refused",
			annotations:  []string{AnnotationPeers, `[{"address":"10.199.2.1","asn":"65000"}]`},
			wantProblems: []string{`node "n2": annotation nodebgp.io/peers[0].asn: "65000" is not a valid ASN`},
		},
		{
			name:         "an address that is not a string is refused once",
			annotations:  []string{AnnotationPeers, `[{"address":17,"asn":65000}]`},
			wantProblems: []string{`node "n2": annotation nodebgp.io/peers[0].address: 17 is not a string`},
		},
		{
			name:         "an unknown field is named",
			annotations:  []string{AnnotationPeers, `[{"address":"10.199.2.1","asn":65000,"pasword":"x"}]`},
			wantProblems: []string{`node "n2": annotation nodebgp.io/peers[0]: unknown field "pasword"`},
		},
		{
			name:         "a peer that is not an object is refused",
			annotations:  []string{AnnotationPeers, `["10.199.2.1"]`},
			wantProblems: []string{`node "n2": annotation nodebgp.io/peers[0]: "10.199.2.1" is not a JSON object`},
		},
		{
			name:         "peers that are not a JSON list are refused whole",
			annotations:  []string{AnnotationPeers, `{"address":"10.199.2.1"}`},
			wantProblems: []string{`node "n2": annotation nodebgp.io/peers: not a JSON list of peers: cannot unmarshal object into Go value of type []json.RawMessage`},
		},
		{
			name:         "data after the list is refused",
			annotations:  []string{AnnotationPeers, `[] []`},
			wantProblems: []string{`node "n2": annotation nodebgp.io/peers: not a JSON list of peers: data after the list`},
		},
		{
			name:         "a repeated address keeps the first peer",
			annotations:  []string{AnnotationPeers, `[{"address":"10.199.2.2","asn":65000},{"address":"10.199.2.2","asn":65001}]`},
			want:         NodeConfig{Peers: []UpstreamPeer{good}},
			wantProblems: []string{`node "n2": annotation nodebgp.io/peers[1].address: 10.199.2.2 is already the address of peers[0]`},
		},
		{
			name:         "an address with a zone is refused",
			annotations:  []string{AnnotationPeers, `[{"address":"fe80::1%eth0","asn":65000}]`},
			wantProblems: []string{`node "n2": annotation nodebgp.io/peers[0].address: "fe80::1%eth0" is not a usable IP address`},
		},
		{
			name:         "a local address of the other family is refused",
			annotations:  []string{AnnotationPeers, `[{"address":"10.199.2.1","asn":65000,"localAddress":"fd00::11"}]`},
			wantProblems: []string{`node "n2": annotation nodebgp.io/peers[0].localAddress: fd00::11 is not of the family of address 10.199.2.1`},
		},
		{
			name:         "a hold time below 3s is refused",
			annotations:  []string{AnnotationPeers, `[{"address":"10.199.2.1","asn":65000,"holdTime":"2s"}]`},
			wantProblems: []string{`node "n2": annotation nodebgp.io/peers[0].holdTime: 2s is not 0 or 3s..65535s`},
		},
		{
			name:         "a hold time beyond 65535s is refused",
			annotations:  []string{AnnotationPeers, `[{"address":"10.199.2.1","asn":65000,"holdTime":"65536s"}]`},
			wantProblems: []string{`node "n2": annotation nodebgp.io/peers[0].holdTime: 18h12m16s is not 0 or 3s..65535s`},
		},
		{
			name:         "a fractional hold time is refused",
			annotations:  []string{AnnotationPeers, `[{"address":"10.199.2.1","asn":65000,"holdTime":"9.5s"}]`},
			wantProblems: []string{`node "n2": annotation nodebgp.io/peers[0].holdTime: "9.5s" is not a duration in whole seconds ("90s")`},
		},
		{
			name:         "a connect retry time beyond 65535s is refused",
			annotations:  []string{AnnotationPeers, `[{"address":"10.199.2.1","asn":65000,"connectRetryTime":"65536s"}]`},
			wantProblems: []string{`node "n2": annotation nodebgp.io/peers[0].connectRetryTime: 18h12m16s is outside 0..65535s`},
		},
		{
			name:         "a connect retry time that is no duration is refused",
			annotations:  []string{AnnotationPeers, `[{"address":"10.199.2.1","asn":65000,"connectRetryTime":"soon"}]`},
			wantProblems: []string{`node "n2": annotation nodebgp.io/peers[0].connectRetryTime: "soon" is not a duration in whole seconds ("90s")`},
		},
		{
			name:         "without a hold time, a keepalive above a third of the default 90s is refused (as the speaker would)",
			annotations:  []string{AnnotationPeers, `[{"address":"10.199.2.1","asn":65000,"keepaliveTime":"60s"}]`},
			wantProblems: []string{`node "n2": annotation nodebgp.io/peers[0].keepaliveTime: 1m0s is more than a third of the hold time 1m30s`},
		},
		{
			name:         "a keepalive above a third of the hold time is refused",
			annotations:  []string{AnnotationPeers, `[{"address":"10.199.2.1","asn":65000,"holdTime":"90s","keepaliveTime":"31s"}]`},
			wantProblems: []string{`node "n2": annotation nodebgp.io/peers[0].keepaliveTime: 31s is more than a third of the hold time 1m30s`},
		},
		{
			name:         "a Secret reference without a namespace is refused",
			annotations:  []string{AnnotationPeers, `[{"address":"10.199.2.1","asn":65000,"passwordSecret":"tor-secret"}]`},
			wantProblems: []string{`node "n2": annotation nodebgp.io/peers[0].passwordSecret: "tor-secret" is not a Secret reference (namespace/name)`},
		},
		{
			name:         "a Secret name that is not DNS-1123 is refused",
			annotations:  []string{AnnotationPeers, `[{"address":"10.199.2.1","asn":65000,"passwordSecret":"kube-system/Tor_Secret"}]`},
			wantProblems: []string{`node "n2": annotation nodebgp.io/peers[0].passwordSecret: "kube-system/Tor_Secret" is not a Secret reference (namespace/name)`},
		},
		{
			name:         "a password key without a Secret is refused",
			annotations:  []string{AnnotationPeers, `[{"address":"10.199.2.1","asn":65000,"passwordKey":"pw"}]`},
			wantProblems: []string{`node "n2": annotation nodebgp.io/peers[0].passwordKey: set without passwordSecret`},
		},
		{
			name:         "a password key that cannot be a Secret key is refused",
			annotations:  []string{AnnotationPeers, `[{"address":"10.199.2.1","asn":65000,"passwordSecret":"a/b","passwordKey":"a:b"}]`},
			wantProblems: []string{`node "n2": annotation nodebgp.io/peers[0].passwordKey: "a:b" is not a valid Secret key`},
		},
		{
			name:         "cluster ID 0 is refused",
			annotations:  []string{AnnotationRouteReflectorCluster, "0"},
			wantProblems: []string{`node "n2": annotation nodebgp.io/route-reflector-cluster-id: "0" is not a cluster ID (an IPv4 address or a 32-bit number, not 0)`},
		},
		{
			name:         "an IPv6 cluster ID is refused",
			annotations:  []string{AnnotationRouteReflectorCluster, "fd00::1"},
			wantProblems: []string{`node "n2": annotation nodebgp.io/route-reflector-cluster-id: "fd00::1" is not a cluster ID (an IPv4 address or a 32-bit number, not 0)`},
		},
		{
			name:        "one bad community drops the whole list",
			annotations: []string{AnnotationCommunities, "65000:1,65000:70000,no-export"},
			wantProblems: []string{`node "n2": annotation nodebgp.io/communities[1]: "65000:70000" is not a community ` +
				`(asn:value, each 0..65535, or no-export, no-advertise)`},
		},
		{
			name:        "an empty element of a community list is refused",
			annotations: []string{AnnotationLargeCommunities, "1:2:3,"},
			wantProblems: []string{`node "n2": annotation nodebgp.io/large-communities[1]: "" is not a large community ` +
				`(a:b:c, each 0..4294967295)`},
		},
		{
			name:         "a prepend count above 10 is refused",
			annotations:  []string{AnnotationASPathPrepend, "11"},
			wantProblems: []string{`node "n2": annotation nodebgp.io/as-path-prepend: "11" is not a count 0..10`},
		},
		{
			name: "a bad annotation leaves the other annotations in effect",
			annotations: []string{AnnotationASN, "x", AnnotationPeers, `[{"address":"10.199.2.2","asn":65000}]`,
				AnnotationCommunities, "65000:1", AnnotationASPathPrepend, "-1"},
			want: NodeConfig{Peers: []UpstreamPeer{good}, Communities: []string{"65000:1"}},
			wantProblems: []string{
				`node "n2": annotation nodebgp.io/asn: "x" is not a valid ASN`,
				`node "n2": annotation nodebgp.io/as-path-prepend: "-1" is not a count 0..10`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, problems := ParseNodeConfig(annotated("n2", tt.annotations...))
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseNodeConfig =\n %+v\nwant\n %+v", got, tt.want)
			}
			if gotP := errorStrings(problems); !reflect.DeepEqual(gotP, tt.wantProblems) {
				t.Errorf("problems =\n %q\nwant\n %q", gotP, tt.wantProblems)
			}
		})
	}
}

func TestAnnotationErrorNamesNodeAnnotationAndField(t *testing.T) {
	_, problems := ParseNodeConfig(annotated("n2", AnnotationPeers, `[{"address":"10.199.2.1","asn":65000},{"address":"10.199.2.2","asn":0}]`))
	if len(problems) != 1 {
		t.Fatalf("problems = %v, want one", problems)
	}
	var ae *AnnotationError
	if !errors.As(problems[0], &ae) {
		t.Fatalf("problem %v is not an *AnnotationError", problems[0])
	}
	if ae.Node != "n2" || ae.Annotation != AnnotationPeers || ae.Field != "[1].asn" {
		t.Errorf("AnnotationError = {Node:%q Annotation:%q Field:%q}, want n2, %s, [1].asn", ae.Node, ae.Annotation, ae.Field, AnnotationPeers)
	}
}

func TestParseNodeConfigNilNode(t *testing.T) {
	got, problems := ParseNodeConfig(nil)
	if len(problems) != 1 || !reflect.DeepEqual(got, NodeConfig{}) {
		t.Errorf("ParseNodeConfig(nil) = %+v, %v; want the defaults and one problem", got, problems)
	}
}

func TestLocalASN(t *testing.T) {
	if got := (NodeConfig{}).LocalASN(65000); got != 65000 {
		t.Errorf("LocalASN without annotation = %d, want the cluster ASN 65000", got)
	}
	if got := (NodeConfig{ASN: 65010}).LocalASN(65000); got != 65010 {
		t.Errorf("LocalASN with annotation = %d, want 65010", got)
	}
}
