package services

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Annotation on a Service overrides the --advertise-* switches for it:
// "false" announces none of its addresses, "true" all kinds, or a
// comma-separated list of kinds ("cluster-ip,load-balancer-ip") exactly
// those.
const Annotation = "nodebgp.io/advertise"

// Kind is a kind of Service address.
type Kind string

// The kinds of Service address a node can announce.
const (
	ClusterIP      Kind = "cluster-ip"       // spec.clusterIPs
	ExternalIP     Kind = "external-ip"      // spec.externalIPs
	LoadBalancerIP Kind = "load-balancer-ip" // status.loadBalancer.ingress[].ip
)

var allKinds = []Kind{ClusterIP, ExternalIP, LoadBalancerIP}

// Kinds is a set of kinds.
type Kinds struct{ ClusterIP, ExternalIP, LoadBalancerIP bool }

func (k Kinds) has(kind Kind) bool {
	switch kind {
	case ClusterIP:
		return k.ClusterIP
	case ExternalIP:
		return k.ExternalIP
	case LoadBalancerIP:
		return k.LoadBalancerIP
	}
	return false
}

func (k *Kinds) set(kind Kind) {
	switch kind {
	case ClusterIP:
		k.ClusterIP = true
	case ExternalIP:
		k.ExternalIP = true
	case LoadBalancerIP:
		k.LoadBalancerIP = true
	}
}

// Settings are the flags that decide what is announced, parsed.
type Settings struct {
	NodeName string
	// Advertise are the --advertise-cluster-ip, --advertise-external-ip and
	// --advertise-loadbalancer-ip switches: the kinds of every Service
	// without the annotation.
	Advertise Kinds
	// ClusterIPRanges (--advertise-service-cidr) are announced, with
	// --advertise-cluster-ip, as aggregates from every node instead of one
	// host route per ClusterIP. ClusterIPs of internalTrafficPolicy Local
	// still get their host route from the nodes with a ready endpoint, which
	// the ToR prefers (longest match).
	ClusterIPRanges []netip.Prefix
}

// Routes is what one Service asks of this node.
type Routes struct {
	// Announce are the host routes this node announces for it.
	Announce []netip.Prefix
	// Reject are the host routes of every address of an announced kind,
	// whichever node announces it: no peer may send them to us.
	Reject []netip.Prefix
}

// kindsFor reads the Service's annotation; without one, the switches
// decide.
func kindsFor(svc *corev1.Service, switches Kinds) (Kinds, error) {
	v, ok := svc.Annotations[Annotation]
	if !ok {
		return switches, nil
	}
	switch strings.TrimSpace(v) {
	case "false":
		return Kinds{}, nil
	case "true":
		return Kinds{ClusterIP: true, ExternalIP: true, LoadBalancerIP: true}, nil
	}
	var k Kinds
	for i, f := range strings.Split(v, ",") {
		kind := Kind(strings.TrimSpace(f))
		if !slices.Contains(allKinds, kind) {
			return Kinds{}, &Problem{Service: keyOf(svc), Field: fmt.Sprintf("annotation %s[%d]", Annotation, i),
				Reason: fmt.Sprintf("%q is not one of \"false\", \"true\", %s, %s, %s; none of its addresses is announced", f, ClusterIP, ExternalIP, LoadBalancerIP)}
		}
		k.set(kind)
	}
	return k, nil
}

