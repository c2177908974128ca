package bgp

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	api "github.com/osrg/gobgp/v3/api"
)

// syncPeers is Apply's peer step: it makes GoBGP's neighbors exactly want
// (from desiredPeers). It adds missing peers, updates or re-creates peers
// whose session settings changed (see peerFields), and deletes the rest
// (with a Cease — a Hard Reset where the peer supports RFC 8538 — so that
// they withdraw our routes at once). Kind and AcceptPrefixes are policy,
// which the policy step has applied. A Password is never logged.
//
// Last, the unchanged peers of redial (Desired.Redial) that GoBGP holds
// idle after a drop are re-created. With atOnce, the added peers (only
// those) make their first connection attempt at once
// (Desired.FirstAttemptAtOnce).
//
// Without adds (the policy step failed), no peer is added or re-created:
// its import filter might not be in GoBGP. Those peers are returned in
// held; present are the peers of want GoBGP has afterwards.
func (s *Speaker) syncPeers(ctx context.Context, want []Peer, adds bool, redial map[netip.Addr]bool, atOnce bool) (present, held []Peer, err error) {
	have, err := s.listPeers(ctx)
	if err != nil {
		return nil, nil, err
	}
	d := diffPeers(want, have)
	missing := map[netip.Addr]bool{}
	if !adds {
		held = append(slices.Clone(d.recreate), d.add...)
		d.recreate, d.add = nil, nil
		for _, p := range held {
			missing[p.Address] = true
		}
	}
	var errs []error
	restarting := time.Now().Before(s.restartUntil)
	del := func(p Peer) bool {
		if err := s.gobgp.DeletePeer(ctx, &api.DeletePeerRequest{Address: p.Address.String()}); err != nil {
			errs = append(errs, fmt.Errorf("deleting peer %s: %w", p, err))
			return false
		}
		s.events.forget(p.Address)
		s.log.Info("BGP peer removed", "event", "peer-removed", "peer", p.String(), "asn", p.ASN)
		return true
	}
	add := func(p Peer) {
		if err := s.gobgp.AddPeer(ctx, &api.AddPeerRequest{Peer: apiPeer(s.peers, p, restarting)}); err != nil {
			errs = append(errs, fmt.Errorf("adding peer %s: %w", p, err))
			missing[p.Address] = true
			return
		}
		s.log.Info("BGP peer added", "event", "peer-added", "peer", p.String(), "asn", p.ASN, "port", p.Port)
	}
	for _, p := range d.remove {
		del(p)
	}
	for _, p := range d.update {
		if _, err := s.gobgp.UpdatePeer(ctx, &api.UpdatePeerRequest{Peer: apiPeer(s.peers, p, restarting)}); err != nil {
			errs = append(errs, fmt.Errorf("updating peer %s: %w", p, err))
			continue
		}
		s.log.Info("BGP peer updated", "event", "peer-updated", "peer", p.String(), "asn", p.ASN, "port", p.Port)
		if err := s.reenableAfterPrefixLimit(ctx, p); err != nil {
			errs = append(errs, err)
		}
	}
	for _, p := range d.disable {
		gone, err := s.holdDown(ctx, p, restarting)
		if err != nil {
			errs = append(errs, err)
			if gone {
				missing[p.Address] = true
			}
			continue
		}
		s.log.Info("BGP peer held down", "event", "peer-held-down", "peer", p.String(), "reason", "BFD session down")
	}
	for _, p := range d.recreate {
		if del(p) {
			add(p)
		}
	}
	// GoBGP's switch, not the seam's: it is read as each neighbor is added
	// and changes nothing of GoBGP's configuration.
	s.server.SetFirstAttemptAtOnce(atOnce)
	for _, p := range d.add {
		add(p)
	}
	s.server.SetFirstAttemptAtOnce(false)
	if adds {
		for _, p := range d.unchanged(want) {
			dropStale, ok := redial[p.Address]
			if !ok {
				continue
			}
			idle, err := s.waitIdleAfterDrop(ctx, p, dropStale)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if !idle {
				continue
			}
			// Not del: what we noted about its sessions (LastError, the
			// counts) stays, as the neighbor stays configured.
			if err := s.gobgp.DeletePeer(ctx, &api.DeletePeerRequest{Address: p.Address.String()}); err != nil {
				errs = append(errs, fmt.Errorf("re-creating peer %s: %w", p, err))
				continue
			}
			add(p)
			s.log.Info("BGP peer re-created to dial without GoBGP's idle hold", "event", "peer-redialed", "peer", p.String(), "drop_stale", dropStale)
		}
	}
	for _, p := range want {
		if !missing[p.Address] {
			present = append(present, p)
		}
	}
	return present, held, errors.Join(errs...)
}

