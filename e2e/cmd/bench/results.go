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
	// The largest of the agent's RSS samples over both measures, and which
	// measure it fell in.
	agentPeakSample rssSample
	agentPeakPhase  string
	// The agent's CPU time (user + system) during each measure, and its
	// route passes and GC cycles.
	installCPU, withdrawCPU       float64
	installPasses, withdrawPasses passCounts
	// With -agent-memory-max: the cgroup's limit, its peak charge and how
	// often the agent hit the limit.
	cgroupLimitMiB, cgroupPeakMiB float64
	cgroupHits                    int64
	anchors                       []anchorResult
}

func (r results) print(w io.Writer) {
	line := func(name string, agent convergence, inject, ref time.Duration, cpu float64, passes passCounts) {
		fmt.Fprintf(w, "%s n=%d agent_s=%.3f ip_batch_s=%.3f ratio=%.1f first_s=%.3f inject_s=%.3f poll_ms=%d agent_cpu_s=%.2f %s\n",
			name, r.routes, agent.Done.Seconds(), ref.Seconds(), agent.Done.Seconds()/ref.Seconds(),
			agent.First.Seconds(), inject.Seconds(), agent.Step.Milliseconds(), cpu, passes.fields())
	}
	line("route-install", r.install, r.injectAnnounce, r.refAdd, r.installCPU, r.installPasses)
	line("route-withdraw", r.withdraw, r.injectWithdraw, r.refDel, r.withdrawCPU, r.withdrawPasses)
	fmt.Fprintf(w, "agent-memory agent_peak_rss_mib=%.1f agent_rss_before_mib=%.1f %s peak_during=%s\n",
		float64(r.agentPeakKiB)/1024, float64(r.agentBeforeKiB)/1024, r.agentPeakSample.fields(), r.agentPeakPhase)
	if r.cgroupLimitMiB > 0 {
		fmt.Fprintf(w, "agent-cgroup limit_mib=%.0f peak_charge_mib=%.1f limit_hits=%d\n", r.cgroupLimitMiB, r.cgroupPeakMiB, r.cgroupHits)
	}
	for _, a := range r.anchors {
		fmt.Fprintf(w, "anchor name=%q n=%d install_s=%.3f withdraw_s=%.3f first_install_s=%.3f first_withdraw_s=%.3f peak_rss_mib=%.1f %s peak_during=%s install_cpu_s=%.2f withdraw_cpu_s=%.2f kernel=%t\n",
			a.name, r.routes, a.install.Done.Seconds(), a.withdraw.Done.Seconds(), a.install.First.Seconds(), a.withdraw.First.Seconds(),
			float64(a.peakKiB)/1024, a.peakSample.fields(), a.peakPhase, a.installCPU, a.withdrawCPU, a.kernel)
	}
	r.table(w)
}

// table prints every speaker of the run side by side.
func (r results) table(w io.Writer) {
	fmt.Fprintf(w, "\n| speaker (n=%d) | install s | withdraw s | peak RSS MiB | anon / file MiB at the sampled peak | CPU s install / withdraw |\n|---|---|---|---|---|---|\n", r.routes)
	fmt.Fprintf(w, "| ip -batch (kernel floor) | %.3f | %.3f | - | - | - |\n", r.refAdd.Seconds(), r.refDel.Seconds())
	for _, a := range r.anchors {
		name := a.name
		if !a.kernel {
			name += ", no kernel"
		}
		fmt.Fprintf(w, "| %s | %.3f | %.3f | %.1f | %s | %.2f / %.2f |\n", name, a.install.Done.Seconds(), a.withdraw.Done.Seconds(), float64(a.peakKiB)/1024, a.peakSample.split(), a.installCPU, a.withdrawCPU)
	}
	fmt.Fprintf(w, "| nodebgp router run | %.3f | %.3f | %.1f | %s | %.2f / %.2f |\n", r.install.Done.Seconds(), r.withdraw.Done.Seconds(), float64(r.agentPeakKiB)/1024, r.agentPeakSample.split(), r.installCPU, r.withdrawCPU)
}

// fields prints a sample as the output lines' key=value pairs.
func (s rssSample) fields() string {
	return fmt.Sprintf("sampled_peak_rss_mib=%.1f rss_anon_mib=%.1f rss_file_mib=%.1f rss_shmem_mib=%.1f",
		mib(s.rss), mib(s.anon), mib(s.file), mib(s.shmem))
}

// split prints a sample's anonymous and file pages for the table.
func (s rssSample) split() string {
	return fmt.Sprintf("%.1f / %.1f", mib(s.anon), mib(s.file))
}
