package agent

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/nodebgp/router/pkg/bgp"
	"github.com/nodebgp/router/pkg/services"
)

// serviceCaches are the two informer stores the agent reads Services from.
type serviceCaches struct {
	services, slices cache.Indexer
}

// withServices switches LoadBalancer IPs on for ta and gives it caches.
func withServices(t *testing.T, ta *testAgent) serviceCaches {
	t.Helper()
	c := serviceCaches{
		services: cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc}),
		slices: cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{byService: func(obj any) ([]string, error) {
			if k, ok := services.ServiceOf(obj.(*discoveryv1.EndpointSlice)); ok {
				return []string{k.String()}, nil
			}
			return nil, nil
		}}),
	}
	ta.cfg.AdvertiseServices = services.Kinds{LoadBalancerIP: true}
	ta.serviceIndex = ta.cfg.newServiceIndex()
	ta.serviceSource = serviceSource{services: corelisters.NewServiceLister(c.services), slices: c.slices}
	ta.events = &objectRecorder{}
	return c
}

func lbService(name, ip string, annotations ...string) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, UID: types.UID("uid-" + name), Annotations: map[string]string{}},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ClusterIP: "10.96.0.10"},
	}
	s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: ip}}
	for i := 0; i+1 < len(annotations); i += 2 {
		s.Annotations[annotations[i]] = annotations[i+1]
	}
	return s
}

// put stores objs in the caches and marks their Services, as the informer
// handlers do.
func (ta *testAgent) put(t *testing.T, c serviceCaches, objs ...any) {
	t.Helper()
	for _, o := range objs {
		switch o := o.(type) {
		case *corev1.Service:
			if err := c.services.Update(o); err != nil {
				t.Fatal(err)
			}
			ta.serviceIndex.Mark(types.NamespacedName{Namespace: o.Namespace, Name: o.Name})
		case *discoveryv1.EndpointSlice:
			if err := c.slices.Update(o); err != nil {
				t.Fatal(err)
			}
			k, _ := services.ServiceOf(o)
			ta.serviceIndex.Mark(k)
		}
	}
}

func servicePrefixes(paths []bgp.Path) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range paths {
		out = append(out, p.Prefix)
	}
	return out
}

// noServiceRouteAmongPodPaths fails the test when a Service route is ever
// handed to the speaker as a pod path, which goes to every peer.
func noServiceRouteAmongPodPaths(t *testing.T, ta *testAgent) {
	ta.speaker.beforeApply = func(d bgp.Desired) {
		for _, p := range d.Advertised {
			if p.Prefix != n1CIDR {
				t.Errorf("%s handed to the speaker as a pod path: it would reach node peers", p.Prefix)
			}
		}
	}
}

func TestServiceRoutesWaitForTheDataPlaneAndGoToTheSpeakerAsServicesOnly(t *testing.T) {
	ta := newTestAgent(t)
	c := withServices(t, ta)
	noServiceRouteAmongPodPaths(t, ta)
	ta.put(t, c, lbService("web", "198.51.100.10"))

	ta.nodePass(t)
	if len(ta.speaker.desired.Services) != 0 {
		t.Fatalf("Service routes %v announced before the first kernel route sync", ta.speaker.desired.Services)
	}
	ta.routePass()
	ta.nodePass(t)
	want := []bgp.Path{{Prefix: netip.MustParsePrefix("198.51.100.10/32"), NextHop: netip.MustParseAddr("10.199.1.11")}}
	if !slices.Equal(ta.speaker.desired.Services, want) {
		t.Fatalf("services = %v, want %v (via the node IP)", ta.speaker.desired.Services, want)
	}
	if !slices.Contains(ta.speaker.desired.Policy.ServicePrefixes, netip.MustParsePrefix("198.51.100.10/32")) {
		t.Errorf("policy service prefixes = %v: the route is not refused from upstream", ta.speaker.desired.Policy.ServicePrefixes)
	}
}

