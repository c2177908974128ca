//go:build e2e

package e2eutil

import (
	"context"

	"github.com/nodebgp/router/e2e/lab"
)

// SetUplink sets node's uplink (eth0 in its namespace) down or up: a node
// whose link goes down sends no FIN, no Cease and no BFD AdminDown, as one
// that dies.
func SetUplink(ctx context.Context, node *lab.Node, up bool) error {
	state := "down"
	if up {
		state = "up"
	}
	_, err := Run(ctx, "ip", "-n", node.Netns, "link", "set", "eth0", state)
	return err
}
