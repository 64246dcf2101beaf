package delivery

import (
	"bytes"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/lint/support"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/overlaynet/overlaynet/internal/testenv"
	"github.com/overlaynet/overlaynet/test/delivery/internal/chartgen"
)

func TestChartGeneratedFilesAreUpToDate(t *testing.T) {
	want, err := chartgen.Generate(testenv.RepoRoot())
	if err != nil {
		t.Fatal(err)
	}
	for _, rel := range slices.Sorted(maps.Keys(want)) {
		got, err := os.ReadFile(filepath.Join(chartDir(), rel))
		if err != nil {
			t.Errorf("%s: %v (run make chart)", rel, err)
			continue
		}
		if !bytes.Equal(want[rel], got) {
			t.Errorf("charts/overlaynet/%s differs from what config/ generates: run make chart\n%s", rel,
				cmp.Diff(string(want[rel]), string(got)))
		}
	}
	onDisk, _ := filepath.Glob(filepath.Join(chartDir(), "crds", "*"))
	for _, f := range onDisk {
		if _, ok := want[filepath.Join("crds", filepath.Base(f))]; !ok {
			t.Errorf("charts/overlaynet/crds/%s has no source in config/crd/bases: run make chart", filepath.Base(f))
		}
	}
}

// normalize drops what legitimately differs between the two installs: Helm's own labels,
// and the imagePullPolicy the chart spells out.
func normalize(u *unstructured.Unstructured) map[string]any {
	o := u.DeepCopy()
	for _, l := range []string{"helm.sh/chart", "app.kubernetes.io/instance", "app.kubernetes.io/managed-by", "app.kubernetes.io/version"} {
		unstructured.RemoveNestedField(o.Object, "metadata", "labels", l)
	}
	for _, kind := range []string{"initContainers", "containers"} {
		cs, ok, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", kind)
		if !ok {
			continue
		}
		for _, c := range cs {
			delete(c.(map[string]any), "imagePullPolicy")
		}
		_ = unstructured.SetNestedSlice(o.Object, cs, "spec", "template", "spec", kind)
	}
	return o.Object
}

// The chart and config/default install the same objects with the same content: RBAC rules
// and CRDs come from one source (make chart), and the workloads, written twice, are
// compared here whole.
func TestChartMatchesKustomize(t *testing.T) {
	k, err := renderKustomize("config/default")
	if err != nil {
		t.Fatal(err)
	}
	h, err := renderHelm(nil)
	if err != nil {
		t.Fatal(err)
	}
	kObjs, hObjs := byKey(t, k), byKey(t, h.All())
	for _, name := range slices.Sorted(maps.Keys(kObjs)) {
		if strings.HasPrefix(name, "Namespace ") {
			continue // Helm installs into a namespace that exists (README)
		}
		ho, ok := hObjs[name]
		if !ok {
			t.Errorf("%s is installed by config/default but not by the chart", name)
			continue
		}
		ko := kObjs[name]
		if strings.HasPrefix(name, "CustomResourceDefinition ") {
			// kustomize adds its labels; the schemas must be identical.
			if diff := cmp.Diff(ko.Object["spec"], ho.Object["spec"]); diff != "" {
				t.Errorf("%s differs (-kustomize +helm):\n%s", name, diff)
			}
			continue
		}
		if diff := cmp.Diff(normalize(ko), normalize(ho)); diff != "" {
			t.Errorf("%s differs between config/default and the chart (-kustomize +helm):\n%s", name, diff)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(hObjs)) {
		if _, ok := kObjs[name]; !ok && name != "OverlayCluster default" {
			t.Errorf("%s is installed by the chart but not by config/default", name)
		}
	}
}

// lint runs `helm lint --strict` on the chart with vals and returns its errors and its
// messages of warning severity or worse.
func lint(vals map[string]any) []string {
	l := action.NewLint()
	l.Strict = true
	l.Namespace = Namespace
	l.KubeVersion = minKubeVersion
	res := l.Run([]string{chartDir()}, vals)
	var out []string
	for _, err := range res.Errors {
		out = append(out, err.Error())
	}
	for _, m := range res.Messages {
		if m.Severity >= support.WarningSev {
			out = append(out, m.Error())
		}
	}
	return out
}

func TestHelmLint(t *testing.T) {
	for name, vals := range map[string]map[string]any{
		"default values": nil,
		"dual-stack Kubenet plan without metrics": {
			"cluster": map[string]any{
				"mode": "Kubenet", "ipFamilies": []any{"IPv4", "IPv6"},
				"podCIDRs": []any{"10.244.0.0/16", "fd12:3456:789a::/64"}, "vnetCIDRs": []any{"10.224.0.0/12"},
			},
			"manager": map[string]any{"metricsPort": 0},
		},
		"no OverlayCluster": {"createCluster": false},
	} {
		t.Run(name, func(t *testing.T) {
			for _, m := range lint(vals) {
				t.Errorf("helm lint --strict: %s", m)
			}
		})
	}
}

func TestHelmLintCatchesABrokenValue(t *testing.T) {
	if msgs := lint(map[string]any{"cluster": map[string]any{"mode": "Calico"}}); len(msgs) == 0 {
		t.Fatal("helm lint accepted mode: Calico")
	}
}

func TestHelmValuesAreCheckedAgainstTheCRDSchema(t *testing.T) {
	for name, cluster := range map[string]map[string]any{
		"a misspelt field":      {"vnetCIDRs": []any{"10.224.0.0/12"}, "podCidrs": []any{"10.244.0.0/16"}},
		"an unknown mode":       {"vnetCIDRs": []any{"10.224.0.0/12"}, "mode": "Flannel"},
		"too many pods":         {"vnetCIDRs": []any{"10.224.0.0/12"}, "maxPodsPerNode": 500},
		"a pool without a name": {"vnetCIDRs": []any{"10.224.0.0/12"}, "nodePools": []any{map[string]any{"maxPods": 30}}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := renderHelm(map[string]any{"cluster": cluster}); err == nil {
				t.Errorf("helm install accepted cluster %v", cluster)
			}
		})
	}
}

