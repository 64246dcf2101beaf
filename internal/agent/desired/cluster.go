package desired

import (
	"errors"
	"fmt"
	"math/big"
	"net/netip"
	"slices"

	"github.com/overlaynet/overlaynet/api/v1alpha1"
)

// ErrNoClusterFacts means the OverlayCluster status does not (yet) say what the agent checks
// every NodeNetworkConfig against: its mode and its node network. The agent then programs
// nothing new and leaves the datapath as it is (B7): it cannot tell a peer from an impostor.
var ErrNoClusterFacts = errors.New("the OverlayCluster status does not publish the cluster's mode and node network yet")

// Bounds on what the agent reads from the OverlayCluster status. The manager writes far
// less; an object beyond them is refused, not truncated, so that the agent never works on
// a partial picture of the cluster.
const (
	// MaxPoolCIDRs bounds the pod CIDRs of one family (podCIDRs plus additionalPodCIDRs).
	MaxPoolCIDRs = 64
	// MaxNodeNetworkCIDRs bounds the node network ranges (vnetCIDRs allows 16).
	MaxNodeNetworkCIDRs = 16
	// MaxNonMasqueradeCIDRs bounds the non-masquerade ranges: the pod CIDRs, the VNet and
	// 16 user extras.
	MaxNonMasqueradeCIDRs = 2*MaxPoolCIDRs + MaxNodeNetworkCIDRs + 16
)

// Cluster is the cluster-wide facts that the manager publishes in the OverlayCluster
// status, one write that reaches every node. The agent checks every NodeNetworkConfig
// against them (B7): its own and its peers'.
type Cluster struct {
	// Mode is the mode the nodes are allocated in (status.mode).
	Mode v1alpha1.NetworkMode
	// Pools are the pod address space of each family and the length of every block in it.
	Pools []Pool
	// NodeNetwork is the node network: node IPs lie in it.
	NodeNetwork []netip.Prefix
	// NonMasquerade are the destinations that keep the pod source address, merged.
	NonMasquerade []netip.Prefix
}

// Pool is one family's pod address space.
type Pool struct {
	// Family is the pool's IP family.
	Family v1alpha1.IPFamily
	// CIDRs are the family's pod CIDRs.
	CIDRs []netip.Prefix
	// BlockBits is the prefix length of every node block of the family.
	BlockBits int
}

// pool returns the pool of family f, or nil.
func (c *Cluster) pool(f v1alpha1.IPFamily) *Pool {
	for i := range c.Pools {
		if c.Pools[i].Family == f {
			return &c.Pools[i]
		}
	}
	return nil
}

// PodCIDRs returns every pool's CIDRs, IPv4 first.
func (c *Cluster) PodCIDRs() []netip.Prefix {
	var out []netip.Prefix
	for _, p := range c.Pools {
		out = append(out, p.CIDRs...)
	}
	return out
}

// nodeToNode names the R17 network rule whose sources are the node network.
const nodeToNode = "node-to-node"

