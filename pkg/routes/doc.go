// Package routes is the route reconciler of the router agent: it keeps the
// kernel's routes of our own protocol equal to the paths BGP chose, in batched
// netlink writes, and removes them all for `router cleanup`.
//
// Everything here talks to the kernel through netlink only. We own exactly the
// routes that carry Protocol; every other route is left alone, whoever made it.
// The rest of the node's network set-up (the pod bridge, forwarding, link
// events) is pkg/hostnet's.
package routes
