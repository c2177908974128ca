package status

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/nodebgp/router/pkg/bfd"
	"github.com/nodebgp/router/pkg/bgp"
)

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

var (
	n2  = bgp.Peer{Name: "n2", Address: addr("10.199.1.12"), ASN: 64512, Kind: bgp.PeerNode}
	n3  = bgp.Peer{Name: "n3", Address: addr("10.199.1.13"), ASN: 64512, Kind: bgp.PeerNode}
	tor = bgp.Peer{Address: addr("10.199.0.1"), ASN: 65000, Kind: bgp.PeerUpstream}
	t0  = time.Date(2026, 12, 4, 10, 0, 0, 500, time.UTC)
)

func healthy() Inputs {
	return Inputs{
		Node: "n1", NodeUID: "uid-1", ASN: 64512, RouterID: addr("10.199.1.11"), Role: "mesh",
		Peers: []bgp.Peer{n3, n2, tor},
		Sessions: []bgp.PeerStatus{
			{Address: n2.Address, State: "established", Received: 1, Accepted: 1, Advertised: 1, Since: t0},
			{Address: n3.Address, State: "established", Received: 1, Accepted: 1, Advertised: 1, Since: t0},
			{Address: tor.Address, State: "established", Received: 5, Accepted: 5, Advertised: 1, Since: t0},
		},
		Advertised:   []bgp.Path{{Prefix: netip.MustParsePrefix("10.244.1.0/24"), NextHop: addr("10.199.1.11")}},
		RoutesSynced: true, KernelRoutes: 7,
	}
}

func condition(s Status, typ string) Condition {
	for _, c := range s.Conditions {
		if c.Type == typ {
			return c
		}
	}
	return Condition{}
}

func TestBuildAHealthyNode(t *testing.T) {
	o := Build(healthy())
	if o.APIVersion != "nodebgp.io/v1alpha1" || o.Kind != "BGPNodeState" || o.Metadata.Name != "n1" {
		t.Errorf("object = %s %s %s", o.APIVersion, o.Kind, o.Metadata.Name)
	}
	if refs := o.Metadata.OwnerReferences; len(refs) != 1 || refs[0].Kind != "Node" || refs[0].Name != "n1" || refs[0].UID != "uid-1" {
		t.Errorf("ownerReferences = %+v, want the Node n1", refs)
	}
	s := o.Status
	if s.ASN != 64512 || s.RouterID != "10.199.1.11" || s.Role != "mesh" || s.SessionSummary != "3/3" || s.KernelRoutes != 7 {
		t.Errorf("status = %+v", s)
	}
	var peers []string
	for _, ss := range s.Sessions {
		peers = append(peers, ss.Peer+"/"+ss.Kind)
	}
	if want := "[10.199.0.1/upstream 10.199.1.12/node 10.199.1.13/node]"; fmtList(peers) != want {
		t.Errorf("sessions = %v, want %s (sorted by address)", peers, want)
	}
	if s.Sessions[0].Since != "2026-12-04T10:00:00Z" || s.Sessions[0].Received != 5 {
		t.Errorf("ToR session = %+v", s.Sessions[0])
	}
	if fmtList(s.AdvertisedPodCIDRs) != "[10.244.1.0/24]" {
		t.Errorf("advertised = %v", s.AdvertisedPodCIDRs)
	}
	for _, typ := range []string{Ready, RoutesProgrammed, PeersEstablished} {
		if c := condition(s, typ); c.Status != "True" {
			t.Errorf("condition %s = %+v, want True", typ, c)
		}
	}
}

func fmtList(ss []string) string { return fmt.Sprint(ss) }

