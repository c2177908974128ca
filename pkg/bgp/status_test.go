package bgp

import (
	"net/netip"
	"testing"

	api "github.com/osrg/gobgp/v3/api"
)

func apiNeighbor(state api.PeerState_SessionState, families ...*api.AfiSafi) *api.Peer {
	return &api.Peer{
		Conf:     &api.PeerConf{NeighborAddress: "10.199.1.12", PeerAsn: 64512, Description: "n2"},
		State:    &api.PeerState{SessionState: state},
		AfiSafis: families,
	}
}

func afiSafi(f *api.Family, received, accepted uint64, grReceived, eor bool) *api.AfiSafi {
	return &api.AfiSafi{
		Config:            &api.AfiSafiConfig{Family: f, Enabled: true},
		State:             &api.AfiSafiState{Family: f, Received: received, Accepted: accepted},
		MpGracefulRestart: &api.MpGracefulRestart{State: &api.MpGracefulRestartState{Received: grReceived, EndOfRibReceived: eor}},
	}
}

func TestPeerStatusSummarizesGoBGPsNeighbor(t *testing.T) {
	got, err := peerStatusFromAPI(apiNeighbor(api.PeerState_ESTABLISHED,
		afiSafi(familyIPv4, 3, 2, true, true),
		&api.AfiSafi{Config: &api.AfiSafiConfig{Family: familyIPv6, Enabled: false}},
	))
	want := PeerStatus{
		Name: "n2", Address: netip.MustParseAddr("10.199.1.12"), ASN: 64512, State: "established",
		Received: 3, Accepted: 2, GracefulRestart: true, EORReceived: true,
	}
	if err != nil || got != want {
		t.Errorf("status = %+v, %v; want %+v", got, err, want)
	}
	if _, err := peerStatusFromAPI(&api.Peer{Conf: &api.PeerConf{NeighborAddress: "eth0"}}); err == nil {
		t.Error("neighbor by interface name: no error")
	}
	if st, err := peerStatusFromAPI(apiNeighbor(api.PeerState_ACTIVE)); err != nil || st.State != "active" || st.EORReceived || st.GracefulRestart {
		t.Errorf("active neighbor without families = %+v, %v", st, err)
	}
}

func TestConvergedWaitsForEveryPeersEndOfRIB(t *testing.T) {
	status := func(state api.PeerState_SessionState, fams ...*api.AfiSafi) PeerStatus {
		st, err := peerStatusFromAPI(apiNeighbor(state, fams...))
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	synced := status(api.PeerState_ESTABLISHED, afiSafi(familyIPv4, 1, 1, true, true))
	waiting := status(api.PeerState_ESTABLISHED, afiSafi(familyIPv4, 1, 1, true, false))
	noGR := status(api.PeerState_ESTABLISHED, afiSafi(familyIPv4, 1, 1, false, false))
	down := status(api.PeerState_ACTIVE, afiSafi(familyIPv4, 0, 0, true, false))
	downNoGR := status(api.PeerState_IDLE, afiSafi(familyIPv4, 0, 0, false, false))
	tests := []struct {
		name  string
		peers []PeerStatus
		want  bool
	}{
		{"no peers: nothing to wait for", nil, true},
		{"End-of-RIB received", []PeerStatus{synced}, true},
		{"End-of-RIB still due", []PeerStatus{synced, waiting}, false},
		{"a peer without graceful restart promised none", []PeerStatus{synced, noGR}, true},
		{"a peer down", []PeerStatus{synced, down}, false},
		{"a peer without graceful restart but down", []PeerStatus{downNoGR}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := converged(tt.peers); got != tt.want {
				t.Errorf("converged(%+v) = %v, want %v", tt.peers, got, tt.want)
			}
		})
	}
}
