package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/nodebgp/router/pkg/status"
)

func newCheckCommand() *cobra.Command {
	var kubeconfig string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Compare every node's BGP sessions and routes with what the design implies",
		Long: `Check reads every Node and every BGPNodeState (kubectl get bgpnodestates) and
prints, one line per problem, what is missing or unexpected: a node without a status
object, a node-to-node session the design (full mesh, route reflectors, ToR-only) implies
but the node does not have, or has but should not, a session not established (with its
last error), pod CIDRs not advertised, fewer kernel routes than the other nodes' pod
CIDRs. It exits non-zero when it found a problem.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rules := clientcmd.NewDefaultClientConfigLoadingRules()
			rules.ExplicitPath = kubeconfig
			cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, nil).ClientConfig()
			if err != nil {
				return fmt.Errorf("kubeconfig: %w", err)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			nodes, objects, err := status.ReadCluster(ctx, cfg)
			if err != nil {
				return err
			}
			problems := status.Check(nodes, objects)
			out := cmd.OutOrStdout()
			for _, p := range problems {
				fmt.Fprintln(out, p)
			}
			if len(problems) > 0 {
				cmd.SilenceUsage = true
				return fmt.Errorf("check: %d problems in %d nodes", len(problems), len(nodes))
			}
			up := 0
			for _, o := range objects {
				up += o.Status.SessionsUp
			}
			fmt.Fprintf(out, "ok: %d nodes, %d sessions established, every session and route the design implies is there\n", len(nodes), up)
			return nil
		},
	}
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig (default: $KUBECONFIG, ~/.kube/config, or in-cluster)")
	cmd.Flags().DurationVar(&timeout, "timeout", 30*time.Second, "how long the API may take")
	return cmd
}
