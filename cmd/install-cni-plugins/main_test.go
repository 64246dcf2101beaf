package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func writeFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

func TestInstall(t *testing.T) {
	src, dst := t.TempDir(), filepath.Join(t.TempDir(), "opt", "cni", "bin")
	writeFile(t, filepath.Join(src, "ptp"), "ptp v2", 0o644)
	writeFile(t, filepath.Join(src, "host-local"), "host-local v2", 0o644)

	got, err := install(src, dst, []string{"ptp", "host-local"})
	if err != nil {
		t.Fatalf("first install: %v", err)
	}
	if want := []string{"ptp", "host-local"}; !slices.Equal(want, got) {
		t.Errorf("first install wrote %v, want %v", got, want)
	}
	for _, name := range []string{"ptp", "host-local"} {
		fi, err := os.Stat(filepath.Join(dst, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o755 {
			t.Errorf("%s has mode %v, want executable 0755", name, fi.Mode().Perm())
		}
	}

	got, err = install(src, dst, []string{"ptp", "host-local"})
	if err != nil || len(got) != 0 {
		t.Errorf("an up-to-date install wrote %v (err %v), want nothing", got, err)
	}

	writeFile(t, filepath.Join(dst, "ptp"), "ptp v1 from the distribution", 0o755)
	got, err = install(src, dst, []string{"ptp", "host-local"})
	if err != nil || !slices.Equal(got, []string{"ptp"}) {
		t.Errorf("an outdated plugin was not replaced: wrote %v (err %v), want [ptp]", got, err)
	}
	if b, _ := os.ReadFile(filepath.Join(dst, "ptp")); string(b) != "ptp v2" {
		t.Errorf("ptp holds %q after the install, want the image's", b)
	}
	entries, _ := os.ReadDir(dst)
	if len(entries) != 2 {
		t.Errorf("the bin dir holds %d entries, want the 2 plugins and no temporary file", len(entries))
	}
}

func TestInstallReportsMissingAndInvalidPlugins(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(src, "ptp"), "ptp", 0o755)
	got, err := install(src, dst, []string{"ptp", "portmap", "../evil"})
	if err == nil {
		t.Fatal("a missing plugin and a path as a name were not reported")
	}
	if !slices.Equal(got, []string{"ptp"}) {
		t.Errorf("wrote %v, want the plugin that exists, [ptp]", got)
	}
}
