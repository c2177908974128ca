// Package nodeinfo reads the facts the agent needs from Kubernetes Node
// objects (InternalIP, pod CIDRs) into typed values, and builds the validated
// cluster view in which no two nodes claim the same address space.
package nodeinfo
