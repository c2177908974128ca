package agent

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/nodebgp/router/pkg/bgp"
	"github.com/nodebgp/router/pkg/cniinstall"
	"github.com/nodebgp/router/pkg/firewall"
	"github.com/nodebgp/router/pkg/nodeinfo"
	"github.com/nodebgp/router/pkg/peering"
	"github.com/nodebgp/router/pkg/podcidr"
	"github.com/nodebgp/router/pkg/routes"
)

// nodeState is what the node loop remembers between passes: only what it needs
// to avoid repeating a log line.
type nodeState struct {
	problems    string // last logged set of node problems
	ownProblems string // last reported set of this node's own problems
	cidrWarning string // last logged pod CIDR mismatch
}

// nodeLoop reconciles everything derived from Node objects, in a fixed order:
// CNI config, bridge, firewall, peers, then advertisement — a pod CIDR is only
// announced once this node can carry the traffic it attracts.
func (a *agent) nodeLoop(ctx context.Context) error {
	st := &nodeState{}
	tick := time.NewTicker(a.cfg.RoutesSyncPeriod)
	defer tick.Stop()
	routesSynced := a.routesSynced
	a.checkAPI(ctx)
	for {
		if err := a.reconcileNode(ctx, st, routesSynced == nil); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-a.nodeChanged:
		case <-tick.C:
			// Once per period, not per pass: Node events can come by the
			// hundred in a big cluster, and the answer would not change.
			a.checkAPI(ctx)
		case <-routesSynced:
			routesSynced = nil
		}
	}
}

// reconcileNode runs one pass. Its only error is *identityChangedError: the
// node's annotations want another speaker, so this one must end (see Run).
func (a *agent) reconcileNode(ctx context.Context, st *nodeState, routesSynced bool) error {
	a.checkOwnNode(st)
	cidrs := a.initialCIDRs

	all, err := a.nodes.List(labels.Everything())
	if err != nil {
		a.report("api", fmt.Errorf("listing nodes: %w", err))
		return nil
	}
	infos, problems := nodeinfo.Cluster(all)
	a.reportNodeProblems(st, problems)
	plan := a.planPeers(all, infos)
	a.reportOwnProblems(st, plan.ownProblems)
	if plan.identity != a.identity {
		// Nothing of this plan is applied: its peers are for the next speaker.
		return &identityChangedError{Node: a.cfg.NodeName, From: a.identity, To: plan.identity}
	}

	mtu := a.mtu() // once per pass: the conflist and the bridge must agree
	cniErr := a.syncCNI(cidrs, mtu)
	a.report("cni", cniErr)
	bridgeErr := routes.EnsureBridge(routes.BridgeParams{
		Name:     a.cfg.CNIBridge,
		Gateways: gateways(cidrs),
		MTU:      mtu,
	})
	a.report("bridge", bridgeErr)
	a.report("firewall", a.syncFirewall(cidrs))

	// Announcing before the bridge and the conflist exist, or before the kernel
	// has our routes, would black-hole the traffic the announcement attracts.
	// While that gate is closed the speaker keeps what it advertised last, so
	// that a transient failure withdraws nothing.
	advertise := cniErr == nil && bridgeErr == nil && routesSynced
	if advertise {
		a.advertised = advertisements(cidrs, a.nodeIPs())
	}
	// One pass on the speaker: policy, peers, advertisement, in that order
	// (see bgp.Speaker.Apply).
	res := a.speaker.Apply(ctx, bgp.Desired{Policy: plan.policy, Peers: plan.peers, Advertised: a.advertised})
	a.report("policy", res.Policy)
	a.report("peers", res.Peers)
	a.observePeers(ctx)
	if res.Peers == nil {
		a.peersApplied.Store(true)
	}
	if advertise {
		a.report("advertise", res.Advertise)
	}
	return nil
}

// checkOwnNode warns when this node's Node object vanished or shows other pod
// CIDRs than at start. spec.podCIDRs is immutable, so this only happens when the
// Node was deleted (and maybe re-registered): the agent keeps routing with what it
// started with, and a restart adopts the new allocation.
func (a *agent) checkOwnNode(st *nodeState) {
	self, err := a.ownNode()
	var warning string
	switch {
	case err != nil:
		warning = fmt.Sprintf("reading node %q: %v", a.cfg.NodeName, err)
	case self == nil:
		warning = "own Node object not found; keeping the pod CIDRs it had at start"
	default:
		cidrs, err := podcidr.Own(self)
		if err != nil {
			warning = err.Error()
		} else if !slices.Equal(cidrs, a.initialCIDRs) {
			warning = fmt.Sprintf("pod CIDRs changed from %v to %v; restart the agent to adopt them", a.initialCIDRs, cidrs)
		}
	}
	if warning != st.cidrWarning && warning != "" {
		a.log.Warn("own node", "event", "own-node", "reason", warning)
	}
	st.cidrWarning = warning
}

