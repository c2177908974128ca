package lab

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

// gobgpNeighborJSON is `gobgp -j neighbor` as the v3.37.0 CLI prints it: the
// api.Peer structs through encoding/json, session_state as a number, omitted
// when 0.
const gobgpNeighborJSON = `[{"conf":{"local_asn":64512,"neighbor_address":"10.199.1.12","peer_asn":64512},"state":{"neighbor_address":"10.199.1.12","peer_asn":64512,"session_state":6,"router_id":"10.199.1.12"}},{"conf":{"local_asn":64512,"neighbor_address":"10.199.1.13","peer_asn":64512},"state":{"neighbor_address":"10.199.1.13","peer_asn":64512,"session_state":3}}]`

func TestParseNeighborsReadsAddressAndSessionState(t *testing.T) {
	a := netip.MustParseAddr
	tests := []struct {
		name    string
		in      string
		want    []Neighbor
		wantErr bool
	}{
		{
			name: "established and active",
			in:   gobgpNeighborJSON + "\n",
			want: []Neighbor{{Address: a("10.199.1.12"), State: "ESTABLISHED"}, {Address: a("10.199.1.13"), State: "ACTIVE"}},
		},
		{name: "no neighbors prints null", in: "null\n", want: []Neighbor{}},
		{name: "no neighbors as empty list", in: "[]", want: []Neighbor{}},
		{
			name: "omitted state is UNKNOWN, address from conf",
			in:   `[{"conf":{"neighbor_address":"10.199.1.14"},"state":{}}]`,
			want: []Neighbor{{Address: a("10.199.1.14"), State: "UNKNOWN"}},
		},
		{
			name: "state by name",
			in:   `[{"state":{"neighbor_address":"10.199.1.12","session_state":"ESTABLISHED"}}]`,
			want: []Neighbor{{Address: a("10.199.1.12"), State: "ESTABLISHED"}},
		},
		{
			name: "route-reflector client and configured timers",
			in: `[{"conf":{"neighbor_address":"10.199.1.13"},"state":{"session_state":6},` +
				`"route_reflector":{"route_reflector_client":true,"route_reflector_cluster_id":"10.0.0.1"},` +
				`"timers":{"config":{"connect_retry":3,"hold_time":30,"keepalive_interval":10},"state":{"negotiated_hold_time":30}}}]`,
			want: []Neighbor{{Address: a("10.199.1.13"), State: "ESTABLISHED", RRClient: true, ClusterID: "10.0.0.1",
				Timers: NeighborTimers{ConnectRetry: 3 * time.Second, HoldTime: 30 * time.Second, Keepalive: 10 * time.Second}}},
		},
		{name: "unknown state number", in: `[{"state":{"neighbor_address":"10.199.1.12","session_state":9}}]`, wantErr: true},
		{name: "bad address", in: `[{"state":{"neighbor_address":"node2","session_state":6}}]`, wantErr: true},
		{name: "CLI error text", in: "rpc error: code = Unavailable", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseNeighbors([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseNeighbors error = %v, wantErr %v", err, tt.wantErr)
			}
			if !tt.wantErr && !slices.Equal(got, tt.want) {
				t.Errorf("parseNeighbors = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestMissingSessionsNamesEveryNodePairThatIsNotUp(t *testing.T) {
	nodes := []*Node{newNode("/lab", 1), newNode("/lab", 2), newNode("/lab", 3)}
	up := func(n int) Neighbor { return Neighbor{Address: NodeIP(n), State: "ESTABLISHED"} }
	tests := []struct {
		name     string
		statuses []NodeStatus
		want     []string
	}{
		{
			name: "full mesh",
			statuses: []NodeStatus{
				{Name: "lab-node1", Neighbors: []Neighbor{up(2), up(3)}},
				{Name: "lab-node2", Neighbors: []Neighbor{up(1), up(3)}},
				{Name: "lab-node3", Neighbors: []Neighbor{up(1), up(2)}},
			},
		},
		{
			name: "an extra peer (a ToR) does not matter",
			statuses: []NodeStatus{
				{Name: "lab-node1", Neighbors: []Neighbor{up(2), up(3), {Address: netip.MustParseAddr("10.199.1.250"), State: "ACTIVE"}}},
				{Name: "lab-node2", Neighbors: []Neighbor{up(1), up(3)}},
				{Name: "lab-node3", Neighbors: []Neighbor{up(1), up(2)}},
			},
		},
		{
			name: "one session down, one peer missing, one node unreadable",
			statuses: []NodeStatus{
				{Name: "lab-node1", Neighbors: []Neighbor{up(2), {Address: NodeIP(3), State: "ACTIVE"}}},
				{Name: "lab-node2", Neighbors: []Neighbor{up(1)}},
				{Name: "lab-node3", BGPErr: errors.New("connection refused")},
			},
			want: []string{
				"lab-node1 -> lab-node3 (10.199.1.13): ACTIVE",
				"lab-node2 -> lab-node3 (10.199.1.13): not configured",
				"lab-node3 -> lab-node1 (10.199.1.11): not configured",
				"lab-node3 -> lab-node2 (10.199.1.12): not configured",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := missingSessions(tt.statuses, nodes); !slices.Equal(got, tt.want) {
				t.Errorf("missingSessions =\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

func TestStatusTableShowsSessionsAgentStateAndPodIP(t *testing.T) {
	statuses := []NodeStatus{
		{Name: "lab-node1", PodCIDR: NodePodCIDR(1), AgentRunning: true,
			Neighbors: []Neighbor{{Address: NodeIP(2), State: "ESTABLISHED"}, {Address: NodeIP(3), State: "ACTIVE"}},
			PodIP:     netip.MustParseAddr("10.244.1.2")},
		{Name: "lab-node2", PodCIDR: NodePodCIDR(2), AgentRunning: false},
		{Name: "lab-node3", PodCIDR: NodePodCIDR(3), AgentRunning: true, BGPErr: errors.New("refused")},
	}
	var b strings.Builder
	if err := WriteStatusTable(&b, statuses); err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"NODE       POD-CIDR       BGP-UP         POD-IP",
		"lab-node1  10.244.1.0/24  1/2            10.244.1.2",
		"lab-node2  10.244.2.0/24  agent stopped  -",
		"lab-node3  10.244.3.0/24  unreadable     -",
		"",
	}, "\n")
	if b.String() != want {
		t.Errorf("table =\n%s\nwant\n%s", b.String(), want)
	}
}
