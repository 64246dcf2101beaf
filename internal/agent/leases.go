package agent

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/overlaynet/overlaynet/internal/agent/desired"
)

// DefaultIPAMDataDir is where host-local keeps its reservations when the configuration
// names no dataDir.
const DefaultIPAMDataDir = "/var/lib/cni/networks"

// LeaseDir returns the directory in which host-local records the addresses of the
// network's pods: one file per address, named by it.
func LeaseDir(opts desired.CNIOptions) string {
	return filepath.Join(cmp.Or(opts.IPAMDataDir, DefaultIPAMDataDir), cmp.Or(opts.NetworkName, desired.DefaultNetworkName))
}

// readLeases returns the addresses that host-local holds for pods of the node. A missing
// directory means no pod has started yet. Files that are not addresses (host-local's lock
// and last_reserved_ip.N) are skipped.
//
// The agent reads them to keep pods that outlive a change of the node's addresses working:
// after a NodeSubnet to Overlay migration, running pods keep their node-subnet address
// until they restart (desired.FamilyRules.LegacySources).
func readLeases(dir string) ([]netip.Addr, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the pods' addresses from %s: %w", dir, err)
	}
	var out []netip.Addr
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		if a, err := netip.ParseAddr(e.Name()); err == nil {
			out = append(out, a)
		}
	}
	return out, nil
}
