#!/usr/bin/env bash
# Prints the directory that holds the upstream CNI reference plugins the node agent
# configures (ptp, host-local, portmap) and loopback, which the runtime calls, building them first when needed.
#
# Nothing is downloaded but Go modules: hack/cni/go.mod pins
# github.com/containernetworking/plugins, and the binaries are built from it into a cache
# outside the repository keyed by that version, so a fresh machine (or CI) needs only the
# Go module proxy. Debian's containernetworking-plugins package is older (1.1.x) and is not
# used. A warm cache answers in milliseconds.
#
# Order of precedence:
#   1. CNI_PLUGINS_DIR, when it names a directory holding every plugin.
#   2. The cache: ${OVERLAYNET_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/overlaynet}/cni/<version>.
#   3. A build into that cache.
#
# Only the directory is printed on stdout; progress goes to stderr.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mod="$here/cni"
plugins=(ptp host-local portmap loopback)

log() { printf 'cni-plugins: %s\n' "$*" >&2; }

have_plugins() {
	local p
	for p in "${plugins[@]}"; do [[ -x "$1/$p" ]] || return 1; done
}

if [[ -n "${CNI_PLUGINS_DIR:-}" ]]; then
	if have_plugins "$CNI_PLUGINS_DIR"; then
		printf '%s\n' "$CNI_PLUGINS_DIR"
		exit 0
	fi
	log "CNI_PLUGINS_DIR=$CNI_PLUGINS_DIR lacks one of ${plugins[*]}; building our own"
fi

version=$(awk '$1 == "github.com/containernetworking/plugins" && $2 ~ /^v/ { print $2; exit }' "$mod/go.mod")
[[ -n "$version" ]] || { log "cannot read the plugins' version from $mod/go.mod"; exit 1; }

cache_root=${OVERLAYNET_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/overlaynet}
dir="$cache_root/cni/plugins-$version-$(go env GOOS)-$(go env GOARCH)"

if have_plugins "$dir"; then
	printf '%s\n' "$dir"
	exit 0
fi

log "building ${plugins[*]} $version into $dir"
mkdir -p "$cache_root/cni"
tmp=$(mktemp -d "$cache_root/cni/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

start=$SECONDS
(
	cd "$mod"
	export CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false"
	go build -trimpath -ldflags "-s -w" -o "$tmp/" tool # the plugins that go.mod lists as tools
)
mkdir -p "$dir"
for p in "${plugins[@]}"; do mv "$tmp/$p" "$dir/"; done
log "built in $((SECONDS - start))s"
printf '%s\n' "$dir"
