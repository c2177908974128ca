package lab

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// ControlPlaneParams configure the lab's control plane: Debian's etcd on loopback
// and a real kube-apiserver with RBAC.
type ControlPlaneParams struct {
	Dir            string     // the lab state dir; the control plane keeps its files in <Dir>/controlplane
	Tools          Tools      // KubeAPIServer is used
	Address        netip.Addr // the apiserver binds and advertises here; its serving cert is valid for it
	Port           int        // the apiserver's secure port; default 6443
	EtcdClientPort int        // default 23790: not etcd's 2379, so a packaged etcd service never collides
	EtcdPeerPort   int        // default 23800
}

// ControlPlane is a running control plane: etcd and kube-apiserver as lab
// processes, the admin token and kubeconfig, the agents' ServiceAccount
// kubeconfig (AgentKubeconfig), and the Node objects of the lab's nodes
// (nodeobjects.go).
type ControlPlane struct {
	Dir             string
	URL             string // https://Address:Port
	AdminKubeconfig string // <Dir>/kubeconfig, a system:masters token

	mu     sync.Mutex
	client kubernetes.Interface // admin, for the lab's own calls
}

const (
	etcdProcess      = "etcd"
	apiserverProcess = "kube-apiserver"

	defaultAPIServerPort  = 6443
	defaultEtcdClientPort = 23790
	defaultEtcdPeerPort   = 23800

	etcdReadyTimeout      = 30 * time.Second
	apiserverReadyTimeout = 120 * time.Second
	controlPlaneStopWait  = 30 * time.Second
	readyPollStep         = 500 * time.Millisecond

	serviceClusterIPRange = "10.96.0.0/16"
	serviceAccountIssuer  = "https://kubernetes.default.svc.cluster.local"
	adminUser             = "lab-admin"
	kubeconfigCluster     = "lab"
	agentTokenSeconds     = 86400
)

// controlPlaneFiles are the paths a control plane keeps under its Dir.
type controlPlaneFiles struct {
	root, etcdData, pki, certDir, saKey, saPub, tokenCSV, adminToken, kubeconfig string
}

func filesIn(dir string) controlPlaneFiles {
	root := filepath.Join(dir, "controlplane")
	pki := filepath.Join(root, "pki")
	return controlPlaneFiles{
		root:       root,
		etcdData:   filepath.Join(root, "etcd"),
		pki:        pki,
		certDir:    filepath.Join(pki, "apiserver"),
		saKey:      filepath.Join(pki, "sa.key"),
		saPub:      filepath.Join(pki, "sa.pub"),
		tokenCSV:   filepath.Join(pki, "tokens.csv"),
		adminToken: filepath.Join(pki, "admin.token"),
		kubeconfig: filepath.Join(dir, "kubeconfig"),
	}
}

