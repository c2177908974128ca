package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// The simulated cluster: node k (1..n) is node-0000k at nodeIP(k) owning
// podCIDR(k). Nodes 1 and 2 are the route reflectors, node 3 runs the agent.
// The node subnet is 10.210.0.0/16 (every node on one link, so every learned
// next hop is connected); the API server sits at 10.210.0.1.
var (
	nodeSubnet  = netip.MustParsePrefix("10.210.0.0/16")
	apiAddr     = netip.MustParsePrefix("10.210.0.1/16")
	clusterCIDR = netip.MustParsePrefix("10.128.0.0/9")
)

const (
	// maxNodes is what the address plan holds: 10.128.0.0/9 has 32,768
	// /24s (node 0 would be the first), node IPs from 10.210.1.1 on fit
	// the /16.
	maxNodes   = 32767
	agentNode  = 3
	clusterID  = "10.0.0.1" // the reflectors' nodebgp.io/route-reflector-cluster-id
	imagesKept = 50         // kubelet's --node-status-max-images default
)

var reflectorNodes = []int{1, 2}

func nodeName(k int) string { return fmt.Sprintf("node-%05d", k) }

// nodeIP is node k's InternalIP: 10.210.0.0 + 256 + k, clear of the API
// server's 10.210.0.x.
func nodeIP(k int) netip.Addr {
	a := nodeSubnet.Addr().As4()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v += 256 + uint32(k)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// podCIDR is node k's /24: the k-th /24 of clusterCIDR.
func podCIDR(k int) netip.Prefix {
	a := clusterCIDR.Addr().As4()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 + uint32(k)<<8
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), 0}), 24)
}

// kubeletNode is node k as a kubelet registers it and keeps it: the labels
// and annotations of a kubeadm node on a cloud, capacity and allocatable,
// five conditions, nodeInfo, daemon endpoints and the 50 biggest images,
// each with a digest and a tag reference. Only the name, pod CIDR, addresses
// and (on reflectors) the cluster-ID annotation matter to the agent; the rest
// is the weight its informer must not keep.
func kubeletNode(k int, now time.Time) *corev1.Node {
	name := nodeName(k)
	zone := fmt.Sprintf("eu-west-1%c", 'a'+rune(k%3))
	t := metav1.NewTime(now)
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: name,
			Labels: map[string]string{
				"beta.kubernetes.io/arch":                  "amd64",
				"beta.kubernetes.io/instance-type":         "m6i.2xlarge",
				"beta.kubernetes.io/os":                    "linux",
				"failure-domain.beta.kubernetes.io/region": "eu-west-1",
				"failure-domain.beta.kubernetes.io/zone":   zone,
				"kubernetes.io/arch":                       "amd64",
				"kubernetes.io/hostname":                   name,
				"kubernetes.io/os":                         "linux",
				"node.kubernetes.io/instance-type":         "m6i.2xlarge",
				"topology.kubernetes.io/region":            "eu-west-1",
				"topology.kubernetes.io/zone":              zone,
				"node-pool":                                fmt.Sprintf("pool-%d", k%8),
			},
			Annotations: map[string]string{
				"kubeadm.alpha.kubernetes.io/cri-socket":                 "unix:///var/run/containerd/containerd.sock",
				"node.alpha.kubernetes.io/ttl":                           "0",
				"volumes.kubernetes.io/controller-managed-attach-detach": "true",
				"csi.volume.kubernetes.io/nodeid":                        fmt.Sprintf(`{"ebs.csi.aws.com":"i-%017x","efs.csi.aws.com":"i-%017x"}`, k, k),
			},
		},
		Spec: corev1.NodeSpec{
			PodCIDR:    podCIDR(k).String(),
			PodCIDRs:   []string{podCIDR(k).String()},
			ProviderID: fmt.Sprintf("aws:///%s/i-%017x", zone, k),
		},
		Status: corev1.NodeStatus{
			Capacity:    resources("8", "32386524Ki", "110", "104845292Ki"),
			Allocatable: resources("7910m", "31235548Ki", "110", "96625420948"),
			Conditions:  conditions(t),
			Addresses: []corev1.NodeAddress{
				{Type: corev1.NodeInternalIP, Address: nodeIP(k).String()},
				{Type: corev1.NodeHostName, Address: name},
				{Type: corev1.NodeInternalDNS, Address: fmt.Sprintf("ip-%s.eu-west-1.compute.internal", dashed(nodeIP(k)))},
			},
			DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: 10250}},
			NodeInfo: corev1.NodeSystemInfo{
				MachineID:               hexID("machine", k, 32),
				SystemUUID:              hexID("uuid", k, 32),
				BootID:                  hexID("boot", k, 32),
				KernelVersion:           "6.1.0-28-cloud-amd64",
				OSImage:                 "Debian GNU/Linux 12 (bookworm)",
				ContainerRuntimeVersion: "containerd://1.7.24",
				KubeletVersion:          "v1.34.3",
				KubeProxyVersion:        "v1.34.3",
				OperatingSystem:         "linux",
				Architecture:            "amd64",
			},
			Images: images(k),
		},
	}
	for _, r := range reflectorNodes {
		if r == k {
			n.Annotations["nodebgp.io/route-reflector-cluster-id"] = clusterID
		}
	}
	return n
}