// ForService derives what svc asks of this node from its EndpointSlices
// (those labelled kubernetes.io/service-name with its name, in its
// namespace). An address that cannot be read is a problem naming the
// Service and field; the Service's other addresses stand.
//
// Traffic policy: Cluster announces from every node. Local
// (externalTrafficPolicy for external and load-balancer IPs,
// internalTrafficPolicy for ClusterIPs) announces only while this node has
// an endpoint that is ready and not terminating: kube-proxy would drop (or
// for Cluster, SNAT) traffic sent to a node without one, and a terminating
// endpoint is the earliest signal Kubernetes gives that it goes away.
func ForService(svc *corev1.Service, endpointSlices []*discoveryv1.EndpointSlice, s Settings) (Routes, []error) {
	var r Routes
	if svc == nil || svc.Spec.Type == corev1.ServiceTypeExternalName {
		return r, nil
	}
	kinds, err := kindsFor(svc, s.Advertise)
	if err != nil {
		return r, []error{err}
	}
	var problems []error
	local := -1 // unknown until needed
	hasLocal := func() bool {
		if local < 0 {
			local = 0
			if readyEndpointOn(endpointSlices, s.NodeName) {
				local = 1
			}
		}
		return local == 1
	}
	add := func(field string, raw string, policyLocal bool, covered func(netip.Addr) bool) {
		addr, err := netip.ParseAddr(raw)
		if err == nil && (addr.Zone() != "" || !addr.Unmap().IsGlobalUnicast()) {
			err = fmt.Errorf("not a unicast host address")
		}
		if err != nil {
			problems = append(problems, &Problem{Service: keyOf(svc), Field: field,
				Reason: fmt.Sprintf("%q is not an address that can be announced: %v; the Service's other addresses are", raw, err)})
			return
		}
		addr = addr.Unmap()
		host := netip.PrefixFrom(addr, addr.BitLen())
		r.Reject = append(r.Reject, host)
		if policyLocal {
			if hasLocal() {
				r.Announce = append(r.Announce, host)
			}
			return
		}
		if covered == nil || !covered(addr) {
			r.Announce = append(r.Announce, host)
		}
	}

	if kinds.ClusterIP && svc.Spec.ClusterIP != corev1.ClusterIPNone {
		itpLocal := svc.Spec.InternalTrafficPolicy != nil && *svc.Spec.InternalTrafficPolicy == corev1.ServiceInternalTrafficPolicyLocal
		var covered func(netip.Addr) bool
		if s.Advertise.ClusterIP {
			covered = func(a netip.Addr) bool {
				return slices.ContainsFunc(s.ClusterIPRanges, func(p netip.Prefix) bool { return p.Contains(a) })
			}
		}
		ips := svc.Spec.ClusterIPs
		field := "spec.clusterIPs"
		if len(ips) == 0 && svc.Spec.ClusterIP != "" {
			ips, field = []string{svc.Spec.ClusterIP}, "spec.clusterIP"
		}
		for i, ip := range ips {
			add(fmt.Sprintf("%s[%d]", field, i), ip, itpLocal, covered)
		}
	}
	etpLocal := svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal
	if kinds.ExternalIP {
		for i, ip := range svc.Spec.ExternalIPs {
			add(fmt.Sprintf("spec.externalIPs[%d]", i), ip, etpLocal, nil)
		}
	}
	if kinds.LoadBalancerIP && svc.Spec.Type == corev1.ServiceTypeLoadBalancer {
		for i, ing := range svc.Status.LoadBalancer.Ingress {
			if ing.IP == "" {
				continue // a hostname: nothing to route
			}
			add(fmt.Sprintf("status.loadBalancer.ingress[%d].ip", i), ing.IP, etpLocal, nil)
		}
	}
	r.Announce = sortedUniquePrefixes(r.Announce)
	r.Reject = sortedUniquePrefixes(r.Reject)
	return r, problems
}

// readyEndpointOn tells whether one of the slices has an endpoint on node
// that is ready and not terminating. A nil ready condition means ready
// (discovery/v1 API).
func readyEndpointOn(endpointSlices []*discoveryv1.EndpointSlice, node string) bool {
	for _, es := range endpointSlices {
		if es == nil {
			continue
		}
		for _, ep := range es.Endpoints {
			if ep.NodeName == nil || *ep.NodeName != node {
				continue
			}
			c := ep.Conditions
			if (c.Ready == nil || *c.Ready) && (c.Terminating == nil || !*c.Terminating) {
				return true
			}
		}
	}
	return false
}

// Problem is bad data in one Service: its field, and why.
type Problem struct {
	Service types.NamespacedName
	Field   string
	Reason  string
}

func (p *Problem) Error() string {
	return fmt.Sprintf("service %s: %s: %s", p.Service, p.Field, p.Reason)
}

func keyOf(svc *corev1.Service) types.NamespacedName {
	return types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}
}