// StartControlPlane starts etcd and kube-apiserver, waits until the apiserver is
// ready and writes the admin kubeconfig. Processes already running with the same
// flags are reused, so starting twice is safe.
func StartControlPlane(ctx context.Context, p ControlPlaneParams) (*ControlPlane, error) {
	if p.Dir == "" || !p.Address.IsValid() {
		return nil, fmt.Errorf("starting control plane: needs a state dir and an address (got %q, %v)", p.Dir, p.Address)
	}
	if p.Port == 0 {
		p.Port = defaultAPIServerPort
	}
	if p.EtcdClientPort == 0 {
		p.EtcdClientPort = defaultEtcdClientPort
	}
	if p.EtcdPeerPort == 0 {
		p.EtcdPeerPort = defaultEtcdPeerPort
	}
	f := filesIn(p.Dir)
	if err := os.MkdirAll(f.certDir, 0o700); err != nil {
		return nil, fmt.Errorf("starting control plane: %w", err)
	}
	token, err := ensureAdminToken(f)
	if err != nil {
		return nil, fmt.Errorf("starting control plane: %w", err)
	}
	if err := ensureServiceAccountKey(f); err != nil {
		return nil, fmt.Errorf("starting control plane: %w", err)
	}

	etcdURL := "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(p.EtcdClientPort))
	if err := ensureProcess(etcdParams(p, f), nil); err != nil {
		return nil, fmt.Errorf("starting control plane: %w", err)
	}
	if err := waitReady(ctx, etcdProcess, p.Dir, etcdURL+"/health", etcdReadyTimeout, etcdHealthy); err != nil {
		return nil, fmt.Errorf("starting control plane: %w", err)
	}

	apiURL := "https://" + net.JoinHostPort(p.Address.String(), strconv.Itoa(p.Port))
	// Only a fresh apiserver may have its cert replaced; a running one keeps serving the old.
	prepareCert := func() error { return dropCertNotCovering(f.certDir, p.Address) }
	if err := ensureProcess(apiserverParams(p, f, etcdURL), prepareCert); err != nil {
		return nil, fmt.Errorf("starting control plane: %w", err)
	}
	probe := func(ctx context.Context, url string) error { return apiserverReady(ctx, url, f.certDir, token) }
	if err := waitReady(ctx, apiserverProcess, p.Dir, apiURL+"/readyz", apiserverReadyTimeout, probe); err != nil {
		return nil, fmt.Errorf("starting control plane: %w", err)
	}

	// The self-signed apiserver.crt holds the serving cert and the CA that signed
	// it, valid for Address (the apiserver adds --bind-address and
	// --advertise-address to its SANs), so it verifies as it is.
	caData, err := os.ReadFile(filepath.Join(f.certDir, "apiserver.crt"))
	if err != nil {
		return nil, fmt.Errorf("starting control plane: reading the serving cert: %w", err)
	}
	if err := writeKubeconfig(f.kubeconfig, apiURL, caData, adminUser, token); err != nil {
		return nil, fmt.Errorf("starting control plane: %w", err)
	}
	return &ControlPlane{Dir: p.Dir, URL: apiURL, AdminKubeconfig: f.kubeconfig}, nil
}

func etcdParams(p ControlPlaneParams, f controlPlaneFiles) ProcessParams {
	client := "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(p.EtcdClientPort))
	peer := "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(p.EtcdPeerPort))
	return ProcessParams{
		Name: etcdProcess,
		Dir:  p.Dir,
		Args: []string{
			"etcd",
			"--name=lab",
			"--data-dir=" + f.etcdData,
			"--listen-client-urls=" + client,
			"--advertise-client-urls=" + client,
			"--listen-peer-urls=" + peer,
			"--initial-advertise-peer-urls=" + peer,
			"--initial-cluster=lab=" + peer,
			"--initial-cluster-state=new",
			"--logger=zap",
			"--log-outputs=stderr",
		},
	}
}

func apiserverParams(p ControlPlaneParams, f controlPlaneFiles, etcdURL string) ProcessParams {
	return ProcessParams{
		Name: apiserverProcess,
		Dir:  p.Dir,
		Args: []string{
			p.Tools.KubeAPIServer,
			"--etcd-servers=" + etcdURL,
			"--bind-address=" + p.Address.String(),
			"--advertise-address=" + p.Address.String(),
			"--secure-port=" + strconv.Itoa(p.Port),
			"--cert-dir=" + f.certDir,
			"--service-account-issuer=" + serviceAccountIssuer,
			"--service-account-key-file=" + f.saPub,
			"--service-account-signing-key-file=" + f.saKey,
			"--token-auth-file=" + f.tokenCSV,
			"--authorization-mode=RBAC",
			"--service-cluster-ip-range=" + serviceClusterIPRange,
			"--allow-privileged=true",
			"--profiling=false",
		},
	}
}

// ensureProcess reuses a live process started with the same command line,
// restarts one started with another, and starts a missing one (after prepare).
func ensureProcess(pp ProcessParams, prepare func() error) error {
	old, err := LoadProcess(pp.Dir, pp.Name)
	switch {
	case err == nil && old.Alive() && slices.Equal(old.Args, pp.Args):
		return nil
	case err == nil:
		if err := old.Stop(controlPlaneStopWait); err != nil {
			return err
		}
	case !errors.Is(err, os.ErrNotExist):
		return err
	}
	if pp.Args[0] == "etcd" {
		if _, err := exec.LookPath("etcd"); err != nil {
			return fmt.Errorf("starting etcd: %w (install the etcd-server package: make deps)", err)
		}
	}
	if prepare != nil {
		if err := prepare(); err != nil {
			return err
		}
	}
	_, err = StartProcess(pp)
	return err
}

