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
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/overlaynet/overlaynet/api/v1alpha1"
	"github.com/overlaynet/overlaynet/internal/validation"
)

func ptr[T any](v T) *T { return &v }

// summary is the part of a plan the seed examples talk about.
type summary struct {
	MaxNodes             int64
	LimitedBy            Limit
	MaxPods              int64
	NodesWithUpgradeRoom Range
	PodsWithUpgradeRoom  Range
	Usable               []string // per subnet
	Blocks               []string // per family
	BlockPrefixLengths   []int
	Headroom             *Headroom
}

func summarize(p *Plan) summary {
	s := summary{
		MaxNodes: p.MaxNodes, LimitedBy: p.LimitedBy, MaxPods: p.MaxPods,
		NodesWithUpgradeRoom: p.NodesWithUpgradeRoom, PodsWithUpgradeRoom: p.PodsWithUpgradeRoom,
		Headroom: p.Headroom,
	}
	for _, sn := range p.Subnets {
		s.Usable = append(s.Usable, sn.Usable.String())
	}
	for _, f := range p.Families {
		s.Blocks = append(s.Blocks, f.Blocks.String())
		s.BlockPrefixLengths = append(s.BlockPrefixLengths, f.BlockPrefixLength)
	}
	return s
}

// TestSeedExamples reproduces every capacity example of the seeds (B6). Each spec is
// valid, so the numbers are what overlayctl plan prints for it.
func TestSeedExamples(t *testing.T) {
	for _, tc := range []struct {
		name  string
		spec  v1alpha1.OverlayClusterSpec
		facts Facts
		want  summary
	}{
		{
			name: "R14 an Overlay /24 node subnet holds 251 nodes",
			spec: v1alpha1.OverlayClusterSpec{
				VNetCIDRs: []string{"10.1.0.0/16"},
				NodePools: []v1alpha1.NodePool{{Name: "pool1", SubnetCIDR: "10.1.0.0/24"}},
			},
			want: summary{
				MaxNodes: 251, LimitedBy: LimitNodeSubnets, MaxPods: 251 * 250,
				NodesWithUpgradeRoom: Range{188, 249}, PodsWithUpgradeRoom: Range{188 * 250, 249 * 250},
				Usable: []string{"251"}, Blocks: []string{"256"}, BlockPrefixLengths: []int{24},
			},
		},
		{
			name: "R33 a Kubenet /24 node subnet holds 251 nodes and 27,610 pods at 110 each",
			spec: v1alpha1.OverlayClusterSpec{
				Mode:      v1alpha1.ModeKubenet,
				VNetCIDRs: []string{"10.1.0.0/16"},
				NodePools: []v1alpha1.NodePool{{Name: "pool1", SubnetCIDR: "10.1.0.0/24"}},
			},
			want: summary{
				MaxNodes: 251, LimitedBy: LimitNodeSubnets, MaxPods: 27610,
				NodesWithUpgradeRoom: Range{188, 249}, PodsWithUpgradeRoom: Range{188 * 110, 249 * 110},
				Usable: []string{"251"}, Blocks: []string{"256"}, BlockPrefixLengths: []int{24},
			},
		},
		{
			name: "R33 a Kubenet /27 node subnet has 27 usable addresses and runs 20–25 nodes, 2,200–2,750 pods, with room for upgrades",
			spec: v1alpha1.OverlayClusterSpec{
				Mode:      v1alpha1.ModeKubenet,
				VNetCIDRs: []string{"10.1.0.0/16"},
				NodePools: []v1alpha1.NodePool{{Name: "pool1", SubnetCIDR: "10.1.0.32/27"}},
			},
			want: summary{
				MaxNodes: 27, LimitedBy: LimitNodeSubnets, MaxPods: 27 * 110,
				NodesWithUpgradeRoom: Range{20, 25}, PodsWithUpgradeRoom: Range{2200, 2750},
				Usable: []string{"27"}, Blocks: []string{"256"}, BlockPrefixLengths: []int{24},
			},
		},
		{
			name: "R41 a NodeSubnet /24 node subnet holds 8 nodes and 240 pods at 30 each",
			spec: v1alpha1.OverlayClusterSpec{
				Mode:      v1alpha1.ModeNodeSubnet,
				VNetCIDRs: []string{"10.1.0.0/16"},
				NodePools: []v1alpha1.NodePool{{Name: "pool1", SubnetCIDR: "10.1.0.0/24"}},
			},
			want: summary{
				MaxNodes: 8, LimitedBy: LimitNodeSubnets, MaxPods: 240,
				NodesWithUpgradeRoom: Range{6, 6}, PodsWithUpgradeRoom: Range{180, 180},
				Usable: []string{"251"},
			},
		},
		{
			name: "R31 a Kubenet cluster stops at 400 nodes, the size of its route table",
			spec: v1alpha1.OverlayClusterSpec{
				Mode:      v1alpha1.ModeKubenet,
				PodCIDRs:  []string{"100.64.0.0/10"},
				VNetCIDRs: []string{"172.16.0.0/16"},
				NodePools: []v1alpha1.NodePool{{Name: "pool1", SubnetCIDR: "172.16.0.0/16"}},
			},
			want: summary{
				MaxNodes: 400, LimitedBy: LimitRouteTable, MaxPods: 400 * 110,
				NodesWithUpgradeRoom: Range{300, 398}, PodsWithUpgradeRoom: Range{300 * 110, 398 * 110},
				Usable: []string{"65531"}, Blocks: []string{"16384"}, BlockPrefixLengths: []int{24},
			},
		},
		{
			name: "R10 an Overlay /16 pod CIDR holds 256 nodes of one /24 block each",
			spec: v1alpha1.OverlayClusterSpec{VNetCIDRs: []string{"172.16.0.0/16"}},
			want: summary{
				MaxNodes: 256, LimitedBy: LimitIPv4Blocks, MaxPods: 256 * 250,
				NodesWithUpgradeRoom: Range{192, 254}, PodsWithUpgradeRoom: Range{192 * 250, 254 * 250},
				Usable: []string{"65531"}, Blocks: []string{"256"}, BlockPrefixLengths: []int{24},
			},
		},
		{
			name:  "R13 a /12 pod CIDR holds 4,096 nodes, 904 short of 5,000",
			spec:  v1alpha1.OverlayClusterSpec{PodCIDRs: []string{"100.64.0.0/12"}, VNetCIDRs: []string{"172.16.0.0/16"}},
			facts: Facts{Nodes: 5000},
			want: summary{
				MaxNodes: 4096, LimitedBy: LimitIPv4Blocks, MaxPods: 4096 * 250,
				NodesWithUpgradeRoom: Range{3079, 4094}, PodsWithUpgradeRoom: Range{3079 * 250, 4094 * 250},
				Usable: []string{"65531"}, Blocks: []string{"4096"}, BlockPrefixLengths: []int{24},
				Headroom: &Headroom{Nodes: 5000, FreeNodes: -904, FreePods: -904 * 250},
			},
		},
		{
			name:  "R13 a /11 pod CIDR holds 5,000 nodes at 250 pods each",
			spec:  v1alpha1.OverlayClusterSpec{PodCIDRs: []string{"100.64.0.0/11"}, VNetCIDRs: []string{"172.16.0.0/16"}},
			facts: Facts{Nodes: 5000},
			want: summary{
				MaxNodes: 8192, LimitedBy: LimitIPv4Blocks, MaxPods: 8192 * 250,
				NodesWithUpgradeRoom: Range{6159, 8190}, PodsWithUpgradeRoom: Range{6159 * 250, 8190 * 250},
				Usable: []string{"65531"}, Blocks: []string{"8192"}, BlockPrefixLengths: []int{24},
				Headroom: &Headroom{Nodes: 5000, FreeNodes: 3192, FreePods: 3192 * 250},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if vs := validation.ValidateSpec(&tc.spec); len(vs) > 0 {
				t.Fatalf("the example spec is invalid: %v", vs)
			}
			p, err := New(&tc.spec, tc.facts)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, summarize(p)); diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
		})
	}
}

