package cluster

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// The control plane's processes, all in the root namespace: etcd on loopback,
// kube-apiserver on the cluster's own address, the controller manager and the
// scheduler with their serving ports on loopback.
const (
	procEtcd      = "etcd"
	procAPIServer = "kube-apiserver"
	procKCM       = "kube-controller-manager"
	procScheduler = "kube-scheduler"

	serviceCIDR   = "10.96.0.0/16"
	saIssuer      = "https://kubernetes.default.svc.cluster.local"
	adminUser     = "cluster-admin"
	proxyUser     = "system:kube-proxy"
	kubeconfigCtx = "nodebgp-cluster"
)

type pki struct {
	dir, certDir, saKey, saPub, tokens string
}

func (c *Cluster) pki() pki {
	d := filepath.Join(c.Dir, "pki")
	return pki{dir: d, certDir: filepath.Join(d, "apiserver"), saKey: filepath.Join(d, "sa.key"), saPub: filepath.Join(d, "sa.pub"), tokens: filepath.Join(d, "tokens.csv")}
}

// APIServerURL is where the apiserver listens.
func (c *Cluster) APIServerURL() string {
	return "https://" + ControlPlaneAddr.String() + ":" + strconv.Itoa(APIServerPort)
}

// AdminKubeconfig is a system:masters kubeconfig.
func (c *Cluster) AdminKubeconfig() string { return filepath.Join(c.Dir, "kubeconfig") }

func (c *Cluster) kubeconfigFor(user string) string {
	return filepath.Join(c.Dir, "pki", strings.ReplaceAll(user, ":", "-")+".kubeconfig")
}

