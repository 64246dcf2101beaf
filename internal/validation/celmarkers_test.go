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
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/overlaynet/overlaynet/api/v1alpha1"
	"github.com/overlaynet/overlaynet/internal/netconf"
)

// The cross-field CEL rules of OverlayClusterSpec are generated here, because CEL in a CRD
// has no local bindings: the effective lists (R6's implied IPv6 defaults, the additional
// pod CIDRs) are spelled out in every rule, and writing them by hand would copy the same
// expression dozens of times. Edit a rule below, then run
//
//	go test ./internal/validation -run TestCELMarkers -update-cel-markers && make manifests
//
// and extend the rulebook (rulebook_test.go) so that the agreement test covers the change.
var updateCELMarkers = flag.Bool("update-cel-markers", false, "rewrite the CEL markers of api/v1alpha1/overlaycluster_types.go")

// Building blocks. x is "self" or "oldSelf".
func celPods(x string) string {
	return fmt.Sprintf("(size(%[1]s.ipFamilies) == 2 && size(%[1]s.podCIDRs) == 1 ? %[1]s.podCIDRs + ['%[2]s'] : %[1]s.podCIDRs)", x, v1alpha1.DefaultIPv6PodCIDR)
}

func celServices(x string) string {
	return fmt.Sprintf("(size(%[1]s.ipFamilies) == 2 && size(%[1]s.serviceCIDRs) == 1 ? %[1]s.serviceCIDRs + ['%[2]s'] : %[1]s.serviceCIDRs)", x, v1alpha1.DefaultIPv6ServiceCIDR)
}

func celAdditional(x string) string {
	// has(...) ? list : [] keeps the list's size bound for the cost estimator; the
	// optional form x.?f.orValue([]) loses it.
	return fmt.Sprintf("(has(%[1]s.additionalPodCIDRs) ? %[1]s.additionalPodCIDRs : [])", x)
}

func celAllPods(x string) string { return "(" + celPods(x) + " + " + celAdditional(x) + ")" }

func celOverlap(a, b string) string {
	return fmt.Sprintf("(cidr(%[1]s).containsCIDR(%[2]s) || cidr(%[2]s).containsCIDR(%[1]s))", a, b)
}

func celBlock6(x string) string {
	p1 := celPods(x) + "[1]"
	return fmt.Sprintf("(has(%[1]s.ipv6BlockPrefixLength) ? %[1]s.ipv6BlockPrefixLength : "+
		"(%[1]s.mode == 'Kubenet' && size(%[2]s) == 2 && isCIDR(%[3]s) ? "+
		"(cidr(%[3]s).prefixLength() + 16 > 128 ? 128 : cidr(%[3]s).prefixLength() + 16) : %[4]d))", x, celPods(x), p1, v1alpha1.DefaultIPv6BlockPrefix)
}

// celFormat builds a message with '...'.format([...]), whose estimated cost stays bounded
// where join() on a computed list does not.
func celFormat(template string, args ...string) string {
	return fmt.Sprintf("'%s'.format([%s])", template, strings.Join(args, ", "))
}

// celInts is a CEL list of integers.
func celInts(is []int) string {
	return strings.ReplaceAll(fmt.Sprint(is), " ", ", ")
}

func celFamily(c string) string {
	return fmt.Sprintf("(cidr(%s).ip().family() == 4 ? 'IPv4' : 'IPv6')", c)
}

// Pools are iterated with !has(...) || self.nodePools.all(...): through a conditional the
// estimator forgets the size bounds of the items' fields.
func celPoolsAll(v, body string) string {
	return fmt.Sprintf("(!has(self.nodePools) || self.nodePools.all(%[1]s, %[2]s))", v, body)
}

func celPoolsFilter(v, body, m string) string {
	return fmt.Sprintf("(has(self.nodePools) ? self.nodePools.filter(%[1]s, %[2]s).map(%[1]s, %[3]s) : [])", v, body, m)
}

const (
	celPoolList = "(has(self.nodePools) ? self.nodePools : [])"
	// '-' marks a pool without a subnet: gofmt rewrites two single quotes in a doc
	// comment, the markers' home, into a typographic quote.
	celSubnets   = celPoolList + ".map(p, has(p.subnetCIDR) ? p.subnetCIDR : '-')"
	celConnected = "(has(self.connectedCIDRs) ? self.connectedCIDRs : [])"
	celOSType    = "(has(p.osType) ? p.osType : 'Linux')"
)

