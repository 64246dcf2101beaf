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
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/overlaynet/overlaynet/api/v1alpha1"
	"github.com/overlaynet/overlaynet/internal/testenv"
	"github.com/overlaynet/overlaynet/internal/validation"
)

// ruleIDs finds the rule ids in an API server message: every CEL message of the CRD
// starts with one, as in `spec.dnsServiceIP: Invalid value: "10.0.0.1": R5: dnsServiceIP ...`.
var ruleIDs = regexp.MustCompile(`\b([RSBX][0-9]{1,2}): `)

// TestAdmissionAgreesWithRulebook runs the shared rulebook through a real API server with
// the generated CRD and requires, for every row, the verdict of the Go rulebook
// (ValidateSpec, plus ValidateTransition for an update) and the same rule ids in the
// message. Rows whose rules need cluster facts are admitted by the API server, whatever
// ValidateCluster says: the controller reports those.
func TestAdmissionAgreesWithRulebook(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a local API server")
	}
	if _, err := testenv.Assets(); err != nil {
		t.Skipf("no envtest assets (kube-apiserver, etcd): %v", err)
	}
	env, err := testenv.Start()
	if err != nil {
		t.Fatalf("starting the local control plane: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stopping the local control plane: %v", err)
		}
	})
	if n := len(validation.Rulebook); n < 60 {
		t.Errorf("the rulebook has %d rows, want at least 60", n)
	}

	// The samples users start from are admitted and valid.
	samples, err := filepath.Glob(filepath.Join(testenv.RepoRoot(), "config", "samples", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range samples {
		t.Run("the sample "+filepath.Base(path)+" is admitted", func(t *testing.T) {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var obj v1alpha1.OverlayCluster
			if err := yaml.UnmarshalStrict(b, &obj); err != nil {
				t.Fatal(err)
			}
			if vs := validation.ValidateObject(&obj); len(vs) > 0 {
				t.Errorf("the Go rulebook rejects the sample: %v", vs)
			}
			if err := admit(context.Background(), t, env.Client, validation.Case{Spec: obj.Spec}); err != nil {
				t.Errorf("the API server rejects the sample: %v", err)
			}
		})
	}

	for _, c := range validation.Rulebook {
		t.Run(c.Name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			want := validation.AdmissionRules(c)
			apiErr := admit(ctx, t, env.Client, c)

			if len(want) == 0 {
				if apiErr != nil {
					t.Fatalf("the Go rulebook accepts the spec, the API server rejects it: %v", apiErr)
				}
				return
			}
			if apiErr == nil {
				t.Fatalf("the Go rulebook rejects the spec with %v, the API server accepts it", want)
			}
			if !apierrors.IsInvalid(apiErr) {
				t.Fatalf("want an Invalid error, got %v", apiErr)
			}
			msg := apiErr.Error()
			if c.SchemaSays != "" {
				if !strings.Contains(msg, c.SchemaSays) {
					t.Errorf("the schema's message %q lacks %q", msg, c.SchemaSays)
				}
				return
			}
			var got []string
			for _, m := range ruleIDs.FindAllStringSubmatch(msg, -1) {
				got = append(got, m[1])
			}
			slices.Sort(got)
			got = slices.Compact(got)
			sortedWant := slices.Clone(want)
			slices.Sort(sortedWant)
			if diff := cmp.Diff(sortedWant, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("rule ids in the API server's message (-want +got):\n%s\nmessage: %s", diff, msg)
			}
		})
	}
}

// admit creates the row's OverlayCluster "default" (for an update row: creates the old
// spec, then updates it to the new one), deletes it again, and returns the API server's
// answer to the create or update under test.
func admit(ctx context.Context, t *testing.T, c client.Client, row validation.Case) error {
	t.Helper()
	obj := &v1alpha1.OverlayCluster{ObjectMeta: metav1.ObjectMeta{Name: v1alpha1.ClusterName}}
	t.Cleanup(func() {
		if err := c.Delete(context.Background(), obj); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("deleting the OverlayCluster: %v", err)
		}
	})
	var err error
	if row.Old == nil {
		obj.Spec = *row.Spec.DeepCopy()
		err = c.Create(ctx, obj)
	} else {
		obj.Spec = *row.Old.DeepCopy()
		if err := c.Create(ctx, obj); err != nil {
			t.Fatalf("creating the old spec: %v", err)
		}
		obj.Spec = *row.Spec.DeepCopy()
		err = c.Update(ctx, obj)
	}
	var status apierrors.APIStatus
	if err != nil && !errors.As(err, &status) {
		t.Fatalf("the API server did not answer: %v", err)
	}
	return err
}
