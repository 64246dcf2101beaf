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

// Package plan answers capacity questions about an OverlayCluster spec before anything is
// deployed: how many node blocks each family holds, how many nodes fit and what bounds
// them, how many pods those nodes run, and how much room is left (B3, B6). It is pure
// arithmetic over netconf's view of the spec, exact for IPv6 (math/big).
//
// # Model
//
// A node needs, depending on the mode:
//   - an address in a node subnet. The cloud keeps five addresses of every subnet (the
//     network address, the first three hosts and the broadcast address), so a /24 holds
//     251 nodes (R14, R33). In NodeSubnet mode a node also reserves an address for each of
//     its pods up front, max pods + 1 addresses in all (R40), so a /24 holds 8 nodes of 30
//     pods (R41);
//   - a block of every family's pod CIDRs (Overlay, Kubenet): a /24 per node by default,
//     so a /16 holds 256 nodes (R10, B2);
//   - a route in the route table (Kubenet), which holds 400 routes (R31).
//
// The node subnets are the pools' subnetCIDRs, each counted once however many pools share
// it; when no pool declares one, the VNet CIDRs stand in for them. IPv6 subnets count only
// when there is no IPv4 one, since every node also needs an IPv4 address (R7).
//
// Nodes fill the subnets in spec order, and run their pool's max pods (the first pool of
// a shared subnet), capped in Overlay and Kubenet by the addresses of a block.
package plan

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"net/netip"

	"github.com/overlaynet/overlaynet/api/v1alpha1"
	"github.com/overlaynet/overlaynet/internal/netconf"
)

// ReservedPerSubnet is the number of addresses the cloud keeps in every subnet: the
// network address, the first three hosts and the broadcast address (R14).
const ReservedPerSubnet = 5

// UpgradeSurgePercent is the max surge the lower end of NodesWithUpgradeRoom leaves room
// for: AKS recommends 33% for production node pools.
const UpgradeSurgePercent = 33

// UpgradeSpareNodes is the room the upper end of NodesWithUpgradeRoom leaves: one surge
// node for a node-by-node upgrade and one to scale out.
const UpgradeSpareNodes = 2

// Limit names what bounds the number of nodes.
type Limit string

// What can bound the number of nodes, in the order ties are reported.
const (
	LimitNodeSubnets Limit = "node subnets"
	LimitIPv4Blocks  Limit = "IPv4 pod blocks"
	LimitIPv6Blocks  Limit = "IPv6 pod blocks"
	LimitRouteTable  Limit = "route table"
)

// Count is an exact non-negative count, printed and marshalled as a decimal string
// because an IPv6 count can exceed what a JSON number holds exactly.
type Count struct{ v *big.Int }

// NewCount returns a Count of n.
func NewCount(n int64) Count { return Count{big.NewInt(n)} }

// Big returns the count as a new big.Int.
func (c Count) Big() *big.Int {
	if c.v == nil {
		return new(big.Int)
	}
	return new(big.Int).Set(c.v)
}

// Int64 returns the count, saturated at math.MaxInt64.
func (c Count) Int64() int64 { return saturate(c.v) }

// String returns the count in decimal.
func (c Count) String() string { return c.Big().String() }

// MarshalJSON writes the count as a decimal string.
func (c Count) MarshalJSON() ([]byte, error) { return json.Marshal(c.String()) }

// Plan is the capacity of a spec.
type Plan struct {
	// Mode is the networking model the plan is for.
	Mode v1alpha1.NetworkMode `json:"mode"`
	// MaxPodsPerNode is the pod limit of nodes in no pool.
	MaxPodsPerNode int32 `json:"maxPodsPerNode"`
	// Families are the pod address spaces cut into node blocks (Overlay and Kubenet; in
	// NodeSubnet mode pods take subnet addresses and the pod CIDRs wait for a migration).
	Families []Family `json:"families,omitempty"`
	// Subnets are the node subnets.
	Subnets []Subnet `json:"subnets"`
	// RouteLimit is the route table's size in Kubenet mode (R31), 0 otherwise.
	RouteLimit int64 `json:"routeLimit,omitempty"`
	// MaxNodes is how many nodes fit.
	MaxNodes int64 `json:"maxNodes"`
	// LimitedBy is what bounds MaxNodes.
	LimitedBy Limit `json:"limitedBy"`
	// MaxPods is how many pods MaxNodes nodes run.
	MaxPods int64 `json:"maxPods"`
	// NodesWithUpgradeRoom is the node count that leaves room for upgrades and scaling:
	// Min leaves room for a 33% surge, Max for two spare nodes (R33: a /27 runs 20–25).
	NodesWithUpgradeRoom Range `json:"nodesWithUpgradeRoom"`
	// PodsWithUpgradeRoom is how many pods the nodes of NodesWithUpgradeRoom run.
	PodsWithUpgradeRoom Range `json:"podsWithUpgradeRoom"`
	// Headroom compares the plan with the facts' node count; nil when it is unknown.
	Headroom *Headroom `json:"headroom,omitempty"`
	// Notes explain the numbers to a reader.
	Notes []string `json:"notes,omitempty"`
}

