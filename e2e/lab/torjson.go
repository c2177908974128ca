package lab

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
)

// ToRPath is one path in a ToR's BGP table.
type ToRPath struct {
	NextHops         []netip.Addr // 0.0.0.0 for a path the ToR originates
	ASPath           []uint32     // empty for a path the ToR originates
	Communities      []string     // "64512:100"
	LargeCommunities []string     // "64512:1:2"
	From             netip.Addr   // the neighbor it came from; 0.0.0.0 when originated here
	Valid            bool
	Best             bool
	Multipath        bool // installed alongside the best path (ECMP)
	Stale            bool // kept while its neighbor restarts (graceful restart)
	Local            bool // originated by the ToR itself
}

// ToRNeighbor is one BGP neighbor of a ToR.
type ToRNeighbor struct {
	Address          netip.Addr
	RemoteAS         uint32 // 0 until an explicit neighbor's OPEN arrives
	State            string // FRR's name: Idle, Connect, Active, OpenSent, OpenConfirm, Established, Clearing
	Dynamic          bool   // accepted through a listen range, not configured one by one
	PrefixesAccepted int    // IPv4 unicast prefixes accepted from it
	RemoteGRMode     string // the neighbor's graceful restart mode as FRR sees it: Restart, Helper, Disable, NotApplicable
	LastReset        string // why the session last went down, in FRR's words
	LastNotification string // the last NOTIFICATION sent or received ("OPEN Message Error/Bad Peer AS"), if any
}

// Established reports whether the session is up.
func (n ToRNeighbor) Established() bool { return n.State == "Established" }

// frrPath is a path in `show bgp ipv4 unicast json detail` (FRR 8.4).
type frrPath struct {
	ASPath *struct {
		Segments []struct {
			List []uint32 `json:"list"`
		} `json:"segments"`
	} `json:"aspath"`
	Valid     bool            `json:"valid"`
	Multipath bool            `json:"multipath"`
	Stale     bool            `json:"stale"`
	Local     bool            `json:"local"`
	Bestpath  json.RawMessage `json:"bestpath"`
	Community *struct {
		List []string `json:"list"`
	} `json:"community"`
	LargeCommunity *struct {
		List []string `json:"list"`
	} `json:"largeCommunity"`
	NextHops []struct {
		IP string `json:"ip"`
	} `json:"nexthops"`
	Peer *struct {
		PeerID string `json:"peerId"`
	} `json:"peer"`
}

// parseToRTable reads `show bgp ipv4 unicast json detail`. FRR 8.4 lists, per
// prefix, a header entry (prefix, advertisedTo) followed by the paths; later
// FRRs nest the paths under "paths". Both are read; the header, which has
// no next hops, is not a path.
func parseToRTable(data []byte) (map[netip.Prefix][]ToRPath, error) {
	var doc struct {
		Routes map[string]json.RawMessage `json:"routes"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("reading show bgp ipv4 unicast json detail: %w", err)
	}
	table := make(map[netip.Prefix][]ToRPath, len(doc.Routes))
	for key, raw := range doc.Routes {
		prefix, err := netip.ParsePrefix(key)
		if err != nil {
			return nil, fmt.Errorf("show bgp ipv4 unicast json detail: route %q: %w", key, err)
		}
		var entries []frrPath
		if err := json.Unmarshal(raw, &entries); err != nil {
			var nested struct {
				Paths []frrPath `json:"paths"`
			}
			if err2 := json.Unmarshal(raw, &nested); err2 != nil {
				return nil, fmt.Errorf("show bgp ipv4 unicast json detail: route %s: %w", prefix, err)
			}
			entries = nested.Paths
		}
		for i, e := range entries {
			if len(e.NextHops) == 0 {
				continue
			}
			p, err := e.toPath()
			if err != nil {
				return nil, fmt.Errorf("show bgp ipv4 unicast json detail: route %s path %d: %w", prefix, i, err)
			}
			table[prefix] = append(table[prefix], p)
		}
	}
	return table, nil
}

func (e frrPath) toPath() (ToRPath, error) {
	p := ToRPath{Valid: e.Valid, Multipath: e.Multipath, Stale: e.Stale, Local: e.Local, Best: bestpath(e.Bestpath)}
	for _, nh := range e.NextHops {
		a, err := netip.ParseAddr(nh.IP)
		if err != nil {
			return p, fmt.Errorf("next hop %q: %w", nh.IP, err)
		}
		p.NextHops = append(p.NextHops, a)
	}
	if e.ASPath != nil {
		for _, s := range e.ASPath.Segments {
			p.ASPath = append(p.ASPath, s.List...)
		}
	}
	if e.Community != nil {
		p.Communities = e.Community.List
	}
	if e.LargeCommunity != nil {
		p.LargeCommunities = e.LargeCommunity.List
	}
	if e.Peer != nil {
		a, err := netip.ParseAddr(e.Peer.PeerID)
		if err != nil {
			return p, fmt.Errorf("peer %q: %w", e.Peer.PeerID, err)
		}
		p.From = a
	}
	return p, nil
}

// bestpath reads "bestpath": an object {"overall": true, ...} in the detail
// view, a plain boolean in the table view.
func bestpath(raw json.RawMessage) bool {
	var b bool
	if json.Unmarshal(raw, &b) == nil {
		return b
	}
	var o struct {
		Overall bool `json:"overall"`
	}
	return json.Unmarshal(raw, &o) == nil && o.Overall
}

// parseToRNeighbors reads `show bgp neighbors json`: an object keyed by the
// neighbor's address. The result is sorted by address.
func parseToRNeighbors(data []byte) ([]ToRNeighbor, error) {
	var doc map[string]struct {
		RemoteAS               uint32 `json:"remoteAs"`
		BGPState               string `json:"bgpState"`
		PeerSubnetRangeGroup   string `json:"peerSubnetRangeGroup"`
		LastResetDueTo         string `json:"lastResetDueTo"`
		LastNotificationReason string `json:"lastNotificationReason"`
		AddressFamilyInfo      struct {
			IPv4Unicast struct {
				AcceptedPrefixCounter int `json:"acceptedPrefixCounter"`
			} `json:"ipv4Unicast"`
		} `json:"addressFamilyInfo"`
		GracefulRestartInfo struct {
			RemoteGrMode string `json:"remoteGrMode"`
		} `json:"gracefulRestartInfo"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("reading show bgp neighbors json: %w", err)
	}
	out := make([]ToRNeighbor, 0, len(doc))
	for k, n := range doc {
		a, err := netip.ParseAddr(k)
		if err != nil {
			return nil, fmt.Errorf("show bgp neighbors json: neighbor %q: %w", k, err)
		}
		out = append(out, ToRNeighbor{
			Address:          a,
			RemoteAS:         n.RemoteAS,
			State:            n.BGPState,
			Dynamic:          n.PeerSubnetRangeGroup != "",
			PrefixesAccepted: n.AddressFamilyInfo.IPv4Unicast.AcceptedPrefixCounter,
			RemoteGRMode:     n.GracefulRestartInfo.RemoteGrMode,
			LastReset:        n.LastResetDueTo,
			LastNotification: n.LastNotificationReason,
		})
	}
	slices.SortFunc(out, func(a, b ToRNeighbor) int { return a.Address.Compare(b.Address) })
	return out, nil
}
