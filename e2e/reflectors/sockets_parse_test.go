//go:build e2e

package reflectors

import (
	"net/netip"
	"reflect"
	"testing"
)

// The inputs are what ss -Htni (iproute2 6.1) printed on this machine for
// sockets with and without a TCP-MD5 key, the key "pw" already cut from the
// start of the output (see bgpSockets).
func TestParseSocketsReadsEndsAndMD5Keys(t *testing.T) {
	tests := []struct {
		name string
		out  string
		want []bgpSocket
	}{
		{
			name: "a signed connection has the peer's key",
			out: "0      0      10.199.1.11:179 10.199.1.13:47058\n" +
				"\t bbr wscale:10,10 rto:200 rtt:0.034/0.017 mss:32747 snd_wnd:65495 md5keys:10.199.1.13/32=\n",
			want: []bgpSocket{{
				Local:   netip.MustParseAddrPort("10.199.1.11:179"),
				Remote:  netip.MustParseAddrPort("10.199.1.13:47058"),
				MD5Keys: []netip.Prefix{netip.MustParsePrefix("10.199.1.13/32")},
			}},
		},
		{
			name: "an unsigned connection has no key",
			out: "0      0      10.199.1.14:179 10.199.1.11:50112\n" +
				"\t bbr wscale:10,10 rto:200 rtt:0.02/0.01 mss:32768 snd_wnd:65536\n",
			want: []bgpSocket{{
				Local:  netip.MustParseAddrPort("10.199.1.14:179"),
				Remote: netip.MustParseAddrPort("10.199.1.11:50112"),
			}},
		},
		{
			name: "a listener lists a key per peer",
			out: "0      128    10.199.1.11:179 0.0.0.0:*\n" +
				"\t bbr cwnd:10 md5keys:10.199.1.12/32=,10.199.1.13/32=,10.199.1.14/32=\n",
			want: []bgpSocket{{
				Local:  netip.MustParseAddrPort("10.199.1.11:179"),
				Remote: netip.MustParseAddrPort("0.0.0.0:0"),
				MD5Keys: []netip.Prefix{
					netip.MustParsePrefix("10.199.1.12/32"),
					netip.MustParsePrefix("10.199.1.13/32"),
					netip.MustParsePrefix("10.199.1.14/32"),
				},
			}},
		},
		{name: "no socket", out: "", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseSockets("lab-test", tt.out)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parseSockets = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseSocketsRefusesInfoWithoutSocket(t *testing.T) {
	if _, err := parseSockets("lab-test", "\t bbr cwnd:10 md5keys:10.199.1.12/32=\n"); err == nil {
		t.Fatal("parseSockets accepted TCP info that belongs to no socket")
	}
}
