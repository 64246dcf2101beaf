package agent

import (
	"context"
	"fmt"
	"path/filepath"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/overlaynet/overlaynet/internal/agent/desired"
	"github.com/overlaynet/overlaynet/internal/fsutil"
)

// cniError is a CNI configuration failure with the reason it reports.
type cniError struct {
	reason string
	err    error
}

func (e *cniError) Error() string { return e.err.Error() }
func (e *cniError) Unwrap() error { return e.err }

// writeCNI writes the node's CNI configuration if it changed. It refuses to name plugins
// the runtime cannot execute (checkPlugins: the configuration's and loopback): a
// configuration in place tells the kubelet that the network is ready, and every pod would
// then fail to start.
func (a *Agent) writeCNI(ctx context.Context, cni desired.CNI) error {
	if a.opts.CNIBinDir != "" {
		if err := checkPlugins(a.opts.CNIBinDir, cni.Conflist); err != nil {
			return err
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

// WriteFileAtomic writes a CNI configuration file atomically; see fsutil.WriteFileAtomic.
func WriteFileAtomic(dir, name string, data []byte) (bool, error) {
	return fsutil.WriteFileAtomic(dir, name, data, 0o644)
}
