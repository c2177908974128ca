package hostnet

// Host is the node's network set-up, for the agent to hold behind an
// interface of its own (a fake in its tests). The zero value acts on the
// network namespace of the calling thread.
type Host struct {
	// sysctlRoot is where the net sysctls are; "" means /proc/sys/net.
	// Tests point it at a temp dir.
	sysctlRoot string
}