// waitReady polls url with probe until it succeeds, the process dies, ctx ends
// or timeout passes; failures quote the end of the process's log.
func waitReady(ctx context.Context, name, dir, url string, timeout time.Duration, probe func(context.Context, string) error) error {
	deadline := time.Now().Add(timeout)
	var last error
	for attempt := 0; attempt < int(timeout/readyPollStep)+1; attempt++ {
		probeCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		last = probe(probeCtx, url)
		cancel()
		if last == nil {
			return nil
		}
		if p, err := LoadProcess(dir, name); err != nil || !p.Alive() {
			return fmt.Errorf("waiting for %s: %w (%s); end of %s:\n%s", name, errExitedEarly, procState(p, err), LogPath(dir, name), logTail(LogPath(dir, name), 20))
		}
		if time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", name, ctx.Err())
		case <-time.After(readyPollStep):
		}
	}
	return fmt.Errorf("waiting for %s at %s: not ready after %v: %w; end of %s:\n%s",
		name, url, timeout, last, LogPath(dir, name), logTail(LogPath(dir, name), 20))
}

// errExitedEarly: a control-plane process was gone before it became ready.
var errExitedEarly = errors.New("it exited before it was ready")

// procState says what /proc shows of p, to tell a process that really
// exited from one whose command line did not match what was started.
func procState(p *Process, loadErr error) string {
	if loadErr != nil {
		return loadErr.Error()
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.PID))
	if err != nil {
		return fmt.Sprintf("pid %d: no such process", p.PID)
	}
	cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p.PID))
	return fmt.Sprintf("pid %d: stat %q, cmdline %q", p.PID, strings.TrimSpace(string(stat)), strings.ReplaceAll(string(cmdline), "\x00", " "))
}

func etcdHealthy(ctx context.Context, url string) error {
	body, err := httpGet(ctx, http.DefaultClient, url, "")
	if err != nil {
		return err
	}
	if !bytes.Contains(body, []byte(`"health":"true"`)) {
		return fmt.Errorf("etcd health: %s", bytes.TrimSpace(body))
	}
	return nil
}