// desiredPeers validates and completes desired peers (see normalizePeers
// and peerSettings.complete).
func (s *Speaker) desiredPeers(desired []Peer) ([]Peer, error) {
	want, invalid := normalizePeers(desired, s.self())
	want, unusable := s.peers.complete(want, s.cfg.ASN)
	errs := []error{invalid, unusable}
	if s.md5 != nil {
		// A password GoBGP cannot put on its listener would protect only
		// the sessions we dial: refuse the peer rather than pretend.
		want = slices.DeleteFunc(want, func(p Peer) bool {
			if p.Password != "" {
				errs = append(errs, fmt.Errorf("peer %s: Password: %w", p, s.md5))
				return true
			}
			return false
		})
	}
	return want, errors.Join(errs...)
}

// reenableAfterPrefixLimit starts a session again that GoBGP shut down for
// sending more prefixes than MaxPrefixes: GoBGP keeps such a peer down until
// it is enabled (as a router does until "clear bgp"), and a changed peer
// configuration, typically a raised limit, is the operator's say-so.
func (s *Speaker) reenableAfterPrefixLimit(ctx context.Context, p Peer) error {
	down := false
	err := s.gobgp.ListPeer(ctx, &api.ListPeerRequest{Address: p.Address.String()}, func(ap *api.Peer) {
		down = ap.GetState().GetAdminState() == api.PeerState_PFX_CT
	})
	if err != nil || !down {
		return err
	}
	if err := s.gobgp.EnablePeer(ctx, &api.EnablePeerRequest{Address: p.Address.String()}); err != nil {
		return fmt.Errorf("enabling peer %s after its prefix limit: %w", p, err)
	}
	s.log.Info("BGP peer enabled again after its prefix limit changed", "event", "peer-enabled", "peer", p.String(), "max_prefixes", p.MaxPrefixes)
	return nil
}

// sessionEndWait bounds the wait for GoBGP to end a disabled peer's session.
const sessionEndWait = 2 * time.Second

// holdDown holds p down (BFD said the path to it failed) and drops the
// routes learned from it, whatever GoBGP made of the session's end. gone
// tells that the neighbor is no longer in GoBGP (deleted, not added again).
//
// DisablePeer ends an established session with a Cease Administrative
// Shutdown (a Hard Reset where RFC 8538 was negotiated), which GoBGP
// v3.37.0 records as fsmNotificationSent, no graceful restart: the peer's
// routes go. But the session ends with whichever reason reaches its
// stateReasonCh first (fsm.go:1886): a peer that closes its socket on our
// Cease can make the read fail (fsm.go:980) before our send goroutine,
// which logs first, reports the NOTIFICATION sent (fsm.go:1744), and a read
// or write failure counts as the peer restarting (fsm.go:1896): its routes
// stay, stale, for its restart time. So they do when the session had
// already ended that way before BFD spoke (a crashed agent: TCP closed,
// BFD silent after) and the neighbor sits in Idle, where DisablePeer only
// stops the idle hold timer (fsm.go:478). Deleting a neighbor drops all its
// routes at once (deleteNeighbor, server.go:3414), so once the Cease is out
// (or GoBGP did not send it within sessionEndWait), the neighbor is
// deleted and added again held down, which sends nothing: it is not
// established. What we noted about its sessions (LastError, the counts) is
// kept, as the neighbor stays configured.
func (s *Speaker) holdDown(ctx context.Context, p Peer, restarting bool) (gone bool, err error) {
	addr := p.Address.String()
	// No shutdown communication (RFC 9003): GoBGP turns the Cease into a
	// Hard Reset and leaves the communication where RFC 8538 puts the
	// original code and subcode, so FRR would log "16/66".
	if err := s.gobgp.DisablePeer(ctx, &api.DisablePeerRequest{Address: addr}); err != nil {
		return false, fmt.Errorf("holding peer %s down: %w", p, err)
	}
	ended, err := s.waitSessionEnded(ctx, p)
	if err != nil {
		return false, err
	}
	if !ended {
		s.log.Warn("GoBGP did not end a held-down peer's session in time; deleting the neighbor",
			"event", "peer-held-down", "peer", p.String(), "wait", sessionEndWait)
	}
	if err := s.gobgp.DeletePeer(ctx, &api.DeletePeerRequest{Address: addr}); err != nil {
		return false, fmt.Errorf("holding peer %s down: deleting it to drop its routes: %w", p, err)
	}
	if err := s.gobgp.AddPeer(ctx, &api.AddPeerRequest{Peer: apiPeer(s.peers, p, restarting)}); err != nil {
		return true, fmt.Errorf("holding peer %s down: adding it again: %w", p, err)
	}
	return false, nil
}