// TestIPv6Blocks checks that IPv6 block counts are exact beyond 64 bits.
func TestIPv6Blocks(t *testing.T) {
	dual := []v1alpha1.IPFamily{v1alpha1.IPv4, v1alpha1.IPv6}
	for _, tc := range []struct {
		name       string
		spec       v1alpha1.OverlayClusterSpec
		wantPrefix int
		wantBlocks string
	}{
		{
			name:       "R11 a /64 IPv6 pod CIDR holds 2^56 /120 blocks",
			spec:       v1alpha1.OverlayClusterSpec{IPFamilies: dual, VNetCIDRs: []string{"10.1.0.0/16"}},
			wantPrefix: 120, wantBlocks: "72057594037927936",
		},
		{
			name:       "R11 a /8 IPv6 pod CIDR holds 2^112 /120 blocks, counted exactly",
			spec:       v1alpha1.OverlayClusterSpec{IPFamilies: dual, PodCIDRs: []string{"10.244.0.0/16", "fc00::/8"}, VNetCIDRs: []string{"10.1.0.0/16"}},
			wantPrefix: 120, wantBlocks: "5192296858534827628530496329220096",
		},
		{
			name:       "R34 a Kubenet /64 IPv6 pod CIDR is cut into 65,536 /80 blocks",
			spec:       v1alpha1.OverlayClusterSpec{Mode: v1alpha1.ModeKubenet, IPFamilies: dual, VNetCIDRs: []string{"10.1.0.0/16"}},
			wantPrefix: 80, wantBlocks: "65536",
		},
		{
			name: "B1 additional IPv6 pod CIDRs add their blocks",
			spec: v1alpha1.OverlayClusterSpec{IPFamilies: dual, AdditionalPodCIDRs: []string{"fd12:3456:789b::/112"},
				VNetCIDRs: []string{"10.1.0.0/16"}},
			wantPrefix: 120, wantBlocks: "72057594037928192",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if vs := validation.ValidateSpec(&tc.spec); len(vs) > 0 {
				t.Fatalf("the example spec is invalid: %v", vs)
			}
			p, err := New(&tc.spec, Facts{})
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Families) != 2 {
				t.Fatalf("want 2 families, got %+v", p.Families)
			}
			got := p.Families[1]
			if diff := cmp.Diff([]any{tc.wantPrefix, tc.wantBlocks}, []any{got.BlockPrefixLength, got.Blocks.String()}); diff != "" {
				t.Errorf("IPv6 block prefix and count (-want +got):\n%s", diff)
			}
			if p.MaxNodes != 256 || p.LimitedBy != LimitIPv4Blocks {
				t.Errorf("the IPv4 /16 bounds the nodes at 256, got %d (%s)", p.MaxNodes, p.LimitedBy)
			}
		})
	}
}

