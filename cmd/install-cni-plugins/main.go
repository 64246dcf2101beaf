// Command install-cni-plugins copies the CNI reference plugins that the image carries
// (ptp, host-local, portmap and loopback, built from the Go module pinned in
// hack/cni/go.mod) into
// the host's CNI bin dir. It runs as the node agent DaemonSet's init container, because the
// image is distroless: there is no shell or cp to do it.
//
// Each plugin is written to a temporary file in the target directory and renamed over the
// old one, so that the container runtime, which may be executing the old binary at that
// moment, sees either the old file or the new one and never a part ("text file busy" cannot
// happen either: rename replaces the directory entry, not the running inode). A plugin that
// is already identical is left alone, so a restart of the DaemonSet writes nothing.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/overlaynet/overlaynet/internal/fsutil"
)

// defaultPlugins are the plugins the agent's CNI configuration names (internal/agent) and
// loopback, which the container runtime calls for every sandbox's lo interface.
const defaultPlugins = "ptp,host-local,portmap,loopback"

func main() {
	from := flag.String("from", "/opt/overlaynet/cni/bin", "Directory in the image that holds the plugins.")
	to := flag.String("to", "/host/opt/cni/bin", "The host's CNI bin dir, mounted into the container.")
	plugins := flag.String("plugins", defaultPlugins, "Comma-separated plugins to install.")
	flag.Parse()

	names := strings.Split(*plugins, ",")
	installed, err := install(*from, *to, names)
	for _, name := range installed {
		fmt.Printf("Installed CNI plugin %s\n", filepath.Join(*to, name))
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "Installing CNI plugins: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("CNI plugins %s are up to date in %s\n", strings.Join(names, ", "), *to)
}

// install copies every named plugin from src to dst unless dst already holds an identical
// file, and returns the names it wrote.
func install(src, dst string, names []string) ([]string, error) {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return nil, err
	}
	var written []string
	var errs []error
	for _, name := range names {
		name = strings.TrimSpace(name)
		if name == "" || name != filepath.Base(name) {
			errs = append(errs, fmt.Errorf("invalid plugin name %q", name))
			continue
		}
		changed, err := installOne(filepath.Join(src, name), dst, name)
		if err != nil {
			errs = append(errs, fmt.Errorf("plugin %s: %w", name, err))
			continue
		}
		if changed {
			written = append(written, name)
		}
	}
	return written, errors.Join(errs...)
}

func installOne(srcPath, dir, name string) (bool, error) {
	data, err := os.ReadFile(srcPath)
	if err != nil {
		return false, err
	}
	return fsutil.WriteFileAtomic(dir, name, data, 0o755)
}