// waitSessionEnded waits until GoBGP reports p administratively down and
// its session no longer established: DisablePeer only queues the request
// for the peer's FSM goroutine, which then sends the Cease. It returns
// false when that took longer than sessionEndWait.
func (s *Speaker) waitSessionEnded(ctx context.Context, p Peer) (bool, error) {
	deadline := time.Now().Add(sessionEndWait)
	for {
		ended := false
		err := s.gobgp.ListPeer(ctx, &api.ListPeerRequest{Address: p.Address.String()}, func(ap *api.Peer) {
			st := ap.GetState()
			ended = st.GetAdminState() == api.PeerState_DOWN && st.GetSessionState() != api.PeerState_ESTABLISHED
		})
		switch {
		case err != nil:
			return false, fmt.Errorf("holding peer %s down: %w", p, err)
		case ended:
			return true, nil
		case time.Now().After(deadline):
			return false, nil
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// redialWait bounds the wait for GoBGP to take in a session's end: the
// "Peer Down" line that Config.OnSessionDown hears comes from the session's
// goroutine (fsm.go:1998) before GoBGP's server loop records the new state
// (server.go:1545), so a pass poked by it can still find the session
// established.
const redialWait = 500 * time.Millisecond

// waitIdleAfterDrop tells whether GoBGP holds p idle after its session
// dropped, and may re-create it (redialDecision), waiting up to redialWait
// for GoBGP to record the drop.
func (s *Speaker) waitIdleAfterDrop(ctx context.Context, p Peer, dropStale bool) (bool, error) {
	deadline := time.Now().Add(redialWait)
	for {
		decision := redialNo
		err := s.gobgp.ListPeer(ctx, &api.ListPeerRequest{Address: p.Address.String()}, func(ap *api.Peer) {
			decision = redialDecision(ap, dropStale)
		})
		switch {
		case err != nil:
			return false, fmt.Errorf("re-creating peer %s: %w", p, err)
		case decision != redialNotYet:
			return decision == redialNow, nil
		case time.Now().After(deadline):
			return false, nil
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// listPeers returns GoBGP's neighbors as Peers. A neighbor whose address
// does not parse (configured by hand by interface name, say) is not ours
// and is left alone.
func (s *Speaker) listPeers(ctx context.Context) ([]Peer, error) {
	var out []Peer
	err := s.gobgp.ListPeer(ctx, &api.ListPeerRequest{}, func(p *api.Peer) {
		peer, err := peerFromAPI(p)
		if err != nil {
			s.log.Warn("ignoring BGP neighbor", "event", "neighbor-ignored", "reason", err.Error())
			return
		}
		out = append(out, peer)
	})
	if err != nil {
		return nil, fmt.Errorf("listing BGP neighbors: %w", err)
	}
	return out, nil
}

// self is this speaker's own BGP endpoints (one per listen address), which
// must never be its peers.
func (s *Speaker) self() []netip.AddrPort {
	if s.cfg.ListenPort < 1 {
		return nil
	}
	var out []netip.AddrPort
	for _, a := range s.cfg.listenAddresses() {
		out = append(out, netip.AddrPortFrom(a, uint16(s.cfg.ListenPort)))
	}
	return out
}
