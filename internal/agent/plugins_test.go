package agent_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/overlaynet/overlaynet/api/v1alpha1"
	"github.com/overlaynet/overlaynet/internal/agent"
)

func writePlugin(t *testing.T, dir, name string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/true\n"), mode); err != nil {
		t.Fatal(err)
	}
}

// TestRequiredPluginsAreTheConfigurationsAndLoopback: the runtime executes every plugin
// type of the list, the IPAM plugin ptp delegates to, and loopback for lo.
func TestRequiredPluginsAreTheConfigurationsAndLoopback(t *testing.T) {
	conf := []byte(`{"cniVersion":"1.0.0","name":"overlaynet","plugins":[
		{"type":"ptp","ipam":{"type":"host-local","ranges":[]}},
		{"type":"portmap","capabilities":{"portMappings":true}}]}`)
	got, err := agent.RequiredPlugins(conf)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"ptp", "host-local", "portmap", "loopback"}; !slices.Equal(got, want) {
		t.Errorf("RequiredPlugins = %v, want %v", got, want)
	}
	if _, err := agent.RequiredPlugins([]byte("{")); err == nil {
		t.Error("a malformed configuration was accepted")
	}
}

func TestMissingPluginsNeedAnExecutableRegularFile(t *testing.T) {
	dir := t.TempDir()
	writePlugin(t, dir, "ptp", 0o755)
	writePlugin(t, dir, "host-local", 0o644) // not executable
	if err := os.Mkdir(filepath.Join(dir, "portmap"), 0o755); err != nil {
		t.Fatal(err)
	}
	writePlugin(t, dir, "real-loopback", 0o755)
	if err := os.Symlink("real-loopback", filepath.Join(dir, "loopback")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("nowhere", filepath.Join(dir, "bridge")); err != nil {
		t.Fatal(err)
	}
	writePlugin(t, filepath.Dir(dir), "outside", 0o755)

	got := agent.MissingPlugins(dir, []string{"ptp", "host-local", "portmap", "loopback", "bridge", "vlan", "../outside", ".."})
	want := []string{"host-local", "portmap", "bridge", "vlan", "../outside", ".."}
	if !slices.Equal(got, want) {
		t.Errorf("MissingPlugins = %v, want %v", got, want)
	}
}

// TestReconcileWithoutLoopbackIsNotProgrammed is what real nodes found (issue 13): with
// ptp, host-local and portmap installed but no loopback, containerd fails every sandbox, so
// the node must not report Programmed nor get a configuration that makes it Ready.
func TestReconcileWithoutLoopbackIsNotProgrammed(t *testing.T) {
	bin := t.TempDir()
	for _, p := range []string{"ptp", "host-local", "portmap"} {
		writePlugin(t, bin, p, 0o755)
	}
	createNNC(t, "lo-1", "10.244.9.0/24", "10.224.0.9", 10)
	f := newAgent(t, "lo-1", func(o *agent.Options, _ *fakeDatapath) { o.CNIBinDir = bin })
	if _, err := f.reconcile(t); err == nil {
		t.Error("Reconcile succeeded without loopback")
	}
	want := &conditionSummary{Status: metav1.ConditionFalse, Reason: agent.ReasonCNIPluginsMissing,
		Message: "CNI plugins [loopback] are not installed (or not executable) in " + bin + "; the runtime calls [ptp host-local portmap loopback] for every pod: install the reference plugins there"}
	if got := condition(t, "lo-1", v1alpha1.NodeProgrammed); got == nil || *got != *want {
		t.Errorf("Programmed = %+v, want %+v", got, want)
	}
	if _, err := os.Stat(filepath.Join(f.confDir, agent.DefaultCNIConfName)); err == nil {
		t.Error("the CNI configuration was written without loopback")
	}

	writePlugin(t, bin, "loopback", 0o755)
	if _, err := f.reconcile(t); err != nil {
		t.Fatalf("Reconcile with every plugin: %v", err)
	}
	if got := condition(t, "lo-1", v1alpha1.NodeProgrammed); got == nil || got.Status != metav1.ConditionTrue {
		t.Errorf("Programmed = %+v once loopback is installed, want True", got)
	}
	if _, err := os.Stat(filepath.Join(f.confDir, agent.DefaultCNIConfName)); err != nil {
		t.Errorf("no CNI configuration once every plugin is installed: %v", err)
	}
}
