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
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/overlaynet/overlaynet/api/v1alpha1"
)

// Case is one row of the rulebook: a spec, for an update the spec it replaces, and the
// verdict every enforcer must reach. It is exported (from a test file) so that the
// agreement test in package validation_test can run the same rows through the API server.
type Case struct {
	// Name says what the row proves, starting with the rule id.
	Name string
	// Old, when set, makes the row an update from Old to Spec; Old must be valid.
	Old *v1alpha1.OverlayClusterSpec
	// Spec is the spec created, or the one an update writes.
	Spec v1alpha1.OverlayClusterSpec
	// WantRules are the rule ids admission reports: ValidateSpec(Spec), plus
	// ValidateTransition(Old, Spec) for an update. Empty means the spec is admitted.
	WantRules []string
	// SchemaSays is set when the CRD's OpenAPI schema, not a CEL rule, rejects the spec:
	// the schema stops validation before CEL runs and its messages carry no rule id, so
	// the API server's message must contain this instead.
	SchemaSays string
	// Facts feed ValidateCluster, the Go-only rules that need the running cluster.
	Facts ClusterFacts
	// WantClusterRules are the rule ids ValidateCluster(Spec, Facts) reports. Admission
	// cannot check these (it accepts the row unless WantRules says otherwise); the
	// controller reports them as ConfigValid=False.
	WantClusterRules []string
}

// mod changes a spec under construction.
type mod func(*v1alpha1.OverlayClusterSpec)

// spec returns a valid single-stack Overlay spec (VNet 10.1.0.0/16, every other field
// defaulted) with the mods applied.
func spec(mods ...mod) v1alpha1.OverlayClusterSpec {
	s := v1alpha1.OverlayClusterSpec{VNetCIDRs: []string{"10.1.0.0/16"}}
	for _, m := range mods {
		m(&s)
	}
	return s
}

func specPtr(mods ...mod) *v1alpha1.OverlayClusterSpec { s := spec(mods...); return &s }

func ptr[T any](v T) *T { return &v }

func mode(m v1alpha1.NetworkMode) mod { return func(s *v1alpha1.OverlayClusterSpec) { s.Mode = m } }
func dualStack() mod {
	return func(s *v1alpha1.OverlayClusterSpec) { s.IPFamilies = []v1alpha1.IPFamily{v1alpha1.IPv4, v1alpha1.IPv6} }
}
func families(f ...v1alpha1.IPFamily) mod {
	return func(s *v1alpha1.OverlayClusterSpec) { s.IPFamilies = f }
}
func pods(c ...string) mod     { return func(s *v1alpha1.OverlayClusterSpec) { s.PodCIDRs = c } }
func more(c ...string) mod     { return func(s *v1alpha1.OverlayClusterSpec) { s.AdditionalPodCIDRs = c } }
func services(c ...string) mod { return func(s *v1alpha1.OverlayClusterSpec) { s.ServiceCIDRs = c } }
func dns(ip string) mod        { return func(s *v1alpha1.OverlayClusterSpec) { s.DNSServiceIP = ip } }
func vnet(c ...string) mod     { return func(s *v1alpha1.OverlayClusterSpec) { s.VNetCIDRs = c } }
func connected(c ...string) mod {
	return func(s *v1alpha1.OverlayClusterSpec) { s.ConnectedCIDRs = c }
}
func maxPods(n int32) mod { return func(s *v1alpha1.OverlayClusterSpec) { s.MaxPodsPerNode = &n } }
func block4(n int32) mod  { return func(s *v1alpha1.OverlayClusterSpec) { s.IPv4BlockPrefixLength = n } }
func block6(n int32) mod {
	return func(s *v1alpha1.OverlayClusterSpec) { s.IPv6BlockPrefixLength = &n }
}
func policy(p v1alpha1.NetworkPolicyEngine) mod {
	return func(s *v1alpha1.OverlayClusterSpec) { s.NetworkPolicy = p }
}
func outbound(o v1alpha1.OutboundType) mod {
	return func(s *v1alpha1.OverlayClusterSpec) { s.OutboundType = o }
}
func virtualNodes() mod { return func(s *v1alpha1.OverlayClusterSpec) { s.VirtualNodes = true } }
func pool(p v1alpha1.NodePool) mod {
	return func(s *v1alpha1.OverlayClusterSpec) { s.NodePools = append(s.NodePools, p) }
}

