# overlaynet — build, test and run.
#
# `make test` is what CI runs (.ci/run); it runs `make lint` first. `make demo` runs the
# main job on a local control plane. Tools are pinned here and installed into ./bin by the
# Makefile itself.

IMG ?= ghcr.io/overlaynet/overlaynet:dev
CONTAINER_TOOL ?= docker
SHELL = /usr/bin/env bash -o pipefail
.SHELLFLAGS = -ec

LOCALBIN ?= $(shell pwd)/bin
GO ?= go
export GOTOOLCHAIN = local

CONTROLLER_GEN_VERSION ?= v0.23.0
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen-$(CONTROLLER_GEN_VERSION)
# kustomize v5.8.3 (api v0.21.3) needs Go 1.27; v5.8.2 (api v0.21.2) is the newest for Go
# 1.26. test/delivery/go.mod and test/security/go.mod pin the same kustomize/api for the
# tests' renderers.
KUSTOMIZE_VERSION ?= v5.8.2
KUSTOMIZE ?= $(LOCALBIN)/kustomize-$(KUSTOMIZE_VERSION)
HELM_VERSION ?= v3.22.0
HELM ?= $(LOCALBIN)/helm-$(HELM_VERSION)
# golangci-lint v2.15.0 and Prometheus v0.316.0 (promtool) are the newest whose go.mod asks
# for Go 1.26; both are built from their Go modules like the tools above.
GOLANGCI_LINT_VERSION ?= v2.15.0
GOLANGCI_LINT ?= $(LOCALBIN)/golangci-lint-$(GOLANGCI_LINT_VERSION)
PROMTOOL_VERSION ?= v0.316.0
PROMTOOL ?= $(LOCALBIN)/promtool-$(PROMTOOL_VERSION)

# Test flags: `make test GOTESTFLAGS=-v` for verbose output.
GOTESTFLAGS ?=

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: controller-gen ## Generate CRDs and RBAC from the markers.
	$(CONTROLLER_GEN) rbac:roleName=overlaynet-manager crd:generateEmbeddedObjectMeta=false paths="./api/..." paths="./internal/controller/..." output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac

.PHONY: generate
generate: controller-gen ## Generate DeepCopy methods.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: fmt
fmt: ## Run gofmt.
	gofmt -l -w $$(git ls-files -co --exclude-standard -- '*.go')

.PHONY: vet
vet: ## Run go vet.
	$(GO) vet ./...

.PHONY: docs
docs: ## Regenerate docs/rulebook.md from the rule table (internal/validation/rules.go), the CRDs and the test names.
	$(GO) test ./internal/docgen -run TestRulebookDocIsCurrent -count=1 -update

.PHONY: envtest
envtest: ## Build (or find) kube-apiserver and etcd for envtest; prints their directory.
	@hack/envtest-assets.sh

.PHONY: lint
lint: golangci-lint ## Run golangci-lint (.golangci.yml) on the operator's module.
	$(GOLANGCI_LINT) run ./...

.PHONY: test
test: manifests generate vet lint ## Run lint and every test: unit, docs drift, envtest, plugin, promtool, and (as root) the namespace end-to-end test.
	@git diff --exit-code -- api config || { echo "generated files are out of date: run 'make manifests generate' and commit"; exit 1; }
	KUBEBUILDER_ASSETS="$$(hack/envtest-assets.sh)" $(GO) test $(GOTESTFLAGS) ./... -coverprofile cover.out
	$(MAKE) test-delivery
	$(MAKE) test-security
	$(MAKE) test-monitoring
	$(MAKE) test-realnodes

.PHONY: test-security
test-security: ## Install config/default on a local API server and attack it with real ServiceAccount tokens (B7).
	cd test/security && $(GO) vet ./...
	cd test/security && KUBEBUILDER_ASSETS="$$($(CURDIR)/hack/envtest-assets.sh)" $(GO) test $(GOTESTFLAGS) ./...

# test-monitoring checks the chart's alerts with promtool (built from the Prometheus Go
# module) and, in a nested module that holds Prometheus's PromQL parser, that the alerts and
# the Grafana dashboard use only metrics the binaries export.
.PHONY: test-monitoring
test-monitoring: promtool ## Check and unit-test the chart's Prometheus rules; check the dashboard's and rules' metric names.
	$(PROMTOOL) check rules charts/overlaynet/files/prometheus-rules.yaml
	$(PROMTOOL) test rules test/monitoring/testdata/rules_test.yaml
	cd test/monitoring && $(GO) vet ./... && $(GO) test $(GOTESTFLAGS) ./...

