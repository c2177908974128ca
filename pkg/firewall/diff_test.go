package firewall

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestSplitRuleReadsIptablesOutput(t *testing.T) {
	tests := []struct {
		name string
		line string
		want []string
	}{
		{
			name: "a quoted comment is one argument",
			line: `-A NODEBGP-FORWARD -s 10.244.0.0/16 -m comment --comment "nodebgp: forward from pods" -j ACCEPT`,
			want: []string{"-A", "NODEBGP-FORWARD", "-s", "10.244.0.0/16", "-m", "comment", "--comment", "nodebgp: forward from pods", "-j", "ACCEPT"},
		},
		{
			name: "negation and a target option stay separate arguments",
			line: `-A NODEBGP-POSTROUTING -s fd00:10:244:1::/64 ! -d fd00:10:244::/56 -j MASQUERADE --random-fully`,
			want: []string{"-A", "NODEBGP-POSTROUTING", "-s", "fd00:10:244:1::/64", "!", "-d", "fd00:10:244::/56", "-j", "MASQUERADE", "--random-fully"},
		},
		{
			name: "escaped quotes and backslashes inside quotes are unescaped",
			line: `-A FORWARD -m comment --comment "say \"hi\" \\ it\'s" -j DROP`,
			want: []string{"-A", "FORWARD", "-m", "comment", "--comment", `say "hi" \ it's`, "-j", "DROP"},
		},
		{
			name: "an unquoted comment is one argument",
			line: `-A FORWARD -m comment --comment x -j DROP`,
			want: []string{"-A", "FORWARD", "-m", "comment", "--comment", "x", "-j", "DROP"},
		},
		{
			name: "an empty quoted argument is kept",
			line: `-A FORWARD -m comment --comment "" -j DROP`,
			want: []string{"-A", "FORWARD", "-m", "comment", "--comment", "", "-j", "DROP"},
		},
		{
			name: "an unterminated quote runs to the end of the line",
			line: `-A FORWARD -m comment --comment "broken -j DROP`,
			want: []string{"-A", "FORWARD", "-m", "comment", "--comment", "broken -j DROP"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := splitRule(tt.line); !slices.Equal(got, tt.want) {
				t.Errorf("splitRule(%s)\n got %q\nwant %q", tt.line, got, tt.want)
			}
		})
	}
}

func TestFormatRuleIsReadBackBySplitRule(t *testing.T) {
	specs := [][]string{
		{"-s", "10.244.0.0/16", "-m", "comment", "--comment", "nodebgp: forward from pods", "-j", "ACCEPT"},
		{"-m", "comment", "--comment", `quote " backslash \ apostrophe '`, "-j", "DROP"},
		{"-m", "comment", "--comment", "", "-j", "DROP"},
	}
	for _, spec := range specs {
		if got := splitRule(formatRule(spec)); !slices.Equal(got, spec) {
			t.Errorf("splitRule(formatRule(%q)) = %q", spec, got)
		}
	}
}

// applyOps plays ops against a chain the way iptables would, failing on any op a
// real iptables would refuse or that breaks our invariants.
func applyOps(t *testing.T, chain [][]string, ops []ruleOp) [][]string {
	t.Helper()
	state := slices.Clone(chain)
	for _, op := range ops {
		k := ruleKey(op.spec)
		switch {
		case op.delete:
			i := indexOf(state, k)
			if i < 0 {
				t.Fatalf("deleting missing rule %s", formatRule(op.spec))
			}
			state = slices.Delete(state, i, i+1)
		case indexOf(state, k) >= 0:
			t.Fatalf("adding duplicate rule %s", formatRule(op.spec))
		case op.pos == 0:
			state = append(state, op.spec)
		case op.pos < 1 || op.pos > len(state)+1:
			t.Fatalf("inserting %s at %d into a chain of %d rules", formatRule(op.spec), op.pos, len(state))
		default:
			state = slices.Insert(state, op.pos-1, op.spec)
		}
	}
	return state
}

func showOps(ops []ruleOp) []string {
	out := []string{}
	for _, op := range ops {
		switch {
		case op.delete:
			out = append(out, "delete "+formatRule(op.spec))
		case op.pos == 0:
			out = append(out, "append "+formatRule(op.spec))
		default:
			out = append(out, fmt.Sprintf("insert@%d %s", op.pos, formatRule(op.spec)))
		}
	}
	return out
}

