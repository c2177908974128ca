package main

import (
	"github.com/spf13/cobra"
)

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "router",
		Short: "nodebgp: routes pod CIDRs between Kubernetes nodes with BGP",
		Long: `router is nodebgp's per-node agent. It runs on every node (a DaemonSet), learns the
node's pod CIDRs from the Kubernetes API, writes the node's CNI config, peers with the other
nodes over BGP (an embedded GoBGP), announces the node's pod CIDRs and installs the routes it
learns into the kernel. The stock gobgp CLI works against it on 127.0.0.1:50051.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newRunCommand(), newCleanupCommand(), newInstallCNICommand(), newVersionCommand(), newCheckCommand())
	return root
}
