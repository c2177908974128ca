package bgp

import (
	"testing"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/apiutil"
	"google.golang.org/protobuf/types/known/anypb"
)

// toBinary renders an API path the way ListPath does with EnableOnlyBinary:
// the NLRI and each attribute in BGP wire form, no Any messages.
func toBinary(t *testing.T, p *api.Path) *api.Path {
	t.Helper()
	nlri, err := apiutil.GetNativeNlri(p)
	if err != nil {
		t.Fatal(err)
	}
	attrs, err := apiutil.GetNativePathAttributes(p)
	if err != nil {
		t.Fatal(err)
	}
	b := &api.Path{Family: p.Family, NeighborIp: p.NeighborIp, SourceAsn: p.SourceAsn, Best: p.Best}
	if b.NlriBinary, err = nlri.Serialize(); err != nil {
		t.Fatal(err)
	}
	for _, a := range attrs {
		w, err := a.Serialize()
		if err != nil {
			t.Fatal(err)
		}
		b.PattrsBinary = append(b.PattrsBinary, w)
	}
	return b
}

// The binary reader used by the full pass must read exactly what the
// protobuf reader used for events reads: prefix, next hop, multipath key.
func TestBinaryPathsReadLikeAPIPaths(t *testing.T) {
	paths := []*api.Path{
		apiLearned(t, path("10.244.2.0/24", "10.199.1.12"), "10.199.1.12", true),
		apiLearned(t, path("172.16.0.1/32", "10.199.1.100"), "10.199.1.100", true),
		apiLearned(t, path("0.0.0.0/0", "10.199.1.1"), "10.199.1.1", true),
		apiLearned(t, path("fd00:244:2::/64", "fd00:199::12"), "fd00:199::12", true),
		apiLearned(t, path("2001:db8::/32", "2001:db8:ffff::1"), "2001:db8:ffff::1", true),
	}
	extra := apiLearned(t, path("10.244.3.0/24", "10.199.1.13"), "10.199.1.13", true)
	for _, m := range []*anypb.Any{
		mustAny(t, &api.AsPathAttribute{Segments: []*api.AsSegment{{Type: 2, Numbers: []uint32{65001, 4200000000}}, {Type: 1, Numbers: []uint32{1, 2}}}}),
		mustAny(t, &api.LocalPrefAttribute{LocalPref: 250}),
		mustAny(t, &api.MultiExitDiscAttribute{Med: 7}),
	} {
		extra.Pattrs = append(extra.Pattrs, m)
	}
	paths = append(paths, extra)
	for _, p := range paths {
		want, err := pathFromAPI(p)
		if err != nil {
			t.Fatal(err)
		}
		b := toBinary(t, p)
		got, err := pathFromBinary(b)
		if err != nil || got != want {
			t.Errorf("pathFromBinary = %v, %v; pathFromAPI = %v", got, err, want)
		}
		if k, kb := multipathKeyOf(p, testASN), multipathKeyOfBinary(b, testASN); k != kb {
			t.Errorf("%v: multipath key from binary %+v, from API %+v", want, kb, k)
		}
	}
	if k := multipathKeyOfBinary(toBinary(t, extra), testASN); k.asPathLen != 3 || k.localPref != 250 || k.med != 7 {
		t.Errorf("multipath key %+v, want AS path length 3 (a sequence of 2, a set), LOCAL_PREF 250, MED 7", k)
	}
	if _, err := pathFromBinary(&api.Path{Family: familyOf(path("10.0.0.0/8", "10.0.0.1").Prefix.Addr()), NlriBinary: []byte{33, 10}}); err == nil {
		t.Errorf("a malformed NLRI was read")
	}
}
