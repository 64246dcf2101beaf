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
	"slices"

	"github.com/overlaynet/overlaynet/api/v1alpha1"
)

// ValidateTransition checks an update from old to new against the rules that govern
// change, which the CRD enforces with transition rules (oldSelf): R52 (mode changes only
// from Kubenet or NodeSubnet to Overlay), R51 (Kubenet keeps its pod CIDRs when it
// migrates), R50's network policy precondition, and B1 (what may grow and what never
// changes). R53 needs no check: the mode is cluster-wide, so every pool migrates together.
//
// It does not re-check new on its own: admission runs ValidateSpec's rules on every
// update too, so a caller that wants admission's verdict calls both.
//
// While the cluster is in NodeSubnet mode no node holds a block, so podCIDRs,
// additionalPodCIDRs and the block sizes are free to change until it leaves NodeSubnet;
// ipFamilies and serviceCIDRs never change in any mode.
func ValidateTransition(old, new *v1alpha1.OverlayClusterSpec) Violations {
	if old == nil || new == nil {
		return nil
	}
	o, n := newView(old), newView(new)
	var l list

	if n.mode != o.mode && n.mode != v1alpha1.ModeOverlay {
		if o.mode == v1alpha1.ModeOverlay {
			l.add("R52", "spec.mode", "cannot change from Overlay to %s: the migration to Overlay is irreversible", n.mode)
		} else {
			l.add("R52", "spec.mode", "cannot change from %s to %s: only a migration to Overlay is supported", o.mode, n.mode)
		}
	}
	if o.mode == v1alpha1.ModeKubenet && n.mode == v1alpha1.ModeOverlay && !slices.Equal(values(n.pods), values(o.pods)) {
		l.add("R51", "spec.podCIDRs", "a Kubenet to Overlay migration keeps the pod CIDRs %v and the nodes' blocks in them, got %v", values(o.pods), values(n.pods))
	}
	if o.mode == v1alpha1.ModeNodeSubnet && n.mode == v1alpha1.ModeOverlay {
		checkMigrationPolicy(&l, n.networkPolicy)
	}

	if !slices.Equal(n.families, o.families) {
		l.add("B1", "spec.ipFamilies", "is immutable: %v cannot become %v", o.families, n.families)
	}
	if !slices.Equal(values(n.services), values(o.services)) {
		l.add("B1", "spec.serviceCIDRs", "is immutable: %v cannot become %v", values(o.services), values(n.services))
	}
	if o.mode == v1alpha1.ModeNodeSubnet {
		return l.vs
	}

	if len(n.pods) != len(o.pods) {
		l.add("B1", "spec.podCIDRs", "%v may only stay or widen to a superset, got %v", values(o.pods), values(n.pods))
	} else {
		for i, p := range n.pods {
			if p.ok && o.pods[i].ok && !contains(p.prefix, o.pods[i].prefix) {
				l.add("B1", p.field, "%s may only stay %s or widen to a superset of it: nodes hold blocks in it", p.what(), o.pods[i].value)
			}
		}
	}
	if len(n.additional) < len(o.additional) {
		l.add("B1", "spec.additionalPodCIDRs", "%v may only be appended to, got %v: nodes may hold blocks in every entry", values(o.additional), values(n.additional))
	} else {
		for i, a := range o.additional {
			if n.additional[i].value != a.value {
				l.add("B1", n.additional[i].field, "%s replaces %s: additionalPodCIDRs may only be appended to", n.additional[i].value, a.value)
			}
		}
	}
	if n.block4 != o.block4 {
		l.add("B1", "spec.ipv4BlockPrefixLength", "is immutable while nodes hold blocks: /%d cannot become /%d", o.block4, n.block4)
	}
	if n.dualStack && n.block6() != o.block6() {
		l.add("B1", "spec.ipv6BlockPrefixLength", "the IPv6 block prefix length would change from /%d to /%d and move existing blocks; set ipv6BlockPrefixLength to %d", o.block6(), n.block6(), o.block6())
	}
	return l.vs
}

// checkMigrationPolicy enforces R50's network policy precondition on a migration from
// NodeSubnet to Overlay: no engine may run, Cilium included. ValidateTransition checks it
// against the old spec, ValidateCluster against the mode the nodes run in.
func checkMigrationPolicy(l *list, p v1alpha1.NetworkPolicyEngine) {
	if p != v1alpha1.NetworkPolicyNone {
		l.add("R50", "spec.networkPolicy", "uninstall the %s network policy and set None before migrating from NodeSubnet to Overlay", p)
	}
}
