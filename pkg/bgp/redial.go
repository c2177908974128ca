package bgp

import api "github.com/osrg/gobgp/v3/api"

// redialVerdict is what to do with a neighbor the caller asks to redial.
type redialVerdict int

const (
	// redialNo: leave it to GoBGP.
	redialNo redialVerdict = iota
	// redialNotYet: GoBGP has not recorded the drop yet; look again.
	redialNotYet
	// redialNow: delete and add the neighbor again.
	redialNow
)

// redialDecision decides from GoBGP's view of a neighbor whether deleting
// and adding it again gets its session back sooner, and loses nothing.
//
// After any drop GoBGP v3.37.0 holds a neighbor Idle for a fixed 5 s
// (holdtimeIdle, fsm.go:464), closing every connection the peer opens
// meanwhile (fsm.go:441); a neighbor added afresh has no idle hold and
// dials within 1-2 s. So only an Idle neighbor that has been established
// before (Uptime, set when it last was, fsm.go:307; a fresh neighbor has
// none, and leaves Idle at once) gains.
// One held down by us (admin down) must stay down. GoBGP keeps a
// gracefully restarting peer's routes as stale (PeerRestarting,
// server.go:1568), and deleting the neighbor drops them (server.go:3414):
// only when dropStale says the caller wants them gone anyway. Any other
// state is a session already past the idle hold.
func redialDecision(ap *api.Peer, dropStale bool) redialVerdict {
	st := ap.GetState()
	switch {
	case st.GetAdminState() != api.PeerState_UP:
		return redialNo
	case st.GetSessionState() == api.PeerState_ESTABLISHED:
		return redialNotYet
	case st.GetSessionState() != api.PeerState_IDLE:
		return redialNo
	case ap.GetTimers().GetState().GetUptime().GetSeconds() == 0:
		return redialNo
	case ap.GetGracefulRestart().GetPeerRestarting() && !dropStale:
		return redialNo
	}
	return redialNow
}
