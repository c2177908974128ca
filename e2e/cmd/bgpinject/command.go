package main

import (
	"fmt"
	"strconv"
	"strings"
)

// command is one line of stdin, parsed: announce or withdraw, of every
// prefix or of a range of them.
type command struct {
	verb string // "announce" or "withdraw"
	// rng, when set, names the prefixes; otherwise the command is about
	// every prefix.
	rng *pathRange
}

// pathRange is count prefixes from index from of the list, wrapping past its
// end back to the start: a churn that rotates through the table names each
// slice by where it starts.
type pathRange struct {
	from, count, total int
}

// parseCommand reads "announce", "withdraw", or either followed by
// "<from> <count>" over a list of total prefixes.
func parseCommand(line string, total int) (command, error) {
	f := strings.Fields(line)
	if len(f) == 0 {
		return command{}, nil
	}
	if f[0] != "announce" && f[0] != "withdraw" {
		return command{}, fmt.Errorf("unknown command %q (announce, withdraw, or either with <from> <count>)", line)
	}
	c := command{verb: f[0]}
	switch len(f) {
	case 1:
		return c, nil
	case 3:
	default:
		return command{}, fmt.Errorf("command %q: want %s or %s <from> <count>", line, f[0], f[0])
	}
	from, err := strconv.Atoi(f[1])
	if err != nil || from < 0 || from >= total {
		return command{}, fmt.Errorf("command %q: from %q must be an index 0..%d", line, f[1], total-1)
	}
	count, err := strconv.Atoi(f[2])
	if err != nil || count < 1 || count > total {
		return command{}, fmt.Errorf("command %q: count %q must be 1..%d", line, f[2], total)
	}
	c.rng = &pathRange{from: from, count: count, total: total}
	return c, nil
}

// answer is the word that starts the line reporting c done.
func (c command) answer() string {
	if c.verb == "withdraw" {
		return "withdrawn"
	}
	return "announced"
}

// pick returns the elements of s (of length r.total) that r names, in order.
func pick[T any](r pathRange, s []T) []T {
	out := make([]T, 0, r.count)
	end := r.from + r.count
	out = append(out, s[r.from:min(end, r.total)]...)
	if end > r.total {
		out = append(out, s[:end-r.total]...)
	}
	return out
}
