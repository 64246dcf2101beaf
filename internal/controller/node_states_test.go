package controller

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	v1 "github.com/overlaynet/overlaynet/api/v1alpha1"
	"github.com/overlaynet/overlaynet/internal/testenv"
)

// TestNodeStatesGauge checks overlaynet_nodes, which the NodesNotProgrammed alert reads:
// an NNC of another Node incarnation counts for nothing, and a Programmed condition for an
// older generation does not count as programmed.
func TestNodeStatesGauge(t *testing.T) {
	cond := func(typ string, status metav1.ConditionStatus, gen int64) metav1.Condition {
		return metav1.Condition{Type: typ, Status: status, Reason: "Test", ObservedGeneration: gen, LastTransitionTime: metav1.Now()}
	}
	nnc := func(name, uid string, gen int64, conds ...metav1.Condition) *v1.NodeNetworkConfig {
		return &v1.NodeNetworkConfig{
			ObjectMeta: metav1.ObjectMeta{Name: name, Generation: gen},
			Spec:       v1.NodeNetworkConfigSpec{NodeUID: uid},
			Status:     v1.NodeNetworkConfigStatus{Conditions: conds},
		}
	}
	c := fake.NewClientBuilder().WithScheme(testenv.Scheme()).WithObjects(
		nnc("ready", "u1", 2, cond(v1.NodeAllocated, metav1.ConditionTrue, 2), cond(v1.NodeProgrammed, metav1.ConditionTrue, 2)),
		nnc("behind", "u2", 3, cond(v1.NodeAllocated, metav1.ConditionTrue, 3), cond(v1.NodeProgrammed, metav1.ConditionTrue, 2)),
		nnc("failed", "u3", 1, cond(v1.NodeAllocated, metav1.ConditionTrue, 1), cond(v1.NodeProgrammed, metav1.ConditionFalse, 1)),
		nnc("waiting", "u4", 1, cond(v1.NodeAllocated, metav1.ConditionFalse, 1)),
		nnc("recreated", "old-uid", 1, cond(v1.NodeAllocated, metav1.ConditionTrue, 1), cond(v1.NodeProgrammed, metav1.ConditionTrue, 1)),
	).Build()
	var nodes []corev1.Node
	for name, uid := range map[string]string{"ready": "u1", "behind": "u2", "failed": "u3", "waiting": "u4", "recreated": "new-uid", "new": "u6"} {
		nodes = append(nodes, corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID(uid)}})
	}
	r := &ClusterReconciler{Client: c}
	if err := r.countNodeStates(context.Background(), nodes); err != nil {
		t.Fatal(err)
	}
	for state, want := range map[string]float64{nodeStateTotal: 6, nodeStateAllocated: 3, nodeStateProgrammed: 1} {
		if got := testutil.ToFloat64(nodeStates.WithLabelValues(state)); got != want {
			t.Errorf("overlaynet_nodes{state=%q} = %v, want %v", state, got, want)
		}
	}
}
