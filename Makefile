# nodebgp: every task has a target here. `make help` lists them.
SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(PATH)

GO        ?= go
BIN       := $(CURDIR)/_output/bin
TOOLS_DIR ?= $(CURDIR)/.cache/tools
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)
E2E_TIMEOUT ?= 40m
BENCH_ROUTES ?= 10000
export TOOLS_DIR BENCH_ROUTES

.PHONY: help build deps tools test unit e2e lab lab-down lab-status bench lint clean image image-test

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

build: ## build router and the lab's helper binaries into _output/bin
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/router ./cmd/router
	$(GO) build -o $(BIN)/lab ./e2e/cmd/lab
	$(GO) build -o $(BIN)/labcni ./e2e/cmd/labcni
	$(GO) build -o $(BIN)/bench ./e2e/cmd/bench
	$(GO) build -o $(BIN)/bgpinject ./e2e/cmd/bgpinject

deps: ## install the Debian packages the lab needs (idempotent)
	hack/install-deps.sh

tools: deps ## build kube-apiserver, kubectl, gobgp and the CNI plugins at pinned versions (cached)
	hack/build-tools.sh

test: tools build unit e2e image-test ## everything: unit tests, the e2e lab, the image (needs root)

unit: ## unit and namespace-level tests
	$(GO) test -count=1 ./...

e2e: tools build ## the end-to-end tests on a real lab (needs root)
	# -p 1: the lab tests share fixed namespace names (lab-*), so packages run one at a time.
	$(GO) test -tags e2e -p 1 -count=1 -timeout $(E2E_TIMEOUT) -v ./e2e/...

lab: tools build ## bring up the lab: API server, 3 nodes running router, one pod each
	$(BIN)/lab up

lab-down: ## remove everything the lab made
	@if [ -x $(BIN)/lab ]; then $(BIN)/lab down; else $(GO) run ./e2e/cmd/lab down; fi

lab-status: ## print the lab's status table
	$(BIN)/lab status

bench: tools build ## route install/withdraw against ip -batch (BENCH_ROUTES=10000), then the node loop at 100-5,000 nodes
	$(BIN)/bench -routes $(BENCH_ROUTES)
	$(GO) test -run '^$$' -bench 'PlanPeers|SteadyNodePass' -benchmem -benchtime 20x ./pkg/plan/ ./pkg/bgp/

lint: ## gofmt and go vet, with and without the e2e build tag
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags e2e ./...

image: tools build ## build the image nodebgp/router:<version> and :latest with podman (needs root; base cached in .cache/image)
	VERSION=$(VERSION) hack/image.sh

image-test: image ## unpack the image and check its binaries, install-cni and the iptables backend choice (needs root)
	VERSION=$(VERSION) hack/image-test.sh

clean: ## remove build output (not the tool cache)
	rm -rf _output
