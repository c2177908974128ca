// Package services decides which Service addresses this node announces to
// its upstream routers: from the Services, their EndpointSlices, the node's
// name and the --advertise-* switches it derives host routes (/32, /128),
// following each Service's traffic policy and its nodebgp.io/advertise
// annotation, and every address of an announced kind, which no peer may
// send back to us. It is pure: listers come in through Source.
//
// Work is by Service: an Index recomputes only the Services marked changed
// since the last Refresh (a Service event, or an event of an EndpointSlice
// labelled with its name), and keeps counted totals, so one Service's churn
// costs O(that Service).
package services
