package bgp

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	api "github.com/osrg/gobgp/v3/api"
)

// StateEstablished is PeerStatus.State of a session that is up.
const StateEstablished = "established"

// PeerStatus is the observed state of one configured neighbor.
type PeerStatus struct {
	Name    string
	Address netip.Addr
	ASN     uint32
	// State is the BGP FSM state in lower case: "idle", "connect",
	// "active", "opensent", "openconfirm", "established" (or "unknown").
	State string
	// Received counts the prefixes in the peer's Adj-RIB-In over all its
	// families; Accepted is GoBGP's count of those not rejected on
	// arrival (an AS loop, a route-server client's own policy). Our import
	// policy is global, which GoBGP does not count per neighbor
	// (table/adj.go:148): what it let through shows in BestPaths.
	Received, Accepted int
	// GracefulRestart is set when the peer announced graceful restart for
	// all of its families in the current session, and so promised an
	// End-of-RIB marker for each.
	GracefulRestart bool
	// EORReceived is set when End-of-RIB arrived for every family of the
	// session.
	EORReceived bool
	// LastError is the last problem GoBGP reported about this neighbor,
	// its log lines of one burst joined by "; ", e.g. "prefix limit reached
	// (ipv4-unicast); sent notification; Peer Down: notification-sent code
	// 6(cease) subcode 9(undefined)" (subcode 9 is RFC 8538's Hard Reset,
	// which GoBGP sends instead of the Cease's own subcode when the peer
	// announced the N bit); "" if none. It stays after the session recovers.
	// A TCP-MD5 mismatch shows nowhere: the kernel drops the segments
	// silently, and the session just never gets past "active"/"connect".
	LastError string

	// Only Sessions sets the fields below (peer_sessions.go).

	// Advertised counts the prefixes sent to the peer over all families.
	Advertised int
	// Since is when the session last became established (State
	// "established") or last went down; zero if it never did either.
	Since time.Time
	// UpdatesReceived and UpdatesSent count UPDATE messages in this
	// neighbor's life in GoBGP (reset when it is re-created).
	UpdatesReceived, UpdatesSent uint64
	// SessionsUp and SessionsDown count the session's transitions into and
	// out of Established since the neighbor was configured.
	SessionsUp, SessionsDown uint64
	// PrefixLimited is set while GoBGP holds the session down because the
	// peer sent more prefixes than its MaxPrefixes (admin state PFX_CT): it
	// stays down until the limit changes (see Apply).
	PrefixLimited bool
	// MaxPrefixes is the peer's configured limit, 0 for none.
	MaxPrefixes uint32
}

// Synced reports whether the peer has sent its whole table: the session is
// established and End-of-RIB arrived, or the peer never promised one.
func (p PeerStatus) Synced() bool {
	return p.State == StateEstablished && (p.EORReceived || !p.GracefulRestart)
}

// peerStatusFromAPI summarizes GoBGP's view of a neighbor.
func peerStatusFromAPI(p *api.Peer) (PeerStatus, error) {
	raw := p.GetConf().GetNeighborAddress()
	addr, err := netip.ParseAddr(raw)
	if err != nil {
		return PeerStatus{}, fmt.Errorf("neighbor %q: address: %w", raw, err)
	}
	st := PeerStatus{
		Name:    p.GetConf().GetDescription(),
		Address: addr.Unmap(),
		ASN:     p.GetConf().GetPeerAsn(),
		State:   strings.ToLower(p.GetState().GetSessionState().String()),
	}
	families := 0
	gr, eor := true, true
	for _, a := range p.GetAfiSafis() {
		if !a.GetConfig().GetEnabled() {
			continue
		}
		families++
		st.Received += int(a.GetState().GetReceived())
		st.Accepted += int(a.GetState().GetAccepted())
		st.MaxPrefixes = max(st.MaxPrefixes, a.GetPrefixLimits().GetMaxPrefixes())
		mp := a.GetMpGracefulRestart().GetState()
		gr = gr && mp.GetReceived()
		eor = eor && mp.GetEndOfRibReceived()
	}
	st.PrefixLimited = p.GetState().GetAdminState() == api.PeerState_PFX_CT
	st.GracefulRestart = families > 0 && gr
	st.EORReceived = families > 0 && eor
	return st, nil
}

// converged reports whether every peer has synced; with no peers there is
// nothing to wait for.
func converged(peers []PeerStatus) bool {
	for _, p := range peers {
		if !p.Synced() {
			return false
		}
	}
	return true
}

// Peers returns the state of every neighbor GoBGP has, sorted by address.
func (s *Speaker) Peers(ctx context.Context) ([]PeerStatus, error) {
	var out []PeerStatus
	err := s.server.ListPeer(ctx, &api.ListPeerRequest{}, func(p *api.Peer) {
		st, err := peerStatusFromAPI(p)
		if err != nil {
			s.log.Warn("ignoring BGP neighbor", "event", "neighbor-ignored", "reason", err.Error())
			return
		}
		st.LastError = s.events.get(st.Address)
		out = append(out, st)
	})
	if err != nil {
		return nil, fmt.Errorf("listing BGP neighbors: %w", err)
	}
	slices.SortFunc(out, func(a, b PeerStatus) int { return a.Address.Compare(b.Address) })
	return out, nil
}

// Converged reports whether the RIB is complete: every configured peer is
// established and has sent End-of-RIB for its families (a peer that did not
// announce graceful restart never promised one and counts once
// established). After a restart, stale kernel routes may be pruned only
// then; callers bound the wait with the graceful-restart time.
func (s *Speaker) Converged(ctx context.Context) (bool, error) {
	peers, err := s.Peers(ctx)
	if err != nil {
		return false, err
	}
	return converged(peers), nil
}