// Rulebook is the shared table: the Go rulebook and the API server must agree on every
// row. Rows are grouped by rule; each rule has rows that are accepted and rejected.
var Rulebook = []Case{
	// Valid configurations of every mode.
	{Name: "R6 a minimal Overlay spec that leaves everything to the defaults is accepted", Spec: spec()},
	{Name: "R6 a dual-stack Overlay spec with both families written out is accepted",
		Spec: spec(dualStack(), pods("10.244.0.0/16", "fd12:3456:789a::/64"), services("10.0.0.0/16", "fd12:3456:789a:1::/108"))},
	{Name: "R6 a dual-stack spec with one-entry lists takes the IPv6 defaults and is accepted", Spec: spec(dualStack())},
	{Name: "R6 a Kubenet spec with the Calico policy and a /24 node subnet is accepted",
		Spec: spec(mode(v1alpha1.ModeKubenet), policy(v1alpha1.NetworkPolicyCalico), pool(v1alpha1.NodePool{Name: "pool1", SubnetCIDR: "10.1.0.0/24"}))},
	{Name: "R6 a NodeSubnet spec with virtual nodes and the Azure policy is accepted",
		Spec: spec(mode(v1alpha1.ModeNodeSubnet), virtualNodes(), policy(v1alpha1.NetworkPolicyAzure))},

	// Syntax (the schema's own rules, enforced with CEL).
	{Name: "S1 a pod CIDR without a prefix length is rejected", Spec: spec(pods("10.244.0.0")), WantRules: []string{"S1"}},
	{Name: "S1 an IPv4-mapped IPv6 VNet CIDR is rejected", Spec: spec(vnet("::ffff:10.1.0.0/112")), WantRules: []string{"S1"}},
	{Name: "S1 a node pool subnet that is not a CIDR is rejected",
		Spec: spec(pool(v1alpha1.NodePool{Name: "pool1", SubnetCIDR: "10.1.0.0/33"})), WantRules: []string{"S1"}},
	{Name: "S2 a service CIDR with host bits set is rejected", Spec: spec(services("10.0.0.1/16")), WantRules: []string{"S2"}},
	{Name: "S2 an upper-case IPv6 pod CIDR is rejected",
		Spec: spec(dualStack(), pods("10.244.0.0/16", "FD12:3456:789A::/64")), WantRules: []string{"S2"}},
	{Name: "S3 a DNS service IP that is not an address is rejected", Spec: spec(dns("10.0.0.300")), WantRules: []string{"S3"}},
	{Name: "S3 an IPv6 DNS service IP that is not written canonically is rejected",
		Spec: spec(dualStack(), dns("fd12:3456:789a:1:0::a")), WantRules: []string{"S3"}},
	{Name: "S4 an unknown mode is rejected by the schema", Spec: spec(mode("Cilium")), WantRules: []string{"S4"}, SchemaSays: "Unsupported value"},
	{Name: "S5 a spec without vnetCIDRs is rejected by the schema", Spec: spec(vnet()), WantRules: []string{"S5"}, SchemaSays: "Required value"},
	{Name: "S5 nine VNet CIDRs are rejected by the schema",
		Spec:      spec(vnet("10.1.0.0/16", "10.2.0.0/16", "10.3.0.0/16", "10.4.0.0/16", "10.5.0.0/16", "10.6.0.0/16", "10.7.0.0/16", "10.8.0.0/16", "10.9.0.0/16")),
		WantRules: []string{"S5"}, SchemaSays: "must have at most 8 items"},
	{Name: "S5 two node pools with the same name are rejected",
		Spec:      spec(pool(v1alpha1.NodePool{Name: "pool1"}), pool(v1alpha1.NodePool{Name: "pool1"})),
		WantRules: []string{"S5"}, SchemaSays: "Duplicate value"},
	{Name: "S1 S2 S3 canonical IPv4 and IPv6 CIDRs and addresses are accepted",
		Spec: spec(dualStack(), vnet("10.1.0.0/16", "fd00:1::/64"), connected("2001:db8::/32"), dns("fd12:3456:789a:1::a"))},
	{Name: "S4 every enumeration spelled as the schema spells it is accepted",
		Spec: spec(mode(v1alpha1.ModeNodeSubnet), policy(v1alpha1.NetworkPolicyCalico), outbound(v1alpha1.OutboundNATGateway),
			pool(v1alpha1.NodePool{Name: "win", OSType: v1alpha1.OSWindows}))},
	{Name: "S5 eight VNet CIDRs and sixteen node pools are accepted",
		Spec: spec(vnet("10.1.0.0/16", "10.2.0.0/16", "10.3.0.0/16", "10.4.0.0/16", "10.5.0.0/16", "10.6.0.0/16", "10.7.0.0/16", "10.8.0.0/16"),
			func(s *v1alpha1.OverlayClusterSpec) {
				for i := range 16 {
					s.NodePools = append(s.NodePools, v1alpha1.NodePool{Name: fmt.Sprintf("pool%d", i)})
				}
			})},

	// R1 reserved ranges.
	{Name: "R1 a pod CIDR inside 169.254.0.0/16 is rejected", Spec: spec(pods("169.254.0.0/16")), WantRules: []string{"R1"}},
	{Name: "R1 a VNet that covers 172.30.0.0/16 and 172.31.0.0/16 is rejected", Spec: spec(vnet("172.16.0.0/12")), WantRules: []string{"R1"}},
	{Name: "R1 a service CIDR inside 192.0.2.0/24 is rejected",
		Spec: spec(services("192.0.2.0/24"), dns("192.0.2.10")), WantRules: []string{"R1"}},
	{Name: "R1 a VNet right below 172.30.0.0/16 is accepted", Spec: spec(vnet("172.29.0.0/16"))},

	// R2 pod CIDRs.
	{Name: "R2 a pod CIDR inside the VNet is rejected", Spec: spec(vnet("10.240.0.0/12")), WantRules: []string{"R2"}},
	{Name: "R2 an additional pod CIDR overlapping a connected network is rejected",
		Spec: spec(more("10.245.0.0/16"), connected("10.245.128.0/17")), WantRules: []string{"R2"}},
	{Name: "R2 a pod CIDR overlapping a node pool subnet that lies outside the VNet is rejected",
		Spec: spec(pool(v1alpha1.NodePool{Name: "pool1", SubnetCIDR: "10.244.5.0/24"})), WantRules: []string{"R2", "R14"}},
	{Name: "R2 the implied IPv6 pod default overlapping a connected IPv6 range is rejected",
		Spec: spec(dualStack(), connected("fd12:3456:789a::/48")), WantRules: []string{"R2", "R3"}},
	{Name: "R2 a pod CIDR beside the VNet and the connected ranges is accepted",
		Spec: spec(connected("192.168.0.0/16", "10.2.0.0/16"))},

	// R3 service CIDRs.
	{Name: "R3 a service CIDR inside the VNet is rejected",
		Spec: spec(services("10.1.128.0/20"), dns("10.1.128.10")), WantRules: []string{"R3"}},
	{Name: "R3 a service CIDR overlapping the pod CIDR is rejected",
		Spec: spec(services("10.244.0.0/20"), dns("10.244.0.10")), WantRules: []string{"R2", "R3"}},
	{Name: "R3 a service CIDR overlapping an on-premises range is rejected",
		Spec: spec(services("192.168.0.0/16"), dns("192.168.0.10"), connected("192.168.100.0/24")), WantRules: []string{"R3"}},
	{Name: "R3 a service CIDR clear of the VNet, the connected ranges and the pod CIDRs is accepted",
		Spec: spec(services("192.168.0.0/20"), dns("192.168.0.10"), connected("192.168.16.0/20"))},

	// R4 service CIDR size.
	{Name: "R4 an IPv4 service CIDR larger than /12 is rejected",
		Spec: spec(services("100.64.0.0/11"), dns("100.64.0.10")), WantRules: []string{"R4"}},
	{Name: "R4 an IPv4 service CIDR of /12 is accepted", Spec: spec(services("100.64.0.0/12"), dns("100.64.0.10"))},
	{Name: "R4 an IPv6 service CIDR larger than /108 is rejected",
		Spec: spec(dualStack(), services("10.0.0.0/16", "fd12:3456:789a:1::/107")), WantRules: []string{"R4"}},
	{Name: "R4 an IPv6 service CIDR of /112 is accepted", Spec: spec(dualStack(), services("10.0.0.0/16", "fd12:3456:789a:1::/112"))},

	// R5 DNS service IP.
	{Name: "R5 DNS IP outside the service CIDR is rejected", Spec: spec(dns("10.1.0.10")), WantRules: []string{"R5"}},
	{Name: "R5 DNS IP equal to the network address is rejected", Spec: spec(dns("10.0.0.0")), WantRules: []string{"R5"}},
	{Name: "R5 DNS IP equal to the first host is rejected", Spec: spec(dns("10.0.0.1")), WantRules: []string{"R5"}},
	{Name: "R5 DNS IP equal to the second host is accepted", Spec: spec(dns("10.0.0.2"))},
	{Name: "R5 the default DNS IP outside a custom service CIDR is rejected", Spec: spec(services("10.2.0.0/16")), WantRules: []string{"R5"}},
	{Name: "R5 an IPv6 DNS IP inside the IPv6 service CIDR of a dual-stack cluster is accepted",
		Spec: spec(dualStack(), dns("fd12:3456:789a:1::a"))},
	{Name: "R5 an IPv6 DNS IP equal to the first host of the IPv6 service CIDR is rejected",
		Spec: spec(dualStack(), dns("fd12:3456:789a:1::1")), WantRules: []string{"R5"}},
	{Name: "R5 an IPv6 DNS IP in a single-stack IPv4 cluster is rejected", Spec: spec(dns("fd00::a")), WantRules: []string{"R5"}},

	// R7 families.
	{Name: "R7 IPv6-only is rejected", Spec: spec(families(v1alpha1.IPv6)), WantRules: []string{"R7"}},
	{Name: "R7 IPv6 before IPv4 is rejected",
		Spec:      spec(families(v1alpha1.IPv6, v1alpha1.IPv4), pods("fd12:3456:789a::/64", "10.244.0.0/16"), services("fd12:3456:789a:1::/108", "10.0.0.0/16")),
		WantRules: []string{"R7"}},
	{Name: "R7 two pod CIDRs in a single-stack cluster are rejected",
		Spec: spec(pods("10.244.0.0/16", "10.245.0.0/16")), WantRules: []string{"R7"}},
	{Name: "R7 pod CIDRs in the wrong family order are rejected",
		Spec: spec(dualStack(), pods("fd12:3456:789a::/64", "10.244.0.0/16")), WantRules: []string{"R7"}},
	{Name: "R7 an IPv6 service CIDR in a single-stack cluster is rejected",
		Spec: spec(services("fd12:3456:789a:1::/108")), WantRules: []string{"R5", "R7"}},
	{Name: "R7 an IPv6 additional pod CIDR in a single-stack cluster is rejected",
		Spec: spec(more("fd12:3456:789b::/64")), WantRules: []string{"R7"}},
	{Name: "R7 an IPv6 additional pod CIDR in a dual-stack cluster is accepted",
		Spec: spec(dualStack(), more("fd12:3456:789b::/64"))},
	{Name: "R7 an unknown IP family is rejected by the schema",
		Spec: spec(families("IPv5")), WantRules: []string{"R7"}, SchemaSays: "Unsupported value"},

	// R9 names.
	{Name: "R9 a node pool name of 64 characters is rejected",
		Spec: spec(pool(v1alpha1.NodePool{Name: strings.Repeat("a", 64)})), WantRules: []string{"R9"}},
	{Name: "R9 a node pool name starting with a dash is rejected",
		Spec: spec(pool(v1alpha1.NodePool{Name: "-pool"})), WantRules: []string{"R9"}},
	{Name: "R9 a node pool name of 63 characters with dots, dashes and underscores is accepted",
		Spec: spec(pool(v1alpha1.NodePool{Name: "a.b-c_d" + strings.Repeat("x", 56)}))},
	{Name: "R9 a node selector with an invalid label key is rejected by the controller",
		Spec:             spec(pool(v1alpha1.NodePool{Name: "pool1", NodeSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"bad key": "x"}}})),
		WantClusterRules: []string{"R9"}},

	// R10, R11, B2 blocks.
	{Name: "R10 an IPv4 pod CIDR smaller than a /24 block is rejected", Spec: spec(pods("10.244.0.0/25")), WantRules: []string{"R10"}},
	{Name: "R10 a /26 pod CIDR cut into /28 blocks is accepted", Spec: spec(pods("10.244.0.0/26"), block4(28))},
	{Name: "R11 an IPv6 pod CIDR smaller than a /120 block is rejected",
		Spec: spec(dualStack(), pods("10.244.0.0/16", "fd12:3456:789a::/121")), WantRules: []string{"R11"}},
	{Name: "R11 a Kubenet IPv6 additional pod CIDR smaller than the pod CIDR's length + 16 is rejected",
		Spec: spec(mode(v1alpha1.ModeKubenet), dualStack(), more("fd12:3456:789b::/96")), WantRules: []string{"R11"}},
	{Name: "R11 a Kubenet IPv6 additional pod CIDR of the pod CIDR's length + 8 is accepted",
		Spec: spec(mode(v1alpha1.ModeKubenet), dualStack(), more("fd12:3456:789b::/72"))},
	{Name: "B2 an IPv4 block prefix length of /31 is rejected", Spec: spec(block4(31)), WantRules: []string{"B2"}},
	{Name: "B2 an IPv6 block prefix length of /40 is rejected",
		Spec: spec(dualStack(), block6(40)), WantRules: []string{"B2", "R11"}},
	{Name: "B2 block prefix lengths at their bounds, /30 and /124, are accepted", Spec: spec(dualStack(), block4(30), block6(124))},

	// R12, R32, R41 max pods.
	{Name: "R12 max pods 5 in Overlay is rejected", Spec: spec(maxPods(5)), WantRules: []string{"R12"}},
	{Name: "R12 max pods 251 on an Overlay pool is rejected",
		Spec: spec(pool(v1alpha1.NodePool{Name: "pool1", MaxPods: ptr(int32(251))})), WantRules: []string{"R12"}},
	{Name: "R12 max pods 10 for the cluster and 250 for a pool are accepted",
		Spec: spec(maxPods(10), pool(v1alpha1.NodePool{Name: "pool1", MaxPods: ptr(int32(250))}))},
	{Name: "R32 max pods 300 in Kubenet is rejected", Spec: spec(mode(v1alpha1.ModeKubenet), maxPods(300)), WantRules: []string{"R32"}},
	{Name: "R32 max pods 250 in Kubenet is accepted", Spec: spec(mode(v1alpha1.ModeKubenet), maxPods(250))},
	{Name: "R41 max pods 251 on a NodeSubnet pool is rejected",
		Spec:      spec(mode(v1alpha1.ModeNodeSubnet), pool(v1alpha1.NodePool{Name: "pool1", SubnetCIDR: "10.1.0.0/24", MaxPods: ptr(int32(251))})),
		WantRules: []string{"R41"}},
	{Name: "R41 max pods 30 on a NodeSubnet pool is accepted",
		Spec: spec(mode(v1alpha1.ModeNodeSubnet), pool(v1alpha1.NodePool{Name: "pool1", SubnetCIDR: "10.1.0.0/24", MaxPods: ptr(int32(30))}))},

	// R14 node subnets.
	{Name: "R14 a node pool subnet outside the VNet is rejected",
		Spec: spec(pool(v1alpha1.NodePool{Name: "pool1", SubnetCIDR: "192.168.1.0/24"})), WantRules: []string{"R14"}},
	{Name: "R14 two pools sharing one subnet are accepted",
		Spec: spec(pool(v1alpha1.NodePool{Name: "pool1", SubnetCIDR: "10.1.0.0/24"}), pool(v1alpha1.NodePool{Name: "pool2", SubnetCIDR: "10.1.0.0/24"}))},
	{Name: "R14 two pools whose subnets partly overlap are rejected",
		Spec:      spec(pool(v1alpha1.NodePool{Name: "pool1", SubnetCIDR: "10.1.0.0/24"}), pool(v1alpha1.NodePool{Name: "pool2", SubnetCIDR: "10.1.0.0/25"})),
		WantRules: []string{"R14"}},

	// R43 node subnet bounds.
	{Name: "R43 an IPv6 /64 NodeSubnet pool subnet is rejected",
		Spec: spec(mode(v1alpha1.ModeNodeSubnet), func(s *v1alpha1.OverlayClusterSpec) { s.VNetCIDRs = append(s.VNetCIDRs, "fd00:1::/48") },
			pool(v1alpha1.NodePool{Name: "pool1", SubnetCIDR: "fd00:1::/64"})),
		WantRules: []string{"R43"}},
	{Name: "R43 a /15 NodeSubnet pool subnet is rejected",
		Spec: spec(mode(v1alpha1.ModeNodeSubnet), func(s *v1alpha1.OverlayClusterSpec) { s.VNetCIDRs = []string{"172.16.0.0/14"} },
			pool(v1alpha1.NodePool{Name: "pool1", SubnetCIDR: "172.16.0.0/15"})),
		WantRules: []string{"R43"}},
	{Name: "R43 a /16 NodeSubnet pool subnet is accepted",
		Spec: spec(mode(v1alpha1.ModeNodeSubnet), pool(v1alpha1.NodePool{Name: "pool1", SubnetCIDR: "10.1.0.0/16"}))},
	{Name: "R43 a /15 pool subnet in Overlay mode is accepted (pods do not take its addresses)",
		Spec: spec(func(s *v1alpha1.OverlayClusterSpec) { s.VNetCIDRs = []string{"172.16.0.0/14"} },
			pool(v1alpha1.NodePool{Name: "pool1", SubnetCIDR: "172.16.0.0/15"}))},

	// R18, R19, R35 compatibility.
	{Name: "R18 virtual nodes in Overlay are rejected", Spec: spec(virtualNodes()), WantRules: []string{"R18"}},
	{Name: "R18 virtual nodes in NodeSubnet are accepted", Spec: spec(mode(v1alpha1.ModeNodeSubnet), virtualNodes())},
	{Name: "R19 dual-stack with the Calico network policy is rejected",
		Spec: spec(dualStack(), policy(v1alpha1.NetworkPolicyCalico)), WantRules: []string{"R19"}},
	{Name: "R19 dual-stack with the Azure network policy is rejected",
		Spec: spec(dualStack(), policy(v1alpha1.NetworkPolicyAzure)), WantRules: []string{"R19"}},
	{Name: "R19 dual-stack with a NAT gateway is rejected",
		Spec: spec(dualStack(), outbound(v1alpha1.OutboundNATGateway)), WantRules: []string{"R19"}},
	{Name: "R19 dual-stack NodeSubnet with virtual nodes is rejected",
		Spec: spec(mode(v1alpha1.ModeNodeSubnet), dualStack(), virtualNodes()), WantRules: []string{"R19"}},
	{Name: "R19 dual-stack with the Cilium network policy and user-defined routing is accepted",
		Spec: spec(dualStack(), policy(v1alpha1.NetworkPolicyCilium), outbound(v1alpha1.OutboundUserDefinedRouting))},
	{Name: "R19 dual-stack on Kubernetes 1.26.2 is rejected by the controller",
		Spec: spec(dualStack()), Facts: ClusterFacts{KubernetesVersion: "v1.26.2"}, WantClusterRules: []string{"R19"}},
	{Name: "R19 dual-stack on a vendor build of Kubernetes 1.26.3 is accepted by the controller",
		Spec: spec(dualStack()), Facts: ClusterFacts{KubernetesVersion: "v1.26.3-eks-036c24b"}},
	{Name: "R35 a Windows pool in Kubenet is rejected",
		Spec: spec(mode(v1alpha1.ModeKubenet), pool(v1alpha1.NodePool{Name: "win", OSType: v1alpha1.OSWindows})), WantRules: []string{"R35"}},
	{Name: "R35 the Azure network policy in Kubenet is rejected",
		Spec: spec(mode(v1alpha1.ModeKubenet), policy(v1alpha1.NetworkPolicyAzure)), WantRules: []string{"R35"}},
	{Name: "R35 virtual nodes in Kubenet are rejected",
		Spec: spec(mode(v1alpha1.ModeKubenet), virtualNodes()), WantRules: []string{"R35"}},
	{Name: "R35 a Windows pool in Overlay is accepted", Spec: spec(pool(v1alpha1.NodePool{Name: "win", OSType: v1alpha1.OSWindows}))},

	// R50, R51, R52 migrations.
	{Name: "R52 leaving Overlay for Kubenet is rejected", Old: specPtr(), Spec: spec(mode(v1alpha1.ModeKubenet)), WantRules: []string{"R52"}},
	{Name: "R52 leaving Overlay for NodeSubnet is rejected", Old: specPtr(), Spec: spec(mode(v1alpha1.ModeNodeSubnet)), WantRules: []string{"R52"}},
	{Name: "R52 Kubenet to NodeSubnet is rejected",
		Old: specPtr(mode(v1alpha1.ModeKubenet)), Spec: spec(mode(v1alpha1.ModeNodeSubnet)), WantRules: []string{"R52"}},
	{Name: "R52 NodeSubnet to Kubenet is rejected",
		Old: specPtr(mode(v1alpha1.ModeNodeSubnet)), Spec: spec(mode(v1alpha1.ModeKubenet)), WantRules: []string{"R52"}},
	{Name: "R52 Kubenet to Overlay is accepted", Old: specPtr(mode(v1alpha1.ModeKubenet)), Spec: spec(mode(v1alpha1.ModeOverlay))},
	{Name: "R52 NodeSubnet to Overlay is accepted", Old: specPtr(mode(v1alpha1.ModeNodeSubnet)), Spec: spec(mode(v1alpha1.ModeOverlay))},
	{Name: "R51 Kubenet to Overlay with another pod CIDR is rejected",
		Old: specPtr(mode(v1alpha1.ModeKubenet)), Spec: spec(pods("10.100.0.0/16")), WantRules: []string{"B1", "R51"}},
	{Name: "R51 Kubenet to Overlay that also widens the pod CIDR is rejected",
		Old: specPtr(mode(v1alpha1.ModeKubenet)), Spec: spec(pods("10.244.0.0/15")), WantRules: []string{"R51"}},
	{Name: "R51 dual-stack Kubenet to Overlay that would shrink the IPv6 blocks to /120 is rejected",
		Old: specPtr(mode(v1alpha1.ModeKubenet), dualStack()), Spec: spec(dualStack()), WantRules: []string{"B1"}},
	{Name: "R51 dual-stack Kubenet to Overlay that pins the IPv6 blocks at /80 is accepted",
		Old: specPtr(mode(v1alpha1.ModeKubenet), dualStack()), Spec: spec(dualStack(), block6(80))},
	{Name: "R50 NodeSubnet to Overlay keeping the Azure network policy is rejected",
		Old:  specPtr(mode(v1alpha1.ModeNodeSubnet), policy(v1alpha1.NetworkPolicyAzure)),
		Spec: spec(policy(v1alpha1.NetworkPolicyAzure)), WantRules: []string{"R50"}},
	{Name: "R50 NodeSubnet to Overlay with a new pod CIDR and no network policy is accepted",
		Old: specPtr(mode(v1alpha1.ModeNodeSubnet), policy(v1alpha1.NetworkPolicyAzure)), Spec: spec(pods("192.168.0.0/16"))},
	{Name: "R50 NodeSubnet to Overlay on Kubernetes 1.21 is rejected by the controller",
		Spec: spec(), Facts: ClusterFacts{CurrentMode: v1alpha1.ModeNodeSubnet, KubernetesVersion: "v1.21.14"}, WantClusterRules: []string{"R50"}},
	{Name: "R50 NodeSubnet to Overlay with a Windows node on docker is rejected by the controller",
		Spec:             spec(),
		Facts:            ClusterFacts{CurrentMode: v1alpha1.ModeNodeSubnet, KubernetesVersion: "v1.30.0", DockerWindowsNodes: []string{"akswin000001"}},
		WantClusterRules: []string{"R50"}},
	{Name: "R50 NodeSubnet to Overlay with the Calico network policy is rejected by the controller",
		Spec: spec(policy(v1alpha1.NetworkPolicyCalico)), Facts: ClusterFacts{CurrentMode: v1alpha1.ModeNodeSubnet}, WantClusterRules: []string{"R50"}},
	{Name: "R50 NodeSubnet to Overlay on Kubernetes 1.22 with Linux nodes and no policy is accepted by the controller",
		Spec: spec(), Facts: ClusterFacts{CurrentMode: v1alpha1.ModeNodeSubnet, KubernetesVersion: "1.22.0"}},

	// B1 growth and immutability.
	{Name: "B1 widening a pod CIDR to a superset is accepted", Old: specPtr(), Spec: spec(pods("10.244.0.0/15"))},
	{Name: "B1 narrowing a pod CIDR is rejected", Old: specPtr(), Spec: spec(pods("10.244.0.0/17")), WantRules: []string{"B1"}},
	{Name: "B1 replacing a pod CIDR is rejected", Old: specPtr(), Spec: spec(pods("10.100.0.0/16")), WantRules: []string{"B1"}},
	{Name: "B1 appending an additional pod CIDR is accepted",
		Old: specPtr(more("10.245.0.0/16")), Spec: spec(more("10.245.0.0/16", "10.246.0.0/16"))},
	{Name: "B1 removing an additional pod CIDR is rejected",
		Old: specPtr(more("10.245.0.0/16", "10.246.0.0/16")), Spec: spec(more("10.246.0.0/16")), WantRules: []string{"B1"}},
	{Name: "B1 an additional pod CIDR overlapping the pod CIDR is rejected",
		Spec: spec(more("10.244.128.0/17")), WantRules: []string{"B1"}},
	{Name: "B1 widening the pod CIDR over an additional pod CIDR is rejected",
		Old: specPtr(more("10.245.0.0/16")), Spec: spec(pods("10.244.0.0/15"), more("10.245.0.0/16")), WantRules: []string{"B1"}},
	{Name: "B1 turning a single-stack cluster dual-stack is rejected", Old: specPtr(), Spec: spec(dualStack()), WantRules: []string{"B1"}},
	{Name: "B1 changing the service CIDR is rejected",
		Old: specPtr(), Spec: spec(services("10.2.0.0/16"), dns("10.2.0.10")), WantRules: []string{"B1"}},
	{Name: "B1 writing out the implied IPv6 service default is accepted",
		Old: specPtr(dualStack()), Spec: spec(dualStack(), services("10.0.0.0/16", "fd12:3456:789a:1::/108"))},
	{Name: "B1 changing the IPv4 block size is rejected", Old: specPtr(), Spec: spec(block4(25)), WantRules: []string{"B1"}},
	{Name: "B1 changing the block size and the pod CIDR in NodeSubnet mode is accepted",
		Old:  specPtr(mode(v1alpha1.ModeNodeSubnet)),
		Spec: spec(mode(v1alpha1.ModeNodeSubnet), block4(26), pods("192.168.0.0/16"))},
}
