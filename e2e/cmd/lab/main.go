// Command lab brings nodebgp's lab up and down and shows its state:
//
//	lab up      # control plane, 3 nodes running router, a pod on each
//	lab status  # NODE  POD-CIDR  BGP-UP  POD-IP
//	lab dump    # routes, iptables, RIB and agent logs of every node
//	lab down    # remove everything the lab made
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/nodebgp/router/e2e/lab"
)

type flags struct {
	dir              string
	nodes            int
	routesSyncPeriod time.Duration
	timeout          time.Duration
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newCommand().ExecuteContext(ctx)
	stop()
	if err != nil {
		os.Exit(1)
	}
}

func newCommand() *cobra.Command {
	f := &flags{}
	root := &cobra.Command{
		Use:          "lab",
		Short:        "nodebgp's lab: a cluster's network on one machine",
		SilenceUsage: true,
	}
	root.PersistentFlags().StringVar(&f.dir, "dir", "", "lab state dir (default $LAB_DIR, else "+lab.DefaultDir+")")
	root.PersistentFlags().DurationVar(&f.timeout, "timeout", 10*time.Minute, "bound on the whole command")

	up := &cobra.Command{
		Use:   "up",
		Short: "bring the lab up (reuses a lab that is already up)",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return runUp(cmd, f) },
	}
	up.Flags().IntVar(&f.nodes, "nodes", 3, "number of nodes")
	up.Flags().DurationVar(&f.routesSyncPeriod, "routes-sync-period", 5*time.Second, "the agents' --routes-sync-period")

	root.AddCommand(up,
		&cobra.Command{
			Use:   "down",
			Short: "remove everything the lab made",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				ctx, cancel := context.WithTimeout(cmd.Context(), f.timeout)
				defer cancel()
				if err := lab.Down(ctx, f.dir); err != nil {
					return fmt.Errorf("lab down: %w", err)
				}
				fmt.Fprintln(cmd.OutOrStdout(), "lab removed")
				return nil
			},
		},
		&cobra.Command{
			Use:   "status",
			Short: "print every node's pod CIDR, BGP sessions and pod IP",
			Args:  cobra.NoArgs,
			RunE:  func(cmd *cobra.Command, _ []string) error { return runStatus(cmd, f) },
		},
		&cobra.Command{
			Use:   "dump",
			Short: "print routes, iptables, BGP state and agent logs of every node",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				l, err := lab.Load(f.dir)
				if err != nil {
					return err
				}
				ctx, cancel := context.WithTimeout(cmd.Context(), f.timeout)
				defer cancel()
				l.Dump(ctx, cmd.OutOrStdout())
				return nil
			},
		},
	)
	return root
}

func runUp(cmd *cobra.Command, f *flags) error {
	out := cmd.OutOrStdout()
	ctx, cancel := context.WithTimeout(cmd.Context(), f.timeout)
	defer cancel()
	l, err := lab.Up(ctx, lab.Options{
		Dir:              f.dir,
		Nodes:            f.nodes,
		RoutesSyncPeriod: f.routesSyncPeriod,
		Logf:             func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) },
	})
	if err != nil {
		return fmt.Errorf("lab up: %w\n(the lab is left as it is: `lab dump` shows its state, `lab down` removes it)", err)
	}
	fmt.Fprintln(out)
	if err := printStatus(ctx, cmd, l); err != nil {
		return err
	}
	printHints(cmd, l)
	return nil
}

func runStatus(cmd *cobra.Command, f *flags) error {
	l, err := lab.Load(f.dir)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), f.timeout)
	defer cancel()
	return printStatus(ctx, cmd, l)
}

func printStatus(ctx context.Context, cmd *cobra.Command, l *lab.Lab) error {
	statuses, err := l.Status(ctx)
	if werr := lab.WriteStatusTable(cmd.OutOrStdout(), statuses); werr != nil {
		return werr
	}
	if err != nil {
		fmt.Fprintln(cmd.ErrOrStderr(), err)
	}
	return nil
}

// printHints tells the operator where everything is, with real paths.
func printHints(cmd *cobra.Command, l *lab.Lab) {
	out := cmd.OutOrStdout()
	bin := l.BinDir()
	gobgp, kubectl := filepath.Join(bin, "gobgp"), filepath.Join(bin, "kubectl")
	first := l.Nodes[0]
	fmt.Fprintf(out, `
Look around (the tools are in %[1]s: export PATH=%[1]s:$PATH):
  ip netns exec %[2]s %[3]s neighbor
  ip netns exec %[2]s %[3]s global rib
  ip netns exec %[2]s ip route
  %[4]s --kubeconfig %[5]s get nodes -o wide
  tail -f %[6]s
`, bin, first.Netns, gobgp, kubectl, l.CP.AdminKubeconfig, l.Agents.Log(first))
	if first.Pod != nil && len(l.Nodes) > 1 && l.Nodes[1].Pod != nil {
		fmt.Fprintf(out, "  ip netns exec %s ping -c1 %s   # pod on %s to pod on %s\n",
			first.Pod.Netns, l.Nodes[1].Pod.IP, first.Name, l.Nodes[1].Name)
	}
	fmt.Fprintf(out, "Agent kubeconfig (ServiceAccount kube-system/nodebgp): %s\nRemove it all: make lab-down\n", l.Agents.Kubeconfig)
}
