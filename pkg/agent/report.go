package agent

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/nodebgp/router/pkg/bgp"
	"github.com/nodebgp/router/pkg/peering"
	"github.com/nodebgp/router/pkg/plan"
)

// reports remembers the last outcome of each step so that a failure is
// logged when it starts or changes and a recovery once, not on every pass.
type reports struct {
	mu   sync.Mutex
	last map[string]string
}

// report records a step's outcome in health (readiness, metrics) and logs
// it when it changed. Steps are retried by the next pass of their loop.
func (a *agent) report(check string, err error) {
	if errors.Is(err, context.Canceled) {
		// The agent is stopping: a step cut short is not a failure.
		return
	}
	a.health.Set(check, err)
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	a.reports.mu.Lock()
	prev, seen := a.reports.last[check]
	if a.reports.last == nil {
		a.reports.last = map[string]string{}
	}
	a.reports.last[check] = msg
	a.reports.mu.Unlock()
	switch {
	case msg == prev && seen:
	case err != nil:
		a.log.Error("step failed; retrying on the next pass", "event", "step-failed", "check", check, "reason", msg)
	case seen:
		a.log.Info("step recovered", "event", "step-recovered", "check", check)
	}
}

// problemLog is the last reported set of each kind of plan problem, so that
// each is logged (and recorded as an Event) once per change, not per pass.
type problemLog struct {
	nodes, own, ownNode, mtu, settings, services string
}

// reportProblems logs a plan's problems when they changed. This node's own
// (bad annotations, skipped peers) also become Warning Events on its Node:
// an operator sees them in `kubectl describe node` without the log.
func (a *agent) reportProblems(p plan.Plan) {
	a.reportServiceProblems(p.Problems.Services)
	pl := &a.problems
	if joined := joinMessages(p.Problems.Nodes); joined != pl.nodes {
		pl.nodes = joined
		for _, e := range p.Problems.Nodes {
			a.log.Warn("skipping node", "event", "bad-input", "reason", e.Error())
		}
	}
	if joined := joinMessages(p.Problems.Own); joined != pl.own {
		resolved := joined == "" && pl.own != ""
		pl.own = joined
		self := a.ownNode()
		for _, e := range p.Problems.Own {
			reason := reasonPeerSkipped
			var ae *peering.AnnotationError
			if errors.As(e, &ae) {
				reason = reasonInvalidAnnotation
			}
			a.log.Warn("BGP configuration problem; the rest keeps working", "event", "bad-input", "reason", e.Error())
			if self != nil && a.events != nil {
				a.events.Event(self.Reference(), corev1.EventTypeWarning, reason, e.Error())
			}
		}
		if resolved {
			a.log.Info("BGP configuration problems resolved", "event", "bad-input-resolved")
		}
	}
	if p.Problems.OwnNode != pl.ownNode {
		pl.ownNode = p.Problems.OwnNode
		if pl.ownNode != "" {
			a.log.Warn("own node", "event", "own-node", "reason", pl.ownNode)
		}
	}
	// A setting that contradicts the cluster makes the node not ready: it
	// routes, but some of its traffic wrongly (report logs the change).
	settings := errors.Join(p.Problems.Settings...)
	a.report("settings", settings)
	if joined := joinMessages(p.Problems.Settings); joined != pl.settings {
		pl.settings = joined
		for _, e := range p.Problems.Settings {
			a.nodeEvent(corev1.EventTypeWarning, reasonInvalidSetting, e.Error())
		}
	}
	mtu := ""
	if p.Problems.MTU != nil {
		mtu = p.Problems.MTU.Error()
	}
	if mtu != pl.mtu {
		pl.mtu = mtu
		if mtu != "" {
			a.log.Warn("cannot read the node link's MTU; using 1500", "event", "mtu", "reason", mtu)
		}
	}
}

func joinMessages(errs []error) string {
	msgs := make([]string, 0, len(errs))
	for _, e := range errs {
		msgs = append(msgs, e.Error())
	}
	return strings.Join(msgs, "; ")
}

// sessionStates reads the state of the speaker's sessions, for the network
// gate; nil when the speaker cannot say. (The reporting loop publishes them.)
func (a *agent) sessionStates(ctx context.Context) []bgp.PeerStatus {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	peers, err := a.speaker.Peers(ctx)
	if err != nil {
		return nil
	}
	return peers
}

// networkState is what reportNetwork last said.
type networkState struct {
	waiting, degraded string
	lost              bool
	everUp            bool // a session of this speaker was Established once
}

// reportNetwork records whether the node routes, in the "network" check
// (/readyz, nodebgp_check_ok): not while it waits to take pods, nor when it
// has lost every BGP session. Losing them all is also a Warning Event on the
// Node, and coming back a Normal one. The CNI config stays either way: the
// node keeps forwarding with the routes it has, and a missing config would
// turn the node NotReady and get its pods evicted for a BGP outage.
func (a *agent) reportNetwork(ready bool, why string, lost error) {
	st := &a.network
	if !ready {
		a.health.Set("network", errors.New(why))
		if st.waiting == "" {
			a.log.Info("the CNI config waits until this node can route; no pods until then", "event", "network-wait", "reason", why)
		}
		st.waiting = why
		return
	}
	if st.waiting != "" || why != st.degraded {
		if why != "" {
			a.log.Warn("network ready with sessions missing", "event", "network-ready", "reason", why)
		} else if st.waiting != "" {
			a.log.Info("network ready: this node routes and takes pods", "event", "network-ready")
		}
		st.waiting, st.degraded = "", why
	}
	a.report("network", lost)
	if (lost != nil) != st.lost {
		st.lost = lost != nil
		if st.lost {
			a.nodeEvent(corev1.EventTypeWarning, reasonSessionsDown, lost.Error())
		} else {
			a.nodeEvent(corev1.EventTypeNormal, reasonSessionsUp, "a BGP session is established again")
		}
	}
}

// nodeEvent records an Event on this node's Node object.
func (a *agent) nodeEvent(eventType, reason, msg string) {
	if self := a.ownNode(); self != nil && a.events != nil {
		a.events.Event(self.Reference(), eventType, reason, msg)
	}
}

// observePrefixLimits reports each peer that its prefix limit shut down,
// once per trip: a Warning Event on our Node, a log line and the metrics.
// GoBGP keeps such a session down until the limit changes.
func (a *agent) observePrefixLimits(peers []bgp.PeerStatus) {
	limited := map[netip.Addr]bool{}
	for _, p := range peers {
		if !p.PrefixLimited {
			continue
		}
		limited[p.Address] = true
		if a.prefixLimited[p.Address] {
			continue
		}
		a.health.Metrics().PrefixLimitTrips.Inc()
		msg := fmt.Sprintf("BGP peer %s (AS %d) sent more than %d prefixes: its session is shut down and stays down "+
			"until the limit changes. If the peer should send that many, raise the limit: maxPrefixes in its nodebgp.io/peers entry, "+
			"or --peer-router-max-prefixes for every upstream peer (default %d; 0 = no limit)", p.Address, p.ASN, p.MaxPrefixes, bgp.DefaultUpstreamMaxPrefixes)
		a.log.Warn(msg, "event", "prefix-limit", "peer", p.Address, "max_prefixes", p.MaxPrefixes)
		a.nodeEvent(corev1.EventTypeWarning, reasonPrefixLimit, msg)
	}
	a.prefixLimited = limited
	a.health.Metrics().PrefixLimited.Set(float64(len(limited)))
}