func (a *agent) reportNodeProblems(st *nodeState, problems []error) {
	msgs := make([]string, 0, len(problems))
	for _, p := range problems {
		msgs = append(msgs, p.Error())
	}
	joined := strings.Join(msgs, "; ")
	if joined == st.problems {
		return
	}
	st.problems = joined
	for _, m := range msgs {
		a.log.Warn("skipping node", "event", "bad-input", "reason", m)
	}
}

// reportOwnProblems logs this node's bad annotations and skipped peers and
// records each as a Warning Event on the Node, once per change: an operator
// sees them in `kubectl describe node` without the log.
func (a *agent) reportOwnProblems(st *nodeState, problems []error) {
	msgs := make([]string, 0, len(problems))
	for _, p := range problems {
		msgs = append(msgs, p.Error())
	}
	joined := strings.Join(msgs, "; ")
	if joined == st.ownProblems {
		return
	}
	st.ownProblems = joined
	self, _ := a.ownNode()
	for i, m := range msgs {
		reason := reasonPeerSkipped
		var ae *peering.AnnotationError
		if errors.As(problems[i], &ae) {
			reason = reasonInvalidAnnotation
		}
		a.log.Warn("BGP configuration problem; the rest keeps working", "event", "bad-input", "reason", m)
		if self != nil && a.events != nil {
			a.events.Event(self, corev1.EventTypeWarning, reason, m)
		}
	}
	if joined == "" && len(msgs) == 0 {
		a.log.Info("BGP configuration problems resolved", "event", "bad-input-resolved")
	}
}

func (a *agent) syncCNI(cidrs []netip.Prefix, mtu int) error {
	conf, err := cniinstall.RenderConflist(cniinstall.ConflistParams{
		BridgeName:  a.cfg.CNIBridge,
		MTU:         mtu,
		PodCIDRs:    cidrs,
		IPAMDataDir: a.cfg.IPAMDataDir,
	})
	if err != nil {
		return fmt.Errorf("rendering CNI config: %w", err)
	}
	changed, err := cniinstall.WriteConflist(a.cfg.CNIConfDir, conf)
	if err != nil {
		return err
	}
	if changed {
		a.log.Info("wrote CNI config", "event", "cni-config", "dir", a.cfg.CNIConfDir)
	}
	return nil
}

func (a *agent) syncFirewall(cidrs []netip.Prefix) error {
	v4, v6 := families(cidrs)
	fwdErr := routes.EnableForwarding(v4, v6)
	return errors.Join(fwdErr, a.firewall.Sync(firewall.Rules{
		PodCIDRs:     cidrs,
		ClusterCIDRs: a.cfg.ClusterCIDRs,
		Masquerade:   a.cfg.Masquerade,
	}))
}

// mtu is --mtu, else the MTU of the link that carries the node IP. Pods must not
// get a bigger MTU than the underlay can carry unfragmented.
func (a *agent) mtu() int {
	if a.cfg.MTU != 0 {
		return a.cfg.MTU
	}
	mtu, _, err := routes.MTUForAddress(a.nodeIP)
	if err != nil {
		a.log.Warn("cannot read the node link's MTU; using 1500", "event", "mtu", "reason", err.Error())
		return 1500
	}
	return mtu
}

// checkAPI records whether the API server answers. An outage makes the agent
// not ready, never not live: a restart would only lose the routes it protects.
func (a *agent) checkAPI(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := a.client.Discovery().RESTClient().Get().AbsPath("/version").Do(ctx).Raw()
	if err != nil {
		err = fmt.Errorf("API server: %w", err)
	}
	a.report("api", err)
}

// gateways are the bridge addresses: the first host of each pod CIDR, which is
// the gateway host-local hands to pods by default.
func gateways(cidrs []netip.Prefix) []netip.Prefix {
	gws := make([]netip.Prefix, 0, len(cidrs))
	for _, c := range cidrs {
		gws = append(gws, netip.PrefixFrom(c.Masked().Addr().Next(), c.Bits()))
	}
	return gws
}

// advertisements pair each pod CIDR with the node IP of its family as next
// hop. A CIDR of a family the node has no address of keeps the first node IP,
// which Speaker.Apply refuses with an error naming the CIDR.
func advertisements(cidrs []netip.Prefix, nodeIPs []netip.Addr) []bgp.Path {
	out := make([]bgp.Path, 0, len(cidrs))
	for _, c := range cidrs {
		nh := nodeIPs[0]
		for _, ip := range nodeIPs {
			if ip.Is4() == c.Addr().Is4() {
				nh = ip
				break
			}
		}
		out = append(out, bgp.Path{Prefix: c, NextHop: nh})
	}
	return out
}

func families(cidrs []netip.Prefix) (v4, v6 bool) {
	for _, c := range cidrs {
		if c.Addr().Is4() {
			v4 = true
		} else {
			v6 = true
		}
	}
	return v4, v6
}
