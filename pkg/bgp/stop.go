package bgp

import (
	"context"
	"net/netip"
	"time"

	api "github.com/osrg/gobgp/v3/api"
)

// stopTimeout bounds the GoBGP calls Stop makes.
const stopTimeout = 10 * time.Second

// Stop is the planned stop before this process exits or restarts. Peers must
// keep our routes (graceful restart), so no Cease NOTIFICATION may reach
// them.
//
// What GoBGP v3.37.0 offers does not do that: BgpServer.Stop calls StopBgp,
// which deletes every neighbor with Cease "peer de-configured" (sent as Hard
// Reset when the peer negotiated RFC 8538), and so do DeletePeer,
// DisablePeer, ShutdownPeer and ResetPeer. A GoBGP helper keeps a
// restarting peer's routes as stale only when the session ends without a
// NOTIFICATION (a read or write failure, or hold-timer expiry: fsm.go,
// established state) — the same as when the process just dies and the
// kernel closes its sockets.
//
// So Stop does what process exit does first: it shuts down the TCP
// connections of the BGP sessions at the socket level (shutdown(2), found
// through /proc/self/fd), so the peers see a plain FIN. Only then does it
// release GoBGP (BgpServer.Stop: listeners, gRPC API, neighbors): the Cease
// GoBGP then tries to write hits a shut-down socket and never leaves the
// host. GoBGP's event loop goroutine cannot be ended and stays behind; in
// the agent, the process exits right after.
//
// Stop is idempotent; the Speaker must not be used afterwards.
func (s *Speaker) Stop() {
	s.stopOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
		defer cancel()
		endpoints, err := s.sessionEndpoints(ctx)
		if err != nil {
			s.log.Warn("cannot list BGP sessions before stopping; peers may see a Cease and drop our routes",
				"event", "stop", "reason", err.Error())
		}
		n, err := severSessions(endpoints)
		if err != nil {
			s.log.Warn("cannot close BGP sessions silently; peers may see a Cease and drop our routes",
				"event", "stop", "reason", err.Error())
		}
		s.server.Stop()
		close(s.stopped)
		s.log.Info("BGP speaker stopped without notifying peers", "event", "stopped", "sessions_closed", n)
	})
}

// sessionEndpoints describes which sockets carry this speaker's sessions.
func (s *Speaker) sessionEndpoints(ctx context.Context) (sessionEndpoints, error) {
	e := sessionEndpoints{listen: s.self(), peers: make(map[netip.AddrPort]bool)}
	err := s.server.ListPeer(ctx, &api.ListPeerRequest{}, func(p *api.Peer) {
		if peer, err := peerFromAPI(p); err == nil {
			e.peers[netip.AddrPortFrom(peer.Address, peer.Port)] = true
		}
	})
	return e, err
}
