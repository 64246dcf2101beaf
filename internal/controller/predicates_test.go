package controller

import (
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/overlaynet/overlaynet/api/v1alpha1"
)

func TestProgrammedOnly(t *testing.T) {
	base := &v1.NodeNetworkConfig{
		ObjectMeta: metav1.ObjectMeta{Name: "a", UID: "u", Generation: 1},
		Spec:       v1.NodeNetworkConfigSpec{NodeUID: "n", Mode: v1.ModeOverlay, PodCIDRs: []string{"10.244.0.0/24"}},
		Status: v1.NodeNetworkConfigStatus{Conditions: []metav1.Condition{
			{Type: v1.NodeAllocated, Status: metav1.ConditionTrue, Reason: v1.ReasonAllocated, Message: "holds [10.244.0.0/24]"},
		}},
	}
	for _, tc := range []struct {
		name   string
		mutate func(*v1.NodeNetworkConfig)
		want   bool
	}{
		{"the agent's Programmed condition alone does not wake the manager", func(n *v1.NodeNetworkConfig) {
			meta.SetStatusCondition(&n.Status.Conditions, metav1.Condition{Type: v1.NodeProgrammed, Status: metav1.ConditionTrue, Reason: "Programmed"})
		}, true},
		{"a changed block wakes it", func(n *v1.NodeNetworkConfig) { n.Spec.PodCIDRs = []string{"10.0.0.0/8"}; n.Generation++ }, false},
		{"a changed block wakes it even without a new generation", func(n *v1.NodeNetworkConfig) { n.Spec.PodCIDRs = []string{"10.0.0.0/8"} }, false},
		{"a changed Allocated condition wakes it", func(n *v1.NodeNetworkConfig) { n.Status.Conditions[0].Reason = "Hacked" }, false},
		{"a removed Allocated condition wakes it", func(n *v1.NodeNetworkConfig) { n.Status.Conditions = nil }, false},
		{"a changed spec wakes it", func(n *v1.NodeNetworkConfig) { n.Spec.Mode = v1.ModeKubenet; n.Generation++ }, false},
		{"a deletion wakes it", func(n *v1.NodeNetworkConfig) { now := metav1.Now(); n.DeletionTimestamp = &now }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := base.DeepCopy()
			tc.mutate(n)
			if got := programmedOnly(base, n); got != tc.want {
				t.Fatalf("programmedOnly() = %v, want %v", got, tc.want)
			}
		})
	}
}
