package services

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const self = "n1"

// svc builds a Service; opts change it.
func svc(name string, opts ...func(*corev1.Service)) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: corev1.ServiceSpec{
			Type:       corev1.ServiceTypeClusterIP,
			ClusterIP:  "10.96.0.10",
			ClusterIPs: []string{"10.96.0.10"},
		},
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

func clusterIPs(ips ...string) func(*corev1.Service) {
	return func(s *corev1.Service) { s.Spec.ClusterIP, s.Spec.ClusterIPs = ips[0], ips }
}

func externalIPs(ips ...string) func(*corev1.Service) {
	return func(s *corev1.Service) { s.Spec.ExternalIPs = ips }
}

func loadBalancer(ips ...string) func(*corev1.Service) {
	return func(s *corev1.Service) {
		s.Spec.Type = corev1.ServiceTypeLoadBalancer
		for _, ip := range ips {
			s.Status.LoadBalancer.Ingress = append(s.Status.LoadBalancer.Ingress, corev1.LoadBalancerIngress{IP: ip})
		}
	}
}

func etpLocal(s *corev1.Service) {
	s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
}

func itpLocal(s *corev1.Service) {
	l := corev1.ServiceInternalTrafficPolicyLocal
	s.Spec.InternalTrafficPolicy = &l
}

func annotated(v string) func(*corev1.Service) {
	return func(s *corev1.Service) { s.Annotations = map[string]string{Annotation: v} }
}

// endpoint is one endpoint on node; ready and terminating nil when "".
type endpoint struct {
	node               string
	ready, terminating string
}

func slice(service string, eps ...endpoint) *discoveryv1.EndpointSlice {
	es := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: service + "-abc",
			Labels: map[string]string{discoveryv1.LabelServiceName: service}},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	b := func(s string) *bool {
		if s == "" {
			return nil
		}
		v := s == "true"
		return &v
	}
	for _, e := range eps {
		node := e.node
		es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{
			Addresses: []string{"10.244.1.5"},
			NodeName:  &node,
			Conditions: discoveryv1.EndpointConditions{
				Ready: b(e.ready), Terminating: b(e.terminating),
			},
		})
	}
	return es
}

