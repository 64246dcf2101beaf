package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// OverlayClusterSpec is the cluster's pod network as the platform team declares it.
//
// Lists are bounded (MaxItems) so that every CEL rule stays inside the API server's cost
// budget.
//
// The CEL rules below are the admission half of the rulebook (docs/rulebook.md); internal/validation
// is its Go half and the single source of truth, and a test runs one table of specs
// through both and requires them to agree. Every message starts with the rule id. CEL has
// no local bindings here, so the effective lists are spelled out in each rule: in
// dual-stack a one-entry podCIDRs or serviceCIDRs list takes the IPv6 default (R6), and
// additionalPodCIDRs joins the pod CIDRs. The rules below are therefore generated: edit
// them in internal/validation/celmarkers_test.go and run
// `go test ./internal/validation -run TestCELMarkers -update-cel-markers`. Cross-field
// rules skip entries that are not CIDRs, which the per-field syntax rules (S1, S2) report
// on their own.
//
// Generated CEL rules:
//
// R7: podCIDRs and serviceCIDRs hold one CIDR per family, in ipFamilies order (in dual-stack a one-entry list implies the IPv6 default, R6).
// +kubebuilder:validation:XValidation:rule="size((size(self.ipFamilies) == 2 && size(self.podCIDRs) == 1 ? self.podCIDRs + ['fd12:3456:789a::/64'] : self.podCIDRs)) == size(self.ipFamilies) && (size(self.ipFamilies) == 2 && size(self.podCIDRs) == 1 ? self.podCIDRs + ['fd12:3456:789a::/64'] : self.podCIDRs).all(i, c, !isCIDR(c) || (cidr(c).ip().family() == 4 ? 'IPv4' : 'IPv6') == self.ipFamilies[i])",messageExpression="'R7: podCIDRs %s must hold one CIDR per entry of ipFamilies %s, in the same order'.format([(size(self.ipFamilies) == 2 && size(self.podCIDRs) == 1 ? self.podCIDRs + ['fd12:3456:789a::/64'] : self.podCIDRs), self.ipFamilies])",fieldPath=".podCIDRs"
// +kubebuilder:validation:XValidation:rule="size((size(self.ipFamilies) == 2 && size(self.serviceCIDRs) == 1 ? self.serviceCIDRs + ['fd12:3456:789a:1::/108'] : self.serviceCIDRs)) == size(self.ipFamilies) && (size(self.ipFamilies) == 2 && size(self.serviceCIDRs) == 1 ? self.serviceCIDRs + ['fd12:3456:789a:1::/108'] : self.serviceCIDRs).all(i, c, !isCIDR(c) || (cidr(c).ip().family() == 4 ? 'IPv4' : 'IPv6') == self.ipFamilies[i])",messageExpression="'R7: serviceCIDRs %s must hold one CIDR per entry of ipFamilies %s, in the same order'.format([(size(self.ipFamilies) == 2 && size(self.serviceCIDRs) == 1 ? self.serviceCIDRs + ['fd12:3456:789a:1::/108'] : self.serviceCIDRs), self.ipFamilies])",fieldPath=".serviceCIDRs"
//
// R7: additional pod CIDRs belong to a family of the cluster.
// +kubebuilder:validation:XValidation:rule="(has(self.additionalPodCIDRs) ? self.additionalPodCIDRs : []).all(c, !isCIDR(c) || (cidr(c).ip().family() == 4 ? 'IPv4' : 'IPv6') in self.ipFamilies)",messageExpression="'R7: additionalPodCIDRs %s are of a family missing from ipFamilies %s'.format([(has(self.additionalPodCIDRs) ? self.additionalPodCIDRs : []).filter(c, isCIDR(c) && !((cidr(c).ip().family() == 4 ? 'IPv4' : 'IPv6') in self.ipFamilies)), self.ipFamilies])",fieldPath=".additionalPodCIDRs"
//
// R1: pod, service and VNet ranges stay clear of the ranges the platform reserves.
// +kubebuilder:validation:XValidation:rule="(((size(self.ipFamilies) == 2 && size(self.podCIDRs) == 1 ? self.podCIDRs + ['fd12:3456:789a::/64'] : self.podCIDRs) + (has(self.additionalPodCIDRs) ? self.additionalPodCIDRs : [])) + (size(self.ipFamilies) == 2 && size(self.serviceCIDRs) == 1 ? self.serviceCIDRs + ['fd12:3456:789a:1::/108'] : self.serviceCIDRs) + self.vnetCIDRs).all(c, !isCIDR(c) || ['169.254.0.0/16', '172.30.0.0/16', '172.31.0.0/16', '192.0.2.0/24'].all(r, !(cidr(r).containsCIDR(c) || cidr(c).containsCIDR(r))))",messageExpression="'R1: %s overlap a reserved range (169.254.0.0/16, 172.30.0.0/16, 172.31.0.0/16 or 192.0.2.0/24)'.format([(((size(self.ipFamilies) == 2 && size(self.podCIDRs) == 1 ? self.podCIDRs + ['fd12:3456:789a::/64'] : self.podCIDRs) + (has(self.additionalPodCIDRs) ? self.additionalPodCIDRs : [])) + (size(self.ipFamilies) == 2 && size(self.serviceCIDRs) == 1 ? self.serviceCIDRs + ['fd12:3456:789a:1::/108'] : self.serviceCIDRs) + self.vnetCIDRs).filter(c, isCIDR(c) && ['169.254.0.0/16', '172.30.0.0/16', '172.31.0.0/16', '192.0.2.0/24'].exists(r, (cidr(r).containsCIDR(c) || cidr(c).containsCIDR(r))))])"
//
// R2: pod CIDRs overlap neither the VNet, node subnets, service CIDRs nor connected networks.
// +kubebuilder:validation:XValidation:rule="((size(self.ipFamilies) == 2 && size(self.podCIDRs) == 1 ? self.podCIDRs + ['fd12:3456:789a::/64'] : self.podCIDRs) + (has(self.additionalPodCIDRs) ? self.additionalPodCIDRs : [])).all(p, !isCIDR(p) || self.vnetCIDRs.all(o, !isCIDR(o) || !(cidr(p).containsCIDR(o) || cidr(o).containsCIDR(p))))",messageExpression="'R2: pod CIDRs %s overlap vnetCIDRs %s'.format([((size(self.ipFamilies) == 2 && size(self.podCIDRs) == 1 ? self.podCIDRs + ['fd12:3456:789a::/64'] : self.podCIDRs) + (has(self.additionalPodCIDRs) ? self.additionalPodCIDRs : [])).filter(p, isCIDR(p) && self.vnetCIDRs.exists(o, isCIDR(o) && (cidr(p).containsCIDR(o) || cidr(o).containsCIDR(p)))), self.vnetCIDRs.filter(o, isCIDR(o) && ((size(self.ipFamilies) == 2 && size(self.podCIDRs) == 1 ? self.podCIDRs + ['fd12:3456:789a::/64'] : self.podCIDRs) + (has(self.additionalPodCIDRs) ? self.additionalPodCIDRs : [])).exists(p, isCIDR(p) && (cidr(p).containsCIDR(o) || cidr(o).containsCIDR(p))))])"
// +kubebuilder:validation:XValidation:rule="((size(self.ipFamilies) == 2 && size(self.podCIDRs) == 1 ? self.podCIDRs + ['fd12:3456:789a::/64'] : self.podCIDRs) + (has(self.additionalPodCIDRs) ? self.additionalPodCIDRs : [])).all(p, !isCIDR(p) || (has(self.nodePools) ? self.nodePools : []).map(p, has(p.subnetCIDR) ? p.subnetCIDR : '-').all(o, !isCIDR(o) || !(cidr(p).containsCIDR(o) || cidr(o).containsCIDR(p))))",messageExpression="'R2: pod CIDRs %s overlap the subnetCIDR of a node pool %s'.format([((size(self.ipFamilies) == 2 && size(self.podCIDRs) == 1 ? self.podCIDRs + ['fd12:3456:789a::/64'] : self.podCIDRs) + (has(self.additionalPodCIDRs) ? self.additionalPodCIDRs : [])).filter(p, isCIDR(p) && (has(self.nodePools) ? self.nodePools : []).map(p, has(p.subnetCIDR) ? p.subnetCIDR : '-').exists(o, isCIDR(o) && (cidr(p).containsCIDR(o) || cidr(o).containsCIDR(p)))), (has(self.nodePools) ? self.nodePools : []).map(p, has(p.subnetCIDR) ? p.subnetCIDR : '-').filter(o, isCIDR(o) && ((size(self.ipFamilies) == 2 && size(self.podCIDRs) == 1 ? self.podCIDRs + ['fd12:3456:789a::/64'] : self.podCIDRs) + (has(self.additionalPodCIDRs) ? self.additionalPodCIDRs : [])).exists(p, isCIDR(p) && (cidr(p).containsCIDR(o) || cidr(o).containsCIDR(p))))])"
// +kubebuilder:validation:XValidation:rule="((size(self.ipFamilies) == 2 && size(self.podCIDRs) == 1 ? self.podCIDRs + ['fd12:3456:789a::/64'] : self.podCIDRs) + (has(self.additionalPodCIDRs) ? self.additionalPodCIDRs : [])).all(p, !isCIDR(p) || (size(self.ipFamilies) == 2 && size(self.serviceCIDRs) == 1 ? self.serviceCIDRs + ['fd12:3456:789a:1::/108'] : self.serviceCIDRs).all(o, !isCIDR(o) || !(cidr(p).containsCIDR(o) || cidr(o).containsCIDR(p))))",messageExpression="'R2: pod CIDRs %s overlap serviceCIDRs %s'.format([((size(self.ipFamilies) == 2 && size(self.podCIDRs) == 1 ? self.podCIDRs + ['fd12:3456:789a::/64'] : self.podCIDRs) + (has(self.additionalPodCIDRs) ? self.additionalPodCIDRs : [])).filter(p, isCIDR(p) && (size(self.ipFamilies) == 2 && size(self.serviceCIDRs) == 1 ? self.serviceCIDRs + ['fd12:3456:789a:1::/108'] : self.serviceCIDRs).exists(o, isCIDR(o) && (cidr(p).containsCIDR(o) || cidr(o).containsCIDR(p)))), (size(self.ipFamilies) == 2 && size(self.serviceCIDRs) == 1 ? self.serviceCIDRs + ['fd12:3456:789a:1::/108'] : self.serviceCIDRs).filter(o, isCIDR(o) && ((size(self.ipFamilies) == 2 && size(self.podCIDRs) == 1 ? self.podCIDRs + ['fd12:3456:789a::/64'] : self.podCIDRs) + (has(self.additionalPodCIDRs) ? self.additionalPodCIDRs : [])).exists(p, isCIDR(p) && (cidr(p).containsCIDR(o) || cidr(o).containsCIDR(p))))])"
// +kubebuilder:validation:XValidation:rule="((size(self.ipFamilies) == 2 && size(self.podCIDRs) == 1 ? self.podCIDRs + ['fd12:3456:789a::/64'] : self.podCIDRs) + (has(self.additionalPodCIDRs) ? self.additionalPodCIDRs : [])).all(p, !isCIDR(p) || (has(self.connectedCIDRs) ? self.connectedCIDRs : []).all(o, !isCIDR(o) || !(cidr(p).containsCIDR(o) || cidr(o).containsCIDR(p))))",messageExpression="'R2: pod CIDRs %s overlap connectedCIDRs %s'.format([((size(self.ipFamilies) == 2 && size(self.podCIDRs) == 1 ? self.podCIDRs + ['fd12:3456:789a::/64'] : self.podCIDRs) + (has(self.additionalPodCIDRs) ? self.additionalPodCIDRs : [])).filter(p, isCIDR(p) && (has(self.connectedCIDRs) ? self.connectedCIDRs : []).exists(o, isCIDR(o) && (cidr(p).containsCIDR(o) || cidr(o).containsCIDR(p)))), (has(self.connectedCIDRs) ? self.connectedCIDRs : []).filter(o, isCIDR(o) && ((size(self.ipFamilies) == 2 && size(self.podCIDRs) == 1 ? self.podCIDRs + ['fd12:3456:789a::/64'] : self.podCIDRs) + (has(self.additionalPodCIDRs) ? self.additionalPodCIDRs : [])).exists(p, isCIDR(p) && (cidr(p).containsCIDR(o) || cidr(o).containsCIDR(p))))])"
//
// R3: service CIDRs overlap neither the VNet, connected networks nor pod CIDRs.
// +kubebuilder:validation:XValidation:rule="(size(self.ipFamilies) == 2 && size(self.serviceCIDRs) == 1 ? self.serviceCIDRs + ['fd12:3456:789a:1::/108'] : self.serviceCIDRs).all(s, !isCIDR(s) || self.vnetCIDRs.all(o, !isCIDR(o) || !(cidr(s).containsCIDR(o) || cidr(o).containsCIDR(s))))",messageExpression="'R3: serviceCIDRs %s overlap vnetCIDRs %s'.format([(size(self.ipFamilies) == 2 && size(self.serviceCIDRs) == 1 ? self.serviceCIDRs + ['fd12:3456:789a:1::/108'] : self.serviceCIDRs).filter(s, isCIDR(s) && self.vnetCIDRs.exists(o, isCIDR(o) && (cidr(s).containsCIDR(o) || cidr(o).containsCIDR(s)))), self.vnetCIDRs.filter(o, isCIDR(o) && (size(self.ipFamilies) == 2 && size(self.serviceCIDRs) == 1 ? self.serviceCIDRs + ['fd12:3456:789a:1::/108'] : self.serviceCIDRs).exists(s, isCIDR(s) && (cidr(s).containsCIDR(o) || cidr(o).containsCIDR(s))))])",fieldPath=".serviceCIDRs"
// +kubebuilder:validation:XValidation:rule="(size(self.ipFamilies) == 2 && size(self.serviceCIDRs) == 1 ? self.serviceCIDRs + ['fd12:3456:789a:1::/108'] : self.serviceCIDRs).all(s, !isCIDR(s) || (has(self.connectedCIDRs) ? self.connectedCIDRs : []).all(o, !isCIDR(o) || !(cidr(s).containsCIDR(o) || cidr(o).containsCIDR(s))))",messageExpression="'R3: serviceCIDRs %s overlap connectedCIDRs %s'.format([(size(self.ipFamilies) == 2 && size(self.serviceCIDRs) == 1 ? self.serviceCIDRs + ['fd12:3456:789a:1::/108'] : self.serviceCIDRs).filter(s, isCIDR(s) && (has(self.connectedCIDRs) ? self.connectedCIDRs : []).exists(o, isCIDR(o) && (cidr(s).containsCIDR(o) || cidr(o).containsCIDR(s)))), (has(self.connectedCIDRs) ? self.connectedCIDRs : []).filter(o, isCIDR(o) && (size(self.ipFamilies) == 2 && size(self.serviceCIDRs) == 1 ? self.serviceCIDRs + ['fd12:3456:789a:1::/108'] : self.serviceCIDRs).exists(s, isCIDR(s) && (cidr(s).containsCIDR(o) || cidr(o).containsCIDR(s))))])",fieldPath=".serviceCIDRs"
// +kubebuilder:validation:XValidation:rule="(size(self.ipFamilies) == 2 && size(self.serviceCIDRs) == 1 ? self.serviceCIDRs + ['fd12:3456:789a:1::/108'] : self.serviceCIDRs).all(s, !isCIDR(s) || ((size(self.ipFamilies) == 2 && size(self.podCIDRs) == 1 ? self.podCIDRs + ['fd12:3456:789a::/64'] : self.podCIDRs) + (has(self.additionalPodCIDRs) ? self.additionalPodCIDRs : [])).all(o, !isCIDR(o) || !(cidr(s).containsCIDR(o) || cidr(o).containsCIDR(s))))",messageExpression="'R3: serviceCIDRs %s overlap pod CIDRs %s'.format([(size(self.ipFamilies) == 2 && size(self.serviceCIDRs) == 1 ? self.serviceCIDRs + ['fd12:3456:789a:1::/108'] : self.serviceCIDRs).filter(s, isCIDR(s) && ((size(self.ipFamilies) == 2 && size(self.podCIDRs) == 1 ? self.podCIDRs + ['fd12:3456:789a::/64'] : self.podCIDRs) + (has(self.additionalPodCIDRs) ? self.additionalPodCIDRs : [])).exists(o, isCIDR(o) && (cidr(s).containsCIDR(o) || cidr(o).containsCIDR(s)))), ((size(self.ipFamilies) == 2 && size(self.podCIDRs) == 1 ? self.podCIDRs + ['fd12:3456:789a::/64'] : self.podCIDRs) + (has(self.additionalPodCIDRs) ? self.additionalPodCIDRs : [])).filter(o, isCIDR(o) && (size(self.ipFamilies) == 2 && size(self.serviceCIDRs) == 1 ? self.serviceCIDRs + ['fd12:3456:789a:1::/108'] : self.serviceCIDRs).exists(s, isCIDR(s) && (cidr(s).containsCIDR(o) || cidr(o).containsCIDR(s))))])",fieldPath=".serviceCIDRs"
//
// B1: pod CIDRs do not overlap each other, so that no block can be handed out twice.
// +kubebuilder:validation:XValidation:rule="((size(self.ipFamilies) == 2 && size(self.podCIDRs) == 1 ? self.podCIDRs + ['fd12:3456:789a::/64'] : self.podCIDRs) + (has(self.additionalPodCIDRs) ? self.additionalPodCIDRs : [])).all(i, a, ((size(self.ipFamilies) == 2 && size(self.podCIDRs) == 1 ? self.podCIDRs + ['fd12:3456:789a::/64'] : self.podCIDRs) + (has(self.additionalPodCIDRs) ? self.additionalPodCIDRs : [])).all(j, b, j <= i || !isCIDR(a) || !isCIDR(b) || !(cidr(a).containsCIDR(b) || cidr(b).containsCIDR(a))))",messageExpression="'B1: the pod CIDRs %s must not overlap each other'.format([((size(self.ipFamilies) == 2 && size(self.podCIDRs) == 1 ? self.podCIDRs + ['fd12:3456:789a::/64'] : self.podCIDRs) + (has(self.additionalPodCIDRs) ? self.additionalPodCIDRs : []))])",fieldPath=".additionalPodCIDRs"
//
// R4: an IPv4 service CIDR is /12 or longer, an IPv6 one /108 or longer.
// +kubebuilder:validation:XValidation:rule="(size(self.ipFamilies) == 2 && size(self.serviceCIDRs) == 1 ? self.serviceCIDRs + ['fd12:3456:789a:1::/108'] : self.serviceCIDRs).all(s, !isCIDR(s) || cidr(s).prefixLength() >= (cidr(s).ip().family() == 4 ? 12 : 108))",messageExpression="'R4: serviceCIDRs %s are too large: an IPv4 service CIDR must be /12 or longer, an IPv6 one /108 or longer'.format([(size(self.ipFamilies) == 2 && size(self.serviceCIDRs) == 1 ? self.serviceCIDRs + ['fd12:3456:789a:1::/108'] : self.serviceCIDRs).filter(s, isCIDR(s) && cidr(s).prefixLength() < (cidr(s).ip().family() == 4 ? 12 : 108))])",fieldPath=".serviceCIDRs"
//
// R5: the DNS service IP lies in the service CIDR of its family and is neither its network address nor its first host.
// +kubebuilder:validation:XValidation:rule="!isIP(self.dnsServiceIP) || (size(self.ipFamilies) == 2 && size(self.serviceCIDRs) == 1 ? self.serviceCIDRs + ['fd12:3456:789a:1::/108'] : self.serviceCIDRs).exists(s, isCIDR(s) && cidr(s).containsIP(self.dnsServiceIP) && !cidr(self.dnsServiceIP + (ip(self.dnsServiceIP).family() == 4 ? '/31' : '/127')).containsIP(cidr(s).masked().ip()))",messageExpression="'R5: dnsServiceIP %s must lie in the service CIDR of its family, %s, and be neither its network address nor its first host'.format([self.dnsServiceIP, (size(self.ipFamilies) == 2 && size(self.serviceCIDRs) == 1 ? self.serviceCIDRs + ['fd12:3456:789a:1::/108'] : self.serviceCIDRs)])",fieldPath=".dnsServiceIP"
//
// R10, R11: every pod CIDR holds at least one node block of its family.
// +kubebuilder:validation:XValidation:rule="((size(self.ipFamilies) == 2 && size(self.podCIDRs) == 1 ? self.podCIDRs + ['fd12:3456:789a::/64'] : self.podCIDRs) + (has(self.additionalPodCIDRs) ? self.additionalPodCIDRs : [])).all(c, !isCIDR(c) || cidr(c).ip().family() != 4 || cidr(c).prefixLength() <= self.ipv4BlockPrefixLength)",messageExpression="'R10: IPv4 pod CIDRs %s are smaller than one /%d node block'.format([((size(self.ipFamilies) == 2 && size(self.podCIDRs) == 1 ? self.podCIDRs + ['fd12:3456:789a::/64'] : self.podCIDRs) + (has(self.additionalPodCIDRs) ? self.additionalPodCIDRs : [])).filter(c, isCIDR(c) && cidr(c).ip().family() == 4 && cidr(c).prefixLength() > self.ipv4BlockPrefixLength), self.ipv4BlockPrefixLength])"
// +kubebuilder:validation:XValidation:rule="((size(self.ipFamilies) == 2 && size(self.podCIDRs) == 1 ? self.podCIDRs + ['fd12:3456:789a::/64'] : self.podCIDRs) + (has(self.additionalPodCIDRs) ? self.additionalPodCIDRs : [])).all(c, !isCIDR(c) || cidr(c).ip().family() != 6 || cidr(c).prefixLength() <= (has(self.ipv6BlockPrefixLength) ? self.ipv6BlockPrefixLength : (self.mode == 'Kubenet' && size((size(self.ipFamilies) == 2 && size(self.podCIDRs) == 1 ? self.podCIDRs + ['fd12:3456:789a::/64'] : self.podCIDRs)) == 2 && isCIDR((size(self.ipFamilies) == 2 && size(self.podCIDRs) == 1 ? self.podCIDRs + ['fd12:3456:789a::/64'] : self.podCIDRs)[1]) ? (cidr((size(self.ipFamilies) == 2 && size(self.podCIDRs) == 1 ? self.podCIDRs + ['fd12:3456:789a::/64'] : self.podCIDRs)[1]).prefixLength() + 16 > 128 ? 128 : cidr((size(self.ipFamilies) == 2 && size(self.podCIDRs) == 1 ? self.podCIDRs + ['fd12:3456:789a::/64'] : self.podCIDRs)[1]).prefixLength() + 16) : 120)))",messageExpression="'R11: IPv6 pod CIDRs %s are smaller than one /%d node block'.format([((size(self.ipFamilies) == 2 && size(self.podCIDRs) == 1 ? self.podCIDRs + ['fd12:3456:789a::/64'] : self.podCIDRs) + (has(self.additionalPodCIDRs) ? self.additionalPodCIDRs : [])).filter(c, isCIDR(c) && cidr(c).ip().family() == 6 && cidr(c).prefixLength() > (has(self.ipv6BlockPrefixLength) ? self.ipv6BlockPrefixLength : (self.mode == 'Kubenet' && size((size(self.ipFamilies) == 2 && size(self.podCIDRs) == 1 ? self.podCIDRs + ['fd12:3456:789a::/64'] : self.podCIDRs)) == 2 && isCIDR((size(self.ipFamilies) == 2 && size(self.podCIDRs) == 1 ? self.podCIDRs + ['fd12:3456:789a::/64'] : self.podCIDRs)[1]) ? (cidr((size(self.ipFamilies) == 2 && size(self.podCIDRs) == 1 ? self.podCIDRs + ['fd12:3456:789a::/64'] : self.podCIDRs)[1]).prefixLength() + 16 > 128 ? 128 : cidr((size(self.ipFamilies) == 2 && size(self.podCIDRs) == 1 ? self.podCIDRs + ['fd12:3456:789a::/64'] : self.podCIDRs)[1]).prefixLength() + 16) : 120))), (has(self.ipv6BlockPrefixLength) ? self.ipv6BlockPrefixLength : (self.mode == 'Kubenet' && size((size(self.ipFamilies) == 2 && size(self.podCIDRs) == 1 ? self.podCIDRs + ['fd12:3456:789a::/64'] : self.podCIDRs)) == 2 && isCIDR((size(self.ipFamilies) == 2 && size(self.podCIDRs) == 1 ? self.podCIDRs + ['fd12:3456:789a::/64'] : self.podCIDRs)[1]) ? (cidr((size(self.ipFamilies) == 2 && size(self.podCIDRs) == 1 ? self.podCIDRs + ['fd12:3456:789a::/64'] : self.podCIDRs)[1]).prefixLength() + 16 > 128 ? 128 : cidr((size(self.ipFamilies) == 2 && size(self.podCIDRs) == 1 ? self.podCIDRs + ['fd12:3456:789a::/64'] : self.podCIDRs)[1]).prefixLength() + 16) : 120))])"
//
// R12, R32, R41: max pods per node is between 10 and 250 in every mode, for the cluster and for each pool.
// +kubebuilder:validation:XValidation:rule="(!has(self.maxPodsPerNode) || (self.maxPodsPerNode >= 10 && self.maxPodsPerNode <= 250)) && (!has(self.nodePools) || self.nodePools.all(p, !has(p.maxPods) || (p.maxPods >= 10 && p.maxPods <= 250)))",messageExpression="(self.mode == 'Kubenet' ? 'R32' : self.mode == 'NodeSubnet' ? 'R41' : 'R12') + ': max pods per node must be between 10 and 250 in ' + self.mode + ' mode, for maxPodsPerNode and for every node pool'"
//
// R14: a pool's subnet lies inside a VNet CIDR, and pool subnets are equal or disjoint.
// +kubebuilder:validation:XValidation:rule="(!has(self.nodePools) || self.nodePools.all(p, !has(p.subnetCIDR) || !isCIDR(p.subnetCIDR) || self.vnetCIDRs.exists(v, isCIDR(v) && cidr(v).containsCIDR(p.subnetCIDR))))",messageExpression="'R14: node pool subnets %s must lie inside a VNet CIDR of %s'.format([(has(self.nodePools) ? self.nodePools.filter(p, has(p.subnetCIDR) && isCIDR(p.subnetCIDR) && !self.vnetCIDRs.exists(v, isCIDR(v) && cidr(v).containsCIDR(p.subnetCIDR))).map(p, p.subnetCIDR) : []), self.vnetCIDRs])",fieldPath=".nodePools"
// +kubebuilder:validation:XValidation:rule="(!has(self.nodePools) || self.nodePools.all(a, self.nodePools.all(b, !has(a.subnetCIDR) || !has(b.subnetCIDR) || !isCIDR(a.subnetCIDR) || !isCIDR(b.subnetCIDR) || a.subnetCIDR == b.subnetCIDR || !(cidr(a.subnetCIDR).containsCIDR(b.subnetCIDR) || cidr(b.subnetCIDR).containsCIDR(a.subnetCIDR)))))",message="R14: node pool subnets must be equal (a shared subnet) or disjoint",fieldPath=".nodePools"
//
// R43: in NodeSubnet mode a pool's subnet is IPv4 and /16 or longer, so reserving pod addresses stays bounded.
// +kubebuilder:validation:XValidation:rule="self.mode != 'NodeSubnet' || (!has(self.nodePools) || self.nodePools.all(p, !has(p.subnetCIDR) || !isCIDR(p.subnetCIDR) || (cidr(p.subnetCIDR).ip().family() == 4 && cidr(p.subnetCIDR).prefixLength() >= 16)))",messageExpression="'R43: NodeSubnet node pool subnets %s must be IPv4 and /16 or longer'.format([(has(self.nodePools) ? self.nodePools.filter(p, has(p.subnetCIDR) && isCIDR(p.subnetCIDR) && !(cidr(p.subnetCIDR).ip().family() == 4 && cidr(p.subnetCIDR).prefixLength() >= 16)).map(p, p.subnetCIDR) : [])])",fieldPath=".nodePools"
//
// R18: Overlay rejects virtual nodes.
// +kubebuilder:validation:XValidation:rule="!(self.mode == 'Overlay' && self.virtualNodes)",message="R18: Overlay mode does not support virtual nodes",fieldPath=".virtualNodes"
//
// R19: dual-stack rejects the Azure and Calico network policies, the NAT gateway and virtual nodes (its Kubernetes version bound needs cluster facts: internal/validation.ValidateCluster).
// +kubebuilder:validation:XValidation:rule="size(self.ipFamilies) < 2 || !(self.networkPolicy in ['Azure', 'Calico'])",messageExpression="'R19: dual-stack does not support the ' + self.networkPolicy + ' network policy'",fieldPath=".networkPolicy"
// +kubebuilder:validation:XValidation:rule="size(self.ipFamilies) < 2 || self.outboundType != 'NATGateway'",message="R19: dual-stack does not support the NATGateway outbound type",fieldPath=".outboundType"
// +kubebuilder:validation:XValidation:rule="size(self.ipFamilies) < 2 || !self.virtualNodes",message="R19: dual-stack does not support virtual nodes",fieldPath=".virtualNodes"
//
// R35: Kubenet rejects Windows pools, the Azure network policy and virtual nodes.
// +kubebuilder:validation:XValidation:rule="self.mode != 'Kubenet' || (!has(self.nodePools) || self.nodePools.all(p, (has(p.osType) ? p.osType : 'Linux') != 'Windows'))",messageExpression="'R35: Kubenet does not support Windows node pools: %s'.format([(has(self.nodePools) ? self.nodePools.filter(p, (has(p.osType) ? p.osType : 'Linux') == 'Windows').map(p, p.name) : [])])",fieldPath=".nodePools"
// +kubebuilder:validation:XValidation:rule="self.mode != 'Kubenet' || self.networkPolicy != 'Azure'",message="R35: Kubenet does not support the Azure network policy",fieldPath=".networkPolicy"
// +kubebuilder:validation:XValidation:rule="self.mode != 'Kubenet' || !self.virtualNodes",message="R35: Kubenet does not support virtual nodes",fieldPath=".virtualNodes"
//
// X1: the VXLAN port is outside the NodePort range and the ports of Kubernetes components.
// +kubebuilder:validation:XValidation:rule="!has(self.crossSubnet) || !has(self.crossSubnet.vxlanPort) || ((self.crossSubnet.vxlanPort < 30000 || self.crossSubnet.vxlanPort > 32767) && !(self.crossSubnet.vxlanPort in [6443, 2379, 2380, 10250, 10256, 10257, 10259]))",messageExpression="'X1: crossSubnet.vxlanPort %d collides with the NodePort range 30000-32767 or a Kubernetes component port (6443, 2379, 2380, 10250, 10256, 10257, 10259)'.format([self.crossSubnet.vxlanPort])",fieldPath=".crossSubnet.vxlanPort"
//
// X3: NodeSubnet pods hold VNet addresses that the node network reaches: nothing to encapsulate.
// +kubebuilder:validation:XValidation:rule="self.mode != 'NodeSubnet' || !has(self.crossSubnet) || !has(self.crossSubnet.mode) || self.crossSubnet.mode == 'Direct'",messageExpression="'X3: NodeSubnet mode routes pod addresses on the node network; crossSubnet.mode ' + self.crossSubnet.mode + ' needs pod blocks (Overlay or Kubenet): set Direct or leave it unset'",fieldPath=".crossSubnet.mode"
//
// R52: only Kubenet and NodeSubnet change mode, and only to Overlay; leaving Overlay is irreversible.
// +kubebuilder:validation:XValidation:rule="self.mode == oldSelf.mode || self.mode == 'Overlay'",messageExpression="'R52: mode cannot change from ' + oldSelf.mode + ' to ' + self.mode + (oldSelf.mode == 'Overlay' ? ': the migration to Overlay is irreversible' : ': only a migration to Overlay is supported')",fieldPath=".mode"
//
// R51: a Kubenet cluster keeps its pod CIDRs when it migrates to Overlay.
// +kubebuilder:validation:XValidation:rule="!(oldSelf.mode == 'Kubenet' && self.mode == 'Overlay') || (size(self.ipFamilies) == 2 && size(self.podCIDRs) == 1 ? self.podCIDRs + ['fd12:3456:789a::/64'] : self.podCIDRs) == (size(oldSelf.ipFamilies) == 2 && size(oldSelf.podCIDRs) == 1 ? oldSelf.podCIDRs + ['fd12:3456:789a::/64'] : oldSelf.podCIDRs)",messageExpression="'R51: a Kubenet to Overlay migration keeps podCIDRs %s, got %s'.format([(size(oldSelf.ipFamilies) == 2 && size(oldSelf.podCIDRs) == 1 ? oldSelf.podCIDRs + ['fd12:3456:789a::/64'] : oldSelf.podCIDRs), (size(self.ipFamilies) == 2 && size(self.podCIDRs) == 1 ? self.podCIDRs + ['fd12:3456:789a::/64'] : self.podCIDRs)])",fieldPath=".podCIDRs"
//
// R50: a NodeSubnet cluster migrates to Overlay without a network policy engine (the Kubernetes version and container runtime bounds need cluster facts: internal/validation.ValidateCluster).
// +kubebuilder:validation:XValidation:rule="!(oldSelf.mode == 'NodeSubnet' && self.mode == 'Overlay') || self.networkPolicy == 'None'",messageExpression="'R50: uninstall the ' + self.networkPolicy + ' network policy and set networkPolicy to None to migrate from NodeSubnet to Overlay'",fieldPath=".networkPolicy"
//
// B1: ipFamilies and serviceCIDRs never change.
// +kubebuilder:validation:XValidation:rule="self.ipFamilies == oldSelf.ipFamilies",message="B1: ipFamilies is immutable",fieldPath=".ipFamilies"
// +kubebuilder:validation:XValidation:rule="(size(self.ipFamilies) == 2 && size(self.serviceCIDRs) == 1 ? self.serviceCIDRs + ['fd12:3456:789a:1::/108'] : self.serviceCIDRs) == (size(oldSelf.ipFamilies) == 2 && size(oldSelf.serviceCIDRs) == 1 ? oldSelf.serviceCIDRs + ['fd12:3456:789a:1::/108'] : oldSelf.serviceCIDRs)",messageExpression="'B1: serviceCIDRs is immutable: %s cannot become %s'.format([(size(oldSelf.ipFamilies) == 2 && size(oldSelf.serviceCIDRs) == 1 ? oldSelf.serviceCIDRs + ['fd12:3456:789a:1::/108'] : oldSelf.serviceCIDRs), (size(self.ipFamilies) == 2 && size(self.serviceCIDRs) == 1 ? self.serviceCIDRs + ['fd12:3456:789a:1::/108'] : self.serviceCIDRs)])",fieldPath=".serviceCIDRs"
//
// B1: while nodes hold blocks (Overlay, Kubenet), a podCIDRs entry only stays or widens to a superset, additionalPodCIDRs only grows at its end, and block sizes never change.
// +kubebuilder:validation:XValidation:rule="oldSelf.mode == 'NodeSubnet' || (size((size(self.ipFamilies) == 2 && size(self.podCIDRs) == 1 ? self.podCIDRs + ['fd12:3456:789a::/64'] : self.podCIDRs)) == size((size(oldSelf.ipFamilies) == 2 && size(oldSelf.podCIDRs) == 1 ? oldSelf.podCIDRs + ['fd12:3456:789a::/64'] : oldSelf.podCIDRs)) && (size(oldSelf.ipFamilies) == 2 && size(oldSelf.podCIDRs) == 1 ? oldSelf.podCIDRs + ['fd12:3456:789a::/64'] : oldSelf.podCIDRs).all(i, o, !isCIDR((size(self.ipFamilies) == 2 && size(self.podCIDRs) == 1 ? self.podCIDRs + ['fd12:3456:789a::/64'] : self.podCIDRs)[i]) || cidr((size(self.ipFamilies) == 2 && size(self.podCIDRs) == 1 ? self.podCIDRs + ['fd12:3456:789a::/64'] : self.podCIDRs)[i]).containsCIDR(o)))",messageExpression="'B1: podCIDRs %s may only stay or widen to a superset, got %s'.format([(size(oldSelf.ipFamilies) == 2 && size(oldSelf.podCIDRs) == 1 ? oldSelf.podCIDRs + ['fd12:3456:789a::/64'] : oldSelf.podCIDRs), (size(self.ipFamilies) == 2 && size(self.podCIDRs) == 1 ? self.podCIDRs + ['fd12:3456:789a::/64'] : self.podCIDRs)])",fieldPath=".podCIDRs"
// +kubebuilder:validation:XValidation:rule="oldSelf.mode == 'NodeSubnet' || (size((has(self.additionalPodCIDRs) ? self.additionalPodCIDRs : [])) >= size((has(oldSelf.additionalPodCIDRs) ? oldSelf.additionalPodCIDRs : [])) && (has(oldSelf.additionalPodCIDRs) ? oldSelf.additionalPodCIDRs : []).all(i, c, (has(self.additionalPodCIDRs) ? self.additionalPodCIDRs : [])[i] == c))",messageExpression="'B1: additionalPodCIDRs %s may only be appended to, got %s'.format([(has(oldSelf.additionalPodCIDRs) ? oldSelf.additionalPodCIDRs : []), (has(self.additionalPodCIDRs) ? self.additionalPodCIDRs : [])])",fieldPath=".additionalPodCIDRs"
// +kubebuilder:validation:XValidation:rule="oldSelf.mode == 'NodeSubnet' || self.ipv4BlockPrefixLength == oldSelf.ipv4BlockPrefixLength",messageExpression="'B1: ipv4BlockPrefixLength is immutable while nodes hold blocks: it stays %d'.format([oldSelf.ipv4BlockPrefixLength])",fieldPath=".ipv4BlockPrefixLength"
// +kubebuilder:validation:XValidation:rule="oldSelf.mode == 'NodeSubnet' || size(self.ipFamilies) < 2 || (has(self.ipv6BlockPrefixLength) ? self.ipv6BlockPrefixLength : (self.mode == 'Kubenet' && size((size(self.ipFamilies) == 2 && size(self.podCIDRs) == 1 ? self.podCIDRs + ['fd12:3456:789a::/64'] : self.podCIDRs)) == 2 && isCIDR((size(self.ipFamilies) == 2 && size(self.podCIDRs) == 1 ? self.podCIDRs + ['fd12:3456:789a::/64'] : self.podCIDRs)[1]) ? (cidr((size(self.ipFamilies) == 2 && size(self.podCIDRs) == 1 ? self.podCIDRs + ['fd12:3456:789a::/64'] : self.podCIDRs)[1]).prefixLength() + 16 > 128 ? 128 : cidr((size(self.ipFamilies) == 2 && size(self.podCIDRs) == 1 ? self.podCIDRs + ['fd12:3456:789a::/64'] : self.podCIDRs)[1]).prefixLength() + 16) : 120)) == (has(oldSelf.ipv6BlockPrefixLength) ? oldSelf.ipv6BlockPrefixLength : (oldSelf.mode == 'Kubenet' && size((size(oldSelf.ipFamilies) == 2 && size(oldSelf.podCIDRs) == 1 ? oldSelf.podCIDRs + ['fd12:3456:789a::/64'] : oldSelf.podCIDRs)) == 2 && isCIDR((size(oldSelf.ipFamilies) == 2 && size(oldSelf.podCIDRs) == 1 ? oldSelf.podCIDRs + ['fd12:3456:789a::/64'] : oldSelf.podCIDRs)[1]) ? (cidr((size(oldSelf.ipFamilies) == 2 && size(oldSelf.podCIDRs) == 1 ? oldSelf.podCIDRs + ['fd12:3456:789a::/64'] : oldSelf.podCIDRs)[1]).prefixLength() + 16 > 128 ? 128 : cidr((size(oldSelf.ipFamilies) == 2 && size(oldSelf.podCIDRs) == 1 ? oldSelf.podCIDRs + ['fd12:3456:789a::/64'] : oldSelf.podCIDRs)[1]).prefixLength() + 16) : 120))",messageExpression="'B1: the IPv6 block prefix length would change from /%d to /%d and move existing blocks; set ipv6BlockPrefixLength to %d'.format([(has(oldSelf.ipv6BlockPrefixLength) ? oldSelf.ipv6BlockPrefixLength : (oldSelf.mode == 'Kubenet' && size((size(oldSelf.ipFamilies) == 2 && size(oldSelf.podCIDRs) == 1 ? oldSelf.podCIDRs + ['fd12:3456:789a::/64'] : oldSelf.podCIDRs)) == 2 && isCIDR((size(oldSelf.ipFamilies) == 2 && size(oldSelf.podCIDRs) == 1 ? oldSelf.podCIDRs + ['fd12:3456:789a::/64'] : oldSelf.podCIDRs)[1]) ? (cidr((size(oldSelf.ipFamilies) == 2 && size(oldSelf.podCIDRs) == 1 ? oldSelf.podCIDRs + ['fd12:3456:789a::/64'] : oldSelf.podCIDRs)[1]).prefixLength() + 16 > 128 ? 128 : cidr((size(oldSelf.ipFamilies) == 2 && size(oldSelf.podCIDRs) == 1 ? oldSelf.podCIDRs + ['fd12:3456:789a::/64'] : oldSelf.podCIDRs)[1]).prefixLength() + 16) : 120)), (has(self.ipv6BlockPrefixLength) ? self.ipv6BlockPrefixLength : (self.mode == 'Kubenet' && size((size(self.ipFamilies) == 2 && size(self.podCIDRs) == 1 ? self.podCIDRs + ['fd12:3456:789a::/64'] : self.podCIDRs)) == 2 && isCIDR((size(self.ipFamilies) == 2 && size(self.podCIDRs) == 1 ? self.podCIDRs + ['fd12:3456:789a::/64'] : self.podCIDRs)[1]) ? (cidr((size(self.ipFamilies) == 2 && size(self.podCIDRs) == 1 ? self.podCIDRs + ['fd12:3456:789a::/64'] : self.podCIDRs)[1]).prefixLength() + 16 > 128 ? 128 : cidr((size(self.ipFamilies) == 2 && size(self.podCIDRs) == 1 ? self.podCIDRs + ['fd12:3456:789a::/64'] : self.podCIDRs)[1]).prefixLength() + 16) : 120)), (has(oldSelf.ipv6BlockPrefixLength) ? oldSelf.ipv6BlockPrefixLength : (oldSelf.mode == 'Kubenet' && size((size(oldSelf.ipFamilies) == 2 && size(oldSelf.podCIDRs) == 1 ? oldSelf.podCIDRs + ['fd12:3456:789a::/64'] : oldSelf.podCIDRs)) == 2 && isCIDR((size(oldSelf.ipFamilies) == 2 && size(oldSelf.podCIDRs) == 1 ? oldSelf.podCIDRs + ['fd12:3456:789a::/64'] : oldSelf.podCIDRs)[1]) ? (cidr((size(oldSelf.ipFamilies) == 2 && size(oldSelf.podCIDRs) == 1 ? oldSelf.podCIDRs + ['fd12:3456:789a::/64'] : oldSelf.podCIDRs)[1]).prefixLength() + 16 > 128 ? 128 : cidr((size(oldSelf.ipFamilies) == 2 && size(oldSelf.podCIDRs) == 1 ? oldSelf.podCIDRs + ['fd12:3456:789a::/64'] : oldSelf.podCIDRs)[1]).prefixLength() + 16) : 120))])"
type OverlayClusterSpec struct {
	// mode is the networking model: Overlay, Kubenet or NodeSubnet (the legacy Azure CNI
	// model). Moving from Kubenet or NodeSubnet to Overlay runs a migration; leaving
	// Overlay is refused (R52).
	// +kubebuilder:default=Overlay
	// +optional
	Mode NetworkMode `json:"mode,omitempty"`

	// ipFamilies is [IPv4] or [IPv4, IPv6] (R7). IPv6-only is not supported.
	// +kubebuilder:default={IPv4}
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=2
	// +listType=atomic
	// +optional
	// +kubebuilder:validation:XValidation:rule="self == ['IPv4'] || self == ['IPv4', 'IPv6']",message="R7: ipFamilies must be [IPv4] or [IPv4, IPv6]; IPv6-only is not supported"
	IPFamilies []IPFamily `json:"ipFamilies,omitempty"`

	// podCIDRs holds one private pod CIDR per family, in ipFamilies order. In dual-stack a
	// list holding only the IPv4 entry takes the IPv6 default fd12:3456:789a::/64 (R6).
	// An entry may later be widened to a superset; use additionalPodCIDRs to add space
	// (B1).
	// +kubebuilder:default={"10.244.0.0/16"}
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=2
	// +kubebuilder:validation:items:MaxLength=43
	// +listType=atomic
	// +optional
	// +kubebuilder:validation:XValidation:rule="self.all(c, isCIDR(c))",messageExpression="'S1: %s must be CIDRs (an IPv4 or IPv6 address, a slash and a prefix length)'.format([self.filter(c, !isCIDR(c))])"
	// +kubebuilder:validation:XValidation:rule="self.all(c, !isCIDR(c) || string(cidr(c).masked()) == c)",messageExpression="'S2: %s must be written canonically, as %s'.format([self.filter(c, isCIDR(c) && string(cidr(c).masked()) != c), self.filter(c, isCIDR(c) && string(cidr(c).masked()) != c).map(c, string(cidr(c).masked()))])"
	PodCIDRs []string `json:"podCIDRs,omitempty"`

	// additionalPodCIDRs are extra pod CIDRs of either family, used once the ones before
	// them are full (B1). Appending one never moves an existing block.
	// +kubebuilder:validation:MaxItems=8
	// +kubebuilder:validation:items:MaxLength=43
	// +listType=atomic
	// +optional
	// +kubebuilder:validation:XValidation:rule="self.all(c, isCIDR(c))",messageExpression="'S1: %s must be CIDRs (an IPv4 or IPv6 address, a slash and a prefix length)'.format([self.filter(c, !isCIDR(c))])"
	// +kubebuilder:validation:XValidation:rule="self.all(c, !isCIDR(c) || string(cidr(c).masked()) == c)",messageExpression="'S2: %s must be written canonically, as %s'.format([self.filter(c, isCIDR(c) && string(cidr(c).masked()) != c), self.filter(c, isCIDR(c) && string(cidr(c).masked()) != c).map(c, string(cidr(c).masked()))])"
	AdditionalPodCIDRs []string `json:"additionalPodCIDRs,omitempty"`

	// serviceCIDRs holds one service CIDR per family, in ipFamilies order. In dual-stack a
	// list holding only the IPv4 entry takes the IPv6 default fd12:3456:789a:1::/108 (R6).
	// +kubebuilder:default={"10.0.0.0/16"}
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=2
	// +kubebuilder:validation:items:MaxLength=43
	// +listType=atomic
	// +optional
	// +kubebuilder:validation:XValidation:rule="self.all(c, isCIDR(c))",messageExpression="'S1: %s must be CIDRs (an IPv4 or IPv6 address, a slash and a prefix length)'.format([self.filter(c, !isCIDR(c))])"
	// +kubebuilder:validation:XValidation:rule="self.all(c, !isCIDR(c) || string(cidr(c).masked()) == c)",messageExpression="'S2: %s must be written canonically, as %s'.format([self.filter(c, isCIDR(c) && string(cidr(c).masked()) != c), self.filter(c, isCIDR(c) && string(cidr(c).masked()) != c).map(c, string(cidr(c).masked()))])"
	ServiceCIDRs []string `json:"serviceCIDRs,omitempty"`

	// dnsServiceIP is the cluster DNS service address, inside the IPv4 service CIDR and
	// neither its network address nor its first host (R5).
	// +kubebuilder:default="10.0.0.10"
	// +kubebuilder:validation:MaxLength=39
	// +optional
	// +kubebuilder:validation:XValidation:rule="isIP(self) && ip.isCanonical(self)",messageExpression="'S3: ' + self + ' must be an IP address written canonically'"
	DNSServiceIP string `json:"dnsServiceIP,omitempty"`

	// vnetCIDRs is the address space of the node network (the VNet).
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=8
	// +kubebuilder:validation:items:MaxLength=43
	// +listType=atomic
	// +required
	// +kubebuilder:validation:XValidation:rule="self.all(c, isCIDR(c))",messageExpression="'S1: %s must be CIDRs (an IPv4 or IPv6 address, a slash and a prefix length)'.format([self.filter(c, !isCIDR(c))])"
	// +kubebuilder:validation:XValidation:rule="self.all(c, !isCIDR(c) || string(cidr(c).masked()) == c)",messageExpression="'S2: %s must be written canonically, as %s'.format([self.filter(c, isCIDR(c) && string(cidr(c).masked()) != c), self.filter(c, isCIDR(c) && string(cidr(c).masked()) != c).map(c, string(cidr(c).masked()))])"
	VNetCIDRs []string `json:"vnetCIDRs"`

	// connectedCIDRs are peered VNets, ExpressRoute, VPN and on-premises ranges that pod
	// and service CIDRs must not overlap (R2, R3).
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=43
	// +listType=atomic
	// +optional
	// +kubebuilder:validation:XValidation:rule="self.all(c, isCIDR(c))",messageExpression="'S1: %s must be CIDRs (an IPv4 or IPv6 address, a slash and a prefix length)'.format([self.filter(c, !isCIDR(c))])"
	// +kubebuilder:validation:XValidation:rule="self.all(c, !isCIDR(c) || string(cidr(c).masked()) == c)",messageExpression="'S2: %s must be written canonically, as %s'.format([self.filter(c, isCIDR(c) && string(cidr(c).masked()) != c), self.filter(c, isCIDR(c) && string(cidr(c).masked()) != c).map(c, string(cidr(c).masked()))])"
	ConnectedCIDRs []string `json:"connectedCIDRs,omitempty"`

	// additionalNonMasqueradeCIDRs are destinations, besides the pod CIDRs, to which pod
	// traffic keeps its source address (a custom ip-masq-agent configuration). They can
	// cut connectivity in Overlay mode and are reported before a migration (R54).
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=43
	// +listType=atomic
	// +optional
	// +kubebuilder:validation:XValidation:rule="self.all(c, isCIDR(c))",messageExpression="'S1: %s must be CIDRs (an IPv4 or IPv6 address, a slash and a prefix length)'.format([self.filter(c, !isCIDR(c))])"
	// +kubebuilder:validation:XValidation:rule="self.all(c, !isCIDR(c) || string(cidr(c).masked()) == c)",messageExpression="'S2: %s must be written canonically, as %s'.format([self.filter(c, isCIDR(c) && string(cidr(c).masked()) != c), self.filter(c, isCIDR(c) && string(cidr(c).masked()) != c).map(c, string(cidr(c).masked()))])"
	AdditionalNonMasqueradeCIDRs []string `json:"additionalNonMasqueradeCIDRs,omitempty"`

	// maxPodsPerNode is the pod limit of nodes in no pool. Unset means the mode's default:
	// Overlay 250, Kubenet 110, NodeSubnet 30 (R12, R32, R41).
	// +kubebuilder:validation:Minimum=10
	// +kubebuilder:validation:Maximum=250
	// +optional
	MaxPodsPerNode *int32 `json:"maxPodsPerNode,omitempty"`

	// ipv4BlockPrefixLength is the size of the block each node gets from the IPv4 pod
	// CIDR: /24 by default (R10, B2).
	// +kubebuilder:default=24
	// +kubebuilder:validation:Minimum=8
	// +kubebuilder:validation:Maximum=30
	// +optional
	// +kubebuilder:validation:XValidation:rule="self >= 8 && self <= 30",message="B2: ipv4BlockPrefixLength must be between 8 and 30"
	IPv4BlockPrefixLength int32 `json:"ipv4BlockPrefixLength,omitempty"`

	// ipv6BlockPrefixLength is the size of the block each node gets from the IPv6 pod
	// CIDR. Unset means /120 in Overlay (R11) and the pod CIDR's length + 16 in Kubenet
	// (R34).
	// +kubebuilder:validation:Minimum=48
	// +kubebuilder:validation:Maximum=124
	// +optional
	// +kubebuilder:validation:XValidation:rule="self >= 48 && self <= 124",message="B2: ipv6BlockPrefixLength must be between 48 and 124"
	IPv6BlockPrefixLength *int32 `json:"ipv6BlockPrefixLength,omitempty"`

	// nodePools group nodes by label; each pool may have its own node subnet and pod
	// limit (R12, R14). A node matches the first pool whose selector selects it.
	// +kubebuilder:validation:MaxItems=16
	// +listType=map
	// +listMapKey=name
	// +optional
	NodePools []NodePool `json:"nodePools,omitempty"`

	// networkPolicy names the policy engine the cluster runs (declared; used by R19, R35,
	// R50).
	// +kubebuilder:default=None
	// +optional
	NetworkPolicy NetworkPolicyEngine `json:"networkPolicy,omitempty"`

	// outboundType is how the cluster reaches the internet (declared; used by R19).
	// +kubebuilder:default=LoadBalancer
	// +optional
	OutboundType OutboundType `json:"outboundType,omitempty"`

	// virtualNodes declares that the virtual-nodes add-on is wanted (R18, R19, R35).
	// +kubebuilder:default=false
	// +optional
	VirtualNodes bool `json:"virtualNodes"`

	// crossSubnet says how pod traffic reaches nodes that do not share a link: directly
	// where they do, in VXLAN where they do not (the default), always in VXLAN, or never
	// (B9). See CrossSubnetSpec for the defaults.
	// +optional
	CrossSubnet *CrossSubnetSpec `json:"crossSubnet,omitempty"`
}