func TestBuildConditions(t *testing.T) {
	tests := []struct {
		name                      string
		modify                    func(in *Inputs)
		ready, routes, peers      string
		peersReason, routesReason string
	}{
		{"healthy", func(*Inputs) {}, "True", "True", "True", "AllEstablished", "Synced"},
		{"a session down", func(in *Inputs) { in.Sessions[1].State = "active" }, "False", "True", "False", "SessionsDown", "Synced"},
		{"a planned peer GoBGP does not list yet", func(in *Inputs) { in.Sessions = in.Sessions[:2] }, "False", "True", "False", "SessionsDown", "Synced"},
		{"no peers at all", func(in *Inputs) { in.Peers, in.Sessions = nil, nil }, "True", "True", "True", "NoPeers", "Synced"},
		{"speaker unreadable", func(in *Inputs) { in.SessionsErr = errors.New("deadline") }, "False", "True", "Unknown", "SpeakerUnreadable", "Synced"},
		{"routes never synced", func(in *Inputs) { in.RoutesSynced = false }, "False", "False", "True", "AllEstablished", "NotSyncedYet"},
		{"route sync failing", func(in *Inputs) { in.RoutesErr = errors.New("adding route\nfile exists") }, "False", "False", "True", "AllEstablished", "SyncFailed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := healthy()
			tt.modify(&in)
			s := Build(in).Status
			r, ro, p := condition(s, Ready), condition(s, RoutesProgrammed), condition(s, PeersEstablished)
			if r.Status != tt.ready || ro.Status != tt.routes || p.Status != tt.peers || p.Reason != tt.peersReason || ro.Reason != tt.routesReason {
				t.Errorf("conditions = %+v", s.Conditions)
			}
		})
	}
	in := healthy()
	in.Sessions[1].State = "active"
	if s := Build(in).Status; s.SessionSummary != "2/3" || condition(s, PeersEstablished).Message != "1 of 3 sessions not established: 10.199.1.13 (active)" {
		t.Errorf("summary %q, message %q", s.SessionSummary, condition(s, PeersEstablished).Message)
	}
}

// The same inputs build the same object: nothing in it changes by itself,
// so an idle node writes nothing.
func TestBuildIsStable(t *testing.T) {
	a, b := mustJSON(Build(healthy())), mustJSON(Build(healthy()))
	if string(a) != string(b) {
		t.Errorf("two builds differ:\n%s\n%s", a, b)
	}
}

func TestCarryTimesKeepsTheTimeWhileTheStatusStays(t *testing.T) {
	prev := Build(healthy()).Status
	carryTimes(&prev, nil, t0)
	next := Build(healthy()).Status
	carryTimes(&next, &prev, t0.Add(time.Minute))
	if c := condition(next, Ready); c.LastTransitionTime != "2026-12-04T10:00:00Z" {
		t.Errorf("unchanged Ready moved to %s", c.LastTransitionTime)
	}
	in := healthy()
	in.RoutesErr = errors.New("x")
	flipped := Build(in).Status
	carryTimes(&flipped, &prev, t0.Add(time.Minute))
	if c := condition(flipped, RoutesProgrammed); c.LastTransitionTime != "2026-12-04T10:01:00Z" {
		t.Errorf("RoutesProgrammed that flipped keeps %s", c.LastTransitionTime)
	}
	if c := condition(flipped, PeersEstablished); c.LastTransitionTime != "2026-12-04T10:00:00Z" {
		t.Errorf("PeersEstablished that stayed moved to %s", c.LastTransitionTime)
	}
}

// withBFD is healthy() with BFD configured on the ToR and n2 (not n3), and
// the agent's BFD reporting the given sessions.
func withBFD(sessions ...bfd.Status) Inputs {
	in := healthy()
	timers := bfd.Timers{MinTx: 300 * time.Millisecond, MinRx: 300 * time.Millisecond, Multiplier: 3}
	for i := range in.Peers {
		if in.Peers[i].Address != n3.Address {
			in.Peers[i].BFD = timers
		}
	}
	in.BFD = sessions
	return in
}

