package nodestream

import (
	"bytes"
	"encoding/json"
	"io"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/scheme"
)

// The cost of one watch event of a kubelet-sized Node (a heartbeat): this
// package's decoder against client-go's, in JSON and in protobuf (what the
// typed client asks for by default).
func BenchmarkWatchEvent(b *testing.B) {
	n := kubeletNode("worker-7")
	obj, err := json.Marshal(n)
	if err != nil {
		b.Fatal(err)
	}
	event := append(append([]byte(`{"type":"MODIFIED","object":`), obj...), "}\n"...)
	b.Run("nodestream", func(b *testing.B) {
		b.SetBytes(int64(len(event)))
		stream := bytes.Repeat(event, b.N)
		d := NewWatchDecoder(io.NopCloser(bytes.NewReader(stream)))
		b.ResetTimer()
		for range b.N {
			if _, _, err := d.Decode(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("client-go-json", func(b *testing.B) {
		b.SetBytes(int64(len(obj)))
		for range b.N {
			if _, err := clientGoDecode(obj); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("client-go-protobuf", func(b *testing.B) {
		codecs := scheme.Codecs.WithoutConversion()
		info, _ := runtime.SerializerInfoForMediaType(codecs.SupportedMediaTypes(), runtime.ContentTypeProtobuf)
		pb, err := runtime.Encode(scheme.Codecs.EncoderForVersion(info.Serializer, corev1.SchemeGroupVersion), n)
		if err != nil {
			b.Fatal(err)
		}
		dec := codecs.DecoderToVersion(info.Serializer, corev1.SchemeGroupVersion)
		b.SetBytes(int64(len(pb)))
		b.ResetTimer()
		for range b.N {
			if _, err := runtime.Decode(dec, pb); err != nil {
				b.Fatal(err)
			}
		}
	})
}
