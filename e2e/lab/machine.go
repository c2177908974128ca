package lab

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"
)

// Machine names what a benchmark's figures were measured on, which they
// mean little without: CPUs, CPU model, kernel, the load average at the
// time (the lab machines are shared) and the date.
func Machine() string {
	kernel, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		kernel = []byte("unknown")
	}
	load := "unknown"
	if data, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(data)); len(f) >= 3 {
			load = strings.Join(f[:3], ",")
		}
	}
	return fmt.Sprintf("nproc=%d cpu=%q kernel=%s loadavg=%s date=%s",
		runtime.NumCPU(), cpuModel(), strings.TrimSpace(string(kernel)), load, time.Now().UTC().Format(time.RFC3339))
}

func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}
