package controller

import (
	"context"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/overlaynet/overlaynet/api/v1alpha1"
	"github.com/overlaynet/overlaynet/internal/testenv"
)

func TestProjectedPodCIDRsTakeOneBlockPerFamily(t *testing.T) {
	got := ProjectedPodCIDRs([]string{"10.244.3.0/24", "not-a-cidr", "10.244.9.0/24", "fd00:244:0:3::/64"})
	if want := []string{"10.244.3.0/24", "fd00:244:0:3::/64"}; !slices.Equal(got, want) {
		t.Errorf("ProjectedPodCIDRs = %v, want %v", got, want)
	}
}

// TestPodCIDRProjectionSetsNodePodCIDRsOnce: a node's blocks land in its spec.podCIDRs; a
// Node whose pod CIDRs someone else set, and a Node whose allocation belongs to an earlier
// Node of its name, are left alone.
func TestPodCIDRProjectionSetsNodePodCIDRsOnce(t *testing.T) {
	env, err := testenv.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	ctx := context.Background()
	c := env.Client
	r := &PodCIDRProjector{Client: c}

	node := func(name string, podCIDRs ...string) *corev1.Node {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if len(podCIDRs) > 0 {
			n.Spec.PodCIDR, n.Spec.PodCIDRs = podCIDRs[0], podCIDRs
		}
		if err := c.Create(ctx, n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	nnc := func(name, uid string, blocks ...string) {
		o := &v1.NodeNetworkConfig{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1.NodeNetworkConfigSpec{NodeUID: uid, Mode: v1.ModeOverlay, PodCIDRs: blocks, MaxPods: 10}}
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	podCIDRs := func(name string) []string {
		n := &corev1.Node{}
		if err := c.Get(ctx, client.ObjectKey{Name: name}, n); err != nil {
			t.Fatal(err)
		}
		return n.Spec.PodCIDRs
	}
	reconcileNode := func(name string) {
		t.Helper()
		if _, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKey{Name: name}}); err != nil {
			t.Fatalf("Reconcile %s: %v", name, err)
		}
	}

	a := node("a")
	nnc("a", string(a.UID), "10.244.3.0/24", "fd00:244:0:3::/64")
	b := node("b", "10.99.0.0/24")
	nnc("b", string(b.UID), "10.244.4.0/24")
	node("c")
	nnc("c", "uid-of-an-earlier-node-c", "10.244.5.0/24")
	d := node("d")
	nnc("d", string(d.UID)) // not allocated yet
	for _, n := range []string{"a", "b", "c", "d", "absent"} {
		reconcileNode(n)
	}
	reconcileNode("a") // again: nothing to do
	for name, want := range map[string][]string{
		"a": {"10.244.3.0/24", "fd00:244:0:3::/64"},
		"b": {"10.99.0.0/24"},
		"c": nil,
		"d": nil,
	} {
		if got := podCIDRs(name); !slices.Equal(got, want) {
			t.Errorf("Node %s spec.podCIDRs = %v, want %v", name, got, want)
		}
	}
}
