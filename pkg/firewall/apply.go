package firewall

import (
	"errors"
	"fmt"
	"slices"
)

// syncChain makes one of our chains hold exactly want's rules, creating it if need
// be, and then makes sure its jump exists. The jump comes last so that a new chain is
// filled before any packet reaches it.
func (f *Firewall) syncChain(t Table, fam family, want chainRules) error {
	def := want.def
	where := fam.name + " " + def.String()
	exists, err := chainExists(t, fam, def)
	if err != nil {
		return err
	}
	if !exists {
		if err := t.NewChain(def.table, def.name); err != nil {
			return fmt.Errorf("%s: creating chain: %w", where, err)
		}
		f.log.Info("created chain", "event", "chain-created", "family", fam.name, "chain", def.String())
	}

	var errs []error
	if err := f.applyRules(t, fam, want); err != nil {
		errs = append(errs, err)
	}
	// Even a chain whose update failed holds only rules we want, so the jump to it
	// is still right.
	if err := f.ensureJump(t, fam, def); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// applyRules applies the diff between our chain and want. It stops at the first
// failed command: the later ops' positions assume the earlier ones happened. The
// next Sync lists the chain again and carries on from there.
func (f *Firewall) applyRules(t Table, fam family, want chainRules) error {
	def := want.def
	where := fam.name + " " + def.String()
	listed, err := t.List(def.table, def.name)
	if err != nil {
		return fmt.Errorf("%s: listing rules: %w", where, err)
	}
	added, deleted := 0, 0
	defer func() {
		if added+deleted > 0 {
			f.log.Info("updated chain", "event", "rules-changed", "family", fam.name, "chain", def.String(), "added", added, "deleted", deleted)
		}
	}()
	for _, op := range diffRules(def.name, listed, want.rules) {
		switch {
		case op.delete:
			if err := t.Delete(def.table, def.name, op.spec...); err != nil {
				return fmt.Errorf("%s: deleting rule %s: %w", where, formatRule(op.spec), err)
			}
			deleted++
		case op.pos == 0:
			if err := t.Append(def.table, def.name, op.spec...); err != nil {
				return fmt.Errorf("%s: appending rule %s: %w", where, formatRule(op.spec), err)
			}
			added++
		default:
			if err := t.Insert(def.table, def.name, op.pos, op.spec...); err != nil {
				return fmt.Errorf("%s: inserting rule %s at %d: %w", where, formatRule(op.spec), op.pos, err)
			}
			added++
		}
	}
	return nil
}

// ensureJump checks (-C) for the jump to our chain and inserts it at position 1 of
// the built-in chain when it is missing. Nothing else in the built-in chain is
// touched.
func (f *Firewall) ensureJump(t Table, fam family, def chainDef) error {
	where := fmt.Sprintf("%s %s/%s", fam.name, def.table, def.hook)
	ok, err := t.Exists(def.table, def.hook, def.jump()...)
	if err != nil {
		return fmt.Errorf("%s: checking jump %s: %w", where, formatRule(def.jump()), err)
	}
	if ok {
		return nil
	}
	if err := t.Insert(def.table, def.hook, 1, def.jump()...); err != nil {
		return fmt.Errorf("%s: inserting jump %s at 1: %w", where, formatRule(def.jump()), err)
	}
	f.log.Info("inserted jump", "event", "jump-inserted", "family", fam.name, "chain", def.table+"/"+def.hook, "target", def.name)
	return nil
}

// removeChain deletes every jump to one of our chains, then the chain. A chain that
// does not exist is not an error. Each step needs the one before (a chain still
// jumped to cannot be deleted), so it stops at the first failure.
func (f *Firewall) removeChain(t Table, fam family, def chainDef) error {
	where := fam.name + " " + def.String()
	exists, err := chainExists(t, fam, def)
	if err != nil || !exists {
		return err
	}
	listed, err := t.List(def.table, def.hook)
	if err != nil {
		return fmt.Errorf("%s: listing %s: %w", where, def.hook, err)
	}
	for _, jump := range jumpsTo(def.hook, def.name, listed) {
		if err := t.Delete(def.table, def.hook, jump...); err != nil {
			return fmt.Errorf("%s: deleting jump %s from %s: %w", where, formatRule(jump), def.hook, err)
		}
	}
	if err := t.ClearChain(def.table, def.name); err != nil {
		return fmt.Errorf("%s: flushing chain: %w", where, err)
	}
	if err := t.DeleteChain(def.table, def.name); err != nil {
		return fmt.Errorf("%s: deleting chain: %w", where, err)
	}
	f.log.Info("removed chain", "event", "chain-removed", "family", fam.name, "chain", def.String())
	return nil
}

func chainExists(t Table, fam family, def chainDef) (bool, error) {
	chains, err := t.ListChains(def.table)
	if err != nil {
		return false, fmt.Errorf("%s: listing chains of table %s: %w", fam.name, def.table, err)
	}
	return slices.Contains(chains, def.name), nil
}
