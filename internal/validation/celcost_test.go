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

package validation_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"

	apiextensions "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	crdvalidation "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/validation"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel/model"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"k8s.io/apiserver/pkg/cel/environment"
	"sigs.k8s.io/yaml"

	"github.com/overlaynet/overlaynet/internal/testenv"
)

// TestCRDPassesTheAPIServersOwnChecks validates the generated OverlayCluster CRD offline
// with the API server's CRD validation, which compiles every CEL rule and prices it: a
// rule that does not compile or does not fit the cost budget fails here, without a
// control plane. It also logs each rule's estimated cost against the budget.
func TestCRDPassesTheAPIServersOwnChecks(t *testing.T) {
	path := filepath.Join(testenv.RepoRoot(), "config", "crd", "bases", "network.overlaynet.io_overlayclusters.yaml")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v1crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.UnmarshalStrict(b, &v1crd); err != nil {
		t.Fatal(err)
	}
	apiextensionsv1.SetObjectDefaults_CustomResourceDefinition(&v1crd)
	var crd apiextensions.CustomResourceDefinition
	if err := apiextensionsv1.Convert_v1_CustomResourceDefinition_To_apiextensions_CustomResourceDefinition(&v1crd, &crd, nil); err != nil {
		t.Fatal(err)
	}
	if errs := crdvalidation.ValidateCustomResourceDefinition(context.Background(), &crd); len(errs) > 0 {
		t.Fatalf("the API server would refuse the CRD: %v", errs.ToAggregate())
	}

	// The estimates, for whoever adds the next rule.
	openAPI := crd.Spec.Validation // the schema of every version, when they share it
	if openAPI == nil {
		openAPI = crd.Spec.Versions[0].Schema
	}
	s, err := structuralschema.NewStructural(openAPI.OpenAPIV3Schema)
	if err != nil {
		t.Fatal(err)
	}
	envSet := environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion())
	var total uint64
	var lines []string
	var walk func(path string, s *structuralschema.Structural, cardinality uint64, root bool)
	walk = func(path string, s *structuralschema.Structural, cardinality uint64, root bool) {
		if len(s.XValidations) > 0 {
			schema := s
			if root {
				schema = model.WithTypeAndObjectMeta(s)
			}
			results, err := cel.Compile(schema, model.SchemaDeclType(schema, root), celconfig.PerCallLimit, envSet, cel.NewExpressionsEnvLoader())
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			for i, r := range results {
				cost := (r.MaxCost + r.MessageExpressionMaxCost) * cardinality
				total += cost
				if cost > crdvalidation.StaticEstimatedCostLimit {
					t.Errorf("%s rule %d costs %d, over the per-rule limit of %d: %s", path, i, cost, crdvalidation.StaticEstimatedCostLimit, s.XValidations[i].Rule)
				}
				lines = append(lines, fmt.Sprintf("%10d  %s[%d]", cost, path, i))
			}
		}
		for name, p := range s.Properties {
			walk(path+"."+name, &p, cardinality, false)
		}
		if s.Items != nil {
			n := uint64(1)
			if s.ValueValidation != nil && s.ValueValidation.MaxItems != nil {
				n = uint64(*s.ValueValidation.MaxItems)
			}
			walk(path+"[*]", s.Items, cardinality*n, false)
		}
	}
	walk("", s, 1, true)
	sort.Strings(lines)
	for _, l := range lines {
		t.Log(l)
	}
	t.Logf("total estimated cost %d of the CRD limit %d (%.3f%%)", total, crdvalidation.StaticEstimatedCRDCostLimit, 100*float64(total)/crdvalidation.StaticEstimatedCRDCostLimit)
	if total > crdvalidation.StaticEstimatedCRDCostLimit {
		t.Errorf("the rules cost %d together, over the CRD limit of %d", total, crdvalidation.StaticEstimatedCRDCostLimit)
	}
}
