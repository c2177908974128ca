package plan

import (
	"errors"
	"net/netip"
	"reflect"
	"testing"

	"github.com/nodebgp/router/pkg/bgp"
	"github.com/nodebgp/router/pkg/services"
)

func TestServiceRoutesAreAnnouncedViaTheNodeIPOfTheirFamilyAndRejectedOnImport(t *testing.T) {
	tests := []struct {
		name     string
		self     Self
		snapshot services.Snapshot
		want     []bgp.Path
		problems int
	}{
		{
			name:     "IPv4 node: a /32 via the node IP",
			self:     Self{IP: addr("10.199.1.11")},
			snapshot: services.Snapshot{Announce: prefixes("198.51.100.10/32"), Reject: prefixes("198.51.100.10/32", "198.51.100.11/32")},
			want:     []bgp.Path{{Prefix: netip.MustParsePrefix("198.51.100.10/32"), NextHop: addr("10.199.1.11")}},
		},
		{
			name:     "dual-stack node: the /128 via its IPv6 address",
			self:     Self{IP: addr("10.199.1.11"), IP6: addr("fd00:199:1::11")},
			snapshot: services.Snapshot{Announce: prefixes("198.51.100.10/32", "2001:db8::10/128")},
			want: []bgp.Path{
				{Prefix: netip.MustParsePrefix("198.51.100.10/32"), NextHop: addr("10.199.1.11")},
				{Prefix: netip.MustParsePrefix("2001:db8::10/128"), NextHop: addr("fd00:199:1::11")},
			},
		},
		{
			name:     "a /128 on an IPv4-only node is a problem, the /32 stands",
			self:     Self{IP: addr("10.199.1.11")},
			snapshot: services.Snapshot{Announce: prefixes("198.51.100.10/32", "2001:db8::10/128")},
			want:     []bgp.Path{{Prefix: netip.MustParsePrefix("198.51.100.10/32"), NextHop: addr("10.199.1.11")}},
			problems: 1,
		},
		{
			name:     "a Service problem is passed on and withdraws nothing",
			self:     Self{IP: addr("10.199.1.11")},
			snapshot: services.Snapshot{Announce: prefixes("198.51.100.10/32"), Problems: []error{errors.New("service default/bad: annotation")}},
			want:     []bgp.Path{{Prefix: netip.MustParsePrefix("198.51.100.10/32"), NextHop: addr("10.199.1.11")}},
			problems: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := baseInputs()
			in.Self.IP, in.Self.IP6 = tt.self.IP, tt.self.IP6
			in.Services = tt.snapshot
			p := Build(in)
			if !reflect.DeepEqual(p.Services, tt.want) {
				t.Errorf("services = %v, want %v", p.Services, tt.want)
			}
			if !reflect.DeepEqual(p.Policy.ServicePrefixes, tt.snapshot.Reject) {
				t.Errorf("policy service prefixes = %v, want %v", p.Policy.ServicePrefixes, tt.snapshot.Reject)
			}
			if len(p.Problems.Services) != tt.problems {
				t.Errorf("service problems = %v, want %d", p.Problems.Services, tt.problems)
			}
			for _, s := range p.Services {
				for _, a := range p.Advertised {
					if a.Prefix == s.Prefix {
						t.Errorf("%s is both a pod and a Service route", s.Prefix)
					}
				}
			}
		})
	}
}
