/*
Copyright 2026 The overlaynet Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package cli

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/overlaynet/overlaynet/api/v1alpha1"
	"github.com/overlaynet/overlaynet/internal/testenv"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files in testdata/plugin instead of comparing")

// golden compares got with testdata/plugin/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "plugin", name)
	if *updateGolden {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/cli -run TestPlugin -update)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", path, diff)
	}
}

// fixedTime is the condition transition time of the fixture, so that no output depends on
// when the test ran.
var fixedTime = metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))

func cond(t, status, reason, msg string, gen int64) metav1.Condition {
	return metav1.Condition{Type: t, Status: metav1.ConditionStatus(status), Reason: reason, Message: msg, ObservedGeneration: gen, LastTransitionTime: fixedTime}
}

// fixture writes a cluster of five nodes into the API server: two ready, one whose agent
// is behind, one whose routes failed, one waiting for a block, and one without an NNC.
func fixture(ctx context.Context, t *testing.T, c client.Client) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	ovc := &v1.OverlayCluster{
		ObjectMeta: metav1.ObjectMeta{Name: v1.ClusterName},
		Spec:       v1.OverlayClusterSpec{VNetCIDRs: []string{"10.1.0.0/16"}, PodCIDRs: []string{"10.244.0.0/22"}},
	}
	must(c.Create(ctx, ovc))
	ovc.Status = v1.OverlayClusterStatus{
		Mode: v1.ModeOverlay, Nodes: 6, AllocatedNodes: 4,
		Pools: []v1.PoolStatus{{Family: v1.IPv4, CIDRs: []string{"10.244.0.0/22"}, BlockPrefixLength: 24, TotalBlocks: "4", AllocatedBlocks: 4, FreeBlocks: "0"}},
		Conditions: []metav1.Condition{
			cond(v1.ClusterReady, "False", v1.ReasonNotAllAllocated, "4 of 6 nodes allocated", 1),
			cond(v1.ClusterConfigValid, "True", v1.ReasonValid, "Overlay mode, families [IPv4]", 1),
			cond(v1.ClusterPodCIDRAvailable, "False", v1.ReasonPoolExhausted, "no free block in the [IPv4] pod CIDRs; 1 node(s) wait (node-e): append a CIDR to spec.additionalPodCIDRs or widen spec.podCIDRs (B1)", 1),
		},
	}
	must(c.Status().Update(ctx, ovc))

	type row struct {
		name, ip, block string
		conds           []metav1.Condition
		bumpGeneration  bool
	}
	rows := []row{
		{"node-a", "10.1.0.4", "10.244.0.0/24", []metav1.Condition{
			cond(v1.NodeAllocated, "True", v1.ReasonAllocated, "holds [10.244.0.0/24]", 0),
			cond(v1.NodeProgrammed, "True", v1.ReasonProgrammed, "routes to 3 peers", 1)}, false},
		{"node-b", "10.1.0.5", "10.244.1.0/24", []metav1.Condition{
			cond(v1.NodeAllocated, "True", v1.ReasonAllocated, "holds [10.244.1.0/24]", 0),
			cond(v1.NodeProgrammed, "True", v1.ReasonProgrammed, "routes to 3 peers", 1)}, false},
		{"node-c", "10.1.0.6", "10.244.2.0/24", []metav1.Condition{
			cond(v1.NodeAllocated, "True", v1.ReasonAllocated, "holds [10.244.2.0/24]", 0),
			cond(v1.NodeProgrammed, "True", v1.ReasonProgrammed, "routes to 3 peers", 1)}, true},
		{"node-d", "10.1.0.7", "10.244.3.0/24", []metav1.Condition{
			cond(v1.NodeAllocated, "True", v1.ReasonAllocated, "holds [10.244.3.0/24]", 0),
			cond(v1.NodeProgrammed, "False", v1.ReasonRoutesFailed, "route to 10.244.0.0/24 via 10.1.0.4: network is unreachable", 1)}, false},
		{"node-e", "10.1.0.8", "", []metav1.Condition{
			cond(v1.NodeAllocated, "False", v1.ReasonPoolExhausted, "no free IPv4 block in 10.244.0.0/22 (B1)", 0),
			cond(v1.NodeProgrammed, "False", v1.ReasonWaitingForAllocation, "Waiting for the controller to allocate the node's pod CIDRs", 1)}, false},
	}
	for _, r := range append(rows, row{name: "node-f", ip: "10.1.0.9"}) {
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: r.name}}
		must(c.Create(ctx, node))
		node.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: r.ip}}
		must(c.Status().Update(ctx, node))
		if r.conds == nil {
			continue // node-f: the manager has not got to it
		}
		nnc := &v1.NodeNetworkConfig{
			ObjectMeta: metav1.ObjectMeta{Name: r.name},
			Spec:       v1.NodeNetworkConfigSpec{NodeUID: string(node.UID), Mode: v1.ModeOverlay},
		}
		nnc.Spec.Mode, nnc.Spec.NodeIPs, nnc.Spec.MaxPods = v1.ModeOverlay, []string{r.ip}, 250
		if r.block != "" {
			nnc.Spec.PodCIDRs = []string{r.block}
		}
		if r.bumpGeneration {
			nnc.Spec.MaxPods = 110 // changed to 250 below: the agent has not caught up
		}
		must(c.Create(ctx, nnc))
		if r.bumpGeneration {
			nnc.Spec.MaxPods = 250
			must(c.Update(ctx, nnc))
		}
		nnc.Status = v1.NodeNetworkConfigStatus{Conditions: r.conds}
		must(c.Status().Update(ctx, nnc))
	}
}

// TestPluginAgainstAnAPIServer runs kubectl-overlaynet's cluster commands against a local
// API server through a kubeconfig file, as kubectl runs a plugin, and checks their output.
func TestPluginAgainstAnAPIServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a local API server")
	}
	env, err := testenv.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	kubeconfig, err := env.KubeconfigFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	run := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := RunPlugin(append([]string{"--kubeconfig", kubeconfig}, args...), PluginOptions{
			Streams: genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut},
		})
		return code, out.String(), errOut.String()
	}

	t.Run("status without an OverlayCluster says so", func(t *testing.T) {
		code, out, _ := run("status")
		if code != ExitOK {
			t.Fatalf("exit code %d", code)
		}
		golden(t, "status-no-cluster.txt", out)
	})

	fixture(ctx, t, env.Client)

	cases := []struct {
		name     string
		args     []string
		wantCode int
		golden   string
	}{
		{"status draws the exhausted pool, the waiting node and the node counts", []string{"status"}, ExitOK, "status.txt"},
		{"nodes prints one line per node with blocks, node IPs, max pods and conditions", []string{"nodes"}, ExitOK, "nodes.txt"},
		{"explain of a ready node says so and exits 0", []string{"explain", "node-a"}, ExitOK, "explain-ready.txt"},
		{"explain of a node whose agent is behind names the generations", []string{"explain", "node-c"}, ExitInvalid, "explain-stale.txt"},
		{"R15 explain of a node whose routes failed gives the agent's message and the rule", []string{"explain", "node-d"}, ExitInvalid, "explain-routes.txt"},
		{"B1 explain of a waiting node says how to grow the pod space", []string{"explain", "node-e"}, ExitInvalid, "explain-exhausted.txt"},
		{"explain of a node without an NNC points at the manager", []string{"explain", "node-f"}, ExitInvalid, "explain-no-nnc.txt"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := run(tc.args...)
			if code != tc.wantCode {
				t.Errorf("exit code %d, want %d (stderr %q)", code, tc.wantCode, errOut)
			}
			golden(t, tc.golden, out)
		})
	}

	t.Run("explain of an unknown node is an error", func(t *testing.T) {
		code, _, errOut := run("explain", "node-z")
		if code != ExitUnusable || !strings.Contains(errOut, `node "node-z" not found`) {
			t.Errorf("exit code %d, stderr %q", code, errOut)
		}
	})
	t.Run("an unreachable API server is an error naming it", func(t *testing.T) {
		var out, errOut bytes.Buffer
		code := RunPlugin([]string{"--server", "https://127.0.0.1:1", "--insecure-skip-tls-verify", "--request-timeout", "5s", "nodes"}, PluginOptions{
			Streams: genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut},
		})
		if code != ExitUnusable || !strings.Contains(errOut.String(), "127.0.0.1:1") {
			t.Errorf("exit code %d, stderr %q", code, errOut.String())
		}
	})
	t.Run("validate and plan work offline as in overlayctl", func(t *testing.T) {
		code, out, _ := run("validate", "-f", filepath.Join(samples, "network_v1alpha1_overlaycluster.yaml"))
		if code != ExitOK || !strings.Contains(out, "overlaycluster/default is valid") {
			t.Errorf("validate: exit code %d, output %q", code, out)
		}
		code, out, _ = run("plan", "-f", filepath.Join(samples, "network_v1alpha1_overlaycluster_kubenet.yaml"))
		if code != ExitOK || !strings.Contains(out, "400") {
			t.Errorf("plan: exit code %d, output %q", code, out)
		}
	})
}
