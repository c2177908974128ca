package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/nodebgp/router/pkg/cniinstall"
	"github.com/nodebgp/router/pkg/firewall"
	"github.com/nodebgp/router/pkg/hostnet"
	"github.com/nodebgp/router/pkg/routes"
)

// CleanupParams names what `router cleanup` removes.
type CleanupParams struct {
	CNIConfDir string
	CNIBridge  string
	Logger     *slog.Logger
}

// Cleanup removes everything the agent made on this node and nothing else. It
// keeps going past a failed step so one stuck piece does not leave the rest.
func Cleanup(ctx context.Context, p CleanupParams) error {
	log := p.Logger
	if log == nil {
		log = slog.Default()
	}
	var errs []error
	n, err := routes.Cleanup(ctx, log)
	errs = append(errs, err)
	log.Info("removed kernel routes", "event", "cleanup", "count", n)

	fw, err := firewall.New(firewall.Params{Logger: log})
	if err != nil {
		errs = append(errs, fmt.Errorf("iptables: %w", err))
	} else {
		errs = append(errs, fw.Cleanup(ctx))
	}
	errs = append(errs, cniinstall.RemoveConflist(p.CNIConfDir))
	errs = append(errs, hostnet.DeleteBridge(p.CNIBridge))
	return errors.Join(errs...)
}
