// Command bgpinject is the benchmark's route source: a BGP speaker that
// peers with one agent and announces, then withdraws, a list of prefixes when
// told to on stdin. `make bench` runs it inside its own network namespace
// (GoBGP's goroutines run on any OS thread, so only a whole process can be
// pinned to a namespace).
//
// The speaker is GoBGP, which sends every prefix in an UPDATE of its own, or
// with -packed a minimal speaker of this command's own that packs as many
// prefixes into each UPDATE as fit, as a router sending a table does.
//
// It reads one command per line on stdin and answers on stdout:
//
//	(on start)  ready                       BGP is up and the peer configured
//	            established                 the session reached Established
//	announce    announced n=<N> s=<secs>    every prefix handed to GoBGP
//	withdraw    withdrawn n=<N> s=<secs>    every prefix withdrawn
//	announce <from> <count>                 the count prefixes from index from,
//	withdraw <from> <count>                 wrapping past the end (a churn's
//	                                        rotating slice); same answers
//	(on error)  error <message>
//
// End of stdin stops the speaker and ends the process, so it never outlives
// the benchmark that started it.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"
)

type flags struct {
	routerID  string
	asn       uint
	peer      string
	peerASN   uint
	nextHop   string
	prefixes  string
	apiAddr   string
	batchSize int
	retry     time.Duration
	packed    bool
	peerPort  int
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bgpinject:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	f := flags{}
	flag.StringVar(&f.routerID, "router-id", "10.199.1.100", "router ID and local address: GoBGP listens on it (port 179), the -packed speaker dials from it")
	flag.UintVar(&f.asn, "asn", 64512, "local ASN")
	flag.StringVar(&f.peer, "peer", "10.199.1.11", "the agent to peer with")
	flag.UintVar(&f.peerASN, "peer-asn", 64512, "the agent's ASN")
	flag.StringVar(&f.nextHop, "next-hop", "10.199.1.100", "next hop of every announced prefix that names none of its own")
	flag.StringVar(&f.prefixes, "prefixes", "", "file with one prefix per line to announce, optionally followed by its own next hop (required)")
	flag.StringVar(&f.apiAddr, "api-address", "127.0.0.1:50061", "GoBGP gRPC API, used only by this process to stream paths in batches")
	flag.IntVar(&f.batchSize, "batch", 1000, "paths per AddPathStream message")
	flag.DurationVar(&f.retry, "connect-retry", 0, "seconds between attempts to open the session (0: GoBGP's default, 120s); a speaker that must dial a peer that starts later wants a short one")
	flag.BoolVar(&f.packed, "packed", false, "send as many prefixes in each UPDATE as fit (about 800 /32s), announcements and withdrawals, as a router sending a table does, instead of GoBGP's one prefix per UPDATE; this speaker dials the peer and does not listen")
	flag.IntVar(&f.peerPort, "peer-port", 179, "with -packed: the peer's BGP port")
	flag.Parse()

	cfg, err := parseConfig(f)
	if err != nil {
		return err
	}
	out := &lineWriter{w: os.Stdout}
	var sp speaker
	if f.packed {
		sp, err = startPacked(ctx, cfg, out)
	} else {
		sp, err = startInjector(ctx, cfg, out)
	}
	if err != nil {
		return err
	}
	defer sp.stop()
	out.printf("ready")
	return serve(ctx, sp, out)
}

// speaker is what the commands drive: GoBGP (injector) or packedSpeaker.
type speaker interface {
	// count is the number of prefixes in the list.
	count() int
	// run carries out one command: how many prefixes it sent, in how long.
	run(ctx context.Context, c command) (int, time.Duration, error)
	stop()
}

func parseConfig(f flags) (config, error) {
	var cfg config
	var err error
	if cfg.routerID, err = netip.ParseAddr(f.routerID); err != nil {
		return cfg, fmt.Errorf("-router-id: %w", err)
	}
	if cfg.peer, err = netip.ParseAddr(f.peer); err != nil {
		return cfg, fmt.Errorf("-peer: %w", err)
	}
	if cfg.nextHop, err = netip.ParseAddr(f.nextHop); err != nil {
		return cfg, fmt.Errorf("-next-hop: %w", err)
	}
	if f.asn == 0 || f.asn > 1<<32-1 || f.peerASN == 0 || f.peerASN > 1<<32-1 {
		return cfg, fmt.Errorf("-asn %d, -peer-asn %d: an ASN is 1..4294967295", f.asn, f.peerASN)
	}
	if f.batchSize < 1 {
		return cfg, fmt.Errorf("-batch %d: must be at least 1", f.batchSize)
	}
	if f.prefixes == "" {
		return cfg, fmt.Errorf("-prefixes: a file of prefixes is required")
	}
	if cfg.prefixes, err = readPrefixes(f.prefixes); err != nil {
		return cfg, err
	}
	cfg.asn, cfg.peerASN = uint32(f.asn), uint32(f.peerASN)
	if f.retry < 0 || f.retry%time.Second != 0 {
		return cfg, fmt.Errorf("-connect-retry %s: whole seconds, at least 0", f.retry)
	}
	if f.peerPort < 1 || f.peerPort > 65535 {
		return cfg, fmt.Errorf("-peer-port %d: a port is 1..65535", f.peerPort)
	}
	cfg.apiAddr, cfg.batchSize, cfg.connectRetry, cfg.peerPort = f.apiAddr, f.batchSize, f.retry, f.peerPort
	return cfg, nil
}

// route is one line of the prefixes file: a prefix and, if the line names
// one, its own next hop (else the -next-hop flag's), as a route reflector
// passes on each node's pod CIDR with that node as next hop.
type route struct {
	prefix  netip.Prefix
	nextHop netip.Addr // zero: the default
}

func readPrefixes(path string) ([]route, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading prefixes: %w", err)
	}
	defer file.Close()
	var out []route
	sc := bufio.NewScanner(file)
	for line := 1; sc.Scan(); line++ {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if len(fields) > 2 {
			return nil, fmt.Errorf("%s:%d: %d fields, want a prefix and at most a next hop", path, line, len(fields))
		}
		p, err := netip.ParsePrefix(fields[0])
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		r := route{prefix: p.Masked()}
		if len(fields) == 2 {
			if r.nextHop, err = netip.ParseAddr(fields[1]); err != nil {
				return nil, fmt.Errorf("%s:%d: next hop: %w", path, line, err)
			}
		}
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return out, nil
}

// serve runs commands from stdin until it ends or ctx is cancelled.
func serve(ctx context.Context, sp speaker, out *lineWriter) error {
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			lines <- strings.TrimSpace(sc.Text())
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case cmd, ok := <-lines:
			if !ok {
				return nil
			}
			c, err := parseCommand(cmd, sp.count())
			if err != nil {
				out.printf("error %v", err)
				continue
			}
			if c.verb == "" {
				continue
			}
			n, took, err := sp.run(ctx, c)
			if err != nil {
				out.printf("error %s: %v", c.verb, err)
				continue
			}
			out.printf("%s n=%d s=%.3f", c.answer(), n, took.Seconds())
		}
	}
}

// run carries out one command.
func (inj *injector) run(ctx context.Context, c command) (int, time.Duration, error) {
	switch {
	case c.rng != nil:
		return inj.streamRange(ctx, *c.rng, c.verb == "withdraw")
	case c.verb == "announce":
		return inj.announce(ctx)
	default:
		return inj.withdraw(ctx)
	}
}

// lineWriter serializes answer lines: the session watcher and the command
// loop both write.
type lineWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lineWriter) printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, format+"\n", args...)
}
