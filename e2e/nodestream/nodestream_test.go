//go:build e2e

// Package nodestream runs the agent's node ListWatch (pkg/nodestream behind
// pkg/kubewatch, as pkg/agent wires it) in an informer against a real
// kube-apiserver and etcd: Node adds, updates and deletes reach the cache
// trimmed; after the API server is stopped for 20 s and started again, a
// Node added afterwards reaches it too; a watch from a resourceVersion the
// restarted API server no longer has ends in a 410 the reflector reads.
//
// Its own control plane on 127.0.0.1 with free ports and its own state dir:
// no lab names, no lab lock.
package nodestream

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/nodebgp/router/e2e/lab"
	"github.com/nodebgp/router/pkg/kubewatch"
	"github.com/nodebgp/router/pkg/nodestream"
	"github.com/nodebgp/router/pkg/slimnode"
)

const (
	stateDir = "/tmp/nodebgp-nodestream-e2e"
	outage   = 20 * time.Second
	// cacheBound bounds the wait for one change to reach the informer's
	// cache; after the outage it holds kubewatch's capped back-off (4 s)
	// and the API server's own start.
	cacheBound = 90 * time.Second
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// kubeletishNode carries what the agent reads and what it does not.
func kubeletishNode(name string, k int) *corev1.Node {
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Labels:      map[string]string{"kubernetes.io/hostname": name},
			Annotations: map[string]string{"nodebgp.io/asn": "65101", "node.alpha.kubernetes.io/ttl": "0"},
		},
		Spec: corev1.NodeSpec{PodCIDR: fmt.Sprintf("10.244.%d.0/24", k), PodCIDRs: []string{fmt.Sprintf("10.244.%d.0/24", k)}},
	}
	for i := range 20 {
		n.Status.Images = append(n.Status.Images, corev1.ContainerImage{Names: []string{fmt.Sprintf("registry.example/app-%d:v%d", i, k)}, SizeBytes: 1 << 20})
	}
	return n
}

