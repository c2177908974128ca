package lab

import "fmt"

// FRRCommand is the command line that runs one daemon of an FRR instance
// kept in dir ("zebra" or "bgpd", reading config in dir), the way the lab's
// ToRs run theirs: as root in the foreground, logging to stdout, every path
// (pid file, zserv and vty sockets) inside dir. Harnesses that wire their
// own ToR network (the cluster lab, e2e/cluster) start FRR with it and then
// read it through a ToR value whose Name and Dir are theirs: Vtysh,
// BGPTable and Neighbors need nothing else.
func FRRCommand(daemon, dir, config string) ([]string, error) {
	if err := checkFRR(); err != nil {
		return nil, err
	}
	switch daemon {
	case "zebra":
		return frrArgs(frrZebra, dir, config), nil
	case "bgpd":
		return frrArgs(frrBgpd, dir, config), nil
	}
	return nil, fmt.Errorf("FRR daemon %q: want zebra or bgpd", daemon)
}