func TestSmallestIPv4PodCIDRPrefix(t *testing.T) {
	for _, tc := range []struct {
		name        string
		nodes       int64
		block       int
		want        int
		wantErrText string
	}{
		{name: "R10 one node needs one /24", nodes: 1, block: 24, want: 24},
		{name: "R10 no node still needs a block's worth", nodes: 0, block: 24, want: 24},
		{name: "R10 256 nodes fit a /16", nodes: 256, block: 24, want: 16},
		{name: "R10 257 nodes need a /15", nodes: 257, block: 24, want: 15},
		{name: "R13 4,096 nodes fit a /12", nodes: 4096, block: 24, want: 12},
		{name: "R13 5,000 nodes need a /11", nodes: 5000, block: 24, want: 11},
		{name: "B2 5,000 nodes with /26 blocks need a /13", nodes: 5000, block: 26, want: 13},
		{name: "R10 more nodes than /24 blocks in IPv4 is an error", nodes: 1<<24 + 1, block: 24, wantErrText: "more /24 blocks"},
		{name: "a negative node count is an error", nodes: -1, block: 24, wantErrText: "negative"},
		{name: "a block longer than an address is an error", nodes: 1, block: 33, wantErrText: "not a prefix"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := SmallestIPv4PodCIDRPrefix(tc.nodes, tc.block)
			if tc.wantErrText != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErrText) {
					t.Fatalf("want an error containing %q, got %v (prefix /%d)", tc.wantErrText, err, got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("want /%d, got /%d", tc.want, got)
			}
		})
	}
}

