package agent

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
)

// RuntimePlugins are the CNI plugins the container runtime calls besides the ones the
// configuration names: loopback brings up every sandbox's lo (containerd's CRI fails every
// sandbox without it, unless its use_internal_loopback option is set).
var RuntimePlugins = []string{"loopback"}

// RequiredPlugins returns the plugins the runtime will execute for a pod under conflist:
// every plugin's type and its IPAM plugin's type, in order, then RuntimePlugins.
func RequiredPlugins(conflist []byte) ([]string, error) {
	var conf struct {
		Plugins []struct {
			Type string `json:"type"`
			IPAM struct {
				Type string `json:"type"`
			} `json:"ipam"`
		} `json:"plugins"`
	}
	if err := json.Unmarshal(conflist, &conf); err != nil {
		return nil, fmt.Errorf("reading the plugins of the CNI configuration: %w", err)
	}
	var out []string
	add := func(name string) {
		if name != "" && !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	for _, p := range conf.Plugins {
		add(p.Type)
		add(p.IPAM.Type)
	}
	for _, p := range RuntimePlugins {
		add(p)
	}
	return out, nil
}

// MissingPlugins returns the plugins of names that the runtime could not execute from dir:
// absent, not a regular file (after symlinks), or without an execute bit. A name that is
// not a plain file name (a path, "..") is missing too: the runtime would not find it in dir.
func MissingPlugins(dir string, names []string) []string {
	var missing []string
	for _, name := range names {
		if name != filepath.Base(name) || name == "." || name == ".." {
			missing = append(missing, name)
			continue
		}
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
			missing = append(missing, name)
		}
	}
	return missing
}

// checkPlugins returns a CNIPluginsMissing error naming every plugin of conflist (and
// RuntimePlugins) that is not executable in binDir.
func checkPlugins(binDir string, conflist []byte) error {
	names, err := RequiredPlugins(conflist)
	if err != nil {
		return &cniError{ReasonCNIConfigFailed, err}
	}
	if missing := MissingPlugins(binDir, names); len(missing) > 0 {
		return &cniError{ReasonCNIPluginsMissing, fmt.Errorf("CNI plugins %v are not installed (or not executable) in %s; the runtime calls %v for every pod: install the reference plugins there", missing, binDir, names)}
	}
	return nil
}
