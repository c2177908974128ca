package firewall

import (
	"slices"
	"strings"
)

// ruleOp is one change to one of our chains. Deletes go by rulespec, never by
// position; an insert puts the rule at pos (1-based), or appends it when pos is 0.
type ruleOp struct {
	delete bool
	pos    int
	spec   []string
}

// diffRules returns the changes that turn our chain, as `iptables -S chain` listed
// it, into exactly the desired rules in the desired order. It never flushes and
// refills: rules that are already right are left alone, and a rule that is no
// longer wanted goes only after its replacements are in, so packets never meet a
// half-built chain. The ops apply in order. desired holds no rule twice (render
// deduplicates its CIDRs).
func diffRules(chain string, listed []string, desired [][]string) []ruleOp {
	state := chainRulesOf(chain, listed)
	wanted := make(map[string]bool, len(desired))
	for _, d := range desired {
		wanted[ruleKey(d)] = true
	}
	var ops []ruleOp
	remove := func(spec []string) {
		ops = append(ops, ruleOp{delete: true, spec: spec})
		// A delete by spec removes the first match; the simulated state does too.
		j := indexOf(state, ruleKey(spec))
		state = slices.Delete(state, j, j+1)
	}

	// Surplus copies of a wanted rule first, so that each wanted rule has one place.
	copies := map[string]int{}
	for _, r := range slices.Clone(state) {
		k := ruleKey(r)
		copies[k]++
		if wanted[k] && copies[k] > 1 {
			remove(r)
		}
	}

	// Then each wanted rule must come after the one before it. Order matters in the
	// nat chain: its RETURNs must come before the MASQUERADE. A rule that is present
	// but too early is deleted before it is reinserted, because a delete after the
	// insert would remove the new copy.
	prev := -1 // index in state of the previous wanted rule
	for _, d := range desired {
		j := indexOf(state, ruleKey(d))
		if j > prev {
			prev = j
			continue
		}
		if j >= 0 {
			remove(d)
			prev--
		}
		prev++
		op := ruleOp{pos: prev + 1, spec: d}
		if prev == len(state) {
			op.pos = 0
		}
		ops = append(ops, op)
		state = slices.Insert(state, prev, d)
	}

	// Last, what is no longer wanted.
	for _, r := range slices.Clone(state) {
		if !wanted[ruleKey(r)] {
			remove(r)
		}
	}
	return ops
}

// chainRulesOf returns the rulespecs of chain from `iptables -S chain` output,
// skipping the -N/-P line that declares the chain.
func chainRulesOf(chain string, listed []string) [][]string {
	var rules [][]string
	for _, line := range listed {
		tokens := splitRule(line)
		if len(tokens) >= 2 && tokens[0] == "-A" && tokens[1] == chain {
			rules = append(rules, tokens[2:])
		}
	}
	return rules
}

// jumpsTo returns every rule in hook (as `iptables -S hook` listed it) whose target
// is chain: only we jump to our chains, so each of these is ours to remove.
func jumpsTo(hook, chain string, listed []string) [][]string {
	var jumps [][]string
	for _, r := range chainRulesOf(hook, listed) {
		if i := slices.Index(r, "-j"); i >= 0 && i+1 < len(r) && r[i+1] == chain {
			jumps = append(jumps, r)
		}
	}
	return jumps
}

func indexOf(rules [][]string, key string) int {
	return slices.IndexFunc(rules, func(r []string) bool { return ruleKey(r) == key })
}

func ruleKey(spec []string) string { return strings.Join(spec, "\x00") }

// splitRule splits one line of `iptables -S` output into arguments. iptables quotes
// an argument with double quotes when it holds anything but letters, digits, '-'
// and '_', and inside the quotes puts a backslash before each double quote, single
// quote and backslash. An unterminated quote ends at the end of the line.
func splitRule(line string) []string {
	var (
		args    []string
		cur     strings.Builder
		inArg   bool
		quoted  bool
		escaped bool
	)
	for _, c := range line {
		switch {
		case escaped:
			cur.WriteRune(c)
			escaped = false
		case quoted && c == '\\':
			escaped = true
		case c == '"':
			quoted = !quoted
			inArg = true
		case c == ' ' && !quoted:
			if inArg {
				args = append(args, cur.String())
				cur.Reset()
				inArg = false
			}
		default:
			cur.WriteRune(c)
			inArg = true
		}
	}
	if inArg {
		args = append(args, cur.String())
	}
	return args
}

// formatRule writes a rulespec as one line for logs and errors, quoted the way
// splitRule reads it back: an argument is quoted only when it must be (iptables
// also quotes some that need not be, such as "nodebgp:x").
func formatRule(spec []string) string {
	var b strings.Builder
	for i, arg := range spec {
		if i > 0 {
			b.WriteByte(' ')
		}
		if arg != "" && !strings.ContainsAny(arg, ` "\'`) {
			b.WriteString(arg)
			continue
		}
		b.WriteByte('"')
		for _, c := range arg {
			if strings.ContainsRune(`"\'`, c) {
				b.WriteByte('\\')
			}
			b.WriteRune(c)
		}
		b.WriteByte('"')
	}
	return b.String()
}
