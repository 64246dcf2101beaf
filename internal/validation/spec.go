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
	"net/netip"
	"regexp"
	"slices"

	"github.com/overlaynet/overlaynet/api/v1alpha1"
	"github.com/overlaynet/overlaynet/internal/netconf"
)

// reservedRanges are the ranges no pod, service or VNet range may touch (R1).
var reservedRanges = []netip.Prefix{
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("172.30.0.0/16"),
	netip.MustParsePrefix("172.31.0.0/16"),
	netip.MustParsePrefix("192.0.2.0/24"),
}

// labelValue is the syntax of a label value, which pool names become (R9).
var labelValue = regexp.MustCompile(`^[a-z0-9A-Z]([-a-z0-9A-Z_.]*[a-z0-9A-Z])?$`)

// Schema bounds, as the CRD declares them. Admission enforces them with the OpenAPI
// schema; the Go rulebook repeats them for overlayctl, which has no API server.
const (
	maxPerFamily       = 2
	maxAdditional      = 8
	maxVNet            = 8
	maxConnected       = 16
	maxNonMasquerade   = 16
	maxNodePools       = 16
	maxLabelValue      = 63
	minIPv4Block       = 8
	maxIPv4Block       = 30
	minIPv6Block       = 48
	maxIPv6Block       = 124
	maxIPv4ServiceBits = 12  // R4: an IPv4 service CIDR is /12 or longer
	maxIPv6ServiceBits = 108 // R4: an IPv6 service CIDR is /108 or longer
)

// ValidateSpec checks spec against every rule that can be decided from the spec alone,
// which are exactly the rules the CRD's schema and CEL rules enforce at admission, and
// returns all the violations at once (nil when there are none).
//
// It sees the spec as admission does: the CRD defaults are applied first (R6), in
// dual-stack a one-entry podCIDRs or serviceCIDRs list takes the IPv6 default, and
// additionalPodCIDRs count as pod CIDRs. Cross-field rules skip values that are not CIDRs,
// which S1 reports on its own, so that one typo yields one violation.
func ValidateSpec(spec *v1alpha1.OverlayClusterSpec) Violations {
	if spec == nil {
		return Violations{{Rule: "S5", Field: "spec", Message: "is required"}}
	}
	v := newView(spec)
	var l list
	checkSchema(&l, spec)
	checkFamilies(&l, v)
	checkReserved(&l, v)
	checkPodOverlaps(&l, v)
	checkServiceCIDRs(&l, v)
	checkDNSServiceIP(&l, v)
	checkBlocks(&l, v)
	checkMaxPods(&l, v)
	checkSubnets(&l, v)
	checkNodeSubnetBounds(&l, v)
	checkCompatibility(&l, v)
	checkCrossSubnet(&l, v)
	return l.vs
}

// cidrEntry is one CIDR of the spec as admission sees it.
type cidrEntry struct {
	// field is the entry's path, such as spec.podCIDRs[1].
	field string
	// value is the entry as written (or as defaulted).
	value string
	// prefix is the parsed value; meaningful only when ok.
	prefix netip.Prefix
	// ok is true when value is a CIDR: an IPv4 or IPv6 prefix, not IPv4-mapped IPv6 (S1).
	// The CEL library's isCIDR answers the same.
	ok bool
	// origin says why an entry the user did not write is there: "default" or "implied
	// IPv6 default" (R6). Empty for written entries.
	origin string
}

func parseEntry(field, value, origin string) cidrEntry {
	p, err := netip.ParsePrefix(value)
	return cidrEntry{field: field, value: value, prefix: p, ok: err == nil && !p.Addr().Is4In6(), origin: origin}
}

// what is the entry's value with its origin, for messages.
func (e cidrEntry) what() string {
	if e.origin != "" {
		return fmt.Sprintf("%s (%s)", e.value, e.origin)
	}
	return e.value
}

// describe is the entry's field and value, for messages about another entry.
func (e cidrEntry) describe() string { return e.field + " " + e.what() }

// family returns the entry's IP family; only meaningful when ok.
func (e cidrEntry) family() v1alpha1.IPFamily { return netconf.FamilyOf(e.prefix.Addr()) }

// overlaps is true when two parsed prefixes share an address: one contains the other.
// Prefixes of different families never overlap. It answers what the CEL expression
// cidr(a).containsCIDR(b) || cidr(b).containsCIDR(a) answers.
func overlaps(a, b netip.Prefix) bool { return a.Overlaps(b) }

