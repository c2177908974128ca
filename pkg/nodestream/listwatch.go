package nodestream

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/nodebgp/router/pkg/kubeclient"
	"github.com/nodebgp/router/pkg/slimnode"
)

// NewListWatch lists and watches Nodes through c (a core/v1 REST client:
// kubeclient.Client.Core), in JSON, yielding *slimnode.Node. The ListOptions
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
		VersionedParams(&o, kubeclient.ParameterCodec).
		Timeout(timeout).
		// JSON, whatever the client prefers: the decoders here read JSON.
		SetHeader("Accept", "application/json")
}

// List lists Nodes, decoding the response as it arrives: one Node's JSON is
// in memory at a time, besides the slim Nodes already decoded.
func List(ctx context.Context, c rest.Interface, o metav1.ListOptions) (*slimnode.List, error) {
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

// decodeList reads a NodeList: its metadata as it is, its items into slim
// Nodes one at a time as they arrive, other keys (kind, apiVersion) skipped.
func decodeList(r io.Reader) (*slimnode.List, error) {
	v := &valueReader{r: r}
	if _, err := v.next("{"); err != nil {
		return nil, err
	}
	list := &slimnode.List{}
	if c, err := v.peek(); err == nil && c == '}' {
		v.off++
		return list, listEnd(v)
	}
	for {
		key, err := v.key()
		if err != nil {
			return nil, unexpected(err)
		}
		switch key {
		case "metadata":
			raw, err := v.value()
			if err != nil {
				return nil, fmt.Errorf("metadata: %w", unexpected(err))
			}
			if err := field(raw, "metadata", &list.ListMeta); err != nil {
				return nil, err
			}
		case "items":
			if list.Items, err = decodeItems(v); err != nil {
				return nil, err
			}
		default:
			if _, err := v.value(); err != nil {
				return nil, fmt.Errorf("%s: %w", key, unexpected(err))
			}
		}
		if c, err := v.next(",}"); err != nil {
			return nil, err
		} else if c == '}' {
			return list, listEnd(v)
		}
	}
}

// listEnd checks that nothing but space follows the list, as the typed
// client's decode does.
func listEnd(v *valueReader) error {
	if _, err := v.peek(); err != io.EOF {
		if err == nil {
			return syntaxError(v.buf, v.off, "after top-level value")
		}
		return err
	}
	return nil
}

func decodeItems(v *valueReader) ([]slimnode.Node, error) {
	c, err := v.peek()
	if err != nil {
		return nil, fmt.Errorf("items: %w", unexpected(err))
	}
	if c == 'n' { // "items": null
		raw, err := v.value()
		if err != nil {
			return nil, fmt.Errorf("items: %w", unexpected(err))
		}
		if string(raw) != "null" {
			return nil, fmt.Errorf("items: want an array, got %s", truncate(raw))
		}
		return nil, nil
	}
	if _, err := v.next("["); err != nil {
		return nil, fmt.Errorf("items: %w", err)
	}
	items := []slimnode.Node{}
	if c, err := v.peek(); err == nil && c == ']' {
		v.off++
		return items, nil
	}
	for i := 0; ; i++ {
		items = append(items, slimnode.Node{})
		n := &items[len(items)-1]
		err := v.decode(func(b []byte) (int, error) {
			*n = slimnode.Node{}
			end, err := decodeAt(n, b, 0, 0)
			if err != nil && err != errShort {
				err = nodeError(b, err)
			}
			return end, err
		})
		if err != nil {
			return nil, fmt.Errorf("items[%d]: %w", i, unexpected(err))
		}
		if c, err := v.next(",]"); err != nil {
			return nil, fmt.Errorf("items: %w", err)
		} else if c == ']' {
			return items, nil
		}
	}
}

// unexpected: a list that ends before it is whole ended unexpectedly.
func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// Watch watches Nodes. Its events carry *slimnode.Node (ADDED, MODIFIED,
// DELETED; a BOOKMARK's has only its resourceVersion and annotations), or
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
