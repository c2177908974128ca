// Package firewall keeps the iptables rules that routed pod traffic needs: accept
// forwarding to and from the pod networks, and masquerade pod traffic that leaves
// them. Every rule lives in a chain of our own (NODEBGP-FORWARD in filter,
// NODEBGP-POSTROUTING in nat), fed by one jump from the built-in chain; built-in
// chains are never flushed, and Cleanup removes exactly our jumps and chains.
package firewall

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"slices"
	"sync"

	"github.com/coreos/go-iptables/iptables"
)

// Params configures a Firewall.
type Params struct {
	// Logger receives one line per change made; nil discards.
	Logger *slog.Logger
	// IPTables opens the iptables of one IP family. Nil means go-iptables running
	// IPTablesPath / IP6TablesPath; tests put a fake here.
	IPTables func(proto iptables.Protocol) (Table, error)
	// IPTablesPath and IP6TablesPath are the binaries run when IPTables is nil; empty
	// means `iptables` / `ip6tables` on PATH. The binary chooses the backend:
	// "iptables-legacy" or "iptables-nft" (Debian's `iptables` links to one of them).
	IPTablesPath, IP6TablesPath string
}

// Firewall reconciles our chains in iptables (IPv4) and ip6tables (IPv6).
type Firewall struct {
	log  *slog.Logger
	open func(iptables.Protocol) (Table, error)

	mu     sync.Mutex // serialises Sync and Cleanup; guards tables
	tables map[iptables.Protocol]Table
}

// New returns a Firewall. It runs no iptables command: a family's binary is first
// run when Sync or Cleanup needs that family, so an IPv4-only node works without
// ip6tables.
func New(p Params) (*Firewall, error) {
	if p.IPTables != nil && (p.IPTablesPath != "" || p.IP6TablesPath != "") {
		return nil, errors.New("firewall: IPTables and IPTablesPath/IP6TablesPath are exclusive")
	}
	log := p.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	open := p.IPTables
	if open == nil {
		open = goIPTables(p.IPTablesPath, p.IP6TablesPath)
	}
	return &Firewall{
		log:    log, // the caller names the component, as for pkg/bgp and pkg/routes
		open:   open,
		tables: map[iptables.Protocol]Table{},
	}, nil
}

// Sync makes our chains hold exactly the rules r asks for, each family in its own
// iptables, and makes sure each chain's jump exists once. A family without any CIDR
// is left as it is. It only applies the difference, so it is safe to call every few
// seconds; it does not stop at the first failure but returns every error, each
// naming family, table, chain and rule. A failed command (the xtables lock held
// too long, say) is simply retried by the next Sync.
//
// ctx is checked before each chain: once it ended, Sync returns without
// touching the chains it has not reached, and the next Sync carries on. The
// iptables commands of a chain are not cancelled (go-iptables takes no
// context), so a chain is never left half-way because the context ended.
func (f *Firewall) Sync(ctx context.Context, r Rules) error {
	if err := r.validate(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()

	var errs []error
	for _, fam := range families {
		fr := r.forFamily(fam)
		if fr.empty() {
			continue
		}
		t, err := f.table(fam)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		desired := render(fr, t.HasRandomFully())
		for _, def := range ourChains {
			if err := ctx.Err(); err != nil {
				return errors.Join(append(errs, fmt.Errorf("%s %s: not synced: %w", fam.name, def, err))...)
			}
			i := slices.IndexFunc(desired, func(c chainRules) bool { return c.def == def })
			if i < 0 {
				errs = append(errs, f.removeChain(t, fam, def))
				continue
			}
			errs = append(errs, f.syncChain(t, fam, desired[i]))
		}
	}
	return errors.Join(errs...)
}

// Cleanup removes our jumps and chains in both families. What is already gone is
// not an error, nor is a family whose binary is not installed. ctx is checked
// before each chain, as in Sync.
func (f *Firewall) Cleanup(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()

	var errs []error
	for _, fam := range families {
		t, err := f.table(fam)
		if errors.Is(err, exec.ErrNotFound) {
			f.log.Info("skipping cleanup without the iptables binary", "event", "cleanup-skipped", "family", fam.name, "reason", err.Error())
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, def := range ourChains {
			if err := ctx.Err(); err != nil {
				return errors.Join(append(errs, fmt.Errorf("%s %s: not removed: %w", fam.name, def, err))...)
			}
			errs = append(errs, f.removeChain(t, fam, def))
		}
	}
	return errors.Join(errs...)
}

// table opens a family's iptables once; a failure is retried on the next call.
func (f *Firewall) table(fam family) (Table, error) {
	if t, ok := f.tables[fam.proto]; ok {
		return t, nil
	}
	t, err := f.open(fam.proto)
	if err != nil {
		return nil, fmt.Errorf("%s: opening iptables: %w", fam.name, err)
	}
	f.tables[fam.proto] = t
	return t, nil
}
