//go:build e2e

package fabric

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nodebgp/router/e2e/e2eutil"
)

// testMD5: the ToR requires TCP-MD5 passwords from two nodes, whose agents
// read theirs from the Secret (key = the ToR's address) through their Role.
// The right password comes up Established; the wrong one never does. The
// step prints what the agent and FRR say about the wrong one.
func testMD5(t *testing.T) {
	l := suite.Lab(t)
	ctx := e2eutil.TestContext(t, 2*time.Minute)
	right, wrong := e2eutil.NodeWithPod(t, l, rightPasswordNode), e2eutil.NodeWithPod(t, l, wrongPasswordNode)

	e2eutil.LogStep(t, "%s (right password) is Established on the ToR", right.Name)
	took := e2eutil.Eventually(t, 60*time.Second, time.Second, right.Name+" MD5 session", func() error {
		return checkToRSession(ctx, l, right)
	})
	e2eutil.LogStep(t, "%s: Established (waited %s more)", right.Name, took.Round(100*time.Millisecond))

	e2eutil.LogStep(t, "%s (wrong password) configured its ToR peer %s and never gets Established (10s)", wrong.Name, torAddr(wrong))
	var state string
	e2eutil.Consistently(t, 10*time.Second, time.Second, wrong.Name+" MD5 session stays down", func() error {
		var err error
		if state, err = nodeSessionState(ctx, l, wrong, torAddr(wrong)); err != nil {
			return err
		}
		switch state {
		case "":
			return fmt.Errorf("%s has no neighbor %s: the peer was skipped, not tried with the password", wrong.Name, torAddr(wrong))
		case "ESTABLISHED":
			return fmt.Errorf("%s: session with %s is up with the wrong password", wrong.Name, torAddr(wrong))
		}
		nb, ok, err := torSession(ctx, l, wrong)
		if err != nil {
			return err
		}
		if ok && nb.Established() {
			return fmt.Errorf("the ToR has %s Established with the wrong password", wrong.Name)
		}
		return nil
	})
	nb, _, _ := torSession(ctx, l, wrong)
	e2eutil.LogStep(t, "%s sees its ToR session as %s; the ToR sees %s as %s (last reset %q)", wrong.Name, state, wrong.Name, nb.State, nb.LastReset)
	lines, err := e2eutil.LogLinesSince(l.Agents.Log(wrong), 0, torAddr(wrong).String())
	if err != nil {
		t.Fatal(err)
	}
	e2eutil.LogStep(t, "what %s's agent logged about %s (%d lines):\n%s", wrong.Name, torAddr(wrong), len(lines), strings.Join(lastN(lines, 5), "\n"))
	frr, _ := os.ReadFile(l.ToRs[0].Log())
	var frrLines []string
	for _, line := range strings.Split(string(frr), "\n") {
		if strings.Contains(line, wrong.IP.String()) {
			frrLines = append(frrLines, line)
		}
	}
	e2eutil.LogStep(t, "what the ToR's bgpd logged about %s (%d lines):\n%s", wrong.IP, len(frrLines), strings.Join(lastN(frrLines, 5), "\n"))
}

func lastN(lines []string, n int) []string {
	if len(lines) > n {
		return lines[len(lines)-n:]
	}
	return lines
}
