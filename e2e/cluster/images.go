package cluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// ToolsImage is the lab's one image of its own: the sandbox (pause) process
// and a static busybox (sh, httpd, nc, wget, ping) for the test workloads. It
// is made here (podman import of a two-file rootfs), because no registry is
// reachable from this machine.
const ToolsImage = "nodebgp.lab/tools:v1"

// buildImages writes the docker archives every node imports: the tools image
// and, when set, the router image exactly as `make image` tagged it, so the
// manifests' own image reference resolves on the nodes.
func (c *Cluster) buildImages(ctx context.Context) error {
	dir := filepath.Join(c.Dir, "images")
	rootfs := filepath.Join(dir, "rootfs")
	if err := os.MkdirAll(filepath.Join(rootfs, "bin"), 0o755); err != nil {
		return err
	}
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		return fmt.Errorf("the tools image needs a static busybox (apt-get install busybox-static; make deps does it): %w", err)
	}
	if err := copyFile(busybox, filepath.Join(rootfs, "bin", "busybox"), 0o755); err != nil {
		return err
	}
	if err := copyFile(c.Tools.Pause, filepath.Join(rootfs, "pause"), 0o755); err != nil {
		return err
	}
	for _, app := range []string{"sh", "httpd", "nc", "wget", "ping", "sleep", "cat", "echo", "ip", "hostname", "ls", "mkdir", "true"} {
		if err := os.Symlink("busybox", filepath.Join(rootfs, "bin", app)); err != nil && !os.IsExist(err) {
			return err
		}
	}
	rootTar := filepath.Join(dir, "tools-rootfs.tar")
	toolsTar := filepath.Join(dir, "tools.tar")
	routerTar := filepath.Join(dir, "router.tar")
	cmds := [][]string{
		{"tar", "--numeric-owner", "--owner=0", "--group=0", "-C", rootfs, "-cf", rootTar, "."},
		{"podman", "import", "--change", `CMD ["/pause"]`, "--change", "ENV PATH=/bin", rootTar, ToolsImage},
		{"podman", "save", "--format", "docker-archive", "-o", toolsTar, ToolsImage},
	}
	_ = os.Remove(toolsTar)
	_ = os.Remove(routerTar)
	if c.RouterImage != "" {
		cmds = append(cmds, []string{"podman", "save", "--format", "docker-archive", "-o", routerTar, c.RouterImage})
	}
	start := time.Now()
	for _, argv := range cmds {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		out, err := exec.CommandContext(cctx, argv[0], argv[1:]...).CombinedOutput()
		cancel()
		if err != nil {
			msg := strings.TrimSpace(string(out))
			if argv[1] == "save" && argv[len(argv)-1] == c.RouterImage {
				msg += " (build it first: make image)"
			}
			return fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, msg)
		}
	}
	c.logf("images: %s%s saved for the nodes in %v", ToolsImage, map[bool]string{true: ", " + c.RouterImage, false: ""}[c.RouterImage != ""], time.Since(start).Round(time.Millisecond))
	return nil
}

// images lists the archives a node imports.
func (c *Cluster) images() []string {
	out := []string{filepath.Join(c.Dir, "images", "tools.tar")}
	if c.RouterImage != "" {
		out = append(out, filepath.Join(c.Dir, "images", "router.tar"))
	}
	return out
}

// TagImage gives an image on every running node a second name, as a push of
// a new tag to a registry would (the DaemonSet rolling update uses it), and
// on nodes that join later too.
func (c *Cluster) TagImage(ctx context.Context, src, dst string, nodes []string) error {
	c.extraTags = append(c.extraTags, [2]string{src, dst})
	for _, n := range nodes {
		if out, err := c.InNode(ctx, n, "ctr", "-n", "k8s.io", "images", "tag", "--force", src, dst); err != nil {
			return fmt.Errorf("node %s: tagging %s as %s: %w: %s", n, src, dst, err, out)
		}
	}
	return nil
}

func copyFile(src, dst string, mode os.FileMode) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	tmp := dst + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	return os.Rename(tmp, dst)
}