.PHONY: test-delivery
test-delivery: ## Render config/default and the Helm chart, check RBAC and drift, apply to a local API server.
	cd test/delivery && $(GO) vet ./...
	cd test/delivery && KUBEBUILDER_ASSETS="$$($(CURDIR)/hack/envtest-assets.sh)" $(GO) test $(GOTESTFLAGS) ./...

.PHONY: test-realnodes
test-realnodes: ## As root: overlaynet from dist/install.yaml on 3 real nodes (kubelet, containerd, runc, kube-proxy); skips otherwise.
	cd test/realnodes && $(GO) vet ./...
	cd test/realnodes && $(GO) test $(GOTESTFLAGS) -timeout 30m ./...

.PHONY: demo-cluster
demo-cluster: ## As root: a real 3-node cluster, overlaynet installed, a Deployment and a Service, then torn down.
	cd test/realnodes && $(GO) run ./cmd/demo

##@ Build

.PHONY: build
build: manifests generate build-static ## Build static binaries into ./bin.

# build-static is what the Dockerfile runs: the binaries and the CNI plugins, static, with
# no code generation (so no tool to install). GOOS and GOARCH pass through for cross builds.
.PHONY: build-static
build-static: ## Build the static binaries and the CNI plugins into ./bin and ./bin/cni, without generating.
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w" -o $(LOCALBIN)/ ./cmd/...
	cd hack/cni && CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w" -o $(LOCALBIN)/cni/ tool

.PHONY: run
run: manifests generate ## Run the manager against the cluster in KUBECONFIG.
	$(GO) run ./cmd/manager

.PHONY: docker-build
docker-build: ## Build the container image: manager, agent, overlayctl, kubectl-overlaynet and the CNI plugins (needs a Docker engine).
	$(CONTAINER_TOOL) build -t $(IMG) .

.PHONY: docker-push
docker-push: ## Push the container image.
	$(CONTAINER_TOOL) push $(IMG)

.PHONY: demo
demo: ## Run the demo on an embedded local control plane.
	KUBEBUILDER_ASSETS="$$(hack/envtest-assets.sh)" $(GO) run ./test/demo $(DEMOFLAGS)

##@ Deployment

.PHONY: install
install: manifests ## Install the CRDs into the cluster in KUBECONFIG.
	kubectl apply --server-side -f config/crd/bases

.PHONY: uninstall
uninstall: manifests ## Remove the CRDs (and with them every allocation) from the cluster.
	kubectl delete --ignore-not-found -f config/crd/bases

.PHONY: build-installer
build-installer: manifests kustomize ## Render config/default with IMG into dist/install.yaml.
	mkdir -p dist
	$(call render-default) > dist/install.yaml
	@echo "wrote dist/install.yaml (image $(IMG))"

.PHONY: deploy
deploy: manifests kustomize ## Deploy overlaynet (CRDs, RBAC, manager, agent) with IMG into the cluster in KUBECONFIG.
	$(call render-default) | kubectl apply --server-side --field-manager=overlaynet-installer -f -

# undeploy keeps the CRDs, and with them every OverlayCluster, NodeNetworkConfig and
# BlockClaim: deleting them renumbers the cluster. `make uninstall` removes them.
.PHONY: undeploy
undeploy: kustomize ## Remove the manager, the agent and their RBAC; keep the CRDs and every allocation.
	$(KUSTOMIZE) build config/operator | kubectl delete --ignore-not-found -f -

.PHONY: chart
chart: manifests ## Regenerate the Helm chart's CRDs, RBAC rules and values schema from config/.
	cd test/delivery && $(GO) run ./cmd/chartgen -root $(CURDIR)

.PHONY: helm-lint
helm-lint: helm ## Lint the Helm chart with the helm CLI (test-delivery runs the same checks in Go).
	$(HELM) lint --strict charts/overlaynet

# render-default renders config/default with the image set to IMG (replacing the default
# ghcr.io/overlaynet/overlaynet:dev of config/operator), through a throw-away
# overlay next to config/ (kustomize refuses absolute roots), so that no committed
# kustomization is edited.
define render-default
{ tmp=$$(mktemp -d "$(CURDIR)/.installer.XXXXXX"); trap 'rm -rf "$$tmp"' EXIT; \
  printf 'resources:\n- ../config/default\n' > $$tmp/kustomization.yaml; \
  (cd $$tmp && $(KUSTOMIZE) edit set image ghcr.io/overlaynet/overlaynet=$(IMG)); \
  $(KUSTOMIZE) build $$tmp; }
