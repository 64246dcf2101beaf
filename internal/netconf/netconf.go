// Package netconf resolves an OverlayClusterSpec into the effective network configuration:
// parsed addresses, the defaults of R6 and the per-mode limits applied, the pod CIDRs grouped
// by family. It is pure: the controller, the planner and overlayctl all call it, so they
// can never disagree on what a spec means.
//
// Resolve assumes a spec that passed syntax checks (admission or internal/validation); it
// returns an error, never a panic, when it did not.
package netconf

import (
	"fmt"
	"net/netip"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/overlaynet/overlaynet/api/v1alpha1"
)

// Config is an OverlayClusterSpec with every default applied and every address parsed.
type Config struct {
	// Mode is the networking model.
	Mode v1alpha1.NetworkMode
	// Families lists the IP families in order; Families[0] is always IPv4 (R7).
	Families []v1alpha1.IPFamily
	// PodCIDRs holds one pod CIDR per family, in Families order, IPv6 default filled in.
	PodCIDRs []netip.Prefix
	// AdditionalPodCIDRs are the extra pod CIDRs of any family, in spec order (B1).
	AdditionalPodCIDRs []netip.Prefix
	// ServiceCIDRs holds one service CIDR per family, in Families order.
	ServiceCIDRs []netip.Prefix
	// DNSServiceIP is the cluster DNS address.
	DNSServiceIP netip.Addr
	// VNetCIDRs is the node network's address space.
	VNetCIDRs []netip.Prefix
	// ConnectedCIDRs are peered and on-premises ranges.
	ConnectedCIDRs []netip.Prefix
	// ExtraNonMasqueradeCIDRs are the user's additional no-SNAT destinations (R54).
	ExtraNonMasqueradeCIDRs []netip.Prefix
	// MaxPodsPerNode is the pod limit of nodes in no pool, the mode default when unset.
	MaxPodsPerNode int32
	// BlockBits is the prefix length of a node block, per family.
	BlockBits map[v1alpha1.IPFamily]int
	// NodePools are the spec's pools with their selectors compiled.
	NodePools []NodePool
	// NetworkPolicy, OutboundType and VirtualNodes are declared values (R18, R19, R35).
	NetworkPolicy v1alpha1.NetworkPolicyEngine
	OutboundType  v1alpha1.OutboundType
	VirtualNodes  bool
	// CrossSubnet is how nodes reach peers off their link (B9).
	CrossSubnet CrossSubnet
}

// NodePool is a resolved node pool.
type NodePool struct {
	// Name is the pool's name.
	Name string
	// Selector selects the pool's nodes; labels.Everything() when the spec has none.
	Selector labels.Selector
	// Subnet is the pool's node subnet; invalid (zero) when the pool has none.
	Subnet netip.Prefix
	// MaxPods is the pool's pod limit, the cluster's when the pool sets none.
	MaxPods int32
	// OSType is the pool's operating system.
	OSType v1alpha1.OSType
}

// DefaultMaxPods returns the default pod limit of a mode (R12, R32, R41).
func DefaultMaxPods(mode v1alpha1.NetworkMode) int32 {
	switch mode {
	case v1alpha1.ModeKubenet:
		return v1alpha1.DefaultMaxPodsKubenet
	case v1alpha1.ModeNodeSubnet:
		return v1alpha1.DefaultMaxPodsNodeSubnet
	default:
		return v1alpha1.DefaultMaxPodsOverlay
	}
}

// FamilyOf returns the family of an address.
func FamilyOf(a netip.Addr) v1alpha1.IPFamily {
	if a.Is4() {
		return v1alpha1.IPv4
	}
	return v1alpha1.IPv6
}

