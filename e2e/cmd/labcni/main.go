// Command labcni runs a CNI network list against a pod namespace the way a
// container runtime does (libcni: conflist by network name, result cache,
// portMappings capability). The lab runs it inside a node's namespace:
//
//	ip netns exec lab-node1 labcni add --conf-dir D --bin-dir D --cache-dir D \
//	    --netns /var/run/netns/lab-pod1 --container-id lab-pod1 --ifname eth0 \
//	    [--port-mapping 8080:80/tcp ...]
//
// ADD prints the CNI result as JSON on stdout.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/containernetworking/cni/libcni"

	"github.com/nodebgp/router/e2e/lab"
)

type options struct {
	verb         string
	confDir      string
	binDir       string
	cacheDir     string
	network      string
	netns        string
	containerID  string
	ifName       string
	portMappings portMappings
	timeout      time.Duration
}

// portMappings is a repeatable --port-mapping flag.
type portMappings []lab.PortMapping

func (p *portMappings) String() string {
	s := make([]string, len(*p))
	for i, pm := range *p {
		s[i] = pm.String()
	}
	return strings.Join(s, ",")
}

func (p *portMappings) Set(v string) error {
	pm, err := lab.ParsePortMapping(v)
	if err != nil {
		return err
	}
	*p = append(*p, pm)
	return nil
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "labcni:", err)
		os.Exit(1)
	}
}

func parse(args []string) (options, error) {
	var o options
	if len(args) == 0 || (args[0] != "add" && args[0] != "del") {
		return o, errors.New("usage: labcni add|del --conf-dir D --bin-dir D --cache-dir D --netns PATH --container-id ID [--ifname eth0] [--port-mapping H:C/tcp ...]")
	}
	o.verb = args[0]
	fs := flag.NewFlagSet("labcni "+o.verb, flag.ContinueOnError)
	fs.StringVar(&o.confDir, "conf-dir", "", "directory holding the conflist")
	fs.StringVar(&o.binDir, "bin-dir", "", "directory holding the CNI plugins")
	fs.StringVar(&o.cacheDir, "cache-dir", "", "libcni result cache directory")
	fs.StringVar(&o.network, "network", lab.NetworkName, "CNI network name to load")
	fs.StringVar(&o.netns, "netns", "", "path of the pod's network namespace")
	fs.StringVar(&o.containerID, "container-id", "", "container (sandbox) ID")
	fs.StringVar(&o.ifName, "ifname", "eth0", "interface name inside the pod")
	fs.Var(&o.portMappings, "port-mapping", "hostPort:containerPort[/protocol], repeatable")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "bound on the whole CNI call")
	if err := fs.Parse(args[1:]); err != nil {
		return o, err
	}
	required := []struct{ flag, value string }{
		{"conf-dir", o.confDir}, {"bin-dir", o.binDir}, {"cache-dir", o.cacheDir},
		{"netns", o.netns}, {"container-id", o.containerID},
	}
	for _, r := range required {
		if r.value == "" {
			return o, fmt.Errorf("--%s is required", r.flag)
		}
	}
	return o, nil
}

func run(args []string) error {
	o, err := parse(args)
	if err != nil {
		return err
	}
	list, err := libcni.LoadConfList(o.confDir, o.network)
	if err != nil {
		return fmt.Errorf("loading network %q from %s: %w", o.network, o.confDir, err)
	}
	cni := libcni.NewCNIConfigWithCacheDir([]string{o.binDir}, o.cacheDir, nil)
	rt := &libcni.RuntimeConf{
		ContainerID: o.containerID,
		NetNS:       o.netns,
		IfName:      o.ifName,
		CacheDir:    o.cacheDir,
	}
	if len(o.portMappings) > 0 {
		rt.CapabilityArgs = map[string]any{"portMappings": []lab.PortMapping(o.portMappings)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()

	if o.verb == "add" {
		res, err := cni.AddNetworkList(ctx, list, rt)
		if err != nil {
			return fmt.Errorf("ADD %s for %s: %w", o.network, o.containerID, err)
		}
		return res.Print()
	}
	// DEL gets the port mappings the runtime used on ADD from the cache, as
	// a runtime does after a restart; without them portmap keeps its rules.
	if len(o.portMappings) == 0 {
		if _, cached, err := cni.GetNetworkListCachedConfig(list, rt); err == nil && cached != nil {
			rt.CapabilityArgs = cached.CapabilityArgs
		}
	}
	if err := cni.DelNetworkList(ctx, list, rt); err != nil {
		return fmt.Errorf("DEL %s for %s: %w", o.network, o.containerID, err)
	}
	return nil
}
