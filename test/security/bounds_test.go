package security

import (
	"os"
	"path/filepath"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"

	"github.com/overlaynet/overlaynet/internal/testenv"
)

func crdSchema(t *testing.T, file string) apiextensionsv1.JSONSchemaProps {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "crd", "bases", file))
	if err != nil {
		t.Fatal(err)
	}
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := yaml.UnmarshalStrict(b, crd); err != nil {
		t.Fatal(err)
	}
	return *crd.Spec.Versions[0].Schema.OpenAPIV3Schema
}

// B7: the NodeNetworkConfig spec bounds follow from the OverlayCluster spec's, so that no
// valid OverlayCluster makes the manager write a spec its own schema refuses, and a
// bound raised on one side without the other fails here.
func TestB7SpecBoundsFollowTheOverlayClusterSpec(t *testing.T) {
	ovc := crdSchema(t, "network.overlaynet.io_overlayclusters.yaml").Properties["spec"].Properties
	nnc := crdSchema(t, "network.overlaynet.io_nodenetworkconfigs.yaml").Properties["spec"].Properties
	maxItems := func(s apiextensionsv1.JSONSchemaProps, field string) int64 {
		t.Helper()
		p, ok := s.Properties[field]
		if !ok || p.MaxItems == nil {
			t.Fatalf("%s has no maxItems", field)
		}
		return *p.MaxItems
	}
	spec := apiextensionsv1.JSONSchemaProps{Properties: ovc}
	node := apiextensionsv1.JSONSchemaProps{Properties: nnc}
	families := maxItems(spec, "ipFamilies")
	for field, want := range map[string]int64{
		"podCIDRs": families,
		"nodeIPs":  families,
	} {
		if got := maxItems(node, field); got != want {
			t.Errorf("spec.%s maxItems %d, want %d (from the OverlayCluster spec's bounds)", field, got, want)
		}
	}
	if got, pods := maxItems(node, "reservedIPs"), *ovc["maxPodsPerNode"].Maximum; float64(got) < pods {
		t.Errorf("spec.reservedIPs maxItems %d holds fewer entries than maxPodsPerNode %v", got, pods)
	}
	if got := *nnc["maxPods"].Maximum; got != *ovc["maxPodsPerNode"].Maximum {
		t.Errorf("spec.maxPods maximum %v, spec.maxPodsPerNode maximum %v", got, *ovc["maxPodsPerNode"].Maximum)
	}
}
