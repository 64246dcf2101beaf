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
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// header is what every OverlayCluster file starts with.
const header = "apiVersion: network.overlaynet.io/v1alpha1\nkind: OverlayCluster\nmetadata:\n  name: default\n"

// samples is the directory of the sample configurations.
var samples = filepath.Join("..", "..", "config", "samples")

// result is what a run of overlayctl produced.
type result struct {
	code           int
	stdout, stderr string
}

// run runs overlayctl with args; files maps names used in args to their content, written
// to a temporary directory ("@name" in an argument is replaced by the file's path), and
// stdin is standard input.
func run(t *testing.T, files map[string]string, stdin string, args ...string) result {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for i, a := range args {
		if strings.HasPrefix(a, "@") {
			args[i] = filepath.Join(dir, a[1:])
		}
	}
	var stdout, stderr bytes.Buffer
	code := Run(args, strings.NewReader(stdin), &stdout, &stderr)
	return result{code, stdout.String(), stderr.String()}
}

func TestEverySampleIsValid(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join(samples, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) < 4 {
		t.Fatalf("want at least 4 samples (Overlay, dual-stack, Kubenet, NodeSubnet), found %v", paths)
	}
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			got := run(t, nil, "", "validate", "-f", path, "--kubernetes-version", "v1.30.2")
			want := result{ExitOK, "overlaycluster/default is valid\n", ""}
			if diff := cmp.Diff(want, got, cmp.AllowUnexported(result{})); diff != "" {
				t.Errorf("validate (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	const invalid = header + `spec:
  vnetCIDRs: [10.240.0.0/12]
  dnsServiceIP: 10.0.0.1
  virtualNodes: true
`
	for _, tc := range []struct {
		name       string
		files      map[string]string
		stdin      string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string // a substring
	}{
		{
			name:       "R2 R5 R18 every violation is printed on its own line and the exit code is 1",
			files:      map[string]string{"c.yaml": invalid},
			args:       []string{"validate", "-f", "@c.yaml"},
			wantCode:   ExitInvalid,
			wantStdout: "spec.podCIDRs[0]: 10.244.0.0/16 (default) overlaps spec.vnetCIDRs[0] 10.240.0.0/12 (R2)\nspec.dnsServiceIP: 10.0.0.1 is the first host of spec.serviceCIDRs[0] 10.0.0.0/16 (default), which kubernetes.default takes (R5)\nspec.virtualNodes: Overlay mode does not support virtual nodes (R18)\n",
			wantStderr: "overlaycluster/default is invalid: 3 violations (R2, R5, R18)",
		},
		{
			name:       "standard input is read with -f -",
			stdin:      invalid,
			args:       []string{"validate", "-f", "-"},
			wantCode:   ExitInvalid,
			wantStdout: "spec.podCIDRs[0]: 10.244.0.0/16 (default) overlaps spec.vnetCIDRs[0] 10.240.0.0/12 (R2)\nspec.dnsServiceIP: 10.0.0.1 is the first host of spec.serviceCIDRs[0] 10.0.0.0/16 (default), which kubernetes.default takes (R5)\nspec.virtualNodes: Overlay mode does not support virtual nodes (R18)\n",
		},
		{
			name:       "S6 an OverlayCluster not named default is invalid",
			files:      map[string]string{"c.yaml": strings.Replace(header, "name: default", "name: prod", 1) + "spec:\n  vnetCIDRs: [10.1.0.0/16]\n"},
			args:       []string{"validate", "-f", "@c.yaml"},
			wantCode:   ExitInvalid,
			wantStdout: "metadata.name: \"prod\" must be \"default\": there is one OverlayCluster per cluster (S6)\n",
		},
		{
			name:       "R19 dual-stack on Kubernetes 1.25 is invalid when the version is given",
			args:       []string{"validate", "-f", filepath.Join(samples, "network_v1alpha1_overlaycluster_dualstack.yaml"), "--kubernetes-version", "v1.25.6"},
			wantCode:   ExitInvalid,
			wantStdout: "kubernetesVersion: dual-stack needs Kubernetes 1.26.3 or later, the cluster runs v1.25.6 (R19)\n",
		},
		{
			name: "R50 a migration from NodeSubnet with a Windows node on docker is invalid",
			args: []string{"validate", "-f", filepath.Join(samples, "network_v1alpha1_overlaycluster.yaml"),
				"--current-mode", "NodeSubnet", "--docker-windows-node", "akswin000001", "--kubernetes-version", "v1.29.0"},
			wantCode:   ExitInvalid,
			wantStdout: "spec.networkPolicy: uninstall the Cilium network policy and set None before migrating from NodeSubnet to Overlay (R50)\nnodes: Windows nodes akswin000001 run the docker container runtime: move them to containerd before migrating from NodeSubnet to Overlay (R50)\n",
		},
		{
			name: "R52 an update that leaves Overlay is invalid",
			args: []string{"validate", "-f", filepath.Join(samples, "network_v1alpha1_overlaycluster_kubenet.yaml"),
				"--old", filepath.Join(samples, "network_v1alpha1_overlaycluster.yaml")},
			wantCode:   ExitInvalid,
			wantStdout: "spec.mode: cannot change from Overlay to Kubenet: the migration to Overlay is irreversible (R52)\n",
			wantStderr: "1 violation (R52)",
		},
		{
			name: "R54 a Kubenet to Overlay migration with extra non-masquerade ranges is valid with a warning",
			files: map[string]string{
				"old.yaml": header + "spec:\n  mode: Kubenet\n  vnetCIDRs: [10.1.0.0/16]\n  additionalNonMasqueradeCIDRs: [192.168.0.0/16]\n",
				"new.yaml": header + "spec:\n  mode: Overlay\n  vnetCIDRs: [10.1.0.0/16]\n  additionalNonMasqueradeCIDRs: [192.168.0.0/16]\n",
			},
			args:       []string{"validate", "-f", "@new.yaml", "--old", "@old.yaml"},
			wantCode:   ExitOK,
			wantStdout: "overlaycluster/default is valid\n",
			wantStderr: "warning: R54: additional non-masquerade range 192.168.0.0/16 keeps the pod source address",
		},
		{
			name: "R50 an update from NodeSubnet that keeps a network policy names the violation once",
			files: map[string]string{
				"old.yaml": header + "spec:\n  mode: NodeSubnet\n  vnetCIDRs: [10.1.0.0/16]\n  networkPolicy: Cilium\n",
				"new.yaml": header + "spec:\n  mode: Overlay\n  vnetCIDRs: [10.1.0.0/16]\n  networkPolicy: Cilium\n",
			},
			args:       []string{"validate", "-f", "@new.yaml", "--old", "@old.yaml"},
			wantCode:   ExitInvalid,
			wantStdout: "spec.networkPolicy: uninstall the Cilium network policy and set None before migrating from NodeSubnet to Overlay (R50)\n",
			wantStderr: "1 violation (R50)",
		},
		{
			name: "R51 a Kubenet to Overlay migration that changes the pod CIDR is invalid",
			files: map[string]string{
				"old.yaml": header + "spec:\n  mode: Kubenet\n  vnetCIDRs: [10.1.0.0/16]\n",
				"new.yaml": header + "spec:\n  mode: Overlay\n  podCIDRs: [10.244.0.0/15]\n  vnetCIDRs: [10.1.0.0/16]\n",
			},
			args:       []string{"validate", "-f", "@new.yaml", "--old", "@old.yaml"},
			wantCode:   ExitInvalid,
			wantStdout: "spec.podCIDRs: a Kubenet to Overlay migration keeps the pod CIDRs [10.244.0.0/16] and the nodes' blocks in them, got [10.244.0.0/15] (R51)\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := run(t, tc.files, tc.stdin, tc.args...)
			if got.code != tc.wantCode {
				t.Errorf("exit code: want %d, got %d\nstdout: %s\nstderr: %s", tc.wantCode, got.code, got.stdout, got.stderr)
			}
			if diff := cmp.Diff(tc.wantStdout, got.stdout); diff != "" {
				t.Errorf("stdout (-want +got):\n%s", diff)
			}
			if !strings.Contains(got.stderr, tc.wantStderr) {
				t.Errorf("stderr %q lacks %q", got.stderr, tc.wantStderr)
			}
		})
	}
}

// TestUnusableInput checks that input overlayctl cannot use gets a clear error and exit
// code 2, never a panic, from both commands.
func TestUnusableInput(t *testing.T) {
	for _, tc := range []struct {
		name       string
		content    string
		wantStderr string
	}{
		{"an unknown field is rejected", header + "spec:\n  podCIDR: 10.244.0.0/16\n  vnetCIDRs: [10.1.0.0/16]\n", `unknown field "spec.podCIDR"`},
		{"field names are case-sensitive", header + "spec:\n  PodCIDRs: [10.244.0.0/16]\n  vnetCIDRs: [10.1.0.0/16]\n", `unknown field "spec.PodCIDRs"`},
		{"a duplicate field is rejected", header + "spec:\n  vnetCIDRs: [10.1.0.0/16]\n  vnetCIDRs: [10.2.0.0/16]\n", `already set`},
		{"another kind is rejected", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: default\n", "kind ConfigMap is not OverlayCluster"},
		{"another apiVersion is rejected", strings.Replace(header, "v1alpha1", "v1beta1", 1), "apiVersion network.overlaynet.io/v1beta1 is not network.overlaynet.io/v1alpha1"},
		{"a document without apiVersion and kind is rejected", "spec:\n  vnetCIDRs: [10.1.0.0/16]\n", "apiVersion and kind are required"},
		{"malformed YAML is rejected", header + "spec:\n  vnetCIDRs: [10.1.0.0/16\n", "malformed YAML"},
		{"a tab in the indentation is rejected", header + "spec:\n\tvnetCIDRs: [10.1.0.0/16]\n", "malformed YAML"},
		{"a scalar is rejected", "just a string\n", "not an OverlayCluster"},
		{"a list is rejected", "- a\n- b\n", "not an OverlayCluster"},
		{"a wrongly typed field is rejected", header + "spec:\n  vnetCIDRs: 10.1.0.0/16\n", "vnetCIDRs"},
		{"an empty file is rejected", "", "the input is empty"},
		{"a file of comments is rejected", "# nothing here\n---\n# nor here\n", "the input is empty"},
		{"two documents are rejected", header + "spec:\n  vnetCIDRs: [10.1.0.0/16]\n---\n" + header + "spec:\n  vnetCIDRs: [10.1.0.0/16]\n", "2 YAML documents"},
	} {
		for _, cmd := range []string{"validate", "plan"} {
			t.Run(cmd+" "+tc.name, func(t *testing.T) {
				got := run(t, map[string]string{"c.yaml": tc.content}, "", cmd, "-f", "@c.yaml")
				if got.code != ExitUnusable || got.stdout != "" || !strings.Contains(got.stderr, tc.wantStderr) {
					t.Errorf("want exit 2, no output and an error containing %q; got exit %d\nstdout: %s\nstderr: %s", tc.wantStderr, got.code, got.stdout, got.stderr)
				}
			})
		}
	}
}

func TestUnusableCommandLine(t *testing.T) {
	sample := filepath.Join(samples, "network_v1alpha1_overlaycluster.yaml")
	for _, tc := range []struct {
		name       string
		args       []string
		wantStderr string
	}{
		{"a missing file is reported", []string{"validate", "-f", "does-not-exist.yaml"}, "reading does-not-exist.yaml"},
		{"-f is required", []string{"validate"}, "-f is required"},
		{"plan needs -f too", []string{"plan"}, "-f is required"},
		{"an unknown flag is reported", []string{"validate", "-f", sample, "--frobnicate"}, "unknown flag"},
		{"an unknown command is reported", []string{"apply", "-f", sample}, "unknown command"},
		{"a positional argument is reported", []string{"validate", sample}, "unknown command"},
		{"an unknown output format is reported", []string{"plan", "-f", sample, "-o", "yaml"}, `-o "yaml" is not table or json`},
		{"an unknown current mode is reported", []string{"validate", "-f", sample, "--current-mode", "Calico"}, `--current-mode "Calico"`},
		{"a negative node count is reported", []string{"plan", "-f", sample, "--nodes", "-1"}, "negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := run(t, nil, "", tc.args...)
			if got.code != ExitUnusable || !strings.Contains(got.stderr, tc.wantStderr) {
				t.Errorf("want exit 2 and an error containing %q; got exit %d\nstdout: %s\nstderr: %s", tc.wantStderr, got.code, got.stdout, got.stderr)
			}
		})
	}
}

func TestPlanTable(t *testing.T) {
	for _, tc := range []struct {
		name      string
		spec      string
		args      []string
		wantLines []string
	}{
		{
			name: "R33 a Kubenet /27 subnet: 27 usable addresses, 20–25 nodes and 2,200–2,750 pods with room for upgrades",
			spec: "spec:\n  mode: Kubenet\n  vnetCIDRs: [10.1.0.0/16]\n  nodePools:\n    - name: pool1\n      subnetCIDR: 10.1.0.32/27\n",
			wantLines: []string{
				"10.1.0.32/27 pool1 32 27 1 110 27",
				"Nodes that fit: 27 (bounded by the node subnets)",
				"Pods that fit: 2,970",
				"With room for upgrades: 20–25 nodes, 2,200–2,750 pods",
			},
		},
		{
			name: "R33 a Kubenet /24 subnet: 251 nodes, 27,610 pods",
			spec: "spec:\n  mode: Kubenet\n  vnetCIDRs: [10.1.0.0/16]\n  nodePools:\n    - name: pool1\n      subnetCIDR: 10.1.0.0/24\n",
			wantLines: []string{
				"Nodes that fit: 251 (bounded by the node subnets)",
				"Pods that fit: 27,610",
			},
		},
		{
			name: "R41 a NodeSubnet /24 subnet: 8 nodes, 240 pods",
			spec: "spec:\n  mode: NodeSubnet\n  vnetCIDRs: [10.1.0.0/16]\n  nodePools:\n    - name: pool1\n      subnetCIDR: 10.1.0.0/24\n",
			wantLines: []string{
				"10.1.0.0/24 pool1 256 251 31 30 8",
				"Nodes that fit: 8 (bounded by the node subnets)",
				"Pods that fit: 240",
			},
		},
		{
			name:      "R14 an Overlay /24 subnet: 251 nodes",
			spec:      "spec:\n  vnetCIDRs: [10.1.0.0/16]\n  nodePools:\n    - name: pool1\n      subnetCIDR: 10.1.0.0/24\n",
			wantLines: []string{"Nodes that fit: 251 (bounded by the node subnets)"},
		},
		{
			name: "R31 Kubenet stops at 400 nodes",
			spec: "spec:\n  mode: Kubenet\n  podCIDRs: [100.64.0.0/10]\n  vnetCIDRs: [172.16.0.0/16]\n",
			wantLines: []string{
				"Route table: 400 routes, one per node (R31)",
				"Nodes that fit: 400 (bounded by the route table)",
			},
		},
		{
			name: "R13 a /12 pod CIDR holds 4,096 nodes, 904 short of 5,000",
			spec: "spec:\n  podCIDRs: [100.64.0.0/12]\n  vnetCIDRs: [172.16.0.0/16]\n",
			args: []string{"--nodes", "5000"},
			wantLines: []string{
				"IPv4 100.64.0.0/12 /24 256 4,096 -904",
				"Nodes that fit: 4,096 (bounded by the IPv4 pod blocks)",
				"Headroom for 5,000 nodes: -904 nodes, -226,000 pods",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := run(t, map[string]string{"c.yaml": header + tc.spec}, "", append([]string{"plan", "-f", "@c.yaml"}, tc.args...)...)
			if got.code != ExitOK {
				t.Fatalf("exit %d\nstdout: %s\nstderr: %s", got.code, got.stdout, got.stderr)
			}
			lines := strings.Split(got.stdout, "\n")
			for _, want := range tc.wantLines {
				if !containsLine(lines, want) {
					t.Errorf("the table lacks the line %q:\n%s", want, got.stdout)
				}
			}
		})
	}
}

// containsLine reports whether a line reads want once runs of spaces, which depend on
// the widths of the other rows, are collapsed to one.
func containsLine(lines []string, want string) bool {
	for _, l := range lines {
		if strings.Join(strings.Fields(l), " ") == want {
			return true
		}
	}
	return false
}

func TestPlanJSON(t *testing.T) {
	got := run(t, nil, "", "plan", "-f", filepath.Join(samples, "network_v1alpha1_overlaycluster_dualstack.yaml"), "-o", "json", "--nodes", "100")
	if got.code != ExitOK {
		t.Fatalf("exit %d\nstderr: %s", got.code, got.stderr)
	}
	type family struct {
		Family     string `json:"family"`
		Blocks     string `json:"blocks"`
		FreeBlocks string `json:"freeBlocks"`
	}
	type headroom struct {
		FreeNodes int64 `json:"freeNodes"`
	}
	type planJSON struct {
		Mode      string   `json:"mode"`
		MaxNodes  int64    `json:"maxNodes"`
		LimitedBy string   `json:"limitedBy"`
		Families  []family `json:"families"`
		Headroom  headroom `json:"headroom"`
	}
	var p planJSON
	if err := json.Unmarshal([]byte(got.stdout), &p); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, got.stdout)
	}
	want := planJSON{
		Mode: "Overlay", MaxNodes: 256, LimitedBy: "IPv4 pod blocks",
		Families: []family{
			{Family: "IPv4", Blocks: "256", FreeBlocks: "156"},
			{Family: "IPv6", Blocks: "72057594037927936", FreeBlocks: "72057594037927836"},
		},
		Headroom: headroom{FreeNodes: 156},
	}
	if diff := cmp.Diff(want, p); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
}

func TestPlanRefusesAnInvalidConfiguration(t *testing.T) {
	got := run(t, map[string]string{"c.yaml": header + "spec:\n  vnetCIDRs: [10.240.0.0/12]\n"}, "", "plan", "-f", "@c.yaml")
	if got.code != ExitInvalid || got.stdout != "" || !strings.Contains(got.stderr, "(R2)") {
		t.Errorf("want exit 1, no plan and the R2 violation on stderr; got exit %d\nstdout: %s\nstderr: %s", got.code, got.stdout, got.stderr)
	}
}