func TestDiffRules(t *testing.T) {
	a, b, c := "-s 10.0.0.0/8 -j ACCEPT", "-d 10.0.0.0/8 -j ACCEPT", "-s 10.1.0.0/16 -j MASQUERADE"
	tests := []struct {
		name    string
		current []string
		desired []string
		want    []string
	}{
		{name: "an empty chain gets every rule appended in order", desired: []string{a, b, c}, want: []string{"append " + a, "append " + b, "append " + c}},
		{name: "a chain already right needs nothing", current: []string{a, b, c}, desired: []string{a, b, c}, want: []string{}},
		{name: "a missing rule in the middle is inserted at its place", current: []string{a, c}, desired: []string{a, b, c}, want: []string{"insert@2 " + b}},
		{name: "a missing first rule is inserted at 1", current: []string{b, c}, desired: []string{a, b, c}, want: []string{"insert@1 " + a}},
		{name: "a rule no longer wanted is deleted", current: []string{a, b, c}, desired: []string{a, c}, want: []string{"delete " + b}},
		{name: "a foreign rule in our chain is deleted", current: []string{a, "-j DROP", b}, desired: []string{a, b}, want: []string{"delete -j DROP"}},
		{name: "a duplicated rule loses its extra copy", current: []string{a, a, b}, desired: []string{a, b}, want: []string{"delete " + a}},
		// A delete by spec removes the first copy, so the survivor is then moved back.
		{name: "a duplicate further down is removed and the order restored", current: []string{a, b, a}, desired: []string{a, b}, want: []string{"delete " + a, "delete " + b, "append " + b}},
		{name: "a rule out of order is moved", current: []string{c, a}, desired: []string{a, c}, want: []string{"delete " + c, "append " + c}},
		{name: "new rules go in before the rule they replace goes", current: []string{"-s 10.1.0.0/16 ! -d 10.0.0.0/8 -j MASQUERADE"}, desired: []string{"-s 10.1.0.0/16 -d 10.0.0.0/8 -j RETURN", c},
			want: []string{"insert@1 -s 10.1.0.0/16 -d 10.0.0.0/8 -j RETURN", "insert@2 " + c, "delete -s 10.1.0.0/16 ! -d 10.0.0.0/8 -j MASQUERADE"}},
		{name: "an unwanted chain is emptied", current: []string{a, b}, desired: nil, want: []string{"delete " + a, "delete " + b}},
		{name: "a changed rule is replaced", current: []string{a, c}, desired: []string{a, c + " --random-fully"}, want: []string{"insert@2 " + c + " --random-fully", "delete " + c}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const chain = "NODEBGP-TEST"
			listed := []string{"-N " + chain}
			var current, desired [][]string
			for _, r := range tt.current {
				listed = append(listed, "-A "+chain+" "+r)
				current = append(current, splitRule(r))
			}
			for _, r := range tt.desired {
				desired = append(desired, splitRule(r))
			}

			ops := diffRules(chain, listed, desired)
			if got := showOps(ops); !slices.Equal(got, tt.want) {
				t.Errorf("ops\n got %q\nwant %q", got, tt.want)
			}
			after := applyOps(t, current, ops)
			if !slices.EqualFunc(after, desired, slices.Equal) {
				t.Errorf("chain after ops = %q, want %q", after, desired)
			}
			// The second pass over the result must find nothing to do.
			listed = []string{"-N " + chain}
			for _, r := range after {
				listed = append(listed, "-A "+chain+" "+formatRule(r))
			}
			if again := diffRules(chain, listed, desired); len(again) > 0 {
				t.Errorf("second diff = %q, want none", showOps(again))
			}
		})
	}
}

func TestJumpsToFindsEveryJumpToOurChainOnly(t *testing.T) {
	listed := []string{
		"-P FORWARD DROP",
		"-A FORWARD -j DOCKER-USER",
		`-A FORWARD -m comment --comment "nodebgp: pod forwarding" -j NODEBGP-FORWARD`,
		"-A FORWARD -o docker0 -j DROP",
		"-A FORWARD -j NODEBGP-FORWARD",
		`-A FORWARD -m comment --comment "-j NODEBGP-FORWARD" -j ACCEPT`,
	}
	var got []string
	for _, j := range jumpsTo("FORWARD", "NODEBGP-FORWARD", listed) {
		got = append(got, formatRule(j))
	}
	want := []string{`-m comment --comment "nodebgp: pod forwarding" -j NODEBGP-FORWARD`, "-j NODEBGP-FORWARD"}
	if !slices.Equal(got, want) {
		t.Errorf("jumpsTo\n got %q\nwant %q", got, want)
	}
	if strings.Contains(strings.Join(got, "\n"), "ACCEPT") {
		t.Error("a comment mentioning our chain was taken for a jump")
	}
}