// Family is one family's pod address space.
type Family struct {
	// Family is the IP family.
	Family v1alpha1.IPFamily `json:"family"`
	// CIDRs are the family's pod CIDRs, podCIDRs entry first.
	CIDRs []string `json:"cidrs"`
	// BlockPrefixLength is the prefix length of a node block.
	BlockPrefixLength int `json:"blockPrefixLength"`
	// AddressesPerBlock is the size of a block.
	AddressesPerBlock Count `json:"addressesPerBlock"`
	// Blocks is the number of node blocks the CIDRs hold.
	Blocks Count `json:"blocks"`
	// FreeBlocks is Blocks minus the facts' node count; nil when that is unknown.
	FreeBlocks *Count `json:"freeBlocks,omitempty"`
}

// Subnet is one node subnet.
type Subnet struct {
	// CIDR is the subnet.
	CIDR string `json:"cidr"`
	// Pools are the pools whose nodes live in it; empty when the VNet stands in.
	Pools []string `json:"pools,omitempty"`
	// Addresses is the subnet's size.
	Addresses Count `json:"addresses"`
	// Usable is Addresses minus the cloud's five reserved addresses.
	Usable Count `json:"usable"`
	// MaxPodsPerNode is the pod limit of its nodes.
	MaxPodsPerNode int32 `json:"maxPodsPerNode"`
	// AddressesPerNode is what a node takes: 1, or max pods + 1 in NodeSubnet mode (R40).
	AddressesPerNode int64 `json:"addressesPerNode"`
	// MaxNodes is how many nodes it holds.
	MaxNodes int64 `json:"maxNodes"`
}

// Range is an inclusive range of counts.
type Range struct {
	// Min is the low end.
	Min int64 `json:"min"`
	// Max is the high end.
	Max int64 `json:"max"`
}

// Headroom compares a plan with a node count.
type Headroom struct {
	// Nodes is the node count of the facts.
	Nodes int64 `json:"nodes"`
	// FreeNodes is MaxNodes - Nodes; negative when the nodes do not fit.
	FreeNodes int64 `json:"freeNodes"`
	// FreePods is MaxPods minus the pods Nodes nodes run.
	FreePods int64 `json:"freePods"`
}

// Facts are what the planner may know about the cluster besides its spec.
type Facts struct {
	// Nodes is how many nodes the cluster has or is planned to have; 0 means unknown.
	Nodes int64
}

// New plans the capacity of spec. It fails only when netconf cannot resolve the spec;
// validate the spec first for a message that names the rule.
func New(spec *v1alpha1.OverlayClusterSpec, facts Facts) (*Plan, error) {
	cfg, err := netconf.Resolve(spec)
	if err != nil {
		return nil, fmt.Errorf("resolving the spec: %w", err)
	}
	return FromConfig(cfg, facts), nil
}