// NodePool is a set of nodes selected by labels that share a subnet and a pod limit.
type NodePool struct {
	// name identifies the pool; it is used as a label value, so it is at most 63
	// characters of label syntax (R9).
	//
	// The schema's length bound is loose on purpose: a too-long string fails the schema
	// before any CEL rule runs, and the R9 rule below must be the one that answers, so that
	// the message names the rule. It also bounds the cost of the rule's regular expression.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9A-Z]([-a-z0-9A-Z_.]*[a-z0-9A-Z])?$`
	// +kubebuilder:validation:XValidation:rule="size(self) <= 63 && self.matches('^[a-z0-9A-Z]([-a-z0-9A-Z_.]*[a-z0-9A-Z])?$')",messageExpression="'R9: node pool name ' + self + ' must be a label value: at most 63 characters, alphanumerics, -, _ or . inside, alphanumerics at both ends'"
	// +required
	Name string `json:"name"`

	// nodeSelector selects the pool's nodes. An empty selector selects every node.
	// +optional
	NodeSelector *metav1.LabelSelector `json:"nodeSelector,omitempty"`

	// subnetCIDR is the pool's node subnet inside the VNet. In NodeSubnet mode pods take
	// their addresses from it (R40).
	// +kubebuilder:validation:MaxLength=43
	// +optional
	// +kubebuilder:validation:XValidation:rule="isCIDR(self)",messageExpression="'S1: ' + self + ' must be a CIDR (an IPv4 or IPv6 address, a slash and a prefix length)'"
	// +kubebuilder:validation:XValidation:rule="!isCIDR(self) || string(cidr(self).masked()) == self",messageExpression="'S2: %s must be written canonically, as %s'.format([self, string(cidr(self).masked())])"
	SubnetCIDR string `json:"subnetCIDR,omitempty"`

	// maxPods is the pod limit of the pool's nodes; unset means the cluster's
	// maxPodsPerNode (R12).
	// +kubebuilder:validation:Minimum=10
	// +kubebuilder:validation:Maximum=250
	// +optional
	MaxPods *int32 `json:"maxPods,omitempty"`

	// osType is the pool's operating system.
	// +kubebuilder:default=Linux
	// +optional
	OSType OSType `json:"osType,omitempty"`
}

