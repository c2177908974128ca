package plan

// TickInputs are what a --routes-sync-period tick of the node loop knows
// cheaply, without reading every Node.
type TickInputs struct {
	// NodeFactsChanged: a Node was added or deleted, or changed an
	// address, pod CIDR or nodebgp.io/ annotation, since the last full pass.
	NodeFactsChanged bool
	// SecretsChanged: a peer password Secret read again now differs.
	SecretsChanged bool
	// LinkMTUChanged: the node link's MTU (which sets the pods' when --mtu
	// is 0) is not the one the last plan used.
	LinkMTUChanged bool
	// LastPassFailed: a step of the last full pass failed, or the node was
	// not yet taking pods; a failed step is retried in full.
	LastPassFailed bool
	// QuietTicks is how many ticks in a row have been quiet so far;
	// FullEvery bounds them: at least every FullEvery-th tick is a full
	// pass (the safety net against drift in GoBGP's state, which only a
	// full pass compares).
	QuietTicks, FullEvery int
}

// QuietTick tells whether a tick may be a quiet pass: the host checks
// (bridge, forwarding, firewall, CNI config) and the session report with the
// last plan, without re-reading every Node, re-planning and diffing the
// speaker's peers, policy and paths — all of which cost in proportion to
// the cluster (~30 MB allocated per pass at 5,000 Nodes) and would find
// nothing to do, since nothing they read has changed. Any change, or a
// failure to retry, makes it a full pass.
func QuietTick(in TickInputs) bool {
	return !in.NodeFactsChanged && !in.SecretsChanged && !in.LinkMTUChanged && !in.LastPassFailed &&
		in.QuietTicks+1 < in.FullEvery
}