// celReserved is reservedRanges (R1) as a CEL list; celReservedText names them in a message.
var celReserved, celReservedText = func() (string, string) {
	rs := netconf.Strings(reservedRanges)
	last := len(rs) - 1
	return "['" + strings.Join(rs, "', '") + "']", strings.Join(rs[:last], ", ") + " or " + rs[last]
}()

// celRule is one x-kubernetes-validations rule of OverlayClusterSpec.
type celRule struct {
	comment, rule, message, messageExpression, fieldPath string
}

// celList is a CEL list expression and how a message names it.
type celList struct{ expr, label string }

// celDisjoint returns one rule per entry of others: no CIDR of list, bound to v, overlaps a
// CIDR of that entry. The messages start with what and name the overlapping CIDRs of
// both sides; every rule takes base's fieldPath, and the first one its comment.
func celDisjoint(base celRule, what, v, list string, others ...celList) []celRule {
	var rs []celRule
	for i, o := range others {
		rule := base
		if i > 0 {
			rule.comment = ""
		}
		rule.rule = fmt.Sprintf("%[1]s.all(%[2]s, !isCIDR(%[2]s) || %[3]s.all(o, !isCIDR(o) || !%[4]s))", list, v, o.expr, celOverlap(v, "o"))
		rule.messageExpression = celFormat(what+" %s overlap "+o.label+" %s",
			fmt.Sprintf("%[1]s.filter(%[2]s, isCIDR(%[2]s) && %[3]s.exists(o, isCIDR(o) && %[4]s))", list, v, o.expr, celOverlap(v, "o")),
			fmt.Sprintf("%[1]s.filter(o, isCIDR(o) && %[2]s.exists(%[3]s, isCIDR(%[3]s) && %[4]s))", o.expr, list, v, celOverlap(v, "o")))
		rs = append(rs, rule)
	}
	return rs
}