// ClusterFromStatus parses the OverlayCluster status. A malformed or forbidden entry (not a
// canonical CIDR, IPv4-mapped, /0) is an error: the manager never writes one, so the
// status was tampered with or comes from an incompatible manager, and the agent keeps what
// it programmed rather than guess.
//
// The node network is status.nodeNetworkCIDRs; a manager that does not publish it yet
// publishes the same ranges as the sources of the node-to-node network rule (R17), which
// are read instead. Without either, or without status.mode (the manager has not reconciled
// the object yet), it returns ErrNoClusterFacts.
//
// The non-masquerade list may not make every destination of a family keep the pod source
// (two /1s, say): pods would leave the cluster with addresses nobody routes back, and the
// node's SNAT would be off in all but name (R15).
func ClusterFromStatus(st *v1alpha1.OverlayClusterStatus) (*Cluster, error) {
	c := &Cluster{Mode: st.Mode}
	nodeNet := st.NodeNetworkCIDRs
	if len(nodeNet) == 0 {
		for _, r := range st.NetworkRules {
			if r.Name == nodeToNode {
				nodeNet = r.Sources
			}
		}
	}
	if c.Mode == "" || len(nodeNet) == 0 {
		return nil, ErrNoClusterFacts
	}
	var err error
	if c.NodeNetwork, err = parseFacts("status.nodeNetworkCIDRs", nodeNet, MaxNodeNetworkCIDRs); err != nil {
		return nil, err
	}
	if len(st.Pools) > 2 {
		return nil, fmt.Errorf("OverlayCluster status.pools holds %d pools; at most one per family (R7)", len(st.Pools))
	}
	for i, p := range st.Pools {
		path := fmt.Sprintf("status.pools[%d]", i)
		pool := Pool{Family: p.Family, BlockBits: int(p.BlockPrefixLength)}
		if p.Family != v1alpha1.IPv4 && p.Family != v1alpha1.IPv6 {
			return nil, fmt.Errorf("OverlayCluster %s.family %q is not IPv4 or IPv6", path, p.Family)
		}
		if c.pool(p.Family) != nil {
			return nil, fmt.Errorf("OverlayCluster %s: a second %s pool", path, p.Family)
		}
		if pool.CIDRs, err = parseFacts(path+".cidrs", p.CIDRs, MaxPoolCIDRs); err != nil {
			return nil, err
		}
		bitLen := 32
		if p.Family == v1alpha1.IPv6 {
			bitLen = 128
		}
		for _, cidr := range pool.CIDRs {
			if familyOf(cidr.Addr()) != p.Family {
				return nil, fmt.Errorf("OverlayCluster %s.cidrs: %s is not %s", path, cidr, p.Family)
			}
			if pool.BlockBits < cidr.Bits() || pool.BlockBits > bitLen {
				return nil, fmt.Errorf("OverlayCluster %s.blockPrefixLength %d does not fit pod CIDR %s (R10, R11, B2)", path, pool.BlockBits, cidr)
			}
		}
		c.Pools = append(c.Pools, pool)
	}
	slices.SortStableFunc(c.Pools, func(a, b Pool) int { return compareFamily(a.Family, b.Family) })
	nonMasq, err := parseFacts("status.nonMasqueradeCIDRs", st.NonMasqueradeCIDRs, MaxNonMasqueradeCIDRs)
	if err != nil {
		return nil, err
	}
	c.NonMasquerade = Merge(nonMasq)
	for _, f := range []v1alpha1.IPFamily{v1alpha1.IPv4, v1alpha1.IPv6} {
		if coversFamily(ofFamily(c.NonMasquerade, f), f) {
			return nil, fmt.Errorf("OverlayCluster status.nonMasqueradeCIDRs %v cover every %s destination: no pod traffic would be masqueraded (R15)",
				st.NonMasqueradeCIDRs, f)
		}
	}
	return c, nil
}

// parseFacts parses a list of cluster-wide CIDRs: at most limit, each canonical and
// allowed by checkPrefix.
func parseFacts(path string, in []string, limit int) ([]netip.Prefix, error) {
	if len(in) > limit {
		return nil, fmt.Errorf("OverlayCluster %s holds %d entries, more than %d", path, len(in), limit)
	}
	out, err := parsePrefixes(path, in)
	if err != nil {
		return nil, fmt.Errorf("OverlayCluster %w", err)
	}
	for i, p := range out {
		if why := checkPrefix(p); why != "" {
			return nil, fmt.Errorf("OverlayCluster %s[%d]: %s %s (B7)", path, i, p, why)
		}
	}
	return out, nil
}

// coversFamily reports whether merged, disjoint prefixes of family f cover all of it.
func coversFamily(merged []netip.Prefix, f v1alpha1.IPFamily) bool {
	bitLen := 32
	if f == v1alpha1.IPv6 {
		bitLen = 128
	}
	sum := new(big.Int)
	for _, p := range merged {
		sum.Add(sum, new(big.Int).Lsh(big.NewInt(1), uint(bitLen-p.Bits())))
	}
	return sum.Cmp(new(big.Int).Lsh(big.NewInt(1), uint(bitLen))) >= 0
}

func compareFamily(a, b v1alpha1.IPFamily) int {
	rank := func(f v1alpha1.IPFamily) int {
		if f == v1alpha1.IPv4 {
			return 0
		}
		return 1
	}
	return rank(a) - rank(b)
}
