package cniinstall

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Version is a plugin's semantic version as the plugin reports it.
type Version struct {
	Major, Minor, Patch uint64
	// Pre is the pre-release part without its "-" ("rc.1"); "" for a release.
	Pre string
	raw string
}

// semverRE accepts SemVer 2.0.0 with an optional leading "v", as the CNI
// plugins print it (buildversion.BuildVersion is a git tag, "v1.9.0").
var semverRE = regexp.MustCompile(`^v?(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)` +
	`(?:-((?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*))*))?` +
	`(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$`)

// ParseVersion parses "v1.9.0", "1.9.0", "v1.10.0-rc.1+build.5".
func ParseVersion(s string) (Version, error) {
	m := semverRE.FindStringSubmatch(s)
	if m == nil {
		return Version{}, fmt.Errorf("%q is not a semantic version", s)
	}
	var nums [3]uint64
	for i := range nums {
		n, err := strconv.ParseUint(m[i+1], 10, 64)
		if err != nil {
			return Version{}, fmt.Errorf("%q is not a semantic version: %w", s, err)
		}
		nums[i] = n
	}
	return Version{Major: nums[0], Minor: nums[1], Patch: nums[2], Pre: m[4], raw: s}, nil
}

// String is the version as the plugin printed it.
func (v Version) String() string { return v.raw }

// Compare orders versions by SemVer precedence: -1, 0 or +1. Build metadata
// is ignored; a pre-release sorts before its release.
func (v Version) Compare(o Version) int {
	for _, c := range [][2]uint64{{v.Major, o.Major}, {v.Minor, o.Minor}, {v.Patch, o.Patch}} {
		if c[0] != c[1] {
			if c[0] < c[1] {
				return -1
			}
			return 1
		}
	}
	switch {
	case v.Pre == o.Pre:
		return 0
	case v.Pre == "":
		return 1
	case o.Pre == "":
		return -1
	}
	a, b := strings.Split(v.Pre, "."), strings.Split(o.Pre, ".")
	for i := 0; i < len(a) && i < len(b); i++ {
		if c := comparePreField(a[i], b[i]); c != 0 {
			return c
		}
	}
	return cmpInt(len(a), len(b))
}

// comparePreField compares two pre-release identifiers: numeric ones
// numerically and below alphanumeric ones, which compare as ASCII.
func comparePreField(a, b string) int {
	na, errA := strconv.ParseUint(a, 10, 64)
	nb, errB := strconv.ParseUint(b, 10, 64)
	switch {
	case errA == nil && errB == nil:
		if na == nb {
			return 0
		}
		if na < nb {
			return -1
		}
		return 1
	case errA == nil:
		return -1
	case errB == nil:
		return 1
	}
	return strings.Compare(a, b)
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// versionReading is what asking a plugin for its version gave: a version,
// or why there is none (Raw: what it printed, or the exec error).
type versionReading struct {
	Version Version
	OK      bool
	Raw     string
}

// versionOf parses a plugin's answer to being run without CNI_COMMAND:
// "CNI bridge plugin v1.9.0" (then a line of supported CNI versions).
func versionOf(output string) versionReading {
	for _, line := range strings.Split(output, "\n") {
		line = strings.TrimSpace(line)
		fields := strings.Fields(line)
		if len(fields) != 4 || fields[0] != "CNI" || fields[2] != "plugin" {
			continue
		}
		v, err := ParseVersion(fields[3])
		if err != nil {
			return versionReading{Raw: fields[3]}
		}
		return versionReading{Version: v, OK: true}
	}
	first, _, _ := strings.Cut(strings.TrimSpace(output), "\n")
	return versionReading{Raw: truncate(first, 60)}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// maxVersionOutput bounds what is kept of a plugin's answer; the version is
// on its first line.
const maxVersionOutput = 4096

// readVersion runs the plugin at path with no CNI_* environment, which makes
// a CNI plugin print its version and exit, and gives up after timeout.
func readVersion(ctx context.Context, path string, timeout time.Duration) versionReading {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// Absolute, because the plugin runs in "/" and a relative path would
	// then name another file.
	abs, err := filepath.Abs(path)
	if err != nil {
		return versionReading{Raw: err.Error()}
	}
	cmd := exec.CommandContext(ctx, abs)
	cmd.Env = withoutCNIEnv(os.Environ())
	cmd.Dir = "/"
	out := &headBuffer{max: maxVersionOutput}
	cmd.Stdout, cmd.Stderr = out, out
	// A child that the plugin left holding the output pipe must not keep us
	// waiting past the timeout.
	cmd.WaitDelay = time.Second
	err = cmd.Run()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return versionReading{Raw: fmt.Sprintf("no answer within %s", timeout)}
	}
	r := versionOf(out.String())
	if !r.OK && r.Raw == "" && err != nil {
		r.Raw = err.Error()
	}
	return r
}

// withoutCNIEnv drops CNI_* variables: with CNI_COMMAND set, a plugin would
// try to act on a container instead of printing its version.
func withoutCNIEnv(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		if !strings.HasPrefix(kv, "CNI_") {
			out = append(out, kv)
		}
	}
	return out
}

// headBuffer keeps the first max bytes written to it and drops the rest
// without failing the writer.
type headBuffer struct {
	buf bytes.Buffer
	max int
}

func (h *headBuffer) Write(p []byte) (int, error) {
	if room := h.max - h.buf.Len(); room > 0 {
		h.buf.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

func (h *headBuffer) String() string { return h.buf.String() }