func TestNodeListWatchAgainstARealAPIServer(t *testing.T) {
	root, err := lab.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	tools, err := lab.FindTools(root)
	if _, statErr := os.Stat(tools.KubeAPIServer); statErr != nil {
		t.Skipf("kube-apiserver not built, run `make tools`: %v", err)
	}
	if _, err := exec.LookPath("etcd"); err != nil {
		t.Skipf("etcd not installed, run `make deps`: %v", err)
	}
	if err := lab.StopControlPlane(stateDir); err != nil {
		t.Fatalf("stopping a leftover control plane: %v", err)
	}
	if err := os.RemoveAll(stateDir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := lab.StopControlPlane(stateDir); err != nil {
			t.Errorf("StopControlPlane: %v", err)
		}
		if !t.Failed() {
			_ = os.RemoveAll(stateDir)
		} else {
			t.Logf("control plane files and logs kept in %s", stateDir)
		}
	})

	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	params := lab.ControlPlaneParams{
		Dir: stateDir, Tools: tools, Address: netip.MustParseAddr("127.0.0.1"),
		Port: freePort(t), EtcdClientPort: freePort(t), EtcdPeerPort: freePort(t),
	}
	cp, err := lab.StartControlPlane(ctx, params)
	if err != nil {
		t.Fatalf("StartControlPlane: %v", err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", cp.AdminKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	create := func(t *testing.T, name string, k int) {
		t.Helper()
		n := kubeletishNode(name, k)
		status := n.Status
		created, err := admin.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("creating node %s: %v", name, err)
		}
		created.Status = status
		created.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: fmt.Sprintf("10.199.0.%d", k)}}
		if _, err := admin.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("setting node %s's status: %v", name, err)
		}
	}
	for k := 1; k <= 3; k++ {
		create(t, fmt.Sprintf("before-%d", k), k)
	}

	// The informer as pkg/agent builds it, on its own client.
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	informer := cache.NewSharedIndexInformer(kubewatch.New(kubewatch.Params{
		LW: nodestream.NewListWatch(client.CoreV1().RESTClient()),
	}), &slimnode.Node{}, 0, cache.Indexers{})
	if err := informer.SetWatchErrorHandler(func(_ *cache.Reflector, err error) { t.Logf("node watch: %v", err) }); err != nil {
		t.Fatal(err)
	}
	informerCtx, stopInformer := context.WithCancel(ctx)
	defer stopInformer()
	go informer.RunWithContext(informerCtx)
	if !cache.WaitForCacheSync(ctx.Done(), informer.HasSynced) {
		t.Fatal("the node cache never synced")
	}
	firstListRV := informer.LastSyncResourceVersion()

	cached := func(name string) (*slimnode.Node, bool) {
		obj, ok, err := informer.GetStore().GetByKey(name)
		if err != nil || !ok {
			return nil, false
		}
		return obj.(*slimnode.Node), true
	}
	// waitFor polls the cache until cond holds, for at most cacheBound.
	waitFor := func(t *testing.T, what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(cacheBound)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not in the node cache after %v", what, cacheBound)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	// trimmed: what the agent reads is there, and of the annotations only
	// ours (a slimnode.Node has no field for the rest).
	trimmed := func(t *testing.T, n *slimnode.Node, k int) {
		t.Helper()
		if n.Spec.PodCIDR != fmt.Sprintf("10.244.%d.0/24", k) || len(n.Status.Addresses) != 1 ||
			n.Status.Addresses[0].Address != fmt.Sprintf("10.199.0.%d", k) || n.UID == "" || n.ResourceVersion == "" || n.CreationTimestamp.IsZero() {
			t.Fatalf("node %s in the cache lost what the agent reads: %+v", n.Name, n)
		}
		if n.Annotations["node.alpha.kubernetes.io/ttl"] != "" {
			t.Fatalf("node %s in the cache kept what the agent does not read: %+v", n.Name, n)
		}
	}

	t.Run("the list fills the cache with trimmed Nodes", func(t *testing.T) {
		for k := 1; k <= 3; k++ {
			n, ok := cached(fmt.Sprintf("before-%d", k))
			if !ok {
				t.Fatalf("before-%d not in the cache after sync", k)
			}
			trimmed(t, n, k)
		}
	})

	t.Run("adds, updates and deletes reach the cache", func(t *testing.T) {
		create(t, "added", 4)
		waitFor(t, "node added (with its addresses)", func() bool {
			n, ok := cached("added")
			return ok && len(n.Status.Addresses) == 1
		})
		n, _ := cached("added")
		trimmed(t, n, 4)

		full, err := admin.CoreV1().Nodes().Get(ctx, "added", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		full.Annotations["nodebgp.io/asn"] = "65102"
		if _, err := admin.CoreV1().Nodes().Update(ctx, full, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "nodebgp.io/asn updated", func() bool {
			n, ok := cached("added")
			return ok && n.Annotations["nodebgp.io/asn"] == "65102"
		})

		if err := admin.CoreV1().Nodes().Delete(ctx, "before-3", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "node before-3 deleted", func() bool { _, ok := cached("before-3"); return !ok })
	})

	t.Run("after a 20 s API outage a Node added afterwards reaches the cache", func(t *testing.T) {
		if err := lab.StopByName(stateDir, "kube-apiserver", 30*time.Second); err != nil {
			t.Fatalf("stopping kube-apiserver: %v", err)
		}
		stopped := time.Now()
		time.Sleep(outage)
		if _, err := lab.StartControlPlane(ctx, params); err != nil {
			t.Fatalf("starting kube-apiserver again: %v", err)
		}
		t.Logf("kube-apiserver back after %v", time.Since(stopped).Round(time.Second))
		create(t, "after-outage", 5)
		waitFor(t, "node after-outage", func() bool {
			n, ok := cached("after-outage")
			return ok && len(n.Status.Addresses) == 1
		})
		n, _ := cached("after-outage")
		trimmed(t, n, 5)
		t.Logf("node after-outage in the cache %v after the API server was stopped", time.Since(stopped).Round(time.Second))
		// And the watch goes on: an update after it.
		full, err := admin.CoreV1().Nodes().Get(ctx, "before-1", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		full.Annotations["nodebgp.io/asn"] = "65103"
		if _, err := admin.CoreV1().Nodes().Update(ctx, full, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "nodebgp.io/asn of before-1 updated after the outage", func() bool {
			n, ok := cached("before-1")
			return ok && n.Annotations["nodebgp.io/asn"] == "65103"
		})
	})

	t.Run("a watch from a resourceVersion the restarted API server lacks ends in 410", func(t *testing.T) {
		w, err := nodestream.Watch(ctx, client.CoreV1().RESTClient(), metav1.ListOptions{ResourceVersion: firstListRV, AllowWatchBookmarks: true})
		if err != nil {
			// The API server may refuse the watch outright; the reflector
			// reads that error the same way.
			if !apierrors.IsResourceExpired(err) && !apierrors.IsGone(err) {
				t.Fatalf("watch from %s: %v, want 410", firstListRV, err)
			}
			t.Logf("watch from %s refused: %v", firstListRV, err)
			return
		}
		defer w.Stop()
		select {
		case e, ok := <-w.ResultChan():
			if !ok {
				t.Fatal("the watch closed without an event")
			}
			st, isStatus := e.Object.(*metav1.Status)
			if e.Type != watch.Error || !isStatus || st.Code != 410 {
				t.Fatalf("first event from %s: %s %#v, want ERROR with a 410 Status", firstListRV, e.Type, e.Object)
			}
			if err := apierrors.FromObject(e.Object); !apierrors.IsResourceExpired(err) && !apierrors.IsGone(err) {
				t.Fatalf("the reflector would read %v", err)
			}
			t.Logf("watch from %s: %s %s", firstListRV, e.Type, st.Message)
		case <-time.After(cacheBound):
			t.Fatalf("no event within %v on a watch from %s", cacheBound, firstListRV)
		}
	})

}