// Condition types of an OverlayCluster.
const (
	// ClusterReady is True when the configuration is valid, every node that can be
	// allocated is, and no migration is running. kstatus reads it.
	ClusterReady = "Ready"
	// ClusterConfigValid is False when the spec breaks a rule that admission could not
	// check; the reason or message names the rule.
	ClusterConfigValid = "ConfigValid"
	// ClusterPodCIDRAvailable is False when a family's pool has no free block left.
	ClusterPodCIDRAvailable = "PodCIDRAvailable"
	// ClusterMigrating is True while nodes move from Kubenet or NodeSubnet to Overlay.
	ClusterMigrating = "Migrating"
)

// PoolStatus reports one family's pod address space.
type PoolStatus struct {
	// family is the pool's IP family.
	Family IPFamily `json:"family"`
	// cidrs are the effective pod CIDRs of this family, podCIDRs entry first.
	// +listType=atomic
	CIDRs []string `json:"cidrs"`
	// blockPrefixLength is the prefix length of every node block of this family.
	BlockPrefixLength int32 `json:"blockPrefixLength"`
	// totalBlocks is the number of usable blocks, as a decimal string because an IPv6
	// pool can hold more than 2^63.
	TotalBlocks string `json:"totalBlocks"`
	// allocatedBlocks is the number of blocks held by nodes.
	AllocatedBlocks int64 `json:"allocatedBlocks"`
	// freeBlocks is totalBlocks - allocatedBlocks, as a decimal string.
	FreeBlocks string `json:"freeBlocks"`
}

