// Command cluster brings nodebgp's cluster lab (e2e/cluster) up or down:
// a control plane and worker nodes running kubelet + containerd, each in its
// own namespaces, on which nodebgp is installed the way users install it.
//
//	cluster up [-nodes 3] [-image ghcr.io/nodebgp/router:v0.1.0] [-overlay daemonset/overlays/kubeadm [-api-via-service]]
//	  (-overlay is applied through a lab overlay that gives the agent the API
//	  server's address, as docs/install.md says a kubeadm user sets it)
//	cluster down
//	cluster status
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/nodebgp/router/e2e/cluster"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: cluster up|down|status [flags]")
	}
	fs := flag.NewFlagSet(args[0], flag.ExitOnError)
	o := cluster.Options{}
	fs.StringVar(&o.Dir, "dir", envOr("CLUSTER_DIR", cluster.DefaultDir), "state dir")
	fs.IntVar(&o.Nodes, "nodes", 3, "worker nodes")
	fs.StringVar(&o.ClusterCIDR, "cluster-cidr", cluster.DefaultClusterCIDR, "kube-controller-manager --cluster-cidr")
	fs.StringVar(&o.Tools.Dir, "tools", envOr("TOOLS_DIR", ".cache/tools"), "tools dir (hack/build-tools.sh --cluster)")
	fs.StringVar(&o.Tools.Pause, "pause", "_output/bin/clusterpause", "the sandbox process binary")
	fs.StringVar(&o.RouterImage, "image", "", "router image to import into every node (make image)")
	overlay := fs.String("overlay", "", "kustomize dir to `kubectl apply -k` once the nodes registered; empty: none")
	viaService := fs.Bool("api-via-service", false, "leave the agent on the kubernetes Service (the manifests' default) instead of giving it the API server's address (e2e/cluster/overlay.go)")
	readyWait := fs.Duration("ready-timeout", 3*time.Minute, "how long to wait for the nodes to be Ready after -overlay")
	_ = fs.Parse(args[1:])
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch args[0] {
	case "up":
		start := time.Now()
		c, err := cluster.Up(ctx, o)
		if err != nil {
			return err
		}
		if *overlay != "" {
			dir := *overlay
			if !*viaService {
				if dir, err = c.DirectAPIOverlay(*overlay); err != nil {
					return err
				}
			}
			kubectl := o.Tools.Dir + "/bin/kubectl"
			out, err := exec.CommandContext(ctx, kubectl, "--kubeconfig", c.AdminKubeconfig(), "apply", "-k", dir).CombinedOutput()
			fmt.Print(string(out))
			if err != nil {
				return fmt.Errorf("kubectl apply -k %s: %w", *overlay, err)
			}
			if err := c.WaitReady(ctx, c.Nodes(), *readyWait); err != nil {
				return err
			}
			fmt.Printf("cluster: every node Ready %v after start\n", time.Since(start).Round(time.Millisecond))
		}
		return status(ctx, c)
	case "down":
		return cluster.Down(o)
	case "status":
		c, err := cluster.Load(o)
		if err != nil {
			return err
		}
		return status(ctx, c)
	}
	return fmt.Errorf("unknown command %q", args[0])
}

func status(ctx context.Context, c *cluster.Cluster) error {
	states, err := c.NodeStates(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("%-10s %-14s %-8s %s\n", "NODE", "ADDRESS", "READY", "POD CIDRS")
	for _, s := range states {
		fmt.Printf("%-10s %-14s %-8v %s\n", s.Name, cluster.NodeAddr(cluster.NodeIndex(s.Name)), s.Ready, strings.Join(s.PodCIDRs, ","))
	}
	kc := c.AdminKubeconfig()
	fmt.Printf("\nexport KUBECONFIG=%s\n", kc)
	fmt.Printf("kubectl get nodes -o wide; kubectl -n kube-system get pods -o wide\n")
	fmt.Printf("nsenter %s -- %s/bin/gobgp neighbor\n", strings.Join(c.NodeNsenter(cluster.NodeName(1)), " "), c.Tools.Dir)
	fmt.Printf("ip netns exec %s ip route show proto 78\n", cluster.NodeName(1))
	return nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
