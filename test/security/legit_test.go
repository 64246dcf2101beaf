package security

import (
	"context"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/overlaynet/overlaynet/api/v1alpha1"
)

// The writes the components exist to make go through the policy: the agent's Programmed
// condition on its own node, by server-side apply as internal/agent makes it; the manager's
// allocations of either family; the garbage collector's deletes and orphaning.
func TestB7LegitimateWritesGoThrough(t *testing.T) {
	ctx := context.Background()
	w := setup(ctx, t)
	a := w.nncA

	t.Run("the agent of node-a reports Programmed on its own NodeNetworkConfig, and changes it", func(t *testing.T) {
		for _, c := range []metav1.Condition{
			programmed(metav1.ConditionTrue, "Programmed 1 routes to peer blocks"),
			programmed(metav1.ConditionTrue, "Programmed 2 routes to peer blocks"),
			programmed(metav1.ConditionFalse, "route to 10.244.2.0/24 failed"),
		} {
			if err := applyCondition(ctx, w.agentA, a.Name, a.UID, c); err != nil {
				t.Fatalf("the agent's own Programmed condition %s was refused: %v", c.Status, err)
			}
			got := &v1.NodeNetworkConfig{}
			if err := env.Client.Get(ctx, client.ObjectKeyFromObject(a), got); err != nil {
				t.Fatal(err)
			}
			p := meta.FindStatusCondition(got.Status.Conditions, v1.NodeProgrammed)
			if p == nil || p.Status != c.Status || p.Message != c.Message {
				t.Errorf("Programmed is %+v, want %s %q", p, c.Status, c.Message)
			}
			if !got.IsAllocated() || len(got.Spec.PodCIDRs) != 1 {
				t.Errorf("the agent's write touched the manager's status: %+v", got.Status)
			}
		}
	})
	t.Run("the manager allocates an IPv4 and an IPv6 block, names the claims as internal/controller does, and releases them", func(t *testing.T) {
		node, err := ensureNode(ctx, "node-m")
		if err != nil {
			t.Fatal(err)
		}
		nnc := allocate(ctx, t, w.manager, node, "10.244.3.0/24", "10.224.0.6")
		for _, block := range []string{"fd12:3456:789a::100/120", "fd12:3456:789a:0:1:0:ab00:0/120", "10.0.0.0/8", "192.168.255.252/30"} {
			c := claimOf(block, node.Name, string(node.UID))
			if err := w.manager.Create(ctx, c); err != nil {
				t.Errorf("the manager's claim %s for %s was refused: %v", c.Name, block, err)
				continue
			}
			if err := w.manager.Delete(ctx, c); err != nil {
				t.Errorf("the manager's release of %s was refused: %v", c.Name, err)
			}
		}
		dual := nnc.DeepCopy()
		dual.Spec.PodCIDRs = []string{"10.244.3.0/24", "fd12:3456:789a::300/120"}
		dual.Spec.NodeIPs = []string{"10.224.0.6", "fd00::6"}
		dual.Spec.ReservedIPs = []string{"10.224.0.7", "10.224.0.10-10.224.0.20", "10.224.0.32/28"}
		dual.Spec.NodeSubnet = "10.224.0.0/24"
		dual.Spec.MaxPods = 250
		// The compare-and-swap update internal/controller makes (resourceVersion set).
		if err := w.manager.Update(ctx, dual); err != nil {
			t.Errorf("the manager's dual-stack spec update was refused: %v", err)
		} else if got := (&v1.NodeNetworkConfig{}); env.Client.Get(ctx, client.ObjectKeyFromObject(dual), got) != nil || len(got.Spec.PodCIDRs) != 2 {
			t.Errorf("the manager's dual-stack spec was not stored: %+v", got.Spec)
		}
		if err := w.manager.Delete(ctx, claimOf("10.244.3.0/24", node.Name, string(node.UID))); err != nil {
			t.Errorf("the manager's release was refused: %v", err)
		}
		if err := w.manager.Delete(ctx, dual); err != nil {
			t.Errorf("the manager's delete of a NodeNetworkConfig was refused: %v", err)
		}
	})

	t.Run("the garbage collector orphans and deletes what a gone Node held", func(t *testing.T) {
		node, err := ensureNode(ctx, "node-g")
		if err != nil {
			t.Fatal(err)
		}
		nnc := allocate(ctx, t, w.manager, node, "10.244.4.0/24", "10.224.0.8")
		orphaned := nnc.DeepCopy()
		orphaned.OwnerReferences = nil
		if err := w.gc.Patch(ctx, orphaned, client.MergeFrom(nnc)); err != nil {
			t.Errorf("the garbage collector's orphaning was refused: %v", err)
		}
		if err := w.gc.Delete(ctx, claimOf("10.244.4.0/24", node.Name, string(node.UID))); err != nil {
			t.Errorf("the garbage collector's delete of a claim was refused: %v", err)
		}
		if err := w.gc.Delete(ctx, nnc); err != nil {
			t.Errorf("the garbage collector's delete of a NodeNetworkConfig was refused: %v", err)
		}
	})

	t.Run("the manager writes the OverlayCluster's status", func(t *testing.T) {
		sampleOVC(ctx, t)
		ovc := &v1.OverlayCluster{ObjectMeta: metav1.ObjectMeta{Name: "default"}}
		if err := w.manager.Status().Patch(ctx, ovc, statusPatch(`{"nodeNetworkCIDRs":["10.224.0.0/12"]}`)); err != nil {
			t.Errorf("the manager's OverlayCluster status was refused: %v", err)
		}
	})
}