// Resolve applies the defaults to spec and parses it.
func Resolve(spec *v1alpha1.OverlayClusterSpec) (*Config, error) {
	c := &Config{
		Mode:          spec.Mode,
		Families:      spec.IPFamilies,
		NetworkPolicy: spec.NetworkPolicy,
		OutboundType:  spec.OutboundType,
		VirtualNodes:  spec.VirtualNodes,
		BlockBits:     map[v1alpha1.IPFamily]int{},
	}
	if c.Mode == "" {
		c.Mode = v1alpha1.ModeOverlay
	}
	if len(c.Families) == 0 {
		c.Families = []v1alpha1.IPFamily{v1alpha1.IPv4}
	}
	if c.Families[0] != v1alpha1.IPv4 || len(c.Families) > 2 || (len(c.Families) == 2 && c.Families[1] != v1alpha1.IPv6) {
		return nil, fmt.Errorf("spec.ipFamilies: %v is neither [IPv4] nor [IPv4, IPv6] (R7)", c.Families)
	}
	if c.NetworkPolicy == "" {
		c.NetworkPolicy = v1alpha1.NetworkPolicyNone
	}
	if c.OutboundType == "" {
		c.OutboundType = v1alpha1.OutboundLoadBalancer
	}
	c.CrossSubnet = ResolveCrossSubnet(c.Mode, spec.CrossSubnet)

	var err error
	if c.PodCIDRs, err = perFamily("spec.podCIDRs", spec.PodCIDRs, c.Families,
		v1alpha1.DefaultIPv4PodCIDR, v1alpha1.DefaultIPv6PodCIDR); err != nil {
		return nil, err
	}
	if c.ServiceCIDRs, err = perFamily("spec.serviceCIDRs", spec.ServiceCIDRs, c.Families,
		v1alpha1.DefaultIPv4ServiceCIDR, v1alpha1.DefaultIPv6ServiceCIDR); err != nil {
		return nil, err
	}
	dns := spec.DNSServiceIP
	if dns == "" {
		dns = v1alpha1.DefaultDNSServiceIP
	}
	if c.DNSServiceIP, err = netip.ParseAddr(dns); err != nil {
		return nil, fmt.Errorf("spec.dnsServiceIP: %w", err)
	}
	for _, l := range []struct {
		path string
		in   []string
		out  *[]netip.Prefix
	}{
		{"spec.additionalPodCIDRs", spec.AdditionalPodCIDRs, &c.AdditionalPodCIDRs},
		{"spec.vnetCIDRs", spec.VNetCIDRs, &c.VNetCIDRs},
		{"spec.connectedCIDRs", spec.ConnectedCIDRs, &c.ConnectedCIDRs},
		{"spec.additionalNonMasqueradeCIDRs", spec.AdditionalNonMasqueradeCIDRs, &c.ExtraNonMasqueradeCIDRs},
	} {
		if *l.out, err = ParsePrefixes(l.path, l.in); err != nil {
			return nil, err
		}
	}

	c.MaxPodsPerNode = DefaultMaxPods(c.Mode)
	if spec.MaxPodsPerNode != nil {
		c.MaxPodsPerNode = *spec.MaxPodsPerNode
	}

	c.BlockBits[v1alpha1.IPv4] = v1alpha1.DefaultIPv4BlockPrefix
	if spec.IPv4BlockPrefixLength != 0 {
		c.BlockBits[v1alpha1.IPv4] = int(spec.IPv4BlockPrefixLength)
	}
	if len(c.Families) == 2 {
		switch {
		case spec.IPv6BlockPrefixLength != nil:
			c.BlockBits[v1alpha1.IPv6] = int(*spec.IPv6BlockPrefixLength)
		case c.Mode == v1alpha1.ModeKubenet:
			// R34: a Kubenet node's IPv6 block is 16 bits longer than the pod CIDR.
			c.BlockBits[v1alpha1.IPv6] = min(c.PodCIDRs[1].Bits()+16, 128)
		default:
			c.BlockBits[v1alpha1.IPv6] = v1alpha1.DefaultIPv6BlockPrefix
		}
	}

	for i, p := range spec.NodePools {
		np := NodePool{Name: p.Name, MaxPods: c.MaxPodsPerNode, OSType: p.OSType, Selector: labels.Everything()}
		if np.OSType == "" {
			np.OSType = v1alpha1.OSLinux
		}
		if p.MaxPods != nil {
			np.MaxPods = *p.MaxPods
		}
		if p.NodeSelector != nil {
			if np.Selector, err = metav1.LabelSelectorAsSelector(p.NodeSelector); err != nil {
				return nil, fmt.Errorf("spec.nodePools[%d].nodeSelector: %w", i, err)
			}
		}
		if p.SubnetCIDR != "" {
			if np.Subnet, err = ParsePrefix(fmt.Sprintf("spec.nodePools[%d].subnetCIDR", i), p.SubnetCIDR); err != nil {
				return nil, err
			}
		}
		c.NodePools = append(c.NodePools, np)
	}
	return c, nil
}

