package agent

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/nodebgp/router/pkg/kubeclient"
	"github.com/nodebgp/router/pkg/kubewatch"
	"github.com/nodebgp/router/pkg/services"
)

// reasonInvalidService is the Event reason on a Service whose addresses or
// nodebgp.io/advertise annotation cannot be read.
const reasonInvalidService = "InvalidServiceAdvertisement"

// byService indexes EndpointSlices by their Service (namespace/name).
const byService = "service"

// serviceSource reads one Service and its EndpointSlices from the caches
// (services.Source).
type serviceSource struct {
	services corelisters.ServiceLister
	slices   cache.Indexer
}

func (s serviceSource) Service(key types.NamespacedName) (*corev1.Service, error) {
	svc, err := s.services.Services(key.Namespace).Get(key.Name)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return svc, err
}

func (s serviceSource) EndpointSlices(key types.NamespacedName) ([]*discoveryv1.EndpointSlice, error) {
	objs, err := s.slices.ByIndex(byService, key.String())
	if err != nil {
		return nil, err
	}
	out := make([]*discoveryv1.EndpointSlice, 0, len(objs))
	for _, o := range objs {
		if es, ok := o.(*discoveryv1.EndpointSlice); ok {
			out = append(out, es)
		}
	}
	return out, nil
}

// watchServices starts the Service and EndpointSlice informers when a
// Service address kind is switched on: each event marks its Service in the
// index and pokes the node loop for a BGP-only pass. It returns what the
// cache sync waits for. Like the node watch, both go through kubewatch, so
// Services follow again within seconds of an API outage's end.
func (a *agent) watchServices(ctx context.Context, client *kubeclient.Client) ([]cache.InformerSynced, error) {
	svcInformer := cache.NewSharedIndexInformer(kubewatch.New(kubewatch.Params{
		LW: kubeclient.ListWatch(client.Core, "services", func() runtime.Object { return &corev1.ServiceList{} }),
	}), &corev1.Service{}, 0, cache.Indexers{})
	sliceInformer := cache.NewSharedIndexInformer(kubewatch.New(kubewatch.Params{
		LW: kubeclient.ListWatch(client.Discovery, "endpointslices", func() runtime.Object { return &discoveryv1.EndpointSliceList{} }),
	}), &discoveryv1.EndpointSlice{}, 0, cache.Indexers{})
	if err := svcInformer.SetTransform(trimService); err != nil {
		return nil, fmt.Errorf("watching services: %w", err)
	}
	if err := sliceInformer.SetTransform(trimEndpointSlice(a.cfg.NodeName)); err != nil {
		return nil, fmt.Errorf("watching endpointslices: %w", err)
	}
	if err := sliceInformer.AddIndexers(cache.Indexers{byService: func(obj any) ([]string, error) {
		if es, ok := obj.(*discoveryv1.EndpointSlice); ok {
			if key, ok := services.ServiceOf(es); ok {
				return []string{key.String()}, nil
			}
		}
		return nil, nil
	}}); err != nil {
		return nil, fmt.Errorf("watching endpointslices: %w", err)
	}
	mark := func(obj any) {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		switch o := obj.(type) {
		case *corev1.Service:
			a.serviceIndex.Mark(types.NamespacedName{Namespace: o.Namespace, Name: o.Name})
		case *discoveryv1.EndpointSlice:
			if key, ok := services.ServiceOf(o); ok {
				a.serviceIndex.Mark(key)
			}
		default:
			return
		}
		a.servicesChanged.poke()
	}
	handler := cache.ResourceEventHandlerFuncs{
		AddFunc: mark,
		UpdateFunc: func(old, cur any) {
			// A slice that moved to another Service changes both.
			mark(old)
			mark(cur)
		},
		DeleteFunc: mark,
	}
	for what, inf := range map[string]cache.SharedIndexInformer{"services": svcInformer, "endpointslices": sliceInformer} {
		if _, err := inf.AddEventHandler(handler); err != nil {
			return nil, fmt.Errorf("watching %s: %w", what, err)
		}
		var last string
		if err := inf.SetWatchErrorHandler(func(_ *cache.Reflector, err error) {
			// Once per cause: the informer retries with back-off, and the
			// node keeps routing with the Services it knows.
			err = fmt.Errorf("watching %s: %w", what, err)
			if err.Error() == last {
				return
			}
			last = err.Error()
			a.log.Warn("cannot watch Services; announcing what is known", "event", "watch-failed", "reason", last)
			if apierrors.IsForbidden(err) {
				a.nodeRefEvent(corev1.EventTypeWarning, reasonForbidden, last+"; the agent's ClusterRole (daemonset/base) must allow list and watch on services and discovery.k8s.io endpointslices when a --advertise-* switch is on")
			}
		}); err != nil {
			return nil, fmt.Errorf("watching %s: %w", what, err)
		}
	}
	a.serviceSource = serviceSource{services: corelisters.NewServiceLister(svcInformer.GetIndexer()), slices: sliceInformer.GetIndexer()}
	a.loops.Go(func() error { svcInformer.RunWithContext(ctx); return nil })
	a.loops.Go(func() error { sliceInformer.RunWithContext(ctx); return nil })
	return []cache.InformerSynced{svcInformer.HasSynced, sliceInformer.HasSynced}, nil
}