func resources(cpu, mem, pods, storage string) corev1.ResourceList {
	return corev1.ResourceList{
		corev1.ResourceCPU:              resource.MustParse(cpu),
		corev1.ResourceMemory:           resource.MustParse(mem),
		corev1.ResourcePods:             resource.MustParse(pods),
		corev1.ResourceEphemeralStorage: resource.MustParse(storage),
		"hugepages-1Gi":                 resource.MustParse("0"),
		"hugepages-2Mi":                 resource.MustParse("0"),
		"attachable-volumes-aws-ebs":    resource.MustParse("25"),
	}
}

func conditions(t metav1.Time) []corev1.NodeCondition {
	c := func(typ corev1.NodeConditionType, status corev1.ConditionStatus, reason, msg string) corev1.NodeCondition {
		return corev1.NodeCondition{Type: typ, Status: status, Reason: reason, Message: msg, LastHeartbeatTime: t, LastTransitionTime: t}
	}
	return []corev1.NodeCondition{
		c(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
		c(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
		c(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
		c(corev1.NodeReady, corev1.ConditionTrue, "KubeletReady", "kubelet is posting ready status"),
		c(corev1.NodeNetworkUnavailable, corev1.ConditionFalse, "RouteCreated", "nodebgp routes the pod CIDR"),
	}
}

// images are a node's 50 biggest images as kubelet reports them: a digest
// reference and a tag reference each, sizes from 5 MB to 1.5 GB. Most are
// shared by every node (the same DaemonSets and base images run everywhere),
// some are the node's own.
func images(k int) []corev1.ContainerImage {
	out := make([]corev1.ContainerImage, 0, imagesKept)
	for i := range imagesKept {
		repo := fmt.Sprintf("registry.example.com/platform/team-%02d/service-%02d", i%7, i)
		if i >= 40 {
			repo = fmt.Sprintf("registry.example.com/apps/tenant-%04d/workload-%02d", k%500, i)
		}
		out = append(out, corev1.ContainerImage{
			Names: []string{
				repo + "@sha256:" + hexID(repo, i, 64),
				fmt.Sprintf("%s:v1.%d.%d", repo, i%20, k%10),
			},
			SizeBytes: int64(1_500_000_000 - i*29_900_000),
		})
	}
	return out
}

// hexID is a stable pseudo-random hex string of n digits (n ≤ 64).
func hexID(what string, k, n int) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "%s/%d", what, k))
	return hex.EncodeToString(sum[:])[:n]
}

func dashed(a netip.Addr) string {
	b := a.As4()
	return fmt.Sprintf("%d-%d-%d-%d", b[0], b[1], b[2], b[3])
}

// createNodes creates nodes 1..n (a Node that exists already is kept) with
// workers requests in flight, as a fleet of kubelets registering would.
func createNodes(ctx context.Context, cs kubernetes.Interface, n, workers int) error {
	work := make(chan int)
	var firstErr error
	var once sync.Once
	var created atomic.Int64
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range work {
				_, err := cs.CoreV1().Nodes().Create(ctx, kubeletNode(k, time.Now()), metav1.CreateOptions{FieldManager: "kubelet"})
				if apierrors.IsAlreadyExists(err) {
					err = nil
				}
				if err != nil {
					once.Do(func() { firstErr = fmt.Errorf("creating Node %s: %w", nodeName(k), err); cancel() })
					return
				}
				created.Add(1)
			}
		}()
	}
	for k := 1; k <= n; k++ {
		select {
		case work <- k:
		case <-ctx.Done():
		}
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	if int(created.Load()) != n {
		return fmt.Errorf("creating Nodes: %d of %d created: %w", created.Load(), n, ctx.Err())
	}
	return nil
}

// patchKinds are the updates the churn sends, in turn: a kubelet heartbeat
// (the Ready condition's lastHeartbeatTime, on the status subresource) and
// an annotation that is not nodebgp.io/'s (as other controllers write).
// Neither changes a routing fact.
func churnPatch(k, seq int, now time.Time) (body []byte, subresource string) {
	if seq%2 == 0 {
		ts := now.UTC().Format(time.RFC3339)
		return fmt.Appendf(nil, `{"status":{"conditions":[{"type":"Ready","status":"True","reason":"KubeletReady","message":"kubelet is posting ready status","lastHeartbeatTime":%q}]}}`, ts), "status"
	}
	return fmt.Appendf(nil, `{"metadata":{"annotations":{"example.com/last-seen":"%d"}}}`, seq), ""
}

// patchNode sends one churn update to node k.
func patchNode(ctx context.Context, cs kubernetes.Interface, k, seq int) error {
	body, sub := churnPatch(k, seq, time.Now())
	var subs []string
	if sub != "" {
		subs = []string{sub}
	}
	_, err := cs.CoreV1().Nodes().Patch(ctx, nodeName(k), types.StrategicMergePatchType, body, metav1.PatchOptions{FieldManager: "kubelet"}, subs...)
	if err != nil {
		return fmt.Errorf("patching Node %s: %w", nodeName(k), err)
	}
	return nil
}