// contains is true when outer contains inner, as CEL's cidr(outer).containsCIDR(inner).
func contains(outer, inner netip.Prefix) bool {
	return outer.Overlaps(inner) && outer.Bits() <= inner.Bits()
}

// view is a spec with the CRD defaults applied and every CIDR parsed, tolerant of errors.
type view struct {
	spec          *v1alpha1.OverlayClusterSpec
	mode          v1alpha1.NetworkMode
	families      []v1alpha1.IPFamily
	dualStack     bool
	networkPolicy v1alpha1.NetworkPolicyEngine
	outboundType  v1alpha1.OutboundType
	// pods and services are the effective per-family lists (R6 defaults included).
	pods, services []cidrEntry
	// additional, vnets and connected are the lists as written.
	additional, vnets, connected []cidrEntry
	// subnets holds the subnet of every pool that declares one.
	subnets []cidrEntry
	// dns is the DNS service IP (defaulted); dnsOK when it parses (S3).
	dns   netip.Addr
	dnsOK bool
	// block4 is the IPv4 block prefix length.
	block4 int
}

func newView(spec *v1alpha1.OverlayClusterSpec) *view {
	v := &view{
		spec:          spec,
		mode:          spec.Mode,
		families:      spec.IPFamilies,
		networkPolicy: spec.NetworkPolicy,
		outboundType:  spec.OutboundType,
		block4:        int(spec.IPv4BlockPrefixLength),
	}
	if v.mode == "" {
		v.mode = v1alpha1.ModeOverlay
	}
	if v.families == nil {
		v.families = []v1alpha1.IPFamily{v1alpha1.IPv4}
	}
	v.dualStack = len(v.families) == 2
	if v.networkPolicy == "" {
		v.networkPolicy = v1alpha1.NetworkPolicyNone
	}
	if v.outboundType == "" {
		v.outboundType = v1alpha1.OutboundLoadBalancer
	}
	if v.block4 == 0 {
		v.block4 = v1alpha1.DefaultIPv4BlockPrefix
	}
	v.pods = effectiveList("spec.podCIDRs", spec.PodCIDRs, v1alpha1.DefaultIPv4PodCIDR, v1alpha1.DefaultIPv6PodCIDR, v.dualStack)
	v.services = effectiveList("spec.serviceCIDRs", spec.ServiceCIDRs, v1alpha1.DefaultIPv4ServiceCIDR, v1alpha1.DefaultIPv6ServiceCIDR, v.dualStack)
	v.additional = entries("spec.additionalPodCIDRs", spec.AdditionalPodCIDRs)
	v.vnets = entries("spec.vnetCIDRs", spec.VNetCIDRs)
	v.connected = entries("spec.connectedCIDRs", spec.ConnectedCIDRs)
	for i, p := range spec.NodePools {
		if p.SubnetCIDR != "" {
			v.subnets = append(v.subnets, parseEntry(fmt.Sprintf("spec.nodePools[%d].subnetCIDR", i), p.SubnetCIDR, ""))
		}
	}
	dns := spec.DNSServiceIP
	if dns == "" {
		dns = v1alpha1.DefaultDNSServiceIP
	}
	v.dns, v.dnsOK = parseIP(dns)
	return v
}

// effectiveList applies the CRD default to an absent list and, in dual-stack, the IPv6
// default to a one-entry list (R6), as netconf.Resolve does.
func effectiveList(path string, in []string, def4, def6 string, dualStack bool) []cidrEntry {
	var out []cidrEntry
	if in == nil {
		out = []cidrEntry{parseEntry(path+"[0]", def4, "default")}
	} else {
		out = entries(path, in)
	}
	if dualStack && len(out) == 1 {
		out = append(out, parseEntry(path+"[1]", def6, "implied IPv6 default"))
	}
	return out
}

func entries(path string, in []string) []cidrEntry {
	out := make([]cidrEntry, len(in))
	for i, s := range in {
		out[i] = parseEntry(fmt.Sprintf("%s[%d]", path, i), s, "")
	}
	return out
}

// parseIP parses an address as the CEL library's ip() does: no zone, no IPv4-mapped IPv6.
func parseIP(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	return a, err == nil && a.Zone() == "" && !a.Is4In6()
}

// allPods returns the pod CIDRs (effective podCIDRs, then additionalPodCIDRs).
func (v *view) allPods() []cidrEntry { return append(slices.Clone(v.pods), v.additional...) }

