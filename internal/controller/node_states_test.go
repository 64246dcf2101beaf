package controller

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	v1 "github.com/overlaynet/overlaynet/api/v1alpha1"
	"github.com/overlaynet/overlaynet/internal/allocation"
)

// TestNodeStatesGauge checks overlaynet_nodes, which the NodesNotProgrammed alert reads: it
// carries the allocation state's counts, with the programmed nodes of every mode summed
// (the state counts only agents that programmed their NNC's current generation).
func TestNodeStatesGauge(t *testing.T) {
	setNodeStates(allocation.Counts{
		Nodes:      6,
		Allocated:  3,
		Programmed: map[v1.NetworkMode]int{v1.ModeOverlay: 1, v1.ModeKubenet: 2},
		Waiting:    1,
	})
	for state, want := range map[string]float64{nodeStateTotal: 6, nodeStateAllocated: 3, nodeStateProgrammed: 3} {
		if got := testutil.ToFloat64(nodeStates.WithLabelValues(state)); got != want {
			t.Errorf("overlaynet_nodes{state=%q} = %v, want %v", state, got, want)
		}
	}
}
