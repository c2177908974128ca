package lab

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// modulePath names the repository's root module; RepoRoot stops at its go.mod and
// not at the nested tool modules under e2e/tools.
const modulePath = "github.com/nodebgp/router"

// Tools are the absolute paths of the binaries the lab runs.
type Tools struct {
	Dir           string // the tool cache, $TOOLS_DIR or <repo>/.cache/tools
	KubeAPIServer string
	Kubectl       string
	Gobgp         string
	CNIBinDir     string // bridge, host-local, portmap, loopback
	Router        string // the agent, <repo>/_output/bin/router
}

// FindTools locates the lab's binaries and reports every missing one with the
// make target that builds it, so a failed run says what to do next.
func FindTools(repoRoot string) (Tools, error) {
	dir := os.Getenv("TOOLS_DIR")
	switch {
	case dir == "":
		dir = filepath.Join(repoRoot, ".cache", "tools")
	case !filepath.IsAbs(dir):
		dir = filepath.Join(repoRoot, dir)
	}
	t := Tools{
		Dir:           dir,
		KubeAPIServer: filepath.Join(dir, "bin", "kube-apiserver"),
		Kubectl:       filepath.Join(dir, "bin", "kubectl"),
		Gobgp:         filepath.Join(dir, "bin", "gobgp"),
		CNIBinDir:     filepath.Join(dir, "cni"),
		Router:        filepath.Join(repoRoot, "_output", "bin", "router"),
	}
	required := []struct{ path, target string }{
		{t.KubeAPIServer, "make tools"},
		{t.Kubectl, "make tools"},
		{t.Gobgp, "make tools"},
		{filepath.Join(t.CNIBinDir, "bridge"), "make tools"},
		{filepath.Join(t.CNIBinDir, "host-local"), "make tools"},
		{filepath.Join(t.CNIBinDir, "portmap"), "make tools"},
		{filepath.Join(t.CNIBinDir, "loopback"), "make tools"},
		{t.Router, "make build"},
	}
	var errs []error
	for _, r := range required {
		if err := checkExecutable(r.path); err != nil {
			errs = append(errs, fmt.Errorf("%w (built by `%s`)", err, r.target))
		}
	}
	if len(errs) > 0 {
		return t, fmt.Errorf("lab tools missing: %w", errors.Join(errs...))
	}
	return t, nil
}

func checkExecutable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("tool %s: %w", path, err)
	}
	if fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("tool %s: not an executable file", path)
	}
	return nil
}

// RepoRoot walks up from the working directory to the go.mod of the root module,
// so tests (run from their package dir) and the lab binary (run from anywhere in
// the tree) find the same paths.
func RepoRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("finding repository root: %w", err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		mod, err := goModModule(filepath.Join(dir, "go.mod"))
		if err == nil && mod == modulePath {
			return dir, nil
		}
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("finding repository root: %w", err)
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("finding repository root: no go.mod of module %s above %s", modulePath, wd)
		}
	}
}

// goModModule returns the module path declared in a go.mod file.
func goModModule(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "module "); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`), nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("reading %s: %w", path, err)
	}
	return "", nil
}