// block6 returns the effective IPv6 block prefix length: the spec's, else the pod CIDR's
// length + 16 in Kubenet (R34), else /120 (R11); netconf.Resolve computes the same.
func (v *view) block6() int {
	switch {
	case v.spec.IPv6BlockPrefixLength != nil:
		return int(*v.spec.IPv6BlockPrefixLength)
	case v.mode == v1alpha1.ModeKubenet && len(v.pods) == 2 && v.pods[1].ok:
		return min(v.pods[1].prefix.Bits()+16, 128)
	default:
		return v1alpha1.DefaultIPv6BlockPrefix
	}
}

// checkSchema repeats what the CRD's OpenAPI schema and its per-field CEL rules enforce:
// CIDR and IP syntax (S1, S2, S3), enumerations (S4), list sizes and required fields
// (S5), block sizes (B2) and pool names (R9).
func checkSchema(l *list, spec *v1alpha1.OverlayClusterSpec) {
	enum(l, "spec.mode", string(spec.Mode), v1alpha1.ModeOverlay, v1alpha1.ModeKubenet, v1alpha1.ModeNodeSubnet)
	enum(l, "spec.networkPolicy", string(spec.NetworkPolicy),
		v1alpha1.NetworkPolicyNone, v1alpha1.NetworkPolicyAzure, v1alpha1.NetworkPolicyCalico, v1alpha1.NetworkPolicyCilium)
	enum(l, "spec.outboundType", string(spec.OutboundType),
		v1alpha1.OutboundLoadBalancer, v1alpha1.OutboundNATGateway, v1alpha1.OutboundUserDefinedRouting)

	if spec.VNetCIDRs == nil {
		l.add("S5", "spec.vnetCIDRs", "is required: the address space of the node network")
	}
	for _, c := range []struct {
		path     string
		n        int
		set      bool
		min, max int
	}{
		{"spec.ipFamilies", len(spec.IPFamilies), spec.IPFamilies != nil, 1, maxPerFamily},
		{"spec.podCIDRs", len(spec.PodCIDRs), spec.PodCIDRs != nil, 1, maxPerFamily},
		{"spec.serviceCIDRs", len(spec.ServiceCIDRs), spec.ServiceCIDRs != nil, 1, maxPerFamily},
		{"spec.vnetCIDRs", len(spec.VNetCIDRs), spec.VNetCIDRs != nil, 1, maxVNet},
		{"spec.additionalPodCIDRs", len(spec.AdditionalPodCIDRs), true, 0, maxAdditional},
		{"spec.connectedCIDRs", len(spec.ConnectedCIDRs), true, 0, maxConnected},
		{"spec.additionalNonMasqueradeCIDRs", len(spec.AdditionalNonMasqueradeCIDRs), true, 0, maxNonMasquerade},
		{"spec.nodePools", len(spec.NodePools), true, 0, maxNodePools},
	} {
		switch {
		case c.set && c.n < c.min:
			l.add("S5", c.path, "must have at least %d item", c.min)
		case c.n > c.max:
			l.add("S5", c.path, "has %d items, at most %d are allowed", c.n, c.max)
		}
	}

	for _, list := range []struct {
		path string
		in   []string
	}{
		{"spec.podCIDRs", spec.PodCIDRs},
		{"spec.additionalPodCIDRs", spec.AdditionalPodCIDRs},
		{"spec.serviceCIDRs", spec.ServiceCIDRs},
		{"spec.vnetCIDRs", spec.VNetCIDRs},
		{"spec.connectedCIDRs", spec.ConnectedCIDRs},
		{"spec.additionalNonMasqueradeCIDRs", spec.AdditionalNonMasqueradeCIDRs},
	} {
		for _, e := range entries(list.path, list.in) {
			cidrSyntax(l, e)
		}
	}

	if spec.DNSServiceIP != "" {
		if a, ok := parseIP(spec.DNSServiceIP); !ok || a.String() != spec.DNSServiceIP {
			l.add("S3", "spec.dnsServiceIP", "%q must be an IP address written canonically", spec.DNSServiceIP)
		}
	}

	if b := spec.IPv4BlockPrefixLength; b != 0 && (b < minIPv4Block || b > maxIPv4Block) {
		l.add("B2", "spec.ipv4BlockPrefixLength", "/%d must be between /%d and /%d", b, minIPv4Block, maxIPv4Block)
	}
	if b := spec.IPv6BlockPrefixLength; b != nil && (*b < minIPv6Block || *b > maxIPv6Block) {
		l.add("B2", "spec.ipv6BlockPrefixLength", "/%d must be between /%d and /%d", *b, minIPv6Block, maxIPv6Block)
	}

	seen := map[string]int{}
	for i, p := range spec.NodePools {
		path := fmt.Sprintf("spec.nodePools[%d]", i)
		if len(p.Name) > maxLabelValue || !labelValue.MatchString(p.Name) {
			l.add("R9", path+".name", "%q must be a label value: at most 63 characters, alphanumerics, '-', '_' or '.' inside, alphanumerics at both ends", p.Name)
		}
		if j, dup := seen[p.Name]; dup {
			l.add("S5", path+".name", "%q is also the name of spec.nodePools[%d]: pool names are unique", p.Name, j)
		} else {
			seen[p.Name] = i
		}
		enum(l, path+".osType", string(p.OSType), v1alpha1.OSLinux, v1alpha1.OSWindows)
		if p.SubnetCIDR != "" {
			cidrSyntax(l, parseEntry(path+".subnetCIDR", p.SubnetCIDR, ""))
		}
	}
}

