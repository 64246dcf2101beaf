package controller

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/overlaynet/overlaynet/api/v1alpha1"
)

// TestClusterStatusComparisonLooksThroughPointers proves that two statuses holding equal
// route tables in separate objects compare equal, so that a Kubenet cluster's status is
// neither rewritten when nothing changed nor written at every count change (R31).
func TestClusterStatusComparisonLooksThroughPointers(t *testing.T) {
	mk := func(routes int32, at metav1.Time) *v1.OverlayClusterStatus {
		return &v1.OverlayClusterStatus{
			Mode:       v1.ModeKubenet,
			Nodes:      routes,
			RouteTable: &v1.RouteTableStatus{Routes: routes, Limit: 400},
			Conditions: []metav1.Condition{{Type: v1.ClusterReady, Status: metav1.ConditionTrue, Reason: "Ready", LastTransitionTime: at}},
		}
	}
	a, b := mk(3, metav1.Unix(1, 0)), mk(3, metav1.Unix(2, 0))
	if !equalClusterStatus(a, b) {
		t.Error("two equal Kubenet statuses in separate objects compare different")
	}
	if !onlyCountsChanged(a, mk(4, metav1.Unix(1, 0))) {
		t.Error("a route count change is not recognised as a count change, so it is never batched")
	}
	c := mk(3, metav1.Unix(1, 0))
	c.RouteTable.Limit = 300
	if equalClusterStatus(a, c) || onlyCountsChanged(a, c) {
		t.Error("a different route table limit compares equal")
	}
}
