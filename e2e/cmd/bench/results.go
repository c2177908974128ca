package main

import (
	"fmt"
	"io"
	"time"
)

// results are one run's figures.
type results struct {
	routes                       int
	install, withdraw            convergence
	injectAnnounce               time.Duration // GoBGP in the injector accepting the paths
	injectWithdraw               time.Duration
	refAdd, refDel               time.Duration
	agentPeakKiB, agentBeforeKiB int // VmHWM at the end, VmRSS before the announce
	// The agent's CPU time (user + system) during each measure.
	installCPU, withdrawCPU float64
}

func (r results) print(w io.Writer) {
	line := func(name string, agent convergence, inject, ref time.Duration, cpu float64) {
		fmt.Fprintf(w, "%s n=%d agent_s=%.3f ip_batch_s=%.3f ratio=%.1f first_s=%.3f inject_s=%.3f poll_ms=%d agent_cpu_s=%.2f\n",
			name, r.routes, agent.Done.Seconds(), ref.Seconds(), agent.Done.Seconds()/ref.Seconds(),
			agent.First.Seconds(), inject.Seconds(), agent.Step.Milliseconds(), cpu)
	}
	line("route-install", r.install, r.injectAnnounce, r.refAdd, r.installCPU)
	line("route-withdraw", r.withdraw, r.injectWithdraw, r.refDel, r.withdrawCPU)
	fmt.Fprintf(w, "agent-memory agent_peak_rss_mib=%.1f agent_rss_before_mib=%.1f\n",
		float64(r.agentPeakKiB)/1024, float64(r.agentBeforeKiB)/1024)
}