func celRules() []celRule {
	const s, o = "self", "oldSelf"
	var rs []celRule
	r := func(rules ...celRule) { rs = append(rs, rules...) }

	r(celRule{comment: "R7: podCIDRs and serviceCIDRs hold one CIDR per family, in ipFamilies order (in dual-stack a one-entry list implies the IPv6 default, R6).",
		rule:              fmt.Sprintf("size(%[1]s) == size(self.ipFamilies) && %[1]s.all(i, c, !isCIDR(c) || %[2]s == self.ipFamilies[i])", celPods(s), celFamily("c")),
		messageExpression: celFormat("R7: podCIDRs %s must hold one CIDR per entry of ipFamilies %s, in the same order", celPods(s), "self.ipFamilies"),
		fieldPath:         ".podCIDRs"})
	r(celRule{rule: fmt.Sprintf("size(%[1]s) == size(self.ipFamilies) && %[1]s.all(i, c, !isCIDR(c) || %[2]s == self.ipFamilies[i])", celServices(s), celFamily("c")),
		messageExpression: celFormat("R7: serviceCIDRs %s must hold one CIDR per entry of ipFamilies %s, in the same order", celServices(s), "self.ipFamilies"),
		fieldPath:         ".serviceCIDRs"})
	r(celRule{comment: "R7: additional pod CIDRs belong to a family of the cluster.",
		rule: fmt.Sprintf("%s.all(c, !isCIDR(c) || %s in self.ipFamilies)", celAdditional(s), celFamily("c")),
		messageExpression: celFormat("R7: additionalPodCIDRs %s are of a family missing from ipFamilies %s",
			fmt.Sprintf("%s.filter(c, isCIDR(c) && !(%s in self.ipFamilies))", celAdditional(s), celFamily("c")), "self.ipFamilies"),
		fieldPath: ".additionalPodCIDRs"})

	guarded := fmt.Sprintf("(%s + %s + self.vnetCIDRs)", celAllPods(s), celServices(s))
	r(celRule{comment: "R1: pod, service and VNet ranges stay clear of the ranges the platform reserves.",
		rule: fmt.Sprintf("%s.all(c, !isCIDR(c) || %s.all(r, !%s))", guarded, celReserved, celOverlap("r", "c")),
		messageExpression: celFormat("R1: %s overlap a reserved range ("+celReservedText+")",
			fmt.Sprintf("%s.filter(c, isCIDR(c) && %s.exists(r, %s))", guarded, celReserved, celOverlap("r", "c")))})

	r(celDisjoint(celRule{comment: "R2: pod CIDRs overlap neither the VNet, node subnets, service CIDRs nor connected networks."},
		"R2: pod CIDRs", "p", celAllPods(s),
		celList{"self.vnetCIDRs", "vnetCIDRs"}, celList{celSubnets, "the subnetCIDR of a node pool"}, celList{celServices(s), "serviceCIDRs"}, celList{celConnected, "connectedCIDRs"})...)
	r(celDisjoint(celRule{comment: "R3: service CIDRs overlap neither the VNet, connected networks nor pod CIDRs.", fieldPath: ".serviceCIDRs"},
		"R3: serviceCIDRs", "s", celServices(s),
		celList{"self.vnetCIDRs", "vnetCIDRs"}, celList{celConnected, "connectedCIDRs"}, celList{celAllPods(s), "pod CIDRs"})...)
	r(celRule{comment: "B1: pod CIDRs do not overlap each other, so that no block can be handed out twice.",
		rule:              fmt.Sprintf("%[1]s.all(i, a, %[1]s.all(j, b, j <= i || !isCIDR(a) || !isCIDR(b) || !%[2]s))", celAllPods(s), celOverlap("a", "b")),
		messageExpression: celFormat("B1: the pod CIDRs %s must not overlap each other", celAllPods(s)),
		fieldPath:         ".additionalPodCIDRs"})

	serviceBound := "cidr(s).prefixLength() %s (cidr(s).ip().family() == 4 ? 12 : 108)"
	r(celRule{comment: "R4: an IPv4 service CIDR is /12 or longer, an IPv6 one /108 or longer.",
		rule: fmt.Sprintf("%s.all(s, !isCIDR(s) || "+serviceBound+")", celServices(s), ">="),
		messageExpression: celFormat("R4: serviceCIDRs %s are too large: an IPv4 service CIDR must be /12 or longer, an IPv6 one /108 or longer",
			fmt.Sprintf("%s.filter(s, isCIDR(s) && "+serviceBound+")", celServices(s), "<")),
		fieldPath: ".serviceCIDRs"})
	// The pair of addresses the DNS IP belongs to (its /31, its /127) holds the service
	// CIDR's network address exactly when the DNS IP is that address or the next: CEL has
	// no address arithmetic, and string concatenation on a bounded field keeps the cost
	// bounded.
	r(celRule{comment: "R5: the DNS service IP lies in the service CIDR of its family and is neither its network address nor its first host.",
		rule: fmt.Sprintf("!isIP(self.dnsServiceIP) || %s.exists(s, isCIDR(s) && cidr(s).containsIP(self.dnsServiceIP) && "+
			"!cidr(self.dnsServiceIP + (ip(self.dnsServiceIP).family() == 4 ? '/31' : '/127')).containsIP(cidr(s).masked().ip()))", celServices(s)),
		messageExpression: celFormat("R5: dnsServiceIP %s must lie in the service CIDR of its family, %s, and be neither its network address nor its first host",
			"self.dnsServiceIP", celServices(s)),
		fieldPath: ".dnsServiceIP"})

	r(celRule{comment: "R10, R11: every pod CIDR holds at least one node block of its family.",
		rule: fmt.Sprintf("%s.all(c, !isCIDR(c) || cidr(c).ip().family() != 4 || cidr(c).prefixLength() <= self.ipv4BlockPrefixLength)", celAllPods(s)),
		messageExpression: celFormat("R10: IPv4 pod CIDRs %s are smaller than one /%d node block",
			fmt.Sprintf("%s.filter(c, isCIDR(c) && cidr(c).ip().family() == 4 && cidr(c).prefixLength() > self.ipv4BlockPrefixLength)", celAllPods(s)),
			"self.ipv4BlockPrefixLength")})
	r(celRule{rule: fmt.Sprintf("%s.all(c, !isCIDR(c) || cidr(c).ip().family() != 6 || cidr(c).prefixLength() <= %s)", celAllPods(s), celBlock6(s)),
		messageExpression: celFormat("R11: IPv6 pod CIDRs %s are smaller than one /%d node block",
			fmt.Sprintf("%s.filter(c, isCIDR(c) && cidr(c).ip().family() == 6 && cidr(c).prefixLength() > %s)", celAllPods(s), celBlock6(s)),
			celBlock6(s))})
	r(celRule{comment: "R12, R32, R41: max pods per node is between 10 and 250 in every mode, for the cluster and for each pool.",
		rule: "(!has(self.maxPodsPerNode) || (self.maxPodsPerNode >= 10 && self.maxPodsPerNode <= 250)) && " +
			celPoolsAll("p", "!has(p.maxPods) || (p.maxPods >= 10 && p.maxPods <= 250)"),
		messageExpression: "(self.mode == 'Kubenet' ? 'R32' : self.mode == 'NodeSubnet' ? 'R41' : 'R12') + " +
			"': max pods per node must be between 10 and 250 in ' + self.mode + ' mode, for maxPodsPerNode and for every node pool'"})

	inVNet := "self.vnetCIDRs.exists(v, isCIDR(v) && cidr(v).containsCIDR(p.subnetCIDR))"
	r(celRule{comment: "R14: a pool's subnet lies inside a VNet CIDR, and pool subnets are equal or disjoint.",
		rule: celPoolsAll("p", "!has(p.subnetCIDR) || !isCIDR(p.subnetCIDR) || "+inVNet),
		messageExpression: celFormat("R14: node pool subnets %s must lie inside a VNet CIDR of %s",
			celPoolsFilter("p", "has(p.subnetCIDR) && isCIDR(p.subnetCIDR) && !"+inVNet, "p.subnetCIDR"), "self.vnetCIDRs"),
		fieldPath: ".nodePools"})
	r(celRule{rule: celPoolsAll("a", "self.nodePools.all(b, !has(a.subnetCIDR) || !has(b.subnetCIDR) || !isCIDR(a.subnetCIDR) || !isCIDR(b.subnetCIDR) || "+
		"a.subnetCIDR == b.subnetCIDR || !"+celOverlap("a.subnetCIDR", "b.subnetCIDR")+")"),
		message: "R14: node pool subnets must be equal (a shared subnet) or disjoint", fieldPath: ".nodePools"})

	nodeSubnetOK := fmt.Sprintf("cidr(p.subnetCIDR).ip().family() == 4 && cidr(p.subnetCIDR).prefixLength() >= %d", v1alpha1.NodeSubnetMinPrefixLength)
	r(celRule{comment: fmt.Sprintf("R43: in NodeSubnet mode a pool's subnet is IPv4 and /%d or longer, so reserving pod addresses stays bounded.", v1alpha1.NodeSubnetMinPrefixLength),
		rule: "self.mode != 'NodeSubnet' || " + celPoolsAll("p", "!has(p.subnetCIDR) || !isCIDR(p.subnetCIDR) || ("+nodeSubnetOK+")"),
		messageExpression: celFormat(fmt.Sprintf("R43: NodeSubnet node pool subnets %%s must be IPv4 and /%d or longer", v1alpha1.NodeSubnetMinPrefixLength),
			celPoolsFilter("p", "has(p.subnetCIDR) && isCIDR(p.subnetCIDR) && !("+nodeSubnetOK+")", "p.subnetCIDR")),
		fieldPath: ".nodePools"})

	r(celRule{comment: "R18: Overlay rejects virtual nodes.", rule: "!(self.mode == 'Overlay' && self.virtualNodes)",
		message: "R18: Overlay mode does not support virtual nodes", fieldPath: ".virtualNodes"})
	r(celRule{comment: "R19: dual-stack rejects the Azure and Calico network policies, the NAT gateway and virtual nodes (its Kubernetes version bound needs cluster facts: internal/validation.ValidateCluster).",
		rule:              "size(self.ipFamilies) < 2 || !(self.networkPolicy in ['Azure', 'Calico'])",
		messageExpression: "'R19: dual-stack does not support the ' + self.networkPolicy + ' network policy'", fieldPath: ".networkPolicy"})
	r(celRule{rule: "size(self.ipFamilies) < 2 || self.outboundType != 'NATGateway'",
		message: "R19: dual-stack does not support the NATGateway outbound type", fieldPath: ".outboundType"})
	r(celRule{rule: "size(self.ipFamilies) < 2 || !self.virtualNodes",
		message: "R19: dual-stack does not support virtual nodes", fieldPath: ".virtualNodes"})
	r(celRule{comment: "R35: Kubenet rejects Windows pools, the Azure network policy and virtual nodes.",
		rule:              "self.mode != 'Kubenet' || " + celPoolsAll("p", celOSType+" != 'Windows'"),
		messageExpression: celFormat("R35: Kubenet does not support Windows node pools: %s", celPoolsFilter("p", celOSType+" == 'Windows'", "p.name")),
		fieldPath:         ".nodePools"})
	r(celRule{rule: "self.mode != 'Kubenet' || self.networkPolicy != 'Azure'",
		message: "R35: Kubenet does not support the Azure network policy", fieldPath: ".networkPolicy"})
	r(celRule{rule: "self.mode != 'Kubenet' || !self.virtualNodes",
		message: "R35: Kubenet does not support virtual nodes", fieldPath: ".virtualNodes"})

	const port = "self.crossSubnet.vxlanPort"
	r(celRule{comment: "X1: the VXLAN port is outside the NodePort range and the ports of Kubernetes components.",
		rule: fmt.Sprintf("!has(self.crossSubnet) || !has(%[1]s) || ((%[1]s < %[2]d || %[1]s > %[3]d) && !(%[1]s in %[4]s))",
			port, nodePortFirst, nodePortLast, celInts(componentPorts)),
		messageExpression: celFormat(fmt.Sprintf("X1: crossSubnet.vxlanPort %%d collides with the NodePort range %d-%d or a Kubernetes component port (%s)",
			nodePortFirst, nodePortLast, componentPortList()), port),
		fieldPath: ".crossSubnet.vxlanPort"})
	r(celRule{comment: "X3: NodeSubnet pods hold VNet addresses that the node network reaches: nothing to encapsulate.",
		rule:              "self.mode != 'NodeSubnet' || !has(self.crossSubnet) || !has(self.crossSubnet.mode) || self.crossSubnet.mode == 'Direct'",
		messageExpression: "'X3: NodeSubnet mode routes pod addresses on the node network; crossSubnet.mode ' + self.crossSubnet.mode + ' needs pod blocks (Overlay or Kubenet): set Direct or leave it unset'",
		fieldPath:         ".crossSubnet.mode"})

	// Transition rules: they see oldSelf and run on updates only.
	r(celRule{comment: "R52: only Kubenet and NodeSubnet change mode, and only to Overlay; leaving Overlay is irreversible.",
		rule: "self.mode == oldSelf.mode || self.mode == 'Overlay'",
		messageExpression: "'R52: mode cannot change from ' + oldSelf.mode + ' to ' + self.mode + " +
			"(oldSelf.mode == 'Overlay' ? ': the migration to Overlay is irreversible' : ': only a migration to Overlay is supported')",
		fieldPath: ".mode"})
	r(celRule{comment: "R51: a Kubenet cluster keeps its pod CIDRs when it migrates to Overlay.",
		rule:              fmt.Sprintf("!(oldSelf.mode == 'Kubenet' && self.mode == 'Overlay') || %s == %s", celPods(s), celPods(o)),
		messageExpression: celFormat("R51: a Kubenet to Overlay migration keeps podCIDRs %s, got %s", celPods(o), celPods(s)),
		fieldPath:         ".podCIDRs"})
	r(celRule{comment: "R50: a NodeSubnet cluster migrates to Overlay without a network policy engine (the Kubernetes version and container runtime bounds need cluster facts: internal/validation.ValidateCluster).",
		rule:              "!(oldSelf.mode == 'NodeSubnet' && self.mode == 'Overlay') || self.networkPolicy == 'None'",
		messageExpression: "'R50: uninstall the ' + self.networkPolicy + ' network policy and set networkPolicy to None to migrate from NodeSubnet to Overlay'",
		fieldPath:         ".networkPolicy"})
	r(celRule{comment: "B1: ipFamilies and serviceCIDRs never change.", rule: "self.ipFamilies == oldSelf.ipFamilies",
		message: "B1: ipFamilies is immutable", fieldPath: ".ipFamilies"})
	r(celRule{rule: fmt.Sprintf("%s == %s", celServices(s), celServices(o)),
		messageExpression: celFormat("B1: serviceCIDRs is immutable: %s cannot become %s", celServices(o), celServices(s)),
		fieldPath:         ".serviceCIDRs"})
	r(celRule{comment: "B1: while nodes hold blocks (Overlay, Kubenet), a podCIDRs entry only stays or widens to a superset, additionalPodCIDRs only grows at its end, and block sizes never change.",
		rule:              fmt.Sprintf("oldSelf.mode == 'NodeSubnet' || (size(%[1]s) == size(%[2]s) && %[2]s.all(i, o, !isCIDR(%[1]s[i]) || cidr(%[1]s[i]).containsCIDR(o)))", celPods(s), celPods(o)),
		messageExpression: celFormat("B1: podCIDRs %s may only stay or widen to a superset, got %s", celPods(o), celPods(s)),
		fieldPath:         ".podCIDRs"})
	r(celRule{rule: fmt.Sprintf("oldSelf.mode == 'NodeSubnet' || (size(%[1]s) >= size(%[2]s) && %[2]s.all(i, c, %[1]s[i] == c))", celAdditional(s), celAdditional(o)),
		messageExpression: celFormat("B1: additionalPodCIDRs %s may only be appended to, got %s", celAdditional(o), celAdditional(s)),
		fieldPath:         ".additionalPodCIDRs"})
	r(celRule{rule: "oldSelf.mode == 'NodeSubnet' || self.ipv4BlockPrefixLength == oldSelf.ipv4BlockPrefixLength",
		messageExpression: celFormat("B1: ipv4BlockPrefixLength is immutable while nodes hold blocks: it stays %d", "oldSelf.ipv4BlockPrefixLength"),
		fieldPath:         ".ipv4BlockPrefixLength"})
	r(celRule{rule: fmt.Sprintf("oldSelf.mode == 'NodeSubnet' || size(self.ipFamilies) < 2 || %s == %s", celBlock6(s), celBlock6(o)),
		messageExpression: celFormat("B1: the IPv6 block prefix length would change from /%d to /%d and move existing blocks; set ipv6BlockPrefixLength to %d",
			celBlock6(o), celBlock6(s), celBlock6(o))})
	return rs
}

