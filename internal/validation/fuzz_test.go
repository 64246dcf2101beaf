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
	"regexp"
	"testing"

	"github.com/overlaynet/overlaynet/api/v1alpha1"
	"github.com/overlaynet/overlaynet/internal/netconf"
	"github.com/overlaynet/overlaynet/internal/validation/fuzzspec"
)

var ruleID = regexp.MustCompile(`^[RSBX][0-9]{1,2}$`)

// FuzzValidateSpec feeds arbitrary specs to every function of the rulebook and to
// netconf.Resolve. Besides never panicking, it holds them to three promises:
//   - a spec the rulebook accepts resolves: the controller never meets a spec that
//     passed validation and still cannot be used;
//   - an update that changes nothing is a valid transition, whatever the spec;
//   - every violation names a rule, a field and what is wrong.
//
// Run it with: go test ./internal/validation -fuzz FuzzValidateSpec
func FuzzValidateSpec(f *testing.F) {
	for _, s := range fuzzspec.Seeds {
		f.Add(s.Mode, s.Families, s.Pods, s.Additional, s.Services, s.DNS, s.VNets, s.Connected, s.NonMasquerade,
			s.Pools, s.Subnets, s.MaxPods, s.PoolMaxPods, s.Block4, s.Block6, s.Flags)
	}
	f.Fuzz(func(t *testing.T, mode, families, pods, additional, services, dns, vnets, connected, nonMasquerade,
		pools, subnets string, maxPods, poolMaxPods, block4, block6 int32, flags uint16) {
		spec := fuzzspec.Input{
			Mode: mode, Families: families, Pods: pods, Additional: additional, Services: services, DNS: dns,
			VNets: vnets, Connected: connected, NonMasquerade: nonMasquerade, Pools: pools, Subnets: subnets,
			MaxPods: maxPods, PoolMaxPods: poolMaxPods, Block4: block4, Block6: block6, Flags: flags,
		}.Spec()

		vs := ValidateSpec(spec)
		cluster := ValidateCluster(spec, ClusterFacts{})
		facts := ClusterFacts{KubernetesVersion: dns, CurrentMode: v1alpha1.ModeNodeSubnet, DockerWindowsNodes: []string{pools}}
		all := append(append(append(Violations{}, vs...), cluster...), ValidateCluster(spec, facts)...)
		all = append(all, ValidateTransition(fuzzspec.Seeds[0].Spec(), spec)...)
		all = append(all, ValidateTransition(spec, fuzzspec.Seeds[1].Spec())...)
		_ = MigrationWarnings(&v1alpha1.OverlayClusterSpec{Mode: v1alpha1.ModeKubenet}, spec)
		_ = ValidateObject(&v1alpha1.OverlayCluster{Spec: *spec})
		_ = all.Error()
		_ = all.Rules()

		for _, v := range all {
			if !ruleID.MatchString(v.Rule) || v.Field == "" || v.Message == "" {
				t.Errorf("a violation must name a rule, a field and a message: %#v", v)
			}
		}
		if _, err := netconf.Resolve(spec); err != nil && len(vs) == 0 && len(cluster) == 0 {
			t.Errorf("the rulebook accepts the spec but netconf cannot resolve it: %v\nspec: %+v", err, spec)
		}
		if same := ValidateTransition(spec, spec.DeepCopy()); len(same) > 0 {
			t.Errorf("an update that changes nothing must be valid, got %v", same)
		}
		if w := MigrationWarnings(spec, spec); len(w) > 0 {
			t.Errorf("an update that changes nothing is no migration, got warnings %v", w)
		}
	})
}

// TestFuzzSeedsAreWhatTheySay keeps the seeds honest: the valid ones are valid.
func TestFuzzSeedsAreWhatTheySay(t *testing.T) {
	for i, s := range fuzzspec.Seeds[:5] {
		if vs := ValidateSpec(s.Spec()); len(vs) > 0 {
			t.Errorf("seed %d is meant to be valid: %v", i, vs)
		}
	}
	for i, s := range fuzzspec.Seeds[5:] {
		if vs := ValidateSpec(s.Spec()); len(vs) == 0 {
			t.Errorf("seed %d is meant to be invalid", i+5)
		}
	}
}