// FromConfig plans the capacity of a resolved configuration.
func FromConfig(cfg *netconf.Config, facts Facts) *Plan {
	p := &Plan{Mode: cfg.Mode, MaxPodsPerNode: cfg.MaxPodsPerNode}
	usesBlocks := cfg.Mode != v1alpha1.ModeNodeSubnet

	type bound struct {
		limit Limit
		nodes int64
	}
	var bounds []bound

	p.Subnets = subnets(cfg)
	var subnetNodes int64
	for _, s := range p.Subnets {
		subnetNodes = addSat(subnetNodes, s.MaxNodes)
	}
	bounds = append(bounds, bound{LimitNodeSubnets, subnetNodes})

	podCap := int64(math.MaxInt64) // pods a node's blocks can hold
	if usesBlocks {
		for _, f := range cfg.Families {
			fam := family(cfg, f)
			p.Families = append(p.Families, fam)
			limit := LimitIPv4Blocks
			if f == v1alpha1.IPv6 {
				limit = LimitIPv6Blocks
			}
			bounds = append(bounds, bound{limit, fam.Blocks.Int64()})
			podCap = min(podCap, fam.AddressesPerBlock.Int64())
		}
	}
	if cfg.Mode == v1alpha1.ModeKubenet {
		p.RouteLimit = v1alpha1.KubenetRouteLimit
		bounds = append(bounds, bound{LimitRouteTable, v1alpha1.KubenetRouteLimit})
	}

	p.MaxNodes, p.LimitedBy = bounds[0].nodes, bounds[0].limit
	for _, b := range bounds[1:] {
		if b.nodes < p.MaxNodes {
			p.MaxNodes, p.LimitedBy = b.nodes, b.limit
		}
	}
	pods := func(nodes int64) int64 { return podsFor(p.Subnets, nodes, podCap) }
	p.MaxPods = pods(p.MaxNodes)
	p.NodesWithUpgradeRoom = upgradeRoom(p.MaxNodes)
	p.PodsWithUpgradeRoom = Range{Min: pods(p.NodesWithUpgradeRoom.Min), Max: pods(p.NodesWithUpgradeRoom.Max)}

	if facts.Nodes > 0 {
		p.Headroom = &Headroom{
			Nodes:     facts.Nodes,
			FreeNodes: p.MaxNodes - facts.Nodes,
			FreePods:  p.MaxPods - pods(facts.Nodes),
		}
		for i := range p.Families {
			free := p.Families[i].Blocks.Big()
			free.Sub(free, big.NewInt(facts.Nodes))
			p.Families[i].FreeBlocks = &Count{free}
		}
	}
	p.Notes = notes(cfg, p, podCap)
	return p
}

// family computes one family's blocks.
func family(cfg *netconf.Config, f v1alpha1.IPFamily) Family {
	block := cfg.BlockBits[f]
	bits := 32
	if f == v1alpha1.IPv6 {
		bits = 128
	}
	fam := Family{
		Family:            f,
		BlockPrefixLength: block,
		AddressesPerBlock: Count{pow2(bits - block)},
		Blocks:            NewCount(0),
	}
	for _, c := range cfg.PoolCIDRs(f) {
		fam.CIDRs = append(fam.CIDRs, c.String())
		if c.Bits() <= block {
			fam.Blocks.v.Add(fam.Blocks.v, pow2(block-c.Bits()))
		}
	}
	return fam
}

// subnets lists the node subnets: the pools' distinct subnets in spec order, or the VNet
// CIDRs when no pool declares one; IPv4 ones only, unless there are none.
func subnets(cfg *netconf.Config) []Subnet {
	type candidate struct {
		prefix  netip.Prefix
		pools   []string
		maxPods int32
	}
	var cands []*candidate
	byPrefix := map[netip.Prefix]*candidate{}
	for _, np := range cfg.NodePools {
		if !np.Subnet.IsValid() {
			continue
		}
		if c, ok := byPrefix[np.Subnet]; ok {
			c.pools = append(c.pools, np.Name)
			continue
		}
		c := &candidate{prefix: np.Subnet, pools: []string{np.Name}, maxPods: np.MaxPods}
		byPrefix[np.Subnet] = c
		cands = append(cands, c)
	}
	if len(cands) == 0 {
		for _, v := range cfg.VNetCIDRs {
			cands = append(cands, &candidate{prefix: v, maxPods: cfg.MaxPodsPerNode})
		}
	}
	hasIPv4 := false
	for _, c := range cands {
		hasIPv4 = hasIPv4 || c.prefix.Addr().Is4()
	}

	var out []Subnet
	for _, c := range cands {
		if hasIPv4 && !c.prefix.Addr().Is4() {
			continue
		}
		addresses := pow2(c.prefix.Addr().BitLen() - c.prefix.Bits())
		usable := new(big.Int).Sub(addresses, big.NewInt(ReservedPerSubnet))
		if usable.Sign() < 0 {
			usable.SetInt64(0)
		}
		perNode := int64(1)
		if cfg.Mode == v1alpha1.ModeNodeSubnet {
			perNode = int64(c.maxPods) + 1 // R40: the node's own address and one per pod
		}
		if perNode < 1 {
			perNode = 1
		}
		nodes := new(big.Int).Quo(usable, big.NewInt(perNode))
		out = append(out, Subnet{
			CIDR:             c.prefix.String(),
			Pools:            c.pools,
			Addresses:        Count{addresses},
			Usable:           Count{usable},
			MaxPodsPerNode:   c.maxPods,
			AddressesPerNode: perNode,
			MaxNodes:         saturate(nodes),
		})
	}
	return out
}

// podsFor returns how many pods n nodes run when they fill the subnets in order, each
// running its subnet's max pods capped at podCap.
func podsFor(subnets []Subnet, n, podCap int64) int64 {
	var pods int64
	for _, s := range subnets {
		if n <= 0 {
			break
		}
		k := min(n, s.MaxNodes)
		pods = addSat(pods, mulSat(k, min(int64(s.MaxPodsPerNode), podCap)))
		n -= k
	}
	return pods
}

