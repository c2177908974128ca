package nodestream

import (
	"bytes"
	"encoding/json"
	"io"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/nodebgp/router/pkg/slimnode"
)

// FuzzDecodeNode: no input panics the decoder, and wherever client-go
// decodes a Node too, the decoder's Node is client-go's, trimmed. (Where
// only client-go fails, on a field the agent does not read, the decoder may
// succeed: it never looks there.)
func FuzzDecodeNode(f *testing.F) {
	for _, n := range testNodes {
		b, err := json.Marshal(n.node)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"kind":"Node","apiVersion":"v1","metadata":{"name":"a","annotations":null}}`))
	f.Add([]byte(`{"kind":"Node","apiVersion":"v1","metadata":{"name":"a","annotations":{"nodebgp.io/x":"1"},"annotations":{"nodebgp.io/y":"2"}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := decodeNode(b)
		// The watch decodes a Node on its way through the event: the same
		// Node, or the same failure. (Only for one JSON value: a stream
		// would read the event up to its end and leave the rest.)
		if json.Valid(b) {
			event := append(append([]byte(`{"type":"MODIFIED","object":`), b...), '}')
			_, inEvent, eventErr := NewWatchDecoder(io.NopCloser(bytes.NewReader(event))).Decode()
			if (err == nil) != (eventErr == nil) || err == nil && !reflect.DeepEqual(inEvent, got) {
				t.Fatalf("decodeNode: %+v, %v; in a watch event: %+v, %v", got, err, inEvent, eventErr)
			}
		}
		full, fullErr := clientGoDecode(b)
		fullNode, isNode := full.(*corev1.Node)
		if err != nil || fullErr != nil || !isNode {
			return
		}
		if want := trim(fullNode); !reflect.DeepEqual(got, want) {
			t.Fatalf("decoded %+v, client-go trimmed %+v", got, want)
		}
	})
}

// FuzzDecodeStreams: no list or watch stream panics its decoder, and every
// watch event it yields carries the object its type calls for.
func FuzzDecodeStreams(f *testing.F) {
	f.Add([]byte(`{"kind":"NodeList","metadata":{"resourceVersion":"1"},"items":[{"metadata":{"name":"a"}}]}`))
	f.Add([]byte(`{"type":"ADDED","object":{"metadata":{"name":"a"}}}` + "\n" + `{"type":"ERROR","object":{"kind":"Status","code":410}}`))
	f.Add([]byte(`{"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"9","annotations":{"k8s.io/initial-events-end":"true"}}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = decodeList(bytes.NewReader(b))
		d := NewWatchDecoder(io.NopCloser(bytes.NewReader(b)))
		defer d.Close()
		for range 100 {
			typ, obj, err := d.Decode()
			if err != nil {
				return
			}
			switch obj.(type) {
			case *slimnode.Node:
				if typ == "ERROR" {
					t.Fatalf("ERROR event with a Node")
				}
			default:
				if typ != "ERROR" {
					t.Fatalf("%s event with a %T", typ, obj)
				}
			}
		}
	})
}
