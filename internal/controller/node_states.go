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

package controller

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/overlaynet/overlaynet/api/v1alpha1"
)

// Node states of the overlaynet_nodes gauge.
const (
	nodeStateTotal      = "total"
	nodeStateAllocated  = "allocated"
	nodeStateProgrammed = "programmed"
)

// countNodeStates sets overlaynet_nodes: the Nodes, those whose NNC is Allocated, and those
// whose agent programmed the NNC's current generation. The alerts on nodes that stay
// unprogrammed read it (B3). It reads the NNCs from the cache, as the migration tracking
// does, and only while the cluster reconciler runs (once per batch of node events).
func (r *ClusterReconciler) countNodeStates(ctx context.Context, nodes []corev1.Node) error {
	nncs := &v1.NodeNetworkConfigList{}
	if err := r.List(ctx, nncs, client.UnsafeDisableDeepCopy); err != nil {
		return err
	}
	byName := make(map[string]*v1.NodeNetworkConfig, len(nncs.Items))
	for i := range nncs.Items {
		byName[nncs.Items[i].Name] = &nncs.Items[i]
	}
	allocated, programmed := 0, 0
	for i := range nodes {
		nnc := byName[nodes[i].Name]
		if nnc == nil || nnc.Spec.NodeUID != string(nodes[i].UID) {
			continue
		}
		if meta.IsStatusConditionTrue(nnc.Status.Conditions, v1.NodeAllocated) {
			allocated++
		}
		if c := meta.FindStatusCondition(nnc.Status.Conditions, v1.NodeProgrammed); c != nil &&
			c.Status == metav1.ConditionTrue && c.ObservedGeneration >= nnc.Generation {
			programmed++
		}
	}
	nodeStates.WithLabelValues(nodeStateTotal).Set(float64(len(nodes)))
	nodeStates.WithLabelValues(nodeStateAllocated).Set(float64(allocated))
	nodeStates.WithLabelValues(nodeStateProgrammed).Set(float64(programmed))
	return nil
}
