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

package cli

import (
	"fmt"
	"io"
	"math/big"
	"net/netip"
	"regexp"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/overlaynet/overlaynet/api/v1alpha1"
	"github.com/overlaynet/overlaynet/internal/validation"
)

// advice says, per condition reason, what a node's state means and what to do, and which
// rule is behind it. Reasons that are not here are explained by their message alone.
var advice = map[string]struct {
	// rule is the rule behind the reason; the message may name more.
	rule string
	// do is what the user should do.
	do string
}{
	v1.ReasonPoolExhausted:         {"B1", "the pod CIDRs have no free block: append a CIDR to spec.additionalPodCIDRs or widen a spec.podCIDRs entry; the node is allocated at once"},
	v1.ReasonRouteLimit:            {"R31", "a Kubenet route table holds at most 400 routes, one per node: migrate the cluster to Overlay"},
	v1.ReasonSubnetExhausted:       {"R40", "the node subnet cannot hold another reservation of max-pods addresses: give the pool a larger subnet or fewer max pods, or migrate to Overlay"},
	v1.ReasonNoNodeIP:              {"R15", "the Node has no InternalIP of a family the cluster uses: start the kubelet with --node-ip for every family"},
	v1.ReasonInvalidConfig:         {"", "the OverlayCluster breaks a rule named in the message; nothing new is allocated until it is fixed (kubectl overlaynet validate)"},
	v1.ReasonNoCluster:             {"", "create the OverlayCluster named default"},
	v1.ReasonWaitingForAllocation:  {"", "the agent waits for the manager to allocate the node: see Allocated"},
	v1.ReasonInvalidAllocation:     {"B7", "the agent refuses its own NNC status; only the manager may write it: check managedFields for another writer"},
	v1.ReasonForwardingFailed:      {"R15", "set net.ipv4.ip_forward=1 (and net.ipv6.conf.all.forwarding=1) on the node; the agent cannot write /proc/sys"},
	v1.ReasonRoutesFailed:          {"R17", "a route to a peer's block failed: check that the peer's node IP is on the node's link, or that the node network routes between them"},
	v1.ReasonSNATFailed:            {"R15", "the nftables table could not be written: check nftables support and the agent's NET_ADMIN capability"},
	v1.ReasonProxyFailed:           {"R42", "the node could not answer ARP for its pods' addresses on its uplink"},
	v1.ReasonCNIPluginsMissing:     {"", "install the CNI reference plugins into the node's CNI bin directory (the agent's init container does; set cni.binDir for other runtimes)"},
	v1.ReasonCNIConfigFailed:       {"", "the CNI configuration directory is not writable: check the agent's host path (cni.confDir)"},
	v1.ReasonAllocated:             {"", ""},
	v1.ReasonProgrammed:            {"", ""},
	v1.ReasonExtraNonMasquerade:    {"R54", ""},
	v1.ReasonPodCIDRRemovalRefused: {"B1", "restore the removed or narrowed pod CIDR"},
}

// ruleID matches a rule id as a word: S1, R50, B10.
var ruleID = regexp.MustCompile(`\b[RSB][0-9]{1,2}\b`)

// Explanation is why a node is, or is not, Allocated and Programmed.
type Explanation struct {
	// OK is true when the node is Allocated and Programmed for its current generation.
	OK bool
	// Lines are the sentences to print.
	Lines []string
	// Rules are the ids of the rules involved, in order of first mention.
	Rules []string
}

