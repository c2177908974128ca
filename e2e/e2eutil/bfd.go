//go:build e2e

package e2eutil

import (
	"context"
	"fmt"
	"regexp"

	"github.com/nodebgp/router/e2e/lab"
)

var bfdStateLine = regexp.MustCompile(`(?m)^nodebgp_bfd_session_state\{peer="([^"]+)",state="([^"]+)"\} 1$`)

// BFDStates reads node's /metrics: its BFD sessions, peer address -> state.
func BFDStates(ctx context.Context, node *lab.Node) (map[string]string, error) {
	code, body, err := HTTPGetIn(ctx, node.Netns, "http://127.0.0.1:9779/metrics")
	if err != nil {
		return nil, err
	}
	if code != 200 {
		return nil, fmt.Errorf("%s: /metrics: HTTP %d", node.Name, code)
	}
	out := map[string]string{}
	for _, m := range bfdStateLine.FindAllStringSubmatch(body, -1) {
		out[m[1]] = m[2]
	}
	return out, nil
}