// The cluster block becomes the OverlayCluster's spec verbatim, and nothing else: fields
// left out take the CRD's defaults on the server.
func TestHelmRendersTheClusterBlockIntoTheOverlayCluster(t *testing.T) {
	cluster := map[string]any{
		"mode":           "Overlay",
		"ipFamilies":     []any{"IPv4", "IPv6"},
		"podCIDRs":       []any{"10.244.0.0/16", "fd12:3456:789a::/64"},
		"vnetCIDRs":      []any{"10.224.0.0/12"},
		"connectedCIDRs": []any{"192.168.0.0/16"},
		"maxPodsPerNode": int64(110),
		"virtualNodes":   false,
		"nodePools": []any{map[string]any{
			"name": "system", "subnetCIDR": "10.224.0.0/24", "maxPods": int64(50),
			"nodeSelector": map[string]any{"matchLabels": map[string]any{"kubernetes.azure.com/mode": "system"}},
		}},
		"additionalPodCIDRs": []any{}, // empty: left out
	}
	r, err := renderHelm(map[string]any{"cluster": cluster})
	if err != nil {
		t.Fatal(err)
	}
	ovc := byKey(t, r.Objects)["OverlayCluster default"]
	if ovc == nil {
		t.Fatal("no OverlayCluster default rendered")
	}
	want := map[string]any{}
	for k, v := range cluster {
		if k != "additionalPodCIDRs" {
			want[k] = v
		}
	}
	// Compare through YAML, where numbers have one type.
	if diff := cmp.Diff(viaYAML(t, want), viaYAML(t, ovc.Object["spec"])); diff != "" {
		t.Errorf("OverlayCluster spec differs from the values (-values +rendered):\n%s", diff)
	}
	if ovc.GetAnnotations()["helm.sh/resource-policy"] != "keep" {
		t.Error("helm uninstall would delete the OverlayCluster")
	}

	none, err := renderHelm(map[string]any{"createCluster": false})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := byKey(t, none.Objects)["OverlayCluster default"]; ok {
		t.Error("createCluster: false still renders the OverlayCluster")
	}
}

func viaYAML(t *testing.T, v any) any {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := yaml.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// values.yaml documents every field of the spec, so that a field added to the API shows up
// in the chart's documentation.
func TestValuesDocumentEveryClusterField(t *testing.T) {
	values, err := os.ReadFile(filepath.Join(chartDir(), "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var schema struct {
		Properties struct {
			Cluster struct {
				Properties map[string]any `json:"properties"`
			} `json:"cluster"`
		} `json:"properties"`
	}
	b, err := os.ReadFile(filepath.Join(chartDir(), "values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &schema); err != nil {
		t.Fatal(err)
	}
	if len(schema.Properties.Cluster.Properties) == 0 {
		t.Fatal("values.schema.json has no cluster properties")
	}
	for field := range schema.Properties.Cluster.Properties {
		if !strings.Contains(string(values), "#   "+field+":") {
			t.Errorf("values.yaml does not document cluster.%s in its list of fields", field)
		}
	}
}
