package cniinstall

import (
	"encoding/json"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/containernetworking/cni/libcni"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func cidrs(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

var goldenCases = []struct {
	name   string
	params ConflistParams
}{
	{name: "single-stack", params: ConflistParams{BridgeName: "nodebgp0", MTU: 1500, PodCIDRs: cidrs("10.244.1.0/24")}},
	{name: "dual-stack", params: ConflistParams{BridgeName: "nodebgp0", MTU: 1450, PodCIDRs: cidrs("10.244.1.0/24", "fd00:244:1::/64")}},
	{name: "ipv6-only", params: ConflistParams{BridgeName: "nodebgp0", MTU: 9000, PodCIDRs: cidrs("fd00:244:1::/64")}},
	{name: "data-dir", params: ConflistParams{BridgeName: "br-lab1", MTU: 1500, PodCIDRs: cidrs("10.244.1.0/24"), IPAMDataDir: "/var/lib/cni/lab-node1/networks"}},
}

func TestRenderConflistMatchesGolden(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := RenderConflist(tc.params)
			if err != nil {
				t.Fatalf("RenderConflist: %v", err)
			}
			golden := filepath.Join("testdata", tc.name+".conflist")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("reading golden file (run with -update to create it): %v", err)
			}
			if string(got) != string(want) {
				t.Errorf("RenderConflist differs from %s (run with -update if intended):\n%s", golden, got)
			}
		})
	}
}

func TestRenderConflistIsStable(t *testing.T) {
	p := goldenCases[1].params
	a, errA := RenderConflist(p)
	b, errB := RenderConflist(p)
	if errA != nil || errB != nil || string(a) != string(b) {
		t.Fatalf("two renders of the same params differ (%v, %v)", errA, errB)
	}
	if !strings.HasSuffix(string(a), "}\n") {
		t.Errorf("rendered conflist does not end in a newline")
	}
}

// bridgeView holds the bridge plugin fields whose spelling matters: the
// plugin silently ignores a misspelled key.
type bridgeView struct {
	Type         string `json:"type"`
	Bridge       string `json:"bridge"`
	IsGateway    bool   `json:"isGateway"`
	HairpinMode  bool   `json:"hairpinMode"`
	IPMasq       bool   `json:"ipMasq"`
	ForceAddress bool   `json:"forceAddress"`
	MTU          int    `json:"mtu"`
	IPAM         struct {
		Type   string `json:"type"`
		Ranges [][]struct {
			Subnet string `json:"subnet"`
		} `json:"ranges"`
		Routes []struct {
			Dst string `json:"dst"`
		} `json:"routes"`
		DataDir string `json:"dataDir"`
	} `json:"ipam"`
}

type portmapView struct {
	Capabilities map[string]bool `json:"capabilities"`
	SNAT         *bool           `json:"snat"`
}

func TestRenderConflistParsesWithLibcni(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := RenderConflist(tc.params)
			if err != nil {
				t.Fatalf("RenderConflist: %v", err)
			}
			list, err := libcni.ConfListFromBytes(out)
			if err != nil {
				t.Fatalf("libcni rejects the conflist: %v", err)
			}
			if list.Name != NetworkName || list.CNIVersion != "1.0.0" {
				t.Errorf("libcni sees network %q version %q, want %q 1.0.0", list.Name, list.CNIVersion, NetworkName)
			}
			var types []string
			for _, p := range list.Plugins {
				types = append(types, p.Network.Type)
			}
			if want := []string{"bridge", "portmap"}; !reflect.DeepEqual(types, want) {
				t.Fatalf("plugin chain = %q, want %q", types, want)
			}

			var br bridgeView
			if err := json.Unmarshal(list.Plugins[0].Bytes, &br); err != nil {
				t.Fatal(err)
			}
			if br.Bridge != tc.params.BridgeName || !br.IsGateway || !br.HairpinMode || br.IPMasq || br.ForceAddress || br.MTU != tc.params.MTU {
				t.Errorf("bridge plugin config = %+v", br)
			}
			if br.IPAM.Type != "host-local" || br.IPAM.DataDir != tc.params.IPAMDataDir {
				t.Errorf("ipam = %+v", br.IPAM)
			}
			if len(br.IPAM.Ranges) != len(tc.params.PodCIDRs) || len(br.IPAM.Routes) != len(tc.params.PodCIDRs) {
				t.Fatalf("ipam has %d range sets and %d routes for %d pod CIDRs", len(br.IPAM.Ranges), len(br.IPAM.Routes), len(tc.params.PodCIDRs))
			}
			for i, c := range tc.params.PodCIDRs {
				if set := br.IPAM.Ranges[i]; len(set) != 1 || set[0].Subnet != c.String() {
					t.Errorf("range set %d = %+v, want one subnet %s", i, set, c)
				}
				wantDst := "0.0.0.0/0"
				if c.Addr().Is6() {
					wantDst = "::/0"
				}
				if br.IPAM.Routes[i].Dst != wantDst {
					t.Errorf("route %d dst = %s, want %s", i, br.IPAM.Routes[i].Dst, wantDst)
				}
			}

			var pm portmapView
			if err := json.Unmarshal(list.Plugins[1].Bytes, &pm); err != nil {
				t.Fatal(err)
			}
			if !pm.Capabilities["portMappings"] || pm.SNAT == nil || !*pm.SNAT {
				t.Errorf("portmap plugin config = %s", list.Plugins[1].Bytes)
			}
		})
	}
}

