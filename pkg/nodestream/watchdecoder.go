package nodestream

import (
	"fmt"
	"io"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/json"

	"github.com/nodebgp/router/pkg/slimnode"
)

// WatchDecoder is a watch.Decoder for a Node watch's JSON stream. It reads
// the event's type before its object, which client-go's rest/watch decoder
// does not show the object's decoder: a BOOKMARK keeps all its annotations
// (the reflector reads k8s.io/initial-events-end there), an ERROR is a
// *metav1.Status (the reflector lists again on a 410 Gone), a Node is
// decoded into a slimnode.Node.
type WatchDecoder struct {
	body   io.ReadCloser
	values valueReader
}

var _ watch.Decoder = (*WatchDecoder)(nil)

// NewWatchDecoder reads events from body; Close closes it.
func NewWatchDecoder(body io.ReadCloser) *WatchDecoder {
	return &WatchDecoder{body: body, values: valueReader{r: body}}
}

// Decode returns the next event. Errors of the stream itself (io.EOF at its
// end, a reset connection) come back as they are: watch.StreamWatcher tells
// an ended stream from a bad event by them.
func (d *WatchDecoder) Decode() (watch.EventType, runtime.Object, error) {
	var (
		typ            watch.EventType
		object         []byte
		node           *slimnode.Node
		nodeDecodedFor watch.EventType
	)
	// One pass over the event finds its end in the stream, its type and,
	// when the type comes first (as the API server writes it), decodes its
	// Node on the way. As client-go's metav1.WatchEvent: keys match
	// case-sensitively, the last of a repeated key wins.
	err := d.values.decode(func(b []byte) (int, error) {
		typ, object, nodeDecodedFor = "", nil, ""
		return objectAt(b, 0, 0, "watch event", false, func(key string, b []byte, i, depth int) (int, error) {
			switch key {
			case "type":
				return decodeValue(b, i, depth, "type", &typ)
			case "object":
				if isNodeEvent(typ) {
					node = &slimnode.Node{}
					end, err := decodeAt(node, b, i, depth)
					if err == nil {
						object, nodeDecodedFor = b[i:end], typ
						return end, nil
					}
					if err == errShort {
						return end, err
					}
					// Decoded again below, for the error.
				}
				end, err := skipValue(b, i, depth)
				object, nodeDecodedFor = b[i:min(end, len(b))], ""
				return end, err
			}
			return skipValue(b, i, depth)
		})
	})
	if err != nil {
		if err == io.ErrUnexpectedEOF || err == d.values.err {
			return "", nil, err // the stream ended or broke
		}
		return "", nil, fmt.Errorf("node watch: %w", err)
	}
	if isNodeEvent(typ) && nodeDecodedFor != "" {
		return typ, node, nil
	}
	obj, err := decodeEventObject(typ, object)
	if err != nil {
		return "", nil, fmt.Errorf("node watch: %s event: %w", typ, err)
	}
	return typ, obj, nil
}

func isNodeEvent(t watch.EventType) bool {
	return t == watch.Added || t == watch.Modified || t == watch.Deleted
}

func decodeEventObject(t watch.EventType, b []byte) (runtime.Object, error) {
	switch t {
	case watch.Added, watch.Modified, watch.Deleted:
		return decodeNode(b)
	case watch.Bookmark:
		var bm struct {
			Metadata struct {
				ResourceVersion string            `json:"resourceVersion"`
				Annotations     map[string]string `json:"annotations"`
			} `json:"metadata"`
		}
		if err := json.UnmarshalCaseSensitivePreserveInts(b, &bm); err != nil {
			return nil, err
		}
		return &slimnode.Node{ObjectMeta: slimnode.ObjectMeta{
			ResourceVersion: bm.Metadata.ResourceVersion,
			Annotations:     bm.Metadata.Annotations,
		}}, nil
	case watch.Error:
		var s metav1.Status
		if err := json.UnmarshalCaseSensitivePreserveInts(b, &s); err != nil {
			return nil, fmt.Errorf("status: %w", err)
		}
		return &s, nil
	default:
		return nil, fmt.Errorf("unknown event type %q", t)
	}
}

// Close closes the stream.
func (d *WatchDecoder) Close() { d.body.Close() }
