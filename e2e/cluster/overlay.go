package cluster

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// DirectAPIOverlay writes a kustomization on top of base (an overlay such as
// daemonset/overlays/kubeadm) that sets nodebgp-config's api-server-host and
// api-server-port to this cluster's API server, as docs/install.md tells a
// kubeadm user to set them to the controlPlaneEndpoint: the agent then
// reaches the API server directly, not through the kubernetes Service that
// kube-proxy routes. It returns the directory to `kubectl apply -k`.
func (c *Cluster) DirectAPIOverlay(base string) (string, error) {
	abs, err := filepath.Abs(base)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(c.Dir, "overlays", filepath.Base(abs)+"-direct-api")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	// kustomize takes a base only by a relative path.
	rel, err := filepath.Rel(dir, abs)
	if err != nil {
		return "", err
	}
	k := fmt.Sprintf(`# Written by the cluster lab (e2e/cluster/overlay.go): %s with the API
# server's own address, as docs/install.md "Reaching the API server" says.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - %s
patches:
  - patch: |-
      apiVersion: v1
      kind: ConfigMap
      metadata: {name: nodebgp-config, namespace: kube-system}
      data: {api-server-host: %q, api-server-port: %q}
`, base, rel, ControlPlaneAddr.String(), strconv.Itoa(APIServerPort))
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(k), 0o644); err != nil {
		return "", fmt.Errorf("writing the lab overlay for %s: %w", base, err)
	}
	return dir, nil
}

// AgentArgsOverlay writes a kustomization named name on top of base (a
// directory holding a kustomization, such as DirectAPIOverlay's) that adds
// args to the agent container's command, as an operator adds flags such as
// --peer-router-ips in an overlay of their own. It returns the directory to
// `kubectl apply -k`.
func (c *Cluster) AgentArgsOverlay(base, name string, args []string) (string, error) {
	abs, err := filepath.Abs(base)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(c.Dir, "overlays", name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	rel, err := filepath.Rel(dir, abs)
	if err != nil {
		return "", err
	}
	var ops strings.Builder
	for _, a := range args {
		fmt.Fprintf(&ops, "      - {op: add, path: /spec/template/spec/containers/0/command/-, value: %q}\n", a)
	}
	k := fmt.Sprintf(`# Written by the cluster lab (e2e/cluster/overlay.go): %s with more agent flags.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - %s
patches:
  - target: {kind: DaemonSet, name: nodebgp, namespace: kube-system}
    patch: |-
%s`, base, rel, ops.String())
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(k), 0o644); err != nil {
		return "", fmt.Errorf("writing the lab overlay %s: %w", name, err)
	}
	return dir, nil
}
