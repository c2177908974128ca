// TCP-MD5 (BGP passwords) cannot be set on MPTCP sockets, which Go 1.24+
// listeners are by default: GoBGP's listener would then accept peers without
// checking their password. Plain TCP, always.
//
//go:debug multipathtcp=0

// Command router is nodebgp's per-node agent: `router run` on every node, as a
// DaemonSet; `router cleanup` to remove what it made; `router version`.
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := newRootCommand().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "router:", err)
		os.Exit(1)
	}
}
