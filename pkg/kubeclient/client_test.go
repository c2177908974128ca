package kubeclient

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
)

// request is what the API server saw of one request.
type request struct {
	Method, Path, Query, Accept, ContentType string
}

// recorder answers every request with an empty JSON object of the kind the
// path names and records it.
type recorder struct{ got []request }

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.got = append(r.got, request{req.Method, req.URL.Path, req.URL.RawQuery, req.Header.Get("Accept"), req.Header.Get("Content-Type")})
	w.Header().Set("Content-Type", "application/json")
	if req.URL.Query().Get("watch") == "true" {
		return // a watch that ends at once
	}
	_, _ = w.Write([]byte(`{"metadata":{}}`))
}

// Each request the agent makes goes to the API server as client-go's typed
// clientset sends it: method, path, query, Accept and Content-Type.
func TestRequestsMatchTheTypedClientsets(t *testing.T) {
	timeout := int64(317)
	opts := metav1.ListOptions{
		ResourceVersion: "42", ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan,
		Limit: 500, TimeoutSeconds: &timeout, AllowWatchBookmarks: true,
	}
	event := &corev1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "n1.1"}, Reason: "R"}
	ctx := context.Background()
	list := func(newList func() runtime.Object) func(rest.Interface, string) error {
		return func(c rest.Interface, resource string) error {
			_, err := ListWatch(c, resource, newList).ListWithContextFunc(ctx, opts)
			return err
		}
	}
	watchAll := func(c rest.Interface, resource string) error {
		w, err := ListWatch(c, resource, func() runtime.Object { return &corev1.ServiceList{} }).WatchFuncWithContext(ctx, opts)
		if err == nil {
			w.Stop()
		}
		return err
	}
	tests := []struct {
		name  string
		ours  func(*Client) error
		typed func(kubernetes.Interface) error
	}{
		{"list Services", func(c *Client) error {
			return list(func() runtime.Object { return &corev1.ServiceList{} })(c.Core, "services")
		},
			func(cs kubernetes.Interface) error { _, err := cs.CoreV1().Services("").List(ctx, opts); return err }},
		{"watch Services", func(c *Client) error { return watchAll(c.Core, "services") },
			func(cs kubernetes.Interface) error {
				w, err := cs.CoreV1().Services("").Watch(ctx, opts)
				if err == nil {
					w.Stop()
				}
				return err
			}},
		{"list EndpointSlices", func(c *Client) error {
			return list(func() runtime.Object { return &discoveryv1.EndpointSliceList{} })(c.Discovery, "endpointslices")
		}, func(cs kubernetes.Interface) error {
			_, err := cs.DiscoveryV1().EndpointSlices("").List(ctx, opts)
			return err
		}},
		{"watch EndpointSlices", func(c *Client) error { return watchAll(c.Discovery, "endpointslices") },
			func(cs kubernetes.Interface) error {
				w, err := cs.DiscoveryV1().EndpointSlices("").Watch(ctx, opts)
				if err == nil {
					w.Stop()
				}
				return err
			}},
		{"get a Secret", func(c *Client) error { _, err := c.Secret(ctx, "kube-system", "pw"); return err },
			func(cs kubernetes.Interface) error {
				_, err := cs.CoreV1().Secrets("kube-system").Get(ctx, "pw", metav1.GetOptions{})
				return err
			}},
		{"create an Event", func(c *Client) error { _, err := c.EventSink().Create(event); return err },
			func(cs kubernetes.Interface) error {
				_, err := (&typedcorev1.EventSinkImpl{Interface: cs.CoreV1().Events("")}).Create(event)
				return err
			}},
		{"patch an Event", func(c *Client) error { _, err := c.EventSink().Patch(event, []byte(`{"count":2}`)); return err },
			func(cs kubernetes.Interface) error {
				_, err := (&typedcorev1.EventSinkImpl{Interface: cs.CoreV1().Events("")}).Patch(event, []byte(`{"count":2}`))
				return err
			}},
		{"ask for the version", func(c *Client) error { return c.Reachable(ctx) },
			func(cs kubernetes.Interface) error { _, err := cs.Discovery().ServerVersion(); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			srv := httptest.NewServer(rec)
			defer srv.Close()
			cfg := &rest.Config{Host: srv.URL, UserAgent: "test"}
			c, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			cs, err := kubernetes.NewForConfig(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := tt.ours(c); err != nil {
				t.Fatalf("ours: %v", err)
			}
			if err := tt.typed(cs); err != nil {
				t.Fatalf("typed: %v", err)
			}
			if len(rec.got) != 2 {
				t.Fatalf("%d requests, want one each: %+v", len(rec.got), rec.got)
			}
			if ours, typed := rec.got[0], rec.got[1]; !reflect.DeepEqual(ours, typed) {
				t.Errorf("ours  %+v\ntyped %+v", ours, typed)
			}
		})
	}
}

// The router binary must not link client-go's typed clientset again (a
// transitive import is enough): its scheme of every API group costs the
// binary 34 MB and every agent about 17 MiB of memory.
func TestTheRouterBinaryLeavesOutTheTypedClientset(t *testing.T) {
	// go test puts its own go first in PATH.
	out, err := exec.Command("go", "list", "-deps", "github.com/nodebgp/router/cmd/router").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if pkg == "k8s.io/client-go/kubernetes" || strings.HasPrefix(pkg, "k8s.io/client-go/kubernetes/") {
			t.Errorf("cmd/router links %s", pkg)
		}
	}
}
