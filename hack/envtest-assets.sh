#!/usr/bin/env bash
# Prints the directory that holds kube-apiserver and etcd for envtest, building them first
# when needed.
#
# setup-envtest downloads prebuilt binaries, which is impossible on an offline machine, so
# overlaynet builds the control plane from Go modules instead (hack/envtest/go.mod pins
# k8s.io/kubernetes with every staging module replaced by its published v0.x.y, and
# go.etcd.io/etcd/server/v3). The binaries land in a cache outside the repository keyed by
# both versions; a warm cache answers in milliseconds and the Go build cache makes a
# rebuild after a version bump incremental.
#
# Order of precedence:
#   1. KUBEBUILDER_ASSETS, when it names a directory holding both binaries.
#   2. The cache: ${OVERLAYNET_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/overlaynet}/envtest/<key>.
#   3. A build into that cache.
#
# Only the directory is printed on stdout; progress goes to stderr.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mod="$here/envtest"

log() { printf 'envtest-assets: %s\n' "$*" >&2; }

have_assets() { [[ -x "$1/kube-apiserver" && -x "$1/etcd" ]]; }

if [[ -n "${KUBEBUILDER_ASSETS:-}" ]]; then
	if have_assets "$KUBEBUILDER_ASSETS"; then
		log "using KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS"
		printf '%s\n' "$KUBEBUILDER_ASSETS"
		exit 0
	fi
	log "KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS lacks kube-apiserver or etcd; building our own"
fi

# The versions come from the pinning module itself so that there is one place to bump.
version_of() { awk -v m="$1" '$1 == m && $2 ~ /^v/ { print $2; exit }' "$mod/go.mod"; }
k8s=$(version_of k8s.io/kubernetes)
etcd=$(version_of go.etcd.io/etcd/server/v3)
[[ -n "$k8s" && -n "$etcd" ]] || { log "cannot read versions from $mod/go.mod"; exit 1; }

cache_root=${OVERLAYNET_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/overlaynet}
dir="$cache_root/envtest/k8s-$k8s-etcd-$etcd-$(go env GOOS)-$(go env GOARCH)"

if have_assets "$dir"; then
	printf '%s\n' "$dir"
	exit 0
fi

log "building kube-apiserver $k8s and etcd $etcd into $dir (a cold build takes several minutes)"
mkdir -p "$cache_root/envtest"
tmp=$(mktemp -d "$cache_root/envtest/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# Stamp the version the API server reports through /version, so that rules which depend on
# the cluster's Kubernetes version (R19, R50) see a real one in tests.
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	ldflags+=" -X $pkg.gitVersion=$k8s -X $pkg.gitMajor=${k8s#v}"
	ldflags+=" -X $pkg.gitTreeState=clean"
done
ldflags=$(sed -E 's/gitMajor=([0-9]+)\.[0-9.]+/gitMajor=\1/g' <<<"$ldflags")
ldflags+=" -X k8s.io/component-base/version.gitMinor=$(cut -d. -f2 <<<"$k8s")"

start=$SECONDS
(
	cd "$mod"
	export CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false"
	go build -trimpath -ldflags "$ldflags" -o "$tmp/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
	go build -trimpath -ldflags "-s -w" -o "$tmp/etcd" go.etcd.io/etcd/server/v3
)
mkdir -p "$dir"
mv "$tmp/kube-apiserver" "$tmp/etcd" "$dir/"
log "built in $((SECONDS - start))s"
printf '%s\n' "$dir"
