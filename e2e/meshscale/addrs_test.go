package meshscale

import (
	"net/netip"
	"testing"
)

func TestPodCIDRIsTheIthSlash24OfTheRange(t *testing.T) {
	r := netip.MustParsePrefix("10.64.0.0/14")
	for _, tc := range []struct {
		i    int
		want string
	}{
		{0, "10.64.0.0/24"},
		{1, "10.64.1.0/24"},
		{256, "10.65.0.0/24"},
		{500, "10.65.244.0/24"},
	} {
		if got := PodCIDR(r, tc.i); got != netip.MustParsePrefix(tc.want) {
			t.Errorf("PodCIDR(%s, %d) = %s, want %s", r, tc.i, got, tc.want)
		}
	}
}
