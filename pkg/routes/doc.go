// Package routes is the kernel side of the router agent: it keeps the kernel's
// routes of our own protocol equal to the paths BGP chose, and owns the other
// kernel state pods need (the pod bridge, forwarding sysctls, link events).
//
// Everything here talks to the kernel through netlink only. We own exactly the
// routes that carry Protocol; every other route is left alone, whoever made it.
package routes
