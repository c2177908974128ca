package firewall

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// fakeTable is an in-memory iptables for one family. It fails the test on every
// broken invariant of a well-behaved owner of two chains: adding a rule that is
// already there, deleting one that is not, and touching a built-in chain other than
// to insert or delete a jump to a NODEBGP chain.
type fakeTable struct {
	t           *testing.T
	randomFully bool
	tables      map[string][]*fakeChain
	// ops logs every command that changed something, in order.
	ops []string
	// fail, when set, can make a command fail as a real iptables would (the xtables
	// lock held too long, say) before it changes anything.
	fail func(op, table, chain string) error
}

type fakeChain struct {
	name    string
	builtin bool
	policy  string
	rules   [][]string
}

func newFakeTable(t *testing.T) *fakeTable {
	builtin := func(names ...string) []*fakeChain {
		var cs []*fakeChain
		for _, n := range names {
			cs = append(cs, &fakeChain{name: n, builtin: true, policy: "ACCEPT"})
		}
		return cs
	}
	return &fakeTable{
		t:           t,
		randomFully: true,
		tables: map[string][]*fakeChain{
			"filter": builtin("INPUT", "FORWARD", "OUTPUT"),
			"nat":    builtin("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"),
		},
	}
}

func (f *fakeTable) chain(table, chain string) *fakeChain {
	for _, c := range f.tables[table] {
		if c.name == chain {
			return c
		}
	}
	return nil
}

// violation fails the test: the firewall did something a careful owner never does.
func (f *fakeTable) violation(format string, args ...any) error {
	f.t.Helper()
	err := fmt.Errorf("fake iptables: "+format, args...)
	f.t.Error(err)
	return err
}

func (f *fakeTable) injected(op, table, chain string) error {
	if f.fail == nil {
		return nil
	}
	return f.fail(op, table, chain)
}

func isOurJump(spec []string) bool {
	i := slices.Index(spec, "-j")
	return i >= 0 && i+1 < len(spec) && strings.HasPrefix(spec[i+1], "NODEBGP-")
}

func (f *fakeTable) record(op, table, chain string, spec []string) {
	f.ops = append(f.ops, opLine(op, table, chain, spec))
}

// opLine is how tests write down one changing command: "append filter/CHAIN -s ...".
func opLine(op, table, chain string, spec []string) string {
	line := op + " " + table + "/" + chain
	if len(spec) > 0 {
		line += " " + formatRule(spec)
	}
	return line
}

func (f *fakeTable) ListChains(table string) ([]string, error) {
	if err := f.injected("list-chains", table, ""); err != nil {
		return nil, err
	}
	var names []string
	for _, c := range f.tables[table] {
		names = append(names, c.name)
	}
	return names, nil
}

func (f *fakeTable) NewChain(table, chain string) error {
	if err := f.injected("new-chain", table, chain); err != nil {
		return err
	}
	if f.chain(table, chain) != nil {
		return f.violation("creating %s/%s: chain already exists", table, chain)
	}
	f.tables[table] = append(f.tables[table], &fakeChain{name: chain})
	f.record("new-chain", table, chain, nil)
	return nil
}

func (f *fakeTable) ClearChain(table, chain string) error {
	if err := f.injected("clear-chain", table, chain); err != nil {
		return err
	}
	c := f.chain(table, chain)
	if c != nil && c.builtin {
		return f.violation("flushing built-in chain %s/%s", table, chain)
	}
	if c == nil {
		// go-iptables' ClearChain creates a missing chain.
		c = &fakeChain{name: chain}
		f.tables[table] = append(f.tables[table], c)
	}
	c.rules = nil
	f.record("clear-chain", table, chain, nil)
	return nil
}

func (f *fakeTable) DeleteChain(table, chain string) error {
	if err := f.injected("delete-chain", table, chain); err != nil {
		return err
	}
	c := f.chain(table, chain)
	switch {
	case c == nil:
		return f.violation("deleting missing chain %s/%s", table, chain)
	case c.builtin:
		return f.violation("deleting built-in chain %s/%s", table, chain)
	case len(c.rules) > 0:
		return fmt.Errorf("deleting %s/%s: chain is not empty", table, chain)
	}
	for _, other := range f.tables[table] {
		for _, r := range other.rules {
			if i := slices.Index(r, "-j"); i >= 0 && i+1 < len(r) && r[i+1] == chain {
				return fmt.Errorf("deleting %s/%s: still jumped to from %s", table, chain, other.name)
			}
		}
	}
	f.tables[table] = slices.DeleteFunc(f.tables[table], func(x *fakeChain) bool { return x == c })
	f.record("delete-chain", table, chain, nil)
	return nil
}

