// Module that builds the upstream CNI reference plugins the node needs: ptp, host-local and
// portmap, which the node agent configures, and loopback, which the container runtime calls
// for every sandbox's lo (containerd's CRI needs it unless use_internal_loopback is set), from their Go module at a pinned version. It is separate from the
// project's module so that the plugins' dependency graph never leaks into the operator's
// go.mod. The version here is the source of truth for hack/cni-plugins.sh, and the tool
// block is the list of plugins that it and `make build-static` build (`go build tool`).
module github.com/overlaynet/overlaynet/hack/cni

go 1.26.0

tool (
	github.com/containernetworking/plugins/plugins/ipam/host-local
	github.com/containernetworking/plugins/plugins/main/loopback
	github.com/containernetworking/plugins/plugins/main/ptp
	github.com/containernetworking/plugins/plugins/meta/portmap
)

require (
	github.com/alexflint/go-filemutex v1.3.0 // indirect
	github.com/containernetworking/cni v1.3.0 // indirect
	github.com/containernetworking/plugins v1.9.1 // indirect
	github.com/coreos/go-iptables v0.8.0 // indirect
	github.com/mattn/go-shellwords v1.0.12 // indirect
	github.com/pkg/errors v0.9.1 // indirect
	github.com/safchain/ethtool v0.6.2 // indirect
	github.com/vishvananda/netlink v1.3.1 // indirect
	github.com/vishvananda/netns v0.0.5 // indirect
	golang.org/x/sys v0.35.0 // indirect
	sigs.k8s.io/knftables v0.0.18 // indirect
)
