//go:build e2e

package fabric

import (
	"fmt"

	"github.com/nodebgp/router/e2e/e2eutil"
	"github.com/nodebgp/router/e2e/lab"
)

// logOffset is the size of node's agent log now: later checks read only
// what the agent wrote after it.
func logOffset(l *lab.Lab, node *lab.Node) int64 { return e2eutil.LogSize(l.Agents.Log(node)) }

// agentLogged fails unless node's agent wrote a line with every one of
// parts after offset, and returns the first.
func agentLogged(l *lab.Lab, node *lab.Node, offset int64, parts ...string) (string, error) {
	lines, err := e2eutil.LogLinesSince(l.Agents.Log(node), offset, parts...)
	if err != nil {
		return "", err
	}
	if len(lines) == 0 {
		return "", fmt.Errorf("%s's agent log has no line with %q since the step began", node.Name, parts)
	}
	return lines[0], nil
}
