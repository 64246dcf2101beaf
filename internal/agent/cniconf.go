package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/overlaynet/overlaynet/internal/agent/desired"
)

// Plugins are the CNI plugins the configuration names.
var Plugins = []string{"ptp", "host-local", "portmap"}

// cniError is a CNI configuration failure with the reason it reports.
type cniError struct {
	reason string
	err    error
}

func (e *cniError) Error() string { return e.err.Error() }
func (e *cniError) Unwrap() error { return e.err }

// writeCNI writes the node's CNI configuration if it changed. It refuses to name plugins
// the runtime cannot find: a configuration in place tells the kubelet that the network is
// ready, and every pod would then fail to start.
func (a *Agent) writeCNI(ctx context.Context, cni desired.CNI) error {
	if a.opts.CNIBinDir != "" {
		var missing []string
		for _, p := range Plugins {
			if fi, err := os.Stat(filepath.Join(a.opts.CNIBinDir, p)); err != nil || fi.Mode()&0o111 == 0 {
				missing = append(missing, p)
			}
		}
		if len(missing) > 0 {
			return &cniError{ReasonCNIPluginsMissing, fmt.Errorf("CNI plugins %v are not installed in %s; install the reference plugins there", missing, a.opts.CNIBinDir)}
		}
	}
	changed, err := WriteFileAtomic(a.opts.CNIConfDir, a.opts.CNIConfName, cni.Conflist)
	if err != nil {
		return &cniError{ReasonCNIConfigFailed, fmt.Errorf("writing the CNI configuration: %w", err)}
	}
	if changed {
		ctrl.LoggerFrom(ctx).Info("Wrote CNI configuration", "path", filepath.Join(a.opts.CNIConfDir, a.opts.CNIConfName), "capacity", cni.Capacity)
	}
	return nil
}

// WriteFileAtomic makes dir/name hold data: it writes a temporary file in dir, syncs it and
// renames it over name, so a reader (the container runtime watching the directory) sees
// the old content or the new, never a part. The temporary name starts with a dot and ends
// in neither .conf, .conflist nor .json, so runtimes ignore it. It reports whether the file
// changed and leaves an identical file alone.
func WriteFileAtomic(dir, name string, data []byte) (bool, error) {
	path := filepath.Join(dir, name)
	if cur, err := os.ReadFile(path); err == nil && bytes.Equal(cur, data) {
		return false, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, err
	}
	f, err := os.CreateTemp(dir, "."+name+".tmp-*")
	if err != nil {
		return false, err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // a no-op once renamed
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(0o644)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return false, fmt.Errorf("writing %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return false, err
	}
	// Make the rename durable too.
	if d, err := os.Open(dir); err == nil {
		err = errors.Join(d.Sync(), d.Close())
		if err != nil {
			return true, fmt.Errorf("syncing %s: %w", dir, err)
		}
	}
	return true, nil
}
