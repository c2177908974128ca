package agent

import (
	"context"
	"net/netip"

	"github.com/nodebgp/router/pkg/bfd"
	"github.com/nodebgp/router/pkg/bgp"
	"github.com/nodebgp/router/pkg/cniinstall"
	"github.com/nodebgp/router/pkg/firewall"
	"github.com/nodebgp/router/pkg/hostnet"
	"github.com/nodebgp/router/pkg/routes"
	"github.com/nodebgp/router/pkg/status"
)

// The outside systems the loops change, each behind the few methods the
// agent needs, so that the invariants of the loops are tested with fakes
// (agent_test.go) and the real things in the packages that own them and in
// the lab.

// Speaker is the embedded BGP speaker (pkg/bgp).
type Speaker interface {
	// Apply makes the speaker's policy, peers and advertised paths the
	// desired ones, in that order.
	Apply(ctx context.Context, d bgp.Desired) bgp.ApplyResult
	// BestPaths reads every learned best path: the full pass.
	BestPaths(ctx context.Context) ([]bgp.Path, error)
	// WatchBestPaths reports best-path changes as GoBGP decides them; a
	// call with nil asks for a full pass. changed must not keep the list,
	// which the next call reuses.
	WatchBestPaths(ctx context.Context, changed func([]bgp.BestChange)) error
	// WatchSessionsUp calls up each time a session reaches Established.
	WatchSessionsUp(ctx context.Context, up func()) error
	// Converged tells whether every peer sent End-of-RIB.
	Converged(ctx context.Context) (bool, error)
	Peers(ctx context.Context) ([]bgp.PeerStatus, error)
	// Sessions is Peers with the counters an operator reads; it costs more
	// (most with withAdvertised) and is called by the reporting loop only.
	Sessions(ctx context.Context, withAdvertised bool) ([]bgp.PeerStatus, error)
	Stop()
}

// KernelRoutes is the kernel's table of our routes (pkg/routes).
type KernelRoutes interface {
	// Sync makes the table the desired one, reading the kernel afresh.
	Sync(ctx context.Context, desired []routes.Route, pruneStale bool) (routes.SyncResult, error)
	// Update applies changes of single prefixes against what the last Sync
	// found; SyncResult.Resync asks for a Sync.
	Update(ctx context.Context, changes []routes.Change, pruneStale bool) (routes.SyncResult, error)
	// Holds tells whether any of the prefixes has a route of ours as far
	// as the last Sync and the writes since know: a deleted route it
	// still holds was deleted by someone else.
	Holds(prefixes []netip.Prefix) bool
	// AnyOurs reads the kernel: whether any table holds a route of ours
	// (after an agent restart it does; on a new or rebooted node not).
	AnyOurs() (bool, error)
	// WriterPort is the netlink port ID of the socket that writes our
	// routes, 0 until it is open: WatchLinks leaves its deletions out.
	WriterPort() uint32
}

// HostNetwork is the node's own set-up for pods: the bridge, forwarding
// sysctls, the underlay MTU and link events.
type HostNetwork interface {
	EnsureBridge(ctx context.Context, p hostnet.BridgeParams) error
	EnableForwarding(ctx context.Context, ipv4, ipv6 bool) error
	LinkMTU(nodeIP netip.Addr) (mtu int, link string, err error)
	WatchLinks(ctx context.Context, changed func(), routeGone func(netip.Prefix), writerPort func() uint32) error
	BridgeExists(name string) (bool, error)
}

// Firewall is the agent's iptables chains (pkg/firewall).
type Firewall interface {
	Sync(ctx context.Context, r firewall.Rules) error
}

// StatusWriter is the node's BGPNodeState writer (pkg/status). Update must
// never block: it hands over the latest object and returns.
type StatusWriter interface {
	Update(o status.Object)
}

// CNIConfig is the node's conflist (pkg/cniinstall).
type CNIConfig interface {
	// Write renders and writes the conflist; changed is false when the file
	// already had that content.
	Write(ctx context.Context, p cniinstall.ConflistParams) (changed bool, err error)
	// Exists tells whether the conflist is there (after a restart, it is).
	Exists() (bool, error)
}

// BFD runs the agent's BFD sessions (pkg/bfd): one per peer address that
// has BFD on, set whole every pass.
type BFD interface {
	Set(peers []bfd.Peer) error
	Status() []bfd.Status
	Drops() map[string]uint64
}