// refreshServices brings the index up to date with the Services changed
// since the last pass and returns what they ask of this node.
func (a *agent) refreshServices() services.Snapshot {
	if a.serviceIndex == nil {
		return services.Snapshot{}
	}
	if a.serviceSource != nil {
		_, err := a.serviceIndex.Refresh(a.serviceSource)
		a.report("services", err)
	}
	return a.serviceIndex.Snapshot()
}

// reportServiceProblems logs the Service problems of a pass when they
// changed, and records each as a Warning Event on its Service (`kubectl
// describe service`); a problem of no one Service goes on the Node.
func (a *agent) reportServiceProblems(problems []error) {
	joined := joinMessages(problems)
	if joined == a.problems.services {
		return
	}
	a.problems.services = joined
	for _, e := range problems {
		a.log.Warn("Service address not announced; the other Services are", "event", "bad-input", "reason", e.Error())
		var p *services.Problem
		if !errors.As(e, &p) {
			a.nodeEvent(corev1.EventTypeWarning, reasonInvalidService, e.Error())
			continue
		}
		if a.events == nil || a.serviceSource == nil {
			continue
		}
		if svc, err := a.serviceSource.Service(p.Service); err == nil && svc != nil {
			a.events.Event(svc, corev1.EventTypeWarning, reasonInvalidService, e.Error())
		}
	}
}

// trimService is the Service informer's transform: it keeps what
// pkg/services reads (name, namespace, UID for Events, the
// nodebgp.io/advertise annotation, type, cluster and external IPs, the
// traffic policies, the load balancer's ingress IPs) and drops the rest.
func trimService(obj any) (any, error) {
	s, ok := obj.(*corev1.Service)
	if !ok {
		return obj, nil
	}
	t := &corev1.Service{
		TypeMeta: s.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{
			Name: s.Name, Namespace: s.Namespace, UID: s.UID, ResourceVersion: s.ResourceVersion,
		},
		Spec: corev1.ServiceSpec{
			Type:                  s.Spec.Type,
			ClusterIP:             s.Spec.ClusterIP,
			ClusterIPs:            s.Spec.ClusterIPs,
			ExternalIPs:           s.Spec.ExternalIPs,
			ExternalTrafficPolicy: s.Spec.ExternalTrafficPolicy,
			InternalTrafficPolicy: s.Spec.InternalTrafficPolicy,
		},
	}
	if v, ok := s.Annotations[services.Annotation]; ok {
		t.Annotations = map[string]string{services.Annotation: v}
	}
	for _, ing := range s.Status.LoadBalancer.Ingress {
		if ing.IP != "" {
			t.Status.LoadBalancer.Ingress = append(t.Status.LoadBalancer.Ingress, corev1.LoadBalancerIngress{IP: ing.IP})
		}
	}
	return t, nil
}

// trimEndpointSlice is the EndpointSlice informer's transform: of a slice
// only its name, namespace, Service label and the conditions of the
// endpoints on this node are read, so only those are kept. A cluster's
// slices hold every endpoint of every Service; each node keeps its own.
func trimEndpointSlice(node string) func(any) (any, error) {
	return func(obj any) (any, error) {
		es, ok := obj.(*discoveryv1.EndpointSlice)
		if !ok {
			return obj, nil
		}
		t := &discoveryv1.EndpointSlice{
			TypeMeta: es.TypeMeta,
			ObjectMeta: metav1.ObjectMeta{
				Name: es.Name, Namespace: es.Namespace, UID: es.UID, ResourceVersion: es.ResourceVersion,
			},
			AddressType: es.AddressType,
		}
		if name, ok := es.Labels[discoveryv1.LabelServiceName]; ok {
			t.Labels = map[string]string{discoveryv1.LabelServiceName: name}
		}
		for _, ep := range es.Endpoints {
			if ep.NodeName != nil && *ep.NodeName == node {
				t.Endpoints = append(t.Endpoints, discoveryv1.Endpoint{NodeName: ep.NodeName, Conditions: ep.Conditions})
			}
		}
		return t, nil
	}
}
