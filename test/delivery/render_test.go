package delivery

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/overlaynet/overlaynet/internal/testenv"
	"github.com/overlaynet/overlaynet/test/delivery/internal/chartgen"
)

// Namespace is where both installs put overlaynet.
const Namespace = "overlaynet-system"

// minKubeVersion is the oldest Kubernetes the chart declares (Chart.yaml kubeVersion): the
// chart is rendered and linted for it. (Helm built as a library assumes v1.20 otherwise.)
var minKubeVersion = &chartutil.KubeVersion{Version: "v1.33.0", Major: "1", Minor: "33"}

func chartDir() string { return filepath.Join(testenv.RepoRoot(), chartgen.ChartDir) }

// renderKustomize builds the kustomization in dir (relative to the repository root) with
// kustomize's Go API, the library `make build-installer` runs as a binary.
func renderKustomize(dir string) ([]*unstructured.Unstructured, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), filepath.Join(testenv.RepoRoot(), dir))
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	y, err := m.AsYaml()
	if err != nil {
		return nil, err
	}
	return decodeYAML(y)
}

// helmRender is a chart rendered by Helm's install action, client-only.
type helmRender struct {
	// CRDs are the objects of the chart's crds/ directory.
	CRDs []*unstructured.Unstructured
	// Objects are the rendered templates.
	Objects []*unstructured.Unstructured
	// Notes is the rendered NOTES.txt.
	Notes string
}

// All returns the CRDs, then the templates' objects: the order Helm installs them in.
func (r *helmRender) All() []*unstructured.Unstructured {
	return append(append([]*unstructured.Unstructured{}, r.CRDs...), r.Objects...)
}

// renderHelm renders charts/overlaynet into Namespace with vals, as `helm install
// --dry-run=client` does: the values are checked against values.schema.json first.
func renderHelm(vals map[string]any) (*helmRender, error) { return renderHelmIn(Namespace, vals) }

// renderHelmIn renders the chart as renderHelm does, into namespace ns.
func renderHelmIn(ns string, vals map[string]any) (*helmRender, error) {
	chrt, err := loader.Load(chartDir())
	if err != nil {
		return nil, err
	}
	install := action.NewInstall(&action.Configuration{Log: func(string, ...any) {}})
	install.DryRun = true
	install.ClientOnly = true
	install.ReleaseName = "overlaynet"
	install.Namespace = ns
	install.KubeVersion = minKubeVersion
	rel, err := install.Run(chrt, vals)
	if err != nil {
		return nil, err
	}
	r := &helmRender{Notes: rel.Info.Notes}
	if r.Objects, err = decodeYAML([]byte(rel.Manifest)); err != nil {
		return nil, fmt.Errorf("decoding the rendered chart: %w", err)
	}
	r.CRDs, err = crdObjects(chrt)
	return r, err
}

func crdObjects(chrt *chart.Chart) ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	for _, crd := range chrt.CRDObjects() {
		objs, err := decodeYAML(crd.File.Data)
		if err != nil {
			return nil, fmt.Errorf("decoding %s: %w", crd.Filename, err)
		}
		out = append(out, objs...)
	}
	return out, nil
}

// decodeYAML splits a multi-document YAML stream into objects, skipping empty documents.
func decodeYAML(b []byte) ([]*unstructured.Unstructured, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
	var out []*unstructured.Unstructured
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		u := &unstructured.Unstructured{}
		if err := utilyaml.Unmarshal(doc, &u.Object); err != nil {
			return nil, err
		}
		if len(u.Object) == 0 {
			continue
		}
		out = append(out, u)
	}
}

// key names an object for messages and maps: Kind namespace/name.
func key(u *unstructured.Unstructured) string {
	if u.GetNamespace() == "" {
		return u.GetKind() + " " + u.GetName()
	}
	return u.GetKind() + " " + u.GetNamespace() + "/" + u.GetName()
}

// byKey indexes objects by key, failing the test on duplicates.
func byKey(t *testing.T, objs []*unstructured.Unstructured) map[string]*unstructured.Unstructured {
	t.Helper()
	m := map[string]*unstructured.Unstructured{}
	for _, o := range objs {
		if _, dup := m[key(o)]; dup {
			t.Errorf("%s is rendered twice", key(o))
		}
		m[key(o)] = o
	}
	return m
}

// renders are the two ways overlaynet is delivered, rendered with their defaults.
func renders(t *testing.T) map[string][]*unstructured.Unstructured {
	t.Helper()
	k, err := renderKustomize("config/default")
	if err != nil {
		t.Fatal(err)
	}
	h, err := renderHelm(nil)
	if err != nil {
		t.Fatalf("rendering the chart with its default values: %v", err)
	}
	return map[string][]*unstructured.Unstructured{"kustomize config/default": k, "helm chart": h.All()}
}
