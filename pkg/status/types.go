// Package status reports a node's BGP state in the Kubernetes API as a
// BGPNodeState (cluster-scoped, nodebgp.io/v1alpha1, one per node, named
// after it and owned by its Node): Build derives the object from what the
// agent knows (its plan, the speaker's sessions, the kernel route count) and
// does no I/O; Writer writes it with server-side apply, only when it changed,
// at most once per interval, from a goroutine of its own so that nothing a
// write does ever slows routing; Kube is the API side behind the narrow
// Applier seam.
package status

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// The API of the status object; daemonset/base/crd-bgpnodestates.yaml is
// its CustomResourceDefinition.
const (
	Group    = "nodebgp.io"
	Version  = "v1alpha1"
	Kind     = "BGPNodeState"
	Resource = "bgpnodestates"
	// FieldManager owns the fields the agent applies.
	FieldManager = "nodebgp-router"
)

// GVR is the object's resource for the dynamic client.
var GVR = schema.GroupVersionResource{Group: Group, Version: Version, Resource: Resource}

// Object is a BGPNodeState as the agent applies it: a small typed struct,
// marshalled to the apply configuration as is (no code generator).
type Object struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Metadata   Metadata `json:"metadata"`
	Status     Status   `json:"status"`
}

// Metadata is the part of ObjectMeta the agent owns.
type Metadata struct {
	Name            string                  `json:"name"`
	OwnerReferences []metav1.OwnerReference `json:"ownerReferences,omitempty"`
}

// Status is what an operator reads. Times are RFC 3339 strings to the
// second, so that the object read back compares equal to the one applied.
type Status struct {
	// ASN and RouterID are the running speaker's identity.
	ASN      uint32 `json:"asn"`
	RouterID string `json:"routerID,omitempty"`
	// Role is mesh, reflector, client or tor-only.
	Role string `json:"role"`
	// ClusterID is the route-reflector cluster ID of a reflector.
	ClusterID string `json:"clusterID,omitempty"`

	// Sessions lists every configured peer, by address.
	Sessions []Session `json:"sessions"`
	// SessionsUp of SessionsTotal are established; SessionSummary is
	// "up/total" for the printer column.
	SessionsUp     int    `json:"sessionsUp"`
	SessionsTotal  int    `json:"sessionsTotal"`
	SessionSummary string `json:"sessionSummary"`
	// BFDUp of BFDTotal sessions with BFD configured have BFD Up;
	// BFDSummary is "up/total" for the printer column. All three are
	// absent when no peer has BFD.
	BFDUp      int    `json:"bfdUp,omitempty"`
	BFDTotal   int    `json:"bfdTotal,omitempty"`
	BFDSummary string `json:"bfdSummary,omitempty"`

	// AdvertisedPodCIDRs are the pod CIDRs the node announces now.
	AdvertisedPodCIDRs []string `json:"advertisedPodCIDRs"`
	// KernelRoutes is the count of the agent's routes in the kernel.
	KernelRoutes int `json:"kernelRoutes"`

	Conditions []Condition `json:"conditions"`
}

// Session is one BGP session.
type Session struct {
	Peer  string `json:"peer"`           // the peer's address
	Name  string `json:"name,omitempty"` // its node name or configured name
	Kind  string `json:"kind"`           // node or upstream
	ASN   uint32 `json:"asn"`
	State string `json:"state"` // BGP FSM state in lower case
	// Since is when the session last came up or went down.
	Since      string `json:"since,omitempty"`
	Received   int    `json:"received"`
	Accepted   int    `json:"accepted"`
	Advertised int    `json:"advertised"`
	LastError  string `json:"lastError,omitempty"`
	// BFD is the state of the BFD session that guards this one; nil when
	// the peer has no BFD configured.
	BFD *SessionBFD `json:"bfd,omitempty"`
}

// SessionBFD is one peer's BFD session.
type SessionBFD struct {
	// State is Up, Down, Init or AdminDown (RFC 5880), or Unknown while
	// the agent's BFD does not list the session yet.
	State string `json:"state"`
	// Diagnostic is why the session left Up, e.g. "control detection time
	// expired" (RFC 5880's local diagnostic); BFD clears it on the way Up
	// again, so it is absent while Up.
	Diagnostic string `json:"diagnostic,omitempty"`
	// DetectionTimeMilliseconds is the negotiated detection time, while
	// the session is Up.
	DetectionTimeMilliseconds int64 `json:"detectionTimeMilliseconds,omitempty"`
}

// BFD states as the status writes them, besides bfd.State's own names.
const BFDUnknown = "Unknown"

// Condition follows metav1.Condition's shape.
type Condition struct {
	Type               string `json:"type"`
	Status             string `json:"status"` // True, False or Unknown
	Reason             string `json:"reason"`
	Message            string `json:"message,omitempty"`
	LastTransitionTime string `json:"lastTransitionTime"`
}

// Condition types.
const (
	// RoutesProgrammed: the kernel holds the routes of the speaker's best
	// paths (the last sync succeeded).
	RoutesProgrammed = "RoutesProgrammed"
	// PeersEstablished: every configured session is established.
	PeersEstablished = "PeersEstablished"
	// Ready: both of the above.
	Ready = "Ready"
)

func typesUID(s string) types.UID { return types.UID(s) }