// cidrSyntax reports an entry that is not a CIDR (S1) or not written canonically (S2): the
// address masked to its prefix length, in the form net/netip prints (lower-case IPv6,
// zeros compressed), which is what the CEL expression string(cidr(c).masked()) yields.
func cidrSyntax(l *list, e cidrEntry) {
	switch {
	case !e.ok:
		l.add("S1", e.field, "%q is not a CIDR (an IPv4 or IPv6 address, a slash and a prefix length)", e.value)
	case e.prefix.Masked().String() != e.value:
		l.add("S2", e.field, "%s is not written canonically, write %s", e.value, e.prefix.Masked())
	}
}

// enum reports a value outside its enumeration (S4); empty means unset.
func enum[T ~string](l *list, field, value string, allowed ...T) {
	if value == "" || slices.Contains(allowed, T(value)) {
		return
	}
	l.add("S4", field, "%q is not one of %v", value, allowed)
}

// checkFamilies enforces R7: [IPv4] or [IPv4, IPv6], and per-family lists that match.
func checkFamilies(l *list, v *view) {
	if !slices.Equal(v.families, []v1alpha1.IPFamily{v1alpha1.IPv4}) &&
		!slices.Equal(v.families, []v1alpha1.IPFamily{v1alpha1.IPv4, v1alpha1.IPv6}) {
		l.add("R7", "spec.ipFamilies", "%v must be [IPv4] or [IPv4 IPv6]; IPv6-only is not supported", v.families)
	}
	perFamily(l, "spec.podCIDRs", v.pods, v.families)
	perFamily(l, "spec.serviceCIDRs", v.services, v.families)
	for _, e := range v.additional {
		if e.ok && !slices.Contains(v.families, e.family()) {
			l.add("R7", e.field, "%s is %s, which is not in ipFamilies %v", e.value, e.family(), v.families)
		}
	}
}

func perFamily(l *list, path string, list []cidrEntry, families []v1alpha1.IPFamily) {
	if len(list) != len(families) {
		l.add("R7", path, "holds %d CIDRs for ipFamilies %v: it needs one per family, in the same order", len(list), families)
		return
	}
	for i, e := range list {
		if e.ok && e.family() != families[i] {
			l.add("R7", e.field, "%s is %s but ipFamilies[%d] is %s: one CIDR per family, in the same order", e.what(), e.family(), i, families[i])
		}
	}
}

// checkReserved enforces R1 on pod, service and VNet ranges.
func checkReserved(l *list, v *view) {
	all := append(append(v.allPods(), v.services...), v.vnets...)
	for _, e := range all {
		if !e.ok {
			continue
		}
		for _, r := range reservedRanges {
			if overlaps(e.prefix, r) {
				l.add("R1", e.field, "%s overlaps the reserved range %s", e.what(), r)
			}
		}
	}
}

// checkPodOverlaps enforces R2 (pod CIDRs overlap no VNet, node subnet, service or
// connected range) and the B1 invariant that pod CIDRs are disjoint from each other.
func checkPodOverlaps(l *list, v *view) {
	pods := v.allPods()
	for i, p := range pods {
		if !p.ok {
			continue
		}
		for _, others := range [][]cidrEntry{v.vnets, v.subnets, v.services, v.connected} {
			for _, o := range others {
				if o.ok && overlaps(p.prefix, o.prefix) {
					l.add("R2", p.field, "%s overlaps %s", p.what(), o.describe())
				}
			}
		}
		for _, o := range pods[:i] {
			if o.ok && overlaps(p.prefix, o.prefix) {
				l.add("B1", p.field, "%s overlaps %s: pod CIDRs must be disjoint so that no block is handed out twice", p.what(), o.describe())
			}
		}
	}
}

