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
	"github.com/overlaynet/overlaynet/internal/allocation"
)

// Node states of the overlaynet_nodes gauge.
const (
	nodeStateTotal      = "total"
	nodeStateAllocated  = "allocated"
	nodeStateProgrammed = "programmed"
)

// setNodeStates sets overlaynet_nodes: the Nodes, those whose NNC is Allocated, and those
// whose agent programmed the NNC's current generation. The alerts on nodes that stay
// unprogrammed read it (B3). The figures are the allocation state's counts, kept as events
// arrive, so this costs O(1) per reconcile (B8).
func setNodeStates(c allocation.Counts) {
	programmed := 0
	for _, n := range c.Programmed {
		programmed += n
	}
	nodeStates.WithLabelValues(nodeStateTotal).Set(float64(c.Nodes))
	nodeStates.WithLabelValues(nodeStateAllocated).Set(float64(c.Allocated))
	nodeStates.WithLabelValues(nodeStateProgrammed).Set(float64(programmed))
}