// celMarkerBlock renders the rules as the marker comment lines of OverlayClusterSpec.
func celMarkerBlock(t *testing.T) string {
	var b strings.Builder
	for _, r := range celRules() {
		if r.comment != "" {
			b.WriteString("//\n// " + r.comment + "\n")
		}
		parts := []string{fmt.Sprintf("rule=%q", r.rule)}
		if r.message != "" {
			parts = append(parts, fmt.Sprintf("message=%q", r.message))
		}
		if r.messageExpression != "" {
			parts = append(parts, fmt.Sprintf("messageExpression=%q", r.messageExpression))
		}
		if r.fieldPath != "" {
			parts = append(parts, fmt.Sprintf("fieldPath=%q", r.fieldPath))
		}
		for _, p := range parts {
			if strings.Contains(p, `\`) || strings.Contains(p, "''") {
				t.Fatalf("a marker value holds a double quote, a backslash or '' (which gofmt rewrites): %s", p)
			}
		}
		b.WriteString("// +kubebuilder:validation:XValidation:" + strings.Join(parts, ",") + "\n")
	}
	return b.String()
}

// TestCELMarkersAreGenerated keeps the cross-field CEL rules of overlaycluster_types.go
// equal to what celRules generates; -update-cel-markers rewrites them.
func TestCELMarkersAreGenerated(t *testing.T) {
	path := filepath.Join("..", "..", "api", "v1alpha1", "overlaycluster_types.go")
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const begin = "// Generated CEL rules:\n"
	const end = "type OverlayClusterSpec struct {"
	s := string(src)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatalf("cannot find the CEL marker block of OverlayClusterSpec in %s", path)
	}
	i += len(begin)
	want := celMarkerBlock(t)
	if *updateCELMarkers {
		if err := os.WriteFile(path, []byte(s[:i]+want+s[j:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if diff := cmp.Diff(want, s[i:j]); diff != "" {
		t.Errorf("the CEL markers of OverlayClusterSpec are not generated from celRules; run go test ./internal/validation -run TestCELMarkers -update-cel-markers (-want +got):\n%s", diff)
	}
}