// Explain says why the Node named name is not Allocated or not Programmed, in words, with
// the rule ids involved.
func Explain(snap *Snapshot, name string) (Explanation, error) {
	var st *nodeState
	for _, s := range snap.states() {
		if s.node.Name == name {
			st = &s
			break
		}
	}
	if st == nil {
		return Explanation{}, fmt.Errorf("node %q not found", name)
	}
	var e Explanation
	say := func(format string, args ...any) {
		line := fmt.Sprintf(format, args...)
		e.Lines = append(e.Lines, line)
		for _, id := range ruleID.FindAllString(line, -1) {
			if !slices.Contains(e.Rules, id) {
				e.Rules = append(e.Rules, id)
			}
		}
	}
	switch {
	case snap.Cluster == nil:
		say("There is no OverlayCluster named default: the manager allocates nothing until one exists.")
		return e, nil
	case st.stale:
		say("The NodeNetworkConfig %s belongs to an older Node of the same name (another UID); the manager replaces it, and a new Node never inherits an old allocation (B4). If this lasts, check that the manager runs.", name)
		return e, nil
	case st.nnc == nil:
		say("The Node has no NodeNetworkConfig yet: the manager creates one for every Node. If this lasts, check that the manager runs (kubectl -n overlaynet-system get deploy overlaynet-manager) and its logs.")
		return e, nil
	}
	nnc := st.nnc
	alloc := meta.FindStatusCondition(nnc.Status.Conditions, v1.NodeAllocated)
	switch {
	case alloc == nil && !nnc.HoldsAllocation():
		say("The NodeNetworkConfig holds no allocation yet: the manager is working on the node or is not running.")
		return e, nil
	case alloc != nil && alloc.Status != metav1.ConditionTrue:
		say("Not Allocated (%s): %s.", alloc.Reason, strings.TrimSuffix(oneLine(alloc.Message), "."))
		explainReason(say, alloc.Reason)
		return e, nil
	}
	say("Allocated: %s.", allocationSummary(nnc))

	prog := meta.FindStatusCondition(nnc.Status.Conditions, v1.NodeProgrammed)
	switch {
	case prog == nil:
		say("Not Programmed: the node agent has not reported. Check that the overlaynet-agent pod runs on %s and its logs; the agent writes its own NNC's Programmed condition and nothing else (B7).", name)
	case prog.Status != metav1.ConditionTrue:
		say("Not Programmed (%s): %s.", prog.Reason, strings.TrimSuffix(oneLine(prog.Message), "."))
		explainReason(say, prog.Reason)
	case prog.ObservedGeneration < nnc.Generation:
		say("Not Programmed yet: the agent programmed generation %d, the allocation is at generation %d; it is applying the change (or is not running).", prog.ObservedGeneration, nnc.Generation)
	default:
		e.OK = true
		say("Programmed: routes, SNAT and the CNI configuration match generation %d (B5).", nnc.Generation)
	}
	return e, nil
}

// explainReason adds the advice for a reason and the statement of its rule.
func explainReason(say func(string, ...any), reason string) {
	a, ok := advice[reason]
	if !ok {
		say("See docs/troubleshooting.md, section %s.", reason)
		return
	}
	if a.do != "" {
		say("What to do: %s.", a.do)
	}
	if r, ok := validation.LookupRule(a.rule); ok {
		say("%s: %s", r.ID, r.Statement)
	}
}

// allocationSummary describes the node's allocation in one phrase.
func allocationSummary(nnc *v1.NodeNetworkConfig) string {
	st := nnc.Spec
	var parts []string
	if len(st.PodCIDRs) > 0 {
		parts = append(parts, "blocks "+strings.Join(st.PodCIDRs, ", "))
	}
	if len(st.ReservedIPs) > 0 {
		parts = append(parts, fmt.Sprintf("%d reserved addresses of %s", reservedCount(st.ReservedIPs), st.NodeSubnet))
	}
	if len(st.NodeIPs) > 0 {
		parts = append(parts, "node IPs "+strings.Join(st.NodeIPs, ", "))
	}
	if st.MaxPods > 0 {
		parts = append(parts, fmt.Sprintf("max %d pods", st.MaxPods))
	}
	if st.Mode != "" {
		parts = append(parts, string(st.Mode)+" mode")
	}
	return strings.Join(parts, ", ")
}

// WriteExplanation prints an explanation.
func WriteExplanation(w io.Writer, name string, e Explanation) {
	fmt.Fprintf(w, "Node %s\n", name)
	for _, l := range e.Lines {
		fmt.Fprintf(w, "  %s\n", l)
	}
	if len(e.Rules) > 0 {
		fmt.Fprintf(w, "Rules: %s (docs/rulebook.md)\n", strings.Join(e.Rules, ", "))
	}
}

// parseRange returns the number of addresses of a reservedIPs entry: a CIDR or a
// first-last range of one family.
func parseRange(s string) (int, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		bits := p.Addr().BitLen() - p.Bits()
		if bits > 30 {
			return 0, fmt.Errorf("%s is too large", s)
		}
		return 1 << bits, nil
	}
	first, last, ok := strings.Cut(s, "-")
	if !ok {
		if _, err := netip.ParseAddr(s); err != nil {
			return 0, err
		}
		return 1, nil
	}
	a, err := netip.ParseAddr(first)
	if err != nil {
		return 0, err
	}
	b, err := netip.ParseAddr(last)
	if err != nil {
		return 0, err
	}
	if a.BitLen() != b.BitLen() || b.Less(a) {
		return 0, fmt.Errorf("%s is not a range", s)
	}
	n := new(big.Int).Sub(new(big.Int).SetBytes(b.AsSlice()), new(big.Int).SetBytes(a.AsSlice()))
	if !n.IsInt64() || n.Int64() >= 1<<30 {
		return 0, fmt.Errorf("%s is too large", s)
	}
	return int(n.Int64()) + 1, nil
}