// checkServiceCIDRs enforces R3 (service CIDRs overlap no VNet, connected or pod range)
// and R4 (their size).
func checkServiceCIDRs(l *list, v *view) {
	for _, s := range v.services {
		if !s.ok {
			continue
		}
		for _, others := range [][]cidrEntry{v.vnets, v.connected, v.allPods()} {
			for _, o := range others {
				if o.ok && overlaps(s.prefix, o.prefix) {
					l.add("R3", s.field, "%s overlaps %s", s.what(), o.describe())
				}
			}
		}
		if bound := serviceBound(s.prefix); s.prefix.Bits() < bound {
			l.add("R4", s.field, "%s is too large: a service CIDR of its family must be /%d or longer", s.what(), bound)
		}
	}
}

func serviceBound(p netip.Prefix) int {
	if p.Addr().Is4() {
		return maxIPv4ServiceBits
	}
	return maxIPv6ServiceBits
}

// checkDNSServiceIP enforces R5: the DNS service IP lies in the service CIDR of its
// family and is neither that CIDR's network address nor its first host, which
// kubernetes.default takes.
func checkDNSServiceIP(l *list, v *view) {
	if !v.dnsOK {
		return // S3
	}
	for _, s := range v.services {
		if s.ok && s.prefix.Contains(v.dns) && !isNetworkOrFirstHost(v.dns, s.prefix) {
			return
		}
	}
	const field = "spec.dnsServiceIP"
	i := slices.IndexFunc(v.services, func(s cidrEntry) bool { return s.ok && s.prefix.Addr().Is4() == v.dns.Is4() })
	if i < 0 {
		l.add("R5", field, "%s has no service CIDR of its family to lie in", v.dns)
		return
	}
	s := v.services[i]
	switch {
	case !s.prefix.Contains(v.dns):
		l.add("R5", field, "%s is outside %s", v.dns, s.describe())
	case v.dns == s.prefix.Masked().Addr():
		l.add("R5", field, "%s is the network address of %s", v.dns, s.describe())
	default:
		l.add("R5", field, "%s is the first host of %s, which kubernetes.default takes", v.dns, s.describe())
	}
}

// isNetworkOrFirstHost is true when a is the network address of p or the address after
// it. It asks whether the pair of addresses a belongs to (a/31, a/127) holds the network
// address, which for any prefix of /31 (/127) or shorter is the same question, and is how
// the CEL rule must ask it, having no address arithmetic.
func isNetworkOrFirstHost(a netip.Addr, p netip.Prefix) bool {
	pair := netip.PrefixFrom(a, a.BitLen()-1)
	return pair.Contains(p.Masked().Addr())
}

// checkBlocks enforces that every pod CIDR holds at least one node block of its family:
// R10 for IPv4 (a /24 by default), R11 for IPv6 (a /120, or in Kubenet the pod CIDR's
// length + 16, R34).
func checkBlocks(l *list, v *view) {
	for _, e := range v.allPods() {
		if !e.ok {
			continue
		}
		rule, block := "R10", v.block4
		if e.family() == v1alpha1.IPv6 {
			rule, block = "R11", v.block6()
		}
		if e.prefix.Bits() > block {
			l.add(rule, e.field, "%s is smaller than one /%d node block", e.what(), block)
		}
	}
}

// maxPodsRule returns the rule that bounds max pods in a mode: R12 (Overlay), R32
// (Kubenet) or R41 (NodeSubnet). The bounds are the same, 10 to 250, in every mode.
func maxPodsRule(mode v1alpha1.NetworkMode) string {
	switch mode {
	case v1alpha1.ModeKubenet:
		return "R32"
	case v1alpha1.ModeNodeSubnet:
		return "R41"
	default:
		return "R12"
	}
}

