package main

import (
	"github.com/spf13/cobra"

	"github.com/nodebgp/router/pkg/agent"
)

func newCleanupCommand() *cobra.Command {
	var p agent.CleanupParams
	cmd := &cobra.Command{
		Use:   "cleanup",
		Short: "Remove everything the agent made on this node",
		Long: `Remove everything the agent made on this node, and nothing else: its kernel routes
(route protocol 78), its iptables chains NODEBGP-* and their jumps, the CNI config
10-nodebgp.conflist and the pod bridge. Run it after removing the DaemonSet; pods on the
node lose their network.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return agent.Cleanup(cmd.Context(), p)
		},
	}
	cmd.Flags().StringVar(&p.CNIConfDir, "cni-conf-dir", "/etc/cni/net.d", "where the agent wrote 10-nodebgp.conflist")
	cmd.Flags().StringVar(&p.CNIBridge, "cni-bridge", "nodebgp0", "the pod bridge to delete")
	return cmd
}
