package memlimit

import (
	"runtime/debug"
	"testing"
	"testing/fstest"
)

func TestCgroupLimit(t *testing.T) {
	const mib = 1 << 20
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	tests := []struct {
		name        string
		files       fstest.MapFS
		want        int64
		wantVersion string
	}{
		{
			name: "v2 in a cgroup namespace: the container's own limit",
			files: fstest.MapFS{
				"proc/self/cgroup":            file("0::/\n"),
				"sys/fs/cgroup/memory.max":    file("536870912\n"),
				"sys/fs/cgroup/memory.events": file(""),
			},
			want: 512 * mib, wantVersion: "cgroup v2",
		},
		{
			name: "v2 without a namespace: the smallest of the cgroup and its ancestors",
			files: fstest.MapFS{
				"proc/self/cgroup":                           file("0::/kubepods/pod1/ctr\n"),
				"sys/fs/cgroup/kubepods/pod1/ctr/memory.max": file("max\n"),
				"sys/fs/cgroup/kubepods/pod1/memory.max":     file("268435456\n"),
				"sys/fs/cgroup/kubepods/memory.max":          file("1073741824\n"),
			},
			want: 256 * mib, wantVersion: "cgroup v2",
		},
		{
			name: "v2 without a limit",
			files: fstest.MapFS{
				"proc/self/cgroup":         file("0::/\n"),
				"sys/fs/cgroup/memory.max": file("max\n"),
			},
		},
		{
			name: "v1 memory controller, among others",
			files: fstest.MapFS{
				"proc/self/cgroup": file("12:cpu,cpuacct:/x\n5:memory:/kubepods/pod1/ctr\n0::/\n"),
				"sys/fs/cgroup/memory/kubepods/pod1/ctr/memory.limit_in_bytes": file("402653184\n"),
				"sys/fs/cgroup/memory/memory.limit_in_bytes":                   file("9223372036854771712\n"),
			},
			want: 384 * mib, wantVersion: "cgroup v1",
		},
		{
			name: "v1 unlimited",
			files: fstest.MapFS{
				"proc/self/cgroup":                           file("5:memory:/\n"),
				"sys/fs/cgroup/memory/memory.limit_in_bytes": file("9223372036854771712\n"),
			},
		},
		{
			name:  "no cgroup at all",
			files: fstest.MapFS{},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, version, err := cgroupLimit(tc.files)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want || version != tc.wantVersion {
				t.Fatalf("cgroupLimit = %d (%q), want %d (%q)", got, version, tc.want, tc.wantVersion)
			}
		})
	}
}

func TestGOMEMLIMITWins(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "100MiB")
	res, err := Set()
	if err != nil || res.Source != "GOMEMLIMIT" {
		t.Fatalf("Set = %+v, %v; want the environment's limit left alone", res, err)
	}
}

func TestGCPercentIsTheDefaultUnlessGOGCIsSet(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	tests := []struct {
		name, gogc  string
		wantPercent int
		wantSource  string
	}{
		{"unset: the agent's default", "", GCPercent, "default"},
		{"GOGC=200 wins", "200", 200, "GOGC"},
		{"GOGC=off wins", "off", -1, "GOGC"},
		{"GOGC=0 wins", "0", 0, "GOGC"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("GOGC", tt.gogc)
			// What the runtime does with GOGC at start.
			switch tt.gogc {
			case "off":
				debug.SetGCPercent(-1)
			case "200":
				debug.SetGCPercent(200)
			case "0":
				debug.SetGCPercent(0)
			default:
				debug.SetGCPercent(100)
			}
			percent, source := SetGCPercent()
			if percent != tt.wantPercent || source != tt.wantSource {
				t.Fatalf("SetGCPercent() = %d, %q; want %d, %q", percent, source, tt.wantPercent, tt.wantSource)
			}
			if now := debug.SetGCPercent(100); now != tt.wantPercent {
				t.Fatalf("the runtime's heap growth is %d, want %d", now, tt.wantPercent)
			}
		})
	}
}
