# nodebgp: every task has a target here. `make help` lists them.
SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(PATH)

GO        ?= go
BIN       := $(CURDIR)/_output/bin
TOOLS_DIR ?= $(CURDIR)/.cache/tools
# Evaluated once per make run (not per use), so image and image-test agree on the tag.
ifeq ($(origin VERSION),undefined)
VERSION   := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
endif
LDFLAGS   := -X main.version=$(VERSION)
E2E_TIMEOUT ?= 40m
# The release this tree is (the tag the manifests name, `make image` tags it).
RELEASE   := $(shell cat VERSION)
IMAGE     ?= ghcr.io/nodebgp/router
# The architectures `make image` builds; the manifest list holds them all.
IMAGE_ARCHES ?= amd64 arm64
CLUSTER_TIMEOUT ?= 60m
# One cluster lab at a time on a machine (its names are fixed: clu-*). --close: the
# daemons `cluster up` leaves running must not inherit (and hold) the lock.
CLUSTER_LOCK := flock --close --timeout 1800 /tmp/nodebgp-cluster.lock
BENCH_ROUTES ?= 10000
BENCH_NODES ?= 5000
export TOOLS_DIR BENCH_ROUTES

.PHONY: help build deps tools test unit e2e lab lab-down lab-status bench bench-nodes lint clean bench-churn bench-failover bench-nodeadd bench-mesh image image-test cluster-deps cluster-tools cluster cluster-down cluster-status e2e-cluster

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

build: ## build router and the lab's helper binaries into _output/bin
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/router ./cmd/router
	$(GO) build -o $(BIN)/lab ./e2e/cmd/lab
	$(GO) build -o $(BIN)/labcni ./e2e/cmd/labcni
	$(GO) build -o $(BIN)/bench ./e2e/cmd/bench
	$(GO) build -o $(BIN)/bgpinject ./e2e/cmd/bgpinject
	$(GO) build -o $(BIN)/gobgpd-patched ./e2e/cmd/gobgpd-patched
	$(GO) build -o $(BIN)/meshpeers ./e2e/cmd/meshpeers
	$(GO) build -o $(BIN)/nodebench ./e2e/cmd/nodebench
	$(GO) build -o $(BIN)/cluster ./e2e/cmd/cluster
	CGO_ENABLED=0 $(GO) build -o $(BIN)/clusterpause ./e2e/cmd/clusterpause

deps: ## install the Debian packages the lab needs (idempotent)
	hack/install-deps.sh

tools: deps ## build kube-apiserver, kubectl, gobgp and the CNI plugins at pinned versions (cached)
	hack/build-tools.sh

# The cluster suite last: it needs the image, and its tools (cluster-tools) are the
# heaviest first build (~15 min cold; cached in $(TOOLS_DIR) after).
test: tools build unit e2e image-test e2e-cluster ## everything: unit tests, the e2e lab, the image, the cluster suite (needs root)

unit: ## unit and namespace-level tests; third_party/gobgp is GoBGP + third_party/gobgp-patches
	hack/gobgp-fork.sh check
	$(GO) test -count=1 ./...

e2e: tools build ## the end-to-end tests on a real lab (needs root)
	# -p 1: the lab tests share fixed namespace names (lab-*), so packages run one at a time.
	# The cluster suite has its own target (e2e-cluster) and tools (cluster-tools).
	$(GO) test -tags e2e -p 1 -count=1 -timeout $(E2E_TIMEOUT) -v $$($(GO) list -tags e2e ./e2e/... | grep -v /e2e/clustersuite)

lab: tools build ## bring up the lab: API server, 3 nodes running router, one pod each
	$(BIN)/lab up

lab-down: ## remove everything the lab made
	@if [ -x $(BIN)/lab ]; then $(BIN)/lab down; else $(GO) run ./e2e/cmd/lab down; fi

lab-status: ## print the lab's status table
	$(BIN)/lab status

bench: tools build ## route install/withdraw against ip -batch and the anchors (BENCH_ROUTES=10000; one prefix per UPDATE, then packed), node-add latency, then the node loop at 100-5,000 nodes
	$(BIN)/bench -routes $(BENCH_ROUTES)
	$(BIN)/bench -routes $(BENCH_ROUTES) -packed
	$(NODEADD_BENCH)
	$(GO) test -run '^$$' -bench 'PlanPeers|SteadyNodePass|Converged' -benchmem -benchtime 20x ./pkg/plan/ ./pkg/bgp/

# Node added -> its pod CIDR in every other node's kernel, with nodebgp agents on
# both ends (e2e/nodeadd; docs/benchmarks.md "Node-add latency").
NODEADD_REPS ?= 10
NODEADD_BUILDS ?= stock=
# NODEADD_ARGS: more flags, e.g. -nodeadd.agent-delay=3s -nodeadd.joiners=high
NODEADD_ARGS ?=
NODEADD_BENCH = $(GO) test -tags e2e -count=1 -timeout 60m -run '^$$' -bench NodeAdd -benchtime 1x ./e2e/nodeadd/ \
	-args -nodeadd.reps=$(NODEADD_REPS) -nodeadd.builds=$(NODEADD_BUILDS) $(NODEADD_ARGS)

bench-nodeadd: tools build ## node added -> route in every peer's kernel, p50/max and a timeline per join (needs root, takes the lab lock)
	flock -w 2400 /tmp/nodebgp-lab.lock $(NODEADD_BENCH)

