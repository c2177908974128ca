package bgp

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"slices"
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

// BenchmarkConverged is what one question whether the RIB converged costs
// with n configured neighbors (passive, never dialled): GoBGP's ListPeer
// through its server loop, every neighbor in the API's form. The route loop
// asks it at most twice a second until the RIB converged (pkg/agent).
func BenchmarkConverged(b *testing.B) {
	for _, n := range []int{2, 100, 500} {
		b.Run(fmt.Sprintf("peers=%d", n), func(b *testing.B) {
			s := benchSpeaker(b)
			pol := Policy{ClusterCIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
			ctx := context.Background()
			if err := s.Apply(ctx, Desired{Policy: pol, Peers: meshPeers(n)}).Err(); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for range b.N {
				if _, err := s.Converged(ctx); err != nil {
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

// BenchmarkReflectorClientPolicy is what a route-reflector client's import
// policy costs at 5,000 nodes, with one prefix set of the other nodes' pod
// CIDRs per reflector (how clients were configured before
// Peer.AcceptReflected) against one set for all its reflectors: the live
// heap the policy holds (MiB-live: GoBGP's sets and the speaker's own
// state, after a collection) and an Apply in which one node joins or
// leaves (ns/op). The reflectors are passive peers: nothing is dialled.
//
//	go test -run '^$' -bench ReflectorClientPolicy ./pkg/bgp
func BenchmarkReflectorClientPolicy(b *testing.B) {
	const nodes = 5000
	others := make([]netip.Prefix, 0, nodes)
	for i := range nodes {
		others = append(others, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(64 + i/250), byte(i % 250), 0}), 24))
	}
	joiner := netip.MustParsePrefix("10.127.0.0/24")
	heap := func() uint64 {
		var m runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	for _, reflectors := range []int{2, 4} {
		for _, shared := range []bool{false, true} {
			name := fmt.Sprintf("reflectors=%d/one-set-per-reflector", reflectors)
			if shared {
				name = fmt.Sprintf("reflectors=%d/one-set-for-all", reflectors)
			}
			b.Run(name, func(b *testing.B) {
				s := benchSpeaker(b)
				desired := func(podCIDRs []netip.Prefix) Desired {
					d := Desired{Policy: Policy{ClusterCIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}}
					if shared {
						d.Policy.ReflectedPodCIDRs = podCIDRs
					}
					for _, p := range meshPeers(reflectors) {
						if shared {
							p.AcceptPrefixes, p.AcceptReflected = nil, true
						} else {
							p.AcceptPrefixes = podCIDRs
						}
						d.Peers = append(d.Peers, p)
					}
					return d
				}
				ctx := context.Background()
				steady, joined := desired(others), desired(append(slices.Clone(others), joiner))
				before := heap()
				if err := s.Apply(ctx, steady).Err(); err != nil {
					b.Fatal(err)
				}
				live := float64(heap()-before) / (1 << 20)
				b.ResetTimer()
				for i := range b.N {
					d := joined
					if i%2 == 1 {
						d = steady
					}
					if err := s.Apply(ctx, d).Err(); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(live, "MiB-live")
			})
		}
	}
}
