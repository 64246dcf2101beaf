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
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/version"

	"github.com/overlaynet/overlaynet/api/v1alpha1"
)

// Kubernetes versions the rules require.
var (
	// dualStackMinVersion is the first release that runs Overlay dual-stack (R19).
	dualStackMinVersion = version.MustParseGeneric("1.26.3")
	// migrationMinVersion is the first release that migrates NodeSubnet to Overlay (R50).
	migrationMinVersion = version.MustParseGeneric("1.22.0")
)

// ClusterFacts are what the rules need to know about the running cluster beyond the spec.
// The controller gathers them from the API server; overlayctl takes them from flags. A
// zero field means unknown, and the rules that need it are skipped.
type ClusterFacts struct {
	// KubernetesVersion is the API server's version, such as "v1.30.2". Pre-release and
	// build suffixes are ignored, so that a vendor build such as v1.29.4-eks-036c24b counts
	// as the release it names.
	KubernetesVersion string
	// DockerWindowsNodes names the Windows nodes whose container runtime is docker (R50).
	DockerWindowsNodes []string
	// CurrentMode is the mode the nodes are allocated in now (OverlayCluster
	// status.mode): a spec asking for Overlay while it is NodeSubnet is a migration whose
	// preconditions R50 checks. Empty for a cluster not yet allocated.
	CurrentMode v1alpha1.NetworkMode
}

// ValidateCluster checks what admission cannot decide, because it needs facts about the
// running cluster or because its schema is too open for a CEL rule's cost budget. The
// controller reports these violations as ConfigValid=False.
//
//   - R19: dual-stack needs Kubernetes 1.26.3 or later.
//   - R50: a migration from NodeSubnet to Overlay needs Kubernetes 1.22 or later, no
//     network policy engine, and no Windows node on the docker runtime. The seed asks to
//     uninstall whatever engine runs ("do not enable network policy"), so any engine
//     other than None blocks it, Cilium included. Its last precondition, a pod CIDR that
//     overlaps neither the VNet nor the service CIDRs, holds in every mode by R2, which
//     admission enforces.
//   - R9: node selectors use label syntax. metav1.LabelSelector has no length bounds in
//     the schema, so a CEL rule over it would be priced out of the cost budget.
func ValidateCluster(spec *v1alpha1.OverlayClusterSpec, facts ClusterFacts) Violations {
	if spec == nil {
		return nil
	}
	v := newView(spec)
	var l list

	var kube *version.Version
	var kubeErr error
	if facts.KubernetesVersion != "" {
		kube, kubeErr = version.ParseGeneric(facts.KubernetesVersion)
	}
	atLeast := func(rule, what string, min *version.Version) {
		switch {
		case kubeErr != nil:
			l.add(rule, "kubernetesVersion", "cannot tell whether %q is at least %s, which %s needs: %v", facts.KubernetesVersion, min, what, kubeErr)
		case kube != nil && !kube.AtLeast(min):
			l.add(rule, "kubernetesVersion", "%s needs Kubernetes %s or later, the cluster runs %s", what, min, facts.KubernetesVersion)
		}
	}

	if v.dualStack {
		atLeast("R19", "dual-stack", dualStackMinVersion)
	}
	if facts.CurrentMode == v1alpha1.ModeNodeSubnet && v.mode == v1alpha1.ModeOverlay {
		atLeast("R50", "migrating from NodeSubnet to Overlay", migrationMinVersion)
		checkMigrationPolicy(&l, v.networkPolicy)
		if len(facts.DockerWindowsNodes) > 0 {
			nodes := slices.Sorted(slices.Values(facts.DockerWindowsNodes))
			l.add("R50", "nodes", "Windows nodes %s run the docker container runtime: move them to containerd before migrating from NodeSubnet to Overlay", strings.Join(nodes, ", "))
		}
	}
	for i, p := range spec.NodePools {
		if p.NodeSelector == nil {
			continue
		}
		if _, err := metav1.LabelSelectorAsSelector(p.NodeSelector); err != nil {
			l.add("R9", fmt.Sprintf("spec.nodePools[%d].nodeSelector", i), "is not a valid label selector: %v", err)
		}
	}
	return l.vs
}

// MigrationWarnings returns the warnings an update from old to new deserves but that do
// not make it invalid. R54: when a Kubenet or NodeSubnet cluster migrates to Overlay,
// every extra non-masquerade range (a custom ip-masq-agent configuration) is reported,
// because after the migration nothing outside the nodes can reach a pod IP (R16) and
// traffic to those ranges, which keeps the pod source address, may lose its replies.
func MigrationWarnings(old, new *v1alpha1.OverlayClusterSpec) []string {
	if old == nil || new == nil {
		return nil
	}
	from, to := newView(old).mode, newView(new).mode
	if from == v1alpha1.ModeOverlay || to != v1alpha1.ModeOverlay {
		return nil
	}
	var out []string
	seen := map[string]bool{}
	for _, list := range [][]string{new.AdditionalNonMasqueradeCIDRs, old.AdditionalNonMasqueradeCIDRs} {
		for _, c := range list {
			if seen[c] {
				continue
			}
			seen[c] = true
			out = append(out, fmt.Sprintf("R54: additional non-masquerade range %s keeps the pod source address; after the migration from %s to Overlay pod IPs are not reachable from outside the nodes, so connectivity to %s may break: remove it or SNAT that traffic", c, from, c))
		}
	}
	return out
}
