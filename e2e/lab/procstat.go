package lab

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ProcStatusKiB reads a kB field of /proc/<pid>/status, such as VmHWM (the peak
// resident set) or VmRSS.
func ProcStatusKiB(pid int, field string) (int, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("reading %s of pid %d: %w", field, pid, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || k != field {
			continue
		}
		kib, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
		if err != nil {
			return 0, fmt.Errorf("reading %s of pid %d: %q: %w", field, pid, v, err)
		}
		return kib, nil
	}
	return 0, fmt.Errorf("reading %s of pid %d: no such field", field, pid)
}

// ProcessName is /proc/<pid>/comm, to check a pid is the process we think.
func ProcessName(pid int) string {
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(comm))
}

// userHZ is the unit of the CPU times in /proc/<pid>/stat: USER_HZ, which
// Linux fixes at 100 for everything it shows user space.
const userHZ = 100

// ProcCPUSeconds is the user plus system CPU time pid has used so far.
func ProcCPUSeconds(pid int) (float64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("reading the CPU time of pid %d: %w", pid, err)
	}
	return parseCPUSeconds(string(data))
}

// parseCPUSeconds reads utime and stime (fields 14 and 15) of a
// /proc/<pid>/stat line. The command name (field 2) is in parentheses and
// may hold spaces, so the fields are counted from the last ')'.
func parseCPUSeconds(stat string) (float64, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("reading /proc stat %q: no command name", stat)
	}
	fields := strings.Fields(stat[i+1:])
	// fields[0] is field 3 (state): utime is field 14, stime field 15.
	if len(fields) < 13 {
		return 0, fmt.Errorf("reading /proc stat %q: %d fields after the name", stat, len(fields))
	}
	var total float64
	for _, f := range fields[11:13] {
		ticks, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("reading /proc stat %q: %w", stat, err)
		}
		total += float64(ticks) / userHZ
	}
	return total, nil
}