// perFamily parses a one-per-family list, filling the IPv6 default when a dual-stack list
// holds only its IPv4 entry (R6), and checks count and order (R7).
func perFamily(path string, in []string, families []v1alpha1.IPFamily, def4, def6 string) ([]netip.Prefix, error) {
	if len(in) == 0 {
		in = []string{def4}
	}
	if len(families) == 2 && len(in) == 1 {
		in = []string{in[0], def6}
	}
	if len(in) != len(families) {
		return nil, fmt.Errorf("%s: %d entries for ipFamilies %v (R7)", path, len(in), families)
	}
	out, err := ParsePrefixes(path, in)
	if err != nil {
		return nil, err
	}
	for i, p := range out {
		if FamilyOf(p.Addr()) != families[i] {
			return nil, fmt.Errorf("%s[%d]: %s is not %s, the family of ipFamilies[%d] (R7)", path, i, p, families[i], i)
		}
	}
	return out, nil
}

// ParsePrefix parses a canonical CIDR; path names the field in errors.
func ParsePrefix(path, s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%s: %q is not a CIDR", path, s)
	}
	if p != p.Masked() {
		return netip.Prefix{}, fmt.Errorf("%s: %s is not canonical, did you mean %s?", path, s, p.Masked())
	}
	return p, nil
}

// ParsePrefixes parses a list of canonical CIDRs; path names the field in errors.
func ParsePrefixes(path string, in []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(in))
	for i, s := range in {
		p, err := ParsePrefix(fmt.Sprintf("%s[%d]", path, i), s)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// FamilyIndex returns the position of family in Families, or -1.
func (c *Config) FamilyIndex(f v1alpha1.IPFamily) int {
	for i, g := range c.Families {
		if g == f {
			return i
		}
	}
	return -1
}

// PoolCIDRs returns the pod CIDRs of one family: the podCIDRs entry first, then the
// additional ones of that family in spec order.
func (c *Config) PoolCIDRs(f v1alpha1.IPFamily) []netip.Prefix {
	i := c.FamilyIndex(f)
	if i < 0 {
		return nil
	}
	out := []netip.Prefix{c.PodCIDRs[i]}
	for _, p := range c.AdditionalPodCIDRs {
		if FamilyOf(p.Addr()) == f {
			out = append(out, p)
		}
	}
	return out
}

// ClusterPodCIDRs returns every pod CIDR of every family in use.
func (c *Config) ClusterPodCIDRs() []netip.Prefix {
	var out []netip.Prefix
	for _, f := range c.Families {
		out = append(out, c.PoolCIDRs(f)...)
	}
	return out
}

// NonMasqueradeCIDRs returns the destinations to which pod traffic keeps its source address:
// the pod CIDRs (R15), the VNet in NodeSubnet mode where pods hold VNet addresses (R42),
// and the user's extras (R54).
func (c *Config) NonMasqueradeCIDRs() []netip.Prefix {
	out := c.ClusterPodCIDRs()
	if c.Mode == v1alpha1.ModeNodeSubnet {
		out = append(out, c.VNetCIDRs...)
	}
	return append(out, c.ExtraNonMasqueradeCIDRs...)
}

// PoolFor returns the first node pool whose selector matches the node's labels, or nil.
func (c *Config) PoolFor(nodeLabels map[string]string) *NodePool {
	for i := range c.NodePools {
		if c.NodePools[i].Selector.Matches(labels.Set(nodeLabels)) {
			return &c.NodePools[i]
		}
	}
	return nil
}

// MaxPodsFor returns the pod limit of a node with these labels (R12).
func (c *Config) MaxPodsFor(nodeLabels map[string]string) int32 {
	if p := c.PoolFor(nodeLabels); p != nil {
		return p.MaxPods
	}
	return c.MaxPodsPerNode
}

// Strings formats prefixes for status fields.
func Strings(ps []netip.Prefix) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}
