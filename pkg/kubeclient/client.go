// Package kubeclient is the agent's client for the built-in Kubernetes
// resources it reads and writes: Nodes, Secrets, Services, EndpointSlices
// and Events. It speaks to the API server as client-go's typed clients do
// (the same paths, query parameters and protobuf-first content types), but
// its scheme holds only the two API groups these live in, core/v1 and
// discovery/v1. client-go's typed clientset registers every API group of
// Kubernetes in its scheme when the program starts, and that code and type
// data stays in the binary and, once touched, in every agent's memory.
package kubeclient

import (
	"context"
	"fmt"
	"net/http"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
)

// Scheme knows core/v1 and discovery/v1, and the meta types every API
// group shares (list options, Status, watch events).
var Scheme = runtime.NewScheme()

// ParameterCodec turns list and watch options into query parameters.
var ParameterCodec = runtime.NewParameterCodec(Scheme)

var codecs = serializer.NewCodecFactory(Scheme)

func init() {
	metav1.AddToGroupVersion(Scheme, schema.GroupVersion{Version: "v1"})
	utilruntime.Must(corev1.AddToScheme(Scheme))
	utilruntime.Must(discoveryv1.AddToScheme(Scheme))
}

// Client holds a REST client per API group, sharing one HTTP client (one
// connection pool, one HTTP/2 connection to the API server).
type Client struct {
	// Core is /api/v1: Nodes, Secrets, Services, Events.
	Core *rest.RESTClient
	// Discovery is /apis/discovery.k8s.io/v1: EndpointSlices.
	Discovery *rest.RESTClient
}

// New returns a Client for cfg.
func New(cfg *rest.Config) (*Client, error) {
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("creating Kubernetes client: %w", err)
	}
	core, err := groupClient(cfg, httpClient, "/api", corev1.SchemeGroupVersion)
	if err != nil {
		return nil, err
	}
	discovery, err := groupClient(cfg, httpClient, "/apis", discoveryv1.SchemeGroupVersion)
	if err != nil {
		return nil, err
	}
	return &Client{Core: core, Discovery: discovery}, nil
}

func groupClient(cfg *rest.Config, httpClient *http.Client, apiPath string, gv schema.GroupVersion) (*rest.RESTClient, error) {
	c := rest.CopyConfig(cfg)
	c.APIPath = apiPath
	c.GroupVersion = &gv
	c.NegotiatedSerializer = rest.CodecFactoryForGeneratedClient(Scheme, codecs).WithoutConversion()
	if c.UserAgent == "" {
		c.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	rc, err := rest.RESTClientForConfigAndClient(c, httpClient)
	if err != nil {
		return nil, fmt.Errorf("creating Kubernetes client for %s: %w", gv, err)
	}
	return rc, nil
}

// Secret reads one Secret.
func (c *Client) Secret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	s := &corev1.Secret{}
	if err := c.Core.Get().UseProtobufAsDefault().Namespace(namespace).Resource("secrets").Name(name).Do(ctx).Into(s); err != nil {
		return nil, err
	}
	return s, nil
}

// Reachable asks the API server for its version: whether it answers at all.
func (c *Client) Reachable(ctx context.Context) error {
	_, err := c.Core.Get().AbsPath("/version").Do(ctx).Raw()
	return err
}

// ListWatch lists and watches a resource of client's group in every
// namespace, into lists made by newList, as a typed client's List and Watch
// do: for an informer's reflector, whose options go to the API server as
// they are.
func ListWatch(client rest.Interface, resource string, newList func() runtime.Object) *cache.ListWatch {
	request := func(o *metav1.ListOptions) *rest.Request {
		var timeout time.Duration
		if o.TimeoutSeconds != nil {
			timeout = time.Duration(*o.TimeoutSeconds) * time.Second
		}
		return client.Get().UseProtobufAsDefault().Resource(resource).VersionedParams(o, ParameterCodec).Timeout(timeout)
	}
	return &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			list := newList()
			if err := request(&o).Do(ctx).Into(list); err != nil {
				return nil, err
			}
			return list, nil
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.Watch = true
			return request(&o).Watch(ctx)
		},
	}
}