endef

##@ Tools

$(LOCALBIN):
	mkdir -p $(LOCALBIN)

.PHONY: controller-gen
controller-gen: $(CONTROLLER_GEN) ## Install controller-gen into ./bin.
$(CONTROLLER_GEN): | $(LOCALBIN)
	$(call go-install-tool,$(CONTROLLER_GEN),sigs.k8s.io/controller-tools/cmd/controller-gen,$(CONTROLLER_GEN_VERSION))

.PHONY: kustomize
kustomize: $(KUSTOMIZE) ## Install kustomize into ./bin.
$(KUSTOMIZE): | $(LOCALBIN)
	$(call go-install-tool,$(KUSTOMIZE),sigs.k8s.io/kustomize/kustomize/v5,$(KUSTOMIZE_VERSION))

.PHONY: helm
helm: $(HELM) ## Install helm into ./bin.
$(HELM): | $(LOCALBIN)
	$(call go-install-tool,$(HELM),helm.sh/helm/v3/cmd/helm,$(HELM_VERSION))

# go-install-tool installs a Go tool at a pinned version as bin/<name>-<version>. It moves
# the one binary `go install` wrote, whatever its name (kustomize's path ends in /v5).
define go-install-tool
@[ -f "$(1)" ] || { \
set -e; \
echo "Installing $(2)@$(3)"; \
tmp=$$(mktemp -d); \
GOBIN=$$tmp $(GO) install $(2)@$(3); \
mv $$tmp/* $(1); \
rm -rf $$tmp; \
}
endef

.PHONY: golangci-lint
golangci-lint: $(GOLANGCI_LINT) ## Install golangci-lint into ./bin.
$(GOLANGCI_LINT): | $(LOCALBIN)
	$(call go-install-tool,$(GOLANGCI_LINT),github.com/golangci/golangci-lint/v2/cmd/golangci-lint,$(GOLANGCI_LINT_VERSION))

.PHONY: promtool
promtool: $(PROMTOOL) ## Install promtool (from the Prometheus Go module) into ./bin.
$(PROMTOOL): | $(LOCALBIN)
	$(call go-install-tool,$(PROMTOOL),github.com/prometheus/prometheus/cmd/promtool,$(PROMTOOL_VERSION))

##@ Benchmarks

.PHONY: bench-ipam
bench-ipam: ## Benchmark the block allocator.
	$(GO) test -run '^$$' -bench . -benchmem ./internal/ipam/

.PHONY: bench-scale
bench-scale: ## NODES (5,000) Nodes on a local API server, kube-controller-manager nodeipam then the manager: time, writes/node, CPU/node, peak RSS, ratio.
	KUBEBUILDER_ASSETS="$$(hack/envtest-assets.sh)" $(GO) run ./test/benchscale -nodes $${NODES:-5000}

.PHONY: bench-fleet
bench-fleet: ## K node agents (recording datapath) on a local API server with N nodes: status writes per node join, agent CPU per peer change.
	KUBEBUILDER_ASSETS="$$(hack/envtest-assets.sh)" $(GO) run ./test/benchfleet -agents $${AGENTS:-10} -nodes $${NODES:-2000} -joins $${JOINS:-50}
# bench-datapath needs root and iperf3 (a Debian package); it installs iperf3 with apt-get
# when it can, and says what to install when it cannot.
.PHONY: bench-datapath
bench-datapath: ## Pod-to-pod TCP throughput and latency in namespaces: same node, direct, VXLAN across subnets, against the host-to-host baseline (root, iperf3).
	@command -v iperf3 >/dev/null || { command -v apt-get >/dev/null && apt-get install -y iperf3 >/dev/null; } || { echo "bench-datapath needs iperf3: apt-get install iperf3"; exit 1; }
	$(GO) run ./test/benchdatapath $(BENCHFLAGS)

.PHONY: bench-agent
bench-agent: ## Node agent at 5,000 peers: desired state, routes from empty into a fresh netns, one change (netns parts need root).
	$(GO) test -run '^$$' -bench . -benchmem -count 1 ./internal/agent/desired/ ./internal/agent/datapath/linux/