func prefixes(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

var all = Kinds{ClusterIP: true, ExternalIP: true, LoadBalancerIP: true}

func TestWhatANodeAnnouncesForAService(t *testing.T) {
	readyHere := slice("web", endpoint{node: self, ready: "true"})
	readyElsewhere := slice("web", endpoint{node: "n2", ready: "true"})
	tests := []struct {
		name     string
		svc      *corev1.Service
		slices   []*discoveryv1.EndpointSlice
		settings Settings
		announce []netip.Prefix
		reject   []netip.Prefix
		problems []string
	}{
		{
			name:     "a ClusterIP is announced from every node with --advertise-cluster-ip",
			svc:      svc("web"),
			settings: Settings{Advertise: Kinds{ClusterIP: true}},
			announce: prefixes("10.96.0.10/32"), reject: prefixes("10.96.0.10/32"),
		},
		{
			name:     "nothing is announced with every switch off",
			svc:      svc("web", externalIPs("192.0.2.10"), loadBalancer("198.51.100.10")),
			settings: Settings{},
		},
		{
			name:     "each switch announces its kind only",
			svc:      svc("web", externalIPs("192.0.2.10"), loadBalancer("198.51.100.10")),
			settings: Settings{Advertise: Kinds{LoadBalancerIP: true}},
			announce: prefixes("198.51.100.10/32"), reject: prefixes("198.51.100.10/32"),
		},
		{
			name:     "external and load-balancer IPs of a Cluster policy Service are announced without endpoints here",
			svc:      svc("web", externalIPs("192.0.2.10"), loadBalancer("198.51.100.10")),
			settings: Settings{Advertise: all},
			announce: prefixes("10.96.0.10/32", "192.0.2.10/32", "198.51.100.10/32"),
			reject:   prefixes("10.96.0.10/32", "192.0.2.10/32", "198.51.100.10/32"),
		},
		{
			name:     "externalTrafficPolicy Local announces external and LB IPs while an endpoint here is ready",
			svc:      svc("web", externalIPs("192.0.2.10"), loadBalancer("198.51.100.10"), etpLocal),
			slices:   []*discoveryv1.EndpointSlice{readyHere},
			settings: Settings{Advertise: Kinds{ExternalIP: true, LoadBalancerIP: true}},
			announce: prefixes("192.0.2.10/32", "198.51.100.10/32"),
			reject:   prefixes("192.0.2.10/32", "198.51.100.10/32"),
		},
		{
			name:     "externalTrafficPolicy Local with endpoints on other nodes only announces nothing but still rejects the addresses",
			svc:      svc("web", externalIPs("192.0.2.10"), loadBalancer("198.51.100.10"), etpLocal),
			slices:   []*discoveryv1.EndpointSlice{readyElsewhere},
			settings: Settings{Advertise: all},
			announce: prefixes("10.96.0.10/32"),
			reject:   prefixes("10.96.0.10/32", "192.0.2.10/32", "198.51.100.10/32"),
		},
		{
			name:     "externalTrafficPolicy Local leaves the ClusterIP to the internal policy",
			svc:      svc("web", loadBalancer("198.51.100.10"), etpLocal),
			settings: Settings{Advertise: all},
			announce: prefixes("10.96.0.10/32"),
			reject:   prefixes("10.96.0.10/32", "198.51.100.10/32"),
		},
		{
			name:     "internalTrafficPolicy Local announces the ClusterIP only with a ready endpoint here",
			svc:      svc("web", itpLocal),
			slices:   []*discoveryv1.EndpointSlice{readyElsewhere},
			settings: Settings{Advertise: Kinds{ClusterIP: true}},
			reject:   prefixes("10.96.0.10/32"),
		},
		{
			name:     "a terminating endpoint here withdraws a Local address at once",
			svc:      svc("web", externalIPs("192.0.2.10"), etpLocal),
			slices:   []*discoveryv1.EndpointSlice{slice("web", endpoint{node: self, ready: "false", terminating: "true"})},
			settings: Settings{Advertise: Kinds{ExternalIP: true}},
			reject:   prefixes("192.0.2.10/32"),
		},
		{
			name:     "a terminating endpoint still marked ready does not count",
			svc:      svc("web", externalIPs("192.0.2.10"), etpLocal),
			slices:   []*discoveryv1.EndpointSlice{slice("web", endpoint{node: self, ready: "true", terminating: "true"})},
			settings: Settings{Advertise: Kinds{ExternalIP: true}},
			reject:   prefixes("192.0.2.10/32"),
		},
		{
			name:     "a not-ready endpoint here does not count",
			svc:      svc("web", externalIPs("192.0.2.10"), etpLocal),
			slices:   []*discoveryv1.EndpointSlice{slice("web", endpoint{node: self, ready: "false"})},
			settings: Settings{Advertise: Kinds{ExternalIP: true}},
			reject:   prefixes("192.0.2.10/32"),
		},
		{
			name:     "an endpoint without a ready condition is ready, as the API defines",
			svc:      svc("web", externalIPs("192.0.2.10"), etpLocal),
			slices:   []*discoveryv1.EndpointSlice{slice("web", endpoint{node: self})},
			settings: Settings{Advertise: Kinds{ExternalIP: true}},
			announce: prefixes("192.0.2.10/32"), reject: prefixes("192.0.2.10/32"),
		},
		{
			name:     "one ready endpoint here among others is enough",
			svc:      svc("web", externalIPs("192.0.2.10"), etpLocal),
			slices:   []*discoveryv1.EndpointSlice{readyElsewhere, slice("web", endpoint{node: self, ready: "false"}, endpoint{node: self, ready: "true"})},
			settings: Settings{Advertise: Kinds{ExternalIP: true}},
			announce: prefixes("192.0.2.10/32"), reject: prefixes("192.0.2.10/32"),
		},
		{
			name:     "a dual-stack Service announces a /32 and a /128",
			svc:      svc("web", clusterIPs("10.96.0.10", "fd00:96::10"), loadBalancer("198.51.100.10", "2001:db8::10")),
			settings: Settings{Advertise: all},
			announce: prefixes("10.96.0.10/32", "198.51.100.10/32", "2001:db8::10/128", "fd00:96::10/128"),
			reject:   prefixes("10.96.0.10/32", "198.51.100.10/32", "2001:db8::10/128", "fd00:96::10/128"),
		},
		{
			name:     "annotation false withholds every address whatever the switches",
			svc:      svc("web", loadBalancer("198.51.100.10"), annotated("false")),
			settings: Settings{Advertise: all},
		},
		{
			name:     "an annotation listing kinds announces exactly those with every switch off",
			svc:      svc("web", externalIPs("192.0.2.10"), loadBalancer("198.51.100.10"), annotated("load-balancer-ip, external-ip")),
			settings: Settings{},
			announce: prefixes("192.0.2.10/32", "198.51.100.10/32"),
			reject:   prefixes("192.0.2.10/32", "198.51.100.10/32"),
		},
		{
			name:     "annotation true announces every kind",
			svc:      svc("web", externalIPs("192.0.2.10"), annotated("true")),
			announce: prefixes("10.96.0.10/32", "192.0.2.10/32"),
			reject:   prefixes("10.96.0.10/32", "192.0.2.10/32"),
		},
		{
			name:     "an unreadable annotation is a problem naming the Service and the entry, and withholds the Service",
			svc:      svc("web", annotated("cluster-ip,bogus")),
			settings: Settings{Advertise: all},
			problems: []string{`service default/web: annotation nodebgp.io/advertise[1]: "bogus" is not one of`},
		},
		{
			name:     "a malformed address is a problem naming its field; the Service's other addresses stand",
			svc:      svc("web", externalIPs("192.0.2.300", "192.0.2.11"), loadBalancer("127.0.0.1")),
			settings: Settings{Advertise: all},
			announce: prefixes("10.96.0.10/32", "192.0.2.11/32"),
			reject:   prefixes("10.96.0.10/32", "192.0.2.11/32"),
			problems: []string{
				`service default/web: spec.externalIPs[0]: "192.0.2.300" is not an address`,
				`service default/web: status.loadBalancer.ingress[0].ip: "127.0.0.1" is not an address`,
			},
		},
		{
			name:     "a headless Service has no address to announce",
			svc:      svc("web", clusterIPs("None")),
			settings: Settings{Advertise: all},
		},
		{
			name: "an ExternalName Service has no address to announce",
			svc: svc("web", func(s *corev1.Service) {
				s.Spec = corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "example.org"}
			}),
			settings: Settings{Advertise: all},
		},
		{
			name: "a load balancer's hostname ingress is skipped",
			svc: svc("web", loadBalancer(), func(s *corev1.Service) {
				s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{Hostname: "lb.example.org"}}
			}),
			settings: Settings{Advertise: Kinds{LoadBalancerIP: true}},
		},
		{
			name:     "a ClusterIP inside the aggregate is not announced as a host route",
			svc:      svc("web"),
			settings: Settings{Advertise: Kinds{ClusterIP: true}, ClusterIPRanges: prefixes("10.96.0.0/12")},
			reject:   prefixes("10.96.0.10/32"),
		},
		{
			name:     "an internalTrafficPolicy Local ClusterIP keeps its host route over the aggregate while ready here",
			svc:      svc("web", itpLocal),
			slices:   []*discoveryv1.EndpointSlice{readyHere},
			settings: Settings{Advertise: Kinds{ClusterIP: true}, ClusterIPRanges: prefixes("10.96.0.0/12")},
			announce: prefixes("10.96.0.10/32"), reject: prefixes("10.96.0.10/32"),
		},
		{
			name:     "a ClusterIP outside the aggregate keeps its host route",
			svc:      svc("web", clusterIPs("10.112.0.10")),
			settings: Settings{Advertise: Kinds{ClusterIP: true}, ClusterIPRanges: prefixes("10.96.0.0/12")},
			announce: prefixes("10.112.0.10/32"), reject: prefixes("10.112.0.10/32"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.settings.NodeName = self
			got, problems := ForService(tt.svc, tt.slices, tt.settings)
			if !slices.Equal(got.Announce, tt.announce) {
				t.Errorf("announce = %v, want %v", got.Announce, tt.announce)
			}
			if !slices.Equal(got.Reject, tt.reject) {
				t.Errorf("reject = %v, want %v", got.Reject, tt.reject)
			}
			if len(problems) != len(tt.problems) {
				t.Fatalf("problems = %v, want %d", problems, len(tt.problems))
			}
			for i, p := range problems {
				if !strings.HasPrefix(p.Error(), tt.problems[i]) {
					t.Errorf("problem %d = %q, want it to start with %q", i, p, tt.problems[i])
				}
			}
		})
	}
}

func TestEndpointSlicesNameTheirServiceByLabel(t *testing.T) {
	es := slice("web")
	if k, ok := ServiceOf(es); !ok || k.String() != "default/web" {
		t.Errorf("ServiceOf = %v %v, want default/web", k, ok)
	}
	delete(es.Labels, discoveryv1.LabelServiceName)
	if k, ok := ServiceOf(es); ok {
		t.Errorf("ServiceOf an unlabelled slice = %v, want none", k)
	}
}