// NetworkRule is a flow the node network must allow (R17).
type NetworkRule struct {
	// name identifies the rule: node-to-node, node-to-pod or pod-to-pod.
	Name string `json:"name"`
	// sources are the source ranges.
	// +listType=atomic
	Sources []string `json:"sources"`
	// destinations are the destination ranges.
	// +listType=atomic
	Destinations []string `json:"destinations"`
	// protocol is always Any: every protocol must pass.
	Protocol string `json:"protocol"`
	// ports is always Any: every port must pass.
	Ports string `json:"ports"`
}

// RouteTableStatus counts a Kubenet cluster's routes against the table's limit (R31).
type RouteTableStatus struct {
	// routes is the number of routes in the table (one per allocated node).
	Routes int32 `json:"routes"`
	// limit is the route table's capacity.
	Limit int32 `json:"limit"`
	// entries are the routes, one per allocated node, ordered by destination: the
	// node's IPv4 pod block via the node's IPv4 address. Agents program the same routes.
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=400
	// +optional
	Entries []Route `json:"entries,omitempty"`
}

// Route is one entry of a Kubenet route table.
type Route struct {
	// destination is the node's pod block.
	Destination string `json:"destination"`
	// nextHop is the node's address.
	NextHop string `json:"nextHop"`
	// node is the node's name.
	Node string `json:"node"`
}