// apiserverReady asks /readyz, trusting only the apiserver's own cert once it
// has written one.
func apiserverReady(ctx context.Context, url, certDir, token string) error {
	caData, err := os.ReadFile(filepath.Join(certDir, "apiserver.crt"))
	if err != nil {
		return fmt.Errorf("serving cert not written yet: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caData) {
		return fmt.Errorf("serving cert %s: no PEM certificates", filepath.Join(certDir, "apiserver.crt"))
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer client.CloseIdleConnections()
	_, err = httpGet(ctx, client, url, token)
	return err
}

func httpGet(ctx context.Context, client *http.Client, url, token string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", url, resp.Status, bytes.TrimSpace(body))
	}
	return body, nil
}

// logTail returns the last n lines of a log, for error messages.
func logTail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

// ensureAdminToken returns the admin's static token, creating it and the token
// file the apiserver reads on first use.
func ensureAdminToken(f controlPlaneFiles) (string, error) {
	if raw, err := os.ReadFile(f.adminToken); err == nil {
		if _, err := os.Stat(f.tokenCSV); err == nil {
			return strings.TrimSpace(string(raw)), nil
		}
	}
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return "", fmt.Errorf("generating admin token: %w", err)
	}
	token := hex.EncodeToString(buf)
	csv := fmt.Sprintf("%s,%s,%s,\"system:masters\"\n", token, adminUser, adminUser)
	if err := os.WriteFile(f.tokenCSV, []byte(csv), 0o600); err != nil {
		return "", fmt.Errorf("writing token file: %w", err)
	}
	if err := os.WriteFile(f.adminToken, []byte(token+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("writing admin token: %w", err)
	}
	return token, nil
}

// ensureServiceAccountKey creates the key pair that signs and verifies
// ServiceAccount tokens; kept across restarts so issued tokens stay valid.
func ensureServiceAccountKey(f controlPlaneFiles) error {
	_, errKey := os.Stat(f.saKey)
	_, errPub := os.Stat(f.saPub)
	if errKey == nil && errPub == nil {
		return nil
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return fmt.Errorf("generating service account key: %w", err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return fmt.Errorf("encoding service account public key: %w", err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	if err := os.WriteFile(f.saKey, keyPEM, 0o600); err != nil {
		return fmt.Errorf("writing service account key: %w", err)
	}
	if err := os.WriteFile(f.saPub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o644); err != nil {
		return fmt.Errorf("writing service account public key: %w", err)
	}
	return nil
}

// dropCertNotCovering removes a serving cert left by an earlier run that is not
// valid for addr (or expires within a day): the apiserver only generates one
// when none is there.
func dropCertNotCovering(certDir string, addr netip.Addr) error {
	crtPath := filepath.Join(certDir, "apiserver.crt")
	raw, err := os.ReadFile(crtPath)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading serving cert: %w", err)
	}
	if block, _ := pem.Decode(raw); block != nil {
		if cert, err := x509.ParseCertificate(block.Bytes); err == nil &&
			cert.VerifyHostname(addr.String()) == nil && time.Until(cert.NotAfter) > 24*time.Hour {
			return nil
		}
	}
	for _, name := range []string{"apiserver.crt", "apiserver.key"} {
		if err := os.Remove(filepath.Join(certDir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("removing stale serving cert: %w", err)
		}
	}
	return nil
}

func writeKubeconfig(path, server string, caData []byte, user, token string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[kubeconfigCluster] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caData}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts[kubeconfigCluster] = &clientcmdapi.Context{Cluster: kubeconfigCluster, AuthInfo: user}
	cfg.CurrentContext = kubeconfigCluster
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("writing kubeconfig %s: %w", path, err)
	}
	return nil
}

// Client returns an admin client.
func (c *ControlPlane) Client() (kubernetes.Interface, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", c.AdminKubeconfig)
	if err != nil {
		return nil, fmt.Errorf("loading kubeconfig %s: %w", c.AdminKubeconfig, err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("client for %s: %w", c.AdminKubeconfig, err)
	}
	return cs, nil
}

// ApplyRBAC creates or updates every object of a multi-document manifest:
// ServiceAccounts, ClusterRoles, ClusterRoleBindings, Roles and RoleBindings.
// Namespaces they live in are created when missing.
func (c *ControlPlane) ApplyRBAC(ctx context.Context, manifestPath string) error {
	objs, err := decodeManifest(manifestPath)
	if err != nil {
		return err
	}
	cs, err := c.Client()
	if err != nil {
		return err
	}
	for _, obj := range objs {
		if err := applyObject(ctx, cs, obj); err != nil {
			return fmt.Errorf("applying %s: %w", manifestPath, err)
		}
	}
	return nil
}

func decodeManifest(path string) ([]runtime.Object, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading manifest: %w", err)
	}
	defer f.Close()
	reader := utilyaml.NewYAMLReader(bufio.NewReader(f))
	var objs []runtime.Object
	for i := 0; ; i++ {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading manifest %s: document %d: %w", path, i, err)
		}
		js, err := utilyaml.ToJSON(doc)
		if err != nil {
			return nil, fmt.Errorf("reading manifest %s: document %d: %w", path, i, err)
		}
		if s := strings.TrimSpace(string(js)); s == "null" || s == "" {
			continue // a document of only comments
		}
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(js, nil, nil)
		if err != nil {
			return nil, fmt.Errorf("decoding manifest %s: document %d: %w", path, i, err)
		}
		objs = append(objs, obj)
	}
}

func applyObject(ctx context.Context, cs kubernetes.Interface, obj runtime.Object) error {
	switch o := obj.(type) {
	case *corev1.ServiceAccount:
		if err := ensureNamespace(ctx, cs, &o.Namespace); err != nil {
			return err
		}
		api := cs.CoreV1().ServiceAccounts(o.Namespace)
		return createOrUpdate(ctx, "ServiceAccount", o, api.Create, api.Get, api.Update)
	case *rbacv1.ClusterRole:
		api := cs.RbacV1().ClusterRoles()
		return createOrUpdate(ctx, "ClusterRole", o, api.Create, api.Get, api.Update)
	case *rbacv1.ClusterRoleBinding:
		api := cs.RbacV1().ClusterRoleBindings()
		return createOrUpdate(ctx, "ClusterRoleBinding", o, api.Create, api.Get, api.Update)
	case *rbacv1.Role:
		if err := ensureNamespace(ctx, cs, &o.Namespace); err != nil {
			return err
		}
		api := cs.RbacV1().Roles(o.Namespace)
		return createOrUpdate(ctx, "Role", o, api.Create, api.Get, api.Update)
	case *rbacv1.RoleBinding:
		if err := ensureNamespace(ctx, cs, &o.Namespace); err != nil {
			return err
		}
		api := cs.RbacV1().RoleBindings(o.Namespace)
		return createOrUpdate(ctx, "RoleBinding", o, api.Create, api.Get, api.Update)
	default:
		return fmt.Errorf("unsupported object %s", obj.GetObjectKind().GroupVersionKind())
	}
}

// ensureNamespace defaults an empty namespace as kubectl does and creates it
// when missing.
func ensureNamespace(ctx context.Context, cs kubernetes.Interface, ns *string) error {
	if *ns == "" {
		*ns = metav1.NamespaceDefault
	}
	_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: *ns}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating namespace %s: %w", *ns, err)
	}
	return nil
}

