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

package validation

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// AdmissionRules returns the rule ids admission reports for a row, as the Go rulebook
// computes them: ValidateSpec of the spec, plus ValidateTransition for an update.
func AdmissionRules(c Case) []string {
	vs := ValidateSpec(&c.Spec)
	if c.Old != nil {
		vs = append(vs, ValidateTransition(c.Old, &c.Spec)...)
	}
	return vs.Rules()
}

// TestRulebook runs every row of the shared table through the Go rulebook. The agreement
// test runs the same rows through the API server.
func TestRulebook(t *testing.T) {
	for _, c := range Rulebook {
		t.Run(c.Name, func(t *testing.T) {
			if c.Old != nil {
				if vs := ValidateSpec(c.Old); len(vs) > 0 {
					t.Fatalf("the old spec of an update row must be valid, got %v", vs)
				}
			}
			if diff := cmp.Diff(c.WantRules, AdmissionRules(c), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("admission rules (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(c.WantClusterRules, ValidateCluster(&c.Spec, c.Facts).Rules(), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("cluster rules (-want +got):\n%s", diff)
			}
		})
	}
}
