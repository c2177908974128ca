package status

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/cache"

	"github.com/nodebgp/router/pkg/kubewatch"
)

// Kube is the API side of the status: server-side apply of one node's
// object, and a watch of that object alone.
type Kube struct {
	Client dynamic.Interface
}

var _ Applier = Kube{}

// Apply writes o with server-side apply as FieldManager, forcing
// ownership: the agent is the only writer of its node's status. Applying an
// object that does not exist creates it.
func (k Kube) Apply(ctx context.Context, o Object) error {
	u, err := toUnstructured(o)
	if err != nil {
		return err
	}
	_, err = k.Client.Resource(GVR).Apply(ctx, o.Metadata.Name, u, metav1.ApplyOptions{FieldManager: FieldManager, Force: true})
	if err != nil {
		return fmt.Errorf("applying %s %s: %w", Kind, o.Metadata.Name, err)
	}
	return nil
}

// Watch calls observe with the node's object whenever it changes, and with
// nil when it is deleted, until ctx ends. Only that object is listed and
// watched (a field selector on its name). onError gets the watch's errors
// (the CRD not installed, RBAC); the informer retries by itself. Like the
// agent's other watches it goes through kubewatch, so after an API outage the
// object is watched again within seconds, not on client-go's 30-60 s back-off.
func (k Kube) Watch(ctx context.Context, name string, observe func(*Object), onError func(error)) error {
	byName := func(o metav1.ListOptions) metav1.ListOptions {
		o.FieldSelector = "metadata.name=" + name
		return o
	}
	res := k.Client.Resource(GVR)
	inf := cache.NewSharedIndexInformer(kubewatch.New(kubewatch.Params{LW: &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return res.List(ctx, byName(o))
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return res.Watch(ctx, byName(o))
		},
	}}), &unstructured.Unstructured{}, 0, cache.Indexers{})
	send := func(obj any) {
		u, ok := obj.(*unstructured.Unstructured)
		if !ok {
			return
		}
		o, err := fromUnstructured(u)
		if err != nil {
			onError(err)
			return
		}
		observe(&o)
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    send,
		UpdateFunc: func(_, cur any) { send(cur) },
		DeleteFunc: func(any) { observe(nil) },
	}); err != nil {
		return fmt.Errorf("watching %s %s: %w", Kind, name, err)
	}
	if onError != nil {
		if err := inf.SetWatchErrorHandler(func(_ *cache.Reflector, err error) {
			onError(fmt.Errorf("watching %s %s: %w", Kind, name, err))
		}); err != nil {
			return fmt.Errorf("watching %s %s: %w", Kind, name, err)
		}
	}
	inf.Run(ctx.Done())
	return nil
}

func toUnstructured(o Object) (*unstructured.Unstructured, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&o)
	if err != nil {
		return nil, fmt.Errorf("converting %s %s: %w", Kind, o.Metadata.Name, err)
	}
	return &unstructured.Unstructured{Object: m}, nil
}

func fromUnstructured(u *unstructured.Unstructured) (Object, error) {
	var o Object
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &o); err != nil {
		return Object{}, fmt.Errorf("reading %s %s: %w", Kind, u.GetName(), err)
	}
	return o, nil
}
