package nodestream

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/nodebgp/router/pkg/kubeclient"
	"github.com/nodebgp/router/pkg/slimnode"
)

// apiServer answers GET /api/v1/nodes with body (and status), recording
// each request's query and Accept header.
type apiServer struct {
	t      *testing.T
	status int
	body   string
	got    chan *http.Request
}

func (s *apiServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/api/v1/nodes" {
		s.t.Errorf("request for %s, want /api/v1/nodes", r.URL.Path)
	}
	select {
	case s.got <- r:
	default:
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(s.status)
	_, _ = w.Write([]byte(s.body))
}

func serve(t *testing.T, status int, body string) (rest.Interface, chan *http.Request) {
	s := &apiServer{t: t, status: status, body: body, got: make(chan *http.Request, 1)}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	c, err := kubeclient.New(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	return c.Core, s.got
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestListDecodesEveryItemTrimmedWithItsListMeta(t *testing.T) {
	full := &corev1.NodeList{
		TypeMeta: metav1.TypeMeta{Kind: "NodeList", APIVersion: "v1"},
		ListMeta: metav1.ListMeta{ResourceVersion: "777", Continue: "next-page-token", RemainingItemCount: ptr(int64(12))},
	}
	for _, n := range testNodes {
		item := n.node.DeepCopy()
		item.TypeMeta = metav1.TypeMeta{} // the API server writes list items without one
		full.Items = append(full.Items, *item)
	}
	body := mustJSON(t, full)
	c, _ := serve(t, http.StatusOK, body)
	got, err := List(context.Background(), c, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	decoded, err := clientGoDecode([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	full = decoded.(*corev1.NodeList)
	want := &slimnode.List{ListMeta: full.ListMeta}
	for i := range full.Items {
		want.Items = append(want.Items, *trim(&full.Items[i]))
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("List =\n%+v\nwant the trimmed client-go decode\n%+v", got, want)
	}
	if len(got.Items) != len(testNodes) || got.ResourceVersion != "777" || got.Continue != "next-page-token" {
		t.Fatalf("List lost items or its metadata: %d items, %+v", len(got.Items), got.ListMeta)
	}
}

func TestEveryListOptionReachesTheAPIServerAsTheTypedClientSendsIt(t *testing.T) {
	timeout := int64(317)
	opts := metav1.ListOptions{
		LabelSelector: "a=b", FieldSelector: "metadata.name=n1",
		ResourceVersion: "42", ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan,
		Limit: 500, Continue: "tok", TimeoutSeconds: &timeout,
		AllowWatchBookmarks: true, SendInitialEvents: ptr(true),
	}
	c, got := serve(t, http.StatusOK, `{"kind":"NodeList","apiVersion":"v1","metadata":{"resourceVersion":"1"},"items":[]}`)
	if _, err := List(context.Background(), c, opts); err != nil {
		t.Fatal(err)
	}
	listReq := <-got

	// The typed client's request for the same options, against the same server.
	cs, err := kubernetes.NewForConfig(&rest.Config{Host: "http://" + listReq.Host})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Nodes().List(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	typedReq := <-got
	if !reflect.DeepEqual(listReq.URL.Query(), typedReq.URL.Query()) {
		t.Fatalf("list query %v, typed client's %v", listReq.URL.Query(), typedReq.URL.Query())
	}
	if listReq.URL.Query().Get("resourceVersionMatch") != "NotOlderThan" || listReq.URL.Query().Get("limit") != "500" {
		t.Fatalf("list query %v lost options", listReq.URL.Query())
	}
	if a := listReq.Header.Get("Accept"); a != "application/json" {
		t.Fatalf("Accept %q, want application/json", a)
	}

	w, err := Watch(context.Background(), c, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	watchReq := <-got
	w2, err := cs.CoreV1().Nodes().Watch(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Stop()
	typedWatchReq := <-got
	if q := watchReq.URL.Query(); !reflect.DeepEqual(q, typedWatchReq.URL.Query()) || q.Get("watch") != "true" {
		t.Fatalf("watch query %v, typed client's %v", q, typedWatchReq.URL.Query())
	}
}

func TestAListRefusedWithGoneIsAnAPIError(t *testing.T) {
	status := metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusFailure,
		Message: "The provided continue parameter is too old", Reason: metav1.StatusReasonExpired, Code: http.StatusGone,
	}
	c, _ := serve(t, http.StatusGone, mustJSON(t, status))
	_, err := List(context.Background(), c, metav1.ListOptions{Continue: "old"})
	if !apierrors.IsResourceExpired(err) {
		t.Fatalf("err = %v, want a resource-expired API error", err)
	}
}

func TestWatchEvents(t *testing.T) {
	node := withOurAnnotations()
	gone := metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusFailure,
		Message: "too old resource version: 5 (1234)", Reason: metav1.StatusReasonExpired, Code: http.StatusGone,
	}
	bookmark := `{"kind":"Node","apiVersion":"v1","metadata":{"resourceVersion":"1300","creationTimestamp":null,"annotations":{"k8s.io/initial-events-end":"true"}},"spec":{},"status":{"daemonEndpoints":{"kubeletEndpoint":{"Port":0}},"nodeInfo":{"machineID":"","systemUUID":"","bootID":"","kernelVersion":"","osImage":"","containerRuntimeVersion":"","kubeletVersion":"","kubeProxyVersion":"","operatingSystem":"","architecture":""}}}`
	stream := strings.Join([]string{
		`{"type":"ADDED","object":` + mustJSON(t, node) + `}`,
		`{"type":"MODIFIED","object":` + mustJSON(t, ipv6Node()) + `}`,
		`{"type":"BOOKMARK","object":` + bookmark + `}`,
		`{"type":"DELETED","object":` + mustJSON(t, deletingNode()) + `}`,
		`{"type":"ERROR","object":` + mustJSON(t, gone) + `}`,
	}, "\n") + "\n"
	c, _ := serve(t, http.StatusOK, stream)
	w, err := Watch(context.Background(), c, metav1.ListOptions{AllowWatchBookmarks: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	var events []watch.Event
	for e := range w.ResultChan() {
		events = append(events, e)
	}
	if len(events) != 5 {
		t.Fatalf("%d events, want 5: %+v", len(events), events)
	}
	for i, want := range []*slimnode.Node{trim(node), trim(ipv6Node()), nil, trim(deletingNode())} {
		if want == nil {
			continue
		}
		if !reflect.DeepEqual(events[i].Object, want) {
			t.Fatalf("event %d (%s) = %+v, want %+v", i, events[i].Type, events[i].Object, want)
		}
	}
	if events[0].Type != watch.Added || events[1].Type != watch.Modified || events[3].Type != watch.Deleted {
		t.Fatalf("event types %s %s %s", events[0].Type, events[1].Type, events[3].Type)
	}

	// The reflector reads a bookmark's resourceVersion and annotations.
	bm, ok := events[2].Object.(*slimnode.Node)
	if events[2].Type != watch.Bookmark || !ok || bm.ResourceVersion != "1300" ||
		!reflect.DeepEqual(bm.Annotations, map[string]string{metav1.InitialEventsAnnotationKey: "true"}) {
		t.Fatalf("bookmark = %s %#v", events[2].Type, events[2].Object)
	}

	// The reflector lists again only if an ERROR carries a Status it reads
	// as expired (apierrors.FromObject, then IsResourceExpired).
	st, ok := events[4].Object.(*metav1.Status)
	if events[4].Type != watch.Error || !ok || st.Code != http.StatusGone {
		t.Fatalf("error event = %s %#v, want a *metav1.Status with code 410", events[4].Type, events[4].Object)
	}
	if err := apierrors.FromObject(events[4].Object); !apierrors.IsResourceExpired(err) {
		t.Fatalf("the reflector would read %v, want a resource-expired error", err)
	}
}

func TestABadWatchEventEndsTheWatchWithAnError(t *testing.T) {
	for _, tt := range []struct{ name, stream string }{
		{"unknown type", `{"type":"SURPRISE","object":{"metadata":{"name":"n1"}}}`},
		{"a node that does not decode", `{"type":"ADDED","object":{"metadata":{"name":"n1","uid":7}}}`},
		{"not JSON", `{"type":"ADDED","object":{"metadata":`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := serve(t, http.StatusOK, `{"type":"ADDED","object":{"metadata":{"name":"n0"}}}`+"\n"+tt.stream)
			w, err := Watch(context.Background(), c, metav1.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Stop()
			var events []watch.Event
			timeout := time.After(10 * time.Second)
		loop:
			for {
				select {
				case e, ok := <-w.ResultChan():
					if !ok {
						break loop
					}
					events = append(events, e)
				case <-timeout:
					t.Fatal("the watch did not end")
				}
			}
			if len(events) == 0 || events[0].Type != watch.Added {
				t.Fatalf("events %+v, want the good one first", events)
			}
			// A stream cut short just ends (the reflector watches again);
			// a bad event is reported.
			if tt.name != "not JSON" {
				if len(events) != 2 || events[1].Type != watch.Error {
					t.Fatalf("events %+v, want ADDED then ERROR", events)
				}
				if _, ok := events[1].Object.(*metav1.Status); !ok {
					t.Fatalf("error event object %T, want *metav1.Status", events[1].Object)
				}
			}
		})
	}
}

func TestStreamsDecodeTheSameWhateverTheirReadsCarry(t *testing.T) {
	list := &corev1.NodeList{ListMeta: metav1.ListMeta{ResourceVersion: "9", RemainingItemCount: ptr(int64(1234567))}}
	var events []string
	for _, n := range testNodes {
		list.Items = append(list.Items, *n.node)
		events = append(events, `{"type":"MODIFIED","object":`+mustJSON(t, n.node)+`}`)
	}
	body := mustJSON(t, list)
	stream := strings.Join(events, "\n")
	whole, err := decodeList(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	readers := map[string]func(io.Reader) io.Reader{
		"one byte": iotest.OneByteReader, "half": iotest.HalfReader, "data with EOF": iotest.DataErrReader,
	}
	for name, r := range readers {
		t.Run(name, func(t *testing.T) {
			got, err := decodeList(r(strings.NewReader(body)))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, whole) {
				t.Fatalf("list read %s at a time:\n%+v\nwhole:\n%+v", name, got, whole)
			}
			d := NewWatchDecoder(io.NopCloser(r(strings.NewReader(stream))))
			for i, n := range testNodes {
				typ, obj, err := d.Decode()
				want := trim(n.node)
				if err != nil || typ != watch.Modified || !reflect.DeepEqual(obj, want) {
					t.Fatalf("event %d read %s at a time: %s %+v %v", i, name, typ, obj, err)
				}
			}
			if _, _, err := d.Decode(); err != io.EOF {
				t.Fatalf("after the last event: %v, want io.EOF", err)
			}
		})
	}
	// Cut anywhere inside, the list is an error, never a shorter list.
	for cut := 1; cut < len(body); cut += 97 {
		if l, err := decodeList(strings.NewReader(body[:cut])); err == nil {
			t.Fatalf("list cut at %d of %d decoded: %d items", cut, len(body), len(l.Items))
		}
	}
}

func TestMalformedListsAreErrors(t *testing.T) {
	for _, body := range []string{
		``, `[]`, `{"items":{}}`, `{"items":[{"metadata":{"name":5}}]}`, `{"metadata":{"resourceVersion":1}}`, `{"items":[`, `{"kind":"NodeList"`,
	} {
		if _, err := decodeList(strings.NewReader(body)); err == nil {
			t.Errorf("decodeList(%q): no error", body)
		}
	}
	if _, err := decodeList(strings.NewReader(`{"items":[{},{"metadata":{"name":5}}]}`)); err == nil || !strings.Contains(err.Error(), "items[1]") {
		t.Errorf("err = %v, want one naming items[1]", err)
	}
}

func ptr[T any](v T) *T { return &v }
