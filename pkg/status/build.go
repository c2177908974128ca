package status

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nodebgp/router/pkg/bfd"
	"github.com/nodebgp/router/pkg/bgp"
)

// Inputs is everything one status derives from: the latest of what the
// node loop planned and applied, the speaker's sessions and the route
// loop's last sync.
type Inputs struct {
	Node    string
	NodeUID string // "" while the Node is not in the cache: no owner, so Writer writes nothing

	ASN       uint32
	RouterID  netip.Addr
	Role      string
	ClusterID netip.Addr

	// Peers are the planned peers; Sessions what the speaker reports, or
	// SessionsErr why it could not.
	Peers       []bgp.Peer
	Sessions    []bgp.PeerStatus
	SessionsErr error
	// BFD is what the agent's BFD reports about its sessions (nil when it
	// runs none); a planned peer with BFD timers gets its session's state.
	BFD []bfd.Status
	// Advertised are the paths the speaker was last asked to announce.
	Advertised []bgp.Path

	// RoutesSynced is set once the route loop synced the kernel; RoutesErr
	// is its last error, KernelRoutes its last count.
	RoutesSynced bool
	RoutesErr    error
	KernelRoutes int
}

// KindName is the kind of peer as the status and the metrics name it.
func KindName(k bgp.PeerKind) string {
	if k == bgp.PeerUpstream {
		return "upstream"
	}
	return "node"
}

// Build derives the node's BGPNodeState. Its conditions carry no transition
// time yet: Writer keeps the time of the object last seen while a
// condition's status stays (see carryTimes).
func Build(in Inputs) Object {
	o := Object{
		APIVersion: Group + "/" + Version,
		Kind:       Kind,
		Metadata:   Metadata{Name: in.Node},
	}
	if in.NodeUID != "" {
		o.Metadata.OwnerReferences = []metav1.OwnerReference{{
			APIVersion: "v1", Kind: "Node", Name: in.Node, UID: typesUID(in.NodeUID),
		}}
	}
	s := &o.Status
	s.ASN = in.ASN
	if in.RouterID.IsValid() {
		s.RouterID = in.RouterID.String()
	}
	s.Role = in.Role
	if in.ClusterID.IsValid() {
		s.ClusterID = in.ClusterID.String()
	}
	s.Sessions = sessions(in.Peers, in.Sessions, in.SessionsErr, in.BFD)
	s.SessionsTotal = len(s.Sessions)
	var down []string
	for _, ss := range s.Sessions {
		if ss.BFD != nil {
			s.BFDTotal++
			if ss.BFD.State == bfd.Up.String() {
				s.BFDUp++
			}
		}
		if ss.State == bgp.StateEstablished {
			s.SessionsUp++
		} else {
			down = append(down, fmt.Sprintf("%s (%s)", ss.Peer, ss.State))
		}
	}
	s.SessionSummary = fmt.Sprintf("%d/%d", s.SessionsUp, s.SessionsTotal)
	if s.BFDTotal > 0 {
		s.BFDSummary = fmt.Sprintf("%d/%d", s.BFDUp, s.BFDTotal)
	}
	s.AdvertisedPodCIDRs = []string{}
	for _, p := range in.Advertised {
		c := p.Prefix.String()
		if !slices.Contains(s.AdvertisedPodCIDRs, c) {
			s.AdvertisedPodCIDRs = append(s.AdvertisedPodCIDRs, c)
		}
	}
	s.KernelRoutes = in.KernelRoutes

	routes := Condition{Type: RoutesProgrammed, Status: "True", Reason: "Synced"}
	switch {
	case !in.RoutesSynced:
		routes = Condition{Type: RoutesProgrammed, Status: "False", Reason: "NotSyncedYet", Message: "the first kernel route sync has not finished"}
	case in.RoutesErr != nil:
		routes = Condition{Type: RoutesProgrammed, Status: "False", Reason: "SyncFailed", Message: oneLine(in.RoutesErr.Error())}
	}
	peers := Condition{Type: PeersEstablished, Status: "True", Reason: "AllEstablished"}
	switch {
	case in.SessionsErr != nil:
		peers = Condition{Type: PeersEstablished, Status: "Unknown", Reason: "SpeakerUnreadable", Message: oneLine(in.SessionsErr.Error())}
	case len(s.Sessions) == 0:
		peers.Reason = "NoPeers"
	case len(down) > 0:
		peers = Condition{Type: PeersEstablished, Status: "False", Reason: "SessionsDown",
			Message: fmt.Sprintf("%d of %d sessions not established: %s", len(down), s.SessionsTotal, strings.Join(down, ", "))}
	}
	ready := Condition{Type: Ready, Status: "True", Reason: "RoutingReady"}
	if routes.Status != "True" || peers.Status != "True" {
		ready = Condition{Type: Ready, Status: "False", Reason: "NotReady"}
		var why []string
		for _, c := range []Condition{routes, peers} {
			if c.Status != "True" {
				why = append(why, c.Type+": "+c.Reason)
			}
		}
		ready.Message = strings.Join(why, "; ")
	}
	s.Conditions = []Condition{ready, routes, peers}
	return o
}