// OverlayClusterStatus is what the controller observed and decided.
type OverlayClusterStatus struct {
	// observedGeneration is the generation the status describes; set only when a
	// reconcile succeeded.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready, ConfigValid, PodCIDRAvailable and, during a migration,
	// Migrating.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// mode is the networking model the nodes are allocated in. It trails spec.mode until
	// a migration completes.
	// +optional
	Mode NetworkMode `json:"mode,omitempty"`

	// pools reports each family's pod address space, in ipFamilies order.
	// +listType=atomic
	// +optional
	Pools []PoolStatus `json:"pools,omitempty"`

	// nodes is the number of Nodes in the cluster.
	// +optional
	Nodes int32 `json:"nodes,omitempty"`

	// allocatedNodes is the number of Nodes whose NodeNetworkConfig is Allocated.
	// +optional
	AllocatedNodes int32 `json:"allocatedNodes,omitempty"`

	// maxPodsPerNode is the effective pod limit of nodes in no pool.
	// +optional
	MaxPodsPerNode int32 `json:"maxPodsPerNode,omitempty"`

	// routeTable counts Kubenet routes against the 400-route limit (R31).
	// +optional
	RouteTable *RouteTableStatus `json:"routeTable,omitempty"`

	// nonMasqueradeCIDRs are the destinations to which pod traffic keeps its source
	// address: the pod CIDRs, plus the VNet in NodeSubnet mode, plus user extras (R15,
	// R42).
	// +listType=atomic
	// +optional
	NonMasqueradeCIDRs []string `json:"nonMasqueradeCIDRs,omitempty"`

	// nodeNetworkCIDRs is the node network (the effective vnetCIDRs). Node agents program
	// a peer only when its node IPs lie inside it (B7), so a tampered or stray
	// NodeNetworkConfig cannot steer pod traffic to an arbitrary host.
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=43
	// +optional
	NodeNetworkCIDRs []string `json:"nodeNetworkCIDRs,omitempty"`

	// networkRules are the flows the node network must allow (R17).
	// +listType=atomic
	// +optional
	NetworkRules []NetworkRule `json:"networkRules,omitempty"`
}

// OverlayCluster is the cluster-wide pod network configuration. There is exactly one, named
// "default".
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=ovc
// +kubebuilder:validation:XValidation:rule="self.metadata.name == 'default'",message="S6: the OverlayCluster must be named 'default': there is one per cluster"
// +kubebuilder:printcolumn:name="Mode",type=string,JSONPath=`.spec.mode`
// +kubebuilder:printcolumn:name="Pod CIDRs",type=string,JSONPath=`.spec.podCIDRs`
// +kubebuilder:printcolumn:name="Nodes",type=integer,JSONPath=`.status.nodes`
// +kubebuilder:printcolumn:name="Allocated",type=integer,JSONPath=`.status.allocatedNodes`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type OverlayCluster struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired pod network.
	// +required
	Spec OverlayClusterSpec `json:"spec"`

	// status is what the controller observed.
	// +optional
	Status OverlayClusterStatus `json:"status,omitempty"`
}

// OverlayClusterList is a list of OverlayClusters.
//
// +kubebuilder:object:root=true
type OverlayClusterList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []OverlayCluster `json:"items"`
}

func init() {
	SchemeBuilder.Register(&OverlayCluster{}, &OverlayClusterList{})
}