func TestBuildBFDPerSession(t *testing.T) {
	up := func(a netip.Addr) bfd.Status {
		return bfd.Status{Peer: a, State: bfd.Up, RemoteState: bfd.Up, DetectTime: 900 * time.Millisecond}
	}
	tests := []struct {
		name    string
		in      Inputs
		n2, tor *SessionBFD // n3 never has BFD configured
		summary string
	}{
		{
			name:    "both Up: state and the negotiated detection time",
			in:      withBFD(up(tor.Address), up(n2.Address)),
			n2:      &SessionBFD{State: "Up", DetectionTimeMilliseconds: 900},
			tor:     &SessionBFD{State: "Up", DetectionTimeMilliseconds: 900},
			summary: "2/2",
		},
		{
			name: "one Down after its detection time expired: the diagnostic, no detection time",
			in: withBFD(up(tor.Address), bfd.Status{Peer: n2.Address, State: bfd.Down, Diag: bfd.DiagControlDetectExpired,
				DetectTime: 900 * time.Millisecond}),
			n2:      &SessionBFD{State: "Down", Diagnostic: "control detection time expired"},
			tor:     &SessionBFD{State: "Up", DetectionTimeMilliseconds: 900},
			summary: "1/2",
		},
		{
			name:    "configured but not listed by BFD yet",
			in:      withBFD(up(tor.Address)),
			n2:      &SessionBFD{State: "Unknown"},
			tor:     &SessionBFD{State: "Up", DetectionTimeMilliseconds: 900},
			summary: "1/2",
		},
		{
			name:    "the peer said AdminDown, Init",
			in:      withBFD(bfd.Status{Peer: tor.Address, State: bfd.Init}, bfd.Status{Peer: n2.Address, State: bfd.Down, Diag: bfd.DiagNeighborSignaledDown}),
			n2:      &SessionBFD{State: "Down", Diagnostic: "neighbor signaled session down"},
			tor:     &SessionBFD{State: "Init"},
			summary: "0/2",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Build(tt.in).Status
			got := map[string]*SessionBFD{}
			for _, ss := range s.Sessions {
				got[ss.Peer] = ss.BFD
			}
			for peer, want := range map[string]*SessionBFD{n2.Address.String(): tt.n2, tor.Address.String(): tt.tor, n3.Address.String(): nil} {
				if fmt.Sprint(got[peer]) != fmt.Sprint(want) {
					t.Errorf("%s: bfd = %+v, want %+v", peer, got[peer], want)
				}
			}
			if s.BFDSummary != tt.summary || s.BFDTotal != 2 {
				t.Errorf("bfdSummary %q of %d, want %q of 2", s.BFDSummary, s.BFDTotal, tt.summary)
			}
		})
	}
}

// BFD's verdict is its own: the BGP conditions stay what the speaker says.
func TestBuildBFDDownLeavesTheBGPConditionsAlone(t *testing.T) {
	s := Build(withBFD(bfd.Status{Peer: n2.Address, State: bfd.Down})).Status
	if c := condition(s, PeersEstablished); c.Status != "True" {
		t.Errorf("PeersEstablished = %+v with every BGP session established", c)
	}
}

// A BFD session configured for a peer GoBGP does not list yet still shows,
// and a BFD session the plan has no peer for (being removed) does not.
func TestBuildBFDFollowsThePlannedPeers(t *testing.T) {
	in := withBFD(bfd.Status{Peer: addr("10.199.1.99"), State: bfd.Up})
	in.Sessions = nil
	s := Build(in).Status
	if s.BFDTotal != 2 || s.BFDUp != 0 {
		t.Errorf("bfd %d/%d, want 0/2", s.BFDUp, s.BFDTotal)
	}
	for _, ss := range s.Sessions {
		if ss.Peer == "10.199.1.99" {
			t.Errorf("a session for a peer the plan does not have: %+v", ss)
		}
	}
}

// A node without BFD writes no BFD fields at all: the object of a cluster
// that never turned BFD on is what it was before BFD existed.
func TestBuildWithoutBFDWritesNoBFDFields(t *testing.T) {
	raw := string(mustJSON(Build(healthy())))
	if strings.Contains(raw, "bfd") {
		t.Errorf("object without BFD mentions it: %s", raw)
	}
	raw = string(mustJSON(Build(withBFD())))
	for _, want := range []string{`"bfdSummary":"0/2"`, `"bfd":{"state":"Unknown"}`} {
		if !strings.Contains(raw, want) {
			t.Errorf("object with BFD configured lacks %s: %s", want, raw)
		}
	}
}
