package hostnet

import (
	"net/netip"
	"strings"
	"testing"
)

func TestLinkMTU(t *testing.T) {
	ns := newNS(t).WithNode(t)
	tests := []struct {
		addr     string
		wantMTU  int
		wantLink string
		wantErr  string
	}{
		{addr: "10.250.0.1", wantMTU: 1450, wantLink: "veth0"},
		{addr: "2001:db8:250::1", wantMTU: 1450, wantLink: "veth0"},
		{addr: "127.0.0.1", wantErr: "loopback"},
		{addr: "10.250.0.99", wantErr: "no link has address 10.250.0.99"},
	}
	for _, tc := range tests {
		t.Run(tc.addr, func(t *testing.T) {
			var mtu int
			var link string
			var err error
			ns.Do(t, func() { mtu, link, err = new(Host).LinkMTU(netip.MustParseAddr(tc.addr)) })
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("LinkMTU(%s) = %d, %q, %v; want an error containing %q", tc.addr, mtu, link, err, tc.wantErr)
				}
				return
			}
			if err != nil || mtu != tc.wantMTU || link != tc.wantLink {
				t.Errorf("LinkMTU(%s) = %d, %q, %v; want %d, %q", tc.addr, mtu, link, err, tc.wantMTU, tc.wantLink)
			}
		})
	}
}