// writeCredentials makes the service-account key and one static token per
// identity: the admin, kube-proxy and every node name the cluster may ever
// have (a static token file is read once, so a node that joins later needs
// its token from the start). Each kubelet is system:node:<name> in
// system:nodes, which the Node authorizer and NodeRestriction check.
func (c *Cluster) writeCredentials() error {
	p := c.pki()
	if err := os.MkdirAll(p.certDir, 0o700); err != nil {
		return err
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return err
	}
	if err := os.WriteFile(p.saKey, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(p.saPub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o644); err != nil {
		return err
	}
	type ident struct{ user, groups string }
	idents := []ident{{adminUser, "system:masters"}, {proxyUser, ""}}
	for i := 1; i <= MaxNodes; i++ {
		idents = append(idents, ident{"system:node:" + NodeName(i), "system:nodes"})
	}
	var csv strings.Builder
	c.tokens = map[string]string{}
	for _, id := range idents {
		buf := make([]byte, 24)
		if _, err := rand.Read(buf); err != nil {
			return err
		}
		tok := hex.EncodeToString(buf)
		c.tokens[id.user] = tok
		fmt.Fprintf(&csv, "%s,%s,%s", tok, id.user, id.user)
		if id.groups != "" {
			fmt.Fprintf(&csv, ",\"%s\"", id.groups)
		}
		csv.WriteString("\n")
	}
	return os.WriteFile(p.tokens, []byte(csv.String()), 0o600)
}

// startControlPlane starts etcd and kube-apiserver, waits for /readyz, writes
// the kubeconfigs, then starts the controller manager (allocating pod CIDRs)
// and the scheduler.
func (c *Cluster) startControlPlane(ctx context.Context) error {
	p := c.pki()
	if err := c.writeCredentials(); err != nil {
		return fmt.Errorf("control plane credentials: %w", err)
	}
	etcdClient := "http://127.0.0.1:" + strconv.Itoa(EtcdClientPort)
	etcdPeer := "http://127.0.0.1:" + strconv.Itoa(EtcdPeerPort)
	if _, err := startDaemon(daemonParams{Name: procEtcd, Dir: c.Dir, Args: []string{
		"etcd", "--name=nodebgp-cluster", "--data-dir=" + filepath.Join(c.Dir, "etcd"),
		"--listen-client-urls=" + etcdClient, "--advertise-client-urls=" + etcdClient,
		"--listen-peer-urls=" + etcdPeer, "--initial-advertise-peer-urls=" + etcdPeer,
		"--initial-cluster=nodebgp-cluster=" + etcdPeer, "--initial-cluster-state=new",
		"--logger=zap", "--log-outputs=stderr",
	}}); err != nil {
		return err
	}
	if err := c.waitHTTP(ctx, procEtcd, etcdClient+"/health", nil, "", 30*time.Second); err != nil {
		return err
	}
	if err := c.startAPIServer(); err != nil {
		return err
	}
	if err := c.waitAPIServer(ctx, 120*time.Second); err != nil {
		return err
	}
	ca, err := os.ReadFile(filepath.Join(p.certDir, "apiserver.crt"))
	if err != nil {
		return err
	}
	for user, path := range map[string]string{
		adminUser: c.AdminKubeconfig(),
		proxyUser: c.kubeconfigFor(proxyUser),
	} {
		if err := writeKubeconfig(path, c.APIServerURL(), ca, user, c.tokens[user]); err != nil {
			return err
		}
	}
	for i := 1; i <= MaxNodes; i++ {
		u := "system:node:" + NodeName(i)
		if err := writeKubeconfig(c.kubeconfigFor(u), c.APIServerURL(), ca, u, c.tokens[u]); err != nil {
			return err
		}
	}
	admin := c.AdminKubeconfig()
	if err := c.StartControllerManager(true); err != nil {
		return err
	}
	if _, err := startDaemon(daemonParams{Name: procScheduler, Dir: c.Dir, Args: []string{
		c.Tools.bin("kube-scheduler"),
		"--kubeconfig=" + admin, "--authentication-kubeconfig=" + admin, "--authorization-kubeconfig=" + admin,
		"--bind-address=127.0.0.1", "--secure-port=" + strconv.Itoa(SchedulerPort),
		"--leader-elect=false",
	}}); err != nil {
		return err
	}
	return nil
}

func (c *Cluster) apiserverArgs() []string {
	p := c.pki()
	return []string{
		c.Tools.bin("kube-apiserver"),
		"--etcd-servers=http://127.0.0.1:" + strconv.Itoa(EtcdClientPort),
		"--bind-address=" + ControlPlaneAddr.String(),
		"--advertise-address=" + ControlPlaneAddr.String(),
		"--secure-port=" + strconv.Itoa(APIServerPort),
		"--cert-dir=" + p.certDir,
		"--service-account-issuer=" + saIssuer,
		"--service-account-key-file=" + p.saPub,
		"--service-account-signing-key-file=" + p.saKey,
		"--token-auth-file=" + p.tokens,
		"--authorization-mode=Node,RBAC",
		"--enable-admission-plugins=NodeRestriction",
		"--service-cluster-ip-range=" + serviceCIDR,
		"--allow-privileged=true",
		"--kubelet-preferred-address-types=InternalIP",
		"--profiling=false",
	}
}

func (c *Cluster) startAPIServer() error {
	_, err := startDaemon(daemonParams{Name: procAPIServer, Dir: c.Dir, Args: c.apiserverArgs()})
	return err
}

// StopAPIServer stops kube-apiserver (an API outage); StartAPIServer brings it
// back with the same flags and waits until it is ready.
func (c *Cluster) StopAPIServer() error { return stopDaemon(c.Dir, procAPIServer, stopWait) }

func (c *Cluster) StartAPIServer(ctx context.Context) error {
	if err := c.startAPIServer(); err != nil {
		return err
	}
	return c.waitAPIServer(ctx, 120*time.Second)
}

func (c *Cluster) waitAPIServer(ctx context.Context, timeout time.Duration) error {
	p := c.pki()
	tok := c.tokens[adminUser]
	if tok == "" {
		tok = c.adminToken()
	}
	var client *http.Client
	return c.waitHTTP(ctx, procAPIServer, c.APIServerURL()+"/readyz", func() (*http.Client, error) {
		if client != nil {
			return client, nil
		}
		ca, err := os.ReadFile(filepath.Join(p.certDir, "apiserver.crt"))
		if err != nil {
			return nil, fmt.Errorf("serving cert not written yet: %w", err)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(ca)
		client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
		return client, nil
	}, tok, timeout)
}

// adminToken reads the admin's token back from the token file (a fresh process).
func (c *Cluster) adminToken() string {
	raw, _ := os.ReadFile(c.pki().tokens)
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Split(line, ",")
		if len(f) >= 2 && f[1] == adminUser {
			return f[0]
		}
	}
	return ""
}

// waitHTTP polls url until it answers 200, the process dies or timeout passes.
func (c *Cluster) waitHTTP(ctx context.Context, name, url string, mkClient func() (*http.Client, error), token string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		last = func() error {
			client := http.DefaultClient
			if mkClient != nil {
				var err error
				if client, err = mkClient(); err != nil {
					return err
				}
			}
			rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(rctx, http.MethodGet, url, nil)
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			resp, err := client.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
			}
			return nil
		}()
		if last == nil {
			return nil
		}
		if d, err := loadDaemon(c.Dir, name); err != nil || !d.alive() {
			return fmt.Errorf("waiting for %s: it exited; end of its log:\n%s", name, logTail(LogPath(c.Dir, name), 30))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	return fmt.Errorf("waiting for %s at %s: not ready after %v: %v; end of its log:\n%s", name, url, timeout, last, logTail(LogPath(c.Dir, name), 30))
}

func writeKubeconfig(path, server string, ca []byte, user, token string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[kubeconfigCtx] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts[kubeconfigCtx] = &clientcmdapi.Context{Cluster: kubeconfigCtx, AuthInfo: user}
	cfg.CurrentContext = kubeconfigCtx
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("writing kubeconfig %s: %w", path, err)
	}
	return nil
}

// StopControllerManager stops kube-controller-manager; StartControllerManager
// starts it, with allocate false as a cluster whose controller does not
// allocate pod CIDRs (kubeadm init without --pod-network-cidr).
func (c *Cluster) StopControllerManager() error { return stopDaemon(c.Dir, procKCM, stopWait) }

func (c *Cluster) StartControllerManager(allocate bool) error {
	p := c.pki()
	admin := c.AdminKubeconfig()
	_, err := startDaemon(daemonParams{Name: procKCM, Dir: c.Dir, Args: []string{
		c.Tools.bin("kube-controller-manager"),
		"--kubeconfig=" + admin, "--authentication-kubeconfig=" + admin, "--authorization-kubeconfig=" + admin,
		"--bind-address=127.0.0.1", "--secure-port=" + strconv.Itoa(KCMPort),
		"--leader-elect=false",
		"--allocate-node-cidrs=" + strconv.FormatBool(allocate), "--cluster-cidr=" + c.ClusterCIDR, "--node-cidr-mask-size=24",
		"--service-cluster-ip-range=" + serviceCIDR,
		"--service-account-private-key-file=" + p.saKey,
		"--root-ca-file=" + filepath.Join(p.certDir, "apiserver.crt"),
		"--use-service-account-credentials=true",
	}})
	return err
}
