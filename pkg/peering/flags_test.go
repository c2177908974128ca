package peering

import (
	"reflect"
	"testing"
)

func TestParseGlobalPeers(t *testing.T) {
	tests := []struct {
		name                   string
		ips, asns, ports, ttls []string
		secret                 string
		want                   []UpstreamPeer
	}{
		{name: "no flags means no global peers"},
		{
			name: "one ASN serves every IP, port defaults to 179",
			ips:  []string{"10.199.2.1", "10.199.2.2"}, asns: []string{"65000"},
			want: []UpstreamPeer{
				{Address: addr("10.199.2.1"), ASN: 65000, Port: 179},
				{Address: addr("10.199.2.2"), ASN: 65000, Port: 179},
			},
		},
		{
			name: "ASNs, ports and TTLs one per IP",
			ips:  []string{"10.199.2.1", "fd00:199::1"}, asns: []string{"65000", "65001"},
			ports: []string{"179", "1179"}, ttls: []string{"1", "2"},
			want: []UpstreamPeer{
				{Address: addr("10.199.2.1"), ASN: 65000, Port: 179, MultihopTTL: 1},
				{Address: addr("fd00:199::1"), ASN: 65001, Port: 1179, MultihopTTL: 2},
			},
		},
		{
			name: "the password Secret has one key per peer address",
			ips:  []string{"10.199.2.1", "fd00:199::1"}, asns: []string{"65000"}, secret: "kube-system/peer-passwords",
			want: []UpstreamPeer{
				{Address: addr("10.199.2.1"), ASN: 65000, Port: 179,
					PasswordSecret: SecretRef{Namespace: "kube-system", Name: "peer-passwords", Key: "10.199.2.1"}},
				{Address: addr("fd00:199::1"), ASN: 65000, Port: 179,
					PasswordSecret: SecretRef{Namespace: "kube-system", Name: "peer-passwords", Key: "fd00-199--1"}},
			},
		},
		{
			name: "values are trimmed",
			ips:  []string{" 10.199.2.1 "}, asns: []string{" 65000"}, ports: []string{"1179 "},
			want: []UpstreamPeer{{Address: addr("10.199.2.1"), ASN: 65000, Port: 1179}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseGlobalPeers(tt.ips, tt.asns, tt.ports, tt.ttls, tt.secret)
			if err != nil {
				t.Fatalf("ParseGlobalPeers: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseGlobalPeers =\n %+v\nwant\n %+v", got, tt.want)
			}
		})
	}
}

func TestParseGlobalPeersErrors(t *testing.T) {
	tests := []struct {
		name                   string
		ips, asns, ports, ttls []string
		secret                 string
		wantErr                string
	}{
		{
			name: "a bad ASN names the flag and index",
			ips:  []string{"10.199.2.1", "10.199.2.2"}, asns: []string{"65000", "x"},
			wantErr: `--peer-router-asns[1]: "x" is not a valid ASN`,
		},
		{
			name: "a bad shared ASN is reported once",
			ips:  []string{"10.199.2.1", "10.199.2.2"}, asns: []string{"0"},
			wantErr: `--peer-router-asns[0]: "0" is not a valid ASN`,
		},
		{
			name:    "missing ASNs name both flags",
			ips:     []string{"10.199.2.1"},
			wantErr: `--peer-router-asns: 0 values for 1 --peer-router-ips (give one per IP, or one for all)`,
		},
		{
			name: "a count mismatch names both flags",
			ips:  []string{"10.199.2.1", "10.199.2.2", "10.199.2.3"}, asns: []string{"65000"}, ports: []string{"179", "179"},
			wantErr: `--peer-router-ports: 2 values for 3 --peer-router-ips (give one per IP, or one for all)`,
		},
		{
			name: "a bad IP names the flag and index",
			ips:  []string{"10.199.2.1", "10.199.2"}, asns: []string{"65000"},
			wantErr: `--peer-router-ips[1]: "10.199.2" is not a usable IP address`,
		},
		{
			name: "a repeated IP is refused",
			ips:  []string{"10.199.2.1", "10.199.2.1"}, asns: []string{"65000"},
			wantErr: `--peer-router-ips[1]: 10.199.2.1 is already --peer-router-ips[0]`,
		},
		{
			name: "port 0 is refused",
			ips:  []string{"10.199.2.1"}, asns: []string{"65000"}, ports: []string{"0"},
			wantErr: `--peer-router-ports[0]: "0" is not a port (1..65535)`,
		},
		{
			name: "a TTL above 255 is refused",
			ips:  []string{"10.199.2.1"}, asns: []string{"65000"}, ttls: []string{"256"},
			wantErr: `--peer-router-multihop-ttl[0]: "256" is not a TTL (0..255)`,
		},
		{
			name: "a password Secret without a namespace is refused",
			ips:  []string{"10.199.2.1"}, asns: []string{"65000"}, secret: "passwords",
			wantErr: `--peer-router-password-secret: "passwords" is not a Secret reference (namespace/name)`,
		},
		{
			name: "peer settings without IPs are refused",
			asns: []string{"65000"}, secret: "kube-system/pw",
			wantErr: "--peer-router-asns: set without --peer-router-ips\n--peer-router-password-secret: set without --peer-router-ips",
		},
		{
			name: "every problem is reported",
			ips:  []string{"x", "10.199.2.2"}, asns: []string{"65000", "y"},
			wantErr: "--peer-router-ips[0]: \"x\" is not a usable IP address\n--peer-router-asns[1]: \"y\" is not a valid ASN",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseGlobalPeers(tt.ips, tt.asns, tt.ports, tt.ttls, tt.secret)
			if err == nil {
				t.Fatalf("ParseGlobalPeers = %+v, want error %q", got, tt.wantErr)
			}
			if err.Error() != tt.wantErr {
				t.Errorf("ParseGlobalPeers error =\n %q\nwant\n %q", err, tt.wantErr)
			}
			if got != nil {
				t.Errorf("ParseGlobalPeers returned peers %+v with an error", got)
			}
		})
	}
}

func TestSetGlobalPeersBFD(t *testing.T) {
	peers := func() []UpstreamPeer {
		return []UpstreamPeer{{Address: addr("10.199.1.254")}, {Address: addr("10.199.1.253")}}
	}
	p := peers()
	if err := SetGlobalPeersBFD(p, []string{"true"}); err != nil || !p[0].BFD.Enabled || !p[1].BFD.Enabled {
		t.Fatalf("one for all: %v %+v", err, p)
	}
	p = peers()
	if err := SetGlobalPeersBFD(p, []string{"false", "true"}); err != nil || p[0].BFD.Enabled || !p[1].BFD.Enabled {
		t.Fatalf("one per IP: %v %+v", err, p)
	}
	for _, tc := range []struct {
		peers []UpstreamPeer
		vals  []string
		want  string
	}{
		{peers(), []string{"yes"}, `--peer-router-bfd[0]: "yes" is not true or false`},
		{peers(), []string{"true", "true", "true"}, `--peer-router-bfd: 3 values for 2 --peer-router-ips (give one per IP, or one for all)`},
		{nil, []string{"true"}, `--peer-router-bfd: set without --peer-router-ips`},
	} {
		if err := SetGlobalPeersBFD(tc.peers, tc.vals); err == nil || err.Error() != tc.want {
			t.Errorf("SetGlobalPeersBFD(%v) = %v, want %s", tc.vals, err, tc.want)
		}
	}
}
