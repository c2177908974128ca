//go:build e2e

package services

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/nodebgp/router/e2e/lab"
)

const (
	ns = "default"
	// labelSuite marks every object the suite makes, so a rerun finds
	// what a crashed one left.
	labelSuite = "nodebgp-e2e-services"
)

func client(t *testing.T) kubernetes.Interface {
	t.Helper()
	cs, err := suite.Lab(t).CP.Client()
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// service is a Service without a selector (no controller fills its
// endpoints here: the suite writes its EndpointSlice).
func service(name string, typ corev1.ServiceType) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{labelSuite: "true"}},
		Spec: corev1.ServiceSpec{
			Type:  typ,
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP}},
		},
	}
}

// create makes svc, sets its load balancer's ingress IPs as an LB
// controller would (when lbIPs are given), and deletes it when the test
// ends. It returns the Service as the API server left it (ClusterIP
// allocated).
func create(ctx context.Context, t *testing.T, svc *corev1.Service, lbIPs ...string) *corev1.Service {
	t.Helper()
	cs := client(t)
	got, err := cs.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating Service %s/%s: %v", ns, svc.Name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err := cs.CoreV1().Services(ns).Delete(ctx, svc.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("deleting Service %s: %v", svc.Name, err)
		}
		err = cs.DiscoveryV1().EndpointSlices(ns).Delete(ctx, sliceName(svc.Name), metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("deleting EndpointSlice of %s: %v", svc.Name, err)
		}
	})
	if len(lbIPs) > 0 {
		for _, ip := range lbIPs {
			got.Status.LoadBalancer.Ingress = append(got.Status.LoadBalancer.Ingress, corev1.LoadBalancerIngress{IP: ip})
		}
		if got, err = cs.CoreV1().Services(ns).UpdateStatus(ctx, got, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("Service %s: writing status.loadBalancer: %v", svc.Name, err)
		}
	}
	t.Logf("Service %s/%s: type %s, ClusterIP %s, externalIPs %v, LB ingress %v, externalTrafficPolicy %s",
		ns, got.Name, got.Spec.Type, got.Spec.ClusterIP, got.Spec.ExternalIPs, lbIPs, got.Spec.ExternalTrafficPolicy)
	return got
}

func sliceName(service string) string { return service + "-lab" }

// endpoint is one endpoint of a slice: on which node, and its conditions.
type endpoint struct {
	node                        *lab.Node
	ready, serving, terminating bool
}

func readyOn(n *lab.Node) endpoint { return endpoint{node: n, ready: true, serving: true} }

// setEndpoints writes service's one EndpointSlice as the EndpointSlice
// controller would: labelled with the Service's name, one endpoint per
// entry.
func setEndpoints(ctx context.Context, t *testing.T, service string, eps ...endpoint) {
	t.Helper()
	if err := writeEndpoints(ctx, client(t), service, eps...); err != nil {
		t.Fatal(err)
	}
}

func writeEndpoints(ctx context.Context, cs kubernetes.Interface, service string, eps ...endpoint) error {
	es := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: sliceName(service), Namespace: ns, Labels: map[string]string{
			discoveryv1.LabelServiceName: service, discoveryv1.LabelManagedBy: "e2e.nodebgp.io", labelSuite: "true"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{},
		Ports:       []discoveryv1.EndpointPort{{Name: ptr("http"), Port: ptr(int32(8080)), Protocol: ptr(corev1.ProtocolTCP)}},
	}
	for _, e := range eps {
		name := e.node.Name
		es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{
			Addresses:  []string{e.node.PodCIDR.Addr().Next().Next().String()},
			NodeName:   &name,
			Conditions: discoveryv1.EndpointConditions{Ready: ptr(e.ready), Serving: ptr(e.serving), Terminating: ptr(e.terminating)},
		})
	}
	api := cs.DiscoveryV1().EndpointSlices(ns)
	cur, err := api.Get(ctx, es.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = api.Create(ctx, es, metav1.CreateOptions{})
	case err == nil:
		es.ResourceVersion = cur.ResourceVersion
		_, err = api.Update(ctx, es, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("writing EndpointSlice %s: %w", es.Name, err)
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

// deleteAll removes the suite's Services and EndpointSlices.
func deleteAll(ctx context.Context, l *lab.Lab) error {
	cs, err := l.CP.Client()
	if err != nil {
		return err
	}
	sel := metav1.ListOptions{LabelSelector: labelSuite}
	svcs, err := cs.CoreV1().Services(ns).List(ctx, sel)
	if err != nil {
		return err
	}
	for _, s := range svcs.Items {
		if err := cs.CoreV1().Services(ns).Delete(ctx, s.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	return cs.DiscoveryV1().EndpointSlices(ns).DeleteCollection(ctx, metav1.DeleteOptions{}, sel)
}

// hostRoute is the /32 (or /128) of a Service address.
func hostRoute(ip string) netip.Prefix {
	a := netip.MustParseAddr(ip)
	return netip.PrefixFrom(a, a.BitLen())
}

func nodeIPs(nodes ...*lab.Node) []netip.Addr {
	var out []netip.Addr
	for _, n := range nodes {
		out = append(out, n.IP)
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}
