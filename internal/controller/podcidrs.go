package controller

import (
	"context"
	"fmt"
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1 "github.com/overlaynet/overlaynet/api/v1alpha1"
)

// NodePodCIDRsFieldManager owns Node.spec.podCIDR(s) when the projection is on.
const NodePodCIDRsFieldManager = "overlaynet-node-podcidrs"

// PodCIDRProjector copies a node's blocks (its NodeNetworkConfig's status.podCIDRs) into
// Node.spec.podCIDR and spec.podCIDRs, for the consumers that read a node's pod range from
// there (kube-proxy's --detect-local-mode=NodeCIDR, some network policy engines, monitoring).
//
// It is opt-in (the manager's --project-node-pod-cidrs, which needs "patch" on nodes, a
// right the manager does not otherwise hold) and sets the fields once: the API server
// refuses to change them after they are set, and overlaynet never moves a node's blocks. A
// Node whose fields were already set by someone else (kube-controller-manager with
// --allocate-node-cidrs, which overlaynet does not work with) is left alone and logged.
type PodCIDRProjector struct {
	client.Client
}

// No RBAC marker on purpose: the nodes "patch" rule it needs lives in the opt-in kustomize
// component config/components/node-podcidrs and behind the chart's
// manager.projectNodePodCIDRs, so a manager without the projection cannot write Nodes.

// SetupPodCIDRProjection registers the projector with mgr.
func SetupPodCIDRProjection(mgr ctrl.Manager) error {
	sameName := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
		return []reconcile.Request{nodeKey(o.GetName())}
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("node-podcidrs").
		For(&v1.NodeNetworkConfig{}).
		// A Node recreated under the same name starts without pod CIDRs.
		Watches(&corev1.Node{}, sameName, builder.WithPredicates(predicate.Funcs{
			UpdateFunc: func(event.UpdateEvent) bool { return false },
		})).
		Complete(quietConflicts(&PodCIDRProjector{Client: mgr.GetClient()}))
}

// Reconcile projects one node's blocks.
func (r *PodCIDRProjector) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	log := ctrl.LoggerFrom(ctx)
	nnc := &v1.NodeNetworkConfig{}
	if err := r.Get(ctx, req.NamespacedName, nnc); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if len(nnc.Spec.PodCIDRs) == 0 || !nnc.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil // not allocated (yet), or a NodeSubnet node: no block
	}
	node := &corev1.Node{}
	if err := r.Get(ctx, req.NamespacedName, node); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if string(node.UID) != nnc.Spec.NodeUID {
		return ctrl.Result{}, nil // the allocation of an earlier Node of that name
	}
	want := ProjectedPodCIDRs(nnc.Spec.PodCIDRs)
	switch {
	case slices.Equal(node.Spec.PodCIDRs, want):
		return ctrl.Result{}, nil
	case len(node.Spec.PodCIDRs) > 0 || node.Spec.PodCIDR != "":
		log.Info("Node.spec.podCIDRs was set by someone else and cannot change; is kube-controller-manager running with --allocate-node-cidrs?",
			"node", node.Name, "podCIDRs", node.Spec.PodCIDRs, "overlaynetBlocks", want)
		return ctrl.Result{}, nil
	}
	patch := client.MergeFromWithOptions(node.DeepCopy(), client.MergeFromWithOptimisticLock{})
	node.Spec.PodCIDR, node.Spec.PodCIDRs = want[0], want
	if err := r.Patch(ctx, node, patch, client.FieldOwner(NodePodCIDRsFieldManager)); err != nil {
		if apierrors.IsNotFound(err) {
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, fmt.Errorf("setting Node %s spec.podCIDRs to %v: %w", node.Name, want, err)
	}
	log.Info("Set the Node's pod CIDRs from its blocks", "node", node.Name, "podCIDRs", want)
	return ctrl.Result{}, nil
}

// ProjectedPodCIDRs returns the Node.spec.podCIDRs for a node's blocks: at most one per
// family (the API server's rule), in the order the blocks are listed.
func ProjectedPodCIDRs(blocks []string) []string {
	var out []string
	var v4, v6 bool
	for _, b := range blocks {
		p, err := netip.ParsePrefix(b)
		if err != nil {
			continue
		}
		if is4 := p.Addr().Is4(); (is4 && !v4) || (!is4 && !v6) {
			out = append(out, p.Masked().String())
			v4, v6 = v4 || is4, v6 || !is4
		}
	}
	return out
}
