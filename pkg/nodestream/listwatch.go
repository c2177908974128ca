package nodestream

import (
	"context"
	stdjson "encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"sigs.k8s.io/json"
)

// NewListWatch lists and watches Nodes through c (a core/v1 REST client:
// CoreV1().RESTClient()), in JSON, yielding trimmed Nodes. The ListOptions
// the reflector sets (resourceVersion, resourceVersionMatch, limit,
// continue, timeoutSeconds, allowWatchBookmarks, sendInitialEvents...) go to
// the API server as they are, as the typed client sends them.
func NewListWatch(c rest.Interface) *cache.ListWatch {
	return &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return List(ctx, c, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return Watch(ctx, c, o)
		},
	}
}

func request(c rest.Interface, o metav1.ListOptions) *rest.Request {
	var timeout time.Duration
	if o.TimeoutSeconds != nil {
		timeout = time.Duration(*o.TimeoutSeconds) * time.Second
	}
	return c.Get().
		Resource("nodes").
		VersionedParams(&o, scheme.ParameterCodec).
		Timeout(timeout).
		// JSON, whatever the client prefers: the decoders here read JSON.
		SetHeader("Accept", "application/json")
}

// List lists Nodes, decoding the response as it arrives: one Node's JSON is
// in memory at a time, besides the trimmed Nodes already decoded.
func List(ctx context.Context, c rest.Interface, o metav1.ListOptions) (*corev1.NodeList, error) {
	body, err := request(c, o).Stream(ctx)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	list, err := decodeList(body)
	if err != nil {
		return nil, fmt.Errorf("listing nodes: %w", err)
	}
	return list, nil
}

// decodeList reads a NodeList: its metadata as it is, its items trimmed,
// other keys (kind, apiVersion) skipped. The stream is walked with
// encoding/json's Decoder (whose tokens this package can compare), each value
// decoded with sigs.k8s.io/json as client-go decodes it: case-sensitive keys.
func decodeList(r io.Reader) (*corev1.NodeList, error) {
	dec := stdjson.NewDecoder(r)
	if err := expectDelim(dec, '{', "a NodeList"); err != nil {
		return nil, err
	}
	list := &corev1.NodeList{}
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return nil, err
		}
		switch key {
		case "metadata":
			var raw stdjson.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return nil, fmt.Errorf("metadata: %w", err)
			}
			if err := json.UnmarshalCaseSensitivePreserveInts(raw, &list.ListMeta); err != nil {
				return nil, fmt.Errorf("metadata: %w", err)
			}
		case "items":
			if list.Items, err = decodeItems(dec); err != nil {
				return nil, err
			}
		default:
			if err := dec.Decode(&skip{}); err != nil {
				return nil, fmt.Errorf("%v: %w", key, err)
			}
		}
	}
	if err := expectDelim(dec, '}', "the end of the NodeList"); err != nil {
		return nil, err
	}
	return list, nil
}

func decodeItems(dec *stdjson.Decoder) ([]corev1.Node, error) {
	t, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("items: %w", err)
	}
	if t == nil {
		return nil, nil // "items": null
	}
	if t != stdjson.Delim('[') {
		return nil, fmt.Errorf("items: want an array, got %v", t)
	}
	var items []corev1.Node
	var raw stdjson.RawMessage
	for i := 0; dec.More(); i++ {
		// Raw first (the scanner skips what slimNode does not name
		// either way): a Node that does not decode is named in the error.
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("items[%d]: %w", i, err)
		}
		items = append(items, corev1.Node{})
		var s slimNode
		if err := json.UnmarshalCaseSensitivePreserveInts(raw, &s); err != nil {
			return nil, fmt.Errorf("items[%d]: %w", i, nodeError(raw, err))
		}
		s.into(&items[len(items)-1])
	}
	if _, err := dec.Token(); err != nil { // ']'
		return nil, fmt.Errorf("items: %w", err)
	}
	return items, nil
}

func expectDelim(dec *stdjson.Decoder, d stdjson.Delim, what string) error {
	t, err := dec.Token()
	if err != nil {
		return err
	}
	if t != d {
		return fmt.Errorf("want %s (%v), got %v", what, d, t)
	}
	return nil
}

// skip takes a JSON value and keeps nothing of it.
type skip struct{}

func (skip) UnmarshalJSON([]byte) error { return nil }

// Watch watches Nodes. Its events carry trimmed Nodes (ADDED, MODIFIED,
// DELETED), a Node with only resourceVersion and annotations (BOOKMARK), or
// the API server's *metav1.Status (ERROR: a 410 Gone is how the reflector
// learns to list again).
func Watch(ctx context.Context, c rest.Interface, o metav1.ListOptions) (watch.Interface, error) {
	o.Watch = true
	body, err := request(c, o).Stream(ctx)
	if err != nil {
		return nil, err
	}
	// As client-go's own watch does: a stream that does not decode ends
	// in an ERROR event with a 500 Status, then the watch closes.
	return watch.NewStreamWatcher(NewWatchDecoder(body),
		apierrors.NewClientErrorReporter(http.StatusInternalServerError, "WATCH", "ClientWatchDecoding")), nil
}