type apiObject interface {
	metav1.Object
	runtime.Object
}

func createOrUpdate[T apiObject](ctx context.Context, kind string, obj T,
	create func(context.Context, T, metav1.CreateOptions) (T, error),
	get func(context.Context, string, metav1.GetOptions) (T, error),
	update func(context.Context, T, metav1.UpdateOptions) (T, error),
) error {
	_, err := create(ctx, obj, metav1.CreateOptions{})
	if err == nil {
		return nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating %s %s: %w", kind, objectName(obj), err)
	}
	cur, err := get(ctx, obj.GetName(), metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("getting %s %s: %w", kind, objectName(obj), err)
	}
	obj.SetResourceVersion(cur.GetResourceVersion())
	if _, err := update(ctx, obj, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("updating %s %s: %w", kind, objectName(obj), err)
	}
	return nil
}

func objectName(o metav1.Object) string {
	if o.GetNamespace() == "" {
		return o.GetName()
	}
	return o.GetNamespace() + "/" + o.GetName()
}

// AgentKubeconfig writes a kubeconfig at path that authenticates as the
// ServiceAccount namespace/serviceAccount with a token from the TokenRequest
// API, as a kubelet-projected token would: the agent then runs with exactly the
// permissions its manifests grant.
func (c *ControlPlane) AgentKubeconfig(ctx context.Context, namespace, serviceAccount, path string) error {
	cs, err := c.Client()
	if err != nil {
		return err
	}
	expiry := int64(agentTokenSeconds)
	tr, err := cs.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, serviceAccount,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &expiry}},
		metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("requesting a token for ServiceAccount %s/%s: %w", namespace, serviceAccount, err)
	}
	admin, err := clientcmd.LoadFromFile(c.AdminKubeconfig)
	if err != nil {
		return fmt.Errorf("loading kubeconfig %s: %w", c.AdminKubeconfig, err)
	}
	cluster, ok := admin.Clusters[kubeconfigCluster]
	if !ok {
		return fmt.Errorf("kubeconfig %s: no cluster %q", c.AdminKubeconfig, kubeconfigCluster)
	}
	user := "system:serviceaccount:" + namespace + ":" + serviceAccount
	return writeKubeconfig(path, cluster.Server, cluster.CertificateAuthorityData, user, tr.Status.Token)
}

// StopControlPlane stops the kube-apiserver, then etcd, by their pid files in
// dir; it works from a fresh process (lab-down). etcd's data stays in
// <dir>/controlplane until dir is removed.
func StopControlPlane(dir string) error {
	return errors.Join(
		StopByName(dir, apiserverProcess, controlPlaneStopWait),
		StopByName(dir, etcdProcess, controlPlaneStopWait),
	)
}
