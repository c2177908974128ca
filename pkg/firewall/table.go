package firewall

import "github.com/coreos/go-iptables/iptables"

// Table is the part of go-iptables the firewall uses, for one IP family; it is the
// seam unit tests replace. *iptables.IPTables implements it.
type Table interface {
	ListChains(table string) ([]string, error)
	NewChain(table, chain string) error
	ClearChain(table, chain string) error
	DeleteChain(table, chain string) error
	List(table, chain string) ([]string, error)
	Exists(table, chain string, rulespec ...string) (bool, error)
	Insert(table, chain string, pos int, rulespec ...string) error
	Append(table, chain string, rulespec ...string) error
	Delete(table, chain string, rulespec ...string) error
	HasRandomFully() bool
}

var _ Table = (*iptables.IPTables)(nil)

// lockWaitSeconds bounds how long one iptables command waits for the xtables lock.
// go-iptables passes it as `--wait 5`; a bare --wait would wait forever, and a stuck
// lock holder would hang the agent's loop. A timeout fails the command (exit status
// 4), Sync returns the error, and the caller's next Sync tries again.
const lockWaitSeconds = 5

// goIPTables opens the real iptables for a family. go-iptables execs the binary at
// path, or else `iptables` / `ip6tables` found on PATH, and that binary decides the
// backend: on Debian it is an alternatives link to iptables-nft (the default) or
// iptables-legacy, so an IPTablesPath of iptables-legacy picks legacy. Rules must
// go to the backend the host's other tools (kube-proxy, Docker) use; the image is
// to pick the host's mode, the agent only takes the path. Only the legacy backend
// takes the xtables lock; iptables-nft accepts --wait and ignores it, as nftables
// changes are atomic transactions in the kernel.
func goIPTables(v4Path, v6Path string) func(iptables.Protocol) (Table, error) {
	return func(proto iptables.Protocol) (Table, error) {
		path := v4Path
		if proto == iptables.ProtocolIPv6 {
			path = v6Path
		}
		// An empty Path makes go-iptables look the binary up on PATH.
		return iptables.New(iptables.IPFamily(proto), iptables.Timeout(lockWaitSeconds), iptables.Path(path))
	}
}
