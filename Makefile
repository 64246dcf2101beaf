# overlaynet — build, test and run.
#
# `make test` is what CI runs (.ci/run). `make demo` runs the main job on a local control
# plane. Tools are pinned here and installed into ./bin by the Makefile itself.

IMG ?= ghcr.io/overlaynet/overlaynet:dev
CONTAINER_TOOL ?= docker
SHELL = /usr/bin/env bash -o pipefail
.SHELLFLAGS = -ec

LOCALBIN ?= $(shell pwd)/bin
GO ?= go
export GOTOOLCHAIN = local

CONTROLLER_GEN_VERSION ?= v0.23.0
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen-$(CONTROLLER_GEN_VERSION)

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

.PHONY: envtest
envtest: ## Build (or find) kube-apiserver and etcd for envtest; prints their directory.
	@hack/envtest-assets.sh

.PHONY: test
test: manifests generate vet ## Run every test: unit, envtest, and (as root) the namespace end-to-end test.
	@git diff --exit-code -- api config || { echo "generated files are out of date: run 'make manifests generate' and commit"; exit 1; }
	KUBEBUILDER_ASSETS="$$(hack/envtest-assets.sh)" $(GO) test $(GOTESTFLAGS) ./... -coverprofile cover.out

##@ Build

.PHONY: build
build: manifests generate ## Build static binaries into ./bin.
	CGO_ENABLED=0 $(GO) build -trimpath -o $(LOCALBIN)/ ./cmd/...

.PHONY: run
run: manifests generate ## Run the manager against the cluster in KUBECONFIG.
	$(GO) run ./cmd/manager

.PHONY: docker-build
docker-build: ## Build the container image (needs a Docker engine).
	$(CONTAINER_TOOL) build -t $(IMG) .

.PHONY: docker-push
docker-push: ## Push the container image.
	$(CONTAINER_TOOL) push $(IMG)

.PHONY: demo
demo: ## Run the demo on an embedded local control plane.
	KUBEBUILDER_ASSETS="$$(hack/envtest-assets.sh)" $(GO) run ./test/demo

##@ Deployment

.PHONY: install
install: manifests ## Install the CRDs into the cluster in KUBECONFIG.
	kubectl apply --server-side -f config/crd/bases

.PHONY: uninstall
uninstall: manifests ## Remove the CRDs (and with them every allocation) from the cluster.
	kubectl delete --ignore-not-found -f config/crd/bases

.PHONY: deploy
deploy: manifests ## Deploy overlaynet into the cluster in KUBECONFIG.
	kubectl apply --server-side -k config/default

.PHONY: undeploy
undeploy: ## Remove overlaynet from the cluster.
	kubectl delete --ignore-not-found -k config/default

##@ Tools

$(LOCALBIN):
	mkdir -p $(LOCALBIN)

.PHONY: controller-gen
controller-gen: $(CONTROLLER_GEN) ## Install controller-gen into ./bin.
$(CONTROLLER_GEN): | $(LOCALBIN)
	$(call go-install-tool,$(CONTROLLER_GEN),sigs.k8s.io/controller-tools/cmd/controller-gen,$(CONTROLLER_GEN_VERSION))

# go-install-tool installs a Go tool at a pinned version as bin/<name>-<version>.
define go-install-tool
@[ -f "$(1)" ] || { \
set -e; \
echo "Installing $(2)@$(3)"; \
tmp=$$(mktemp -d); \
GOBIN=$$tmp $(GO) install $(2)@$(3); \
mv $$tmp/$$(basename $(2)) $(1); \
rm -rf $$tmp; \
}
endef
