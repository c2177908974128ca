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
