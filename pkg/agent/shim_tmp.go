package agent

import (
	"context"
	"net/netip"

	"github.com/nodebgp/router/pkg/cniinstall"
	"github.com/nodebgp/router/pkg/firewall"
	"github.com/nodebgp/router/pkg/routes"
)

// TEMPORARY adapters until pkg/hostnet and the ctx entry points land.

type hostShim struct{}

func (hostShim) EnsureBridge(_ context.Context, p routes.BridgeParams) error {
	return routes.EnsureBridge(p)
}
func (hostShim) EnableForwarding(_ context.Context, v4, v6 bool) error {
	return routes.EnableForwarding(v4, v6)
}
func (hostShim) LinkMTU(_ context.Context, ip netip.Addr) (int, error) {
	mtu, _, err := routes.MTUForAddress(ip)
	return mtu, err
}
func (hostShim) WatchLinks(ctx context.Context, changed func()) error {
	return routes.WatchLinks(ctx, changed)
}
func (hostShim) BridgeExists(name string) (bool, error) { return routes.BridgeExists(name) }

type kernelShim struct{ r *routes.Reconciler }

func (k kernelShim) Sync(_ context.Context, desired []routes.Route, prune bool) (routes.SyncResult, error) {
	return k.r.Sync(desired, prune)
}

type firewallShim struct{ f *firewall.Firewall }

func (f firewallShim) Sync(_ context.Context, r firewall.Rules) error { return f.f.Sync(r) }

func writeConflistShim(dir string, content []byte) (bool, error) {
	return cniinstall.WriteConflist(dir, content)
}
