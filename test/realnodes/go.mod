// Module of the real-node tests (test/realnodes): a local cluster of real kubelets,
// containerd, runc and kube-proxy in network namespaces, and container images built without
// a registry or a Docker engine by go-containerregistry. Its dependency graph stays out of
// the operator's go.mod; the replace below builds it against the working tree.
module github.com/overlaynet/overlaynet/test/realnodes

go 1.26.0

require github.com/google/go-containerregistry v0.22.1

require (
	github.com/klauspost/compress v1.19.2 // indirect
	github.com/opencontainers/go-digest v1.0.0 // indirect
	github.com/opencontainers/image-spec v1.1.1 // indirect
)

replace github.com/overlaynet/overlaynet => ../..
