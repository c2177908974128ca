// Command clusterpause is the cluster lab's pod sandbox process (what
// registry.k8s.io/pause is on a real node): it holds the pod's namespaces,
// reaps orphans and exits on SIGINT or SIGTERM. Built static, it is the
// sandbox image's only program besides busybox, because the lab reaches no
// registry to pull the real one.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for sig := range sigs {
		if sig != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var ws syscall.WaitStatus
			if pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil); pid <= 0 || err != nil {
				break
			}
		}
	}
}
