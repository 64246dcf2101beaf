# syntax=docker/dockerfile:1
#
# One image for every overlaynet component, built with `make docker-build IMG=...`:
#
#   /usr/local/bin/manager               the controller (the image's entrypoint)
#   /usr/local/bin/agent                 the node agent (DaemonSet, runs as user 0 with NET_ADMIN
#                                        through its securityContext)
#   /usr/local/bin/overlayctl            the offline planner and validator
#   /usr/local/bin/kubectl-overlaynet    the kubectl plugin (status, nodes, explain, validate, plan),
#                                        for `kubectl cp` or `docker cp` onto a workstation's PATH
#   /usr/local/bin/install-cni-plugins   the agent's init container: copies the plugins below
#                                        into the host's CNI bin dir
#   /opt/overlaynet/cni/bin/             ptp, host-local, portmap and loopback, built from
#                                        the containernetworking/plugins version pinned in
#                                        hack/cni/go.mod (the runtime calls loopback for
#                                        every sandbox)
#
# The binaries are built by `make build-static`, the same target (and so the same flags:
# CGO_ENABLED=0, -trimpath) that `make build` runs on a workstation, and land on a
# distroless static base that runs as the non-root user 65532 by default.

ARG GO_VERSION=1.26

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
ARG TARGETOS
ARG TARGETARCH
ENV GOTOOLCHAIN=local
WORKDIR /src

# Modules first, so that a source change does not download them again.
COPY go.mod go.sum ./
COPY hack/cni/go.mod hack/cni/go.sum hack/cni/
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download && cd hack/cni && go mod download

COPY Makefile ./
COPY api/ api/
COPY cmd/ cmd/
COPY internal/ internal/
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    GOOS=${TARGETOS} GOARCH=${TARGETARCH} make build-static LOCALBIN=/out

FROM gcr.io/distroless/static:nonroot
LABEL org.opencontainers.image.source="https://github.com/overlaynet/overlaynet" \
      org.opencontainers.image.description="overlaynet: Azure CNI Overlay style pod networking for any Kubernetes cluster"
COPY --from=build /out/manager /out/agent /out/overlayctl /out/kubectl-overlaynet /out/install-cni-plugins /usr/local/bin/
COPY --from=build /out/cni/ptp /out/cni/host-local /out/cni/portmap /out/cni/loopback /opt/overlaynet/cni/bin/
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/manager"]
