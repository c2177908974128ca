package bgp

import (
	api "github.com/osrg/gobgp/v3/api"
)

// Multipath (ECMP). GoBGP v3.37.0 computes equal-cost paths when
// Global.UseMultiplePaths is set (destination.go:568, getMultiBestPath:
// the valid paths that Path.Compare ranks equal to the best), but only
// reports them in best-path watch events; ListPath marks a second path
// Best only when it equals the first including its source peer
// (server.go:2909, path.go:1036), which paths from two peers never do. So
// BestPaths repeats GoBGP's comparison (path.go:1080) on the listed paths:
// a learned path is a multipath of the best when it ties with it on
// iBGP/eBGP, LOCAL_PREF, AS-path length, ORIGIN and MED.

// defaultLocalPref is the LOCAL_PREF of a path that carries none (eBGP).
const defaultLocalPref = 100

// multipathKey is what two paths must share to carry traffic together.
type multipathKey struct {
	ibgp      bool
	localPref uint32
	asPathLen int
	origin    uint32
	med       uint32
}

// multipathKeyOf reads p's key; localASN tells iBGP paths from eBGP ones.
// Attributes it cannot decode count as absent.
func multipathKeyOf(p *api.Path, localASN uint32) multipathKey {
	k := multipathKey{ibgp: p.GetSourceAsn() == localASN, localPref: defaultLocalPref}
	for _, a := range p.GetPattrs() {
		m, err := a.UnmarshalNew()
		if err != nil {
			continue
		}
		switch attr := m.(type) {
		case *api.LocalPrefAttribute:
			k.localPref = attr.GetLocalPref()
		case *api.MultiExitDiscAttribute:
			k.med = attr.GetMed()
		case *api.OriginAttribute:
			k.origin = attr.GetOrigin()
		case *api.AsPathAttribute:
			k.asPathLen = asPathLen(attr)
		}
	}
	return k
}

// asPathLen counts an AS path as best-path selection does: each AS of a
// sequence, an AS set as one, confederation segments not at all.
func asPathLen(a *api.AsPathAttribute) int {
	const (
		asSet      = 1
		asSequence = 2
	)
	n := 0
	for _, s := range a.GetSegments() {
		switch s.GetType() {
		case asSequence:
			n += len(s.GetNumbers())
		case asSet:
			n++
		}
	}
	return n
}

// usableLearned tells whether p is a route learned from a peer that can
// carry traffic.
func usableLearned(p *api.Path) bool {
	return p != nil && !p.GetIsWithdraw() && !p.GetIsNexthopInvalid() && learnedFromPeer(p)
}

// multipaths returns the paths of one destination that carry its traffic:
// GoBGP's best path when it was learned from a peer, and every other usable
// learned path that ties with it (multipathKey).
func multipaths(paths []*api.Path, localASN uint32) []*api.Path {
	return multipathsBy(paths, func(p *api.Path) multipathKey { return multipathKeyOf(p, localASN) })
}

// multipathsBy is multipaths with the key read by keyOf.
func multipathsBy(paths []*api.Path, keyOf func(*api.Path) multipathKey) []*api.Path {
	var best *api.Path
	for _, p := range paths {
		if p.GetBest() {
			best = p
			break
		}
	}
	if !usableLearned(best) {
		return nil
	}
	out := []*api.Path{best}
	var key *multipathKey // decoded only when there is another path to compare
	for _, p := range paths {
		if p == best || !usableLearned(p) {
			continue
		}
		if key == nil {
			k := keyOf(best)
			key = &k
		}
		if keyOf(p) == *key {
			out = append(out, p)
		}
	}
	return out
}
