// Package realnodes runs overlaynet as a user would on a local cluster of real nodes:
// etcd, kube-apiserver, kube-controller-manager and kube-scheduler in one network
// namespace, and per node containerd, runc, kubelet and kube-proxy (nftables mode) in a
// network namespace on one VNet bridge (test/topology) with a private mount namespace.
// Every binary comes from Go modules at pinned versions (hack/realnodes-assets.sh); the
// images come from the project's own binaries through go-containerregistry, without a
// registry or a Docker engine.
package realnodes

import (
	"archive/tar"
	"bytes"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// v1ImageConfig is an image's runtime configuration (user, entrypoint).
type v1ImageConfig = v1.Config

// ImageFile is one file of an image: Path in the image, Source on disk.
type ImageFile struct {
	Path   string
	Source string
}

// ProductFiles are the overlaynet image's files, relative to the output of
// `make build-static LOCALBIN=<dir>`: the same layout as the Dockerfile's image (a test
// keeps the two equal).
var ProductFiles = []ImageFile{
	{"/usr/local/bin/manager", "manager"},
	{"/usr/local/bin/agent", "agent"},
	{"/usr/local/bin/overlayctl", "overlayctl"},
	{"/usr/local/bin/kubectl-overlaynet", "kubectl-overlaynet"},
	{"/usr/local/bin/install-cni-plugins", "install-cni-plugins"},
	{"/opt/overlaynet/cni/bin/ptp", "cni/ptp"},
	{"/opt/overlaynet/cni/bin/host-local", "cni/host-local"},
	{"/opt/overlaynet/cni/bin/portmap", "cni/portmap"},
	{"/opt/overlaynet/cni/bin/loopback", "cni/loopback"},
}

// ProductConfig is the image configuration of the Dockerfile's image: distroless's
// non-root user and the manager as entrypoint.
var ProductConfig = v1.Config{User: "65532:65532", Entrypoint: []string{"/usr/local/bin/manager"}}

// passwd and group name the distroless users (root and nonroot), as the base image does.
var baseFiles = map[string]string{
	"/etc/passwd": "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n",
	"/etc/group":  "root:x:0:\nnonroot:x:65532:\n",
}

// WriteImage writes a one-layer image of files (sources under srcDir) with cfg as a
// docker-archive tarball at path, tagged ref, for `ctr images import`.
func WriteImage(path, ref, srcDir string, files []ImageFile, cfg v1.Config) error {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	entries := map[string][]byte{}
	for p, c := range baseFiles {
		entries[p] = []byte(c)
	}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(srcDir, f.Source))
		if err != nil {
			return fmt.Errorf("image %s: %w", ref, err)
		}
		entries[f.Path] = b
	}
	dirs := map[string]bool{"/tmp": true}
	for p := range entries {
		for d := pathDir(p); d != "/"; d = pathDir(d) {
			dirs[d] = true
		}
	}
	var names []string
	for d := range dirs {
		names = append(names, d)
	}
	sort.Strings(names)
	for _, d := range names {
		mode := int64(0o755)
		if d == "/tmp" {
			mode = 0o1777
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d[1:] + "/", Mode: mode}); err != nil {
			return err
		}
	}
	names = names[:0]
	for p := range entries {
		names = append(names, p)
	}
	sort.Strings(names)
	for _, p := range names {
		mode := int64(0o755)
		if pathDir(p) == "/etc" {
			mode = 0o644
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: p[1:], Mode: mode, Size: int64(len(entries[p]))}); err != nil {
			return err
		}
		if _, err := tw.Write(entries[p]); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	layer, err := tarball.LayerFromReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		return err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cf = cf.DeepCopy()
	cf.Config = cfg
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return err
	}
	tag, err := name.NewTag(ref)
	if err != nil {
		return err
	}
	return tarball.WriteToFile(path, tag, img)
}

func pathDir(p string) string { return path.Dir(p) }
