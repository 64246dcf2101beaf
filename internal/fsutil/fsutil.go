// Package fsutil holds the one file-system helper the node binaries share: replacing a file
// so that readers see the old content or the new, never a part. Standard library only.
package fsutil

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// WriteFileAtomic makes dir/name hold data: it writes a temporary file in dir, syncs it and
// renames it over name, so a reader (the container runtime watching the directory) sees
// the old content or the new, never a part. The temporary name starts with a dot and ends
// in neither .conf, .conflist nor .json, so runtimes ignore it. It reports whether the file
// changed and leaves an identical file alone.
func WriteFileAtomic(dir, name string, data []byte, perm os.FileMode) (bool, error) {
	path := filepath.Join(dir, name)
	if cur, err := os.ReadFile(path); err == nil && bytes.Equal(cur, data) {
		if fi, err := os.Stat(path); err == nil && fi.Mode().Perm() == perm {
			return false, nil
		}
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
		err = f.Chmod(perm)
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
