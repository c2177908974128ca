//go:debug multipathtcp=0

package bgp

// GoBGP can set TCP-MD5 keys only on plain TCP listeners, and Go 1.24+
// makes listeners MPTCP by default (see probeListenerMD5); the agent's
// main package carries the same directive.