func TestSubnets(t *testing.T) {
	for _, tc := range []struct {
		name         string
		spec         v1alpha1.OverlayClusterSpec
		wantSubnets  []Subnet
		wantMaxNodes int64
		wantMaxPods  int64
	}{
		{
			name: "R14 two pools sharing a subnet count it once, with the first pool's max pods",
			spec: v1alpha1.OverlayClusterSpec{
				Mode:      v1alpha1.ModeNodeSubnet,
				VNetCIDRs: []string{"10.1.0.0/16"},
				NodePools: []v1alpha1.NodePool{
					{Name: "a", SubnetCIDR: "10.1.0.0/24", MaxPods: ptr(int32(50))},
					{Name: "b", SubnetCIDR: "10.1.0.0/24", MaxPods: ptr(int32(10))},
					{Name: "c", SubnetCIDR: "10.1.1.0/24"},
				},
			},
			wantSubnets: []Subnet{
				{CIDR: "10.1.0.0/24", Pools: []string{"a", "b"}, Addresses: NewCount(256), Usable: NewCount(251), MaxPodsPerNode: 50, AddressesPerNode: 51, MaxNodes: 4},
				{CIDR: "10.1.1.0/24", Pools: []string{"c"}, Addresses: NewCount(256), Usable: NewCount(251), MaxPodsPerNode: 30, AddressesPerNode: 31, MaxNodes: 8},
			},
			wantMaxNodes: 12, wantMaxPods: 4*50 + 8*30,
		},
		{
			name: "R14 without pool subnets the VNet CIDRs stand in, IPv4 only",
			spec: v1alpha1.OverlayClusterSpec{
				Mode:       v1alpha1.ModeKubenet,
				IPFamilies: []v1alpha1.IPFamily{v1alpha1.IPv4, v1alpha1.IPv6},
				VNetCIDRs:  []string{"10.1.0.0/28", "fd00:1::/64"},
			},
			wantSubnets: []Subnet{
				{CIDR: "10.1.0.0/28", Addresses: NewCount(16), Usable: NewCount(11), MaxPodsPerNode: 110, AddressesPerNode: 1, MaxNodes: 11},
			},
			wantMaxNodes: 11, wantMaxPods: 11 * 110,
		},
		{
			name: "B2 a /28 block caps an Overlay node at 16 pods",
			spec: v1alpha1.OverlayClusterSpec{
				PodCIDRs: []string{"10.244.0.0/16"}, IPv4BlockPrefixLength: 28,
				VNetCIDRs: []string{"10.1.0.0/24"},
			},
			wantSubnets: []Subnet{
				{CIDR: "10.1.0.0/24", Addresses: NewCount(256), Usable: NewCount(251), MaxPodsPerNode: 250, AddressesPerNode: 1, MaxNodes: 251},
			},
			wantMaxNodes: 251, wantMaxPods: 251 * 16,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if vs := validation.ValidateSpec(&tc.spec); len(vs) > 0 {
				t.Fatalf("the spec is invalid: %v", vs)
			}
			p, err := New(&tc.spec, Facts{})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.wantSubnets, p.Subnets, cmp.Comparer(func(a, b Count) bool { return a.String() == b.String() })); diff != "" {
				t.Errorf("subnets (-want +got):\n%s", diff)
			}
			if p.MaxNodes != tc.wantMaxNodes || p.MaxPods != tc.wantMaxPods {
				t.Errorf("want %d nodes and %d pods, got %d and %d", tc.wantMaxNodes, tc.wantMaxPods, p.MaxNodes, p.MaxPods)
			}
		})
	}
}

func TestJSONWritesBigCountsAsStrings(t *testing.T) {
	spec := v1alpha1.OverlayClusterSpec{
		IPFamilies: []v1alpha1.IPFamily{v1alpha1.IPv4, v1alpha1.IPv6},
		PodCIDRs:   []string{"10.244.0.0/16", "fc00::/8"},
		VNetCIDRs:  []string{"10.1.0.0/16"},
	}
	p, err := New(&spec, Facts{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if want := `"blocks":"5192296858534827628530496329220096"`; !strings.Contains(string(b), want) {
		t.Errorf("want %s in %s", want, b)
	}
}

func TestNewRejectsWhatNetconfCannotResolve(t *testing.T) {
	_, err := New(&v1alpha1.OverlayClusterSpec{PodCIDRs: []string{"not-a-cidr"}, VNetCIDRs: []string{"10.1.0.0/16"}}, Facts{})
	if err == nil || !strings.Contains(err.Error(), "not a CIDR") {
		t.Fatalf("want netconf's error, got %v", err)
	}
}