// List prints the chain as `iptables -S` does.
func (f *fakeTable) List(table, chain string) ([]string, error) {
	if err := f.injected("list", table, chain); err != nil {
		return nil, err
	}
	c := f.chain(table, chain)
	if c == nil {
		return nil, fmt.Errorf("listing %s/%s: no chain by that name", table, chain)
	}
	head := "-N " + chain
	if c.builtin {
		head = "-P " + chain + " " + c.policy
	}
	lines := []string{head}
	for _, r := range c.rules {
		lines = append(lines, "-A "+chain+" "+formatRule(r))
	}
	return lines, nil
}

func (f *fakeTable) Exists(table, chain string, spec ...string) (bool, error) {
	if err := f.injected("exists", table, chain); err != nil {
		return false, err
	}
	c := f.chain(table, chain)
	return c != nil && indexOf(c.rules, ruleKey(spec)) >= 0, nil
}

// checkAdd enforces the invariants of adding spec to table/chain.
func (f *fakeTable) checkAdd(op, table, chain string, spec []string) (*fakeChain, error) {
	c := f.chain(table, chain)
	switch {
	case c == nil:
		return nil, fmt.Errorf("%s %s/%s: no chain by that name", op, table, chain)
	case c.builtin && (op != "insert" || !isOurJump(spec)):
		return nil, f.violation("%s %s into built-in chain %s/%s", op, formatRule(spec), table, chain)
	case indexOf(c.rules, ruleKey(spec)) >= 0:
		return nil, f.violation("%s %s/%s: duplicate rule %s", op, table, chain, formatRule(spec))
	}
	if i := slices.Index(spec, "-j"); i >= 0 && i+1 < len(spec) && strings.HasPrefix(spec[i+1], "NODEBGP-") && f.chain(table, spec[i+1]) == nil {
		return nil, fmt.Errorf("%s %s/%s: jump to missing chain %s", op, table, chain, spec[i+1])
	}
	return c, nil
}

func (f *fakeTable) Insert(table, chain string, pos int, spec ...string) error {
	if err := f.injected("insert", table, chain); err != nil {
		return err
	}
	c, err := f.checkAdd("insert", table, chain, spec)
	if err != nil {
		return err
	}
	if pos < 1 || pos > len(c.rules)+1 {
		return fmt.Errorf("inserting into %s/%s at %d: index of insertion too big", table, chain, pos)
	}
	c.rules = slices.Insert(c.rules, pos-1, slices.Clone(spec))
	f.record(fmt.Sprintf("insert@%d", pos), table, chain, spec)
	return nil
}

func (f *fakeTable) Append(table, chain string, spec ...string) error {
	if err := f.injected("append", table, chain); err != nil {
		return err
	}
	c, err := f.checkAdd("append", table, chain, spec)
	if err != nil {
		return err
	}
	c.rules = append(c.rules, slices.Clone(spec))
	f.record("append", table, chain, spec)
	return nil
}

func (f *fakeTable) Delete(table, chain string, spec ...string) error {
	if err := f.injected("delete", table, chain); err != nil {
		return err
	}
	c := f.chain(table, chain)
	switch {
	case c == nil:
		return f.violation("deleting from missing chain %s/%s", table, chain)
	case c.builtin && !isOurJump(spec):
		return f.violation("deleting %s from built-in chain %s/%s", formatRule(spec), table, chain)
	}
	i := indexOf(c.rules, ruleKey(spec))
	if i < 0 {
		return f.violation("deleting missing rule %s from %s/%s", formatRule(spec), table, chain)
	}
	c.rules = slices.Delete(c.rules, i, i+1)
	f.record("delete", table, chain, spec)
	return nil
}

func (f *fakeTable) HasRandomFully() bool { return f.randomFully }

// seed puts rules into a chain as someone else (Docker, an operator) would,
// creating the chain if need be, without the invariants.
func (f *fakeTable) seed(table, chain string, rules ...string) {
	c := f.chain(table, chain)
	if c == nil {
		c = &fakeChain{name: chain}
		f.tables[table] = append(f.tables[table], c)
	}
	for _, r := range rules {
		c.rules = append(c.rules, splitRule(r))
	}
}

// rules returns a chain's rules as `iptables -S` prints them, nil if it is missing.
func (f *fakeTable) rules(table, chain string) []string {
	c := f.chain(table, chain)
	if c == nil {
		return nil
	}
	out := []string{}
	for _, r := range c.rules {
		out = append(out, formatRule(r))
	}
	return out
}

var errLock = errors.New("exit status 4: Another app is currently holding the xtables lock. Stopped waiting after 5s.")
