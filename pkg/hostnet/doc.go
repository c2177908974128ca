// Package hostnet is the node's own network set-up that pods need: the pod
// bridge, the forwarding sysctls, the MTU of the underlay link, and the link
// events that tell the route loop to look again.
//
// Host carries these for the agent, which holds it behind an interface of its
// own; DeleteBridge is also a function, for `router cleanup`. Everything acts
// on the network namespace of the calling thread, through netlink and
// /proc/sys. Netlink calls cannot be cancelled: a context passed here is
// checked between steps, never in the middle of one.
package hostnet
