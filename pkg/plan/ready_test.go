package plan

import (
	"strings"
	"testing"
	"time"

	"github.com/nodebgp/router/pkg/bgp"
)

func TestNetworkReady(t *testing.T) {
	up := bgp.PeerStatus{State: bgp.StateEstablished}
	down := bgp.PeerStatus{State: "active"}
	tests := []struct {
		name    string
		in      NetworkInputs
		want    bool
		wantWhy string
	}{
		{"a config from before a restart stays", NetworkInputs{ConflistWritten: true}, true, ""},
		{"not before the first route sync", NetworkInputs{Configured: 0, Timeout: time.Minute}, false, "route sync"},
		{"a node without peers is ready once routes synced", NetworkInputs{RoutesSynced: true, Timeout: time.Minute}, true, ""},
		{"every session established", NetworkInputs{RoutesSynced: true, Configured: 2, Peers: []bgp.PeerStatus{up, up}, Timeout: time.Minute}, true, ""},
		{"one session missing: wait", NetworkInputs{RoutesSynced: true, Configured: 2, Peers: []bgp.PeerStatus{up, down}, Waited: 10 * time.Second, Timeout: time.Minute}, false, "1 of 2 established, at most 50s more"},
		{"a peer not configured yet counts as missing", NetworkInputs{RoutesSynced: true, Configured: 2, Peers: []bgp.PeerStatus{up}, Timeout: time.Minute}, false, "1 of 2"},
		{"the wait is bounded", NetworkInputs{RoutesSynced: true, Configured: 2, Peers: []bgp.PeerStatus{up, down}, Waited: time.Minute, Timeout: time.Minute}, true, "1 of 2 BGP sessions established after 1m0s"},
		{"timeout 0 does not wait for sessions", NetworkInputs{RoutesSynced: true, Configured: 2, Peers: []bgp.PeerStatus{down, down}}, true, "0 of 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, why := NetworkReady(tt.in)
			if got != tt.want || !strings.Contains(why, tt.wantWhy) || (tt.wantWhy == "" && why != "") {
				t.Fatalf("NetworkReady = %v, %q; want %v, %q", got, why, tt.want, tt.wantWhy)
			}
		})
	}
}

func TestSessionsLost(t *testing.T) {
	up := bgp.PeerStatus{State: bgp.StateEstablished}
	down := bgp.PeerStatus{State: "idle"}
	tests := []struct {
		name string
		in   NetworkInputs
		lost bool
	}{
		{"no peers configured", NetworkInputs{Timeout: time.Minute}, false},
		{"one session up", NetworkInputs{Configured: 2, Peers: []bgp.PeerStatus{down, up}, EverEstablished: true, Timeout: time.Minute}, false},
		{"every session down after one was up", NetworkInputs{Configured: 2, Peers: []bgp.PeerStatus{down, down}, EverEstablished: true, Timeout: time.Minute}, true},
		{"a restarting speaker whose sessions are coming up", NetworkInputs{Configured: 2, Peers: []bgp.PeerStatus{down, down}, Waited: 5 * time.Second, Timeout: time.Minute}, false},
		{"no session ever came up within the wait", NetworkInputs{Configured: 2, Peers: []bgp.PeerStatus{down, down}, Waited: time.Minute, Timeout: time.Minute}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := SessionsLost(tt.in)
			if (err != nil) != tt.lost {
				t.Fatalf("SessionsLost = %v, want lost: %v", err, tt.lost)
			}
			if err != nil && !strings.Contains(err.Error(), "none of 2") {
				t.Fatalf("SessionsLost = %v, want the count named", err)
			}
		})
	}
}
