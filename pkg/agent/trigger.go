package agent

// trigger is a level-triggered poke: any number of pokes before the loop gets to
// run collapse into one pass, so a burst of events costs one reconcile.
type trigger chan struct{}

func newTrigger() trigger { return make(trigger, 1) }

// poke marks work without ever blocking the caller (informer handlers, GoBGP's
// watch callback and netlink subscriptions must not stall on a busy loop).
func (t trigger) poke() {
	select {
	case t <- struct{}{}:
	default:
	}
}
