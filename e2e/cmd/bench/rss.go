package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// rssInterval is how often rssPeak reads /proc/<pid>/status: a read costs
// tens of microseconds, and the peak of a 100,000-route measure lasts
// seconds.
const rssInterval = 50 * time.Millisecond

// rssSample is what a process has resident at one moment, in KiB
// (/proc/<pid>/status): VmRSS is RssAnon + RssFile + RssShmem. RssAnon is
// the heap, stacks and runtime; RssFile is mostly the binary's own pages.
type rssSample struct {
	rss, anon, file, shmem int
}

func (s rssSample) add(o rssSample) rssSample {
	return rssSample{rss: s.rss + o.rss, anon: s.anon + o.anon, file: s.file + o.file, shmem: s.shmem + o.shmem}
}

// parseRSS reads the four fields of rssSample from a /proc/<pid>/status.
func parseRSS(status string) (rssSample, error) {
	var s rssSample
	fields := map[string]*int{"VmRSS": &s.rss, "RssAnon": &s.anon, "RssFile": &s.file, "RssShmem": &s.shmem}
	found := 0
	sc := bufio.NewScanner(strings.NewReader(status))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		dst := fields[k]
		if !ok || dst == nil {
			continue
		}
		kib, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
		if err != nil {
			return s, fmt.Errorf("%s: %q: %w", k, v, err)
		}
		*dst = kib
		found++
	}
	if found != len(fields) {
		return s, fmt.Errorf("%d of the fields VmRSS, RssAnon, RssFile, RssShmem found", found)
	}
	return s, nil
}

// readRSS is the sum of the processes' resident memory now.
func readRSS(pids ...int) (rssSample, error) {
	var sum rssSample
	for _, pid := range pids {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			return sum, fmt.Errorf("reading the RSS of pid %d: %w", pid, err)
		}
		s, err := parseRSS(string(data))
		if err != nil {
			return sum, fmt.Errorf("reading the RSS of pid %d: %w", pid, err)
		}
		sum = sum.add(s)
	}
	return sum, nil
}

// rssPeak samples processes every rssInterval and keeps the sample with
// the most resident, and the phase it fell in: how the peak splits into
// anonymous and file pages, which VmHWM does not tell. Its VmRSS is at most
// VmHWM (a peak between two samples is missed).
type rssPeak struct {
	pids     []int
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}

	mu        sync.Mutex
	phase     string
	peak      rssSample
	peakPhase string
	err       error
}

func startRSSPeak(phase string, pids ...int) *rssPeak {
	p := &rssPeak{pids: pids, phase: phase, stop: make(chan struct{}), done: make(chan struct{})}
	go p.run()
	return p
}

func (p *rssPeak) run() {
	defer close(p.done)
	t := time.NewTicker(rssInterval)
	defer t.Stop()
	for {
		s, err := readRSS(p.pids...)
		p.mu.Lock()
		if err != nil {
			p.err = err
			p.mu.Unlock()
			return
		}
		if s.rss > p.peak.rss {
			p.peak, p.peakPhase = s, p.phase
		}
		p.mu.Unlock()
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
	}
}

// setPhase names the samples from now on (install, withdraw).
func (p *rssPeak) setPhase(phase string) {
	p.mu.Lock()
	p.phase = phase
	p.mu.Unlock()
}

// end stops the sampling and returns the largest sample and its phase; it
// may be called again (a deferred end on an error path).
func (p *rssPeak) end() (rssSample, string, error) {
	p.stopOnce.Do(func() { close(p.stop) })
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.peak, p.peakPhase, p.err
}