func TestRenderConflistMasksHostBits(t *testing.T) {
	out, err := RenderConflist(ConflistParams{BridgeName: "nodebgp0", MTU: 1500, PodCIDRs: cidrs("10.244.1.77/24")})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `"subnet": "10.244.1.0/24"`) || strings.Contains(string(out), "10.244.1.77") {
		t.Errorf("host bits not masked:\n%s", out)
	}
}

func TestRenderConflistRejectsBadParams(t *testing.T) {
	ok := ConflistParams{BridgeName: "nodebgp0", MTU: 1500, PodCIDRs: cidrs("10.244.1.0/24")}
	with := func(f func(*ConflistParams)) ConflistParams {
		p := ok
		f(&p)
		return p
	}
	tests := []struct {
		name    string
		params  ConflistParams
		wantErr string
	}{
		{name: "empty bridge name", params: with(func(p *ConflistParams) { p.BridgeName = "" }), wantErr: "bridge name is empty"},
		{name: "bridge name over 15 bytes", params: with(func(p *ConflistParams) { p.BridgeName = "nodebgp-bridge-0" }), wantErr: `bridge name "nodebgp-bridge-0": longer than 15 bytes`},
		{name: "bridge name with a slash", params: with(func(p *ConflistParams) { p.BridgeName = "br/0" }), wantErr: `bridge name "br/0": contains '/', ':' or whitespace`},
		{name: "bridge name with a space", params: with(func(p *ConflistParams) { p.BridgeName = "br 0" }), wantErr: `bridge name "br 0": contains '/', ':' or whitespace`},
		{name: "bridge name dot-dot", params: with(func(p *ConflistParams) { p.BridgeName = ".." }), wantErr: `bridge name "..": not a valid interface name`},
		{name: "no pod CIDR", params: with(func(p *ConflistParams) { p.PodCIDRs = nil }), wantErr: "no pod CIDR"},
		{name: "zero-value pod CIDR", params: with(func(p *ConflistParams) { p.PodCIDRs = []netip.Prefix{{}} }), wantErr: "pod CIDR invalid Prefix is not valid"},
		{name: "two IPv4 pod CIDRs", params: with(func(p *ConflistParams) { p.PodCIDRs = cidrs("10.244.1.0/24", "10.244.2.0/24") }), wantErr: "pod CIDR 10.244.2.0/24: more than one pod CIDR of its family"},
		{name: "two IPv6 pod CIDRs", params: with(func(p *ConflistParams) { p.PodCIDRs = cidrs("fd00:1::/64", "10.244.2.0/24", "fd00:2::/64") }), wantErr: "pod CIDR fd00:2::/64: more than one pod CIDR of its family"},
		{name: "IPv4 /31 leaves no room for a pod", params: with(func(p *ConflistParams) { p.PodCIDRs = cidrs("10.244.1.0/31") }), wantErr: "pod CIDR 10.244.1.0/31: too small for a gateway and a pod (at most /30)"},
		{name: "IPv6 /127 leaves no room for a pod", params: with(func(p *ConflistParams) { p.PodCIDRs = cidrs("fd00::/127") }), wantErr: "pod CIDR fd00::/127: too small for a gateway and a pod (at most /126)"},
		{name: "zero MTU", params: with(func(p *ConflistParams) { p.MTU = 0 }), wantErr: "MTU 0: outside 68..65535"},
		{name: "MTU below the IPv4 minimum", params: with(func(p *ConflistParams) { p.MTU = 67 }), wantErr: "MTU 67: outside 68..65535"},
		{name: "MTU above 65535", params: with(func(p *ConflistParams) { p.MTU = 65536 }), wantErr: "MTU 65536: outside 68..65535"},
		{
			name:    "MTU below 1280 with an IPv6 pod CIDR",
			params:  with(func(p *ConflistParams) { p.MTU = 1279; p.PodCIDRs = cidrs("10.244.1.0/24", "fd00::/64") }),
			wantErr: "MTU 1279: outside 1280..65535 (IPv6 needs at least 1280)",
		},
		{name: "relative IPAM data dir", params: with(func(p *ConflistParams) { p.IPAMDataDir = "var/lib/cni" }), wantErr: `IPAM data dir "var/lib/cni": not an absolute path`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := RenderConflist(tt.params)
			want := "rendering CNI config 10-nodebgp.conflist: " + tt.wantErr
			if err == nil || err.Error() != want {
				t.Errorf("RenderConflist = %q, %v; want error %q", out, err, want)
			}
		})
	}
}

func TestRenderConflistAcceptsEdgeParams(t *testing.T) {
	tests := []struct {
		name   string
		params ConflistParams
	}{
		{name: "15-byte bridge name", params: ConflistParams{BridgeName: "nodebgp-bridge0", MTU: 1500, PodCIDRs: cidrs("10.244.1.0/24")}},
		{name: "IPv4-only MTU 68", params: ConflistParams{BridgeName: "nodebgp0", MTU: 68, PodCIDRs: cidrs("10.244.1.0/24")}},
		{name: "MTU 65535", params: ConflistParams{BridgeName: "nodebgp0", MTU: 65535, PodCIDRs: cidrs("fd00::/64")}},
		{name: "IPv6 MTU 1280", params: ConflistParams{BridgeName: "nodebgp0", MTU: 1280, PodCIDRs: cidrs("fd00::/64")}},
		{name: "IPv4 /30", params: ConflistParams{BridgeName: "nodebgp0", MTU: 1500, PodCIDRs: cidrs("10.244.1.0/30")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := RenderConflist(tt.params); err != nil {
				t.Errorf("RenderConflist: %v", err)
			}
		})
	}
}