// sessions joins the planned peers with the speaker's and BFD's views, one
// per address, sorted. A planned peer the speaker does not list yet shows as
// "unknown"; a neighbor the plan does not know (being removed) is left out.
func sessions(planned []bgp.Peer, actual []bgp.PeerStatus, actualErr error, bfds []bfd.Status) []Session {
	byAddr := make(map[netip.Addr]bgp.PeerStatus, len(actual))
	for _, a := range actual {
		byAddr[a.Address] = a
	}
	bfdByAddr := make(map[netip.Addr]bfd.Status, len(bfds))
	for _, b := range bfds {
		bfdByAddr[b.Peer] = b
	}
	out := make([]Session, 0, len(planned))
	for _, p := range planned {
		s := Session{Peer: p.Address.String(), Name: p.Name, Kind: KindName(p.Kind), ASN: p.ASN, State: "unknown"}
		if a, ok := byAddr[p.Address]; ok && actualErr == nil {
			s.State = a.State
			if !a.Since.IsZero() {
				s.Since = FormatTime(a.Since)
			}
			s.Received, s.Accepted, s.Advertised = a.Received, a.Accepted, a.Advertised
			s.LastError = oneLine(a.LastError)
		}
		if p.BFD != (bfd.Timers{}) {
			s.BFD = sessionBFD(bfdByAddr, p.Address)
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b Session) int {
		return netip.MustParseAddr(a.Peer).Compare(netip.MustParseAddr(b.Peer))
	})
	return slices.CompactFunc(out, func(a, b Session) bool { return a.Peer == b.Peer })
}

// sessionBFD is the state of peer's BFD session. Nothing in it changes per
// packet: the state and diagnostic change with a transition, the detection
// time only when either side changes its timers (a Poll Sequence, as right
// after Up), so a steady session never rewrites the object.
func sessionBFD(byAddr map[netip.Addr]bfd.Status, peer netip.Addr) *SessionBFD {
	b, ok := byAddr[peer]
	if !ok {
		return &SessionBFD{State: BFDUnknown}
	}
	out := &SessionBFD{State: b.State.String()}
	if b.Diag != bfd.DiagNone {
		out.Diagnostic = b.Diag.String()
	}
	if b.State == bfd.Up {
		out.DetectionTimeMilliseconds = b.DetectTime.Milliseconds()
	}
	return out
}

// FormatTime is how the status writes a time: RFC 3339 in UTC, to the second.
func FormatTime(t time.Time) string { return t.UTC().Truncate(time.Second).Format(time.RFC3339) }

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " ") }

// carryTimes sets each condition's transition time: the one of prev (the
// object last seen or written) while the condition's status is the same,
// else now. So a restarted agent keeps the times of the object it finds.
func carryTimes(next *Status, prev *Status, now time.Time) {
	for i := range next.Conditions {
		c := &next.Conditions[i]
		c.LastTransitionTime = FormatTime(now)
		if prev == nil {
			continue
		}
		for _, p := range prev.Conditions {
			if p.Type == c.Type && p.Status == c.Status && p.LastTransitionTime != "" {
				c.LastTransitionTime = p.LastTransitionTime
			}
		}
	}
}
