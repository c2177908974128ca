package bgp

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"testing"
)

// BenchmarkSteadyNodePass is what every node loop pass costs the speaker in a
// cluster of n nodes once nothing changes: Apply with the same policy and
// full-mesh peer set (n-1 passive node peers, each accepting its own pod
// CIDR). Passive peers are never dialled, so no traffic leaves the host.
func BenchmarkSteadyNodePass(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			s := benchSpeaker(b)
			peers := meshPeers(n - 1)
			pol := Policy{ClusterCIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
			ctx := context.Background()
			d := Desired{Policy: pol, Peers: peers}
			if err := s.Apply(ctx, d).Err(); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for range b.N {
				if err := s.Apply(ctx, d).Err(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// meshPeers are n node peers at 10.200.x.y, each owning 10.x.y.0/24.
func meshPeers(n int) []Peer {
	peers := make([]Peer, 0, n)
	for i := range n {
		hi, lo := byte(i/250), byte(i%250+1)
		peers = append(peers, Peer{
			Name:           fmt.Sprintf("node%d", i),
			Address:        netip.AddrFrom4([4]byte{10, 200, hi, lo}),
			ASN:            testASN,
			Passive:        true,
			Kind:           PeerNode,
			AcceptPrefixes: []netip.Prefix{netip.PrefixFrom(netip.AddrFrom4([4]byte{10, hi + 1, lo, 0}), 24)},
		})
	}
	return peers
}

func benchSpeaker(b *testing.B) *Speaker {
	b.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s, err := New(context.Background(), Config{
		ASN:           testASN,
		RouterID:      loopback,
		ListenAddress: loopback,
		ListenPort:    int32(port),
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.Stop)
	return s
}
