package nodestream

import (
	stdjson "encoding/json"
	"fmt"
	"io"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/json"
)

// WatchDecoder is a watch.Decoder for a Node watch's JSON stream. It reads
// the event's type before its object, which client-go's rest/watch decoder
// does not show the object's decoder: a BOOKMARK keeps all its annotations
// (the reflector reads k8s.io/initial-events-end there), an ERROR is a
// *metav1.Status (the reflector lists again on a 410 Gone), a Node is
// trimmed.
type WatchDecoder struct {
	body  io.ReadCloser
	dec   *stdjson.Decoder
	event struct {
		// encoding/json matches these two keys without regard to case,
		// client-go's decoder with it; the API server writes them in lower
		// case. The object is decoded as client-go decodes it.
		Type   watch.EventType    `json:"type"`
		Object stdjson.RawMessage `json:"object"`
	}
}

var _ watch.Decoder = (*WatchDecoder)(nil)

// NewWatchDecoder reads events from body; Close closes it.
func NewWatchDecoder(body io.ReadCloser) *WatchDecoder {
	return &WatchDecoder{body: body, dec: stdjson.NewDecoder(body)}
}

// Decode returns the next event. Errors of the stream itself (io.EOF at its
// end, a reset connection) come back as they are: watch.StreamWatcher tells
// an ended stream from a bad event by them.
func (d *WatchDecoder) Decode() (watch.EventType, runtime.Object, error) {
	d.event.Type, d.event.Object = "", d.event.Object[:0]
	if err := d.dec.Decode(&d.event); err != nil {
		return "", nil, err
	}
	obj, err := decodeEventObject(d.event.Type, d.event.Object)
	if err != nil {
		return "", nil, fmt.Errorf("node watch: %s event: %w", d.event.Type, err)
	}
	return d.event.Type, obj, nil
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
		return &corev1.Node{ObjectMeta: metav1.ObjectMeta{
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