func TestAServiceChangeTakesTheShortPassAndLeavesTheHostAlone(t *testing.T) {
	ta := newTestAgent(t)
	c := withServices(t, ta)
	ta.routePass()
	ta.nodePass(t)
	hostCalls := ta.host.calls + ta.firewall.calls + ta.cni.calls

	ta.put(t, c, lbService("web", "198.51.100.10"))
	if err := ta.agent.bfdPass(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := servicePrefixes(ta.speaker.desired.Services); !slices.Equal(got, []netip.Prefix{netip.MustParsePrefix("198.51.100.10/32")}) {
		t.Fatalf("after the short pass: services = %v", got)
	}
	if n := ta.host.calls + ta.firewall.calls + ta.cni.calls; n != hostCalls {
		t.Errorf("a Service change touched the host: %d calls, want %d", n, hostCalls)
	}
	if !ta.speaker.advertises(n1CIDR) {
		t.Errorf("the pod CIDR is no longer announced")
	}
}

func TestAServiceProblemIsAnEventOnThatServiceAndWithdrawsNothingElse(t *testing.T) {
	ta := newTestAgent(t)
	c := withServices(t, ta)
	ta.put(t, c, lbService("good", "198.51.100.10"), lbService("bad", "198.51.100.11"))
	ta.routePass()
	ta.nodePass(t)
	if n := len(ta.speaker.desired.Services); n != 2 {
		t.Fatalf("services = %v, want both", ta.speaker.desired.Services)
	}

	ta.put(t, c, lbService("bad", "198.51.100.11", services.Annotation, "loadbalancer"))
	if err := ta.agent.bfdPass(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := servicePrefixes(ta.speaker.desired.Services); !slices.Equal(got, []netip.Prefix{netip.MustParsePrefix("198.51.100.10/32")}) {
		t.Errorf("services = %v, want the good Service's route alone", got)
	}
	if !ta.speaker.advertises(n1CIDR) {
		t.Errorf("a Service problem withdrew the pod CIDR")
	}
	rec := ta.events.(*objectRecorder)
	events := rec.take(reasonInvalidService)
	if len(events) != 1 || events[0].svc == nil || events[0].svc.Name != "bad" || events[0].kind != corev1.EventTypeWarning ||
		!strings.Contains(events[0].msg, "annotation nodebgp.io/advertise[0]") {
		t.Fatalf("events = %+v, want one Warning on Service default/bad naming the annotation", events)
	}
	// Once per change, not per pass.
	ta.nodePass(t)
	if events := rec.take(reasonInvalidService); len(events) != 0 {
		t.Errorf("the same problem recorded again: %+v", events)
	}
}

// objectRecorder keeps each Event with the Service it is about.
type objectRecorder struct{ events []recorded }

type recorded struct {
	svc               *corev1.Service
	kind, reason, msg string
}

func (r *objectRecorder) Event(obj runtime.Object, kind, reason, msg string) {
	svc, _ := obj.(*corev1.Service)
	r.events = append(r.events, recorded{svc: svc, kind: kind, reason: reason, msg: msg})
}

func (r *objectRecorder) Eventf(obj runtime.Object, kind, reason, format string, args ...any) {
	r.Event(obj, kind, reason, fmt.Sprintf(format, args...))
}

func (r *objectRecorder) AnnotatedEventf(obj runtime.Object, _ map[string]string, kind, reason, format string, args ...any) {
	r.Eventf(obj, kind, reason, format, args...)
}

// take returns and forgets the Events of reason.
func (r *objectRecorder) take(reason string) []recorded {
	var out, rest []recorded
	for _, e := range r.events {
		if e.reason == reason {
			out = append(out, e)
		} else {
			rest = append(rest, e)
		}
	}
	r.events = rest
	return out
}

func TestTheServiceCachesKeepOnlyWhatIsRead(t *testing.T) {
	node := "n1"
	other := "n2"
	ready := true
	es := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web-x", Labels: map[string]string{
			discoveryv1.LabelServiceName: "web", "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kcm"}}},
		Endpoints: []discoveryv1.Endpoint{
			{Addresses: []string{"10.244.1.5"}, NodeName: &node, Conditions: discoveryv1.EndpointConditions{Ready: &ready}},
			{Addresses: []string{"10.244.2.5"}, NodeName: &other, Conditions: discoveryv1.EndpointConditions{Ready: &ready}},
		},
	}
	got, _ := trimEndpointSlice(node)(es)
	t1 := got.(*discoveryv1.EndpointSlice)
	if len(t1.Endpoints) != 1 || *t1.Endpoints[0].NodeName != node || len(t1.Endpoints[0].Addresses) != 0 || len(t1.Labels) != 1 || t1.ManagedFields != nil {
		t.Errorf("trimmed slice = %+v, want this node's endpoint conditions and the service-name label only", t1)
	}
	if k, ok := services.ServiceOf(t1); !ok || k.Name != "web" {
		t.Errorf("trimmed slice lost its Service: %v", k)
	}

	svc := lbService("web", "198.51.100.10", services.Annotation, "false", "other", "x")
	svc.Spec.Ports = []corev1.ServicePort{{Port: 80}}
	svc.Spec.Selector = map[string]string{"app": "web"}
	got, _ = trimService(svc)
	s := got.(*corev1.Service)
	if len(s.Annotations) != 1 || s.Spec.Ports != nil || s.Spec.Selector != nil || s.UID != svc.UID {
		t.Errorf("trimmed Service = %+v, want the annotation, addresses, policies and UID only", s)
	}
	settings := services.Settings{NodeName: node, Advertise: services.Kinds{ClusterIP: true, LoadBalancerIP: true}}
	delete(svc.Annotations, services.Annotation)
	delete(s.Annotations, services.Annotation)
	full, _ := services.ForService(svc, nil, settings)
	trimmed, _ := services.ForService(s, nil, settings)
	if len(full.Announce) == 0 || !slices.Equal(full.Announce, trimmed.Announce) || !slices.Equal(full.Reject, trimmed.Reject) {
		t.Errorf("the trimmed Service decides otherwise: %+v, the full one %+v", trimmed, full)
	}
}