// upgradeRoom returns the node counts that leave room for upgrades in a capacity of max
// nodes. The low end is the largest n whose 33% surge still fits, n + ceil(0.33n) <= max,
// which is n <= 100*max/133; the high end keeps two spare nodes.
func upgradeRoom(max int64) Range {
	hi := max - UpgradeSpareNodes
	if hi < 0 {
		hi = 0
	}
	lo := new(big.Int).Mul(big.NewInt(max), big.NewInt(100))
	lo.Quo(lo, big.NewInt(100+UpgradeSurgePercent))
	return Range{Min: min(saturate(lo), hi), Max: hi}
}

// notes explain the plan.
func notes(cfg *netconf.Config, p *Plan, podCap int64) []string {
	var out []string
	if !hasPoolSubnet(cfg) {
		out = append(out, "no node pool declares a subnetCIDR: the VNet CIDRs stand in for the node subnets")
	}
	out = append(out, fmt.Sprintf("the cloud keeps %d addresses of every subnet: the network address, the first three hosts and the broadcast address (R14)", ReservedPerSubnet))
	switch cfg.Mode {
	case v1alpha1.ModeKubenet:
		out = append(out, fmt.Sprintf("every node takes one route of a table that holds %d (R31)", v1alpha1.KubenetRouteLimit))
	case v1alpha1.ModeNodeSubnet:
		out = append(out, "every node reserves max pods + 1 addresses of its subnet up front (R40); the pod CIDRs are used only after a migration to Overlay")
	}
	for _, s := range p.Subnets {
		if int64(s.MaxPodsPerNode) > podCap && cfg.Mode != v1alpha1.ModeNodeSubnet {
			out = append(out, fmt.Sprintf("a node block holds %d addresses, fewer than the %d max pods of subnet %s: nodes there run %d pods", podCap, s.MaxPodsPerNode, s.CIDR, podCap))
		}
	}
	if p.Headroom != nil && p.Headroom.FreeNodes < 0 {
		out = append(out, fmt.Sprintf("%d nodes do not fit: %d more than the %d the %s allow", p.Headroom.Nodes, -p.Headroom.FreeNodes, p.MaxNodes, p.LimitedBy))
	}
	return out
}

func hasPoolSubnet(cfg *netconf.Config) bool {
	for _, np := range cfg.NodePools {
		if np.Subnet.IsValid() {
			return true
		}
	}
	return false
}

// SmallestIPv4PodCIDRPrefix returns the longest IPv4 pod CIDR prefix length that holds
// blocks for nodes nodes with blocks of blockPrefix bits: /16 for 256 nodes of /24
// blocks, /11 for R13's 5,000 (a /12 holds 4,096).
func SmallestIPv4PodCIDRPrefix(nodes int64, blockPrefix int) (int, error) {
	return SmallestPodCIDRPrefix(nodes, blockPrefix, 32)
}

// SmallestPodCIDRPrefix is SmallestIPv4PodCIDRPrefix for a family of addrBits bits (32 or
// 128).
func SmallestPodCIDRPrefix(nodes int64, blockPrefix, addrBits int) (int, error) {
	if blockPrefix < 0 || blockPrefix > addrBits {
		return 0, fmt.Errorf("block prefix length /%d is not a prefix of a %d-bit address", blockPrefix, addrBits)
	}
	if nodes < 0 {
		return 0, fmt.Errorf("node count %d is negative", nodes)
	}
	bits := 0
	for int64(1)<<bits < nodes && bits < 62 {
		bits++
	}
	if int64(1)<<bits < nodes || bits > blockPrefix {
		return 0, fmt.Errorf("%d nodes need more /%d blocks than the whole %d-bit address space holds", nodes, blockPrefix, addrBits)
	}
	return blockPrefix - bits, nil
}

func pow2(n int) *big.Int {
	if n < 0 {
		return new(big.Int)
	}
	return new(big.Int).Lsh(big.NewInt(1), uint(n))
}

func saturate(v *big.Int) int64 {
	switch {
	case v == nil:
		return 0
	case v.IsInt64():
		return v.Int64()
	case v.Sign() < 0:
		return math.MinInt64
	default:
		return math.MaxInt64
	}
}

func addSat(a, b int64) int64 {
	if b > 0 && a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

func mulSat(a, b int64) int64 {
	if a <= 0 || b <= 0 {
		return 0
	}
	if a > math.MaxInt64/b {
		return math.MaxInt64
	}
	return a * b
}
