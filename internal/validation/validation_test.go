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

	"github.com/overlaynet/overlaynet/api/v1alpha1"
)

func TestViolationFormat(t *testing.T) {
	vs := Violations{
		{Rule: "R2", Field: "spec.podCIDRs[0]", Message: "10.244.0.0/16 overlaps spec.vnetCIDRs[1] 10.240.0.0/12"},
		{Rule: "R10", Field: "spec.additionalPodCIDRs[0]", Message: "10.245.0.0/25 is smaller than one /24 node block"},
		{Rule: "B1", Field: "spec.podCIDRs[0]", Message: "x"},
		{Rule: "R2", Field: "spec.podCIDRs[1]", Message: "y"},
		{Rule: "S1", Field: "spec.vnetCIDRs[0]", Message: "z"},
	}
	if diff := cmp.Diff("spec.podCIDRs[0]: 10.244.0.0/16 overlaps spec.vnetCIDRs[1] 10.240.0.0/12 (R2)", vs[0].Error()); diff != "" {
		t.Errorf("Violation.Error (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"B1", "R2", "R10", "S1"}, vs.Rules()); diff != "" {
		t.Errorf("Rules are unique and ordered by letter, then number (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(vs[0].Error()+"; "+vs[1].Error(), vs[:2].Error()); diff != "" {
		t.Errorf("Violations.Error (-want +got):\n%s", diff)
	}
	if Violations(nil).Err() != nil || vs.Err() == nil {
		t.Errorf("Err is nil exactly when there are no violations")
	}
}

// TestValidateSpecMessages pins down fields and messages, which the rulebook table leaves
// to rule ids: they are what users read in the ConfigValid condition and in overlayctl.
func TestValidateSpecMessages(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec v1alpha1.OverlayClusterSpec
		want Violations
	}{
		{
			name: "R2 a pod CIDR inside the second VNet range names both fields and values",
			spec: spec(vnet("10.1.0.0/16", "10.240.0.0/12")),
			want: Violations{{Rule: "R2", Field: "spec.podCIDRs[0]", Message: "10.244.0.0/16 (default) overlaps spec.vnetCIDRs[1] 10.240.0.0/12"}},
		},
		{
			name: "R2 R3 the implied IPv6 defaults are named as such",
			spec: spec(dualStack(), connected("fd12:3456:789a::/48")),
			want: Violations{
				{Rule: "R2", Field: "spec.podCIDRs[1]", Message: "fd12:3456:789a::/64 (implied IPv6 default) overlaps spec.connectedCIDRs[0] fd12:3456:789a::/48"},
				{Rule: "R3", Field: "spec.serviceCIDRs[1]", Message: "fd12:3456:789a:1::/108 (implied IPv6 default) overlaps spec.connectedCIDRs[0] fd12:3456:789a::/48"},
			},
		},
		{
			name: "R1 each reserved range a VNet touches is named",
			spec: spec(vnet("172.16.0.0/12")),
			want: Violations{
				{Rule: "R1", Field: "spec.vnetCIDRs[0]", Message: "172.16.0.0/12 overlaps the reserved range 172.30.0.0/16"},
				{Rule: "R1", Field: "spec.vnetCIDRs[0]", Message: "172.16.0.0/12 overlaps the reserved range 172.31.0.0/16"},
			},
		},
		{
			name: "R5 DNS IP equal to the network address says so",
			spec: spec(dns("10.0.0.0")),
			want: Violations{{Rule: "R5", Field: "spec.dnsServiceIP", Message: "10.0.0.0 is the network address of spec.serviceCIDRs[0] 10.0.0.0/16 (default)"}},
		},
		{
			name: "R5 DNS IP outside the service CIDR says so",
			spec: spec(services("10.2.0.0/16")),
			want: Violations{{Rule: "R5", Field: "spec.dnsServiceIP", Message: "10.0.0.10 is outside spec.serviceCIDRs[0] 10.2.0.0/16"}},
		},
		{
			name: "R5 R7 an IPv4 DNS IP with only an IPv6 service CIDR has nothing to lie in",
			spec: spec(services("fd12:3456:789a:1::/108")),
			want: Violations{
				{Rule: "R7", Field: "spec.serviceCIDRs[0]", Message: "fd12:3456:789a:1::/108 is IPv6 but ipFamilies[0] is IPv4: one CIDR per family, in the same order"},
				{Rule: "R5", Field: "spec.dnsServiceIP", Message: "10.0.0.10 has no service CIDR of its family to lie in"},
			},
		},
		{
			name: "S1 S2 syntax errors name the entry and the canonical form",
			spec: spec(pods("10.244.0.0"), vnet("10.1.0.1/16", "FD00::/48")),
			want: Violations{
				{Rule: "S1", Field: "spec.podCIDRs[0]", Message: `"10.244.0.0" is not a CIDR (an IPv4 or IPv6 address, a slash and a prefix length)`},
				{Rule: "S2", Field: "spec.vnetCIDRs[0]", Message: "10.1.0.1/16 is not written canonically, write 10.1.0.0/16"},
				{Rule: "S2", Field: "spec.vnetCIDRs[1]", Message: "FD00::/48 is not written canonically, write fd00::/48"},
			},
		},
		{
			name: "R12 R9 S4 S5 pools are checked field by field",
			spec: spec(pool(v1alpha1.NodePool{Name: "a", MaxPods: ptr(int32(5)), OSType: "Plan9"}), pool(v1alpha1.NodePool{Name: "a"}), pool(v1alpha1.NodePool{Name: "b_"})),
			want: Violations{
				{Rule: "S5", Field: "spec.nodePools[1].name", Message: `"a" is also the name of spec.nodePools[0]: pool names are unique`},
				{Rule: "S4", Field: "spec.nodePools[0].osType", Message: `"Plan9" is not one of [Linux Windows]`},
				{Rule: "R9", Field: "spec.nodePools[2].name", Message: `"b_" must be a label value: at most 63 characters, alphanumerics, '-', '_' or '.' inside, alphanumerics at both ends`},
				{Rule: "R12", Field: "spec.nodePools[0].maxPods", Message: "5 is outside 10–250, the max pods per node of Overlay mode"},
			},
		},
		{
			name: "R11 R34 the Kubenet IPv6 block is the pod CIDR's length + 16",
			spec: spec(mode(v1alpha1.ModeKubenet), dualStack(), more("fd12:3456:789b::/96")),
			want: Violations{{Rule: "R11", Field: "spec.additionalPodCIDRs[0]", Message: "fd12:3456:789b::/96 is smaller than one /80 node block"}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ValidateSpec(&tc.spec)
			if diff := cmp.Diff(tc.want, got, cmpopts.SortSlices(func(a, b Violation) bool { return a.Error() < b.Error() })); diff != "" {
				t.Errorf("violations (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidateSpecNil(t *testing.T) {
	if diff := cmp.Diff([]string{"S5"}, ValidateSpec(nil).Rules()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestValidateObject(t *testing.T) {
	obj := &v1alpha1.OverlayCluster{Spec: spec(dns("10.0.0.1"))}
	obj.Name = "prod"
	want := Violations{
		{Rule: "S6", Field: "metadata.name", Message: `"prod" must be "default": there is one OverlayCluster per cluster`},
		{Rule: "R5", Field: "spec.dnsServiceIP", Message: "10.0.0.1 is the first host of spec.serviceCIDRs[0] 10.0.0.0/16 (default), which kubernetes.default takes"},
	}
	if diff := cmp.Diff(want, ValidateObject(obj)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestValidateTransitionMessages(t *testing.T) {
	for _, tc := range []struct {
		name     string
		old, new v1alpha1.OverlayClusterSpec
		want     Violations
	}{
		{
			name: "R52 leaving Overlay is irreversible",
			old:  spec(), new: spec(mode(v1alpha1.ModeNodeSubnet)),
			want: Violations{{Rule: "R52", Field: "spec.mode", Message: "cannot change from Overlay to NodeSubnet: the migration to Overlay is irreversible"}},
		},
		{
			name: "B1 narrowing a pod CIDR names the old and the new value",
			old:  spec(), new: spec(pods("10.244.0.0/17")),
			want: Violations{{Rule: "B1", Field: "spec.podCIDRs[0]", Message: "10.244.0.0/17 may only stay 10.244.0.0/16 or widen to a superset of it: nodes hold blocks in it"}},
		},
		{
			name: "B1 replacing an additional pod CIDR names both",
			old:  spec(more("10.245.0.0/16")), new: spec(more("10.246.0.0/16")),
			want: Violations{{Rule: "B1", Field: "spec.additionalPodCIDRs[0]", Message: "10.246.0.0/16 replaces 10.245.0.0/16: additionalPodCIDRs may only be appended to"}},
		},
		{
			name: "B1 R51 a Kubenet dual-stack migration must pin the IPv6 block size",
			old:  spec(mode(v1alpha1.ModeKubenet), dualStack()), new: spec(dualStack()),
			want: Violations{{Rule: "B1", Field: "spec.ipv6BlockPrefixLength", Message: "the IPv6 block prefix length would change from /80 to /120 and move existing blocks; set ipv6BlockPrefixLength to 80"}},
		},
		{
			name: "B1 an unchanged spec is a valid transition",
			old:  spec(mode(v1alpha1.ModeKubenet), dualStack(), more("10.245.0.0/16")), new: spec(mode(v1alpha1.ModeKubenet), dualStack(), more("10.245.0.0/16")),
		},
		{
			name: "B1 writing out the defaults is no change",
			old:  spec(), new: spec(mode(v1alpha1.ModeOverlay), families(v1alpha1.IPv4), pods("10.244.0.0/16"), services("10.0.0.0/16"), block4(24)),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, ValidateTransition(&tc.old, &tc.new), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("violations (-want +got):\n%s", diff)
			}
		})
	}
	if vs := ValidateTransition(nil, specPtr()); vs != nil {
		t.Errorf("a create is no transition, got %v", vs)
	}
}

func TestValidateClusterMessages(t *testing.T) {
	for _, tc := range []struct {
		name  string
		spec  v1alpha1.OverlayClusterSpec
		facts ClusterFacts
		want  Violations
	}{
		{
			name: "R19 dual-stack on 1.26.2 names both versions", spec: spec(dualStack()), facts: ClusterFacts{KubernetesVersion: "v1.26.2"},
			want: Violations{{Rule: "R19", Field: "kubernetesVersion", Message: "dual-stack needs Kubernetes 1.26.3 or later, the cluster runs v1.26.2"}},
		},
		{
			name: "R19 single-stack runs on any version", spec: spec(), facts: ClusterFacts{KubernetesVersion: "v1.20.0"},
		},
		{
			name: "R19 an unknown version skips the rule", spec: spec(dualStack()),
		},
		{
			name: "R19 a version that cannot be read is reported", spec: spec(dualStack()), facts: ClusterFacts{KubernetesVersion: "latest"},
			want: Violations{{Rule: "R19", Field: "kubernetesVersion", Message: `cannot tell whether "latest" is at least 1.26.3, which dual-stack needs: could not parse "latest" as version`}},
		},
		{
			name:  "R50 every precondition of a NodeSubnet migration is checked",
			spec:  spec(policy(v1alpha1.NetworkPolicyCilium)),
			facts: ClusterFacts{KubernetesVersion: "1.21.14", CurrentMode: v1alpha1.ModeNodeSubnet, DockerWindowsNodes: []string{"win2", "win1"}},
			want: Violations{
				{Rule: "R50", Field: "kubernetesVersion", Message: "migrating from NodeSubnet to Overlay needs Kubernetes 1.22.0 or later, the cluster runs 1.21.14"},
				{Rule: "R50", Field: "spec.networkPolicy", Message: "uninstall the Cilium network policy and set None before migrating from NodeSubnet to Overlay"},
				{Rule: "R50", Field: "nodes", Message: "Windows nodes win1, win2 run the docker container runtime: move them to containerd before migrating from NodeSubnet to Overlay"},
			},
		},
		{
			name: "R50 a cluster already in Overlay is no migration", spec: spec(policy(v1alpha1.NetworkPolicyCalico)),
			facts: ClusterFacts{KubernetesVersion: "1.21.14", CurrentMode: v1alpha1.ModeOverlay, DockerWindowsNodes: []string{"win1"}},
		},
		{
			name: "R50 a Kubenet migration does not need the NodeSubnet preconditions", spec: spec(),
			facts: ClusterFacts{KubernetesVersion: "1.21.14", CurrentMode: v1alpha1.ModeKubenet, DockerWindowsNodes: []string{"win1"}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, ValidateCluster(&tc.spec, tc.facts), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("violations (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMigrationWarnings(t *testing.T) {
	extra := func(c ...string) mod {
		return func(s *v1alpha1.OverlayClusterSpec) { s.AdditionalNonMasqueradeCIDRs = c }
	}
	for _, tc := range []struct {
		name     string
		old, new v1alpha1.OverlayClusterSpec
		want     []string
	}{
		{
			name: "R54 a NodeSubnet migration warns about each extra non-masquerade range once",
			old:  spec(mode(v1alpha1.ModeNodeSubnet), extra("192.168.0.0/16", "172.16.0.0/16")),
			new:  spec(extra("192.168.0.0/16")),
			want: []string{
				"R54: additional non-masquerade range 192.168.0.0/16 keeps the pod source address; after the migration from NodeSubnet to Overlay pod IPs are not reachable from outside the nodes, so connectivity to 192.168.0.0/16 may break: remove it or SNAT that traffic",
				"R54: additional non-masquerade range 172.16.0.0/16 keeps the pod source address; after the migration from NodeSubnet to Overlay pod IPs are not reachable from outside the nodes, so connectivity to 172.16.0.0/16 may break: remove it or SNAT that traffic",
			},
		},
		{name: "R54 a migration without extra ranges has no warning", old: spec(mode(v1alpha1.ModeKubenet)), new: spec()},
		{name: "R54 no migration, no warning", old: spec(extra("192.168.0.0/16")), new: spec(extra("192.168.0.0/16"))},
		{name: "R54 a Kubenet cluster staying Kubenet has no warning", old: spec(mode(v1alpha1.ModeKubenet), extra("192.168.0.0/16")), new: spec(mode(v1alpha1.ModeKubenet), extra("192.168.0.0/16"))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, MigrationWarnings(&tc.old, &tc.new), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}
