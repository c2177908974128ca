package lab

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Neighbor is one BGP neighbor as an agent's GoBGP reports it through the
// gobgp CLI (`gobgp -j neighbor`).
type Neighbor struct {
	Address netip.Addr
	State   string // GoBGP's session state name: IDLE, ACTIVE, ESTABLISHED, ...
	// RRClient: the node reflects routes to this neighbor, in cluster
	// ClusterID.
	RRClient  bool
	ClusterID string
	// Timers are the neighbor's configured timers.
	Timers NeighborTimers
}

// NeighborTimers are a neighbor's configured timers, whole seconds as GoBGP
// keeps them.
type NeighborTimers struct {
	ConnectRetry, HoldTime, Keepalive time.Duration
}

// Established reports whether the session is up.
func (n Neighbor) Established() bool { return n.State == "ESTABLISHED" }

// sessionStates are GoBGP's PeerState.SessionState names by number; the CLI
// marshals the protobuf struct with encoding/json, so the state is a number.
var sessionStates = map[int]string{
	0: "UNKNOWN", 1: "IDLE", 2: "CONNECT", 3: "ACTIVE",
	4: "OPENSENT", 5: "OPENCONFIRM", 6: "ESTABLISHED",
}

// parseNeighbors reads `gobgp -j neighbor`: a JSON array of api.Peer, where
// state.session_state is omitted when 0 and a number otherwise (a name is
// accepted too, in case a later CLI marshals enums by name).
func parseNeighbors(data []byte) ([]Neighbor, error) {
	var peers []struct {
		Conf struct {
			NeighborAddress string `json:"neighbor_address"`
		} `json:"conf"`
		State struct {
			NeighborAddress string          `json:"neighbor_address"`
			SessionState    json.RawMessage `json:"session_state"`
		} `json:"state"`
		RouteReflector struct {
			Client    bool   `json:"route_reflector_client"`
			ClusterID string `json:"route_reflector_cluster_id"`
		} `json:"route_reflector"`
		Timers struct {
			Config struct {
				ConnectRetry      uint64 `json:"connect_retry"`
				HoldTime          uint64 `json:"hold_time"`
				KeepaliveInterval uint64 `json:"keepalive_interval"`
			} `json:"config"`
		} `json:"timers"`
	}
	if err := json.Unmarshal(bytes.TrimSpace(data), &peers); err != nil {
		return nil, fmt.Errorf("reading gobgp -j neighbor: %w", err)
	}
	out := make([]Neighbor, 0, len(peers))
	for i, p := range peers {
		addr := p.State.NeighborAddress
		if addr == "" {
			addr = p.Conf.NeighborAddress
		}
		a, err := netip.ParseAddr(addr)
		if err != nil {
			return nil, fmt.Errorf("gobgp -j neighbor: [%d].neighbor_address %q: %w", i, addr, err)
		}
		state, err := sessionState(p.State.SessionState)
		if err != nil {
			return nil, fmt.Errorf("gobgp -j neighbor: [%d] %s: %w", i, a, err)
		}
		tc := p.Timers.Config
		out = append(out, Neighbor{
			Address:   a,
			State:     state,
			RRClient:  p.RouteReflector.Client,
			ClusterID: p.RouteReflector.ClusterID,
			Timers: NeighborTimers{
				ConnectRetry: time.Duration(tc.ConnectRetry) * time.Second,
				HoldTime:     time.Duration(tc.HoldTime) * time.Second,
				Keepalive:    time.Duration(tc.KeepaliveInterval) * time.Second,
			},
		})
	}
	return out, nil
}

func sessionState(raw json.RawMessage) (string, error) {
	if len(raw) == 0 {
		return sessionStates[0], nil
	}
	var n int
	if err := json.Unmarshal(raw, &n); err == nil {
		if name, ok := sessionStates[n]; ok {
			return name, nil
		}
		return "", fmt.Errorf("session_state %d is unknown", n)
	}
	var name string
	if err := json.Unmarshal(raw, &name); err != nil {
		return "", fmt.Errorf("session_state %s is neither a number nor a name", raw)
	}
	return strings.TrimPrefix(strings.ToUpper(name), "SESSION_STATE_"), nil
}