MESH_PEERS ?= 100,250,500
bench-mesh: tools build ## one agent in full mesh with 100/250/500 GoBGP peers: convergence, RSS, CPU, node pass (needs root; own msc-* namespaces, no lab lock)
	$(GO) test -tags e2e -count=1 -timeout 60m -run '^$$' -bench MeshCeiling -benchtime 1x ./e2e/meshscale/ -args -meshscale.peers=$(MESH_PEERS)

CHURN_ROUTES ?= 100000
CHURN_TIME ?= 30m
CHURN_FRACTION ?= 0.1
CHURN_INTERVAL ?= 10s
bench-churn: tools build ## agent RSS, heap, goroutines, CPU while CHURN_FRACTION of CHURN_ROUTES is withdrawn and re-announced every CHURN_INTERVAL for CHURN_TIME (needs root, takes the lab lock)
	flock -w 3000 /tmp/nodebgp-lab.lock $(BIN)/bench -routes $(CHURN_ROUTES) -churn $(CHURN_TIME) -churn-fraction $(CHURN_FRACTION) -churn-interval $(CHURN_INTERVAL) $(CHURN_ARGS)

# Its own API server and nsc-* namespaces: no lab lock. BENCH_NODES_AGENTS=name=path,...
# measures several agent binaries in one run (the same API server and Nodes).
# BENCH_NODES_COPIES: copies of real Node events the agent gets after each one
# during the churn (nodebench -churn-copies): this machine's API server makes
# about 450 updates/s, the target is 1,000; 0 = only what the API server makes.
BENCH_NODES_AGENTS ?= router=$(BIN)/router
BENCH_NODES_COPIES ?= 2
bench-nodes: tools build ## one agent among BENCH_NODES=5000 kubelet-sized Nodes: start → routes, RSS, CPU and allocations quiet and under 1,000 Node updates/s (needs root)
	$(BIN)/nodebench -nodes $(BENCH_NODES) -agents $(BENCH_NODES_AGENTS) -churn-copies $(BENCH_NODES_COPIES)

FAILOVER_FAULTS ?= 10
FAILOVER_CONFIGS ?= bfd,hold3s-nogr,hold3s,default
FAILOVER_SLOW_FAULTS ?= 1
bench-failover: tools build ## fault -> failed next hop out of the other kernels (node link down, ToR silent): BFD vs hold timer, p50/max (needs root, takes the lab lock)
	flock -w 2400 /tmp/nodebgp-lab.lock $(GO) test -tags e2e -count=1 -timeout 90m -run '^$$' -bench Failover -benchtime 1x \
		./e2e/failover/ -args -failover.faults=$(FAILOVER_FAULTS) -failover.configs=$(FAILOVER_CONFIGS) -failover.slow-faults=$(FAILOVER_SLOW_FAULTS)

lint: ## gofmt and go vet, with and without the e2e build tag (not third_party: upstream's code as it is)
	@out=$$(gofmt -l $$(git ls-files '*.go' ':!third_party')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags e2e ./...

image: tools build ## build the image $(IMAGE):<release> (amd64), :<release>-arm64 and the manifest list :<release>-multiarch with podman (needs root; bases cached in .cache/image)
	$(if $(filter arm64,$(IMAGE_ARCHES)),CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -ldflags "$(LDFLAGS) -s -w" -o $(BIN)/linux-arm64/router ./cmd/router)
	IMAGE=$(IMAGE) RELEASE=$(RELEASE) VERSION=$(VERSION) IMAGE_ARCHES="$(IMAGE_ARCHES)" hack/image.sh

image-test: image ## unpack the image and check its binaries, install-cni and the iptables backend choice; the arm64 image's under qemu (needs root)
	IMAGE=$(IMAGE) VERSION=$(VERSION) RELEASE=$(RELEASE) IMAGE_ARCHES="$(IMAGE_ARCHES)" hack/image-test.sh

cluster-deps: ## install what the cluster lab needs besides `make deps`: containerd, runc, podman, busybox-static (idempotent)
	hack/install-deps.sh --cluster

cluster-tools: cluster-deps ## build kubelet, kube-controller-manager, kube-scheduler, kube-proxy too (cached; the first build takes minutes)
	hack/build-tools.sh --cluster

cluster: cluster-tools build image ## a cluster with 3 kubelet+containerd nodes, nodebgp applied with kubectl apply -k (needs root)
	$(CLUSTER_LOCK) $(BIN)/cluster up -tools $(TOOLS_DIR) -pause $(BIN)/clusterpause -image $(IMAGE):$(RELEASE) -overlay daemonset/overlays/kubeadm

cluster-down: ## remove everything the cluster lab made
	@if [ -x $(BIN)/cluster ]; then $(CLUSTER_LOCK) $(BIN)/cluster down; else $(CLUSTER_LOCK) $(GO) run ./e2e/cmd/cluster down; fi

cluster-status: ## the cluster lab's nodes and how to look around
	$(BIN)/cluster status -tools $(TOOLS_DIR)

e2e-cluster: cluster-tools build image ## the install-path e2e suite on real kubelet+containerd nodes (needs root; part of `make test`)
	$(CLUSTER_LOCK) env TOOLS_DIR=$(TOOLS_DIR) ROUTER_IMAGE=$(IMAGE):$(RELEASE) CLUSTER_PAUSE=$(BIN)/clusterpause \
		$(GO) test -tags e2e -count=1 -timeout $(CLUSTER_TIMEOUT) -v ./e2e/clustersuite/

clean: ## remove build output (not the tool cache)
	rm -rf _output