func checkMaxPods(l *list, v *view) {
	rule := maxPodsRule(v.mode)
	check := func(field string, n *int32) {
		if n != nil && (*n < v1alpha1.MinMaxPods || *n > v1alpha1.MaxMaxPods) {
			l.add(rule, field, "%d is outside %d–%d, the max pods per node of %s mode", *n, v1alpha1.MinMaxPods, v1alpha1.MaxMaxPods, v.mode)
		}
	}
	check("spec.maxPodsPerNode", v.spec.MaxPodsPerNode)
	for i, p := range v.spec.NodePools {
		check(fmt.Sprintf("spec.nodePools[%d].maxPods", i), p.MaxPods)
	}
}

// checkSubnets enforces R14: a pool's subnet lies inside a VNet CIDR, and two pools'
// subnets are the same subnet or disjoint.
func checkSubnets(l *list, v *view) {
	for i, s := range v.subnets {
		if !s.ok {
			continue
		}
		inside := slices.ContainsFunc(v.vnets, func(vn cidrEntry) bool { return vn.ok && contains(vn.prefix, s.prefix) })
		if !inside {
			l.add("R14", s.field, "%s lies outside every spec.vnetCIDRs range %v", s.value, values(v.vnets))
		}
		for _, o := range v.subnets[:i] {
			if o.ok && o.value != s.value && overlaps(s.prefix, o.prefix) {
				l.add("R14", s.field, "%s overlaps %s: pools share a subnet or use disjoint ones", s.value, o.describe())
			}
		}
	}
}

// checkNodeSubnetBounds enforces R43: in NodeSubnet mode, where pods take addresses of
// their pool's subnet, that subnet is IPv4 (NodeSubnet pods are IPv4 only) and holds at
// most 65,536 addresses, so that reserving addresses never walks an IPv6 /64.
func checkNodeSubnetBounds(l *list, v *view) {
	if v.mode != v1alpha1.ModeNodeSubnet {
		return
	}
	for _, s := range v.subnets {
		if !s.ok {
			continue
		}
		if !s.prefix.Addr().Is4() || s.prefix.Bits() < v1alpha1.NodeSubnetMinPrefixLength {
			l.add("R43", s.field, "%s must be IPv4 and /%d or longer (at most 65,536 addresses) in NodeSubnet mode", s.value, v1alpha1.NodeSubnetMinPrefixLength)
		}
	}
}

func values(es []cidrEntry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.value
	}
	return out
}

// checkCompatibility enforces the feature rules: R18 (Overlay has no virtual nodes), R19
// (what dual-stack excludes) and R35 (what Kubenet excludes).
func checkCompatibility(l *list, v *view) {
	if v.mode == v1alpha1.ModeOverlay && v.spec.VirtualNodes {
		l.add("R18", "spec.virtualNodes", "Overlay mode does not support virtual nodes")
	}
	if v.dualStack {
		if v.networkPolicy == v1alpha1.NetworkPolicyAzure || v.networkPolicy == v1alpha1.NetworkPolicyCalico {
			l.add("R19", "spec.networkPolicy", "dual-stack does not support the %s network policy", v.networkPolicy)
		}
		if v.outboundType == v1alpha1.OutboundNATGateway {
			l.add("R19", "spec.outboundType", "dual-stack does not support the NATGateway outbound type")
		}
		if v.spec.VirtualNodes {
			l.add("R19", "spec.virtualNodes", "dual-stack does not support virtual nodes")
		}
	}
	if v.mode == v1alpha1.ModeKubenet {
		for i, p := range v.spec.NodePools {
			if p.OSType == v1alpha1.OSWindows {
				l.add("R35", fmt.Sprintf("spec.nodePools[%d].osType", i), "Kubenet does not support Windows node pools (pool %q)", p.Name)
			}
		}
		if v.networkPolicy == v1alpha1.NetworkPolicyAzure {
			l.add("R35", "spec.networkPolicy", "Kubenet does not support the Azure network policy; Calico is supported")
		}
		if v.spec.VirtualNodes {
			l.add("R35", "spec.virtualNodes", "Kubenet does not support virtual nodes")
		}
	}
}

// ValidateObject checks a whole OverlayCluster as admission does: its name (S6: there is
// one per cluster, named "default") and ValidateSpec of its spec.
func ValidateObject(obj *v1alpha1.OverlayCluster) Violations {
	if obj == nil {
		return Violations{{Rule: "S5", Field: "object", Message: "is required"}}
	}
	var l list
	if obj.Name != v1alpha1.ClusterName {
		l.add("S6", "metadata.name", "%q must be %q: there is one OverlayCluster per cluster", obj.Name, v1alpha1.ClusterName)
	}
	return append(l.vs, ValidateSpec(&obj.Spec)...)
}
