package peering

import "fmt"

// AnnotationError is one bad annotation value. Node and Annotation say where
// to raise a Kubernetes Event; Field locates the value inside a structured
// annotation ("[1].asn" in nodebgp.io/peers), empty for the whole value.
type AnnotationError struct {
	Node       string
	Annotation string
	Field      string
	Err        error
}

func (e *AnnotationError) Error() string {
	return fmt.Sprintf("node %q: annotation %s%s: %v", e.Node, e.Annotation, e.Field, e.Err)
}

func (e *AnnotationError) Unwrap() error { return e.Err }
