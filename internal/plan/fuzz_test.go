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

package plan

import (
	"encoding/json"
	"testing"

	"github.com/overlaynet/overlaynet/internal/netconf"
	"github.com/overlaynet/overlaynet/internal/validation"
	"github.com/overlaynet/overlaynet/internal/validation/fuzzspec"
)

// FuzzPlan feeds arbitrary specs to the planner. Besides never panicking, a plan of a
// spec netconf resolves must be consistent: counts are not negative, the upgrade range
// lies within the capacity, no bound is exceeded, and a valid spec always gets a plan.
//
// Run it with: go test ./internal/plan -fuzz FuzzPlan
func FuzzPlan(f *testing.F) {
	for _, s := range fuzzspec.Seeds {
		f.Add(s.Mode, s.Families, s.Pods, s.Additional, s.Services, s.DNS, s.VNets, s.Connected, s.NonMasquerade,
			s.Pools, s.Subnets, s.MaxPods, s.PoolMaxPods, s.Block4, s.Block6, s.Flags, int64(0))
	}
	f.Fuzz(func(t *testing.T, mode, families, pods, additional, services, dns, vnets, connected, nonMasquerade,
		pools, subnets string, maxPods, poolMaxPods, block4, block6 int32, flags uint16, nodes int64) {
		spec := fuzzspec.Input{
			Mode: mode, Families: families, Pods: pods, Additional: additional, Services: services, DNS: dns,
			VNets: vnets, Connected: connected, NonMasquerade: nonMasquerade, Pools: pools, Subnets: subnets,
			MaxPods: maxPods, PoolMaxPods: poolMaxPods, Block4: block4, Block6: block6, Flags: flags,
		}.Spec()
		valid := len(validation.ValidateSpec(spec)) == 0 && len(validation.ValidateCluster(spec, validation.ClusterFacts{})) == 0

		p, err := New(spec, Facts{Nodes: nodes})
		if err != nil {
			if valid {
				t.Fatalf("a valid spec must get a plan: %v", err)
			}
			if _, rerr := netconf.Resolve(spec); rerr == nil {
				t.Fatalf("New failed on a spec netconf resolves: %v", err)
			}
			return
		}
		if _, err := json.Marshal(p); err != nil {
			t.Fatalf("marshalling the plan: %v", err)
		}
		if p.MaxNodes < 0 || p.MaxPods < 0 {
			t.Errorf("negative capacity: %d nodes, %d pods", p.MaxNodes, p.MaxPods)
		}
		r := p.NodesWithUpgradeRoom
		if r.Min < 0 || r.Min > r.Max || r.Max > p.MaxNodes {
			t.Errorf("the upgrade range %+v must lie within 0..%d", r, p.MaxNodes)
		}
		if p.PodsWithUpgradeRoom.Min > p.PodsWithUpgradeRoom.Max || p.PodsWithUpgradeRoom.Max > p.MaxPods {
			t.Errorf("the pods with upgrade room %+v must lie within 0..%d", p.PodsWithUpgradeRoom, p.MaxPods)
		}
		if p.RouteLimit > 0 && p.MaxNodes > p.RouteLimit {
			t.Errorf("%d nodes exceed the route table of %d", p.MaxNodes, p.RouteLimit)
		}
		for _, fam := range p.Families {
			if b := fam.Blocks.Int64(); p.MaxNodes > b {
				t.Errorf("%d nodes exceed the %d %s blocks", p.MaxNodes, b, fam.Family)
			}
		}
		var subnetNodes int64
		for _, s := range p.Subnets {
			if s.Usable.Big().Cmp(s.Addresses.Big()) > 0 || s.MaxNodes < 0 {
				t.Errorf("inconsistent subnet %+v", s)
			}
			subnetNodes = addSat(subnetNodes, s.MaxNodes)
		}
		if p.MaxNodes > subnetNodes {
			t.Errorf("%d nodes exceed the %d the subnets hold", p.MaxNodes, subnetNodes)
		}
		if _, err := SmallestIPv4PodCIDRPrefix(nodes, int(block4)); err == nil && (nodes < 0 || block4 < 0 || block4 > 32) {
			t.Errorf("SmallestIPv4PodCIDRPrefix(%d, %d) must fail", nodes, block4)
		}
	})
}
