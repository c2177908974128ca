package slimnode

import (
	"context"
	"reflect"
	"testing"
	"time"
	"unsafe"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
)

func full() *Node {
	deleted := metav1.Unix(1_700_000_100, 0)
	return &Node{
		ObjectMeta: ObjectMeta{
			Name: "n1", UID: "uid-n1", ResourceVersion: "7",
			CreationTimestamp: metav1.Unix(1_700_000_000, 0), DeletionTimestamp: &deleted,
			Annotations: map[string]string{"nodebgp.io/asn": "65101"},
		},
		Spec:   NodeSpec{PodCIDR: "10.244.1.0/24", PodCIDRs: []string{"10.244.1.0/24", "fd00:1::/64"}},
		Status: NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "10.199.1.11"}}},
	}
}

func TestANodeIsUnderAQuarterOfTheAPIType(t *testing.T) {
	small, api := unsafe.Sizeof(Node{}), unsafe.Sizeof(corev1.Node{})
	t.Logf("slimnode.Node %d bytes, corev1.Node %d", small, api)
	if small*4 > api {
		t.Fatalf("slimnode.Node is %d bytes, corev1.Node %d: the cache's copy is no longer small", small, api)
	}
}

func TestDeepCopySharesNothing(t *testing.T) {
	n := full()
	c := n.DeepCopyObject().(*Node)
	if !reflect.DeepEqual(c, n) {
		t.Fatalf("copy %+v differs from %+v", c, n)
	}
	c.Annotations["nodebgp.io/asn"] = "1"
	c.Spec.PodCIDRs[0] = "x"
	c.Status.Addresses[0].Address = "x"
	c.DeletionTimestamp.Time = time.Time{}
	if !reflect.DeepEqual(n, full()) {
		t.Fatalf("changing the copy changed the original: %+v", n)
	}

	l := &List{ListMeta: metav1.ListMeta{ResourceVersion: "9"}, Items: []Node{*full()}}
	lc := l.DeepCopyObject().(*List)
	lc.Items[0].Spec.PodCIDRs[0] = "x"
	lc.ResourceVersion = "10"
	if l.Items[0].Spec.PodCIDRs[0] != "10.244.1.0/24" || l.ResourceVersion != "9" {
		t.Fatalf("changing the list's copy changed it: %+v", l)
	}
	if (*Node)(nil).DeepCopy() != nil || (*List)(nil).DeepCopyObject() != nil {
		t.Fatal("the copy of nil is not nil")
	}
}

func TestEventsNameTheNodeAsTheAPIDoes(t *testing.T) {
	want := &corev1.ObjectReference{Kind: "Node", APIVersion: "v1", Name: "n1", UID: "uid-n1", ResourceVersion: "7"}
	if got := full().Reference(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Reference = %+v, want %+v", got, want)
	}
}

// A client-go informer lists, watches and caches Nodes: the type carries
// what its reflector and store read (list and object metadata, the key).
func TestAnInformerCachesNodes(t *testing.T) {
	events := watch.NewFake()
	lw := &cache.ListWatch{
		ListWithContextFunc: func(context.Context, metav1.ListOptions) (runtime.Object, error) {
			return &List{ListMeta: metav1.ListMeta{ResourceVersion: "7"}, Items: []Node{*full()}}, nil
		},
		WatchFuncWithContext: func(_ context.Context, o metav1.ListOptions) (watch.Interface, error) {
			if o.ResourceVersion != "7" {
				t.Errorf("watch from resourceVersion %q, want the list's 7", o.ResourceVersion)
			}
			return events, nil
		},
	}
	informer := cache.NewSharedIndexInformer(lw, &Node{}, 0, cache.Indexers{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go informer.RunWithContext(ctx)
	synced, stop := context.WithTimeout(ctx, 10*time.Second)
	defer stop()
	if !cache.WaitForCacheSync(synced.Done(), informer.HasSynced) {
		t.Fatal("the informer did not sync in 10 s")
	}
	n2 := &Node{ObjectMeta: ObjectMeta{Name: "n2", ResourceVersion: "8"}}
	events.Add(n2)
	gone := full()
	gone.ResourceVersion = "9"
	events.Delete(gone)

	store := informer.GetStore()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, has1, _ := store.GetByKey("n1")
		got, has2, _ := store.GetByKey("n2")
		if !has1 && has2 {
			if !reflect.DeepEqual(got, n2) {
				t.Fatalf("cached %+v, want %+v", got, n2)
			}
			if rv := informer.LastSyncResourceVersion(); rv != "9" {
				t.Fatalf("last resource version %q, want 9", rv)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 10 s the cache holds %v; want n2 only", store.ListKeys())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
