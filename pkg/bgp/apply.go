package bgp

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strings"

	api "github.com/osrg/gobgp/v3/api"
)

// Desired is everything the speaker should have besides its identity (ASN,
// router ID, cluster ID are Config).
type Desired struct {
	Policy Policy
	Peers  []Peer
	// Advertised are our own prefixes, each with the node IP of its family
	// as next hop.
	Advertised []Path
	// Services are Service routes, announced like Advertised but to
	// upstream peers only. A prefix in both is announced as Advertised.
	Services []Path
	// Redial are neighbors whose session the caller saw end
	// (Config.OnSessionDown) while the path to them works (their BFD is
	// Up). Each one GoBGP holds idle after the drop is deleted and added
	// again, so that it dials within GoBGP's 1-2 s first-connect delay and
	// accepts the peer's dial at once, instead of sitting out the fixed 5 s
	// idle hold first (see redialDecision). The value allows dropping the
	// routes GoBGP keeps from it as stale (graceful restart): deleting a
	// neighbor drops them, so without it a neighbor that has any is left
	// alone.
	Redial map[netip.Addr]bool
	// FirstAttemptAtOnce makes the peers this Apply adds (not those it
	// re-creates) make their first connection attempt at once, passive
	// ones too (that one attempt only), instead of after GoBGP's wait of
	// 1-2 s (third_party/gobgp-patches/004). Every later attempt is
	// GoBGP's as usual. For a node's first start, when its peers have had
	// it configured since its Node object appeared and are not dialing it
	// (see the agent's start).
	FirstAttemptAtOnce bool
}

// ApplyResult says which step of a pass failed. A nil field is a step that
// succeeded, or that was skipped because an earlier step failed: that
// step's error says so. Invalid input is always reported in its step's
// field.
type ApplyResult struct {
	Policy, Peers, Advertise error
}

// Err joins the three.
func (r ApplyResult) Err() error {
	return errors.Join(r.Policy, r.Peers, r.Advertise)
}

// Apply makes the speaker's policy, peers and own paths d, changing in GoBGP
// only what differs: a second Apply with the same d calls nothing in GoBGP
// that changes anything.
//
// Each part is validated first. An invalid Policy is refused as a whole,
// naming each bad field, and the previous one stays (until the first valid
// one, nothing is taken from upstream peers); an invalid peer or path is
// refused, naming it, and the others still apply.
//
// One pass, in this order:
//
//  1. Policy: GoBGP's defined sets, policies and assignments are listed once
//     and made those of the new peer set and the new own prefixes. It comes
//     first so that a new node peer's import filter exists before its
//     session does, and a new prefix is in the export policy's own-prefix
//     set before its path exists.
//  2. Peers: removed, updated, re-created, added (see syncPeers). Then the
//     routes of the peers a policy change concerns are filtered again (a
//     soft reset, never a session reset): routes from upstream peers again
//     through import (GoBGP keeps what they sent before policy), our own to
//     upstream peers again through export.
//  3. Advertisement: paths added and withdrawn (see advertise); a withdrawn
//     prefix leaves its own-prefix set only after its path is gone.
//
// If the policy step fails (in GoBGP, not by invalid input), no peer is
// added or re-created and advertisement is left as it was: a new peer
// without its import filter would take whatever it sends, and a new path
// whose prefix did not make it into the own-prefix set would not be
// exported. Updates and removals still apply, they need no new policy. The
// next pass retries.
func (s *Speaker) Apply(ctx context.Context, d Desired) ApplyResult {
	s.reconcile.Lock()
	defer s.reconcile.Unlock()
	var res ApplyResult

	pol, invalid := d.Policy.normalize()
	if invalid != nil {
		res.Policy = fmt.Errorf("%w; keeping the previous policy", invalid)
		pol = s.policy
	}
	peers, invalidPeers := s.desiredPeers(d.Peers)
	paths, invalidPaths := desiredPaths(d.Advertised)
	services, invalidServices := desiredServicePaths(d.Services, paths)
	paths = append(paths, services...)
	slices.SortFunc(paths, comparePaths)
	servicePrefixes := make([]netip.Prefix, 0, len(services))
	for _, p := range services {
		servicePrefixes = append(servicePrefixes, p.Prefix)
	}

	want := s.desiredPolicy(pol, peers, paths, servicePrefixes)
	have, err := s.listPolicy(ctx)
	var changes policyChanges
	if err == nil {
		changes, err = s.syncPolicy(ctx, want, have)
	}
	policyOK := err == nil
	if policyOK {
		if !reflect.DeepEqual(pol, s.policy) {
			// The two lists of other nodes' pod CIDRs as counts: at 5,000
			// nodes either would make every node added a 100 KB line.
			s.log.Info("BGP policy applied", "event", "policy", "cluster_cidrs", fmt.Sprint(pol.ClusterCIDRs),
				"upstream_pod_cidrs", len(pol.UpstreamPodCIDRs), "reflected_pod_cidrs", len(pol.ReflectedPodCIDRs),
				"accept_upstream_routes", pol.AcceptUpstreamRoutes,
				"communities", fmt.Sprint(pol.Communities), "large_communities", fmt.Sprint(pol.LargeCommunities),
				"prepend", pol.PrependCount)
		}
		s.policy = pol
	}

	present, held, peersErr := s.syncPeers(ctx, peers, policyOK, d.Redial, d.FirstAttemptAtOnce)
	res.Peers = joinPrefixed("BGP peers", invalidPeers, peersErr)
	if peersErr != nil && present == nil {
		// The peers could not even be listed: refilter what we know.
		present = peers
	}
	refilterErr := s.refilter(ctx, changes, present)

	var advertiseErr error
	if policyOK {
		advertiseErr = s.advertise(ctx, paths, servicePrefixes, ownMembers(want, have))
	}
	res.Advertise = joinPrefixed("BGP advertisement", invalidPaths, invalidServices, advertiseErr)

	if !policyOK {
		err = fmt.Errorf("%w; %s", err, skipped(held))
	}
	res.Policy = joinPrefixed("BGP policy", res.Policy, err, refilterErr)
	return res
}

// skipped says what a failed policy step held back.
func skipped(held []Peer) string {
	var names []string
	for _, p := range held {
		names = append(names, p.String())
	}
	msg := "advertisement left as it was"
	if len(names) > 0 {
		msg = "not adding peers " + strings.Join(names, ", ") + " and " + msg
	}
	return msg + " until the policy applies"
}

// ownMembers are the members of the own-prefix and Service sets after a
// successful policy step: those listed (have) and those it added (want), by
// set name.
func ownMembers(want policyState, have actualPolicy) map[string][]*api.Prefix {
	out := map[string][]*api.Prefix{}
	for _, name := range []string{ownPrefixSetV4, ownPrefixSetV6, serviceSetV4, serviceSetV6} {
		added, _ := memberDiff(want.prefixSets[name], have.prefixSets[name], memberKey)
		out[name] = append(append([]*api.Prefix{}, have.prefixSets[name]...), added...)
	}
	return out
}

// joinPrefixed joins errs under what, or is nil when all are.
func joinPrefixed(what string, errs ...error) error {
	err := errors.Join(errs...)
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", what, err)
}
