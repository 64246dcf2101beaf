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

// Package fuzzspec turns fuzzer input into OverlayCluster specs for the fuzz tests of
// internal/validation, internal/plan and overlayctl. A spec is spread over strings (comma
// separated lists of CIDRs), numbers and a bit set, a shape Go's fuzzer mutates well: a
// mutated byte lands in a CIDR, a count or a switch rather than breaking a JSON document.
package fuzzspec

import (
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/overlaynet/overlaynet/api/v1alpha1"
)

// Flags switch optional parts of a spec on.
const (
	VirtualNodes   uint16 = 1 << 0
	PolicyBit0     uint16 = 1 << 1 // networkPolicy: None, Azure, Calico, Cilium
	PolicyBit1     uint16 = 1 << 2
	OutboundBit0   uint16 = 1 << 3 // outboundType: unset, LoadBalancer, NATGateway, UserDefinedRouting
	OutboundBit1   uint16 = 1 << 4
	WindowsPools   uint16 = 1 << 5
	SetMaxPods     uint16 = 1 << 6
	SetPoolMaxPods uint16 = 1 << 7
	SetBlock6      uint16 = 1 << 8
	NodeSelectors  uint16 = 1 << 9
)

// Input is a spec in fuzzer-friendly form. Lists are comma separated; an empty string
// leaves the list unset.
type Input struct {
	// Mode, DNS: the spec fields of the same name, verbatim.
	Mode, DNS string
	// Families, Pods, Additional, Services, VNets, Connected, NonMasquerade: the lists
	// ipFamilies, podCIDRs, additionalPodCIDRs, serviceCIDRs, vnetCIDRs, connectedCIDRs and
	// additionalNonMasqueradeCIDRs.
	Families, Pods, Additional, Services, VNets, Connected, NonMasquerade string
	// Pools names the node pools; Subnets gives them their subnetCIDR, by position.
	Pools, Subnets string
	// MaxPods and PoolMaxPods are used when Flags has SetMaxPods and SetPoolMaxPods.
	MaxPods, PoolMaxPods int32
	// Block4 is ipv4BlockPrefixLength; Block6 is ipv6BlockPrefixLength with SetBlock6.
	Block4, Block6 int32
	// Flags switch the optional parts on.
	Flags uint16
}

// Spec builds the spec. Pools are named by Pools and take the subnet of the same index in
// Subnets; with NodeSelectors each selects the label pool=<name>, so that odd names make
// odd selectors.
func (in Input) Spec() *v1alpha1.OverlayClusterSpec {
	s := &v1alpha1.OverlayClusterSpec{
		Mode:                         v1alpha1.NetworkMode(in.Mode),
		PodCIDRs:                     list(in.Pods),
		AdditionalPodCIDRs:           list(in.Additional),
		ServiceCIDRs:                 list(in.Services),
		DNSServiceIP:                 in.DNS,
		VNetCIDRs:                    list(in.VNets),
		ConnectedCIDRs:               list(in.Connected),
		AdditionalNonMasqueradeCIDRs: list(in.NonMasquerade),
		IPv4BlockPrefixLength:        in.Block4,
		VirtualNodes:                 in.Flags&VirtualNodes != 0,
		NetworkPolicy: []v1alpha1.NetworkPolicyEngine{
			v1alpha1.NetworkPolicyNone, v1alpha1.NetworkPolicyAzure, v1alpha1.NetworkPolicyCalico, v1alpha1.NetworkPolicyCilium,
		}[in.Flags>>1&3],
		OutboundType: []v1alpha1.OutboundType{
			"", v1alpha1.OutboundLoadBalancer, v1alpha1.OutboundNATGateway, v1alpha1.OutboundUserDefinedRouting,
		}[in.Flags>>3&3],
	}
	for _, f := range list(in.Families) {
		s.IPFamilies = append(s.IPFamilies, v1alpha1.IPFamily(f))
	}
	if in.Flags&SetMaxPods != 0 {
		s.MaxPodsPerNode = &in.MaxPods
	}
	if in.Flags&SetBlock6 != 0 {
		s.IPv6BlockPrefixLength = &in.Block6
	}
	subnets := list(in.Subnets)
	for i, name := range list(in.Pools) {
		p := v1alpha1.NodePool{Name: name, OSType: v1alpha1.OSLinux}
		if i < len(subnets) {
			p.SubnetCIDR = subnets[i]
		}
		if in.Flags&SetPoolMaxPods != 0 {
			p.MaxPods = &in.PoolMaxPods
		}
		if in.Flags&WindowsPools != 0 {
			p.OSType = v1alpha1.OSWindows
		}
		if in.Flags&NodeSelectors != 0 {
			p.NodeSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"pool": name}}
		}
		s.NodePools = append(s.NodePools, p)
	}
	return s
}

func list(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// Seeds are inputs the fuzz tests start from: valid specs of every mode and a few broken
// ones.
var Seeds = []Input{
	{VNets: "10.1.0.0/16"},
	{Mode: "Overlay", Families: "IPv4,IPv6", Pods: "10.244.0.0/16,fd12:3456:789a::/64", Services: "10.0.0.0/16,fd12:3456:789a:1::/108",
		DNS: "10.0.0.10", VNets: "10.224.0.0/12,fd00:10:224::/48", Pools: "linux,windows", Subnets: "10.224.0.0/16,10.225.0.0/24",
		Flags: 3 << 1},
	{Mode: "Kubenet", VNets: "10.1.0.0/16", Pools: "pool1", Subnets: "10.1.0.32/27", Flags: 2 << 1},
	{Mode: "NodeSubnet", VNets: "10.1.0.0/16", Pools: "pool1", Subnets: "10.1.0.0/24", MaxPods: 30, Flags: SetMaxPods | VirtualNodes},
	{Mode: "Kubenet", Families: "IPv4,IPv6", Additional: "fd12:3456:789b::/72", VNets: "10.1.0.0/16", Flags: SetBlock6, Block6: 80},
	{Pods: "10.244.0.1/16", Services: "10.0.0.0/11", DNS: "10.0.0.1", VNets: "10.240.0.0/12,::ffff:10.1.0.0/112", Block4: 31},
	{Families: "IPv6", Pods: "fd00::/8", Services: "FD00::/108", DNS: "fe80::1%eth0", VNets: "172.16.0.0/12", Pools: "-bad,-bad", Flags: NodeSelectors},
}
