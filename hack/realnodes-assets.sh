#!/usr/bin/env bash
# Prints the directory that holds the binaries of a real local cluster (test/realnodes),
# building what is missing first:
#
#   kubelet, kube-proxy, kube-scheduler, kube-controller-manager, kubectl
#       k8s.io/kubernetes/cmd/..., from the pinning module hack/envtest/go.mod (its tool
#       block), so at the same version as the envtest kube-apiserver
#   kube-apiserver, etcd
#       hack/envtest-assets.sh's build, linked
#   containerd, ctr, containerd-shim-runc-v2
#       github.com/containerd/containerd/v2 at CONTAINERD_VERSION (no_btrfs)
#   runc
#       github.com/opencontainers/runc at RUNC_VERSION, with cgo and seccomp (needs
#       libseccomp-dev and pkg-config; .ci/run installs them)
#
# Nothing is downloaded but Go modules. The binaries land in a cache outside the repository,
# ${OVERLAYNET_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/overlaynet}/realnodes/<versions>,
# one binary at a time, so an interrupted or partial build resumes where it stopped and a
# warm cache answers in milliseconds. Only the directory is printed on stdout.
set -euo pipefail

CONTAINERD_VERSION=v2.4.2
RUNC_VERSION=v1.5.3

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mod="$here/envtest"
log() { printf 'realnodes-assets: %s\n' "$*" >&2; }

version_of() { awk -v m="$1" '$1 == m && $2 ~ /^v/ { print $2; exit }' "$mod/go.mod"; }
k8s=$(version_of k8s.io/kubernetes)
[[ -n "$k8s" ]] || { log "cannot read the Kubernetes version from $mod/go.mod"; exit 1; }

cache_root=${OVERLAYNET_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/overlaynet}
dir="$cache_root/realnodes/k8s-$k8s-containerd-$CONTAINERD_VERSION-runc-$RUNC_VERSION-$(go env GOOS)-$(go env GOARCH)"
mkdir -p "$dir"

# Stamp the version (kubectl warns about v0.0.0-master otherwise), as envtest-assets.sh does.
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	ldflags+=" -X $pkg.gitVersion=$k8s -X $pkg.gitMajor=$(cut -d. -f1 <<<"${k8s#v}")"
	ldflags+=" -X $pkg.gitMinor=$(cut -d. -f2 <<<"$k8s") -X $pkg.gitTreeState=clean"
done

start=$SECONDS
build_k8s() { # name
	[[ -x "$dir/$1" ]] && return
	log "building $1 $k8s"
	(cd "$mod" && CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false" \
		go build -trimpath -ldflags "$ldflags" -o "$dir/.$1.tmp" "k8s.io/kubernetes/cmd/$1")
	mv "$dir/.$1.tmp" "$dir/$1"
}
go_install() { # module-path version cgo tags binaries...
	local path=$1 version=$2 cgo=$3 tags=$4 missing=0 b
	shift 4
	for b in "$@"; do [[ -x "$dir/$b" ]] || missing=1; done
	((missing)) || return 0
	log "building $* from $path@$version"
	local tmp
	tmp=$(mktemp -d "$dir/.build.XXXXXX")
	# shellcheck disable=SC2064
	trap "rm -rf '$tmp'" RETURN
	local pkgs=()
	for b in "$@"; do pkgs+=("$path/$b@$version"); done
	GOBIN=$tmp CGO_ENABLED=$cgo GOFLAGS="-buildvcs=false" go install -trimpath -tags "$tags" -ldflags "-s -w" "${pkgs[@]}" >&2 ||
		return 1
	for b in "$@"; do mv "$tmp/$b" "$dir/$b"; done
}

for b in kubelet kube-proxy kube-scheduler kube-controller-manager kubectl; do build_k8s "$b"; done
go_install github.com/containerd/containerd/v2/cmd "$CONTAINERD_VERSION" 0 no_btrfs containerd ctr containerd-shim-runc-v2 ||
	{ log "building containerd failed"; exit 1; }
if ! pkg-config --exists libseccomp 2>/dev/null; then
	log "runc needs libseccomp-dev and pkg-config: apt-get install libseccomp-dev pkg-config"
	exit 1
fi
[[ -x "$dir/runc" ]] || {
	log "building runc $RUNC_VERSION"
	tmp=$(mktemp -d "$dir/.build.XXXXXX")
	GOBIN=$tmp CGO_ENABLED=1 GOFLAGS="-buildvcs=false" go install -trimpath -tags seccomp "github.com/opencontainers/runc@$RUNC_VERSION" >&2
	mv "$tmp/runc" "$dir/runc"
	rm -rf "$tmp"
}
envtest=$("$here/envtest-assets.sh")
ln -sfn "$envtest/kube-apiserver" "$dir/kube-apiserver"
ln -sfn "$envtest/etcd" "$dir/etcd"
((SECONDS - start < 2)) || log "ready in $((SECONDS - start))s"
printf '%s\n' "$dir"
